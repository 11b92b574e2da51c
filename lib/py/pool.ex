defmodule Py.Pool do
  @moduledoc """
  A named set of contexts: OS threads that each own a Python thread state.

  The application starts the `:default` pool, sized to the schedulers online (config
  `:default_pool_size`) in the mode of config `:default_pool_mode` (`:worker`, or
  `:subinterp` for OWN_GIL subinterpreters on Python 3.12+). Start more at run time
  with `start/3`, or put them in your own supervision tree with `child_spec/1`:

      children = [{Py.Pool, name: :io, size: 8}]

  Route calls to a pool with the `pool:` option, or once for all with
  `Py.register_pool/2`. A request goes to the context matching the caller's
  scheduler, unless that context is busy while another is idle: a call never waits
  behind a slow (or abandoned, still-running) request when some context could take it.

  Modes: `:worker` contexts share the main interpreter (one GIL, or none on a
  free-threaded build), so `Py.exec/2` definitions are seen by all of them.
  `:subinterp` contexts each own an interpreter; `Py.exec/2` with `pool:` runs on
  every one of them so definitions exist everywhere.

  ## CPU affinity

  By default the kernel places context threads. With `cpu_affinity: :spread`, context
  `i` is pinned to the `i`-th CPU the process may use (wrapping around), on Linux.
  Pin a pool whose point is parallel work (`:subinterp`, or `:worker` on a
  free-threaded build) when the kernel does not spread busy threads by itself:
  virtual machines whose kernel packs runnable threads onto few virtual CPUs can
  queue two busy contexts on one CPU while another idles. Pinning is rigid: with
  more busy threads than CPUs, or other pinned pools, the kernel can no longer
  move a context off a crowded CPU. The default pool takes it from config
  `:default_pool_cpu_affinity`.
  """
  use GenServer

  @type name :: atom()
  @type mode :: :worker | :subinterp
  @type cpu_affinity :: :none | :spread

  @registrations {__MODULE__, :registrations}

  @doc """
  A child spec for a pool. Options: `:name` (required), `:size` (default: schedulers
  online), `:mode` (`:worker` or `:subinterp`), `:cpu_affinity` (`:none`, the
  default, or `:spread`: see "CPU affinity" above).

  ## Examples

      iex> Py.Pool.child_spec(name: :docs_pool).id
      {Py.Pool, :docs_pool}
  """
  @spec child_spec(keyword()) :: Supervisor.child_spec()
  def child_spec(opts) do
    opts =
      Keyword.validate!(opts, [
        :name,
        size: System.schedulers_online(),
        mode: :worker,
        cpu_affinity: :none
      ])

    name = opts[:name]

    unless is_atom(name) and name != nil,
      do: raise(ArgumentError, "a pool needs a :name atom, got: #{inspect(name)}")

    unless is_integer(opts[:size]) and opts[:size] > 0,
      do:
        raise(
          ArgumentError,
          "expected :size to be a positive integer, got: #{inspect(opts[:size])}"
        )

    unless opts[:mode] in [:worker, :subinterp],
      do:
        raise(
          ArgumentError,
          "expected :mode to be :worker or :subinterp, got: #{inspect(opts[:mode])}"
        )

    unless opts[:cpu_affinity] in [:none, :spread],
      do:
        raise(
          ArgumentError,
          "expected :cpu_affinity to be :none or :spread, got: #{inspect(opts[:cpu_affinity])}"
        )

    %{id: {__MODULE__, name}, start: {__MODULE__, :start_link, [opts]}, type: :worker}
  end

  @doc false
  def start_link(opts) do
    GenServer.start_link(__MODULE__, opts, name: process_name(Keyword.fetch!(opts, :name)))
  end

  @doc """
  Starts a pool under the application's supervisor and returns its contexts. The pool
  outlives the caller; stop it with `stop/1`. A pool the NIF cannot create (a
  `:subinterp` pool before Python 3.12, a size past 65 535) gives the NIF's reason,
  such as `{:error, {:init_failed, why}}`. Options: `cpu_affinity: :spread` pins
  each context to a CPU (see "CPU affinity" above).

  ## Examples

      iex> {:ok, contexts} = Py.Pool.start(:docs_start, 2)
      iex> length(contexts)
      2
      iex> Py.call(:math, :sqrt, [4.0], pool: :docs_start)
      {:ok, 2.0}
      iex> Py.Pool.start(:docs_start, 2)
      {:error, {:already_started, :docs_start}}
      iex> Py.Pool.stop(:docs_start)
      :ok
  """
  @spec start(name(), pos_integer(), mode(), cpu_affinity: cpu_affinity()) ::
          {:ok, [Py.Context.t()]} | {:error, term()}
  def start(name, size, mode \\ :worker, opts \\ []) do
    opts = Keyword.validate!(opts, cpu_affinity: :none)
    spec = child_spec(name: name, size: size, mode: mode, cpu_affinity: opts[:cpu_affinity])

    case DynamicSupervisor.start_child(Py.PoolSupervisor, spec) do
      {:ok, _pid} -> {:ok, context_list(name, size)}
      {:error, {:already_started, _pid}} -> {:error, {:already_started, name}}
      # DynamicSupervisor passes init's reason through as it is.
      {:error, reason} -> {:error, reason}
    end
  end

  @doc """
  Stops a pool. Every request already submitted to it is answered, with its result
  or `{:error, :stopped}`; calls made after `stop/1` returns get
  `{:error, {:no_pool, name}}`. A pool started in another supervision tree is stopped
  too (its supervisor may restart it). The `:default` pool belongs to the
  application and cannot be stopped this way.

  ## Examples

      iex> Py.Pool.stop(:no_such_pool)
      {:error, :not_found}
  """
  @spec stop(name()) :: :ok | {:error, :not_found | :default_pool}
  def stop(:default), do: {:error, :default_pool}

  def stop(name) do
    case GenServer.whereis(process_name(name)) do
      nil ->
        {:error, :not_found}

      pid ->
        case DynamicSupervisor.terminate_child(Py.PoolSupervisor, pid) do
          :ok -> :ok
          # Started in someone else's tree: stopping it is that supervisor's call.
          {:error, :not_found} -> GenServer.stop(pid)
        end
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
  def started?(name), do: fetch(name) != nil

  @doc """
  The number of contexts in a started pool. Raises `ArgumentError` when no pool of
  that name is running (`started?/1` asks first).

  ## Examples

      iex> Py.Pool.size(:default) == Py.num_executors()
      true
  """
  @spec size(name()) :: pos_integer()
  def size(name), do: fetch!(name).size

  @doc """
  The mode of a started pool: `:worker` or `:subinterp`. Raises `ArgumentError` when
  no pool of that name is running.

  ## Examples

      iex> Py.Pool.mode(:default) in [:worker, :subinterp]
      true
  """
  @spec mode(name()) :: mode()
  def mode(name), do: fetch!(name).mode

  @doc """
  The contexts of a started pool, in index order. Raises `ArgumentError` when no pool
  of that name is running.

  ## Examples

      iex> [first | _] = Py.Pool.contexts(:default)
      iex> first
      %Py.Context{pool: :default, index: 0}
      iex> Py.Pool.contexts(:no_such_pool)
      ** (ArgumentError) no pool named :no_such_pool is running
  """
  @spec contexts(name()) :: [Py.Context.t()]
  def contexts(name) do
    %{size: size} = fetch!(name)
    context_list(name, size)
  end

  defp context_list(name, size),
    do: for(index <- 0..(size - 1), do: %Py.Context{pool: name, index: index})

  defp fetch!(name) do
    case fetch(name) do
      nil -> raise ArgumentError, "no pool named #{inspect(name)} is running"
      pool -> pool
    end
  end

  @doc """
  Routes calls of `module` (or of one `{module, function}`) to `pool`. A function
  registration beats a module registration; an explicit `pool:` option beats both.

  Used by `Py.register_pool/2`.
  """
  @spec register(name(), Py.name() | {Py.name(), Py.name()}) :: :ok
  def register(pool, target) when is_atom(pool) do
    update_registrations(&Map.put(&1, registration_key(target), pool))
  end

  @doc """
  Removes a registration made by `register/2`. Used by `Py.unregister_pool/1`.
  """
  @spec unregister(Py.name() | {Py.name(), Py.name()}) :: :ok
  def unregister(target) do
    update_registrations(&Map.delete(&1, registration_key(target)))
  end

  @doc """
  The pool a call of `module.function` goes to when no `pool:` option is given.

  ## Examples

      iex> Py.Pool.lookup(:math, :sqrt)
      :default
  """
  @spec lookup(Py.name(), Py.name()) :: name()
  def lookup(module, function), do: registered(Py.name!(module), Py.name!(function))

  @doc """
  Every registration: `%{"module" => pool, {"module", "function"} => pool}`.

  ## Examples

      iex> is_map(Py.Pool.registrations())
      true
  """
  @spec registrations() :: %{optional(String.t() | {String.t(), String.t()}) => name()}
  def registrations, do: :persistent_term.get(@registrations, %{})

  @doc false
  # Where a request goes: {:ok, pool_resource, context_index, pinned?}. Precedence:
  # context:, pool:, a bound context, function then module registration, :default.
  @spec route(keyword(), {String.t(), String.t()} | nil) ::
          {:ok, reference(), non_neg_integer(), boolean()} | {:error, term()}
  def route(opts, target \\ nil)

  def route([], target) do
    case Py.Context.bound() do
      %Py.Context{pool: pool, index: index} -> resolve(pool, index, true)
      nil -> resolve(registered(target), scheduler_index(), false)
    end
  end

  def route(opts, target) do
    case Keyword.get(opts, :context) do
      nil ->
        route_unpinned(opts, target)

      %Py.Context{pool: pool, index: index} ->
        resolve(pool, index, true)

      index when is_integer(index) and index >= 0 ->
        resolve(Keyword.get(opts, :pool, :default), index, true)

      other ->
        raise ArgumentError,
              "expected :context to be a Py.Context or an index, got: #{inspect(other)}"
    end
  end

  defp route_unpinned(opts, target) do
    case Keyword.fetch(opts, :pool) do
      {:ok, pool} ->
        resolve(pool, scheduler_index(), false)

      :error ->
        case Py.Context.bound() do
          %Py.Context{pool: pool, index: index} -> resolve(pool, index, true)
          nil -> resolve(registered(target), scheduler_index(), false)
        end
    end
  end

  defp resolve(name, index, strict) do
    case fetch(name) do
      nil -> {:error, {:no_pool, name}}
      %{resource: resource} -> {:ok, resource, index, strict}
    end
  end

  @doc false
  @spec fetch(name()) :: map() | nil
  def fetch(name), do: :persistent_term.get({__MODULE__, name}, nil)

  defp scheduler_index, do: :erlang.system_info(:scheduler_id) - 1

  defp registered(nil), do: :default
  defp registered({module, function}), do: registered(module, function)

  defp registered(module, function) do
    case :persistent_term.get(@registrations, %{}) do
      empty when map_size(empty) == 0 -> :default
      registrations -> registrations[{module, function}] || registrations[module] || :default
    end
  end

  defp registration_key({module, function}), do: {Py.name!(module), Py.name!(function)}
  defp registration_key(module), do: Py.name!(module)

  # Registrations change rarely and are read on every call: persistent_term fits.
  # The lock keeps concurrent writers from losing each other's updates.
  defp update_registrations(fun) do
    :global.trans(
      {@registrations, self()},
      fn -> :persistent_term.put(@registrations, fun.(registrations())) end,
      [node()]
    )

    :ok
  end

  defp process_name(name), do: {:via, Registry, {Py.PoolRegistry, name}}

  @impl true
  def init(opts) do
    Process.flag(:trap_exit, true)
    name = Keyword.fetch!(opts, :name)
    size = Keyword.fetch!(opts, :size)
    mode = Keyword.fetch!(opts, :mode)
    cpu_affinity = Keyword.get(opts, :cpu_affinity, :none)

    # A new subinterpreter starts without the active venv: put it in effect before
    # the pool is published.
    with :ok <- tracing_allows(mode),
         {:ok, resource} <- Py.Native.pool_new(size, mode, cpu_affinity),
         :ok <- prepare(resource, size, mode) do
      :persistent_term.put({__MODULE__, name}, %{resource: resource, size: size, mode: mode})
      {:ok, %{name: name, resource: resource}}
    else
      {:error, reason} -> {:stop, reason}
    end
  end

  defp tracing_allows(:subinterp), do: Py.Memory.refuse_subinterpreters_while_tracing()
  defp tracing_allows(_mode), do: :ok

  defp prepare(resource, size, mode) do
    case Py.Venv.Activation.prepare(resource, size, mode) do
      :ok ->
        :ok

      {:error, _} = error ->
        Py.Native.pool_stop(resource)
        error
    end
  end

  @impl true
  def terminate(_reason, %{name: name, resource: resource}) do
    :persistent_term.erase({__MODULE__, name})
    Py.Native.pool_stop(resource)
  end
end
