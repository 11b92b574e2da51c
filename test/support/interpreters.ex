defmodule Py.Test.Interpreters do
  @moduledoc false
  # The interpreters whose NIF is built here from the current sources: switching
  # between them must not rebuild.

  def built(priv \\ Path.join(File.cwd!(), "priv/native")) do
    priv
    |> Py.Native.Artifact.build_record()
    |> Map.fetch!(:artifacts)
    |> Map.values()
    |> Enum.map(& &1.executable)
    |> Enum.uniq()
    |> Enum.filter(fn executable ->
      case Py.Interpreter.info(executable) do
        {:ok, info} -> Py.Native.Artifact.up_to_date?(info)
        {:error, _} -> false
      end
    end)
  end
end
