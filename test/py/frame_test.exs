defmodule Py.FrameTest do
  # Re-entrant contexts: a Python frame parks (GIL released) while Elixir runs a
  # callback, and the calls that callback makes run on top of it, on the same thread.
  # Changes the semaphore limit, so it runs alone.
  use ExUnit.Case, async: false

  import Py.Test.Wait

  @pool :frames

  setup_all do
    start_supervised!({Py.Pool, name: @pool, size: 1})

    :ok =
      Py.exec(
        """
        import threading, time
        frame_log = []

        def down(n):
            frame_log.append((n, threading.get_ident()))
            if n == 0:
                return 0
            return erlang.call('frame_down', n - 1) + 1

        def outer_then_record():
            global outer_state
            outer_state = 'running'
            try:
                erlang.call('frame_probe')
                outer_state = 'resumed'
            except TimeoutError:
                outer_state = 'cancelled'
                raise

        def inner_busy(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                pass
            return 'inner done'
        """,
        pool: @pool
      )

    Py.register_function(:frame_down, fn [n] -> Py.call!(:__main__, :down, [n], pool: @pool) end)
    on_exit(fn -> Py.unregister_function(:frame_down) end)
    :ok
  end

  setup do
    :ok = Py.exec("frame_log.clear()", pool: @pool)
  end

  defp context_idle? do
    %{resource: pool} = Py.Pool.fetch(@pool)
    Py.Native.pool_loads(pool) == [0]
  end

  test "depth 10 on one context, each level run exactly once" do
    assert Py.call(:__main__, :down, [10], pool: @pool) == {:ok, 10}

    {:ok, log} = Py.eval("frame_log", %{}, pool: @pool)
    assert Enum.map(log, &elem(&1, 0)) == Enum.to_list(10..0)
    assert log |> Enum.map(&elem(&1, 1)) |> Enum.uniq() |> length() == 1
  end

  test "nested calls inherit the root's permit: depth 10 under a limit of 2" do
    previous = Py.Semaphore.max_concurrent()
    wait_until(fn -> Py.Semaphore.current() == 0 end)
    Py.Semaphore.set_max_concurrent(2)

    try do
      Py.register_function(:frame_permits, fn [n] ->
        send(self(), {:permits, Py.Semaphore.current()})
        Py.call!(:__main__, :permits_down, [n], pool: @pool)
      end)

      :ok =
        Py.exec(
          "def permits_down(n):\n    return n if n == 0 else erlang.call('frame_permits', n - 1) + 1",
          pool: @pool
        )

      assert Py.call(:__main__, :permits_down, [10], pool: @pool) == {:ok, 10}
      permits = for _ <- 1..10, do: assert_received({:permits, n}) && n
      assert Enum.all?(permits, &(&1 == 1))
    after
      Py.Semaphore.set_max_concurrent(previous)
      Py.unregister_function(:frame_permits)
    end
  end

  test "cancelling the outer frame leaves the inner one running, then stops the outer" do
    %{resource: pool} = Py.Pool.fetch(@pool)
    ref = make_ref()
    op = Py.Op.call("__main__", "outer_then_record", [], nil, nil)
    assert {:ok, id} = Py.Native.pool_submit(pool, 0, true, ref, op, false, nil)
    assert_receive {^ref, {:callback, token, seq, "frame_probe", []}}, 2_000

    # Another process makes the nested call with the frame's token, as a callback
    # would; meanwhile the outer request is cancelled.
    test = self()

    nested =
      spawn(fn ->
        Process.put(:"$py_frame", {token, :infinity})
        send(test, {:inner, Py.call(:__main__, :inner_busy, [0.3], pool: @pool)})
      end)

    wait_until(fn -> Process.info(nested, :current_function) != nil end)
    Process.sleep(50)
    assert Py.Native.pool_cancel(pool, id) == :cancelled

    assert_receive {:inner, {:ok, "inner done"}}, 5_000
    # The outer frame learns of its cancellation once it resumes.
    assert Py.Native.frame_reply(token, seq, {:ok, nil}) in [:ok, :gone]
    wait_until(&context_idle?/0)
    assert Py.eval("outer_state", %{}, pool: @pool) == {:ok, "cancelled"}
    refute_receive {^ref, _}, 100
  end

  test "a timeout at the outer level interrupts the whole chain; the context is reused" do
    Py.register_function(:frame_spin, fn [] ->
      Py.call(:__main__, :inner_busy, [30], pool: @pool)
    end)

    try do
      :ok = Py.exec("def spin_below():\n    return erlang.call('frame_spin')", pool: @pool)
      assert Py.call(:__main__, :spin_below, [], pool: @pool, timeout: 300) == {:error, :timeout}
      wait_until(&context_idle?/0)
      assert Py.call(:math, :sqrt, [4.0], pool: @pool) == {:ok, 2.0}
      refute_receive _, 100
    after
      Py.unregister_function(:frame_spin)
    end
  end

  test "50 concurrent chains of depth 5 on the default pool all complete" do
    Py.register_function(:frame_chain, fn [n] -> Py.call!(:__main__, :chain, [n]) end)

    :ok =
      Py.exec("def chain(n):\n    return 0 if n == 0 else erlang.call('frame_chain', n - 1) + 1")

    try do
      results =
        1..50
        |> Enum.map(fn _ ->
          Task.async(fn -> Py.call(:__main__, :chain, [5], timeout: 20_000) end)
        end)
        |> Task.await_many(30_000)

      assert Enum.all?(results, &(&1 == {:ok, 5}))
    after
      Py.unregister_function(:frame_chain)
    end
  end

  test "output of nested frames reaches the process that made each call, in order" do
    Py.register_function(:frame_print, fn [] ->
      Py.exec!("print('inner')", pool: @pool)
      :ok
    end)

    try do
      :ok =
        Py.exec(
          "def print_around():\n    print('before')\n    erlang.call('frame_print')\n    print('after')",
          pool: @pool
        )

      output =
        ExUnit.CaptureIO.capture_io(fn ->
          assert Py.call(:__main__, :print_around, [], pool: @pool) == {:ok, nil}
        end)

      assert output == "before\ninner\nafter\n"
    after
      Py.unregister_function(:frame_print)
    end
  end

  test "a panic inside a request is contained; the context serves on" do
    %{resource: pool} = Py.Pool.fetch(@pool)
    ref = make_ref()
    assert {:ok, _id} = Py.Native.pool_submit(pool, 0, true, ref, Py.Op.panic(), false, nil)
    assert_receive {^ref, {:error, {:internal, "panic in the NIF: deliberate panic" <> _}}}, 2_000
    assert Py.call(:math, :sqrt, [9.0], pool: @pool) == {:ok, 3.0}
    wait_until(&context_idle?/0)
  end

  @tag :subinterp
  test "frames park and nest in a subinterpreter too" do
    {:ok, _} = Py.Pool.start(:frames_sub, 1, :subinterp)

    try do
      :ok =
        Py.exec(
          "def sub_down(n):\n    return 0 if n == 0 else erlang.call('frame_sub_down', n - 1) + 1",
          pool: :frames_sub
        )

      Py.register_function(:frame_sub_down, fn [n] ->
        Py.call!(:__main__, :sub_down, [n], pool: :frames_sub)
      end)

      assert Py.call(:__main__, :sub_down, [10], pool: :frames_sub) == {:ok, 10}
    after
      Py.unregister_function(:frame_sub_down)
      Py.Pool.stop(:frames_sub)
    end
  end
end
