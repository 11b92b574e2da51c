defmodule Py.Test.ErlangSource do
  @moduledoc false
  # Runs Erlang source text as the Erlang shell would: expressions separated by
  # commas, each statement ended by a dot, variables bound across statements (and
  # across calls, through the binding passed in). Used to run the Erlang examples of
  # the guides and the README, and usage examples written in Erlang.

  @doc "The ```erlang blocks of a Markdown file, in order."
  def blocks(path) do
    ~r/^```erlang\n(.*?)^```/ms
    |> Regex.scan(File.read!(path), capture: :all_but_first)
    |> Enum.map(&hd/1)
  end

  @doc "Evaluates every ```erlang block of `path` in order, with one binding."
  def run_blocks(path, binding \\ :erl_eval.new_bindings()) do
    path
    |> blocks()
    |> Enum.with_index(1)
    |> Enum.reduce(binding, fn {code, index}, binding ->
      {_value, binding} = eval(code, binding, "#{path}, erlang block #{index}")
      binding
    end)
  end

  @doc """
  Evaluates `source` and returns `{value_of_the_last_statement, binding}`. A
  statement that fails raises with the statement's text in the message.
  """
  def eval(source, binding \\ :erl_eval.new_bindings(), where \\ "Erlang source") do
    {:ok, tokens, _end} = :erl_scan.string(String.to_charlist(source))

    tokens
    |> statements([], [])
    |> Enum.reduce({nil, binding}, fn tokens, {_value, binding} ->
      {:ok, exprs} = :erl_parse.parse_exprs(tokens)

      try do
        {:value, value, binding} = :erl_eval.exprs(exprs, binding)
        {value, binding}
      catch
        kind, reason ->
          text = Enum.map_join(exprs, ",\n", &:erl_pp.expr/1)
          why = Exception.format(kind, reason, __STACKTRACE__)
          reraise RuntimeError, [message: "#{where} failed at:\n#{text}\n#{why}"], __STACKTRACE__
      end
    end)
  end

  # Splits the tokens after each dot.
  defp statements([], [], done), do: Enum.reverse(done)
  defp statements([], current, done), do: Enum.reverse(done, [Enum.reverse(current)])

  defp statements([{:dot, _} = dot | rest], current, done),
    do: statements(rest, [], [Enum.reverse([dot | current]) | done])

  defp statements([token | rest], current, done), do: statements(rest, [token | current], done)

  @doc "Bindings from an Elixir keyword list: `[url: \"...\"]` binds `Url`."
  def bind(pairs, binding \\ :erl_eval.new_bindings()) do
    Enum.reduce(pairs, binding, fn {name, value}, binding ->
      :erl_eval.add_binding(erlang_variable(name), value, binding)
    end)
  end

  defp erlang_variable(name) do
    name
    |> Atom.to_string()
    |> Macro.camelize()
    |> String.to_atom()
  end
end
