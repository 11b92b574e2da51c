defmodule Mix.Tasks.Py.Venv do
  @shortdoc "Creates or syncs the project's virtualenv and makes erlang_python use it"

  @moduledoc """
  Creates or syncs the project's virtualenv, then makes it the one erlang_python
  activates when the application starts.

      mix py.venv                          # .venv, with requirements.txt if there is one
      mix py.venv -r requirements.txt      # requirements files (repeatable)
      mix py.venv --pyproject              # install the project's pyproject.toml, editable
      mix py.venv priv/python/.venv        # another path
      mix py.venv --python /usr/bin/python3.12
      mix py.venv -- --no-index --find-links wheels   # arguments for pip/uv after --
      mix py.venv --reset                  # stop activating a venv at start

  Options:

    * `-r FILE`, `--requirement FILE` - a requirements file; may be repeated. Without
      `-r` and `--pyproject`, `requirements.txt` in the project is used when present.
    * `--pyproject` - install the project directory's `pyproject.toml` (editable);
      `--extra NAME` (repeatable) selects extras
    * `--python PATH` - the interpreter that creates the venv; it must be the Python
      version erlang_python is built for (default: that interpreter, see
      `mix py.python`)
    * `--installer uv|pip` - default: uv when it is on `PATH`, else pip
    * `--force` - delete and recreate the venv
    * `--system-site-packages` - let the venv see the interpreter's own packages

  The installer's output is printed as it runs. Running the task again installs only
  what changed. See `Py.Venv.ensure/2`.

  ## How the project uses it

  The venv's path is saved in `.erlang_python/venv` (relative to the project when
  it lies inside), and the application activates that venv when it starts: `Py`
  calls see its packages in the main interpreter and in every subinterpreter.
  `config :erlang_python, venv: path` takes precedence (use it for releases, in
  `config/runtime.exs`, since a release does not run from the project directory),
  and `venv: false` turns activation at start off.

  The task neither compiles the NIF nor starts the application.
  """

  use Mix.Task

  # --project-dir is undocumented: it lets tests work on a temporary project.
  @switches [
    requirement: :keep,
    pyproject: :boolean,
    extra: :keep,
    python: :string,
    installer: :string,
    force: :boolean,
    system_site_packages: :boolean,
    reset: :boolean,
    project_dir: :string
  ]

  @usage "usage: mix py.venv [PATH] [-r FILE] [--pyproject] [--python PATH] " <>
           "[--installer uv|pip] [--force] [--reset] [-- INSTALLER_ARGS]"

  @impl Mix.Task
  def run(args) do
    {args, installer_args} = split_passthrough(args)

    case OptionParser.parse(args, strict: @switches, aliases: [r: :requirement]) do
      {opts, positional, []} when length(positional) <= 1 ->
        project_dir = Path.expand(opts[:project_dir] || File.cwd!())

        if opts[:reset],
          do: reset(project_dir),
          else: sync(List.first(positional, ".venv"), opts, installer_args, project_dir)

      {_opts, [_, _ | _] = positional, []} ->
        Mix.raise("expected at most one venv path, got: #{Enum.join(positional, " ")}; #{@usage}")

      {_opts, _positional, [{switch, _} | _]} ->
        Mix.raise("invalid option #{switch}; #{@usage}")
    end
  end

  # Everything after `--` goes to the installer untouched.
  defp split_passthrough(args) do
    case Enum.split_while(args, &(&1 != "--")) do
      {ours, ["--" | theirs]} -> {ours, theirs}
      {ours, []} -> {ours, []}
    end
  end

  defp sync(path, opts, installer_args, project_dir) do
    venv = Path.expand(path, project_dir)

    venv_opts =
      [
        activate: false,
        progress: fn line -> Mix.shell().info(line) end,
        installer_args: installer_args,
        force: opts[:force] == true,
        system_site_packages: opts[:system_site_packages] == true,
        extras: Keyword.get_values(opts, :extra)
      ] ++
        requirements(opts, project_dir) ++
        optional(:python, opts[:python]) ++
        optional(:installer, installer(opts[:installer]))

    case Py.Venv.ensure(venv, venv_opts) do
      {:ok, info} ->
        case Py.Venv.Project.persist(info.path, project_dir) do
          :ok -> report(info, project_dir)
          {:error, message} -> Mix.raise(message)
        end

      {:error, reason} ->
        Mix.raise("mix py.venv: " <> Py.Venv.format_error(reason))
    end
  end

  defp requirements(opts, project_dir) do
    files = opts |> Keyword.get_values(:requirement) |> Enum.map(&Path.expand(&1, project_dir))
    pyproject = if opts[:pyproject], do: [pyproject: project_dir], else: []
    default = Path.join(project_dir, "requirements.txt")

    cond do
      files != [] ->
        [requirements_file: files] ++ pyproject

      pyproject != [] ->
        pyproject

      File.regular?(default) ->
        Mix.shell().info("Using #{Path.relative_to(default, project_dir)}")
        [requirements_file: [default]]

      true ->
        []
    end
  end

  defp optional(_key, nil), do: []
  defp optional(key, value), do: [{key, value}]

  defp installer(nil), do: nil
  defp installer("uv"), do: :uv
  defp installer("pip"), do: :pip
  defp installer(other), do: Mix.raise("--installer must be uv or pip, got: #{other}")

  defp report(info, project_dir) do
    Mix.shell().info(
      "Virtualenv #{info.path} (Python #{info.version}) is ready: " <>
        "#{map_size(info.packages)} packages installed."
    )

    Mix.shell().info(
      "erlang_python activates it when the application starts " <>
        "(saved in #{Py.Venv.Project.choice_file(project_dir)})."
    )

    case Application.fetch_env(:erlang_python, :venv) do
      {:ok, configured} when configured not in [nil] ->
        Mix.shell().error(
          "Note: config :erlang_python, venv: #{inspect(configured)} takes precedence over it."
        )

      _ ->
        :ok
    end
  end

  defp reset(project_dir) do
    case Py.Venv.Project.forget(project_dir) do
      :ok ->
        Mix.shell().info(
          "erlang_python no longer activates a virtualenv at start for this project " <>
            "(the venv itself is left in place)."
        )

      {:error, message} ->
        Mix.raise(message)
    end
  end
end
