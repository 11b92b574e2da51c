defmodule Py.Venv.Installer do
  @moduledoc false
  # Creates virtualenvs and installs into them with uv or pip, run as programs with
  # argument lists (Py.Venv.Command), never through a shell.
  #
  # What was last installed is remembered in a stamp file in the venv: a fingerprint
  # of what was asked for and one of the distributions present afterwards. When both
  # still match, the installer is not run at all; otherwise it runs and skips, as
  # uv and pip do, every requirement already satisfied.

  alias Py.Venv.{Command, Layout}

  @stamp ".erlang_python-installed"

  @type installer :: :pip | {:uv, Path.t()}

  @type spec :: %{
          requirements: [String.t()],
          requirement_files: [Path.t()],
          pyproject: Path.t() | nil,
          extras: [String.t()],
          installer_args: [String.t()]
        }

  @doc false
  # uv when asked for or, unless pip is asked for, when it is on PATH.
  @spec choose(:uv | :pip | nil) :: {:ok, installer()} | {:error, term()}
  def choose(:pip), do: {:ok, :pip}

  def choose(wanted) when wanted in [:uv, nil] do
    case {System.find_executable("uv"), wanted} do
      {nil, :uv} ->
        {:error,
         {:installer_not_found,
          "uv is not on PATH (install it, e.g. `pip install uv`, or use installer: :pip)"}}

      {nil, nil} ->
        {:ok, :pip}

      {uv, _} ->
        {:ok, {:uv, uv}}
    end
  end

  @doc false
  @spec name(installer()) :: :pip | :uv
  def name(:pip), do: :pip
  def name({:uv, _}), do: :uv

  @doc false
  # Makes a virtualenv at `venv` for the interpreter `python`.
  @spec create(Path.t(), Path.t(), installer(), keyword()) :: :ok | {:error, term()}
  def create(venv, python, installer, opts) do
    system = if opts[:system_site_packages], do: ["--system-site-packages"], else: []

    {executable, args} =
      case installer do
        :pip -> {python, ["-m", "venv"] ++ system ++ [venv]}
        {:uv, uv} -> {uv, ["venv", "--python", python] ++ system ++ [venv]}
      end

    progress = opts[:progress]
    progress.("Creating a virtualenv at #{venv} for #{python}")

    case Command.run(executable, args, progress: progress) do
      :ok -> :ok
      {:error, {_status, lines}} -> {:error, {:create_failed, lines}}
    end
  end

  @doc false
  # Installs what `spec` asks for, unless the stamp says it is already there.
  @spec sync(Layout.t(), spec(), installer(), Command.progress()) :: :ok | {:error, term()}
  def sync(layout, spec, installer, progress) do
    case install_args(spec) do
      [] ->
        :ok

      targets ->
        requested = requested_fingerprint(spec)

        if stamp(layout) == {requested, Layout.installed_fingerprint(layout.site_packages)} do
          :ok
        else
          progress.(
            "Installing into #{layout.path} with #{name(installer)}: #{Enum.join(targets, " ")}"
          )

          with :ok <- ensure_pip(layout, installer, progress),
               :ok <- install(layout, installer, spec.installer_args ++ targets, progress) do
            write_stamp(layout, requested)
          end
        end
    end
  end

  @doc false
  # The installer arguments naming what to install, the same for uv and pip.
  @spec install_args(spec()) :: [String.t()]
  def install_args(spec) do
    files = Enum.flat_map(spec.requirement_files, &["-r", &1])

    project =
      case spec.pyproject do
        nil -> []
        dir -> ["-e", dir <> extras(spec.extras)]
      end

    spec.requirements ++ files ++ project
  end

  defp extras([]), do: ""
  defp extras(extras), do: "[" <> Enum.join(extras, ",") <> "]"

  defp install(layout, :pip, args, progress) do
    run(layout.python, ["-m", "pip", "install" | args], progress, :install_failed)
  end

  defp install(layout, {:uv, uv}, args, progress) do
    run(uv, ["pip", "install", "--python", layout.python | args], progress, :install_failed)
  end

  # Venvs made by uv have no pip; pip's own bootstrap adds it.
  defp ensure_pip(layout, :pip, progress) do
    if File.dir?(Path.join(layout.site_packages, "pip")),
      do: :ok,
      else: run(layout.python, ["-m", "ensurepip", "--default-pip"], progress, :install_failed)
  end

  defp ensure_pip(_layout, {:uv, _}, _progress), do: :ok

  defp run(executable, args, progress, tag) do
    case Command.run(executable, args, progress: progress) do
      :ok -> :ok
      {:error, {_status, lines}} -> {:error, {tag, lines}}
    end
  end

  # Requirement files and pyproject.toml are read, so editing one is noticed.
  defp requested_fingerprint(spec) do
    read = fn path ->
      case File.read(path) do
        {:ok, text} -> text
        {:error, reason} -> reason
      end
    end

    Layout.fingerprint(%{
      requirements: spec.requirements,
      files: Enum.map(spec.requirement_files, &{&1, read.(&1)}),
      pyproject:
        spec.pyproject && {spec.pyproject, read.(Path.join(spec.pyproject, "pyproject.toml"))},
      extras: spec.extras,
      installer_args: spec.installer_args
    })
  end

  defp stamp_file(layout), do: Path.join(layout.path, @stamp)

  defp stamp(layout) do
    with {:ok, text} <- File.read(stamp_file(layout)),
         [requested, installed] <- String.split(text, "\n", trim: true) do
      {requested, installed}
    else
      _ -> nil
    end
  end

  defp write_stamp(layout, requested) do
    installed = Layout.installed_fingerprint(layout.site_packages)

    case File.write(stamp_file(layout), requested <> "\n" <> installed <> "\n") do
      :ok ->
        :ok

      {:error, reason} ->
        {:error,
         {:invalid_venv, "cannot write #{stamp_file(layout)}: #{:file.format_error(reason)}"}}
    end
  end
end
