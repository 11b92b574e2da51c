defmodule Py.Test.Guide do
  @moduledoc false
  # The ```elixir blocks of a guide, in order, for tests that run them.

  def blocks(path) do
    ~r/^```elixir\n(.*?)^```/ms
    |> Regex.scan(File.read!(path), capture: :all_but_first)
    |> Enum.map(&hd/1)
  end

  # Runs the blocks in sequence with one binding, as a reader would in iex.
  def run(path) do
    path
    |> blocks()
    |> Enum.with_index(1)
    |> Enum.reduce([], fn {code, index}, binding ->
      try do
        {_value, binding} = Code.eval_string(code, binding, file: path)
        binding
      rescue
        error ->
          reraise RuntimeError,
                  [
                    message:
                      "#{path}, elixir block #{index} failed:\n#{code}\n#{Exception.format(:error, error)}"
                  ],
                  __STACKTRACE__
      end
    end)
  end
end
