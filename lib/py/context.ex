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
  current scheduler in the `:default` pool. A pool with fewer contexts than there are
  schedulers wraps around (scheduler 3 of a 2-context pool is context 0). An
  unbound call still moves to an idle context when its own is busy; a bound one never
  does.

  ## Examples

      iex> {:ok, %Py.Context{pool: :default}} = Py.Context.get()
  """
  @spec get() :: {:ok, t()} | {:error, :not_found}
  def get do
    case Process.get(@bound) do
      %__MODULE__{} = ctx -> {:ok, ctx}
      nil -> scheduler_affine(:default)
    end
  end

  # The NIF takes the scheduler index modulo the pool size; so does this.
  defp scheduler_affine(pool) do
    case Py.Pool.fetch(pool) do
      %{size: size} ->
        index = rem(:erlang.system_info(:scheduler_id) - 1, size)
        {:ok, %__MODULE__{pool: pool, index: index}}

      nil ->
        {:error, :not_found}
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
  @spec get(non_neg_integer()) :: {:ok, t()} | {:error, :not_found}
  def get(index), do: get(:default, index)

  @doc """
  Context `index` of `pool`. `{:error, :not_found}` when the pool is not started or
  has no such context; an index that is not a non-negative integer raises
  `ArgumentError`.

  ## Examples

      iex> Py.Context.get(:default, 0)
      {:ok, %Py.Context{pool: :default, index: 0}}
      iex> Py.Context.get(:no_such_pool, 0)
      {:error, :not_found}
  """
  @spec get(Py.Pool.name(), non_neg_integer()) :: {:ok, t()} | {:error, :not_found}
  def get(pool, index) when is_integer(index) and index >= 0 do
    case Py.Pool.fetch(pool) do
      %{size: size} when index < size -> {:ok, %__MODULE__{pool: pool, index: index}}
      _ -> {:error, :not_found}
    end
  end

  def get(_pool, index) do
    raise ArgumentError,
          "expected a context index (a non-negative integer), got: #{inspect(index)}"
  end

  @doc """
  Sends every later call of this process to `ctx`, unless a call names its own
  `pool:` or `context:`. A bound call waits for its context even when another is
  idle. Binding is not checked against running pools: calls to a context whose pool
  has stopped get `{:error, {:no_pool, pool}}`.

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

  def bind(other) do
    raise ArgumentError, "expected a Py.Context to bind, got: #{inspect(other)}"
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
  The contexts of a pool (`:default` unless named), as `Py.Pool.contexts/1` gives
  them; raises `ArgumentError` when the pool is not running.

  ## Examples

      iex> length(Py.Context.list()) == Py.num_executors()
      true
  """
  @spec list(Py.Pool.name()) :: [t()]
  def list(pool \\ :default), do: Py.Pool.contexts(pool)
end
