defmodule Py.Channel do
  @moduledoc """
  A queue from Elixir to Python, bounded in bytes, for streaming work into Python.

  Create a channel, pass it to Python as an argument, and send to it from any
  process. Python iterates it (`for msg in ch`, or `async for` inside an event-loop
  task) or calls `ch.receive(timeout=None)` / `ch.try_receive()`; waiting releases the
  GIL, and a timeout of the Python call interrupts the wait. Iteration ends cleanly
  once the channel is closed and everything queued has been read. Python answers with
  `erlang.send(pid, term)` (or `erlang.channel.reply`).

  Messages are stored in the external term format, so `max_size:` counts their real
  size in bytes; a `send/2` that would take the queue past it returns `:busy` at once
  instead of blocking. A channel closes with `close/1` or when the process that
  created it exits.

  A `mode: :bytes` channel carries binaries only, and Python reads it like a binary
  file: `read(n)`, `readline()`, iteration by lines — for feeding a parser or a model
  from a socket or a file in Elixir.

  ## Examples

      iex> {:ok, channel} = Py.Channel.new()
      iex> :ok = Py.Channel.send(channel, %{"n" => 1})
      iex> :ok = Py.Channel.send(channel, [2, 3])
      iex> :ok = Py.Channel.close(channel)
      iex> Py.eval("list(ch)", %{ch: channel})
      {:ok, [%{"n" => 1}, [2, 3]]}
  """

  @enforce_keys [:ref]
  defstruct [:ref]

  @type t :: %__MODULE__{ref: reference()}

  @doc """
  Creates a channel owned by the calling process. Options: `max_size:` (bytes of
  queued messages, default unbounded) and `mode:` (`:term`, the default, or `:bytes`).

  ## Examples

      iex> {:ok, %Py.Channel{}} = Py.Channel.new(max_size: 1_000_000)
  """
  @spec new(keyword()) :: {:ok, t()}
  def new(opts \\ []) do
    opts = Keyword.validate!(opts, max_size: 0, mode: :term)

    unless is_integer(opts[:max_size]) and opts[:max_size] >= 0,
      do: raise(ArgumentError, "expected :max_size to be a non-negative integer")

    unless opts[:mode] in [:term, :bytes],
      do:
        raise(ArgumentError, "expected :mode to be :term or :bytes, got: #{inspect(opts[:mode])}")

    {:ok, ref} = Py.Native.channel_new(opts[:max_size], opts[:mode] == :bytes)
    {:ok, %__MODULE__{ref: ref}}
  end

  @doc """
  Queues `message` without blocking: `:ok`, `:busy` when the queued bytes would pass
  `max_size`, or `{:error, :closed}`. A bytes channel takes binaries only.

  ## Examples

      iex> {:ok, channel} = Py.Channel.new(max_size: 20)
      iex> Py.Channel.send(channel, "small")
      :ok
      iex> Py.Channel.send(channel, String.duplicate("x", 50))
      :busy
      iex> Py.Channel.close(channel)
      iex> Py.Channel.send(channel, "late")
      {:error, :closed}
  """
  @spec send(t(), term()) :: :ok | :busy | {:error, :closed}
  def send(%__MODULE__{ref: ref}, message) do
    case Py.Native.channel_send(local!(ref), message) do
      {:error, :not_binary} ->
        raise ArgumentError, "a bytes channel takes binaries, got: #{inspect(message)}"

      result ->
        result
    end
  end

  @doc """
  Closes the channel: sends fail from now on; Python reads what is queued, then its
  iteration ends.

  ## Examples

      iex> {:ok, channel} = Py.Channel.new()
      iex> Py.Channel.close(channel)
      :ok
  """
  @spec close(t()) :: :ok
  def close(%__MODULE__{ref: ref}), do: Py.Native.channel_close(local!(ref))

  @doc """
  What is queued: `%{size: messages, bytes: bytes, max_size: max, closed: closed?,
  owner: pid}`.

  ## Examples

      iex> {:ok, channel} = Py.Channel.new()
      iex> :ok = Py.Channel.send(channel, :hello)
      iex> %{size: 1, closed: false} = Py.Channel.info(channel)
  """
  @spec info(t()) :: %{
          size: non_neg_integer(),
          bytes: non_neg_integer(),
          max_size: non_neg_integer(),
          closed: boolean(),
          owner: pid()
        }
  def info(%__MODULE__{ref: ref}), do: Py.Native.channel_info(local!(ref))

  # A channel is a queue in one node's memory; its reference means nothing elsewhere.
  defp local!(ref) do
    if node(ref) == node() do
      ref
    else
      raise ArgumentError,
            "a Py.Channel of node #{node(ref)} cannot be used on node #{node()}: " <>
              "a channel is a queue in the memory of the node that made it"
    end
  end
end
