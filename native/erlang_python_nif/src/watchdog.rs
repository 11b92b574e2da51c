//! The watchdog interrupts requests whose caller gave up (timeout or death).
//!
//! It runs on the thread that initialised Python and owns the main thread state, so it
//! is always attached to the right interpreter when it raises into a context thread.
//! It may block for a long time behind C code holding the GIL, which is why it is a
//! dedicated thread and never a BEAM scheduler.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use pyo3::ffi;

use crate::context::Context;
use crate::object::Home;
use crate::runtime::attached;

static INTERRUPTS: OnceLock<flume::Sender<(Arc<Context>, u64)>> = OnceLock::new();

/// Every context, so the watchdog can find requests whose caller may have died.
static CONTEXTS: Mutex<Vec<Weak<Context>>> = Mutex::new(Vec::new());

/// How often the watchdog looks, and how old a request must be to get its caller
/// monitored: a dead caller's request stops within about twice this.
const TICK: Duration = Duration::from_millis(50);

pub fn register(context: &Arc<Context>) {
    let mut contexts = CONTEXTS.lock().unwrap_or_else(|poison| poison.into_inner());
    contexts.retain(|context| context.strong_count() > 0);
    contexts.push(Arc::downgrade(context));
}

/// Where objects made in interpreter `interp` are released: the janitor for the main
/// interpreter, the owning context thread for a subinterpreter.
pub fn home_of(interp: i64) -> Option<Home> {
    let runtime = crate::runtime::get()?;
    if runtime.home.interp == interp {
        return Some(runtime.home.clone());
    }
    CONTEXTS
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .iter()
        .find(|context| {
            context
                .upgrade()
                .is_some_and(|context| context.interp_id.load(Ordering::Relaxed) == interp)
        })
        .map(|context| Home::context(context.clone(), interp))
}

fn watch_callers() {
    let contexts: Vec<Arc<Context>> = CONTEXTS
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    for context in contexts {
        context.watch_callers(TICK);
    }
}

/// Asks the watchdog to interrupt request `id` on `context` if it is still running.
/// Subinterpreter contexts have an interrupter of their own; the watchdog serves the
/// main interpreter's.
pub fn interrupt(context: Arc<Context>, id: u64) {
    if let Some(interrupter) = context.interrupter() {
        let _ = interrupter.send(id);
    } else if let Some(tx) = INTERRUPTS.get() {
        let _ = tx.send((context, id));
    }
}

pub fn serve(tstate: *mut ffi::PyThreadState) {
    let (tx, rx) = flume::unbounded();
    if INTERRUPTS.set(tx).is_err() {
        return;
    }
    loop {
        match rx.recv_timeout(TICK) {
            // SAFETY: attached to the main interpreter, that of every worker context.
            Ok((context, id)) => {
                attached(tstate, |_py| unsafe { context.interrupt_if_running(id) })
            }
            Err(flume::RecvTimeoutError::Timeout) => watch_callers(),
            Err(flume::RecvTimeoutError::Disconnected) => return,
        }
    }
}
