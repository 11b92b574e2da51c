%% @doc The erlang_python `py_ref' API over `Py.Object': a handle to a Python object
%% that has no Erlang form (a `deque', a file, a model), as `py:call' returns it.
%% Passing it back to Python gives Python the very same object.
-module(py_ref).

-export([is_ref/1, getattr/2, call_method/3, to_term/1]).

-define(OBJECT, 'Elixir.Py.Object').

%% @doc True for a Python object handle.
is_ref(#{'__struct__' := ?OBJECT}) -> true;
is_ref(_) -> false.

%% @doc An attribute of the object (dotted paths allowed).
getattr(#{'__struct__' := ?OBJECT} = Ref, Name) ->
    py:result('Elixir.Py':getattr(Ref, py:name(Name))).

%% @doc Calls a method of the object.
call_method(#{'__struct__' := ?OBJECT} = Ref, Method, Args) when is_list(Args) ->
    py:result('Elixir.Py':call_method(Ref, py:name(Method), py:to_python(Args))).

%% @doc The object as an Erlang term where it has one (a numpy array becomes a
%% list); otherwise the handle itself.
to_term(#{'__struct__' := ?OBJECT} = Ref) -> {ok, py:from_python(Ref)}.
