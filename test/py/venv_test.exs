defmodule Py.VenvTest.Fixtures do
  @moduledoc false
  # One venv shared by the tests, made once (creating one with pip takes seconds).
  # It lives under a directory whose name would break any shell command built from
  # it: a space, a quote and a semicolon.

  alias Py.Test.PythonPackages

  # Removed when the test (or, from setup_all, the module) ends.
  def tmp_dir!(prefix) do
    dir = Path.join(System.tmp_dir!(), "#{prefix}_#{System.unique_integer([:positive])}")
    File.rm_rf!(dir)
    File.mkdir_p!(dir)
    ExUnit.Callbacks.on_exit(fn -> File.rm_rf!(dir) end)
    dir
  end

  def build! do
    base = tmp_dir!("py_venv_test")
    parent = Path.join(base, "a b'c;d")
    wheels = Path.join(base, "wheels")

    PythonPackages.wheel!(wheels, "tinywheel", "1.0", %{
      "tinywheel/__init__.py" => "ANSWER = 42\n"
    })

    PythonPackages.wheel!(wheels, "othertiny", "2.0", %{"othertiny.py" => "NAME = 'other'\n"})

    project =
      PythonPackages.project!(
        Path.join(base, "tiny project"),
        "tiny-proj",
        "tiny_proj",
        "VALUE = 1\n"
      )

    venv = Path.join(parent, "env")
    offline = ["--no-index", "--find-links", wheels]

    {:ok, info} =
      Py.Venv.ensure(venv,
        installer: :pip,
        requirements: ["tinywheel==1.0"],
        pyproject: project,
        installer_args: offline,
        progress: false,
        activate: false
      )

    %{
      base: base,
      parent: parent,
      wheels: wheels,
      project: project,
      venv: venv,
      info: info,
      offline: offline
    }
  end

  # A directory laid out like a venv, for Pythons this machine may not have.
  def fake_venv!(dir, version, lib_name) do
    File.mkdir_p!(Path.join([dir, "lib", lib_name, "site-packages"]))
    File.write!(Path.join(dir, "pyvenv.cfg"), "home = /nowhere\nversion = #{version}\n")
    dir
  end

  def runtime do
    {:ok, info} = Py.runtime_info()
    info
  end

  def lib_name(free_threaded) do
    {major, minor, _} = runtime().version_info
    "python#{major}.#{minor}" <> if(free_threaded, do: "t", else: "")
  end

  def collect_progress do
    parent = self()
    fn line -> send(parent, {:progress, line}) end
  end

  def progress_lines(acc \\ []) do
    receive do
      {:progress, line} -> progress_lines([line | acc])
    after
      0 -> Enum.reverse(acc)
    end
  end
end

