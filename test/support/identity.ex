defmodule Py.Test.Identity do
  @moduledoc false
  # A Python identity function, for round-trip tests.

  def setup do
    :ok = Py.exec("def _identity(x):\n    return x")
  end

  def round_trip(term), do: Py.call(:__main__, :_identity, [term])
end
