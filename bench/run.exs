# The benchmarks: `mix run bench/run.exs [--only NAME[,NAME]] [--python PATH] [--quick]`.
#
# Each workload warms up, runs 3 times and reports the median; parallel speedups are
# medians of interleaved rounds. Prints a table, writes bench/results/latest.json and,
# when matplotlib is importable, draws bench/results/latest.png inside the BEAM. The
# machine may be shared and noisy: compare ratios measured in one run, not absolute
# times across runs. bench/README.md describes every workload.

Code.require_file("load.exs", __DIR__)

argv = System.argv()

case Bench.Options.parse(argv) do
  {:error, message} ->
    IO.puts(:stderr, message)
    System.halt(2)

  {:ok, %{help: true}} ->
    IO.write(Bench.Options.usage())

  {:ok, %{list: true}} ->
    for workload <- Bench.Workloads.all() do
      IO.puts(String.pad_trailing(workload.name, 28) <> workload.unit <> "  " <> workload.doc)
    end

  {:ok, %{python: python}} when is_binary(python) ->
    System.halt(Bench.Rerun.run(python, Bench.Options.without_python(argv), __ENV__.file))

  {:ok, opts} ->
    System.halt(Bench.Runner.main(opts, __DIR__))
end
