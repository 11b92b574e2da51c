defmodule Py.Callback do
  @moduledoc false
  # Python's `erlang.call(name, *args)` runs an Elixir function registered here.
  #
  # A callback made by a running request is run by the process waiting for that
  # request (Py.Request receives it), so `self()`, the group leader and Logger
  # metadata are the caller's; while it runs, the frame's token sits in the process
  # dictionary so calls into Python go on top of the parked frame.
  #
  # A callback made from a thread that runs no request (a `threading.Thread`) comes
  # to this process, which runs it in a process of its own under Py.CallbackTasks.
  use GenServer

  @functions {__MODULE__, :functions}
  @frame :"$py_frame"

  @type target :: (list() -> term()) | {module(), atom()}

  @spec register(String.t(), target()) :: :ok
  def register(name, target) do
    update(&Map.put(&1, name, target))
  end

  @spec unregister(String.t()) :: :ok
  def unregister(name), do: update(&Map.delete(&1, name))

  @spec functions() :: %{String.t() => target()}
  def functions, do: :persistent_term.get(@functions, %{})

  # Registrations change rarely and are read on every callback. The names also go
  # to the NIF, so Python sees them as attributes of the `erlang` module.
  defp update(fun) do
    :global.trans({@functions, self()}, fn ->
      functions = fun.(functions())
      :persistent_term.put(@functions, functions)
      Py.Native.callback_names(Map.keys(functions))
    end)

    :ok
  end

  @doc false
  # Runs callback `seq` of a parked frame in the calling process and answers it.
  @spec run_for_frame(reference(), non_neg_integer(), String.t(), list(), timeout() | integer()) ::
          :ok | :gone
  def run_for_frame(token, seq, name, args, deadline) do
    previous = Process.put(@frame, {token, deadline})
    result = invoke(name, args)

    if previous,
      do: Process.put(@frame, previous),
      else: Process.delete(@frame)

    Py.Native.frame_reply(token, seq, result)
  end

  @doc false
  # `{:ok, value}`, or `{:error, {kind, module, message}}` for Python to raise.
  @spec invoke(String.t(), list()) ::
          {:ok, term()} | {:error, {atom(), String.t() | nil, String.t()}}
  def invoke(name, args) do
    case Map.fetch(functions(), name) do
      {:ok, target} ->
        try do
          {:ok, apply_target(target, args)}
        rescue
          error ->
            {:error, {:error, inspect(error.__struct__), Exception.message(error)}}
        catch
          :exit, reason -> {:error, {:exit, nil, "exited: " <> inspect(reason)}}
          :throw, value -> {:error, {:throw, nil, "threw: " <> inspect(value)}}
        end

      :error ->
        {:error, {:unknown, nil, "no Elixir function is registered as #{inspect(name)}"}}
    end
  end

  defp apply_target(fun, args) when is_function(fun, 1), do: fun.(args)
  defp apply_target({module, function}, args), do: apply(module, function, [args])

  # The runner for callbacks from Python threads.

  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @impl true
  def init(_opts) do
    :ok = Py.Native.runner_register(self())
    Py.Native.callback_names(Map.keys(functions()))
    {:ok, nil}
  end

  # A thread callback has no caller whose deadline it could inherit: it gets this
  # long (config :callback_timeout), then Python sees a CallbackError.
  @default_timeout 30_000

  @impl true
  def handle_info({:py_callback, token, name, args}, state) do
    timeout = Application.get_env(:erlang_python, :callback_timeout, @default_timeout)

    Task.Supervisor.start_child(Py.CallbackTasks, fn ->
      task = Task.Supervisor.async_nolink(Py.CallbackTasks, fn -> invoke(name, args) end)

      result =
        case Task.yield(task, timeout) || Task.shutdown(task, :brutal_kill) do
          {:ok, result} -> result
          {:exit, reason} -> {:error, {:exit, nil, "exited: " <> inspect(reason)}}
          nil -> {:error, {:timeout, nil, "#{inspect(name)} took longer than #{timeout} ms"}}
        end

      Py.Native.runner_reply(token, result)
    end)

    {:noreply, state}
  end
end
