defmodule Py.InterpreterTest.Helpers do
  @moduledoc false

  # Each test gets its own directory so async tests never share files.
  def tmp_dir! do
    dir =
      Path.join(System.tmp_dir!(), "py_interpreter_test_#{System.unique_integer([:positive])}")

    File.rm_rf!(dir)
    File.mkdir_p!(dir)
    ExUnit.Callbacks.on_exit(fn -> File.rm_rf!(dir) end)
    dir
  end

  def write_executable!(path, contents) do
    File.mkdir_p!(Path.dirname(path))
    File.write!(path, contents)
    File.chmod!(path, 0o755)
    path
  end

  # A real interpreter under another name: select/1 reports the path it chose, so
  # distinct links tell the sources apart while each one still runs.
  def link_python!(path, executable) do
    File.mkdir_p!(Path.dirname(path))
    File.ln_s!(executable, path)
    path
  end

  # A shell script answering the probe like a Python would, to describe builds
  # this machine does not have (free-threaded, static, old).
  def fake_python!(path, overrides \\ %{}) do
    prefix = Path.dirname(Path.dirname(path))

    fields =
      Map.merge(
        %{
          "probe" => "erlang_python",
          "executable" => path,
          "real_executable" => path,
          "version" => "3.14.7",
          "version_info" => "3.14.7",
          "gil_disabled" => "0",
          "enable_shared" => "1",
          "ldlibrary" => "libpython3.14.so",
          "instsoname" => "libpython3.14.so.1.0",
          "libdir" => Path.join(prefix, "lib"),
          "libpl" => "",
          "multiarch" => "",
          "framework_prefix" => "",
          "include" => Path.join(prefix, "include/python3.14"),
          "prefix" => prefix,
          "base_prefix" => prefix,
          "platform" => "linux-x86_64"
        },
        overrides
      )

    lines = Enum.map_join(fields, "", fn {key, value} -> "#{key}=#{value}\n" end)
    write_executable!(path, "#!/bin/sh\ncat <<'EOF'\n" <> lines <> "EOF\n")
  end
end

