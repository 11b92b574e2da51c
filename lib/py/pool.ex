defmodule Py.Pool do
  @moduledoc """
  A named set of contexts: OS threads that each own a Python thread state.

  The application starts the `:default` pool, sized to the schedulers online (config
  `:default_pool_size`). Add pools to your own supervision tree with `child_spec/1`:

      children = [{Py.Pool, name: :io, size: 8}]

  A request goes to the context matching the caller's scheduler, unless that context
  is busy while another is idle: a call never waits behind a slow (or abandoned,
  still-running) request when some context could take it now.
  """
  use GenServer

  @type name :: atom()

  @doc """
  A child spec for a pool. Options: `:name` (required), `:size` (default: schedulers
  online), `:mode` (`:worker`).

  ## Examples

      iex> Py.Pool.child_spec(name: :docs_pool).id
      {Py.Pool, :docs_pool}
  """
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    opts = Keyword.validate!(opts, [:name, size: System.schedulers_online(), mode: :worker])
    name = opts[:name] || raise ArgumentError, "a pool needs a :name"

    %{id: {__MODULE__, name}, start: {__MODULE__, :start_link, [opts]}, type: :worker}
  end

  @doc false
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts)

  @doc """
  The number of contexts in a started pool.

  ## Examples

      iex> Py.Pool.size(:default) == Application.get_env(:erlang_python, :default_pool_size, System.schedulers_online())
      true
  """
  @spec size(name()) :: {:ok, pos_integer()} | {:error, :not_found}
  def size(name) do
    case :persistent_term.get({__MODULE__, name}, nil) do
      nil -> {:error, :not_found}
      %{size: size} -> {:ok, size}
    end
  end

  @doc """
  True when a pool of that name is running.

  ## Examples

      iex> Py.Pool.started?(:default)
      true
      iex> Py.Pool.started?(:no_such_pool)
      false
  """
  @spec started?(name()) :: boolean()
  def started?(name), do: :persistent_term.get({__MODULE__, name}, nil) != nil

  @doc false
  # Where a request goes: {:ok, pool_resource, context_index, pinned?}.
  @spec route(keyword()) :: {:ok, reference(), non_neg_integer(), boolean()} | {:error, term()}
  def route(opts) do
    name = Keyword.get(opts, :pool, :default)

    case :persistent_term.get({__MODULE__, name}, nil) do
      nil ->
        {:error, {:no_pool, name}}

      %{resource: resource} ->
        case Keyword.get(opts, :context) do
          nil -> {:ok, resource, :erlang.system_info(:scheduler_id) - 1, false}
          index when is_integer(index) and index >= 0 -> {:ok, resource, index, true}
        end
    end
  end

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    name = Keyword.fetch!(opts, :name)
    size = Keyword.fetch!(opts, :size)
    mode = Keyword.fetch!(opts, :mode)

    case Py.Native.pool_new(size, mode) do
      {:ok, resource} ->
        :persistent_term.put({__MODULE__, name}, %{resource: resource, size: size, mode: mode})
        {:ok, %{name: name, resource: resource}}

      {:error, reason} ->
        {:stop, reason}
    end
  end

  @impl true
  def terminate(_reason, %{name: name, resource: resource}) do
    :persistent_term.erase({__MODULE__, name})
    Py.Native.pool_stop(resource)
  end
end
