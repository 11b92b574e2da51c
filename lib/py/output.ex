defmodule Py.Output do
  @moduledoc false
  # Starts the Python runtime, then relays output written by Python threads that run
  # outside any call to the application's group leader. Output written during a call
  # goes straight to the caller instead (see Py.Request).
  use GenServer

  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @impl true
  def init(opts) do
    python = Keyword.fetch!(opts, :python)

    case Py.Native.runtime_init(python, self()) do
      {:ok, info} ->
        :persistent_term.put({Py, :runtime_info}, info)
        {:ok, nil}

      {:error, {:init_failed, why}} ->
        {:stop, {:python_init_failed, why}}
    end
  end

  @impl true
  def handle_info({:py_output, text}, state) do
    IO.write(text)
    {:noreply, state}
  end

  # `erlang.send` to a process of another node: a NIF can only send locally.
  def handle_info({:py_forward, pid, message}, state) do
    send(pid, message)
    {:noreply, state}
  end
end
