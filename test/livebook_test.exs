defmodule Py.LivebookTest do
  # Runs every elixir cell of guides/livebook.livemd in a fresh VM, as Livebook would
  # after opening the notebook from this checkout: Mix.install of the package by path
  # (no Hex involved), numpy and matplotlib in the notebook's virtualenv (installed
  # with pip the first time, under ~/.cache/erlang_python/venvs), and a plot sent to
  # Livebook as a PNG image.
  use ExUnit.Case, async: true
  @moduletag :livebook
  # The first run downloads numpy and matplotlib.
  @moduletag timeout: 600_000

  @notebook Path.expand("guides/livebook.livemd")
  @runner Path.expand("test/support/run_notebook.exs")

  test "the notebook runs cell by cell and shows its plot as a PNG image" do
    # Mix.install's cache for this test; a path dependency is recompiled there when
    # its sources change, and the NIF is reused from this checkout's priv/native.
    install_dir = Path.join(System.user_home!(), ".cache/erlang_python/mix_installs")

    {output, status} =
      System.cmd("elixir", [@runner, @notebook],
        cd: System.tmp_dir!(),
        # PYTHONPATH (CI points it at its own numpy) would hide the notebook's venv.
        env: [
          {"MIX_INSTALL_DIR", install_dir},
          {"MIX_ENV", nil},
          {"ERLANG_PYTHON_PATH", nil},
          {"PYTHONPATH", nil}
        ],
        stderr_to_stdout: true
      )

    assert status == 0, output
    {:ok, version} = Py.version()
    assert output =~ ~s(cell 2: {"#{version}", 1.4142135623730951, [0, 1, 4, 9, 16, 25]})
    assert output =~ ~s(cell 3: {:ok, %{"and" => 1, "cat" => 1, "hat" => 1, "the" => 2}})
    assert output =~ ~r/cell 4: \{:ok, ".*site-packages"\}/
    assert output =~ ~s(cell 5: {%{"max" => 9.0, "mean" => 3.875, "std" => )
    assert output =~ "hello from Python"
    assert output =~ ~s(cell 8: {"ZeroDivisionError", "division by zero"})
    # The plot reached "Livebook" as an image, and is a file outside it.
    assert output =~ ~r/cell 7: :shown/
    assert output =~ ~r{output: image image/png, \d+ bytes of PNG}
    assert output =~ ~r/without Livebook: saved \d+ bytes, same: true/
  end
end
