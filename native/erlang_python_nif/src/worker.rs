//! The thread of a context: it owns one Python thread state, takes jobs from the
//! context's queue and runs them, and parks frames that wait on the BEAM.
//!
//! A `Worker` is this thread's state. It lives in a thread-local, so Python code
//! running on the thread (the `erlang` module's functions) reaches it without any
//! borrow held across Python calls: its caches and frame stack use short borrows.
//!
//! Parking: when a running request calls back into Elixir, its frame sends the
//! callback to the request's caller and waits, detached from Python, on a channel of
//! its own. Requests that the callback makes (they carry the frame's token) arrive on
//! that channel and run on top of the frame, on this thread, to any depth; unrelated
//! work stays in the context's queue until the frame returns.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use rustler::{Encoder, OwnedEnv, Resource, ResourceArc};

use crate::atoms;
use crate::context::{Context, Job, Request, Wake};
use crate::convert::decode::Decoder;
use crate::convert::encode::Encoder_;
use crate::interp::Interp;
use crate::object::Home;
use crate::output;
use crate::runtime::attached;
use crate::subinterp;

/// Conversions recurse; a large stack keeps `convert::MAX_DEPTH` far from its end.
pub const STACK_SIZE: usize = 256 * 1024 * 1024;

/// How long an idle context (or a parked frame) spins before it blocks: a blocking
/// hand-off costs tens of microseconds, a spinning one a couple.
const SPIN: Duration = Duration::from_micros(30);

/// Requests run in one GIL hold before the GIL is offered to other threads.
const BATCH: usize = 32;

/// What a context thread runs Python in.
pub enum Kind {
    /// The main interpreter, shared with the other worker contexts.
    Worker(Home),
    /// An OWN_GIL subinterpreter of its own.
    Subinterp,
}

/// Names a parked frame from the BEAM: nested requests and callback replies carry it.
pub struct FrameToken {
    pub context: std::sync::Weak<Context>,
    pub frame: u64,
}

#[rustler::resource_impl]
impl Resource for FrameToken {}

/// A request on this thread's stack, as the thread itself sees it.
struct Frame {
    id: u64,
    /// The request, owned by `run` further down this thread's stack.
    request: *const Request,
    /// Callbacks made so far: replies to older ones are stale.
    seq: u64,
    /// Made the first time the frame parks.
    wake: Option<(flume::Receiver<Wake>, ResourceArc<FrameToken>)>,
}

pub struct Worker {
    pub context: Arc<Context>,
    pub interp: Interp,
    frames: RefCell<Vec<Frame>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Worker>>> = const { RefCell::new(None) };
}

impl Worker {
    /// The worker of this thread, when it is a context thread.
    pub fn current() -> Option<Rc<Worker>> {
        CURRENT.with(|current| current.borrow().clone())
    }

    /// The caller of the request running on this thread, if any.
    pub fn caller(&self) -> Option<rustler::LocalPid> {
        let frames = self.frames.borrow();
        // SAFETY: the request outlives its frame (see `run`).
        frames
            .last()
            .map(|frame| unsafe { (*frame.request).caller })
    }

