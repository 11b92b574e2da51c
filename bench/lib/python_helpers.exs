defmodule Bench.PythonHelpers do
  @moduledoc false
  # Setting up what workloads need in Python, and putting shared settings back after.

  @doc false
  # Runs `code` on every context of `pool`, so functions it defines exist in every
  # interpreter the pool has (one for :worker pools, one per context for :subinterp).
  @spec define!(String.t(), Py.Pool.name()) :: :ok
  def define!(code, pool \\ :default) do
    size = Py.Pool.size(pool)
    for context <- 0..(size - 1), do: :ok = Py.exec(code, pool: pool, context: context)
    :ok
  end

  @doc false
  # Runs `fun` with the semaphore at `max` permits, then restores the limit.
  @spec with_permits(pos_integer(), (() -> result)) :: result when result: term()
  def with_permits(max, fun) do
    previous = Py.Semaphore.max_concurrent()
    :ok = Py.Semaphore.set_max_concurrent(max)

    try do
      fun.()
    after
      Py.Semaphore.set_max_concurrent(previous)
    end
  end

  @doc false
  # Runs `fun` with a pool started for it (Py.Pool.start/4 options), stopped afterwards.
  @spec with_pool(Py.Pool.name(), pos_integer(), Py.Pool.mode(), keyword(), (() -> result)) ::
          result
        when result: term()
  def with_pool(name, size, mode, opts, fun) do
    {:ok, _} = Py.Pool.start(name, size, mode, opts)

    try do
      fun.()
    after
      Py.Pool.stop(name)
    end
  end

  @doc false
  @spec numpy?() :: boolean()
  def numpy?, do: match?({:ok, _}, Py.eval("__import__('numpy').__version__"))
end
