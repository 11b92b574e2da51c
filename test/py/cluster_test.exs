defmodule Py.ClusterTest do
  # Py.Cluster.map over this node and peer nodes: spreading, order, output, nodes
  # that do not run erlang_python, a node lost mid-map, timeouts and a dying caller.
  use ExUnit.Case, async: false

  alias Py.Test.Peer
  import Py.Test.Wait

  doctest Py.Cluster

  setup_all do
    Map.put(Peer.shared!(), :local_os_pid, String.to_integer(System.pid()))
  end

  test "results come back in order, spread over the nodes", %{node: node} = context do
    calls = for n <- 1..30, do: {:math, :factorial, [n]}
    assert Py.Cluster.map(calls) == {:ok, for(n <- 1..30, do: {:ok, Enum.product(1..n)})}

    # Calls go to the node with the most free slots, the earlier node on a tie.
    calls = List.duplicate({:os, :getpid, []}, 4)
    {:ok, results} = Py.Cluster.map(calls, nodes: [node(), node], max_concurrency: 2)
    local = {:ok, context.local_os_pid}
    remote = {:ok, context.remote_os_pid}
    assert results == [local, remote, local, remote]

    assert Py.Cluster.map!([{:os, :getpid, []}], nodes: [node]) == [remote]
    assert Py.Cluster.map([]) == {:ok, []}
  end

  test "kwargs, per-call errors and the pool option", %{node: node} do
    calls = [
      {:builtins, :int, ["ff"], [base: 16]},
      {"builtins", "int", ["x"]},
      {:builtins, :int, ["11"], %{base: 2}},
      {:no_such_module_xyz, :f, []}
    ]

    assert {:ok, [{:ok, 255}, {:error, %Py.Error{type: "ValueError"}}, {:ok, 3}, module_error]} =
             Py.Cluster.map(calls, nodes: [node(), node], pool: :default)

    assert {:error, %Py.Error{type: "ModuleNotFoundError"}} = module_error

    assert Py.Cluster.map([{:math, :sqrt, [4.0]}], nodes: [node(), node], pool: :nope) ==
             {:error, {:unavailable, %{node() => {:no_pool, :nope}, node => {:no_pool, :nope}}}}

    assert Py.Cluster.map([{:math, :sqrt, [4.0]}], pool: :nope) == {:error, :no_nodes}

    assert_raise RuntimeError, ~r/no_nodes/, fn ->
      Py.Cluster.map!([{:m, :f, []}], pool: :nope)
    end
  end

  test "bad arguments raise before anything runs" do
    assert_raise ArgumentError, ~r/expected {module, function, args}/, fn ->
      Py.Cluster.map([{:math, :sqrt}])
    end

    assert_raise ArgumentError, ~r/:nodes/, fn -> Py.Cluster.map([], nodes: []) end

    assert_raise ArgumentError, ~r/:nodes/, fn ->
      Py.Cluster.map([{:m, :f, []}], nodes: [node(), node()])
    end

    assert_raise ArgumentError, ~r/:max_concurrency/, fn ->
      Py.Cluster.map([], max_concurrency: 0)
    end

    assert_raise ArgumentError, ~r/:timeout/, fn -> Py.Cluster.map([], timeout: -1) end
    assert_raise ArgumentError, fn -> Py.Cluster.map([], bogus: 1) end
  end

  test "output of every call reaches the caller's group leader", %{node: node} = context do
    # One write per call: output of calls running at once interleaves write by write.
    code =
      "import os, sys\ndef shout(i):\n    sys.stdout.write(f'call {i} in {os.getpid()}\\n')\n    return i"

    :ok = Py.exec(code)
    :ok = :erpc.call(node, Py, :exec, [code])
    calls = for i <- 1..4, do: {:__main__, :shout, [i]}

    output =
      ExUnit.CaptureIO.capture_io(fn ->
        assert Py.Cluster.map(calls, nodes: [node(), node], max_concurrency: 2) ==
                 {:ok, [ok: 1, ok: 2, ok: 3, ok: 4]}
      end)

    assert output |> String.split("\n", trim: true) |> Enum.sort() == [
             "call 1 in #{context.local_os_pid}",
             "call 2 in #{context.remote_os_pid}",
             "call 3 in #{context.local_os_pid}",
             "call 4 in #{context.remote_os_pid}"
           ]
  end

  test "a node that does not run erlang_python is reported, and left out by default", %{
    node: node
  } do
    # A bare VM: no project code at all, then the code without the application.
    {bare_peer, bare} = Peer.start!(app: false, code: false)

    try do
      assert bare in Node.list()
      refute bare in Py.Cluster.nodes()
      assert Enum.sort(Py.Cluster.nodes()) == Enum.sort([node(), node])

      assert Py.Cluster.map([{:math, :sqrt, [4.0]}], nodes: [node(), bare]) ==
               {:error, {:unavailable, %{bare => :not_running}}}

      :ok = :erpc.call(bare, :code, :add_pathsa, [Peer.code_paths()])

      assert Py.Cluster.map([{:math, :sqrt, [4.0]}], nodes: [bare]) ==
               {:error, {:unavailable, %{bare => :not_running}}}

      assert Py.Cluster.map([{:math, :sqrt, [4.0]}, {:math, :sqrt, [9.0]}]) ==
               {:ok, [ok: 2.0, ok: 3.0]}
    after
      Peer.stop(bare_peer)
    end
  end

  test "a node lost mid-map fails the calls it was running; the others finish elsewhere" do
    {doomed_peer, doomed} = Peer.start!()

    try do
      # The same function on both nodes: instant here, on the doomed node it reports
      # that it started and then waits to be cut off.
      :ok = Py.exec("def slow(i):\n    return i")

      :ok =
        :erpc.call(doomed, Py, :exec, [
          "import sys, time\ndef slow(i):\n    sys.stdout.write(f'started {i}\\n')\n    time.sleep(120)"
        ])

      test = self()
      leader = spawn_link(fn -> forward_output(test) end)

      task =
        Task.async(fn ->
          Process.group_leader(self(), leader)
          calls = for i <- 0..3, do: {:__main__, :slow, [i]}
          Py.Cluster.map(calls, nodes: [node(), doomed], max_concurrency: 1)
        end)

      # Call 1 went to the doomed node (the first node takes call 0, the freer one the next).
      assert_receive {:output, "started 1\n"}, 10_000
      :peer.stop(doomed_peer)

      assert Task.await(task, 10_000) ==
               {:ok, [{:ok, 0}, {:error, {:nodedown, doomed}}, {:ok, 2}, {:ok, 3}]}
    after
      Peer.stop(doomed_peer)
    end
  end

  test "every node gone before the calls could start: :no_nodes" do
    {gone_peer, gone} = Peer.start!()

    try do
      :ok =
        :erpc.call(gone, Py, :exec, [
          "import sys, time\ndef wait(i):\n    sys.stdout.write(f'started {i}\\n')\n    time.sleep(120)"
        ])

      test = self()
      leader = spawn_link(fn -> forward_output(test) end)
      calls = [{:__main__, :wait, [1]}, {:__main__, :wait, [2]}]

      task =
        Task.async(fn ->
          Process.group_leader(self(), leader)
          Py.Cluster.map(calls, nodes: [gone], max_concurrency: 1)
        end)

      assert_receive {:output, "started 1\n"}, 10_000
      :peer.stop(gone_peer)

      assert Task.await(task, 10_000) ==
               {:ok, [{:error, {:nodedown, gone}}, {:error, :no_nodes}]}
    after
      Peer.stop(gone_peer)
    end
  end

  test "the timeout interrupts running calls and reports the ones not started", %{node: node} do
    spin = "def spin():\n    while True:\n        pass"
    :ok = Py.exec(spin)
    :ok = :erpc.call(node, Py, :exec, [spin])
    calls = List.duplicate({:__main__, :spin, []}, 3)

    assert Py.Cluster.map(calls, nodes: [node(), node], max_concurrency: 1, timeout: 200) ==
             {:ok, List.duplicate({:error, :timeout}, 3)}

    # The contexts were freed: both nodes answer.
    assert Py.Cluster.map([{:math, :sqrt, [4.0]}, {:math, :sqrt, [9.0]}], nodes: [node(), node]) ==
             {:ok, [ok: 2.0, ok: 3.0]}
  end

  test "a caller that dies stops its calls on every node", %{node: node} do
    counting_spin = """
    spinning = 0
    def counting_spin():
        global spinning
        spinning += 1
        try:
            while True:
                pass
        finally:
            spinning -= 1
    """

    :ok = Py.exec(counting_spin)
    :ok = :erpc.call(node, Py, :exec, [counting_spin])
    calls = List.duplicate({:__main__, :counting_spin, []}, 2)

    caller =
      spawn(fn ->
        Py.Cluster.map(calls, nodes: [node(), node], max_concurrency: 1, timeout: :infinity)
      end)

    wait_until(fn -> Py.eval("spinning") == {:ok, 1} end)
    wait_until(fn -> :erpc.call(node, Py, :eval, ["spinning"]) == {:ok, 1} end)
    Process.exit(caller, :kill)

    wait_until(fn -> Py.eval("spinning") == {:ok, 0} end)
    wait_until(fn -> :erpc.call(node, Py, :eval, ["spinning"]) == {:ok, 0} end)
  end

  # A group leader that forwards each write to `test`.
  defp forward_output(test) do
    receive do
      {:io_request, from, reply_as, {:put_chars, :unicode, chars}} ->
        send(from, {:io_reply, reply_as, :ok})
        send(test, {:output, IO.chardata_to_string(chars)})

      {:io_request, from, reply_as, {:put_chars, :unicode, module, function, args}} ->
        send(from, {:io_reply, reply_as, :ok})
        send(test, {:output, IO.chardata_to_string(apply(module, function, args))})

      {:io_request, from, reply_as, _other} ->
        send(from, {:io_reply, reply_as, {:error, :enotsup}})
    end

    forward_output(test)
  end
end