    /// Calls the Elixir function registered as `name` from the request running on
    /// this thread: the frame parks until the caller answers, serving the requests
    /// the callback makes meanwhile. `None` when no request is running here.
    pub fn callback<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        args: &Bound<'py, PyTuple>,
    ) -> Option<PyResult<Bound<'py, PyAny>>> {
        let (id, request, seq, rx, token) = self.top_frame(true)?;
        Some(self.park(py, id, request, seq, &rx, token, name, args))
    }

    /// The running frame, with its wake-up channel (made on first use); `count`
    /// numbers a new callback.
    #[allow(clippy::type_complexity)]
    fn top_frame(
        &self,
        count: bool,
    ) -> Option<(
        u64,
        *const Request,
        u64,
        flume::Receiver<Wake>,
        ResourceArc<FrameToken>,
    )> {
        let mut frames = self.frames.borrow_mut();
        let frame = frames.last_mut()?;
        if count {
            frame.seq += 1;
        }
        if frame.wake.is_none() {
            let (tx, rx) = flume::unbounded();
            // SAFETY: the request outlives its frame (see `run`).
            self.context.open_frame(unsafe { &*frame.request }, tx);
            let token = ResourceArc::new(FrameToken {
                context: Arc::downgrade(&self.context),
                frame: frame.id,
            });
            frame.wake = Some((rx, token));
        }
        let (rx, token) = frame.wake.as_ref()?;
        Some((
            frame.id,
            frame.request,
            frame.seq,
            rx.clone(),
            token.clone(),
        ))
    }

    /// Waits for a message on `queue` with the running frame parked: the GIL is
    /// released, nested requests for the frame are served, and a cancellation of the
    /// call ends the wait with `TimeoutError`. `None` when no request runs here.
    /// `sends` counts what was ever sent to `queue`: the frame spins on it (and on
    /// its own wake counter) briefly before blocking, so a message that arrives
    /// within microseconds costs no sleeping thread's wake-up.
    pub fn wait_parked<T: Send>(
        &self,
        py: Python<'_>,
        queue: &flume::Receiver<T>,
        sends: &std::sync::atomic::AtomicU64,
        deadline: Option<std::time::Instant>,
    ) -> Option<PyResult<Received<T>>> {
        let (id, _request, _seq, rx, _token) = self.top_frame(false)?;
        if !self.context.park(py, id, || {}) {
            return Some(Err(cancelled()));
        }
        loop {
            let context = &self.context;
            let event = py.detach(|| {
                // Only an empty wait is worth spinning on: a queued message is taken at once.
                if queue.is_empty() && rx.is_empty() {
                    context.spin_until_changed(sends, SPIN);
                }
                let selector = flume::Selector::new()
                    .recv(queue, |message| match message {
                        Ok(message) => Event::Message(message),
                        Err(_) => Event::Closed,
                    })
                    .recv(&rx, |wake| Event::Wake(wake.ok()));
                match deadline {
                    Some(deadline) => selector.wait_deadline(deadline).unwrap_or(Event::TimedOut),
                    None => selector.wait(),
                }
            });
            let done = match event {
                Event::Wake(Some(Wake::Nested(nested))) => {
                    run(py, self, nested);
                    if !self.context.is_cancelled(id) {
                        continue;
                    }
                    Err(cancelled())
                }
                Event::Wake(Some(Wake::Reply { .. })) => continue,
                Event::Wake(Some(Wake::Cancel) | None) => Err(cancelled()),
                Event::Message(message) => Ok(Received::Message(message)),
                Event::Closed => Ok(Received::Closed),
                Event::TimedOut => Ok(Received::TimedOut),
            };
            if !self.context.unpark(id) {
                return Some(Err(cancelled()));
            }
            return Some(done);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn park<'py>(
        &self,
        py: Python<'py>,
        id: u64,
        request: *const Request,
        seq: u64,
        rx: &flume::Receiver<Wake>,
        token: ResourceArc<FrameToken>,
        name: &str,
        args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // SAFETY: the request outlives its frame (see `run`).
        let request = unsafe { &*request };
        let mut message = OwnedEnv::new();
        let built = request.env.run(|request_env| {
            let reference = request.reference.load(request_env);
            message.run(|env| {
                let encoder = Encoder_ {
                    py,
                    env,
                    types: &self.interp.types,
                    home: &self.interp.home,
                };
                let mut items = Vec::with_capacity(args.len());
                for arg in args.iter() {
                    items.push(encoder.encode(&arg)?);
                }
                let call = (atoms::callback(), token, seq, name, items);
                let term = (reference.in_env(env), call).encode(env);
                Ok::<_, crate::convert::ConvertError>(term.as_c_arg())
            })
        });
        let term = built.map_err(|err| PyValueError::new_err(err.describe()))?;
        let parked = self.context.park(py, id, || {
            let _ = message.send_and_clear(&request.caller, |env| {
                // SAFETY: `term` was built in this environment just above.
                unsafe { rustler::Term::new(env, term) }
            });
        });
        if !parked {
            return Err(cancelled());
        }

        loop {
            let context = &self.context;
            let wake = py.detach(|| context.next_wake(rx, SPIN));
            match wake {
                Some(Wake::Nested(nested)) => {
                    run(py, self, nested);
                    if self.context.is_cancelled(id) {
                        self.context.unpark(id);
                        return Err(cancelled());
                    }
                }
                Some(Wake::Reply { seq: answered, .. }) if answered != seq => continue,
                Some(Wake::Reply { env, term, .. }) => {
                    if !self.context.unpark(id) {
                        return Err(cancelled());
                    }
                    return env.run(|env| self.callback_result(py, term.load(env)));
                }
                Some(Wake::Cancel) | None => {
                    self.context.unpark(id);
                    return Err(cancelled());
                }
            }
        }
    }

    /// `{:ok, value}` becomes the value; `{:error, {kind, module, message}}` raises
    /// `erlang.CallbackError`.
    fn callback_result<'py>(
        &self,
        py: Python<'py>,
        term: rustler::Term<'_>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let decoder = Decoder {
            py,
            types: &self.interp.types,
            interp: self.interp.home.interp,
            ints: Some(&self.interp.ints),
        };
        callback_result(py, &decoder, &self.interp.types.callback_error, term)
    }
}

/// The end of a wait on a queue.
pub enum Received<T> {
    Message(T),
    /// The queue's senders are gone and it is drained.
    Closed,
    TimedOut,
}

