# Benchmark workloads: `mix run bench/run.exs [--only NAME[,NAME]] [--python PATH]`.
#
# Each workload warms up, runs 3 times and reports the median, one line per workload
# (`NAME value unit`), and the same as JSON in bench/results/latest.json. The machine
# is shared and noisy: compare ratios measured in one run, not absolute times.

defmodule Bench do
  @runs 3

  def median(fun) do
    fun.()
    samples = for _ <- 1..@runs, do: fun.()
    samples |> Enum.sort() |> Enum.at(div(@runs, 2))
  end

  # Microseconds per iteration of `body` run `n` times in this process.
  def per_call(n, body) do
    median(fn ->
      {micros, _} = :timer.tc(fn -> loop(n, body) end)
      micros / n
    end)
  end

  defp loop(0, _body), do: :ok

  defp loop(n, body) do
    body.()
    loop(n - 1, body)
  end

  def concurrent(processes, per_process, body) do
    median(fn ->
      {micros, _} =
        :timer.tc(fn ->
          1..processes
          |> Enum.map(fn _ -> Task.async(fn -> loop(per_process, body) end) end)
          |> Enum.each(&Task.await(&1, :infinity))
        end)

      processes * per_process / (micros / 1_000_000)
    end)
  end

  # fib(25) ×4: one caller in sequence vs 4 concurrent callers; `call.(i)` runs one.
  def speedup(call) do
    sequential = median(fn -> elem(:timer.tc(fn -> for i <- 1..4, do: call.(i) end), 0) end)

    parallel =
      median(fn ->
        elem(
          :timer.tc(fn ->
            1..4
            |> Enum.map(fn i -> Task.async(fn -> call.(i) end) end)
            |> Enum.map(&Task.await(&1, :infinity))
          end),
          0
        )
      end)

    sequential / parallel
  end

  def rss_mb do
    case File.read("/proc/self/status") do
      {:ok, status} ->
        [_, kb] = Regex.run(~r/VmRSS:\s+(\d+) kB/, status)
        String.to_integer(kb) / 1024

      _ ->
        0.0
    end
  end
end

{opts, _} = OptionParser.parse!(System.argv(), strict: [only: :string, python: :string])

if opts[:python] do
  IO.puts(
    :stderr,
    "--python: set ERLANG_PYTHON=#{opts[:python]} and re-run (the NIF is chosen at start)."
  )
end

only = if opts[:only], do: String.split(opts[:only], ","), else: nil

# call_concurrent runs 100 callers at once: more than the default semaphore admits
# (schedulers × 2 + 1), which would measure load shedding instead of throughput.
Py.Semaphore.set_max_concurrent(1_000)

:ok = Py.exec("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)")
:ok = Py.exec("def identity(x):\n    return x")
:ok = Py.exec("def make_bytes(n):\n    return b'x' * n")

numpy = match?({:ok, _}, Py.eval("__import__('numpy')"))
list_in = Enum.to_list(1..10_000)
map = Map.new(1..1_000, fn i -> {"key#{i}", "value#{i}"} end)
mib = :binary.copy(<<1>>, 1024 * 1024)
pool_size = Py.Pool.size(:default)

