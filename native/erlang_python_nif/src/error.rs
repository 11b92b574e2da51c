//! Errors sent back to Elixir: Python exceptions as `%Py.Error{}` structs, and the
//! project's own reasons as atoms and tuples.

use pyo3::prelude::*;
use pyo3::types::PyString;
use rustler::{Encoder, Env, Term};

use crate::atoms;
use crate::convert::{encode, ConvertError};

/// Why a request failed.
pub enum Failure {
    Python(PyErr),
    Invalid(String),
}

impl From<PyErr> for Failure {
    fn from(err: PyErr) -> Self {
        Failure::Python(err)
    }
}

impl From<ConvertError> for Failure {
    fn from(err: ConvertError) -> Self {
        match err {
            ConvertError::Python(err) => Failure::Python(err),
            other => Failure::Invalid(other.describe()),
        }
    }
}

impl Failure {
    /// The reason term: `%Py.Error{}` or `{:invalid, why}`.
    pub fn reason<'e>(&self, py: Python<'_>, env: Env<'e>) -> Term<'e> {
        match self {
            Failure::Python(err) => python_error(py, env, err),
            Failure::Invalid(why) => (atoms::invalid(), why.as_str()).encode(env),
        }
    }
}

/// `%Py.Error{type: "ZeroDivisionError", message: "division by zero", traceback: [...]}`.
/// Names come back as binaries: Python never creates atoms.
pub fn python_error<'e>(py: Python<'_>, env: Env<'e>, err: &PyErr) -> Term<'e> {
    let value = err.value(py);
    let class = value.get_type();
    let qualname = class
        .qualname()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "Exception".to_string());
    let type_name = match class.module() {
        Ok(module) if module.to_str().is_ok_and(|m| m != "builtins") => {
            format!("{}.{}", module, qualname)
        }
        _ => qualname,
    };
    let message = value
        .str()
        .map(|text| text.to_string_lossy().into_owned())
        .unwrap_or_default();
    let traceback = format_traceback(py, err).unwrap_or_default();
    let traceback: Vec<Term<'e>> = traceback
        .iter()
        .map(|line| encode::binary(env, line.as_bytes()))
        .collect();
    let keys = [
        atoms::__struct__().encode(env),
        atoms::__exception__().encode(env),
        atoms::r#type().encode(env),
        atoms::message().encode(env),
        atoms::traceback().encode(env),
    ];
    let values = [
        atoms::elixir_py_error().encode(env),
        true.encode(env),
        encode::binary(env, type_name.as_bytes()),
        encode::binary(env, message.as_bytes()),
        traceback.encode(env),
    ];
    Term::map_from_arrays(env, &keys, &values).unwrap_or_else(|_| atoms::error().encode(env))
}

/// Formats with Python's own `traceback` module: the output users know, and safe in
/// every interpreter (no cached Python objects).
fn format_traceback(py: Python<'_>, err: &PyErr) -> PyResult<Vec<String>> {
    let lines = py.import("traceback")?.call_method1(
        "format_exception",
        (err.get_type(py), err.value(py), err.traceback(py)),
    )?;
    let mut out = Vec::new();
    for line in lines.try_iter()? {
        let line = line?;
        out.push(line.cast::<PyString>()?.to_string_lossy().into_owned());
    }
    Ok(out)
}
