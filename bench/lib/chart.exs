defmodule Bench.Chart do
  @moduledoc false
  # Draws the results with matplotlib inside the BEAM (lib/chart.py, run through
  # Py.exec and Py.call). matplotlib is not required: without it the chart is skipped
  # and the reason returned.

  @spec draw(map(), [map()], Path.t()) :: {:ok, Path.t()} | {:skip, String.t()}
  def draw(env, rows, path) do
    with :ok <- importable(env),
         :ok <- Py.exec(File.read!(Path.join(__DIR__, "chart.py"))),
         {:ok, drawn} when is_binary(drawn) <-
           Py.call(:__main__, :bench_chart, [Enum.map(rows, &plain/1), title(env), path],
             timeout: 120_000
           ) do
      {:ok, drawn}
    else
      {:ok, nil} -> {:skip, "nothing measured to draw"}
      {:skip, reason} -> {:skip, reason}
      {:error, error} -> {:skip, "matplotlib failed: #{Exception.message(wrap(error))}"}
    end
  end

  defp importable(env) do
    case Py.eval("__import__('matplotlib').__version__") do
      {:ok, _version} ->
        :ok

      {:error, _} ->
        {:skip,
         "matplotlib is not importable by #{env["python_executable"]} " <>
           "(bench/README.md says how to add it)"}
    end
  end

  # Rows as Python reads them: string keys, extra columns as a dict.
  defp plain(row) do
    %{
      "name" => row.name,
      "variant" => row.variant,
      "value" => row.value,
      "unit" => row.unit,
      "extra" => Map.new(row.extra)
    }
  end

  defp title(env) do
    "erlang_python benchmarks: Python #{env["python"]} (#{env["execution_mode"]}), " <>
      "OTP #{env["otp"]}, Elixir #{env["elixir"]}, #{env["cores"]} cores, #{env["date"]}"
  end

  defp wrap(%Py.Error{} = error), do: error
  defp wrap(other), do: RuntimeError.exception(inspect(other))
end
