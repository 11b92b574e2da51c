defmodule Py.PropertyTest do
  # PropEr (Debian's erlang-proper) drives random terms through the public API.
  use ExUnit.Case, async: true

  import Py.Test.Identity, only: [round_trip: 1]

  @numtests 300

  setup_all do
    Py.Test.Identity.setup()
  end

  defp check(property) do
    result =
      :proper.quickcheck(property, [
        :quiet,
        {:numtests, @numtests},
        {:max_size, 30},
        {:on_output, &output/2}
      ])

    assert result == true, "counterexample: #{inspect(:proper.counterexample())}"
  end

  defp output(format, args), do: IO.write(:io_lib.format(format, args))

  # Terms that survive Elixir → Python → Elixir unchanged. Atoms are left out (they come
  # back as strings by design) and so are floats as keys (Python's 1 == 1.0 merges them).
  defp exact(0), do: :proper_types.oneof(leaves())

  defp exact(size) do
    smaller = :proper_types.lazy(fn -> exact(div(size, 3)) end)

    :proper_types.frequency([
      {4, :proper_types.oneof(leaves())},
      {1, :proper_types.list(smaller)},
      {1, :proper_types.list(smaller) |> as_tuple()},
      {1, :proper_types.list(:proper_types.tuple([hashable(), smaller])) |> as_map()},
      {1, :proper_types.list(hashable()) |> as_mapset()}
    ])
  end

  defp leaves do
    [
      :proper_types.integer(),
      :proper_types.integer(-(2 ** 200), 2 ** 200),
      :proper_types.float(),
      :proper_types.binary(),
      utf8(),
      :proper_types.exactly(nil),
      :proper_types.boolean()
    ]
  end

  defp hashable do
    :proper_types.oneof([
      :proper_types.integer(),
      utf8(),
      :proper_types.binary(),
      :proper_types.tuple([:proper_types.integer(), utf8()])
    ])
  end

  defp utf8, do: :proper_unicode.utf8()

  # PropEr's ?LET: a generated value mapped through a function.
  defp as_tuple(list_type), do: :proper_types.bind(list_type, &List.to_tuple/1, false)
  defp as_map(pairs_type), do: :proper_types.bind(pairs_type, &Map.new/1, false)
  defp as_mapset(list_type), do: :proper_types.bind(list_type, &MapSet.new/1, false)

  test "the exact subset round-trips unchanged" do
    check(
      :proper.forall(:proper_types.sized(&exact/1), fn term ->
        round_trip(term) == {:ok, term}
      end)
    )
  end

  # Large results travel as external term format: the same terms, wrapped so the
  # reply is large enough to take that path.
  test "the exact subset round-trips unchanged inside large results" do
    check(
      :proper.forall(:proper_types.sized(&exact/1), fn term ->
        many = [nil | List.duplicate(term, 16)]
        round_trip(many) == {:ok, many}
      end)
    )
  end

  # Anything at all, including what cannot be converted: always a tuple back, never a
  # crash, and the next call still works.
  defp anything do
    :proper_types.oneof([
      :proper_types.any(),
      :proper_types.list(:proper_types.any()),
      :proper_types.exactly([1 | 2]),
      :proper_types.exactly(fn -> :ok end),
      :proper_types.exactly(self()),
      :proper_types.exactly(make_ref()),
      :proper_types.bitstring()
    ])
  end

  test "arbitrary terms never crash the VM" do
    check(
      :proper.forall(anything(), fn term ->
        ok_or_error? = match?({:ok, _}, round_trip(term)) or match?({:error, _}, round_trip(term))

        ok_or_error? and Py.eval("1 + 1") == {:ok, 2}
      end)
    )
  end

  test "arbitrary code strings give a result or an error" do
    check(
      :proper.forall(:proper_types.binary(), fn code ->
        case Py.eval(code, %{}, timeout: 5_000) do
          {:ok, _} -> true
          {:error, _} -> true
        end
      end)
    )
  end
end
