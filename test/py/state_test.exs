defmodule Py.StateTest do
  use ExUnit.Case, async: true
  doctest Py.State

  test "Elixir and Python see the same keys and values" do
    Py.State.store("shared_map", %{"a" => [1, 2]})
    assert Py.eval("erlang.state_get('shared_map')") == {:ok, %{"a" => [1, 2]}}

    assert Py.eval("erlang.state_set('from_python', {'b': (1, 2.5)}) is None") == {:ok, true}
    assert Py.State.fetch("from_python") == {:ok, %{"b" => {1, 2.5}}}
    assert Py.State.fetch!("from_python") == %{"b" => {1, 2.5}}

    assert Py.eval("erlang.state_get('state_test_missing', 7)") == {:ok, 7}
    assert Py.eval("erlang.state_get('state_test_missing')") == {:ok, nil}
    assert_raise KeyError, fn -> Py.State.fetch!("state_test_missing") end

    :ok = Py.exec("erlang.state_delete('from_python')")
    assert Py.State.fetch("from_python") == {:error, :not_found}
    assert {:ok, keys} = Py.eval("erlang.state_keys()")
    assert "shared_map" in keys
  end

  test "counters: a missing key starts at 0, decr subtracts, non-integers refuse" do
    Py.State.delete("state_counter")
    assert Py.eval("erlang.state_incr('state_counter')") == {:ok, 1}
    assert Py.eval("erlang.state_incr('state_counter', 5)") == {:ok, 6}
    assert Py.eval("erlang.state_decr('state_counter', by=2)") == {:ok, 4}
    assert Py.State.incr("state_counter") == 5
    assert Py.State.decr("state_counter", 5) == 0

    Py.State.store("state_text", "x")
    assert_raise ArgumentError, fn -> Py.State.incr("state_text") end
    assert {:error, %Py.Error{type: "TypeError"}} = Py.eval("erlang.state_incr('state_text')")
  end

  test "concurrent increments from Elixir and Python threads are exact" do
    Py.State.delete("state_race")

    :ok =
      Py.exec("""
      import threading
      def bump_in_threads(threads, times):
          def body():
              for _ in range(times):
                  erlang.state_incr('state_race')
          workers = [threading.Thread(target=body) for _ in range(threads)]
          for worker in workers: worker.start()
          for worker in workers: worker.join()
      """)

    python =
      Task.async(fn -> Py.call(:__main__, :bump_in_threads, [4, 5_000], timeout: 60_000) end)

    elixir =
      for _ <- 1..4, do: Task.async(fn -> for _ <- 1..5_000, do: Py.State.incr("state_race") end)

    Task.await_many([python | elixir], 60_000)
    assert Py.State.fetch("state_race") == {:ok, 40_000}
  end

  @tag :subinterp
  test "4 subinterpreters × 10 000 increments + Elixir increments = the exact total" do
    Py.State.delete("state_subinterp")
    {:ok, _} = Py.Pool.start(:state_sub, 4, :subinterp)

    try do
      :ok =
        Py.exec(
          "def bump(times):\n    for _ in range(times):\n        erlang.state_incr('state_subinterp')",
          pool: :state_sub
        )

      calls = for _ <- 1..4, do: {:__main__, :bump, [10_000]}
      elixir = Task.async(fn -> for _ <- 1..10_000, do: Py.State.incr("state_subinterp") end)
      {:ok, results} = Py.parallel(calls, pool: :state_sub, timeout: 120_000)
      Task.await(elixir, 60_000)
      assert Enum.all?(results, &(&1 == {:ok, nil}))
      assert Py.State.fetch!("state_subinterp") == 50_000

      # A value one interpreter wrote is readable in another.
      :ok =
        Py.exec("erlang.state_set('state_written_in_sub', [1, 'two'])",
          context: 0,
          pool: :state_sub
        )

      assert Py.eval("erlang.state_get('state_written_in_sub')") == {:ok, [1, "two"]}
    after
      Py.Pool.stop(:state_sub)
    end
  end
end
