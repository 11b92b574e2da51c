defmodule Py.Telemetry do
  @moduledoc false
  # Emits :telemetry events when the telemetry application is there at run time; the
  # package does not depend on it. Checked once at start and kept in persistent_term
  # so a call pays one lookup when it is absent.

  @key {__MODULE__, :enabled}

  def setup do
    enabled = Code.ensure_loaded?(:telemetry) and function_exported?(:telemetry, :execute, 3)
    :persistent_term.put(@key, enabled)
  end

  def enabled?, do: :persistent_term.get(@key, false)

  # [:erlang_python, :call, :start] and then :stop, or :exception when Python raised.
  def call(module, function, fun) do
    if enabled?() do
      metadata = %{module: module, function: function}
      start = System.monotonic_time()
      execute([:erlang_python, :call, :start], %{system_time: System.system_time()}, metadata)
      result = fun.()
      measurements = %{duration: System.monotonic_time() - start}

      case result do
        {:error, %Py.Error{} = error} ->
          metadata = Map.merge(metadata, %{kind: :error, reason: error})
          execute([:erlang_python, :call, :exception], measurements, metadata)

        {:error, _} ->
          execute(
            [:erlang_python, :call, :stop],
            measurements,
            Map.put(metadata, :result, :error)
          )

        _ ->
          execute([:erlang_python, :call, :stop], measurements, Map.put(metadata, :result, :ok))
      end

      result
    else
      fun.()
    end
  end

  # A finished span from Python: its start, then its stop or exception.
  def span(span) do
    if enabled?() do
      metadata = %{name: span.name, id: span.id, parent: span.parent, attributes: span.attributes}
      execute([:erlang_python, :span, :start], %{system_time: span.start}, metadata)
      finish = if span.status == :ok, do: :stop, else: :exception

      execute(
        [:erlang_python, :span, finish],
        %{duration: span.duration},
        Map.put(metadata, :status, span.status)
      )
    end

    :ok
  end

  defp execute(event, measurements, metadata) do
    # Called through apply: there is no compile-time dependency on :telemetry.
    apply(:telemetry, :execute, [event, measurements, metadata])
  end
end
