defmodule ErlangPython.MixProject do
  use Mix.Project

  @version "0.1.0"

  def project do
    [
      app: :erlang_python,
      version: @version,
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      # The NIF compiler is a task of this project, so it runs after :elixir has
      # compiled it. No Hex package is involved in building the native code.
      compilers: Mix.compilers() ++ [:erlang_python_nif],
      elixirc_paths: elixirc_paths(Mix.env()),
      deps: [],
      aliases: aliases(),
      description: "Run CPython inside the BEAM through a Rust NIF.",
      package: package(),
      docs: [main: "Py", extras: ["README.md"]]
    ]
  end

  def application do
    [
      mod: {Py.Application, []},
      extra_applications: [:logger, :crypto]
    ]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  defp aliases, do: []

  defp package do
    [
      licenses: ["Apache-2.0"],
      files: ~w(lib src native/erlang_python_nif/src native/erlang_python_nif/Cargo.*
                native/erlang_python_nif/build.rs native/erlang_python_nif/.cargo
                checksum-erlang_python_nif.exs mix.exs README.md CHANGELOG.md scripts)
    ]
  end
end
