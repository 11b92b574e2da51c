//! The process-wide C audit hook: the fork guard and the opt-in sandbox.
//!
//! One hook serves every interpreter (a C hook added with `PySys_AddAuditHook` is
//! process-wide, subinterpreters included). It is written in C terms so that an audit
//! event costs a few byte compares and no Python call: `eval` and `compile` fire events
//! on every request.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use pyo3::ffi;

/// Whether `os.fork()` may run (config `:allow_fork`): forking the main interpreter
/// copies the whole VM, which is almost never what anyone wants.
static ALLOW_FORK: AtomicBool = AtomicBool::new(false);

/// The audit events the sandbox refuses. Set at most once: a sandbox that code could
/// switch off again would not be one.
static SANDBOX: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

extern "C" {
    fn PySys_AddAuditHook(
        hook: Option<unsafe extern "C" fn(*const c_char, *mut ffi::PyObject, *mut c_void) -> c_int>,
        data: *mut c_void,
    ) -> c_int;
}

/// Adds the hook. Called once, while the runtime starts.
///
/// # Safety
/// Python must be initialised and the calling thread attached.
pub unsafe fn install() -> bool {
    PySys_AddAuditHook(Some(audit), std::ptr::null_mut()) == 0
}

pub fn allow_fork(allow: bool) {
    ALLOW_FORK.store(allow, Ordering::Relaxed);
}

/// Turns the sandbox on with these blocked events. False if it was already on.
pub fn sandbox(events: Vec<String>) -> bool {
    SANDBOX
        .set(events.into_iter().map(String::into_bytes).collect())
        .is_ok()
}

/// The events the sandbox blocks (empty when it is off).
pub fn sandbox_events() -> Vec<String> {
    SANDBOX
        .get()
        .map(|events| {
            events
                .iter()
                .map(|event| String::from_utf8_lossy(event).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

unsafe extern "C" fn audit(
    event: *const c_char,
    args: *mut ffi::PyObject,
    _: *mut c_void,
) -> c_int {
    let event = CStr::from_ptr(event).to_bytes();
    if let Some(blocked) = SANDBOX.get() {
        if blocked.iter().any(|b| b == event) && !loads_own_process(event, args) {
            let message = format!(
                "{} is blocked by the erlang_python sandbox (config :erlang_python, sandbox: ...)",
                String::from_utf8_lossy(event)
            );
            // The message has no NUL: it is built from an event name that came as a C string.
            let message = CString::new(message).unwrap_or_default();
            ffi::PyErr_SetString(ffi::PyExc_PermissionError, message.as_ptr());
            return -1;
        }
    }
    if (event == b"os.fork" || event == b"os.forkpty") && !ALLOW_FORK.load(Ordering::Relaxed) {
        ffi::PyErr_SetString(
            ffi::PyExc_RuntimeError,
            c"os.fork() is refused inside the BEAM: it would copy the whole VM. Use subprocess or multiprocessing with the 'spawn' or 'forkserver' start method, or set config :erlang_python, allow_fork: true".as_ptr(),
        );
        return -1;
    }
    0
}

/// `import ctypes` opens the running process (`dlopen(NULL)`) to find libpython;
/// blocking that would break every library that merely imports ctypes. Opening a
/// named library is what an escape needs, and stays blocked.
unsafe fn loads_own_process(event: &[u8], args: *mut ffi::PyObject) -> bool {
    if event != b"ctypes.dlopen" || args.is_null() || ffi::PyTuple_Check(args) == 0 {
        return false;
    }
    ffi::PyTuple_Size(args) >= 1 && ffi::PyTuple_GetItem(args, 0) == ffi::Py_None()
}
