//! A context thread's view of its interpreter: the globals calls run in, cached
//! modules and compiled expressions, and what it takes to run one operation.
//!
//! Caches use short borrows, never held across a call into Python: the call may
//! park its frame and run nested requests that use the same caches.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyString, PyTuple};
use rustler::{Encoder, Env, Term};

use crate::atoms;
use crate::context::{OpTerm, Request};
use crate::convert::decode::Decoder;
use crate::convert::encode::{self, Encoder_};
use crate::convert::small_ints::SmallInts;
use crate::convert::ErlangTypes;
use crate::convert::{etf, scratch, ConvertError};
use crate::erlang_module;
use crate::error::Failure;
use crate::object::Home;
use crate::op::{invalid, Op, Return};
use crate::runtime;

/// Bound on the compiled-expression cache; past it the cache starts over.
const CODE_CACHE_LIMIT: usize = 512;

pub struct Interp {
    pub types: ErlangTypes,
    pub ints: SmallInts,
    pub home: Home,
    globals: Py<PyDict>,
    builtins: Py<PyModule>,
    modules: RefCell<HashMap<Vec<u8>, Py<PyModule>>>,
    expressions: RefCell<HashMap<Vec<u8>, Py<PyAny>>>,
    /// The arguments of the last call, freed once its reply is sent.
    spent: RefCell<Option<Py<PyAny>>>,
}

type Arguments<'py> = (Bound<'py, PyTuple>, Option<Bound<'py, PyDict>>);

/// An operation with its terms converted: what is left refers to no Erlang term
/// (after `into_owned`).
enum Ready<'a, 'py> {
    Call {
        module: Cow<'a, str>,
        function: Cow<'a, str>,
        args: Arguments<'py>,
        ret: Return,
    },
    CallMethod {
        object: Bound<'py, PyAny>,
        name: Option<Cow<'a, str>>,
        args: Arguments<'py>,
        ret: Return,
    },
    GetAttr {
        object: Bound<'py, PyAny>,
        name: Cow<'a, str>,
        ret: Return,
    },
    Eval {
        code: Cow<'a, str>,
        locals: Option<Bound<'py, PyAny>>,
        ret: Return,
    },
    Exec {
        code: Cow<'a, str>,
    },
    Repr {
        value: Bound<'py, PyAny>,
    },
    Panic,
}

impl<'py> Ready<'_, 'py> {
    /// The same operation with its names copied out of the term environment.
    fn into_owned(self) -> Ready<'static, 'py> {
        let own = |text: Cow<'_, str>| Cow::Owned(text.into_owned());
        match self {
            Ready::Call {
                module,
                function,
                args,
                ret,
            } => Ready::Call {
                module: own(module),
                function: own(function),
                args,
                ret,
            },
            Ready::CallMethod {
                object,
                name,
                args,
                ret,
            } => Ready::CallMethod {
                object,
                name: name.map(own),
                args,
                ret,
            },
            Ready::GetAttr { object, name, ret } => Ready::GetAttr {
                object,
                name: own(name),
                ret,
            },
            Ready::Eval { code, locals, ret } => Ready::Eval {
                code: own(code),
                locals,
                ret,
            },
            Ready::Exec { code } => Ready::Exec { code: own(code) },
            Ready::Repr { value } => Ready::Repr { value },
            Ready::Panic => Ready::Panic,
        }
    }
}

/// The result of a request, still in Python form until it is encoded into the reply.
pub enum Outcome<'py> {
    Value(Bound<'py, PyAny>),
    Handle(Bound<'py, PyAny>),
    Done,
    Failed(Failure),
}

impl<'py> Outcome<'py> {
    pub fn to_term<'e>(
        &self,
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
        let failure = match self {
            Outcome::Value(value) => match etf_reply(py, env, types, value) {
                Ok(Some(reply)) => return reply,
                Ok(None) => match encoder.encode(value) {
                    Ok(value) => return (atoms::ok(), value).encode(env),
                    Err(err) => Failure::from(err),
                },
                Err(err) => Failure::from(err),
            },
            Outcome::Handle(value) => return (atoms::ok(), encoder.handle(value)).encode(env),
            Outcome::Done => return atoms::ok().encode(env),
            Outcome::Failed(failure) => {
                return (atoms::error(), failure.reason(py, env)).encode(env)
            }
        };
        (atoms::error(), failure.reason(py, env)).encode(env)
    }
}

