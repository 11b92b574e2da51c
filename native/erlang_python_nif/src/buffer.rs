//! `{:buffer, binary}`: Python sees the binary's bytes through a read-only memoryview,
//! without a copy.
//!
//! The view's exporter is a small `erlang.Buffer` object that owns a process-independent
//! environment holding a reference to the binary, so the bytes stay put for as long as
//! Python holds the view (or anything made from it, such as `numpy.frombuffer`).
//! Binaries of 64 bytes or less live on process heaps and are copied into that
//! environment; larger ones are reference-counted and shared.
//!
//! The type is made per interpreter with `PyType_FromSpec`: no static Python objects.

use std::ffi::{c_int, c_void};
use std::ptr;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;
use rustler::{Binary, OwnedEnv, Term};

use crate::convert::ConvertError;

#[repr(C)]
struct BufferObject {
    ob_base: ffi::PyObject,
    owner: *mut Owner,
}

/// Keeps the binary alive; `data`/`len` point into it.
struct Owner {
    _env: OwnedEnv,
    data: *const u8,
    len: usize,
}

/// Creates the `erlang.Buffer` type in the current interpreter.
pub fn make_type(py: Python<'_>) -> PyResult<Py<PyType>> {
    let mut slots = [
        ffi::PyType_Slot {
            slot: ffi::Py_bf_getbuffer,
            pfunc: get_buffer as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_dealloc,
            pfunc: dealloc as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_doc,
            pfunc: c"Read-only bytes of an Erlang binary.".as_ptr() as *mut c_void,
        },
        ffi::PyType_Slot::default(),
    ];
    let mut spec = ffi::PyType_Spec {
        name: c"erlang.Buffer".as_ptr(),
        basicsize: std::mem::size_of::<BufferObject>() as c_int,
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: the spec and slots outlive the call (CPython copies what it keeps).
    let class = unsafe { ffi::PyType_FromSpec(&mut spec) };
    // SAFETY: a new reference or NULL with an exception set.
    let class = unsafe { Bound::from_owned_ptr_or_err(py, class)? };
    Ok(class.cast_into::<PyType>()?.unbind())
}

/// A read-only memoryview over `term`'s bytes.
pub fn memoryview<'py>(
    py: Python<'py>,
    class: &Py<PyType>,
    term: Term,
) -> Result<Bound<'py, PyAny>, ConvertError> {
    let env = OwnedEnv::new();
    let saved = env.save(term);
    let (data, len) = env
        .run(|env| {
            Binary::from_term(saved.load(env)).map(|bin| (bin.as_slice().as_ptr(), bin.len()))
        })
        .map_err(|_| ConvertError::Unsupported("a {:buffer, _} without a binary"))?;
    let owner = Box::into_raw(Box::new(Owner {
        _env: env,
        data,
        len,
    }));
    // SAFETY: allocates an instance of our type; on success we own the reference and
    // fill in the owner before anyone else sees it.
    unsafe {
        let obj = ffi::PyType_GenericAlloc(class.as_ptr() as *mut ffi::PyTypeObject, 0);
        if obj.is_null() {
            drop(Box::from_raw(owner));
            return Err(PyErr::fetch(py).into());
        }
        (*(obj as *mut BufferObject)).owner = owner;
        let exporter = Bound::from_owned_ptr(py, obj);
        let view = ffi::PyMemoryView_FromObject(exporter.as_ptr());
        Ok(Bound::from_owned_ptr_or_err(py, view)?)
    }
}

unsafe extern "C" fn get_buffer(
    exporter: *mut ffi::PyObject,
    view: *mut ffi::Py_buffer,
    flags: c_int,
) -> c_int {
    let owner = (*(exporter as *mut BufferObject)).owner;
    if owner.is_null() {
        ffi::PyErr_SetString(ffi::PyExc_BufferError, c"empty erlang.Buffer".as_ptr());
        return -1;
    }
    // PyBuffer_FillInfo refuses PyBUF_WRITABLE requests for a read-only buffer.
    ffi::PyBuffer_FillInfo(
        view,
        exporter,
        (*owner).data as *mut c_void,
        (*owner).len as ffi::Py_ssize_t,
        1,
        flags,
    )
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    let this = obj as *mut BufferObject;
    let owner = std::mem::replace(&mut (*this).owner, ptr::null_mut());
    if !owner.is_null() {
        drop(Box::from_raw(owner));
    }
    let class = ffi::Py_TYPE(obj);
    let free = ffi::PyType_GetSlot(class, ffi::Py_tp_free);
    if !free.is_null() {
        let free: ffi::freefunc = std::mem::transmute(free);
        free(obj as *mut c_void);
    }
    // Instances of heap types hold a reference to their type.
    ffi::Py_DECREF(class as *mut ffi::PyObject);
}
