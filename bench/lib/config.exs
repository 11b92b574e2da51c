defmodule Bench.Config do
  @moduledoc false
  # How hard to measure: a full run (warm-up, median of 3, 7 interleaved rounds for
  # parallel speedups) or `--quick` (small counts, one repetition, no warm-up: it
  # proves every workload runs, the figures mean little).

  defstruct quick: false, runs: 3, warmup: true, rounds: 7, divisor: 1

  @type t :: %__MODULE__{
          quick: boolean(),
          runs: pos_integer(),
          warmup: boolean(),
          rounds: pos_integer(),
          divisor: pos_integer()
        }

  @spec new(boolean()) :: t()
  def new(false), do: %__MODULE__{}
  def new(true), do: %__MODULE__{quick: true, runs: 1, warmup: false, rounds: 1, divisor: 100}

  @doc false
  # The iteration count a workload uses: `n` in a full run, n / 100 (at least 1) quick.
  @spec count(t(), pos_integer()) :: pos_integer()
  def count(%__MODULE__{divisor: divisor}, n), do: max(div(n, divisor), 1)
end
