//! The value of a small exact int read straight from the object, as CPython's own
//! inline `PyUnstable_Long_CompactValue` does (3.12+; pyo3 does not bind it).
//! Through `PyLong_AsLongAndOverflow` it was a tenth of returning a list of ints.
//!
//! Since 3.12 an int is the object header, a tag (sign in the low two bits, digit
//! count above the three low bits), then its digits; a *compact* int has at most one
//! digit. The digit size is a build option: the read is used only once `enable` has
//! seen 30-bit digits in 32-bit words (`sys.int_info`), the default on 64-bit builds.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::ffi;
use pyo3::prelude::*;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the direct read on if this interpreter's ints have the layout it reads.
pub fn enable(py: Python<'_>) {
    if cfg!(Py_3_12) {
        let digits = py
            .import("sys")
            .and_then(|sys| sys.getattr("int_info"))
            .and_then(|info| {
                Ok((
                    info.getattr("bits_per_digit")?.extract::<u32>()?,
                    info.getattr("sizeof_digit")?.extract::<u32>()?,
                ))
            });
        ENABLED.store(matches!(digits, Ok((30, 4))), Ordering::Relaxed);
    }
}

/// The value of `ptr`, an exact int, when it is compact (|value| < 2^30).
///
/// # Safety
/// `ptr` must be a live exact `int` and the thread attached.
#[inline(always)]
pub unsafe fn value(ptr: *mut ffi::PyObject) -> Option<i64> {
    if !cfg!(Py_3_12) || !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: an exact int of 3.12+ has a `usize` tag right after its header and, when
    // compact, one 32-bit digit after the tag (checked by `enable`). Each field is
    // read on its own: a compact int's allocation may end right after its digit.
    let (tag, digit) = unsafe {
        let tag = ptr.cast::<u8>().add(std::mem::size_of::<ffi::PyObject>());
        let tag_value = tag.cast::<usize>().read();
        let digit = tag.add(std::mem::size_of::<usize>()).cast::<u32>();
        (tag_value, digit)
    };
    // Digit count in the bits above the low three; compact means 0 or 1 digits.
    if tag >= 2 << 3 {
        return None;
    }
    // Low two bits: 0 positive, 1 zero, 2 negative.
    let sign = 1 - (tag & 3) as i64;
    // SAFETY: compact, so the digit is there (CPython gives zero one as well; its
    // sign makes the product 0 whatever it holds).
    Some(sign * i64::from(unsafe { digit.read() }))
}
