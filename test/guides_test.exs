defmodule Py.GuidesTest do
  # Every `elixir` block of the guides runs, in order, as a reader would run them.
  use ExUnit.Case, async: false

  for guide <- [
        "guides/callbacks-and-state.md",
        "guides/async-and-streams.md",
        "guides/channels.md"
      ] do
    test guide do
      assert Py.Test.Guide.blocks(unquote(guide)) != []
      ExUnit.CaptureIO.capture_io(fn -> Py.Test.Guide.run(unquote(guide)) end)
    end
  end
end
