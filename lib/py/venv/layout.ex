defmodule Py.Venv.Layout do
  @moduledoc false
  # What a virtualenv directory holds, read from disk without running anything: its
  # pyvenv.cfg, its interpreter, its site-packages and the distributions installed
  # there; and whether it fits the embedded interpreter (same major.minor, same
  # threading ABI), since C extensions built for another Python crash or refuse to load.

  @type runtime :: %{
          required(:version_info) => {non_neg_integer(), non_neg_integer(), non_neg_integer()},
          required(:free_threaded) => boolean(),
          optional(atom()) => term()
        }

  @type t :: %{
          path: String.t(),
          python: String.t(),
          site_packages: String.t(),
          version: String.t(),
          system_site_packages: boolean()
        }

  @doc false
  def config_file(venv), do: Path.join(venv, "pyvenv.cfg")

  @doc false
  def exists?(venv), do: File.regular?(config_file(venv))

  @doc false
  def windows?, do: match?({:win32, _}, :os.type())

  @doc false
  # The venv's interpreter, as its own scripts name it.
  def python(venv) do
    if windows?(),
      do: Path.join([venv, "Scripts", "python.exe"]),
      else: Path.join([venv, "bin", "python"])
  end

  @doc false
  def bin_dir(venv), do: Path.dirname(python(venv))

  @doc false
  # Reads and checks the venv at `venv` against the embedded interpreter.
  @spec inspect_venv(Path.t(), runtime()) :: {:ok, t()} | {:error, term()}
  def inspect_venv(venv, runtime) do
    with {:ok, config} <- read_config(venv),
         {:ok, version} <- config_version(venv, config),
         :ok <- same_series(venv, version, runtime),
         {:ok, site_packages} <- site_packages(venv, runtime) do
      {:ok,
       %{
         path: venv,
         python: python(venv),
         site_packages: site_packages,
         version: version_string(version),
         system_site_packages:
           String.downcase(Map.get(config, "include-system-site-packages", "false")) == "true"
       }}
    end
  end

  @doc false
  def read_config(venv) do
    case File.read(config_file(venv)) do
      {:ok, text} ->
        config =
          for line <- String.split(text, ["\r\n", "\n"]),
              [key, value] <- [String.split(line, "=", parts: 2)],
              into: %{},
              do: {String.trim(key), String.trim(value)}

        {:ok, config}

      {:error, :enoent} ->
        {:error, {:invalid_venv, "#{venv} is not a virtualenv: it has no pyvenv.cfg"}}

      {:error, reason} ->
        {:error,
         {:invalid_venv, "cannot read #{config_file(venv)}: #{:file.format_error(reason)}"}}
    end
  end

  # `python -m venv` writes `version`, uv writes `version_info`.
  defp config_version(venv, config) do
    text = config["version"] || config["version_info"] || ""

    case Regex.run(~r/\A(\d+)\.(\d+)(?:\.(\d+))?/, text) do
      [_, major, minor | micro] ->
        micro = if micro in [[], [""]], do: 0, else: String.to_integer(hd(micro))
        {:ok, {String.to_integer(major), String.to_integer(minor), micro}}

      nil ->
        {:error, {:invalid_venv, "#{config_file(venv)} does not say which Python it is for"}}
    end
  end

  defp same_series(venv, {major, minor, _} = version, runtime) do
    {want_major, want_minor, _} = runtime.version_info

    if {major, minor} == {want_major, want_minor} do
      :ok
    else
      {:error,
       {:python_mismatch,
        "the virtualenv at #{venv} is for Python #{version_string(version)}, but the " <>
          "embedded interpreter is Python #{series(runtime)}: its packages cannot be " <>
          "loaded. Recreate it for #{series(runtime)} (Py.Venv.ensure(path, force: true) " <>
          "or `mix py.venv --force`)."}}
    end
  end

  @doc false
  # lib/python3.14t/site-packages on a free-threaded build, lib/python3.14/... on a
  # GIL build: the directory name carries the ABI, so it also tells the two apart.
  def site_packages(venv, runtime) do
    if windows?() do
      existing_dir(Path.join([venv, "Lib", "site-packages"]), venv)
    else
      {major, minor, _} = runtime.version_info
      name = "python#{major}.#{minor}" <> if(runtime.free_threaded, do: "t", else: "")

      candidates = for lib <- ["lib", "lib64"], do: Path.join([venv, lib, name, "site-packages"])

      case Enum.find(candidates, &File.dir?/1) do
        nil -> missing_site_packages(venv, name, runtime)
        dir -> {:ok, dir}
      end
    end
  end

  defp existing_dir(dir, venv) do
    if File.dir?(dir),
      do: {:ok, dir},
      else: {:error, {:invalid_venv, "#{venv} has no site-packages directory (#{dir})"}}
  end

  defp missing_site_packages(venv, name, runtime) do
    others =
      Path.wildcard(Path.join([venv, "lib*", "python*", "site-packages"]))
      |> Enum.map(&(&1 |> Path.dirname() |> Path.basename()))
      |> Enum.uniq()

    cond do
      others == [] ->
        {:error, {:invalid_venv, "#{venv} has no site-packages directory (lib/#{name})"}}

      Enum.any?(others, &(String.trim_trailing(&1, "t") == String.trim_trailing(name, "t"))) ->
        {built, wanted} =
          if runtime.free_threaded,
            do: {"the GIL build", "free-threaded"},
            else: {"a free-threaded build", "GIL (regular)"}

        {:error,
         {:python_mismatch,
          "the virtualenv at #{venv} was made by #{built} of Python #{series(runtime)}, but " <>
            "the embedded interpreter is the #{wanted} build: their extension modules differ. " <>
            "Recreate it with the embedded interpreter (force: true)."}}

      true ->
        {:error,
         {:python_mismatch,
          "the virtualenv at #{venv} holds #{Enum.join(others, ", ")}, not #{name}, which " <>
            "the embedded interpreter needs. Recreate it (force: true)."}}
    end
  end

  @doc false
  # The distributions installed in `site_packages`: %{name => version}. Read from
  # their metadata files, so it works before (and without) the interpreter starting.
  @spec packages(Path.t()) :: %{String.t() => String.t()}
  def packages(site_packages) do
    dist_info = Path.wildcard(Path.join(site_packages, "*.dist-info/METADATA"))
    egg_info = Path.wildcard(Path.join(site_packages, "*.egg-info/PKG-INFO"))

    for file <- dist_info ++ egg_info,
        {:ok, name, version} <- [read_metadata(file)],
        into: %{},
        do: {name, version}
  end

  # Name and Version are headers before the first blank line (RFC 822 style).
  defp read_metadata(file) do
    with {:ok, text} <- File.read(file) do
      headers =
        text
        |> String.split(["\r\n", "\n"])
        |> Enum.take_while(&(&1 != ""))
        |> Enum.flat_map(fn line ->
          case String.split(line, ":", parts: 2) do
            [key, value] -> [{String.downcase(key), String.trim(value)}]
            _ -> []
          end
        end)
        |> Map.new()

      case headers do
        %{"name" => name, "version" => version} -> {:ok, name, version}
        _ -> :error
      end
    end
  end

  @doc false
  # What is installed, as a fingerprint: the names of the metadata directories carry
  # each distribution's name and version.
  @spec installed_fingerprint(Path.t()) :: String.t()
  def installed_fingerprint(site_packages) do
    site_packages
    |> Path.join("*.{dist-info,egg-info}")
    |> Path.wildcard()
    |> Enum.map(&Path.basename/1)
    |> Enum.sort()
    |> fingerprint()
  end

  @doc false
  def fingerprint(term) do
    :crypto.hash(:sha256, :erlang.term_to_binary(term)) |> Base.encode16(case: :lower)
  end

  @doc false
  def series(%{version_info: {major, minor, _}, free_threaded: free_threaded}) do
    "#{major}.#{minor}" <> if(free_threaded, do: "t", else: "")
  end

  defp version_string({major, minor, micro}), do: "#{major}.#{minor}.#{micro}"
end
