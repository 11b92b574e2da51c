//! Callbacks from threads that run no request (threads started by Python code): they
//! go to the application's callback runner process, which runs each one in a process
//! of its own and answers through `runner_reply`. The Python thread waits detached.

use std::sync::RwLock;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use rustler::env::SavedTerm;
use rustler::{Encoder, LocalPid, OwnedEnv, Resource, ResourceArc};

use crate::atoms;
use crate::convert::decode::Decoder;
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
    let view = crate::bridge::View::current(py)?;
    let (tx, rx) = flume::bounded(1);
    let token = ResourceArc::new(ThreadReply { tx });
    let sent = view.send(py, &runner, |encoder| {
        let mut items = Vec::with_capacity(args.len());
        for arg in args.iter() {
            items.push(encoder.encode(&arg)?);
        }
        Ok((atoms::py_callback(), token, name, items).encode(encoder.env))
    })?;
    if !sent {
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
        types: &view.types,
        interp: view.interp,
        ints: None,
    };
    env.run(|env| callback_result(py, &decoder, &view.types.callback_error, term.load(env)))
}
