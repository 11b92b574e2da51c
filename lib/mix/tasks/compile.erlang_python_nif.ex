defmodule Mix.Tasks.Compile.ErlangPythonNif do
  @moduledoc """
  Builds the erlang_python NIF for the selected Python interpreter.

  Listed in the project's `compilers:`, so `mix compile` runs it after the Elixir
  sources. It selects the interpreter as `Py.Interpreter.select/1` describes, then
  makes sure `priv/native/` holds a verified artifact for it (see
  `Py.Native.Artifact`): an unchanged tree does not run cargo, and an artifact built
  earlier for another interpreter is reused when switching back.

  Set `ERLANG_PYTHON_BUILD=1` (or pass `--force`) to always build from source, and
  `ERLANG_PYTHON_VERBOSE=1` to see cargo's progress.
  """
  use Mix.Task.Compiler

  @shortdoc "Builds the erlang_python NIF for the selected Python"

  @impl true
  def run(args) do
    {opts, _rest, _invalid} = OptionParser.parse(args, switches: [force: :boolean])
    force? = opts[:force] == true or System.get_env("ERLANG_PYTHON_BUILD") == "1"

    with {:ok, info} <- Py.Interpreter.select(),
         :ok <- Py.Interpreter.check(info) do
      build(info, force?)
    else
      {:error, message} ->
        # Warn rather than fail: `mix py.python --use PATH` must stay runnable to fix it.
        Mix.shell().error("""
        erlang_python: the NIF was not built.
        #{message}
        Run `mix py.python` to see the interpreters found on this machine.
        """)

        {:noop, []}
    end
  end

  defp build(info, force?) do
    verbose? = System.get_env("ERLANG_PYTHON_VERBOSE") == "1"

    if force?, do: Mix.shell().info("Building erlang_python NIF for #{info.executable}")

    case Py.Native.Artifact.ensure(info, force: force?, verbose: verbose?) do
      {:ok, :unchanged, _path} ->
        {:noop, []}

      {:ok, how, path} ->
        Mix.shell().info("erlang_python: #{how} #{Path.basename(path)} (Python #{info.version})")
        {:ok, []}

      {:error, message} ->
        Mix.raise("erlang_python: " <> message)
    end
  end
end
