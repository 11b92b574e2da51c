defmodule Py.ContextTest do
  use ExUnit.Case, async: true
  doctest Py.Context

  test "get/0 follows the scheduler, get/1 takes an index" do
    {:ok, %Py.Context{pool: :default, index: index}} = Py.Context.get()
    assert index < Py.num_executors()
    assert Py.Context.get(0) == {:ok, %Py.Context{pool: :default, index: 0}}
    assert Py.Context.get(Py.num_executors()) == {:error, :not_found}
    assert Py.Context.get(:no_such_pool, 0) == {:error, :not_found}
  end

  test "a default pool smaller than the scheduler count wraps around" do
    # A VM of its own, so the application starts with one context on two schedulers.
    code = """
    1..200
    |> Enum.map(fn _ -> Task.async(fn -> Py.Context.get() end) end)
    |> Enum.map(&Task.await/1)
    |> Enum.uniq()
    |> then(&IO.puts("contexts=\#{inspect(&1)} executors=\#{Py.num_executors()}"))
    """

    {:ok, info} = Py.runtime_info()

    {output, status} =
      System.cmd(
        "elixir",
        ["--erl", "-erlang_python default_pool_size 1 +S 2:2"] ++
          ["-S", "mix", "run", "--no-compile", "-e", code],
        env: [{"MIX_ENV", "test"}, {"ERLANG_PYTHON", info.executable}],
        stderr_to_stdout: true
      )

    assert status == 0, output
    assert output =~ "contexts=[ok: %Py.Context{pool: :default, index: 0}] executors=1"
  end

  test "bad arguments are programmer errors" do
    assert_raise ArgumentError, fn -> Py.Context.get(-1) end
    assert_raise ArgumentError, fn -> Py.Context.get(:default, "0") end
    assert_raise ArgumentError, fn -> Py.Context.bind(0) end
    assert Py.Context.bound() == nil
  end

  test "list/0 has one context per executor" do
    contexts = Py.Context.list()
    assert Enum.map(contexts, & &1.index) == Enum.to_list(0..(Py.num_executors() - 1))
  end

  test "list/1 names a pool" do
    assert_raise ArgumentError, "no pool named :no_such_pool is running", fn ->
      Py.Context.list(:no_such_pool)
    end

    contexts = Py.Context.list(:default)
    assert Enum.all?(contexts, &(&1.pool == :default))
  end

  test "a bound process always uses its context" do
    {:ok, ctx} = Py.Context.get(Py.num_executors() - 1)
    :ok = Py.Context.bind(ctx)

    try do
      :ok = Py.exec("import threading")

      idents =
        for _ <- 1..20 do
          {:ok, ident} = Py.eval("threading.get_ident()")
          ident
        end

      assert length(Enum.uniq(idents)) == 1
      {:ok, pinned} = Py.eval("threading.get_ident()", %{}, context: ctx)
      assert hd(idents) == pinned
    after
      Py.Context.unbind()
    end
  end

  test "context: takes a Py.Context or an index" do
    {:ok, ctx} = Py.Context.get(0)
    {:ok, by_struct} = Py.eval("__import__('threading').get_ident()", %{}, context: ctx)
    {:ok, by_index} = Py.eval("__import__('threading').get_ident()", %{}, context: 0)
    assert by_struct == by_index

    assert Py.eval("1", %{}, context: Py.num_executors() + 5) ==
             {:error, {:invalid, "no such context"}}

    assert_raise ArgumentError, fn -> Py.eval("1", %{}, context: :bogus) end
  end
end
