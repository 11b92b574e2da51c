%% EUnit tests of the Erlang API, in the shapes erlang_python 2.x documents, for
%% Erlang teams who run their own suites against `py'. Run by test/eunit_test.exs.
-module(py_eunit_tests).
-include_lib("eunit/include/eunit.hrl").

call_test() ->
    ?assertEqual({ok, 4.0}, py:call(math, sqrt, [16])),
    ?assertEqual({ok, 255}, py:call(builtins, int, [<<"ff">>], #{base => 16})).

eval_and_exec_test() ->
    ?assertEqual({ok, 6}, py:eval(<<"x * y">>, #{x => 2, y => 3})),
    ok = py:exec(<<"def eunit_double(n):\n    return 2 * n">>),
    ?assertEqual({ok, 42}, py:call('__main__', eunit_double, [21])).

errors_test() ->
    ?assertMatch({error, {'ZeroDivisionError', _}}, py:eval(<<"1/0">>)),
    ?assertMatch({error, {'ModuleNotFoundError', _}}, py:call(no_such_module_here, f, [])),
    %% Exact where erlang_python 2.x is lossy: big integers.
    ?assertEqual({ok, 1 bsl 100}, py:eval(<<"2 ** 100">>)).

async_test() ->
    Ref = py:cast(math, factorial, [10]),
    ?assertEqual({ok, 3628800}, py:await(Ref)),
    Spawned = py:spawn_call(math, pow, [2, 10]),
    ?assertEqual({ok, 1024.0}, py:await(Spawned, 5000)).

parallel_test() ->
    ?assertEqual({ok, [1.0, 2.0]}, py:parallel([{math, sqrt, [1]}, {math, sqrt, [4]}])).

callback_test() ->
    ok = py:register_function(eunit_add, fun([A, B]) -> A + B end),
    try
        ?assertEqual({ok, 5}, py:eval(<<"erlang.call('eunit_add', 2, 3)">>))
    after
        py:unregister_function(eunit_add)
    end.

state_test() ->
    ok = py:state_store(<<"eunit_counter">>, 0),
    ?assertEqual(5, py:state_incr(<<"eunit_counter">>, 5)),
    ?assertEqual({ok, 5}, py:state_fetch(<<"eunit_counter">>)).

semaphore_test() ->
    Max = py_semaphore:max_concurrent(),
    ?assert(is_integer(Max) andalso Max > 0),
    ?assert(is_integer(py_semaphore:current())).
