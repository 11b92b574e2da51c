# Runs the elixir cells of a Livebook notebook in order, in a fresh VM, the way
# Livebook's evaluator does: one binding carried from cell to cell, and __DIR__ the
# notebook's directory. Used by test/livebook_test.exs:
#
#     elixir test/support/run_notebook.exs guides/livebook.livemd
#
# The group leader stands in for Livebook's: text goes to the real one, and the
# `{:livebook_put_output, output}` requests Livebook's group leader accepts are
# recorded and reported. A report line per cell and per output goes to stdout.

defmodule NotebookRun.LivebookGroupLeader do
  def start(real), do: spawn_link(fn -> loop(real, []) end)

  def outputs(pid) do
    send(pid, {:outputs, self()})
    receive do: ({:outputs, outputs} -> outputs)
  end

  defp loop(real, outputs) do
    receive do
      {:io_request, from, reply_as, {:livebook_put_output, output}} ->
        send(from, {:io_reply, reply_as, :ok})
        loop(real, [output | outputs])

      {:io_request, from, reply_as, request} ->
        ref = make_ref()
        send(real, {:io_request, self(), ref, request})
        receive do: ({:io_reply, ^ref, reply} -> send(from, {:io_reply, reply_as, reply}))
        loop(real, outputs)

      {:outputs, pid} ->
        send(pid, {:outputs, Enum.reverse(outputs)})
        loop(real, outputs)
    end
  end
end

[notebook] = System.argv()
notebook = Path.expand(notebook)

cells =
  ~r/^```elixir\n(.*?)^```/ms
  |> Regex.scan(File.read!(notebook), capture: :all_but_first)
  |> Enum.map(&hd/1)

real = Process.group_leader()
stand_in = NotebookRun.LivebookGroupLeader.start(real)
Process.group_leader(self(), stand_in)

binding =
  cells
  |> Enum.with_index(1)
  |> Enum.reduce([], fn {code, index}, binding ->
    {value, binding} = Code.eval_string(code, binding, file: notebook)
    IO.puts(real, "cell #{index}: #{inspect(value, limit: 10, printable_limit: 80)}")
    binding
  end)

for output <- NotebookRun.LivebookGroupLeader.outputs(stand_in) do
  case output do
    %{type: :image, mime_type: mime, content: <<0x89, "PNG\r\n", 0x1A, "\n", _::binary>> = png} ->
      IO.puts(real, "output: image #{mime}, #{byte_size(png)} bytes of PNG")

    other ->
      IO.puts(real, "output: #{inspect(other, limit: 5)}")
  end
end

# Outside Livebook the notebook's image helper saves the PNG instead.
Process.group_leader(self(), real)

with {:ok, show} <- Keyword.fetch(binding, :show_png),
     {:ok, png} <- Keyword.fetch(binding, :png) do
  {:saved, path} = show.(png)

  IO.puts(
    "without Livebook: saved #{byte_size(File.read!(path))} bytes, same: #{File.read!(path) == png}"
  )
end
