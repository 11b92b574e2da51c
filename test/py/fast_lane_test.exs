defmodule Py.FastLaneTest do
  # A short call from a waiting caller to an idle context goes through the context's
  # fast lane, outside the in-flight table, until something needs the table: output,
  # a callback, a caller that stops waiting. Each way out of the lane is driven here
  # on a pool of its own and counted (`Py.Native.pool_fast_lane_counts/1`).
  # Counts permits and pool loads, so it runs alone.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  import Py.Test.Wait

  setup_all do
    {:ok, _} = Py.Pool.start(:fast_lane, 1)

    :ok =
      Py.exec(
        """
        import time
        def say(i):
            print(f"line {i}")
            return i
        def ask(i):
            return erlang.call('fast_lane_double', i)
        def nap(seconds):
            time.sleep(seconds)
            return seconds
        def spin(seconds):
            # Interruptible, unlike time.sleep: a timeout ends it.
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass
            return seconds
        """,
        pool: :fast_lane
      )

    on_exit(fn -> Py.Pool.stop(:fast_lane) end)
  end

  setup do
    Py.register_function(:fast_lane_double, fn [i] -> i * 2 end)
    on_exit(fn -> Py.unregister_function(:fast_lane_double) end)
    # The lane is taken only by a context spinning for work: wake it first.
    {:ok, 4.0} = Py.call(:math, :sqrt, [16.0], pool: :fast_lane)
    :ok
  end

  defp counts do
    %{resource: pool} = Py.Pool.fetch(:fast_lane)
    {answered, registered, given_up, reclaimed} = Py.Native.pool_fast_lane_counts(pool)
    %{answered: answered, registered: registered, given_up: given_up, reclaimed: reclaimed}
  end

  defp settled do
    %{resource: pool} = Py.Pool.fetch(:fast_lane)
    wait_until(fn -> Py.Native.pool_loads(pool) == [0] end)
    wait_until(fn -> Py.Semaphore.current() == 0 end)
  end

  defp call(function, args, opts \\ []),
    do: Py.call(:__main__, function, args, [pool: :fast_lane] ++ opts)

  # Runs `attempt` (which asserts its own result) until `count` has grown by `needed`,
  # at most `max` times: whether a call finds its context awake and on a CPU, and so
  # goes through the lane, depends on timing (on a busy machine, or one whose kernel
  # queues the context behind the waiting caller, callers take requests back).
  defp until_counted(count, needed, max \\ 2_000, attempt) do
    before = counts()[count]

    Enum.reduce_while(1..max, 0, fn i, _ ->
      attempt.(i)
      grown = counts()[count] - before
      if grown >= needed, do: {:halt, grown}, else: {:cont, grown}
    end)
  end

  # Short calls until one is answered in the lane: the context is spinning for work
  # right now, so the next call takes the lane (unless descheduled meanwhile).
  defp awake! do
    before = counts().answered

    Enum.find(1..1_000, fn _ ->
      {:ok, -1} = Py.call(:operator, :neg, [1], pool: :fast_lane)
      counts().answered > before
    end)
  end

  test "short calls are answered in the lane" do
    answered =
      until_counted(:answered, 1_000, fn i ->
        assert Py.call(:operator, :neg, [i], pool: :fast_lane) == {:ok, -i}
      end)

    assert answered >= 1_000
    settled()
  end

  test "a call that prints leaves the lane first; its output comes before its result" do
    output =
      capture_io(fn ->
        send(
          self(),
          {:registered, until_counted(:registered, 50, &assert(call(:say, [&1]) == {:ok, &1}))}
        )
      end)

    assert_received {:registered, registered}
    assert registered >= 50
    lines = String.split(output, "\n", trim: true)
    assert lines == Enum.map(1..length(lines), &"line #{&1}")
    refute_receive {_, {:output, _}}, 20
    settled()
  end

  test "a call that calls back leaves the lane before its frame parks" do
    registered = until_counted(:registered, 50, &assert(call(:ask, [&1]) == {:ok, 2 * &1}))
    assert registered >= 50
    settled()
  end

  test "a caller that stops waiting registers its call; the reply comes as a message" do
    given_up =
      until_counted(:given_up, 10, 500, fn _ ->
        awake!()
        assert call(:nap, [0.002]) == {:ok, 0.002}
      end)

    assert given_up >= 10, inspect(counts())
    settled()
  end

  test "a call that leaves the lane by timing out is interrupted, and the context goes on" do
    started = System.monotonic_time(:millisecond)

    given_up =
      until_counted(:given_up, 3, 50, fn _ ->
        awake!()
        assert call(:spin, [5.0], timeout: 30) == {:error, :timeout}
      end)

    assert given_up >= 3
    # Each 5 s spin was interrupted at its timeout.
    assert System.monotonic_time(:millisecond) - started < 5_000
    assert call(:nap, [0], timeout: 1_000) == {:ok, 0}
    settled()
  end

  test "racing callers, mixed calls and a busy machine: every call answered, all counts back" do
    # Two shell loops keep the cores busy, so context threads get descheduled while a
    # request waits in the lane and callers take requests back.
    hogs =
      for _ <- 1..2,
          do: Port.open({:spawn_executable, "/bin/sh"}, args: ["-c", "while :; do :; done"])

    try do
      tasks =
        for n <- 1..20 do
          Task.async(fn ->
            for i <- 1..150 do
              case rem(i + n, 5) do
                0 ->
                  output = capture_io(fn -> send(self(), {:said, call(:say, [i])}) end)
                  assert_received {:said, result}
                  {{result, output}, {{:ok, i}, "line #{i}\n"}}

                1 ->
                  {call(:ask, [i]), {:ok, 2 * i}}

                2 ->
                  {call(:nap, [0.0005]), {:ok, 0.0005}}

                3 ->
                  {call(:spin, [1.0], timeout: 5), {:error, :timeout}}

                4 ->
                  {Py.call(:operator, :neg, [i], pool: :fast_lane), {:ok, -i}}
              end
            end
          end)
        end

      for results <- Task.await_many(tasks, 60_000), {result, expected} <- results do
        assert result == expected
      end
    after
      for hog <- hogs do
        {:os_pid, pid} = Port.info(hog, :os_pid)
        System.cmd("kill", ["#{pid}"])
      end
    end

    settled()
  end
end
