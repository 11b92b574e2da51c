%% @doc The erlang_python `py_event_loop' API over `Py.EventLoop': coroutine functions
%% (and plain functions) run as asyncio tasks.
-module(py_event_loop).

-export([create_task/3, create_task/4, await/1, await/2, run/3, run/4,
         spawn_task/3, spawn_task/4]).

-define(TIMEOUT, 5000).

%% @doc Starts a task and returns its reference at once; `await/1,2' collects it.
create_task(Module, Function, Args) -> create_task(Module, Function, Args, #{}).

create_task(Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    case 'Elixir.Py.EventLoop':create_task(py:name(Module), py:name(Function),
                                           py:to_python(Args), [{kwargs, py:to_python(Kwargs)}]) of
        {ok, Ref} -> Ref;
        {error, _} = Error ->
            Ref = make_ref(),
            put({?MODULE, Ref}, Error),
            Ref
    end.

await(Ref) -> await(Ref, ?TIMEOUT).

await(Ref, Timeout) ->
    case erase({?MODULE, Ref}) of
        undefined -> py:result('Elixir.Py.EventLoop':await(Ref, Timeout));
        Error -> py:result(Error)
    end.

run(Module, Function, Args) -> run(Module, Function, Args, #{}).

%% @doc `#{timeout => Ms, kwargs => Map}' (timeout 5000 by default).
run(Module, Function, Args, Opts) when is_map(Opts) ->
    Ref = create_task(Module, Function, Args, maps:get(kwargs, Opts, #{})),
    await(Ref, maps:get(timeout, Opts, ?TIMEOUT)).

spawn_task(Module, Function, Args) -> spawn_task(Module, Function, Args, #{}).

spawn_task(Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    'Elixir.Py.EventLoop':spawn_task(py:name(Module), py:name(Function), py:to_python(Args),
                                     [{kwargs, py:to_python(Kwargs)}]).
