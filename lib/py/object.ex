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

  # Handles are resources of the VM that made them. A copy sent to another node
  # arrives there as a plain reference that names no object (back on its own node it
  # works again while the object lives), so other nodes must refuse it by name rather
  # than let the NIF reject an argument it cannot read.

  @doc false
  # {:invalid, why} when this node cannot use the handle because another node made it.
  @spec foreign(t()) :: {:invalid, String.t()} | nil
  def foreign(%__MODULE__{ref: ref}) when is_reference(ref) and node(ref) != node() do
    {:invalid,
     "a Py.Object of node #{node(ref)} cannot be used on node #{node()}: " <>
       "handles stay on the node that created them"}
  end

  def foreign(%__MODULE__{}), do: nil

  @no_live_handle "a Py.Object without a live handle cannot be converted"

  @doc false
  # A call refused because a handle in it names no object says which node the handle
  # belongs to, when that is the reason. Only failed calls pay for the search.
  @spec explain(result, term()) :: result when result: term()
  def explain({:error, {:invalid, @no_live_handle}} = error, op) do
    case find_foreign(op) do
      nil -> error
      reason -> {:error, reason}
    end
  end

  def explain(result, _op), do: result

  defp find_foreign(%__MODULE__{} = object), do: foreign(object)
  defp find_foreign(tuple) when is_tuple(tuple), do: find_foreign(Tuple.to_list(tuple))
  defp find_foreign(map) when is_map(map), do: find_foreign(Map.to_list(map))
  defp find_foreign([head | tail]), do: find_foreign(head) || find_foreign(tail)
  defp find_foreign(_other), do: nil

  defimpl Inspect do
    # Inspect runs in Logger and crash reports: it must never wait long. When the
    # object's interpreter is busy or gone, a short note stands in for its repr.
    @timeout 1_000

    def inspect(%{ref: ref}, _opts) when is_reference(ref) and node(ref) != node() do
      "#Py.Object<unavailable: a handle of #{node(ref)}>"
    end

    def inspect(object, _opts) do
      case Py.repr(object, timeout: @timeout) do
        {:ok, repr} -> "#Py.Object<#{repr}>"
        {:error, reason} -> "#Py.Object<unavailable: #{why(reason)}>"
      end
    end

    defp why(:timeout), do: "busy"
    defp why({:overloaded, _, _}), do: "busy"
    defp why(:stopped), do: "interpreter stopped"
    defp why({:invalid, "a Py.Object without a live handle" <> _}), do: "released"

    defp why({:invalid, "this Py.Object cannot be used: its interpreter is gone"}),
      do: "interpreter gone"

    # Handles work only in their own interpreter.
    defp why({:invalid, "a Py.Object from another interpreter" <> _}), do: "subinterpreter"
    defp why(%Py.Error{type: type}), do: "repr raised " <> type
    defp why(other), do: Kernel.inspect(other)
  end
end
