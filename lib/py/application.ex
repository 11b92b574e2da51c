defmodule Py.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    case Py.Native.load() do
      {:ok, python} ->
        Py.Native.semaphore_set_max(Py.Semaphore.default_max())

        children = [
          {Py.Output, python: python},
          {Py.Pool, name: :default, size: default_pool_size(), mode: :worker}
        ]

        Supervisor.start_link(children, strategy: :rest_for_one, name: Py.Supervisor)

      {:error, message} ->
        {:error, {:erlang_python, message}}
    end
  end

  defp default_pool_size do
    Application.get_env(:erlang_python, :default_pool_size, System.schedulers_online())
  end
end
