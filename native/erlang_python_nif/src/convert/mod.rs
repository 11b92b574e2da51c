//! The data model (see the `Py` moduledoc): Erlang terms to Python objects and back.
//!
//! Both directions are recursive with an explicit depth bound, so hostile input
//! (200 000 nested lists, a self-referencing Python list) gives an error instead of
//! exhausting the context thread's stack.

pub mod compact_int;
pub mod decode;
pub mod encode;
pub mod etf;
pub mod scratch;
pub mod small_ints;

use pyo3::prelude::*;
use pyo3::types::PyType;

/// Deepest nesting converted in either direction. Context threads run with a large
/// stack (see `context::STACK_SIZE`), so this bound is what stops runaway recursion.
pub const MAX_DEPTH: usize = 2_000;

/// Why a value could not be converted. Python errors raised while converting
/// (a failing `__hash__`, memory errors) are carried as they are.
#[derive(Debug)]
pub enum ConvertError {
    TooDeep,
    ImproperList,
    Unsupported(&'static str),
    UnhashableKey,
    DuplicateKey,
    /// An `erlang.Atom` whose atom the VM does not have: Python never creates atoms.
    UnknownAtom(String),
    /// A handle whose subinterpreter was destroyed.
    Gone,
    Python(PyErr),
}

impl From<PyErr> for ConvertError {
    fn from(err: PyErr) -> Self {
        ConvertError::Python(err)
    }
}

impl ConvertError {
    /// The human-readable reason used in `{:error, {:invalid, reason}}`.
    pub fn describe(&self) -> String {
        match self {
            ConvertError::TooDeep => format!("nesting deeper than {MAX_DEPTH} levels"),
            ConvertError::ImproperList => "improper lists cannot be converted".to_string(),
            ConvertError::Unsupported(what) => format!("{what} cannot be converted"),
            ConvertError::UnknownAtom(name) => format!(
                "erlang.Atom({name:?}) names no existing atom, and Python cannot create atoms"
            ),
            ConvertError::UnhashableKey => {
                "map key cannot be a Python dict key (lists and maps are unhashable)".to_string()
            }
            ConvertError::DuplicateKey => {
                "two Python keys convert to the same Elixir key".to_string()
            }
            ConvertError::Gone => {
                "this Py.Object cannot be used: its interpreter is gone".to_string()
            }
            ConvertError::Python(err) => err.to_string(),
        }
    }
}

/// The `erlang.Pid` and `erlang.Ref` classes of one interpreter. Pids and references
/// travel through Python as their external term format, so they compare and hash by
/// identity and come back as the same pid or reference.
pub struct ErlangTypes {
    pub pid: Py<PyType>,
    pub reference: Py<PyType>,
    /// `erlang.Buffer`, the exporter behind `{:buffer, binary}` memoryviews.
    pub buffer: Py<PyType>,
    /// `erlang.CallbackError`, raised by `erlang.call` when the Elixir function fails.
    pub callback_error: Py<PyType>,
    /// `erlang.Atom`: the one way Python makes an atom (`erlang.atom(name)`).
    pub atom: Py<PyType>,
}
