//! The `erlang` module's functions that reach the BEAM without a callback: sending
//! messages, looking up registered names, and the shared state.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyCFunction, PyDict, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::IntoPyObjectExt;
use rustler::{Encoder, LocalPid, OwnedEnv};

use crate::convert::decode::Decoder;
use crate::convert::encode::Encoder_;
use crate::convert::ErlangTypes;
use crate::object::Home;
use crate::state::{self, IncrError, Value};
use crate::worker::Worker;

/// A thread's cached view. Its types are never dropped: a thread-local is destroyed
/// when the thread exits, with no thread state attached, where dropping a Python
/// reference is not allowed. Leaking five type references per thread is the price.
struct CachedView(Option<View>);

impl Drop for CachedView {
    fn drop(&mut self) {
        if let Some(view) = self.0.take() {
            std::mem::forget(view);
        }
    }
}

thread_local! {
    static THREAD_VIEW: std::cell::RefCell<CachedView> =
        const { std::cell::RefCell::new(CachedView(None)) };
}

/// What conversions need to know about the calling thread's interpreter.
pub struct View {
    pub types: ErlangTypes,
    pub home: Home,
    pub interp: i64,
}

impl View {
    pub fn current(py: Python<'_>) -> PyResult<View> {
        if let Some(worker) = Worker::current() {
            let types = &worker.interp.types;
            return Ok(View {
                types: ErlangTypes {
                    pid: types.pid.clone_ref(py),
                    reference: types.reference.clone_ref(py),
                    buffer: types.buffer.clone_ref(py),
                    callback_error: types.callback_error.clone_ref(py),
                    atom: types.atom.clone_ref(py),
                },
                home: worker.interp.home.clone(),
                interp: worker.interp.home.interp,
            });
        }
        // A thread Python started (an event loop's, say): the interpreter's types and
        // home, found once per thread and interpreter.
        // SAFETY: attached, so there is a current interpreter.
        let interp =
            unsafe { pyo3::ffi::PyInterpreterState_GetID(pyo3::ffi::PyInterpreterState_Get()) };
        let cached = THREAD_VIEW.with(|cached| {
            cached
                .borrow()
                .0
                .as_ref()
                .filter(|view| view.interp == interp)
                .map(|view| view.clone_ref(py))
        });
        if let Some(view) = cached {
            return Ok(view);
        }
        let view = View::lookup(py)?;
        THREAD_VIEW.with(|cached| cached.borrow_mut().0 = Some(view.clone_ref(py)));
        Ok(view)
    }

    fn clone_ref(&self, py: Python<'_>) -> View {
        View {
            types: ErlangTypes {
                pid: self.types.pid.clone_ref(py),
                reference: self.types.reference.clone_ref(py),
                buffer: self.types.buffer.clone_ref(py),
                callback_error: self.types.callback_error.clone_ref(py),
                atom: self.types.atom.clone_ref(py),
            },
            home: self.home.clone(),
            interp: self.interp,
        }
    }

