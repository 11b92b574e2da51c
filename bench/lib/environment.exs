defmodule Bench.Environment do
  @moduledoc false
  # What the figures were measured on, recorded with them.

  @spec collect(Bench.Config.t()) :: map()
  def collect(config) do
    {:ok, info} = Py.runtime_info()
    pool_size = Py.Pool.size(:default)

    %{
      "python" => hd(String.split(info.version)),
      "python_build" => info.version,
      "python_executable" => info.executable,
      "free_threaded" => info.free_threaded,
      "execution_mode" => Py.execution_mode(),
      "pool_size" => pool_size,
      "otp" => System.otp_release(),
      "erts" => to_string(:erlang.system_info(:version)),
      "elixir" => System.version(),
      "cores" => :erlang.system_info(:logical_processors_available),
      "schedulers" => System.schedulers_online(),
      "load_average" => load_average(),
      "date" => DateTime.utc_now() |> DateTime.truncate(:second) |> DateTime.to_iso8601(),
      "quick" => config.quick,
      "runs" => config.runs
    }
  end

  @doc false
  # The 1-minute load average, or nil without /proc: how busy the host was.
  @spec load_average() :: float() | nil
  def load_average do
    with {:ok, text} <- File.read("/proc/loadavg"),
         [one | _] <- String.split(text),
         {value, _} <- Float.parse(one) do
      value
    else
      _ -> nil
    end
  end

  @doc false
  # One line for the top of the table.
  @spec summary(map()) :: String.t()
  def summary(env) do
    "# python #{env["python"]} (#{env["python_executable"]}) mode #{env["execution_mode"]} " <>
      "otp #{env["otp"]} elixir #{env["elixir"]} cores #{env["cores"]} " <>
      "load #{env["load_average"]} #{env["date"]}#{if env["quick"], do: " QUICK", else: ""}"
  end
end
