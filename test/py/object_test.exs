defmodule Py.ObjectTest do
  use ExUnit.Case

  test "a handle passed back gives Python the same object" do
    {:ok, deque} = Py.call(:collections, :deque, [[1, 2]])
    {:ok, nil} = Py.call_method(deque, :append, [3])
    assert Py.call(:builtins, :list, [deque]) == {:ok, [1, 2, 3]}
    assert Py.call(:builtins, :id, [deque]) == Py.call(:builtins, :id, [deque])
    assert Py.eval("x is y", %{x: deque, y: deque}) == {:ok, true}
  end

  test "inspect shows the repr" do
    {:ok, deque} = Py.call(:collections, :deque, [["a"]], kwargs: [maxlen: 3])
    assert inspect(deque) == "#Py.Object<deque(['a'], maxlen=3)>"
    {:ok, obj} = Py.eval("complex(1, 2)")
    assert inspect(obj) == "#Py.Object<(1+2j)>"
  end

  test "getattr and call_method, dotted names and kwargs" do
    {:ok, fraction} = Py.call(:fractions, :Fraction, [6, 8])
    assert Py.getattr(fraction, :numerator) == {:ok, 3}
    assert Py.getattr(fraction, "denominator.bit_length") |> elem(0) == :ok
    assert {:error, %Py.Error{type: "AttributeError"}} = Py.getattr(fraction, :nope)
    assert {:error, {:invalid, _}} = Py.getattr(fraction, "a b")

    {:ok, text} = Py.eval("'a,b,c'", %{}, return: :ref)
    assert Py.call_method(text, :split, [","], kwargs: [maxsplit: 1]) == {:ok, ["a", "b,c"]}
  end

  test "call_method with a nil name calls the object itself" do
    {:ok, upper} = Py.eval("str.upper")
    assert Py.call_method(upper, nil, ["abc"]) == {:ok, "ABC"}
  end

  test "a copy of a released handle, or a made-up one, is refused" do
    # term_to_binary keeps no object alive: decoded after the last handle is gone, the
    # copy names nothing.
    binary =
      Task.async(fn ->
        {:ok, deque} = Py.call(:collections, :deque, [[1]])
        :erlang.term_to_binary(deque)
      end)
      |> Task.await()

    stale = :erlang.binary_to_term(binary)
    released = {:error, {:invalid, "a Py.Object without a live handle cannot be converted"}}
    Py.Test.Wait.wait_until(fn -> Py.call(:builtins, :len, [stale]) == released end)

    unusable = {:error, {:invalid, "a Py.Object without a live handle cannot be used"}}
    assert Py.repr(stale) == unusable
    assert Py.call_method(%Py.Object{ref: make_ref()}, :append, [1]) == unusable
    assert inspect(stale) == "#Py.Object<unavailable: released>"
    assert Py.eval("1 + 1") == {:ok, 2}
  end

  test "handles inside data structures" do
    {:ok, [a, b]} = Py.eval("[object(), object()]")
    assert Py.eval("x is not y", %{x: a, y: b}) == {:ok, true}
    assert Py.eval("len({x: 1, y: 2})", %{x: a, y: b}) == {:ok, 2}
  end

  test "100 000 handles created and dropped return the live count to baseline" do
    baseline = settle()

    parent = self()

    spawn(fn ->
      {:ok, handles} = Py.eval("[object() for _ in range(100000)]")
      send(parent, {:made, length(handles), Py.Object.live_count()})
    end)

    assert_receive {:made, 100_000, live}, 30_000
    assert live >= baseline + 100_000
    assert settle() <= baseline
  end

  # Collects garbage everywhere, then waits for the janitor to release what it got.
  defp settle(previous \\ nil, tries \\ 100) do
    for pid <- Process.list(), do: :erlang.garbage_collect(pid)
    count = Py.Object.live_count()

    if count == previous or tries == 0 do
      count
    else
      Process.sleep(50)
      settle(count, tries - 1)
    end
  end
end
