defmodule Bench.Workloads do
  @moduledoc false
  # Every workload, in the order they run and print. memory_soak comes last: it
  # measures growth of the whole process, so nothing should run after it starts.

  @modules [
    Bench.Workloads.Calls,
    Bench.Workloads.Conversion,
    Bench.Workloads.Numpy,
    Bench.Workloads.Parallel,
    Bench.Workloads.Callbacks,
    Bench.Workloads.Async,
    Bench.Workloads.Channels,
    Bench.Workloads.Memory
  ]

  @spec all() :: [Bench.Workload.t()]
  def all, do: Enum.flat_map(@modules, & &1.all())

  @spec names() :: [String.t()]
  def names, do: Enum.map(all(), & &1.name)

  @doc false
  # The workloads named in `only` (all when nil), in run order.
  @spec select([String.t()] | nil) :: [Bench.Workload.t()]
  def select(nil), do: all()
  def select(only), do: Enum.filter(all(), &(&1.name in only))
end
