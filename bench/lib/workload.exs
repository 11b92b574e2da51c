defmodule Bench.Workload do
  @moduledoc false
  # One named workload. `run` takes a Bench.Config and returns what it measured:
  #
  #   value                          one figure
  #   {value, [{"column", v}]}       one figure with extra columns, in this order
  #   {:skip, reason}                not measurable here (the reason is printed)
  #   [{variant, any of the above}]  one row per variant (e.g. per execution mode)

  @enforce_keys [:name, :unit, :run, :doc]
  defstruct [:name, :unit, :run, :doc]

  @type outcome :: number() | {number(), [{String.t(), term()}]} | {:skip, String.t()}
  @type t :: %__MODULE__{
          name: String.t(),
          unit: String.t(),
          doc: String.t(),
          run: (Bench.Config.t() -> outcome() | [{String.t(), outcome()}])
        }

  @doc false
  # Result rows, one per variant: %{name, variant, value, unit, extra, skipped, error}.
  @spec rows(t(), term()) :: [map()]
  def rows(workload, variants) when is_list(variants) do
    Enum.map(variants, fn {variant, outcome} -> row(workload, variant, outcome) end)
  end

  def rows(workload, outcome), do: [row(workload, nil, outcome)]

  @doc false
  # The row for a workload that raised.
  @spec failed(t(), String.t()) :: map()
  def failed(workload, message) do
    %{base(workload, nil) | error: message}
  end

  defp row(workload, variant, {:skip, reason}), do: %{base(workload, variant) | skipped: reason}

  defp row(workload, variant, {value, extra}) when is_number(value) and is_list(extra),
    do: %{base(workload, variant) | value: value, extra: extra}

  defp row(workload, variant, value) when is_number(value),
    do: %{base(workload, variant) | value: value}

  defp base(workload, variant) do
    %{
      name: workload.name,
      variant: variant,
      value: nil,
      unit: workload.unit,
      extra: [],
      skipped: nil,
      error: nil
    }
  end
end