    fn lookup(py: Python<'_>) -> PyResult<View> {
        // SAFETY: attached, so there is a current interpreter.
        let interp =
            unsafe { pyo3::ffi::PyInterpreterState_GetID(pyo3::ffi::PyInterpreterState_Get()) };
        let home = crate::watchdog::home_of(interp)
            .ok_or_else(|| PyValueError::new_err("this interpreter is shutting down"))?;
        let module = py.import("erlang")?;
        let class = |name: &str| -> PyResult<Py<PyType>> {
            Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok(View {
            types: ErlangTypes {
                pid: class("Pid")?,
                reference: class("Ref")?,
                buffer: class("Buffer")?,
                callback_error: class("CallbackError")?,
                atom: class("Atom")?,
            },
            home,
            interp,
        })
    }

    /// Builds a message from Python values with `build` (given an encoder for this
    /// interpreter) and sends it to `pid` from this thread. `Ok(false)` when the
    /// process is gone; a value that cannot be converted is a `ValueError`.
    pub fn send<'py, F>(&self, py: Python<'py>, pid: &LocalPid, build: F) -> PyResult<bool>
    where
        F: for<'e> FnOnce(
            &Encoder_<'_, 'py, 'e>,
        ) -> Result<rustler::Term<'e>, crate::convert::ConvertError>,
    {
        let mut message = OwnedEnv::new();
        let built = message.run(|env| {
            let encoder = Encoder_ {
                py,
                env,
                types: &self.types,
                home: &self.home,
            };
            build(&encoder).map(|term| term.as_c_arg())
        });
        let raw = built.map_err(|err| PyValueError::new_err(err.describe()))?;
        let sent = message.send_and_clear(pid, |env| {
            // SAFETY: `raw` was built in this environment just above.
            unsafe { rustler::Term::new(env, raw) }
        });
        Ok(sent.is_ok())
    }

    /// `obj` as an Erlang term in the external term format.
    pub fn encode_etf(&self, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
        OwnedEnv::new().run(|env| {
            let encoder = Encoder_ {
                py: obj.py(),
                env,
                types: &self.types,
                home: &self.home,
            };
            let term = encoder
                .encode(obj)
                .map_err(|err| PyValueError::new_err(err.describe()))?;
            Ok(term.to_binary().as_slice().to_vec())
        })
    }

    pub fn decode_etf<'py>(&self, py: Python<'py>, etf: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        OwnedEnv::new().run(|env| {
            let (term, _) = env
                .binary_to_term(etf)
                .ok_or_else(|| PyValueError::new_err("damaged term"))?;
            self.decoder(py)
                .decode(term)
                .map_err(|err| PyValueError::new_err(err.describe()))
        })
    }

    fn decoder<'a, 'py>(&'a self, py: Python<'py>) -> Decoder<'a, 'py> {
        Decoder {
            py,
            types: &self.types,
            interp: self.interp,
            ints: None,
        }
    }
}

type Args<'a, 'py> = &'a Bound<'py, PyTuple>;
type Kwargs<'a, 'py> = Option<&'a Bound<'py, PyDict>>;

pub(crate) fn function<'py, F, R>(
    py: Python<'py>,
    name: &'static std::ffi::CStr,
    doc: &'static std::ffi::CStr,
    body: F,
) -> PyResult<Bound<'py, PyCFunction>>
where
    F: Fn(Args<'_, '_>, Kwargs<'_, '_>) -> PyResult<R> + Send + Sync + 'static,
    R: for<'p> IntoPyObject<'p>,
{
    PyCFunction::new_closure(py, Some(name), Some(doc), move |args, kwargs| {
        body(args, kwargs)?.into_py_any(args.py())
    })
}

/// Like `function`, for functions that return nothing: Python sees `None` (a Rust
/// `()` would become an empty tuple).
pub(crate) fn procedure<'py, F>(
    py: Python<'py>,
    name: &'static std::ffi::CStr,
    doc: &'static std::ffi::CStr,
    body: F,
) -> PyResult<Bound<'py, PyCFunction>>
where
    F: Fn(Args<'_, '_>, Kwargs<'_, '_>) -> PyResult<()> + Send + Sync + 'static,
{
    function(py, name, doc, move |args, kwargs| {
        body(args, kwargs).map(|()| None::<()>)
    })
}

/// The optional argument at `index`, given by position or as the keyword `name`.
fn optional<'py>(
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    index: usize,
    name: &str,
) -> Option<Bound<'py, PyAny>> {
    args.get_item(index)
        .ok()
        .or_else(|| kwargs.and_then(|kwargs| kwargs.get_item(name).ok().flatten()))
}

