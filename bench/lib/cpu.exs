defmodule Bench.CPU do
  @moduledoc false
  # CPU time consumed by this OS process, and by its Python context threads alone
  # (named `py-context-N` by the NIF), between two samples. Read per thread from
  # /proc/self/task/*/schedstat (nanosecond resolution; /proc/self/stat counts
  # 10 ms ticks, too coarse for a 30 ms phase). nil where /proc is not there.
  #
  # Utilisation = CPU time / wall time: near 2.0 on two cores means two threads ran at
  # once. The process figure includes BEAM schedulers, which spin briefly when idle;
  # the Python figure counts only the threads that run Python.

  @type sample :: %{optional(String.t()) => {non_neg_integer(), boolean()}} | nil

  @doc false
  # %{thread id => {CPU nanoseconds so far, runs Python?}}
  @spec sample() :: sample()
  def sample do
    case File.ls("/proc/self/task") do
      {:ok, tids} -> Enum.reduce(tids, %{}, &add_thread/2)
      {:error, _} -> nil
    end
  end

  defp add_thread(tid, acc) do
    dir = "/proc/self/task/" <> tid

    # A thread may exit between the listing and the read: it is left out.
    with {:ok, schedstat} <- File.read(dir <> "/schedstat"),
         [ns | _] <- String.split(schedstat),
         {ns, ""} <- Integer.parse(ns) do
      Map.put(acc, tid, {ns, match?({:ok, "py-context" <> _}, File.read(dir <> "/comm"))})
    else
      _ -> acc
    end
  end

  @doc false
  # Utilisation between two samples over `wall_us` microseconds, per thread: a thread
  # started in between counts whole, one that exited in between is left out (threads
  # of a pool stopped just before would otherwise make the difference negative).
  @spec utilisation(sample(), sample(), number()) :: %{process: float(), python: float()} | nil
  def utilisation(nil, _, _), do: nil
  def utilisation(_, nil, _), do: nil

  def utilisation(before, later, wall_us) when wall_us > 0 do
    {all, python} =
      Enum.reduce(later, {0, 0}, fn {tid, {ns, python?}}, {all, python} ->
        {earlier, _} = Map.get(before, tid, {0, python?})
        delta = max(ns - earlier, 0)
        {all + delta, if(python?, do: python + delta, else: python)}
      end)

    %{process: all / 1000 / wall_us, python: python / 1000 / wall_us}
  end
end
