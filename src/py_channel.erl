%% @doc The erlang_python `py_channel' API: a channel is a reference Erlang code can
%% pass to Python as an argument, where it is an `erlang.Channel'.
-module(py_channel).

-export([new/0, new/1, send/2, close/1, info/1]).

new() -> new(#{}).

%% @doc `#{max_size => Bytes}' bounds the queued bytes (0, the default, is unbounded).
new(Opts) when is_map(Opts) ->
    {ok, Channel} = 'Elixir.Py.Native':channel_new(maps:get(max_size, Opts, 0), false),
    {ok, Channel}.

%% @doc `ok', `busy' (past `max_size') or `{error, closed}'.
send(Channel, Term) -> 'Elixir.Py.Native':channel_send(Channel, Term).

close(Channel) -> 'Elixir.Py.Native':channel_close(Channel).

%% @doc `#{size => QueuedBytes, max_size => N, closed => boolean()}'.
info(Channel) ->
    #{bytes := Bytes, max_size := Max, closed := Closed} = 'Elixir.Py.Native':channel_info(Channel),
    #{size => Bytes, max_size => Max, closed => Closed}.
