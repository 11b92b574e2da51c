//! Erlang term → Python object.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PySet, PyString, PyTuple};
use rustler::{Atom, Binary, Term, TermType};

use super::small_ints::SmallInts;
use super::{ConvertError, ErlangTypes, MAX_DEPTH};
use crate::atoms;
use crate::object::PyObj;

pub struct Decoder<'a, 'py> {
    pub py: Python<'py>,
    pub types: &'a ErlangTypes,
    /// The interpreter decoding: handles from others are refused.
    pub interp: i64,
    /// The context thread's shared small ints, when decoding on one.
    pub ints: Option<&'a SmallInts>,
}

type Decoded<'py> = Result<Bound<'py, PyAny>, ConvertError>;

impl<'py> Decoder<'_, 'py> {
    pub fn decode(&self, term: Term) -> Decoded<'py> {
        self.value(term, 0)
    }

    #[inline(always)]
    fn int(&self, value: i64) -> Decoded<'py> {
        if let Some(object) = self.ints.and_then(|ints| ints.get(self.py, value)) {
            // SAFETY: `get` returns a new reference.
            return Ok(unsafe { Bound::from_owned_ptr(self.py, object) });
        }
        // SAFETY: a new reference, or NULL with an error set.
        Ok(unsafe { Bound::from_owned_ptr_or_err(self.py, ffi::PyLong_FromLongLong(value))? })
    }

    fn value(&self, term: Term, depth: usize) -> Decoded<'py> {
        if depth > MAX_DEPTH {
            return Err(ConvertError::TooDeep);
        }
        let py = self.py;
        match term.get_type() {
            TermType::Atom => self.atom(term),
            TermType::Integer => match small_int(term) {
                Some(value) => self.int(value),
                None => big_integer(py, term),
            },
            TermType::Float => {
                let mut f = 0.0;
                // SAFETY: `term` belongs to its env; the call only reads it.
                if unsafe {
                    rustler::sys::enif_get_double(
                        term.get_env().as_c_arg(),
                        term.as_c_arg(),
                        &mut f,
                    )
                } == 0
                {
                    return Err(ConvertError::Unsupported("float"));
                }
                Ok(PyFloat::new(py, f).into_any())
            }
            TermType::Binary => Ok(binary(py, term)?),
            TermType::List => self.list(term, depth),
            TermType::Tuple => self.tuple(term, depth),
            TermType::Map => self.map(term, depth),
            TermType::Pid => self.opaque(&self.types.pid, term),
            // A bare channel reference (as Erlang code holds it) is a channel too.
            TermType::Ref => {
                match term.decode::<rustler::ResourceArc<crate::channel::ChannelRef>>() {
                    Ok(channel) => self.channel_of(&channel),
                    Err(_) => self.opaque(&self.types.reference, term),
                }
            }
            TermType::Fun => Err(ConvertError::Unsupported("functions")),
            TermType::Port => Err(ConvertError::Unsupported("ports")),
            TermType::Unknown => Err(ConvertError::Unsupported("this term")),
        }
    }

    fn atom(&self, term: Term) -> Decoded<'py> {
        let py = self.py;
        let atom = Atom::from_term(term).map_err(|_| ConvertError::Unsupported("atom"))?;
        if atom == atoms::nil() {
            Ok(py.None().into_bound(py))
        } else if atom == atoms::true_() {
            Ok(pyo3::types::PyBool::new(py, true).to_owned().into_any())
        } else if atom == atoms::false_() {
            Ok(pyo3::types::PyBool::new(py, false).to_owned().into_any())
        } else {
            let name = term
                .atom_to_string()
                .map_err(|_| ConvertError::Unsupported("atom"))?;
            Ok(PyString::new(py, &name).into_any())
        }
    }

    fn list(&self, term: Term, depth: usize) -> Decoded<'py> {
        let len = term.list_length().map_err(|_| ConvertError::ImproperList)?;
        // SAFETY: a new list of `len` empty slots, which `fill` fills.
        let list = unsafe { Bound::from_owned_ptr_or_err(self.py, ffi::PyList_New(len as isize))? };
        self.fill(&list, ffi::PyList_SET_ITEM, term, len, depth + 1)?;
        Ok(list)
    }

    /// A call's positional arguments: an Elixir list straight into a tuple.
    pub fn args(&self, term: Term) -> Result<Bound<'py, PyTuple>, ConvertError> {
        let len = term
            .list_length()
            .map_err(|_| ConvertError::Unsupported("arguments other than a proper list"))?;
        // SAFETY: a new tuple of `len` empty slots, which `fill` fills.
        let tuple =
            unsafe { Bound::from_owned_ptr_or_err(self.py, ffi::PyTuple_New(len as isize))? };
        self.fill(&tuple, ffi::PyTuple_SET_ITEM, term, len, 1)?;
        Ok(tuple.cast_into::<PyTuple>().map_err(PyErr::from)?)
    }

    /// Converts the `len` elements of the proper list `term` into the empty slots of
    /// a new list or tuple. A container left with empty slots by an early error is
    /// still safe to free.
    fn fill(
        &self,
        container: &Bound<'py, PyAny>,
        set_item: unsafe fn(*mut ffi::PyObject, ffi::Py_ssize_t, *mut ffi::PyObject),
        term: Term,
        len: usize,
        depth: usize,
    ) -> Result<(), ConvertError> {
        let env = term.get_env();
        let mut rest = term.as_c_arg();
        for index in 0..len {
            let (mut head, mut tail) = (rest, rest);
            // SAFETY: `rest` is a term of `env`; the call only reads it. (rustler's
            // `list_get_cell` builds and drops a `Result` per element: a third of
            // decoding a list of numbers.)
            if unsafe {
                rustler::sys::enif_get_list_cell(env.as_c_arg(), rest, &mut head, &mut tail)
            } == 0
            {
                return Err(ConvertError::ImproperList);
            }
            // SAFETY: `head` was just read from a list of `env`.
            let head = unsafe { Term::new(env, head) };
            let item = match small_int(head) {
                Some(value) => self.int(value)?,
                None => self.value(head, depth)?,
            };
            // SAFETY: `index` is in bounds and its slot is empty; the container takes
            // the reference.
            unsafe { set_item(container.as_ptr(), index as isize, item.into_ptr()) };
            rest = tail;
        }
        Ok(())
    }

    fn tuple(&self, term: Term, depth: usize) -> Decoded<'py> {
        let items = rustler::types::tuple::get_tuple(term)
            .map_err(|_| ConvertError::Unsupported("tuple"))?;
        // `{:bytes, b}` and `{:buffer, b}` mark binaries that must stay bytes in Python.
        if let [tag, payload] = items.as_slice() {
            if payload.is_binary() {
                if let Ok(tag) = Atom::from_term(*tag) {
                    if tag == atoms::bytes() {
                        let bin = Binary::from_term(*payload)
                            .map_err(|_| ConvertError::Unsupported("binary"))?;
                        return Ok(PyBytes::new(self.py, bin.as_slice()).into_any());
                    }
                    if tag == atoms::buffer() {
                        return crate::buffer::memoryview(self.py, &self.types.buffer, *payload);
                    }
                }
            }
        }
        let mut converted = Vec::with_capacity(items.len());
        for item in items {
            converted.push(self.value(item, depth + 1)?);
        }
        Ok(PyTuple::new(self.py, converted)?.into_any())
    }

    fn map(&self, term: Term, depth: usize) -> Decoded<'py> {
        if let Ok(name) = term.map_get(atoms::__struct__()) {
            if let Ok(name) = Atom::from_term(name) {
                if name == atoms::elixir_py_object() {
                    return self.object(term);
                }
                if name == atoms::elixir_mapset() {
                    return self.mapset(term, depth);
                }
                if name == atoms::elixir_py_channel() {
                    return self.channel(term);
                }
            }
        }
        let dict = presized_dict(self.py, term)?;
        let iter =
            rustler::types::map::MapIterator::new(term).ok_or(ConvertError::Unsupported("map"))?;
        for (key, value) in iter {
            let key = self.value(key, depth + 1)?;
            let value = self.value(value, depth + 1)?;
            dict.set_item(key, value)
                .map_err(|err| unhashable(self.py, err))?;
        }
        Ok(dict.into_any())
    }

    fn mapset(&self, term: Term, depth: usize) -> Decoded<'py> {
        let set = PySet::empty(self.py)?;
        let members = term
            .map_get(atoms::map())
            .map_err(|_| ConvertError::Unsupported("this MapSet"))?;
        let iter = rustler::types::map::MapIterator::new(members)
            .ok_or(ConvertError::Unsupported("this MapSet"))?;
        for (member, _) in iter {
            let member = self.value(member, depth + 1)?;
            set.add(member).map_err(|err| unhashable(self.py, err))?;
        }
        Ok(set.into_any())
    }

    fn object(&self, term: Term) -> Decoded<'py> {
        let handle = term
            .map_get(atoms::ref_())
            .and_then(|r| r.decode::<rustler::ResourceArc<PyObj>>())
            .map_err(|_| ConvertError::Unsupported("a Py.Object without a live handle"))?;
        handle.bind(self.py, self.interp)
    }

    /// A `%Py.Channel{}` becomes an `erlang.Channel` reading the same queue.
    fn channel(&self, term: Term) -> Decoded<'py> {
        let channel = term
            .map_get(atoms::ref_())
            .and_then(|r| r.decode::<rustler::ResourceArc<crate::channel::ChannelRef>>())
            .map_err(|_| ConvertError::Unsupported("a Py.Channel without a live channel"))?;
        self.channel_of(&channel)
    }

    fn channel_of(&self, channel: &crate::channel::ChannelRef) -> Decoded<'py> {
        let make = self.py.import("erlang")?.getattr("_channel")?;
        Ok(make.call1((channel.0.id, channel.0.bytes_mode))?)
    }

    fn opaque(&self, class: &Py<pyo3::types::PyType>, term: Term) -> Decoded<'py> {
        let etf = term.to_binary();
        let bytes = PyBytes::new(self.py, etf.as_slice());
        Ok(class.bind(self.py).call1((bytes,))?)
    }
}

