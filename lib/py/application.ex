defmodule Py.Application do
  @moduledoc false
  use Application

  @impl true
  def start(_type, _args) do
    case Py.Native.load() do
      {:ok, python} ->
        # The VM ignores SIGCHLD, so Python's waitpid() would fail with ECHILD and
        # every subprocess exit code would be lost. Restore the default disposition.
        :os.set_signal(:sigchld, :default)
        Py.Native.semaphore_set_max(Py.Semaphore.default_max())
        Py.Native.runtime_allow_fork(Application.get_env(:erlang_python, :allow_fork, false))

        Py.Native.logging_configure(
          Application.get_env(:erlang_python, :logging, true),
          Py.Logging.python_level(Application.get_env(:erlang_python, :log_level))
        )

        Py.Telemetry.setup()

        children = [
          {Registry, keys: :unique, name: Py.PoolRegistry},
          Py.Logging,
          Py.Trace,
          {Py.Output, python: python},
          {Task.Supervisor, name: Py.CallbackTasks},
          Py.Callback,
          {DynamicSupervisor, name: Py.PoolSupervisor, strategy: :one_for_one},
          {Py.Pool, name: :default, size: default_pool_size(), mode: default_pool_mode()}
        ]

        with {:ok, supervisor} <-
               Supervisor.start_link(children, strategy: :rest_for_one, name: Py.Supervisor) do
          activate_venv(supervisor)
        end

      {:error, message} ->
        {:error, {:erlang_python, message}}
    end
  end

  # The venv of `config :erlang_python, venv: ...` or of `mix py.venv`, once the
  # pools that it must reach are running.
  defp activate_venv(supervisor) do
    case Py.Venv.Project.activate_at_start() do
      :ok ->
        {:ok, supervisor}

      {:error, message} ->
        Supervisor.stop(supervisor)
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
