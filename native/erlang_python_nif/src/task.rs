//! Event-loop tasks submitted straight from the BEAM.
//!
//! Each interpreter's asyncio loop (see `event_loop.rs`) owns an [`Inbox`]: a queue
//! and an eventfd the loop selects on. `loop_submit` pushes a task and writes the
//! eventfd only when the queue was empty, so a burst of submissions costs one wake-up
//! and the loop takes them as one batch. No context thread and no GIL hand-off are on
//! the path: the loop thread is the only one that runs the tasks' Python.
//!
//! A task's reply goes straight to its creator. Its state moves once from pending to
//! replied or cancelled (a compare-and-swap), so a cancelled task never sends anything
//! after `loop_cancel` returns. The creator holds a [`TaskHandle`]; when the creator
//! dies, the handle is garbage collected and the task cancelled (its `finally` runs).
//! Tasks hold a semaphore permit from submission until Python is done with them.

use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use rustler::env::SavedTerm;
use rustler::{Encoder, Env, LocalPid, OwnedEnv, Resource, Term};

use crate::atoms;
use crate::bridge::View;
use crate::convert::decode::Decoder;
use crate::convert::encode::Encoder_;
use crate::op::Op;

/// How long an idle loop watches its queue before it sleeps.
const IDLE_SPIN: Duration = Duration::from_micros(50);

const PENDING: u8 = 0;
const REPLIED: u8 = 1;
const CANCELLED: u8 = 2;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Where a task's messages go: `{ref, {:output, text}}` and `{ref, result}`.
struct ReplyTo {
    env: OwnedEnv,
    reference: SavedTerm,
    op: SavedTerm,
    /// `None` for detached tasks (`spawn_task`): nothing is sent.
    pid: Option<LocalPid>,
}

pub struct Task {
    id: u64,
    state: AtomicU8,
    permit: AtomicBool,
    reply: Mutex<Option<ReplyTo>>,
    inbox: Weak<Inbox>,
}

impl Task {
    fn settle(&self, to: u8) -> bool {
        self.state
            .compare_exchange(PENDING, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn release_permit(&self) {
        if self.permit.swap(false, Ordering::AcqRel) {
            crate::semaphore::release();
        }
    }

    /// Sends `{ref, message}` to the creator, `message` built in the reply's env.
    /// Consumes the reply: this is the task's last message.
    fn send_final<F>(&self, build: F)
    where
        F: for<'e> FnOnce(Env<'e>) -> Term<'e>,
    {
        let Some(mut reply) = lock(&self.reply).take() else {
            return;
        };
        if let Some(pid) = reply.pid {
            let reference = reply.reference;
            let _ = reply
                .env
                .send_and_clear(&pid, |env| (reference.load(env), build(env)).encode(env));
        }
    }

    /// Answers `{:error, :stopped}` if nothing was answered yet (the loop is gone).
    fn stop(&self) {
        if self.settle(REPLIED) {
            self.send_final(|env| (atoms::error(), atoms::stopped()).encode(env));
        }
        self.release_permit();
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.release_permit();
    }
}

/// What the creator holds: dropping it (the creator died) cancels the task.
pub struct TaskHandle(Arc<Task>);

#[rustler::resource_impl]
impl Resource for TaskHandle {}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        cancel(&self.0);
    }
}

enum Entry {
    Start(Arc<Task>),
    Cancel(u64),
}

/// An interpreter's task queue and the eventfd its loop selects on.
///
/// The eventfd is written only when the loop sleeps (or is about to): while the loop
/// is busy or spinning, submissions cost no syscall and no thread wake-up.
pub struct Inbox {
    queue: Mutex<Vec<Entry>>,
    /// Entries in `queue`, readable without its lock.
    queued: AtomicUsize,
    /// The loop is in (or entering) its selector's blocking wait.
    sleeping: AtomicBool,
    /// Tasks taken by the loop and not finished, by id.
    running: Mutex<HashMap<u64, Arc<Task>>>,
    fd: c_int,
    open: AtomicBool,
}

