# Tags by capability: tests that need what the running Python lacks are excluded,
# and we say why, so a skipped test is never mistaken for a passing one.
{:ok, info} = Py.runtime_info()
{major, minor, _} = info.version_info

numpy? = match?({:ok, _}, Py.eval("__import__('numpy').__version__"))
# The Livebook notebook installs its packages into a virtualenv it creates with pip.
venv_with_pip? = match?({:ok, _}, Py.eval("__import__('ensurepip').version()"))

exclusions =
  [
    {:numpy, not numpy?, "numpy is not installed for #{info.executable}"},
    {:subinterp, {major, minor} < {3, 12}, "subinterpreters need Python 3.12+"},
    {:free_threaded, not info.free_threaded, "this Python is not a free-threaded build"},
    {:gil, info.free_threaded,
     "this Python is a free-threaded build: contexts never wait for a GIL"},
    {:linux, :os.type() != {:unix, :linux}, "CPU affinity is set on Linux only"},
    {:debian, is_nil(System.find_executable("dpkg-query")),
     "not a Debian/Ubuntu system: scripts/install-prereqs uses dpkg and apt-get"},
    {:livebook, not venv_with_pip?,
     "#{info.executable} cannot create virtualenvs with pip (Debian/Ubuntu: apt-get install python3-venv)"},
    {:distributed, System.find_executable("epmd") == nil,
     "epmd is not installed, so this VM cannot start Erlang distribution"},
    {:uv, System.find_executable("uv") == nil, "uv is not on PATH"},
    {:eunit, :code.which(:eunit) == :non_existing,
     "EUnit is not installed (Debian/Ubuntu: erlang-eunit, which scripts/install-prereqs installs)"},
    {:multi_interpreter, length(Py.Test.Interpreters.built()) < 2,
     "fewer than two interpreters are built here (build another with ERLANG_PYTHON=... mix compile)"}
  ]
  |> Enum.filter(fn {_tag, excluded?, _why} -> excluded? end)

for {tag, _, why} <- exclusions, do: IO.puts("Excluding :#{tag} tests: #{why}")
IO.puts("Python #{hd(String.split(info.version))} at #{info.executable}")

# Tests leave deliberately abandoned work (timed-out sleeps) holding permits for a
# while; the semaphore's own tests set the limits they check.
Py.Semaphore.set_max_concurrent(10_000)

ExUnit.start(exclude: Enum.map(exclusions, &elem(&1, 0)))
