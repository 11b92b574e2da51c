defmodule Py.EventLoop do
  @moduledoc """
  Runs Python coroutines on asyncio event loops, many at once.

  Each interpreter gets one loop, on a Python thread of its own, started on first
  use: worker pools share the main interpreter's, each subinterpreter has its own.
  Submissions go straight from the calling process into the loop's queue, without
  a context or the GIL on the way; the loop selects on an eventfd that is written
  only when it sleeps, so a burst of tasks costs one wake-up and is taken as one
  batch. Timers fire on time and thousands of tasks can wait at once while the
  contexts stay free for calls. On Python 3.12+ tasks start eagerly: a coroutine
  that finishes without waiting never goes through the loop's queue.

  A task reports to the process that created it: what it prints goes to that
  process's group leader, and its result comes back through `await/2`. A task that
  times out is cancelled with `task.cancel()` (its `finally` blocks run) and no late
  reply ever reaches the mailbox. A task whose creator exits is cancelled the same
  way. Tasks hold a `Py.Semaphore` permit while they run, like calls.

  Coroutine functions and plain functions both work (a plain function's result is
  awaited if it is awaitable). Inside a task, `await erlang.async_call(name, *args)`
  calls a registered Elixir function without blocking the loop. Library code that
  wants its own loop can call `asyncio.run(...)` inside an ordinary `Py.call/4`.

  ## Examples

      iex> Py.exec("import asyncio\\nasync def later(x):\\n    await asyncio.sleep(0.01)\\n    return x * 2")
      :ok
      iex> Py.EventLoop.run(:__main__, :later, [21])
      {:ok, 42}
  """

  @default_timeout 30_000

  @typedoc "Options: `kwargs:`, `pool:` (the loop of that pool's interpreter), `context:`."
  @type option :: {:kwargs, map() | keyword()} | {:pool, atom()} | {:context, non_neg_integer()}

  @doc """
  Starts `module.function(*args)` as a task and returns its reference at once.

  ## Examples

      iex> {:ok, ref} = Py.EventLoop.create_task(:asyncio, :sleep, [0, "done"])
      iex> Py.EventLoop.await(ref)
      {:ok, "done"}
  """
  @spec create_task(Py.name(), Py.name(), list(), [option()]) ::
          {:ok, reference()} | {:error, Py.reason()}
  def create_task(module, function, args \\ [], opts \\ []) when is_list(args) do
    opts = Keyword.validate!(opts, [:kwargs, :pool, :context])
    submit(self(), module, function, args, opts)
  end

  @doc """
  Waits for a task made by `create_task/4` in this process. After `timeout` ms
  (default 30 000) the task is cancelled and `{:error, :timeout}` returned.

  ## Examples

      iex> {:ok, ref} = Py.EventLoop.create_task(:asyncio, :sleep, [5])
      iex> Py.EventLoop.await(ref, 20)
      {:error, :timeout}
  """
  @spec await(reference(), timeout()) :: {:ok, term()} | {:error, Py.reason() | :cancelled}
  def await(ref, timeout \\ @default_timeout) when is_reference(ref) do
    case Process.delete({__MODULE__, ref}) do
      nil -> raise ArgumentError, "no task of this process is pending under #{inspect(ref)}"
      handle -> wait(ref, handle, deadline(timeout))
    end
  end

  @doc """
  Runs `module.function(*args)` as a task and waits for its result. Options as
  `create_task/4`, plus `timeout:` (default 30 000 ms).

  ## Examples

      iex> Py.EventLoop.run(:asyncio, :sleep, [0, :awake])
      {:ok, "awake"}
  """
  @spec run(Py.name(), Py.name(), list(), keyword()) :: {:ok, term()} | {:error, term()}
  def run(module, function, args \\ [], opts \\ []) do
    {timeout, opts} = Keyword.pop(opts, :timeout, @default_timeout)

    with {:ok, ref} <- create_task(module, function, args, opts) do
      await(ref, timeout)
    end
  end

  @doc """
  Like `run/4` but returns the result or raises.

  ## Examples

      iex> Py.EventLoop.run!(:asyncio, :sleep, [0, 1])
      1
  """
  @spec run!(Py.name(), Py.name(), list(), keyword()) :: term()
  def run!(module, function, args \\ [], opts \\ []) do
    case run(module, function, args, opts) do
      {:ok, value} -> value
      {:error, %Py.Error{} = error} -> raise error
      {:error, reason} -> raise RuntimeError, "Python task failed: #{inspect(reason)}"
    end
  end

  @doc """
  Starts a task and forgets it: no reply, output goes to the application's group
  leader.

  ## Examples

      iex> Py.EventLoop.spawn_task(:asyncio, :sleep, [0])
      :ok
  """
  @spec spawn_task(Py.name(), Py.name(), list(), [option()]) :: :ok | {:error, Py.reason()}
  def spawn_task(module, function, args \\ [], opts \\ []) when is_list(args) do
    opts = Keyword.validate!(opts, [:kwargs, :pool, :context])

    case submit(nil, module, function, args, opts) do
      {:ok, ref} ->
        Process.delete({__MODULE__, ref})
        :ok

      {:error, _} = error ->
        error
    end
  end

  @doc """
  Runs every `{module, function, args}` as a task at once and returns their results
  in order. The first failure cancels the others and is returned. `timeout:` bounds
  the whole batch.

  ## Examples

      iex> Py.EventLoop.gather([{:asyncio, :sleep, [0.01, 1]}, {:asyncio, :sleep, [0, 2]}])
      {:ok, [1, 2]}
  """
  @spec gather([{Py.name(), Py.name(), list()}], keyword()) ::
          {:ok, [term()]} | {:error, term()}
  def gather(calls, opts \\ []) when is_list(calls) do
    {timeout, opts} = Keyword.pop(opts, :timeout, @default_timeout)
    opts = Keyword.validate!(opts, [:pool, :context])
    deadline = deadline(timeout)

    started =
      Enum.reduce_while(calls, {:ok, []}, fn {module, function, args}, {:ok, refs} ->
        case create_task(module, function, args, opts) do
          {:ok, ref} -> {:cont, {:ok, [ref | refs]}}
          {:error, _} = error -> {:halt, {error, refs}}
        end
      end)

    case started do
      {:ok, refs} -> collect(Enum.reverse(refs), deadline, [])
      {error, refs} -> cancel_all(refs) && error
    end
  end

  defp collect([], _deadline, results), do: {:ok, Enum.reverse(results)}

  defp collect([ref | rest], deadline, results) do
    handle = Process.delete({__MODULE__, ref})

    case wait(ref, handle, deadline) do
      {:ok, value} -> collect(rest, deadline, [value | results])
      {:error, _} = error -> cancel_all(rest) && error
    end
  end

  defp cancel_all(refs) do
    for ref <- refs, handle = Process.delete({__MODULE__, ref}), do: Py.Native.loop_cancel(handle)
    true
  end

  defp submit(pid, module, function, args, opts) do
    ref = make_ref()
    op = Py.Op.call(Py.name!(module), Py.name!(function), args, Py.kwargs!(opts[:kwargs]), :value)

    with {:ok, pool, index, strict} <- Py.Pool.route(routing(opts)) do
      case loop_submit(pool, index, strict, ref, pid, op) do
        :not_started ->
          with :ok <- start_loop(opts) do
            queued(loop_submit(pool, index, strict, ref, pid, op), ref)
          end

        reply ->
          queued(reply, ref)
      end
    end
  end

  defp loop_submit(pool, index, strict, ref, pid, op) do
    case Py.Native.loop_submit(pool, index, strict, ref, pid, op) do
      :heavy -> Py.Native.loop_submit_dirty(pool, index, strict, ref, pid, op)
      reply -> reply
    end
  end

  # The handle keeps the task alive: if this process dies, the handle is collected
  # and the task cancelled.
  defp queued({:ok, handle}, ref) do
    Process.put({__MODULE__, ref}, handle)
    {:ok, ref}
  end

  defp queued(:ok, ref), do: {:ok, ref}
  defp queued(:not_started, _ref), do: {:error, :stopped}
  defp queued({:error, _} = error, _ref), do: error

  # The loop of the interpreter the task is routed to starts on first use.
  defp start_loop(opts) do
    case Py.call(:erlang, :_loop_start, [], routing(opts)) do
      {:ok, nil} -> :ok
      {:error, _} = error -> error
    end
  end

  defp routing(opts) do
    pool = Keyword.get(opts, :pool, :default)
    call_opts = Keyword.take(opts, [:pool, :context])

    case Py.Pool.fetch(pool) do
      %{mode: :subinterp, size: size} ->
        Keyword.put_new(call_opts, :context, rem(:erlang.system_info(:scheduler_id) - 1, size))

      _ ->
        call_opts
    end
  end

  defp wait(ref, handle, deadline) do
    receive do
      {^ref, {:output, text}} ->
        IO.write(text)

        if remaining(deadline) == 0,
          do: give_up(ref, handle),
          else: wait(ref, handle, deadline)

      {^ref, result} ->
        shape(result)
    after
      remaining(deadline) -> give_up(ref, handle)
    end
  end

  defp give_up(ref, handle) do
    case Py.Native.loop_cancel(handle) do
      :cancelled ->
        flush(ref)
        {:error, :timeout}

      # The task finished as we gave up: its reply is on its way.
      :replied ->
        wait(ref, handle, :infinity)
    end
  end

  defp flush(ref) do
    receive do
      {^ref, {:output, text}} ->
        IO.write(text)
        flush(ref)
    after
      0 -> :ok
    end
  end

  defp shape({:ok, value}), do: {:ok, value}

  defp shape({:error, {:python, type, message, traceback}}),
    do: {:error, %Py.Error{type: type, message: message, traceback: traceback}}

  defp shape({:error, reason}), do: {:error, reason}

  defp deadline(:infinity), do: :infinity

  defp deadline(ms) when is_integer(ms) and ms >= 0,
    do: :erlang.monotonic_time(:millisecond) + ms

  defp remaining(:infinity), do: :infinity
  defp remaining(deadline), do: max(deadline - :erlang.monotonic_time(:millisecond), 0)
end
