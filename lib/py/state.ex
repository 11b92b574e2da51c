defmodule Py.State do
  @moduledoc """
  Shared state for Elixir and Python: one concurrent map inside the NIF.

  Every interpreter (the main one, each subinterpreter, any Python thread) reads and
  writes it directly, without a round trip through the BEAM. Keys and values are
  Erlang terms, converted as call arguments and results are, so Elixir's `"hits"` and
  Python's `'hits'` are the same key, and a value written from one interpreter is
  readable from every other. Counters are atomic under concurrent use.

  In Python:

      erlang.state_set('config', {'mode': 'fast'})
      erlang.state_get('config')            # {'mode': 'fast'}
      erlang.state_get('missing', 0)        # 0
      erlang.state_incr('hits')             # 1, then 2, ...
      erlang.state_decr('hits', 2)
      erlang.state_keys(); erlang.state_delete('config')

  Integers that fit in 64 bits are kept as numbers, so `incr/2` is a locked add on
  one entry; other values are kept in the external term format.

  ## Examples

      iex> Py.State.store("greeting", "hello")
      :ok
      iex> Py.eval("erlang.state_get('greeting')")
      {:ok, "hello"}
      iex> Py.State.delete("greeting")
      :ok
  """

  @doc """
  Stores `value` under `key`, replacing any value there.

  ## Examples

      iex> Py.State.store({:user, 1}, %{"name" => "Ada"})
      :ok
      iex> Py.State.fetch({:user, 1})
      {:ok, %{"name" => "Ada"}}
  """
  @spec store(term(), term()) :: :ok
  def store(key, value), do: Py.Native.state_store(key, value)

  @doc """
  The value under `key`.

  ## Examples

      iex> Py.State.fetch(:never_stored)
      {:error, :not_found}
  """
  @spec fetch(term()) :: {:ok, term()} | {:error, :not_found}
  def fetch(key), do: Py.Native.state_fetch(key)

  @doc """
  The value under `key`; raises `KeyError` when there is none.

  ## Examples

      iex> Py.State.store(:answer, 42)
      :ok
      iex> Py.State.fetch!(:answer)
      42
  """
  @spec fetch!(term()) :: term()
  def fetch!(key) do
    case fetch(key) do
      {:ok, value} -> value
      {:error, :not_found} -> raise KeyError, key: key, term: __MODULE__
    end
  end

  @doc """
  Removes `key`. Missing keys are fine.

  ## Examples

      iex> Py.State.delete(:never_stored)
      :ok
  """
  @spec delete(term()) :: :ok
  def delete(key), do: Py.Native.state_delete(key)

  @doc """
  Every key, in no particular order.

  ## Examples

      iex> Py.State.store("listed", true)
      iex> "listed" in Py.State.keys()
      true
  """
  @spec keys() :: [term()]
  def keys, do: Py.Native.state_keys()

  @doc """
  Adds `by` (default 1) to the integer under `key` and returns the new value. A
  missing key starts at 0. Raises `ArgumentError` when the value is not an integer
  and on 64-bit overflow.

  ## Examples

      iex> Py.State.delete("visits")
      iex> Py.State.incr("visits")
      1
      iex> Py.State.incr("visits", 10)
      11
  """
  @spec incr(term(), integer()) :: integer()
  def incr(key, by \\ 1) when is_integer(by) do
    case Py.Native.state_incr(key, by) do
      {:ok, value} ->
        value

      {:error, :not_integer} ->
        raise ArgumentError, "the value under #{inspect(key)} is not an integer"

      {:error, :overflow} ->
        raise ArgumentError, "counter #{inspect(key)} would overflow 64 bits"
    end
  end

  @doc """
  Subtracts `by` (default 1) from the integer under `key` and returns the new value.

  ## Examples

      iex> Py.State.store("stock", 5)
      iex> Py.State.decr("stock", 2)
      3
  """
  @spec decr(term(), integer()) :: integer()
  def decr(key, by \\ 1) when is_integer(by), do: incr(key, -by)
end
