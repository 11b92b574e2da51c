defmodule Py.GuidesTest do
  # Every `elixir` block of every guide runs, in order, as a reader would run them.
  use ExUnit.Case, async: false

  guides = Path.wildcard("guides/*.md")

  for guide <- guides, Py.Test.Guide.blocks(guide) != [] do
    test guide do
      ExUnit.CaptureLog.capture_log(fn ->
        ExUnit.CaptureIO.capture_io(fn -> Py.Test.Guide.run(unquote(guide)) end)
      end)
    end
  end

  test "the guides with runnable examples are all here" do
    runnable = for guide <- unquote(guides), Py.Test.Guide.blocks(guide) != [], do: guide

    for guide <-
          ~w(getting-started data-conversion pools-and-routing scalability subinterpreters
             free-threading callbacks-and-state security deployment async-and-streams channels logging-and-tracing
             distribution venvs) do
      assert "guides/#{guide}.md" in runnable
    end
  end
end