impl Inbox {
    fn new() -> Result<Inbox, String> {
        // SAFETY: plain syscall; the descriptor is owned by the inbox and closed on drop.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(Inbox {
            queue: Mutex::new(Vec::new()),
            queued: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            running: Mutex::new(HashMap::new()),
            fd,
            open: AtomicBool::new(true),
        })
    }

    /// Queues an entry, and wakes the loop if it sleeps.
    fn push(&self, entry: Entry) -> Result<(), Entry> {
        let mut queue = lock(&self.queue);
        if !self.open.load(Ordering::Acquire) {
            return Err(entry);
        }
        queue.push(entry);
        self.queued.store(queue.len(), Ordering::SeqCst);
        drop(queue);
        // Pairs with `idle`: either the loop sees the entry before it sleeps, or we
        // see it sleeping and wake it.
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.wake();
        }
        Ok(())
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. It cannot block
        // (non-blocking) and cannot overflow in practice (2^64 - 2 wakes).
        unsafe { libc::write(self.fd, (&one as *const u64).cast(), 8) };
    }

    fn take(&self) -> Vec<Entry> {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (no wake pending) is fine.
        unsafe { libc::read(self.fd, (&mut count as *mut u64).cast(), 8) };
        let mut queue = lock(&self.queue);
        self.queued.store(0, Ordering::SeqCst);
        std::mem::take(&mut *queue)
    }

    /// Called by the loop before it would block for up to `timeout` seconds (`None`:
    /// no limit). True when work is queued, so the loop should take it instead.
    /// Before sleeping, it watches the queue for a few microseconds with the GIL
    /// released: a steady stream of submissions then never pays for a wake-up.
    fn idle(&self, py: Python<'_>, timeout: Option<f64>) -> bool {
        if self.queued.load(Ordering::SeqCst) > 0 {
            return true;
        }
        if timeout == Some(0.0) {
            return false;
        }
        let spin = IDLE_SPIN.min(Duration::from_secs_f64(timeout.unwrap_or(1.0).max(0.0)));
        py.detach(|| {
            let started = Instant::now();
            while started.elapsed() < spin {
                if self.queued.load(Ordering::SeqCst) > 0 {
                    return true;
                }
                std::hint::spin_loop();
            }
            self.sleeping.store(true, Ordering::SeqCst);
            // A submission between the last look and `sleeping` saw no sleeper.
            self.queued.load(Ordering::SeqCst) > 0 && self.sleeping.swap(false, Ordering::SeqCst)
        })
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe { libc::close(self.fd) };
    }
}

/// The inbox of each interpreter whose loop runs, by `PyInterpreterState_GetID`.
fn inboxes() -> &'static Mutex<HashMap<i64, Arc<Inbox>>> {
    static INBOXES: OnceLock<Mutex<HashMap<i64, Arc<Inbox>>>> = OnceLock::new();
    INBOXES.get_or_init(Default::default)
}

pub fn inbox_of(interp: i64) -> Option<Arc<Inbox>> {
    lock(inboxes()).get(&interp).cloned()
}

pub enum Submitted {
    Handle(TaskHandle),
    Detached,
    Overloaded(usize, usize),
    Stopped,
}

/// Queues `op` (a call) as a task on `inbox`'s loop, copying `reference` and `op`.
pub fn submit(inbox: &Arc<Inbox>, pid: Option<LocalPid>, reference: Term, op: Term) -> Submitted {
    if let Err((current, max)) = crate::semaphore::acquire() {
        return Submitted::Overloaded(current, max);
    }
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let env = OwnedEnv::new();
    let task = Arc::new(Task {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        state: AtomicU8::new(PENDING),
        permit: AtomicBool::new(true),
        reply: Mutex::new(Some(ReplyTo {
            reference: env.save(reference),
            op: env.save(op),
            env,
            pid,
        })),
        inbox: Arc::downgrade(inbox),
    });
    if inbox.push(Entry::Start(task.clone())).is_err() {
        // Never started: dropping the task gives the permit back.
        return Submitted::Stopped;
    }
    match pid {
        Some(_) => Submitted::Handle(TaskHandle(task)),
        None => Submitted::Detached,
    }
}

/// Cancels a pending task: true when it was still pending (no reply will come).
pub fn cancel(task: &Arc<Task>) -> bool {
    if !task.settle(CANCELLED) {
        return false;
    }
    if let Some(inbox) = task.inbox.upgrade() {
        // A closed inbox has already cancelled its tasks.
        let _ = inbox.push(Entry::Cancel(task.id));
    }
    true
}

