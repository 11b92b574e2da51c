defmodule Py.ConvertTest do
  use ExUnit.Case, async: true

  import Py.Test.Identity, only: [round_trip: 1]

  setup_all do
    Py.Test.Identity.setup()
  end

  describe "Elixir to Python to Elixir" do
    test "nil, booleans and atoms" do
      assert round_trip(nil) == {:ok, nil}
      assert round_trip(true) == {:ok, true}
      assert round_trip(false) == {:ok, false}
      assert round_trip(:hello) == {:ok, "hello"}
      assert Py.eval("type(x).__name__", %{x: :hello}) == {:ok, "str"}
      assert Py.eval("x is None", %{x: nil}) == {:ok, true}
    end

    test "integers of any size, exactly" do
      for n <- [0, 1, -1, 2 ** 62, -(2 ** 63), 2 ** 64, 2 ** 200, -(3 ** 150)] do
        assert round_trip(n) == {:ok, n}
      end

      assert Py.eval("x == 2 ** 300 + 7", %{x: 2 ** 300 + 7}) == {:ok, true}
      assert Py.eval("-(10 ** 40)") == {:ok, -(10 ** 40)}
    end

    test "floats, with nan and infinities as atoms" do
      assert round_trip(1.5) == {:ok, 1.5}
      assert round_trip(-0.0) == {:ok, -0.0}
      assert Py.eval("float('nan')") == {:ok, :nan}
      assert Py.eval("float('inf')") == {:ok, :infinity}
      assert Py.eval("float('-inf')") == {:ok, :neg_infinity}
    end

    test "UTF-8 binaries are str, other binaries are bytes" do
      assert Py.eval("type(x).__name__", %{x: "héllo ✓"}) == {:ok, "str"}
      assert round_trip("héllo ✓") == {:ok, "héllo ✓"}
      assert Py.eval("type(x).__name__", %{x: <<255, 0, 1>>}) == {:ok, "bytes"}
      assert round_trip(<<255, 0, 1>>) == {:ok, <<255, 0, 1>>}
      assert Py.eval("type(x).__name__", %{x: {:bytes, "abc"}}) == {:ok, "bytes"}
      assert Py.eval("bytearray(b'xy')") == {:ok, "xy"}
      assert round_trip("nul\0inside") == {:ok, "nul\0inside"}
    end

    test "{:buffer, binary} reaches Python as a read-only memoryview" do
      big = :binary.copy(<<1, 2, 3, 4>>, 256 * 1024)
      assert Py.eval("type(b).__name__", %{b: {:buffer, big}}) == {:ok, "memoryview"}
      assert Py.eval("len(b)", %{b: {:buffer, big}}) == {:ok, byte_size(big)}
      assert Py.eval("b.readonly", %{b: {:buffer, big}}) == {:ok, true}
      assert Py.eval("bytes(b[:4])", %{b: {:buffer, big}}) == {:ok, <<1, 2, 3, 4>>}
      assert Py.eval("bytes(b)", %{b: {:buffer, "small"}}) == {:ok, "small"}

      assert {:error, %Py.Error{type: "TypeError"}} =
               Py.eval("b.__setitem__(0, 9)", %{b: {:buffer, big}})
    end

    test "a buffer outlives the call that made it" do
      :ok = Py.exec("kept_buffers = []")
      data = :crypto.strong_rand_bytes(100_000)
      {:ok, nil} = Py.eval("kept_buffers.append(b)", %{b: {:buffer, data}})
      :erlang.garbage_collect()
      assert Py.eval("bytes(kept_buffers[0])") == {:ok, data}
      :ok = Py.exec("kept_buffers.clear()")
    end

    @tag :numpy
    test "numpy reads a buffer without copying" do
      floats = for x <- 1..1000, into: <<>>, do: <<x * 1.0::float-little-64>>

      assert Py.eval("float(__import__('numpy').frombuffer(b, dtype='<f8').sum())", %{
               b: {:buffer, floats}
             }) ==
               {:ok, 500_500.0}
    end

    test "bitstrings that are not binaries are refused" do
      assert {:error, {:invalid, _}} = round_trip(<<1::3>>)
    end

    test "lists, charlists and tuples" do
      assert round_trip([1, "two", [3.0]]) == {:ok, [1, "two", [3.0]]}
      assert round_trip(~c"hi") == {:ok, ~c"hi"}
      assert round_trip({1, {2, "x"}, {}}) == {:ok, {1, {2, "x"}, {}}}
      assert Py.eval("type(x).__name__", %{x: {1, 2}}) == {:ok, "tuple"}
    end

    test "maps with any hashable keys" do
      map = %{"a" => 1, 2 => "b", {1, 2} => [3], nil => true}
      assert round_trip(map) == {:ok, Map.put(map, nil, true)}
      assert round_trip(%{}) == {:ok, %{}}
    end

    test "large maps and sets, both ways" do
      map = Map.new(1..5_000, fn i -> {"key#{i}", i} end)
      assert round_trip(map) == {:ok, map}

      # Dicts are made with room for every key: filled, they still grow and look up.
      assert Py.eval("(len(d), d['key1'], d['key5000'], 'key0' in d)", %{d: map}) ==
               {:ok, {5_000, 1, 5_000, false}}

      assert Py.eval("d.update({'extra': 0}) or len(d)", %{d: map}) == {:ok, 5_001}

      {:ok, from_python} = Py.eval("{str(i): i for i in range(5000)}")
      assert map_size(from_python) == 5_000
      set = MapSet.new(1..5_000)
      assert round_trip(set) == {:ok, set}

      assert {:error, {:invalid, _}} =
               Py.eval(
                 "{**{str(i): i for i in range(100)}, **{str(i).encode(): i for i in range(100)}}"
               )
    end

    # Large structured results travel as external term format (built off the VM's
    # threads, decoded by the caller): they must come back exactly as the term
    # encoder builds small ones, and fall back to it for what only it can convert.
    test "large results convert exactly as small ones" do
      :ok =
        Py.exec("""
        import collections, enum, erlang
        class Level(enum.IntEnum):
            LOW = 1
        def py_convert_many(value, n=20):
            return [None] + [value] * n
        """)

      values = [
        nil,
        true,
        -1,
        255,
        256,
        -(2 ** 31),
        2 ** 31,
        2 ** 63 - 1,
        -(2 ** 63),
        2 ** 64,
        -(2 ** 300),
        1.5,
        -0.0,
        "",
        "héllo",
        {:bytes, <<255, 0>>},
        [],
        [1, [2.5, "x"]],
        {},
        {1, "a", nil},
        %{},
        %{"k" => [1, 2], 3 => {4}},
        MapSet.new([1, "a"]),
        self(),
        make_ref()
      ]

      for value <- values do
        expected =
          case value do
            {:bytes, bin} -> bin
            other -> other
          end

        assert Py.call(:__main__, :py_convert_many, [value]) ==
                 {:ok, [nil | List.duplicate(expected, 20)]},
               "#{inspect(value)}"
      end

      assert Py.eval("[None] + [float('nan'), float('inf'), -float('inf')] * 6") ==
               {:ok, [nil | List.flatten(List.duplicate([:nan, :infinity, :neg_infinity], 6))]}

      assert Py.eval("[None] + ['\\udc80'] * 20") ==
               {:ok, [nil | List.duplicate(<<0xED, 0xB2, 0x80>>, 20)]}

      assert Py.eval("[None] + [bytearray(b'ab')] * 20") ==
               {:ok, [nil | List.duplicate("ab", 20)]}

      assert Py.eval("[None] + [erlang.atom('ok')] * 20") ==
               {:ok, [nil | List.duplicate(:ok, 20)]}

      assert {:error, {:invalid, why}} =
               Py.eval("[None] + [erlang.atom('py_convert_no_such_atom')] * 20")

      assert why =~ "names no existing atom"

      big = Map.new(1..50, &{"k#{&1}", &1})
      assert Py.eval("collections.OrderedDict(x)", %{x: big}) == {:ok, big}

      assert Py.eval("{Level.LOW: 'low', **{str(i): i for i in range(20)}}") ==
               {:ok, Map.new(0..19, &{"#{&1}", &1}) |> Map.put(1, "low")}

      assert Py.eval("frozenset(range(100))") == {:ok, MapSet.new(0..99)}

      # Every way of waiting for a reply decodes them.
      many = [nil | List.duplicate("x", 20)]

      assert Py.parallel([{:__main__, :py_convert_many, ["x"]}, {:builtins, :list, [many]}]) ==
               {:ok, [{:ok, many}, {:ok, many}]}

      ref = Py.spawn_call(:__main__, :py_convert_many, ["x"])
      assert Py.await(ref) == {:ok, many}
    end

    test "large results holding what only terms can carry fall back to terms" do
      assert {:ok, [nil | handles]} = Py.eval("[None] + [object() for _ in range(20)]")
      assert length(handles) == 20 and Enum.all?(handles, &match?(%Py.Object{}, &1))

      {:ok, channel} = Py.Channel.new()
      {:ok, [nil | channels]} = Py.eval("[None] + [c] * 20", %{c: channel})
      assert length(channels) == 20 and Enum.all?(channels, &match?(%Py.Channel{}, &1))
      Py.Channel.close(channel)

      assert Py.eval("{**{str(i): i for i in range(20)}, float('nan'): 1}") |> elem(0) == :ok
    end

    test "map keys Python cannot hash" do
      assert {:error, {:invalid, why}} = round_trip(%{[1] => 2})
      assert why =~ "unhashable"
    end

    test "Python keys that collide in Elixir" do
      assert {:error, {:invalid, _}} = Py.eval("{'a': 1, b'a': 2}")
    end

    test "MapSet to set, set and frozenset back to MapSet" do
      set = MapSet.new([1, "a", {2, 3}])
      assert round_trip(set) == {:ok, set}
      assert Py.eval("type(x).__name__", %{x: set}) == {:ok, "set"}
      assert Py.eval("frozenset([1, 2])") == {:ok, MapSet.new([1, 2])}
    end

    test "structs other than MapSet travel as dicts" do
      assert {:ok, %{"__struct__" => "Elixir.URI"}} = round_trip(URI.parse("http://x"))
    end

    test "pids and references come back as themselves" do
      ref = make_ref()
      assert round_trip(self()) == {:ok, self()}
      assert round_trip(ref) == {:ok, ref}
      assert round_trip({self(), [ref]}) == {:ok, {self(), [ref]}}
      assert Py.eval("repr(x)", %{x: self()}) == {:ok, "<erlang.Pid>"}
      assert Py.eval("x == y and hash(x) == hash(y)", %{x: ref, y: ref}) == {:ok, true}
      assert Py.eval("x == y", %{x: make_ref(), y: make_ref()}) == {:ok, false}
    end

    test "Python objects without an Elixir form become handles" do
      assert {:ok, %Py.Object{}} = Py.eval("object()")
      assert {:ok, %Py.Object{}} = Py.eval("complex(1, 2)")
    end
  end

  describe "what cannot be converted" do
    test "functions, ports and improper lists" do
      assert {:error, {:invalid, "functions cannot be converted"}} = round_trip(fn -> 1 end)
      port = Port.open({:spawn, "cat"}, [])
      assert {:error, {:invalid, "ports cannot be converted"}} = round_trip(port)
      Port.close(port)
      assert {:error, {:invalid, "improper lists cannot be converted"}} = round_trip([1 | 2])
    end

    test "deep nesting going in is refused without a crash" do
      deep = Enum.reduce(1..200_000, [], fn _, acc -> [acc] end)
      assert {:error, {:invalid, why}} = round_trip(deep)
      assert why =~ "nesting"

      deep_tuple = Enum.reduce(1..200_000, {}, fn _, acc -> {acc} end)
      assert {:error, {:invalid, _}} = round_trip(deep_tuple)

      deep_map = Enum.reduce(1..200_000, %{}, fn _, acc -> %{a: acc} end)
      assert {:error, {:invalid, _}} = round_trip(deep_map)
    end

    test "deep and cyclic Python values coming out are refused without a crash" do
      code = "x = []\nfor _ in range(200000):\n    x = [x]"

      :ok =
        Py.exec("def _deep():\n    " <> String.replace(code, "\n", "\n    ") <> "\n    return x")

      assert {:error, {:invalid, _}} = Py.call(:__main__, :_deep)

      :ok = Py.exec("def _cycle():\n    a = []\n    a.append(a)\n    return a")
      assert {:error, {:invalid, _}} = Py.call(:__main__, :_cycle)
      assert {:ok, %Py.Object{}} = Py.call(:__main__, :_cycle, [], return: :ref)
    end

    test "the system keeps working afterwards" do
      assert {:error, _} = round_trip([1 | 2])
      assert round_trip([1, 2]) == {:ok, [1, 2]}
    end
  end

  test "numeric lists keep every element's exact kind, at the edges of 64 bits too" do
    assert Py.eval(
             "[1, 2**70, -2**63, 2**63 - 1, 2**63, True, False, 1.5, float('nan'), float('-inf'), None, 3]"
           ) ==
             {:ok,
              [
                1,
                2 ** 70,
                -(2 ** 63),
                2 ** 63 - 1,
                2 ** 63,
                true,
                false,
                1.5,
                :nan,
                :neg_infinity,
                nil,
                3
              ]}

    assert Py.eval("(1, 2**64, 2.5)") == {:ok, {1, 2 ** 64, 2.5}}
    # int subclasses keep their general path.
    assert Py.eval("[__import__('enum').IntEnum('E', 'A').A, 7]") == {:ok, [1, 7]}

    list = [1, -(2 ** 63), 2 ** 63, 2 ** 100, "x", 1.5, :a, nil]

    assert Py.eval("[type(v).__name__ for v in xs]", %{xs: list}) ==
             {:ok, ~w(int int int int str float str NoneType)}

    assert Py.eval("xs", %{xs: list}) ==
             {:ok, [1, -(2 ** 63), 2 ** 63, 2 ** 100, "x", 1.5, "a", nil]}
  end

  test "ints coming back keep their value at every digit boundary" do
    # Python keeps ints below 2**30 in one digit and reads them specially.
    edges = [0, 1, -1, 2 ** 15, 2 ** 30 - 1, -(2 ** 30 - 1), 2 ** 30, -(2 ** 30), 2 ** 60]

    assert Py.eval("[0, 1, -1, 2**15, 2**30 - 1, -(2**30 - 1), 2**30, -2**30, 2**60]") ==
             {:ok, edges}

    for value <- edges, do: assert(Py.eval("x * 1", %{x: value}) == {:ok, value})

    assert Py.eval("[i * 7919 for i in range(-3000, 3000)]") ==
             {:ok, Enum.map(-3000..2999, &(&1 * 7919))}

    assert Py.eval("tuple(-i for i in range(100000, 100040))") ==
             {:ok, List.to_tuple(Enum.map(100_000..100_039, &(-&1)))}
  end

  test "small ints arriving on a context are shared objects; every int keeps its value" do
    edges = [-(2 ** 63), -257, -256, -255, -1, 0, 1, 256, 257, 16_383, 16_384, 2 ** 63 - 1]
    values = edges ++ Enum.to_list(-300..300//7) ++ Enum.to_list(16_000..16_500//13)

    # Each value both alone (a call's argument) and inside a list.
    for value <- values do
      assert Py.call(:operator, :neg, [value]) == {:ok, -value}
    end

    assert Py.call(:builtins, :list, [values]) == {:ok, values}
    assert Py.eval("[x + 0 for x in xs]", %{xs: values}) == {:ok, values}
    assert Py.eval("sum(xs)", %{xs: Enum.to_list(1..10_000)}) == {:ok, 50_005_000}

    # Within -256..16 383 the same value is the same object, also across calls on one
    # context (CPython alone shares only -5..256); outside it, a new object each time.
    context = hd(Py.Context.list())
    same = fn a, b -> Py.eval("a is b", %{a: a, b: b}, context: context) end
    assert same.(5_000, 5_000) == {:ok, true}
    assert same.(-256, -256) == {:ok, true}
    assert same.(16_383, 16_383) == {:ok, true}
    assert same.(16_384, 16_384) == {:ok, false}
    assert same.(-257, -257) == {:ok, false}
    assert Py.eval("a[0] is a[1]", %{a: [9_999, 9_999]}, context: context) == {:ok, true}
    {:ok, first} = Py.call(:builtins, :id, [12_345], context: context)
    assert Py.call(:builtins, :id, [12_345], context: context) == {:ok, first}
  end

  test "Python never creates atoms" do
    name = "py_atom_probe_#{System.unique_integer([:positive])}"
    {:ok, result} = Py.eval("{n: n, 'k': [n]}", %{n: name})
    assert result == %{name => name, "k" => [name]}

    :ok = Py.exec("class #{name}(Exception):\n    pass")

    assert {:error, %Py.Error{type: "__main__." <> ^name}} =
             Py.eval("(_ for _ in ()).throw(#{name}('x'))")

    assert {:ok, %Py.Object{}} = Py.eval(name)

    assert {:error, {:invalid, message}} = Py.eval("erlang.atom(n)", %{n: name})
    assert message =~ "names no existing atom"
    assert {:ok, :ok} = Py.eval("erlang.atom('ok')")

    assert_raise ArgumentError, fn -> String.to_existing_atom(name) end
  end
end
