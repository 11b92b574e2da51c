defmodule Py.OutputTest do
  use ExUnit.Case

  import ExUnit.CaptureIO

  test "print goes to the caller's group leader" do
    assert capture_io(fn -> assert :ok = Py.exec("print('hello', 42)") end) == "hello 42\n"
  end

  test "output arrives before the result, in order" do
    :ok = Py.exec("def chatty(n):\n    for i in range(n):\n        print(i)\n    return n")

    output = capture_io(fn -> assert Py.call(:__main__, :chatty, [3]) == {:ok, 3} end)
    assert output == "0\n1\n2\n"
  end

  test "stderr goes to the group leader too" do
    assert capture_io(fn -> Py.exec("import sys; sys.stderr.write('oops\\n')") end) == "oops\n"
  end

  test "Python code that prints while its error is being formatted" do
    :ok =
      Py.exec("""
      class LoudError(Exception):
          def __str__(self):
              print('formatting')
              return 'loud'
      """)

    output =
      capture_io(fn ->
        assert {:error, %Py.Error{type: "__main__.LoudError", message: "loud"}} =
                 Py.eval("(_ for _ in ()).throw(LoudError())", %{}, timeout: 5_000)
      end)

    assert output =~ "formatting"
    assert Py.eval("1 + 1") == {:ok, 2}
  end

  test "unicode output" do
    assert capture_io(fn -> Py.exec("print('héllo ✓')") end) == "héllo ✓\n"
  end

  test "output of Python threads outside any call goes to the application's group leader" do
    {:ok, device} = StringIO.open("")
    relay = Process.whereis(Py.Output)
    original = Process.group_leader()
    Process.group_leader(relay, device)

    try do
      :ok =
        Py.exec("""
        import threading
        t = threading.Thread(target=lambda: print('from a thread'))
        t.start()
        t.join()
        """)

      # The relay writes asynchronously: wait for it to process its mailbox.
      :sys.get_state(relay)
      assert {_, "from a thread\n"} = StringIO.contents(device)
    after
      Process.group_leader(relay, original)
    end
  end
end
