defmodule Bench.Workloads.Conversion do
  @moduledoc false
  # Moving data across: lists, maps and binaries in both directions.

  import Bench.Config, only: [count: 2]
  alias Bench.{Measure, PythonHelpers, Workload}

  @mib 1_048_576

  def all do
    [
      %Workload{
        name: "convert_list_in",
        unit: "us/call",
        doc: "`builtins.len` of a 10 000-int list × 2 000",
        run: fn config ->
          list = Enum.to_list(1..10_000)

          Measure.per_call(config, count(config, 2_000), fn ->
            {:ok, 10_000} = Py.call(:builtins, :len, [list])
          end)
        end
      },
      %Workload{
        name: "convert_list_out",
        unit: "us/call",
        doc: "`Py.eval(\"list(range(10000))\")` × 2 000",
        run: fn config ->
          Measure.per_call(config, count(config, 2_000), fn ->
            {:ok, [0 | _]} = Py.eval("list(range(10000))")
          end)
        end
      },
      %Workload{
        name: "convert_list_out_call",
        unit: "us/call",
        doc: "a called function returns `list(range(10000))` × 2 000",
        run: fn config ->
          PythonHelpers.define!("def bench_list(n):\n    return list(range(n))")

          Measure.per_call(config, count(config, 2_000), fn ->
            {:ok, [0 | _]} = Py.call(:__main__, :bench_list, [10_000])
          end)
        end
      },
      %Workload{
        name: "convert_map",
        unit: "us/call",
        doc: "identity round trip of a 1 000-key map of binaries × 2 000",
        run: fn config ->
          PythonHelpers.define!("def bench_identity(x):\n    return x")
          map = Map.new(1..1_000, fn i -> {"key#{i}", "value#{i}"} end)

          Measure.per_call(config, count(config, 2_000), fn ->
            {:ok, ^map} = Py.call(:__main__, :bench_identity, [map])
          end)
        end
      },
      %Workload{
        name: "binary_in",
        unit: "MB/s",
        doc: "`len` of a 1 MiB binary passed as `{:buffer, binary}` (no copy) × 500",
        run: fn config ->
          binary = :binary.copy(<<1>>, @mib)

          Measure.mb_per_s(config, count(config, 500), @mib, fn ->
            {:ok, @mib} = Py.call(:builtins, :len, [{:buffer, binary}])
          end)
        end
      },
      %Workload{
        name: "binary_in_str",
        unit: "MB/s",
        doc: "`len` of a plain 1 MiB binary of valid UTF-8 (arrives as `str`) × 500",
        run: fn config ->
          binary = :binary.copy("a", @mib)

          Measure.mb_per_s(config, count(config, 500), @mib, fn ->
            {:ok, @mib} = Py.call(:builtins, :len, [binary])
          end)
        end
      },
      %Workload{
        name: "binary_in_bytes",
        unit: "MB/s",
        doc: "`len` of a plain 1 MiB binary of 0xFF bytes (not UTF-8: arrives as `bytes`) × 500",
        run: fn config ->
          binary = :binary.copy(<<0xFF>>, @mib)

          Measure.mb_per_s(config, count(config, 500), @mib, fn ->
            {:ok, @mib} = Py.call(:builtins, :len, [binary])
          end)
        end
      },
      %Workload{
        name: "binary_out",
        unit: "MB/s",
        doc: "a called function returns 1 MiB of `bytes` × 500",
        run: fn config ->
          PythonHelpers.define!("def bench_bytes(n):\n    return b'x' * n")

          Measure.mb_per_s(config, count(config, 500), @mib, fn ->
            {:ok, <<_::binary-size(@mib)>>} = Py.call(:__main__, :bench_bytes, [@mib])
          end)
        end
      },
      %Workload{
        name: "eval_bytes",
        unit: "MB/s",
        doc: "`Py.eval(\"b'\\\\x00' * 1048576\")` × 500",
        run: fn config ->
          Measure.mb_per_s(config, count(config, 500), @mib, fn ->
            {:ok, <<0, _::binary-size(@mib - 1)>>} = Py.eval("b'\\x00' * 1048576")
          end)
        end
      }
    ]
  end
end
