defmodule Py.SubinterpTest do
  use ExUnit.Case, async: true
  @moduletag :subinterp

  import ExUnit.CaptureIO
  import Py.Test.Wait

  doctest Py.Subinterp

  setup do
    {:ok, interp} = Py.Subinterp.create()
    on_exit(fn -> Py.Subinterp.destroy(interp) end)
    %{interp: interp}
  end

  test "supported on 3.12+" do
    assert Py.Subinterp.supported?()
  end

  test "call, eval and exec", %{interp: interp} do
    assert Py.Subinterp.call(interp, :math, :sqrt, [16.0]) == {:ok, 4.0}
    assert Py.Subinterp.call(interp, :builtins, :int, ["ff"], kwargs: [base: 16]) == {:ok, 255}
    assert :ok = Py.Subinterp.exec(interp, "def sq(x):\n    return x * x")
    assert Py.Subinterp.call(interp, :__main__, :sq, [7]) == {:ok, 49}
    assert Py.Subinterp.eval(interp, "sq(n)", %{n: 3}) == {:ok, 9}
    assert {:error, %Py.Error{type: "ZeroDivisionError"}} = Py.Subinterp.eval(interp, "1/0")
  end

  test "interpreters are isolated from each other and from the main one", %{interp: interp} do
    {:ok, other} = Py.Subinterp.create()
    name = "isolated_#{System.unique_integer([:positive])}"
    :ok = Py.Subinterp.exec(interp, "#{name} = 1")

    assert Py.Subinterp.eval(interp, name) == {:ok, 1}
    assert {:error, %Py.Error{type: "NameError"}} = Py.Subinterp.eval(other, name)
    assert {:error, %Py.Error{type: "NameError"}} = Py.eval(name)

    :ok = Py.Subinterp.exec(interp, "import sys; sys.isolation_marker = 1")

    assert Py.Subinterp.eval(other, "hasattr(__import__('sys'), 'isolation_marker')") ==
             {:ok, false}

    Py.Subinterp.destroy(other)
  end

  test "data converts as in the main interpreter", %{interp: interp} do
    :ok = Py.Subinterp.exec(interp, "def ident(x):\n    return x")

    term = %{
      "a" => [1, 2.5, {nil, true}],
      3 => MapSet.new([1]),
      "pid" => self(),
      "big" => 2 ** 100
    }

    assert Py.Subinterp.call(interp, :__main__, :ident, [term]) == {:ok, term}
    assert Py.Subinterp.eval(interp, "bytes(b)", %{b: {:buffer, "abc"}}) == {:ok, "abc"}
  end

  test "handles work in their interpreter and are refused elsewhere", %{interp: interp} do
    {:ok, deque} = Py.Subinterp.call(interp, :collections, :deque, [[1, 2]])
    assert Py.Subinterp.call(interp, :builtins, :len, [deque]) == {:ok, 2}
    assert {:error, {:invalid, why}} = Py.call(:builtins, :len, [deque])
    assert why =~ "another interpreter"

    # Operations on the handle itself go to its interpreter from anywhere.
    assert Py.call_method(deque, :append, [3]) == {:ok, nil}
    assert Py.getattr(deque, :maxlen) == {:ok, nil}
    assert inspect(deque) == "#Py.Object<deque([1, 2, 3])>"
    assert Py.repr(deque) == {:ok, "deque([1, 2, 3])"}

    :ok = Py.Subinterp.exec(interp, "def spin(_):\n    while True:\n        pass")
    {:ok, spin} = Py.Subinterp.eval(interp, "spin")
    assert Py.call_method(spin, nil, [1], timeout: 100) == {:error, :timeout}
    assert Py.call_method(deque, :count, [3]) == {:ok, 1}
    refute_receive _, 50
  end

  test "handles outlive nothing: a destroyed interpreter's handle says it is gone" do
    {:ok, other} = Py.Subinterp.create()
    {:ok, obj} = Py.Subinterp.eval(other, "object()")
    :ok = Py.Subinterp.destroy(other)

    assert Py.repr(obj) ==
             {:error, {:invalid, "this Py.Object cannot be used: its interpreter is gone"}}

    assert inspect(obj) == "#Py.Object<unavailable: interpreter gone>"
  end

  test "a timeout interrupts Python in the subinterpreter", %{interp: interp} do
    :ok = Py.Subinterp.exec(interp, "def spin():\n    while True:\n        pass")
    assert Py.Subinterp.call(interp, :__main__, :spin, [], timeout: 100) == {:error, :timeout}
    assert Py.Subinterp.eval(interp, "1 + 1") == {:ok, 2}
    refute_receive _, 50
  end

  test "print goes to the caller's group leader", %{interp: interp} do
    assert capture_io(fn -> Py.Subinterp.exec(interp, "print('from a subinterpreter')") end) ==
             "from a subinterpreter\n"
  end

  @tag :numpy
  test "numpy refuses to load, with an error that names the module", %{interp: interp} do
    assert {:error, %Py.Error{type: "ImportError", message: message}} =
             Py.Subinterp.call(interp, :numpy, :arange, [3])

    assert message =~ "does not support loading in subinterpreters"
  end

  test "destroyed interpreters answer :stopped" do
    {:ok, interp} = Py.Subinterp.create()
    :ok = Py.Subinterp.destroy(interp)
    assert Py.Subinterp.eval(interp, "1") == {:error, :stopped}
    assert Py.Subinterp.destroy(interp) == :ok
  end

  test "many create/destroy cycles leave no threads behind" do
    threads = fn -> length(File.ls!("/proc/self/task")) end
    before = threads.()

    for _ <- 1..30 do
      {:ok, interp} = Py.Subinterp.create()
      {:ok, 2} = Py.Subinterp.eval(interp, "1 + 1")
      :ok = Py.Subinterp.destroy(interp)
    end

    # Other async tests start and stop threads too: allow for theirs. A leak would
    # leave at least 30 (a thread per interpreter, and its interrupter).
    wait_until(fn -> threads.() <= before + 12 end)
  end
end
