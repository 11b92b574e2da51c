defmodule Py.Context do
  @moduledoc """
  One context of a pool: an OS thread owning a Python thread state (and, in a
  `:subinterp` pool, its own interpreter).

  Calls normally pick a context for you (the one matching the caller's scheduler, or
  an idle one). Pin a call with `context: ctx`, or bind a process so that all of its
  calls go to one context — useful with subinterpreters, whose objects and globals
  live in one interpreter only.

  ## Examples

      iex> {:ok, ctx} = Py.Context.get(0)
      iex> ctx
      %Py.Context{pool: :default, index: 0}
      iex> Py.eval("1 + 1", %{}, context: ctx)
      {:ok, 2}
  """

  @enforce_keys [:pool, :index]
  defstruct [:pool, :index]

  @type t :: %__MODULE__{pool: Py.Pool.name(), index: non_neg_integer()}

  @bound {__MODULE__, :bound}

  @doc """
  The context this process's calls go to: the bound one, or the one matching the
  current scheduler in the `:default` pool.

  ## Examples

      iex> {:ok, %Py.Context{pool: :default}} = Py.Context.get()
  """
  @spec get() :: {:ok, t()} | {:error, term()}
  def get do
    case Process.get(@bound) do
      %__MODULE__{} = ctx -> {:ok, ctx}
      nil -> get(:default, :erlang.system_info(:scheduler_id) - 1)
    end
  end

  @doc """
  Context `index` of the `:default` pool.

  ## Examples

      iex> Py.Context.get(0)
      {:ok, %Py.Context{pool: :default, index: 0}}
      iex> Py.Context.get(10_000)
      {:error, :not_found}
  """
  @spec get(non_neg_integer()) :: {:ok, t()} | {:error, term()}
  def get(index), do: get(:default, index)

  @doc """
  Context `index` of `pool`; an index past the pool's size wraps around when it comes
  from a scheduler id, but is `:not_found` when asked for directly.

  ## Examples

      iex> Py.Context.get(:default, 0)
      {:ok, %Py.Context{pool: :default, index: 0}}
  """
  @spec get(Py.Pool.name(), non_neg_integer()) :: {:ok, t()} | {:error, term()}
  def get(pool, index) when is_integer(index) and index >= 0 do
    case Py.Pool.size(pool) do
      {:ok, size} when index < size -> {:ok, %__MODULE__{pool: pool, index: index}}
      {:ok, _size} -> {:error, :not_found}
      {:error, _} = error -> error
    end
  end

  @doc """
  Sends every later call of this process to `ctx`, unless a call names its own
  `pool:` or `context:`.

  ## Examples

      iex> {:ok, ctx} = Py.Context.get(0)
      iex> Py.Context.bind(ctx)
      :ok
      iex> Py.Context.get()
      {:ok, %Py.Context{pool: :default, index: 0}}
      iex> Py.Context.unbind()
      :ok
  """
  @spec bind(t()) :: :ok
  def bind(%__MODULE__{} = ctx) do
    Process.put(@bound, ctx)
    :ok
  end

  @doc """
  Undoes `bind/1`.

  ## Examples

      iex> Py.Context.unbind()
      :ok
  """
  @spec unbind() :: :ok
  def unbind do
    Process.delete(@bound)
    :ok
  end

  @doc false
  @spec bound() :: t() | nil
  def bound, do: Process.get(@bound)

  @doc """
  The contexts of a pool (`:default` unless named).

  ## Examples

      iex> {:ok, contexts} = Py.Context.list()
      iex> length(contexts) == Py.num_executors()
      true
  """
  @spec list(Py.Pool.name()) :: {:ok, [t()]} | {:error, :not_found}
  def list(pool \\ :default), do: Py.Pool.contexts(pool)
end
