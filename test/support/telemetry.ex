defmodule :telemetry do
  @moduledoc false
  # A stand-in for the telemetry library in tests (the package has no dependency on
  # it): events go to the processes listed by `listen/1`.

  def execute(event, measurements, metadata) do
    for pid <- :persistent_term.get({__MODULE__, :listeners}, []) do
      send(pid, {:telemetry, event, measurements, metadata})
    end

    :ok
  end

  def listen(pid), do: :persistent_term.put({__MODULE__, :listeners}, [pid])
  def stop_listening, do: :persistent_term.put({__MODULE__, :listeners}, [])
end
