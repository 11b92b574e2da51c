defmodule Py.Trace do
  @moduledoc """
  Tracing spans from Python, to see where time goes across the language boundary.

  In Python, `erlang.span(name, **attributes)` times a block or a function:

      with erlang.span('load', path=path):
          data = load(path)

      @erlang.span('score')
      def score(batch): ...

  Spans nest, also across an `erlang.call` into Elixir that calls Python again. While
  tracing is enabled each finished span is collected here, as a map with `:name`,
  `:id`, `:parent` (the id of the enclosing span or `nil`), `:start` (system time in
  microseconds), `:duration` (microseconds), `:status` (`:ok` or
  `{:error, "ExceptionType"}`) and `:attributes`. While it is disabled (the default)
  a span costs one flag read. The last 100 000 spans are kept.

  When the `:telemetry` application is present at run time, each span also emits
  `[:erlang_python, :span, :start]` and `[:erlang_python, :span, :stop | :exception]`
  (emitted as the span is collected, with its measured start and duration), and every
  `Py.call/4` emits `[:erlang_python, :call, :start]` and then `:stop`, or `:exception`
  (with `kind: :error, reason: %Py.Error{}`) when Python raised.

  ## Examples

      iex> Py.Trace.enable()
      :ok
      iex> Py.exec("with erlang.span('work', size=3):\\n    pass")
      :ok
      iex> {:ok, [%{name: "work", status: :ok, attributes: %{"size" => 3}} | _]} = Py.Trace.get()
      iex> Py.Trace.disable()
      :ok
  """
  use GenServer

  @limit 100_000

  @doc """
  Starts collecting spans.

  ## Examples

      iex> Py.Trace.enable()
      :ok
  """
  @spec enable() :: :ok
  def enable, do: GenServer.call(__MODULE__, {:enable, true})

  @doc """
  Stops collecting spans (those collected stay until `clear/0`).

  ## Examples

      iex> Py.Trace.disable()
      :ok
  """
  @spec disable() :: :ok
  def disable, do: GenServer.call(__MODULE__, {:enable, false})

  @doc """
  Forgets the spans collected so far.

  ## Examples

      iex> Py.Trace.clear()
      :ok
  """
  @spec clear() :: :ok
  def clear, do: GenServer.call(__MODULE__, :clear)

  @doc """
  The spans collected so far, most recently started first.

  ## Examples

      iex> {:ok, spans} = Py.Trace.get()
      iex> is_list(spans)
      true
  """
  @spec get() :: {:ok, [map()]}
  def get, do: {:ok, GenServer.call(__MODULE__, :get)}

  @doc false
  def start_link(opts), do: GenServer.start_link(__MODULE__, opts, name: __MODULE__)

  @impl true
  def init(_opts) do
    :ok = Py.Native.trace_configure(self(), false)
    {:ok, %{spans: [], count: 0}}
  end

  @impl true
  def handle_call({:enable, enabled}, _from, state) do
    :ok = Py.Native.trace_configure(self(), enabled)
    {:reply, :ok, state}
  end

  def handle_call(:clear, _from, state), do: {:reply, :ok, %{state | spans: [], count: 0}}

  def handle_call(:get, _from, state) do
    {:reply, Enum.sort_by(state.spans, & &1.start, :desc), state}
  end

  @impl true
  def handle_info({:py_span, raw}, state) do
    span = shape(raw)
    Py.Telemetry.span(span)
    spans = [span | state.spans]

    state =
      if state.count >= @limit,
        do: %{state | spans: Enum.take(spans, @limit)},
        else: %{state | spans: spans, count: state.count + 1}

    {:noreply, state}
  end

  defp shape(raw) do
    %{
      name: raw["name"],
      id: raw["id"],
      parent: raw["parent"],
      start: raw["start"],
      duration: raw["duration"],
      status: status(raw["status"]),
      attributes: raw["attributes"]
    }
  end

  defp status("ok"), do: :ok
  defp status({"error", type}), do: {:error, type}
end
