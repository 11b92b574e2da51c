defmodule Mix.Tasks.Py.Python do
  @shortdoc "Lists Python interpreters and chooses the one erlang_python builds for"

  @moduledoc """
  Lists the CPython interpreters found on this machine and chooses the one the
  erlang_python NIF is built for.

      mix py.python               # list interpreters, mark the selected one with *
      mix py.python --use PATH    # check PATH and save it as this project's choice
      mix py.python --reset       # forget this project's choice

  The list shows each interpreter's executable as Python reports it (the
  `sys.executable` it will have inside the BEAM, as `mix py.doctor` shows it), its
  version, whether it is free-threaded or has a GIL, whether a shared libpython and
  the C headers were found, and whether erlang_python can use it: CPython 3.9 or
  newer with a shared libpython and headers (needed to build the NIF).

  The selection order is described in `Py.Interpreter`: the `:python` config, then
  `ERLANG_PYTHON`, then the choice saved by `--use` (in `.erlang_python/python`),
  then an active virtualenv, then `python3` on `PATH`. After `--use` or `--reset`,
  the next `mix compile` rebuilds the NIF for the newly selected interpreter.

  This task neither compiles the NIF nor starts the application.
  """

  use Mix.Task

  # --project-dir is undocumented: it lets tests work on a temporary project.
  @switches [use: :string, reset: :boolean, project_dir: :string]

  @usage "usage: mix py.python [--use PATH | --reset]"

  @impl Mix.Task
  def run(args) do
    case OptionParser.parse(args, strict: @switches) do
      {opts, [], []} ->
        dispatch(opts)

      {_opts, extra, []} ->
        Mix.raise("unexpected arguments #{Enum.join(extra, " ")}; #{@usage}")

      {_opts, _extra, invalid} ->
        Mix.raise("invalid option #{invalid_switch(invalid)}; #{@usage}")
    end
  end

  # OptionParser reports both unknown switches and known ones missing their value
  # as {switch, nil}; tell the two apart so the message says what is wrong.
  defp invalid_switch([{switch, nil} | _]) do
    if known_switch?(switch), do: "#{switch} (it needs a value)", else: switch
  end

  defp invalid_switch([{switch, value} | _]), do: "#{switch} #{value}"

  defp known_switch?("--" <> name) do
    Enum.any?(@switches, fn {key, _type} ->
      Atom.to_string(key) == String.replace(name, "-", "_")
    end)
  end

  defp known_switch?(_switch), do: false

  defp dispatch(opts) do
    project_dir = Path.expand(opts[:project_dir] || File.cwd!())

    case {opts[:use], opts[:reset]} do
      {nil, reset} when reset in [nil, false] -> list(project_dir)
      {path, reset} when reset in [nil, false] -> use_python(path, project_dir)
      {nil, true} -> reset(project_dir)
      {_path, true} -> Mix.raise("--use and --reset cannot be combined; #{@usage}")
    end
  end

  ## mix py.python

  defp list(project_dir) do
    selection = Py.Interpreter.select(project_dir: project_dir)
    interpreters = with_selected(Py.Interpreter.discover(), selection)

    if interpreters == [] do
      Mix.shell().info("No Python interpreters found on this machine.")
    else
      print_table(interpreters, selection)
    end

    Mix.shell().info("")
    print_selection(selection)
  end

  # The selected interpreter can live somewhere discover/1 does not look (a config
  # path, an inactive venv) or be found there under another name (a pyenv shim);
  # show it under the path it was selected by, so the `*` row is the selected one.
  defp with_selected(interpreters, {:ok, selected}) do
    if Enum.any?(interpreters, &same?(&1, selected)),
      do: Enum.map(interpreters, &if(same?(&1, selected), do: selected, else: &1)),
      else: [selected | interpreters]
  end

  defp with_selected(interpreters, {:error, _}), do: interpreters

  defp same?(a, b), do: a.real_executable == b.real_executable

  defp print_table(interpreters, selection) do
    header = ["PATH", "VERSION", "ABI", "THREADING", "LIBPYTHON", "HEADERS", "USABLE"]

    rows =
      Enum.map(interpreters, fn info ->
        [
          info.executable,
          info.version,
          info.abi_tag,
          if(info.free_threaded, do: "free-threaded", else: "gil"),
          yes_no(info.shared),
          yes_no(info.headers),
          usable(info)
        ]
      end)

    marks = ["  " | Enum.map(interpreters, &mark(&1, selection))]
    widths = column_widths([header | rows])

    Enum.zip(marks, [header | rows])
    |> Enum.each(fn {mark, row} -> Mix.shell().info(mark <> format_row(row, widths)) end)
  end

  defp mark(info, {:ok, selected}), do: if(same?(info, selected), do: "* ", else: "  ")
  defp mark(_info, {:error, _}), do: "  "

  defp column_widths(rows) do
    rows
    |> Enum.zip()
    |> Enum.map(fn column ->
      column |> Tuple.to_list() |> Enum.map(&String.length/1) |> Enum.max()
    end)
  end

  defp format_row(row, widths) do
    row
    |> Enum.zip(widths)
    |> Enum.map_join("  ", fn {cell, width} -> String.pad_trailing(cell, width) end)
    |> String.trim_trailing()
  end

  defp yes_no(true), do: "yes"
  defp yes_no(_), do: "no"

  defp usable(info) do
    case Py.Interpreter.problems(info) do
      [] -> "yes"
      problems -> "no: " <> Enum.map_join(problems, ", ", &problem/1)
    end
  end

  defp problem(:too_old), do: "older than 3.9"
  defp problem(:no_shared_libpython), do: "no shared libpython"
  defp problem(:no_headers), do: "no Python.h"

  defp print_selection({:ok, info}) do
    Mix.shell().info(
      "Selected: #{Py.Interpreter.location(info)}: Python #{info.version}, #{info.abi_tag}, " <>
        "#{reason(info.source)}."
    )

    case Py.Interpreter.check(info) do
      :ok ->
        Mix.shell().info("The NIF is built against #{info.libpython}.")

      {:error, message} ->
        Mix.shell().error(message)
    end

    Mix.shell().info("Choose another with `mix py.python --use PATH`.")
  end

  defp print_selection({:error, message}) do
    Mix.shell().error("No interpreter selected: " <> message)
  end

  defp reason(:config), do: "from `config :erlang_python, python: ...`"
  defp reason(:env), do: "from the ERLANG_PYTHON environment variable"
  defp reason(:project), do: "from this project's choice (mix py.python --use)"
  defp reason(:virtual_env), do: "from the active virtualenv ($VIRTUAL_ENV)"
  defp reason(:path), do: "the first python3 on PATH"

  ## mix py.python --use PATH

  defp use_python(path, project_dir) do
    case Py.Interpreter.persist(path, project_dir) do
      :ok ->
        chosen = Py.Interpreter.persisted(project_dir)

        Mix.shell().info(
          "Saved #{chosen}#{describe(chosen)} as this project's Python in " <>
            "#{Py.Interpreter.choice_file(project_dir)}."
        )

        Mix.shell().info("The next `mix compile` builds the NIF for it.")
        warn_if_overridden(project_dir)

      {:error, message} ->
        Mix.raise(message)
    end
  end

  defp describe(path) do
    case Py.Interpreter.info(path) do
      {:ok, info} -> " (Python #{info.version}, #{info.abi_tag})"
      {:error, _} -> ""
    end
  end

  # Config and ERLANG_PYTHON rank above the saved choice; say so rather than let
  # the user wonder why `--use` had no effect.
  defp warn_if_overridden(project_dir) do
    case Py.Interpreter.select(project_dir: project_dir) do
      {:ok, %{source: source, path: path}} when source in [:config, :env] ->
        Mix.shell().error(
          "Note: #{path} is still selected, #{reason(source)}, which takes precedence."
        )

      _ ->
        :ok
    end
  end

  ## mix py.python --reset

  defp reset(project_dir) do
    case Py.Interpreter.forget(project_dir) do
      :ok ->
        Mix.shell().info("Forgot this project's Python choice.")
        print_selection(Py.Interpreter.select(project_dir: project_dir))

      {:error, message} ->
        Mix.raise(message)
    end
  end
end
