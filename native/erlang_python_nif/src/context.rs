//! A context: one OS thread owning one Python thread state (see `worker`), and the
//! state other threads share with it to submit, cancel and interrupt requests.
//!
//! All request bookkeeping lives in one `Inflight` table under one lock, so a reply
//! and a cancellation can never both happen. The lock is never held while calling
//! into Python: a thread waiting for it while attached could stall the GIL or a
//! free-threaded stop-the-world.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use pyo3::ffi;
use pyo3::prelude::*;
use rustler::env::SavedTerm;
use rustler::{Encoder, Env, LocalPid, Monitor, OwnedEnv, Resource, ResourceArc};

use crate::atoms;
use crate::convert::encode;
use crate::fastlane::{FastLane, Seen};
use crate::inflight::{self, Inflight, Slot, Start};
use crate::loan::Loan;
use crate::object::Orphan;
use crate::semaphore;
use crate::watchdog;

/// Ids carry the index of their context in the low bits, so a pool can find the
/// context of an id without a lookup table.
pub const INDEX_BITS: u32 = 16;
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One operation to run, with where its reply goes.
pub struct Request {
    pub id: u64,
    pub caller: LocalPid,
    pub env: OwnedEnv,
    pub reference: SavedTerm,
    pub op: OpTerm,
    /// Came through the fast lane (`fastlane`): not in the table unless registered.
    pub fast: bool,
}

/// Where a request's operation term is.
pub enum OpTerm {
    /// Copied into the request's environment.
    Saved(SavedTerm),
    /// Still in the caller's environment: the caller waits in the NIF (see `loan`).
    Lent(Arc<Loan>),
}

/// What a context thread takes from its queue.
pub enum Job {
    Run(Request),
    /// A handle's object to drop (subinterpreter contexts own their objects).
    Release(Orphan),
    Stop,
}

/// What a parked frame is woken with.
pub enum Wake {
    /// A request made from inside the frame's callback, to run on top of it.
    Nested(Request),
    /// The answer to callback number `seq`: `{:ok, value}` or `{:error, why}`.
    Reply {
        seq: u64,
        env: OwnedEnv,
        term: SavedTerm,
    },
    /// The frame's request was cancelled.
    Cancel,
}

pub type WakeSender = flume::Sender<Wake>;

pub struct Caller {
    pub pid: LocalPid,
    /// Set once the request is old enough to be worth watching its caller for death.
    watch: Option<(ResourceArc<CallerWatch>, Monitor)>,
}