pub fn cancel_handle(handle: &TaskHandle) -> bool {
    cancel(&handle.0)
}

// ---------------------------------------------------------------------------------
// The loop's side, called from Python on the loop thread.

fn current_interp() -> i64 {
    // SAFETY: called from Python, so attached with a current interpreter.
    unsafe { pyo3::ffi::PyInterpreterState_GetID(pyo3::ffi::PyInterpreterState_Get()) }
}

/// `_loop_attach()`: makes this interpreter's inbox and returns the eventfd to select on.
fn attach(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // Named for `top -H` and profilers; it would otherwise carry its creator's name.
    // SAFETY: sets the calling thread's name from a NUL-terminated literal.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"py-event-loop".as_ptr()) };
    let inbox = Arc::new(Inbox::new().map_err(PyRuntimeError::new_err)?);
    let fd = inbox.fd;
    if let Some(old) = lock(inboxes()).insert(current_interp(), inbox) {
        close(&old);
    }
    fd.into_py_any(py)
}

/// `_loop_detach()`: no more submissions; every task not answered yet gets
/// `{:error, :stopped}`.
fn detach() {
    if let Some(inbox) = lock(inboxes()).remove(&current_interp()) {
        close(&inbox);
    }
}

fn close(inbox: &Inbox) {
    let queued = {
        let mut queue = lock(&inbox.queue);
        inbox.open.store(false, Ordering::Release);
        std::mem::take(&mut *queue)
    };
    for entry in queued {
        if let Entry::Start(task) = entry {
            task.stop();
        }
    }
    let running: Vec<Arc<Task>> = lock(&inbox.running).drain().map(|(_, task)| task).collect();
    for task in running {
        task.stop();
    }
}

fn this_inbox() -> PyResult<Arc<Inbox>> {
    inbox_of(current_interp())
        .ok_or_else(|| PyRuntimeError::new_err("this interpreter's event loop is not attached"))
}

/// `_loop_take()`: the queued work as `(starts, cancels)`: starts are
/// `(id, module, function, args, kwargs)` with the arguments already Python objects,
/// cancels are ids. A task whose arguments cannot be converted is answered here.
fn take(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let inbox = this_inbox()?;
    let entries = inbox.take();
    let view = View::current(py)?;
    let decoder = Decoder {
        py,
        types: &view.types,
        interp: view.interp,
        ints: None,
    };
    let starts = PyList::empty(py);
    let cancels = PyList::empty(py);
    for entry in entries {
        match entry {
            Entry::Cancel(id) => cancels.append(id)?,
            Entry::Start(task) => {
                if task.state.load(Ordering::Acquire) != PENDING {
                    task.release_permit();
                    continue;
                }
                match start_of(py, &decoder, &task) {
                    Ok(start) => {
                        starts.append(start)?;
                        lock(&inbox.running).insert(task.id, task);
                    }
                    Err(why) => {
                        if task.settle(REPLIED) {
                            task.send_final(|env| {
                                (atoms::error(), (atoms::invalid(), why.as_str())).encode(env)
                            });
                        }
                        task.release_permit();
                    }
                }
            }
        }
    }
    (starts, cancels).into_py_any(py)
}

fn start_of<'py>(
    py: Python<'py>,
    decoder: &Decoder<'_, 'py>,
    task: &Task,
) -> Result<Bound<'py, PyTuple>, String> {
    let reply = lock(&task.reply);
    let reply = reply.as_ref().ok_or("the task was already answered")?;
    reply.env.run(|env| {
        let op = reply.op.load(env);
        let Ok(Op::Call {
            module,
            function,
            args,
            kwargs,
            ..
        }) = Op::decode(op)
        else {
            return Err("a task must be a function call".to_string());
        };
        let args = decoder.args(args).map_err(|err| err.describe())?;
        let kwargs = match kwargs {
            Some(kwargs) => {
                let kwargs = decoder.decode(kwargs).map_err(|err| err.describe())?;
                if !kwargs.is_instance_of::<PyDict>() {
                    return Err("kwargs must be a map".to_string());
                }
                kwargs
            }
            None => py.None().into_bound(py),
        };
        let parts = (
            task.id,
            PyString::new(py, module),
            PyString::new(py, function),
            args,
            kwargs,
        );
        PyTuple::new(py, parts.into_pyobject(py).map_err(|err| err.to_string())?)
            .map_err(|err| err.to_string())
    })
}

