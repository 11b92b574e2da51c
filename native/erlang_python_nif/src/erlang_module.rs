//! The Python-side `erlang` module, built once per interpreter.
//!
//! It is made from Python source plus closures rather than a `#[pymodule]`, because
//! extension modules refuse to load in OWN_GIL subinterpreters and statics holding
//! Python objects must not be shared between interpreters.

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyModule, PyString, PyTuple, PyType};

use crate::callback;
use crate::convert::ErlangTypes;
use crate::output;

const SOURCE: &std::ffi::CStr = c"
import io as _io
from itertools import islice as _islice

import functools as _functools

@_functools.total_ordering
class _Term:
    '''An Erlang term that Python holds but does not interpret. Equal terms compare
    equal and hash alike; ordering is consistent (by encoding), not Erlang's.'''
    __slots__ = ('_etf',)

    def __init__(self, etf):
        if not isinstance(etf, bytes):
            raise TypeError('expected the external term format as bytes')
        self._etf = etf

    def __eq__(self, other):
        return type(other) is type(self) and other._etf == self._etf

    def __lt__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._etf < other._etf

    def __hash__(self):
        return hash((type(self).__name__, self._etf))

    def __reduce__(self):
        return (type(self), (self._etf,))

class Atom:
    '''An Erlang atom. erlang.atom(name) names one; it converts to that atom only if the
    VM already has it, because Python never grows the atom table (atoms are never
    garbage collected, and a full table ends the VM).'''
    __slots__ = ('name',)

    def __init__(self, name):
        if not isinstance(name, str):
            raise TypeError('an atom name must be a str')
        if len(name) > 255:
            raise ValueError('an atom name has at most 255 characters')
        self.name = name

    def __eq__(self, other):
        return type(other) is Atom and other.name == self.name

    def __hash__(self):
        return hash(('erlang.Atom', self.name))

    def __repr__(self):
        return 'erlang.atom(%r)' % self.name

    def __str__(self):
        return self.name

    def __reduce__(self):
        return (Atom, (self.name,))

def atom(name):
    '''The atom `name` (an erlang.Atom), which converts to an Elixir atom.'''
    return Atom(name)

class Pid(_Term):
    '''An Erlang process identifier. Send it back to Elixir to get the same pid.'''
    __slots__ = ()

    def __repr__(self):
        return '<erlang.Pid>'

class Ref(_Term):
    '''An Erlang reference. Send it back to Elixir to get the same reference.'''
    __slots__ = ()

    def __repr__(self):
        return '<erlang.Ref>'

class CallbackError(RuntimeError):
    '''Raised by erlang.call when the Elixir function raised, exited or threw, or is
    not registered. `kind` is 'error', 'exit', 'throw' or 'unknown'; `module` names
    the Elixir exception, when there is one.'''

    def __init__(self, message, kind='error', module=None):
        super().__init__(message)
        self.kind = kind
        self.module = module

def __getattr__(name):
    '''Functions registered with Py.register_function appear as attributes:
    `erlang.name(*args)` is `erlang.call('name', *args)`.'''
    if not name.startswith('__') and _registered(name):
        def function(*args):
            return call(name, *args)
        function.__name__ = function.__qualname__ = name
        return function
    raise AttributeError(f'module erlang has no attribute {name!r}')

class _Stream:
    '''What Py.stream pulls from: any iterable, iterator, generator or async
    generator, read in batches. An exception is raised after the items read before
    it have been delivered.'''

    def __init__(self, source):
        self._error = None
        self._loop = None
        if hasattr(source, '__aiter__') and not hasattr(source, '__iter__'):
            import asyncio
            self._iterator = source.__aiter__()
            self._loop = asyncio.new_event_loop()
        else:
            self._iterator = iter(source)

    def next_batch(self, size):
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        items = []
        try:
            if self._loop is None:
                items.extend(_islice(self._iterator, size))
            else:
                self._loop.run_until_complete(self._collect(items, size))
        except Exception as error:
            if not items:
                raise
            self._error = error
            return (items, False)
        return (items, len(items) < size)

    async def _collect(self, items, size):
        try:
            for _ in range(size):
                items.append(await self._iterator.__anext__())
        except StopAsyncIteration:
            pass

    def close(self):
        if self._loop is None:
            close = getattr(self._iterator, 'close', None)
            if close is not None:
                close()
        else:
            try:
                self._loop.run_until_complete(self._iterator.aclose())
            finally:
                self._loop.close()

