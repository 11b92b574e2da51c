%% @doc The erlang_python `py_context_router' API over `Py.Pool' and `Py.Context':
%% named pools of contexts, the context a process's calls go to, and the routing of
%% modules to pools.
%%
%% A context is a handle (a `Py.Context' struct), not a pid: pass it to
%% `py:call/4,5', `py:eval/2,3', `py:exec/2' and the `py_context' functions. A
%% process that does not bind a context uses the one matching its scheduler. Pool
%% modes are `worker' (contexts share the main interpreter), `subinterp' (an OWN_GIL
%% subinterpreter per context, Python 3.12+) and `auto', which is `worker'.
-module(py_context_router).

-export([start/0, start/1, stop/0, is_started/0,
         get_context/0, get_context/1,
         bind_context/1, bind_context/2, unbind_context/0, unbind_context/1,
         num_contexts/0, num_contexts/1, contexts/0, contexts/1,
         start_pool/2, start_pool/3, stop_pool/1, pool_started/1,
         register_pool/2, register_pool/3, unregister_pool/1, unregister_pool/2,
         lookup_pool/2, list_pool_registrations/0, init_pool_registry/0]).

-define(POOL, 'Elixir.Py.Pool').
-define(CONTEXT, 'Elixir.Py.Context').

%% The default pool

%% @doc `{ok, Contexts}' of the default pool, starting it if `stop/0' stopped it.
start() -> start(#{}).

%% @doc `#{contexts => N, mode => auto | worker | subinterp}' size a default pool that
%% is not running; a running one is returned as it is.
start(Opts) when is_map(Opts) ->
    Size = maps:get(contexts, Opts, 'Elixir.Py.Config':default_pool_size()),
    Mode = maps:get(mode, Opts, 'Elixir.Py.Config':default_pool_mode()),
    start_pool(default, Size, Mode).

%% @doc Stops the default pool: calls that need it return `{error, {no_pool, default}}'
%% until `start/0,1' starts it again.
stop() -> stop_pool(default).

%% @doc True when the default pool is running.
is_started() -> pool_started(default).

%% Contexts

%% @doc The context this process's calls go to: the bound one, else the one matching
%% the scheduler in the default pool.
get_context() ->
    {ok, Ctx} = ?CONTEXT:get(),
    Ctx.

%% @doc `get_context(N)': context N (1-based) of the default pool;
%% `get_context(Pool)': the bound or scheduler-matching context of `Pool'.
get_context(N) when is_integer(N), N > 0 ->
    case ?CONTEXT:get(default, N - 1) of
        {ok, Ctx} -> Ctx;
        {error, not_found} -> error(badarg, [N])
    end;
get_context(Pool) when is_atom(Pool) ->
    Pool =:= io andalso py:ensure_io(),
    case ?CONTEXT:bound() of
        #{pool := Pool} = Ctx -> Ctx;
        _ ->
            Size = ?POOL:size(Pool),
            {ok, Ctx} = ?CONTEXT:get(Pool, (erlang:system_info(scheduler_id) - 1) rem Size),
            Ctx
    end.

%% @doc Sends this process's calls to `Ctx' (unless a call names its pool). A
%% process has one binding at a time: binding again replaces it.
bind_context(Ctx) -> ?CONTEXT:bind(Ctx).

bind_context(Pool, #{pool := Pool} = Ctx) -> bind_context(Ctx).

unbind_context() -> ?CONTEXT:unbind().

%% @doc Removes the binding if it is to a context of `Pool'.
unbind_context(Pool) ->
    case ?CONTEXT:bound() of
        #{pool := Pool} -> unbind_context();
        _ -> ok
    end.

%% @doc The number of contexts of the default pool (0 when it is not running).
num_contexts() -> num_contexts(default).

num_contexts(Pool) ->
    case ?POOL:fetch(Pool) of
        #{size := Size} -> Size;
        nil -> 0
    end.

%% @doc The contexts of the default pool ([] when it is not running).
contexts() -> contexts(default).

contexts(Pool) ->
    try ?POOL:contexts(Pool)
    catch error:#{'__struct__' := 'Elixir.ArgumentError'} -> []
    end.

%% Pools

%% @doc Starts `Pool' with `Size' worker contexts: `{ok, Contexts}'. A pool already
%% running is returned as it is, whatever its size.
start_pool(Pool, Size) -> start_pool(Pool, Size, worker).

start_pool(Pool, Size, Mode) when is_atom(Pool), is_integer(Size), Size > 0 ->
    case pool_started(Pool) of
        true -> {ok, contexts(Pool)};
        false -> start_new(Pool, Size, 'Elixir.Py.Config':mode(Mode))
    end.

%% The default pool is a child of the application's supervisor: it is started there
%% again, with the size asked for.
start_new(default, Size, Mode) ->
    Spec = ?POOL:child_spec([{name, default}, {size, Size}, {mode, Mode}]),
    _ = supervisor:delete_child('Elixir.Py.Supervisor', maps:get(id, Spec)),
    case supervisor:start_child('Elixir.Py.Supervisor', Spec) of
        {ok, _} -> {ok, contexts(default)};
        {error, {already_started, _}} -> {ok, contexts(default)};
        {error, _} = Error -> Error
    end;
start_new(Pool, Size, Mode) ->
    case ?POOL:start(Pool, Size, Mode) of
        {ok, Contexts} -> {ok, Contexts};
        {error, {already_started, Pool}} -> {ok, contexts(Pool)};
        {error, _} = Error -> Error
    end.

%% @doc Stops `Pool'; `ok' also when it is not running.
stop_pool(default) ->
    case supervisor:terminate_child('Elixir.Py.Supervisor', {?POOL, default}) of
        ok -> ok;
        {error, not_found} -> ok
    end;
stop_pool(Pool) ->
    case ?POOL:stop(Pool) of
        ok -> ok;
        {error, not_found} -> ok
    end.

pool_started(Pool) -> ?POOL:'started?'(Pool).

%% Routing

register_pool(Pool, Target) -> py:register_pool(Pool, Target).

register_pool(Pool, Module, Function) -> py:register_pool(Pool, {Module, Function}).

unregister_pool(Target) -> py:unregister_pool(Target).

unregister_pool(Module, Function) -> py:unregister_pool({Module, Function}).

%% @doc The pool a call of `Module:Function' goes to: a registration of the function,
%% else of the module, else `default'.
lookup_pool(Module, Function) -> ?POOL:lookup(py:name(Module), py:name(Function)).

%% @doc Every registration as `{{Module, Function | '_'}, Pool}'. Names registered as
%% atoms come back as atoms.
list_pool_registrations() ->
    [{registration(Target), Pool} || {Target, Pool} <- maps:to_list(?POOL:registrations())].

registration({Module, Function}) -> {existing_atom(Module), existing_atom(Function)};
registration(Module) -> {existing_atom(Module), '_'}.

existing_atom(Name) ->
    try binary_to_existing_atom(Name, utf8)
    catch error:badarg -> Name
    end.

%% @doc The registry needs no set-up: `ok'.
init_pool_registry() -> ok.
