defmodule Py.ParallelTest do
  use ExUnit.Case

  import ExUnit.CaptureIO
  import Py.Test.Wait

  test "results come back in input order, errors in place" do
    calls = for n <- 1..20, do: {:math, :factorial, [n]}
    {:ok, results} = Py.parallel(calls)
    assert results == for(n <- 1..20, do: {:ok, Enum.reduce(1..n, &(&1 * &2))})

    assert {:ok, [{:ok, 1.0}, {:error, %Py.Error{type: "ModuleNotFoundError"}}]} =
             Py.parallel([{:math, :sqrt, [1.0]}, {:no_such_module_xyz, :f, []}])

    assert Py.parallel([]) == {:ok, []}
  end

  test "calls spread over the contexts" do
    {:ok, _} = Py.Pool.start(:parallel_spread, 2)
    on_exit(fn -> Py.Pool.stop(:parallel_spread) end)

    :ok =
      Py.exec(
        "import threading, time\ndef sleepy_ident():\n    time.sleep(0.05)\n    return threading.get_ident()",
        pool: :parallel_spread
      )

    calls = for _ <- 1..4, do: {:__main__, :sleepy_ident, []}

    {:ok, results} = Py.parallel(calls, pool: :parallel_spread)
    idents = for {:ok, ident} <- results, do: ident
    assert length(idents) == 4, inspect(results)
    assert length(Enum.uniq(idents)) == 2
  end

  test "the timeout bounds the batch and leaves no message behind" do
    calls = [{:math, :sqrt, [4.0]}, {:time, :sleep, [1]}, {:time, :sleep, [1]}]
    {micros, {:ok, results}} = :timer.tc(fn -> Py.parallel(calls, timeout: 100) end)
    assert [{:ok, 2.0}, {:error, :timeout}, {:error, :timeout}] = results
    assert micros < 900_000
    refute_receive _, 100
  end

  test "replies racing the deadline are delivered or cancelled, never left behind" do
    {:ok, _} = Py.Pool.start(:parallel_race, 2)
    on_exit(fn -> Py.Pool.stop(:parallel_race) end)
    resource = Py.Pool.fetch(:parallel_race).resource
    calls = for n <- 1..10, do: {:math, :sqrt, [n * n * 1.0]}

    for _ <- 1..50 do
      {:ok, results} = Py.parallel(calls, pool: :parallel_race, timeout: 0)

      for {result, n} <- Enum.zip(results, 1..10) do
        assert result in [{:ok, n * 1.0}, {:error, :timeout}]
      end
    end

    wait_until(fn -> Enum.all?(Py.Native.pool_loads(resource), &(&1 == 0)) end)
    refute_receive _, 100
  end

  test "output printed during a batch goes to the caller" do
    output =
      capture_io(fn ->
        assert {:ok, [{:ok, nil}, {:ok, nil}]} =
                 Py.parallel([{:builtins, :print, ["one"]}, {:builtins, :print, ["two"]}])
      end)

    # The two calls run at once (truly in parallel on a free-threaded build), and
    # print writes its text and its newline separately: they may interleave.
    assert output =~ "one"
    assert output =~ "two"
    assert output |> String.graphemes() |> Enum.count(&(&1 == "\n")) == 2
  end

  test "an unknown pool and bad calls" do
    assert Py.parallel([{:math, :sqrt, [1.0]}], pool: :nope) == {:error, {:no_pool, :nope}}
    assert_raise ArgumentError, fn -> Py.parallel([:bogus]) end
    assert Py.parallel!([{:math, :sqrt, [1.0]}]) == [{:ok, 1.0}]
  end
end
