defmodule Bench.Options do
  @moduledoc false
  # Command-line options of bench/run.exs.

  @usage """
  usage: mix run bench/run.exs [--only NAME[,NAME...]] [--python PATH] [--quick] [--list]

    --only NAMES   run only these workloads (comma-separated; --list shows them)
    --python PATH  run under that interpreter (re-runs mix with ERLANG_PYTHON=PATH,
                   which builds the NIF for it the first time)
    --quick        small counts, one repetition, no warm-up: proves every workload
                   runs; writes bench/results/quick.json, never latest.json
    --list         print the workloads and what each measures
  """

  @switches [only: :string, python: :string, quick: :boolean, list: :boolean, help: :boolean]

  @spec usage() :: String.t()
  def usage, do: @usage

  @spec parse([String.t()]) :: {:ok, map()} | {:error, String.t()}
  def parse(argv) do
    case OptionParser.parse(argv, strict: @switches) do
      {opts, [], []} -> validate(Map.new(opts))
      {_, [extra | _], _} -> {:error, "unexpected argument #{inspect(extra)}\n" <> @usage}
      {_, _, [{switch, _} | _]} -> {:error, "unknown or invalid option #{switch}\n" <> @usage}
    end
  end

  defp validate(opts) do
    only = opts[:only] && opts[:only] |> String.split(",", trim: true) |> Enum.map(&String.trim/1)
    unknown = (only || []) -- Bench.Workloads.names()

    cond do
      only == [] ->
        {:error, "--only needs at least one workload name"}

      unknown != [] ->
        {:error,
         "unknown workload #{Enum.join(unknown, ", ")}; known: " <>
           Enum.join(Bench.Workloads.names(), ", ")}

      opts[:python] == "" ->
        {:error, "--python needs the path of a Python interpreter"}

      true ->
        {:ok,
         %{
           only: only,
           python: opts[:python],
           quick: Map.get(opts, :quick, false),
           list: Map.get(opts, :list, false),
           help: Map.get(opts, :help, false)
         }}
    end
  end

  @doc false
  # argv without --python and its value: what the re-run under ERLANG_PYTHON gets.
  @spec without_python([String.t()]) :: [String.t()]
  def without_python(["--python", _ | rest]), do: without_python(rest)
  def without_python(["--python=" <> _ | rest]), do: without_python(rest)
  def without_python([arg | rest]), do: [arg | without_python(rest)]
  def without_python([]), do: []
end
