defmodule Py.Test.PythonPackages do
  @moduledoc false
  # Tiny Python distributions made on the spot, so venv tests install offline
  # (`--no-index`) and need neither setuptools nor wheel: a wheel is a zip with a
  # dist-info directory, and a project builds with an in-tree PEP 517 backend that
  # has no build requirements.

  # A wheel holding `files` (%{"pkg/__init__.py" => source}) in `dir`; returns its path.
  def wheel!(dir, name, version, files) do
    File.mkdir_p!(dir)
    dist_info = "#{name}-#{version}.dist-info"

    metadata = %{
      "#{dist_info}/METADATA" => "Metadata-Version: 2.1\nName: #{name}\nVersion: #{version}\n",
      "#{dist_info}/WHEEL" =>
        "Wheel-Version: 1.0\nGenerator: erlang_python-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    }

    entries = Map.merge(files, metadata)

    record =
      Enum.map_join(entries, "", fn {path, contents} ->
        digest = :crypto.hash(:sha256, contents) |> Base.url_encode64(padding: false)
        "#{path},sha256=#{digest},#{byte_size(contents)}\n"
      end) <> "#{dist_info}/RECORD,,\n"

    entries = Map.put(entries, "#{dist_info}/RECORD", record)
    path = Path.join(dir, "#{name}-#{version}-py3-none-any.whl")

    {:ok, _} =
      :zip.create(
        String.to_charlist(path),
        for({name, contents} <- entries, do: {String.to_charlist(name), contents})
      )

    path
  end

  # A project directory with pyproject.toml, an in-tree build backend and
  # src/<module>/__init__.py holding `source`. Installed editable, it puts src/ on
  # sys.path through a .pth file, as setuptools and hatchling do.
  def project!(dir, name, module, source) do
    File.mkdir_p!(Path.join([dir, "src", module]))
    File.write!(Path.join([dir, "src", module, "__init__.py"]), source)

    File.write!(Path.join(dir, "pyproject.toml"), """
    [build-system]
    requires = []
    build-backend = "tiny_backend"
    backend-path = ["."]

    [project]
    name = "#{name}"
    version = "0.1.0"
    """)

    File.write!(Path.join(dir, "tiny_backend.py"), backend(name, module))
    dir
  end

  defp backend(name, module) do
    ~s'''
    import base64, hashlib, os, zipfile

    NAME, VERSION, MODULE = #{inspect(name)}, "0.1.0", #{inspect(module)}
    ROOT = os.path.dirname(os.path.abspath(__file__))
    DIST_INFO = f"{NAME.replace('-', '_')}-{VERSION}.dist-info"


    def get_requires_for_build_wheel(config_settings=None):
        return []


    def get_requires_for_build_editable(config_settings=None):
        return []


    def _wheel(directory, files):
        files = dict(files)
        files[f"{DIST_INFO}/METADATA"] = f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n"
        files[f"{DIST_INFO}/WHEEL"] = "Wheel-Version: 1.0\\nGenerator: tiny\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
        record = []
        for path, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{DIST_INFO}/RECORD,,")
        files[f"{DIST_INFO}/RECORD"] = "\\n".join(record) + "\\n"
        filename = f"{NAME.replace('-', '_')}-{VERSION}-py3-none-any.whl"
        with zipfile.ZipFile(os.path.join(directory, filename), "w") as wheel:
            for path, text in files.items():
                wheel.writestr(path, text)
        return filename


    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        source = os.path.join(ROOT, "src", MODULE)
        files = {}
        for entry in os.listdir(source):
            if entry.endswith(".py"):
                with open(os.path.join(source, entry)) as f:
                    files[f"{MODULE}/{entry}"] = f.read()
        return _wheel(wheel_directory, files)


    def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
        return _wheel(wheel_directory, {f"__editable__.{NAME}.pth": os.path.join(ROOT, "src") + "\\n"})
    '''
  end
end
