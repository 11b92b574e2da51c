//! A context thread's view of its interpreter: the globals calls run in, cached
//! modules and compiled expressions, and what it takes to run one operation.
//!
//! Caches use short borrows, never held across a call into Python: the call may
//! park its frame and run nested requests that use the same caches.

use std::cell::RefCell;
use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyString};
use rustler::{Encoder, Env, Term};

use crate::atoms;
use crate::context::Request;
use crate::convert::decode::Decoder;
use crate::convert::encode::Encoder_;
use crate::convert::ErlangTypes;
use crate::erlang_module;
use crate::error::Failure;
use crate::object::Home;
use crate::op::{invalid, Op, Return};
use crate::runtime;

/// Bound on the compiled-expression cache; past it the cache starts over.
const CODE_CACHE_LIMIT: usize = 512;

pub struct Interp {
    pub types: ErlangTypes,
    pub home: Home,
    globals: Py<PyDict>,
    builtins: Py<PyModule>,
    modules: RefCell<HashMap<Vec<u8>, Py<PyModule>>>,
    expressions: RefCell<HashMap<Vec<u8>, Py<PyAny>>>,
}

/// The result of a request, still in Python form until it is encoded into the reply.
pub enum Outcome<'py> {
    Value(Bound<'py, PyAny>),
    Handle(Bound<'py, PyAny>),
    Done,
    Failed(Failure),
}

impl<'py> Outcome<'py> {
    pub fn into_term<'e>(
        self,
        py: Python<'py>,
        env: Env<'e>,
        types: &ErlangTypes,
        home: &Home,
    ) -> Term<'e> {
        let encoder = Encoder_ {
            py,
            env,
            types,
            home,
        };
        let result = match self {
            Outcome::Value(value) => encoder.encode(&value).map_err(Failure::from),
            Outcome::Handle(value) => Ok(encoder.handle(&value)),
            Outcome::Done => return atoms::ok().encode(env),
            Outcome::Failed(failure) => Err(failure),
        };
        match result {
            Ok(value) => (atoms::ok(), value).encode(env),
            Err(failure) => (atoms::error(), failure.reason(py, env)).encode(env),
        }
    }
}

