defmodule Py.GuidesTest do
  # Every `elixir` block of the guides runs, in order, as a reader would run them.
  use ExUnit.Case, async: false

  test "guides/callbacks-and-state.md" do
    assert Py.Test.Guide.blocks("guides/callbacks-and-state.md") != []
    Py.Test.Guide.run("guides/callbacks-and-state.md")
  end
end
