defmodule Bench.Workloads.Channels do
  @moduledoc false
  # Py.Channel: messages from Elixir into a Python consumer, and replies by erlang.send.

  import Bench.Config, only: [count: 2]
  alias Bench.{Measure, PythonHelpers, Workload}

  @consumers """
  def bench_echo_channel(channel, pid):
      for message in channel:
          erlang.send(pid, message)

  def bench_count_channel(channel):
      return sum(1 for _ in channel)
  """

  def all do
    [
      %Workload{
        name: "channel_roundtrip",
        unit: "msgs/s",
        doc: "20 000 small messages Elixir → Python consumer → reply to a pid, one at a time",
        run: fn config ->
          n = count(config, 20_000)

          echo(config, n, fn channel ->
            for i <- 1..n do
              :ok = Py.Channel.send(channel, i)
              receive do: (^i -> :ok)
            end
          end)
        end
      },
      %Workload{
        name: "channel_roundtrip_pipelined",
        unit: "msgs/s",
        doc: "the same 20 000 round trips, the sender not waiting for each reply",
        run: fn config ->
          n = count(config, 20_000)

          echo(config, n, fn channel ->
            for i <- 1..n, do: :ok = Py.Channel.send(channel, i)
            for i <- 1..n, do: receive(do: (^i -> :ok))
          end)
        end
      },
      %Workload{
        name: "channel_throughput",
        unit: "msgs/s",
        doc: "200 000 small messages one way into a counting Python consumer",
        run: fn config ->
          n = count(config, 200_000)
          PythonHelpers.define!(@consumers)

          Measure.median(config, fn ->
            {:ok, channel} = Py.Channel.new()

            task =
              Task.async(fn ->
                Py.call(:__main__, :bench_count_channel, [channel], timeout: :infinity)
              end)

            us =
              Measure.elapsed_us(fn ->
                for i <- 1..n, do: :ok = Py.Channel.send(channel, i)
                :ok = Py.Channel.close(channel)
                {:ok, ^n} = Task.await(task, :infinity)
              end)

            n / (us / 1_000_000)
          end)
        end
      }
    ]
  end

  # Messages per second of `exchange` (which sends `n` and receives `n` replies)
  # through an echoing consumer.
  defp echo(config, n, exchange) do
    PythonHelpers.define!(@consumers)
    me = self()

    Measure.median(config, fn ->
      {:ok, channel} = Py.Channel.new()

      task =
        Task.async(fn ->
          Py.call(:__main__, :bench_echo_channel, [channel, me], timeout: :infinity)
        end)

      us = Measure.elapsed_us(fn -> exchange.(channel) end)
      :ok = Py.Channel.close(channel)
      {:ok, nil} = Task.await(task, :infinity)
      n / (us / 1_000_000)
    end)
  end
end
