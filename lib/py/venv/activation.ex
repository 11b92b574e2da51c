defmodule Py.Venv.Activation do
  @moduledoc false
  # Puts a virtualenv into effect in Python: in the main interpreter, in every context
  # of the running :subinterp pools, and in each subinterpreter created afterwards
  # (Py.Pool and Py.Subinterp call prepare/3 before handing a new one out).
  #
  # Each interpreter has its own `sys`, so the Python code below runs once per
  # interpreter and keeps what it changed on `sys` itself, to undo it exactly. The
  # process environment (VIRTUAL_ENV, PATH) is shared by all interpreters, so those
  # edits are idempotent, and deactivation undoes them in the main interpreter last.
  #
  # Activation and pool creation take one lock, so a pool started during an
  # activation is either reached by it or prepared by itself, never missed.

  alias Py.Venv.Layout

  @state {Py.Venv, :active}
  @lock Py.Venv

  # Runs in each interpreter. site.addsitedir processes the venv's .pth files (editable
  # installs, namespace packages), as the venv's own interpreter would at start.
  @source ~S'''
  import importlib, os, site, sys

  _KEY = "_erlang_python_venv"


  def _norm(path):
      return os.path.normcase(os.path.abspath(path))


  def _base_site_dirs():
      dirs = list(site.getsitepackages())
      try:
          dirs.append(site.getusersitepackages())
      except Exception:
          pass
      return {_norm(d) for d in dirs}


  def _set_path_env(bin_dir, present):
      entries = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != bin_dir]
      if present:
          entries.insert(0, bin_dir)
      os.environ["PATH"] = os.pathsep.join(entries)


  def activate(venv, site_packages, bin_dir, python, include_system, previous_env):
      if getattr(sys, _KEY, None) is not None:
          deactivate()
      if previous_env is None:
          previous_env = [os.environ.get("VIRTUAL_ENV")]
      base = _base_site_dirs()
      base_at = [i for i, p in enumerate(sys.path) if _norm(p) in base]
      # A venv's site-packages sits where the interpreter's own would: after the
      # standard library, before anything appended later.
      insert_at = base_at[0] if base_at else len(sys.path)
      removed = [] if include_system else [sys.path[i] for i in base_at]
      kept = [p for i, p in enumerate(sys.path) if include_system or i not in base_at]
      sys.path[:] = kept
      known = set(kept)
      site.addsitedir(site_packages)
      added = [p for p in sys.path if p not in known]
      rest = [p for p in sys.path if p in known]
      sys.path[:] = rest[:insert_at] + added + rest[insert_at:]
      setattr(sys, _KEY, {
          "venv": venv,
          "bin_dir": bin_dir,
          "added": added,
          "removed": removed,
          "insert_at": insert_at,
          "prefix": sys.prefix,
          "exec_prefix": sys.exec_prefix,
          "executable": sys.executable,
          "site_prefixes": list(site.PREFIXES),
          "enable_user_site": site.ENABLE_USER_SITE,
          "previous_env": previous_env,
      })
      sys.prefix = sys.exec_prefix = venv
      sys.executable = python
      site.PREFIXES[:] = [venv] + (site.PREFIXES if include_system else [])
      if not include_system:
          site.ENABLE_USER_SITE = False
      os.environ["VIRTUAL_ENV"] = venv
      _set_path_env(bin_dir, True)
      importlib.invalidate_caches()
      return {"previous_env": previous_env, "sys_path": list(sys.path)}


  def deactivate():
      state = getattr(sys, _KEY, None)
      if state is None:
          return False
      added = set(state["added"])
      path = [p for p in sys.path if p not in added]
      at = min(state["insert_at"], len(path))
      path[at:at] = [p for p in state["removed"] if p not in path]
      sys.path[:] = path
      sys.prefix = state["prefix"]
      sys.exec_prefix = state["exec_prefix"]
      sys.executable = state["executable"]
      site.PREFIXES[:] = state["site_prefixes"]
      site.ENABLE_USER_SITE = state["enable_user_site"]
      _set_path_env(state["bin_dir"], False)
      previous = state["previous_env"][0]
      if previous is None:
          os.environ.pop("VIRTUAL_ENV", None)
      else:
          os.environ["VIRTUAL_ENV"] = previous
      delattr(sys, _KEY)
      importlib.invalidate_caches()
      return True
  '''

  @expression "__import__('builtins').exec(source, ns) or ns[function](*args)"

  @doc false
  @spec active() :: map() | nil
  def active, do: :persistent_term.get(@state, nil)

  @doc false
  # Activates `layout` (see Py.Venv.Layout) everywhere Python runs now, and records
  # it for interpreters created later.
  @spec activate(Layout.t()) :: :ok | {:error, term()}
  def activate(layout) do
    locked(fn ->
      with :ok <- deactivate_everywhere() do
        case run_main(op(:activate, activate_args(layout, nil))) do
          {:ok, %{"previous_env" => previous_env}} ->
            active = Map.put(layout, :previous_env, previous_env)
            :persistent_term.put(@state, active)

            case run_subinterp_pools(op(:activate, activate_args(active, previous_env))) do
              :ok ->
                :ok

              {:error, reason} ->
                _ = deactivate_everywhere()
                {:error, {:activation_failed, reason}}
            end

          {:error, reason} ->
            {:error, {:activation_failed, reason}}
        end
      end
    end)
  end

  @doc false
  @spec deactivate() :: :ok | {:error, term()}
  def deactivate, do: locked(&deactivate_everywhere/0)

  @doc false
  # Called with each new pool (or Py.Subinterp) before it is handed out: a
  # subinterpreter starts with the interpreter's own sys.path, so an active venv is
  # put into effect there too. Worker contexts share the main interpreter: nothing
  # to do.
  @spec prepare(reference(), pos_integer(), :worker | :subinterp) :: :ok | {:error, term()}
  def prepare(_resource, _size, :worker), do: :ok

  def prepare(resource, size, :subinterp) do
    locked(fn ->
      case active() do
        nil ->
          :ok

        active ->
          op = op(:activate, activate_args(active, active.previous_env))

          with {:error, reason} <- run_contexts(resource, size, op),
               do: {:error, {:activation_failed, reason}}
      end
    end)
  end

  defp deactivate_everywhere do
    case active() do
      nil ->
        :ok

      _active ->
        # Subinterpreters first, the main interpreter last: it restores the process
        # environment as it was before activation.
        sub = run_subinterp_pools(op(:deactivate, []))

        with :ok <- sub, {:ok, _} <- run_main(op(:deactivate, [])) do
          :persistent_term.erase(@state)
          :ok
        else
          {:error, reason} -> {:error, {:deactivation_failed, reason}}
        end
    end
  end

  defp activate_args(layout, previous_env) do
    [
      layout.path,
      layout.site_packages,
      Layout.bin_dir(layout.path),
      layout.python,
      layout.system_site_packages,
      previous_env
    ]
  end

  defp op(function, args) do
    locals = %{
      "source" => @source,
      "ns" => %{},
      "function" => Atom.to_string(function),
      "args" => args
    }

    Py.Op.eval(@expression, locals, nil)
  end

  # The main interpreter is reached through a running :worker pool; when every
  # pool runs subinterpreters, through a one-context worker pool made for the job.
  defp run_main(op) do
    case Enum.find(running_pools(), &(&1.mode == :worker)) do
      %{resource: resource} ->
        Py.Request.run_on(resource, 0, false, op, timeout: :infinity)

      nil ->
        with {:ok, resource} <- Py.Native.pool_new(1, :worker, :none) do
          try do
            Py.Request.run_on(resource, 0, true, op, timeout: :infinity)
          after
            Py.Native.pool_stop(resource)
          end
        end
    end
  end

  defp run_subinterp_pools(op) do
    running_pools()
    |> Enum.filter(&(&1.mode == :subinterp))
    |> Enum.reduce_while(:ok, fn pool, :ok ->
      case run_contexts(pool.resource, pool.size, op) do
        :ok -> {:cont, :ok}
        {:error, _} = error -> {:halt, error}
      end
    end)
  end

  defp run_contexts(resource, size, op) do
    jobs = for index <- 0..(size - 1), do: {index, true, op}

    resource
    |> Py.Request.run_many(jobs, timeout: :infinity)
    |> Enum.find_value(:ok, fn
      {:ok, _} -> nil
      {:error, _} = error -> error
    end)
  end

  defp running_pools do
    Py.PoolRegistry
    |> Registry.select([{{:"$1", :_, :_}, [], [:"$1"]}])
    |> Enum.flat_map(&List.wrap(Py.Pool.fetch(&1)))
  end

  defp locked(fun), do: :global.trans({@lock, self()}, fun, [node()])
end
