defmodule Py.ErlangExamplesTest do
  # The ```erlang blocks of the guides and the README, run in order as one Erlang
  # shell session per file. Some of them stop and start pools, so this runs alone.
  use ExUnit.Case, async: false

  alias Py.Test.ErlangSource

  @files ["README.md" | Path.wildcard("guides/*.md")]

  for file <- @files, ErlangSource.blocks(file) != [] do
    test file do
      ErlangSource.run_blocks(unquote(file))
    after
      for {target, _pool} <- Py.Pool.registrations(), do: Py.unregister_pool(target)
      :py_context_router.stop_pool(:io)
    end
  end

  test "the files with Erlang examples are all here" do
    runnable = for file <- @files, ErlangSource.blocks(file) != [], do: file
    assert "README.md" in runnable
    assert "guides/migrating-from-erlang-python.md" in runnable
  end
end
