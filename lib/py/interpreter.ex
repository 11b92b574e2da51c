defmodule Py.Interpreter do
  @moduledoc """
  Finds, describes and selects the CPython interpreter that the erlang_python NIF
  is built for and embeds, without needing the NIF or the application running.

  The selection order used by `select/1` is:

    1. the `:python` option, or `config :erlang_python, python: "/path/to/python3"`
    2. the `ERLANG_PYTHON` environment variable
    3. the project's choice saved by `mix py.python --use PATH`
       (`.erlang_python/python` in the project directory)
    4. `$VIRTUAL_ENV/bin/python` when a virtualenv is active
    5. the first `python3` on `PATH`
  """

  @typedoc "What `info/1` learns about one interpreter."
  @type info :: %{
          required(:path) => String.t(),
          required(:executable) => String.t(),
          required(:real_executable) => String.t(),
          required(:version) => String.t(),
          required(:version_info) => {non_neg_integer(), non_neg_integer(), non_neg_integer()},
          required(:free_threaded) => boolean(),
          required(:abi_tag) => String.t(),
          required(:enable_shared) => boolean(),
          required(:shared) => boolean(),
          required(:libpython) => String.t() | nil,
          required(:libdir) => String.t() | nil,
          required(:include_dir) => String.t() | nil,
          required(:headers) => boolean(),
          required(:prefix) => String.t(),
          required(:base_prefix) => String.t(),
          required(:venv) => boolean(),
          required(:platform) => String.t(),
          optional(:source) => source()
        }

  @typedoc "Where `select/1` found the interpreter."
  @type source :: :config | :env | :project | :virtual_env | :path

  @min_version {3, 9}

  @not_found """
  No Python interpreter found. erlang_python needs CPython 3.9 or newer built with a \
  shared libpython. Install one, for example:

      uv python install 3.14
      PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.13
      apt-get install python3-dev   (Debian/Ubuntu)

  then put python3 on PATH, set ERLANG_PYTHON=/path/to/python3, or run \
  `mix py.python --use /path/to/python3`.\
  """

  ## Describing one interpreter

  @doc """
  Runs the interpreter at `path` once and describes it.

  A bare command name such as `"python3"` is looked up on `PATH`; any other path is
  expanded with `Path.expand/1`.

  ## Example

      {:ok, info} = Py.Interpreter.info("python3")
      info.version_info #=> {3, 11, 7}
      info.abi_tag      #=> "cp311"
  """
  @spec info(Path.t()) :: {:ok, info()} | {:error, String.t()}
  def info(path) when is_binary(path), do: Py.Interpreter.Probe.describe(path)

  @doc """
  Checks that a described interpreter can be used to build and load the NIF.

  Returns an error that lists every problem found and how to fix it.

  ## Example

      with {:ok, info} <- Py.Interpreter.info("/usr/bin/python3.8"),
           do: Py.Interpreter.check(info)
      #=> {:error, "Python 3.8.10 at /usr/bin/python3.8 cannot be used by erlang_python:\n  * it is too old: ..."}
  """
  @spec check(info()) :: :ok | {:error, String.t()}
  def check(info) do
    problems =
      [&version_problem/1, &shared_problem/1, &headers_problem/1]
      |> Enum.map(& &1.(info))
      |> Enum.reject(&is_nil/1)

    case problems do
      [] ->
        :ok

      problems ->
        header =
          "Python #{Map.get(info, :version)} at #{Map.get(info, :path)} cannot be used by erlang_python:"

        {:error, Enum.join([header | Enum.map(problems, &("  * " <> &1))], "\n")}
    end
  end

  @doc """
  What keeps a described interpreter from being used, as short tags: `:too_old`
  (older than 3.9), `:no_shared_libpython` and `:no_headers` (`Python.h`, needed to
  build the NIF). `[]` for a usable one; `check/1` explains each in full.

  ## Example

      {:ok, info} = Py.Interpreter.info("/root/.pyenv/versions/3.8.18/bin/python3")
      Py.Interpreter.problems(info) #=> [:too_old]
  """
  @spec problems(info()) :: [:too_old | :no_shared_libpython | :no_headers]
  def problems(info) do
    for {tag, problem} <- [
          too_old: &version_problem/1,
          no_shared_libpython: &shared_problem/1,
          no_headers: &headers_problem/1
        ],
        problem.(info) != nil,
        do: tag
  end

  @doc """
  The interpreter's executable as Python itself reports it (`sys.executable`, what
  the BEAM's Python will report too), followed by the path it was found under when
  that differs, such as a pyenv shim.

  ## Example

      {:ok, info} = Py.Interpreter.select()
      Py.Interpreter.location(info)
      #=> "/root/.pyenv/versions/3.11.7/bin/python3 (found as /root/.pyenv/shims/python3)"
  """
  @spec location(info()) :: String.t()
  def location(%{executable: executable, path: path}) when executable == path, do: executable
  def location(%{executable: executable, path: path}), do: "#{executable} (found as #{path})"

  ## Selecting the interpreter

  @doc """
  Selects the interpreter to build for; the first choice that is set wins.

  A choice that is set but does not work is an error: selection does not silently
  move on to the next one. The returned info carries a `:source` key saying where the
  choice came from. The interpreter is described, not checked; call `check/1` for that.

  Options:

    * `:python` - interpreter path, overrides `config :erlang_python, :python`
    * `:env` - a map used instead of the OS environment for `ERLANG_PYTHON`,
      `VIRTUAL_ENV` and `PATH`
    * `:project_dir` - where `.erlang_python/python` is read (default: the cwd)
    * `:project_file` - the choice file itself, overriding `:project_dir`

  ## Example

      {:ok, info} = Py.Interpreter.select()
      {info.source, info.path} #=> {:env, "/opt/python3.14/bin/python3"}

      Py.Interpreter.select(env: %{"ERLANG_PYTHON" => "/nope/python3"})
      #=> {:error, "ERLANG_PYTHON selects /nope/python3, which does not work: ..."}
  """
  @spec select(keyword()) :: {:ok, info()} | {:error, String.t()}
  def select(opts \\ []) do
    env = env_lookup(opts)

    case first_choice(opts, env) do
      {source, path, origin} ->
        case info(path) do
          {:ok, info} ->
            {:ok, Map.put(info, :source, source)}

          {:error, message} ->
            {:error,
             "#{origin} selects #{path}, which does not work: #{message}#{fix_hint(source)}"}
        end

      nil ->
        {:error, @not_found}
    end
  end

  defp first_choice(opts, env) do
    choices = [
      fn -> config_choice(opts) end,
      fn -> env_choice(env) end,
      fn -> project_choice(opts) end,
      fn -> virtual_env_choice(env) end,
      fn -> path_choice(env) end
    ]

    Enum.find_value(choices, & &1.())
  end

  defp config_choice(opts) do
    case present(opts[:python] || Application.get_env(:erlang_python, :python)) do
      nil -> nil
      path -> {:config, path, "The :python setting (config :erlang_python, python: ...)"}
    end
  end

  defp env_choice(env) do
    case present(env.("ERLANG_PYTHON")) do
      nil -> nil
      path -> {:env, path, "ERLANG_PYTHON"}
    end
  end

  defp project_choice(opts) do
    file = opts[:project_file] || choice_file(opts[:project_dir] || File.cwd!())

    case Py.ProjectChoice.read(file) do
      nil ->
        nil

      path ->
        {:project, path, "The project choice in #{file}"}
    end
  end

  # Each source is undone differently; say how, since it is not falling through.
  defp fix_hint(:config), do: ". Fix the :python setting or remove it."
  defp fix_hint(:env), do: ". Point ERLANG_PYTHON at a working python3 or unset it."

  defp fix_hint(:project),
    do:
      ". Choose another with `mix py.python --use PATH` or drop it with `mix py.python --reset`."

  defp fix_hint(:virtual_env), do: ". Activate a working virtualenv or deactivate it."
  defp fix_hint(:path), do: "."

  defp virtual_env_choice(env) do
    case present(env.("VIRTUAL_ENV")) do
      nil -> nil
      venv -> {:virtual_env, Path.join([venv, "bin", "python"]), "VIRTUAL_ENV=#{venv}"}
    end
  end

  defp path_choice(env) do
    case find_on_path("python3", env) do
      nil -> nil
      path -> {:path, path, "PATH"}
    end
  end

  ## The project's saved choice

  @doc """
  Saves `path` as the project's interpreter, after checking it with `info/1` and
  `check/1`, in `<project_dir>/.erlang_python/python`.

  ## Example

      Py.Interpreter.persist("/root/.pyenv/versions/3.11.7/bin/python3", "/tmp/proj")
      #=> :ok
  """
  @spec persist(Path.t(), Path.t()) :: :ok | {:error, String.t()}
  def persist(path, project_dir \\ File.cwd!()) do
    file = choice_file(project_dir)

    with {:ok, info} <- info(path),
         :ok <- check(info),
         :ok <- Py.ProjectChoice.write(file, info.path) do
      :ok
    end
  end

  @doc """
  Returns the interpreter path saved for the project by `persist/2`, or `nil`.

  ## Example

      Py.Interpreter.persisted("/tmp/proj")
      #=> "/root/.pyenv/versions/3.11.7/bin/python3"
  """
  @spec persisted(Path.t()) :: String.t() | nil
  def persisted(project_dir \\ File.cwd!()) do
    Py.ProjectChoice.read(choice_file(project_dir))
  end

  @doc """
  Removes the project's saved interpreter choice; removing a missing one is fine.

  ## Example

      Py.Interpreter.forget("/tmp/proj")
      #=> :ok
  """
  @spec forget(Path.t()) :: :ok | {:error, String.t()}
  def forget(project_dir \\ File.cwd!()),
    do: Py.ProjectChoice.remove(choice_file(project_dir))

  @doc """
  The file `persist/2` writes for `project_dir`.

  ## Example

      Py.Interpreter.choice_file("/tmp/proj")
      #=> "/tmp/proj/.erlang_python/python"
  """
  @spec choice_file(Path.t()) :: String.t()
  def choice_file(project_dir), do: Py.ProjectChoice.file(project_dir, "python")

  ## Discovering interpreters

  @doc """
  Lists the interpreters found on this machine, one per real executable.

  Looks at `python3`, `python3.N` and `python3.Nt` on `PATH`, in pyenv
  (`$PYENV_ROOT` or `~/.pyenv`), in uv's install dir (`$UV_PYTHON_INSTALL_DIR` or
  `~/.local/share/uv/python`), in erlang_python's own build cache
  (`$ERLANG_PYTHON_CACHE` or `~/.cache/erlang_python`) and in common prefixes.
  Candidates that fail to run or take longer than `:timeout` ms are dropped.

  Options: `:env` (map replacing the OS environment), `:timeout` (default 10000).

  ## Example

      Py.Interpreter.discover() |> Enum.map(& &1.version)
      #=> ["3.13.0", "3.12.1", "3.11.7", "3.11.2"]
  """
  @spec discover(keyword()) :: [info()]
  def discover(opts \\ []), do: Py.Interpreter.Discovery.discover(opts)

  ## Check messages

  defp version_problem(%{version_info: version_info}) do
    {major, minor, _} = version_info

    if {major, minor} < @min_version do
      "it is too old: erlang_python needs CPython 3.9 or newer. Install a newer one " <>
        "(e.g. `uv python install 3.14` or `PYTHON_CONFIGURE_OPTS=--enable-shared " <>
        "pyenv install 3.13`) and select it with `mix py.python --use PATH` or " <>
        "ERLANG_PYTHON=PATH."
    end
  end

  defp shared_problem(%{shared: true}), do: nil

  defp shared_problem(info) do
    {major, minor, _} = info.version_info
    series = "#{major}.#{minor}"

    why =
      if Map.get(info, :enable_shared, false),
        do: "it was built with --enable-shared but its libpython is missing from #{info.libdir}",
        else:
          "it was built without --enable-shared, so there is no libpython to link the NIF against"

    "no shared libpython: #{why}. Fix: rebuild it with --enable-shared, e.g. " <>
      "`PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install #{info.version}`; or use " <>
      "`uv python install #{series}`, whose builds ship a shared libpython; or on " <>
      "Debian/Ubuntu `apt-get install libpython#{series}-dev`."
  end

  defp headers_problem(%{headers: true}), do: nil

  defp headers_problem(info) do
    {major, minor, _} = info.version_info

    "no Python.h in #{info.include_dir || "its include dir"}: the C headers are needed " <>
      "to build the NIF. Fix: on Debian/Ubuntu `apt-get install python3-dev` " <>
      "(or python#{major}.#{minor}-dev); pyenv and uv builds include the headers."
  end

  ## Helpers

  defp env_lookup(opts), do: Py.Interpreter.Discovery.env_lookup(opts)
  defp find_on_path(name, env), do: Py.Interpreter.Discovery.find_on_path(name, env)
  defp present(value), do: Py.Interpreter.Discovery.present(value)
end
