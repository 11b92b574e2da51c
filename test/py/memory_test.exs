defmodule Py.MemoryTest do
  # tracemalloc is one switch per interpreter: these tests run alone.
  use ExUnit.Case, async: false

  import Py.Test.Wait

  doctest Py.Memory
  doctest Py, only: [tracemalloc_start: 1, tracemalloc_stop: 0, tracemalloc_top: 1]

  setup_all do
    :ok =
      Py.exec("""
      def memory_test_interpreters():
          for name in ('_interpreters', '_xxsubinterpreters'):
              try:
                  return len(__import__(name).list_all())
              except ImportError:
                  pass
          return 1
      """)
  end

  setup do
    # A stopped subinterpreter pool ends its interpreters in the background; tracing
    # is refused until they are gone.
    wait_until(fn -> Py.eval("memory_test_interpreters()") == {:ok, 1} end)
    on_exit(fn -> Py.tracemalloc_stop() end)
  end

  test "memory_stats gives the collector's figures and the process's size" do
    assert {:ok, stats} = Py.memory_stats()

    assert [%{"collections" => _, "collected" => _, "uncollectable" => _} | _] = stats.gc_stats
    assert tuple_size(stats.gc_count) == 3
    assert tuple_size(stats.gc_threshold) >= 3
    # Free-threaded builds count per thread, and the first count can be negative.
    assert Enum.all?(Tuple.to_list(stats.gc_count), &is_integer/1)
    assert is_integer(stats.objects) and stats.objects > 1_000
    assert is_integer(stats.rss_bytes) and stats.rss_bytes > 1_000_000
    assert stats.max_rss_bytes >= stats.rss_bytes
    refute Map.has_key?(stats, :traced_memory_current)
    refute Map.has_key?(stats, :traced_memory_peak)
  end

  test "objects counts what the collector tracks" do
    # Garbage left by other tests would otherwise be collected while the lists are
    # made, and lower the second count.
    {:ok, _} = Py.gc()
    {:ok, %{objects: before}} = Py.memory_stats()
    :ok = Py.exec("memory_test_held = [[] for _ in range(50_000)]")
    {:ok, %{objects: held}} = Py.memory_stats()
    :ok = Py.exec("del memory_test_held")
    # Other threads (the event loop, logging) make and drop a few objects too.
    assert held - before >= 49_000
  end

  test "gc collects reference cycles and counts them" do
    :ok =
      Py.exec("""
      import gc

      class MemoryTestNode:
          pass

      # No automatic collection may take some of the cycles first (enabled again
      # below, after the explicit one).
      gc.disable()
      for _ in range(100):
          node = MemoryTestNode()
          node.me = node
      del node
      """)

    on_exit(fn -> Py.exec("__import__('gc').enable()") end)
    assert {:ok, found} = Py.gc()
    :ok = Py.exec("__import__('gc').enable()")
    assert found >= 100
    # The cycles are gone; whatever another thread made meanwhile is far fewer.
    assert {:ok, again} = Py.gc(2)
    assert again < 100
    assert {:ok, collections} = Py.memory_stats()
    assert Enum.at(collections.gc_stats, 2)["collections"] >= 2

    for generation <- [0, 1] do
      assert {:ok, n} = Py.gc(generation)
      assert n >= 0
    end
  end

  test "gc refuses generations Python does not have" do
    assert_raise FunctionClauseError, fn -> Py.gc(3) end
    assert_raise FunctionClauseError, fn -> Py.gc(-1) end
    assert_raise FunctionClauseError, fn -> Py.tracemalloc_start(0) end
    assert_raise FunctionClauseError, fn -> Py.tracemalloc_top(0) end
  end

  test "while tracing, memory_stats adds the traced figures and top finds the site" do
    assert Py.tracemalloc_top() == {:error, :not_tracing}
    assert :ok = Py.tracemalloc_start(3)
    assert Py.eval!("__import__('tracemalloc').get_traceback_limit()") == 3

    :ok =
      Py.exec("""
      def memory_test_allocate():
          return [bytearray(4096) for _ in range(500)]

      memory_test_kept = memory_test_allocate()
      """)

    assert {:ok, stats} = Py.memory_stats()
    assert stats.traced_memory_current >= 500 * 4096
    assert stats.traced_memory_peak >= stats.traced_memory_current

    assert {:ok, [top | _] = sites} = Py.tracemalloc_top(5)
    assert length(sites) <= 5
    assert %{file: "<exec>", line: 2, size: size, count: count} = top
    assert size >= 500 * 4096
    assert count >= 500

    assert Enum.all?(sites, &match?(%{file: _, line: _, size: _, count: _}, &1))
    assert sites == Enum.sort_by(sites, & &1.size, :desc)

    :ok = Py.exec("del memory_test_kept")
    assert :ok = Py.tracemalloc_stop()
    assert {:ok, stats} = Py.memory_stats()
    refute Map.has_key?(stats, :traced_memory_current)
    assert Py.tracemalloc_top() == {:error, :not_tracing}
    assert Py.tracemalloc_stop() == :ok
  end

  test "options choose the pool and context; bad ones raise" do
    assert {:ok, %{objects: _}} = Py.Memory.stats(pool: :default, context: 0, timeout: 5_000)
    assert {:error, {:no_pool, :no_such_pool}} = Py.Memory.stats(pool: :no_such_pool)
    assert_raise ArgumentError, fn -> Py.Memory.stats(bogus: 1) end
  end

  @tag :subinterp
  test "each subinterpreter has its own collector and objects" do
    {:ok, _} = Py.Pool.start(:memory_sub, 2, :subinterp)
    on_exit(fn -> Py.Pool.stop(:memory_sub) end)

    :ok = Py.exec("memory_test_held = [[] for _ in range(50_000)]", pool: :memory_sub, context: 1)

    assert {:ok, %{objects: first}} = Py.Memory.stats(pool: :memory_sub)
    assert {:ok, %{objects: second}} = Py.Memory.stats(pool: :memory_sub, context: 1)
    # The two interpreters' own objects differ a little; the lists dominate.
    assert second - first >= 45_000

    # Without context:, the pool's first context answers every call.
    assert {:ok, %{objects: again}} = Py.Memory.stats(pool: :memory_sub)
    assert abs(again - first) < 5_000
    assert {:ok, _} = Py.Memory.gc(2, pool: :memory_sub, context: 1)
  end

  @tag :subinterp
  test "tracemalloc and subinterpreters exclude each other (CPython would crash)" do
    {:ok, _} = Py.Pool.start(:memory_tracing_sub, 1, :subinterp)

    assert {:error, {:unsupported, message}} = Py.tracemalloc_start()
    assert message =~ "subinterpreters exist"
    :ok = Py.Pool.stop(:memory_tracing_sub)

    wait_until(fn -> Py.eval("memory_test_interpreters()") == {:ok, 1} end)
    assert :ok = Py.tracemalloc_start()
    assert {:error, {:unsupported, why}} = Py.Pool.start(:memory_tracing_sub, 1, :subinterp)
    assert why =~ "tracemalloc"
    assert {:error, {:unsupported, _}} = Py.Subinterp.create()

    :ok = Py.tracemalloc_stop()
    {:ok, interp} = Py.Subinterp.create()
    :ok = Py.Subinterp.destroy(interp)
  end
end
