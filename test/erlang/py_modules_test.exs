defmodule Py.ErlangModulesTest do
  # py_semaphore, py_channel and py_event_loop as Erlang code calls them. Changes the
  # semaphore limit, so it runs alone.
  use ExUnit.Case, async: false

  import Py.Test.Wait

  describe "py_semaphore" do
    test "acquire, release, and overload seen by calls" do
      previous = :py_semaphore.max_concurrent()
      wait_until(fn -> :py_semaphore.current() == 0 end)
      assert :py_semaphore.init() == :ok
      :ok = :py_semaphore.set_max_concurrent(1)

      try do
        assert :py_semaphore.acquire(100) == :ok
        assert :py_semaphore.current() == 1
        assert :py_semaphore.acquire(100) == {:error, :max_concurrent}
        assert {:error, {:overloaded, _, 1}} = :py.call(:math, :sqrt, [4], %{}, 100)
        assert :py_semaphore.release() == :ok
        assert :py_semaphore.release() == :ok
        assert :py_semaphore.current() == 0
      after
        :py_semaphore.set_max_concurrent(previous)
      end
    end
  end

  describe "py_channel" do
    test "a bare channel reference reaches Python as a channel" do
      {:ok, channel} = :py_channel.new()
      assert is_reference(channel)
      assert :py_channel.send(channel, %{"n" => 1}) == :ok
      assert :py_channel.send(channel, [2]) == :ok
      assert %{size: bytes, max_size: 0, closed: false} = :py_channel.info(channel)
      assert bytes > 0
      assert :py_channel.close(channel) == :ok
      assert :py.eval("list(ch)", %{ch: channel}) == {:ok, [%{"n" => 1}, [2]]}
      assert :py_channel.send(channel, :late) == {:error, :closed}
    end

    test "max_size gives busy" do
      {:ok, channel} = :py_channel.new(%{max_size: 30})
      assert :py_channel.send(channel, String.duplicate("x", 20)) == :ok
      assert :py_channel.send(channel, String.duplicate("x", 20)) == :busy
    end
  end

  describe "py_event_loop" do
    test "tasks of plain and coroutine functions, in batches and from many processes" do
      ref = :py_event_loop.create_task(:math, :sqrt, [25.0])
      assert is_reference(ref)
      assert :py_event_loop.await(ref) == {:ok, 5.0}
      assert :py_event_loop.run(:math, :floor, [3.7]) == {:ok, 3}
      assert :py_event_loop.run(:json, :loads, ["[1]"]) == {:ok, [1]}
      assert :py_event_loop.run(:asyncio, :sleep, [0, :none]) == {:ok, :none}

      refs = for n <- 1..100, do: :py_event_loop.create_task(:operator, :add, [n, 1])
      assert Enum.map(refs, &:py_event_loop.await/1) == Enum.map(2..101, &{:ok, &1})

      results =
        1..10
        |> Enum.map(fn _ ->
          Task.async(fn ->
            for n <- 1..5, do: :py_event_loop.run(:operator, :mul, [n, 2])
          end)
        end)
        |> Task.await_many()

      assert Enum.all?(results, &(&1 == [{:ok, 2}, {:ok, 4}, {:ok, 6}, {:ok, 8}, {:ok, 10}]))
    end

    test "errors and timeouts" do
      assert {:error, {:ModuleNotFoundError, _}} = :py_event_loop.run(:no_such_module_xyz, :f, [])
      assert {:error, {:AttributeError, _}} = :py_event_loop.run(:math, :no_such_function, [])
      ref = :py_event_loop.create_task(:asyncio, :sleep, [10])
      assert :py_event_loop.await(ref, 100) == {:error, :timeout}
      assert :py_event_loop.spawn_task(:asyncio, :sleep, [0]) == :ok
    end
  end
end
