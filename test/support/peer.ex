defmodule Py.Test.Peer do
  @moduledoc false
  # Peer nodes for distribution tests: the test VM becomes a distributed node (with a
  # name of its own, so suites running side by side on one host do not clash), and
  # each peer is a fresh VM on 127.0.0.1 with this project's code paths.

  import ExUnit.Assertions, only: [flunk: 1]

  @boot_timeout 30_000

  # Makes this VM a distributed node unless it already is. Returns a function that
  # undoes what was done, for on_exit.
  def distribute! do
    if Node.alive?() do
      fn -> :ok end
    else
      # epmd is normally started by the first distributed VM; start it ourselves.
      {_, 0} = System.cmd("epmd", ["-daemon"])
      name = :"py_test_#{System.unique_integer([:positive])}_#{System.pid()}@127.0.0.1"

      case :net_kernel.start([name, :longnames]) do
        {:ok, _} ->
          fn -> :net_kernel.stop() end

        {:error, reason} ->
          flunk("could not make the test VM a distributed node: #{inspect(reason)}")
      end
    end
  end

  # The code paths a peer needs besides OTP's own: Elixir and the project.
  def code_paths do
    root = :code.root_dir()
    for path <- :code.get_path(), not List.starts_with?(path, root), do: path
  end

  # Starts a peer node. With `app: true` (the default) erlang_python is started on it
  # with this VM's application environment; `code: false` leaves Elixir and the
  # project's code out (a node that knows nothing of erlang_python).
  def start!(opts \\ []) do
    app? = Keyword.get(opts, :app, true)
    paths = if Keyword.get(opts, :code, true), do: code_paths(), else: []

    spec = %{
      name: :peer.random_name(~c"py_peer"),
      host: ~c"127.0.0.1",
      longnames: true,
      # Peers connect to this VM only. Meshed, a peer being stopped could report its
      # lost connections and make global (preventing overlapping partitions) cut
      # this VM off from the peers that stay.
      args: [~c"-connect_all", ~c"false" | Enum.flat_map(paths, &[~c"-pa", &1])],
      wait_boot: @boot_timeout
    }

    {peer, node} =
      try do
        case :peer.start(spec) do
          {:ok, peer, node} -> {peer, node}
          other -> flunk("peer node did not start: #{inspect(other)}")
        end
      catch
        :exit, reason ->
          flunk("peer node did not start within #{@boot_timeout} ms: #{inspect(reason)}")
      end

    if app? do
      for {key, value} <- Application.get_all_env(:erlang_python) do
        :ok = :erpc.call(node, Application, :put_env, [:erlang_python, key, value])
      end

      case :erpc.call(node, Application, :ensure_all_started, [:erlang_python], @boot_timeout) do
        {:ok, _} ->
          :ok

        error ->
          :peer.stop(peer)
          flunk("erlang_python did not start on #{node}: #{inspect(error)}")
      end
    end

    {peer, node}
  end

  # One peer shared by a test module (call from setup_all): this VM is distributed
  # and the peer started for the module's lifetime, both undone when it ends.
  #
  # A peer is a whole VM starting Python. One full run in many saw a module's shared
  # peer setup fail (the reason was not kept): say why, and try once more before
  # failing every test of the module.
  def shared! do
    shared_once!()
  rescue
    error ->
      IO.warn(
        "the shared peer node failed to start, trying again: " <> Exception.message(error),
        []
      )

      shared_once!()
  end

  defp shared_once! do
    undistribute = distribute!()
    {peer, node} = start!()

    ExUnit.Callbacks.on_exit(fn ->
      stop(peer)
      undistribute.()
    end)

    {:ok, remote_os_pid} = :erpc.call(node, Py, :call, [:os, :getpid, []])
    %{node: node, remote_os_pid: remote_os_pid}
  end

  def stop(peer) do
    :peer.stop(peer)
  catch
    # Already stopped by the test.
    :exit, _ -> :ok
  end

  # A callback for `Py.register_function/3` on a peer: the node it runs on.
  def node_name(_args), do: Atom.to_string(node())
end
