defmodule Py.Venv.Project do
  @moduledoc false
  # Which venv the application activates when it starts: `config :erlang_python,
  # venv: path` (releases set it in config/runtime.exs), else the project's choice
  # saved by `mix py.venv` in .erlang_python/venv, next to the interpreter choice of
  # `mix py.python --use`. `venv: false` means none.

  @doc false
  @spec choice_file(Path.t()) :: String.t()
  def choice_file(project_dir), do: Py.ProjectChoice.file(project_dir, "venv")

  @doc false
  # Saves `venv` for the project, relative to it when it lies inside, so the
  # project can move.
  @spec persist(Path.t(), Path.t()) :: :ok | {:error, String.t()}
  def persist(venv, project_dir) do
    project_dir = Path.expand(project_dir)
    venv = Path.expand(venv, project_dir)
    stored = if inside?(venv, project_dir), do: Path.relative_to(venv, project_dir), else: venv
    Py.ProjectChoice.write(choice_file(project_dir), stored)
  end

  @doc false
  @spec persisted(Path.t()) :: String.t() | nil
  def persisted(project_dir) do
    case Py.ProjectChoice.read(choice_file(project_dir)) do
      nil -> nil
      venv -> Path.expand(venv, Path.expand(project_dir))
    end
  end

  @doc false
  @spec forget(Path.t()) :: :ok | {:error, String.t()}
  def forget(project_dir), do: Py.ProjectChoice.remove(choice_file(project_dir))

  @doc false
  # The venv to activate at start and where the choice came from.
  @spec configured(Path.t()) :: {:config | :project, String.t()} | nil
  def configured(project_dir \\ File.cwd!()) do
    case Application.fetch_env(:erlang_python, :venv) do
      {:ok, false} -> nil
      {:ok, path} when is_binary(path) or (is_list(path) and path != []) -> {:config, path}
      _unset -> if venv = persisted(project_dir), do: {:project, venv}
    end
  end

  @doc false
  # Run by the application once its pools are up.
  @spec activate_at_start(Path.t()) :: :ok | {:error, String.t()}
  def activate_at_start(project_dir \\ File.cwd!()) do
    case configured(project_dir) do
      nil ->
        :ok

      {source, venv} ->
        case Py.Venv.activate(venv) do
          {:ok, _info} ->
            :ok

          {:error, reason} ->
            {:error,
             "cannot activate the virtualenv #{venv} (#{origin(source)}): " <>
               Py.Venv.format_error(reason)}
        end
    end
  end

  defp origin(:config), do: "from config :erlang_python, venv: ..."

  defp origin(:project),
    do:
      "saved by `mix py.venv` in .erlang_python/venv; fix it with `mix py.venv` or `mix py.venv --reset`"

  defp inside?(path, dir), do: String.starts_with?(path, String.trim_trailing(dir, "/") <> "/")
end
