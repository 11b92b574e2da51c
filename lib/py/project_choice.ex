defmodule Py.ProjectChoice do
  @moduledoc false
  # A project's saved choice (the interpreter of `mix py.python --use`, the venv of
  # `mix py.venv`): one line in a file under <project>/.erlang_python/.

  @spec file(Path.t(), String.t()) :: String.t()
  def file(project_dir, name), do: Path.join([Path.expand(project_dir), ".erlang_python", name])

  # The saved line, or nil when there is none.
  @spec read(String.t()) :: String.t() | nil
  def read(file) do
    case File.read(file) do
      {:ok, contents} ->
        case String.trim(contents) do
          "" -> nil
          line -> line
        end

      {:error, _} ->
        nil
    end
  end

  @spec write(String.t(), String.t()) :: :ok | {:error, String.t()}
  def write(file, line) do
    with :ok <- File.mkdir_p(Path.dirname(file)),
         :ok <- File.write(file, line <> "\n") do
      :ok
    else
      {:error, reason} -> {:error, "cannot write #{file}: #{:file.format_error(reason)}"}
    end
  end

  # Removing a missing choice is fine.
  @spec remove(String.t()) :: :ok | {:error, String.t()}
  def remove(file) do
    case File.rm(file) do
      :ok -> :ok
      {:error, :enoent} -> :ok
      {:error, reason} -> {:error, "cannot remove #{file}: #{:file.format_error(reason)}"}
    end
  end
end
