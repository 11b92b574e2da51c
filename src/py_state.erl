%% @doc The erlang_python `py_state' API: the shared state behind `py:state_*',
%% which Python reads and writes as `erlang.state_get', `erlang.state_set', ...
-module(py_state).

-export([fetch/1, store/2, remove/1, keys/0, clear/0, incr/1, incr/2, decr/1, decr/2]).

fetch(Key) -> py:state_fetch(Key).
store(Key, Value) -> py:state_store(Key, Value).
remove(Key) -> py:state_remove(Key).
keys() -> py:state_keys().
clear() -> py:state_clear().
incr(Key) -> py:state_incr(Key).
incr(Key, By) -> py:state_incr(Key, By).
decr(Key) -> py:state_decr(Key).
decr(Key, By) -> py:state_decr(Key, By).
