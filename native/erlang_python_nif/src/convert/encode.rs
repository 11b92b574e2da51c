//! Python object → Erlang term.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple,
};
use rustler::{Encoder, Env, Term};

use super::{ConvertError, ErlangTypes, MAX_DEPTH};
use crate::atoms;
use crate::object::{self, Home};

pub struct Encoder_<'a, 'py, 'e> {
    pub py: Python<'py>,
    pub env: Env<'e>,
    pub types: &'a ErlangTypes,
    /// Where handles made for values without an Elixir form are dropped.
    pub home: &'a Home,
}

type Encoded<'e> = Result<Term<'e>, ConvertError>;

impl<'py, 'e> Encoder_<'_, 'py, 'e> {
    pub fn encode(&self, obj: &Bound<'py, PyAny>) -> Encoded<'e> {
        self.value(obj, 0)
    }

    /// Wraps the object in a `%Py.Object{}` handle whatever its type.
    pub fn handle(&self, obj: &Bound<'py, PyAny>) -> Term<'e> {
        object::handle_term(self.env, obj.clone().unbind(), self.home)
    }

    fn value(&self, obj: &Bound<'py, PyAny>, depth: usize) -> Encoded<'e> {
        if depth > MAX_DEPTH {
            return Err(ConvertError::TooDeep);
        }
        let env = self.env;
        if obj.is_none() {
            return Ok(atoms::nil().encode(env));
        }
        if let Ok(flag) = obj.cast::<PyBool>() {
            return Ok(flag.is_true().encode(env));
        }
        if let Ok(int) = obj.cast::<PyInt>() {
            return integer(env, int);
        }
        if let Ok(float) = obj.cast::<PyFloat>() {
            return Ok(float_term(env, float.value()));
        }
        if let Ok(text) = obj.cast::<PyString>() {
            return string(env, text);
        }
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(binary(env, bytes.as_bytes()));
        }
        if let Ok(list) = obj.cast::<PyList>() {
            let mut items = Vec::with_capacity(list.len());
            for item in list.iter() {
                items.push(self.value(&item, depth + 1)?);
            }
            return Ok(items.encode(env));
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            let mut items = Vec::with_capacity(tuple.len());
            for item in tuple.iter() {
                items.push(self.value(&item, depth + 1)?);
            }
            return Ok(rustler::types::tuple::make_tuple(env, &items));
        }
        if let Ok(dict) = obj.cast::<PyDict>() {
            let mut keys = Vec::with_capacity(dict.len());
            let mut values = Vec::with_capacity(dict.len());
            for (key, value) in dict.iter() {
                keys.push(self.value(&key, depth + 1)?);
                values.push(self.value(&value, depth + 1)?);
            }
            return build_map(env, &keys, &values);
        }
        if let Ok(set) = obj.cast::<PySet>() {
            return self.mapset(set.iter(), set.len(), depth);
        }
        if let Ok(set) = obj.cast::<PyFrozenSet>() {
            return self.mapset(set.iter(), set.len(), depth);
        }
        if let Ok(bytes) = obj.cast::<PyByteArray>() {
            return Ok(binary(env, &bytes.to_vec()));
        }
        let class = obj.get_type();
        if class.is(self.types.pid.bind(self.py)) || class.is(self.types.reference.bind(self.py)) {
            return self.opaque(obj);
        }
        if class.is(self.types.atom.bind(self.py)) {
            let name = obj.getattr("name")?;
            let name = name
                .cast::<PyString>()
                .map_err(|_| ConvertError::Unsupported("a damaged erlang.Atom"))?;
            // Only atoms the VM already knows: Python must never grow the atom table,
            // which is never garbage collected and ends the VM when full.
            let name = name.to_str()?;
            return rustler::Atom::existing_from_str(env, name)
                .map(|atom| atom.encode(env))
                .map_err(|_| ConvertError::UnknownAtom(name.to_string()));
        }
        if let Some(channel) = channel_of(obj) {
            return Term::map_from_arrays(
                env,
                &[atoms::__struct__().encode(env), atoms::ref_().encode(env)],
                &[
                    atoms::elixir_py_channel().encode(env),
                    rustler::ResourceArc::new(crate::channel::ChannelRef::new(channel)).encode(env),
                ],
            )
            .map_err(|_| ConvertError::Unsupported("channel"));
        }
        Ok(self.handle(obj))
    }

    fn mapset(
        &self,
        members: impl Iterator<Item = Bound<'py, PyAny>>,
        len: usize,
        depth: usize,
    ) -> Encoded<'e> {
        let env = self.env;
        let mut keys = Vec::with_capacity(len);
        for member in members {
            keys.push(self.value(&member, depth + 1)?);
        }
        // `%MapSet{map: %{member => []}, version: 2}`, the layout of every Elixir
        // release since 1.5 (checked by the round-trip tests).
        let empty: Vec<Term> = Vec::new();
        let dummies = vec![empty.encode(env); keys.len()];
        let members = build_map(env, &keys, &dummies)?;
        Term::map_from_arrays(
            env,
            &[
                atoms::__struct__().encode(env),
                atoms::map().encode(env),
                atoms::version().encode(env),
            ],
            &[atoms::elixir_mapset().encode(env), members, 2.encode(env)],
        )
        .map_err(|_| ConvertError::Unsupported("set"))
    }

    fn opaque(&self, obj: &Bound<'py, PyAny>) -> Encoded<'e> {
        let etf = obj.getattr("_etf")?;
        let etf = etf
            .cast::<PyBytes>()
            .map_err(|_| ConvertError::Unsupported("a damaged erlang.Pid or erlang.Ref"))?;
        self.env
            .binary_to_term(etf.as_bytes())
            .map(|(term, _)| term)
            .ok_or(ConvertError::Unsupported(
                "a damaged erlang.Pid or erlang.Ref",
            ))
    }
}

/// Largest map built in one call of `enif_make_map_from_arrays`: on OTP 25 that call
/// crashes (in `erts_qsort`) for large maps when made from a thread the VM does not
/// manage, which is where replies are built. Above it, entries are added one by one.
const FLAT_MAP_LIMIT: usize = 32;

fn build_map<'e>(env: Env<'e>, keys: &[Term<'e>], values: &[Term<'e>]) -> Encoded<'e> {
    if keys.len() <= FLAT_MAP_LIMIT {
        return Term::map_from_term_arrays(env, keys, values)
            .map_err(|_| ConvertError::DuplicateKey);
    }
    let mut map = Term::map_new(env);
    for (key, value) in keys.iter().zip(values) {
        map = map
            .map_put(*key, *value)
            .map_err(|_| ConvertError::Unsupported("map"))?;
    }
    match map.map_size() {
        Ok(size) if size == keys.len() => Ok(map),
        _ => Err(ConvertError::DuplicateKey),
    }
}