workloads = [
  {"call_small", "us/call",
   fn -> Bench.per_call(100_000, fn -> {:ok, _} = Py.call(:math, :sqrt, [2.0]) end) end},
  {"call_noop_nif", "us/call",
   fn -> Bench.per_call(100_000, fn -> :ok = Py.Native.noop() end) end},
  {"call_concurrent", "calls/s",
   fn -> Bench.concurrent(100, 2_000, fn -> {:ok, _} = Py.call(:math, :sqrt, [2.0]) end) end},
  {"route_lookup", "us/lookup",
   fn ->
     # Routing runs on every call; with registrations it is a persistent_term read
     # and two map lookups.
     Bench.per_call(200_000, fn -> {:ok, _, _, _} = Py.Pool.route([], {"math", "sqrt"}) end)
   end},
  {"route_lookup_registered", "us/lookup",
   fn ->
     for i <- 1..100, do: Py.register_pool(:default, "bench_module_#{i}")
     :ok = Py.register_pool(:default, {"math", "sqrt"})
     us = Bench.per_call(200_000, fn -> {:ok, _, _, _} = Py.Pool.route([], {"math", "sqrt"}) end)
     for {target, _} <- Py.Pool.registrations(), do: Py.unregister_pool(target)
     us
   end},
  {"eval_small", "us/call",
   fn -> Bench.per_call(50_000, fn -> {:ok, 2} = Py.eval("1+1") end) end},
  {"convert_list_in", "us/call",
   fn -> Bench.per_call(2_000, fn -> {:ok, 10_000} = Py.call(:builtins, :len, [list_in]) end) end},
  {"convert_list_out", "us/call",
   fn -> Bench.per_call(2_000, fn -> {:ok, [0 | _]} = Py.eval("list(range(10000))") end) end},
  {"convert_map", "us/call",
   fn -> Bench.per_call(2_000, fn -> {:ok, _} = Py.call(:__main__, :identity, [map]) end) end},
  {"binary_in", "MB/s",
   fn ->
     us = Bench.per_call(500, fn -> {:ok, _} = Py.call(:builtins, :len, [{:buffer, mib}]) end)
     1.048576 / (us / 1_000_000)
   end},
  {"binary_out", "MB/s",
   fn ->
     us = Bench.per_call(500, fn -> {:ok, _} = Py.call(:__main__, :make_bytes, [1_048_576]) end)
     1.048576 / (us / 1_000_000)
   end},
  {"cpu_parallel", "speedup (worker)",
   fn ->
     call = fn i -> Py.call!(:__main__, :fib, [25], context: rem(i, pool_size)) end
     Bench.speedup(call)
   end},
  {"cpu_parallel_subinterp", "speedup (subinterp)",
   fn ->
     if Py.Subinterp.supported?() do
       interps =
         for _ <- 1..pool_size do
           {:ok, interp} = Py.Subinterp.create()

           :ok =
             Py.Subinterp.exec(
               interp,
               "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)"
             )

           interp
         end

       call = fn i ->
         {:ok, _} = Py.Subinterp.call(Enum.at(interps, rem(i, pool_size)), :__main__, :fib, [25])
       end

       result = Bench.speedup(call)
       Enum.each(interps, &Py.Subinterp.destroy/1)
       result
     else
       :skipped
     end
   end},
  {"numpy_dot", "us/call",
   fn ->
     if numpy do
       {:ok, a} = Py.call("numpy.random", :rand, [256, 256])
       {:ok, b} = Py.call("numpy.random", :rand, [256, 256])
       Bench.per_call(500, fn -> {:ok, _} = Py.call(:numpy, :dot, [a, b], return: :ref) end)
     else
       :skipped
     end
   end},
  {"callback", "us/callback",
   fn ->
     # 10 000 erlang.call()s inside one Py.call: the frame parks, the caller runs the
     # function and answers, the frame resumes.
     :ok = Py.register_function(:bench_echo, fn [x] -> x end)

     :ok =
       Py.exec("def callbacks(n):\n    for i in range(n):\n        erlang.call('bench_echo', i)")

     Bench.median(fn ->
       {micros, {:ok, nil}} = :timer.tc(fn -> Py.call(:__main__, :callbacks, [10_000]) end)
       micros / 10_000
     end)
   end},
  {"callback_linearity", "x (10 000 vs 100 callbacks)",
   fn ->
     time = fn n ->
       Bench.median(fn ->
         {micros, {:ok, nil}} = :timer.tc(fn -> Py.call(:__main__, :callbacks, [n]) end)
         micros
       end)
     end

     time.(10_000) / time.(100)
   end},
  {"state_incr_elixir", "ops/s",
   fn ->
     us = Bench.per_call(100_000, fn -> Py.State.incr("bench_counter") end)
     1_000_000 / us
   end},
  {"state_incr_python", "ops/s",
   fn ->
     :ok =
       Py.exec("def bump(n):\n    for _ in range(n):\n        erlang.state_incr('bench_counter')")

     Bench.median(fn ->
       {micros, {:ok, nil}} = :timer.tc(fn -> Py.call(:__main__, :bump, [100_000]) end)
       100_000 / (micros / 1_000_000)
     end)
   end},
  {"async_tasks", "tasks/s",
   fn ->
     # 10 000 trivial coroutines created, then awaited: the loop's throughput.
     :ok = Py.exec("async def trivial():\n    return 1")
     # 10 000 tasks in flight at once each hold a permit.
     Py.Semaphore.set_max_concurrent(50_000)

     Bench.median(fn ->
       {micros, _} =
         :timer.tc(fn ->
           refs = for _ <- 1..10_000, do: elem(Py.EventLoop.create_task(:__main__, :trivial), 1)
           for ref <- refs, do: {:ok, 1} = Py.EventLoop.await(ref)
         end)

       10_000 / (micros / 1_000_000)
     end)
   end},
  {"async_task_latency", "us/task",
   fn ->
     Bench.per_call(2_000, fn -> {:ok, 1} = Py.EventLoop.run(:__main__, :trivial) end)
   end},
  {"channel_roundtrip", "msgs/s",
   fn ->
     # 20 000 small messages: Elixir -> Python consumer -> reply to a pid.
     :ok =
       Py.exec("""
       def echo_channel(channel, pid):
           for message in channel:
               erlang.send(pid, message)
       def count_channel(channel):
           return sum(1 for _ in channel)
       """)

     Bench.median(fn ->
       {:ok, channel} = Py.Channel.new()
       me = self()

       task =
         Task.async(fn -> Py.call(:__main__, :echo_channel, [channel, me], timeout: :infinity) end)

       {micros, _} =
         :timer.tc(fn ->
           for n <- 1..20_000 do
             :ok = Py.Channel.send(channel, n)
             receive do: (^n -> :ok)
           end
         end)

       Py.Channel.close(channel)
       Task.await(task, :infinity)
       20_000 / (micros / 1_000_000)
     end)
   end},
  {"channel_roundtrip_pipelined", "msgs/s",
   fn ->
     # The same 20 000 round trips with the sender not waiting for each reply.
     Bench.median(fn ->
       {:ok, channel} = Py.Channel.new()
       me = self()

       task =
         Task.async(fn -> Py.call(:__main__, :echo_channel, [channel, me], timeout: :infinity) end)

       {micros, _} =
         :timer.tc(fn ->
           for n <- 1..20_000, do: :ok = Py.Channel.send(channel, n)
           for n <- 1..20_000, do: receive(do: (^n -> :ok))
         end)

       Py.Channel.close(channel)
       Task.await(task, :infinity)
       20_000 / (micros / 1_000_000)
     end)
   end},
  {"channel_throughput", "msgs/s",
   fn ->
     # 200 000 small messages one way into a counting Python consumer.
     Bench.median(fn ->
       {:ok, channel} = Py.Channel.new()

       task =
         Task.async(fn -> Py.call(:__main__, :count_channel, [channel], timeout: :infinity) end)

       {micros, {:ok, 200_000}} =
         :timer.tc(fn ->
           for n <- 1..200_000, do: :ok = Py.Channel.send(channel, n)
           Py.Channel.close(channel)
           Task.await(task, :infinity)
         end)

       200_000 / (micros / 1_000_000)
     end)
   end},
  {"stream", "items/s",
   fn ->
     Bench.median(fn ->
       {micros, 1_000_000} =
         :timer.tc(fn -> Py.stream(:builtins, :range, [1_000_000]) |> Enum.count() end)

       1_000_000 / (micros / 1_000_000)
     end)
   end},
  {"memory_soak", "MB growth",
   fn ->
     :erlang.garbage_collect()
     before = Bench.rss_mb()
     for _ <- 1..1_000_000, do: {:ok, _} = Py.call(:math, :sqrt, [2.0])
     :erlang.garbage_collect()
     Bench.rss_mb() - before
   end}
]

