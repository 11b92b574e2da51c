defmodule BenchTest do
  # Runs the benchmark command in --quick mode in a fresh VM: every workload must run
  # and report, and the results file must be valid JSON. Durations are not checked.
  use ExUnit.Case
  @moduletag :slow
  @moduletag timeout: 300_000

  @results "bench/results"

  defp mix_run(args, env \\ []) do
    System.cmd("mix", ["run", "--no-compile", "bench/run.exs" | args],
      env: [{"MIX_ENV", "test"} | env],
      stderr_to_stdout: true
    )
  end

  defp workload_names do
    {output, 0} = mix_run(["--list"])
    for line <- String.split(output, "\n", trim: true), do: hd(String.split(line))
  end

  test "--quick --python runs every workload under that interpreter and reports each" do
    {:ok, info} = Py.runtime_info()
    latest = File.read(Path.join(@results, "latest.json"))
    names = workload_names()
    assert "call_small" in names and "cpu_parallel" in names and "memory_soak" in names

    {output, status} = mix_run(["--quick", "--python", info.executable])
    assert status == 0, output
    assert output =~ "# running under #{info.executable}"

    # One table line (or one per variant) for every workload, none failed.
    for name <- names, do: assert(output =~ ~r/^#{name}\s/m, "no line for #{name}")
    refute output =~ "ERROR"
    assert output =~ ~r/^call_small\s+\d+(\.\d+)?\s+us\/call/m
    assert output =~ ~r/^cpu_parallel\s+(worker|free_threaded)\s+\d+\.\d+\s+speedup/m

    # The quick run writes quick.json, never latest.json.
    assert File.read(Path.join(@results, "latest.json")) == latest
    {:ok, json} = File.read(Path.join(@results, "quick.json"))
    {:ok, parsed} = Py.call(:json, :loads, [json])
    assert parsed["environment"]["python_executable"] == info.executable
    assert parsed["environment"]["quick"] == true
    assert parsed["environment"]["otp"] == System.otp_release()

    measured = for %{"name" => name, "value" => value} <- parsed["results"], do: {name, value}
    assert Enum.sort(Enum.uniq(Enum.map(measured, &elem(&1, 0)))) == Enum.sort(names)
    assert {"call_small", value} = List.keyfind(measured, "call_small", 0)
    assert is_float(value) and value > 0
  end

  test "bad options get a clear error and a non-zero exit" do
    {output, status} = mix_run(["--only", "call_small,no_such_workload"])
    assert status == 2
    assert output =~ "unknown workload no_such_workload"

    {output, status} = mix_run(["--python", "/nonexistent/python3"])
    assert status == 2
    assert output =~ "/nonexistent/python3"
    refute output =~ "call_small"
  end
end
