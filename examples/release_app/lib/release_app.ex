defmodule ReleaseApp do
  @moduledoc """
  A minimal application that embeds Python, built with `mix release`:

      MIX_ENV=prod mix release
      _build/prod/rel/release_app/bin/release_app eval 'ReleaseApp.main()'

  `eval` does not start applications, so `main/0` starts them itself.
  """

  @doc "Starts the application and prints which Python runs and one call's result."
  @spec main() :: :ok
  def main do
    {:ok, _started} = Application.ensure_all_started(:release_app)
    {:ok, info} = Py.runtime_info()
    {:ok, root} = Py.call(:math, :sqrt, [2.0])

    IO.puts("""
    python: #{hd(String.split(info.version))}
    executable: #{info.executable}
    prefix: #{info.prefix}
    math.sqrt(2.0) = #{root}
    numpy: #{numpy_version()}\
    """)
  end

  # numpy comes from the venv's requirements (deploy/requirements.txt) when installed.
  defp numpy_version do
    case Py.eval("__import__('numpy').__version__") do
      {:ok, version} -> version
      {:error, %Py.Error{type: "ModuleNotFoundError"}} -> "not installed"
    end
  end
end