/// Adds send, whereis and the state functions to the module's namespace.
pub fn install(py: Python<'_>, namespace: &Bound<'_, PyDict>) -> PyResult<()> {
    namespace.set_item(
        "send",
        procedure(
            py,
            c"send",
            c"send(pid, term)\n--\n\nSends `term` to the Erlang process `pid` (an erlang.Pid).",
            |args, _| {
                let (pid, term) = two(args, "send")?;
                send(&pid, &term)
            },
        )?,
    )?;
    namespace.set_item(
        "whereis",
        function(
            py,
            c"whereis",
            c"whereis(name)\n--\n\nThe erlang.Pid registered under `name`, or None.",
            |args, _| {
                let name = args.get_item(0)?;
                whereis(&name)
            },
        )?,
    )?;
    // For leak tests: the thread states of the calling interpreter. Thread states are
    // added and removed under the runtime's own lock; the count is exact whenever no
    // thread is being started or stopped, which is when tests read it.
    namespace.set_item(
        "_thread_states",
        function(
            py,
            c"_thread_states",
            c"How many thread states the interpreter has.",
            |_, _| {
                let mut count = 0usize;
                // SAFETY: attached, so there is a current interpreter; the list is only
                // walked, never kept.
                unsafe {
                    let interp = pyo3::ffi::PyInterpreterState_Get();
                    let mut tstate = pyo3::ffi::PyInterpreterState_ThreadHead(interp);
                    while !tstate.is_null() {
                        count += 1;
                        tstate = pyo3::ffi::PyThreadState_Next(tstate);
                    }
                }
                Ok(count)
            },
        )?,
    )?;
    namespace.set_item(
        "state_get",
        function(py, c"state_get", c"state_get(key, default=None)\n--\n\nThe shared value stored under `key`, or `default`.", |args, kwargs| {
            let py = args.py();
            let key = args.get_item(0)?;
            let default = optional(args, kwargs, 1, "default");
            let view = View::current(py)?;
            let key = key_etf(&view, &key)?;
            let found = OwnedEnv::new().run(|env| {
                state::get(env, &key).map(|term| term.to_binary().as_slice().to_vec())
            });
            match found {
                Some(etf) => Ok(view.decode_etf(py, &etf)?.unbind()),
                None => Ok(default.map_or_else(|| py.None(), Bound::unbind)),
            }
        })?,
    )?;
    namespace.set_item(
        "state_set",
        procedure(py, c"state_set", c"state_set(key, value)\n--\n\nStores `value` under `key`, visible to Elixir and every interpreter.", |args, _| {
            let (key, value) = two(args, "state_set")?;
            let view = View::current(args.py())?;
            let key = key_etf(&view, &key)?;
            let value = match value.cast::<PyInt>().ok().and_then(|int| int.extract::<i64>().ok()) {
                Some(int) if !value.is_instance_of::<pyo3::types::PyBool>() => Value::Int(int),
                _ => Value::Term(view.encode_etf(&value)?),
            };
            state::set(key, value);
            Ok(())
        })?,
    )?;
    namespace.set_item(
        "state_delete",
        procedure(
            py,
            c"state_delete",
            c"state_delete(key)\n--\n\nRemoves `key` from the shared state.",
            |args, _| {
                let view = View::current(args.py())?;
                state::delete(&key_etf(&view, &args.get_item(0)?)?);
                Ok(())
            },
        )?,
    )?;
    namespace.set_item(
        "state_keys",
        function(
            py,
            c"state_keys",
            c"state_keys()\n--\n\nThe keys of the shared state.",
            |args, _| {
                let py = args.py();
                let view = View::current(py)?;
                let keys: Vec<Vec<u8>> = OwnedEnv::new().run(|env| {
                    state::keys(env)
                        .into_iter()
                        .map(|term| term.to_binary().as_slice().to_vec())
                        .collect()
                });
                let list = PyList::empty(py);
                for key in keys {
                    list.append(view.decode_etf(py, &key)?)?;
                }
                Ok(list.unbind())
            },
        )?,
    )?;
    for (name, doc, sign) in [
        (c"state_incr", c"state_incr(key, by=1)\n--\n\nAtomically adds `by` to the integer at `key` (missing: 0) and returns the new value.", 1i64),
        (c"state_decr", c"state_decr(key, by=1)\n--\n\nAtomically subtracts `by` from the integer at `key` (missing: 0) and returns the new value.", -1i64),
    ] {
        let attribute = name.to_str().unwrap_or("state_incr");
        namespace.set_item(
            attribute,
            function(py, name, doc, move |args, kwargs| {
                let by: i64 = match optional(args, kwargs, 1, "by") {
                    Some(by) => by.extract()?,
                    None => 1,
                };
                let view = View::current(args.py())?;
                let key = key_etf(&view, &args.get_item(0)?)?;
                incr(key, by.checked_mul(sign).ok_or_else(|| PyOverflowError::new_err("counter step too large"))?)
            })?,
        )?;
    }
    Ok(())
}

fn two<'py>(
    args: &Bound<'py, PyTuple>,
    name: &str,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if args.len() != 2 {
        return Err(PyTypeError::new_err(format!(
            "{name}() takes exactly 2 arguments"
        )));
    }
    Ok((args.get_item(0)?, args.get_item(1)?))
}