impl Caller {
    /// Only on threads the VM does not manage (context threads, the watchdog).
    fn drop_watch(&mut self) {
        if let Some((watch, monitor)) = self.watch.take() {
            watch.demonitor(None, &monitor);
        }
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

type Table = Inflight<Caller, WakeSender, InlineReply>;

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

pub enum Cancel {
    Cancelled,
    Replied,
}

/// How a request sent through the fast lane ended for its waiting caller.
pub enum FastWait {
    Done(InlineReply),
    /// In the table now and still waited for: go on with `wait_inline` for the rest
    /// of the time.
    Registered(Duration),
    /// Registered by the caller as it stopped waiting: the reply comes as a message.
    Pending,
    /// Never taken by the context: the caller submits it the usual way.
    Reclaimed(Request),
}

pub struct Context {
    pub index: usize,
    /// Shared by a waiting caller and its context on the fast path; aligned to cache
    /// lines of its own, so the fields around it do not bounce with it.
    lane: FastLane,
    /// The thread is not blocked waiting for work, so a request in the lane is
    /// taken within microseconds.
    awake: std::sync::atomic::AtomicBool,
    tx: flume::Sender<Job>,
    inflight: Mutex<Table>,
    /// Top-level requests queued or running: the pool routes around busy contexts.
    load: AtomicUsize,
    /// Jobs sent and not yet received: idle threads spin on it, not on the queue's lock.
    pending: AtomicUsize,
    /// The id of the last request whose reply was sent, for callers spinning briefly.
    last_done: AtomicU64,
    /// Bumped after every wake-up sent to a parked frame: the frame spins on it, not
    /// on its channel's lock, which the sender needs.
    wakes: AtomicU64,
    /// Output messages being sent right now: a cancellation waits for them, so no
    /// output of a cancelled request reaches its caller after `cancel` returns.
    output_sends: AtomicUsize,
    /// `threading.get_ident()` of the context thread, for interrupts.
    pub thread_ident: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
    /// `PyInterpreterState_GetID` of the interpreter this context runs.
    pub interp_id: std::sync::atomic::AtomicI64,
    /// For subinterpreters: the thread that raises interrupts in this interpreter
    /// (the watchdog serves the main interpreter).
    interrupter: Mutex<Option<flume::Sender<u64>>>,
}

impl Context {
    pub fn new(index: usize) -> (Arc<Context>, flume::Receiver<Job>) {
        let (tx, rx) = flume::unbounded();
        let context = Arc::new(Context {
            index,
            lane: FastLane::default(),
            awake: std::sync::atomic::AtomicBool::new(true),
            tx,
            inflight: Mutex::new(Table::default()),
            load: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            last_done: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
            output_sends: AtomicUsize::new(0),
            thread_ident: AtomicU64::new(0),
            closed: std::sync::atomic::AtomicBool::new(false),
            interp_id: std::sync::atomic::AtomicI64::new(0),
            interrupter: Mutex::new(None),
        });
        (context, rx)
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A poisoned lock only means a panic elsewhere; the data is still consistent
        // because every critical section is a few map operations.
        self.inflight
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    pub fn set_interrupter(&self, sender: Option<flume::Sender<u64>>) {
        *self
            .interrupter
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = sender;
    }

    /// Where `watchdog::interrupt` sends a request id for a subinterpreter context.
    pub fn interrupter(&self) -> Option<flume::Sender<u64>> {
        self.interrupter
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// A new request with an id that names this context.
    pub fn request(
        &self,
        caller: LocalPid,
        env: OwnedEnv,
        reference: SavedTerm,
        op: OpTerm,
    ) -> Request {
        Request {
            id: (NEXT_ID.fetch_add(1, Ordering::Relaxed) << INDEX_BITS) | self.index as u64,
            caller,
            env,
            reference,
            op,
            fast: false,
        }
    }

    /// Queues a top-level request; the caller holds a semaphore permit for it, which
    /// the context gives back when the request leaves. Its reply arrives as
    /// `{reference, result}` in `caller`, or, with `spin`, possibly through
    /// `wait_inline`. `Err` (permit given back) once the context is stopping.
    pub fn submit(&self, request: Request, spin: bool) -> Result<u64, ()> {
        let id = request.id;
        let slot = Slot::new(caller_of(request.caller), false, spin);
        // Admission and sending happen under one lock, and so does closing: a request
        // is either in the queue before the thread drains it at stop, or refused.
        let mut inflight = self.lock();
        if !inflight.admit(id, slot) {
            drop(inflight);
            semaphore::release();
            return Err(());
        }
        self.load.fetch_add(1, Ordering::Relaxed);
        // Counted before sending: a spinning thread then blocks in recv() for at most
        // the duration of the send.
        self.pending.fetch_add(1, Ordering::Release);
        if self.tx.send(Job::Run(request)).is_err() {
            self.pending.fetch_sub(1, Ordering::Release);
            inflight.withdraw(id);
            drop(inflight);
            self.load.fetch_sub(1, Ordering::Relaxed);
            semaphore::release();
            return Err(());
        }
        Ok(id)
    }

    /// Queues a request made from inside frame `frame`'s callback: it runs on top of
    /// that frame, on this thread, under the frame's permit. `Err` when the frame is
    /// no longer waiting (it returned, or was never parked).
    pub fn submit_nested(
        &self,
        frame: u64,
        caller: LocalPid,
        env: OwnedEnv,
        reference: SavedTerm,
        op: SavedTerm,
    ) -> Result<u64, ()> {
        let request = self.request(caller, env, reference, OpTerm::Saved(op));
        let id = request.id;
        let mut inflight = self.lock();
        let Some(wake) =
            inflight.admit_nested(frame, id, Slot::new(caller_of(caller), true, false))
        else {
            return Err(());
        };
        if wake.send(Wake::Nested(request)).is_err() {
            inflight.withdraw(id);
            return Err(());
        }
        self.wakes.fetch_add(1, Ordering::Release);
        Ok(id)
    }

    /// Delivers the answer to callback `seq` of frame `frame`. False when the frame
    /// is gone.
    pub fn reply_to_frame(&self, frame: u64, seq: u64, env: OwnedEnv, term: SavedTerm) -> bool {
        let inflight = self.lock();
        let sent = match inflight.wake_of(frame) {
            Some(wake) => wake.send(Wake::Reply { seq, env, term }).is_ok(),
            None => false,
        };
        self.wakes.fetch_add(1, Ordering::Release);
        sent
    }

    /// Whether a short call may take the fast lane: nothing queued or running, and the
    /// thread not blocked waiting for work.
    pub fn fast_lane_open(&self) -> bool {
        self.load.load(Ordering::Relaxed) == 0
            && self.awake.load(Ordering::Relaxed)
            && !self.is_closed()
    }

    /// Puts a top-level request in the fast lane (the caller holds its permit), or
    /// gives it back when the lane is busy. Then call `wait_fast`.
    pub fn submit_fast(&self, request: Request) -> Result<u64, Request> {
        let id = request.id;
        self.load.fetch_add(1, Ordering::Relaxed);
        self.lane.submit(request).map(|()| id).inspect_err(|_| {
            self.load.fetch_sub(1, Ordering::Relaxed);
        })
    }

    /// Waits up to `limit` for request `id` in the fast lane. Past it, a request not
    /// yet taken is taken back, and one running is registered in the table, its reply
    /// to come as a message to `caller`.
    pub fn wait_fast(&self, id: u64, caller: LocalPid, limit: Duration) -> FastWait {
        let mut clock = SpinClock::new(limit);
        loop {
            match self.lane.seen() {
                Seen::Done(reply) => {
                    self.load.fetch_sub(1, Ordering::Relaxed);
                    semaphore::release();
                    return FastWait::Done(reply);
                }
                Seen::Registered => {
                    return FastWait::Registered(limit.saturating_sub(clock.elapsed()));
                }
                Seen::Waiting => {}
            }
            if !clock.expired(32) {
                std::hint::spin_loop();
                continue;
            }
            if let Some(request) = self.lane.reclaim() {
                self.load.fetch_sub(1, Ordering::Relaxed);
                return FastWait::Reclaimed(request);
            }
            let mut inflight = self.lock();
            if self.lane.give_up() {
                adopt(&mut inflight, id, caller, false);
                return FastWait::Pending;
            }
            // Answered or registered by the context meanwhile: seen next time round.
        }
    }

    pub fn fast_lane_counts(&self) -> crate::fastlane::Counts {
        self.lane.counts()
    }

    /// Moves a request running from the fast lane into the table (held locked), before
    /// anything that needs it there: output, a callback. Its caller may still be
    /// waiting inline. Once registered, or for a queued request, nothing to do.
    fn register_fast(&self, inflight: &mut Table, request: &Request) {
        if request.fast && self.lane.register() {
            adopt(inflight, request.id, request.caller, true);
        }
    }

    /// Spins up to `limit` for request `id` (submitted with `spin`) to be answered and
    /// returns the reply. A short call is answered here, inside the submitting NIF:
    /// no message to send, no `receive`, no sleeping scheduler to wake. `None` means
    /// the reply will come as a message.
    pub fn wait_inline(&self, id: u64, limit: Duration) -> Option<InlineReply> {
        let mut clock = SpinClock::new(limit);
        while self.last_done.load(Ordering::Acquire) != id {
            if clock.expired(32) {
                break;
            }
            std::hint::spin_loop();
        }
        let mut inflight = self.lock();
        if let Some(reply) = inflight.inline.remove(&id) {
            drop(inflight);
            // The request's end, which `finish` left to its caller.
            self.load.fetch_sub(1, Ordering::Relaxed);
            semaphore::release();
            return Some(reply);
        }
        // Too slow to wait for: from now on the reply is a message.
        if let Some(slot) = inflight.slot_mut(id) {
            slot.spinning = false;
        }
        None
    }

    /// Cancels request `id`. `Replied` means its reply is already in the caller's
    /// mailbox; `Cancelled` means no reply, and no more output, will ever be sent.
    pub fn cancel(self: &Arc<Self>, id: u64) -> Cancel {
        let outcome = self.lock().cancel(id);
        match outcome {
            inflight::Cancel::Replied => return Cancel::Replied,
            inflight::Cancel::Marked => {}
            inflight::Cancel::Interrupt => watchdog::interrupt(self.clone(), id),
            inflight::Cancel::Wake(wake) => {
                let _ = wake.send(Wake::Cancel);
                self.wakes.fetch_add(1, Ordering::Release);
            }
        }
        // Output decided before the cancellation may still be on its way.
        while self.output_sends.load(Ordering::Acquire) > 0 {
            std::hint::spin_loop();
        }
        Cancel::Cancelled
    }

    /// Raises `TimeoutError` in the context thread if request `id` is still running
    /// on top of its stack (a parked frame is woken instead, never interrupted).
    ///
    /// The lock is not held while raising: `raising` tells the context thread to wait
    /// (detached) until the raise is done before it clears a pending interrupt.
    ///
    /// # Safety
    /// The calling thread must be attached to this context's interpreter.
    pub unsafe fn interrupt_if_running(&self, id: u64) {
        if !self.lock().begin_interrupt(id) {
            return;
        }
        let ident = self.thread_ident.load(Ordering::Relaxed);
        // SAFETY: attached to the context's interpreter (the caller's contract); the
        // exception type is a built-in shared by all interpreters.
        unsafe {
            ffi::PyThreadState_SetAsyncExc(ident as _, ffi::PyExc_TimeoutError);
        }
        self.lock().raising = false;
    }

    /// Makes sure no interrupt meant for frame `id` can still fire: waits for a raise
    /// in progress, then clears a pending one. Interrupts meant for other frames are
    /// left alone. Called on the context thread when a frame parks or ends.
    pub fn settle_interrupt(&self, py: Python<'_>, id: u64) {
        let clear = loop {
            let mut inflight = self.lock();
            if !inflight.raising {
                if inflight.interrupted == Some(id) {
                    inflight.interrupted = None;
                    break true;
                }
                break false;
            }
            drop(inflight);
            // The interrupter needs the interpreter to finish raising: let it run.
            py.detach(std::thread::yield_now);
        };
        if clear {
            let ident = self.thread_ident.load(Ordering::Relaxed);
            // SAFETY: on the context thread while attached: clears this thread's
            // pending asynchronous exception.
            unsafe {
                ffi::PyThreadState_SetAsyncExc(ident as _, std::ptr::null_mut());
            }
        }
    }

    /// Monitors the callers of requests older than `age`, so that a caller dying
    /// cancels (and interrupts) its request. Short requests never pay for a monitor.
    pub fn watch_callers(self: &Arc<Self>, age: Duration) {
        let mut dead = Vec::new();
        {
            let mut inflight = self.lock();
            for (id, slot) in inflight.slots_mut() {
                if slot.caller.watch.is_some() || slot.cancelled || slot.submitted.elapsed() < age {
                    continue;
                }
                let watch = ResourceArc::new(CallerWatch {
                    context: Arc::downgrade(self),
                    id: *id,
                });
                match watch.monitor(None, &slot.caller.pid) {
                    Some(monitor) => slot.caller.watch = Some((watch, monitor)),
                    None => dead.push(*id),
                }
            }
        }
        for id in dead {
            self.cancel(id);
        }
    }

    /// Refuses new requests from now on and asks the thread to stop once the
    /// requests already queued are answered.
    pub fn stop(&self) {
        self.close();
        self.pending.fetch_add(1, Ordering::Release);
        if self.tx.send(Job::Stop).is_err() {
            self.pending.fetch_sub(1, Ordering::Release);
        }
    }

    /// Refuses new requests from now on (see `submit`).
    pub fn close(&self) {
        self.lock().close();
        self.closed.store(true, Ordering::Release);
    }

    /// Stopped or stopping: for a subinterpreter, its interpreter is going away.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Queues a handle's object to be dropped on this context's thread.
    pub fn release(&self, orphan: Orphan) {
        self.pending.fetch_add(1, Ordering::Release);
        if let Err(flume::SendError(job)) = self.tx.send(Job::Release(orphan)) {
            self.pending.fetch_sub(1, Ordering::Release);
            drop(job); // leaks the object: its interpreter is gone
        }
    }

    /// Starts `request`: one from the fast lane runs at once, a queued one is moved
    /// onto the stack. False if it was cancelled before it started: it leaves the
    /// context unanswered.
    pub fn begin(&self, request: &Request) -> bool {
        request.fast || self.start(request.id)
    }

    fn start(&self, id: u64) -> bool {
        let decision = self.lock().start(id);
        match decision {
            Start::Run => true,
            Start::Skip(slot) => {
                if let Some(mut slot) = slot {
                    slot.caller.drop_watch();
                    self.ended(&slot);
                }
                false
            }
        }
    }

    pub fn is_cancelled(&self, id: u64) -> bool {
        self.lock().is_cancelled(id)
    }

    /// Gives the frame of `request` a channel to be woken on (the first time it
    /// parks), registering it first if it came through the fast lane.
    pub fn open_frame(&self, request: &Request, wake: WakeSender) {
        let mut inflight = self.lock();
        self.register_fast(&mut inflight, request);
        inflight.open_frame(request.id, wake);
    }

    /// Marks frame `id` parked and sends its callback message, both under the lock:
    /// a cancellation comes either before (nothing is sent; false, the frame must
    /// raise) or after the message, which the caller then finds in its mailbox.
    pub fn park(&self, py: Python<'_>, id: u64, send: impl FnOnce()) -> bool {
        {
            let mut inflight = self.lock();
            if inflight.park(id) {
                send();
                return true;
            }
        }
        self.settle_interrupt(py, id);
        false
    }

    /// Marks frame `id` running again; false when it was cancelled meanwhile.
    pub fn unpark(&self, id: u64) -> bool {
        self.lock().unpark(id)
    }

    /// Ends request `id`: sends `reply` (a term built in the request's environment)
    /// unless the request was cancelled, or hands it to a caller still spinning in
    /// `wait_inline`. An interrupt meant for this request is settled first, so it can
    /// never fire in the frame below or in the next request.
    ///
    /// The reply is built before this takes the lock: building it can run Python code
    /// (an exception's `__str__` while formatting a traceback) that prints, and
    /// printing takes the lock too.
    pub fn finish(&self, py: Python<'_>, request: Request, reply: rustler::sys::ErlNifTerm) {
        let Request {
            id,
            caller,
            env,
            reference,
            fast,
            ..
        } = request;
        // Unless registered, a fast-lane request has no slot, no output sent and no
        // interrupt aimed at it: its caller, still waiting, takes the reply from the lane.
        let mut env = if fast {
            let answer = InlineReply {
                env,
                term: reply,
                had_output: false,
            };
            match self.lane.answer(answer) {
                Ok(()) => return,
                Err(answer) => answer.env,
            }
        } else {
            env
        };
        let mut inflight = self.lock();
        if inflight.raising || inflight.interrupted == Some(id) {
            drop(inflight);
            self.settle_interrupt(py, id);
            inflight = self.lock();
        }
        let Some(mut slot) = inflight.finish(id) else {
            return;
        };
        slot.caller.drop_watch();
        // The request's permit is given back before its reply can be seen: by the
        // time a call returns, it holds none. A spinning caller gives it back itself
        // when it takes the reply (see `wait_inline`).
        let handed_over = !slot.cancelled && slot.spinning;
        if !handed_over {
            self.ended(&slot);
        }
        if !slot.cancelled {
            if slot.spinning {
                let had_output = slot.had_output;
                inflight.inline.insert(
                    id,
                    InlineReply {
                        env,
                        term: reply,
                        had_output,
                    },
                );
            } else {
                let _ = env.send_and_clear(&caller, |env| {
                    // SAFETY: `reply` was built in this environment by the caller.
                    let reply = unsafe { rustler::Term::new(env, reply) };
                    (reference.load(env), reply).encode(env)
                });
            }
            self.last_done.store(id, Ordering::Release);
        }
    }

    /// A request left the context, answered or not.
    fn ended(&self, slot: &Slot<Caller>) {
        if !slot.nested {
            self.load.fetch_sub(1, Ordering::Relaxed);
            semaphore::release();
        }
    }

    /// Sends `{ref, {:output, text}}` to the caller of `request`, unless it was
    /// cancelled. The message is built and sent outside the lock.
    pub fn send_output(&self, request: &Request, text: &str) {
        {
            let mut inflight = self.lock();
            self.register_fast(&mut inflight, request);
            match inflight.slot_mut(request.id) {
                Some(slot) if !slot.cancelled => slot.had_output = true,
                _ => return,
            }
            self.output_sends.fetch_add(1, Ordering::AcqRel);
        }
        let mut out = OwnedEnv::new();
        request.env.run(|request_env| {
            let reference = request.reference.load(request_env);
            let _ = out.send_and_clear(&request.caller, |env| {
                let text = encode::binary(env, text.as_bytes());
                (reference.in_env(env), (atoms::output(), text)).encode(env)
            });
        });
        self.output_sends.fetch_sub(1, Ordering::AcqRel);
    }

    /// The next wake-up of the frame parked on `rx`, spinning up to `spin` on the
    /// wake counter before blocking: a callback answered within microseconds never
    /// pays for a sleeping thread's wake-up, nor contends for the channel's lock.
    pub fn next_wake(&self, rx: &flume::Receiver<Wake>, spin: Duration) -> Option<Wake> {
        let mut clock = SpinClock::new(spin);
        let mut seen = self.wakes.load(Ordering::Acquire);
        loop {
            match rx.try_recv() {
                Ok(wake) => return Some(wake),
                Err(flume::TryRecvError::Disconnected) => return None,
                Err(flume::TryRecvError::Empty) => {}
            }
            loop {
                let now = self.wakes.load(Ordering::Acquire);
                if now != seen {
                    seen = now;
                    break;
                }
                if clock.expired(64) {
                    return rx.recv().ok();
                }
                std::hint::spin_loop();
            }
        }
    }

    /// Spins up to `limit` until `counter` or this context's wake counter moves.
    pub fn spin_until_changed(&self, counter: &AtomicU64, limit: Duration) {
        let mut clock = SpinClock::new(limit);
        let counted = counter.load(Ordering::Acquire);
        let woken = self.wakes.load(Ordering::Acquire);
        while counter.load(Ordering::Acquire) == counted
            && self.wakes.load(Ordering::Acquire) == woken
        {
            if clock.expired(64) {
                return;
            }
            std::hint::spin_loop();
        }
    }

    /// Takes the next job, spinning briefly on the pending counter (not on the queue's
    /// lock, which submitters need) before blocking. `None` when every sender is gone.
    pub fn next_job(&self, rx: &flume::Receiver<Job>, spin: Duration) -> Option<Job> {
        let mut clock = SpinClock::new(spin);
        while self.pending.load(Ordering::Acquire) == 0 {
            if let Some(request) = self.lane.take() {
                return Some(Job::Run(request));
            }
            if clock.expired(64) {
                break;
            }
            std::hint::spin_loop();
        }
        // A hint for callers: a request put in the lane from now on is likely taken
        // back by its caller after its spin, and queued, since this thread may be
        // asleep. Correctness rests on that take-back, not on this flag.
        self.awake.store(false, Ordering::Relaxed);
        if let Some(request) = self.lane.take() {
            self.awake.store(true, Ordering::Relaxed);
            return Some(Job::Run(request));
        }
        let job = rx.recv().ok();
        // Awake again. While it runs a request, its load keeps callers out of the lane;
        // a caller entering while it frees an orphan is taken back after its spin.
        // Once done it looks at the lane before it sleeps.
        self.awake.store(true, Ordering::Relaxed);
        if job.is_some() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
        job
    }

    /// A job already queued, if any, without blocking.
    pub fn queued_job(&self, rx: &flume::Receiver<Job>) -> Option<Job> {
        if let Some(request) = self.lane.take() {
            return Some(Job::Run(request));
        }
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let job = rx.try_recv().ok();
        if job.is_some() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
        job
    }
}

/// Puts a request running from the fast lane in the table, as a started frame.
/// `spinning`: its caller still waits inline for the reply.
fn adopt(inflight: &mut Table, id: u64, caller: LocalPid, spinning: bool) {
    inflight.adopt(id, Slot::new(caller_of(caller), false, spinning));
}

/// Times a bounded spin without reading the clock for a short one: the clock is first
/// read after one round of checks, so a wait that ends sooner costs no clock read
/// (clock reads were 3% of the caller's time in a short call). The limit may be
/// passed by up to one round.
struct SpinClock {
    start: Option<Instant>,
    limit: Duration,
    spins: u32,
}

impl SpinClock {
    fn new(limit: Duration) -> Self {
        SpinClock {
            start: None,
            limit,
            spins: 0,
        }
    }

    /// Counts a spin; true once `limit` has passed, looked at every `every` spins.
    fn expired(&mut self, every: u32) -> bool {
        self.spins += 1;
        if !self.spins.is_multiple_of(every) {
            return false;
        }
        match self.start {
            Some(start) => start.elapsed() > self.limit,
            None => {
                self.start = Some(Instant::now());
                false
            }
        }
    }

    /// Time spent since the clock was first read.
    fn elapsed(&self) -> Duration {
        self.start.map_or(Duration::ZERO, |start| start.elapsed())
    }
}

fn caller_of(pid: LocalPid) -> Caller {
    Caller { pid, watch: None }
}
