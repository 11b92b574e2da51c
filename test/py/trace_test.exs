defmodule Py.TraceTest do
  # Turns tracing on and off globally, so it runs alone.
  use ExUnit.Case, async: false
  doctest Py.Trace

  setup do
    Py.Trace.clear()
    Py.Trace.enable()

    on_exit(fn ->
      Py.Trace.disable()
      Py.Trace.clear()
      :telemetry.stop_listening()
    end)

    :ok =
      Py.exec("""
      @erlang.span('decorated', kind='function')
      def traced(x):
          return x * 2

      def outer():
          with erlang.span('outer'):
              return erlang.call('trace_back_into_elixir')

      def inner():
          with erlang.span('inner'):
              return 'deep'

      def failing():
          with erlang.span('failing'):
              raise ValueError('no')
      """)
  end

  # Spans travel as messages to the collector; a call to it comes after them.
  defp spans do
    {:ok, spans} = Py.Trace.get()
    spans
  end

  test "a decorated function records a span with attributes" do
    assert Py.call(:__main__, :traced, [21]) == {:ok, 42}

    assert [
             %{name: "decorated", status: :ok, parent: nil, attributes: %{"kind" => "function"}} =
               span
           ] = spans()

    assert is_integer(span.start) and span.duration >= 0
  end

  test "spans nest across erlang.call into Elixir and back into Python" do
    Py.register_function(:trace_back_into_elixir, fn [] -> Py.call!(:__main__, :inner) end)

    try do
      assert Py.call(:__main__, :outer) == {:ok, "deep"}
      by_name = Map.new(spans(), &{&1.name, &1})
      assert by_name["inner"].parent == by_name["outer"].id
      assert by_name["outer"].parent == nil
    after
      Py.unregister_function(:trace_back_into_elixir)
    end
  end

  test "an exception gives an error status and still propagates" do
    assert {:error, %Py.Error{type: "ValueError"}} = Py.call(:__main__, :failing)
    assert [%{name: "failing", status: {:error, "ValueError"}}] = spans()
  end

  test "disabled tracing records nothing; clear forgets" do
    Py.Trace.disable()
    {:ok, 2} = Py.call(:__main__, :traced, [1])
    assert spans() == []
    Py.Trace.enable()
    {:ok, 2} = Py.call(:__main__, :traced, [1])
    assert length(spans()) == 1
    Py.Trace.clear()
    assert spans() == []
  end

  test "with :telemetry present, calls and spans emit events" do
    :telemetry.listen(self())
    {:ok, 4} = Py.call(:__main__, :traced, [2])

    assert_received {:telemetry, [:erlang_python, :call, :start], %{system_time: _},
                     %{module: "__main__", function: "traced"}}

    assert_received {:telemetry, [:erlang_python, :call, :stop], %{duration: _}, %{result: :ok}}
    _ = spans()
    assert_received {:telemetry, [:erlang_python, :span, :start], _, %{name: "decorated"}}
    assert_received {:telemetry, [:erlang_python, :span, :stop], %{duration: _}, %{status: :ok}}

    {:error, _} = Py.call(:__main__, :failing)

    assert_received {:telemetry, [:erlang_python, :call, :exception], %{duration: _},
                     %{kind: :error, reason: %Py.Error{type: "ValueError"}}}

    _ = spans()

    assert_received {:telemetry, [:erlang_python, :span, :exception], _,
                     %{status: {:error, "ValueError"}}}
  end
end