def _resolve(module, path):
    import importlib
    target = importlib.import_module(module)
    for name in path.split('.'):
        target = getattr(target, name)
    return target

def _stream_call(module, function, args, kwargs):
    return _Stream(_resolve(module, function)(*args, **(kwargs or {})))

def _stream_eval(code, local_names):
    import __main__
    return _Stream(eval(code, __main__.__dict__, local_names))

class _Output(_io.TextIOBase):
    '''sys.stdout and sys.stderr: text goes to the group leader of the calling process,
    or to the application's group leader when no call is running on this thread.'''

    def __init__(self, name):
        self._name = name

    @property
    def name(self):
        return self._name

    @property
    def encoding(self):
        return 'utf-8'

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError('write() argument must be str, not ' + type(text).__name__)
        if text:
            task = _task_output.get()
            if task is None or not _task_write(task, text):
                _write(text)
        return len(text)

    def flush(self):
        pass
";

/// Creates the `erlang` module in the current interpreter, registers it in
/// `sys.modules`, points `sys.stdout`/`sys.stderr` at the BEAM, and returns the types
/// the converters need.
pub fn install(py: Python<'_>, main: bool) -> PyResult<ErlangTypes> {
    let module = PyModule::new(py, "erlang")?;
    let globals = module.dict();
    globals.set_item("__builtins__", py.import("builtins")?)?;
    let write = PyCFunction::new_closure(
        py,
        Some(c"_write"),
        Some(c"Writes text to the caller's group leader."),
        |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
            let text = args.get_item(0)?;
            let text = text.cast::<PyString>()?;
            output::write(text.to_str()?);
            Ok(())
        },
    )?;
    globals.set_item("_write", write)?;
    globals.set_item("call", callback::call_function(py)?)?;
    globals.set_item("self", callback::self_function(py)?)?;
    globals.set_item("_registered", callback::registered_function(py)?)?;
    crate::bridge::install(py, &globals)?;
    globals.set_item("_MAIN_INTERPRETER", main)?;
    py.run(SOURCE, Some(&globals), None)?;
    crate::task::install(py, &globals)?;
    py.run(crate::event_loop::SOURCE, Some(&globals), None)?;
    crate::channel::install(py, &globals)?;
    py.run(crate::channel::SOURCE, Some(&globals), None)?;
    crate::trace::install(py, &globals)?;
    py.run(crate::trace::SOURCE, Some(&globals), None)?;
    crate::logging::install(py, &globals)?;
    py.run(crate::logging::SOURCE, Some(&globals), None)?;
    if crate::logging::enabled() {
        module.call_method1("_install_logging", (crate::logging::level(),))?;
    }

    let sys = py.import("sys")?;
    sys.getattr("modules")?.set_item("erlang", &module)?;
    // Code given to Py.eval/Py.exec sees `erlang` without importing it.
    py.import("__main__")?.setattr("erlang", &module)?;
    let output_class = module.getattr("_Output")?;
    sys.setattr("stdout", output_class.call1(("<stdout>",))?)?;
    sys.setattr("stderr", output_class.call1(("<stderr>",))?)?;

    let class = |name: &str| -> PyResult<Py<PyType>> {
        Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
    };
    let buffer = crate::buffer::make_type(py)?;
    module.setattr("Buffer", buffer.bind(py))?;
    Ok(ErlangTypes {
        pid: class("Pid")?,
        reference: class("Ref")?,
        buffer,
        callback_error: class("CallbackError")?,
        atom: class("Atom")?,
    })
}
