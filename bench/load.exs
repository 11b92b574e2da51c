# Loads the benchmark harness: the helpers in lib/ and every workload in workloads/.
# run.exs and the harness test both start here. Order matters: a file is compiled
# when it is required, after the modules it uses.
bench = __DIR__
require_lib = fn names -> for name <- names, do: Code.require_file("lib/#{name}.exs", bench) end

require_lib.(~w(config cpu measure python_helpers workload))

for file <- bench |> Path.join("workloads/*.exs") |> Path.wildcard() |> Enum.sort() do
  Code.require_file(file)
end

require_lib.(~w(workloads json environment report chart rerun options runner))
