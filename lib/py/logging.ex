defmodule Py.Logging do
  @moduledoc false
  # Turns Python log records into Logger calls. A handler on Python's root logger (in
  # every interpreter) sends {:py_log, level, message, metadata} here without waiting.
  use GenServer

  require Logger

  @levels %{debug: 10, info: 20, warning: 30, error: 40, critical: 50}
  @metadata %{
    "python_logger" => :python_logger,
    "python_module" => :python_module,
    "file" => :file,
    "line" => :line,
    "python_function" => :python_function,
    "python_thread" => :python_thread,
    "exception" => :exception
  }

  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @doc false
  # A Logger-style level (or a Python number) as Python's number; nil stays nil.
  def python_level(nil), do: nil
  def python_level(level) when is_integer(level), do: level

  def python_level(level) when is_map_key(@levels, level), do: Map.fetch!(@levels, level)

  def python_level(other) do
    raise ArgumentError,
          "expected a log level (:debug, :info, :warning, :error, :critical or an integer), got: #{inspect(other)}"
  end

  @impl true
  def init(_opts) do
    :ok = Py.Native.logging_relay(self())
    {:ok, nil}
  end

  @impl true
  def handle_info({:py_log, level, message, metadata}, state) do
    # Only the known keys become metadata: Python never creates atoms.
    metadata = for {key, value} <- metadata, atom = @metadata[key], do: {atom, value}
    Logger.log(level, message, metadata)
    {:noreply, state}
  end
end
