defmodule Py.Request do
  @moduledoc false
  # Submits operations to contexts and waits for their replies: the only place that
  # talks to the context threads for requests.
  #
  # While a request runs, its context may send the caller:
  #   {ref, {:output, text}}                        - written to the group leader
  #   {ref, {:callback, token, seq, name, args}}    - Python called erlang.call: the
  #     registered function runs here, in the caller, and its result goes back to
  #     the parked Python frame (Py.Callback.run_for_frame/5)
  #   {ref, result}                                 - the reply, always last
  # A large structured result comes as {:etf, binary}: the reply in external term
  # format, decoded here, on the caller's scheduler (see `reply/1`).
  # On timeout the request is cancelled: either it had already replied (the reply is
  # taken from the mailbox) or no message for it will ever arrive, and the Python code
  # still running for it is interrupted.
  #
  # Calls made by a callback (the process dictionary holds the frame's token) run on
  # top of the parked frame when they would land on its context, under its permit
  # and within its deadline.

  alias Py.Native

  @default_timeout 30_000

  @spec run(tuple(), keyword(), {String.t(), String.t()} | nil) ::
          {:ok, term()} | :ok | {:error, term()}
  def run(op, opts, target \\ nil) do
    timeout = Keyword.get(opts, :timeout, @default_timeout)
    validate_timeout!(timeout)

    with {:ok, pool, index, strict} <- Py.Pool.route(opts, target) do
      pool |> submit(index, strict, op, timeout) |> Py.Object.explain(op)
    end
  end

  @doc false
  # Submits `op` and returns at once: the reply waits in the mailbox until
  # `await/2`. What `await/2` needs is kept in the process dictionary under the ref.
  @spec spawn(tuple(), keyword(), {String.t(), String.t()} | nil) :: reference()
  def spawn(op, opts, target \\ nil) do
    timeout = Keyword.get(opts, :timeout, @default_timeout)
    validate_timeout!(timeout)
    ref = make_ref()

    pending =
      with {:ok, pool, index, strict} <- Py.Pool.route(opts, target) do
        {frame, _deadline} = frame_and_deadline(timeout)

        case pool_submit(pool, index, strict, ref, op, false, frame) do
          {:ok, id} -> {:pending, {:pool, pool}, id}
          {:error, _} = error -> error
        end
      end

    Process.put({__MODULE__, ref}, pending)
    ref
  end

  @doc false
  # Waits for a call made with `spawn/3`: its reply, or {:error, :timeout} after
  # `timeout` ms, when the call is cancelled and its Python code interrupted.
  @spec await(reference(), timeout()) :: {:ok, term()} | :ok | {:error, term()}
  def await(ref, timeout) do
    validate_timeout!(timeout)

    case Process.delete({__MODULE__, ref}) do
      {:pending, target, id} -> await(target, id, ref, deadline(timeout))
      {:error, _} = error -> error
      nil -> raise ArgumentError, "no call of this process is pending under #{inspect(ref)}"
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
    {frame, deadline} = frame_and_deadline(timeout)

    submitted =
      Enum.map(jobs, fn {index, strict, op} ->
        ref = make_ref()

        case pool_submit(pool, index, strict, ref, op, false, frame) do
          {:ok, id} -> {:pending, ref, id}
          {:error, _} = error -> error
        end
      end)

    pending = for {:pending, ref, id} <- submitted, into: %{}, do: {ref, id}
    results = await_all(pool, pending, %{}, deadline)

    submitted
    |> Enum.zip(jobs)
    |> Enum.map(fn
      {{:pending, ref, _id}, {_, _, op}} -> Py.Object.explain(Map.fetch!(results, ref), op)
      {error, _job} -> error
    end)
  end

  defp await_all(_pool, pending, results, _deadline) when map_size(pending) == 0, do: results

  defp await_all(pool, pending, results, deadline) do
    receive do
      {ref, {:output, text}} when is_map_key(pending, ref) ->
        IO.write(text)

        if remaining(deadline) == 0,
          do: give_up_all(pool, pending, results),
          else: await_all(pool, pending, results, deadline)

      {ref, {:callback, token, seq, name, args}} when is_map_key(pending, ref) ->
        Py.Callback.run_for_frame(token, seq, name, args, deadline)
        await_all(pool, pending, results, deadline)

      {ref, result} when is_map_key(pending, ref) ->
        await_all(pool, Map.delete(pending, ref), Map.put(results, ref, reply(result)), deadline)
    after
      remaining(deadline) -> give_up_all(pool, pending, results)
    end
  end

  defp give_up_all(pool, pending, results) do
    Enum.reduce(pending, results, fn {ref, id}, acc ->
      Map.put(acc, ref, give_up({:pool, pool}, id, ref))
    end)
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

    case Process.get(:"$py_frame") do
      nil ->
        reply = pool_submit(pool, index, strict, ref, op, true, nil)
        handle(reply, {:pool, pool}, ref, timeout)

      {token, _} ->
        {_frame, deadline} = frame_and_deadline(timeout)
        reply = pool_submit(pool, index, strict, ref, op, true, token)
        handle(reply, {:pool, pool}, ref, remaining(deadline))
    end
  end

  # Large operations are copied on a dirty scheduler (the NIF says when).
  defp pool_submit(pool, index, strict, ref, op, wait, frame) do
    case Native.pool_submit(pool, index, strict, ref, op, wait, frame) do
      :heavy -> Native.pool_submit_dirty(pool, index, strict, ref, op, wait, frame)
      reply -> reply
    end
  end

  @doc false
  # Runs an operation on a handle in the interpreter that owns it: a subinterpreter's
  # objects are usable only there. Main-interpreter objects follow the usual routing,
  # and so does every call that names its own pool: or context:.
  @spec run_object(Py.Object.t(), tuple(), keyword()) :: {:ok, term()} | {:error, term()}
  def run_object(%Py.Object{ref: object} = handle, op, opts) do
    timeout = Keyword.get(opts, :timeout, @default_timeout)
    validate_timeout!(timeout)

    cond do
      foreign = Py.Object.foreign(handle) ->
        {:error, foreign}

      Keyword.has_key?(opts, :pool) or Keyword.has_key?(opts, :context) ->
        run(op, opts)

      true ->
        ref = make_ref()
        {frame, deadline} = frame_and_deadline(timeout)

        case object_submit(object, ref, op, frame) do
          :main ->
            run(op, opts)

          reply ->
            reply |> handle({:object, object}, ref, remaining(deadline)) |> Py.Object.explain(op)
        end
    end
  end

  # The NIF refuses a reference that names no live handle (a copy decoded after its
  # object was released, a struct made by hand) as a bad argument.
  defp object_submit(object, ref, op, frame) do
    Native.object_submit(object, ref, op, true, frame)
  rescue
    ArgumentError -> {:error, {:invalid, "a Py.Object without a live handle cannot be used"}}
  end

  # The frame token of the callback this process is running, if any, and the
  # deadline of a call made now: a call inside a callback never outlives the call
  # the callback belongs to.
  defp frame_and_deadline(timeout) do
    deadline = deadline(timeout)

    case Process.get(:"$py_frame") do
      nil -> {nil, deadline}
      {token, frame_deadline} -> {token, earliest(deadline, frame_deadline)}
    end
  end

  defp earliest(:infinity, other), do: other
  defp earliest(other, :infinity), do: other
  defp earliest(a, b), do: min(a, b)

  defp handle(reply, target, ref, timeout) do
    case reply do
      # Answered while the NIF waited: output, if any, came first as messages.
      {:done, result, false} -> reply(result)
      {:done, result, true} -> flush_output(ref) && reply(result)
      {:ok, id} -> await_first(target, id, ref, timeout)
      {:error, _} = error -> error
    end
  end

  # The common case, a reply with nothing before it, waits with the plain timeout;
  # the deadline is worked out only when output or a callback interrupts the wait.
  defp await_first(target, id, ref, timeout) do
    started = :erlang.monotonic_time(:millisecond)

    receive do
      {^ref, {:output, text}} ->
        IO.write(text)
        await(target, id, ref, resume_deadline(started, timeout))

      {^ref, {:callback, token, seq, name, args}} ->
        deadline = resume_deadline(started, timeout)
        Py.Callback.run_for_frame(token, seq, name, args, deadline)
        await(target, id, ref, deadline)

      {^ref, result} ->
        reply(result)
    after
      timeout -> give_up(target, id, ref)
    end
  end

  # Large structured results are built by the context as external term format rather
  # than as terms (much faster to make off the VM's threads); binary_to_term/2 builds
  # them here, onto this process's heap, in reduction-counted steps.
  defp reply({:etf, binary}), do: :erlang.binary_to_term(binary, [:safe])
  defp reply(result), do: result

  defp resume_deadline(_started, :infinity), do: :infinity
  defp resume_deadline(started, timeout), do: started + timeout

  defp await(target, id, ref, deadline) do
    receive do
      {^ref, {:output, text}} ->
        IO.write(text)
        # A call that prints without pause never leaves the mailbox quiet for
        # `after` to fire: the deadline is checked here too.
        if remaining(deadline) == 0,
          do: give_up(target, id, ref),
          else: await(target, id, ref, deadline)

      {^ref, {:callback, token, seq, name, args}} ->
        Py.Callback.run_for_frame(token, seq, name, args, deadline)
        await(target, id, ref, deadline)

      {^ref, result} ->
        reply(result)
    after
      remaining(deadline) -> give_up(target, id, ref)
    end
  end

  # Cancels a request past its deadline: {:error, :timeout} unless its reply won the
  # race, in which case the reply is on its way and is returned. Callbacks that
  # arrive meanwhile are answered as cancelled, so the frame stops waiting.
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

  # Writes output still in the mailbox, and drops callback requests of a cancelled
  # call (its frame was woken by the cancellation): none can follow.
  defp flush_output(ref) do
    receive do
      {^ref, {:output, text}} ->
        IO.write(text)
        flush_output(ref)

      {^ref, {:callback, _token, _seq, _name, _args}} ->
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