extern "C" {
    /// Exported by every CPython build this crate supports (3.11 to 3.14, also
    /// free-threaded); pyo3 leaves it out as private.
    fn _PyDict_NewPresized(minused: ffi::Py_ssize_t) -> *mut ffi::PyObject;
}

/// An empty dict with room for the map's entries: filling it never resizes, which
/// for a thousand keys is a tenth of the conversion.
fn presized_dict<'py>(py: Python<'py>, map: Term) -> Result<Bound<'py, PyDict>, ConvertError> {
    let size = map.map_size().unwrap_or(0);
    let size = ffi::Py_ssize_t::try_from(size).unwrap_or(0);
    // SAFETY: a new reference, or NULL with an error set; the object is a dict.
    let dict = unsafe { Bound::from_owned_ptr_or_err(py, _PyDict_NewPresized(size))? };
    // SAFETY: `_PyDict_NewPresized` returns a dict.
    Ok(unsafe { dict.cast_into_unchecked() })
}

/// The integer `term` holds if it fits 64 bits: one call for the elements of numeric
/// lists, instead of a type dispatch and then a decode.
#[inline(always)]
fn small_int(term: Term) -> Option<i64> {
    let mut value: i64 = 0;
    // SAFETY: `term` belongs to its env; the call only reads it.
    let ok = unsafe {
        rustler::sys::enif_get_int64(term.get_env().as_c_arg(), term.as_c_arg(), &mut value)
    };
    (ok != 0).then_some(value)
}

