//! Tracing spans: `erlang.span(name, **attrs)` in Python. While tracing is on, each
//! finished span is sent to the application's trace collector (`Py.Trace`); while it
//! is off a span costs one flag read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
use pyo3::IntoPyObjectExt;
use rustler::{Encoder, LocalPid};

use crate::atoms;
use crate::bridge::View;

static ENABLED: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static COLLECTOR: RwLock<Option<LocalPid>> = RwLock::new(None);

pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Release);
}

pub fn set_collector(pid: LocalPid) {
    *COLLECTOR
        .write()
        .unwrap_or_else(|poison| poison.into_inner()) = Some(pid);
}

/// Sends `{:py_span, span}` to the collector.
fn record(args: &Bound<'_, PyTuple>) -> PyResult<()> {
    let py = args.py();
    let collector = *COLLECTOR
        .read()
        .unwrap_or_else(|poison| poison.into_inner());
    let Some(collector) = collector else {
        return Ok(());
    };
    let span = args.get_item(0)?;
    let view = View::current(py)?;
    let _ = view.send(py, &collector, |encoder| {
        let span = encoder.encode(&span)?;
        Ok((atoms::py_span(), span).encode(encoder.env))
    });
    Ok(())
}

pub fn install(py: Python<'_>, namespace: &Bound<'_, PyDict>) -> PyResult<()> {
    namespace.set_item(
        "_trace_enabled",
        PyCFunction::new_closure(
            py,
            Some(c"_trace_enabled"),
            None,
            |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| {
                ENABLED.load(Ordering::Acquire).into_py_any(args.py())
            },
        )?,
    )?;
    namespace.set_item(
        "_next_span_id",
        PyCFunction::new_closure(
            py,
            Some(c"_next_span_id"),
            None,
            |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| {
                NEXT_ID
                    .fetch_add(1, Ordering::Relaxed)
                    .into_py_any(args.py())
            },
        )?,
    )?;
    namespace.set_item(
        "_trace_record",
        PyCFunction::new_closure(
            py,
            Some(c"_trace_record"),
            None,
            |args: &Bound<'_, PyTuple>, _: Option<&Bound<'_, PyDict>>| {
                record(args)?;
                Ok::<_, PyErr>(args.py().None())
            },
        )?,
    )?;
    Ok(())
}

pub const SOURCE: &std::ffi::CStr = c"
import time as _time

_current_span = _contextvars.ContextVar('erlang_span', default=None)

class span:
    '''erlang.span(name, **attributes): times a block (`with erlang.span('load'):`)
    or a function (`@erlang.span('load')`). Spans nest, also across erlang.call into
    Elixir and back; each records its start, duration, status (ok, or the exception
    type) and attributes. Collected by Py.Trace while tracing is enabled.'''

    def __init__(self, name, **attributes):
        self.name = name
        self.attributes = attributes
        self._active = False

    def set_attribute(self, key, value):
        self.attributes[key] = value

    def __enter__(self):
        self._active = _trace_enabled()
        if self._active:
            self.id = _next_span_id()
            self.parent = _current_span.get()
            self._token = _current_span.set(self.id)
            self._start = _time.time_ns()
            self._clock = _time.perf_counter_ns()
        return self

    def __exit__(self, kind, error, traceback):
        if not self._active:
            return False
        duration = (_time.perf_counter_ns() - self._clock) // 1000
        _current_span.reset(self._token)
        if kind is None:
            status = 'ok'
        else:
            name = kind.__qualname__
            if kind.__module__ != 'builtins':
                name = kind.__module__ + '.' + name
            status = ('error', name)
        _trace_record({'name': self.name, 'id': self.id, 'parent': self.parent,
                       'start': self._start // 1000, 'duration': duration,
                       'status': status, 'attributes': self.attributes})
        return False

    def __call__(self, function):
        import functools
        name, attributes = self.name, self.attributes

        @functools.wraps(function)
        def traced(*args, **kwargs):
            with span(name, **attributes):
                return function(*args, **kwargs)
        return traced
";
