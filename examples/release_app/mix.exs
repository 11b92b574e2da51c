defmodule ReleaseApp.MixProject do
  use Mix.Project

  def project do
    [
      app: :release_app,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      # This example lives inside the erlang_python checkout; an application of
      # your own points at wherever its copy of erlang_python is.
      deps: [{:erlang_python, path: "../.."}]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end
end
