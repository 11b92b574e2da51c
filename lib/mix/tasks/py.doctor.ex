defmodule Mix.Tasks.Py.Doctor do
  @moduledoc """
  Checks that erlang_python can run here and says how to fix what cannot.

      mix py.doctor

  Checks, in order: the selected Python interpreter, its shared libpython and headers,
  cargo, the NIF artifact (built and verified), that the NIF loads and Python starts
  inside the BEAM, and that numpy imports there when it is installed for the
  interpreter. Exits non-zero when a check fails.
  """
  use Mix.Task

  @shortdoc "Checks the Python, Rust and NIF setup of erlang_python"

  @impl true
  def run(args) do
    {_opts, _rest} = OptionParser.parse!(args, strict: [])
    # Compile (which builds the NIF when it can) without starting the application.
    Mix.Task.run("compile")

    results =
      Enum.reduce_while(checks(), %{}, fn {name, check}, context ->
        case check.(context) do
          {:ok, detail, context_update} ->
            report(:ok, name, detail)
            {:cont, Map.merge(context, context_update)}

          {:skip, detail} ->
            report(:skip, name, detail)
            {:cont, context}

          {:error, detail, fix} ->
            report(:error, name, detail, fix)
            {:halt, Map.put(context, :failed, true)}
        end
      end)

    if results[:failed], do: Mix.raise("erlang_python is not ready: see the fix above")
  end

  defp checks do
    [
      {"Python interpreter", &interpreter/1},
      {"shared libpython and headers", &shared/1},
      {"cargo", &cargo/1},
      {"NIF artifact", &artifact/1},
      {"Python inside the BEAM", &runtime/1},
      {"numpy", &numpy/1}
    ]
  end

  defp interpreter(_context) do
    case Py.Interpreter.select() do
      {:ok, info} ->
        threading = if info.free_threaded, do: "free-threaded", else: "GIL"

        {:ok,
         "#{Py.Interpreter.location(info)} (#{info.version}, #{threading}, from #{info.source})",
         %{info: info}}

      {:error, message} ->
        {:error, message,
         "Install Python 3.9+ or point ERLANG_PYTHON at one (`mix py.python` lists them)."}
    end
  end

  defp shared(%{info: info}) do
    case Py.Interpreter.check(info) do
      :ok -> {:ok, info.libpython, %{}}
      {:error, message} -> {:error, "not usable", message}
    end
  end

  defp cargo(_context) do
    case System.find_executable("cargo") do
      nil ->
        {:skip,
         "not found: only prebuilt artifacts can be used (install Rust from https://rustup.rs)"}

      cargo ->
        {version, _} = System.cmd(cargo, ["--version"], stderr_to_stdout: true)
        {:ok, String.trim(version), %{}}
    end
  end

  defp artifact(%{info: info}) do
    priv = Py.Native.Artifact.priv_dir()
    path = Path.join(priv, Py.Native.Artifact.name(info))
    manifest = Py.Native.Artifact.read_manifest(Py.Native.Artifact.local_manifest())

    case Py.Native.Artifact.verify(path, manifest) do
      :ok ->
        {:ok, Path.relative_to_cwd(path), %{}}

      {:error, {:checksum_mismatch, _}} ->
        {:error, "#{Path.basename(path)} does not match its checksum",
         "Rebuild it: ERLANG_PYTHON_BUILD=1 mix compile"}

      {:error, _} ->
        {:error, "no artifact for #{info.abi_tag} in #{Path.relative_to_cwd(priv)}",
         "Run `mix compile` (it needs cargo) and read its output."}
    end
  end

  defp runtime(_context) do
    case Application.ensure_all_started(:erlang_python) do
      {:ok, _} ->
        {:ok, version} = Py.version()
        {:ok, executable} = Py.eval("__import__('sys').executable")

        {:ok, "Python #{hd(String.split(version))}, sys.executable #{executable}",
         %{started: true}}

      {:error, {:erlang_python, {reason, _}}} ->
        {:error, format_reason(reason), "Run `mix compile` again; see the message above."}

      {:error, reason} ->
        {:error, format_reason(reason), "Run `mix compile` again; see the message above."}
    end
  end

  defp numpy(%{info: info}) do
    case System.cmd(info.executable, ["-c", "import numpy; print(numpy.__version__)"],
           stderr_to_stdout: true
         ) do
      {version, 0} ->
        case Py.eval("__import__('numpy').__version__") do
          {:ok, _} ->
            {:ok, "numpy #{String.trim(version)} imports inside the BEAM", %{}}

          {:error, error} ->
            {:error, "numpy is installed but fails inside the BEAM: #{Exception.message(error)}",
             "Check that libpython is shared and that `mix py.doctor` passes for the NIF."}
        end

      _ ->
        {:skip, "not installed for #{info.executable} (#{info.executable} -m pip install numpy)"}
    end
  end

  defp format_reason({:erlang_python, message}) when is_binary(message), do: message
  defp format_reason(message) when is_binary(message), do: message
  defp format_reason(reason), do: inspect(reason)

  defp report(status, name, detail, fix \\ nil) do
    mark = %{ok: "ok  ", skip: "--  ", error: "FAIL"}[status]
    Mix.shell().info("#{mark} #{name}: #{detail}")
    if fix, do: Mix.shell().info("     fix: #{fix}")
  end
end