defmodule Py.InterpreterTest do
  use ExUnit.Case, async: true

  import Py.InterpreterTest.Helpers

  alias Py.Interpreter

  setup_all do
    {:ok, python} = Interpreter.info("python3")
    %{python: python}
  end

  describe "info/1" do
    test "describes the machine's python3", %{python: python} do
      assert python.path == System.find_executable("python3")
      assert python.version =~ ~r/\A\d+\.\d+\.\d+/
      {major, minor, micro} = python.version_info
      assert String.starts_with?(python.version, "#{major}.#{minor}.#{micro}")
      assert {major, minor} >= {3, 9}
      assert python.abi_tag =~ ~r/\Acp3\d+t?\z/
      assert python.abi_tag == "cp#{major}#{minor}" <> if(python.free_threaded, do: "t", else: "")
      assert File.exists?(python.executable)
      assert File.exists?(python.real_executable)
      assert python.platform != ""
      assert python.venv == (python.prefix != python.base_prefix)
    end

    test "finds the shared libpython and headers of the machine's python3", %{python: python} do
      # This machine's python3 is a pyenv 3.11 built with --enable-shared.
      assert python.enable_shared
      assert python.shared
      assert Path.type(python.libpython) == :absolute
      assert File.regular?(python.libpython)
      assert Path.basename(python.libpython) =~ ~r/\Alibpython3\.\d+t?\.(so|dylib)/
      assert python.headers
      assert File.regular?(Path.join(python.include_dir, "Python.h"))
      assert Interpreter.check(python) == :ok
    end

    test "expands the path it is given", %{python: python} do
      dir = tmp_dir!()
      link_python!(Path.join(dir, "bin/python3"), python.executable)
      relative = Path.relative_to_cwd(Path.join(dir, "bin/../bin/python3"))

      assert {:ok, info} = Interpreter.info(relative)
      assert info.path == Path.join(dir, "bin/python3")
    end

    test "describes a free-threaded build with a cp3Nt tag" do
      dir = tmp_dir!()
      python = fake_python!(Path.join(dir, "bin/python3.14t"), %{"gil_disabled" => "1"})
      File.mkdir_p!(Path.join(dir, "lib"))
      File.write!(Path.join(dir, "lib/libpython3.14.so"), "")

      assert {:ok, info} = Interpreter.info(python)
      assert info.free_threaded
      assert info.abi_tag == "cp314t"
      assert info.version_info == {3, 14, 7}
      assert info.shared
      assert info.libpython == Path.join(dir, "lib/libpython3.14.so")
      refute info.headers
    end

    test "reports no shared libpython when the library file is missing" do
      dir = tmp_dir!()
      python = fake_python!(Path.join(dir, "bin/python3"))

      assert {:ok, info} = Interpreter.info(python)
      assert info.enable_shared
      refute info.shared
      assert info.libpython == nil
    end

    test "reports no shared libpython for a static build even if a library exists" do
      dir = tmp_dir!()
      python = fake_python!(Path.join(dir, "bin/python3"), %{"enable_shared" => "0"})
      File.mkdir_p!(Path.join(dir, "lib"))
      File.write!(Path.join(dir, "lib/libpython3.14.so"), "")

      assert {:ok, info} = Interpreter.info(python)
      refute info.enable_shared
      refute info.shared
    end

    test "recognises a virtualenv" do
      dir = tmp_dir!()
      python = fake_python!(Path.join(dir, "bin/python3"), %{"base_prefix" => "/usr"})

      assert {:ok, %{venv: true, base_prefix: "/usr"}} = Interpreter.info(python)
    end

    test "describes interpreters older than 3.9" do
      dir = tmp_dir!()

      python =
        fake_python!(Path.join(dir, "bin/python3"), %{
          "version" => "3.8.18",
          "version_info" => "3.8.18"
        })

      assert {:ok, %{version_info: {3, 8, 18}, abi_tag: "cp38"}} = Interpreter.info(python)
    end

    test "fails for a missing path" do
      assert {:error, message} = Interpreter.info("/nonexistent/bin/python3")
      assert message =~ "/nonexistent/bin/python3 does not exist"
    end

    test "fails for a directory and for a file that is not executable" do
      dir = tmp_dir!()
      file = Path.join(dir, "python3")
      File.write!(file, "")

      assert {:error, message} = Interpreter.info(dir)
      assert message =~ "is a directory"
      assert {:error, message} = Interpreter.info(file)
      assert message =~ "is not executable"
    end

    test "fails for an executable that is not Python" do
      assert {:error, message} = Interpreter.info("/bin/true")
      assert message =~ "does not look like a Python interpreter"
    end

    test "fails with the output of an interpreter that exits with an error" do
      dir = tmp_dir!()

      script =
        write_executable!(Path.join(dir, "python3"), "#!/bin/sh\necho broken >&2\nexit 3\n")

      assert {:error, message} = Interpreter.info(script)
      assert message =~ "exited with status 3"
      assert message =~ "broken"
    end
  end

  describe "check/1" do
    @old %{
      path: "/opt/old/bin/python3",
      version: "3.8.0",
      version_info: {3, 8, 0},
      enable_shared: false,
      shared: false,
      libpython: nil,
      libdir: "/opt/old/lib",
      headers: false,
      include_dir: "/opt/old/include/python3.8"
    }

    test "explains every problem and how to fix it" do
      assert {:error, message} = Interpreter.check(@old)
      assert message =~ "Python 3.8.0 at /opt/old/bin/python3"
      assert message =~ "3.9 or newer"
      assert message =~ "--enable-shared"
      assert message =~ "PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.8.0"
      assert message =~ "uv python install 3.8"
      assert message =~ "libpython3.8-dev"
      assert message =~ "/opt/old/include/python3.8"
      assert message =~ "apt-get install python3-dev"
    end

    test "names only the problems there are" do
      info = %{@old | version: "3.13.1", version_info: {3, 13, 1}, shared: true}

      assert {:error, message} = Interpreter.check(info)
      assert message =~ "python3-dev"
      refute message =~ "too old"
      refute message =~ "shared libpython"
    end

    test "problems/1 tags what check/1 explains" do
      assert Interpreter.problems(@old) == [:too_old, :no_shared_libpython, :no_headers]

      assert Interpreter.problems(%{@old | version_info: {3, 13, 1}, shared: true}) == [
               :no_headers
             ]

      assert Interpreter.problems(%{@old | version_info: {3, 9, 0}, shared: true, headers: true}) ==
               []
    end

    test "location/1 shows the executable and the path it was found under" do
      assert Interpreter.location(%{executable: "/a/python3", path: "/a/python3"}) == "/a/python3"

      assert Interpreter.location(%{executable: "/a/python3", path: "/shims/python3"}) ==
               "/a/python3 (found as /shims/python3)"
    end

    test "says when the build is shared but the library is missing" do
      info = %{@old | version_info: {3, 13, 1}, enable_shared: true, headers: true}

      assert {:error, message} = Interpreter.check(info)
      assert message =~ "libpython is missing from /opt/old/lib"
    end
  end

  describe "select/1" do
    setup %{python: python} do
      dir = tmp_dir!()
      project_file = Path.join(dir, "project/.erlang_python/python")
      project_python = link_python!(Path.join(dir, "project/bin/python3"), python.executable)
      File.mkdir_p!(Path.dirname(project_file))
      File.write!(project_file, project_python <> "\n")

      %{
        config: link_python!(Path.join(dir, "config/python3"), python.executable),
        env_python: link_python!(Path.join(dir, "env/python3"), python.executable),
        project_file: project_file,
        project_python: project_python,
        venv: Path.join(dir, "venv"),
        venv_python: link_python!(Path.join(dir, "venv/bin/python"), python.executable),
        path_dir: Path.join(dir, "path"),
        path_python: link_python!(Path.join(dir, "path/python3"), python.executable),
        missing_file: Path.join(dir, "none/.erlang_python/python")
      }
    end

    test "prefers the :python option over everything", c do
      assert {:ok, info} = Interpreter.select([python: c.config] ++ all_set(c))
      assert {info.source, info.path} == {:config, c.config}
    end

    test "prefers ERLANG_PYTHON over the project choice", c do
      assert {:ok, info} = Interpreter.select(all_set(c))
      assert {info.source, info.path} == {:env, c.env_python}
    end

    test "prefers the project choice over VIRTUAL_ENV", c do
      opts = without_env(all_set(c), "ERLANG_PYTHON")
      assert {:ok, info} = Interpreter.select(opts)
      assert {info.source, info.path} == {:project, c.project_python}
    end

    test "prefers VIRTUAL_ENV over PATH", c do
      opts =
        without_env(all_set(c), "ERLANG_PYTHON") |> Keyword.put(:project_file, c.missing_file)

      assert {:ok, info} = Interpreter.select(opts)
      assert {info.source, info.path} == {:virtual_env, c.venv_python}
    end

    test "falls back to python3 on PATH", c do
      opts = [env: %{"PATH" => c.path_dir}, project_file: c.missing_file]
      assert {:ok, info} = Interpreter.select(opts)
      assert {info.source, info.path} == {:path, c.path_python}
      assert is_boolean(info.shared)
    end

    test "treats an empty ERLANG_PYTHON as unset", c do
      opts = [env: %{"ERLANG_PYTHON" => "", "PATH" => c.path_dir}, project_file: c.missing_file]
      assert {:ok, %{source: :path}} = Interpreter.select(opts)
    end

    test "says how to get a Python when none is found", c do
      assert {:error, message} = Interpreter.select(env: %{}, project_file: c.missing_file)
      assert message =~ "No Python interpreter found"
      assert message =~ "ERLANG_PYTHON"
      assert message =~ "uv python install"
    end

    test "a broken :python option is an error, not a fall through", c do
      opts = [python: "/nonexistent/python3"] ++ all_set(c)
      assert {:error, message} = Interpreter.select(opts)
      assert message =~ "/nonexistent/python3 does not exist"
      assert message =~ ":python"
    end

    test "a broken ERLANG_PYTHON is an error, not a fall through", c do
      opts = put_env(all_set(c), "ERLANG_PYTHON", "/nonexistent/python3")
      assert {:error, message} = Interpreter.select(opts)
      assert message =~ "ERLANG_PYTHON"
      assert message =~ "/nonexistent/python3"
    end

    test "a broken project choice is an error, not a fall through", c do
      File.write!(c.project_file, "/nonexistent/python3\n")
      opts = without_env(all_set(c), "ERLANG_PYTHON")
      assert {:error, message} = Interpreter.select(opts)
      assert message =~ c.project_file
      assert message =~ "mix py.python --reset"
    end

    test "a broken VIRTUAL_ENV is an error, not a fall through", c do
      opts =
        all_set(c)
        |> without_env("ERLANG_PYTHON")
        |> put_env("VIRTUAL_ENV", "/nonexistent/venv")
        |> Keyword.put(:project_file, c.missing_file)

      assert {:error, message} = Interpreter.select(opts)
      assert message =~ "VIRTUAL_ENV=/nonexistent/venv"
      assert message =~ "/nonexistent/venv/bin/python does not exist"
    end

    test "reads the project choice from :project_dir", c do
      project_dir = Path.dirname(Path.dirname(c.project_file))
      assert {:ok, info} = Interpreter.select(env: %{}, project_dir: project_dir)
      assert {info.source, info.path} == {:project, c.project_python}
    end

    defp all_set(c) do
      env = %{"ERLANG_PYTHON" => c.env_python, "VIRTUAL_ENV" => c.venv, "PATH" => c.path_dir}
      [env: env, project_file: c.project_file]
    end

    defp without_env(opts, name), do: Keyword.update!(opts, :env, &Map.delete(&1, name))
    defp put_env(opts, name, value), do: Keyword.update!(opts, :env, &Map.put(&1, name, value))
  end

  describe "persist/2, persisted/1 and forget/1" do
    test "round trip", %{python: python} do
      dir = tmp_dir!()

      assert Interpreter.persisted(dir) == nil
      assert Interpreter.persist(python.executable, dir) == :ok
      assert Interpreter.persisted(dir) == python.executable
      assert File.read!(Path.join(dir, ".erlang_python/python")) == python.executable <> "\n"
      assert Interpreter.choice_file(dir) == Path.join(dir, ".erlang_python/python")

      assert {:ok, %{source: :project, path: path}} =
               Interpreter.select(env: %{}, project_dir: dir)

      assert path == python.executable

      assert Interpreter.forget(dir) == :ok
      assert Interpreter.persisted(dir) == nil
      assert Interpreter.forget(dir) == :ok
    end

    test "refuses an interpreter that does not run" do
      dir = tmp_dir!()

      assert {:error, message} = Interpreter.persist("/nonexistent/python3", dir)
      assert message =~ "does not exist"
      assert Interpreter.persisted(dir) == nil
    end

    test "refuses an interpreter that check/1 rejects" do
      dir = tmp_dir!()
      python = fake_python!(Path.join(dir, "old/bin/python3"), %{"version_info" => "3.8.18"})

      assert {:error, message} = Interpreter.persist(python, dir)
      assert message =~ "3.9 or newer"
      refute File.exists?(Path.join(dir, ".erlang_python"))
    end
  end

  describe "discover/1" do
    test "includes the machine's python3", %{python: python} do
      found = Interpreter.discover()

      assert Enum.any?(found, &(&1.real_executable == python.real_executable))
      assert found == Enum.uniq_by(found, & &1.real_executable)
      refute Enum.any?(found, &String.ends_with?(&1.path, "-config"))
    end

    test "looks in pyenv and skips python3-config", %{python: python} do
      home = tmp_dir!()
      bin = Path.join(home, "pyenv/versions/3.14.7t/bin")
      linked = link_python!(Path.join(bin, "python3"), python.executable)
      free_threaded = fake_python!(Path.join(bin, "python3.14t"), %{"gil_disabled" => "1"})
      fake_python!(Path.join(bin, "python3-config"))
      fake_python!(Path.join(bin, "python3.14-config"))

      env = %{"HOME" => home, "PATH" => "", "PYENV_ROOT" => Path.join(home, "pyenv")}
      paths = Enum.map(Interpreter.discover(env: env), & &1.path)

      assert linked in paths
      assert free_threaded in paths
      refute Enum.any?(paths, &String.ends_with?(&1, "-config"))
    end

    test "looks in uv's and erlang_python's install dirs", %{python: python} do
      home = tmp_dir!()
      uv = link_python!(Path.join(home, "uv/cpython-3.14.7/bin/python3.14"), python.executable)
      cache = fake_python!(Path.join(home, "cache/python/3.14.7/bin/python3.14"))

      env = %{
        "HOME" => home,
        "PATH" => "",
        "UV_PYTHON_INSTALL_DIR" => Path.join(home, "uv"),
        "ERLANG_PYTHON_CACHE" => Path.join(home, "cache")
      }

      paths = Enum.map(Interpreter.discover(env: env), & &1.path)

      assert uv in paths
      assert cache in paths
    end
  end