fn integer<'e>(env: Env<'e>, int: &Bound<'_, PyInt>) -> Encoded<'e> {
    if let Ok(small) = int.extract::<i64>() {
        return Ok(small.encode(env));
    }
    // rustler and pyo3 depend on different num-bigint releases: cross via bytes.
    let big: num_bigint::BigInt = int.extract()?;
    let big = rustler::BigInt::from_signed_bytes_le(&big.to_signed_bytes_le());
    Ok(big.encode(env))
}

pub fn float_term(env: Env<'_>, value: f64) -> Term<'_> {
    if value.is_nan() {
        atoms::nan().encode(env)
    } else if value == f64::INFINITY {
        atoms::infinity().encode(env)
    } else if value == f64::NEG_INFINITY {
        atoms::neg_infinity().encode(env)
    } else {
        value.encode(env)
    }
}

fn string<'e>(env: Env<'e>, text: &Bound<'_, PyString>) -> Encoded<'e> {
    match text.to_str() {
        Ok(utf8) => Ok(binary(env, utf8.as_bytes())),
        // Lone surrogates have no UTF-8 form; keep their bytes rather than fail.
        Err(_) => {
            let bytes = text.call_method1("encode", ("utf-8", "surrogatepass"))?;
            let bytes = bytes
                .cast::<PyBytes>()
                .map_err(|_| ConvertError::Unsupported("this str"))?;
            Ok(binary(env, bytes.as_bytes()))
        }
    }
}

pub fn binary<'e>(env: Env<'e>, bytes: &[u8]) -> Term<'e> {
    let mut bin = rustler::NewBinary::new(env, bytes.len());
    bin.as_mut_slice().copy_from_slice(bytes);
    bin.into()
}

/// The channel an `erlang.Channel` (or `ByteChannel`) reads, if `obj` is one whose
/// channel still exists: it goes back to Elixir as the same `%Py.Channel{}`.
fn channel_of(obj: &Bound<'_, PyAny>) -> Option<std::sync::Arc<crate::channel::Channel>> {
    let class = obj.get_type();
    let name = class.name().ok()?;
    if name != "Channel" && name != "ByteChannel" {
        return None;
    }
    if class.module().ok()? != "erlang" {
        return None;
    }
    let id: u64 = obj.getattr("_id").ok()?.extract().ok()?;
    crate::channel::Channel::find(id)
}
