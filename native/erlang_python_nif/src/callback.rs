//! `erlang.call` and `erlang.self`: Python calling back into Elixir.
//!
//! On a context thread, a callback parks the running request's frame and is run by
//! the Elixir process waiting for that request (see `worker`). Elsewhere (a Python
//! thread, no request running) it goes to the application's callback runner, and the
//! Python thread waits for the answer detached from Python.

use std::collections::HashSet;
use std::sync::RwLock;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyString, PyTuple};
use rustler::{Encoder, OwnedEnv};

use crate::worker::Worker;

/// Names registered with `Py.register_function`, so that `erlang.<name>` exists
/// exactly for them (the functions themselves live in Elixir).
static NAMES: RwLock<Option<HashSet<String>>> = RwLock::new(None);

pub fn set_names(names: Vec<String>) {
    *NAMES.write().unwrap_or_else(|poison| poison.into_inner()) = Some(names.into_iter().collect());
}

fn registered(name: &str) -> bool {
    NAMES
        .read()
        .unwrap_or_else(|poison| poison.into_inner())
        .as_ref()
        .is_some_and(|names| names.contains(name))
}

/// `erlang._registered(name)`, behind the module's `__getattr__`.
pub fn registered_function(py: Python<'_>) -> PyResult<Bound<'_, PyCFunction>> {
    PyCFunction::new_closure(
        py,
        Some(c"_registered"),
        None,
        |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<bool> {
            let name = args.get_item(0)?;
            Ok(registered(name.cast::<PyString>()?.to_str()?))
        },
    )
}

/// `erlang.call(name, *args)`.
pub fn call_function(py: Python<'_>) -> PyResult<Bound<'_, PyCFunction>> {
    PyCFunction::new_closure(
        py,
        Some(c"call"),
        Some(c"call(name, *args)\n--\n\nCalls the Elixir function registered under `name` and returns its result."),
        |args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<Py<PyAny>> {
            let py = args.py();
            if kwargs.is_some_and(|kwargs| !kwargs.is_empty()) {
                return Err(PyTypeError::new_err("erlang.call() takes no keyword arguments"));
            }
            let name = args
                .get_item(0)
                .map_err(|_| PyTypeError::new_err("erlang.call() needs the name of a registered function"))?;
            let name = name
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("erlang.call(): the function name must be a str"))?
                .to_str()?
                .to_owned();
            let rest = args.get_slice(1, args.len());
            if let Some(worker) = Worker::current() {
                if let Some(result) = worker.callback(py, &name, &rest) {
                    return result.map(Bound::unbind);
                }
            }
            crate::runner::call(py, &name, &rest).map(Bound::unbind)
        },
    )
}

/// `erlang.self()`: the pid of the Elixir process whose call is running here.
pub fn self_function(py: Python<'_>) -> PyResult<Bound<'_, PyCFunction>> {
    PyCFunction::new_closure(
        py,
        Some(c"self"),
        Some(c"self()\n--\n\nThe erlang.Pid of the Elixir process whose call is running on this thread, or None."),
        |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<Py<PyAny>> {
            let py = args.py();
            let Some(worker) = Worker::current() else {
                return Ok(py.None());
            };
            let Some(pid) = worker.caller() else {
                return Ok(py.None());
            };
            let etf = OwnedEnv::new().run(|env| pid.encode(env).to_binary().as_slice().to_vec());
            let pid_class = worker.interp.types.pid.bind(py);
            Ok(pid_class
                .call1((pyo3::types::PyBytes::new(py, &etf),))
                .map_err(|err| PyRuntimeError::new_err(err.to_string()))?
                .unbind())
        },
    )
}
