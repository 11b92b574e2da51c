//! Callbacks from threads that run no request (threads started by Python code): they
//! go to the application's callback runner process, which runs each one in a process
//! of its own and answers through `runner_reply`. The Python thread waits detached.

use std::sync::RwLock;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};
use rustler::env::SavedTerm;
use rustler::{Encoder, LocalPid, OwnedEnv, Resource, ResourceArc};

use crate::atoms;
use crate::convert::decode::Decoder;
use crate::convert::encode::Encoder_;
use crate::convert::ErlangTypes;
use crate::worker::callback_result;

static RUNNER: RwLock<Option<LocalPid>> = RwLock::new(None);

pub fn set_runner(pid: LocalPid) {
    *RUNNER.write().unwrap_or_else(|poison| poison.into_inner()) = Some(pid);
}

/// Where the answer to one thread callback goes.
pub struct ThreadReply {
    tx: flume::Sender<(OwnedEnv, SavedTerm)>,
}

#[rustler::resource_impl]
impl Resource for ThreadReply {}

impl ThreadReply {
    pub fn answer(&self, env: OwnedEnv, term: SavedTerm) -> bool {
        self.tx.send((env, term)).is_ok()
    }
}

pub fn call<'py>(
    py: Python<'py>,
    name: &str,
    args: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    let runner = *RUNNER.read().unwrap_or_else(|poison| poison.into_inner());
    let runner =
        runner.ok_or_else(|| PyRuntimeError::new_err("the callback runner is not running"))?;
    let types = interpreter_types(py)?;
    // SAFETY: attached, so there is a current interpreter.
    let interp = unsafe { ffi::PyInterpreterState_GetID(ffi::PyInterpreterState_Get()) };
    let home = crate::watchdog::home_of(interp)
        .ok_or_else(|| PyRuntimeError::new_err("this interpreter is shutting down"))?;

    let (tx, rx) = flume::bounded(1);
    let token = ResourceArc::new(ThreadReply { tx });
    let mut message = OwnedEnv::new();
    let built = message.run(|env| {
        let encoder = Encoder_ {
            py,
            env,
            types: &types,
            home: &home,
        };
        let mut items = Vec::with_capacity(args.len());
        for arg in args.iter() {
            items.push(encoder.encode(&arg)?);
        }
        let term = (atoms::py_callback(), token, name, items).encode(env);
        Ok::<_, crate::convert::ConvertError>(term.as_c_arg())
    });
    let term = built.map_err(|err| PyValueError::new_err(err.describe()))?;
    let sent = message.send_and_clear(&runner, |env| {
        // SAFETY: built in this environment just above.
        unsafe { rustler::Term::new(env, term) }
    });
    if sent.is_err() {
        return Err(PyRuntimeError::new_err(
            "the callback runner is not running",
        ));
    }
    // The token is dropped with the message if the runner dies: recv then fails.
    let answer = py.detach(|| rx.recv());
    let (env, term) =
        answer.map_err(|_| PyRuntimeError::new_err("the callback runner went away"))?;
    let decoder = Decoder {
        py,
        types: &types,
        interp,
    };
    env.run(|env| callback_result(py, &decoder, &types.callback_error, term.load(env)))
}

/// The `erlang` types of the calling thread's interpreter.
fn interpreter_types(py: Python<'_>) -> PyResult<ErlangTypes> {
    let module = py.import("erlang")?;
    let class = |name: &str| -> PyResult<Py<PyType>> {
        Ok(module.getattr(name)?.cast_into::<PyType>()?.unbind())
    };
    Ok(ErlangTypes {
        pid: class("Pid")?,
        reference: class("Ref")?,
        buffer: class("Buffer")?,
        callback_error: class("CallbackError")?,
    })
}
