defmodule Py.Stream do
  @moduledoc false
  # Lazy Elixir streams over Python iterables: the source is wrapped in an
  # `erlang._Stream` (in the interpreter that made it) and read `batch` items per
  # round trip. Halting closes the source, so a generator's `finally` runs.

  @default_batch 1_000

  @spec call(String.t(), String.t(), list(), keyword()) :: Enumerable.t()
  def call(module, function, args, opts) do
    {kwargs, opts} = Keyword.pop(opts, :kwargs)
    opts = registered_pool(opts, module, function)
    open(&Py.call("erlang", "_stream_call", [module, function, args, kwargs], &1), opts)
  end

  # A stream of a function goes to the pool registered for it, as a call does, unless
  # the options or a bound context say otherwise.
  defp registered_pool(opts, module, function) do
    if Keyword.has_key?(opts, :pool) or Keyword.has_key?(opts, :context) or Py.Context.bound(),
      do: opts,
      else: Keyword.put(opts, :pool, Py.Pool.lookup(module, function))
  end

  @spec eval(String.t(), map(), keyword()) :: Enumerable.t()
  def eval(code, locals, opts) do
    open(&Py.call("erlang", "_stream_eval", [code, locals], &1), opts)
  end

  defp open(start, opts) do
    {batch, opts} = Keyword.pop(opts, :batch, @default_batch)

    unless is_integer(batch) and batch > 0,
      do: raise(ArgumentError, "expected :batch to be a positive integer, got: #{inspect(batch)}")

    # Later round trips go where the stream lives: its handle routes them.
    call_opts = Keyword.take(opts, [:timeout, :pool, :context])
    start_opts = Keyword.put(opts, :return, :ref)

    Stream.resource(
      fn -> ok!(start.(start_opts)) end,
      fn
        {:done, stream} ->
          {:halt, {:done, stream}}

        stream ->
          case Py.call_method(stream, :next_batch, [batch], call_opts) do
            {:ok, {items, true}} -> {items, {:done, stream}}
            {:ok, {items, false}} -> {items, stream}
            {:error, reason} -> raise_reason(reason)
          end
      end,
      fn
        {:done, stream} -> close(stream, call_opts)
        stream -> close(stream, call_opts)
      end
    )
  end

  defp ok!({:ok, stream}), do: stream
  defp ok!({:error, reason}), do: raise_reason(reason)

  defp close(stream, opts) do
    case Py.call_method(stream, :close, [], opts) do
      {:ok, nil} -> :ok
      {:error, reason} -> raise_reason(reason)
    end
  end

  defp raise_reason(%Py.Error{} = error), do: raise(error)
  defp raise_reason(reason), do: raise(RuntimeError, "Python stream failed: #{inspect(reason)}")
end
