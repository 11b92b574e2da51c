defmodule Bench.Workloads.Calls do
  @moduledoc false
  # The per-call path: a small call, the bare NIF round trip under it, routing, eval,
  # and many callers at once.

  import Bench.Config, only: [count: 2]
  alias Bench.{Measure, PythonHelpers, Workload}

  def all do
    [
      %Workload{
        name: "call_small",
        unit: "us/call",
        doc:
          "one process, `Py.call(:math, :sqrt, [2.0])` × 100 000 in sequence (the mean); " <>
            "then 20 000 calls timed one by one for percentiles",
        run: fn config ->
          call = fn -> {:ok, _} = Py.call(:math, :sqrt, [2.0]) end
          mean = Measure.per_call(config, count(config, 100_000), call)
          spread = Measure.percentiles(count(config, 20_000), call)
          {mean, for({point, us} <- spread, do: {"p#{point} us", us})}
        end
      },
      %Workload{
        name: "call_noop_nif",
        unit: "us/call",
        doc: "the same loop calling a NIF that does nothing: the floor under `call_small`",
        run: fn config ->
          Measure.per_call(config, count(config, 100_000), fn -> :ok = Py.Native.noop() end)
        end
      },
      %Workload{
        name: "call_concurrent",
        unit: "calls/s",
        doc: "100 processes × 2 000 `math.sqrt` calls, with permits for all of them",
        run: fn config ->
          # More callers than the default semaphore admits: raise the limit, so this
          # measures throughput rather than load shedding (call_concurrent_default).
          PythonHelpers.with_permits(1_000, fn ->
            per_process = count(config, 2_000)

            %{seconds: seconds, counts: counts} =
              Measure.concurrent(config, 100, per_process, &sqrt_tag/0)

            {Map.get(counts, :ok, 0) / seconds,
             [{"errors", 100 * per_process - Map.get(counts, :ok, 0)}]}
          end)
        end
      },
      %Workload{
        name: "call_concurrent_default",
        unit: "calls/s",
        doc:
          "as `call_concurrent`, under the default semaphore (schedulers × 2 + 1 permits): " <>
            "calls refused as overloaded are counted, not errors; the value counts completed calls",
        run: fn config ->
          PythonHelpers.with_permits(Py.Semaphore.default_max(), fn ->
            per_process = count(config, 2_000)
            attempts = 100 * per_process

            %{seconds: seconds, counts: counts} =
              Measure.concurrent(config, 100, per_process, &sqrt_tag/0)

            ok = Map.get(counts, :ok, 0)
            overloaded = Map.get(counts, :overloaded, 0)

            {ok / seconds,
             [
               {"overloaded %", 100 * overloaded / attempts},
               {"attempts/s", attempts / seconds},
               {"errors", attempts - ok - overloaded},
               {"permits", Py.Semaphore.max_concurrent()}
             ]}
          end)
        end
      },
      %Workload{
        name: "route_lookup",
        unit: "us/lookup",
        doc: "`Py.Pool.route/2` with no registrations (runs on every call)",
        run: fn config ->
          Measure.per_call(config, count(config, 200_000), fn ->
            {:ok, _, _, _} = Py.Pool.route([], {"math", "sqrt"})
          end)
        end
      },
      %Workload{
        name: "route_lookup_registered",
        unit: "us/lookup",
        doc: "`Py.Pool.route/2` with 101 registrations: a persistent_term read, two map lookups",
        run: fn config ->
          previous = Py.Pool.registrations()
          for i <- 1..100, do: :ok = Py.register_pool(:default, "bench_module_#{i}")
          :ok = Py.register_pool(:default, {"math", "sqrt"})

          try do
            Measure.per_call(config, count(config, 200_000), fn ->
              {:ok, _, _, _} = Py.Pool.route([], {"math", "sqrt"})
            end)
          after
            for {target, _} <- Py.Pool.registrations(), not Map.has_key?(previous, target) do
              Py.unregister_pool(target)
            end
          end
        end
      },
      %Workload{
        name: "eval_small",
        unit: "us/call",
        doc: "`Py.eval(\"1+1\")` × 50 000",
        run: fn config ->
          Measure.per_call(config, count(config, 50_000), fn -> {:ok, 2} = Py.eval("1+1") end)
        end
      }
    ]
  end

  defp sqrt_tag do
    case Py.call(:math, :sqrt, [2.0]) do
      {:ok, _} -> :ok
      {:error, {:overloaded, _, _}} -> :overloaded
      {:error, _} -> :error
    end
  end
end
