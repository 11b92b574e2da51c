defmodule Py do
  @moduledoc """
  Call Python from Elixir: CPython runs inside the BEAM, on threads of its own.

      iex> Py.call(:math, :sqrt, [16.0])
      {:ok, 4.0}
      iex> Py.eval("x * 2", %{x: 21})
      {:ok, 42}

  ## Data

  | Elixir | Python | back to Elixir |
  |---|---|---|
  | `nil`, `true`, `false` | `None`, `True`, `False` | same |
  | other atoms | `str` | binary |
  | integers (any size) | `int` | integer, exact |
  | floats | `float` | float; nan/±inf as `:nan`, `:infinity`, `:neg_infinity` |
  | UTF-8 binary | `str` | binary |
  | other binary, `{:bytes, b}` | `bytes` | binary |
  | `{:buffer, b}` | read-only `memoryview` (no copy) | — |
  | list, tuple, map (any keys) | `list`, `tuple`, `dict` | same |
  | `MapSet` | `set` | `MapSet` (from `frozenset` too) |
  | pid, reference | `erlang.Pid`, `erlang.Ref` | the same pid or reference |
  | `%Py.Object{}` | the object itself | — |
  | — | anything else | `%Py.Object{}` handle |

  Improper lists, functions, ports and nesting deeper than 2 000 levels give
  `{:error, {:invalid, why}}`. Python never creates atoms.

  ## Copies

  Going in, small arguments are copied once into a message environment (binaries over
  64 bytes are shared by reference count, not copied); larger ones, for a call that
  finds its context idle, are converted straight from the caller's heap while it
  waits. Either way they become Python objects on the context thread: a `str` or
  `bytes` copies the binary's bytes. `{:buffer, binary}` avoids that copy: Python
  gets a read-only `memoryview` over the binary's own bytes, valid for as long as
  Python keeps it (`numpy.frombuffer` works on it). Coming back, `str` and `bytes` are
  copied once into a new binary; large dicts, sets and lists travel as external term
  format and are decoded by the caller. Integers from -256 to 16 383 arrive as
  objects each context shares between calls, as CPython shares -5..256 (only `is`
  can tell).

  ## Errors

  A Python exception comes back as `{:error, %Py.Error{}}`; other reasons are
  `:timeout`, `{:invalid, why}`, `{:no_pool, name}` and `:stopped`. The `!`
  variants raise instead.

  ## Timeouts

  `timeout:` (default 30 000 ms) bounds every call. When it expires the Python code
  running for the call is interrupted with `TimeoutError` (pure-Python code stops
  within milliseconds; a blocking C call such as `time.sleep` stops when it returns),
  the context is reused, and no late reply ever reaches the caller.

  ## Configuration

      config :erlang_python,
        python: "/path/to/python3",     # the interpreter (see README: choosing the Python)
        default_pool_size: 8,           # contexts in :default (default: schedulers online)
        default_pool_mode: :subinterp,  # :worker (default) or :subinterp (3.12+)
        max_concurrent: 64,             # Py.Semaphore permits (default: schedulers × 2 + 1)
        allow_fork: false,              # os.fork() would copy the whole VM (default: refused)
        venv: "/srv/app/.venv"          # activated at start (default: what `mix py.venv` saved)

  The keys of erlang_python 2.x configurations are accepted too: `num_contexts` (then
  `num_executors`) for `default_pool_size`, `context_mode` (`auto` is `:worker`) for
  `default_pool_mode`, and `io_pool_size`/`io_pool_mode`, which start an `:io` pool
  with the application. Our own key wins when both are set.

  ## Subprocesses

  `subprocess`, `os.system`, `os.popen` and `multiprocessing` with the `spawn` and
  `forkserver` start methods work from any context, subinterpreter or Python thread,
  with exact exit codes (the application restores the default SIGCHLD disposition,
  which the VM sets to ignored). `os.fork()` and multiprocessing's `fork` method raise
  `RuntimeError` unless `allow_fork: true`.

  ## Output

  `print` in Python goes to the calling process's group leader, so iex,
  `ExUnit.CaptureIO` and Livebook show it. Output of Python threads running outside
  any call goes to the application's group leader.
  """

  @typedoc "A module or function name: `:math`, `\"os.path\"`."
  @type name :: atom() | String.t()

  @typedoc "Why a call failed."
  @type reason ::
          Py.Error.t()
          | :timeout
          | :stopped
          | {:invalid, String.t()}
          | {:no_pool, atom()}
          | {:overloaded, non_neg_integer(), non_neg_integer()}

  @typedoc """
  Options of every call:

    * `:timeout` - milliseconds or `:infinity` (default 30 000)
    * `:pool` - the pool to run on (default `:default`)
    * `:context` - pin the call to one context: a `Py.Context` or an index of the pool
    * `:return` - `:ref` returns a `%Py.Object{}` handle whatever the value
  """
  @type option ::
          {:timeout, timeout()}
          | {:pool, atom()}
          | {:context, Py.Context.t() | non_neg_integer()}
          | {:return, :value | :ref}

  @common_opts [:timeout, :pool, :context, return: :value]

  @doc """
  Calls `module.function(*args, **kwargs)`.

  Module and function names are atoms or strings, dotted paths allowed
  (`"os.path"`, `"Path.home"`). Names are looked up with import and getattr; they
  never reach Python as code. Options: `kwargs:` (map or keyword list) and those of
  `t:option/0`.

  ## Examples

      iex> Py.call(:math, :sqrt, [2.0])
      {:ok, 1.4142135623730951}
      iex> Py.call("os.path", :join, ["a", "b"])
      {:ok, "a/b"}
      iex> Py.call(:builtins, :int, ["ff"], kwargs: [base: 16])
      {:ok, 255}
      iex> {:error, %Py.Error{type: "ModuleNotFoundError"}} = Py.call(:no_such_module, :f)
  """
  @spec call(name(), name(), list(), [option() | {:kwargs, map() | keyword()}]) ::
          {:ok, term()} | {:error, reason()}
  def call(module, function, args \\ [], opts \\ [])

  def call(module, function, args, opts) when is_list(args) do
    # The hot path: no options to check in the common case.
    opts = if opts == [], do: opts, else: Keyword.validate!(opts, [:kwargs | @common_opts])

    module = name!(module)
    function = name!(function)
    op = Py.Op.call(module, function, args, kwargs!(opts[:kwargs]), opts[:return])

    if Py.Telemetry.enabled?() do
      Py.Telemetry.call(module, function, fn -> Py.Request.run(op, opts, {module, function}) end)
    else
      Py.Request.run(op, opts, {module, function})
    end
  end

  def call(_module, _function, args, _opts) do
    raise ArgumentError, "expected the arguments as a list, got: #{inspect(args)}"
  end

  @doc """
  Like `call/4` but returns the value or raises.

  ## Examples

      iex> Py.call!(:math, :floor, [2.5])
      2
  """
  @spec call!(name(), name(), list(), keyword()) :: term()
  def call!(module, function, args \\ [], opts \\ []) do
    unwrap!(call(module, function, args, opts))
  end

  @doc """
  Evaluates one Python expression. `locals` (a map) become local variables; names
  defined by `exec/2` are visible as globals.

  ## Examples

      iex> Py.eval("1 + 1")
      {:ok, 2}
      iex> Py.eval("[n * n for n in range(count)]", %{count: 4})
      {:ok, [0, 1, 4, 9]}
      iex> {:error, %Py.Error{type: "SyntaxError"}} = Py.eval("1 +")
  """
  @spec eval(String.t(), map(), [option()]) :: {:ok, term()} | {:error, reason()}
  def eval(code, locals \\ %{}, opts \\ [])

  def eval(code, locals, opts) when is_binary(code) and is_map(locals) do
    opts = Keyword.validate!(opts, @common_opts)
    locals = if map_size(locals) == 0, do: nil, else: locals
    Py.Request.run(Py.Op.eval(code, locals, opts[:return]), opts)
  end

  def eval(code, locals, _opts) do
    raise ArgumentError,
          "expected code as a string and locals as a map, got: #{inspect(code)} and #{inspect(locals)}"
  end

  @doc """
  Like `eval/3` but returns the value or raises.

  ## Examples

      iex> Py.eval!("'-'.join(['a', 'b'])")
      "a-b"
  """
  @spec eval!(String.t(), map(), keyword()) :: term()
  def eval!(code, locals \\ %{}, opts \\ []), do: unwrap!(eval(code, locals, opts))

  @doc """
  Runs Python statements in `__main__`. Definitions stay there for later calls, from
  any process, on the same pool. On a `:subinterp` pool (named with `pool:`) the code
  runs in every context's interpreter, so the definitions exist wherever a later call
  lands; with `context:` it runs in that one context only.

  ## Examples

      iex> Py.exec("def double(x):\\n    return 2 * x")
      :ok
      iex> Py.call(:__main__, :double, [21])
      {:ok, 42}
  """
  @spec exec(String.t(), [option()]) :: :ok | {:error, reason()}
  def exec(code, opts \\ []) when is_binary(code) do
    opts = Keyword.validate!(opts, @common_opts)

    with %{mode: :subinterp, resource: resource, size: size} <- broadcast_pool(opts) do
      jobs = for index <- 0..(size - 1), do: {index, true, Py.Op.exec(code)}

      resource
      |> Py.Request.run_many(jobs, opts)
      |> Enum.find(:ok, &(&1 != :ok))
    else
      _ -> Py.Request.run(Py.Op.exec(code), opts)
    end
  end

  # The pool whose every context an exec must reach: a :subinterp pool named with
  # `pool:` (or the default one), when no single context is asked for.
  defp broadcast_pool(opts) do
    if Keyword.has_key?(opts, :context) or Py.Context.bound() != nil do
      nil
    else
      Py.Pool.fetch(Keyword.get(opts, :pool, :default))
    end
  end

  @doc """
  Like `exec/2` but raises on error.

  ## Examples

      iex> Py.exec!("counter = 0")
      :ok
  """
  @spec exec!(String.t(), keyword()) :: :ok
  def exec!(code, opts \\ []) do
    case exec(code, opts) do
      :ok -> :ok
      {:error, reason} -> raise_reason(reason)
    end
  end

  @doc """
  Runs several calls at once, spread across the contexts of a pool, and returns their
  results in order. `timeout:` bounds the whole batch; calls still running then are
  interrupted and reported as `{:error, :timeout}`. Each call passes the semaphore.

  ## Examples

      iex> {:ok, results} = Py.parallel([{:math, :sqrt, [4.0]}, {:math, :floor, [2.5]}, {:builtins, :int, ["x"]}])
      iex> [{:ok, 2.0}, {:ok, 2}, {:error, %Py.Error{type: "ValueError"}}] = results
  """
  @spec parallel([{name(), name(), list()}], keyword()) ::
          {:ok, [{:ok, term()} | {:error, reason()}]} | {:error, reason()}
  def parallel(calls, opts \\ []) when is_list(calls) do
    opts = Keyword.validate!(opts, [:timeout, pool: :default])
    pool = opts[:pool]

    case Py.Pool.fetch(pool) do
      nil ->
        {:error, {:no_pool, pool}}

      %{resource: resource, size: size} ->
        jobs =
          calls
          |> Enum.with_index()
          |> Enum.map(fn
            {{module, function, args}, i} when is_list(args) ->
              {rem(i, size), false, Py.Op.call(name!(module), name!(function), args, nil, nil)}

            {other, _} ->
              raise ArgumentError, "expected {module, function, args}, got: #{inspect(other)}"
          end)

        {:ok, Py.Request.run_many(resource, jobs, opts)}
    end
  end

  @doc """
  Like `parallel/2` but returns the list of results, raising if the batch could not
  run (results that are errors stay in the list).

  ## Examples

      iex> Py.parallel!([{:math, :sqrt, [9.0]}])
      [{:ok, 3.0}]
  """
  @spec parallel!([{name(), name(), list()}], keyword()) :: [{:ok, term()} | {:error, reason()}]
  def parallel!(calls, opts \\ []), do: unwrap!(parallel(calls, opts))

  @doc """
  Routes calls of `module`, or of one `{module, function}`, to `pool` (see `Py.Pool`).
  Precedence: an explicit `pool:` option, then a function registration, then a module
  registration, then `:default`.

  ## Examples

      iex> Py.register_pool(:default, {:json, :dumps})
      :ok
      iex> Py.Pool.lookup(:json, :dumps)
      :default
      iex> Py.unregister_pool({:json, :dumps})
      :ok
  """
  @spec register_pool(Py.Pool.name(), name() | {name(), name()}) :: :ok
  def register_pool(pool, target), do: Py.Pool.register(pool, target)

  @doc """
  Removes a registration made by `register_pool/2`.

  ## Examples

      iex> Py.unregister_pool(:some_module)
      :ok
  """
  @spec unregister_pool(name() | {name(), name()}) :: :ok
  def unregister_pool(target), do: Py.Pool.unregister(target)

  @doc """
  Starts `module.function(*args)` and returns at once with a reference; the call
  runs while this process does other work. Collect the result with `await/2` from the
  same process. Options as `call/4`; `timeout:` is unused here (`await/2` takes its
  own). If this process dies first, the call is cancelled and its Python code
  interrupted.

  ## Examples

      iex> ref = Py.spawn_call(:math, :factorial, [20])
      iex> Py.await(ref)
      {:ok, 2432902008176640000}
  """
  @spec spawn_call(name(), name(), list(), keyword()) :: reference()
  def spawn_call(module, function, args \\ [], opts \\ []) when is_list(args) do
    opts = Keyword.validate!(opts, [:kwargs | @common_opts])
    module = name!(module)
    function = name!(function)
    op = Py.Op.call(module, function, args, kwargs!(opts[:kwargs]), opts[:return])
    Py.Request.spawn(op, opts, {module, function})
  end

  @doc """
  Waits for a call started with `spawn_call/4`. After `timeout` ms (default 30 000)
  the call is cancelled, its Python code interrupted, and `{:error, :timeout}`
  returned; no late reply ever reaches the mailbox. Output the call printed is
  written to this process's group leader, and callbacks it makes run here.

  ## Examples

      iex> ref = Py.spawn_call(:time, :sleep, [0.2])
      iex> Py.await(ref, 50)
      {:error, :timeout}
  """
  @spec await(reference(), timeout()) :: {:ok, term()} | {:error, reason()}
  def await(ref, timeout \\ 30_000) when is_reference(ref), do: Py.Request.await(ref, timeout)

  @doc """
  Runs `module.function(*args)` without waiting for it or its result. The call runs
  in a supervised process that inherits this process's group leader (so `print`
  shows where it would for `call/4`); errors are dropped.

  ## Examples

      iex> Py.cast(:math, :sqrt, [2.0])
      :ok
  """
  @spec cast(name(), name(), list(), keyword()) :: :ok
  def cast(module, function, args \\ [], opts \\ []) when is_list(args) do
    opts = Keyword.validate!(opts, [:kwargs | @common_opts])
    module = name!(module)
    function = name!(function)

    {:ok, _pid} =
      Task.Supervisor.start_child(Py.CallbackTasks, fn -> call(module, function, args, opts) end)

    :ok
  end

  @doc """
  A lazy `Stream` of the items of the iterable that `module.function(*args)` returns:
  a list, an iterator, a generator or an async generator. Items are read `batch:`
  at a time (default 1 000) per round trip; nothing runs until the stream is consumed.
  Halting early (`Enum.take/2`) closes the source, so a generator's `finally` runs;
  an exception in Python raises `Py.Error` in the consumer, after the items read
  before it. Any process may consume the stream. Options: `batch:`, `kwargs:`,
  `timeout:` (per round trip), `pool:`, `context:`.

  ## Examples

      iex> Py.stream(:itertools, :count, []) |> Enum.take(3)
      [0, 1, 2]
      iex> Py.stream(:builtins, :range, [5], batch: 2) |> Enum.to_list()
      [0, 1, 2, 3, 4]
  """
  @spec stream(name(), name(), list(), keyword()) :: Enumerable.t()
  def stream(module, function, args \\ [], opts \\ []) when is_list(args) do
    opts = Keyword.validate!(opts, [:kwargs, :batch, :timeout, :pool, :context])
    Py.Stream.call(name!(module), name!(function), args, opts)
  end

  @doc """
  Like `stream/4`, over the iterable a Python expression evaluates to; `locals` are
  its local variables.

  ## Examples

      iex> Py.stream_eval("(n * n for n in range(k))", %{k: 4}) |> Enum.to_list()
      [0, 1, 4, 9]
  """
  @spec stream_eval(String.t(), map(), keyword()) :: Enumerable.t()
  def stream_eval(code, locals \\ %{}, opts \\ []) when is_binary(code) and is_map(locals) do
    opts = Keyword.validate!(opts, [:batch, :timeout, :pool, :context])
    Py.Stream.eval(code, locals, opts)
  end

  @doc """
  Registers an Elixir function that Python calls as `erlang.call(name, *args)` (or
  `erlang.name(*args)`). `fun` receives the Python arguments as one list and its
  result goes back to Python, converted exactly as a call's result is.

  The function runs in the process that made the Python call, while that process
  waits for it, so `self()`, its group leader and its Logger metadata apply, and it
  may call Python again, to any depth, without deadlock: those calls run on top of
  the waiting Python frame. Callbacks from Python threads that run no call go to a
  supervised process. When the function raises, exits or throws, Python gets an
  `erlang.CallbackError` (a `RuntimeError`) with the Elixir exception's module and
  message.

  ## Examples

      iex> Py.register_function(:double, fn [x] -> 2 * x end)
      :ok
      iex> Py.eval("erlang.call('double', 21)")
      {:ok, 42}
      iex> Py.eval("erlang.double(4)")
      {:ok, 8}
      iex> Py.unregister_function(:double)
      :ok
  """
  @spec register_function(name(), (list() -> term())) :: :ok
  def register_function(name, fun) when is_function(fun, 1) do
    Py.Callback.register(name!(name), fun)
  end

  def register_function(_name, fun) do
    raise ArgumentError, "expected a function of arity 1, got: #{inspect(fun)}"
  end

  @doc """
  Registers `module.function/1` under `name`: Python's `erlang.call(name, *args)`
  calls `module.function(args)` with the argument list.

  ## Examples

      iex> Py.register_function(:sum_list, Enum, :sum)
      :ok
      iex> Py.eval("erlang.call('sum_list', 1, 2, 3)")
      {:ok, 6}
      iex> Py.unregister_function(:sum_list)
      :ok
  """
  @spec register_function(name(), module(), atom()) :: :ok
  def register_function(name, module, function) when is_atom(module) and is_atom(function) do
    Py.Callback.register(name!(name), {module, function})
  end

  @doc """
  Removes a function registered with `register_function/2,3`. Unknown names are fine.

  ## Examples

      iex> Py.unregister_function(:never_registered)
      :ok
  """
  @spec unregister_function(name()) :: :ok
  def unregister_function(name), do: Py.Callback.unregister(name!(name))

  @doc """
  The names of the registered functions.

  ## Examples

      iex> :ok = Py.register_function("answer", fn [] -> 42 end)
      iex> "answer" in Py.registered_functions()
      true
      iex> Py.unregister_function("answer")
      :ok
  """
  @spec registered_functions() :: [String.t()]
  def registered_functions, do: Py.Callback.functions() |> Map.keys() |> Enum.sort()

  @doc """
  Sets the level of Python's root logger in the main interpreter, and the level new
  subinterpreters start with. Records at or above it go to Elixir's `Logger` (which
  filters again by its own level). `level:` is `:debug`, `:info`, `:warning`,
  `:error`, `:critical` or a Python level number.

  Python's `logging` reaches `Logger` from any thread and subinterpreter, with the
  logger name, module, file, line, function, thread and exception text as metadata
  (`:python_logger`, `:python_module`, `:file`, `:line`, `:python_function`,
  `:python_thread`, `:exception`). Config `:logging` (default `true`) turns the handler
  off; `:log_level` sets the level at start (Python's default is `:warning`).

  ## Examples

      iex> Py.configure_logging(level: :info)
      :ok
      iex> Py.configure_logging(level: :warning)
      :ok
  """
  @spec configure_logging(keyword()) :: :ok | {:error, reason()}
  def configure_logging(opts) do
    opts = Keyword.validate!(opts, [:level])
    level = Py.Logging.python_level(Keyword.fetch!(opts, :level))
    Py.Native.logging_configure(Application.get_env(:erlang_python, :logging, true), level)

    with {:ok, nil} <- call(:erlang, :_set_log_level, [level]), do: :ok
  end

  @doc """
  The number of contexts (executor threads) in the `:default` pool.

  ## Examples

      iex> Py.num_executors() >= 1
      true
  """
  @spec num_executors() :: non_neg_integer()
  def num_executors do
    case Py.Pool.fetch(:default) do
      %{size: size} -> size
      nil -> 0
    end
  end

  @doc """
  Reads an attribute (dotted paths allowed) of a Python object.

  ## Examples

      iex> {:ok, fraction} = Py.call(:fractions, :Fraction, [3, 4])
      iex> Py.getattr(fraction, :denominator)
      {:ok, 4}
  """
  @spec getattr(Py.Object.t(), name(), [option()]) :: {:ok, term()} | {:error, reason()}
  def getattr(%Py.Object{} = object, name, opts \\ []) do
    opts = Keyword.validate!(opts, @common_opts)
    Py.Request.run_object(object, Py.Op.getattr(object, name!(name), opts[:return]), opts)
  end

  @doc """
  Calls a method of a Python object. With `nil` as the name, calls the object itself.

  ## Examples

      iex> {:ok, deque} = Py.call(:collections, :deque, [[1, 2]])
      iex> Py.call_method(deque, :append, [3])
      {:ok, nil}
      iex> Py.call(:builtins, :list, [deque])
      {:ok, [1, 2, 3]}
  """
  @spec call_method(Py.Object.t(), name() | nil, list(), keyword()) ::
          {:ok, term()} | {:error, reason()}
  def call_method(%Py.Object{} = object, name, args \\ [], opts \\ []) when is_list(args) do
    opts = Keyword.validate!(opts, [:kwargs | @common_opts])
    name = if name == nil, do: nil, else: name!(name)

    Py.Request.run_object(
      object,
      Py.Op.call_method(object, name, args, kwargs!(opts[:kwargs]), opts[:return]),
      opts
    )
  end

  @doc """
  Python's `repr` of a value.

  ## Examples

      iex> Py.repr(%{"a" => 1})
      {:ok, "{'a': 1}"}
  """
  @spec repr(term(), [option()]) :: {:ok, String.t()} | {:error, reason()}
  def repr(value, opts \\ []) do
    opts = Keyword.validate!(opts, @common_opts)

    case value do
      %Py.Object{} -> Py.Request.run_object(value, Py.Op.repr(value), opts)
      _ -> Py.Request.run(Py.Op.repr(value), opts)
    end
  end

  @doc """
  The running Python's version string.

  ## Examples

      iex> {:ok, version} = Py.version()
      iex> version =~ ~r/^3\\.\\d+/
      true
  """
  @spec version() :: {:ok, String.t()} | {:error, :not_initialized}
  def version do
    with {:ok, info} <- runtime_info(), do: {:ok, info.version}
  end

  @doc """
  How Python runs here: `:free_threaded` (a free-threaded build with the GIL off: worker
  contexts run in parallel), `:subinterp` (the default pool runs OWN_GIL
  subinterpreters) or `:multi_executor` (worker contexts share one GIL).

  On a free-threaded build the GIL state is read live: an extension module that does
  not declare free-threading support turns the GIL back on when it is imported, and
  from then on this returns `:multi_executor`.

  ## Examples

      iex> Py.execution_mode() in [:free_threaded, :subinterp, :multi_executor]
      true
  """
  @spec execution_mode() :: :free_threaded | :subinterp | :multi_executor
  def execution_mode do
    pool = :persistent_term.get({Py.Pool, :default}, %{mode: :worker})
    {:ok, info} = runtime_info()

    cond do
      pool.mode == :subinterp -> :subinterp
      info.free_threaded and not gil_enabled?() -> :free_threaded
      true -> :multi_executor
    end
  end

  # sys._is_gil_enabled() now, not at start-up.
  defp gil_enabled? do
    case eval("__import__('sys')._is_gil_enabled()", %{}, timeout: 5_000) do
      {:ok, enabled} -> enabled
      {:error, _} -> true
    end
  end

  @doc """
  Facts about the embedded interpreter: `:version`, `:version_info`, `:free_threaded`,
  `:gil_enabled`, `:subinterpreters`, `:executable`, `:prefix`, `:base_prefix`.

  ## Examples

      iex> {:ok, %{executable: executable}} = Py.runtime_info()
      iex> File.exists?(executable)
      true
  """
  @spec runtime_info() :: {:ok, map()} | {:error, :not_initialized}
  def runtime_info do
    case :persistent_term.get({Py, :runtime_info}, nil) do
      nil -> {:error, :not_initialized}
      info -> {:ok, info}
    end
  end

  ## Memory

  @doc """
  Garbage collector and memory figures of the default pool's interpreter:
  `:gc_stats`, `:gc_count`, `:gc_threshold`, `:objects`, `:rss_bytes`,
  `:max_rss_bytes`, plus `:traced_memory_current` and `:traced_memory_peak` while
  `tracemalloc` is tracing. Subinterpreters have their own: see `Py.Memory.stats/1`.

  ## Examples

      iex> {:ok, %{gc_count: {_, _, _}, objects: objects}} = Py.memory_stats()
      iex> objects > 0
      true
  """
  @spec memory_stats() :: {:ok, Py.Memory.stats()} | {:error, reason()}
  def memory_stats, do: Py.Memory.stats()

  @doc """
  Runs a full garbage collection (or of generations up to `generation`, 0..2) and
  returns how many unreachable objects were found. See `Py.Memory.gc/2`.

  ## Examples

      iex> Py.exec!("class Node: pass\\nnode = Node(); node.me = node; del node")
      :ok
      iex> {:ok, found} = Py.gc()
      iex> found >= 1
      true
  """
  @spec gc(0..2) :: {:ok, non_neg_integer()} | {:error, reason()}
  def gc(generation \\ 2), do: Py.Memory.gc(generation)

  @doc """
  Starts `tracemalloc` with `frames` frames per traceback (default 1). See
  `Py.Memory.tracemalloc_start/2`.

  ## Examples

      iex> Py.tracemalloc_start(5)
      :ok
      iex> Py.tracemalloc_stop()
      :ok
  """
  @spec tracemalloc_start(pos_integer()) :: :ok | {:error, reason()}
  def tracemalloc_start(frames \\ 1), do: Py.Memory.tracemalloc_start(frames)

  @doc """
  Stops `tracemalloc`. See `Py.Memory.tracemalloc_stop/1`.

  ## Examples

      iex> Py.tracemalloc_stop()
      :ok
  """
  @spec tracemalloc_stop() :: :ok | {:error, reason()}
  def tracemalloc_stop, do: Py.Memory.tracemalloc_stop()

  @doc """
  The `limit` allocation sites (default 10) holding the most traced memory:
  `[%{file: path, line: n, size: bytes, count: blocks}]`, or `{:error, :not_tracing}`.
  See `Py.Memory.tracemalloc_top/2`.

  ## Examples

      iex> Py.tracemalloc_top(5)
      {:error, :not_tracing}
  """
  @spec tracemalloc_top(pos_integer()) :: {:ok, [Py.Memory.site()]} | {:error, term()}
  def tracemalloc_top(limit \\ 10), do: Py.Memory.tracemalloc_top(limit)

  @doc false
  def name!(name) when is_atom(name) and name not in [nil, true, false], do: Atom.to_string(name)
  def name!(name) when is_binary(name), do: name

  def name!(other) do
    raise ArgumentError, "expected a Python name as an atom or string, got: #{inspect(other)}"
  end

  @doc false
  def kwargs!(nil), do: nil
  def kwargs!(kwargs) when is_map(kwargs), do: kwargs

  def kwargs!(kwargs) when is_list(kwargs) do
    if Keyword.keyword?(kwargs) do
      Map.new(kwargs)
    else
      raise ArgumentError, "expected :kwargs to be a map or keyword list, got: #{inspect(kwargs)}"
    end
  end

  def kwargs!(other) do
    raise ArgumentError, "expected :kwargs to be a map or keyword list, got: #{inspect(other)}"
  end

  defp unwrap!({:ok, value}), do: value
  defp unwrap!({:error, reason}), do: raise_reason(reason)

  defp raise_reason(%Py.Error{} = error), do: raise(error)
  defp raise_reason(reason), do: raise(RuntimeError, "Python call failed: #{inspect(reason)}")
end