/// `{:etf, binary}`: the reply `{:ok, value}` in external term format, which the
/// caller decodes (see `convert::etf`). `None` when `value` is not worth it or needs
/// the term encoder.
fn etf_reply<'e>(
    py: Python<'_>,
    env: Env<'e>,
    types: &ErlangTypes,
    value: &Bound<'_, PyAny>,
) -> Result<Option<Term<'e>>, ConvertError> {
    if !etf::worth_it(value) {
        return Ok(None);
    }
    let mut bytes = scratch::take_bytes();
    let written = etf::encode_ok(py, env, types, value, &mut bytes);
    let reply =
        written.map(|done| done.then(|| (atoms::etf(), encode::binary(env, &bytes)).encode(env)));
    scratch::give_back_bytes(bytes);
    reply
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
            ints: SmallInts::new(),
            home,
            globals: main.dict().unbind(),
            builtins: py.import("builtins")?.unbind(),
            modules: RefCell::new(HashMap::new()),
            expressions: RefCell::new(HashMap::new()),
            spent: RefCell::new(None),
        })
    }

    /// Runs the request's operation. Its arguments are converted first, before any
    /// other Python code runs, so a lent operation goes back to its caller as soon as
    /// possible (see `loan`).
    pub fn execute<'py>(&self, py: Python<'py>, request: &Request) -> Outcome<'py> {
        let outcome = match &request.op {
            OpTerm::Saved(op) => request.env.run(|env| self.run(py, op.load(env))),
            OpTerm::Lent(loan) => match loan.take() {
                Some(taken) => {
                    let ready = taken.with(|op| {
                        Op::decode(op).and_then(|op| Ok(self.ready(py, op)?.into_owned()))
                    });
                    drop(taken);
                    ready.and_then(|ready| self.dispatch(py, ready))
                }
                None => match loan.copy() {
                    Some((env, op)) => env.run(|env| self.run(py, op.load(env))),
                    // A withdrawn loan always leaves its copy first.
                    None => Err(invalid("the request's operation was withdrawn")),
                },
            },
        };
        outcome.unwrap_or_else(Outcome::Failed)
    }

    fn run<'py>(&self, py: Python<'py>, op: Term<'_>) -> Result<Outcome<'py>, Failure> {
        let op = Op::decode(op)?;
        let ready = self.ready(py, op)?;
        self.dispatch(py, ready)
    }

    /// Converts the operation's terms to Python objects.
    fn ready<'a, 'py>(&self, py: Python<'py>, op: Op<'a>) -> Result<Ready<'a, 'py>, Failure> {
        let decoder = self.decoder(py);
        Ok(match op {
            Op::Call {
                module,
                function,
                args,
                kwargs,
                ret,
            } => Ready::Call {
                module: Cow::Borrowed(module),
                function: Cow::Borrowed(function),
                args: self.arguments(py, args, kwargs)?,
                ret,
            },
            Op::CallMethod {
                object,
                name,
                args,
                kwargs,
                ret,
            } => Ready::CallMethod {
                object: decoder.decode(object)?,
                name: name.map(Cow::Borrowed),
                args: self.arguments(py, args, kwargs)?,
                ret,
            },
            Op::GetAttr { object, name, ret } => Ready::GetAttr {
                object: decoder.decode(object)?,
                name: Cow::Borrowed(name),
                ret,
            },
            Op::Eval { code, locals, ret } => Ready::Eval {
                code: Cow::Borrowed(code),
                locals: match locals {
                    Some(locals) => Some(decoder.decode(locals)?),
                    None => None,
                },
                ret,
            },
            Op::Exec { code } => Ready::Exec {
                code: Cow::Borrowed(code),
            },
            Op::Repr { value } => Ready::Repr {
                value: decoder.decode(value)?,
            },
            Op::Panic => Ready::Panic,
        })
    }

    fn arguments<'py>(
        &self,
        py: Python<'py>,
        args: Term<'_>,
        kwargs: Option<Term<'_>>,
    ) -> Result<Arguments<'py>, Failure> {
        let decoder = self.decoder(py);
        let args = decoder.args(args)?;
        let kwargs = match kwargs {
            Some(kwargs) => Some(
                decoder
                    .decode(kwargs)?
                    .cast_into::<PyDict>()
                    .map_err(|_| invalid("kwargs must be a map"))?,
            ),
            None => None,
        };
        Ok((args, kwargs))
    }

    fn dispatch<'py>(
        &self,
        py: Python<'py>,
        ready: Ready<'_, 'py>,
    ) -> Result<Outcome<'py>, Failure> {
        match ready {
            Ready::Call {
                module,
                function,
                args,
                ret,
            } => {
                let module = self.module(py, &module)?;
                let function = attribute_path(module.as_any(), &function)?;
                Ok(shape(self.invoke(&function, args)?, ret))
            }
            Ready::CallMethod {
                object,
                name,
                args,
                ret,
            } => {
                let target = match name {
                    Some(name) => attribute_path(&object, &name)?,
                    None => object,
                };
                Ok(shape(self.invoke(&target, args)?, ret))
            }
            Ready::GetAttr { object, name, ret } => Ok(shape(attribute_path(&object, &name)?, ret)),
            Ready::Eval { code, locals, ret } => {
                let code = self.expression(py, &code)?;
                let result = self.builtins.bind(py).getattr("eval")?.call1((
                    code,
                    self.globals.bind(py),
                    locals,
                ))?;
                Ok(shape(result, ret))
            }
            Ready::Exec { code } => {
                let builtins = self.builtins.bind(py);
                let compiled = builtins
                    .getattr("compile")?
                    .call1((&*code, "<exec>", "exec"))?;
                builtins
                    .getattr("exec")?
                    .call1((compiled, self.globals.bind(py)))?;
                Ok(Outcome::Done)
            }
            Ready::Repr { value } => Ok(Outcome::Value(value.repr()?.into_any())),
            Ready::Panic => panic!("deliberate panic requested by a test"),
        }
    }

    pub fn decoder<'a, 'py>(&'a self, py: Python<'py>) -> Decoder<'a, 'py> {
        Decoder {
            py,
            types: &self.types,
            interp: self.home.interp,
            ints: Some(&self.ints),
        }
    }

    /// Calls `function`. The arguments are kept until `drop_spent`: freeing a large
    /// argument list can wait until the reply is on its way.
    fn invoke<'py>(
        &self,
        function: &Bound<'py, PyAny>,
        (args, kwargs): Arguments<'py>,
    ) -> Result<Bound<'py, PyAny>, Failure> {
        let result = function.call(&args, kwargs.as_ref());
        *self.spent.borrow_mut() = Some(args.into_any().unbind());
        Ok(result?)
    }

    /// Frees the last call's arguments (after its reply was sent).
    pub fn drop_spent(&self) {
        // Freed outside the borrow: freeing may run Python code that makes a call.
        let spent = self.spent.borrow_mut().take();
        drop(spent);
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
