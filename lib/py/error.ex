defmodule Py.Error do
  @moduledoc """
  A Python exception raised by a call, with Python's own traceback.

  `type` is the exception's qualified name (`"ZeroDivisionError"`,
  `"json.decoder.JSONDecodeError"`), `message` is `str(exception)` and `traceback` the
  lines of `traceback.format_exception`. Names stay binaries: Python never creates
  atoms.

  ## Examples

      iex> {:error, %Py.Error{type: type, message: message}} = Py.eval("1/0")
      iex> {type, message}
      {"ZeroDivisionError", "division by zero"}
  """
  defexception [:type, :message, traceback: []]

  @type t :: %__MODULE__{type: String.t(), message: String.t(), traceback: [String.t()]}

  @impl true
  def message(%__MODULE__{type: type, message: message, traceback: traceback}) do
    # Python's traceback ends with the "Type: message" line; show it only when it
    # has frames to add to the headline.
    if Enum.any?(traceback, &String.starts_with?(&1, "Traceback")) do
      "#{type}: #{message}\n\n" <> String.trim_trailing(Enum.join(traceback))
    else
      "#{type}: #{message}"
    end
  end
end
