defmodule Py.ErlangContextRouterTest do
  # py_context_router and py_context as Erlang code calls them. Stops and restarts
  # the default pool, so it runs alone.
  use ExUnit.Case, async: false

  setup do
    on_exit(fn ->
      for {target, _pool} <- Py.Pool.registrations(), do: Py.unregister_pool(target)
      :py_context_router.unbind_context()
    end)
  end

  test "contexts of the default pool: by scheduler, by index, bound" do
    n = :py_context_router.num_contexts()
    assert n == Py.num_executors()
    assert :py_context_router.num_contexts(:default) == n
    assert :py_context_router.is_started()
    contexts = :py_context_router.contexts()
    assert contexts == :py_context_router.contexts(:default)
    assert contexts == for(i <- 1..n, do: :py_context_router.get_context(i))
    assert :py_context_router.get_context() in contexts
    assert :py_context_router.get_context(:default) in contexts
    assert :py.context() == :py_context_router.get_context()
    assert :py.context(1) == hd(contexts)
    assert :py.contexts_started()
    assert_raise ArgumentError, fn -> :py_context_router.get_context(n + 1) end

    last = List.last(contexts)
    assert :py_context_router.bind_context(last) == :ok
    assert :py_context_router.get_context() == last
    assert :py_context_router.get_context(:default) == last
    assert :py_context_router.unbind_context(:other_pool) == :ok
    assert :py_context_router.get_context() == last
    assert :py_context_router.unbind_context(:default) == :ok
    assert :py_context_router.unbind_context() == :ok
    assert :py_context_router.bind_context(:default, hd(contexts)) == :ok
    assert :py_context_router.get_context() == hd(contexts)
  end

  test "a bound process's calls run on its context" do
    for ctx <- :py_context_router.contexts() do
      :ok = :py_context_router.bind_context(ctx)
      {:ok, ident} = :py.call(:threading, :get_ident, [])
      assert :py.eval(ctx, "__import__('threading').get_ident()") == {:ok, ident}
    end
  end

  test "pools: start, size, contexts, stop; a running pool is returned as it is" do
    refute :py_context_router.pool_started(:erl_router_pool)
    assert :py_context_router.num_contexts(:erl_router_pool) == 0
    assert :py_context_router.contexts(:erl_router_pool) == []

    {:ok, contexts} = :py_context_router.start_pool(:erl_router_pool, 2, :auto)

    try do
      assert length(contexts) == 2
      assert :py_context_router.start_pool(:erl_router_pool, 5) == {:ok, contexts}
      assert :py_context_router.pool_started(:erl_router_pool)
      assert :py_context_router.num_contexts(:erl_router_pool) == 2
      assert :py_context_router.contexts(:erl_router_pool) == contexts
      assert Py.Pool.mode(:erl_router_pool) == :worker
      assert :py_context_router.get_context(:erl_router_pool) in contexts
      assert :py.call(:erl_router_pool, :math, :sqrt, [9]) == {:ok, 3.0}
    after
      assert :py_context_router.stop_pool(:erl_router_pool) == :ok
    end

    assert :py_context_router.stop_pool(:erl_router_pool) == :ok
    refute :py_context_router.pool_started(:erl_router_pool)
  end

  test "registrations: function before module before default" do
    assert :py_context_router.init_pool_registry() == :ok
    assert :py_context_router.lookup_pool(:json, :loads) == :default
    assert :py_context_router.register_pool(:io, :json) == :ok
    assert :py_context_router.register_pool(:default, :json, :dumps) == :ok
    assert :py_context_router.lookup_pool(:json, :loads) == :io
    assert :py_context_router.lookup_pool(:json, :dumps) == :default

    assert Enum.sort(:py_context_router.list_pool_registrations()) ==
             [{{:json, :_}, :io}, {{:json, :dumps}, :default}]

    assert :py_context_router.unregister_pool(:json, :dumps) == :ok
    assert :py_context_router.unregister_pool(:json) == :ok
    assert :py_context_router.list_pool_registrations() == []
  end

  test "stop/0 stops the default pool and start/1 starts it with the size asked for" do
    size = :py_context_router.num_contexts()
    contexts = :py_context_router.contexts()
    assert :py_context_router.start(%{contexts: 7}) == {:ok, contexts}

    try do
      assert :py_context_router.stop() == :ok
      refute :py_context_router.is_started()
      assert :py_context_router.num_contexts() == 0
      assert :py.call(:math, :sqrt, [4.0]) == {:error, {:no_pool, :default}}

      {:ok, three} = :py.start_contexts(%{contexts: 3, mode: :worker})
      assert length(three) == 3
      assert :py_context_router.num_contexts() == 3
      assert :py.call(:math, :sqrt, [4.0]) == {:ok, 2.0}
      assert :py.stop_contexts() == :ok
      refute :py.contexts_started()
    after
      :py_context_router.stop()
      {:ok, restored} = :py_context_router.start(%{contexts: size})
      assert restored == contexts
    end
  end

  describe "py_context" do
    test "call, eval and exec on one context" do
      ctx = :py_context_router.get_context(1)
      assert :py_context.call(ctx, :builtins, :int, ["ff"], %{base: 16}) == {:ok, 255}
      assert :py_context.call(ctx, :time, :sleep, [1], %{}, 50) == {:error, :timeout}
      assert :py_context.exec(ctx, "erl_context_value = 20") == :ok
      assert :py_context.eval(ctx, "erl_context_value + n", %{n: 1}) == {:ok, 21}
      assert :py_context.eval(ctx, "erl_context_value", %{}, 5_000) == {:ok, 20}
      assert {:error, {:ZeroDivisionError, _}} = :py_context.eval(ctx, "1/0", %{})
      assert {:error, {:SyntaxError, _}} = :py_context.exec(ctx, "def")
      assert :py_context.eval(ctx, "erl_context_value", %{}) == {:ok, 20}
    end

    test "each context runs its requests one at a time" do
      ctx = :py_context_router.get_context(1)
      :ok = :py_context.exec(ctx, "import threading\nerl_context_idents = set()")

      1..20
      |> Enum.map(fn _ ->
        Task.async(fn ->
          :py_context.eval(ctx, "erl_context_idents.add(threading.get_ident())", %{})
        end)
      end)
      |> Task.await_many()

      assert :py_context.eval(ctx, "len(erl_context_idents)", %{}) == {:ok, 1}
    end

    test "anything but a context is refused" do
      assert :py_context.call(self(), :math, :sqrt, [4], %{}) == {:error, :invalid_context}
      assert :py_context.eval(:default, "1", %{}) == {:error, :invalid_context}
      assert :py_context.exec(1, "x = 1") == {:error, :invalid_context}
    end
  end
end
