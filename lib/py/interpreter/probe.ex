defmodule Py.Interpreter.Probe do
  @moduledoc false
  # Runs an interpreter once with a small script and describes it: version, ABI,
  # free-threading, where its shared libpython and headers are.

  import Bitwise, only: [band: 2]
  import Py.Interpreter.Discovery, only: [present: 1]

  # Printed as key=value lines so no JSON library is needed on our side. Written to
  # run on any Python still around (2.7 included) so old versions can be described
  # and then rejected by check/1 with a helpful message.
  @probe """
  import os, sys, sysconfig
  def p(key, value):
      sys.stdout.write("%s=%s\\n" % (key, "" if value is None else value))
  cv = sysconfig.get_config_var
  p("probe", "erlang_python")
  p("executable", sys.executable)
  p("real_executable", os.path.realpath(sys.executable))
  p("version", sys.version.split()[0])
  p("version_info", "%d.%d.%d" % tuple(sys.version_info[:3]))
  p("gil_disabled", cv("Py_GIL_DISABLED"))
  p("enable_shared", cv("Py_ENABLE_SHARED"))
  p("ldlibrary", cv("LDLIBRARY"))
  p("instsoname", cv("INSTSONAME"))
  p("libdir", cv("LIBDIR"))
  p("libpl", cv("LIBPL"))
  p("multiarch", cv("MULTIARCH"))
  p("framework_prefix", cv("PYTHONFRAMEWORKPREFIX"))
  p("include", sysconfig.get_path("include"))
  p("prefix", sys.prefix)
  p("base_prefix", getattr(sys, "base_prefix", sys.prefix))
  p("platform", sysconfig.get_platform())
  """

  @doc false
  @spec describe(Path.t()) :: {:ok, Py.Interpreter.info()} | {:error, String.t()}
  def describe(path) do
    path = resolve_command(path)

    with :ok <- check_executable(path),
         {:ok, output} <- run_probe(path),
         {:ok, fields} <- parse_probe(path, output) do
      build_info(path, fields)
    end
  end

  # A bare name is what people type ("python3", "python3.13"); Path.expand would
  # wrongly turn it into a file in the cwd.
  defp resolve_command(path) do
    if Path.basename(path) == path and not File.exists?(path) do
      System.find_executable(path) || Path.expand(path)
    else
      Path.expand(path)
    end
  end

  @doc false
  def check_executable(path) do
    case File.stat(path) do
      {:ok, %File.Stat{type: :directory}} ->
        {:error, "#{path} is a directory, not a Python interpreter"}

      {:ok, %File.Stat{mode: mode}} ->
        if executable_mode?(mode),
          do: :ok,
          else: {:error, "#{path} is not executable (chmod +x it or pick another interpreter)"}

      {:error, :enoent} ->
        {:error, "#{path} does not exist"}

      {:error, reason} ->
        {:error, "cannot access #{path}: #{:file.format_error(reason)}"}
    end
  end

  # Windows has no execute bits; there the probe itself tells whether it runs.
  defp executable_mode?(mode) do
    match?({:win32, _}, :os.type()) or band(mode, 0o111) != 0
  end

  defp run_probe(path) do
    case System.cmd(path, ["-c", @probe], stderr_to_stdout: true) do
      {output, 0} ->
        {:ok, output}

      {output, status} ->
        {:error, "#{path} exited with status #{status}: #{excerpt(output)}"}
    end
  rescue
    # The file can vanish or lose its permissions between the check and the run.
    error -> {:error, "cannot run #{path}: #{Exception.message(error)}"}
  end

  defp parse_probe(path, output) do
    # stderr is merged into stdout, so unrelated lines (warnings) are skipped.
    fields =
      for line <- String.split(output, ["\r\n", "\n"]),
          [key, value] <- [String.split(line, "=", parts: 2)],
          into: %{},
          do: {key, value}

    if fields["probe"] == "erlang_python" do
      {:ok, fields}
    else
      {:error,
       "#{path} ran but does not look like a Python interpreter (output: #{excerpt(output)})"}
    end
  end

  defp build_info(path, fields) do
    with {:ok, {major, minor, _} = version_info} <- parse_version(path, fields["version_info"]) do
      free_threaded = fields["gil_disabled"] == "1"
      enable_shared = fields["enable_shared"] == "1"
      # A static build may still have a libpython lying around; it is not what it runs.
      libpython = if enable_shared, do: find_libpython(fields)
      include_dir = present(fields["include"])
      prefix = fields["prefix"] || ""
      base_prefix = present(fields["base_prefix"]) || prefix

      {:ok,
       %{
         path: path,
         executable: fields["executable"] || path,
         real_executable: present(fields["real_executable"]) || path,
         version: fields["version"] || "#{major}.#{minor}",
         version_info: version_info,
         free_threaded: free_threaded,
         abi_tag: "cp#{major}#{minor}" <> if(free_threaded, do: "t", else: ""),
         enable_shared: enable_shared,
         shared: libpython != nil,
         libpython: libpython,
         libdir: present(fields["libdir"]),
         include_dir: include_dir,
         headers: include_dir != nil and File.regular?(Path.join(include_dir, "Python.h")),
         prefix: prefix,
         base_prefix: base_prefix,
         venv: prefix != base_prefix,
         platform: fields["platform"] || ""
       }}
    end
  end

  defp parse_version(path, text) do
    with true <- is_binary(text),
         [major, minor, micro] <- String.split(text, "."),
         {major, ""} <- Integer.parse(major),
         {minor, ""} <- Integer.parse(minor),
         {micro, ""} <- Integer.parse(micro) do
      {:ok, {major, minor, micro}}
    else
      _ -> {:error, "#{path} reported an unreadable version: #{inspect(text)}"}
    end
  end

  # LIBDIR is where `make install` put the library, but relocatable builds (uv's,
  # python-build-standalone) keep the build machine's LIBDIR, so look next to the
  # real prefix too. LDLIBRARY (libpython3.X.so) is what the linker wants; the
  # versioned INSTSONAME alone still proves the build is shared.
  defp find_libpython(fields) do
    names = Enum.flat_map(["ldlibrary", "instsoname"], &List.wrap(present(fields[&1])))
    libdir = present(fields["libdir"])
    multiarch = present(fields["multiarch"])

    dirs =
      [
        libdir,
        libdir && multiarch && Path.join(libdir, multiarch),
        present(fields["libpl"]),
        present(fields["base_prefix"]) && Path.join(fields["base_prefix"], "lib"),
        present(fields["framework_prefix"])
      ]
      |> Enum.reject(&(&1 in [nil, false]))

    Enum.find_value(names, fn name ->
      Enum.find_value(dirs, fn dir ->
        candidate = Path.expand(name, dir)
        if File.regular?(candidate), do: candidate
      end)
    end)
  end

  defp excerpt(output) do
    output = String.trim(output)
    output = if output == "", do: "(no output)", else: output

    if String.length(output) > 500, do: String.slice(output, 0, 500) <> "...", else: output
  end

  # Elixir has no realpath; resolve symlinks one path component at a time.
  @doc false
  def realpath(path), do: resolve_links(Path.split(Path.expand(path)), "", 0)

  defp resolve_links([], resolved, _hops), do: resolved

  defp resolve_links([part | rest], resolved, hops) do
    current = if resolved == "", do: part, else: Path.join(resolved, part)

    case File.read_link(current) do
      # Guard against symlink loops, as the OS does with ELOOP.
      {:ok, target} when hops < 40 ->
        absolute = Path.expand(target, Path.dirname(current))
        resolve_links(Path.split(absolute) ++ rest, "", hops + 1)

      _ ->
        resolve_links(rest, current, hops)
    end
  end
end
