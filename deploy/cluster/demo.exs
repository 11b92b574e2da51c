# Spreads Python calls over a cluster: connects to the nodes named in CLUSTER_PEERS
# (comma-separated, e.g. "py@node2,py@node3"), defines one Python function on every
# node, and maps calls over all of them with Py.Cluster.map. Run on a named node:
#
#   CLUSTER_PEERS=py@node2,py@node3 elixir --sname py --cookie COOKIE -S mix run deploy/cluster/demo.exs

defmodule Demo do
  # Containers start in any order: keep trying for a while.
  @wait_ms 120_000

  def peers do
    "CLUSTER_PEERS"
    |> System.get_env("")
    |> String.split(",", trim: true)
    |> Enum.map(&String.to_atom/1)
  end

  # Connected, and erlang_python started there.
  def wait_for(peers, deadline \\ System.monotonic_time(:millisecond) + @wait_ms) do
    Enum.each(peers, &Node.connect/1)
    missing = peers -- Py.Cluster.nodes()

    cond do
      missing == [] ->
        :ok

      System.monotonic_time(:millisecond) > deadline ->
        raise "these nodes did not come up: #{inspect(missing)}"

      true ->
        Process.sleep(500)
        wait_for(peers, deadline)
    end
  end
end

unless Node.alive?(),
  do: raise("run this on a named node: elixir --sname NAME --cookie COOKIE ...")

peers = Demo.peers()
Demo.wait_for(peers)
nodes = Py.Cluster.nodes()
IO.puts("cluster: #{Enum.map_join(nodes, ", ", &Atom.to_string/1)}")

# Definitions live in each node's interpreter: define the function everywhere.
code = """
import math, os, socket, sys

def work(n):
    total = sum(math.isqrt(i) for i in range(n * 100_000))
    # One write, so lines of calls running at once do not interleave.
    sys.stdout.write(f"work({n}) ran on {socket.gethostname()} (pid {os.getpid()})\n")
    return (socket.gethostname(), total)
"""

defined = :erpc.multicall(nodes, Py, :exec, [code])

for {node, result} <- Enum.zip(nodes, defined), result != {:ok, :ok} do
  raise "defining work/1 on #{node} failed: #{inspect(result)}"
end

# One remote call, as any Elixir function: its print shows up here.
[first | _] = peers
{:ok, version} = :erpc.call(first, Py, :eval, ["__import__('sys').version.split()[0]"])
:erpc.call(first, Py, :exec, ["print('hello from', __import__('socket').gethostname())"])
IO.puts("#{first} runs Python #{version}")

# The map: calls go to whichever node has a free context; results come back in order.
calls = for n <- 1..12, do: {:__main__, :work, [n]}
{:ok, results} = Py.Cluster.map(calls, timeout: 300_000)

IO.puts("\n  n  host       result")

for {{:ok, {host, total}}, n} <- Enum.zip(results, 1..12) do
  IO.puts(String.pad_leading("#{n}", 3) <> "  " <> String.pad_trailing(host, 10) <> " #{total}")
end

failed = for {{:error, reason}, n} <- Enum.zip(results, 1..12), do: {n, reason}
if failed != [], do: IO.puts("failed: #{inspect(failed)}")

per_host =
  results
  |> Enum.flat_map(fn
    {:ok, {host, _}} -> [host]
    _ -> []
  end)
  |> Enum.frequencies()

IO.puts("\ncalls per host: #{inspect(per_host)}")
