defmodule Bench.JSON do
  @moduledoc false
  # A JSON encoder for the results file (the project takes no dependencies, and this
  # Elixir has no JSON module). Maps, lists, strings, numbers, booleans, nil, atoms.
  # Floats keep 4 decimals; non-finite numbers cannot occur in BEAM floats.

  @spec encode(term()) :: String.t()
  def encode(term), do: IO.iodata_to_binary([value(term, 0), "\n"])

  defp value(nil, _), do: "null"
  defp value(true, _), do: "true"
  defp value(false, _), do: "false"
  defp value(atom, depth) when is_atom(atom), do: value(Atom.to_string(atom), depth)
  defp value(int, _) when is_integer(int), do: Integer.to_string(int)
  defp value(float, _) when is_float(float), do: :erlang.float_to_binary(float, decimals: 4)
  defp value(string, _) when is_binary(string), do: [?", escape(string), ?"]
  defp value([], _), do: "[]"

  defp value(list, depth) when is_list(list) do
    items = Enum.map(list, &[indent(depth + 1), value(&1, depth + 1)])
    ["[\n", Enum.intersperse(items, ",\n"), ?\n, indent(depth), ?]]
  end

  defp value(map, _) when map == %{}, do: "{}"

  defp value(map, depth) when is_map(map) do
    items =
      map
      |> Enum.map(fn {k, v} -> {to_string(k), v} end)
      |> Enum.sort()
      |> Enum.map(fn {k, v} -> [indent(depth + 1), value(k, 0), ": ", value(v, depth + 1)] end)

    ["{\n", Enum.intersperse(items, ",\n"), ?\n, indent(depth), ?}]
  end

  defp indent(depth), do: String.duplicate("  ", depth)

  defp escape(string) do
    for <<c::utf8 <- string>>, into: "" do
      case c do
        ?" -> "\\\""
        ?\\ -> "\\\\"
        ?\n -> "\\n"
        ?\r -> "\\r"
        ?\t -> "\\t"
        c when c < 0x20 -> "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
        c -> <<c::utf8>>
      end
    end
  end
end
