defmodule Py.Native.Artifact do
  @moduledoc """
  Names, finds, verifies and builds the NIF library for one Python interpreter.

  An artifact is named by crate version, NIF version, target and Python ABI tag, e.g.
  `erlang_python_nif-v0.1.0-nif-2.16-x86_64-pc-linux-gnu-cp314t.so`, so builds for
  several interpreters live side by side in `priv/native/` and switching between them
  never rebuilds.

  Every artifact is loaded only if its sha256 is listed in a manifest: the release
  manifest `checksum-erlang_python_nif.exs` for shipped artifacts, or
  `priv/native/checksums.exs`, written when an artifact is built or installed here.
  Lookup order at compile time: `priv/native/`, then the cache
  (`$ERLANG_PYTHON_CACHE/nif` or `~/.cache/erlang_python/nif`), then `cargo build`.
  `ERLANG_PYTHON_BUILD=1` skips the first two and always builds from source.
  """

  @crate_version "0.1.0"
  @release_manifest "checksum-erlang_python_nif.exs"

  @typedoc "A map of artifact file name to `\"sha256:<hex>\"`."
  @type manifest :: %{optional(String.t()) => String.t()}

  @doc """
  The artifact file name for an interpreter described by `Py.Interpreter.info/1`.

  ## Examples

      iex> Py.Native.Artifact.name(%{abi_tag: "cp314t"}, nif_version: "2.16", target: "x86_64-pc-linux-gnu")
      "erlang_python_nif-v0.1.0-nif-2.16-x86_64-pc-linux-gnu-cp314t.so"
  """
  @spec name(%{abi_tag: String.t()}, keyword()) :: String.t()
  def name(%{abi_tag: abi}, opts \\ []) do
    nif =
      Keyword.get_lazy(opts, :nif_version, fn -> to_string(:erlang.system_info(:nif_version)) end)

    target = Keyword.get_lazy(opts, :target, &target/0)
    "erlang_python_nif-v#{@crate_version}-nif-#{nif}-#{target}-#{abi}.so"
  end

  @doc """
  The target this VM runs on, as used in artifact names.

  ## Examples

      iex> is_binary(Py.Native.Artifact.target())
      true
  """
  @spec target() :: String.t()
  def target, do: to_string(:erlang.system_info(:system_architecture))

  @doc """
  The sha256 of a file as `"sha256:<hex>"`.

  ## Examples

      iex> path = Path.join(System.tmp_dir!(), "artifact-doc-#{System.unique_integer([:positive])}")
      iex> File.write!(path, "abc")
      iex> Py.Native.Artifact.checksum(path)
      {:ok, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
  """
  @spec checksum(Path.t()) :: {:ok, String.t()} | {:error, File.posix()}
  def checksum(path) do
    with {:ok, data} <- File.read(path) do
      {:ok, "sha256:" <> Base.encode16(:crypto.hash(:sha256, data), case: :lower)}
    end
  end

  @doc """
  Checks `path` against its entry in `manifest`.

  Returns `{:error, {:not_in_manifest, name}}` for an unknown artifact and
  `{:error, {:checksum_mismatch, name}}` for one whose bytes changed.

  ## Examples

      iex> Py.Native.Artifact.verify("/nonexistent/erlang_python_nif.so", %{})
      {:error, {:not_in_manifest, "erlang_python_nif.so"}}
  """
  @spec verify(Path.t(), manifest()) :: :ok | {:error, term()}
  def verify(path, manifest) do
    file = Path.basename(path)

    with {:ok, expected} <- Map.fetch(manifest, file) |> tag_missing(file),
         {:ok, actual} <- checksum(path) do
      if actual == expected, do: :ok, else: {:error, {:checksum_mismatch, file}}
    end
  end

  defp tag_missing(:error, file), do: {:error, {:not_in_manifest, file}}
  defp tag_missing(found, _file), do: found

  @doc """
  Reads a manifest file; a missing file is an empty manifest.

  ## Examples

      iex> Py.Native.Artifact.read_manifest("/nonexistent/checksums.exs")
      %{}
  """
  @spec read_manifest(Path.t()) :: manifest()
  def read_manifest(path) do
    with {:ok, text} <- File.read(path),
         {:ok, quoted} <- Code.string_to_quoted(text),
         {manifest, _} when is_map(manifest) <- Code.eval_quoted(quoted) do
      manifest
    else
      _ -> %{}
    end
  end

  @doc """
  Adds `name => checksum` to the manifest at `path`, keeping the other entries.

  ## Examples

      iex> path = Path.join(System.tmp_dir!(), "manifest-doc-#{System.unique_integer([:positive])}.exs")
      iex> Py.Native.Artifact.put_manifest(path, "a.so", "sha256:00")
      :ok
      iex> Py.Native.Artifact.read_manifest(path)
      %{"a.so" => "sha256:00"}
  """
  @spec put_manifest(Path.t(), String.t(), String.t()) :: :ok
  def put_manifest(path, name, checksum) do
    manifest = path |> read_manifest() |> Map.put(name, checksum)
    File.mkdir_p!(Path.dirname(path))
    File.write!(path, inspect(manifest, pretty: true, limit: :infinity) <> "\n")
  end

  @doc "The directory holding built artifacts, their manifest and the build record."
  @spec priv_dir(Path.t()) :: Path.t()
  def priv_dir(project_dir \\ File.cwd!()), do: Path.join(project_dir, "priv/native")

  @doc "The shared cache of artifacts outside any project."
  @spec cache_dir() :: Path.t()
  def cache_dir do
    base =
      System.get_env("ERLANG_PYTHON_CACHE") ||
        Path.join(System.user_home!(), ".cache/erlang_python")

    Path.join(base, "nif")
  end

  @doc "The release manifest of shipped artifacts, in the project root."
  @spec release_manifest(Path.t()) :: Path.t()
  def release_manifest(project_dir \\ File.cwd!()), do: Path.join(project_dir, @release_manifest)

  @doc """
  Makes the artifact for `info` available in `priv/native/`, building it only when
  needed. Returns `{:ok, :unchanged | :installed | :built, path}` or an error message.
  """
  @spec ensure(Py.Interpreter.info(), keyword()) ::
          {:ok, :unchanged | :installed | :built, Path.t()} | {:error, String.t()}
  def ensure(info, opts \\ []) do
    project = Keyword.get(opts, :project_dir, File.cwd!())
    force? = Keyword.get(opts, :force, false)
    name = name(info)
    dest = Path.join(priv_dir(project), name)
    local = local_manifest(project)
    release = read_manifest(release_manifest(project))
    fingerprint = fingerprint(info, project)

    result =
      cond do
        force? ->
          build(info, dest, fingerprint, project, opts)

        File.regular?(dest) and
            (File.read(dest <> ".fingerprint") == {:ok, fingerprint} or
               verify(dest, release) == :ok) ->
          {:ok, :unchanged, dest}

        (cached = Path.join(Keyword.get(opts, :cache_dir, cache_dir()), name)) &&
            verify(cached, release) == :ok ->
          File.mkdir_p!(Path.dirname(dest))
          File.cp!(cached, dest)
          {:ok, :installed, dest}

        true ->
          build(info, dest, fingerprint, project, opts)
      end

    with {:ok, _how, path} <- result do
      {:ok, sum} = checksum(path)
      if read_manifest(local)[name] != sum, do: put_manifest(local, name, sum)
      record(project, info, name)
      result
    end
  end

  @doc "The manifest of artifacts installed in `priv/native/`."
  @spec local_manifest(Path.t()) :: Path.t()
  def local_manifest(project_dir \\ File.cwd!()),
    do: Path.join(priv_dir(project_dir), "checksums.exs")

  @doc """
  True when the artifact for `info` in `priv/native/` was built from the current
  sources (or is a verified release artifact).

  ## Examples

      iex> Py.Native.Artifact.up_to_date?(%{abi_tag: "cp0", executable: "/nonexistent", version: "0"})
      false
  """
  @spec up_to_date?(Py.Interpreter.info() | map(), Path.t()) :: boolean()
  def up_to_date?(info, project_dir \\ File.cwd!()) do
    dest = Path.join(priv_dir(project_dir), name(info))

    File.regular?(dest) and
      (File.read(dest <> ".fingerprint") == {:ok, fingerprint(info, project_dir)} or
         verify(dest, read_manifest(release_manifest(project_dir))) == :ok)
  end

  # Everything a build depends on: crate sources, the interpreter, the NIF version.
  # Files are named relative to the project, so a checkout that moved (a copy, a
  # container build context) still recognises the artifact it built.
  defp fingerprint(info, project) do
    project = Path.expand(project)
    native = Path.join(project, "native/erlang_python_nif")

    files =
      [
        Path.join(native, "Cargo.toml"),
        Path.join(native, "Cargo.lock"),
        Path.join(native, "build.rs")
      ] ++
        Path.wildcard(Path.join(native, ".cargo/*")) ++
        Path.wildcard(Path.join(native, "src/**/*.rs"))

    contents =
      for file <- Enum.sort(files),
          File.regular?(file),
          do: [Path.relative_to(file, project), File.read!(file)]

    interpreter = [
      info.executable,
      info.version,
      info.abi_tag,
      to_string(:erlang.system_info(:nif_version)),
      rustflags()
    ]

    Base.encode16(:crypto.hash(:sha256, :erlang.term_to_binary({contents, interpreter})),
      case: :lower
    )
  end

  defp build(info, dest, fingerprint, project, opts) do
    case System.find_executable("cargo") do
      nil ->
        {:error,
         """
         no prebuilt NIF matches #{Path.basename(dest)} and cargo is not installed.
         Install Rust (https://rustup.rs, or `apt-get install cargo` on Debian/Ubuntu)
         and run `mix compile` again.
         """}

      cargo ->
        native = Path.join(project, "native/erlang_python_nif")
        target_dir = Path.join([native, "target", info.abi_tag])
        quiet = if Keyword.get(opts, :verbose, false), do: [], else: ["--quiet"]

        {_, status} =
          System.cmd(
            cargo,
            ["build", "--release", "--manifest-path", Path.join(native, "Cargo.toml")] ++ quiet,
            env: [
              {"PYO3_PYTHON", info.executable},
              {"CARGO_TARGET_DIR", target_dir},
              {"RUSTFLAGS", rustflags()}
            ],
            into: IO.stream(:stdio, :line),
            stderr_to_stdout: true
          )

        built = Path.join([target_dir, "release", library_file()])

        if status == 0 and File.regular?(built) do
          File.mkdir_p!(Path.dirname(dest))
          # Copy to a new inode: a loaded library must never change under the VM.
          tmp = dest <> ".tmp"
          File.cp!(built, tmp)
          File.rename!(tmp, dest)
          File.write!(dest <> ".fingerprint", fingerprint)
          {:ok, :built, dest}
        else
          {:error, "cargo build failed (exit #{status}) for #{info.executable}"}
        end
    end
  end

  # Flags every build of the crate needs. Cargo reads the crate's .cargo/config.toml
  # only when run inside the crate's directory, and RUSTFLAGS (when set) replaces it,
  # so the flags are passed here, after any the user set.
  @required_rustflags "--cfg pyo3_disable_reference_pool"

  defp rustflags do
    case System.get_env("RUSTFLAGS") do
      nil -> @required_rustflags
      "" -> @required_rustflags
      user -> user <> " " <> @required_rustflags
    end
  end

  defp library_file do
    case :os.type() do
      {:unix, :darwin} -> "liberlang_python_nif.dylib"
      _ -> "liberlang_python_nif.so"
    end
  end

  @doc """
  The interpreters built in `priv/native/`: which one was selected at the last
  compile, and the artifact of each.
  """
  @spec build_record(Path.t()) :: %{selected: String.t() | nil, artifacts: map()}
  def build_record(priv_native) do
    path = Path.join(priv_native, "build.exs")

    case read_manifest(path) do
      %{selected: _, artifacts: _} = record -> record
      _ -> %{selected: nil, artifacts: %{}}
    end
  end

  defp record(project, info, name) do
    dir = priv_dir(project)
    record = build_record(dir)
    entry = %{artifact: name, executable: info.executable, abi: info.abi_tag}

    artifacts =
      record.artifacts
      |> Map.put(info.executable, entry)
      |> Map.put(info.path, entry)

    updated = %{selected: info.executable, artifacts: artifacts}

    if updated != record do
      File.write!(
        Path.join(dir, "build.exs"),
        inspect(updated, pretty: true, limit: :infinity) <> "\n"
      )
    end
  end
end
