defmodule Bench.Workloads.Parallel do
  @moduledoc false
  # CPU-bound Python from several callers at once, per execution mode: naive fib(25)
  # ×4, in sequence vs at once, measured as interleaved rounds (Bench.Measure.speedup).
  #
  # Modes: a worker pool ("worker" on a GIL build, "free_threaded" on a free-threaded
  # build running without the GIL) and a :subinterp pool (Python 3.12+). Each runs on
  # a pool of its own, the size of the default pool, with `cpu_affinity: :spread`:
  # some VM kernels pack busy threads onto one virtual CPU (bench/README.md,
  # "Parallel speedup per execution mode"), and a pinned context cannot be packed.

  alias Bench.{Measure, PythonHelpers, Workload}

  @fib "def bench_fib(n):\n    return n if n < 2 else bench_fib(n - 1) + bench_fib(n - 2)"
  @n 25
  @fib_n 75_025
  @callers 4

  def all do
    [
      %Workload{
        name: "cpu_parallel",
        unit: "speedup",
        doc:
          "fib(25) ×4: one caller in sequence vs 4 concurrent callers, each sent to a " <>
            "context of its own choosing (`context:`), per mode, on a pool of that mode " <>
            "started with `cpu_affinity: :spread`",
        run: &per_mode(&1, fn pool, size -> pinned(pool, size) end)
      },
      %Workload{
        name: "cpu_parallel_routed",
        unit: "speedup",
        doc: "as `cpu_parallel` through plain `Py.call` (the pool routes each call), per mode",
        run: &per_mode(&1, fn pool, _size -> routed(pool) end)
      },
      %Workload{
        name: "cpu_parallel_parallel",
        unit: "speedup",
        doc: "as `cpu_parallel`, the concurrent phase one `Py.parallel/2` of 4 calls, per mode",
        run: &per_mode(&1, fn pool, _size -> batched(pool) end)
      }
    ]
  end

  # {sequential, parallel} phase functions for each way of calling.
  defp pinned(pool, size) do
    call = fn i -> fib!(pool: pool, context: rem(i, size)) end
    {fn -> for(i <- 1..@callers, do: call.(i)) end, fn -> concurrently(call) end}
  end

  defp routed(pool) do
    call = fn _ -> fib!(pool: pool) end
    {fn -> for(i <- 1..@callers, do: call.(i)) end, fn -> concurrently(call) end}
  end

  defp batched(pool) do
    sequential = fn -> for(_ <- 1..@callers, do: fib!(pool: pool)) end

    parallel = fn ->
      results = Py.parallel!(List.duplicate({:__main__, :bench_fib, [@n]}, @callers), pool: pool)
      true = Enum.all?(results, &(&1 == {:ok, @fib_n}))
    end

    {sequential, parallel}
  end

  defp fib!(opts), do: @fib_n = Py.call!(:__main__, :bench_fib, [@n], opts)

  defp concurrently(call) do
    1..@callers
    |> Enum.map(fn i -> Task.async(fn -> call.(i) end) end)
    |> Enum.each(&Task.await(&1, :infinity))
  end

  defp per_mode(config, phases) do
    size = Py.Pool.size(:default)

    for {variant, pool} <- modes() do
      case pool do
        {:skip, reason} ->
          {variant, {:skip, reason}}

        {:start, mode} ->
          PythonHelpers.with_pool(:bench_parallel, size, mode, [cpu_affinity: :spread], fn ->
            {variant, measure(config, :bench_parallel, size, phases)}
          end)
      end
    end
  end

  defp measure(config, pool, size, phases) do
    :ok = PythonHelpers.define!(@fib, pool)
    {sequential, parallel} = phases.(pool, size)
    Measure.speedup(config, sequential, parallel)
  end

  # [{variant, {:start, mode} | {:skip, reason}}]
  defp modes do
    {:ok, info} = Py.runtime_info()
    free_threaded? = info.free_threaded and not gil_enabled?()

    worker = [{if(free_threaded?, do: "free_threaded", else: "worker"), {:start, :worker}}]

    subinterp =
      if Py.Subinterp.supported?(),
        do: [{"subinterp", {:start, :subinterp}}],
        else: [{"subinterp", {:skip, "subinterpreters need Python 3.12+"}}]

    free_threaded =
      cond do
        free_threaded? -> []
        info.free_threaded -> [{"free_threaded", {:skip, "the GIL is enabled at run time"}}]
        true -> [{"free_threaded", {:skip, "not a free-threaded build"}}]
      end

    worker ++ subinterp ++ free_threaded
  end

  defp gil_enabled? do
    match?({:ok, true}, Py.eval("__import__('sys')._is_gil_enabled()"))
  end
end
