defmodule Py.ErlangPyTest do
  # The `py` module's contract for Erlang users: the call and return shapes of
  # erlang_python, exact where that library was lossy.
  use ExUnit.Case, async: false

  test "calls, with kwargs, on a named pool, with a timeout" do
    assert :py.call(:math, :sqrt, [16.0]) == {:ok, 4.0}
    assert :py.call("os.path", :join, ["a", "b"]) == {:ok, "a/b"}
    assert :py.call(:builtins, :int, ["ff"], %{base: 16}) == {:ok, 255}
    assert :py.call(:default, :math, :floor, [2.5]) == {:ok, 2}
    assert :py.call(:default, :builtins, :int, ["11"], %{base: 2}) == {:ok, 3}
    assert :py.call(:time, :sleep, [1], %{}, 50) == {:error, :timeout}
  end

  test "None is none, and none/undefined go to Python as None; big integers are exact" do
    assert :py.call(:operator, :setitem, [%{}, "k", 1]) == {:ok, :none}
    assert :py.eval("x is None", %{x: :none}) == {:ok, true}
    assert :py.eval("x is None", %{x: :undefined}) == {:ok, true}
    assert :py.eval("[None, {'k': None}]") == {:ok, [:none, %{"k" => :none}]}
    assert :py.eval("2 ** 100") == {:ok, 2 ** 100}
  end

  test "Python exceptions: built-in classes as atoms, others as binaries" do
    assert {:error, {:ZeroDivisionError, "division by zero"}} = :py.eval("1/0")
    assert {:error, {:NameError, _}} = :py.eval(~c"undefined_name")
    assert {:error, {:ModuleNotFoundError, _}} = :py.call(:no_such_module_xyz, :f, [])
    assert {:error, {"json.decoder.JSONDecodeError", _}} = :py.call(:json, :loads, ["{"])
    assert {:error, {:SyntaxError, _}} = :py.eval("x = 1")
  end

  test "exec, then eval sees the definitions; strings may be charlists" do
    assert :py.exec(~c"erlang_py_value = 41") == :ok
    assert :py.eval("erlang_py_value + n", %{n: 1}) == {:ok, 42}
    assert :py.eval("erlang_py_value", %{}, 5_000) == {:ok, 41}
  end

  test "cast and await" do
    ref = :py.cast(:math, :factorial, [10])
    assert is_reference(ref)
    assert :py.await(ref) == {:ok, 3_628_800}
    ref = :py.spawn_call(:time, :sleep, [0.5])
    assert :py.await(ref, 20) == {:error, :timeout}
  end

  test "streams are collected" do
    assert :py.stream(:builtins, :iter, [[1, 2, 3, 4, 5]]) == {:ok, [1, 2, 3, 4, 5]}

    assert :py.stream(:builtins, :enumerate, [["a", "b"]], %{start: 1}) ==
             {:ok, [{1, "a"}, {2, "b"}]}

    assert :py.stream_eval("(x * 2 for x in range(3))") == {:ok, [0, 2, 4]}
    assert {:error, {:TypeError, _}} = :py.stream(:builtins, :iter, [5])
  end

  test "parallel returns the values in order, or the first error" do
    assert :py.parallel([{:math, :sqrt, [4.0]}, {:math, :floor, [2.5]}]) == {:ok, [2.0, 2]}

    assert {:error, {:ValueError, _}} =
             :py.parallel([{:math, :sqrt, [4.0]}, {:math, :sqrt, [-1.0]}])
  end

  test "registered functions, as a fun and as module/function; none crosses both ways" do
    assert :py.register_function(:erl_sum_list, :lists, :sum) == :ok
    assert :py.eval("erlang.call('erl_sum_list', 1, 2, 3, 4, 5)") == {:ok, 15}

    assert :py.register_function("erl_is_none", fn [x] -> x == :none end) == :ok
    assert :py.eval("erlang.erl_is_none(None)") == {:ok, true}

    assert :py.unregister_function(:erl_sum_list) == :ok
    assert :py.unregister_function("erl_is_none") == :ok
    assert :py.eval("hasattr(erlang, 'erl_sum_list')") == {:ok, false}
  end

  test "pool registration routes implicit calls" do
    {:ok, _} = Py.Pool.start(:erl_pool, 1)

    try do
      assert :py.register_pool(:erl_pool, {:threading, :get_ident}) == :ok
      assert Py.Pool.lookup(:threading, :get_ident) == :erl_pool
      assert :py.unregister_pool({:threading, :get_ident}) == :ok
      assert :py.register_pool(:erl_pool, :threading) == :ok
      assert Py.Pool.lookup(:threading, :get_native_id) == :erl_pool
      assert :py.unregister_pool(:threading) == :ok
    after
      Py.Pool.stop(:erl_pool)
    end
  end

  test "shared state keeps Erlang terms exactly; counters" do
    :ok = :py.state_store({:erl, :key}, [:an_atom, 2 ** 80])
    assert :py.state_fetch({:erl, :key}) == {:ok, [:an_atom, 2 ** 80]}
    assert :py.state_remove({:erl, :key}) == :ok
    assert :py.state_fetch({:erl, :key}) == {:error, :not_found}

    :py.state_remove("erl_counter")
    assert Enum.map([1, 1, 10], &:py.state_incr("erl_counter", &1)) == [1, 2, 12]
    assert :py.state_decr("erl_counter") == 11
    assert :py.state_decr("erl_counter", 5) == 6
    assert "erl_counter" in :py.state_keys()
  end

  test "information" do
    assert {:ok, version} = :py.version()
    assert version =~ ~r/^3\./
    assert :py.execution_mode() in [:free_threaded, :subinterp, :multi_executor]
    assert :py.num_executors() >= 1
    assert is_boolean(:py.subinterp_supported())
  end
end
