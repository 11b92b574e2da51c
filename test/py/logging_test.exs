defmodule Py.LoggingTest do
  # Changes the Python log level, so it runs alone.
  use ExUnit.Case, async: false

  import ExUnit.CaptureLog

  setup_all do
    :ok =
      Py.exec("""
      import logging, threading

      def log_at(name, level, message):
          logging.getLogger(name).log(level, message)

      def log_failure():
          try:
              1 / 0
          except ZeroDivisionError:
              logging.getLogger('failing').exception('it broke')

      def log_from_thread():
          thread = threading.Thread(target=lambda: logging.getLogger('threaded').error('from a thread'))
          thread.start()
          thread.join()
      """)

    on_exit(fn -> Py.configure_logging(level: :warning) end)
    :ok
  end

  # Records travel as messages: wait until the relay has turned them into Logger calls.
  defp logged(fun, opts \\ []) do
    capture_log(opts, fn ->
      fun.()
      :sys.get_state(Py.Logging)
      Logger.flush()
    end)
  end

  test "Python warnings and errors reach Logger with their level" do
    log = logged(fn -> Py.call!(:__main__, :log_at, ["app.db", 30, "disk almost full"]) end)
    assert log =~ "[warning]"
    assert log =~ "disk almost full"

    log = logged(fn -> Py.call!(:__main__, :log_at, ["app.db", 50, "disk full"]) end)
    assert log =~ "[critical]"
  end

  test "metadata: logger name, file, line, function, thread and exception text" do
    log =
      logged(
        fn -> Py.call!(:__main__, :log_failure) end,
        metadata: [:python_logger, :python_function, :python_thread, :exception]
      )

    assert log =~ "python_logger=failing"
    assert log =~ "python_function=log_failure"
    assert log =~ "python_thread="
    assert log =~ "ZeroDivisionError"
    assert log =~ "it broke"
  end

  test "records from Python threads arrive too" do
    assert logged(fn -> Py.call!(:__main__, :log_from_thread) end) =~ "from a thread"
  end

  test "the Python-side level changes at run time" do
    refute logged(fn -> Py.call!(:__main__, :log_at, ["app", 20, "only at info"]) end) =~
             "only at info"

    :ok = Py.configure_logging(level: :info)

    assert logged(fn -> Py.call!(:__main__, :log_at, ["app", 20, "only at info"]) end) =~
             "only at info"

    :ok = Py.configure_logging(level: :warning)
    assert_raise ArgumentError, fn -> Py.configure_logging(level: :loud) end
  end

  @tag :subinterp
  test "records from a subinterpreter arrive too" do
    {:ok, interp} = Py.Subinterp.create()

    try do
      log =
        logged(fn ->
          :ok =
            Py.Subinterp.exec(
              interp,
              "import logging\nlogging.getLogger('sub').error('from a subinterpreter')"
            )
        end)

      assert log =~ "from a subinterpreter"
    after
      Py.Subinterp.destroy(interp)
    end
  end
end
