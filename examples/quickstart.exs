# A first tour of erlang_python: run it with `mix run examples/quickstart.exs`.

{:ok, version} = Py.version()
IO.puts("Python #{version} (#{Py.execution_mode()})\n")

# Call any function of any module.
{:ok, root} = Py.call(:math, :sqrt, [2.0])
IO.puts("math.sqrt(2.0)          = #{root}")

# Data converts exactly both ways: big integers, maps with any keys, sets...
{:ok, json} =
  Py.call(:json, :dumps, [%{"name" => "Ada", "langs" => ["elixir", "python"]}],
    kwargs: [sort_keys: true]
  )

IO.puts("json.dumps(map)         = #{json}")
{:ok, decoded} = Py.call(:json, :loads, [json])
IO.puts("json.loads back         = #{inspect(decoded)}")
{:ok, big} = Py.eval("2 ** 100 + n", %{n: 1})
IO.puts("2 ** 100 + 1            = #{big}")

# Define Python functions once; call them from any process.
:ok =
  Py.exec("""
  def word_count(text):
      counts = {}
      for word in text.lower().split():
          counts[word] = counts.get(word, 0) + 1
      return counts
  """)

{:ok, counts} = Py.call(:__main__, :word_count, ["the cat and the hat"])
IO.puts("word_count(...)         = #{inspect(counts)}")

# Values without an Elixir form stay in Python as handles.
{:ok, deque} = Py.call(:collections, :deque, [[1, 2, 3]], kwargs: [maxlen: 3])
{:ok, nil} = Py.call_method(deque, :append, [4])
IO.puts("a deque handle          = #{inspect(deque)}")

# Python exceptions come back as %Py.Error{} with Python's traceback.
{:error, error} = Py.eval("1 / 0")
IO.puts("1 / 0                   = #{inspect(error.type)}: #{error.message}")

# A call that runs too long is interrupted; the context is ready for the next call.
:ok = Py.exec("def forever():\n    while True:\n        pass")
{:error, :timeout} = Py.call(:__main__, :forever, [], timeout: 200)
IO.puts("forever() with 200 ms   = {:error, :timeout}")

# print() goes to the caller's group leader (iex, Livebook, CaptureIO).
:ok = Py.exec("print('print() from Python lands here')")

# numpy, if it is installed for this interpreter.
case Py.call(:numpy, :arange, [12]) do
  {:ok, array} ->
    {:ok, matrix} = Py.call_method(array, :reshape, [3, 4])
    {:ok, total} = Py.eval("int(m.sum())", %{m: matrix})
    IO.puts("numpy 3x4 matrix        = #{inspect(matrix)}")
    IO.puts("its sum                 = #{total}")

  {:error, %Py.Error{type: "ModuleNotFoundError"}} ->
    IO.puts("numpy                   = not installed (python3 -m pip install numpy)")
end
