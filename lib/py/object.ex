defmodule Py.Object do
  @moduledoc """
  A handle to a Python object that has no natural Elixir form (a `deque`, a numpy
  array, a file, a model...).

  Passing the handle back to Python gives Python the very same object. The object
  lives as long as the handle does: when the BEAM garbage-collects the last copy, the
  reference is dropped on a thread attached to Python, never in the collector itself.
  `inspect/1` shows the object's `repr`.

  ## Examples

      iex> {:ok, deque} = Py.call(:collections, :deque, [[1, 2, 3]])
      iex> inspect(deque)
      "#Py.Object<deque([1, 2, 3])>"
      iex> Py.call(:builtins, :len, [deque])
      {:ok, 3}
  """
  @enforce_keys [:ref]
  defstruct [:ref]

  @type t :: %__MODULE__{ref: reference()}

  @doc """
  How many handles are alive in this VM: created and not yet released after garbage
  collection. Useful to check that code does not keep Python objects alive.

  ## Examples

      iex> is_integer(Py.Object.live_count())
      true
  """
  @spec live_count() :: non_neg_integer()
  def live_count, do: max(Py.Native.object_count(), 0)

  defimpl Inspect do
    # Inspect runs in Logger and crash reports: it must never wait long. When the
    # object's interpreter is busy or gone, a short note stands in for its repr.
    @timeout 1_000

    def inspect(object, _opts) do
      case Py.repr(object, timeout: @timeout) do
        {:ok, repr} -> "#Py.Object<#{repr}>"
        {:error, reason} -> "#Py.Object<unavailable: #{why(reason)}>"
      end
    end

    defp why(:timeout), do: "busy"
    defp why({:overloaded, _, _}), do: "busy"
    defp why(:stopped), do: "interpreter stopped"

    defp why({:invalid, "this Py.Object cannot be used: its interpreter is gone"}),
      do: "interpreter gone"

    # Handles work only in their own interpreter.
    defp why({:invalid, "a Py.Object from another interpreter" <> _}), do: "subinterpreter"
    defp why(%Py.Error{type: type}), do: "repr raised " <> type
    defp why(other), do: Kernel.inspect(other)
  end
end
