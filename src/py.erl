%% @doc The erlang_python `py` API for Erlang code: thin delegates to the Elixir
%% `Py` modules, returning the shapes an erlang_python user expects.
%%
%% Results are `{ok, Value}', `ok' or `{error, Reason}'. A Python exception is
%% `{error, {TypeName, Message}}': `TypeName' is an atom for Python's built-in
%% exception classes (`'ZeroDivisionError'') and a binary for any other class
%% (`<<"json.decoder.JSONDecodeError">>'), so Python never creates atoms; `Message' is
%% a UTF-8 binary. Python's `None' comes back as `none', and `none', `nil' and
%% `undefined' go to Python as `None'. Other data converts exactly, big integers and
%% sets included.
-module(py).

-export([call/3, call/4, call/5,
         eval/1, eval/2, eval/3,
         exec/1, exec/2,
         cast/3, cast/4, await/1, await/2,
         spawn_call/3, spawn_call/4,
         stream/3, stream/4, stream_eval/1, stream_eval/2,
         parallel/1,
         register_function/2, register_function/3, unregister_function/1,
         register_pool/2, unregister_pool/1,
         state_store/2, state_fetch/1, state_remove/1, state_keys/0,
         state_incr/1, state_incr/2, state_decr/1, state_decr/2,
         version/0, execution_mode/0, num_executors/0, subinterp_supported/0]).

%% Shared with the other py_* modules.
-export([result/1, to_python/1, from_python/1, name/1]).

-define(TIMEOUT, 30000).

%% Calls

%% @doc `Module:Function(Args...)' in Python, on the pool its module is routed to.
call(Module, Function, Args) ->
    call_py(Module, Function, Args, []).

%% @doc `call(Pool, Module, Function, Args)' on a named pool, or
%% `call(Module, Function, Args, Kwargs)' with keyword arguments as a map.
call(Module, Function, Args, Kwargs) when is_map(Kwargs), is_list(Args) ->
    call_py(Module, Function, Args, [{kwargs, Kwargs}]);
call(Pool, Module, Function, Args) when is_atom(Pool), is_list(Args) ->
    call_py(Module, Function, Args, [{pool, Pool}]).

%% @doc `call(Pool, Module, Function, Args, Kwargs)' or
%% `call(Module, Function, Args, Kwargs, TimeoutMs)'.
call(Pool, Module, Function, Args, Kwargs) when is_atom(Pool), is_list(Args), is_map(Kwargs) ->
    call_py(Module, Function, Args, [{pool, Pool}, {kwargs, Kwargs}]);
call(Module, Function, Args, Kwargs, Timeout) when is_list(Args), is_map(Kwargs) ->
    call_py(Module, Function, Args, [{kwargs, Kwargs}, {timeout, Timeout}]).

call_py(Module, Function, Args, Opts) ->
    Opts1 = case proplists:get_value(kwargs, Opts) of
                undefined -> Opts;
                Kwargs -> lists:keystore(kwargs, 1, Opts, {kwargs, to_python(Kwargs)})
            end,
    result('Elixir.Py':call(name(Module), name(Function), to_python(Args), Opts1)).

%% Eval and exec

%% @doc Evaluates one Python expression.
eval(Code) ->
    eval(Code, #{}).

eval(Code, Locals) when is_map(Locals) ->
    result('Elixir.Py':eval(code(Code), to_python(Locals), [])).

eval(Code, Locals, Timeout) when is_map(Locals) ->
    result('Elixir.Py':eval(code(Code), to_python(Locals), [{timeout, Timeout}])).

%% @doc Runs Python statements in `__main__'.
exec(Code) ->
    result('Elixir.Py':exec(code(Code), [])).

exec(Code, Timeout) when is_integer(Timeout); Timeout =:= infinity ->
    result('Elixir.Py':exec(code(Code), [{timeout, Timeout}])).

%% Asynchronous calls

%% @doc Starts a call and returns a reference for `await/1,2'.
cast(Module, Function, Args) ->
    spawn_call(Module, Function, Args).

cast(Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    spawn_call(Module, Function, Args, Kwargs).

spawn_call(Module, Function, Args) ->
    'Elixir.Py':spawn_call(name(Module), name(Function), to_python(Args), []).

spawn_call(Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    'Elixir.Py':spawn_call(name(Module), name(Function), to_python(Args),
                           [{kwargs, to_python(Kwargs)}]).

%% @doc The result of a call started with `cast' or `spawn_call', within 30 s.
await(Ref) ->
    await(Ref, ?TIMEOUT).

await(Ref, Timeout) ->
    result('Elixir.Py':await(Ref, Timeout)).

%% Streams (collected: `{ok, List}')

stream(Module, Function, Args) ->
    collect('Elixir.Py':stream(name(Module), name(Function), to_python(Args), [])).

stream(Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    collect('Elixir.Py':stream(name(Module), name(Function), to_python(Args),
                               [{kwargs, to_python(Kwargs)}])).

stream_eval(Code) ->
    stream_eval(Code, #{}).

stream_eval(Code, Locals) when is_map(Locals) ->
    collect('Elixir.Py':stream_eval(code(Code), to_python(Locals), [])).

collect(Stream) ->
    try
        {ok, from_python('Elixir.Enum':to_list(Stream))}
    catch
        error:#{'__struct__' := 'Elixir.Py.Error'} = Error -> result({error, Error})
    end.

%% @doc Runs the calls at once across the default pool: `{ok, [Value]}' in order,
%% or the first error.
parallel(Calls) ->
    Prepared = [{name(M), name(F), to_python(A)} || {M, F, A} <- Calls],
    case 'Elixir.Py':parallel(Prepared, []) of
        {ok, Results} -> first_error([result(R) || R <- Results], []);
        Error -> result(Error)
    end.

first_error([], Values) -> {ok, lists:reverse(Values)};
first_error([{ok, Value} | Rest], Values) -> first_error(Rest, [Value | Values]);
first_error([Error | _], _) -> Error.

%% Callbacks and routing

%% @doc Registers `Fun' (arity 1, given the argument list) as `erlang.Name' in Python.
register_function(Name, Fun) when is_function(Fun, 1) ->
    'Elixir.Py':register_function(name(Name), fun(Args) -> to_python(Fun(from_python(Args))) end).

register_function(Name, Module, Function) when is_atom(Module), is_atom(Function) ->
    register_function(Name, fun(Args) -> Module:Function(Args) end).

unregister_function(Name) ->
    'Elixir.Py':unregister_function(name(Name)).

register_pool(Pool, {Module, Function}) ->
    'Elixir.Py':register_pool(Pool, {name(Module), name(Function)});
register_pool(Pool, Module) ->
    'Elixir.Py':register_pool(Pool, name(Module)).

unregister_pool({Module, Function}) ->
    'Elixir.Py':unregister_pool({name(Module), name(Function)});
unregister_pool(Module) ->
    'Elixir.Py':unregister_pool(name(Module)).

%% Shared state (keys and values are exact Erlang terms)

state_store(Key, Value) -> 'Elixir.Py.State':store(Key, Value).
state_fetch(Key) -> 'Elixir.Py.State':fetch(Key).
state_remove(Key) -> 'Elixir.Py.State':delete(Key).
state_keys() -> 'Elixir.Py.State':keys().
state_incr(Key) -> state_incr(Key, 1).
state_incr(Key, By) -> 'Elixir.Py.State':incr(Key, By).
state_decr(Key) -> state_decr(Key, 1).
state_decr(Key, By) -> 'Elixir.Py.State':decr(Key, By).

%% Information

version() -> 'Elixir.Py':version().
execution_mode() -> 'Elixir.Py':execution_mode().
num_executors() -> 'Elixir.Py':num_executors().
subinterp_supported() -> 'Elixir.Py.Subinterp':'supported?'().

%% Shapes

%% @private The erlang_python shape of a result from the Elixir API.
result({ok, Value}) -> {ok, from_python(Value)};
result(ok) -> ok;
result({error, #{'__struct__' := 'Elixir.Py.Error', type := Type, message := Message}}) ->
    {error, {exception_name(Type), Message}};
result({error, _} = Error) -> Error.

%% Python's built-in exception classes become atoms; no other name does.
exception_name(Type) ->
    case lists:member(Type, builtin_exceptions()) of
        true -> binary_to_atom(Type, utf8);
        false -> Type
    end.

builtin_exceptions() ->
    [<<"ArithmeticError">>, <<"AssertionError">>, <<"AttributeError">>, <<"BaseException">>,
     <<"BlockingIOError">>, <<"BrokenPipeError">>, <<"BufferError">>, <<"ChildProcessError">>,
     <<"ConnectionAbortedError">>, <<"ConnectionError">>, <<"ConnectionRefusedError">>,
     <<"ConnectionResetError">>, <<"EOFError">>, <<"Exception">>, <<"FileExistsError">>,
     <<"FileNotFoundError">>, <<"FloatingPointError">>, <<"GeneratorExit">>, <<"ImportError">>,
     <<"IndentationError">>, <<"IndexError">>, <<"InterruptedError">>, <<"IsADirectoryError">>,
     <<"KeyError">>, <<"KeyboardInterrupt">>, <<"LookupError">>, <<"MemoryError">>,
     <<"ModuleNotFoundError">>, <<"NameError">>, <<"NotADirectoryError">>,
     <<"NotImplementedError">>, <<"OSError">>, <<"OverflowError">>, <<"PermissionError">>,
     <<"ProcessLookupError">>, <<"RecursionError">>, <<"ReferenceError">>, <<"RuntimeError">>,
     <<"StopAsyncIteration">>, <<"StopIteration">>, <<"SyntaxError">>, <<"SystemError">>,
     <<"SystemExit">>, <<"TabError">>, <<"TimeoutError">>, <<"TypeError">>,
     <<"UnboundLocalError">>, <<"UnicodeDecodeError">>, <<"UnicodeEncodeError">>,
     <<"UnicodeError">>, <<"UnicodeTranslateError">>, <<"ValueError">>, <<"ZeroDivisionError">>].

%% `none' and `undefined' are Python's None here, as `nil' is in Elixir.
to_python(none) -> nil;
to_python(undefined) -> nil;
to_python(List) when is_list(List) -> to_python_list(List);
to_python(Tuple) when is_tuple(Tuple) -> list_to_tuple(to_python_list(tuple_to_list(Tuple)));
to_python(#{'__struct__' := _} = Struct) -> Struct;
to_python(Map) when is_map(Map) -> maps:from_list([{to_python(K), to_python(V)} || {K, V} <- maps:to_list(Map)]);
to_python(Other) -> Other.

%% Improper lists are passed through for the converter to refuse with a clear error.
to_python_list([Head | Tail]) when is_list(Tail) -> [to_python(Head) | to_python_list(Tail)];
to_python_list(Other) -> Other.

from_python(nil) -> none;
from_python(List) when is_list(List) -> [from_python(Item) || Item <- List];
from_python(Tuple) when is_tuple(Tuple) -> list_to_tuple(from_python(tuple_to_list(Tuple)));
from_python(#{'__struct__' := _} = Struct) -> Struct;
from_python(Map) when is_map(Map) -> maps:from_list([{from_python(K), from_python(V)} || {K, V} <- maps:to_list(Map)]);
from_python(Other) -> Other.

%% Module and function names: atoms, binaries or strings.
name(Name) when is_atom(Name); is_binary(Name) -> Name;
name(Name) when is_list(Name) -> unicode:characters_to_binary(Name).

code(Code) when is_binary(Code) -> Code;
code(Code) when is_list(Code) -> unicode:characters_to_binary(Code).
