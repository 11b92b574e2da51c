defmodule Py.Venv do
  @moduledoc """
  Virtualenvs for the embedded interpreter: create one, install into it, and put it
  into effect in the running Python.

      {:ok, info} = Py.Venv.ensure("/srv/app/.venv", requirements: ["httpx==0.27.2"])
      info.packages["httpx"] #=> "0.27.2"

  `ensure/2` creates the venv when it is missing (`python -m venv`, or `uv venv`),
  installs what is asked for with uv or pip, and activates it. Programs run with
  argument lists, never through a shell, so paths and requirements holding spaces,
  quotes or `;` are safe. Their output is printed line by line as it arrives.

  ## What activation does

  In the main interpreter, in every context of running `:subinterp` pools, and in
  every subinterpreter created afterwards (pools and `Py.Subinterp`):

    * `site.addsitedir` on the venv's site-packages, so its `.pth` files run
      (editable installs, namespace packages) as they would in the venv's own Python;
      the entries go where the interpreter's own site-packages were, after the
      standard library;
    * unless the venv's `pyvenv.cfg` says `include-system-site-packages = true`, the
      interpreter's own site-packages (and the user site) leave `sys.path`, as in a
      real venv;
    * `sys.prefix`, `sys.exec_prefix` and `site.PREFIXES` become the venv's, and
      `sys.executable` its `bin/python`, so `subprocess.run([sys.executable, ...])`
      and multiprocessing's `spawn` start the venv's Python;
    * `VIRTUAL_ENV` is set and the venv's `bin` put first on `PATH` in the OS
      process environment that Python's subprocesses inherit. (The BEAM keeps an
      environment of its own: `System.get_env/1` does not see these.)

  `deactivate/0` undoes all of it. Modules already imported from the venv stay
  imported. Only one venv is active at a time; activating another deactivates the
  first.

  The venv must be for the embedded interpreter's Python: same major.minor, and a
  free-threaded build (3.14t) needs a venv made by a free-threaded Python. Others
  are refused with `{:error, {:python_mismatch, message}}`.

  ## At start

  The application activates, when it starts, the venv named by
  `config :erlang_python, venv: path` (for releases, set it in `config/runtime.exs`),
  or else the one `mix py.venv` saved for the project in `.erlang_python/venv`.
  `venv: false` turns both off. A venv that cannot be activated stops the
  application from starting, with the reason.
  """

  alias Py.Venv.{Activation, Installer, Layout}

  @typedoc "What `info/0` and `ensure/2` return."
  @type info :: %{
          path: String.t(),
          python: String.t(),
          site_packages: String.t(),
          version: String.t(),
          system_site_packages: boolean(),
          packages: %{String.t() => String.t()}
        }

  @typedoc "Why an operation failed."
  @type reason ::
          {:install_failed, [String.t()]}
          | {:create_failed, [String.t()]}
          | {:python_mismatch, String.t()}
          | {:invalid_venv, String.t()}
          | {:invalid, String.t()}
          | {:installer_not_found, String.t()}
          | {:activation_failed, term()}
          | :not_initialized

  @ensure_opts [
    :requirements,
    :requirements_file,
    :pyproject,
    :installer,
    :python,
    :progress,
    extras: [],
    installer_args: [],
    force: false,
    system_site_packages: false,
    activate: true
  ]

  @doc """
  Makes sure a virtualenv exists at `path` with what is asked for installed, then
  activates it (see the module doc).

  Options:

    * `:requirements` - requirement specifiers, as pip takes them:
      `["numpy>=2", "httpx[http2]"]`. A single path instead of a list is a file:
      a `pyproject.toml` (as `:pyproject`) or a requirements file.
    * `:requirements_file` - a requirements file, or a list of them (`-r`)
    * `:pyproject` - a project directory (or its `pyproject.toml`), installed
      editable (`-e`), so its source is used in place
    * `:extras` - extras of the `:pyproject` project: `["dev"]`
    * `:installer` - `:uv` or `:pip` (default: uv when it is on `PATH`, else pip)
    * `:installer_args` - more arguments for `pip install`/`uv pip install`, such as
      `["--no-index", "--find-links", "/wheels"]`
    * `:python` - the interpreter that creates the venv (default: the embedded one);
      it must be the embedded interpreter's Python version
    * `:system_site_packages` - let the venv see the interpreter's own packages
    * `:force` - delete and recreate the venv (only ever a directory holding a
      `pyvenv.cfg`)
    * `:activate` - `false` to create and install only (works before the
      application starts)
    * `:progress` - where installer output goes: `true` (default, printed to the
      caller's group leader line by line), `false`, or a function of one line

  An existing venv is reused: the installer runs only when what is asked for changed
  since the last `ensure/2`, or the venv's packages changed, and then skips what is
  already satisfied. A failed install returns `{:error, {:install_failed,
  last_lines}}` with the installer's last lines of output.

  ## Examples

      {:ok, info} = Py.Venv.ensure(".venv", requirements: ["httpx==0.27.2"], installer: :pip)
      info.python #=> "/srv/app/.venv/bin/python"
      Py.eval("__import__('httpx').__version__") #=> {:ok, "0.27.2"}
  """
  @spec ensure(Path.t(), keyword()) :: {:ok, info()} | {:error, reason()}
  def ensure(path, opts \\ []) do
    opts = Keyword.validate!(opts, @ensure_opts)
    venv = expand!(path)
    progress = progress!(opts[:progress])

    with {:ok, spec} <- spec(opts),
         {:ok, runtime} <- embedded_runtime(opts[:activate]),
         {:ok, installer} <- Installer.choose(installer!(opts[:installer])),
         {:ok, layout} <- prepare(venv, runtime, installer, opts, progress),
         :ok <- Installer.sync(layout, spec, installer, progress) do
      if opts[:activate] do
        with :ok <- Activation.activate(layout), do: info()
      else
        {:ok, describe(layout)}
      end
    end
  end

  @doc """
  Like `ensure/2` but returns the info or raises.

  ## Examples

      Py.Venv.ensure!(".venv", requirements_file: "requirements.txt")
      #=> %{path: "/srv/app/.venv", packages: %{"httpx" => "0.27.2", ...}, ...}
  """
  @spec ensure!(Path.t(), keyword()) :: info()
  def ensure!(path, opts \\ []), do: unwrap!(ensure(path, opts))

  @doc """
  Activates an existing virtualenv (see the module doc) and returns its info.
  Nothing is installed.

  ## Examples

      iex> Py.Venv.activate("/no/such/venv")
      {:error, {:invalid_venv, "/no/such/venv is not a virtualenv: it has no pyvenv.cfg"}}
  """
  @spec activate(Path.t()) :: {:ok, info()} | {:error, reason()}
  def activate(path) do
    venv = expand!(path)

    with {:ok, runtime} <- Py.runtime_info(),
         {:ok, layout} <- Layout.inspect_venv(venv, runtime),
         :ok <- Activation.activate(layout) do
      info()
    end
  end

  @doc """
  Like `activate/1` but returns the info or raises.

  ## Examples

      Py.Venv.activate!("/srv/app/.venv").python
      #=> "/srv/app/.venv/bin/python"
  """
  @spec activate!(Path.t()) :: info()
  def activate!(path), do: unwrap!(activate(path))

  @doc """
  Undoes the activation of the active venv, everywhere it was put into effect.
  Returns `:ok` when none is active too.

  ## Examples

      iex> Py.Venv.deactivate()
      :ok
      iex> Py.Venv.info()
      {:error, :no_venv}
  """
  @spec deactivate() :: :ok | {:error, reason()}
  def deactivate, do: Activation.deactivate()

  @doc """
  The active venv: its path, interpreter, site-packages, Python version, whether it
  sees the system's packages, and the distributions installed in it
  (`%{name => version}`). `{:error, :no_venv}` when none is active.

  ## Examples

      iex> Py.Venv.info()
      {:error, :no_venv}
  """
  @spec info() :: {:ok, info()} | {:error, :no_venv}
  def info do
    case Activation.active() do
      nil -> {:error, :no_venv}
      layout -> {:ok, describe(layout)}
    end
  end

  @doc """
  A message explaining a reason returned by this module.

  ## Examples

      iex> Py.Venv.format_error({:install_failed, ["ERROR: No matching distribution found for nope"]})
      "the installer failed:\\nERROR: No matching distribution found for nope"
  """
  @spec format_error(reason() | term()) :: String.t()
  def format_error({:install_failed, lines}),
    do: Enum.join(["the installer failed:" | lines], "\n")

  def format_error({:create_failed, lines}),
    do: Enum.join(["creating the virtualenv failed:" | lines], "\n")

  def format_error({tag, message})
      when tag in [:python_mismatch, :invalid_venv, :invalid, :installer_not_found] and
             is_binary(message),
      do: message

  def format_error(:not_initialized), do: "erlang_python is not started"
  def format_error(:no_venv), do: "no virtualenv is active"
  def format_error(reason), do: inspect(reason)

  ## Preparing the directory

  defp prepare(venv, runtime, installer, opts, progress) do
    with :ok <- clear_if_forced(venv, opts[:force]),
         :ok <- create_if_missing(venv, runtime, installer, opts, progress) do
      Layout.inspect_venv(venv, runtime)
    end
  end

  defp clear_if_forced(_venv, false), do: :ok

  defp clear_if_forced(venv, true) do
    if Layout.exists?(venv) do
      File.rm_rf!(venv)
      :ok
    else
      refuse_foreign(venv)
    end
  end

  defp create_if_missing(venv, runtime, installer, opts, progress) do
    if Layout.exists?(venv) do
      :ok
    else
      with :ok <- refuse_foreign(venv),
           {:ok, python} <- creating_python(opts[:python], runtime) do
        Installer.create(venv, python, installer,
          system_site_packages: opts[:system_site_packages],
          progress: progress
        )
      end
    end
  end

  # Never create into, or delete, a directory holding something else.
  defp refuse_foreign(venv) do
    case File.ls(venv) do
      {:ok, []} ->
        :ok

      {:ok, _entries} ->
        {:error,
         {:invalid_venv,
          "#{venv} exists and is not a virtualenv (it has no pyvenv.cfg): refusing to " <>
            "create a venv in it or delete it"}}

      {:error, :enoent} ->
        :ok

      {:error, reason} ->
        {:error, {:invalid_venv, "cannot use #{venv}: #{:file.format_error(reason)}"}}
    end
  end

  defp creating_python(nil, runtime), do: {:ok, runtime.executable}

  defp creating_python(python, runtime) do
    case Py.Interpreter.info(expand_command(python)) do
      {:ok, %{version_info: {major, minor, _}, free_threaded: free_threaded} = info} ->
        {want_major, want_minor, _} = runtime.version_info

        if {major, minor} == {want_major, want_minor} and free_threaded == runtime.free_threaded do
          {:ok, info.executable}
        else
          {:error,
           {:python_mismatch,
            "#{python} is Python #{Layout.series(info)}, but the embedded interpreter is " <>
              "Python #{Layout.series(runtime)}: a venv made by it could not be used. " <>
              "Leave out :python to use the embedded interpreter."}}
        end

      {:error, message} ->
        {:error, {:invalid, message}}
    end
  end

  # The interpreter the NIF runs, or, before the application starts (mix py.venv),
  # the one it will be built for.
  defp embedded_runtime(activate?) do
    case Py.runtime_info() do
      {:ok, info} ->
        {:ok, info}

      # Activating needs the running interpreter; creating and installing do not.
      {:error, :not_initialized} when activate? ->
        {:error, :not_initialized}

      {:error, :not_initialized} ->
        case Py.Interpreter.select() do
          {:ok, info} -> {:ok, info}
          {:error, message} -> {:error, {:invalid, message}}
        end
    end
  end

  ## Options

  defp spec(opts) do
    {requirements, files, pyproject} =
      case opts[:requirements] do
        nil -> {[], [], nil}
        reqs -> split_requirements!(reqs)
      end

    files = files ++ Enum.map(List.wrap(opts[:requirements_file]), &expand!/1)
    pyproject = pyproject_dir(opts[:pyproject] && expand!(opts[:pyproject])) || pyproject

    spec = %{
      requirements: requirements,
      requirement_files: files,
      pyproject: pyproject,
      extras: extras!(opts[:extras]),
      installer_args: strings!(opts[:installer_args], :installer_args)
    }

    with :ok <- check_files(spec), do: {:ok, spec}
  end

  # A list is requirement specifiers; a single path (binary or charlist, as Erlang
  # callers pass it) is a requirements file or a pyproject.toml.
  defp split_requirements!(reqs) when is_binary(reqs), do: requirement_path(expand!(reqs))

  defp split_requirements!([first | _] = reqs) when is_integer(first),
    do: requirement_path(expand!(reqs))

  defp split_requirements!(reqs) when is_list(reqs) do
    reqs = strings!(reqs, :requirements)

    for req <- reqs, String.trim(req) == "" or String.starts_with?(req, "-") do
      raise ArgumentError,
            "expected :requirements to be requirement specifiers, got: #{inspect(req)} " <>
              "(pass installer options with :installer_args)"
    end

    {reqs, [], nil}
  end

  defp split_requirements!(other) do
    raise ArgumentError,
          "expected :requirements to be a list of requirements or a file path, got: #{inspect(other)}"
  end

  defp requirement_path(path) do
    if Path.basename(path) == "pyproject.toml",
      do: {[], [], Path.dirname(path)},
      else: {[], [path], nil}
  end

  defp pyproject_dir(nil), do: nil

  defp pyproject_dir(path) do
    if Path.basename(path) == "pyproject.toml", do: Path.dirname(path), else: path
  end

  defp check_files(spec) do
    missing =
      Enum.reject(spec.requirement_files, &File.regular?/1) ++
        if(spec.pyproject && not File.regular?(Path.join(spec.pyproject, "pyproject.toml")),
          do: [Path.join(spec.pyproject, "pyproject.toml")],
          else: []
        )

    case missing do
      [] -> :ok
      [file | _] -> {:error, {:invalid, "#{file} does not exist"}}
    end
  end

  defp extras!(extras) do
    extras = strings!(extras, :extras)

    for extra <- extras, not Regex.match?(~r/\A[A-Za-z0-9][A-Za-z0-9._-]*\z/, extra) do
      raise ArgumentError, "expected :extras to be extra names, got: #{inspect(extra)}"
    end

    extras
  end

  defp strings!(list, key) when is_list(list) do
    Enum.map(list, fn
      item when is_binary(item) ->
        item

      item when is_list(item) ->
        IO.chardata_to_string(item)

      item ->
        raise ArgumentError, "expected #{inspect(key)} to hold strings, got: #{inspect(item)}"
    end)
  end

  defp strings!(other, key) do
    raise ArgumentError,
          "expected #{inspect(key)} to be a list of strings, got: #{inspect(other)}"
  end

  defp installer!(installer) when installer in [nil, :uv, :pip], do: installer

  defp installer!(other) do
    raise ArgumentError, "expected :installer to be :uv or :pip, got: #{inspect(other)}"
  end

  defp progress!(nil), do: progress!(true)
  defp progress!(true), do: &IO.puts/1
  defp progress!(false), do: fn _line -> :ok end
  defp progress!(fun) when is_function(fun, 1), do: fun

  defp progress!(other) do
    raise ArgumentError,
          "expected :progress to be a boolean or a function of one line, got: #{inspect(other)}"
  end

  defp expand!(path) when is_binary(path) or is_list(path) do
    path = IO.chardata_to_string(path)

    if path == "",
      do: raise(ArgumentError, "expected a path, got an empty string"),
      else: Path.expand(path)
  end

  defp expand!(other), do: raise(ArgumentError, "expected a path, got: #{inspect(other)}")

  # A bare command name ("python3.12") is looked up on PATH by Py.Interpreter.info/1.
  defp expand_command(python) when is_binary(python) or is_list(python),
    do: IO.chardata_to_string(python)

  defp expand_command(other),
    do: raise(ArgumentError, "expected :python to be a path, got: #{inspect(other)}")

  defp describe(layout) do
    layout
    |> Map.take([:path, :python, :site_packages, :version, :system_site_packages])
    |> Map.put(:packages, Layout.packages(layout.site_packages))
  end

  defp unwrap!({:ok, value}), do: value
  defp unwrap!({:error, reason}), do: raise(RuntimeError, format_error(reason))
end
