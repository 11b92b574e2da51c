//! The watchdog interrupts requests whose caller gave up (timeout or death).
//!
//! It runs on the thread that initialised Python and owns the main thread state, so it
//! is always attached to the right interpreter when it raises into a context thread.
//! It may block for a long time behind C code holding the GIL, which is why it is a
//! dedicated thread and never a BEAM scheduler.

use std::sync::{Arc, OnceLock};

use pyo3::ffi;

use crate::context::Context;
use crate::runtime::attached;

static INTERRUPTS: OnceLock<flume::Sender<(Arc<Context>, u64)>> = OnceLock::new();

/// Asks the watchdog to interrupt request `id` on `context` if it is still running.
pub fn interrupt(context: Arc<Context>, id: u64) {
    if let Some(tx) = INTERRUPTS.get() {
        let _ = tx.send((context, id));
    }
}

pub fn serve(tstate: *mut ffi::PyThreadState) {
    let (tx, rx) = flume::unbounded();
    if INTERRUPTS.set(tx).is_err() {
        return;
    }
    while let Ok((context, id)) = rx.recv() {
        attached(tstate, |py| context.interrupt_if_running(py, id));
    }
}
