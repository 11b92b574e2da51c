defmodule Py.ScriptsTest do
  # scripts/install-prereqs on this machine, with a stand-in user, package database
  # and sudo in front on PATH: it reports what it finds, and installs what is missing
  # through sudo when it is not root. Nothing is installed for real.
  use ExUnit.Case, async: true
  @moduletag :debian

  setup do
    bin = Path.join(System.tmp_dir!(), "prereqs-test-#{System.unique_integer([:positive])}")
    File.mkdir_p!(bin)
    on_exit(fn -> File.rm_rf!(bin) end)

    script(bin, "id", ~S"""
    [ "$1" = -u ] && { echo 1000; exit 0; }
    exec /usr/bin/id "$@"
    """)

    # python3-venv is "not installed"; every other package answers for real.
    script(bin, "dpkg-query", ~S"""
    for arg in "$@"; do [ "$arg" = python3-venv ] && exit 1; done
    exec /usr/bin/dpkg-query "$@"
    """)

    script(bin, "sudo", ~s"""
    echo "$*" >> #{bin}/sudo.log
    """)

    %{bin: bin}
  end

  defp script(bin, name, body) do
    path = Path.join(bin, name)
    File.write!(path, "#!/bin/sh\n" <> body)
    File.chmod!(path, 0o755)
  end

  test "a missing package is installed with sudo by a user who is not root", %{bin: bin} do
    {output, status} =
      System.cmd(Path.expand("scripts/install-prereqs"), [],
        env: [{"PATH", bin <> ":" <> System.get_env("PATH")}],
        stderr_to_stdout: true
      )

    assert status == 0, output
    assert output =~ ~r/found +elixir /
    assert output =~ ~r/missing +python3-venv/
    assert output =~ "installing with sudo"
    assert output =~ ~r/found +Elixir \d+\.\d+/
    assert output =~ ~r/found +cargo \d+\.\d+/
    assert output =~ ~r/found +Python \d+\.\d+\.\d+ at .* \(shared libpython, headers\)/

    assert File.read!(Path.join(bin, "sudo.log")) ==
             "apt-get update -qq\napt-get install -y -qq python3-venv\n"
  end
end
