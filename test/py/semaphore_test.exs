defmodule Py.SemaphoreTest do
  # Changes the global limit: runs alone.
  use ExUnit.Case

  import Py.Test.Wait
  doctest Py.Semaphore

  setup do
    previous = Py.Semaphore.max_concurrent()
    on_exit(fn -> Py.Semaphore.set_max_concurrent(previous) end)
    :ok
  end

  test "the default is schedulers × 2 + 1" do
    assert Py.Semaphore.default_max() == System.schedulers_online() * 2 + 1
  end

  test "calls past the limit fail at once with :overloaded" do
    # Abandoned work of earlier tests (timed-out sleeps) may still hold permits.
    wait_until(fn -> Py.Semaphore.current() == 0 end)
    Py.Semaphore.set_max_concurrent(1)
    parent = self()

    blocker = spawn(fn -> send(parent, {:blocked, Py.call(:time, :sleep, [0.5])}) end)

    wait_until(fn -> Py.Semaphore.current() == 1 end)
    {micros, result} = :timer.tc(fn -> Py.call(:math, :sqrt, [4.0]) end)
    assert result == {:error, {:overloaded, 1, 1}}
    assert micros < 100_000
    assert {:error, {:overloaded, 1, 1}} = Py.eval("1")
    assert {:error, {:overloaded, 1, 1}} = Py.exec("x = 1")

    assert_receive {:blocked, {:ok, nil}}, 5_000
    Process.exit(blocker, :kill)
    wait_until(fn -> Py.Semaphore.current() == 0 end)
    assert Py.call(:math, :sqrt, [4.0]) == {:ok, 2.0}
  end

  test "permits come back after timeouts, errors and dead callers" do
    base = Py.Semaphore.current()
    assert {:error, :timeout} = Py.call(:time, :sleep, [0.2], timeout: 10)
    assert {:error, %Py.Error{}} = Py.eval("1/0")
    pid = spawn(fn -> Py.call(:time, :sleep, [0.2]) end)
    Process.sleep(20)
    Process.exit(pid, :kill)
    wait_until(fn -> Py.Semaphore.current() == base end)
  end

  test "a call holds no permit once it has returned" do
    wait_until(fn -> Py.Semaphore.current() == 0 end)

    :ok =
      Py.exec(
        "def semaphore_test_slow(x):\n    import time\n    time.sleep(0.0005)\n    return x"
      )

    # Answered while the caller waits in the NIF, and (slower) by message.
    for _ <- 1..1_000 do
      assert Py.call(:math, :sqrt, [4.0]) == {:ok, 2.0}
      assert Py.Semaphore.current() == 0
      assert Py.call(:__main__, :semaphore_test_slow, [1]) == {:ok, 1}
      assert Py.Semaphore.current() == 0
    end

    # With a limit of one, back-to-back calls are never refused.
    Py.Semaphore.set_max_concurrent(1)
    for _ <- 1..300, do: assert(Py.call(:math, :sqrt, [4.0]) == {:ok, 2.0})
  end

  test "bad limits are programmer errors" do
    assert_raise ArgumentError, fn -> Py.Semaphore.set_max_concurrent(0) end
  end
end
