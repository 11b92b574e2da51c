defmodule PyTest do
  use ExUnit.Case, async: true
  # tracemalloc traces the whole process and cannot run while subinterpreters
  # exist; its examples run in Py.MemoryTest, alone.
  doctest Py,
    except: [
      tracemalloc_start: 0,
      tracemalloc_start: 1,
      tracemalloc_stop: 0,
      tracemalloc_top: 0,
      tracemalloc_top: 1
    ]

  doctest Py.Error
  doctest Py.Object

  describe "call/4" do
    test "calls a function of a module given as atoms or strings" do
      assert Py.call(:math, :sqrt, [2.0]) == {:ok, :math.sqrt(2.0)}
      assert Py.call("math", "pow", [2, 10]) == {:ok, 1024.0}
    end

    test "dotted module and attribute paths" do
      assert Py.call("os.path", "basename", ["/a/b.txt"]) == {:ok, "b.txt"}
      assert Py.call(:os, "path.basename", ["/a/c.txt"]) == {:ok, "c.txt"}
    end

    test "kwargs as a map or a keyword list" do
      assert Py.call(:builtins, :int, ["ff"], kwargs: %{base: 16}) == {:ok, 255}
      assert Py.call(:builtins, :sorted, [[3, 1, 2]], kwargs: [reverse: true]) == {:ok, [3, 2, 1]}
    end

    test "names that are not identifier paths never reach Python" do
      assert {:error, {:invalid, _}} = Py.call("os; import sys", :getcwd)
      assert {:error, {:invalid, _}} = Py.call(:os, "getcwd()")
      assert {:error, {:invalid, _}} = Py.call("os\0", :getcwd)
      assert {:error, {:invalid, _}} = Py.call(<<0xFF>>, :x)
      assert {:error, {:invalid, _}} = Py.call("", :x)
    end

    test "unknown modules and functions are Python errors" do
      assert {:error, %Py.Error{type: "ModuleNotFoundError"}} = Py.call(:no_such_module_xyz, :f)
      assert {:error, %Py.Error{type: "AttributeError"}} = Py.call(:math, :no_such_function)
    end

    test "bad options are programmer errors" do
      assert_raise ArgumentError, fn -> Py.call(:math, :sqrt, [1.0], bogus: 1) end
      assert_raise ArgumentError, fn -> Py.call(:math, :sqrt, [1.0], timeout: -1) end
      assert_raise ArgumentError, fn -> Py.call(:math, :sqrt, [1.0], kwargs: [1, 2]) end
      assert_raise ArgumentError, fn -> Py.call(123, :sqrt, [1.0]) end
      assert_raise ArgumentError, ~r/as a list/, fn -> Py.call(:math, :sqrt, 1.0) end
      assert_raise ArgumentError, ~r/locals as a map/, fn -> Py.eval("x", x: 1) end
      assert_raise ArgumentError, fn -> Py.eval(:code) end
    end

    test "an unknown pool is an error" do
      assert Py.call(:math, :sqrt, [1.0], pool: :no_such_pool) ==
               {:error, {:no_pool, :no_such_pool}}
    end

    test "return: :ref gives a handle even for convertible values" do
      assert {:ok, %Py.Object{} = list} = Py.call(:builtins, :list, [[1, 2]], return: :ref)
      assert Py.call(:builtins, :len, [list]) == {:ok, 2}
    end

    test "call!/4 raises Py.Error" do
      assert Py.call!(:math, :floor, [3.7]) == 3

      error = assert_raise Py.Error, fn -> Py.call!(:math, :sqrt, [-1]) end
      assert error.type == "ValueError"
      assert Exception.message(error) == "ValueError: #{error.message}"

      :ok = Py.exec("def py_test_raise():\n    raise KeyError('k')")
      error = assert_raise Py.Error, fn -> Py.call!(:__main__, :py_test_raise) end
      assert Exception.message(error) =~ ~r/\AKeyError: 'k'\n\nTraceback .*py_test_raise/s
    end
  end

  describe "eval/3 and exec/2" do
    test "eval with locals" do
      assert Py.eval("a + b", %{a: 1, b: 2}) == {:ok, 3}
      assert Py.eval("a + b", %{"a" => "x", "b" => "y"}) == {:ok, "xy"}
    end

    test "exec definitions are visible to later calls from other processes" do
      :ok = Py.exec("def py_test_triple(x):\n    return 3 * x")

      task = Task.async(fn -> Py.call(:__main__, :py_test_triple, [5]) end)
      assert Task.await(task) == {:ok, 15}
      assert Py.eval("py_test_triple(2)") == {:ok, 6}
    end

    test "syntax errors and NUL bytes" do
      assert {:error, %Py.Error{type: "SyntaxError"}} = Py.eval("1 +")
      assert {:error, %Py.Error{type: "SyntaxError"}} = Py.exec("def")
      assert {:error, {:invalid, "code contains a NUL byte"}} = Py.eval("1\0")
      assert {:error, {:invalid, _}} = Py.exec(<<0xFF, 0xFE>>)
    end

    test "exec! and eval! raise" do
      assert_raise Py.Error, fn -> Py.exec!("raise KeyError('k')") end
      assert_raise Py.Error, fn -> Py.eval!("undefined_name_xyz") end
    end

    test "errors carry Python's traceback" do
      :ok = Py.exec("def py_test_fails():\n    return {}['missing']")
      {:error, error} = Py.call(:__main__, :py_test_fails)
      assert %Py.Error{type: "KeyError", message: "'missing'"} = error
      assert [first | _] = error.traceback
      assert first =~ "Traceback (most recent call last)"
      assert Enum.any?(error.traceback, &(&1 =~ "py_test_fails"))
    end

    test "exception types outside builtins are qualified" do
      assert {:error, %Py.Error{type: "json.decoder.JSONDecodeError"}} =
               Py.call(:json, :loads, ["{"])
    end
  end

  describe "runtime facts" do
    test "version/0 and execution_mode/0" do
      {:ok, version} = Py.version()
      {:ok, info} = Py.runtime_info()
      {major, minor, micro} = info.version_info
      assert String.starts_with?(version, "#{major}.#{minor}.#{micro}")

      expected =
        if info.free_threaded and not info.gil_enabled, do: :free_threaded, else: :multi_executor

      assert Py.execution_mode() == expected
    end

    test "capabilities match the interpreter" do
      {:ok, caps} = Py.Native.capabilities()
      {:ok, info} = Py.runtime_info()
      assert caps.version == info.version
      assert caps.subinterpreters == info.version_info >= {3, 12, 0}

      assert Py.eval("__import__('sysconfig').get_config_var('Py_GIL_DISABLED') == 1") ==
               {:ok, caps.free_threaded}

      assert caps.subinterpreters == Py.Subinterp.supported?()
    end

    test "sys.executable and sys.prefix are those of the selected interpreter" do
      {:ok, info} = Py.runtime_info()
      assert Py.eval("__import__('sys').executable") == {:ok, info.executable}
      assert File.exists?(info.executable)

      {prefix, 0} = System.cmd(info.executable, ["-c", "import sys; print(sys.prefix, end='')"])

      assert Py.eval("__import__('sys').prefix") == {:ok, prefix}
    end

    test "C extensions of the standard library import inside the BEAM" do
      assert Py.eval("__import__('math').factorial(20)") == {:ok, 2_432_902_008_176_640_000}
      assert {:ok, _} = Py.eval("__import__('_ctypes').__name__")
      assert {:ok, _} = Py.eval("__import__('_json').__name__")
    end

    @tag :numpy
    test "numpy imports and computes" do
      assert Py.eval("int(__import__('numpy').arange(4).sum())") == {:ok, 6}
      {:ok, array} = Py.call(:numpy, :arange, [6])
      assert inspect(array) == "#Py.Object<array([0, 1, 2, 3, 4, 5])>"
      assert Py.call_method(array, :tolist) == {:ok, [0, 1, 2, 3, 4, 5]}
    end
  end
end
