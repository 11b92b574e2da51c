//! The operations a context runs, decoded once from the tuples `Py.Op` builds.

use rustler::{Atom, Binary, Term};

use crate::atoms;
use crate::error::Failure;

/// What to return: the converted value, or a `%Py.Object{}` handle whatever it is.
#[derive(Clone, Copy)]
pub enum Return {
    Value,
    Handle,
}

pub enum Op<'a> {
    /// `module.function(*args, **kwargs)`; names are dotted paths.
    Call {
        module: &'a str,
        function: &'a str,
        args: Term<'a>,
        kwargs: Option<Term<'a>>,
        ret: Return,
    },
    /// `object.name(*args, **kwargs)`, or `object(*args, **kwargs)` without a name.
    CallMethod {
        object: Term<'a>,
        name: Option<&'a str>,
        args: Term<'a>,
        kwargs: Option<Term<'a>>,
        ret: Return,
    },
    GetAttr {
        object: Term<'a>,
        name: &'a str,
        ret: Return,
    },
    Eval {
        code: &'a str,
        locals: Option<Term<'a>>,
        ret: Return,
    },
    Exec {
        code: &'a str,
    },
    Repr {
        value: Term<'a>,
    },
    /// Panics on the context thread: proves that a panic is contained (tests only).
    Panic,
}

impl<'a> Op<'a> {
    pub fn decode(term: Term<'a>) -> Result<Op<'a>, Failure> {
        let fields = rustler::types::tuple::get_tuple(term).map_err(|_| malformed())?;
        let tag = fields
            .first()
            .and_then(|tag| Atom::from_term(*tag).ok())
            .ok_or_else(malformed)?;
        let op = match fields.as_slice() {
            [_, module, function, args, kwargs, ret] if tag == atoms::call() => Op::Call {
                module: text(*module, "module")?,
                function: text(*function, "function")?,
                args: *args,
                kwargs: kwargs_of(*kwargs),
                ret: return_of(*ret),
            },
            [_, object, name, args, kwargs, ret] if tag == atoms::call_method() => Op::CallMethod {
                object: *object,
                name: if name.is_binary() {
                    Some(text(*name, "method")?)
                } else {
                    None
                },
                args: *args,
                kwargs: kwargs_of(*kwargs),
                ret: return_of(*ret),
            },
            [_, object, name, ret] if tag == atoms::getattr() => Op::GetAttr {
                object: *object,
                name: text(*name, "attribute")?,
                ret: return_of(*ret),
            },
            [_, code, locals, ret] if tag == atoms::eval() => Op::Eval {
                code: source(*code)?,
                locals: if locals.is_map() { Some(*locals) } else { None },
                ret: return_of(*ret),
            },
            [_, code] if tag == atoms::exec() => Op::Exec {
                code: source(*code)?,
            },
            [_, value] if tag == atoms::repr() => Op::Repr { value: *value },
            [_] if tag == atoms::panic() => Op::Panic,
            _ => return Err(malformed()),
        };
        Ok(op)
    }
}

fn kwargs_of(term: Term<'_>) -> Option<Term<'_>> {
    (term.is_map() && term.map_size().unwrap_or(0) > 0).then_some(term)
}

fn return_of(term: Term<'_>) -> Return {
    if Atom::from_term(term).is_ok_and(|ret| ret == atoms::ref_()) {
        Return::Handle
    } else {
        Return::Value
    }
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

fn malformed() -> Failure {
    invalid("malformed request")
}

pub fn invalid(why: &str) -> Failure {
    Failure::Invalid(why.to_string())
}
