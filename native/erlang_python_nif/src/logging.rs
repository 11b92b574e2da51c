//! Python `logging` into Elixir's `Logger`: a handler in every interpreter hands each
//! record to the application's log relay process as a message, so Python never waits
//! on the BEAM to log, from any thread or subinterpreter.

use std::sync::RwLock;

use pyo3::prelude::*;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
use rustler::{Encoder, LocalPid};

use crate::atoms;
use crate::bridge::View;

static RELAY: RwLock<Option<LocalPid>> = RwLock::new(None);

/// Config `:logging` (default on) and the Python-side level new interpreters get.
static SETTINGS: RwLock<(bool, Option<i64>)> = RwLock::new((true, None));

pub fn configure(enabled: bool, level: Option<i64>) {
    *SETTINGS
        .write()
        .unwrap_or_else(|poison| poison.into_inner()) = (enabled, level);
}

pub fn enabled() -> bool {
    SETTINGS
        .read()
        .unwrap_or_else(|poison| poison.into_inner())
        .0
}

pub fn level() -> Option<i64> {
    SETTINGS
        .read()
        .unwrap_or_else(|poison| poison.into_inner())
        .1
}

pub fn set_relay(pid: LocalPid) {
    *RELAY.write().unwrap_or_else(|poison| poison.into_inner()) = Some(pid);
}

/// `_log(levelno, message, metadata)`: sends `{:py_log, level, message, metadata}`.
fn log(args: &Bound<'_, PyTuple>) -> PyResult<()> {
    let py = args.py();
    let relay = *RELAY.read().unwrap_or_else(|poison| poison.into_inner());
    let Some(relay) = relay else {
        return Ok(());
    };
    let levelno: i64 = args.get_item(0)?.extract()?;
    let message = args.get_item(1)?;
    let metadata = args.get_item(2)?;
    let view = View::current(py)?;
    let level = match levelno {
        n if n >= 50 => atoms::critical(),
        n if n >= 40 => atoms::error(),
        n if n >= 30 => atoms::warning(),
        n if n >= 20 => atoms::info(),
        _ => atoms::debug(),
    };
    // A record that cannot be converted is dropped rather than raised into the code
    // that logged it.
    let _ = view.send(py, &relay, |encoder| {
        let message = encoder.encode(&message)?;
        let metadata = encoder.encode(&metadata)?;
        Ok((atoms::py_log(), level, message, metadata).encode(encoder.env))
    });
    Ok(())
}

pub fn install(py: Python<'_>, namespace: &Bound<'_, PyDict>) -> PyResult<()> {
    let function = PyCFunction::new_closure(
        py,
        Some(c"_log"),
        None,
        |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| log(args),
    )?;
    namespace.set_item("_log", function)
}

/// `erlang.LoggerHandler`, installed on the root logger at start-up.
pub const SOURCE: &std::ffi::CStr = c"
import logging as _logging

class LoggerHandler(_logging.Handler):
    '''Sends Python log records to Elixir's Logger, with the record's logger name,
    module, file, line, function, thread and exception text as metadata.'''

    def emit(self, record):
        try:
            message = self.format(record) if self.formatter else record.getMessage()
            metadata = {
                'python_logger': record.name,
                'python_module': record.module,
                'file': record.pathname,
                'line': record.lineno,
                'python_function': record.funcName,
                'python_thread': record.threadName,
            }
            if record.exc_info:
                metadata['exception'] = _logging.Formatter().formatException(record.exc_info)
            _log(record.levelno, message, metadata)
        except Exception:
            self.handleError(record)

def _install_logging(level):
    root = _logging.getLogger()
    if not any(isinstance(handler, LoggerHandler) for handler in root.handlers):
        root.addHandler(LoggerHandler())
    if level is not None:
        root.setLevel(level)

def _set_log_level(level):
    _logging.getLogger().setLevel(level)
";
