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
        Py.Native.semaphore_set_max(Py.Config.max_concurrent())
        Py.Native.runtime_allow_fork(Application.get_env(:erlang_python, :allow_fork, false))
        :ok = Py.Sandbox.configure(Application.get_env(:erlang_python, :sandbox, false))

        Py.Native.logging_configure(
          Application.get_env(:erlang_python, :logging, true),
          Py.Logging.python_level(Application.get_env(:erlang_python, :log_level))
        )

        Py.Telemetry.setup()
        # Casts of the Erlang `py` API in flight; owned by this process, which lives
        # as long as the application.
        :ok = :py.cast_table()

        children =
          [
            {Registry, keys: :unique, name: Py.PoolRegistry},
            Py.Logging,
            Py.Trace,
            {Py.Output, python: python},
            {Task.Supervisor, name: Py.CallbackTasks},
            Py.Callback,
            {DynamicSupervisor, name: Py.PoolSupervisor, strategy: :one_for_one},
            {Py.Pool,
             name: :default,
             size: Py.Config.default_pool_size(),
             mode: Py.Config.default_pool_mode(),
             cpu_affinity: Py.Config.default_pool_cpu_affinity()}
          ] ++ io_pool()

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

  # The `:io` pool starts with the application only when it is configured; otherwise
  # the Erlang `py` API starts it the first time a call routes to it. Either way it
  # runs under Py.PoolSupervisor, like any pool started at run time, so
  # Py.Pool.stop/1 stops it for good.
  defp io_pool do
    case Py.Config.io_pool() do
      nil -> []
      {size, mode} -> [%{id: :io_pool, start: {__MODULE__, :start_io_pool, [size, mode]}}]
    end
  end

  @doc false
  def start_io_pool(size, mode) do
    case Py.Pool.start(:io, size, mode) do
      {:ok, _contexts} -> :ignore
      {:error, {:already_started, :io}} -> :ignore
      {:error, reason} -> {:error, reason}
    end
  end
end
