defmodule Bench.Workloads.Async do
  @moduledoc false
  # The per-interpreter asyncio event loop and streams.

  import Bench.Config, only: [count: 2]
  alias Bench.{Measure, PythonHelpers, Workload}

  def all do
    [
      %Workload{
        name: "async_tasks",
        unit: "tasks/s",
        doc: "create_task of a trivial coroutine × 10 000, then await each",
        run: fn config ->
          n = count(config, 10_000)
          PythonHelpers.define!("async def bench_trivial():\n    return 1")

          # Every task in flight holds a permit.
          PythonHelpers.with_permits(n + 1_000, fn ->
            Measure.rate(config, n, fn ->
              refs =
                for _ <- 1..n do
                  {:ok, ref} = Py.EventLoop.create_task(:__main__, :bench_trivial)
                  ref
                end

              for ref <- refs, do: {:ok, 1} = Py.EventLoop.await(ref)
            end)
          end)
        end
      },
      %Workload{
        name: "async_task_latency",
        unit: "us/task",
        doc: "`Py.EventLoop.run` of a trivial coroutine × 2 000, one at a time",
        run: fn config ->
          PythonHelpers.define!("async def bench_trivial():\n    return 1")

          Measure.per_call(config, count(config, 2_000), fn ->
            {:ok, 1} = Py.EventLoop.run(:__main__, :bench_trivial)
          end)
        end
      },
      %Workload{
        name: "stream",
        unit: "items/s",
        doc: "`Py.stream(:builtins, :range, [1_000_000])` consumed",
        run: fn config ->
          n = count(config, 1_000_000)

          Measure.rate(config, n, fn ->
            ^n = Py.stream(:builtins, :range, [n]) |> Enum.count()
          end)
        end
      }
    ]
  end
end