/// `_task_finish(id, kind, value)`: the task is done: kind 0 returned `value`, kind 1
/// raised (`value` is the error tuple), kind 2 was cancelled. Sends the reply unless
/// the task was cancelled from the BEAM, and gives the permit back.
fn finish(py: Python<'_>, id: u64, kind: u8, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let inbox = this_inbox()?;
    let Some(task) = lock(&inbox.running).remove(&id) else {
        return Ok(());
    };
    task.release_permit();
    if !task.settle(REPLIED) {
        return Ok(());
    }
    let view = View::current(py)?;
    task.send_final(|env| {
        let encoder = Encoder_ {
            py,
            env,
            types: &view.types,
            home: &view.home,
        };
        let tag = if kind == 0 {
            atoms::ok()
        } else {
            atoms::error()
        };
        if kind == 2 {
            return (atoms::error(), atoms::cancelled()).encode(env);
        }
        match encoder.encode(value) {
            Ok(term) => (tag, term).encode(env),
            Err(err) => (atoms::error(), (atoms::invalid(), err.describe())).encode(env),
        }
    });
    Ok(())
}

/// `_task_write(id, text)`: output of a task, to its creator while it is pending.
fn write(id: u64, text: &str) -> PyResult<bool> {
    let inbox = this_inbox()?;
    let Some(task) = lock(&inbox.running).get(&id).cloned() else {
        return Ok(false);
    };
    if task.state.load(Ordering::Acquire) != PENDING {
        return Ok(true);
    }
    let reply = lock(&task.reply);
    if let Some(ReplyTo {
        env,
        reference,
        pid: Some(pid),
        ..
    }) = reply.as_ref()
    {
        let mut message = OwnedEnv::new();
        let _ = message.send_and_clear(pid, |target| {
            let reference = env.run(|source| reference.load(source).in_env(target));
            (reference, (atoms::output(), text)).encode(target)
        });
        return Ok(true);
    }
    // A detached task prints where untargeted output goes.
    Ok(false)
}

pub fn install(py: Python<'_>, namespace: &Bound<'_, PyDict>) -> PyResult<()> {
    use crate::bridge::{function, procedure};
    namespace.set_item(
        "_loop_attach",
        function(
            py,
            c"_loop_attach",
            c"Makes this interpreter's inbox; its eventfd.",
            |args, _| attach(args.py()),
        )?,
    )?;
    namespace.set_item(
        "_loop_detach",
        procedure(
            py,
            c"_loop_detach",
            c"Closes the inbox; answers what is left.",
            |_, _| {
                detach();
                Ok(())
            },
        )?,
    )?;
    namespace.set_item(
        "_loop_take",
        function(
            py,
            c"_loop_take",
            c"The queued (starts, cancels).",
            |args, _| take(args.py()),
        )?,
    )?;
    namespace.set_item(
        "_loop_idle",
        function(
            py,
            c"_loop_idle",
            c"Whether work is queued, before the loop blocks.",
            |args, _| {
                let timeout: Option<f64> = args.get_item(0)?.extract()?;
                Ok(this_inbox()?.idle(args.py(), timeout))
            },
        )?,
    )?;
    namespace.set_item(
        "_loop_awake",
        procedure(py, c"_loop_awake", c"The loop is awake again.", |_, _| {
            this_inbox()?.sleeping.store(false, Ordering::SeqCst);
            Ok(())
        })?,
    )?;
    namespace.set_item(
        "_task_finish",
        procedure(
            py,
            c"_task_finish",
            c"A task is done: its reply goes out.",
            |args, _| {
                let id: u64 = args.get_item(0)?.extract()?;
                let kind: u8 = args.get_item(1)?.extract()?;
                finish(args.py(), id, kind, &args.get_item(2)?)
            },
        )?,
    )?;
    namespace.set_item(
        "_task_write",
        function(
            py,
            c"_task_write",
            c"Output of a task, to its creator.",
            |args, _| {
                let id: u64 = args.get_item(0)?.extract()?;
                let text = args.get_item(1)?;
                let text = text.cast::<PyString>()?;
                write(id, text.to_str()?)
            },
        )?,
    )?;
    Ok(())
}