fn shape(value: Bound<'_, PyAny>, ret: Return) -> Outcome<'_> {
    match ret {
        Return::Value => Outcome::Value(value),
        Return::Handle => Outcome::Handle(value),
    }
}

impl Interp {
    /// The main interpreter as seen from a worker context.
    pub fn main(py: Python<'_>, home: Home) -> PyResult<Interp> {
        Interp::new(py, runtime::main_types(py)?, home)
    }

    /// A subinterpreter, owned by the calling context thread: it gets its own `erlang`
    /// module and output streams.
    pub fn sub(py: Python<'_>, home: Home) -> PyResult<Interp> {
        let types = erlang_module::install(py, false)?;
        Interp::new(py, types, home)
    }

    fn new(py: Python<'_>, types: ErlangTypes, home: Home) -> PyResult<Interp> {
        let main = py.import("__main__")?;
        Ok(Interp {
            types,
            home,
            globals: main.dict().unbind(),
            builtins: py.import("builtins")?.unbind(),
            modules: RefCell::new(HashMap::new()),
            expressions: RefCell::new(HashMap::new()),
        })
    }

    pub fn execute<'py>(&self, py: Python<'py>, request: &Request) -> Outcome<'py> {
        request.env.run(|env| {
            let op = request.op.load(env);
            match Op::decode(op).and_then(|op| self.dispatch(py, op)) {
                Ok(outcome) => outcome,
                Err(failure) => Outcome::Failed(failure),
            }
        })
    }

    fn dispatch<'py>(&self, py: Python<'py>, op: Op<'_>) -> Result<Outcome<'py>, Failure> {
        match op {
            Op::Call {
                module,
                function,
                args,
                kwargs,
                ret,
            } => {
                let module = self.module(py, module)?;
                let function = attribute_path(module.as_any(), function)?;
                Ok(shape(self.invoke(py, &function, args, kwargs)?, ret))
            }
            Op::CallMethod {
                object,
                name,
                args,
                kwargs,
                ret,
            } => {
                let object = self.decoder(py).decode(object)?;
                let target = match name {
                    Some(name) => attribute_path(&object, name)?,
                    None => object,
                };
                Ok(shape(self.invoke(py, &target, args, kwargs)?, ret))
            }
            Op::GetAttr { object, name, ret } => {
                let object = self.decoder(py).decode(object)?;
                Ok(shape(attribute_path(&object, name)?, ret))
            }
            Op::Eval { code, locals, ret } => {
                let code = self.expression(py, code)?;
                let locals = match locals {
                    Some(locals) => Some(self.decoder(py).decode(locals)?),
                    None => None,
                };
                let result = self.builtins.bind(py).getattr("eval")?.call1((
                    code,
                    self.globals.bind(py),
                    locals,
                ))?;
                Ok(shape(result, ret))
            }
            Op::Exec { code } => {
                let builtins = self.builtins.bind(py);
                let compiled = builtins
                    .getattr("compile")?
                    .call1((code, "<exec>", "exec"))?;
                builtins
                    .getattr("exec")?
                    .call1((compiled, self.globals.bind(py)))?;
                Ok(Outcome::Done)
            }
            Op::Repr { value } => {
                let value = self.decoder(py).decode(value)?;
                Ok(Outcome::Value(value.repr()?.into_any()))
            }
            Op::Panic => panic!("deliberate panic requested by a test"),
        }
    }

    pub fn decoder<'a, 'py>(&'a self, py: Python<'py>) -> Decoder<'a, 'py> {
        Decoder {
            py,
            types: &self.types,
            interp: self.home.interp,
        }
    }

    fn invoke<'py>(
        &self,
        py: Python<'py>,
        function: &Bound<'py, PyAny>,
        args: Term,
        kwargs: Option<Term>,
    ) -> Result<Bound<'py, PyAny>, Failure> {
        let decoder = self.decoder(py);
        let args = decoder.args(args)?;
        match kwargs {
            Some(kwargs) => {
                let kwargs = decoder.decode(kwargs)?;
                let kwargs = kwargs
                    .cast::<PyDict>()
                    .map_err(|_| invalid("kwargs must be a map"))?;
                Ok(function.call(args, Some(kwargs))?)
            }
            None => Ok(function.call1(args)?),
        }
    }

    /// Imports `name` once per context; later calls reuse the module object.
    fn module<'py>(&self, py: Python<'py>, name: &str) -> Result<Bound<'py, PyModule>, Failure> {
        if let Some(module) = self.modules.borrow().get(name.as_bytes()) {
            return Ok(module.bind(py).clone());
        }
        if !is_dotted_identifier(name) {
            return Err(invalid(&format!("not a module name: {name:?}")));
        }
        let module = py.import(name)?;
        self.modules
            .borrow_mut()
            .insert(name.as_bytes().to_vec(), module.clone().unbind());
        Ok(module)
    }

    /// Compiles an expression once per context.
    fn expression<'py>(&self, py: Python<'py>, code: &str) -> Result<Bound<'py, PyAny>, Failure> {
        if let Some(compiled) = self.expressions.borrow().get(code.as_bytes()) {
            return Ok(compiled.bind(py).clone());
        }
        let compiled = self
            .builtins
            .bind(py)
            .getattr("compile")?
            .call1((code, "<eval>", "eval"))?;
        let mut expressions = self.expressions.borrow_mut();
        if expressions.len() >= CODE_CACHE_LIMIT {
            expressions.clear();
        }
        expressions.insert(code.as_bytes().to_vec(), compiled.clone().unbind());
        Ok(compiled)
    }
}

/// Walks `a.b.c` with getattr; every segment must be an identifier, so a name never
/// reaches Python as code.
fn attribute_path<'py>(base: &Bound<'py, PyAny>, path: &str) -> Result<Bound<'py, PyAny>, Failure> {
    if !is_dotted_identifier(path) {
        return Err(invalid(&format!("not an attribute name: {path:?}")));
    }
    let mut current = base.clone();
    for segment in path.split('.') {
        current = current.getattr(PyString::new(base.py(), segment))?;
    }
    Ok(current)
}

pub fn is_dotted_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|segment| {
            let mut chars = segment.chars();
            chars
                .next()
                .is_some_and(|first| first == '_' || first.is_alphabetic())
                && chars.all(|c| c == '_' || c.is_alphanumeric())
        })
}
