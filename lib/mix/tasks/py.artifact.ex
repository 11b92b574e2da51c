defmodule Mix.Tasks.Py.Artifact do
  @moduledoc """
  Builds a release artifact of the NIF for the selected interpreter and records its
  checksum in the release manifest.

      mix py.artifact [--out DIR] [--cache]

  The artifact is built from source (as with `ERLANG_PYTHON_BUILD=1`), copied to
  `DIR` (default `_build/artifacts`) and its sha256 written to
  `checksum-erlang_python_nif.exs`. Ship both; users then get the artifact from
  `priv/native/` or the cache (`--cache` installs it into
  `~/.cache/erlang_python/nif` here) without cargo, and it loads only if the
  checksum matches. Run once per interpreter (`ERLANG_PYTHON=... mix py.artifact`).
  """
  use Mix.Task

  alias Py.Native.Artifact

  @shortdoc "Builds a NIF release artifact and its manifest entry"

  @impl true
  def run(args) do
    {opts, _} = OptionParser.parse!(args, strict: [out: :string, cache: :boolean])
    out = opts[:out] || Path.join(Mix.Project.build_path(), "../artifacts")

    info =
      with {:ok, info} <- Py.Interpreter.select(),
           :ok <- Py.Interpreter.check(info) do
        info
      else
        {:error, message} -> Mix.raise(message)
      end

    path =
      case Artifact.ensure(info, force: true) do
        {:ok, _how, path} -> path
        {:error, message} -> Mix.raise(message)
      end

    {:ok, sum} = Artifact.checksum(path)
    File.mkdir_p!(out)
    File.cp!(path, Path.join(out, Path.basename(path)))
    Artifact.put_manifest(Artifact.release_manifest(), Path.basename(path), sum)

    if opts[:cache] do
      File.mkdir_p!(Artifact.cache_dir())
      File.cp!(path, Path.join(Artifact.cache_dir(), Path.basename(path)))
    end

    Mix.shell().info("#{Path.join(out, Path.basename(path))}\n#{sum}")
  end
end
