defmodule Bench.Workloads.Callbacks do
  @moduledoc false
  # Python calling back into the BEAM: registered functions and shared state.

  import Bench.Config, only: [count: 2]
  alias Bench.{Measure, PythonHelpers, Workload}

  @callbacks """
  def bench_callbacks(n):
      for i in range(n):
          erlang.call('bench_echo', i)
  """

  def all do
    [
      %Workload{
        name: "callback",
        unit: "us/callback",
        doc: "Python calls a registered Elixir function × 10 000 inside one call",
        run: fn config ->
          n = count(config, 10_000)
          setup_callbacks()
          Measure.median(config, fn -> time_callbacks(n) / n end)
        end
      },
      %Workload{
        name: "callback_linearity",
        unit: "x",
        doc:
          "one call making 10 000 callbacks vs 100 calls making 100 each, interleaved " <>
            "rounds: 1.0 means a callback costs the same however many came before it in its call",
        run: fn config ->
          setup_callbacks()
          many = count(config, 10_000)
          few = max(div(many, 100), 1)
          long = fn -> {:ok, nil} = Py.call(:__main__, :bench_callbacks, [many]) end

          short = fn ->
            for _ <- 1..div(many, few),
                do: {:ok, nil} = Py.call(:__main__, :bench_callbacks, [few])
          end

          rounds = Measure.interleaved(config, long, short)

          {Measure.column(rounds, :ratio),
           [
             {"one call ms", Measure.column(rounds, :first_ms)},
             {"#{div(many, few)} calls ms", Measure.column(rounds, :second_ms)},
             {"rounds", config.rounds}
           ]}
        end
      },
      %Workload{
        name: "state_incr",
        unit: "ops/s",
        doc: "`Py.State.incr` from Elixir, and `erlang.state_incr` from Python, × 100 000",
        run: fn config ->
          n = count(config, 100_000)

          PythonHelpers.define!("""
          def bench_bump(n):
              for _ in range(n):
                  erlang.state_incr('bench_counter')
          """)

          elixir =
            1_000_000 / Measure.per_call(config, n, fn -> Py.State.incr("bench_counter") end)

          python =
            Measure.rate(config, n, fn ->
              {:ok, nil} = Py.call(:__main__, :bench_bump, [n])
            end)

          Py.State.delete("bench_counter")
          [{"elixir", elixir}, {"python", python}]
        end
      }
    ]
  end

  defp setup_callbacks do
    :ok = Py.register_function(:bench_echo, fn [x] -> x end)
    PythonHelpers.define!(@callbacks)
  end

  defp time_callbacks(n) do
    Measure.elapsed_us(fn -> {:ok, nil} = Py.call(:__main__, :bench_callbacks, [n]) end)
  end
end
