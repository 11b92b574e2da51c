defmodule Py.DocsTest do
  # The documentation's structure (mix.exs `docs:`) stays consistent with the files
  # and modules it describes: no missing or orphaned guide, no undocumented group.
  use ExUnit.Case, async: true

  @docs Mix.Project.config()[:docs]
  @extras @docs[:extras]

  test "every extra exists" do
    missing = Enum.reject(@extras, &File.regular?/1)
    assert missing == [], "listed in mix.exs docs extras but missing: #{inspect(missing)}"
  end

  test "every guide is listed as an extra" do
    guides = Path.wildcard("guides/*.{md,livemd}")
    unlisted = guides -- @extras
    assert unlisted == [], "guides missing from mix.exs docs extras: #{inspect(unlisted)}"
  end

  test "every extra is in exactly one group, and groups name only extras" do
    grouped = Enum.flat_map(@docs[:groups_for_extras], fn {_group, files} -> files end)

    assert Enum.sort(grouped) == Enum.sort(@extras)
    assert grouped == Enum.uniq(grouped)
  end

  test "the README lists the guides in the extras' order" do
    readme = File.read!("README.md")
    [_, section] = String.split(readme, "## Guides\n", parts: 2)
    [section | _] = String.split(section, "\n## ", parts: 2)

    linked =
      ~r/\]\((guides\/[^)]+)\)/
      |> Regex.scan(section, capture: :all_but_first)
      |> Enum.map(&hd/1)

    assert linked == Enum.filter(@extras, &String.starts_with?(&1, "guides/"))
  end

  test "every documented module is in a group, and every grouped module exists" do
    patterns = Enum.flat_map(@docs[:groups_for_modules], fn {_group, patterns} -> patterns end)

    documented =
      for module <- Application.spec(:erlang_python, :modules),
          String.starts_with?(Atom.to_string(module), "Elixir."),
          from_lib?(module),
          # Protocol implementations are documented with their protocol.
          not function_exported?(module, :__impl__, 1),
          match?({:docs_v1, _, _, _, doc, _, _} when doc != :hidden, Code.fetch_docs(module)),
          do: module

    ungrouped =
      Enum.reject(documented, fn module -> Enum.any?(patterns, &matches?(&1, module)) end)

    assert ungrouped == [], "modules missing from groups_for_modules: #{inspect(ungrouped)}"

    for module <- patterns, is_atom(module) do
      assert Code.ensure_loaded?(module), "#{inspect(module)} is grouped but does not exist"
    end
  end

  defp from_lib?(module) do
    source = module.module_info(:compile)[:source] |> to_string()
    String.starts_with?(Path.relative_to_cwd(source), "lib/")
  end

  defp matches?(%Regex{} = regex, module), do: Regex.match?(regex, inspect(module))
  defp matches?(name, module), do: name == module
end
