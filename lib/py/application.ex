defmodule Py.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    case Py.Native.load() do
      {:ok, python} ->
        Py.Native.semaphore_set_max(Py.Semaphore.default_max())

        children = [
          {Registry, keys: :unique, name: Py.PoolRegistry},
          {Py.Output, python: python},
          {DynamicSupervisor, name: Py.PoolSupervisor, strategy: :one_for_one},
          {Py.Pool, name: :default, size: default_pool_size(), mode: default_pool_mode()}
        ]

        Supervisor.start_link(children, strategy: :rest_for_one, name: Py.Supervisor)

      {:error, message} ->
        {:error, {:erlang_python, message}}
    end
  end

  defp default_pool_mode do
    Application.get_env(:erlang_python, :default_pool_mode, :worker)
  end

  defp default_pool_size do
    Application.get_env(:erlang_python, :default_pool_size, System.schedulers_online())
  end
end
