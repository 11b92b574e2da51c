defmodule Py.DistributionTest do
  # Python on another node through the same calls: a peer VM runs erlang_python and
  # this VM calls it with :erpc and :rpc, as any Erlang or Elixir function.
  use ExUnit.Case, async: false

  alias Py.Test.Peer

  setup_all do
    Peer.shared!()
  end

  test "Py and py calls run on the remote node", %{node: node, remote_os_pid: remote_os_pid} do
    assert remote_os_pid != String.to_integer(System.pid())
    assert :erpc.call(node, Py, :call, [:math, :sqrt, [2.0]]) == {:ok, 1.4142135623730951}

    assert :erpc.call(node, Py, :call, [:builtins, :int, ["ff"], [kwargs: [base: 16]]]) ==
             {:ok, 255}

    assert :erpc.call(node, :py, :call, [:math, :sqrt, [16.0]]) == {:ok, 4.0}
    assert :rpc.call(node, :py, :call, [:builtins, :int, ["ff"], %{base: 16}]) == {:ok, 255}

    # Errors keep their shape on the way back.
    assert {:error, %Py.Error{type: "ZeroDivisionError"}} = :erpc.call(node, Py, :eval, ["1/0"])

    assert :erpc.call(node, :py, :eval, ["1/0"]) ==
             {:error, {:ZeroDivisionError, "division by zero"}}

    assert :erpc.call(node, Py, :call, [:time, :sleep, [5], [timeout: 50]]) == {:error, :timeout}

    # Definitions live in the remote node's interpreter.
    assert :erpc.call(node, Py, :exec, ["remote_only = 'there'"]) == :ok
    assert :erpc.call(node, Py, :eval, ["remote_only"]) == {:ok, "there"}
    assert {:error, %Py.Error{type: "NameError"}} = Py.eval("remote_only")
  end

  test "values cross the wire exactly, pids and references included", %{node: node} do
    value = %{
      "big" => 2 ** 100,
      "float" => 0.1,
      "text" => "héllo",
      "bytes" => <<255, 0, 1>>,
      "nested" => [1, {2, [3.5]}, nil, true],
      "set" => MapSet.new([1, 2]),
      "pid" => self(),
      "ref" => make_ref(),
      7 => "integer key"
    }

    assert :erpc.call(node, Py, :eval, ["x", %{x: value}]) == {:ok, value}

    assert :erpc.call(node, Py, :eval, ["[float('nan'), float('-inf')]"]) ==
             {:ok, [:nan, :neg_infinity]}
  end

  test "parallel maps across nodes with :rpc.pmap and :erpc.multicall", %{
    node: node,
    remote_os_pid: remote_os_pid
  } do
    local_os_pid = String.to_integer(System.pid())

    # :rpc.pmap spreads the list over this node and the connected ones, in turn.
    assert {:py, :call} |> :rpc.pmap([:getpid, []], [:os, :os]) |> Enum.sort() ==
             Enum.sort([{:ok, local_os_pid}, {:ok, remote_os_pid}])

    assert :erpc.multicall([node(), node], Py, :call, [:math, :factorial, [20]]) ==
             [{:ok, {:ok, 2_432_902_008_176_640_000}}, {:ok, {:ok, 2_432_902_008_176_640_000}}]

    assert :erpc.multicall([node(), node], :py, :call, [:os, :getpid, []]) ==
             [{:ok, {:ok, local_os_pid}}, {:ok, {:ok, remote_os_pid}}]
  end

  test "print in a remote call reaches the caller's group leader", %{
    node: node,
    remote_os_pid: remote_os_pid
  } do
    output =
      ExUnit.CaptureIO.capture_io(fn ->
        assert :erpc.call(node, Py, :eval, ["print('from', __import__('os').getpid())"]) ==
                 {:ok, nil}
      end)

    assert output == "from #{remote_os_pid}\n"

    # Through a group leader of our own, for a process that is not the test's.
    leader = spawn_link(fn -> relay_output([]) end)
    test = self()

    spawn_link(fn ->
      Process.group_leader(self(), leader)
      send(test, {:result, :erpc.call(node, :py, :exec, ["print('exec here')\nprint('again')"])})
    end)

    assert_receive {:result, :ok}, 10_000
    send(leader, {:flush, self()})
    assert_receive {:output, "exec here\nagain\n"}
  end

  test "callbacks run on the node running the Python code", %{node: node} do
    :ok = :erpc.call(node, Py, :register_function, [:node_name, Peer, :node_name])

    assert :erpc.call(node, Py, :eval, ["erlang.call('node_name')"]) ==
             {:ok, Atom.to_string(node)}

    assert {:error, %Py.Error{message: message}} = Py.eval("erlang.call('node_name')")
    assert message =~ "node_name"
  end

  describe "Py.Object handles stay on their node" do
    test "a handle of this node is refused by name on another", %{node: node} do
      {:ok, deque} = Py.call(:collections, :deque, [[1, 2, 3]])

      for {module, function, args} <- [
            {Py, :call, [:builtins, :len, [deque]]},
            {Py, :eval, ["len(x)", %{x: [deque]}]},
            {Py, :call_method, [deque, :append, [4]]},
            {Py, :getattr, [deque, :maxlen]},
            {Py, :repr, [deque]},
            {Py, :call_method, [deque, :append, [4], [pool: :default]]}
          ] do
        assert {:error, {:invalid, message}} = :erpc.call(node, module, function, args)

        assert message =~
                 "a Py.Object of node #{node()} cannot be used on node #{node}: " <>
                   "handles stay on the node that created them"
      end

      assert {:error, {:invalid, "a Py.Object of node" <> _}} =
               :erpc.call(node, :py, :call, [:builtins, :len, [deque]])

      assert :erpc.call(node, Kernel, :inspect, [deque]) ==
               "#Py.Object<unavailable: a handle of #{node()}>"

      # Nothing reached the object, and it still works here.
      assert Py.call(:builtins, :list, [deque]) == {:ok, [1, 2, 3]}
      # The remote node is fine too.
      assert :erpc.call(node, Py, :call, [:builtins, :len, [[1]]]) == {:ok, 1}
    end

    test "a handle made on another node is refused here", %{node: node} do
      {:ok, remote} = :erpc.call(node, Py, :call, [:collections, :deque, [[9]]])

      assert {:error, {:invalid, message}} = Py.call(:builtins, :len, [remote])

      assert message =~
               "a Py.Object of node #{node} cannot be used on node #{node()}"

      assert {:error, {:invalid, ^message}} = Py.call_method(remote, :append, [1])
      assert Py.parallel([{:builtins, :len, [remote]}]) == {:ok, [{:error, {:invalid, message}}]}
      assert inspect(remote) == "#Py.Object<unavailable: a handle of #{node}>"

      # Nothing on its node holds it any more: the object is released there once the
      # process that made it has ended, and coming back does not revive it.
      Py.Test.Wait.wait_until(fn ->
        :erpc.call(node, Py, :call, [:builtins, :len, [remote]]) ==
          {:error, {:invalid, "a Py.Object without a live handle cannot be converted"}}
      end)

      assert :erpc.call(node, Py, :call_method, [remote, :append, [10]]) ==
               {:error, {:invalid, "a Py.Object without a live handle cannot be used"}}
    end

    test "a handle that went to another node and came back is the same object", %{node: node} do
      {:ok, deque} = Py.call(:collections, :deque, [[1]])
      back = :erpc.call(node, :erlang, :hd, [[deque]])
      assert Py.eval("a is b", %{a: deque, b: back}) == {:ok, true}
      assert Py.call_method(back, :append, [2]) == {:ok, nil}
      assert Py.call(:builtins, :list, [deque]) == {:ok, [1, 2]}
    end
  end

  test "a channel used on another node is refused by name", %{node: node} do
    {:ok, channel} = Py.Channel.new()

    assert {:exception, %ArgumentError{message: message}, _stack} =
             catch_error(:erpc.call(node, Py.Channel, :send, [channel, :hello]))

    assert message =~ "a Py.Channel of node #{node()} cannot be used on node #{node}"
    # Still fine at home.
    assert :ok = Py.Channel.send(channel, :hello)
  end

  test "erlang.send reaches a process of another node", %{node: node} do
    # A NIF sends to local processes only; the peer's relay forwards the rest.
    assert {:ok, nil} = :erpc.call(node, Py, :eval, ["erlang.send(p, ('hi', 42))", %{p: self()}])

    assert_receive {"hi", 42}
  end

  # A minimal group leader: collects what is written and hands it over on request.
  defp relay_output(acc) do
    receive do
      {:io_request, from, reply_as, {:put_chars, :unicode, chars}} ->
        send(from, {:io_reply, reply_as, :ok})
        relay_output([acc | chars])

      {:io_request, from, reply_as, {:put_chars, :unicode, module, function, args}} ->
        send(from, {:io_reply, reply_as, :ok})
        relay_output([acc | apply(module, function, args)])

      {:io_request, from, reply_as, _other} ->
        send(from, {:io_reply, reply_as, {:error, :enotsup}})
        relay_output(acc)

      {:flush, to} ->
        send(to, {:output, IO.iodata_to_binary(acc)})
        relay_output([])
    end
  end
end