enum Event<T> {
    Message(T),
    Closed,
    TimedOut,
    Wake(Option<Wake>),
}

/// Turns a callback's answer into the value `erlang.call` returns or raises.
pub fn callback_result<'py>(
    py: Python<'py>,
    decoder: &Decoder<'_, 'py>,
    error_class: &Py<pyo3::types::PyType>,
    term: rustler::Term<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    let malformed = || PyRuntimeError::new_err("malformed callback reply");
    let (tag, payload) = term
        .decode::<(rustler::Atom, rustler::Term)>()
        .map_err(|_| malformed())?;
    if tag == atoms::ok() {
        return decoder
            .decode(payload)
            .map_err(|err| PyValueError::new_err(err.describe()));
    }
    let (kind, module, message) = payload
        .decode::<(rustler::Term, rustler::Term, String)>()
        .map_err(|_| malformed())?;
    let kind = kind.atom_to_string().unwrap_or_else(|_| "error".into());
    let module: Option<String> = module.decode().ok();
    let error = error_class.bind(py).call1((message, kind, module))?;
    Err(PyErr::from_value(error))
}

fn cancelled() -> PyErr {
    PyTimeoutError::new_err("the call was cancelled (timeout or caller gone)")
}

/// Keeps this thread's frame stack in step with `run`, also when a panic unwinds.
struct FrameGuard<'a> {
    worker: &'a Worker,
}

impl Drop for FrameGuard<'_> {
    fn drop(&mut self) {
        self.worker.frames.borrow_mut().pop();
    }
}

/// Runs one request and answers it. A Rust panic while running it becomes
/// `{:error, {:internal, text}}` and the context goes on serving.
pub fn run(py: Python<'_>, worker: &Worker, request: Request) {
    let context = &worker.context;
    if !context.begin(&request) {
        return;
    }
    let wake = {
        worker.frames.borrow_mut().push(Frame {
            id: request.id,
            request: &request,
            seq: 0,
            wake: None,
        });
        let guard = FrameGuard { worker };
        let reply = catch_unwind(AssertUnwindSafe(|| {
            // Output, including any printed while the reply is built, goes to the caller.
            let _route = output::route_to(context, &request);
            let outcome = worker.interp.execute(py, &request);
            let reply = request.env.run(|env| {
                outcome
                    .to_term(py, env, &worker.interp.types, &worker.interp.home)
                    .as_c_arg()
            });
            (reply, outcome)
        }));
        // The result (and the call's arguments) are freed after the reply is sent:
        // for a large list that is a fifth of the call the caller no longer waits for.
        let (reply, spent) = match reply {
            Ok((reply, outcome)) => (reply, Some(outcome)),
            Err(panic) => {
                let text = panic_text(&panic);
                let reply = request.env.run(|env| {
                    (atoms::error(), (atoms::internal(), text))
                        .encode(env)
                        .as_c_arg()
                });
                (reply, None)
            }
        };
        let wake = worker
            .frames
            .borrow_mut()
            .last_mut()
            .and_then(|frame| frame.wake.take());
        drop(guard);
        context.finish(py, request, reply);
        drop(spent);
        worker.interp.drop_spent();
        wake
    };
    // Requests that reached the frame's channel as it returned: answer them.
    if let Some((rx, _token)) = wake {
        for leftover in rx.try_iter() {
            if let Wake::Nested(nested) = leftover {
                answer_stopped(py, context, nested);
            }
        }
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("panic in the NIF: {text}")
}

fn answer_stopped(py: Python<'_>, context: &Context, request: Request) {
    if context.begin(&request) {
        let reply = request
            .env
            .run(|env| (atoms::error(), atoms::stopped()).encode(env).as_c_arg());
        context.finish(py, request, reply);
    }
}

/// Starts a context thread, pinned to `cpu` if given; returns once its interpreter
/// is ready.
pub fn spawn(index: usize, kind: Kind, cpu: Option<usize>) -> Result<Arc<Context>, String> {
    let (context, rx) = Context::new(index);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread_context = context.clone();
    std::thread::Builder::new()
        .name(format!("py-context-{index}"))
        .stack_size(STACK_SIZE)
        .spawn(move || main(thread_context, rx, kind, cpu, ready_tx))
        .map_err(|err| format!("cannot start a context thread: {err}"))?;
    ready_rx
        .recv()
        .map_err(|_| "the context thread stopped during start-up".to_string())??;
    crate::watchdog::register(&context);
    Ok(context)
}

/// How the thread got its Python thread state, and so how it gives it back.
enum Thread {
    Worker(ffi::PyGILState_STATE),
    Subinterp(Option<subinterp::Interrupter>),
}

fn main(
    context: Arc<Context>,
    rx: flume::Receiver<Job>,
    kind: Kind,
    cpu: Option<usize>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    if let Some(Err(why)) = cpu.map(crate::affinity::pin_current_thread) {
        let _ = ready.send(Err(why));
        return;
    }
    let started = match kind {
        Kind::Worker(home) => start_worker(&context, home),
        Kind::Subinterp => start_subinterp(&context),
    };
    let (tstate, interp, thread) = match started {
        Ok(started) => started,
        Err(why) => {
            let _ = ready.send(Err(why));
            return;
        }
    };
    let worker = Rc::new(Worker {
        context: context.clone(),
        interp,
        frames: RefCell::new(Vec::new()),
    });
    CURRENT.with(|current| *current.borrow_mut() = Some(worker.clone()));
    let _ = ready.send(Ok(()));

    let mut stop = false;
    while !stop {
        let Some(first) = context.next_job(&rx, SPIN) else {
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
                    Job::Run(request) => run(py, &worker, request),
                    Job::Release(orphan) => orphan.release(py),
                }
                served += 1;
                if served < BATCH {
                    job = context.queued_job(&rx);
                }
            }
        });
    }

    // From here on requests are refused; those already queued are answered.
    context.close();
    CURRENT.with(|current| current.borrow_mut().take());
    attached(tstate, |py| {
        while let Some(job) = context.queued_job(&rx) {
            match job {
                Job::Run(request) => answer_stopped(py, &context, request),
                Job::Release(orphan) => orphan.release(py),
                Job::Stop => {}
            }
        }
        // A subinterpreter's event-loop thread must end before the interpreter does.
        if matches!(thread, Thread::Subinterp(_)) {
            if let Err(err) = py
                .import("erlang")
                .and_then(|erlang| erlang.call_method0("_loop_shutdown"))
            {
                drop(err);
            }
        }
        // The caches hold Python objects: drop them while attached.
        match Rc::try_unwrap(worker) {
            Ok(worker) => drop(worker),
            Err(shared) => std::mem::forget(shared),
        }
    });

    match thread {
        // SAFETY: `tstate` is this thread's own, detached; releasing the outermost
        // PyGILState_Ensure clears and deletes it.
        Thread::Worker(gstate) => unsafe {
            ffi::PyEval_RestoreThread(tstate);
            ffi::PyGILState_Release(gstate);
        },
        Thread::Subinterp(interrupter) => {
            // Objects released from now on are leaked: their interpreter is going away.
            drop(rx);
            context.set_interrupter(None);
            // SAFETY: this thread created the interpreter and `tstate` is its only
            // remaining thread state once the interrupter has deleted its own.
            unsafe { subinterp::end(tstate, interrupter) };
        }
    }
}

