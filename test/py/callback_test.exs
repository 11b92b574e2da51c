defmodule Py.CallbackTest do
  # Python talking back: erlang.call and friends. Registers functions by name, and
  # the reentrancy tests bind and pin contexts, so it runs alone.
  use ExUnit.Case, async: false

  require Logger

  setup do
    on_exit(fn -> for name <- Py.registered_functions(), do: Py.unregister_function(name) end)
  end

  describe "erlang.call" do
    test "runs the registered function with the argument list, converting exactly" do
      Py.register_function(:echo, fn args -> args end)

      assert Py.eval("erlang.call('echo', 'text', b'\\xff', 2**70, 1.5, None, [1, (2, 3)])") ==
               {:ok, ["text", <<255>>, 2 ** 70, 1.5, nil, [1, {2, 3}]]}

      Py.register_function(:elixir_string, fn [] -> "héllo" end)
      assert Py.eval("type(erlang.call('elixir_string')).__name__") == {:ok, "str"}
    end

    test "module/function form receives the argument list" do
      Py.register_function(:sum_list, Enum, :sum)
      assert Py.eval("erlang.call('sum_list', 1, 2, 3, 4, 5)") == {:ok, 15}
    end

    test "registered names are attributes of the erlang module, and only while registered" do
      Py.register_function("triple", fn [x] -> 3 * x end)
      assert Py.eval("erlang.triple(3)") == {:ok, 9}
      :ok = Py.exec("from erlang import triple as _triple")
      assert Py.eval("_triple(4)") == {:ok, 12}
      assert "triple" in Py.registered_functions()

      Py.unregister_function("triple")
      assert Py.eval("hasattr(erlang, 'triple')") == {:ok, false}
    end

    test "an Elixir raise, exit or throw becomes erlang.CallbackError, a RuntimeError" do
      Py.register_function(:boom, fn [kind] ->
        case kind do
          "raise" -> raise ArgumentError, "bad thing"
          "exit" -> exit(:gone)
          "throw" -> throw(:ball)
        end
      end)

      :ok =
        Py.exec("""
        def failure(kind):
            try:
                erlang.call('boom', kind)
            except erlang.CallbackError as error:
                return (error.kind, error.module, str(error), isinstance(error, RuntimeError))
        """)

      assert Py.call(:__main__, :failure, ["raise"]) ==
               {:ok, {"error", "ArgumentError", "bad thing", true}}

      assert {:ok, {"exit", nil, "exited: :gone", true}} = Py.call(:__main__, :failure, ["exit"])
      assert {:ok, {"throw", nil, "threw: :ball", true}} = Py.call(:__main__, :failure, ["throw"])

      assert {:error, %Py.Error{type: "erlang.CallbackError", message: message}} =
               Py.eval("erlang.call('no_such_function')")

      assert message =~ "no Elixir function is registered as \"no_such_function\""
    end

    test "the function runs in the calling process, with its Logger metadata" do
      test = self()
      Logger.metadata(request_id: "abc")

      Py.register_function(:whoami, fn [] ->
        send(test, {:ran_in, self(), Logger.metadata()[:request_id]})
        :ok
      end)

      assert Py.eval("erlang.call('whoami')") == {:ok, "ok"}
      assert_received {:ran_in, ^test, "abc"}
      assert Py.eval("erlang.self()") == {:ok, test}
    end

    test "works from a Python thread; the function then runs in a supervised process" do
      test = self()

      Py.register_function(:from_thread, fn [x] -> send(test, {:thread_call, self()}) && x + 1 end)

      :ok =
        Py.exec("""
        import threading
        def call_in_thread():
            result = {}
            def body():
                result['value'] = erlang.call('from_thread', 41)
                result['self'] = erlang.self()
            thread = threading.Thread(target=body)
            thread.start()
            thread.join()
            return (result['value'], result['self'])
        """)

      assert Py.call(:__main__, :call_in_thread) == {:ok, {42, nil}}
      assert_received {:thread_call, runner}
      assert runner != test
    end
  end

  test "a thread callback that takes too long raises CallbackError in Python" do
    Application.put_env(:erlang_python, :callback_timeout, 200)
    Py.register_function(:stuck, fn [] -> Process.sleep(:infinity) end)

    try do
      :ok =
        Py.exec("""
        import threading
        def stuck_in_thread():
            result = {}
            def body():
                try:
                    erlang.call('stuck')
                except erlang.CallbackError as error:
                    result['error'] = (error.kind, str(error))
            thread = threading.Thread(target=body)
            thread.start()
            thread.join()
            return result['error']
        """)

      assert {:ok, {"timeout", message}} = Py.call(:__main__, :stuck_in_thread)
      assert message =~ "took longer than 200 ms"
    after
      Application.delete_env(:erlang_python, :callback_timeout)
    end
  end

  describe "reentrancy" do
    setup do
      :ok =
        Py.exec("""
        import threading
        side_effects = []
        def reenter(n):
            side_effects.append(n)
            if n == 0:
                return threading.get_ident()
            return erlang.call('reenter', n - 1)
        """)

      :ok
    end

    defp chain(opts) do
      Py.register_function(:reenter, fn [n] -> Py.call!(:__main__, :reenter, [n], opts) end)
      :ok = Py.exec("side_effects.clear()")
      result = Py.call(:__main__, :reenter, [10], opts)
      {:ok, effects} = Py.eval("list(side_effects)")
      # Every level ran exactly once: nothing was replayed.
      assert effects == Enum.to_list(10..0)
      result
    end

    test "depth 10 on the default pool" do
      assert {:ok, ident} = chain([])
      assert is_integer(ident)
    end

    test "depth 10 on a bound context stays on that context's thread" do
      {:ok, context} = Py.Context.get(0)
      Py.Context.bind(context)

      try do
        expected = Py.eval!("__import__('threading').get_ident()")
        assert chain([]) == {:ok, expected}
      after
        Py.Context.unbind()
      end
    end

    test "depth 10 pinned with context:" do
      {:ok, context} = Py.Context.get(1 |> min(Py.num_executors() - 1))
      expected = Py.eval!("__import__('threading').get_ident()", %{}, context: context)
      assert chain(context: context) == {:ok, expected}
    end

    test "depth 30 works too" do
      Py.register_function(:reenter, fn [n] -> Py.call!(:__main__, :reenter, [n]) end)
      assert {:ok, _} = Py.call(:__main__, :reenter, [30])
    end
  end

  describe "pids, references and atoms" do
    test "erlang.send delivers any term to a pid" do
      :ok = Py.exec("def notify(pid, payload):\n    erlang.send(pid, ('hello', payload))")
      assert Py.call(:__main__, :notify, [self(), %{"n" => 1}]) == {:ok, nil}
      assert_received {"hello", %{"n" => 1}}
    end

    test "Pid and Ref are hashable, comparable and picklable" do
      ref = make_ref()

      code = """
      (len({pid, pid}), pid == pickle.loads(pickle.dumps(pid)), ref == ref,
       sorted([pid, pid]) == [pid, pid], pickle.loads(pickle.dumps(ref)))
      """

      :ok = Py.exec("import pickle")

      assert Py.eval(code, %{pid: self(), ref: ref}) == {:ok, {1, true, true, true, ref}}
    end

    test "erlang.atom is the only way Python makes atoms" do
      assert Py.eval("erlang.atom('ok')") == {:ok, :ok}
      assert Py.eval("[erlang.atom('a'), 'b']") == {:ok, [:a, "b"]}
      assert Py.eval("repr(erlang.atom('x'))") == {:ok, "erlang.atom('x')"}
      assert {:error, %Py.Error{type: "ValueError"}} = Py.eval("erlang.atom('a' * 256)")
    end

    test "erlang.whereis finds registered processes and never creates atoms" do
      Process.register(self(), :callback_test_registered)

      try do
        assert Py.eval("erlang.whereis('callback_test_registered')") == {:ok, self()}
        name = "never_an_atom_#{System.unique_integer([:positive])}"
        assert Py.eval("erlang.whereis(name)", %{name: name}) == {:ok, nil}
        assert_raise ArgumentError, fn -> String.to_existing_atom(name) end
      after
        Process.unregister(:callback_test_registered)
      end
    end
  end
end
