defmodule Py.Test.Wait do
  @moduledoc false
  # Polls until `fun` returns true: for effects that happen on other threads (a
  # context going idle, a permit coming back) without asserting how long they take.

  import ExUnit.Assertions, only: [flunk: 1]

  def wait_until(fun, tries \\ 300) do
    cond do
      fun.() -> :ok
      tries == 0 -> flunk("condition not reached")
      true -> Process.sleep(10) && wait_until(fun, tries - 1)
    end
  end
end
