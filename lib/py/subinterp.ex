defmodule Py.Subinterp do
  @moduledoc """
  Isolated Python interpreters with their own GIL (PEP 684, Python 3.12+).

  Each subinterpreter runs on a context thread of its own and shares nothing with the
  others: modules, globals and objects are separate, and CPU-bound Python in two
  subinterpreters runs in parallel on two cores even on a regular (GIL) build.
  `:subinterp` pools (`Py.Pool.start(name, size, :subinterp)`) are made of them.

  Limits: C extensions that do not declare subinterpreter support refuse to import,
  with an `ImportError` naming the module. numpy is one of them today: keep numpy work
  on `:worker` pools. Subprocesses (`fork`/`exec`) are disabled inside them.
  The active virtualenv (`Py.Venv`), if any, is put into effect in each new one.
  A `%Py.Object{}` made in a subinterpreter lives there: `Py.getattr/3`,
  `Py.call_method/4` and `Py.repr/2` (and `inspect/1`) run in its interpreter
  wherever they are called from, but passing it as an argument to a call that runs
  in another interpreter is refused with `{:error, {:invalid, _}}`.

  ## Examples

      iex> if Py.Subinterp.supported?() do
      ...>   {:ok, interp} = Py.Subinterp.create()
      ...>   :ok = Py.Subinterp.exec(interp, "x = 40")
      ...>   result = Py.Subinterp.eval(interp, "x + 2")
      ...>   :ok = Py.Subinterp.destroy(interp)
      ...>   result
      ...> else
      ...>   {:ok, 42}
      ...> end
      {:ok, 42}
  """

  @enforce_keys [:pool]
  defstruct [:pool]

  @type t :: %__MODULE__{pool: reference()}

  @doc """
  True when the running Python can make OWN_GIL subinterpreters (3.12+).

  ## Examples

      iex> is_boolean(Py.Subinterp.supported?())
      true
  """
  @spec supported?() :: boolean()
  def supported? do
    match?({:ok, %{subinterpreters: true}}, Py.runtime_info())
  end

  @doc """
  Creates a subinterpreter (10–20 ms: keep it, or use a `:subinterp` pool).
  It is destroyed by `destroy/1`, or when the last reference to it is garbage
  collected.

  ## Examples

      iex> match?({:ok, %Py.Subinterp{}}, Py.Subinterp.create()) or not Py.Subinterp.supported?()
      true
  """
  @spec create(keyword()) :: {:ok, t()} | {:error, term()}
  def create(opts \\ []) do
    Keyword.validate!(opts, [])

    if supported?() do
      with :ok <- Py.Memory.refuse_subinterpreters_while_tracing(),
           {:ok, pool} <- Py.Native.pool_new(1, :subinterp, :none) do
        # An active venv is put into effect in the new interpreter too.
        case Py.Venv.Activation.prepare(pool, 1, :subinterp) do
          :ok ->
            {:ok, %__MODULE__{pool: pool}}

          {:error, _} = error ->
            Py.Native.pool_stop(pool)
            error
        end
      end
    else
      {:error, {:unsupported, "subinterpreters need Python 3.12 or later"}}
    end
  end

  @doc """
  Calls `module.function(*args)` in the subinterpreter. Options as `Py.call/4`
  (`kwargs:`, `timeout:`, `return:`).

  ## Examples

      iex> {:ok, interp} = Py.Subinterp.create()
      iex> Py.Subinterp.call(interp, :math, :sqrt, [9.0])
      {:ok, 3.0}
  """
  @spec call(t(), Py.name(), Py.name(), list(), keyword()) ::
          {:ok, term()} | {:error, Py.reason()}
  def call(%__MODULE__{} = interp, module, function, args \\ [], opts \\ []) do
    opts = Keyword.validate!(opts, [:kwargs, :timeout, return: :value])

    op =
      Py.Op.call(
        Py.name!(module),
        Py.name!(function),
        args,
        Py.kwargs!(opts[:kwargs]),
        opts[:return]
      )

    Py.Request.run_on(interp.pool, 0, true, op, opts)
  end

  @doc """
  Evaluates an expression in the subinterpreter.

  ## Examples

      iex> {:ok, interp} = Py.Subinterp.create()
      iex> Py.Subinterp.eval(interp, "a * b", %{a: 6, b: 7})
      {:ok, 42}
  """
  @spec eval(t(), String.t(), map(), keyword()) :: {:ok, term()} | {:error, Py.reason()}
  def eval(%__MODULE__{} = interp, code, locals \\ %{}, opts \\ []) when is_binary(code) do
    opts = Keyword.validate!(opts, [:timeout, return: :value])
    locals = if map_size(locals) == 0, do: nil, else: locals
    Py.Request.run_on(interp.pool, 0, true, Py.Op.eval(code, locals, opts[:return]), opts)
  end

  @doc """
  Runs statements in the subinterpreter's `__main__`.

  ## Examples

      iex> {:ok, interp} = Py.Subinterp.create()
      iex> Py.Subinterp.exec(interp, "import math")
      :ok
  """
  @spec exec(t(), String.t(), keyword()) :: :ok | {:error, Py.reason()}
  def exec(%__MODULE__{} = interp, code, opts \\ []) when is_binary(code) do
    opts = Keyword.validate!(opts, [:timeout])
    Py.Request.run_on(interp.pool, 0, true, Py.Op.exec(code), opts)
  end

  @doc """
  Destroys the subinterpreter once the requests already queued are answered; later
  calls return `{:error, :stopped}`.

  ## Examples

      iex> {:ok, interp} = Py.Subinterp.create()
      iex> Py.Subinterp.destroy(interp)
      :ok
      iex> Py.Subinterp.eval(interp, "1")
      {:error, :stopped}
  """
  @spec destroy(t()) :: :ok
  def destroy(%__MODULE__{pool: pool}), do: Py.Native.pool_stop(pool)
end
