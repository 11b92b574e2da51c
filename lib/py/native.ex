defmodule Py.Native do
  @moduledoc false
  # The only module with NIF stubs, and the one place that loads the library.

  alias Py.Native.Artifact

  @doc false
  # Finds the artifact for the interpreter chosen for this run, verifies its checksum
  # and loads it. Returns the interpreter's executable for `runtime_init/2`.
  # `requested` is the interpreter asked for by config or ERLANG_PYTHON (nil: the one
  # selected when the NIF was last compiled).
  @spec load(Path.t(), String.t() | nil) :: {:ok, String.t()} | {:error, String.t()}
  def load(priv \\ default_priv(), requested \\ requested_python()) do
    with {:ok, python, path} <- locate(priv, requested),
         :ok <- verify(path, priv),
         :ok <- load_library(path, python) do
      {:ok, python}
    end
  end

  defp default_priv, do: Path.join(to_string(:code.priv_dir(:erlang_python)), "native")

  # Read at load time, so a release picks them up from config/runtime.exs or from the
  # environment of the machine it runs on.
  defp requested_python do
    Application.get_env(:erlang_python, :python) || present(System.get_env("ERLANG_PYTHON"))
  end

  defp locate(priv, requested) do
    record = Artifact.build_record(priv)

    entry =
      case requested do
        nil -> record.selected && record.artifacts[record.selected]
        path -> record.artifacts[path] || record.artifacts[Path.expand(path)]
      end

    cond do
      entry && not File.exists?(entry.executable) ->
        # Typically a release moved to a machine where the build machine's Python
        # lives elsewhere. Starting Python with a missing executable would give it a
        # wrong sys.executable and possibly the wrong standard library: refuse.
        {:error,
         "the erlang_python NIF in #{priv} was built for #{entry.executable} " <>
           "(#{entry.abi}), which is not on this machine. Choose an interpreter with " <>
           "the same ABI (#{entry.abi}): set ERLANG_PYTHON=/path/to/python3, or " <>
           "`config :erlang_python, python: \"/path/to/python3\"` in config/runtime.exs."}

      entry ->
        {:ok, entry.executable, Path.join(priv, entry.artifact)}

      requested ->
        locate_unrecorded(requested, priv)

      true ->
        {:error,
         "no erlang_python NIF is built in #{priv}. Run `mix compile` " <>
           "(and `mix py.doctor` if it does not build)."}
    end
  end

  defp locate_unrecorded(python, priv) do
    with {:ok, info} <- Py.Interpreter.info(python) do
      path = Path.join(priv, Artifact.name(info))

      if File.regular?(path) do
        {:ok, info.executable, path}
      else
        {:error,
         "no erlang_python NIF is built for #{python} (#{info.abi_tag}). " <>
           "Build it with `ERLANG_PYTHON=#{python} mix compile`."}
      end
    end
  end

  defp verify(path, priv) do
    case Artifact.verify(path, Artifact.read_manifest(Path.join(priv, "checksums.exs"))) do
      :ok ->
        :ok

      {:error, {:checksum_mismatch, file}} ->
        {:error,
         "refusing to load #{file}: its sha256 does not match the manifest. " <>
           "Rebuild it with `ERLANG_PYTHON_BUILD=1 mix compile`."}

      {:error, {:not_in_manifest, file}} ->
        {:error, "refusing to load #{file}: it is not listed in #{priv}/checksums.exs."}

      {:error, reason} ->
        {:error, "cannot read #{path}: #{inspect(reason)}"}
    end
  end

  defp load_library(path, python) do
    case :erlang.load_nif(String.to_charlist(Path.rootname(path)), 0) do
      :ok -> :ok
      # Already loaded by an earlier start of the application in this VM.
      {:error, {:reload, _}} -> :ok
      {:error, {_reason, text}} -> {:error, load_error(path, to_string(text), python)}
    end
  end

  @doc false
  # The message for a NIF that the dynamic loader refused. The usual cause on a
  # deployment target is libpython: the NIF looks for it in the directory it was
  # built against (its run path), then in the system library path.
  @spec load_error(Path.t(), String.t(), String.t(), (String.t() -> term())) :: String.t()
  def load_error(path, text, python, describe \\ &Py.Interpreter.info/1) do
    message = "cannot load #{path}: #{text}"

    with true <- text =~ "libpython",
         {:ok, %{libdir: libdir}} when is_binary(libdir) <- describe.(python) do
      message <>
        "\nThe NIF looks for libpython where it was built against, then in the system " <>
        "library path. #{python} has it in #{libdir}: start the VM with " <>
        "LD_LIBRARY_PATH=#{libdir} (in a release, export it in rel/env.sh.eex), or build " <>
        "the NIF on a machine where the interpreter has the same location."
    else
      _ -> message
    end
  end

  defp present(nil), do: nil
  defp present(""), do: nil
  defp present(value), do: value

  @doc false
  # What the embedded Python can do: version, free-threaded build, subinterpreters.
  @spec capabilities() :: {:ok, map()} | {:error, :not_initialized}
  def capabilities do
    with {:ok, info} <- Py.runtime_info() do
      {:ok,
       Map.take(info, [
         :version,
         :version_info,
         :free_threaded,
         :gil_enabled,
         :subinterpreters,
         :reference_pool
       ])}
    end
  end

  defp nif_error, do: :erlang.nif_error(:nif_not_loaded)

  def runtime_init(_python, _relay), do: nif_error()
  def runtime_info, do: nif_error()
  def runtime_allow_fork(_allow), do: nif_error()
  def runtime_sandbox(_events), do: nif_error()
  def runtime_sandbox_events, do: nif_error()
  def loop_submit(_pool, _index, _strict, _ref, _pid, _op), do: nif_error()
  def loop_submit_dirty(_pool, _index, _strict, _ref, _pid, _op), do: nif_error()
  def loop_cancel(_handle), do: nif_error()
  def runner_register(_pid), do: nif_error()
  def callback_names(_names), do: nif_error()
  def logging_configure(_enabled, _level), do: nif_error()
  def logging_relay(_pid), do: nif_error()
  def trace_configure(_collector, _enabled), do: nif_error()
  def pool_new(_size, _mode, _cpu_affinity), do: nif_error()
  def pool_submit(_pool, _index, _strict, _ref, _op, _wait, _frame), do: nif_error()
  def pool_submit_dirty(_pool, _index, _strict, _ref, _op, _wait, _frame), do: nif_error()
  def pool_cancel(_pool, _id), do: nif_error()
  def object_submit(_object, _ref, _op, _wait, _frame), do: nif_error()
  def object_cancel(_object, _id), do: nif_error()
  def frame_reply(_token, _seq, _result), do: nif_error()
  def runner_reply(_token, _result), do: nif_error()
  def pool_stop(_pool), do: nif_error()
  def pool_size(_pool), do: nif_error()
  def pool_loads(_pool), do: nif_error()
  def pool_fast_lane_counts(_pool), do: nif_error()
  def semaphore_current, do: nif_error()
  def semaphore_max, do: nif_error()
  def semaphore_set_max(_max), do: nif_error()
  def semaphore_acquire, do: nif_error()
  def semaphore_release, do: nif_error()
  def object_count, do: nif_error()
  def state_store(_key, _value), do: nif_error()
  def channel_new(_max_size, _bytes_mode), do: nif_error()
  def channel_send(_channel, _message), do: nif_error()
  def channel_close(_channel), do: nif_error()
  def channel_info(_channel), do: nif_error()
  def state_fetch(_key), do: nif_error()
  def state_delete(_key), do: nif_error()
  def state_keys, do: nif_error()
  def state_incr(_key, _by), do: nif_error()
  def noop, do: nif_error()
  def loan_counts, do: nif_error()
end
