//! `%Py.Object{}` handles: a Python object kept alive by an Erlang resource.
//!
//! The resource destructor runs on whatever scheduler thread the garbage collector
//! picks, where Python must not be touched. It hands the object to its `Home`, a thread
//! attached to the object's interpreter, which drops the reference there.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};

use pyo3::prelude::*;
use rustler::{Encoder, Env, Resource, ResourceArc, Term};

use crate::atoms;
use crate::context::Context;
use crate::convert::ConvertError;

/// Handles alive right now (created and not yet released by their home thread).
static LIVE: AtomicI64 = AtomicI64::new(0);

pub fn live_count() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// A Python reference that must be dropped while attached to its interpreter. If it is
/// dropped anywhere else (a queue torn down with items still in it), it is leaked rather
/// than decref'd on the wrong thread.
pub struct Orphan(Option<Py<PyAny>>);

impl Orphan {
    /// Drops the reference; the caller is attached to the object's interpreter.
    pub fn release(mut self, _py: Python<'_>) {
        if let Some(obj) = self.0.take() {
            drop(obj);
            LIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Orphan {
    fn drop(&mut self) {
        if let Some(obj) = self.0.take() {
            std::mem::forget(obj);
            LIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Where objects of one interpreter go to be released, and which interpreter that is.
#[derive(Clone)]
pub struct Home {
    to: HomeThread,
    /// `PyInterpreterState_GetID` of the interpreter: ids are never reused, so a
    /// handle from a destroyed subinterpreter can never pass for one of a new
    /// interpreter that happens to live at the same address.
    pub interp: i64,
}

#[derive(Clone)]
enum HomeThread {
    /// The main interpreter's janitor thread.
    Janitor(flume::Sender<Orphan>),
    /// The context thread that owns a subinterpreter.
    Context(Weak<Context>),
}

impl Home {
    pub fn janitor(tx: flume::Sender<Orphan>, interp: i64) -> Self {
        Home {
            to: HomeThread::Janitor(tx),
            interp,
        }
    }

    pub fn context(context: Weak<Context>, interp: i64) -> Self {
        Home {
            to: HomeThread::Context(context),
            interp,
        }
    }

    fn release(&self, obj: Py<PyAny>) {
        let orphan = Orphan(Some(obj));
        match &self.to {
            // A failed send drops the orphan, which leaks it: the thread is gone.
            HomeThread::Janitor(tx) => drop(tx.send(orphan)),
            HomeThread::Context(context) => {
                if let Some(context) = context.upgrade() {
                    context.release(orphan);
                }
            }
        }
    }
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
    /// The live context thread that owns this object's subinterpreter, if any.
    pub fn home_context(&self) -> Option<Arc<Context>> {
        match &self.home.to {
            HomeThread::Context(context) => context.upgrade(),
            HomeThread::Janitor(_) => None,
        }
    }

    pub fn is_subinterp(&self) -> bool {
        matches!(self.home.to, HomeThread::Context(_))
    }

    /// True when the object's subinterpreter has been destroyed (or is being).
    pub fn is_orphaned(&self) -> bool {
        self.is_subinterp()
            && self
                .home_context()
                .is_none_or(|context| context.is_closed())
    }

    /// The object, if it belongs to interpreter `interp`.
    pub fn bind<'py>(
        &self,
        py: Python<'py>,
        interp: i64,
    ) -> Result<Bound<'py, PyAny>, ConvertError> {
        if self.home.interp != interp {
            if self.is_orphaned() {
                return Err(ConvertError::Gone);
            }
            return Err(ConvertError::Unsupported(
                "a Py.Object from another interpreter (pin calls with `context:`)",
            ));
        }
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
