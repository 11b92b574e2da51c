defmodule Py.Memory do
  @moduledoc """
  Memory figures of the embedded Python: garbage collector state, object counts,
  the process's resident size, and allocation sites traced by `tracemalloc`.

  Everything runs in the interpreter of the `:default` pool (the main interpreter,
  unless the default pool runs subinterpreters; then its first context's). Name
  another with `pool:` and `context:`. Each subinterpreter has its own collector and
  objects; CPython keeps one `tracemalloc` state for the whole process, and
  `:rss_bytes` is the whole OS process (the BEAM included).

  The `Py` module offers these as `Py.memory_stats/0`, `Py.gc/0,1`,
  `Py.tracemalloc_start/0,1`, `Py.tracemalloc_stop/0` and `Py.tracemalloc_top/0,1`.

  ## Examples

      iex> {:ok, stats} = Py.Memory.stats()
      iex> {length(stats.gc_stats), tuple_size(stats.gc_count)}
      {3, 3}
  """

  @typedoc "What `stats/1` returns."
  @type stats :: %{
          required(:gc_stats) => [%{String.t() => non_neg_integer()}],
          required(:gc_count) => tuple(),
          required(:gc_threshold) => tuple(),
          required(:objects) => non_neg_integer(),
          required(:rss_bytes) => non_neg_integer() | nil,
          required(:max_rss_bytes) => non_neg_integer() | nil,
          optional(:traced_memory_current) => non_neg_integer(),
          optional(:traced_memory_peak) => non_neg_integer()
        }

  @typedoc "One allocation site from `tracemalloc_top/2`."
  @type site :: %{
          file: String.t(),
          line: non_neg_integer(),
          size: non_neg_integer(),
          count: non_neg_integer()
        }

  @opts [:pool, :context, :timeout]
  @tracing {__MODULE__, :tracing}

  @source ~S'''
  import gc, os, sys

  try:
      import tracemalloc
  except ImportError:
      # Subinterpreters cannot load _tracemalloc (the process has one state).
      tracemalloc = None


  def _rss():
      # Current resident size from /proc where there is one; the peak from getrusage
      # (kilobytes on Linux, bytes on macOS).
      current = peak = None
      try:
          with open("/proc/self/statm") as statm:
              current = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
      except (OSError, ValueError, IndexError):
          pass
      try:
          import resource
          peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
          peak = peak if sys.platform == "darwin" else peak * 1024
      except ImportError:
          pass
      if current is None:
          return peak, peak
      # The kernel updates the peak lazily: it can trail the current size a little.
      return current, max(current, peak) if peak is not None else None


  def stats():
      rss, max_rss = _rss()
      tracing = tracemalloc is not None and tracemalloc.is_tracing()
      traced = tracemalloc.get_traced_memory() if tracing else None
      return (gc.get_stats(), gc.get_count(), gc.get_threshold(), len(gc.get_objects()),
              rss, max_rss, traced)


  def start(frames):
      # tracemalloc's hooks are process-wide, and CPython crashes when a
      # subinterpreter ends while they trace: refuse while others exist. A pool
      # just stopped ends its interpreters in the background: give them a second.
      import time
      for name in ("_interpreters", "_xxsubinterpreters"):
          try:
              interpreters = __import__(name)
          except ImportError:
              continue
          deadline = time.monotonic() + 1.0
          while len(interpreters.list_all()) > 1:
              if time.monotonic() > deadline:
                  return "subinterpreters"
              time.sleep(0.01)
          break
      tracemalloc.start(frames)


  def top(limit):
      if tracemalloc is None or not tracemalloc.is_tracing():
          return None
      snapshot = tracemalloc.take_snapshot().filter_traces((
          tracemalloc.Filter(False, tracemalloc.__file__),
          tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
          tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
          tracemalloc.Filter(False, "<unknown>"),
      ))
      return [(s.traceback[0].filename, s.traceback[0].lineno, s.size, s.count)
              for s in snapshot.statistics("lineno")[:limit]]
  '''

  @expression "__import__('builtins').exec(source, ns) or ns[function](*args)"

  @doc """
  Collector and memory figures:

    * `:gc_stats` - per generation, `%{"collections" => n, "collected" => n,
      "uncollectable" => n}` (`gc.get_stats()`)
    * `:gc_count` and `:gc_threshold` - tuples, as `gc.get_count()` and
      `gc.get_threshold()` give them
    * `:objects` - objects tracked by the collector (`len(gc.get_objects())`:
      containers; ints and strings are not tracked)
    * `:rss_bytes` and `:max_rss_bytes` - the OS process's resident size now and at
      its peak (`nil` where the platform does not say)
    * `:traced_memory_current` and `:traced_memory_peak` - bytes traced by
      `tracemalloc`, present only while it is tracing

  Options: `pool:`, `context:`, `timeout:`.

  ## Examples

      iex> {:ok, %{objects: objects, rss_bytes: rss}} = Py.Memory.stats()
      iex> objects > 0 and rss > 0
      true
  """
  @spec stats(keyword()) :: {:ok, stats()} | {:error, Py.reason()}
  def stats(opts \\ []) do
    with {:ok, {gc_stats, count, threshold, objects, rss, max_rss, traced}} <-
           run(:stats, [], opts) do
      stats = %{
        gc_stats: gc_stats,
        gc_count: count,
        gc_threshold: threshold,
        objects: objects,
        rss_bytes: rss,
        max_rss_bytes: max_rss
      }

      case traced do
        nil ->
          {:ok, stats}

        {current, peak} ->
          {:ok, Map.merge(stats, %{traced_memory_current: current, traced_memory_peak: peak})}
      end
    end
  end

  @doc """
  Runs the garbage collector on generations up to `generation` (0, 1 or 2; default
  2, a full collection) and returns how many unreachable objects it found. Options:
  `pool:`, `context:`, `timeout:`.

  ## Examples

      iex> {:ok, found} = Py.Memory.gc()
      iex> found >= 0
      true
      iex> {:ok, _} = Py.Memory.gc(0)
  """
  @spec gc(0..2, keyword()) :: {:ok, non_neg_integer()} | {:error, Py.reason()}
  def gc(generation \\ 2, opts \\ []) when generation in 0..2 do
    Py.call(:gc, :collect, [generation], target(opts))
  end

  @doc """
  Starts tracing allocations with `tracemalloc`, keeping `frames` frames of
  traceback per allocation (default 1). Tracing slows Python down and costs memory;
  stop it with `tracemalloc_stop/1`. Starting again while tracing is fine. Options:
  `pool:`, `context:`, `timeout:`.

  tracemalloc hooks the allocator of the whole process, and CPython crashes when a
  subinterpreter ends while it traces. So tracing is refused while subinterpreters
  exist (`{:error, {:unsupported, reason}}`), and subinterpreters cannot be created
  while it traces. Call `tracemalloc.start()` from Python yourself and you are on
  your own.

  ## Examples

      iex> Py.Memory.tracemalloc_start()
      :ok
      iex> Py.Memory.tracemalloc_stop()
      :ok
  """
  @spec tracemalloc_start(pos_integer(), keyword()) :: :ok | {:error, Py.reason()}
  def tracemalloc_start(frames \\ 1, opts \\ []) when is_integer(frames) and frames > 0 do
    case run(:start, [frames], opts) do
      {:ok, nil} ->
        :persistent_term.put(@tracing, true)
        :ok

      {:ok, "subinterpreters"} ->
        {:error,
         {:unsupported,
          "tracemalloc cannot trace while subinterpreters exist: CPython crashes when one ends while tracing"}}

      {:error, _} = error ->
        error
    end
  end

  @doc false
  # Whether tracemalloc_start/2 turned tracing on: subinterpreters are refused then.
  @spec tracing?() :: boolean()
  def tracing?, do: :persistent_term.get(@tracing, false)

  @doc false
  @spec refuse_subinterpreters_while_tracing() :: :ok | {:error, {:unsupported, String.t()}}
  def refuse_subinterpreters_while_tracing do
    if tracing?(),
      do:
        {:error,
         {:unsupported,
          "no subinterpreter can be created while tracemalloc traces (Py.tracemalloc_stop/0 first): CPython crashes when one ends while tracing"}},
      else: :ok
  end

  @doc """
  Stops `tracemalloc` and drops what it traced. Stopping when it is not tracing is
  fine. Options: `pool:`, `context:`, `timeout:`.

  ## Examples

      iex> Py.Memory.tracemalloc_stop()
      :ok
  """
  @spec tracemalloc_stop(keyword()) :: :ok | {:error, Py.reason()}
  def tracemalloc_stop(opts \\ []) do
    with {:ok, nil} <- Py.call(:tracemalloc, :stop, [], target(opts)) do
      if tracing?(), do: :persistent_term.erase(@tracing)
      :ok
    end
  end

  @doc """
  The `limit` source lines (default 10) that hold the most memory allocated since
  tracing started and not freed yet, largest first: `%{file: path, line: n, size:
  bytes, count: blocks}`. `{:error, :not_tracing}` unless `tracemalloc_start/2` ran.
  Options: `pool:`, `context:`, `timeout:`.

  ## Examples

      iex> :ok = Py.Memory.tracemalloc_start()
      iex> :ok = Py.exec("kept = [bytes(1000) for _ in range(1000)]")
      iex> {:ok, [%{file: "<exec>", line: 1, size: size}]} = Py.Memory.tracemalloc_top(1)
      iex> size > 1_000_000
      true
      iex> :ok = Py.exec("del kept")
      iex> :ok = Py.Memory.tracemalloc_stop()
      iex> Py.Memory.tracemalloc_top()
      {:error, :not_tracing}
  """
  @spec tracemalloc_top(pos_integer(), keyword()) ::
          {:ok, [site()]} | {:error, :not_tracing | Py.reason()}
  def tracemalloc_top(limit \\ 10, opts \\ []) when is_integer(limit) and limit > 0 do
    case run(:top, [limit], opts) do
      {:ok, nil} ->
        {:error, :not_tracing}

      {:ok, sites} ->
        {:ok,
         Enum.map(sites, fn {file, line, size, count} ->
           %{file: file, line: line, size: size, count: count}
         end)}

      {:error, _} = error ->
        error
    end
  end

  defp run(function, args, opts) do
    locals = %{
      "source" => @source,
      "ns" => %{},
      "function" => Atom.to_string(function),
      "args" => args
    }

    Py.eval(@expression, locals, target(opts))
  end

  # Worker contexts share one interpreter, so any of them answers; a :subinterp
  # pool has one per context, so the same one (the first, unless named) must answer
  # every call, or tracemalloc_start and tracemalloc_top would meet different ones.
  defp target(opts) do
    opts = Keyword.validate!(opts, @opts)
    pool = Keyword.get(opts, :pool, :default)

    if Py.Pool.started?(pool) and Py.Pool.mode(pool) == :subinterp,
      do: Keyword.put_new(opts, :context, 0),
      else: opts
  end
end
