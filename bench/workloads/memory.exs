defmodule Bench.Workloads.Memory do
  @moduledoc false
  # Leaks show as growth over many calls.

  import Bench.Config, only: [count: 2]
  alias Bench.{Measure, Workload}

  def all do
    [
      %Workload{
        name: "memory_soak",
        unit: "MB growth",
        doc:
          "1 000 000 `call_small` calls; growth of the OS process's resident set " <>
            "(VmRSS in /proc/self/status) from before to after, once",
        run: fn config ->
          n = count(config, 1_000_000)
          :erlang.garbage_collect()

          case Measure.rss_mb() do
            nil ->
              {:skip, "no /proc/self/status here"}

            before ->
              Measure.loop(n, fn -> {:ok, _} = Py.call(:math, :sqrt, [2.0]) end)
              :erlang.garbage_collect()
              later = Measure.rss_mb()
              {later - before, [{"before MB", before}, {"after MB", later}, {"calls", n}]}
          end
        end
      }
    ]
  end
end
