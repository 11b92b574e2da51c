defmodule Py.Config do
  @moduledoc false
  # The application's configuration, read in one place. Besides our own keys it
  # accepts the keys of erlang_python 2.x sys.config files, so an Erlang release can
  # switch without rewriting its configuration:
  #
  #   ours                 also accepted
  #   :default_pool_size   :num_contexts, then :num_executors
  #   :default_pool_mode   :context_mode (auto | worker | subinterp)
  #   :default_pool_cpu_affinity  -
  #   :io_pool_size        -
  #   :io_pool_mode        -
  #   :max_concurrent      -
  #
  # Our own key wins when both are set. `auto` means `:worker`, the mode every
  # extension module works in.

  @app :erlang_python

  # The size and mode of the `:io` pool when it is started on demand.
  @io_size 10

  @doc false
  @spec default_pool_size() :: pos_integer()
  def default_pool_size do
    first_set([:default_pool_size, :num_contexts, :num_executors]) || System.schedulers_online()
  end

  @doc false
  @spec default_pool_mode() :: Py.Pool.mode()
  def default_pool_mode do
    mode(first_set([:default_pool_mode, :context_mode]) || :worker)
  end

  @doc false
  @spec default_pool_cpu_affinity() :: Py.Pool.cpu_affinity()
  def default_pool_cpu_affinity do
    Application.get_env(@app, :default_pool_cpu_affinity, :none)
  end

  @doc false
  # `{size, mode}` of the `:io` pool the application starts with, or nil when
  # neither `:io_pool_size` nor `:io_pool_mode` is set (then the Erlang `py` API
  # starts it with `io_pool_on_demand/0` the first time a call routes to it).
  @spec io_pool() :: {pos_integer(), Py.Pool.mode()} | nil
  def io_pool do
    if first_set([:io_pool_size, :io_pool_mode]), do: io_pool_on_demand()
  end

  @doc false
  @spec io_pool_on_demand() :: {pos_integer(), Py.Pool.mode()}
  def io_pool_on_demand do
    {Application.get_env(@app, :io_pool_size, @io_size),
     mode(Application.get_env(@app, :io_pool_mode, :worker))}
  end

  @doc false
  # A positive integer; anything else falls back to schedulers × 2 + 1.
  @spec max_concurrent() :: pos_integer()
  def max_concurrent do
    case Application.get_env(@app, :max_concurrent) do
      max when is_integer(max) and max > 0 -> max
      _ -> System.schedulers_online() * 2 + 1
    end
  end

  @doc false
  # A pool mode from configuration or the Erlang API: `auto` is `:worker`.
  @spec mode(atom()) :: Py.Pool.mode()
  def mode(:auto), do: :worker
  def mode(mode), do: mode

  defp first_set(keys) do
    Enum.find_value(keys, &Application.get_env(@app, &1))
  end
end
