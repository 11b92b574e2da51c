defmodule Py.Op do
  @moduledoc false
  # The operations a context runs, built in one place. The NIF decodes the same
  # tuples into one Rust enum (native/erlang_python_nif/src/op.rs); a change here
  # goes there too.

  @type return :: :value | :ref | nil
  @type t :: tuple()

  @spec call(String.t(), String.t(), list(), map() | nil, return()) :: t()
  def call(module, function, args, kwargs, return),
    do: {:call, module, function, args, kwargs, return}

  @spec call_method(Py.Object.t(), String.t() | nil, list(), map() | nil, return()) :: t()
  def call_method(object, name, args, kwargs, return),
    do: {:call_method, object, name, args, kwargs, return}

  @spec getattr(Py.Object.t(), String.t(), return()) :: t()
  def getattr(object, name, return), do: {:getattr, object, name, return}

  @spec eval(String.t(), map() | nil, return()) :: t()
  def eval(code, locals, return), do: {:eval, code, locals, return}

  @spec exec(String.t()) :: t()
  def exec(code), do: {:exec, code}

  @spec repr(term()) :: t()
  def repr(value), do: {:repr, value}

  # Makes the context thread panic; the panic is contained (tests prove it).
  @spec panic() :: t()
  def panic, do: {:panic}
end
