defmodule Py.SwitchingTest do
  # Starts fresh VMs with `mix run`, so it is slow and runs alone.
  use ExUnit.Case
  @moduletag :slow
  @moduletag timeout: 300_000

  defp mix_run(code, env) do
    System.cmd("mix", ["run", "--no-compile", "-e", code],
      env: [{"MIX_ENV", "test"} | env],
      stderr_to_stdout: true
    )
  end

  @tag :multi_interpreter
  test "every interpreter built here loads without a rebuild when selected" do
    executables = Py.Test.Interpreters.built()
    assert length(executables) >= 2

    for executable <- executables do
      code = "{:ok, i} = Py.runtime_info(); IO.puts(\"executable=\" <> i.executable)"
      {output, status} = mix_run(code, [{"ERLANG_PYTHON", executable}])
      assert status == 0, output
      assert output =~ "executable=#{executable}"
    end
  end

  @tag :subinterp
  test "the default pool can run subinterpreters, and execution_mode says so" do
    {:ok, info} = Py.runtime_info()
    code = ~S[IO.puts("mode=#{Py.execution_mode()} " <> inspect(Py.eval("6 * 7")))]

    {output, status} =
      System.cmd(
        "elixir",
        [
          "--erl",
          "-erlang_python default_pool_mode subinterp",
          "-S",
          "mix",
          "run",
          "--no-compile",
          "-e",
          code
        ],
        env: [{"MIX_ENV", "test"}, {"ERLANG_PYTHON", info.executable}],
        stderr_to_stdout: true
      )

    assert status == 0, output
    assert output =~ "mode=subinterp {:ok, 42}"
  end

  test "a missing interpreter gets an error that names it" do
    {output, status} = mix_run("IO.puts(:started)", [{"ERLANG_PYTHON", "/nonexistent/python3"}])
    assert status != 0
    assert output =~ "/nonexistent/python3 does not exist"
    refute output =~ "started"
  end
end
