defmodule Bench.Measure do
  @moduledoc false
  # The timing loops every workload uses. Full runs warm up once, then take the median
  # of `config.runs` samples; quick runs take one sample and no warm-up.

  alias Bench.{Config, CPU}

  @doc false
  # The median of the numbers `sample` returns.
  @spec median(Config.t(), (() -> number())) :: number()
  def median(config, sample) do
    samples(config, sample) |> middle()
  end

  @doc false
  # Runs `sample` (returning a map) and keeps the run whose `key` is the median.
  @spec median_by(Config.t(), (() -> map()), atom()) :: map()
  def median_by(config, sample, key) do
    config |> samples(sample) |> Enum.sort_by(& &1[key]) |> Enum.at(div(config.runs, 2))
  end

  defp samples(config, sample) do
    if config.warmup, do: sample.()
    for _ <- 1..config.runs, do: sample.()
  end

  defp middle(numbers), do: numbers |> Enum.sort() |> Enum.at(div(length(numbers), 2))

  @doc false
  # Microseconds per run of `body`, run `n` times in sequence in this process.
  @spec per_call(Config.t(), pos_integer(), (() -> term())) :: float()
  def per_call(config, n, body) do
    median(config, fn -> elapsed_us(fn -> loop(n, body) end) / n end)
  end

  @doc false
  # Percentiles (µs) of `n` runs of `body` timed one by one: what a mean hides, a few
  # slow calls (a tail) or every call slower (a higher median).
  @spec percentiles(pos_integer(), (() -> term()), [number()]) :: [{number(), float()}]
  def percentiles(n, body, points \\ [50, 90, 99]) do
    sorted =
      Enum.sort(
        for _ <- 1..n do
          start = System.monotonic_time()
          body.()
          System.monotonic_time() - start
        end
      )

    for point <- points do
      index = min(n - 1, floor(n * point / 100))
      {point, System.convert_time_unit(Enum.at(sorted, index), :native, :nanosecond) / 1000}
    end
  end

  @doc false
  # Operations per second: `batch` performs `n` of them.
  @spec rate(Config.t(), pos_integer(), (() -> term())) :: float()
  def rate(config, n, batch) do
    median(config, fn -> n / (elapsed_us(batch) / 1_000_000) end)
  end

  @doc false
  # MB/s (10^6 bytes) moving `bytes` per run of `body`, run `n` times.
  @spec mb_per_s(Config.t(), pos_integer(), pos_integer(), (() -> term())) :: float()
  def mb_per_s(config, n, bytes, body) do
    us = per_call(config, n, body)
    bytes / us
  end

  @doc false
  # `processes` callers each run `body` `per_process` times at once. `body` returns a
  # tag (e.g. :ok or :overloaded); the result is the median run's wall time in
  # seconds and how many calls returned each tag.
  @spec concurrent(Config.t(), pos_integer(), pos_integer(), (() -> atom())) :: %{
          seconds: float(),
          counts: %{atom() => non_neg_integer()}
        }
  def concurrent(config, processes, per_process, body) do
    median_by(
      config,
      fn ->
        {us, counts} =
          :timer.tc(fn ->
            1..processes
            |> Enum.map(fn _ -> Task.async(fn -> tally(per_process, body, %{}) end) end)
            |> Enum.map(&Task.await(&1, :infinity))
            |> Enum.reduce(%{}, &Map.merge(&1, &2, fn _tag, a, b -> a + b end))
          end)

        %{seconds: us / 1_000_000, counts: counts}
      end,
      :seconds
    )
  end

  defp tally(0, _body, counts), do: counts

  defp tally(n, body, counts) do
    tag = body.()
    tally(n - 1, body, Map.update(counts, tag, 1, &(&1 + 1)))
  end

  @doc false
  # `config.rounds` interleaved pairs of `first` then `second` (after one warm-up pair
  # in full runs): both see the same load from whatever else the host runs. Returns
  # per round the wall time of each, their ratio first / second, and the CPU
  # utilisation during `second` (see Bench.CPU).
  @spec interleaved(Config.t(), (() -> term()), (() -> term())) :: [map()]
  def interleaved(config, first, second) do
    if config.warmup do
      first.()
      second.()
    end

    for _ <- 1..config.rounds do
      first_us = elapsed_us(first)
      before = CPU.sample()
      second_us = elapsed_us(second)
      cpu = CPU.utilisation(before, CPU.sample(), second_us)

      %{
        ratio: first_us / second_us,
        first_ms: first_us / 1000,
        second_ms: second_us / 1000,
        cpu: cpu && cpu.process,
        python_cpu: cpu && cpu.python
      }
    end
  end

  @doc false
  # Parallel speedup on a shared host: interleaved rounds of a sequential and a
  # parallel phase doing the same work. Returns the median of the per-round ratios,
  # with the medians of both phases' times and of the parallel phase's CPU use.
  @spec speedup(Config.t(), (() -> term()), (() -> term())) :: {float(), [{String.t(), term()}]}
  def speedup(config, sequential, parallel) do
    rounds = interleaved(config, sequential, parallel)

    {column(rounds, :ratio),
     [
       {"seq ms", column(rounds, :first_ms)},
       {"par ms", column(rounds, :second_ms)},
       {"cpu", column(rounds, :cpu)},
       {"py cpu", column(rounds, :python_cpu)},
       {"rounds", config.rounds}
     ]}
  end

  @doc false
  # The median over rounds of one figure (nil values left out).
  @spec column([map()], atom()) :: number() | nil
  def column(rounds, key) do
    rounds |> Enum.map(& &1[key]) |> Enum.reject(&is_nil/1) |> median_of()
  end

  defp median_of([]), do: nil
  defp median_of(numbers), do: middle(numbers)

  @doc false
  # Wall time of `fun` in microseconds.
  @spec elapsed_us((() -> term())) :: pos_integer()
  def elapsed_us(fun) do
    {us, _} = :timer.tc(fun)
    max(us, 1)
  end

  @doc false
  @spec loop(non_neg_integer(), (() -> term())) :: :ok
  def loop(0, _body), do: :ok

  def loop(n, body) do
    body.()
    loop(n - 1, body)
  end

  @doc false
  # Resident set size of this OS process in MB, from /proc/self/status (nil elsewhere).
  @spec rss_mb() :: float() | nil
  def rss_mb do
    with {:ok, status} <- File.read("/proc/self/status"),
         [_, kb] <- Regex.run(~r/VmRSS:\s+(\d+) kB/, status) do
      String.to_integer(kb) / 1024
    else
      _ -> nil
    end
  end
end
