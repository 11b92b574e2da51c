%% @doc The erlang_python `py' API for Erlang code: thin delegates to the Elixir
%% `Py' modules, returning the shapes an erlang_python user expects.
%%
%% Results are `{ok, Value}', `ok' or `{error, Reason}'. A Python exception is
%% `{error, {TypeName, Message}}': `TypeName' is an atom for Python's built-in
%% exception classes (`'ZeroDivisionError'') and a binary for any other class
%% (`<<"json.decoder.JSONDecodeError">>'), so Python never creates atoms; `Message' is
%% a UTF-8 binary. Python's `None' comes back as `none', and `none', `nil' and
%% `undefined' go to Python as `None'. Other data converts exactly, big integers and
%% sets included; numpy arrays and scalars come back as lists and numbers, and other
%% objects without an Erlang form as handles (see `py_ref').
%%
%% Contexts are the handles `py_context_router:get_context/0,1' returns; wherever
%% erlang_python takes a context pid, these functions take such a handle.
-module(py).

-export([call/3, call/4, call/5,
         eval/1, eval/2, eval/3,
         exec/1, exec/2,
         cast/3, cast/4, await/1, await/2,
         spawn_call/3, spawn_call/4,
         stream/3, stream/4, stream_eval/1, stream_eval/2,
         parallel/1,
         async_call/3, async_call/4, async_await/1, async_await/2, async_gather/1,
         async_stream/3, async_stream/4,
         register_function/2, register_function/3, unregister_function/1,
         register_pool/2, unregister_pool/1,
         start_contexts/0, start_contexts/1, stop_contexts/0, contexts_started/0,
         context/0, context/1,
         state_store/2, state_fetch/1, state_remove/1, state_keys/0, state_clear/0,
         state_incr/1, state_incr/2, state_decr/1, state_decr/2,
         version/0, execution_mode/0, num_executors/0, memory_stats/0, gc/0, gc/1,
         reload/1, configure_logging/0, configure_logging/1,
         ensure_venv/2, ensure_venv/3,
         subinterp_supported/0, subinterp_create/0, subinterp_destroy/1,
         subinterp_call/4, subinterp_call/5, subinterp_eval/2, subinterp_eval/3,
         subinterp_exec/2,
         subinterp_pool_start/0, subinterp_pool_start/1, subinterp_pool_stop/0,
         subinterp_pool_ready/0]).

%% Shared with the other py_* modules.
-export([result/1, to_python/1, from_python/1, name/1, code/1, is_context/1, ensure_io/0]).

%% The table of casts still running: reference => the process running it.
-export([cast_table/0]).

-define(TIMEOUT, 30000).
-define(CASTS, py_casts).
-define(CONTEXT, 'Elixir.Py.Context').

%% Calls

%% @doc `Module:Function(Args...)' in Python, on the pool its module is routed to
%% (see `register_pool/2'), within 30 s.
call(Module, Function, Args) ->
    call_py(Module, Function, Args, []).

%% @doc One of:
%% `call(Ctx, Module, Function, Args)' on that context, with no time limit;
%% `call(Pool, Module, Function, Args)' on a named pool;
%% `call(Module, Function, Args, Kwargs)' with keyword arguments as a map.
call(#{'__struct__' := ?CONTEXT} = Ctx, Module, Function, Args) ->
    call_py(Module, Function, Args, [{context, Ctx}, {timeout, infinity}]);
call(Module, Function, Args, Kwargs) when is_list(Args), is_map(Kwargs) ->
    call_py(Module, Function, Args, [{kwargs, Kwargs}]);
call(Pool, Module, Function, Args) when is_atom(Pool), is_list(Args) ->
    call_py(Module, Function, Args, [{pool, Pool}]).

%% @doc One of:
%% `call(Ctx, Module, Function, Args, #{kwargs => Map, timeout => Ms})' (no time
%% limit by default);
%% `call(Pool, Module, Function, Args, Kwargs)';
%% `call(Module, Function, Args, Kwargs, TimeoutMs)'.
call(#{'__struct__' := ?CONTEXT} = Ctx, Module, Function, Args, Opts) when is_map(Opts) ->
    call_py(Module, Function, Args, [{context, Ctx},
                                     {kwargs, maps:get(kwargs, Opts, #{})},
                                     {timeout, maps:get(timeout, Opts, infinity)}]);
call(Pool, Module, Function, Args, Kwargs) when is_atom(Pool), is_list(Args), is_map(Kwargs) ->
    call_py(Module, Function, Args, [{pool, Pool}, {kwargs, Kwargs}]);
call(Module, Function, Args, Kwargs, Timeout) when is_list(Args), is_map(Kwargs) ->
    call_py(Module, Function, Args, [{kwargs, Kwargs}, {timeout, Timeout}]).

call_py(Module, Function, Args, Opts) ->
    Opts1 = case lists:keyfind(kwargs, 1, Opts) of
                false -> Opts;
                {kwargs, Kwargs} -> lists:keystore(kwargs, 1, Opts, {kwargs, to_python(Kwargs)})
            end,
    M = name(Module),
    F = name(Function),
    A = to_python(Args),
    case 'Elixir.Py':call(M, F, A, Opts1) of
        %% The io pool starts the first time a call routes to it; nothing was
        %% submitted, so the call is simply made again.
        {error, {no_pool, io}} = Error ->
            case ensure_io() of
                ok -> result('Elixir.Py':call(M, F, A, Opts1));
                {error, _} -> Error
            end;
        Result ->
            result(Result)
    end.

%% @private Starts the `io' pool if it is not running: 10 worker contexts, or the
%% configured `io_pool_size' and `io_pool_mode'.
ensure_io() ->
    case 'Elixir.Py.Pool':'started?'(io) of
        true -> ok;
        false ->
            {Size, Mode} = 'Elixir.Py.Config':io_pool_on_demand(),
            case 'Elixir.Py.Pool':start(io, Size, Mode) of
                {ok, _} -> ok;
                {error, {already_started, io}} -> ok;
                {error, _} = Error -> Error
            end
    end.

%% Eval and exec

%% @doc Evaluates one Python expression (a binary or a string).
eval(Code) ->
    eval(Code, #{}).

%% @doc `eval(Ctx, Code)' on a context, or `eval(Code, Locals)' with local variables.
eval(#{'__struct__' := ?CONTEXT} = Ctx, Code) ->
    eval(Ctx, Code, #{});
eval(Code, Locals) when is_map(Locals) ->
    eval_py(Code, Locals, []).

%% @doc `eval(Ctx, Code, Locals)' on a context, with no time limit, or
%% `eval(Code, Locals, TimeoutMs)'.
eval(#{'__struct__' := ?CONTEXT} = Ctx, Code, Locals) when is_map(Locals) ->
    eval_py(Code, Locals, [{context, Ctx}, {timeout, infinity}]);
eval(Code, Locals, Timeout) when is_map(Locals) ->
    eval_py(Code, Locals, [{timeout, Timeout}]).

eval_py(Code, Locals, Opts) ->
    result('Elixir.Py':eval(code(Code), to_python(Locals), Opts)).

%% @doc Runs Python statements in `__main__': `ok' or `{error, Reason}'.
exec(Code) ->
    result('Elixir.Py':exec(code(Code), [{timeout, infinity}])).

%% @doc `exec(Ctx, Code)': runs the statements on one context.
exec(#{'__struct__' := ?CONTEXT} = Ctx, Code) ->
    result('Elixir.Py':exec(code(Code), [{context, Ctx}, {timeout, infinity}])).

%% Asynchronous calls

%% @doc Starts a call and returns a reference at once. The result arrives as the
%% message `{py_response, Ref, Result}'; `await/1,2' waits for it. A cast whose
%% caller dies, or whose `await' times out, is cancelled and its Python interrupted.
cast(Module, Function, Args) ->
    cast(Module, Function, Args, #{}).

cast(Module, Function, Args, Kwargs) when is_list(Args), is_map(Kwargs) ->
    Caller = self(),
    Ref = make_ref(),
    Pid = spawn(fun() -> cast_run(Caller, Ref, Module, Function, Args, Kwargs) end),
    %% The entry exists before the cast starts, and the cast removes it when done:
    %% a caller that never awaits leaves nothing behind.
    true = ets:insert(?CASTS, {Ref, Pid}),
    Pid ! {Ref, go},
    Ref.

cast_run(Caller, Ref, Module, Function, Args, Kwargs) ->
    Monitor = monitor(process, Caller),
    receive
        {Ref, go} -> ok;
        {'DOWN', Monitor, process, _, _} -> exit(normal)
    end,
    process_flag(trap_exit, true),
    Self = self(),
    Worker = spawn_link(fun() ->
                                Self ! {Ref, call(Module, Function, Args, Kwargs, infinity)}
                        end),
    receive
        {Ref, Result} ->
            Caller ! {py_response, Ref, Result},
            ets:delete(?CASTS, Ref);
        {'EXIT', Worker, Reason} ->
            Caller ! {py_error, Ref, {exit, Reason}},
            ets:delete(?CASTS, Ref);
        {'DOWN', Monitor, process, _, _} ->
            %% The worker's death cancels its request and interrupts its Python.
            exit(Worker, kill),
            ets:delete(?CASTS, Ref)
    end.

%% @private Creates the table of running casts; the application calls this at start.
cast_table() ->
    ets:new(?CASTS, [named_table, public, set, {write_concurrency, true}]),
    ok.

%% @doc Starts a call and returns a reference for `await/1,2' (the same process must
%% await it). If the caller dies first, the call is cancelled.
spawn_call(Module, Function, Args) ->
    spawn_call(Module, Function, Args, #{}).

spawn_call(Module, Function, Args, Kwargs) when is_list(Args), is_map(Kwargs) ->
    M = name(Module),
    F = name(Function),
    case 'Elixir.Py.Pool':lookup(M, F) of
        io -> ensure_io();
        _ -> ok
    end,
    Ref = 'Elixir.Py':spawn_call(M, F, to_python(Args), [{kwargs, to_python(Kwargs)}]),
    put({?MODULE, spawned, Ref}, true),
    Ref.

%% @doc The result of a call started with `cast' or `spawn_call', within 30 s.
await(Ref) ->
    await(Ref, ?TIMEOUT).

%% @doc The result of a call started with `cast' or `spawn_call', within `Timeout'
%% ms; then `{error, timeout}', the call is cancelled and no late reply follows.
await(Ref, Timeout) when is_reference(Ref) ->
    case erase({?MODULE, spawned, Ref}) of
        true -> result('Elixir.Py':await(Ref, Timeout));
        undefined -> await_cast(Ref, Timeout)
    end.

await_cast(Ref, Timeout) ->
    receive
        {py_response, Ref, Result} -> Result;
        {py_error, Ref, Error} -> {error, Error}
    after Timeout ->
        cancel_cast(Ref)
    end.

%% A cast past its deadline is killed, which cancels its request. A cast that
%% replied before dying has its reply in the mailbox by the time 'DOWN' arrives.
cancel_cast(Ref) ->
    case ets:take(?CASTS, Ref) of
        [{Ref, Pid}] ->
            Monitor = monitor(process, Pid),
            exit(Pid, kill),
            receive {'DOWN', Monitor, process, Pid, _} -> ok end;
        [] ->
            ok
    end,
    receive
        {py_response, Ref, Result} -> Result;
        {py_error, Ref, Error} -> {error, Error}
    after 0 ->
        {error, timeout}
    end.

%% Streams (collected: `{ok, List}')

%% @doc The items of the iterable `Module:Function(Args...)' returns, as a list.
stream(Module, Function, Args) ->
    collect('Elixir.Py':stream(name(Module), name(Function), to_python(Args), [])).

stream(Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    collect('Elixir.Py':stream(name(Module), name(Function), to_python(Args),
                               [{kwargs, to_python(Kwargs)}])).

%% @doc The items of the iterable an expression evaluates to, as a list.
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

%% Asyncio (over py_event_loop)

%% @doc Starts `Module:Function(Args...)' as an asyncio task (a coroutine function's
%% coroutine runs to completion) and returns a reference for `async_await/1,2'.
async_call(Module, Function, Args) -> py_event_loop:create_task(Module, Function, Args).

async_call(Module, Function, Args, Kwargs) ->
    py_event_loop:create_task(Module, Function, Args, Kwargs).

async_await(Ref) -> async_await(Ref, ?TIMEOUT).

async_await(Ref, Timeout) -> py_event_loop:await(Ref, Timeout).

%% @doc Runs the tasks at once: `{ok, [Value]}' in order, or the first error (the
%% other tasks are cancelled).
async_gather(Calls) ->
    Prepared = [{name(M), name(F), to_python(A)} || {M, F, A} <- Calls],
    result('Elixir.Py.EventLoop':gather(Prepared, [{timeout, ?TIMEOUT}])).

%% @doc The items of an async generator (or any iterable), as a list.
async_stream(Module, Function, Args) -> stream(Module, Function, Args).

async_stream(Module, Function, Args, Kwargs) -> stream(Module, Function, Args, Kwargs).

%% Callbacks and routing

%% @doc Registers `Fun' (arity 1, given the argument list) as `erlang.Name' in Python.
register_function(Name, Fun) when is_function(Fun, 1) ->
    'Elixir.Py':register_function(name(Name), fun(Args) -> to_python(Fun(from_python(Args))) end).

%% @doc Registers `Module:Function/1' (given the argument list) as `erlang.Name'.
register_function(Name, Module, Function) when is_atom(Module), is_atom(Function) ->
    register_function(Name, fun(Args) -> Module:Function(Args) end).

unregister_function(Name) ->
    'Elixir.Py':unregister_function(name(Name)).

%% @doc Routes every call of `Module', or of one `{Module, Function}', to `Pool'.
register_pool(Pool, {Module, Function}) ->
    'Elixir.Py':register_pool(Pool, {name(Module), name(Function)});
register_pool(Pool, Module) ->
    'Elixir.Py':register_pool(Pool, name(Module)).

unregister_pool({Module, Function}) ->
    'Elixir.Py':unregister_pool({name(Module), name(Function)});
unregister_pool(Module) ->
    'Elixir.Py':unregister_pool(name(Module)).

%% Contexts of the default pool (see py_context_router)

start_contexts() -> py_context_router:start().
start_contexts(Opts) -> py_context_router:start(Opts).
stop_contexts() -> py_context_router:stop().
contexts_started() -> py_context_router:is_started().
context() -> py_context_router:get_context().
context(N) -> py_context_router:get_context(N).

%% Shared state (keys and values are exact Erlang terms)

state_store(Key, Value) -> 'Elixir.Py.State':store(Key, Value).
state_fetch(Key) -> 'Elixir.Py.State':fetch(Key).
state_remove(Key) -> 'Elixir.Py.State':delete(Key).
state_keys() -> 'Elixir.Py.State':keys().
%% @doc Removes every key (one at a time: a key stored meanwhile may survive).
state_clear() -> lists:foreach(fun state_remove/1, state_keys()).
state_incr(Key) -> state_incr(Key, 1).
state_incr(Key, By) -> 'Elixir.Py.State':incr(Key, By).
state_decr(Key) -> state_decr(Key, 1).
state_decr(Key, By) -> 'Elixir.Py.State':decr(Key, By).

%% Information

version() -> 'Elixir.Py':version().
execution_mode() -> 'Elixir.Py':execution_mode().
num_executors() -> 'Elixir.Py':num_executors().

%% @doc `{ok, Map}': the garbage collector's statistics, and tracemalloc's while
%% it traces.
memory_stats() -> result('Elixir.Py':memory_stats()).

%% @doc A full garbage collection: `{ok, Unreachable}'.
gc() -> call(gc, collect, []).

%% @doc A collection of generation 0, 1 or 2: `{ok, Unreachable}'.
gc(Generation) when Generation >= 0, Generation =< 2 -> call(gc, collect, [Generation]).

%% @doc Reloads `Module' (`importlib.reload') wherever it is imported: once for the
%% interpreter worker contexts share, in each context of a `subinterp' default pool.
%% `ok' or `{error, [{Context, Reason}]}'.
reload(Module) ->
    Code = <<"__import__('importlib').reload(__import__('sys').modules[m]) and None "
             "if m in __import__('sys').modules else None">>,
    Contexts = case 'Elixir.Py.Pool':mode(default) of
                   subinterp -> py_context_router:contexts();
                   worker -> [py_context_router:get_context(1)]
               end,
    Errors = [{Ctx, Reason} || Ctx <- Contexts,
                               {error, Reason} <- [py_context:eval(Ctx, Code, #{m => name(Module)})]],
    case Errors of
        [] -> ok;
        _ -> {error, Errors}
    end.

%% @doc Sets the level of Python's root logger; Python's records go to `logger'
%% (through Elixir's Logger) with their metadata.
configure_logging() -> configure_logging(#{}).

%% @doc `#{level => debug | info | warning | error | critical}' (default `debug').
%% Records are formatted by `logger', so a `format' option has no effect here.
configure_logging(Opts) when is_map(Opts); is_list(Opts) ->
    Level = case maps:get(level, maps:from_list(opts_list(Opts)), debug) of
                L when L =:= debug; L =:= info; L =:= warning; L =:= error; L =:= critical -> L;
                _ -> debug
            end,
    result('Elixir.Py':configure_logging([{level, Level}])).

opts_list(Opts) when is_map(Opts) -> maps:to_list(Opts);
opts_list(Opts) -> Opts.

%% Virtual environments

%% @doc Creates the virtualenv at `Path' unless it exists, installs the requirements
%% and activates it: `ok' or `{error, Reason}'. `Requirements' is a requirements file
%% or a list of requirement strings.
ensure_venv(Path, Requirements) ->
    ensure_venv(Path, Requirements, []).

%% @doc Options: `{installer, uv | pip}', `{python, Executable}', `force' (recreate).
ensure_venv(Path, Requirements, Opts) when is_list(Opts) ->
    VenvOpts = [requirements_opt(Requirements) | [venv_opt(Opt) || Opt <- Opts]],
    case 'Elixir.Py.Venv':ensure(code(Path), VenvOpts) of
        {ok, _Info} -> ok;
        {error, _} = Error -> Error
    end.

%% A file name (a binary or a string) or a list of requirements.
requirements_opt(File) when is_binary(File) ->
    {requirements_file, File};
requirements_opt(Requirements) when is_list(Requirements) ->
    case io_lib:printable_unicode_list(Requirements) of
        true when Requirements =/= [] -> {requirements_file, code(Requirements)};
        _ -> {requirements, [code(R) || R <- Requirements]}
    end.

venv_opt(force) -> {force, true};
venv_opt({python, Python}) -> {python, code(Python)};
venv_opt({Key, Value}) when is_atom(Key) -> {Key, Value}.

%% Subinterpreters (Python 3.12+)

subinterp_supported() -> 'Elixir.Py.Subinterp':'supported?'().

%% @doc `{ok, Handle}': a new OWN_GIL subinterpreter on a thread of its own.
subinterp_create() -> 'Elixir.Py.Subinterp':create().

subinterp_destroy(Handle) -> 'Elixir.Py.Subinterp':destroy(Handle).

subinterp_call(Handle, Module, Function, Args) ->
    subinterp_call(Handle, Module, Function, Args, #{}).

subinterp_call(Handle, Module, Function, Args, Kwargs) when is_map(Kwargs) ->
    result('Elixir.Py.Subinterp':call(Handle, name(Module), name(Function), to_python(Args),
                                      [{kwargs, to_python(Kwargs)}])).

subinterp_eval(Handle, Code) ->
    subinterp_eval(Handle, Code, #{}).

subinterp_eval(Handle, Code, Locals) when is_map(Locals) ->
    result('Elixir.Py.Subinterp':eval(Handle, code(Code), to_python(Locals), [])).

subinterp_exec(Handle, Code) ->
    result('Elixir.Py.Subinterp':exec(Handle, code(Code), [])).

%% @doc Subinterpreter handles need no pool here: each one is an interpreter on a
%% thread of its own, made by `subinterp_create/0'. These functions keep code
%% written for a pool working: `ok' where subinterpreters are supported.
subinterp_pool_start() -> subinterp_pool_start(8).

subinterp_pool_start(Size) when is_integer(Size), Size > 0 ->
    case subinterp_supported() of
        true ->
            persistent_term:put({?MODULE, subinterp_pool}, true),
            ok;
        false ->
            {error, {unsupported, <<"subinterpreters need Python 3.12 or later">>}}
    end.

subinterp_pool_stop() ->
    _ = persistent_term:erase({?MODULE, subinterp_pool}),
    ok.

subinterp_pool_ready() -> persistent_term:get({?MODULE, subinterp_pool}, false).

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

%% @private `none' and `undefined' are Python's None here, as `nil' is in Elixir.
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

%% @private
from_python(#{'__struct__' := 'Elixir.Py.Object'} = Object) -> numpy_value(Object);
from_python(nil) -> none;
from_python(List) when is_list(List) -> [from_python(Item) || Item <- List];
from_python(Tuple) when is_tuple(Tuple) -> list_to_tuple(from_python(tuple_to_list(Tuple)));
from_python(#{'__struct__' := _} = Struct) -> Struct;
from_python(Map) when is_map(Map) -> maps:from_list([{from_python(K), from_python(V)} || {K, V} <- maps:to_list(Map)]);
from_python(Other) -> Other.

%% numpy arrays and scalars come back as lists and numbers (`.tolist()'), as
%% erlang_python returns them; other objects stay handles that can be passed back.
numpy_value(Object) ->
    Code = <<"o.tolist() if type(o).__module__ == 'numpy' else None">>,
    case 'Elixir.Py':eval(Code, #{o => Object}, []) of
        {ok, nil} -> Object;
        {ok, Value} -> from_python(Value);
        {error, _} -> Object
    end.

%% @private Module and function names: atoms, binaries or strings.
name(Name) when is_atom(Name); is_binary(Name) -> Name;
name(Name) when is_list(Name) -> unicode:characters_to_binary(Name).

%% @private Code and paths: binaries or strings.
code(Code) when is_binary(Code) -> Code;
code(Code) when is_list(Code) -> unicode:characters_to_binary(Code).

%% @private True for a context handle.
is_context(#{'__struct__' := ?CONTEXT}) -> true;
is_context(_) -> false.
