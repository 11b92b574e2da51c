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
      docs: docs()
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

  # ExDoc configuration (`mix docs` where ex_doc is available). The extras are listed
  # in reading order; the README's "Guides" section follows the same order.
  defp docs do
    [
      main: "readme",
      extras: [
        "README.md",
        "guides/getting-started.md",
        "guides/livebook.livemd",
        "guides/data-conversion.md",
        "guides/async-and-streams.md",
        "guides/pools-and-routing.md",
        "guides/scalability.md",
        "guides/subinterpreters.md",
        "guides/free-threading.md",
        "guides/callbacks-and-state.md",
        "guides/channels.md",
        "guides/logging-and-tracing.md",
        "guides/venvs.md",
        "guides/security.md",
        "guides/deployment.md",
        "guides/distribution.md",
        "guides/migrating-from-erlang-python.md",
        "CHANGELOG.md"
      ],
      groups_for_extras: [
        Introduction: [
          "README.md",
          "guides/getting-started.md",
          "guides/livebook.livemd"
        ],
        Core: [
          "guides/data-conversion.md",
          "guides/async-and-streams.md"
        ],
        Concurrency: [
          "guides/pools-and-routing.md",
          "guides/scalability.md",
          "guides/subinterpreters.md",
          "guides/free-threading.md"
        ],
        "Python talks back": [
          "guides/callbacks-and-state.md",
          "guides/channels.md",
          "guides/logging-and-tracing.md"
        ],
        Operations: [
          "guides/venvs.md",
          "guides/security.md",
          "guides/deployment.md",
          "guides/distribution.md"
        ],
        Migration: [
          "guides/migrating-from-erlang-python.md",
          "CHANGELOG.md"
        ]
      ],
      groups_for_modules: [
        "Calling Python": [Py, Py.Object, Py.Error, Py.EventLoop],
        Concurrency: [Py.Pool, Py.Context, Py.Subinterp, Py.Semaphore],
        "Python talks back": [Py.State, Py.Channel, Py.Trace],
        "Interpreters and builds": [Py.Interpreter, Py.Native.Artifact],
        Environments: [Py.Venv, Py.Memory],
        Security: [Py.Sandbox],
        Distribution: [Py.Cluster],
        "Mix tasks": [~r/^Mix\.Tasks\./]
      ]
    ]
  end

  defp package do
    [
      licenses: ["Apache-2.0"],
      files: ~w(lib src native/erlang_python_nif/src native/erlang_python_nif/Cargo.*
                native/erlang_python_nif/build.rs native/erlang_python_nif/.cargo
                checksum-erlang_python_nif.exs mix.exs README.md CHANGELOG.md scripts)
    ]
  end
end
