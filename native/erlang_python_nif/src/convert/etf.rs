//! Python object → Erlang external term format, for large structured replies.
//!
//! Building terms from a context thread goes through `enif_make_*` one term at a
//! time: each small binary allocates on the reply environment's heap, and a map of
//! more than 32 keys must be built one `enif_make_map_put` at a time (the call that
//! builds a large map at once needs a scheduler's temporary allocator). For a
//! 1 000-key map of strings that was half a millisecond. Writing the same value as
//! external term format is a few copies into one buffer; the caller turns it into
//! terms with `:erlang.binary_to_term/2`, on its own scheduler, onto its own heap,
//! in one pass (and in reduction-counted steps, so a huge reply never blocks it).
//!
//! The result is the same term the term encoder (`encode`) builds. Values that
//! must stay terms (object handles, channels) or whose conversion could clash
//! (map keys other than exact `str` and `int`) make `encode_ok` return `None`, and
//! the caller uses the term encoder instead.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PySet, PyString,
    PyTuple,
};
use rustler::Env;

use super::{ConvertError, ErlangTypes, MAX_DEPTH};

const VERSION: u8 = 131;
const NEW_FLOAT_EXT: u8 = 70;
const SMALL_INTEGER_EXT: u8 = 97;
const INTEGER_EXT: u8 = 98;
const SMALL_TUPLE_EXT: u8 = 104;
const LARGE_TUPLE_EXT: u8 = 105;
const NIL_EXT: u8 = 106;
const LIST_EXT: u8 = 108;
const BINARY_EXT: u8 = 109;
const SMALL_BIG_EXT: u8 = 110;
const LARGE_BIG_EXT: u8 = 111;
const MAP_EXT: u8 = 116;
const SMALL_ATOM_UTF8_EXT: u8 = 119;

/// Below this many elements a reply is cheaper to build as terms.
const WORTH_MIN: usize = 16;

/// Whether `value` is a reply worth encoding this way: a container large enough,
/// and not a list of numbers, which the term encoder builds faster than
/// `binary_to_term` decodes them.
pub fn worth_it(value: &Bound<'_, PyAny>) -> bool {
    // Exact types only: a subclass may convert through Python code of its own.
    if value.is_exact_instance_of::<PyDict>() {
        return value.len().is_ok_and(|len| len >= WORTH_MIN);
    }
    // `get_item` makes a new reference: on a free-threaded build another thread may
    // change the list meanwhile.
    let (len, first) = if let Ok(list) = value.cast_exact::<PyList>() {
        (list.len(), list.get_item(0))
    } else if let Ok(tuple) = value.cast_exact::<PyTuple>() {
        (tuple.len(), tuple.get_item(0))
    } else {
        return false;
    };
    len >= WORTH_MIN
        && first.is_ok_and(|first| {
            !first.is_exact_instance_of::<PyInt>() && !first.is_exact_instance_of::<PyFloat>()
        })
}

/// `{:ok, value}` in external term format, or `None` when `value` holds something
/// only the term encoder can convert. `env` is used only to check that atoms exist.
pub fn encode_ok(
    py: Python<'_>,
    env: Env<'_>,
    types: &ErlangTypes,
    value: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
) -> Result<bool, ConvertError> {
    out.clear();
    out.push(VERSION);
    out.extend_from_slice(&[SMALL_TUPLE_EXT, 2]);
    atom(out, "ok");
    Writer {
        py,
        env,
        types,
        out,
    }
    .value(value, 0)
}

struct Writer<'a, 'e, 'py> {
    py: Python<'py>,
    env: Env<'e>,
    types: &'a ErlangTypes,
    out: &'a mut Vec<u8>,
}

/// `Ok(false)`: not writable here (the term encoder takes over).
type Written = Result<bool, ConvertError>;

