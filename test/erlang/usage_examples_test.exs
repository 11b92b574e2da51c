defmodule Py.ErlangUsageExamplesTest do
  # The usage examples documented for erlang_python 2.x (pools, scalability, async
  # tasks, channels, distribution), written in Erlang and run as an Erlang user runs
  # them, through the `py*` modules. Where an example names a third-party package
  # (requests, psycopg2, boto3, a model), a small stand-in module of the same name
  # does real work with the standard library: an HTTP GET against a local server,
  # SQL on sqlite, files on disk. numpy examples need numpy (tag :numpy).
  #
  # Stops and restarts pools (the default one too) and changes the semaphore limit,
  # so it runs alone.
  use ExUnit.Case, async: false

  import Py.Test.Wait
  alias Py.Test.ErlangSource, as: Erl

  @stand_ins %{
    "requests.py" => """
    import urllib.request

    def get(url, timeout=None):
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return {'status_code': response.status, 'text': response.read().decode()}
    """,
    "db.py" => """
    import sqlite3

    _db = sqlite3.connect(':memory:', check_same_thread=False)
    _db.execute('create table users (id integer, name text)')
    _db.execute("insert into users values (42, 'Ada')")

    def query(sql, params=()):
        return _db.execute(sql, params).fetchall()

    def connect(dsn):
        return {'dsn': dsn}
    """,
    "psycopg2.py" => """
    import db

    def fetchone(sql, params=()):
        rows = db.query(sql, params)
        return rows[0] if rows else None
    """,
    "boto3.py" => """
    import os, tempfile

    def download_file(key):
        path = os.path.join(tempfile.gettempdir(), 'erlang_python_example_' + key)
        with open(path, 'w') as f:
            f.write('contents of ' + key)
        return path
    """,
    "model.py" => """
    def predict(path):
        with open(path) as f:
            return len(f.read())
    """
  }

  setup_all do
    dir =
      Path.join(System.tmp_dir!(), "erlang_python_examples_#{System.unique_integer([:positive])}")

    File.mkdir_p!(dir)
    for {file, source} <- @stand_ins, do: File.write!(Path.join(dir, file), source)
    {:ok, nil} = Py.eval("__import__('sys').path.insert(0, d)", %{d: dir})
    {:ok, url, server} = start_http_server()

    on_exit(fn ->
      Py.eval(
        "[__import__('sys').path.remove(d)] + [__import__('sys').modules.pop(m, None) for m in ms]",
        %{d: dir, ms: Enum.map(Map.keys(@stand_ins), &Path.rootname/1)}
      )

      Process.exit(server, :kill)
      File.rm_rf!(dir)
    end)

    %{url: url}
  end

  setup do
    :py_context_router.stop_pool(:io)

    on_exit(fn ->
      for {target, _pool} <- Py.Pool.registrations(), do: Py.unregister_pool(target)
      for pool <- [:io, :gpu], do: :py_context_router.stop_pool(pool)
    end)
  end

  # A local HTTP server answering every GET with "hello from <path>".
  defp start_http_server do
    {:ok, listen} = :gen_tcp.listen(0, [:binary, active: false, reuseaddr: true])
    {:ok, port} = :inet.port(listen)
    server = spawn(fn -> serve(listen) end)
    :ok = :gen_tcp.controlling_process(listen, server)
    {:ok, "http://127.0.0.1:#{port}/greeting", server}
  end

  defp serve(listen) do
    {:ok, socket} = :gen_tcp.accept(listen)

    spawn(fn ->
      {:ok, request} = read_request(socket, "")
      [_method, path | _] = String.split(request, " ")
      body = "hello from #{path}"

      :gen_tcp.send(
        socket,
        "HTTP/1.1 200 OK\r\ncontent-length: #{byte_size(body)}\r\nconnection: close\r\n\r\n#{body}"
      )

      :gen_tcp.close(socket)
    end)

    serve(listen)
  end

  defp read_request(socket, acc) do
    if String.contains?(acc, "\r\n\r\n") do
      {:ok, acc}
    else
      with {:ok, data} <- :gen_tcp.recv(socket, 0, 5_000), do: read_request(socket, acc <> data)
    end
  end

  defp erl(source, pairs \\ []), do: Erl.eval(source, Erl.bind(pairs))

  describe "dual pools, async tasks and channels" do
    test "CPU-bound work on default, I/O on io, by name or by registration", %{url: url} do
      {value, _} =
        erl(
          ~S"""
          {ok, 4.0} = py:call(math, sqrt, [16]).

          %% I/O-bound (io pool, larger for concurrency)
          {ok, #{<<"status_code">> := 200, <<"text">> := <<"hello from /greeting">>}} =
              py:call(io, requests, get, [Url]).
          true = py_context_router:pool_started(io).

          %% Or register modules for automatic routing
          py:register_pool(io, requests),
          io = py_context_router:lookup_pool(requests, get),
          py:call(requests, get, [Url]).
          """,
          url: url
        )

      assert {:ok, %{"text" => "hello from /greeting"}} = value
    end

    test "async task API" do
      {value, _} =
        erl(~S"""
        %% Blocking run
        {ok, 5.0} = py_event_loop:run(math, sqrt, [25.0]).

        %% Non-blocking with reference (a coroutine here)
        Ref = py_event_loop:create_task(asyncio, sleep, [0.01, <<"slept">>]),
        %% ... do other work ...
        {ok, <<"slept">>} = py_event_loop:await(Ref).

        %% Fire-and-forget
        ok = py_event_loop:spawn_task(asyncio, sleep, [0]).
        """)

      assert value == :ok
    end

    test "channel API: Erlang sends, Python iterates and replies" do
      {value, _} =
        erl(~S"""
        ok = py:exec(<<"
        def process(msg):
            tag, data = msg
            return ('done', data * 2)

        def serve(channel, caller_pid):
            for msg in channel:
                result = process(msg)
                erlang.channel.reply(caller_pid, result)
        ">>).

        %% Erlang side
        {ok, Ch} = py_channel:new(),
        Worker = py:spawn_call('__main__', serve, [Ch, self()]),
        ok = py_channel:send(Ch, {task, 21}),
        Reply = receive {<<"done">>, _} = R -> R after 5000 -> timeout end,
        ok = py_channel:close(Ch),
        {ok, none} = py:await(Worker),

        %% Backpressure: max_size bounds the bytes queued
        {ok, Small} = py_channel:new(#{max_size => 64}),
        ok = py_channel:send(Small, binary:copy(<<"x">>, 40)),
        busy = py_channel:send(Small, binary:copy(<<"x">>, 40)),
        Reply.
        """)

      assert value == {"done", 42}
    end

    @tag :distributed
    test "Python on another node, through Erlang distribution" do
      {:ok, info} = Py.runtime_info()
      {peer, worker} = start_peer(info.executable)

      try do
        {value, _} =
          erl(
            ~S"""
            %% Execute on remote node
            {ok, 4.0} = rpc:call(Worker, py, call, [math, sqrt, [16.0]]).

            %% Spread calls across nodes, each with its own data
            Nodes = [Worker, node()],
            Chunks = [[1.0, 4.0], [9.0, 16.0]],
            Requests = [erpc:send_request(Node, py, call, [math, fsum, [Chunk]])
                        || {Node, Chunk} <- lists:zip(Nodes, Chunks)],
            Results = [erpc:receive_response(Request, 5000) || Request <- Requests].
            """,
            worker: worker
          )

        assert value == [{:ok, 5.0}, {:ok, 25.0}]
      after
        :peer.stop(peer)
        :net_kernel.stop()
      end
    end

    @tag :subinterp
    test "subinterpreters: isolated, in parallel" do
      {value, _} =
        erl(~S"""
        %% Create isolated subinterpreters
        {ok, Interp1} = py:subinterp_create(),
        {ok, Interp2} = py:subinterp_create(),

        %% Run in parallel - no GIL contention
        Self = self(),
        spawn(fun() -> Self ! {1, py:subinterp_call(Interp1, math, factorial, [20])} end),
        spawn(fun() -> Self ! {2, py:subinterp_call(Interp2, math, factorial, [21])} end),
        Results = [receive {N, R} -> R end || N <- [1, 2]].

        ok = py:subinterp_pool_start(4).
        true = py:subinterp_pool_ready().
        ok = py:subinterp_destroy(Interp1).
        ok = py:subinterp_destroy(Interp2).
        Results.
        """)

      assert value == [{:ok, 2_432_902_008_176_640_000}, {:ok, 51_090_942_171_709_440_000}]
    end

    @tag :numpy
    test "numpy on the default pool" do
      {value, _} =
        erl(~S"""
        %% CPU-bound (default pool, sized to schedulers)
        A = [[1, 2], [3, 4]],
        B = [[5, 6], [7, 8]],
        py:call(numpy, dot, [A, B]).
        """)

      assert value == {:ok, [[19, 22], [43, 50]]}
    end
  end

  defp start_peer(python) do
    System.cmd("epmd", ["-daemon"])
    {:ok, _} = :net_kernel.start([:"py_examples@127.0.0.1", :longnames])
    paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])

    {:ok, peer, worker} =
      :peer.start_link(%{
        name: :py_examples_worker,
        host: ~c"127.0.0.1",
        longnames: true,
        args: paths,
        env: [{~c"ERLANG_PYTHON", String.to_charlist(python)}]
      })

    {:ok, _} = :rpc.call(worker, :application, :ensure_all_started, [:erlang_python])
    {peer, worker}
  end

  describe "scalability" do
    test "execution mode and executors" do
      {value, _} =
        erl(~S"""
        Mode = py:execution_mode(),
        true = lists:member(Mode, [free_threaded, subinterp, multi_executor]),
        py:num_executors().
        """)

      assert value == Py.num_executors()
    end

    test "the router: affinity, explicit contexts, binding, stop and start" do
      size = :py_context_router.num_contexts()

      try do
        {value, _} =
          erl(~S"""
          %% Start router with default number of contexts (scheduler count)
          {ok, Contexts} = py_context_router:start().

          %% Start with custom number of contexts: the running pool is kept
          {ok, Contexts} = py_context_router:start(#{contexts => 8}).

          %% Get context for current scheduler (automatic affinity)
          Ctx = py_context_router:get_context(),
          true = lists:member(Ctx, Contexts).

          %% Get specific context by index
          Ctx1 = py_context_router:get_context(1),
          Ctx1 = hd(Contexts).

          %% Bind current process to a specific context
          ok = py_context_router:bind_context(Ctx1),
          Ctx1 = py_context_router:get_context().

          %% Unbind (return to scheduler-based routing)
          ok = py_context_router:unbind_context().

          %% Get number of active contexts
          N = py_context_router:num_contexts(),
          N = length(Contexts).

          %% Stop all contexts
          ok = py_context_router:stop(),
          0 = py_context_router:num_contexts().

          %% Start again with a custom pool size
          {ok, Contexts16} = py_context_router:start(#{contexts => 16}),
          {ok, 4.0} = py:call(math, sqrt, [16]),
          length(Contexts16).
          """)

        assert value == 16
      after
        :py_context_router.stop()
        {:ok, _} = :py_context_router.start(%{contexts: size})
      end
    end

    test "the semaphore: limits, and the overload error instead of a queue" do
      previous = :py_semaphore.max_concurrent()
      wait_until(fn -> :py_semaphore.current() == 0 end)

      try do
        {value, _} =
          erl(~S"""
          %% Check semaphore status
          Max = py_semaphore:max_concurrent(),
          true = Max > 0,
          0 = py_semaphore:current().

          %% Dynamically adjust limit
          ok = py_semaphore:set_max_concurrent(50),
          50 = py_semaphore:max_concurrent().

          %% When the semaphore is exhausted, py:call returns an overload error
          ok = py_semaphore:set_max_concurrent(1),
          ok = py_semaphore:acquire(1000),
          {error, {overloaded, Current, 1}} = py:call(math, sqrt, [2.0]),
          ok = py_semaphore:release(),
          Current.
          """)

        assert value == 1
      after
        :py_semaphore.set_max_concurrent(previous)
      end
    end

    test "parallel calls across the contexts" do
      {value, _} =
        erl(~S"""
        {ok, Results} = py:parallel([
            {math, sqrt, [16]},
            {math, sqrt, [25]},
            {math, sqrt, [36]}
        ]),
        Results.
        """)

      assert value == [4.0, 5.0, 6.0]
    end

    test "monitoring load" do
      output =
        ExUnit.CaptureIO.capture_io(fn ->
          erl(~S"""
          %% Current load
          Load = py_semaphore:current(),
          Max = py_semaphore:max_concurrent(),
          Utilization = Load / Max * 100,
          io:format("Python load: ~.1f%~n", [Utilization]).

          %% Execution mode info
          Mode = py:execution_mode(),
          Executors = py:num_executors(),
          io:format("Mode: ~p, Executors: ~p~n", [Mode, Executors]).
          """)
        end)

      assert output =~ ~r/^Python load: \d+\.\d%\nMode: \w+, Executors: \d+\n$/
    end

    test "shared state between Erlang and Python" do
      {value, _} =
        erl(~S"""
        py:state_remove(<<"requests_total">>),
        py:state_remove(<<"bytes_processed">>).

        %% Set config that all workers can read
        py:state_store(<<"app_config">>, #{model => <<"gpt-4">>, timeout => 30000}).

        ok = py:exec(<<"
        from erlang import state_set, state_get, state_incr, state_decr

        def handle(data):
            # Share configuration across workers
            config = state_get('app_config')
            # Thread-safe metrics
            state_incr('requests_total')
            state_incr('bytes_processed', len(data))
            return config['model']
        ">>).

        {ok, <<"gpt-4">>} = py:call('__main__', handle, [<<"12345">>]),
        {ok, <<"gpt-4">>} = py:call('__main__', handle, [<<"123">>]).

        %% Read metrics
        {ok, Total} = py:state_fetch(<<"requests_total">>),
        {ok, Bytes} = py:state_fetch(<<"bytes_processed">>),
        {Total, Bytes}.
        """)

      assert value == {2, 8}
    end

    test "reentrant callbacks: Python calls Erlang, which calls Python" do
      {value, _} =
        erl(~S"""
        ok = py:exec(<<"
        import __main__

        def complex_compute(x):
            return x * x

        __main__.complex_compute = complex_compute
        ">>).

        %% Register an Erlang function that calls Python
        py:register_function(compute_via_python, fun([X]) ->
            {ok, Result} = py:call('__main__', complex_compute, [X]),
            Result * 2  %% Erlang post-processing
        end).

        %% Python code that uses the callback
        py:exec(<<"
        def process(x):
            from erlang import call
            # Calls Erlang, which calls Python's complex_compute
            result = call('compute_via_python', x)
            return result + 1
        ">>).

        {ok, 51} = py:call('__main__', process, [5]).

        %% Each level alternates between Erlang and Python
        py:register_function(level, fun([N, Max]) ->
            case N >= Max of
                true -> N;
                false ->
                    {ok, Result} = py:call('__main__', next_level, [N + 1, Max]),
                    Result
            end
        end).

        py:exec(<<"
        def next_level(n, max):
            from erlang import call
            return call('level', n, max)

        def start(max):
            from erlang import call
            return call('level', 1, max)
        ">>).

        %% Test 10 levels of nesting
        {ok, 10} = py:call('__main__', start, [10]).
        """)

      assert value == {:ok, 10}
      :py.unregister_function(:compute_via_python)
      :py.unregister_function(:level)
    end

    test "verifying an installation" do
      {value, _} =
        erl(~S"""
        {ok, _} = application:ensure_all_started(erlang_python).
        py:eval("1 + 1").
        """)

      assert value == {:ok, 2}
    end
  end

  describe "pools" do
    test "creating pools and choosing them per call", %{url: url} do
      {value, _} =
        erl(
          ~S"""
          %% Create an io pool for I/O-bound operations
          {ok, _Contexts} = py_context_router:start_pool(io, 10, worker).

          %% Create a gpu pool for ML workloads
          {ok, _} = py_context_router:start_pool(gpu, 2, worker).

          %% Use default pool (quick operations)
          {ok, 4.0} = py:call(default, math, sqrt, [16]).

          %% Use io pool (after creating it)
          {ok, Response} = py:call(io, requests, get, [Url]).

          %% With keyword arguments
          {ok, Data} = py:call(io, requests, get, [Url], #{timeout => 30}).
          {Response, Data}.
          """,
          url: url
        )

      assert {%{"status_code" => 200}, %{"text" => "hello from /greeting"}} = value
      assert Py.Pool.size(:gpu) == 2
    end

    test "registration-based routing, its priority and unregistering", %{url: url} do
      {value, _} =
        erl(
          ~S"""
          {ok, _} = py_context_router:start_pool(io, 10, worker).

          %% Register entire module to io pool (all functions in module)
          ok = py:register_pool(io, requests).
          ok = py:register_pool(io, aiohttp).
          ok = py:register_pool(io, psycopg2).

          %% Register specific module.function to io pool
          ok = py:register_pool(io, {urllib, urlopen}).    %% Only urllib.urlopen
          ok = py:register_pool(io, {httpx, 'get'}).       %% Only httpx.get
          ok = py:register_pool(io, {db, query}).          %% Only db.query

          %% Now calls route automatically - no code changes needed
          {ok, 4.0} = py:call(math, sqrt, [16]).           %% -> default pool
          {ok, Resp} = py:call(requests, get, [Url]).      %% -> io pool (module registered)
          Sql = <<"select name from users">>.
          {ok, Rows} = py:call(db, query, [Sql]).          %% -> io pool (function registered)
          {ok, Conn} = py:call(db, connect, [<<"sqlite://">>]).  %% -> default pool
          io = py_context_router:lookup_pool(db, query).
          default = py_context_router:lookup_pool(db, connect).

          %% Remove module registration
          ok = py:unregister_pool(requests).

          %% Remove function registration
          ok = py:unregister_pool({urllib, urlopen}).
          default = py_context_router:lookup_pool(requests, get).

          %% Register all json functions to io pool
          ok = py:register_pool(io, json).

          %% But keep json.dumps on default pool (it's fast)
          ok = py:register_pool(default, {json, dumps}).

          %% Results:
          io = py_context_router:lookup_pool(json, loads).   %% Module registration
          default = py_context_router:lookup_pool(json, dumps).  %% Function override
          {Resp, Rows, Conn}.
          """,
          url: url
        )

      assert {%{"status_code" => 200}, [{"Ada"}], %{"dsn" => "sqlite://"}} = value
    end

    test "runtime configuration and a web application's handler" do
      {value, _} =
        erl(~S"""
        %% At application startup
        InitPools = fun() ->
            %% Create io pool for I/O-bound operations
            {ok, _} = py_context_router:start_pool(io, 10, worker),

            %% Register I/O-heavy modules
            py:register_pool(io, requests),
            py:register_pool(io, httpx),
            py:register_pool(io, psycopg2),
            py:register_pool(io, redis),
            ok
        end.
        ok = InitPools().

        %% Start GPU pool for ML operations
        {ok, _} = py_context_router:start_pool(gpu, 2, worker).
        ok = py:register_pool(gpu, torch).
        ok = py:register_pool(gpu, tensorflow).

        %% In request handler - no pool awareness needed
        HandleRequest = fun(UserId) ->
            %% Fast: uses default pool
            {ok, _Hash} = py:call(hashlib, sha256, [{bytes, integer_to_binary(UserId)}]),

            %% Slow: automatically uses io pool
            {ok, User} = py:call(psycopg2, fetchone,
                                 [<<"SELECT * FROM users WHERE id = ?">>, [UserId]]),

            %% Fast: uses default pool
            {ok, Json} = py:call(json, dumps, [User]),
            {ok, Json}
        end.
        HandleRequest(42).
        """)

      assert value == {:ok, ~s([42, "Ada"])}
    end

    test "an ML pipeline: downloads in parallel on io, predictions on default" do
      {value, _} =
        erl(~S"""
        %% Create and configure io pool
        {ok, _} = py_context_router:start_pool(io, 10, worker),
        py:register_pool(io, boto3),        %% S3 access
        py:register_pool(io, requests).     %% API calls

        ProcessBatch = fun(Items) ->
            %% Parallel fetch (io pool)
            Futures = [py:spawn_call(boto3, download_file, [Key]) || Key <- Items],
            Files = [begin {ok, File} = py:await(F), File end || F <- Futures],

            %% Process with the model (default pool - doesn't block I/O)
            [{ok, _} = py:call(model, predict, [File]) || File <- Files]
        end.
        ProcessBatch([<<"a.csv">>, <<"bb.csv">>]).
        """)

      assert value == [{:ok, 17}, {:ok, 18}]
    end

    test "monitoring pools" do
      {value, _} =
        erl(~S"""
        %% Check pool status
        true = py_context_router:pool_started(default).
        false = py_context_router:pool_started(io).  %% Not started yet

        %% Start io pool
        {ok, _} = py_context_router:start_pool(io, 10, worker).
        true = py_context_router:pool_started(io).

        %% Check pool sizes
        DefaultSize = py_context_router:num_contexts(default).
        IoSize = py_context_router:num_contexts(io).

        ok = py:register_pool(io, requests).
        ok = py:register_pool(default, {json, dumps}).

        %% List all registrations
        Registrations = py_context_router:list_pool_registrations().
        %% => [{{requests, '_'}, io}, {{json, dumps}, default}, ...]

        %% Check which pool a call would use
        io = py_context_router:lookup_pool(requests, get).
        default = py_context_router:lookup_pool(math, sqrt).
        {DefaultSize, IoSize, lists:sort(Registrations)}.
        """)

      assert value ==
               {Py.num_executors(), 10, [{{:json, :dumps}, :default}, {{:requests, :_}, :io}]}
    end

    test "code that names no pool keeps working on the default pool" do
      {value, _} =
        erl(~S"""
        %% These all use the default pool (backward compatible)
        {ok, 4.0} = py:call(math, sqrt, [16]).
        {ok, Data} = py:call(json, dumps, [#{a => 1}]).
        {ok, 6} = py:eval(<<"2 + 4">>).
        Data.
        """)

      assert value == ~s({"a": 1})
    end
  end
end