/// An integer past 64 bits.
fn big_integer<'py>(py: Python<'py>, term: Term) -> Decoded<'py> {
    // rustler and pyo3 depend on different num-bigint releases: cross via bytes.
    let big: rustler::BigInt = term
        .decode()
        .map_err(|_| ConvertError::Unsupported("integer"))?;
    let big = num_bigint::BigInt::from_signed_bytes_le(&big.to_signed_bytes_le());
    Ok(big.into_pyobject(py)?.into_any())
}

fn binary<'py>(py: Python<'py>, term: Term) -> Decoded<'py> {
    let bin = Binary::from_term(term).map_err(|_| ConvertError::Unsupported("bitstring"))?;
    let bytes = bin.as_slice();
    if bytes.is_ascii() {
        return ascii(py, bytes);
    }
    Ok(match std::str::from_utf8(bytes) {
        Ok(text) => PyString::new(py, text).into_any(),
        Err(_) => PyBytes::new(py, bytes).into_any(),
    })
}

/// A `str` of ASCII bytes, copied in as they are: ASCII needs no decoding, and
/// checking for it is cheaper than validating UTF-8 and then decoding it again.
fn ascii<'py>(py: Python<'py>, bytes: &[u8]) -> Decoded<'py> {
    // SAFETY: a new compact ASCII string of `bytes.len()` characters, whose data is
    // filled before anything else sees it (CPython's own way to make one).
    unsafe {
        let text = Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_New(bytes.len() as ffi::Py_ssize_t, 127),
        )?;
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            ffi::PyUnicode_1BYTE_DATA(text.as_ptr()),
            bytes.len(),
        );
        Ok(text)
    }
}

fn unhashable(py: Python<'_>, err: PyErr) -> ConvertError {
    if err.is_instance_of::<pyo3::exceptions::PyTypeError>(py) {
        ConvertError::UnhashableKey
    } else {
        ConvertError::Python(err)
    }
}
