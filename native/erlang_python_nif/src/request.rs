//! What a context does with a request: decode the operation, run it, and shape the
//! reply. One `Interp` per context thread holds that thread's caches.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyString};
use rustler::{Atom, Binary, Encoder, Env, Term};

use crate::atoms;
use crate::context::Request;
use crate::convert::decode::Decoder;
use crate::convert::encode::Encoder_;
use crate::convert::ErlangTypes;
use crate::erlang_module;
use crate::error::Failure;
use crate::object::Home;
use crate::runtime;

/// Bound on the compiled-expression cache; past it the cache starts over.
const CODE_CACHE_LIMIT: usize = 512;

/// A context thread's view of its interpreter.
pub struct Interp {
    pub types: ErlangTypes,
    pub home: Home,
    globals: Py<PyDict>,
    builtins: Py<PyModule>,
    modules: HashMap<Vec<u8>, Py<PyModule>>,
    expressions: HashMap<Vec<u8>, Py<PyAny>>,
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

impl Interp {
    /// The main interpreter as seen from a worker context.
    pub fn main(py: Python<'_>, home: Home) -> PyResult<Interp> {
        Interp::new(py, runtime::main_types(py)?, home)
    }

    /// A subinterpreter, owned by the calling context thread: it gets its own `erlang`
    /// module and output streams.
    pub fn sub(py: Python<'_>, home: Home) -> PyResult<Interp> {
        let types = erlang_module::install(py)?;
        Interp::new(py, types, home)
    }

    fn new(py: Python<'_>, types: ErlangTypes, home: Home) -> PyResult<Interp> {
        let main = py.import("__main__")?;
        Ok(Interp {
            types,
            home,
            globals: main.dict().unbind(),
            builtins: py.import("builtins")?.unbind(),
            modules: HashMap::new(),
            expressions: HashMap::new(),
        })
    }

    pub fn execute<'py>(&mut self, py: Python<'py>, request: &Request) -> Outcome<'py> {
        request.env.run(|env| {
            let op = request.op.load(env);
            match self.dispatch(py, op) {
                Ok(outcome) => outcome,
                Err(failure) => Outcome::Failed(failure),
            }
        })
    }

    fn dispatch<'py>(&mut self, py: Python<'py>, op: Term) -> Result<Outcome<'py>, Failure> {
        let fields =
            rustler::types::tuple::get_tuple(op).map_err(|_| invalid("malformed request"))?;
        let tag = fields
            .first()
            .and_then(|tag| Atom::from_term(*tag).ok())
            .ok_or_else(|| invalid("malformed request"))?;
        match fields.as_slice() {
            [_, module, function, args, kwargs, ret] if tag == atoms::call() => {
                let module = self.module(py, text(*module, "module")?)?;
                let function = attribute_path(module.as_any(), text(*function, "function")?)?;
                let result = self.invoke(py, &function, *args, *kwargs)?;
                Ok(shape(result, *ret))
            }
            [_, object, name, args, kwargs, ret] if tag == atoms::call_method() => {
                let object = self.decoder(py).decode(*object)?;
                let target = if name.is_binary() {
                    attribute_path(&object, text(*name, "method")?)?
                } else {
                    object
                };
                let result = self.invoke(py, &target, *args, *kwargs)?;
                Ok(shape(result, *ret))
            }
            [_, object, name, ret] if tag == atoms::getattr() => {
                let object = self.decoder(py).decode(*object)?;
                Ok(shape(
                    attribute_path(&object, text(*name, "attribute")?)?,
                    *ret,
                ))
            }
            [_, code, locals, ret] if tag == atoms::eval() => {
                let code = self.expression(py, source(*code)?)?;
                let locals = if locals.is_map() {
                    Some(self.decoder(py).decode(*locals)?)
                } else {
                    None
                };
                let globals = self.globals.bind(py);
                let result = self
                    .builtins
                    .bind(py)
                    .getattr("eval")?
                    .call1((code, globals, locals))?;
                Ok(shape(result, *ret))
            }
            [_, code] if tag == atoms::exec() => {
                let code = source(*code)?;
                let globals = self.globals.bind(py);
                let compiled = self
                    .builtins
                    .bind(py)
                    .getattr("compile")?
                    .call1((code, "<exec>", "exec"))?;
                self.builtins
                    .bind(py)
                    .getattr("exec")?
                    .call1((compiled, globals))?;
                Ok(Outcome::Done)
            }
            [_, object] if tag == atoms::repr() => {
                let object = self.decoder(py).decode(*object)?;
                Ok(Outcome::Value(object.repr()?.into_any()))
            }
            _ => Err(invalid("malformed request")),
        }
    }

    fn decoder<'a, 'py>(&'a self, py: Python<'py>) -> Decoder<'a, 'py> {
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
        kwargs: Term,
    ) -> Result<Bound<'py, PyAny>, Failure> {
        let decoder = self.decoder(py);
        let args = decoder.args(args)?;
        if kwargs.is_map() && kwargs.map_size().unwrap_or(0) > 0 {
            let kwargs = decoder.decode(kwargs)?;
            let kwargs = kwargs
                .cast::<PyDict>()
                .map_err(|_| invalid("kwargs must be a map"))?;
            Ok(function.call(args, Some(kwargs))?)
        } else {
            Ok(function.call1(args)?)
        }
    }

    /// Imports `name` once per context; later calls reuse the module object.
    fn module<'py>(
        &mut self,
        py: Python<'py>,
        name: &str,
    ) -> Result<Bound<'py, PyModule>, Failure> {
        if let Some(module) = self.modules.get(name.as_bytes()) {
            return Ok(module.bind(py).clone());
        }
        if !is_dotted_identifier(name) {
            return Err(invalid(&format!("not a module name: {name:?}")));
        }
        let module = py.import(name)?;
        self.modules
            .insert(name.as_bytes().to_vec(), module.clone().unbind());
        Ok(module)
    }

    /// Compiles an expression once per context.
    fn expression<'py>(
        &mut self,
        py: Python<'py>,
        code: &str,
    ) -> Result<Bound<'py, PyAny>, Failure> {
        if let Some(compiled) = self.expressions.get(code.as_bytes()) {
            return Ok(compiled.bind(py).clone());
        }
        let compiled = self
            .builtins
            .bind(py)
            .getattr("compile")?
            .call1((code, "<eval>", "eval"))?;
        if self.expressions.len() >= CODE_CACHE_LIMIT {
            self.expressions.clear();
        }
        self.expressions
            .insert(code.as_bytes().to_vec(), compiled.clone().unbind());
        Ok(compiled)
    }
}

fn shape<'py>(value: Bound<'py, PyAny>, ret: Term) -> Outcome<'py> {
    if Atom::from_term(ret).is_ok_and(|ret| ret == atoms::ref_()) {
        Outcome::Handle(value)
    } else {
        Outcome::Value(value)
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

fn text<'a>(term: Term<'a>, what: &str) -> Result<&'a str, Failure> {
    let binary =
        Binary::from_term(term).map_err(|_| invalid(&format!("{what} must be a string")))?;
    std::str::from_utf8(binary.as_slice())
        .map_err(|_| invalid(&format!("{what} must be valid UTF-8")))
}

fn source(term: Term<'_>) -> Result<&str, Failure> {
    let code = text(term, "code")?;
    if code.contains('\0') {
        return Err(invalid("code contains a NUL byte"));
    }
    Ok(code)
}

fn invalid(why: &str) -> Failure {
    Failure::Invalid(why.to_string())
}
