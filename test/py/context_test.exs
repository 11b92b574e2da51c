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

  test "list/0 has one context per executor" do
    {:ok, contexts} = Py.Context.list()
    assert Enum.map(contexts, & &1.index) == Enum.to_list(0..(Py.num_executors() - 1))
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
