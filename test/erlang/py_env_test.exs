defmodule Py.Erlang.EnvTest do
  # py:memory_stats/0 and py:ensure_venv/2,3, the Erlang faces of Py.Memory and
  # Py.Venv, with erlang_python 2.x's shapes.
  use ExUnit.Case, async: false

  import ExUnit.CaptureIO, only: [with_io: 1]

  alias Py.Test.PythonPackages

  setup do
    on_exit(fn -> Py.Venv.deactivate() end)
    dir = Path.join(System.tmp_dir!(), "py_env_test_#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    %{dir: dir}
  end

  test "memory_stats/0 answers {ok, Map} with the documented keys" do
    assert {:ok, stats} = :py.memory_stats()
    assert is_list(stats.gc_stats) and stats.gc_stats != []
    assert is_integer(stats.objects) and stats.objects > 0
    assert is_integer(stats.rss_bytes) and stats.rss_bytes > 0
    assert tuple_size(stats.gc_count) == 3
  end

  test "ensure_venv/2 with a requirements file creates, installs and activates", %{dir: dir} do
    wheels = Path.join(dir, "wheels")

    PythonPackages.wheel!(wheels, "erlwheel", "1.0", %{"erlwheel/__init__.py" => "NAME = 'erl'\n"})

    requirements = Path.join(dir, "requirements.txt")
    File.write!(requirements, "--no-index\n--find-links #{wheels}\nerlwheel\n")
    venv = Path.join(dir, "venv")

    {result, progress} =
      with_io(fn ->
        :py.ensure_venv(String.to_charlist(venv), String.to_charlist(requirements))
      end)

    assert result == :ok
    assert progress =~ "erlwheel"
    assert {:ok, "erl"} = :py.eval("__import__('erlwheel').NAME")
    assert {:ok, prefix} = :py.eval("__import__('sys').prefix")
    assert Path.expand(prefix) == Path.expand(venv)
  end

  test "ensure_venv/3 passes options on; a failed install is an error tuple", %{dir: dir} do
    venv = Path.join(dir, "venv")

    {result, _progress} =
      with_io(fn ->
        :py.ensure_venv(venv, ["no-such-package-for-erlang-python"], [
          {:installer, :pip},
          {:installer_args, ["--no-index"]}
        ])
      end)

    assert {:error, {:install_failed, lines}} = result

    assert is_list(lines)
  end
end