{:ok, info} = Py.runtime_info()

header = %{
  python: info.version,
  otp: System.otp_release(),
  elixir: System.version(),
  mode: Py.execution_mode(),
  nproc: System.schedulers_online(),
  pool_size: pool_size
}

IO.puts(
  "# python #{hd(String.split(info.version))} otp #{header.otp} elixir #{header.elixir} " <>
    "mode #{header.mode} nproc #{header.nproc}"
)

results =
  for {name, unit, fun} <- workloads, only == nil or name in only do
    value = fun.()

    case value do
      :skipped -> IO.puts("#{name} skipped (not available on this Python)")
      value -> IO.puts("#{name} #{:erlang.float_to_binary(value / 1, decimals: 2)} #{unit}")
    end

    %{name: name, value: value, unit: unit}
  end

File.mkdir_p!("bench/results")

json_value = fn
  v when is_number(v) -> :erlang.float_to_binary(v / 1, decimals: 3)
  v -> ~s("#{v}")
end

json =
  "{\n" <>
    Enum.map_join(header, ",\n", fn {k, v} -> ~s(  "#{k}": "#{v}") end) <>
    ",\n  \"results\": [\n" <>
    Enum.map_join(results, ",\n", fn r ->
      ~s(    {"name": "#{r.name}", "value": #{json_value.(r.value)}, "unit": "#{r.unit}"})
    end) <> "\n  ]\n}\n"

File.write!("bench/results/latest.json", json)
