defmodule Py.Semaphore do
  @moduledoc """
  Bounds how much Python work runs or waits at once, across every pool.

  Each request holds a permit from the moment it is submitted until it leaves its
  context (answered, timed out and interrupted, or stopped). When every permit is
  taken, a call fails at once with `{:error, {:overloaded, current, max}}` rather
  than queuing without bound: shed load at the edge of your system instead of
  letting mailboxes grow.

  The limit defaults to schedulers × 2 + 1 (config `:max_concurrent`) and can be
  changed at run time.
  """

  @doc """
  The number of permits.

  ## Examples

      iex> Py.Semaphore.max_concurrent() > 0
      true
  """
  @spec max_concurrent() :: pos_integer()
  def max_concurrent, do: Py.Native.semaphore_max()

  @doc """
  Permits held right now: requests queued or running.

  ## Examples

      iex> Py.Semaphore.current() >= 0
      true
  """
  @spec current() :: non_neg_integer()
  def current, do: Py.Native.semaphore_current()

  @doc """
  Sets the number of permits. Requests already admitted keep theirs.

  ## Examples

      iex> previous = Py.Semaphore.max_concurrent()
      iex> Py.Semaphore.set_max_concurrent(64)
      :ok
      iex> Py.Semaphore.max_concurrent()
      64
      iex> Py.Semaphore.set_max_concurrent(previous)
      :ok
  """
  @spec set_max_concurrent(pos_integer()) :: :ok
  def set_max_concurrent(max) when is_integer(max) and max > 0,
    do: Py.Native.semaphore_set_max(max)

  def set_max_concurrent(other) do
    raise ArgumentError, "expected a positive integer, got: #{inspect(other)}"
  end

  @doc false
  # The limit the application starts with.
  @spec default_max() :: pos_integer()
  def default_max, do: Py.Config.max_concurrent()
end
