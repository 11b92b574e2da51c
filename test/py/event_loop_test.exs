defmodule Py.EventLoopTest do
  use ExUnit.Case, async: false
  doctest Py.EventLoop

  import Py.Test.Wait

  setup_all do
    :ok =
      Py.exec("""
      import asyncio, time

      async def nap(seconds, value=None):
          await asyncio.sleep(seconds)
          return value

      async def timed(seconds):
          start = time.monotonic()
          await asyncio.sleep(seconds)
          return time.monotonic() - start

      async def guarded(key):
          try:
              await asyncio.sleep(60)
          finally:
              erlang.state_set(key, 'finally ran')

      async def orphan(key):
          erlang.state_set(key, 'started')
          try:
              await asyncio.sleep(60)
          finally:
              erlang.state_set(key, 'finally ran')

      async def chatty():
          print('from a task')
          await asyncio.sleep(0)
          print('still me')
          return 'said'

      async def failing():
          await asyncio.sleep(0)
          raise KeyError('missing')

      def plain(x):
          return x + 1

      async def asks_elixir(x):
          return await erlang.async_call('event_loop_double', x)

      def uses_asyncio_run():
          return asyncio.run(nap(0.01, 'ran'))
      """)

    :ok
  end

  test "coroutine functions and plain functions" do
    assert Py.EventLoop.run(:__main__, :nap, [0.01, "v"]) == {:ok, "v"}
    assert Py.EventLoop.run(:__main__, :plain, [1]) == {:ok, 2}
    assert Py.EventLoop.run!(:__main__, :nap, [0, [1, 2]]) == [1, 2]
  end

  test "50 tasks that each sleep 0.2 s finish together" do
    {micros, result} =
      :timer.tc(fn ->
        Py.EventLoop.gather(for i <- 1..50, do: {:__main__, :nap, [0.2, i]})
      end)

    assert result == {:ok, Enum.to_list(1..50)}
    # Generous: one after the other they would take 10 s.
    assert micros < 1_000_000
  end

  test "10 000 concurrent sleeping tasks" do
    assert {:ok, results} =
             Py.EventLoop.gather(for(i <- 1..10_000, do: {:__main__, :nap, [0.1, i]}),
               timeout: 60_000
             )

    assert results == Enum.to_list(1..10_000)
    wait_until(fn -> Py.Semaphore.current() == 0 end)
  end

  test "timers fire on time" do
    assert {:ok, elapsed} = Py.EventLoop.run(:__main__, :timed, [0.1])
    # The loop wakes for its timer, not on a poll: generous bounds.
    assert elapsed >= 0.1 and elapsed < 0.5
  end

  test "a timeout cancels the task: its finally runs, nothing arrives late" do
    key = "loop_cancel_#{System.unique_integer([:positive])}"
    assert Py.EventLoop.run(:__main__, :guarded, [key], timeout: 50) == {:error, :timeout}
    wait_until(fn -> Py.State.fetch(key) == {:ok, "finally ran"} end)
    refute_receive _, 50
  end

  test "a task whose creator dies is cancelled: its finally runs, its permit comes back" do
    wait_until(fn -> Py.Semaphore.current() == 0 end)
    key = "loop_orphan_#{System.unique_integer([:positive])}"

    creator =
      spawn(fn ->
        {:ok, _ref} = Py.EventLoop.create_task(:__main__, :orphan, [key])
        Process.sleep(:infinity)
      end)

    wait_until(fn -> Py.State.fetch(key) == {:ok, "started"} end)
    assert Py.Semaphore.current() == 1
    Process.exit(creator, :kill)
    wait_until(fn -> Py.State.fetch(key) == {:ok, "finally ran"} end)
    wait_until(fn -> Py.Semaphore.current() == 0 end)
  end

  test "a task that cannot take its arguments is answered with the reason" do
    assert {:error, {:invalid, message}} =
             Py.EventLoop.run(:__main__, :nap, [0, Enum.reduce(1..3_000, 0, &[&1, &2])])

    assert message =~ "nesting deeper"
  end

  test "output printed by a task reaches the process that created it" do
    output =
      ExUnit.CaptureIO.capture_io(fn ->
        assert Py.EventLoop.run(:__main__, :chatty) == {:ok, "said"}
      end)

    assert output == "from a task\nstill me\n"
  end

  test "errors come back as Py.Error" do
    assert {:error, %Py.Error{type: "KeyError", traceback: [_ | _]}} =
             Py.EventLoop.run(:__main__, :failing)
  end

  test "a task awaits an Elixir callback without blocking the loop" do
    Py.register_function(:event_loop_double, fn [x] -> Process.sleep(50) && x * 2 end)

    try do
      assert Py.EventLoop.gather(for x <- 1..5, do: {:__main__, :asks_elixir, [x]}) ==
               {:ok, [2, 4, 6, 8, 10]}
    after
      Py.unregister_function(:event_loop_double)
    end
  end

  test "asyncio.run works inside an ordinary call" do
    assert Py.call(:__main__, :uses_asyncio_run) == {:ok, "ran"}
  end

  test "spawn_task runs without a reply; create_task and await in any order" do
    key = "loop_spawn_#{System.unique_integer([:positive])}"
    assert Py.EventLoop.spawn_task(:erlang, :state_set, [key, "spawned"]) == :ok
    wait_until(fn -> Py.State.fetch(key) == {:ok, "spawned"} end)

    {:ok, slow} = Py.EventLoop.create_task(:__main__, :nap, [0.05, :slow])
    {:ok, fast} = Py.EventLoop.create_task(:__main__, :nap, [0, :fast])
    assert Py.EventLoop.await(fast) == {:ok, "fast"}
    assert Py.EventLoop.await(slow) == {:ok, "slow"}
    assert_raise ArgumentError, fn -> Py.EventLoop.await(slow) end
  end

  test "tasks take semaphore permits" do
    previous = Py.Semaphore.max_concurrent()
    wait_until(fn -> Py.Semaphore.current() == 0 end)
    Py.Semaphore.set_max_concurrent(3)

    try do
      tasks = for _ <- 1..3, do: elem(Py.EventLoop.create_task(:__main__, :nap, [0.3]), 1)
      # Three sleeping tasks hold the three permits; submission itself takes none.
      assert {:error, {:overloaded, 3, 3}} = Py.EventLoop.create_task(:__main__, :nap, [0.3])
      assert {:error, {:overloaded, 3, 3}} = Py.call(:math, :sqrt, [4.0])
      for task <- tasks, do: assert(Py.EventLoop.await(task) == {:ok, nil})
      # Finished tasks gave their permits back.
      wait_until(fn -> Py.Semaphore.current() == 0 end)
    after
      Py.Semaphore.set_max_concurrent(previous)
    end
  end

  @tag :subinterp
  test "a subinterpreter pool has loops of its own" do
    {:ok, _} = Py.Pool.start(:loop_sub, 2, :subinterp)

    try do
      :ok =
        Py.exec(
          "import asyncio\nasync def where(x):\n    await asyncio.sleep(0.01)\n    return x",
          pool: :loop_sub
        )

      assert Py.EventLoop.gather(for(i <- 1..20, do: {:__main__, :where, [i]}), pool: :loop_sub) ==
               {:ok, Enum.to_list(1..20)}
    after
      Py.Pool.stop(:loop_sub)
    end
  end

  @tag :subinterp
  test "stopping a pool answers its loop's pending tasks" do
    {:ok, _} = Py.Pool.start(:loop_stopping, 1, :subinterp)
    :ok = Py.exec("import asyncio", pool: :loop_stopping)
    {:ok, ref} = Py.EventLoop.create_task(:asyncio, :sleep, [30], pool: :loop_stopping)
    wait_until(fn -> Py.Semaphore.current() >= 1 end)
    :ok = Py.Pool.stop(:loop_stopping)
    assert Py.EventLoop.await(ref, 5_000) in [{:error, :stopped}, {:error, :cancelled}]
    assert {:error, _} = Py.EventLoop.create_task(:asyncio, :sleep, [0], pool: :loop_stopping)
  end
end
