defmodule Py.Venv.Command do
  @moduledoc false
  # Runs a program (python -m venv, pip, uv) without a shell: the executable and its
  # arguments go to the OS as a list, so a path or requirement holding spaces, quotes
  # or `;` is one argument and never code. Output lines reach a progress function as
  # they arrive, not when the program ends.

  @max_line 8_192
  @kept_lines 30

  @type progress :: (String.t() -> any())

  @doc false
  # Runs `executable` with `args` and waits for it to exit. `:progress` gets each
  # line of its output (stderr merged in). Returns :ok, or {:error, {status,
  # last_lines}} with the last lines it printed.
  @spec run(Path.t(), [String.t()], keyword()) ::
          :ok | {:error, {non_neg_integer() | :not_started, [String.t()]}}
  def run(executable, args, opts \\ []) do
    progress = opts[:progress] || fn _line -> :ok end

    port_opts =
      [
        :binary,
        :exit_status,
        :stderr_to_stdout,
        :hide,
        {:line, @max_line},
        {:args, args},
        {:env, env(Keyword.get(opts, :env, []))}
      ] ++ if(opts[:cd], do: [{:cd, opts[:cd]}], else: [])

    try do
      Port.open({:spawn_executable, executable}, port_opts)
    rescue
      error in ErlangError ->
        {:error, {:not_started, ["cannot run #{executable}: #{inspect(error.original)}"]}}
    else
      port -> collect(port, progress, "", :queue.new(), 0)
    end
  end

  # Tools write progress for a terminal; ask them for plain, unbuffered lines.
  defp env(extra) do
    base = [
      {"PYTHONUNBUFFERED", "1"},
      {"PIP_DISABLE_PIP_VERSION_CHECK", "1"},
      {"PIP_NO_INPUT", "1"},
      {"PIP_PROGRESS_BAR", "off"},
      {"UV_NO_PROGRESS", "1"}
    ]

    for {key, value} <- base ++ extra do
      {String.to_charlist(key), if(value, do: String.to_charlist(value), else: false)}
    end
  end

  defp collect(port, progress, partial, kept, count) do
    receive do
      {^port, {:data, {:noeol, chunk}}} ->
        collect(port, progress, partial <> chunk, kept, count)

      {^port, {:data, {:eol, chunk}}} ->
        line = partial <> chunk
        progress.(line)
        {kept, count} = keep(kept, count, line)
        collect(port, progress, "", kept, count)

      {^port, {:exit_status, status}} ->
        {kept, _count} =
          if partial == "",
            do: {kept, count},
            else: tap(keep(kept, count, partial), fn _ -> progress.(partial) end)

        if status == 0, do: :ok, else: {:error, {status, :queue.to_list(kept)}}
    end
  end

  defp keep(kept, count, line) when count < @kept_lines, do: {:queue.in(line, kept), count + 1}
  defp keep(kept, count, line), do: {:queue.in(line, :queue.drop(kept)), count}
end
