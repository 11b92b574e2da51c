defmodule Py.ChannelTest do
  use ExUnit.Case, async: false
  doctest Py.Channel

  import Py.Test.Wait

  setup_all do
    :ok =
      Py.exec("""
      import threading

      def echo_all(channel, pid):
          count = 0
          for message in channel:
              erlang.send(pid, ('echo', message))
              count += 1
          return count

      def count_all(channel):
          return sum(1 for _ in channel)

      def receive_one(channel, timeout):
          try:
              return ('got', channel.receive(timeout))
          except TimeoutError:
              return 'timeout'
          except erlang.ChannelClosed:
              return 'closed'

      def wait_forever(channel, key):
          try:
              channel.receive()
          except TimeoutError:
              erlang.state_set(key, 'wait interrupted')
              raise

      def lines(channel):
          return [line for line in channel]

      def read_parts(channel):
          return (channel.read(3), channel.readline(), channel.read())

      async def async_sum(channel):
          total = 0
          async for n in channel:
              total += n
          return total

      def uses_module(channel, pid):
          from erlang.channel import Channel, ChannelClosed, reply
          assert isinstance(channel, Channel)
          return reply(pid, channel.try_receive())
      """)

    :ok
  end

  test "Python iterates, replies in order to the pid it was given, and stops at close" do
    {:ok, channel} = Py.Channel.new()
    me = self()
    task = Task.async(fn -> Py.call(:__main__, :echo_all, [channel, me]) end)
    for n <- 1..50, do: :ok = Py.Channel.send(channel, n)

    for n <- 1..50 do
      assert_receive {"echo", ^n}, 5_000
    end

    Py.Channel.close(channel)
    assert Task.await(task) == {:ok, 50}
  end

  test "a channel Python hands back is the same channel, and dropping it closes nothing" do
    {:ok, channel} = Py.Channel.new()
    {:ok, %Py.Channel{} = returned} = Py.eval("ch", %{ch: channel})
    :ok = Py.Channel.send(returned, :via_returned)
    assert Py.eval("ch.try_receive()", %{ch: channel}) == {:ok, "via_returned"}

    # The returned copy is garbage collected; the original still works.
    Task.async(fn -> {:ok, %Py.Channel{}} = Py.eval("ch", %{ch: channel}) end) |> Task.await()
    :erlang.garbage_collect()
    :ok = Py.Channel.send(channel, :still_open)
    assert Py.eval("ch.try_receive()", %{ch: channel}) == {:ok, "still_open"}
  end

  test "receive with a timeout, try_receive, and closed-and-drained" do
    {:ok, channel} = Py.Channel.new()
    assert Py.call(:__main__, :receive_one, [channel, 0.05]) == {:ok, "timeout"}
    assert Py.eval("ch.try_receive()", %{ch: channel}) == {:ok, nil}
    :ok = Py.Channel.send(channel, :queued)
    :ok = Py.Channel.close(channel)
    # A closed channel still delivers what is queued.
    assert Py.call(:__main__, :receive_one, [channel, 1]) == {:ok, {"got", "queued"}}
    assert Py.call(:__main__, :receive_one, [channel, 1]) == {:ok, "closed"}
  end

  test "max_size bounds queued bytes; reading makes room" do
    {:ok, channel} = Py.Channel.new(max_size: 100)
    payload = String.duplicate("x", 40)
    assert Py.Channel.send(channel, payload) == :ok
    assert Py.Channel.send(channel, payload) == :ok
    assert Py.Channel.send(channel, payload) == :busy

    assert %{size: 2, bytes: bytes, max_size: 100, closed: false, owner: owner} =
             Py.Channel.info(channel)

    assert bytes > 80 and bytes <= 100
    assert owner == self()
    assert Py.eval("ch.try_receive()", %{ch: channel}) == {:ok, payload}
    assert Py.Channel.send(channel, payload) == :ok
  end

  test "the call's timeout interrupts a wait; the context is reused" do
    {:ok, channel} = Py.Channel.new()
    key = "channel_wait_#{System.unique_integer([:positive])}"
    assert Py.call(:__main__, :wait_forever, [channel, key], timeout: 100) == {:error, :timeout}
    wait_until(fn -> Py.State.fetch(key) == {:ok, "wait interrupted"} end)
    assert Py.call(:math, :sqrt, [4.0]) == {:ok, 2.0}
  end

  test "a waiting frame still serves its callbacks' nested calls" do
    {:ok, channel} = Py.Channel.new()

    Py.register_function(:feed_channel, fn [] ->
      Py.Channel.send(channel, "fed")
      Py.Channel.close(channel)
    end)

    try do
      :ok =
        Py.exec("def feed_then_read(ch):\n    erlang.call('feed_channel')\n    return list(ch)")

      assert Py.call(:__main__, :feed_then_read, [channel]) == {:ok, ["fed"]}
    after
      Py.unregister_function(:feed_channel)
    end
  end

  test "the channel closes when its owner dies" do
    test = self()

    owner =
      spawn(fn ->
        {:ok, channel} = Py.Channel.new()
        :ok = Py.Channel.send(channel, :last)
        send(test, {:channel, channel})
        receive do: (:stop -> :ok)
      end)

    assert_receive {:channel, channel}
    task = Task.async(fn -> Py.call(:__main__, :count_all, [channel], timeout: 10_000) end)
    send(owner, :stop)
    assert Task.await(task) == {:ok, 1}
    assert %{closed: true} = Py.Channel.info(channel)
  end

  test "a bytes channel reads like a file" do
    {:ok, channel} = Py.Channel.new(mode: :bytes)
    for part <- ["hel", "lo\nwor", "ld\nend"], do: :ok = Py.Channel.send(channel, part)
    :ok = Py.Channel.close(channel)
    assert Py.call(:__main__, :read_parts, [channel]) == {:ok, {"hel", "lo\n", "world\nend"}}

    {:ok, lines} = Py.Channel.new(mode: :bytes, max_size: 1_000)
    :ok = Py.Channel.send(lines, "a\nb\n")
    :ok = Py.Channel.close(lines)
    assert Py.call(:__main__, :lines, [lines]) == {:ok, ["a\n", "b\n"]}
    assert_raise ArgumentError, fn -> Py.Channel.send(lines, :not_binary) end
  end

  test "async iteration inside an event-loop task" do
    {:ok, channel} = Py.Channel.new()
    for n <- 1..10, do: :ok = Py.Channel.send(channel, n)
    :ok = Py.Channel.close(channel)
    assert Py.EventLoop.run(:__main__, :async_sum, [channel]) == {:ok, 55}
  end

  test "erlang.channel offers Channel, ChannelClosed and reply, as erlang_python 2.x does" do
    {:ok, channel} = Py.Channel.new()
    :ok = Py.Channel.send(channel, "hi")
    assert Py.call(:__main__, :uses_module, [channel, self()]) == {:ok, true}
    assert_receive "hi"
  end

  @tag :subinterp
  test "a subinterpreter reads a channel too" do
    {:ok, interp} = Py.Subinterp.create()

    try do
      {:ok, channel} = Py.Channel.new()
      for n <- 1..5, do: :ok = Py.Channel.send(channel, n)
      :ok = Py.Channel.close(channel)
      assert Py.Subinterp.eval(interp, "sum(ch)", %{ch: channel}) == {:ok, 15}
    after
      Py.Subinterp.destroy(interp)
    end
  end
end
