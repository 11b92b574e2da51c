//! Python object → Erlang term.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple,
};
use rustler::{Encoder, Env, Term};

use super::{scratch, ConvertError, ErlangTypes, MAX_DEPTH};
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

    /// A list's elements as raw terms. With the GIL, elements are read in place and
    /// only those that take the general path are referenced; the length is read
    /// again each step, as that path may run Python code that changes the list.
    #[cfg(not(Py_GIL_DISABLED))]
    fn list_items(
        &self,
        list: &Bound<'py, PyList>,
        depth: usize,
        items: &mut Vec<rustler::sys::ErlNifTerm>,
    ) -> Result<(), ConvertError> {
        let ptr = list.as_ptr();
        // SAFETY: attached and holding the GIL; `ptr` is a live list.
        items.reserve(unsafe { ffi::PyList_GET_SIZE(ptr) } as usize);
        let mut index = 0;
        // SAFETY: as above; `index` is checked against the current length.
        while index < unsafe { ffi::PyList_GET_SIZE(ptr) } {
            let item = unsafe { ffi::PyList_GET_ITEM(ptr, index) };
            let term = match unsafe { self.number(item) } {
                Some(term) => term,
                None => {
                    // SAFETY: a borrowed element, referenced for the general path.
                    let item = unsafe { Bound::from_borrowed_ptr(self.py, item) };
                    self.value(&item, depth)?.as_c_arg()
                }
            };
            items.push(term);
            index += 1;
        }
        Ok(())
    }

    /// Free-threaded: the list may change under us, so go through its iterator.
    #[cfg(Py_GIL_DISABLED)]
    fn list_items(
        &self,
        list: &Bound<'py, PyList>,
        depth: usize,
        items: &mut Vec<rustler::sys::ErlNifTerm>,
    ) -> Result<(), ConvertError> {
        items.reserve(list.len());
        for item in list.iter() {
            items.push(self.item(&item, depth)?);
        }
        Ok(())
    }

    /// An exact int that fits 64 bits or a finite exact float, as a raw term.
    ///
    /// # Safety
    /// `ptr` must be a live object and the thread attached.
    #[inline(always)]
    unsafe fn number(&self, ptr: *mut ffi::PyObject) -> Option<rustler::sys::ErlNifTerm> {
        let env = self.env.as_c_arg();
        if ffi::PyLong_CheckExact(ptr) != 0 {
            if let Some(value) = super::compact_int::value(ptr) {
                return Some(rustler::sys::enif_make_int64(env, value));
            }
            // An exact int cannot fail to convert: a value past 64 bits sets
            // `overflow` (and no error) and takes the big-integer path.
            let mut overflow = 0;
            let value = ffi::PyLong_AsLongAndOverflow(ptr, &mut overflow);
            if overflow == 0 {
                return Some(rustler::sys::enif_make_int64(env, value as i64));
            }
        } else if ffi::PyFloat_CheckExact(ptr) != 0 {
            let value = ffi::PyFloat_AS_DOUBLE(ptr);
            if value.is_finite() {
                return Some(rustler::sys::enif_make_double(env, value));
            }
        }
        None
    }

    /// An element of a list or tuple, as a raw term. Exact ints and floats, the
    /// elements of numeric lists, take a short path with no type dispatch and no
    /// `Result` of a term passed back through memory.
    #[inline(always)]
    fn item(
        &self,
        obj: &Bound<'py, PyAny>,
        depth: usize,
    ) -> Result<rustler::sys::ErlNifTerm, ConvertError> {
        // SAFETY: `obj` is a live object and we are attached.
        match unsafe { self.number(obj.as_ptr()) } {
            Some(term) => Ok(term),
            None => self.value(obj, depth).map(|term| term.as_c_arg()),
        }
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
            let mut items = scratch::take_terms();
            let filled = self.list_items(list, depth + 1, &mut items);
            // SAFETY: the terms were made in `env`.
            let term = filled.map(|()| unsafe {
                Term::new(
                    env,
                    rustler::sys::enif_make_list_from_array(
                        env.as_c_arg(),
                        items.as_ptr(),
                        items.len() as u32,
                    ),
                )
            });
            scratch::give_back_terms(items);
            return term;
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            let mut items = Vec::with_capacity(tuple.len());
            for item in tuple.iter() {
                items.push(self.item(&item, depth + 1)?);
            }
            // SAFETY: the terms were made in `env`.
            return Ok(unsafe {
                Term::new(
                    env,
                    rustler::sys::enif_make_tuple_from_array(
                        env.as_c_arg(),
                        items.as_ptr(),
                        items.len() as u32,
                    ),
                )
            });
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
            let (atom, _) = existing_atom(env, obj)?;
            return Ok(atom.encode(env));
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

/// The atom an `erlang.Atom` names, and its name. Only atoms the VM already knows:
/// Python must never grow the atom table, which is never garbage collected and ends
/// the VM when full.
pub(super) fn existing_atom<'py>(
    env: Env<'_>,
    obj: &Bound<'py, PyAny>,
) -> Result<(rustler::Atom, Bound<'py, PyString>), ConvertError> {
    let name = obj
        .getattr("name")?
        .cast_into::<PyString>()
        .map_err(|_| ConvertError::Unsupported("a damaged erlang.Atom"))?;
    let text = name.to_str()?;
    match rustler::Atom::existing_from_str(env, text) {
        Ok(atom) => Ok((atom, name)),
        Err(_) => Err(ConvertError::UnknownAtom(text.to_string())),
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