/// A `str` key straight to its external term format (a binary); others through the
/// converter. Elixir's `"key"` and Python's `'key'` are the same key.
fn key_etf(view: &View, key: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(text) = key.cast::<PyString>() {
        if let Ok(text) = text.to_str() {
            let bytes = text.as_bytes();
            let len =
                u32::try_from(bytes.len()).map_err(|_| PyValueError::new_err("key too long"))?;
            let mut etf = Vec::with_capacity(bytes.len() + 6);
            etf.extend_from_slice(&[131, 109]);
            etf.extend_from_slice(&len.to_be_bytes());
            etf.extend_from_slice(bytes);
            return Ok(etf);
        }
    }
    view.encode_etf(key)
}

fn incr(key: Vec<u8>, by: i64) -> PyResult<i64> {
    state::incr(key, by).map_err(|err| match err {
        IncrError::NotInteger => PyTypeError::new_err("the value at this key is not an integer"),
        IncrError::Overflow => PyOverflowError::new_err("counter overflow (64-bit)"),
    })
}

fn send(pid: &Bound<'_, PyAny>, term: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = pid.py();
    let view = View::current(py)?;
    match target_of(&view, pid)? {
        // A message to a process that is gone is dropped, as `send/2` does in Erlang.
        Target::Local(target) => {
            view.send(py, &target, |encoder| encoder.encode(term))?;
        }
        // A NIF can only send to local processes: the relay forwards the message.
        Target::Remote(etf) => {
            let relay = crate::output::relay()
                .ok_or_else(|| PyValueError::new_err("erlang_python is not running"))?;
            view.send(py, &relay, |encoder| {
                let env = encoder.env;
                let (remote, _) =
                    env.binary_to_term(&etf)
                        .ok_or(crate::convert::ConvertError::Unsupported(
                            "a damaged erlang.Pid",
                        ))?;
                Ok((crate::atoms::py_forward(), remote, encoder.encode(term)?).encode(env))
            })?;
        }
    }
    Ok(())
}

enum Target {
    Local(LocalPid),
    /// A pid of another node, as external term format.
    Remote(Vec<u8>),
}

fn target_of(view: &View, pid: &Bound<'_, PyAny>) -> PyResult<Target> {
    if !pid.get_type().is(view.types.pid.bind(pid.py())) {
        return Err(PyTypeError::new_err("expected an erlang.Pid"));
    }
    let etf = pid.getattr("_etf")?;
    let etf = etf.cast::<PyBytes>()?;
    OwnedEnv::new().run(|env| match env.binary_to_term(etf.as_bytes()) {
        Some((term, _)) if term.get_type() == rustler::TermType::Pid => {
            Ok(match term.decode::<LocalPid>() {
                Ok(local) => Target::Local(local),
                Err(_) => Target::Remote(etf.as_bytes().to_vec()),
            })
        }
        _ => Err(PyValueError::new_err("a damaged erlang.Pid")),
    })
}

fn whereis(name: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let py = name.py();
    let view = View::current(py)?;
    let name = if name.get_type().is(view.types.atom.bind(py)) {
        name.getattr("name")?.extract::<String>()?
    } else {
        name.extract::<String>()
            .map_err(|_| PyTypeError::new_err("whereis() takes a str or an erlang.Atom"))?
    };
    let found = OwnedEnv::new().run(|env| {
        // Only atoms that already exist: looking a name up never creates one.
        let atom = rustler::Atom::existing_from_utf8_bytes(env, name.as_bytes()).ok()?;
        let mut pid = std::mem::MaybeUninit::uninit();
        // SAFETY: called from a thread the VM does not manage, hence a NULL env.
        let found = unsafe {
            rustler::sys::enif_whereis_pid(
                std::ptr::null_mut(),
                atom.encode(env).as_c_arg(),
                pid.as_mut_ptr(),
            )
        };
        if found == 0 {
            return None;
        }
        // SAFETY: initialised by the successful call above.
        let pid = rustler::LocalPid::from_c_arg(unsafe { pid.assume_init() });
        Some(pid.encode(env).to_binary().as_slice().to_vec())
    });
    match found {
        Some(etf) => Ok(view
            .types
            .pid
            .bind(py)
            .call1((PyBytes::new(py, &etf),))?
            .unbind()),
        None => Ok(py.None()),
    }
}
