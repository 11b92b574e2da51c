defmodule Py.Cluster.Dispatch do
  @moduledoc false
  # Runs the calls of one Py.Cluster.map: a collector process hands each call to a
  # node with a free slot, one process per call spawned there, and gathers results.
  #
  # The collector runs in a task of the caller, so it and the processes it spawns
  # share the caller's group leader: a call's output reaches the caller from any
  # node. Call processes are linked to it: if the caller dies, the collector exits
  # with it and takes them along, which cancels their Python calls as a dead caller
  # always does. Every call also carries the map's remaining time as its own
  # timeout, so none outlives the map. Late messages die with the collector.
  #
  # A call whose process could not be spawned (its node was unreachable) never ran
  # and goes back to the queue for another node. A call whose node went down while
  # it ran may have had effects there: it is reported, never run twice.

  @doc false
  # Runs on each node asked: how many calls it can run at once.
  @spec capacity(atom() | nil) :: {:ok, pos_integer()} | {:error, term()}
  def capacity(pool) do
    if Process.whereis(Py.Supervisor) do
      pool = pool || :default
      if Py.Pool.started?(pool), do: {:ok, Py.Pool.size(pool)}, else: {:error, {:no_pool, pool}}
    else
      {:error, :not_running}
    end
  end

  @doc false
  # Runs on the chosen node, in a process of its own: one call, its result sent back.
  @spec run_call(pid(), reference(), non_neg_integer(), tuple(), keyword()) :: term()
  def run_call(collector, tag, index, {module, function, args, kwargs}, opts) do
    opts = if kwargs, do: [{:kwargs, kwargs} | opts], else: opts
    send(collector, {tag, index, Py.call(module, function, args, opts)})
  end

  @spec run([tuple()], [node()], %{node() => pos_integer()}, atom() | nil, integer() | :infinity) ::
          [term()]
  def run(calls, order, slots, pool, deadline) do
    caller = self()

    task =
      Task.async(fn ->
        Process.flag(:trap_exit, true)

        state = %{
          caller: caller,
          tag: make_ref(),
          pool: pool,
          deadline: deadline,
          queue: calls |> Enum.with_index() |> Enum.map(fn {call, i} -> {i, call} end),
          order: order,
          free: slots,
          running: %{},
          results: %{}
        }

        state |> dispatch() |> collect() |> in_order(length(calls))
      end)

    Task.await(task, :infinity)
  end

  # Hands queued calls to the nodes with the most free slots (earlier nodes first on
  # a tie), so work spreads evenly and a node that finishes sooner takes more.
  defp dispatch(%{queue: []} = state), do: state

  defp dispatch(%{queue: [{index, call} | rest]} = state) do
    case freest(state) do
      nil ->
        if state.running == %{} and state.order == [],
          do: give_up(state, :no_nodes),
          else: state

      node ->
        opts =
          [timeout: remaining(state.deadline)] ++ if(state.pool, do: [pool: state.pool], else: [])

        args = [self(), state.tag, index, call, opts]
        request = :erlang.spawn_request(node, __MODULE__, :run_call, args, [:monitor, :link])

        dispatch(%{
          state
          | queue: rest,
            free: Map.update!(state.free, node, &(&1 - 1)),
            running: Map.put(state.running, request, {index, call, node, nil})
        })
    end
  end

  defp freest(state) do
    state.order
    |> Enum.filter(&(state.free[&1] > 0))
    |> Enum.max_by(&state.free[&1], fn -> nil end)
  end

  defp collect(%{queue: [], running: running} = state) when map_size(running) == 0, do: state

  defp collect(state) do
    %{tag: tag, caller: caller, running: running} = state

    receive do
      {^tag, index, result} ->
        collect(%{state | results: Map.put(state.results, index, result)})

      {:spawn_reply, request, :ok, pid} when is_map_key(running, request) ->
        collect(%{state | running: Map.update!(state.running, request, &put_elem(&1, 3, pid))})

      {:spawn_reply, request, :error, reason} when is_map_key(running, request) ->
        {{index, call, node, _}, running} = Map.pop(state.running, request)
        state = %{state | running: running}

        state =
          if reason == :noconnection,
            do: %{node_down(state, node) | queue: [{index, call} | state.queue]},
            else: finish(state, node, index, {:error, {:exit, node, reason}})

        state |> dispatch() |> collect()

      {:DOWN, request, :process, _pid, reason} when is_map_key(running, request) ->
        {{index, _call, node, _}, running} = Map.pop(state.running, request)
        state = %{state | running: running}

        state =
          cond do
            Map.has_key?(state.results, index) ->
              finish(state, node, index, nil)

            reason == :noconnection ->
              node_down(state, node) |> put_result(index, {:error, {:nodedown, node}})

            true ->
              finish(state, node, index, {:error, {:exit, node, reason}})
          end

        state |> dispatch() |> collect()

      # The caller died: so do the calls (linked to us). :shutdown is not logged.
      {:EXIT, ^caller, _reason} ->
        exit(:shutdown)

      {:EXIT, _call_process, _reason} ->
        collect(state)
    after
      remaining(state.deadline) -> give_up(state, :timeout)
    end
  end

  defp finish(state, node, index, result) do
    state = if result, do: put_result(state, index, result), else: state

    case state.free do
      %{^node => free} -> %{state | free: %{state.free | node => free + 1}}
      _gone -> state
    end
  end

  defp put_result(state, index, result),
    do: %{state | results: Map.put(state.results, index, result)}

  defp node_down(state, node) do
    %{state | order: List.delete(state.order, node), free: Map.delete(state.free, node)}
  end

  # Everything not finished gets `reason`; calls still running are stopped.
  defp give_up(state, reason) do
    for {_request, {_index, _call, _node, pid}} <- state.running, is_pid(pid) do
      Process.exit(pid, :kill)
    end

    results =
      Enum.reduce(Map.values(state.running) ++ state.queue, state.results, fn
        {index, _call, _node, _pid}, acc -> Map.put_new(acc, index, {:error, reason})
        {index, _call}, acc -> Map.put_new(acc, index, {:error, reason})
      end)

    %{state | results: results, running: %{}, queue: []}
  end

  defp in_order(state, count), do: Enum.map(0..(count - 1)//1, &Map.fetch!(state.results, &1))

  defp remaining(:infinity), do: :infinity
  defp remaining(deadline), do: max(deadline - :erlang.monotonic_time(:millisecond), 0)
end
