defmodule Py.ReleaseTest do
  # Builds examples/release_app with `mix release` (erlang_python as a path
  # dependency), moves nothing but the release, and runs Python in it: the NIF comes
  # from the release's own priv/, the interpreter from config/runtime.exs or the
  # environment of the machine it runs on.
  use ExUnit.Case, async: true
  @moduletag :release
  @moduletag timeout: 300_000

  @app Path.expand("examples/release_app")

  setup_all do
    tmp =
      Path.join(System.tmp_dir!(), "erlang_python-release-#{System.unique_integer([:positive])}")

    build = Path.join(tmp, "build")
    release = Path.join(tmp, "release_app")
    on_exit(fn -> File.rm_rf!(tmp) end)

    {output, status} =
      System.cmd("mix", ["release", "--path", release],
        cd: @app,
        env: [{"MIX_ENV", "prod"}, {"MIX_BUILD_PATH", build}],
        stderr_to_stdout: true
      )

    assert status == 0, "mix release failed:\n#{output}"
    # The release must not need the build directory (priv/ is a symlink there).
    File.rm_rf!(build)

    {:ok, info} = Py.runtime_info()
    venv = Path.join(release, "venv")

    {output, status} =
      System.cmd(info.executable, ["-m", "venv", "--without-pip", venv], stderr_to_stdout: true)

    assert status == 0, "cannot create a venv:\n#{output}"

    {site, 0} =
      System.cmd(Path.join(venv, "bin/python"), [
        "-c",
        "import sysconfig; print(sysconfig.get_path('purelib'))"
      ])

    File.write!(Path.join(String.trim(site), "greeting.py"), """
    def hello(name):
        return "hello from the venv, " + name
    """)

    %{release: release, venv: venv, python: info.executable}
  end

  defp eval(release, code, env) do
    System.cmd(Path.join(release, "bin/release_app"), ["eval", code],
      env: env,
      stderr_to_stdout: true
    )
  end

  test "the release runs Python from the venv that config/runtime.exs selects",
       %{release: release, venv: venv} do
    code = ~S"""
    ReleaseApp.main()
    IO.inspect(Py.call(:greeting, :hello, ["release"]), label: "greeting")
    """

    {output, status} = eval(release, code, [{"ERLANG_PYTHON", nil}])
    assert status == 0, output
    assert output =~ "executable: #{venv}/bin/python"
    assert output =~ "prefix: #{venv}\n"
    assert output =~ "math.sqrt(2.0) = 1.4142135623730951"
    assert output =~ ~s(greeting: {:ok, "hello from the venv, release"})
    assert output =~ ~r/numpy: \S+/
  end

  test "the deployment guide shows the example's config/runtime.exs as it is" do
    runtime = File.read!(Path.join(@app, "config/runtime.exs"))
    assert File.read!("guides/deployment.md") =~ "```exs\n" <> runtime <> "```\n"
  end

  test "ERLANG_PYTHON on the target overrides the venv", %{release: release, python: python} do
    {output, status} = eval(release, "ReleaseApp.main()", [{"ERLANG_PYTHON", python}])
    assert status == 0, output
    assert output =~ "executable: #{python}\n"
    assert output =~ "math.sqrt(2.0) = 1.4142135623730951"
  end

  test "an interpreter missing on the target is refused with its name", %{release: release} do
    code = "IO.puts(inspect(Application.ensure_all_started(:erlang_python)))"
    {output, _status} = eval(release, code, [{"ERLANG_PYTHON", "/nonexistent/bin/python3"}])
    assert output =~ "{:error, {:erlang_python"
    assert output =~ "/nonexistent/bin/python3 does not exist"
  end
end
