%% @doc The erlang_python `py_semaphore' API over the semaphore in the NIF that bounds
%% every request: `{error, {overloaded, Current, Max}}' once it is full.
-module(py_semaphore).

-export([init/0, acquire/1, release/0, current/0, max_concurrent/0, set_max_concurrent/1]).

-define(DEFAULT_TIMEOUT, 30000).

init() -> ok.

%% @doc Takes a permit, retrying with a growing pause (5 to 50 ms) until `Timeout' ms
%% pass (`infinity' waits for ever): `ok' or `{error, max_concurrent}'.
acquire(infinity) ->
    acquire_until(infinity, 5);
acquire(Timeout) when is_integer(Timeout), Timeout > 0 ->
    acquire_until(erlang:monotonic_time(millisecond) + Timeout, 5);
acquire(_) ->
    acquire(?DEFAULT_TIMEOUT).

acquire_until(Deadline, Pause) ->
    case 'Elixir.Py.Native':semaphore_acquire() of
        true -> ok;
        false ->
            case Deadline =/= infinity andalso erlang:monotonic_time(millisecond) >= Deadline of
                true -> {error, max_concurrent};
                false ->
                    timer:sleep(Pause),
                    acquire_until(Deadline, min(Pause * 2, 50))
            end
    end.

release() -> 'Elixir.Py.Native':semaphore_release().

current() -> 'Elixir.Py.Semaphore':current().

max_concurrent() -> 'Elixir.Py.Semaphore':max_concurrent().

set_max_concurrent(Max) -> 'Elixir.Py.Semaphore':set_max_concurrent(Max).
