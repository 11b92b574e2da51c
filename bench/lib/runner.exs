defmodule Bench.Runner do
  @moduledoc false
  # Runs the selected workloads, then reports: the table on stdout, the JSON file and
  # the chart in bench/results/. Progress goes to stderr as each workload finishes.

  alias Bench.{Chart, Config, Environment, Report, Workload, Workloads}

  @doc false
  # Runs `workloads` and returns their rows. A workload that raises becomes a row with
  # `error:` set, and the rest still run.
  @spec run([Workload.t()], Config.t(), (String.t() -> term())) :: [map()]
  def run(workloads, config, progress \\ &IO.write(:stderr, &1)) do
    Enum.flat_map(workloads, fn workload ->
      progress.("  #{workload.name} ")
      {us, rows} = :timer.tc(fn -> measure(workload, config) end)
      progress.("(#{Float.round(us / 1_000_000, 1)} s)\n")
      rows
    end)
  end

  defp measure(workload, config) do
    Workload.rows(workload, workload.run.(config))
  rescue
    error -> [Workload.failed(workload, Exception.message(error))]
  catch
    kind, reason -> [Workload.failed(workload, Exception.format_banner(kind, reason))]
  end

  @doc false
  # The whole run for bench/run.exs; returns the exit status (1 when a workload failed).
  @spec main(map(), Path.t()) :: 0 | 1
  def main(opts, bench_dir) do
    config = Config.new(opts.quick)
    env = Environment.collect(config)
    IO.puts(:stderr, Environment.summary(env))

    rows = run(Workloads.select(opts.only), config)
    env = Map.put(env, "load_average_end", Environment.load_average())
    IO.write(Report.table(env, rows))

    results = Path.join(bench_dir, "results")
    File.mkdir_p!(results)
    base = Path.join(results, file_name(opts))
    File.write!(base <> ".json", Report.json(env, rows))
    IO.puts("results: #{Path.relative_to_cwd(base)}.json")

    case Chart.draw(env, rows, base <> ".png") do
      {:ok, path} -> IO.puts("chart: #{Path.relative_to_cwd(path)}")
      {:skip, reason} -> IO.puts("chart skipped: #{reason}")
    end

    if Enum.any?(rows, & &1.error), do: 1, else: 0
  end

  # latest.json holds the last full run of every workload; a quick run or a run of
  # some workloads never replaces it.
  defp file_name(%{quick: true}), do: "quick"
  defp file_name(%{only: only}) when is_list(only), do: "partial"
  defp file_name(_), do: "latest"
end
