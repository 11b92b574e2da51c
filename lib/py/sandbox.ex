defmodule Py.Sandbox do
  @groups [
    fork: ~w(os.fork os.forkpty),
    exec: ~w(os.exec os.posix_spawn),
    system: ~w(os.system),
    subprocess: ~w(subprocess.Popen _posixsubprocess.fork_exec),
    ctypes: ~w(ctypes.dlopen ctypes.dlsym ctypes.dlsym/handle ctypes.call_function ctypes.cdata)
  ]

  @moduledoc """
  An opt-in sandbox that refuses process-level escapes from embedded Python.

  Turned on by configuration, before the application starts, and never off again
  while the VM runs:

      config :erlang_python, sandbox: true
      # or everything but some groups or events:
      config :erlang_python, sandbox: [allow: [:subprocess, "os.system"]]

  It is a C audit hook (PEP 578) shared by every interpreter, subinterpreters
  included. A blocked operation raises `PermissionError` naming the audit event, e.g.
  `"os.system is blocked by the erlang_python sandbox (…)"`.

  The groups and the audit events they block:

  #{for {group, events} <- @groups, into: "", do: "  * `#{inspect(group)}`: #{Enum.map_join(events, ", ", &"`#{&1}`")}\n"}
  `import ctypes` still works (it opens the running process, which is allowed);
  loading a named library, looking up symbols and calling foreign functions do not.

  Audit hooks are a guard rail for trusted code that should not reach outside the
  VM by mistake, not a boundary against hostile code: CPython documents that native
  extensions can bypass them, and Python older than 3.13 raises no event for
  `_posixsubprocess.fork_exec`. Run untrusted code in an OS-level sandbox.
  """

  @typedoc "A group name from the table above, or an audit event name."
  @type allowed :: atom() | String.t()

  @doc """
  The audit events a sandbox configuration blocks: `false` blocks none, `true`
  all of them, `[allow: groups_or_events]` all but those.

      iex> Py.Sandbox.events(false)
      []
      iex> "os.system" in Py.Sandbox.events(true)
      true
      iex> Py.Sandbox.events(allow: [:fork, :exec, :subprocess, :ctypes])
      ["os.system"]

  Unknown groups raise, so a typo cannot silently widen the sandbox:

      iex> Py.Sandbox.events(allow: [:sockets])
      ** (ArgumentError) unknown sandbox group :sockets; groups are :fork, :exec, :system, :subprocess, :ctypes, or audit event names as strings
  """
  @spec events(boolean() | [{:allow, [allowed()]}]) :: [String.t()]
  def events(false), do: []
  def events(nil), do: []
  def events(true), do: events(allow: [])

  def events(opts) when is_list(opts) do
    allowed = opts |> Keyword.get(:allow, []) |> Enum.flat_map(&expand/1)
    for {_group, events} <- @groups, event <- events, event not in allowed, do: event
  end

  def events(other) do
    raise ArgumentError,
          "config :erlang_python, sandbox: expected true, false or [allow: [...]], got: #{inspect(other)}"
  end

  @doc """
  The audit events the running sandbox blocks; `[]` when the sandbox is off.

      iex> Py.Sandbox.blocked_events()
      []
  """
  @spec blocked_events() :: [String.t()]
  def blocked_events, do: Py.Native.runtime_sandbox_events()

  @doc """
  Whether the sandbox is on.

      iex> Py.Sandbox.enabled?()
      false
  """
  @spec enabled?() :: boolean()
  def enabled?, do: blocked_events() != []

  @doc false
  # Called once by the application at start, before any user code runs Python.
  @spec configure(term()) :: :ok | {:error, :already_set}
  def configure(config) do
    case events(config) do
      [] -> :ok
      # A restarted application finds its own sandbox still in place.
      events -> if blocked_events() == events, do: :ok, else: Py.Native.runtime_sandbox(events)
    end
  end

  defp expand(event) when is_binary(event), do: [event]

  defp expand(group) when is_atom(group) do
    case Keyword.fetch(@groups, group) do
      {:ok, events} ->
        events

      :error ->
        names = Enum.map_join(Keyword.keys(@groups), ", ", &inspect/1)

        raise ArgumentError,
              "unknown sandbox group #{inspect(group)}; groups are #{names}, or audit event names as strings"
    end
  end
end
