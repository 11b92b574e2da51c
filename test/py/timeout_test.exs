defmodule Py.TimeoutTest do
  # Uses a pool of its own so slow requests never delay other tests.
  use ExUnit.Case

  import Py.Test.Wait

  setup_all do
    start_supervised!({Py.Pool, name: :timeouts, size: 2})

    :ok =
      Py.exec("""
      import time
      def spin():
          while True:
              pass
      def spin_then(marker):
          try:
              while True:
                  pass
          except TimeoutError:
              global interrupted
              interrupted = marker
              raise
      """)

    :ok
  end

  defp idle?, do: Enum.all?(loads(), &(&1 == 0))
  defp loads, do: Py.Native.pool_loads(:persistent_term.get({Py.Pool, :timeouts}).resource)

  test "a pure-Python loop is interrupted and its context reused" do
    assert Py.call(:__main__, :spin_then, ["first"], timeout: 100, pool: :timeouts, context: 0) ==
             {:error, :timeout}

    wait_until(&idle?/0)
    assert Py.eval("interrupted") == {:ok, "first"}
    assert Py.call(:math, :sqrt, [4.0], pool: :timeouts, context: 0) == {:ok, 2.0}
    refute_receive _, 100
  end

  test "no late reply ever lands in the mailbox" do
    for _ <- 1..20 do
      assert {:error, :timeout} = Py.call(:time, :sleep, [0.03], timeout: 0, pool: :timeouts)
    end

    wait_until(&idle?/0)
    refute_receive _, 100
  end

  test "replies that race the deadline are delivered, not lost" do
    results =
      for _ <- 1..200 do
        Py.call(:math, :sqrt, [9.0], timeout: 0, pool: :timeouts)
      end

    assert Enum.all?(results, &(&1 in [{:ok, 3.0}, {:error, :timeout}]))
    wait_until(&idle?/0)
    refute_receive _, 100
  end

  test "a call is not queued behind an abandoned request while another context is idle" do
    assert Py.call(:time, :sleep, [1.5], timeout: 50, pool: :timeouts) == {:error, :timeout}

    {micros, result} = :timer.tc(fn -> Py.call(:math, :sqrt, [16.0], pool: :timeouts) end)
    assert result == {:ok, 4.0}
    # Generous bound: far below the 1.5 s the abandoned sleep still holds its context.
    assert micros < 1_000_000
    wait_until(&idle?/0, 300)
  end

  test "when the caller dies, its running request is interrupted" do
    :ok = Py.exec("caller_died = None")

    pid =
      spawn(fn ->
        Py.call(:__main__, :spin_then, ["dead caller"], timeout: :infinity, pool: :timeouts)
      end)

    wait_until(fn -> Enum.sum(loads()) == 1 end)
    Process.exit(pid, :kill)
    wait_until(&idle?/0)
    assert Py.eval("interrupted") == {:ok, "dead caller"}
  end

  test "an interrupt never lands in the request that follows" do
    for _ <- 1..50 do
      assert {:error, :timeout} =
               Py.call(:__main__, :spin, [], timeout: 2, pool: :timeouts, context: 1)

      # Right behind the interrupted one, on the same context.
      assert Py.eval("sum(range(1000))", %{}, pool: :timeouts, context: 1) == {:ok, 499_500}
    end

    refute_receive _, 50
  end

  test "timeout: :infinity waits" do
    assert Py.call(:time, :sleep, [0.05], timeout: :infinity, pool: :timeouts) == {:ok, nil}
  end
end
