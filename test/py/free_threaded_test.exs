defmodule Py.FreeThreadedTest do
  # Free-threaded builds (3.14t): worker contexts run Python on several cores at once.
  use ExUnit.Case, async: false

  @moduletag :free_threaded

  setup_all do
    start_supervised!({Py.Pool, name: :free_threaded, size: 2})

    :ok =
      Py.exec(
        """
        # One list per context: a shared one would make them contend on its lock.
        counters = [[0], [0]]

        def overlap(me, other, samples):
            # How often the other context's counter moves while this one runs a short
            # stretch of pure Python: with a GIL, only when the GIL switches hands
            # (every 5 ms, so a few samples in a hundred); in parallel, nearly always.
            mine, theirs = counters[me], counters[other]
            seen = 0
            for _ in range(samples):
                before = theirs[0]
                for _ in range(2000):
                    mine[0] += 1
                if theirs[0] != before:
                    seen += 1
            return seen / samples
        """,
        pool: :free_threaded
      )

    :ok
  end

  test "the GIL is off and execution_mode says so" do
    assert Py.eval("__import__('sys')._is_gil_enabled()") == {:ok, false}
    assert Py.execution_mode() == :free_threaded
  end

  test "two worker contexts run Python at the same time" do
    # The host is shared: take the best of a few rounds, so one round in which the
    # OS ran the two threads one after the other does not decide.
    overlaps =
      Enum.reduce_while(1..3, [], fn _, seen ->
        {:ok, [{:ok, first}, {:ok, second}]} =
          Py.parallel(
            [{:__main__, :overlap, [0, 1, 3000]}, {:__main__, :overlap, [1, 0, 3000]}],
            pool: :free_threaded,
            timeout: 60_000
          )

        overlap = max(first, second)
        if overlap > 0.3, do: {:halt, [overlap | seen]}, else: {:cont, [overlap | seen]}
      end)

    # Generous: a GIL gives a few percent, two cores close to 100%.
    assert Enum.max(overlaps) > 0.3, "overlaps #{inspect(overlaps)}"
  end

  @tag :numpy
  test "importing numpy keeps the GIL off" do
    assert Py.eval("__import__('numpy').ones(3).sum()") == {:ok, 3.0}
    assert Py.eval("__import__('sys')._is_gil_enabled()") == {:ok, false}
    assert Py.execution_mode() == :free_threaded
  end
end