type Started = (*mut ffi::PyThreadState, Interp, Thread);

fn start_worker(context: &Arc<Context>, home: Home) -> Result<Started, String> {
    // SAFETY: the runtime is initialised before any context starts. Ensure creates this
    // thread's state; SaveThread detaches it so other threads run while we are idle.
    let (gstate, tstate) = unsafe {
        let gstate = ffi::PyGILState_Ensure();
        (gstate, ffi::PyEval_SaveThread())
    };
    let interp = attached(tstate, |py| {
        record_thread(py, context);
        Interp::main(py, home).map_err(|err| err.to_string())
    });
    match interp {
        Ok(interp) => Ok((tstate, interp, Thread::Worker(gstate))),
        Err(why) => {
            // SAFETY: as at the end of `main`.
            unsafe {
                ffi::PyEval_RestoreThread(tstate);
                ffi::PyGILState_Release(gstate);
            }
            Err(why)
        }
    }
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
    // SAFETY: the interpreter was just created and is alive.
    let interp_id = unsafe { ffi::PyInterpreterState_GetID(interp_state) };
    context
        .interp_id
        .store(interp_id, std::sync::atomic::Ordering::Relaxed);
    let home = Home::context(Arc::downgrade(context), interp_id);
    let interp = attached(tstate, |py| {
        record_thread(py, context);
        Interp::sub(py, home).map_err(|err| err.to_string())
    });
    let interp = match interp {
        Ok(interp) => interp,
        Err(why) => {
            // SAFETY: as in `main`: no other thread state exists yet.
            unsafe { subinterp::end(tstate, None) };
            return Err(why);
        }
    };
    let interrupter = subinterp::Interrupter::spawn(interp_state, Arc::downgrade(context))?;
    context.set_interrupter(Some(interrupter.sender()));
    Ok((tstate, interp, Thread::Subinterp(Some(interrupter))))
}

fn record_thread(py: Python<'_>, context: &Context) {
    let ident = py
        .import("threading")
        .and_then(|threading| threading.call_method0("get_ident"))
        .and_then(|ident| ident.extract::<u64>())
        .unwrap_or(0);
    context
        .thread_ident
        .store(ident, std::sync::atomic::Ordering::Relaxed);
}
