defmodule Py.AsyncTest do
  # Task-like calls and lazy streams.
  use ExUnit.Case, async: false

  import Py.Test.Wait

  setup_all do
    :ok =
      Py.exec("""
      import time

      def wait_for_flag(key):
          # Returns only once Elixir has set the flag: proves the caller went on
          # working while this ran.
          while erlang.state_get(key) != 1:
              time.sleep(0.001)
          return 'flag seen'

      def spin_until_interrupted(key):
          try:
              while True:
                  pass
          except TimeoutError:
              erlang.state_set(key, 'interrupted')
              raise

      def numbers_with_finally(key):
          try:
              for n in range(1_000_000):
                  yield n
          finally:
              erlang.state_set(key, 'closed')

      def fails_after(n):
          for i in range(n):
              yield i
          raise ValueError('bad item')

      async def async_numbers(n):
          import asyncio
          for i in range(n):
              await asyncio.sleep(0)
              yield i
      """)

    :ok
  end

  defp default_idle? do
    %{resource: pool} = Py.Pool.fetch(:default)
    Enum.all?(Py.Native.pool_loads(pool), &(&1 == 0))
  end

  describe "spawn_call and await" do
    test "the call runs while the caller goes on working" do
      key = "async_flag_#{System.unique_integer([:positive])}"
      ref = Py.spawn_call(:__main__, :wait_for_flag, [key])
      # The caller's own work; a Python call here could queue behind the waiting
      # function when abandoned work of other tests holds the other contexts.
      assert Enum.sum(1..100) == 5050
      Py.State.store(key, 1)
      assert Py.await(ref, 5_000) == {:ok, "flag seen"}
    end

    test "several calls in flight at once, awaited in any order" do
      refs = for n <- 1..5, do: {n, Py.spawn_call(:math, :factorial, [n])}

      for {n, ref} <- Enum.reverse(refs) do
        assert Py.await(ref) == {:ok, Enum.product(1..n)}
      end
    end

    test "an await timeout cancels the call and interrupts it; nothing arrives late" do
      key = "async_cancel_#{System.unique_integer([:positive])}"
      ref = Py.spawn_call(:__main__, :spin_until_interrupted, [key])
      assert Py.await(ref, 100) == {:error, :timeout}
      wait_until(fn -> Py.State.fetch(key) == {:ok, "interrupted"} end)
      wait_until(&default_idle?/0)
      refute_receive _, 50
    end

    test "when the caller dies, its spawned call is interrupted" do
      key = "async_dead_#{System.unique_integer([:positive])}"

      test = self()

      pid =
        spawn(fn ->
          Py.spawn_call(:__main__, :spin_until_interrupted, [key])
          send(test, :submitted)
          Process.sleep(:infinity)
        end)

      assert_receive :submitted, 5_000
      Process.exit(pid, :kill)
      wait_until(fn -> Py.State.fetch(key) == {:ok, "interrupted"} end)
    end

    test "errors come back through await" do
      ref = Py.spawn_call(:math, :sqrt, [-1.0])
      assert {:error, %Py.Error{type: "ValueError"}} = Py.await(ref)

      assert Py.await(Py.spawn_call(:math, :sqrt, [1.0], pool: :no_such_pool)) ==
               {:error, {:no_pool, :no_such_pool}}

      assert_raise ArgumentError, fn -> Py.await(make_ref()) end
    end

    test "callbacks made by a spawned call run in the awaiting process" do
      test = self()
      Py.register_function(:async_probe, fn [] -> self() end)

      try do
        ref = Py.spawn_call(:erlang, :call, ["async_probe"])
        assert Py.await(ref) == {:ok, test}
      after
        Py.unregister_function(:async_probe)
      end
    end

    test "cast runs the call without waiting for it" do
      key = "async_cast_#{System.unique_integer([:positive])}"
      assert Py.cast(:erlang, :state_set, [key, "cast ran"]) == :ok
      wait_until(fn -> Py.State.fetch(key) == {:ok, "cast ran"} end)
    end
  end

  describe "streams" do
    test "pull lazily from an infinite iterator" do
      assert Py.stream(:itertools, :count, [10]) |> Enum.take(3) == [10, 11, 12]
    end

    test "every item in order, whatever the batch size" do
      for batch <- [1, 7, 1_000] do
        assert Py.stream(:builtins, :range, [2_500], batch: batch) |> Enum.to_list() ==
                 Enum.to_list(0..2_499)
      end
    end

    test "halting early closes the generator: its finally runs" do
      key = "stream_finally_#{System.unique_integer([:positive])}"
      assert Py.stream(:__main__, :numbers_with_finally, [key]) |> Enum.take(5) == [0, 1, 2, 3, 4]
      assert Py.State.fetch(key) == {:ok, "closed"}
    end

    test "an exception mid-stream raises Py.Error after the items before it" do
      stream = Py.stream(:__main__, :fails_after, [3], batch: 10)
      test = self()

      error =
        assert_raise Py.Error, fn ->
          Enum.each(stream, &send(test, {:item, &1}))
        end

      assert error.type == "ValueError"
      for n <- 0..2, do: assert_received({:item, ^n})
    end

    test "another process can consume the stream" do
      stream = Py.stream(:builtins, :range, [10])
      assert Task.async(fn -> Enum.sum(stream) end) |> Task.await() == 45
    end

    test "async generators stream too" do
      assert Py.stream(:__main__, :async_numbers, [5]) |> Enum.to_list() == [0, 1, 2, 3, 4]
    end

    test "stream_eval streams what an expression evaluates to" do
      assert Py.stream_eval("(c.upper() for c in word)", %{word: "abc"}) |> Enum.to_list() ==
               ["A", "B", "C"]
    end

    test "a stream follows the pool registered for its function" do
      {:ok, _} = Py.Pool.start(:stream_registered, 1)
      :ok = Py.exec("def stream_where():\n    import threading\n    yield threading.get_ident()")
      :ok = Py.register_pool(:stream_registered, {:__main__, :stream_where})

      try do
        {:ok, there} = Py.call(:threading, :get_ident, [], pool: :stream_registered)
        assert Py.stream(:__main__, :stream_where) |> Enum.to_list() == [there]
      after
        Py.unregister_pool({:__main__, :stream_where})
        Py.Pool.stop(:stream_registered)
      end
    end

    test "nothing runs until the stream is consumed" do
      key = "stream_lazy_#{System.unique_integer([:positive])}"
      stream = Py.stream(:erlang, :state_set, [key, "ran"])
      assert Py.State.fetch(key) == {:error, :not_found}
      assert_raise Py.Error, fn -> Enum.to_list(stream) end
      assert Py.State.fetch(key) == {:ok, "ran"}
    end
  end
end
