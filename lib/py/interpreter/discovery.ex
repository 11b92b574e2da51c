defmodule Py.Interpreter.Discovery do
  @moduledoc false
  # Finds Python interpreters on this machine: PATH, pyenv, uv, erlang_python's own
  # build cache and common prefixes. Describing each one is Py.Interpreter.Probe's job.

  alias Py.Interpreter.Probe

  @probe_timeout 10_000

  # Interpreter names worth probing; `python3-config` and friends are scripts, not
  # interpreters, and `python3.13t` is the free-threaded build.
  @python_name ~r/\Apython3(\.\d+t?)?\z/

  @spec discover(keyword()) :: [Py.Interpreter.info()]
  def discover(opts \\ []) do
    env = env_lookup(opts)
    timeout = Keyword.get(opts, :timeout, @probe_timeout)

    env
    |> candidate_dirs()
    |> Enum.flat_map(&pythons_in/1)
    # Symlinks such as python3 -> python3.11 need probing only once.
    |> Enum.uniq_by(&Probe.realpath/1)
    |> Task.async_stream(&Probe.describe/1,
      timeout: timeout,
      on_timeout: :kill_task,
      max_concurrency: System.schedulers_online() * 2
    )
    |> Enum.flat_map(fn
      {:ok, {:ok, info}} -> [info]
      _failed_or_timed_out -> []
    end)
    # Different launchers (a pyenv shim, a versioned name) can run the same binary,
    # and `make install` hard-links python3.14t to python3.14.
    |> Enum.uniq_by(&file_identity(&1.real_executable))
    |> Enum.sort_by(&{&1.version_info, &1.free_threaded}, :desc)
  end

  defp candidate_dirs(env) do
    home = present(env.("HOME")) || System.user_home() || "/"
    pyenv = present(env.("PYENV_ROOT")) || Path.join(home, ".pyenv")
    uv = present(env.("UV_PYTHON_INSTALL_DIR")) || Path.join(home, ".local/share/uv/python")
    cache = present(env.("ERLANG_PYTHON_CACHE")) || Path.join(home, ".cache/erlang_python")

    Enum.uniq(
      path_dirs(env) ++
        Path.wildcard(Path.join(pyenv, "versions/*/bin")) ++
        Path.wildcard(Path.join(uv, "*/bin")) ++
        Path.wildcard(Path.join(cache, "python/*/bin")) ++
        ["/usr/bin", "/usr/local/bin"] ++
        Path.wildcard("/opt/python*/bin") ++ ["/opt/homebrew/bin"]
    )
  end

  defp pythons_in(dir) do
    case File.ls(dir) do
      {:ok, names} ->
        for name <- Enum.sort(names),
            Regex.match?(@python_name, name),
            path = Path.join(dir, name),
            Probe.check_executable(path) == :ok,
            do: path

      {:error, _} ->
        []
    end
  end

  defp file_identity(path) do
    case File.stat(path) do
      {:ok, %File.Stat{inode: inode, major_device: major, minor_device: minor}} when inode > 0 ->
        {major, minor, inode}

      _ ->
        path
    end
  end

  def env_lookup(opts) do
    case Keyword.fetch(opts, :env) do
      {:ok, env} when is_map(env) -> &Map.get(env, &1)
      :error -> &System.get_env/1
    end
  end

  defp path_dirs(env) do
    separator = if match?({:win32, _}, :os.type()), do: ";", else: ":"

    (env.("PATH") || "")
    |> String.split(separator, trim: true)
  end

  # Searches the (possibly injected) PATH rather than the OS one, so tests and
  # callers with a custom environment get the same answer select/1 would give.
  def find_on_path(name, env) do
    Enum.find_value(path_dirs(env), fn dir ->
      candidate = Path.expand(name, dir)
      if Probe.check_executable(candidate) == :ok, do: candidate
    end)
  end

  def present(nil), do: nil
  def present(""), do: nil
  def present(value) when is_binary(value), do: value
  # config files may hold a charlist path
  def present(value) when is_list(value), do: present(List.to_string(value))
end