impl Writer<'_, '_, '_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    fn value(&mut self, obj: &Bound<'_, PyAny>, depth: usize) -> Written {
        if depth > MAX_DEPTH {
            return Err(ConvertError::TooDeep);
        }
        // The same order of checks as the term encoder, so subclasses convert alike.
        if obj.is_none() {
            atom(self.out, "nil");
            return Ok(true);
        }
        if let Ok(flag) = obj.cast::<PyBool>() {
            atom(self.out, if flag.is_true() { "true" } else { "false" });
            return Ok(true);
        }
        if let Ok(int) = obj.cast::<PyInt>() {
            return self.integer(int);
        }
        if let Ok(float) = obj.cast::<PyFloat>() {
            float_ext(self.out, float.value());
            return Ok(true);
        }
        if let Ok(text) = obj.cast::<PyString>() {
            return self.string(text);
        }
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(binary_ext(self.out, bytes.as_bytes()));
        }
        if let Ok(list) = obj.cast::<PyList>() {
            return self.list(list, depth);
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            let len = tuple.len();
            if len <= u8::MAX as usize {
                self.put(&[SMALL_TUPLE_EXT, len as u8]);
            } else {
                self.put(&[LARGE_TUPLE_EXT]);
                self.put(&(len as u32).to_be_bytes());
            }
            for item in tuple.iter() {
                if !self.value(&item, depth + 1)? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        if let Ok(dict) = obj.cast::<PyDict>() {
            self.put(&[MAP_EXT]);
            self.put(&(dict.len() as u32).to_be_bytes());
            for (key, value) in dict.iter() {
                if !plain_key(&key) || !self.value(&key, depth + 1)? {
                    return Ok(false);
                }
                if !self.value(&value, depth + 1)? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        if let Ok(set) = obj.cast::<PySet>() {
            return self.mapset(set.iter(), set.len(), depth);
        }
        if let Ok(set) = obj.cast::<PyFrozenSet>() {
            return self.mapset(set.iter(), set.len(), depth);
        }
        if let Ok(bytes) = obj.cast::<PyByteArray>() {
            return Ok(binary_ext(self.out, &bytes.to_vec()));
        }
        let class = obj.get_type();
        if class.is(self.types.pid.bind(self.py)) || class.is(self.types.reference.bind(self.py)) {
            return self.opaque(obj);
        }
        if class.is(self.types.atom.bind(self.py)) {
            let (_, name) = super::encode::existing_atom(self.env, obj)?;
            let name = name.to_str()?;
            if name.len() > u8::MAX as usize {
                return Ok(false);
            }
            atom(self.out, name);
            return Ok(true);
        }
        // Channels and everything without an Elixir form become handles: terms only.
        Ok(false)
    }

    fn list(&mut self, list: &Bound<'_, PyList>, depth: usize) -> Written {
        let len = list.len();
        if len == 0 {
            self.put(&[NIL_EXT]);
            return Ok(true);
        }
        self.put(&[LIST_EXT]);
        let len_at = self.out.len();
        self.put(&(len as u32).to_be_bytes());
        // The list can change while its elements convert (a `__str__` of a subclass
        // runs Python code): count what was written, and patch the header.
        let mut written = 0u32;
        for item in list.iter() {
            if !self.value(&item, depth + 1)? {
                return Ok(false);
            }
            written += 1;
        }
        let out = &mut *self.out;
        out[len_at..len_at + 4].copy_from_slice(&written.to_be_bytes());
        out.push(NIL_EXT);
        Ok(true)
    }

    fn integer(&mut self, int: &Bound<'_, PyInt>) -> Written {
        let out = &mut *self.out;
        if let Ok(small) = int.extract::<i64>() {
            if (0..=255).contains(&small) {
                out.extend_from_slice(&[SMALL_INTEGER_EXT, small as u8]);
            } else if let Ok(small) = i32::try_from(small) {
                out.push(INTEGER_EXT);
                out.extend_from_slice(&small.to_be_bytes());
            } else {
                big_ext(out, small < 0, &small.unsigned_abs().to_le_bytes());
            }
            return Ok(true);
        }
        let big: num_bigint::BigInt = int.extract()?;
        let (sign, magnitude) = big.to_bytes_le();
        big_ext(out, sign == num_bigint::Sign::Minus, &magnitude);
        Ok(true)
    }

    fn string(&mut self, text: &Bound<'_, PyString>) -> Written {
        match text.to_str() {
            Ok(utf8) => Ok(binary_ext(self.out, utf8.as_bytes())),
            // Lone surrogates have no UTF-8 form; keep their bytes, as `encode` does.
            Err(_) => {
                let bytes = text.call_method1("encode", ("utf-8", "surrogatepass"))?;
                let bytes = bytes
                    .cast::<PyBytes>()
                    .map_err(|_| ConvertError::Unsupported("this str"))?;
                Ok(binary_ext(self.out, bytes.as_bytes()))
            }
        }
    }

    /// `%MapSet{map: %{member => []}, version: 2}`, as the term encoder builds it.
    fn mapset<'py>(
        &mut self,
        members: impl Iterator<Item = Bound<'py, PyAny>>,
        len: usize,
        depth: usize,
    ) -> Written {
        self.put(&[MAP_EXT, 0, 0, 0, 3]);
        atom(self.out, "__struct__");
        atom(self.out, "Elixir.MapSet");
        atom(self.out, "version");
        self.put(&[SMALL_INTEGER_EXT, 2]);
        atom(self.out, "map");
        self.put(&[MAP_EXT]);
        self.put(&(len as u32).to_be_bytes());
        for member in members {
            if !plain_key(&member) || !self.value(&member, depth + 1)? {
                return Ok(false);
            }
            self.put(&[NIL_EXT]);
        }
        Ok(true)
    }

    /// An `erlang.Pid` or `erlang.Ref` carries its own external format.
    fn opaque(&mut self, obj: &Bound<'_, PyAny>) -> Written {
        let etf = obj.getattr("_etf")?;
        let etf = etf
            .cast::<PyBytes>()
            .map_err(|_| ConvertError::Unsupported("a damaged erlang.Pid or erlang.Ref"))?;
        match etf.as_bytes() {
            [VERSION, rest @ ..] if !rest.is_empty() => {
                self.put(rest);
                Ok(true)
            }
            _ => Err(ConvertError::Unsupported(
                "a damaged erlang.Pid or erlang.Ref",
            )),
        }
    }
}

/// Map keys (and set members) written here: exact `str` and `int`, which never
/// convert to equal terms when distinct in Python. Others (bytes next to str, floats
/// with NaN) could collide, which the term encoder detects and reports.
fn plain_key(key: &Bound<'_, PyAny>) -> bool {
    // SAFETY: attached; `key` is a live object.
    unsafe {
        ffi::PyUnicode_CheckExact(key.as_ptr()) != 0 || ffi::PyLong_CheckExact(key.as_ptr()) != 0
    }
}

fn atom(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(&[SMALL_ATOM_UTF8_EXT, name.len() as u8]);
    out.extend_from_slice(name.as_bytes());
}

fn float_ext(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        atom(out, "nan");
    } else if value == f64::INFINITY {
        atom(out, "infinity");
    } else if value == f64::NEG_INFINITY {
        atom(out, "neg_infinity");
    } else {
        out.push(NEW_FLOAT_EXT);
        out.extend_from_slice(&value.to_bits().to_be_bytes());
    }
}

/// False for a binary too long for the format's 32-bit length.
fn binary_ext(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let Ok(len) = u32::try_from(bytes.len()) else {
        return false;
    };
    out.push(BINARY_EXT);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    true
}

/// A big integer from its magnitude, least significant byte first.
fn big_ext(out: &mut Vec<u8>, negative: bool, magnitude: &[u8]) {
    let len = magnitude
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(1, |last| last + 1);
    if len <= u8::MAX as usize {
        out.extend_from_slice(&[SMALL_BIG_EXT, len as u8]);
    } else {
        out.push(LARGE_BIG_EXT);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.push(negative as u8);
    out.extend_from_slice(&magnitude[..len]);
}
