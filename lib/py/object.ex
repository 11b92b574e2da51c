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
    def inspect(object, _opts) do
      case Py.repr(object) do
        {:ok, repr} ->
          "#Py.Object<#{repr}>"

        # Handles work only in their own interpreter; the default pool cannot see
        # objects made in a subinterpreter.
        {:error, {:invalid, "a Py.Object from another interpreter" <> _}} ->
          "#Py.Object<subinterpreter>"

        {:error, _} ->
          "#Py.Object<?>"
      end
    end
  end
end