defmodule Py.VenvTest do
  # Activation changes the interpreter for every test: these run alone.
  use ExUnit.Case, async: false

  doctest Py.Venv

  import Py.VenvTest.Fixtures

  @moduletag timeout: 300_000

  setup_all do
    build!()
  end

  setup do
    on_exit(fn -> Py.Venv.deactivate() end)
    :ok
  end

  defp py!(code), do: Py.eval!(code)

  # Whether sys.path holds a module now (sys.modules may still hold one imported
  # while an earlier test had the venv active).
  defp visible(module),
    do:
      "__import__('importlib.machinery').machinery.PathFinder.find_spec('#{module}') is not None"

  test "creates a venv under a path with spaces, quotes and ; and installs into it", ctx do
    assert ctx.info.path == ctx.venv
    assert ctx.venv =~ "a b'c;d"
    assert File.regular?(Path.join(ctx.venv, "pyvenv.cfg"))
    assert ctx.info.packages["tinywheel"] == "1.0"
    assert ctx.info.packages["tiny-proj"] == "0.1.0"
    # Nothing leaked out of the quoted name: the parent holds the venv only.
    assert File.ls!(ctx.parent) == ["env"]
  end

  test "activate puts the venv into effect: packages, .pth files, prefix, executable", ctx do
    {:ok, before} = Py.eval("__import__('sys').path")
    refute py!(visible("tinywheel"))

    assert {:ok, info} = Py.Venv.activate(ctx.venv)
    assert info.path == ctx.venv
    assert info.python == Path.join([ctx.venv, "bin", "python"])
    assert info.packages["tinywheel"] == "1.0"
    assert Py.Venv.info() == {:ok, info}

    assert py!("__import__('tinywheel').ANSWER") == 42
    assert py!("__import__('sys').prefix") == ctx.venv
    assert py!("__import__('sys').exec_prefix") == ctx.venv
    assert py!("__import__('sys').executable") == info.python
    assert py!("__import__('os').environ['VIRTUAL_ENV']") == ctx.venv

    # site-packages takes the place of the interpreter's own, after the stdlib, and
    # the editable install's .pth file put the project's src/ right after it.
    sys_path = py!("__import__('sys').path")
    src = Path.join(ctx.project, "src")
    index = Enum.find_index(sys_path, &(&1 == info.site_packages))
    assert Enum.at(sys_path, index + 1) == src
    assert Enum.take(sys_path, index) == Enum.take(before, index)
    assert py!("__import__('tiny_proj').__file__") == Path.join([src, "tiny_proj", "__init__.py"])

    # Editable: the source is used in place.
    File.write!(Path.join([src, "tiny_proj", "__init__.py"]), "VALUE = 2\n")
    on_exit(fn -> File.write!(Path.join([src, "tiny_proj", "__init__.py"]), "VALUE = 1\n") end)
    assert py!("__import__('importlib').reload(__import__('tiny_proj')).VALUE") == 2

    # Child processes started the usual way run the venv's Python.
    assert py!("""
           __import__('subprocess').run([__import__('sys').executable, '-c',
               'import sys, tinywheel; print(sys.prefix)'], capture_output=True, text=True).stdout
           """) == ctx.venv <> "\n"

    assert py!("__import__('os').environ['PATH'].split(':')[0]") ==
             Path.join(ctx.venv, "bin")
  end

  test "the interpreter's own site-packages leave sys.path unless the venv includes them", ctx do
    base_sites =
      py!("[p for p in __import__('site').getsitepackages() if p in __import__('sys').path]")

    {:ok, _} = Py.Venv.activate(ctx.venv)
    sys_path = py!("__import__('sys').path")
    assert Enum.filter(base_sites, &(&1 in sys_path)) == []
    assert py!("__import__('site').ENABLE_USER_SITE") == false

    :ok = Py.Venv.deactivate()
    assert Enum.all?(base_sites, &(&1 in py!("__import__('sys').path")))
  end

  test "deactivate restores sys.path, prefixes, executable and environment", ctx do
    snapshot = """
    (__import__('sys').path, __import__('sys').prefix, __import__('sys').exec_prefix,
     __import__('sys').executable, __import__('os').environ.get('VIRTUAL_ENV'),
     __import__('os').environ.get('PATH'), list(__import__('site').PREFIXES),
     __import__('site').ENABLE_USER_SITE)
    """

    before = py!(snapshot)
    {:ok, _} = Py.Venv.activate(ctx.venv)
    refute py!(snapshot) == before

    assert Py.Venv.deactivate() == :ok
    assert py!(snapshot) == before
    refute py!(visible("othertiny"))
    assert Py.Venv.info() == {:error, :no_venv}
    assert Py.Venv.deactivate() == :ok
  end

  test "activating a venv twice, or another one, leaves one activation in effect", ctx do
    {:ok, _} = Py.Venv.activate(ctx.venv)
    {:ok, _} = Py.Venv.activate(ctx.venv)
    sys_path = py!("__import__('sys').path")
    assert Enum.count(sys_path, &(&1 == Path.join(ctx.project, "src"))) == 1

    assert py!("__import__('os').environ['PATH']")
           |> String.split(":")
           |> Enum.count(&(&1 == Path.join(ctx.venv, "bin"))) == 1
  end

  test "ensure runs the installer only when the request or the venv changed", ctx do
    opts = [
      installer: :pip,
      requirements: ["tinywheel==1.0", "othertiny"],
      installer_args: ctx.offline,
      activate: false,
      progress: collect_progress()
    ]

    {:ok, info} = Py.Venv.ensure(ctx.venv, opts)
    assert info.packages["othertiny"] == "2.0"
    _ = progress_lines()

    # Same request, same venv: nothing runs.
    {:ok, _} = Py.Venv.ensure(ctx.venv, opts)
    assert progress_lines() == []

    # A package removed behind our back is noticed; what is there is not reinstalled.
    {_, 0} =
      System.cmd(info.python, ["-m", "pip", "uninstall", "-y", "othertiny"],
        stderr_to_stdout: true
      )

    {:ok, info} = Py.Venv.ensure(ctx.venv, opts)
    lines = progress_lines()
    assert info.packages["othertiny"] == "2.0"
    assert Enum.any?(lines, &(&1 =~ "Requirement already satisfied: tinywheel==1.0"))
    assert Enum.any?(lines, &(&1 =~ "Successfully installed othertiny-2.0"))
  end

  test "installer output streams to the caller's group leader by default", ctx do
    output =
      ExUnit.CaptureIO.capture_io(fn ->
        {:ok, _} =
          Py.Venv.ensure(ctx.venv,
            installer: :pip,
            requirements: ["tinywheel"],
            installer_args: ctx.offline ++ ["--no-cache-dir"],
            activate: false
          )
      end)

    assert output =~ "Installing into #{ctx.venv} with pip: tinywheel"
    assert output =~ "Requirement already satisfied: tinywheel"
  end

  test "a failed install returns the installer's last lines and changes nothing", ctx do
    assert {:error, {:install_failed, lines}} =
             Py.Venv.ensure(ctx.venv,
               installer: :pip,
               requirements: ["no-such-package-for-erlang-python==9.9"],
               installer_args: ["--no-index"],
               progress: false
             )

    assert Enum.join(lines, "\n") =~ "no-such-package-for-erlang-python"
    assert Py.Venv.info() == {:error, :no_venv}
    assert Py.Venv.format_error({:install_failed, lines}) =~ "the installer failed:"

    assert {:ok, _} = Py.Venv.activate(ctx.venv)
    assert py!("__import__('tinywheel').ANSWER") == 42
  end

  test "requirements files, a single path in :requirements and pyproject.toml", ctx do
    file = Path.join(ctx.base, "reqs; echo hacked.txt")
    File.write!(file, "tinywheel==1.0\nothertiny==2.0\n")
    opts = [installer: :pip, installer_args: ctx.offline, activate: false, progress: false]

    assert {:ok, %{packages: %{"othertiny" => "2.0"}}} =
             Py.Venv.ensure(ctx.venv, [requirements_file: file] ++ opts)

    assert {:ok, _} = Py.Venv.ensure(ctx.venv, [requirements: file] ++ opts)
    assert {:ok, _} = Py.Venv.ensure(ctx.venv, [requirements: String.to_charlist(file)] ++ opts)

    assert {:ok, %{packages: %{"tiny-proj" => "0.1.0"}}} =
             Py.Venv.ensure(
               ctx.venv,
               [requirements: Path.join(ctx.project, "pyproject.toml")] ++ opts
             )

    refute File.exists?(Path.join(ctx.base, "hacked.txt"))

    assert {:error, {:invalid, message}} =
             Py.Venv.ensure(ctx.venv, [requirements_file: "/no/such/requirements.txt"] ++ opts)

    assert message =~ "/no/such/requirements.txt does not exist"

    assert {:error, {:invalid, _}} = Py.Venv.ensure(ctx.venv, [pyproject: ctx.base] ++ opts)
  end

  test "refuses a venv made for another Python version" do
    dir = fake_venv!(Path.join(tmp_dir!("py_venv_other"), "env"), "3.2.0", "python3.2")

    assert {:error, {:python_mismatch, message}} = Py.Venv.activate(dir)
    assert message =~ "is for Python 3.2.0"
    assert message =~ "force: true"
    assert {:error, {:python_mismatch, _}} = Py.Venv.ensure(dir, progress: false)
    assert Py.Venv.info() == {:error, :no_venv}
  end

  test "refuses a venv made by the other threading build of the same version" do
    runtime = runtime()
    {major, minor, micro} = runtime.version_info
    lib = lib_name(not runtime.free_threaded)
    dir = fake_venv!(Path.join(tmp_dir!("py_venv_abi"), "env"), "#{major}.#{minor}.#{micro}", lib)

    assert {:error, {:python_mismatch, message}} = Py.Venv.activate(dir)

    assert message =~
             if(runtime.free_threaded, do: "the GIL build", else: "a free-threaded build")
  end

  test "refuses a :python of another version before creating anything" do
    dir = tmp_dir!("py_venv_python")
    fake = Path.join(dir, "python3.2")

    File.write!(fake, """
    #!/bin/sh
    printf 'probe=erlang_python\\nexecutable=#{fake}\\nversion=3.2.0\\nversion_info=3.2.0\\ngil_disabled=0\\nprefix=/x\\n'
    """)

    File.chmod!(fake, 0o755)
    venv = Path.join(dir, "env")

    assert {:error, {:python_mismatch, message}} =
             Py.Venv.ensure(venv, python: fake, progress: false)

    assert message =~ "#{fake} is Python 3.2"
    refute File.exists?(venv)
  end

  test "never creates in or deletes a directory that is not a venv" do
    dir = tmp_dir!("py_venv_foreign")
    File.write!(Path.join(dir, "precious.txt"), "keep me")

    for force <- [false, true] do
      assert {:error, {:invalid_venv, message}} =
               Py.Venv.ensure(dir, force: force, progress: false)

      assert message =~ "is not a virtualenv"
    end

    assert File.read!(Path.join(dir, "precious.txt")) == "keep me"
  end

  test "force recreates the venv" do
    dir = Path.join(tmp_dir!("py_venv_force"), "env")
    {_, 0} = System.cmd(runtime().executable, ["-m", "venv", "--without-pip", dir])
    File.write!(Path.join(dir, "marker"), "old")

    assert {:ok, info} =
             Py.Venv.ensure(dir, force: true, installer: :pip, activate: false, progress: false)

    refute File.exists?(Path.join(dir, "marker"))
    assert Map.has_key?(info.packages, "pip")
  end

  test "bad options are programmer errors", ctx do
    for opts <- [
          [requirements: ["--index-url=http://example.invalid"]],
          [requirements: [""]],
          [requirements: 42],
          [installer: :conda],
          [extras: ["a b"]],
          [progress: :loud],
          [unknown: 1]
        ] do
      assert_raise ArgumentError, fn -> Py.Venv.ensure(ctx.venv, opts) end
    end

    assert_raise ArgumentError, fn -> Py.Venv.activate(42) end
  end

  test "activate! and ensure! raise with a readable message" do
    assert_raise RuntimeError, ~r"/no/such/venv is not a virtualenv", fn ->
      Py.Venv.activate!("/no/such/venv")
    end
  end

  @tag :uv
  test "uv creates the venv and installs into it", ctx do
    dir = Path.join(tmp_dir!("py_venv_uv"), "with uv; and 'quotes'")

    assert {:ok, info} =
             Py.Venv.ensure(dir,
               installer: :uv,
               requirements: ["tinywheel==1.0"],
               pyproject: ctx.project,
               installer_args: ctx.offline,
               progress: false
             )

    assert info.packages["tinywheel"] == "1.0"
    assert py!("__import__('tinywheel').ANSWER") == 42
    assert py!("__import__('tiny_proj').__file__") =~ Path.join(ctx.project, "src")
  end

  describe "subinterpreters" do
    @describetag :subinterp

    test "pools and subinterpreters created after activation see the venv", ctx do
      {:ok, _} = Py.Venv.activate(ctx.venv)
      {:ok, _} = Py.Pool.start(:venv_after, 2, :subinterp)
      on_exit(fn -> Py.Pool.stop(:venv_after) end)

      for index <- 0..1 do
        assert Py.eval("__import__('tinywheel').ANSWER", %{}, pool: :venv_after, context: index) ==
                 {:ok, 42}

        assert Py.eval("__import__('sys').prefix", %{}, pool: :venv_after, context: index) ==
                 {:ok, ctx.venv}
      end

      {:ok, interp} = Py.Subinterp.create()
      assert Py.Subinterp.eval(interp, "__import__('tiny_proj').VALUE") == {:ok, 1}
      Py.Subinterp.destroy(interp)
    end

    test "running subinterpreter pools are activated and deactivated too", ctx do
      {:ok, _} = Py.Pool.start(:venv_before, 2, :subinterp)
      on_exit(fn -> Py.Pool.stop(:venv_before) end)
      find = visible("tinywheel")

      {:ok, _} = Py.Venv.activate(ctx.venv)

      for index <- 0..1 do
        assert Py.eval(find, %{}, pool: :venv_before, context: index) == {:ok, true}
      end

      :ok = Py.Venv.deactivate()

      for index <- 0..1 do
        assert Py.eval(find, %{}, pool: :venv_before, context: index) == {:ok, false}
      end
    end
  end
