//! Context threads: one OS thread owning one Python thread state, serving requests
//! from a queue and replying to the caller with a message.
//!
//! Request lifecycle, all under the context's `inflight` lock so that a reply and a
//! cancellation can never both happen:
//!   submit → Queued → Running → reply sent, slot removed
//!                 ↘ Cancelled (by timeout or caller death) → no reply, ever.
//! A cancelled running request is interrupted by the watchdog thread, which raises
//! `TimeoutError` in it (`PyThreadState_SetAsyncExc` needs an attached thread state of
//! the same interpreter, hence a dedicated thread rather than the caller's scheduler).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use pyo3::ffi;
use pyo3::prelude::*;
use rustler::env::SavedTerm;
use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv, Resource, ResourceArc};

use crate::atoms;
use crate::convert::encode;
use crate::object::{Home, Orphan};
use crate::output;
use crate::request::Interp;
use crate::runtime::attached;
use crate::semaphore;
use crate::subinterp;
use crate::watchdog;

/// Conversions recurse; a large stack keeps `convert::MAX_DEPTH` far from its end.
pub const STACK_SIZE: usize = 256 * 1024 * 1024;

/// How long an idle context spins before it blocks: a blocking hand-off costs tens of
/// microseconds, a spinning one a couple (DESIGN.md §3).
const SPIN: Duration = Duration::from_micros(30);

/// Requests run in one GIL hold before the GIL is offered to other threads.
const BATCH: usize = 32;

/// Ids carry the index of their context in the low bits, so a pool can find the
/// context of an id without a lookup table.
pub const INDEX_BITS: u32 = 16;
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct Request {
    pub id: u64,
    pub caller: LocalPid,
    pub env: OwnedEnv,
    pub reference: SavedTerm,
    pub op: SavedTerm,
}

enum Job {
    Run(Request),
    /// A handle's object to drop (subinterpreter contexts own their objects).
    Release(Orphan),
    Stop,
}

/// What a context thread runs Python in.
pub enum Kind {
    /// The main interpreter, shared with the other worker contexts.
    Worker(Home),
    /// An OWN_GIL subinterpreter of its own.
    Subinterp,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum State {
    Queued,
    Running,
    Cancelled,
}

struct Slot {
    state: State,
    caller: LocalPid,
    submitted: Instant,
    /// The caller is waiting inside the submitting NIF: answer through `inline`.
    spinning: bool,
    /// Output was sent to the caller as messages while the request ran.
    had_output: bool,
    /// Set once the request is old enough to be worth watching its caller for death.
    watch: Option<(ResourceArc<CallerWatch>, Monitor)>,
}

impl Slot {
    /// Only on threads the VM does not manage (context threads, the watchdog).
    fn drop_watch(&mut self) {
        if let Some((watch, monitor)) = self.watch.take() {
            watch.demonitor(None, &monitor);
        }
    }
}

/// Monitors the caller of a long request; its death cancels the request.
pub struct CallerWatch {
    context: Weak<Context>,
    id: u64,
}

#[rustler::resource_impl]
impl Resource for CallerWatch {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _monitor: Monitor) {
        if let Some(context) = self.context.upgrade() {
            context.cancel(self.id);
        }
    }
}

