defmodule Py.EUnitTest do
  # Compiles the EUnit modules under test/eunit and runs them with eunit, as an
  # Erlang project would.
  use ExUnit.Case, async: false

  @moduletag :eunit

  for source <- Path.wildcard("test/eunit/*_tests.erl") do
    test "eunit: #{Path.basename(source)}" do
      {:ok, module, binary} =
        :compile.file(String.to_charlist(unquote(source)), [:binary, :report_errors])

      {:module, ^module} = :code.load_binary(module, String.to_charlist(unquote(source)), binary)
      assert :eunit.test(module) == :ok
    end
  end
end
