defmodule Py.ConfigTest do
  # Reads and changes the application environment, so it runs alone.
  use ExUnit.Case, async: false

  @keys [
    :default_pool_size,
    :default_pool_mode,
    :num_contexts,
    :num_executors,
    :context_mode,
    :io_pool_size,
    :io_pool_mode,
    :max_concurrent,
    :default_pool_cpu_affinity
  ]

  setup do
    saved = for key <- @keys, do: {key, Application.fetch_env(:erlang_python, key)}
    for key <- @keys, do: Application.delete_env(:erlang_python, key)

    on_exit(fn ->
      for {key, value} <- saved do
        case value do
          {:ok, value} -> Application.put_env(:erlang_python, key, value)
          :error -> Application.delete_env(:erlang_python, key)
        end
      end
    end)
  end

  defp put(pairs),
    do: for({key, value} <- pairs, do: Application.put_env(:erlang_python, key, value))

  test "defaults" do
    assert Py.Config.default_pool_size() == System.schedulers_online()
    assert Py.Config.default_pool_mode() == :worker
    assert Py.Config.io_pool() == nil
    assert Py.Config.io_pool_on_demand() == {10, :worker}
    assert Py.Config.max_concurrent() == System.schedulers_online() * 2 + 1
    assert Py.Config.default_pool_cpu_affinity() == :none
  end

  test "erlang_python's keys are aliases of ours; ours win" do
    put(num_executors: 6)
    assert Py.Config.default_pool_size() == 6
    put(num_contexts: 5)
    assert Py.Config.default_pool_size() == 5
    put(default_pool_size: 4)
    assert Py.Config.default_pool_size() == 4

    put(context_mode: :auto)
    assert Py.Config.default_pool_mode() == :worker
    put(context_mode: :subinterp)
    assert Py.Config.default_pool_mode() == :subinterp
    put(default_pool_mode: :worker)
    assert Py.Config.default_pool_mode() == :worker
  end

  test "the io pool starts with the application once either io key is set" do
    put(io_pool_mode: :auto)
    assert Py.Config.io_pool() == {10, :worker}
    put(io_pool_size: 3)
    assert Py.Config.io_pool() == {3, :worker}
    assert Py.Config.io_pool_on_demand() == {3, :worker}
  end

  test "max_concurrent other than a positive integer falls back to the default" do
    put(max_concurrent: 0)
    assert Py.Config.max_concurrent() == System.schedulers_online() * 2 + 1
    put(max_concurrent: :lots)
    assert Py.Config.max_concurrent() == System.schedulers_online() * 2 + 1
    put(max_concurrent: 50)
    assert Py.Config.max_concurrent() == 50
  end

  @tag :linux
  test "default_pool_cpu_affinity: :spread pins the default pool's contexts" do
    code = """
    cpus = for c <- Py.Pool.contexts(:default) do
      {:ok, cpus} = Py.eval("sorted(__import__('os').sched_getaffinity(0))", %{}, context: c)
      cpus
    end
    {:ok, allowed} = Py.eval("sorted(__import__('os').sched_getaffinity(__import__('os').getpid()))")
    IO.puts("pinned=\#{cpus == Enum.map(Enum.with_index(cpus), fn {_, i} -> [Enum.at(allowed, rem(i, length(allowed)))] end)}")
    """

    {:ok, info} = Py.runtime_info()
    config = "-erlang_python default_pool_cpu_affinity spread -erlang_python default_pool_size 2"

    {output, status} =
      System.cmd("elixir", ["--erl", config, "-S", "mix", "run", "--no-compile", "-e", code],
        env: [{"MIX_ENV", "test"}, {"ERLANG_PYTHON", info.executable}],
        stderr_to_stdout: true
      )

    assert status == 0, output
    assert output =~ "pinned=true"
  end

  test "an application started with erlang_python's keys" do
    # A VM of its own, configured as an erlang_python sys.config would be.
    config =
      ~w(num_contexts 3 context_mode auto io_pool_size 2 io_pool_mode worker max_concurrent 7)
      |> Enum.chunk_every(2)
      |> Enum.map_join(" ", fn [key, value] -> "-erlang_python #{key} #{value}" end)

    code = """
    IO.puts("default=\#{:py_context_router.num_contexts(:default)} " <>
      "io=\#{:py_context_router.num_contexts(:io)} max=\#{:py_semaphore.max_concurrent()} " <>
      "executors=\#{:py.num_executors()} " <>
      "call=\#{inspect(:py.call(:io, :math, :sqrt, [4]))}")
    """

    {:ok, info} = Py.runtime_info()

    {output, status} =
      System.cmd("elixir", ["--erl", config, "-S", "mix", "run", "--no-compile", "-e", code],
        env: [{"MIX_ENV", "test"}, {"ERLANG_PYTHON", info.executable}],
        stderr_to_stdout: true
      )

    assert status == 0, output

    assert output =~
             "default=3 io=2 max=7 executors=3 call={:ok, 2.0}"
  end
end
