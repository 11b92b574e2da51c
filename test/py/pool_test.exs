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
    assert Py.Pool.size(:pool_test_a) == 3
    assert Py.Pool.mode(:pool_test_a) == :worker
    assert Py.Pool.contexts(:pool_test_a) == contexts
    assert Py.call(:math, :sqrt, [9.0], pool: :pool_test_a) == {:ok, 3.0}
    assert Py.Pool.stop(:pool_test_a) == :ok
    refute Py.Pool.started?(:pool_test_a)

    for getter <- [&Py.Pool.size/1, &Py.Pool.mode/1, &Py.Pool.contexts/1] do
      assert_raise ArgumentError, "no pool named :pool_test_a is running", fn ->
        getter.(:pool_test_a)
      end
    end

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

  test "a pool the NIF cannot create says why" do
    assert Py.Pool.start(:pool_test_huge, 1_000_000) ==
             {:error, {:invalid, "pool size out of range"}}

    refute Py.Pool.started?(:pool_test_huge)
  end

  test "a started pool outlives the process that started it" do
    task = Task.async(fn -> Py.Pool.start(:pool_test_orphan, 1) end)
    assert {:ok, [_]} = Task.await(task)
    assert Py.call(:math, :sqrt, [1.0], pool: :pool_test_orphan) == {:ok, 1.0}
    assert Py.Pool.stop(:pool_test_orphan) == :ok
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

    # Each pool here has one context, so the thread a call ran on names its pool.
    defp ident(opts), do: Py.eval!("__import__('threading').get_ident()", %{}, opts)
    defp native_id(opts), do: Py.eval!("__import__('threading').get_native_id()", %{}, opts)

    defp default_idents do
      MapSet.new(Py.Context.list(), &ident(context: &1))
    end

    test "a call runs on its pool:, else its function's, else its module's, else :default" do
      :ok = Py.register_pool(:pool_test_module, "threading")
      :ok = Py.register_pool(:pool_test_function, {:threading, "get_ident"})

      assert Py.call!(:threading, :get_ident) == ident(pool: :pool_test_function)
      assert Py.call!(:threading, :get_native_id) == native_id(pool: :pool_test_module)
      assert Py.call!(:threading, :get_ident, [], pool: :default) in default_idents()

      :ok = Py.unregister_pool({"threading", :get_ident})
      assert Py.call!(:threading, :get_ident) == ident(pool: :pool_test_module)
      :ok = Py.unregister_pool(:threading)
      assert Py.call!(:threading, :get_ident) in default_idents()
    end

    test "a bound context beats registrations; pool: beats a bound context" do
      :ok = Py.register_pool(:pool_test_function, {:threading, :get_ident})
      {:ok, ctx} = Py.Context.get(0)
      :ok = Py.Context.bind(ctx)

      try do
        assert Py.call!(:threading, :get_ident) == ident(context: ctx)

        assert Py.call!(:threading, :get_ident, [], pool: :pool_test_module) ==
                 ident(pool: :pool_test_module)
      after
        Py.Context.unbind()
      end

      assert Py.call!(:threading, :get_ident) == ident(pool: :pool_test_function)
    end

    test "registrations do not route eval or exec" do
      :ok = Py.register_pool(:pool_test_module, :builtins)
      assert ident([]) in default_idents()
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

    # Every caller calls until the pool is gone, so the stop meets calls running,
    # queued, being submitted and arriving after it.
    stopper =
      Task.async(fn ->
        Process.sleep(50)
        Py.Pool.stop(:pool_test_load)
      end)

    outcomes =
      1..100
      |> Task.async_stream(&call_until_gone/1,
        max_concurrency: 100,
        timeout: 10_000,
        on_timeout: :kill_task
      )
      |> Enum.map(fn
        {:ok, results} -> results
        {:exit, reason} -> flunk("a caller got no answer: #{inspect(reason)}")
      end)

    assert Task.await(stopper) == :ok
    assert length(outcomes) == 100

    for [last | earlier] <- outcomes do
      assert last in [{:error, :stopped}, {:error, {:no_pool, :pool_test_load}}]
      assert Enum.all?(earlier, &(&1 == {:ok, nil}))
    end
  end

  test "stopping a pool while Py.parallel waits on it" do
    {:ok, _} = Py.Pool.start(:pool_test_batch, 1)
    calls = for _ <- 1..4, do: {:time, :sleep, [0.2]}
    batch = Task.async(fn -> Py.parallel(calls, pool: :pool_test_batch, timeout: 5_000) end)
    Process.sleep(50)
    :ok = Py.Pool.stop(:pool_test_batch)

    # Work submitted before the stop is answered: with its result or :stopped.
    assert {:ok, [{:ok, nil} | rest]} = Task.await(batch, 3_000)
    assert Enum.all?(rest, &(&1 in [{:ok, nil}, {:error, :stopped}]))
    assert Py.parallel(calls, pool: :pool_test_batch) == {:error, {:no_pool, :pool_test_batch}}
  end

  # Results of calls made until one fails, the last first.
  defp call_until_gone(i, results \\ []) do
    result = Py.call(:time, :sleep, [0.001 * rem(i, 3)], pool: :pool_test_load, timeout: 5_000)

    case result do
      {:ok, nil} -> call_until_gone(i, [result | results])
      _ -> [result | results]
    end
  end

  describe "cpu_affinity" do
    # The CPUs a thread may run on, read by Python itself on the context's thread.
    defp thread_cpus(context) do
      {:ok, cpus} =
        Py.eval("sorted(__import__('os').sched_getaffinity(0))", %{}, context: context)

      cpus
    end

    defp process_cpus do
      {:ok, cpus} =
        Py.eval("sorted(__import__('os').sched_getaffinity(__import__('os').getpid()))")

      cpus
    end

    @tag :linux
    test ":spread pins context i to the i-th CPU the process may use, wrapping around" do
      {:ok, contexts} = Py.Pool.start(:pool_test_spread, 3, :worker, cpu_affinity: :spread)
      on_exit(fn -> Py.Pool.stop(:pool_test_spread) end)
      allowed = process_cpus()

      for {context, i} <- Enum.with_index(contexts) do
        assert thread_cpus(context) == [Enum.at(allowed, rem(i, length(allowed)))]
      end

      assert Py.call(:math, :sqrt, [16.0], pool: :pool_test_spread) == {:ok, 4.0}
    end

    @tag :linux
    @tag :subinterp
    test ":spread pins a :subinterp pool's contexts too" do
      {:ok, [first | _]} =
        Py.Pool.start(:pool_test_spread_sub, 2, :subinterp, cpu_affinity: :spread)

      on_exit(fn -> Py.Pool.stop(:pool_test_spread_sub) end)
      assert thread_cpus(first) == [hd(process_cpus())]
    end

    @tag :linux
    test "by default the kernel places contexts: they may use every CPU of the process" do
      allowed = process_cpus()
      {:ok, contexts} = Py.Pool.start(:pool_test_unpinned, 2)
      on_exit(fn -> Py.Pool.stop(:pool_test_unpinned) end)
      for context <- contexts, do: assert(thread_cpus(context) == allowed)
      for context <- Py.Pool.contexts(:default), do: assert(thread_cpus(context) == allowed)
    end

    test "anything else is a programmer error" do
      assert_raise ArgumentError, ~r/expected :cpu_affinity to be :none or :spread/, fn ->
        Py.Pool.start(:pool_test_bad_affinity, 1, :worker, cpu_affinity: :all)
      end

      assert_raise ArgumentError, fn ->
        Py.Pool.start(:pool_test_bad_affinity, 1, :worker, pinned: true)
      end

      refute Py.Pool.started?(:pool_test_bad_affinity)
    end
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
