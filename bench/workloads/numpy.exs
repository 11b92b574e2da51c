defmodule Bench.Workloads.Numpy do
  @moduledoc false
  # Work on Python objects held as handles: only the handle crosses per call.

  import Bench.Config, only: [count: 2]
  alias Bench.{Measure, PythonHelpers, Workload}

  def all do
    [
      %Workload{
        name: "numpy_dot",
        unit: "us/call",
        doc: "`numpy.dot` of two 256×256 float64 arrays passed as handles (`return: :ref`)",
        run: fn config ->
          if PythonHelpers.numpy?() do
            {:ok, a} = Py.call("numpy.random", :rand, [256, 256], return: :ref)
            {:ok, b} = Py.call("numpy.random", :rand, [256, 256], return: :ref)

            Measure.per_call(config, count(config, 500), fn ->
              {:ok, %Py.Object{}} = Py.call(:numpy, :dot, [a, b], return: :ref)
            end)
          else
            {:skip, "numpy is not importable (see bench/README.md)"}
          end
        end
      }
    ]
  end
end
