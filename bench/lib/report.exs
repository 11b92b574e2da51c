defmodule Bench.Report do
  @moduledoc false
  # The results as a text table and as JSON.

  @columns ["name", "variant", "value", "unit", "notes"]

  @doc false
  # The environment line, then one aligned line per row.
  @spec table(map(), [map()]) :: String.t()
  def table(env, rows) do
    cells = Enum.map(rows, &cells/1)

    widths =
      [@columns | cells]
      |> Enum.zip_with(& &1)
      |> Enum.map(fn column -> column |> Enum.map(&String.length/1) |> Enum.max() end)

    lines =
      for row <- [@columns | cells] do
        row
        |> Enum.zip(widths)
        |> Enum.with_index()
        |> Enum.map_join("  ", fn
          # Values line up on the right, text on the left.
          {{cell, width}, 2} -> String.pad_leading(cell, width)
          {{cell, width}, _} -> String.pad_trailing(cell, width)
        end)
        |> String.trim_trailing()
      end

    Enum.join([Bench.Environment.summary(env) | lines], "\n") <> "\n"
  end

  defp cells(row) do
    [row.name, row.variant || "", value(row), row.unit, notes(row)]
  end

  defp value(%{value: nil}), do: "-"
  defp value(%{value: value}), do: number(value)

  defp notes(%{error: error}) when is_binary(error), do: "ERROR " <> error
  defp notes(%{skipped: reason}) when is_binary(reason), do: "skipped: " <> reason

  defp notes(%{extra: extra}) do
    Enum.map_join(extra, "  ", fn {key, value} -> "#{key} #{number(value)}" end)
  end

  @doc false
  # Three significant figures or so, whatever the magnitude.
  @spec number(term()) :: String.t()
  def number(nil), do: "-"
  def number(value) when is_integer(value), do: Integer.to_string(value)
  def number(value) when is_float(value) and abs(value) >= 100, do: number(round(value))
  def number(value) when is_float(value) and abs(value) >= 1, do: float(value, 2)
  def number(value) when is_float(value), do: float(value, 3)
  def number(value), do: to_string(value)

  defp float(value, decimals), do: :erlang.float_to_binary(value, decimals: decimals)

  @doc false
  # The results file: the environment and every row, extra columns as an object.
  @spec json(map(), [map()]) :: String.t()
  def json(env, rows) do
    results =
      for row <- rows do
        row
        |> Map.update!(:extra, &Map.new/1)
        |> Map.reject(fn {key, value} -> key != :value and value == nil end)
      end

    Bench.JSON.encode(%{"environment" => env, "results" => results})
  end
end
