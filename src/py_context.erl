%% @doc The erlang_python `py_context' API: calls, evals and execs on one context,
%% a handle from `py_context_router:get_context/0,1'. Each context runs its requests
%% one at a time, in order, and keeps serving after Python errors.
-module(py_context).

-export([call/5, call/6, eval/3, eval/4, exec/2, exec/3]).

%% @doc `Module:Function(*Args, **Kwargs)' on `Ctx', with no time limit.
call(Ctx, Module, Function, Args, Kwargs) ->
    call(Ctx, Module, Function, Args, Kwargs, infinity).

%% @doc As `call/5', within `Timeout' ms: then `{error, timeout}' and the Python code
%% running for the call is interrupted.
call(Ctx, Module, Function, Args, Kwargs, Timeout) when is_map(Kwargs) ->
    with_context(Ctx, fun() ->
        py:call(Ctx, Module, Function, Args, #{kwargs => Kwargs, timeout => Timeout})
    end).

%% @doc Evaluates an expression on `Ctx' with `Locals', with no time limit.
eval(Ctx, Code, Locals) ->
    eval(Ctx, Code, Locals, infinity).

eval(Ctx, Code, Locals, Timeout) when is_map(Locals) ->
    with_context(Ctx, fun() ->
        py:result('Elixir.Py':eval(py:code(Code), py:to_python(Locals),
                                   [{context, Ctx}, {timeout, Timeout}]))
    end).

%% @doc Runs statements on `Ctx': `ok' or `{error, Reason}'.
exec(Ctx, Code) ->
    exec(Ctx, Code, infinity).

exec(Ctx, Code, Timeout) ->
    with_context(Ctx, fun() ->
        py:result('Elixir.Py':exec(py:code(Code), [{context, Ctx}, {timeout, Timeout}]))
    end).

%% Anything but a context handle is `{error, invalid_context}'.
with_context(Ctx, Fun) ->
    case py:is_context(Ctx) of
        true -> Fun();
        false -> {error, invalid_context}
    end.