end

defmodule Py.VenvTest.ApplicationStart do
  # Starts a fresh VM: the application's own start reads the config.
  use ExUnit.Case, async: true

  import Py.VenvTest.Fixtures

  @moduletag timeout: 300_000

  test "the application activates config :erlang_python, venv: at start, or refuses to start" do
    dir = tmp_dir!("py_venv_start")
    venv = Path.join(dir, "env")
    {_, 0} = System.cmd(runtime().executable, ["-m", "venv", "--without-pip", venv])
    {:ok, info} = Py.Venv.ensure(venv, activate: false, progress: false)
    File.write!(Path.join(info.site_packages, "started_here.py"), "WHERE = 'venv'\n")

    code = ~S"""
    Application.put_env(:erlang_python, :venv, "/no/such/venv")
    {:error, reason} = Application.ensure_all_started(:erlang_python)
    IO.puts("refused: " <> inspect(reason))

    Application.put_env(:erlang_python, :venv, System.fetch_env!("VENV"))
    {:ok, _} = Application.ensure_all_started(:erlang_python)
    {:ok, info} = Py.Venv.info()
    IO.puts("active: " <> info.path)
    IO.puts("where: " <> Py.eval!("__import__('started_here').WHERE"))
    """

    {:ok, runtime_info} = Py.runtime_info()

    {output, status} =
      System.cmd("mix", ["run", "--no-compile", "--no-start", "-e", code],
        env: [
          {"MIX_ENV", "test"},
          {"VENV", venv},
          {"ERLANG_PYTHON", runtime_info.executable}
        ],
        stderr_to_stdout: true
      )

    assert status == 0, output
    assert output =~ ~r/refused: .*cannot activate the virtualenv \/no\/such\/venv/
    assert output =~ "config :erlang_python, venv:"
    assert output =~ "active: #{venv}"
    assert output =~ "where: venv"
  end
