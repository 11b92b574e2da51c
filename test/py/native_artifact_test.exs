defmodule Py.Native.ArtifactTest do
  use ExUnit.Case, async: true
  doctest Py.Native.Artifact

  alias Py.Native.Artifact

  @priv Path.join(File.cwd!(), "priv/native")

  setup do
    dir = Path.join(System.tmp_dir!(), "artifact-test-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    {:ok, info} = Py.runtime_info()
    {:ok, interpreter} = Py.Interpreter.info(info.executable)
    %{dir: dir, interpreter: interpreter, artifact: Path.join(@priv, Artifact.name(interpreter))}
  end

  test "names carry crate version, NIF version, target and ABI" do
    a = Artifact.name(%{abi_tag: "cp311"}, nif_version: "2.16", target: "x86_64-pc-linux-gnu")
    b = Artifact.name(%{abi_tag: "cp314t"}, nif_version: "2.16", target: "x86_64-pc-linux-gnu")
    assert a == "erlang_python_nif-v0.1.0-nif-2.16-x86_64-pc-linux-gnu-cp311.so"
    assert a != b
  end

  test "the loaded artifact is listed with its checksum", %{artifact: artifact} do
    manifest = Artifact.read_manifest(Path.join(@priv, "checksums.exs"))
    assert Artifact.verify(artifact, manifest) == :ok
  end

  test "a tampered artifact is refused by the loader", %{dir: dir, artifact: artifact} do
    copy = Path.join(dir, Path.basename(artifact))
    File.cp!(artifact, copy)
    {:ok, sum} = Artifact.checksum(copy)
    Artifact.put_manifest(Path.join(dir, "checksums.exs"), Path.basename(copy), sum)
    File.cp!(Path.join(@priv, "build.exs"), Path.join(dir, "build.exs"))

    # One flipped byte in the middle of the library.
    bytes = File.read!(copy)
    middle = div(byte_size(bytes), 2)
    <<head::binary-size(middle), byte, tail::binary>> = bytes
    File.write!(copy, [head, Bitwise.bxor(byte, 0xFF), tail])

    assert {:error, {:checksum_mismatch, _}} =
             Artifact.verify(copy, Artifact.read_manifest(Path.join(dir, "checksums.exs")))

    assert {:error, message} = Py.Native.load(dir)
    assert message =~ "refusing to load"
    assert message =~ "sha256 does not match"
  end

  test "an artifact missing from the manifest is refused", %{dir: dir, artifact: artifact} do
    File.cp!(artifact, Path.join(dir, Path.basename(artifact)))
    File.cp!(Path.join(@priv, "build.exs"), Path.join(dir, "build.exs"))
    assert {:error, message} = Py.Native.load(dir)
    assert message =~ "not listed"
  end

  test "a cached artifact is used only when its checksum is in the release manifest",
       %{dir: dir, interpreter: interpreter, artifact: artifact} do
    project = Path.join(dir, "project")
    cache = Path.join(dir, "cache")
    File.mkdir_p!(cache)
    name = Path.basename(artifact)
    File.cp!(artifact, Path.join(cache, name))
    {:ok, sum} = Artifact.checksum(artifact)
    File.mkdir_p!(project)
    Artifact.put_manifest(Artifact.release_manifest(project), name, sum)

    assert {:ok, :installed, installed} =
             Artifact.ensure(interpreter, project_dir: project, cache_dir: cache)

    assert File.read!(installed) == File.read!(artifact)

    assert Artifact.verify(installed, Artifact.read_manifest(Artifact.local_manifest(project))) ==
             :ok

    # Present and verified now: nothing more to do.
    assert {:ok, :unchanged, ^installed} =
             Artifact.ensure(interpreter, project_dir: project, cache_dir: cache)

    # A tampered cache entry is not installed; with no sources to build, it fails.
    File.rm!(installed)
    File.write!(Path.join(cache, name), "tampered")

    ExUnit.CaptureIO.capture_io(fn ->
      assert {:error, message} =
               Artifact.ensure(interpreter, project_dir: project, cache_dir: cache)

      assert message =~ "cargo build failed"
    end)

    refute File.exists?(installed)
  end

  test "an unchanged tree does not run cargo", %{interpreter: interpreter, artifact: artifact} do
    assert {:ok, :unchanged, ^artifact} = Artifact.ensure(interpreter)
  end

  test "a copy of the checkout elsewhere keeps its artifact up to date",
       %{dir: dir, interpreter: interpreter, artifact: artifact} do
    assert Artifact.up_to_date?(interpreter)
    copy = Path.join(dir, "moved")
    native = "native/erlang_python_nif"

    for entry <- ~w(Cargo.toml Cargo.lock build.rs .cargo src) do
      File.mkdir_p!(Path.join(copy, native))
      File.cp_r!(Path.join([File.cwd!(), native, entry]), Path.join([copy, native, entry]))
    end

    moved = Path.join(Artifact.priv_dir(copy), Path.basename(artifact))
    File.mkdir_p!(Path.dirname(moved))
    File.cp!(artifact, moved)
    File.cp!(artifact <> ".fingerprint", moved <> ".fingerprint")
    assert Artifact.up_to_date?(interpreter, copy)

    # A changed source is still noticed in the copy.
    File.write!(Path.join([copy, native, "build.rs"]), "// changed\n", [:append])
    refute Artifact.up_to_date?(interpreter, copy)
  end

  test "a NIF recorded for an interpreter this machine lacks is refused with the fix",
       %{dir: dir, artifact: artifact} do
    name = Path.basename(artifact)
    File.cp!(artifact, Path.join(dir, name))
    {:ok, sum} = Artifact.checksum(artifact)
    Artifact.put_manifest(Path.join(dir, "checksums.exs"), name, sum)
    gone = "/nonexistent/build-machine/bin/python3"
    entry = %{artifact: name, executable: gone, abi: "cp311"}
    record = %{selected: gone, artifacts: %{gone => entry}}
    File.write!(Path.join(dir, "build.exs"), inspect(record))

    assert {:error, message} = Py.Native.load(dir, nil)
    assert message =~ "was built for #{gone} (cp311), which is not on this machine"
    assert message =~ "ERLANG_PYTHON="
    assert message =~ "config/runtime.exs"
  end

  test "a libpython the loader cannot find gets a hint naming its directory" do
    describe = fn "/opt/py/bin/python3" -> {:ok, %{libdir: "/opt/py/lib"}} end
    text = "libpython3.13.so.1.0: cannot open shared object file: No such file or directory"
    message = Py.Native.load_error("/rel/nif.so", text, "/opt/py/bin/python3", describe)
    assert message =~ "cannot load /rel/nif.so: #{text}"
    assert message =~ "LD_LIBRARY_PATH=/opt/py/lib"
    assert message =~ "rel/env.sh.eex"

    other = Py.Native.load_error("/rel/nif.so", "bad ELF header", "/opt/py/bin/python3", describe)
    assert other == "cannot load /rel/nif.so: bad ELF header"
  end
end

defmodule Py.Native.ArtifactBuildTest do
  # Runs cargo (incremental: seconds when nothing changed).
  use ExUnit.Case
  @moduletag :slow
  @moduletag timeout: 600_000

  alias Py.Native.Artifact

  test "ERLANG_PYTHON_BUILD=1 makes the compiler build from source" do
    {:ok, info} = Py.runtime_info()
    {:ok, interpreter} = Py.Interpreter.info(info.executable)
    previous = System.get_env("ERLANG_PYTHON")
    System.put_env("ERLANG_PYTHON", info.executable)
    System.put_env("ERLANG_PYTHON_BUILD", "1")
    Mix.shell(Mix.Shell.IO)

    on_exit(fn ->
      if previous,
        do: System.put_env("ERLANG_PYTHON", previous),
        else: System.delete_env("ERLANG_PYTHON")
    end)

    try do
      output =
        ExUnit.CaptureIO.capture_io(fn ->
          assert {:ok, []} = Mix.Tasks.Compile.ErlangPythonNif.run([])
        end)

      assert output =~ "built #{Artifact.name(interpreter)}"
    after
      System.delete_env("ERLANG_PYTHON_BUILD")
    end

    path = Path.join("priv/native", Artifact.name(interpreter))
    assert Artifact.verify(path, Artifact.read_manifest(Artifact.local_manifest())) == :ok
    # Without the switch the same tree is up to date again.
    assert {:noop, []} = Mix.Tasks.Compile.ErlangPythonNif.run([])
  end
end
