//! OWN_GIL subinterpreters (PEP 684, Python 3.12+): raw `pyo3::ffi` lives here.
//!
//! Each subinterpreter belongs to one context thread, which creates it, enters it for
//! every batch of requests and ends it. A companion thread holds a second thread state
//! in the same interpreter, because raising an interrupt needs a thread attached to the
//! target's own interpreter (from another interpreter it finds nothing, and with no
//! thread state at all it crashes). It is created on a fresh thread on purpose:
//! a thread state made on a shared thread would capture that thread's later attaches.

use std::sync::Weak;
use std::thread::JoinHandle;

use pyo3::ffi;

use crate::context::Context;

/// Creates an OWN_GIL subinterpreter and returns its thread state, attached.
///
/// # Safety
/// The calling thread must have no Python thread state attached.
#[cfg(Py_3_12)]
pub unsafe fn create() -> Result<*mut ffi::PyThreadState, String> {
    let config = ffi::PyInterpreterConfig {
        // An own GIL must never share the main allocator (3.14 accepts it, then
        // corrupts memory under parallel use).
        use_main_obmalloc: 0,
        // fork() would copy the whole VM; CPython refuses it in subinterpreters with
        // a RuntimeError. fork+exec (subprocess, multiprocessing's spawn) is fine.
        allow_fork: 0,
        allow_exec: 1,
        allow_threads: 1,
        allow_daemon_threads: 0,
        // Extensions that do not declare subinterpreter support refuse to import,
        // with an ImportError naming them, instead of crashing later.
        check_multi_interp_extensions: 1,
        gil: ffi::PyInterpreterConfig_OWN_GIL,
    };
    let mut tstate = std::ptr::null_mut();
    let status = ffi::Py_NewInterpreterFromConfig(&mut tstate, &config);
    if ffi::PyStatus_Exception(status) != 0 || tstate.is_null() {
        let why = if status.err_msg.is_null() {
            "cannot create a subinterpreter".to_string()
        } else {
            std::ffi::CStr::from_ptr(status.err_msg)
                .to_string_lossy()
                .into_owned()
        };
        return Err(why);
    }
    Ok(tstate)
}

/// # Safety
/// See the 3.12+ version.
#[cfg(not(Py_3_12))]
pub unsafe fn create() -> Result<*mut ffi::PyThreadState, String> {
    Err("subinterpreters need Python 3.12 or later".to_string())
}

/// Ends the interpreter of `tstate` after the interrupter has removed its thread state.
///
/// # Safety
/// `tstate` is detached, belongs to the calling thread and is its interpreter's last
/// thread state once `interrupter` is joined.
pub unsafe fn end(tstate: *mut ffi::PyThreadState, interrupter: Option<Interrupter>) {
    if let Some(interrupter) = interrupter {
        interrupter.join();
    }
    ffi::PyEval_RestoreThread(tstate);
    ffi::Py_EndInterpreter(tstate);
}

/// The companion thread that raises interrupts in one subinterpreter.
pub struct Interrupter {
    tx: flume::Sender<u64>,
    thread: JoinHandle<()>,
}

/// A raw interpreter pointer, moved to the companion thread once.
struct InterpPtr(*mut ffi::PyInterpreterState);

// SAFETY: the pointer is only used by the companion thread, with the interpreter's own
// API, while the interpreter lives (it is ended only after the companion is joined).
unsafe impl Send for InterpPtr {}

impl Interrupter {
    pub fn spawn(
        interp: *mut ffi::PyInterpreterState,
        context: Weak<Context>,
    ) -> Result<Interrupter, String> {
        let (tx, rx) = flume::unbounded::<u64>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let interp = InterpPtr(interp);
        let thread = std::thread::Builder::new()
            .name("py-interrupter".into())
            .spawn(move || {
                let interp = interp;
                // SAFETY: a fresh thread with no thread state; the interpreter is alive.
                let tstate = unsafe { ffi::PyThreadState_New(interp.0) };
                let _ = ready_tx.send(!tstate.is_null());
                if tstate.is_null() {
                    return;
                }
                while let Ok(id) = rx.recv() {
                    if let Some(context) = context.upgrade() {
                        // SAFETY: attached to the context's interpreter while raising.
                        unsafe {
                            ffi::PyEval_RestoreThread(tstate);
                            context.interrupt_if_running(id);
                            ffi::PyEval_SaveThread();
                        }
                    }
                }
                // SAFETY: deletes this thread's own state before the interpreter ends.
                unsafe {
                    ffi::PyEval_RestoreThread(tstate);
                    ffi::PyThreadState_Clear(tstate);
                    ffi::PyThreadState_DeleteCurrent();
                }
            })
            .map_err(|err| format!("cannot start the interrupter thread: {err}"))?;
        match ready_rx.recv() {
            Ok(true) => Ok(Interrupter { tx, thread }),
            _ => Err("cannot create the interrupter's thread state".to_string()),
        }
    }

    pub fn sender(&self) -> flume::Sender<u64> {
        self.tx.clone()
    }

    /// Waits for the companion to delete its thread state and exit. Every other sender
    /// must be dropped first.
    fn join(self) {
        drop(self.tx);
        let _ = self.thread.join();
    }
}