end

defmodule Mix.Tasks.Py.VenvTest do
  # Mix.shell/0 is global, and the venv is shared with Py.VenvTest's files.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO
  import Py.VenvTest.Fixtures

  @moduletag timeout: 300_000

  setup do
    Mix.shell(Mix.Shell.IO)
    dir = tmp_dir!("py_venv_task")

    wheels = Path.join(dir, "wheels")

    Py.Test.PythonPackages.wheel!(wheels, "taskwheel", "3.1", %{
      "taskwheel.py" => "LOADED = True\n"
    })

    # The project's venv is made without pip first (fast); the task adds pip to it.
    venv = Path.join(dir, ".venv")
    {_, 0} = System.cmd(runtime().executable, ["-m", "venv", "--without-pip", venv])
    on_exit(fn -> Py.Venv.deactivate() end)

    %{project: dir, wheels: wheels, venv: venv}
  end

  defp run(args, project), do: Mix.Task.rerun("py.venv", ["--project-dir", project | args])

  test "syncs the project's .venv from requirements.txt and saves it for start", ctx do
    File.write!(Path.join(ctx.project, "requirements.txt"), "taskwheel==3.1\n")

    output =
      capture_io(fn ->
        run(["--installer", "pip", "--", "--no-index", "--find-links", ctx.wheels], ctx.project)
      end)

    assert output =~ "Using requirements.txt"
    assert output =~ "Successfully installed taskwheel-3.1"
    assert output =~ "Virtualenv #{ctx.venv} (Python"
    assert output =~ "activates it when the application starts"

    assert File.read!(Py.Venv.Project.choice_file(ctx.project)) == ".venv\n"
    assert Py.Venv.Project.configured(ctx.project) == {:project, ctx.venv}

    # What the application does at start, for this project directory.
    assert Py.Venv.Project.activate_at_start(ctx.project) == :ok
    assert {:ok, %{path: venv}} = Py.Venv.info()
    assert venv == ctx.venv
    assert Py.eval("__import__('taskwheel').LOADED") == {:ok, true}

    # Again: nothing to install.
    output =
      capture_io(fn ->
        run(["--installer", "pip", "--", "--no-index", "--find-links", ctx.wheels], ctx.project)
      end)

    refute output =~ "Installing"

    output = capture_io(fn -> run(["--reset"], ctx.project) end)
    assert output =~ "no longer activates"
    assert Py.Venv.Project.configured(ctx.project) == nil
    assert File.dir?(ctx.venv)
  end

  test "a failed install stops the task with the installer's output", ctx do
    assert_raise Mix.Error, ~r/the installer failed:.*no-such-package/s, fn ->
      capture_io(fn ->
        run(
          ["-r", write_requirements!(ctx.project), "--installer", "pip", "--", "--no-index"],
          ctx.project
        )
      end)
    end

    assert Py.Venv.Project.configured(ctx.project) == nil
  end

  test "bad usage raises", ctx do
    assert_raise Mix.Error, ~r/invalid option --bogus/, fn -> run(["--bogus"], ctx.project) end
    assert_raise Mix.Error, ~r/at most one venv path/, fn -> run(["a", "b"], ctx.project) end

    assert_raise Mix.Error, ~r/--installer must be uv or pip/, fn ->
      run(["--installer", "conda"], ctx.project)
    end
  end

  test "the saved choice is relative inside the project and absolute outside", ctx do
    outside = tmp_dir!("py_venv_outside")

    :ok = Py.Venv.Project.persist(Path.join(ctx.project, "sub/.venv"), ctx.project)
    assert File.read!(Py.Venv.Project.choice_file(ctx.project)) == "sub/.venv\n"

    :ok = Py.Venv.Project.persist(outside, ctx.project)
    assert Py.Venv.Project.persisted(ctx.project) == outside

    Application.put_env(:erlang_python, :venv, false)
    on_exit(fn -> Application.delete_env(:erlang_python, :venv) end)
    assert Py.Venv.Project.configured(ctx.project) == nil
  end

  defp write_requirements!(project) do
    file = Path.join(project, "requirements-missing.txt")
    File.write!(file, "no-such-package-for-erlang-python\n")
    file
  end
end
