//! `%Py.Object{}` handles: a Python object kept alive by an Erlang resource.
//!
//! The resource destructor runs on whatever scheduler thread the garbage collector
//! picks, where Python must not be touched. It hands the object to its `Home`, a thread
//! attached to the object's interpreter, which drops the reference there.

use std::sync::atomic::{AtomicI64, Ordering};

use pyo3::prelude::*;
use rustler::{Encoder, Env, Resource, ResourceArc, Term};

use crate::atoms;
use crate::convert::ConvertError;

/// Handles alive right now (created and not yet released by their home thread).
static LIVE: AtomicI64 = AtomicI64::new(0);

pub fn live_count() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Where objects of one interpreter go to be released.
#[derive(Clone)]
pub struct Home {
    tx: flume::Sender<Py<PyAny>>,
}

impl Home {
    pub fn new(tx: flume::Sender<Py<PyAny>>) -> Self {
        Home { tx }
    }

    fn release(&self, obj: Py<PyAny>) {
        if let Err(flume::SendError(obj)) = self.tx.send(obj) {
            // The interpreter's threads are gone: leaking is the only safe choice.
            std::mem::forget(obj);
            LIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Drops released objects; called by a home thread while attached.
pub fn drop_released(_py: Python<'_>, obj: Py<PyAny>) {
    drop(obj);
    LIVE.fetch_sub(1, Ordering::Relaxed);
}

pub struct PyObj {
    obj: Option<Py<PyAny>>,
    home: Home,
}

#[rustler::resource_impl]
impl Resource for PyObj {
    fn destructor(mut self, _env: Env<'_>) {
        if let Some(obj) = self.obj.take() {
            self.home.release(obj);
        }
    }
}

impl PyObj {
    pub fn bind<'py>(&self, py: Python<'py>) -> Result<Bound<'py, PyAny>, ConvertError> {
        self.obj
            .as_ref()
            .map(|obj| obj.bind(py).clone())
            .ok_or(ConvertError::Unsupported("a released Py.Object"))
    }
}

/// Builds `%Py.Object{ref: resource}` for `obj`.
pub fn handle_term<'e>(env: Env<'e>, obj: Py<PyAny>, home: &Home) -> Term<'e> {
    LIVE.fetch_add(1, Ordering::Relaxed);
    let resource = ResourceArc::new(PyObj {
        obj: Some(obj),
        home: home.clone(),
    });
    let keys = [atoms::__struct__().encode(env), atoms::ref_().encode(env)];
    let values = [atoms::elixir_py_object().encode(env), resource.encode(env)];
    // Two distinct atom keys: building the map cannot fail.
    Term::map_from_arrays(env, &keys, &values).unwrap_or_else(|_| atoms::error().encode(env))
}
