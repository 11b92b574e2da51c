defmodule Py.PoolTest do
  use ExUnit.Case
  doctest Py.Pool

  setup do
    on_exit(fn ->
      for {target, _pool} <- Py.Pool.registrations(), do: Py.unregister_pool(target)
    end)
  end

  test "start, size, contexts, stop" do
    assert {:ok, contexts} = Py.Pool.start(:pool_test_a, 3)
    assert contexts == for(i <- 0..2, do: %Py.Context{pool: :pool_test_a, index: i})
    assert Py.Pool.started?(:pool_test_a)
    assert Py.Pool.size(:pool_test_a) == {:ok, 3}
    assert Py.Pool.mode(:pool_test_a) == {:ok, :worker}
    assert Py.call(:math, :sqrt, [9.0], pool: :pool_test_a) == {:ok, 3.0}
    assert Py.Pool.stop(:pool_test_a) == :ok
    refute Py.Pool.started?(:pool_test_a)
    assert Py.call(:math, :sqrt, [9.0], pool: :pool_test_a) == {:error, {:no_pool, :pool_test_a}}
    assert Py.Pool.stop(:pool_test_a) == {:error, :not_found}
  end

  test "the default pool is not stopped by Py.Pool.stop/1" do
    assert Py.Pool.stop(:default) == {:error, :default_pool}
    assert Py.Pool.started?(:default)
  end

  test "bad arguments are programmer errors" do
    assert_raise ArgumentError, fn -> Py.Pool.start(:pool_test_bad, 0) end
    assert_raise ArgumentError, fn -> Py.Pool.start(:pool_test_bad, 1, :threads) end
  end

  test "child_spec puts a pool in a user's tree" do
    {:ok, sup} =
      Supervisor.start_link([{Py.Pool, name: :pool_test_tree, size: 1}], strategy: :one_for_one)

    assert Py.call(:math, :floor, [1.5], pool: :pool_test_tree) == {:ok, 1}
    Supervisor.stop(sup)
    refute Py.Pool.started?(:pool_test_tree)
  end

  describe "registration routing" do
    setup do
      {:ok, _} = Py.Pool.start(:pool_test_module, 1)
      {:ok, _} = Py.Pool.start(:pool_test_function, 1)

      on_exit(fn ->
        Py.Pool.stop(:pool_test_module)
        Py.Pool.stop(:pool_test_function)
      end)

      # Each pool's main thread differs; tag each interpreter thread to tell them apart.
      :ok
    end

    defp pool_of(module, function, opts \\ []) do
      # Stop a pool to see where calls go: a routed call to a stopped pool says so.
      Py.Pool.lookup(module, function) |> then(&{&1, Py.call(module, function, [4.0], opts)})
    end

    test "function beats module beats default; pool: beats all" do
      assert Py.Pool.lookup(:math, :sqrt) == :default

      :ok = Py.register_pool(:pool_test_module, :math)
      assert Py.Pool.lookup(:math, :sqrt) == :pool_test_module
      assert Py.Pool.lookup("math", "floor") == :pool_test_module

      :ok = Py.register_pool(:pool_test_function, {:math, :sqrt})
      assert Py.Pool.lookup(:math, :sqrt) == :pool_test_function
      assert Py.Pool.lookup(:math, :floor) == :pool_test_module

      assert Py.Pool.registrations() == %{
               "math" => :pool_test_module,
               {"math", "sqrt"} => :pool_test_function
             }

      :ok = Py.unregister_pool({"math", "sqrt"})
      assert Py.Pool.lookup(:math, :sqrt) == :pool_test_module
      :ok = Py.unregister_pool(:math)
      assert Py.Pool.lookup(:math, :sqrt) == :default
    end

    test "calls really go to the registered pool" do
      :ok = Py.register_pool(:pool_test_module, :math)
      assert {:pool_test_module, {:ok, 2.0}} = pool_of(:math, :sqrt)

      # A registration pointing at a stopped pool fails visibly, and pool: overrides it.
      :ok = Py.Pool.stop(:pool_test_module)
      assert {:pool_test_module, {:error, {:no_pool, :pool_test_module}}} = pool_of(:math, :sqrt)
      assert {_, {:ok, 2.0}} = pool_of(:math, :sqrt, pool: :default)
    end
  end

  test "stopping a pool under load: every caller gets a reply or an error" do
    {:ok, _} = Py.Pool.start(:pool_test_load, 2)
    parent = self()

    callers =
      for i <- 1..200 do
        spawn_link(fn ->
          result =
            Py.call(:time, :sleep, [0.001 * rem(i, 5)], pool: :pool_test_load, timeout: 10_000)

          send(parent, {:done, i, result})
        end)
      end

    Process.sleep(20)
    :ok = Py.Pool.stop(:pool_test_load)

    results =
      for i <- 1..200 do
        assert_receive {:done, ^i, result}, 15_000
        result
      end

    assert length(callers) == 200

    assert Enum.all?(results, fn
             {:ok, nil} -> true
             {:error, :stopped} -> true
             {:error, {:no_pool, :pool_test_load}} -> true
             _ -> false
           end)
  end

  @tag :subinterp
  test "a :subinterp pool: isolated contexts, exec reaches all of them" do
    {:ok, contexts} = Py.Pool.start(:pool_test_sub, 2, :subinterp)
    on_exit(fn -> Py.Pool.stop(:pool_test_sub) end)

    assert :ok = Py.exec("def cube(x):\n    return x ** 3", pool: :pool_test_sub)

    for ctx <- contexts do
      assert Py.call(:__main__, :cube, [3], context: ctx) == {:ok, 27}
    end

    [first, second] = contexts
    :ok = Py.exec("only_here = 1", context: first)
    assert Py.eval("only_here", %{}, context: first) == {:ok, 1}
    assert {:error, %Py.Error{type: "NameError"}} = Py.eval("only_here", %{}, context: second)

    {:ok, a} = Py.eval("id(__import__('sys').modules)", %{}, context: first)
    {:ok, b} = Py.eval("id(__import__('sys').modules)", %{}, context: second)
    assert a != b
  end
end
