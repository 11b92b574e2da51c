defmodule Py.Cluster do
  @moduledoc """
  Spreads Python calls across the connected nodes that run erlang_python.

  Every node of a cluster runs its own Python. `Py.call/4` and the other functions
  work on a remote node through `:erpc` like any Elixir function; this module adds a
  parallel map that keeps every node busy:

      iex> Py.Cluster.map([{:math, :sqrt, [4.0]}, {:math, :pow, [2, 10]}])
      {:ok, [{:ok, 2.0}, {:ok, 1024.0}]}

  Calls are handed out as nodes have room for them: each node runs at most as many
  at once as its pool has contexts (`max_concurrency:` sets another bound), so a
  faster node takes more of the work. Output the calls print goes to the group leader
  of the process that called `map/2`, wherever the call ran. See
  `guides/distribution.md`.
  """

  alias Py.Cluster.Dispatch

  @typedoc "A call: `{module, function, args}` or `{module, function, args, kwargs}`."
  @type call ::
          {Py.name(), Py.name(), list()} | {Py.name(), Py.name(), list(), map() | keyword()}

  @typedoc """
  Why one call of a map failed, besides what `Py.call/4` returns:

    * `{:nodedown, node}` - the connection to `node` was lost while the call ran
      there; the call may or may not have completed. It is not retried elsewhere.
    * `:timeout` - the map's timeout expired before the call finished (its Python
      code was interrupted) or before any node was free to start it.
    * `:no_nodes` - every node was gone before the call could start.
    * `{:exit, node, reason}` - the process running the call on `node` exited.
  """
  @type reason ::
          Py.reason()
          | {:nodedown, node()}
          | :no_nodes
          | {:exit, node(), term()}

  @probe_timeout 5_000

  @doc """
  Runs `calls` across `nodes` and returns their results in order.

  Options:

    * `:nodes` - where to run (default: `nodes/1`, this node and every connected node
      that runs erlang_python)
    * `:pool` - the pool to use on each node (default: each node routes calls as
      `Py.call/4` does)
    * `:max_concurrency` - calls running at once on each node (default: the size of
      that node's pool)
    * `:timeout` - milliseconds or `:infinity` for the whole map (default 30 000).
      Calls still running then are interrupted and reported as `{:error, :timeout}`.

  Returns `{:ok, results}` with `{:ok, value} | {:error, reason}` for each call
  (see `t:reason/0`). A call that never started because its node was already
  unreachable is handed to another node. `{:error, {:unavailable, %{node => why}}}`
  when a node given in `nodes:` cannot take calls (`why` is `:noconnection`,
  `:not_running`, `{:no_pool, pool}` or `:timeout`), and `{:error, :no_nodes}` when
  no node runs erlang_python. Results come back by value: a `%Py.Object{}` made on
  another node cannot be used here (see `guides/distribution.md`).

  ## Examples

      iex> {:ok, results} = Py.Cluster.map([{:math, :factorial, [5]}, {:builtins, :int, ["x"]}])
      iex> [{:ok, 120}, {:error, %Py.Error{type: "ValueError"}}] = results
      iex> Py.Cluster.map([{:builtins, :int, ["ff"], %{base: 16}}], nodes: [node()])
      {:ok, [{:ok, 255}]}
      iex> Py.Cluster.map([{:math, :sqrt, [1.0]}], nodes: [:"missing@127.0.0.1"])
      {:error, {:unavailable, %{"missing@127.0.0.1": :noconnection}}}
  """
  @spec map([call()], keyword()) ::
          {:ok, [{:ok, term()} | {:error, reason()}]}
          | {:error, :no_nodes | {:unavailable, %{node() => term()}}}
  def map(calls, opts \\ []) when is_list(calls) do
    opts = Keyword.validate!(opts, [:nodes, :pool, :max_concurrency, timeout: 30_000])
    timeout = timeout!(opts[:timeout])
    limit = max_concurrency!(opts[:max_concurrency])
    nodes = if opts[:nodes], do: nodes!(opts[:nodes])
    calls = Enum.map(calls, &call!/1)
    deadline = deadline(timeout)

    with {:ok, capacities} <- capacities(calls, nodes, opts[:pool], deadline) do
      slots = Map.new(capacities, fn {node, size} -> {node, limit || size} end)
      order = Enum.map(capacities, &elem(&1, 0))
      {:ok, Dispatch.run(calls, order, slots, opts[:pool], deadline)}
    end
  end

  @doc """
  Like `map/2` but returns the list of results, raising when the map cannot run
  (results that are errors stay in the list).

  ## Examples

      iex> Py.Cluster.map!([{:math, :sqrt, [9.0]}])
      [{:ok, 3.0}]
  """
  @spec map!([call()], keyword()) :: [{:ok, term()} | {:error, reason()}]
  def map!(calls, opts \\ []) do
    case map(calls, opts) do
      {:ok, results} -> results
      {:error, reason} -> raise RuntimeError, "Py.Cluster.map failed: #{inspect(reason)}"
    end
  end

  @doc """
  This node and the connected nodes that run erlang_python with `pool` started
  (default `:default`), in the order of `[node() | Node.list()]`. Each node is asked
  once, within `timeout:` (default 5 000 ms).

  ## Examples

      iex> node() in Py.Cluster.nodes()
      true
      iex> Py.Cluster.nodes(pool: :no_such_pool)
      []
  """
  @spec nodes(keyword()) :: [node()]
  def nodes(opts \\ []) do
    opts = Keyword.validate!(opts, [:pool, timeout: @probe_timeout])
    timeout = timeout!(opts[:timeout])

    for {node, {:ok, _size}} <- probe([node() | Node.list()], opts[:pool], timeout), do: node
  end

  # How many calls each node may run at once: the size of its pool. Nodes named in
  # `nodes:` must all answer; by default the nodes that cannot are left out.
  defp capacities([], _nodes, _pool, _deadline), do: {:ok, []}

  defp capacities(_calls, nil, pool, deadline) do
    case for {node, {:ok, size}} <- probe_before([node() | Node.list()], pool, deadline),
             do: {node, size} do
      [] -> {:error, :no_nodes}
      capacities -> {:ok, capacities}
    end
  end

  defp capacities(_calls, nodes, pool, deadline) do
    answers = probe_before(nodes, pool, deadline)

    case for {node, {:error, why}} <- answers, into: %{}, do: {node, why} do
      empty when map_size(empty) == 0 ->
        {:ok, for({node, {:ok, size}} <- answers, do: {node, size})}

      unavailable ->
        {:error, {:unavailable, unavailable}}
    end
  end

  defp probe_before(nodes, pool, deadline) do
    probe(nodes, pool, min(remaining(deadline), @probe_timeout))
  end

  defp probe(nodes, pool, timeout) do
    answers = :erpc.multicall(nodes, Dispatch, :capacity, [pool], timeout)

    Enum.zip_with(nodes, answers, fn node, answer ->
      {node,
       case answer do
         {:ok, capacity} -> capacity
         {:error, {:erpc, :noconnection}} -> {:error, :noconnection}
         {:error, {:erpc, :timeout}} -> {:error, :timeout}
         # The node runs no erlang_python code at all.
         {:error, {:exception, :undef, _}} -> {:error, :not_running}
         {kind, reason} -> {:error, {kind, reason}}
       end}
    end)
  end

  defp call!({module, function, args}) when is_list(args),
    do: {Py.name!(module), Py.name!(function), args, nil}

  defp call!({module, function, args, kwargs}) when is_list(args),
    do: {Py.name!(module), Py.name!(function), args, Py.kwargs!(kwargs)}

  defp call!(other) do
    raise ArgumentError,
          "expected {module, function, args} or {module, function, args, kwargs}, got: " <>
            inspect(other)
  end

  defp nodes!([_ | _] = nodes) do
    if Enum.all?(nodes, &is_atom/1) and nodes == Enum.uniq(nodes) do
      nodes
    else
      raise ArgumentError,
            "expected :nodes to be a list of distinct node names, got: #{inspect(nodes)}"
    end
  end

  defp nodes!(other) do
    raise ArgumentError,
          "expected :nodes to be a non-empty list of node names, got: #{inspect(other)}"
  end

  defp max_concurrency!(nil), do: nil
  defp max_concurrency!(n) when is_integer(n) and n > 0, do: n

  defp max_concurrency!(other) do
    raise ArgumentError,
          "expected :max_concurrency to be a positive integer, got: #{inspect(other)}"
  end

  defp timeout!(:infinity), do: :infinity
  defp timeout!(ms) when is_integer(ms) and ms >= 0, do: ms

  defp timeout!(other) do
    raise ArgumentError,
          "expected :timeout to be a non-negative integer or :infinity, got: #{inspect(other)}"
  end

  defp deadline(:infinity), do: :infinity
  defp deadline(ms), do: :erlang.monotonic_time(:millisecond) + ms

  defp remaining(:infinity), do: :infinity
  defp remaining(deadline), do: max(deadline - :erlang.monotonic_time(:millisecond), 0)
end
