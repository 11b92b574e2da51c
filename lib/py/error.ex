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
    case traceback do
      [] -> "#{type}: #{message}"
      lines -> "#{type}: #{message}\n\n" <> Enum.join(lines)
    end
  end
end
