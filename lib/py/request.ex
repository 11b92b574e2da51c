defmodule Py.Request do
  @moduledoc false
  # Submits one operation to a pool and waits for its reply. The only place that
  # talks to the context threads for requests.
  #
  # The reply arrives as {ref, result}; output printed by Python during the call
  # arrives before it as {ref, {:output, text}} and is written to this process's group
  # leader. On timeout the request is cancelled: either it had already replied (the
  # reply is taken from the mailbox) or no message for it will ever arrive, and the
  # Python code still running for it is interrupted.

  alias Py.Native

  @default_timeout 30_000

  @spec run(tuple(), keyword(), {String.t(), String.t()} | nil) ::
          {:ok, term()} | :ok | {:error, term()}
  def run(op, opts, target \\ nil) do
    timeout = Keyword.get(opts, :timeout, @default_timeout)
    validate_timeout!(timeout)

    with {:ok, pool, index, strict} <- Py.Pool.route(opts, target) do
      submit(pool, index, strict, op, timeout)
    end
  end

  @doc false
  # Submits each `{index, strict, op}` to `pool` and waits for all, within one
  # deadline. Results come back in order; what is left at the deadline is cancelled
  # and reported as {:error, :timeout}.
  @spec run_many(reference(), [{non_neg_integer(), boolean(), tuple()}], keyword()) :: [term()]
  def run_many(pool, jobs, opts) do
    timeout = Keyword.get(opts, :timeout, @default_timeout)
    validate_timeout!(timeout)

    submitted =
      Enum.map(jobs, fn {index, strict, op} ->
        ref = make_ref()

        case Native.pool_submit(pool, index, strict, ref, op, false) do
          {:ok, id} -> {:pending, ref, id}
          {:error, _} = error -> error
        end
      end)

    pending = for {:pending, ref, id} <- submitted, into: %{}, do: {ref, id}
    results = await_all(pool, pending, %{}, deadline(timeout))

    Enum.map(submitted, fn
      {:pending, ref, _id} -> Map.fetch!(results, ref)
      error -> error
    end)
  end

  defp await_all(_pool, pending, results, _deadline) when map_size(pending) == 0, do: results

  defp await_all(pool, pending, results, deadline) do
    receive do
      {ref, {:output, text}} when is_map_key(pending, ref) ->
        IO.write(text)
        await_all(pool, pending, results, deadline)

      {ref, result} when is_map_key(pending, ref) ->
        await_all(pool, Map.delete(pending, ref), Map.put(results, ref, result), deadline)
    after
      remaining(deadline) ->
        Enum.reduce(pending, results, fn {ref, id}, acc ->
          Map.put(acc, ref, give_up({:pool, pool}, id, ref))
        end)
    end
  end

  @doc false
  # Runs `op` on context `index` of a pool resource that is not registered by name
  # (a `Py.Subinterp`).
  @spec run_on(reference(), non_neg_integer(), boolean(), tuple(), keyword()) ::
          {:ok, term()} | :ok | {:error, term()}
  def run_on(pool, index, strict, op, opts) do
    timeout = Keyword.get(opts, :timeout, @default_timeout)
    validate_timeout!(timeout)
    submit(pool, index, strict, op, timeout)
  end

  defp submit(pool, index, strict, op, timeout) do
    ref = make_ref()
    reply = Native.pool_submit(pool, index, strict, ref, op, true)
    handle(reply, {:pool, pool}, ref, timeout)
  end

  @doc false
  # Runs an operation on a handle in the interpreter that owns it: a subinterpreter's
  # objects are usable only there. Main-interpreter objects follow the usual routing,
  # and so does every call that names its own pool: or context:.
  @spec run_object(Py.Object.t(), tuple(), keyword()) :: {:ok, term()} | {:error, term()}
  def run_object(%Py.Object{ref: object}, op, opts) do
    timeout = Keyword.get(opts, :timeout, @default_timeout)
    validate_timeout!(timeout)

    if Keyword.has_key?(opts, :pool) or Keyword.has_key?(opts, :context) do
      run(op, opts)
    else
      ref = make_ref()

      case Native.object_submit(object, ref, op, true) do
        :main -> run(op, opts)
        reply -> handle(reply, {:object, object}, ref, timeout)
      end
    end
  end

  defp handle(reply, target, ref, timeout) do
    case reply do
      # Answered while the NIF waited: output, if any, came first as messages.
      {:done, result, false} -> result
      {:done, result, true} -> flush_output(ref) && result
      {:ok, id} -> await_first(target, id, ref, timeout)
      {:error, _} = error -> error
    end
  end

  # The common case, a reply with no output before it, waits with the plain timeout;
  # the clock is read only when output arrives and the wait has to be resumed.
  defp await_first(target, id, ref, timeout) do
    started = :erlang.monotonic_time(:millisecond)

    receive do
      {^ref, {:output, text}} ->
        IO.write(text)
        deadline = if timeout == :infinity, do: :infinity, else: started + timeout
        await(target, id, ref, deadline)

      {^ref, result} ->
        result
    after
      timeout -> give_up(target, id, ref)
    end
  end

  defp await(target, id, ref, deadline) do
    receive do
      {^ref, {:output, text}} ->
        IO.write(text)
        await(target, id, ref, deadline)

      {^ref, result} ->
        result
    after
      remaining(deadline) -> give_up(target, id, ref)
    end
  end

  # Cancels a request past its deadline: {:error, :timeout} unless its reply won the
  # race, in which case the reply is in the mailbox and is returned.
  defp give_up(target, id, ref) do
    case cancel(target, id) do
      :cancelled ->
        flush_output(ref)
        {:error, :timeout}

      :replied ->
        await(target, id, ref, :infinity)
    end
  end

  defp cancel({:pool, pool}, id), do: Native.pool_cancel(pool, id)
  defp cancel({:object, object}, id), do: Native.object_cancel(object, id)

  # Writes output still in the mailbox: sent before a cancellation or before a reply
  # handed over inside the NIF; none can follow either.
  defp flush_output(ref) do
    receive do
      {^ref, {:output, text}} ->
        IO.write(text)
        flush_output(ref)
    after
      0 -> :ok
    end
  end

  defp deadline(:infinity), do: :infinity
  defp deadline(ms), do: :erlang.monotonic_time(:millisecond) + ms

  defp remaining(:infinity), do: :infinity
  defp remaining(deadline), do: max(deadline - :erlang.monotonic_time(:millisecond), 0)

  defp validate_timeout!(:infinity), do: :ok
  defp validate_timeout!(ms) when is_integer(ms) and ms >= 0, do: :ok

  defp validate_timeout!(other) do
    raise ArgumentError,
          "expected :timeout to be a non-negative integer or :infinity, got: #{inspect(other)}"
  end
end
