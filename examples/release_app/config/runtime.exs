import Config

# A release embeds the interpreter of the virtualenv shipped next to it
# (RELEASE_ROOT/venv), unless ERLANG_PYTHON names another one. Read when the release
# starts, on the machine it runs on.
if root = System.get_env("RELEASE_ROOT") do
  venv_python = Path.join([root, "venv", "bin", "python"])

  if File.exists?(venv_python) and System.get_env("ERLANG_PYTHON") in [nil, ""] do
    config :erlang_python, python: venv_python
  end
end
