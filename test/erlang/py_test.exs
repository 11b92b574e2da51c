defmodule Py.ErlangPyTest do
  # The `py` module's contract for Erlang users: the call and return shapes of
  # erlang_python, exact where that library was lossy.
  use ExUnit.Case, async: false

  import Py.Test.Wait

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

  test "objects without an Erlang form come back as handles that go back to Python" do
    {:ok, deque} = :py.call(:collections, :deque, [[1, 2]])
    assert %Py.Object{} = deque
    assert :py.call(:builtins, :len, [deque]) == {:ok, 2}

    assert :py_ref.is_ref(deque)
    refute Enum.any?([1, "x", [1], %{}, make_ref()], &:py_ref.is_ref/1)
    assert :py_ref.call_method(deque, :append, [:none]) == {:ok, :none}
    assert :py_ref.getattr(deque, :maxlen) == {:ok, :none}
    assert :py_ref.to_term(deque) == {:ok, deque}
    assert :py.call(:builtins, :list, [deque]) == {:ok, [1, 2, :none]}
  end

  @tag :numpy
  test "numpy arrays and scalars come back as lists and numbers" do
    assert :py.call(:numpy, :dot, [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]) ==
             {:ok, [[19, 22], [43, 50]]}

    assert :py.call(:numpy, :dot, [[1, 2, 3], [4, 5, 6]]) == {:ok, 32}

    assert :py.eval("(lambda n: [n.float64(0.5), {'a': n.arange(3)}])(__import__('numpy'))") ==
             {:ok, [0.5, %{"a" => [0, 1, 2]}]}

    assert :py.eval("__import__('numpy').zeros((2, 0))") == {:ok, [[], []]}
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

  test "calls, evals and execs on a context handle" do
    ctx = :py_context_router.get_context(1)
    assert :py.call(ctx, :math, :sqrt, [16.0]) == {:ok, 4.0}
    assert :py.call(ctx, :builtins, :int, ["ff"], %{kwargs: %{base: 16}}) == {:ok, 255}
    assert :py.call(ctx, :time, :sleep, [1], %{timeout: 50}) == {:error, :timeout}
    assert :py.exec(ctx, "erl_ctx_value = 6") == :ok
    assert :py.eval(ctx, "erl_ctx_value * 7") == {:ok, 42}
    assert :py.eval(ctx, "erl_ctx_value * n", %{n: 2}) == {:ok, 12}
    assert {:error, {:NameError, _}} = :py.eval(ctx, "no_such_name_here")
    assert :py.eval("erl_ctx_value + 1", %{}, 5_000) == {:ok, 7}
  end

  test "cast: the result arrives as {py_response, Ref, Result}, or through await" do
    ref = :py.cast(:math, :factorial, [10])
    assert is_reference(ref)
    assert_receive {:py_response, ^ref, {:ok, 3_628_800}}, 5_000

    ref = :py.cast(:builtins, :int, ["ff"], %{base: 16})
    assert :py.await(ref) == {:ok, 255}

    ref = :py.cast(:math, :sqrt, [-1.0])
    assert {:error, {:ValueError, _}} = :py.await(ref, 5_000)

    # A reference that names no call times out, as it would in erlang_python.
    assert :py.await(make_ref(), 10) == {:error, :timeout}
    wait_until(fn -> :ets.info(:py_casts, :size) == 0 end)
  end

  describe "a cast that is given up" do
    # A one-context pool: a spin that was not stopped would hold it for good, and the
    # call after it would never run. The spin says when it has started.
    setup do
      {:ok, _} = Py.Pool.start(:erl_cast_pool, 1)

      :ok =
        :py.exec("""
        def erl_spin(pid):
            erlang.send(pid, 'spinning')
            while True:
                pass
        """)

      :ok = :py.register_pool(:erl_cast_pool, {:__main__, :erl_spin})

      on_exit(fn ->
        :py.unregister_pool({:__main__, :erl_spin})
        Py.Pool.stop(:erl_cast_pool)
      end)
    end

    test "by an await that times out is stopped, and sends nothing later" do
      ref = :py.cast(:__main__, :erl_spin, [self()])
      assert_receive "spinning", 5_000
      assert :py.await(ref, 10) == {:error, :timeout}
      assert :py.call(:erl_cast_pool, :math, :sqrt, [4.0]) == {:ok, 2.0}
      refute_received {:py_response, ^ref, _}
      assert :ets.lookup(:py_casts, ref) == []
    end

    test "by a caller that dies is stopped" do
      test = self()

      {pid, monitor} =
        spawn_monitor(fn ->
          :py.cast(:__main__, :erl_spin, [test])
          # Dies only once the cast runs: dying earlier would stop it before it starts.
          receive do
            :exit -> :ok
          end
        end)

      assert_receive "spinning", 5_000
      send(pid, :exit)
      assert_receive {:DOWN, ^monitor, :process, ^pid, :normal}
      assert :py.call(:erl_cast_pool, :math, :sqrt, [4.0]) == {:ok, 2.0}
      wait_until(fn -> :ets.info(:py_casts, :size) == 0 end)
    end
  end

  test "spawn_call and await" do
    ref = :py.spawn_call(:math, :factorial, [5])
    assert :py.await(ref) == {:ok, 120}
    ref = :py.spawn_call(:builtins, :int, ["11"], %{base: 2})
    assert :py.await(ref, 5_000) == {:ok, 3}
    ref = :py.spawn_call(:time, :sleep, [0.5])
    assert :py.await(ref, 20) == {:error, :timeout}
  end

  test "the io pool starts the first time a call routes to it" do
    :ok = :py_context_router.stop_pool(:io)
    refute :py_context_router.pool_started(:io)

    try do
      assert :py.call(:io, :math, :sqrt, [16]) == {:ok, 4.0}
      assert :py_context_router.num_contexts(:io) == 10
      assert Py.Pool.mode(:io) == :worker

      # Through a registration too, after a stop.
      :ok = :py_context_router.stop_pool(:io)
      :ok = :py.register_pool(:io, {:operator, :add})
      assert :py.call(:operator, :add, [1, 2]) == {:ok, 3}
      assert :py_context_router.pool_started(:io)

      :ok = :py_context_router.stop_pool(:io)
      ref = :py.spawn_call(:operator, :add, [2, 2])
      assert :py.await(ref) == {:ok, 4}
    after
      :py.unregister_pool({:operator, :add})
      :py_context_router.stop_pool(:io)
    end
  end

  test "streams are collected" do
    assert :py.stream(:builtins, :iter, [[1, 2, 3, 4, 5]]) == {:ok, [1, 2, 3, 4, 5]}

    assert :py.stream(:builtins, :enumerate, [["a", "b"]], %{start: 1}) ==
             {:ok, [{1, "a"}, {2, "b"}]}

    assert :py.stream_eval("(x * 2 for x in range(3))") == {:ok, [0, 2, 4]}
    assert {:error, {:TypeError, _}} = :py.stream(:builtins, :iter, [5])
  end

  test "asyncio tasks: call and await, gather, async generators" do
    :ok =
      :py.exec("""
      import asyncio, __main__

      async def erl_double(x, delay=0):
          await asyncio.sleep(delay)
          return 2 * x

      async def erl_ticks(n):
          for i in range(n):
              await asyncio.sleep(0)
              yield i

      __main__.erl_double = erl_double
      __main__.erl_ticks = erl_ticks
      """)

    ref = :py.async_call(:__main__, :erl_double, [21])
    assert :py.async_await(ref) == {:ok, 42}
    ref = :py.async_call(:__main__, :erl_double, [1], %{delay: 0.01})
    assert :py.async_await(ref, 5_000) == {:ok, 2}

    assert :py.async_gather([{:__main__, :erl_double, [1]}, {:__main__, :erl_double, [2]}]) ==
             {:ok, [2, 4]}

    assert {:error, {:TypeError, _}} =
             :py.async_gather([{:__main__, :erl_double, [1]}, {:__main__, :erl_double, []}])

    assert :py.async_stream(:__main__, :erl_ticks, [3]) == {:ok, [0, 1, 2]}
  end

  test "gc, reload and logging levels" do
    assert {:ok, n} = :py.gc()
    assert is_integer(n) and n >= 0
    assert {:ok, _} = :py.gc(0)
    assert_raise FunctionClauseError, fn -> :py.gc(3) end

    dir = Path.join(System.tmp_dir!(), "erl_reload_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    File.write!(Path.join(dir, "erl_reloaded.py"), "VALUE = 1\n")

    try do
      {:ok, nil} = Py.eval("__import__('sys').path.insert(0, d)", %{d: dir})
      assert :py.eval("__import__('erl_reloaded').VALUE") == {:ok, 1}
      File.write!(Path.join(dir, "erl_reloaded.py"), "VALUE = 2000\n")
      assert :py.reload(:erl_reloaded) == :ok
      assert :py.eval("__import__('erl_reloaded').VALUE") == {:ok, 2000}
      assert :py.reload("never_imported_module") == :ok
    after
      Py.eval("__import__('sys').path.remove(d)", %{d: dir})
      File.rm_rf!(dir)
    end

    assert :py.configure_logging(%{level: :info}) == :ok
    assert :py.eval("__import__('logging').getLogger().level") == {:ok, 20}
    assert :py.configure_logging([{:level, :error}]) == :ok
    assert :py.eval("__import__('logging').getLogger().level") == {:ok, 40}
    assert :py.configure_logging(%{level: :warning}) == :ok
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

    assert :py_state.store("erl_py_state", 1) == :ok
    assert :py_state.incr("erl_py_state", 2) == 3
    assert :py_state.decr("erl_py_state") == 2
    assert :py_state.fetch("erl_py_state") == {:ok, 2}
    assert "erl_py_state" in :py_state.keys()
    assert :py_state.remove("erl_py_state") == :ok

    assert :py.state_clear() == :ok
    assert :py.state_keys() == []
    assert :py.state_fetch("erl_counter") == {:error, :not_found}
  end

  test "subinterpreter functions say when this Python has none" do
    if :py.subinterp_supported() do
      assert :py.subinterp_pool_start(4) == :ok
      assert :py.subinterp_pool_ready()
    else
      assert {:error, {:unsupported, _}} = :py.subinterp_create()
      assert {:error, {:unsupported, _}} = :py.subinterp_pool_start(4)
      refute :py.subinterp_pool_ready()
    end

    assert :py.subinterp_pool_stop() == :ok
    refute :py.subinterp_pool_ready()
  end

  @tag :subinterp
  test "subinterpreter handles are isolated interpreters" do
    {:ok, one} = :py.subinterp_create()
    {:ok, two} = :py.subinterp_create()
    assert :py.subinterp_call(one, :math, :sqrt, [16.0]) == {:ok, 4.0}
    assert :py.subinterp_call(one, :builtins, :int, ["ff"], %{base: 16}) == {:ok, 255}
    assert :py.subinterp_exec(one, "erl_sub_value = 1") == :ok
    assert :py.subinterp_eval(one, "erl_sub_value + n", %{n: 1}) == {:ok, 2}
    assert {:error, {:NameError, _}} = :py.subinterp_eval(two, "erl_sub_value")
    assert :py.subinterp_destroy(one) == :ok
    assert :py.subinterp_destroy(two) == :ok
    assert :py.subinterp_eval(one, "1") == {:error, :stopped}
  end

  test "information" do
    assert {:ok, version} = :py.version()
    assert version =~ ~r/^3\./
    assert :py.execution_mode() in [:free_threaded, :subinterp, :multi_executor]
    assert :py.num_executors() >= 1
    assert is_boolean(:py.subinterp_supported())
  end
end