#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*byte);
        }
    }
    fn write_u64(&mut self, id: u64) {
        // Ids are unique counters: spread them, no need to hash.
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A reply handed to a caller still inside the submitting NIF: no message, no
/// `receive`. `term` lives in `env`.
pub struct InlineReply {
    pub env: OwnedEnv,
    pub term: rustler::sys::ErlNifTerm,
    pub had_output: bool,
}

// SAFETY: the term belongs to `env`, which moves with it; nothing else refers to it.
unsafe impl Send for InlineReply {}

#[derive(Default)]
struct Inflight {
    slots: HashMap<u64, Slot, BuildHasherDefault<IdHasher>>,
    inline: HashMap<u64, InlineReply, BuildHasherDefault<IdHasher>>,
    running: u64,
    /// An interrupt was raised into the thread and may still be pending.
    interrupted: bool,
    /// An interrupter has decided to raise and has not finished raising yet.
    raising: bool,
}

pub struct Context {
    pub index: usize,
    tx: flume::Sender<Job>,
    inflight: Mutex<Inflight>,
    /// Requests queued or running: the pool routes around busy contexts with it.
    load: AtomicUsize,
    /// Jobs sent and not yet received: idle threads spin on it, not on the queue's lock.
    pending: AtomicUsize,
    /// The id of the last request whose reply was sent, for callers spinning briefly.
    last_done: AtomicU64,
    /// `threading.get_ident()` of the context thread, for interrupts.
    thread_ident: AtomicU64,
    /// For subinterpreters: the thread that raises interrupts in this interpreter
    /// (the watchdog serves the main interpreter).
    interrupter: Mutex<Option<flume::Sender<u64>>>,
}

pub enum Cancel {
    Cancelled,
    Replied,
}

impl Context {
    /// Starts a context thread; returns once its interpreter is ready.
    pub fn spawn(index: usize, kind: Kind) -> Result<Arc<Context>, String> {
        let (tx, rx) = flume::unbounded();
        let context = Arc::new(Context {
            index,
            tx,
            inflight: Mutex::new(Inflight::default()),
            load: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
            thread_ident: AtomicU64::new(0),
            interrupter: Mutex::new(None),
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread_context = context.clone();
        std::thread::Builder::new()
            .name(format!("py-context-{index}"))
            .stack_size(STACK_SIZE)
            .spawn(move || context_main(thread_context, rx, kind, ready_tx))
            .map_err(|err| format!("cannot start a context thread: {err}"))?;
        ready_rx
            .recv()
            .map_err(|_| "the context thread stopped during start-up".to_string())??;
        watchdog::register(&context);
        Ok(context)
    }

    /// Where `watchdog::interrupt` sends a request id for a subinterpreter context.
    pub fn interrupter(&self) -> Option<flume::Sender<u64>> {
        self.interrupter
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Queues a handle's object to be dropped on this context's thread.
    pub fn release(&self, orphan: Orphan) {
        self.pending.fetch_add(1, Ordering::Release);
        if let Err(flume::SendError(job)) = self.tx.send(Job::Release(orphan)) {
            self.pending.fetch_sub(1, Ordering::Release);
            drop(job); // leaks the object: its interpreter is gone
        }
    }

    pub fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Inflight> {
        // A poisoned lock only means a panic elsewhere; the data is still consistent
        // because every critical section is a few map operations.
        self.inflight
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Queues a request; its reply arrives as `{reference, result}` in `caller`, or,
    /// with `spin`, possibly through `wait_inline`.
    pub fn submit(
        &self,
        caller: LocalPid,
        env: OwnedEnv,
        reference: SavedTerm,
        op: SavedTerm,
        spin: bool,
    ) -> Result<u64, ()> {
        let id = (NEXT_ID.fetch_add(1, Ordering::Relaxed) << INDEX_BITS) | self.index as u64;
        let slot = Slot {
            state: State::Queued,
            caller,
            submitted: Instant::now(),
            spinning: spin,
            had_output: false,
            watch: None,
        };
        self.lock().slots.insert(id, slot);
        self.load.fetch_add(1, Ordering::Relaxed);
        let request = Request {
            id,
            caller,
            env,
            reference,
            op,
        };
        // Counted before sending: a spinning thread then blocks in recv() for at most
        // the duration of the send.
        self.pending.fetch_add(1, Ordering::Release);
        if self.tx.send(Job::Run(request)).is_err() {
            self.pending.fetch_sub(1, Ordering::Release);
            self.lock().slots.remove(&id);
            self.ended();
            return Err(());
        }
        Ok(id)
    }

    /// Spins up to `limit` for request `id` (submitted with `spin`) to be answered and
    /// returns the reply. A short call is answered here, inside the submitting NIF:
    /// no message to send, no `receive`, no sleeping scheduler to wake. `None` means
    /// the reply will come as a message.
    pub fn wait_inline(&self, id: u64, limit: Duration) -> Option<InlineReply> {
        let start = Instant::now();
        let mut spins = 0u32;
        while self.last_done.load(Ordering::Acquire) != id {
            spins += 1;
            if spins.is_multiple_of(32) && start.elapsed() > limit {
                break;
            }
            std::hint::spin_loop();
        }
        let mut inflight = self.lock();
        if let Some(reply) = inflight.inline.remove(&id) {
            return Some(reply);
        }
        // Too slow to wait for: from now on the reply is a message.
        if let Some(slot) = inflight.slots.get_mut(&id) {
            slot.spinning = false;
        }
        None
    }

    /// Cancels request `id`. `Replied` means its reply is already in the caller's
    /// mailbox; `Cancelled` means no reply will ever be sent.
    pub fn cancel(self: &Arc<Self>, id: u64) -> Cancel {
        let mut inflight = self.lock();
        let running = inflight.running == id;
        match inflight.slots.get_mut(&id) {
            None => Cancel::Replied,
            Some(slot) => {
                // The caller's monitor is dropped by the context thread when it removes
                // the slot: demonitoring here would need this scheduler's env.
                slot.state = State::Cancelled;
                if running {
                    watchdog::interrupt(self.clone(), id);
                }
                Cancel::Cancelled
            }
        }
    }

    /// Raises `TimeoutError` in the context thread if request `id` is still running.
    ///
    /// The lock is never held while calling into Python: a thread waiting for it
    /// while attached could otherwise stall the GIL or a free-threaded stop-the-world.
    /// `raising` tells `start` to wait (detached) until the raise is done, so that an
    /// exception meant for `id` can always be cleared before the next request runs.
    ///
    /// # Safety
    /// The calling thread must be attached to this context's interpreter.
    pub unsafe fn interrupt_if_running(&self, id: u64) {
        {
            let mut inflight = self.lock();
            let cancelled =
                inflight.slots.get(&id).map(|slot| slot.state) == Some(State::Cancelled);
            if inflight.running != id || !cancelled {
                return;
            }
            inflight.interrupted = true;
            inflight.raising = true;
        }
        let ident = self.thread_ident.load(Ordering::Relaxed);
        // SAFETY: attached to the context's interpreter (the caller's contract); the
        // exception type is a built-in shared by all interpreters.
        unsafe {
            ffi::PyThreadState_SetAsyncExc(ident as _, ffi::PyExc_TimeoutError);
        }
        self.lock().raising = false;
    }

    /// Monitors the callers of requests older than `age`, so that a caller dying
    /// cancels (and interrupts) its request. Short requests never pay for a monitor.
    pub fn watch_callers(self: &Arc<Self>, age: Duration) {
        let mut dead = Vec::new();
        {
            let mut inflight = self.lock();
            for (id, slot) in inflight.slots.iter_mut() {
                if slot.watch.is_some()
                    || slot.state == State::Cancelled
                    || slot.submitted.elapsed() < age
                {
                    continue;
                }
                let watch = ResourceArc::new(CallerWatch {
                    context: Arc::downgrade(self),
                    id: *id,
                });
                match watch.monitor(None, &slot.caller) {
                    Some(monitor) => slot.watch = Some((watch, monitor)),
                    None => dead.push(*id),
                }
            }
        }
        for id in dead {
            self.cancel(id);
        }
    }

    pub fn stop(&self) {
        self.pending.fetch_add(1, Ordering::Release);
        if self.tx.send(Job::Stop).is_err() {
            self.pending.fetch_sub(1, Ordering::Release);
        }
    }

    /// Moves a queued request to Running. False if it was cancelled before it started.
    fn start(&self, py: Python<'_>, id: u64) -> bool {
        // First make sure no interrupt aimed at an earlier request can still land.
        // `running` is 0 here, so no new one can be aimed at this thread meanwhile.
        let clear = loop {
            let mut inflight = self.lock();
            if !inflight.raising {
                break std::mem::take(&mut inflight.interrupted);
            }
            drop(inflight);
            // The interrupter needs the interpreter to finish raising: let it run.
            py.detach(std::thread::yield_now);
        };
        if clear {
            let ident = self.thread_ident.load(Ordering::Relaxed);
            // SAFETY: called on the context thread while attached. Clears an interrupt
            // that arrived after the request it was meant for had finished.
            unsafe {
                ffi::PyThreadState_SetAsyncExc(ident as _, std::ptr::null_mut());
            }
        }
        let mut inflight = self.lock();
        match inflight.slots.get_mut(&id) {
            Some(slot) if slot.state == State::Queued => {
                slot.state = State::Running;
                inflight.running = id;
                true
            }
            _ => {
                if let Some(mut slot) = inflight.slots.remove(&id) {
                    slot.drop_watch();
                }
                drop(inflight);
                self.ended();
                false
            }
        }
    }

    /// Ends a request: sends `reply` (a term built in the request's environment)
    /// unless the request was cancelled meanwhile, or hands it to a caller still
    /// spinning in `wait_inline`.
    ///
    /// The reply is built before this takes the lock: building it can run Python code
    /// (an exception's `__str__` while formatting a traceback) that prints, and
    /// printing takes the lock too.
    fn finish(&self, request: Request, reply: rustler::sys::ErlNifTerm) {
        let Request {
            id,
            caller,
            mut env,
            reference,
            ..
        } = request;
        let term = reply;
        let mut inflight = self.lock();
        inflight.running = 0;
        let Some(mut slot) = inflight.slots.remove(&id) else {
            drop(inflight);
            self.ended();
            return;
        };
        slot.drop_watch();
        if slot.state == State::Running {
            if slot.spinning {
                let had_output = slot.had_output;
                inflight.inline.insert(
                    id,
                    InlineReply {
                        env,
                        term,
                        had_output,
                    },
                );
            } else {
                let _ = env.send_and_clear(&caller, |env| {
                    // SAFETY: `term` was built in this environment just above.
                    let reply = unsafe { rustler::Term::new(env, term) };
                    (reference.load(env), reply).encode(env)
                });
            }
            self.last_done.store(id, Ordering::Release);
        }
        drop(inflight);
        self.ended();
    }

    /// A request left the context, answered or not.
    fn ended(&self) {
        self.load.fetch_sub(1, Ordering::Relaxed);
        semaphore::release();
    }

    /// Sends `{ref, {:output, text}}` to the caller of the running request.
    pub fn send_output(&self, request: &Request, text: &str) {
        let mut inflight = self.lock();
        match inflight.slots.get_mut(&request.id) {
            Some(slot) if slot.state == State::Running => slot.had_output = true,
            _ => return,
        }
        let mut out = OwnedEnv::new();
        request.env.run(|request_env| {
            let reference = request.reference.load(request_env);
            let _ = out.send_and_clear(&request.caller, |env| {
                let text = encode::binary(env, text.as_bytes());
                (reference.in_env(env), (atoms::output(), text)).encode(env)
            });
        });
    }
}

/// Takes the next job, spinning briefly on the pending counter (not on the queue's
/// lock, which submitters need) before blocking. `None` when every sender is gone.
fn next_job(context: &Context, rx: &flume::Receiver<Job>) -> Option<Job> {
    let start = Instant::now();
    let mut spins = 0u32;
    while context.pending.load(Ordering::Acquire) == 0 {
        spins += 1;
        if spins.is_multiple_of(64) && start.elapsed() > SPIN {
            break;
        }
        std::hint::spin_loop();
    }
    let job = rx.recv().ok();
    if job.is_some() {
        context.pending.fetch_sub(1, Ordering::AcqRel);
    }
    job
}

/// A job already queued, if any, without blocking.
fn queued_job(context: &Context, rx: &flume::Receiver<Job>) -> Option<Job> {
    if context.pending.load(Ordering::Acquire) == 0 {
        return None;
    }
    let job = rx.try_recv().ok();
    if job.is_some() {
        context.pending.fetch_sub(1, Ordering::AcqRel);
    }
    job
}

fn context_main(
    context: Arc<Context>,
    rx: flume::Receiver<Job>,
    kind: Kind,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let subinterp = matches!(kind, Kind::Subinterp);
    let started = match kind {
        Kind::Worker(home) => start_worker(&context, home),
        Kind::Subinterp => start_subinterp(&context),
    };
    let (tstate, mut interp, interrupter) = match started {
        Ok(started) => started,
        Err(why) => {
            let _ = ready.send(Err(why));
            return;
        }
    };
    let _ = ready.send(Ok(()));

    let mut stop = false;
    while !stop {
        let Some(first) = next_job(&context, &rx) else {
            break;
        };
        attached(tstate, |py| {
            let mut job = Some(first);
            let mut served = 0;
            while let Some(current) = job.take() {
                match current {
                    Job::Stop => {
                        stop = true;
                        break;
                    }
                    Job::Run(request) => run(py, &context, &mut interp, request),
                    Job::Release(orphan) => orphan.release(py),
                }
                served += 1;
                if served < BATCH {
                    job = queued_job(&context, &rx);
                }
            }
        });
    }

    // Anything still queued gets an answer rather than silence.
    attached(tstate, |py| {
        while let Ok(job) = rx.try_recv() {
            match job {
                Job::Run(request) => {
                    if context.start(py, request.id) {
                        let reply = request
                            .env
                            .run(|env| (atoms::error(), atoms::stopped()).encode(env).as_c_arg());
                        context.finish(request, reply);
                    }
                }
                Job::Release(orphan) => orphan.release(py),
                Job::Stop => {}
            }
        }
        drop(interp);
    });

    if subinterp {
        // Objects released from now on are leaked: their interpreter is going away.
        drop(rx);
        let companion = context
            .interrupter
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        drop(companion);
        // SAFETY: this thread created the interpreter and `tstate` is its only
        // remaining thread state once the interrupter has deleted its own.
        unsafe { subinterp::end(tstate, interrupter) };
    }
}

type Started = (
    *mut ffi::PyThreadState,
    Interp,
    Option<subinterp::Interrupter>,
);

fn start_worker(context: &Arc<Context>, home: Home) -> Result<Started, String> {
    // SAFETY: the runtime is initialised before any context starts. Ensure creates this
    // thread's state; SaveThread detaches it so other threads run while we are idle.
    let tstate = unsafe {
        ffi::PyGILState_Ensure();
        ffi::PyEval_SaveThread()
    };
    let interp = attached(tstate, |py| {
        record_ident(py, context);
        Interp::main(py, home).map_err(|err| err.to_string())
    })?;
    Ok((tstate, interp, None))
}

fn start_subinterp(context: &Arc<Context>) -> Result<Started, String> {
    // SAFETY: this thread has no Python thread state; `create` makes the interpreter
    // and leaves its new thread state attached, which we detach right away.
    let (tstate, interp_state) = unsafe {
        let tstate = subinterp::create()?;
        let interp_state = ffi::PyThreadState_GetInterpreter(tstate);
        ffi::PyEval_SaveThread();
        (tstate, interp_state)
    };
    let home = Home::context(Arc::downgrade(context), interp_state as usize);
    let interp = attached(tstate, |py| {
        record_ident(py, context);
        Interp::sub(py, home).map_err(|err| err.to_string())
    });
    let interp = match interp {
        Ok(interp) => interp,
        Err(why) => {
            // SAFETY: as in `context_main`: no other thread state exists yet.
            unsafe { subinterp::end(tstate, None) };
            return Err(why);
        }
    };
    let interrupter = subinterp::Interrupter::spawn(interp_state, Arc::downgrade(context))?;
    *context
        .interrupter
        .lock()
        .unwrap_or_else(|poison| poison.into_inner()) = Some(interrupter.sender());
    Ok((tstate, interp, Some(interrupter)))
}

fn record_ident(py: Python<'_>, context: &Context) {
    let ident = py
        .import("threading")
        .and_then(|threading| threading.call_method0("get_ident"))
        .and_then(|ident| ident.extract::<u64>())
        .unwrap_or(0);
    context.thread_ident.store(ident, Ordering::Relaxed);
}

fn run(py: Python<'_>, context: &Context, interp: &mut Interp, request: Request) {
    if !context.start(py, request.id) {
        return;
    }
    let reply = {
        // Output, including any printed while the reply is built, goes to the caller.
        let _route = output::route_to(context, &request);
        let outcome = interp.execute(py, &request);
        request.env.run(|env| {
            outcome
                .into_term(py, env, &interp.types, &interp.home)
                .as_c_arg()
        })
    };
    context.finish(request, reply);
}
