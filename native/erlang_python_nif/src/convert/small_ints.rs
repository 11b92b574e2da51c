//! Python ints for the small integers that arguments carry most often (indices,
//! counts, codes), made once per context thread and shared by every conversion on
//! it. Decoding a list of them then costs a reference count per element instead of
//! an allocation, and freeing the list later frees none of them. CPython itself
//! shares -5..=256 the same way; ints are immutable, so sharing is invisible except
//! to `is`.

use std::cell::Cell;
use std::ptr::null_mut;

use pyo3::ffi;
use pyo3::prelude::*;

const MIN: i64 = -256;
/// -256 ..= 16 383: a table of 133 KB per context, filled as values are met.
const COUNT: usize = 16_640;

pub struct SmallInts {
    /// Owned references, null until the value is first decoded.
    slots: Box<[Cell<*mut ffi::PyObject>]>,
}

impl SmallInts {
    pub fn new() -> SmallInts {
        SmallInts {
            slots: (0..COUNT).map(|_| Cell::new(null_mut())).collect(),
        }
    }

    /// A new reference to the int `value`; `None` outside the range (or if Python
    /// could not make it: the caller then makes it the usual way and sees why).
    #[inline]
    pub fn get(&self, _py: Python<'_>, value: i64) -> Option<*mut ffi::PyObject> {
        // Below MIN this wraps to a huge index, past the table's end like values above it.
        let slot = self.slots.get(value.wrapping_sub(MIN) as usize)?;
        let mut object = slot.get();
        if object.is_null() {
            // SAFETY: attached (the `py` token); a new reference or NULL.
            object = unsafe { ffi::PyLong_FromLongLong(value) };
            if object.is_null() {
                // SAFETY: attached; the error is raised again by the usual path.
                unsafe { ffi::PyErr_Clear() };
                return None;
            }
            slot.set(object);
        }
        // SAFETY: attached; `object` is a live int this table holds a reference to.
        unsafe { ffi::Py_INCREF(object) };
        Some(object)
    }
}

impl Drop for SmallInts {
    /// Runs where the context drops its interpreter state: attached to it.
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            let object = slot.get();
            if !object.is_null() {
                // SAFETY: attached (see above); this table owns the reference.
                unsafe { ffi::Py_DECREF(object) };
            }
        }
    }
}
