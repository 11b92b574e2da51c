defmodule Bench.Rerun do
  @moduledoc false
  # `--python PATH`: the interpreter is fixed when the NIF loads, before the script
  # runs, so the bench runs again in a new `mix run` with ERLANG_PYTHON set. That run
  # selects (and, the first time, builds) the NIF for PATH; its output is passed
  # through and its exit status returned.

  @spec run(String.t(), [String.t()], Path.t()) :: non_neg_integer()
  def run(python, argv, script) do
    with {:ok, info} <- Py.Interpreter.info(python),
         :ok <- Py.Interpreter.check(info),
         {:ok, mix} <- mix() do
      IO.puts(:stderr, "# running under #{info.executable} (Python #{info.version})")

      {_, status} =
        System.cmd(mix, ["run", Path.relative_to_cwd(script) | argv],
          env: [{"ERLANG_PYTHON", info.executable}],
          into: IO.stream(:stdio, :line)
        )

      status
    else
      {:error, message} ->
        IO.puts(:stderr, "--python #{python}: #{message}")
        2
    end
  end

  defp mix do
    case System.find_executable("mix") do
      nil -> {:error, "mix is not on PATH"}
      mix -> {:ok, mix}
    end
  end
end
