defmodule Py.SandboxTest do
  # The sandbox is set once per VM, so sandboxed behaviour is checked on peer nodes
  # started with the configuration; this VM runs without one.
  use ExUnit.Case, async: false

  @blocked %{
    "os.system" => ~s|__import__("os").system("true")|,
    "subprocess.Popen" => ~s|__import__("subprocess").run(["true"]).returncode|,
    "os.exec" => ~s|__import__("os").execv("/bin/true", ["true"])|,
    "os.posix_spawn" => ~s|__import__("os").posix_spawn("/bin/true", ["true"], {})|,
    "os.fork" => ~s|__import__("os").fork()|,
    "ctypes.dlopen" => ~s|__import__("ctypes").CDLL("libc.so.6")|
  }

  test "without a sandbox, subprocesses run normally" do
    assert Py.Sandbox.blocked_events() == []
    assert {:ok, 0} = Py.eval(@blocked["subprocess.Popen"])
    assert {:ok, 0} = Py.eval(@blocked["os.system"])
  end

  test "sandbox: true refuses each escape with a PermissionError naming the event" do
    with_peer(true, fn peer ->
      assert Py.Sandbox.events(true) == call(peer, Py.Sandbox, :blocked_events, [])

      for {event, code} <- @blocked do
        assert {:error, %Py.Error{type: "PermissionError", message: message}} =
                 call(peer, Py, :eval, [code])

        assert message =~ "#{event} is blocked by the erlang_python sandbox"
      end

      # Importing ctypes opens the running process, which stays allowed, and the
      # interpreter keeps working after refusals.
      assert {:ok, 4} =
               call(peer, Py, :eval, [~s|__import__("ctypes").sizeof(__import__("ctypes").c_int)|])

      assert {:ok, 3} = call(peer, Py, :eval, ["1 + 2"])
    end)
  end

  @tag :subinterp
  test "the sandbox covers subinterpreters" do
    with_peer(true, fn peer ->
      {:ok, _} = call(peer, Py.Pool, :start, [:sandboxed_subinterp, 1, :subinterp])

      assert {:error, %Py.Error{type: "PermissionError", message: message}} =
               call(peer, Py, :eval, [@blocked["os.system"], %{}, [pool: :sandboxed_subinterp]])

      assert message =~ "os.system is blocked"
    end)
  end

  test "allowed groups and events pass while the rest stay blocked" do
    with_peer([allow: [:subprocess, "os.system"]], fn peer ->
      assert {:ok, 0} = call(peer, Py, :eval, [@blocked["subprocess.Popen"]])
      assert {:ok, 0} = call(peer, Py, :eval, [@blocked["os.system"]])

      assert {:error, %Py.Error{type: "PermissionError"}} =
               call(peer, Py, :eval, [@blocked["ctypes.dlopen"]])
    end)
  end

  test "a misspelt group is refused rather than ignored" do
    assert_raise ArgumentError, ~r/unknown sandbox group :subproces/, fn ->
      Py.Sandbox.events(allow: [:subproces])
    end
  end

  defp call(peer, m, f, a), do: :peer.call(peer, m, f, a, 30_000)

  defp with_peer(sandbox, fun) do
    paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])

    {:ok, peer, _node} =
      :peer.start_link(%{
        name: :peer.random_name(~c"sandbox"),
        connection: :standard_io,
        args: paths
      })

    try do
      :ok = :peer.call(peer, Application, :put_env, [:erlang_python, :sandbox, sandbox])
      {:ok, _} = :peer.call(peer, Application, :ensure_all_started, [:erlang_python], 60_000)
      fun.(peer)
    after
      :peer.stop(peer)
    end
  end
end