end

defmodule Mix.Tasks.Py.PythonTest do
  # Mix.shell/0 and the cwd are global, so these tests run alone.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  import Py.InterpreterTest.Helpers

  alias Py.Interpreter

  setup do
    Mix.shell(Mix.Shell.IO)
    {:ok, python} = Interpreter.info("python3")

    # The task reads the real environment; the suite itself may run under
    # ERLANG_PYTHON (CI does), which would outrank the choices tested here.
    previous = System.get_env("ERLANG_PYTHON")
    System.delete_env("ERLANG_PYTHON")
    on_exit(fn -> if previous, do: System.put_env("ERLANG_PYTHON", previous) end)

    %{python: python}
  end

  test "lists interpreters and marks the selected one" do
    {:ok, selected} = Interpreter.select()
    output = capture_io(fn -> Mix.Tasks.Py.Python.run([]) end)

    assert output =~ ~r/PATH\s+VERSION\s+ABI\s+THREADING\s+LIBPYTHON\s+HEADERS\s+USABLE/
    assert [marked] = Regex.scan(~r/^\* (\S+)\s+(\S+)/m, output, capture: :all_but_first)
    assert marked == [selected.executable, selected.version]
    assert output =~ "Selected: #{Interpreter.location(selected)}: Python #{selected.version}"
    assert output =~ ~r/\bgil\b|free-threaded/
  end

  test "marks the interpreters erlang_python cannot use, and says why" do
    dir = tmp_dir!()

    old =
      fake_python!(Path.join(dir, "python3.8"), %{
        "version" => "3.8.18",
        "version_info" => "3.8.18"
      })

    static =
      fake_python!(Path.join(dir, "python3.13"), %{
        "version" => "3.13.1",
        "version_info" => "3.13.1",
        "enable_shared" => "0"
      })

    # Named python3.N, so they are listed but never selected.
    path = System.get_env("PATH")
    System.put_env("PATH", dir <> ":" <> path)

    output =
      try do
        capture_io(fn -> Mix.Tasks.Py.Python.run([]) end)
      after
        System.put_env("PATH", path)
      end

    # (The fakes have no library or headers on disk, so those are reported too.)
    assert output =~ ~r/^  #{Regex.escape(old)}\s+3\.8\.18\s.*\sno: older than 3\.9, /m
    assert output =~ ~r/^  #{Regex.escape(static)}\s+3\.13\.1\s.*\sno: no shared libpython/m
    assert output =~ ~r/^\* \S+\s.*\syes$/m
  end

  test "shows the selected interpreter as mix py.doctor does" do
    {:ok, selected} = Interpreter.select()
    listing = capture_io(fn -> Mix.Tasks.Py.Python.run([]) end)

    # Only the interpreter line matters here; a later check may fail on a machine
    # where the NIF is not built for the selected interpreter.
    doctor =
      capture_io(fn ->
        try do
          Mix.Tasks.Py.Doctor.run([])
        rescue
          Mix.Error -> :failed
        end
      end)

    location = Interpreter.location(selected)
    assert listing =~ "Selected: #{location}:"
    assert doctor =~ "Python interpreter: #{location} (#{selected.version}"
  end

  test "--use saves the choice and --reset forgets it", %{python: python} do
    dir = tmp_dir!()

    output = capture_io(fn -> run(["--use", python.executable], dir) end)
    assert output =~ "Saved #{python.executable}"
    assert output =~ "next `mix compile` builds the NIF"
    assert Interpreter.persisted(dir) == python.executable

    output = capture_io(fn -> run([], dir) end)
    assert output =~ ~r/^\* #{Regex.escape(python.executable)}\s/m

    assert output =~ "this project's choice"

    output = capture_io(fn -> run(["--reset"], dir) end)
    assert output =~ "Forgot"
    assert Interpreter.persisted(dir) == nil
  end

  test "--use works from the project's directory", %{python: python} do
    dir = tmp_dir!()
    previous = File.cwd!()

    try do
      File.cd!(dir)
      capture_io(fn -> Mix.Tasks.Py.Python.run(["--use", python.executable]) end)
      assert Interpreter.persisted(dir) == python.executable
    after
      File.cd!(previous)
    end
  end

  test "--use refuses an interpreter that cannot be used" do
    dir = tmp_dir!()

    assert_raise Mix.Error, ~r/does not exist/, fn ->
      run(["--use", "/nonexistent/python3"], dir)
    end

    assert Interpreter.persisted(dir) == nil
  end

  test "bad usage raises" do
    assert_raise Mix.Error, ~r/invalid option --bogus/, fn -> run(["--bogus"], "/") end
    assert_raise Mix.Error, ~r/--use \(it needs a value\)/, fn -> run(["--use"], "/") end
    assert_raise Mix.Error, ~r/unexpected arguments extra/, fn -> run(["extra"], "/") end

    assert_raise Mix.Error, ~r/cannot be combined/, fn ->
      run(["--use", "python3", "--reset"], "/")
    end
  end

  defp run(args, project_dir) do
    Mix.Tasks.Py.Python.run(args ++ ["--project-dir", project_dir])
  end
end
