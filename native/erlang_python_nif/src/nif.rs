//! The NIF functions, as `Py.Native` declares them. Each is a thin shell over the
//! module that does the work.

use std::sync::Arc;
use std::time::Duration;

use rustler::{Atom, Encoder, Env, LocalPid, OwnedEnv, ResourceArc, Term};

use crate::affinity;
use crate::atoms;
use crate::channel::{Channel, ChannelRef, Sent};
use crate::context::{Cancel, Context, FastWait, InlineReply, OpTerm, Request, INDEX_BITS};
use crate::loan::Loan;
use crate::object::{self, PyObj};
use crate::pool::Pool;
use crate::runner::ThreadReply;
use crate::runtime;
use crate::semaphore;
use crate::state;
use crate::term_size;
use crate::worker::{self, FrameToken, Kind};

/// How long a caller whose request went to an idle context waits for the reply
/// before returning to `receive`: short calls finish well within it.
const CALLER_SPIN: Duration = Duration::from_micros(20);

/// Terms larger than this (in words, about 64 KiB) are copied on a dirty scheduler:
/// copying 100 MB on a normal scheduler would stall it for tens of milliseconds.
const HEAVY_WORDS: usize = 8 * 1024;

/// Ops of at least this many words (about 4 KiB) are lent to an idle context rather
/// than copied, on a normal scheduler too: converting them takes no longer than the
/// copy plus the conversion the context would do after it.
const LEND_WORDS: usize = 512;

/// How long a caller lending its op waits for the idle context to take it before
/// copying it after all: the context is slow to take it only while it waits for the
/// GIL. Short on a normal scheduler, which other processes wait for.
const LOAN_TAKE_LIMIT: Duration = Duration::from_micros(50);
const DIRTY_LOAN_TAKE_LIMIT: Duration = Duration::from_millis(1);

#[rustler::nif(schedule = "DirtyIo")]
fn runtime_init<'a>(env: Env<'a>, python: String, relay: LocalPid) -> Term<'a> {
    match runtime::init(&python, relay) {
        Ok(runtime) => (atoms::ok(), info_term(env, &runtime.info)).encode(env),
        Err(why) => (atoms::error(), (atoms::init_failed(), why)).encode(env),
    }
}

#[rustler::nif]
fn runtime_info(env: Env<'_>) -> Term<'_> {
    match runtime::get() {
        Some(runtime) => (atoms::ok(), info_term(env, &runtime.info)).encode(env),
        None => (atoms::error(), atoms::not_initialized()).encode(env),
    }
}

#[rustler::nif]
fn runtime_allow_fork(allow: bool) -> Atom {
    crate::audit::allow_fork(allow);
    atoms::ok()
}

/// Turns the sandbox on, blocking these audit events; it cannot be turned off.
#[rustler::nif]
fn runtime_sandbox(env: Env<'_>, events: Vec<String>) -> Term<'_> {
    if crate::audit::sandbox(events) {
        atoms::ok().encode(env)
    } else {
        (atoms::error(), atoms::already_set()).encode(env)
    }
}

#[rustler::nif]
fn runtime_sandbox_events() -> Vec<String> {
    crate::audit::sandbox_events()
}

#[rustler::nif]
fn runner_register(pid: LocalPid) -> Atom {
    crate::runner::set_runner(pid);
    atoms::ok()
}

/// Whether new interpreters send Python logging to Logger, and at which Python
/// level. Called before the runtime starts.
#[rustler::nif]
fn logging_configure(enabled: bool, level: Option<i64>) -> Atom {
    crate::logging::configure(enabled, level);
    atoms::ok()
}

/// Turns span recording on or off, and names the collector process.
#[rustler::nif]
fn trace_configure(collector: LocalPid, enabled: bool) -> Atom {
    crate::trace::set_collector(collector);
    crate::trace::set_enabled(enabled);
    atoms::ok()
}

/// The process that turns Python log records into Logger calls.
#[rustler::nif]
fn logging_relay(relay: LocalPid) -> Atom {
    crate::logging::set_relay(relay);
    atoms::ok()
}

#[rustler::nif]
fn callback_names(names: Vec<String>) -> Atom {
    crate::callback::set_names(names);
    atoms::ok()
}

fn info_term<'a>(env: Env<'a>, info: &runtime::Info) -> Term<'a> {
    let pairs: Vec<(Term, Term)> = vec![
        (atoms::version().encode(env), info.version.encode(env)),
        (
            atoms::version_info().encode(env),
            info.version_info.encode(env),
        ),
        (
            atoms::free_threaded().encode(env),
            info.free_threaded.encode(env),
        ),
        (
            atoms::gil_enabled().encode(env),
            info.gil_enabled.encode(env),
        ),
        (
            atoms::subinterpreters().encode(env),
            info.subinterpreters().encode(env),
        ),
        (atoms::executable().encode(env), info.executable.encode(env)),
        (atoms::prefix().encode(env), info.prefix.encode(env)),
        (
            atoms::base_prefix().encode(env),
            info.base_prefix.encode(env),
        ),
        // Whether the NIF was built with pyo3's deferred-decref pool disabled, as
        // every build of the project must be (a stray decref then fails loudly).
        (
            atoms::reference_pool().encode(env),
            (!cfg!(pyo3_disable_reference_pool)).encode(env),
        ),
    ];
    Term::map_from_pairs(env, &pairs).unwrap_or_else(|_| atoms::error().encode(env))
}

#[rustler::nif(schedule = "DirtyIo")]
fn pool_new(env: Env<'_>, size: usize, mode: Atom, affinity: Atom) -> Term<'_> {
    let Some(runtime) = runtime::get() else {
        return (atoms::error(), atoms::not_initialized()).encode(env);
    };
    if size == 0 || size >= (1 << INDEX_BITS) {
        return (atoms::error(), (atoms::invalid(), "pool size out of range")).encode(env);
    }
    let subinterp = if mode == atoms::worker() {
        false
    } else if mode == atoms::subinterp() {
        true
    } else {
        return (atoms::error(), (atoms::invalid(), "unsupported pool mode")).encode(env);
    };
    let cpus = if affinity == atoms::none() {
        vec![None; size]
    } else if affinity == atoms::spread() {
        match affinity::spread(size) {
            Ok(cpus) => cpus.into_iter().map(Some).collect(),
            Err(why) => return (atoms::error(), (atoms::invalid(), why)).encode(env),
        }
    } else {
        return (
            atoms::error(),
            (atoms::invalid(), "unsupported cpu affinity"),
        )
            .encode(env);
    };
    let mut contexts = Vec::with_capacity(size);
    for (index, cpu) in cpus.into_iter().enumerate() {
        let kind = if subinterp {
            Kind::Subinterp
        } else {
            Kind::Worker(runtime.home.clone())
        };
        match worker::spawn(index, kind, cpu) {
            Ok(context) => contexts.push(context),
            Err(why) => {
                for context in &contexts {
                    context.stop();
                }
                return (atoms::error(), (atoms::init_failed(), why)).encode(env);
            }
        }
    }
    (atoms::ok(), ResourceArc::new(Pool::new(contexts))).encode(env)
}

/// Queues `op` on the pool; the reply arrives as `{reference, result}`, or directly
/// as `{:done, result, had_output?}` when `wait` is set and the call is short.
/// `strict` pins the request to context `index` (bound processes, `context:`).
/// `frame` is the token of the frame whose callback is making this call, or nil:
/// when the call would land on that frame's context, it runs on top of the frame.
/// Returns `:heavy` for an op too large to copy here: call `pool_submit_dirty`.
// The NIF's arguments are its Elixir signature; bundling them would only move them.
#[allow(clippy::too_many_arguments)]
#[rustler::nif]
fn pool_submit<'a>(
    env: Env<'a>,
    pool: ResourceArc<Pool>,
    index: usize,
    strict: bool,
    reference: Term<'a>,
    op: Term<'a>,
    wait: bool,
    frame: Term<'a>,
) -> Term<'a> {
    let words = term_size::estimate(op, HEAVY_WORDS);
    if words > HEAVY_WORDS {
        return atoms::heavy().encode(env);
    }
    let lend = (words >= LEND_WORDS).then_some(LOAN_TAKE_LIMIT);
    submit_to_pool(env, &pool, index, strict, reference, op, wait, frame, lend)
}

/// `pool_submit` for large ops, on a dirty scheduler. A caller that waits lends the
/// op to an idle context instead of copying it.
#[allow(clippy::too_many_arguments)]
#[rustler::nif(schedule = "DirtyCpu")]
fn pool_submit_dirty<'a>(
    env: Env<'a>,
    pool: ResourceArc<Pool>,
    index: usize,
    strict: bool,
    reference: Term<'a>,
    op: Term<'a>,
    wait: bool,
    frame: Term<'a>,
) -> Term<'a> {
    let lend = Some(DIRTY_LOAN_TAKE_LIMIT);
    submit_to_pool(env, &pool, index, strict, reference, op, wait, frame, lend)
}

#[allow(clippy::too_many_arguments)]
fn submit_to_pool<'a>(
    env: Env<'a>,
    pool: &Pool,
    index: usize,
    strict: bool,
    reference: Term<'a>,
    op: Term<'a>,
    wait: bool,
    frame: Term<'a>,
    lend: Option<Duration>,
) -> Term<'a> {
    let context = match routed(env, pool, index, strict) {
        Ok(context) => context,
        Err(refused) => return refused,
    };
    if let Some((frame_context, token)) = parked_frame(frame) {
        let lands_there = if strict {
            Arc::ptr_eq(context, &frame_context)
        } else {
            pool.holds(&frame_context)
        };
        if lands_there {
            if let Some(reply) = submit_nested(env, &frame_context, &token, reference, op) {
                return reply;
            }
        }
    }
    submit_to(env, context, reference, op, wait, lend)
}

/// The context a request goes to: context `index` itself when `strict`, else the
/// least loaded from `index` on. The error term when the pool cannot take it.
fn routed<'p, 'a>(
    env: Env<'a>,
    pool: &'p Pool,
    index: usize,
    strict: bool,
) -> Result<&'p Arc<Context>, Term<'a>> {
    if pool.is_stopped() {
        return Err((atoms::error(), atoms::stopped()).encode(env));
    }
    if !strict {
        return Ok(pool.pick(index));
    }
    pool.contexts
        .get(index)
        .ok_or_else(|| (atoms::error(), (atoms::invalid(), "no such context")).encode(env))
}

/// The frame a callback's call belongs to, while its context is alive.
fn parked_frame(frame: Term<'_>) -> Option<(Arc<Context>, ResourceArc<FrameToken>)> {
    let token = frame.decode::<ResourceArc<FrameToken>>().ok()?;
    let context = token.context.upgrade()?;
    Some((context, token))
}

/// Runs a callback's request on top of its parked frame, under the frame's permit.
/// `None` when the frame is no longer waiting: the request then goes the usual way.
fn submit_nested<'a>(
    env: Env<'a>,
    context: &Context,
    token: &FrameToken,
    reference: Term<'a>,
    op: Term<'a>,
) -> Option<Term<'a>> {
    let owned = OwnedEnv::new();
    let reference = owned.save(reference);
    let op = owned.save(op);
    let id = context
        .submit_nested(token.frame, env.pid(), owned, reference, op)
        .ok()?;
    Some((atoms::ok(), id).encode(env))
}

/// Submits to one context: takes a semaphore permit, queues the request and, for a
/// short call on an idle context, waits for the reply inline. With `lend` such a
/// call's op is not copied: the context converts it from this NIF's environment,
/// if it takes it within that time (else the op is copied after all).
fn submit_to<'a>(
    env: Env<'a>,
    context: &Context,
    reference: Term<'a>,
    op: Term<'a>,
    wait: bool,
    lend: Option<Duration>,
) -> Term<'a> {
    if let Err((current, max)) = semaphore::acquire() {
        return (atoms::error(), (atoms::overloaded(), current, max)).encode(env);
    }
    // Only an uncontended call is worth waiting for here; behind other work the wait
    // would be wasted, and a batch (`wait` false) must not wait per request.
    let mut spin = wait && context.load() == 0;
    let owned = OwnedEnv::new();
    let reference = owned.save(reference);
    let loan = lend.filter(|_| spin).map(|limit| (Loan::new(op), limit));
    let op_term = match &loan {
        Some((loan, _)) => OpTerm::Lent(loan.clone()),
        None => OpTerm::Saved(owned.save(op)),
    };
    let mut request = context.request(env.pid(), owned, reference, op_term);
    if spin && loan.is_none() && context.fast_lane_open() {
        match submit_fast(env, context, request) {
            Ok(answered) => return answered,
            // The context did not take it within the spin: it is asleep or busy, and
            // spinning again would likely wait in vain. The reply comes as a message.
            Err(reclaimed) => (request, spin) = (reclaimed, false),
        }
    }
    match context.submit(request, spin) {
        Ok(id) => {
            if let Some((loan, limit)) = loan {
                loan.settle(op, limit);
            }
            if spin {
                if let Some(reply) = context.wait_inline(id, CALLER_SPIN) {
                    return done(env, reply);
                }
            }
            (atoms::ok(), id).encode(env)
        }
        // `submit` gave the permit back.
        Err(()) => (atoms::error(), atoms::stopped()).encode(env),
    }
}

/// Sends a short call through the context's fast lane and waits for it there. The
/// request comes back when it could not go that way (the lane was busy, or the
/// context did not take it in time): the caller then queues it.
fn submit_fast<'a>(env: Env<'a>, context: &Context, request: Request) -> Result<Term<'a>, Request> {
    let id = context.submit_fast(request)?;
    let inline = match context.wait_fast(id, env.pid(), CALLER_SPIN) {
        FastWait::Done(reply) => Some(reply),
        FastWait::Registered(remaining) => context.wait_inline(id, remaining),
        FastWait::Pending => None,
        FastWait::Reclaimed(request) => return Err(request),
    };
    Ok(match inline {
        Some(reply) => done(env, reply),
        None => (atoms::ok(), id).encode(env),
    })
}

/// `{:done, result, had_output?}` from a reply handed over inside the NIF.
fn done<'a>(env: Env<'a>, reply: InlineReply) -> Term<'a> {
    // SAFETY: `reply.term` was built in `reply.env`, which is alive.
    let result = reply
        .env
        .run(|owned| unsafe { Term::new(owned, reply.term) }.in_env(env));
    (atoms::done(), result, reply.had_output).encode(env)
}

/// Like `pool_submit`, to the context that owns `object` when that is a
/// subinterpreter (its objects are usable nowhere else); `:main` when the object
/// belongs to the main interpreter and any worker context will do.
#[rustler::nif]
fn object_submit<'a>(
    env: Env<'a>,
    object: ResourceArc<PyObj>,
    reference: Term<'a>,
    op: Term<'a>,
    wait: bool,
    frame: Term<'a>,
) -> Term<'a> {
    match object.home_context() {
        Some(context) if !context.is_closed() => {
            if let Some((frame_context, token)) = parked_frame(frame) {
                if Arc::ptr_eq(&context, &frame_context) {
                    if let Some(reply) = submit_nested(env, &context, &token, reference, op) {
                        return reply;
                    }
                }
            }
            submit_to(env, &context, reference, op, wait, None)
        }
        None if !object.is_subinterp() => atoms::main().encode(env),
        _ => (
            atoms::error(),
            (
                atoms::invalid(),
                "this Py.Object cannot be used: its interpreter is gone",
            ),
        )
            .encode(env),
    }
}

#[rustler::nif]
fn object_cancel(object: ResourceArc<PyObj>, id: u64) -> Atom {
    match object.home_context().map(|context| context.cancel(id)) {
        Some(Cancel::Cancelled) => atoms::cancelled(),
        // A context that is gone answered everything it had queued.
        Some(Cancel::Replied) | None => atoms::replied(),
    }
}

#[rustler::nif]
fn pool_cancel(pool: ResourceArc<Pool>, id: u64) -> Atom {
    let index = (id & ((1 << INDEX_BITS) - 1)) as usize;
    match pool.contexts.get(index).map(|context| context.cancel(id)) {
        Some(Cancel::Cancelled) => atoms::cancelled(),
        Some(Cancel::Replied) | None => atoms::replied(),
    }
}

/// Answers callback `seq` of a parked frame with `result` (`{:ok, value}` or
/// `{:error, {kind, module, message}}`). `:gone` when the frame no longer waits.
#[rustler::nif]
fn frame_reply<'a>(token: ResourceArc<FrameToken>, seq: u64, result: Term<'a>) -> Atom {
    let Some(context) = token.context.upgrade() else {
        return atoms::gone();
    };
    let owned = OwnedEnv::new();
    let saved = owned.save(result);
    if context.reply_to_frame(token.frame, seq, owned, saved) {
        atoms::ok()
    } else {
        atoms::gone()
    }
}

/// Answers a callback made from a Python thread (see `runner`).
#[rustler::nif]
fn runner_reply<'a>(token: ResourceArc<ThreadReply>, result: Term<'a>) -> Atom {
    let owned = OwnedEnv::new();
    let saved = owned.save(result);
    if token.answer(owned, saved) {
        atoms::ok()
    } else {
        atoms::gone()
    }
}

#[rustler::nif]
fn pool_stop(pool: ResourceArc<Pool>) -> Atom {
    pool.stop();
    atoms::ok()
}

#[rustler::nif]
fn pool_size(pool: ResourceArc<Pool>) -> usize {
    pool.contexts.len()
}

#[rustler::nif]
fn pool_loads(pool: ResourceArc<Pool>) -> Vec<usize> {
    pool.contexts.iter().map(|context| context.load()).collect()
}

/// `{answered, registered, given_up, reclaimed}`: how the requests sent through the
/// pool's fast lanes left them (see `fastlane::Counts`).
#[rustler::nif]
fn pool_fast_lane_counts(pool: ResourceArc<Pool>) -> (u64, u64, u64, u64) {
    pool.contexts
        .iter()
        .fold((0, 0, 0, 0), |(a, r, g, c), context| {
            let counts = context.fast_lane_counts();
            (
                a + counts.answered,
                r + counts.registered,
                g + counts.given_up,
                c + counts.reclaimed,
            )
        })
}

#[rustler::nif]
fn semaphore_current() -> usize {
    semaphore::current()
}

#[rustler::nif]
fn semaphore_max() -> usize {
    semaphore::max()
}

/// Takes a permit outside any request (Erlang's `py_semaphore:acquire/1`).
#[rustler::nif]
fn semaphore_acquire() -> bool {
    semaphore::acquire().is_ok()
}

#[rustler::nif]
fn semaphore_release() -> Atom {
    semaphore::release();
    atoms::ok()
}

#[rustler::nif]
fn semaphore_set_max(max: usize) -> Atom {
    semaphore::set_max(max);
    atoms::ok()
}

#[rustler::nif]
fn object_count() -> i64 {
    object::live_count()
}

/// `{made, withdrawn}`: ops lent to contexts since start, and those the caller had
/// to copy after all (see `loan`).
#[rustler::nif]
fn loan_counts() -> (u64, u64) {
    crate::loan::counts()
}

/// Does nothing: the floor for the per-call cost in benchmarks.
#[rustler::nif]
fn noop() -> Atom {
    atoms::ok()
}

#[rustler::nif]
fn state_store(key: Term<'_>, value: Term<'_>) -> Atom {
    state::set(state::key(key), state::value(value));
    atoms::ok()
}

#[rustler::nif]
fn state_fetch<'a>(env: Env<'a>, key: Term<'a>) -> Term<'a> {
    match state::get(env, &state::key(key)) {
        Some(value) => (atoms::ok(), value).encode(env),
        None => (atoms::error(), atoms::not_found()).encode(env),
    }
}

#[rustler::nif]
fn state_delete(key: Term<'_>) -> Atom {
    state::delete(&state::key(key));
    atoms::ok()
}

#[rustler::nif]
fn state_keys(env: Env<'_>) -> Vec<Term<'_>> {
    state::keys(env)
}

#[rustler::nif]
fn state_incr<'a>(env: Env<'a>, key: Term<'a>, by: i64) -> Term<'a> {
    match state::incr(state::key(key), by) {
        Ok(value) => (atoms::ok(), value).encode(env),
        Err(state::IncrError::NotInteger) => (atoms::error(), atoms::not_integer()).encode(env),
        Err(state::IncrError::Overflow) => (atoms::error(), atoms::overflow()).encode(env),
    }
}

#[rustler::nif]
fn channel_new<'a>(env: Env<'a>, max_size: usize, bytes_mode: bool) -> Term<'a> {
    let owner = env.pid();
    let channel = ResourceArc::new(ChannelRef::new(Channel::open(max_size, bytes_mode, owner)));
    // The channel closes when its owner dies.
    if channel.monitor(Some(env), &owner).is_none() {
        channel.0.close();
    }
    (atoms::ok(), channel).encode(env)
}

/// `:ok`, `:busy` (past `max_size`) or `{:error, :closed}`; never blocks.
#[rustler::nif]
fn channel_send<'a>(env: Env<'a>, channel: ResourceArc<ChannelRef>, message: Term<'a>) -> Term<'a> {
    let payload = if channel.0.bytes_mode {
        match message.decode::<rustler::Binary>() {
            Ok(binary) => binary.as_slice().to_vec(),
            Err(_) => return (atoms::error(), atoms::not_binary()).encode(env),
        }
    } else {
        message.to_binary().as_slice().to_vec()
    };
    match channel.0.send(payload) {
        Sent::Ok => atoms::ok().encode(env),
        Sent::Busy => atoms::busy().encode(env),
        Sent::Closed => (atoms::error(), atoms::closed()).encode(env),
    }
}

#[rustler::nif]
fn channel_close(channel: ResourceArc<ChannelRef>) -> Atom {
    channel.0.close();
    atoms::ok()
}

#[rustler::nif]
fn channel_info<'a>(env: Env<'a>, channel: ResourceArc<ChannelRef>) -> Term<'a> {
    let (size, bytes) = channel.0.queued();
    let pairs = [
        (atoms::size().encode(env), size.encode(env)),
        (atoms::bytes().encode(env), bytes.encode(env)),
        (
            atoms::max_size().encode(env),
            channel.0.max_size.encode(env),
        ),
        (
            atoms::closed().encode(env),
            channel.0.is_closed().encode(env),
        ),
        (atoms::owner().encode(env), channel.0.owner.encode(env)),
    ];
    Term::map_from_pairs(env, &pairs).unwrap_or_else(|_| atoms::error().encode(env))
}

/// Queues a call as a task on the event loop of the interpreter that runs context
/// `index` of `pool`: `{:ok, handle}`, `:ok` for a detached task (`pid` nil),
/// `:not_started` when that loop does not run yet, `:heavy` for large arguments
/// (use `loop_submit_dirty`).
#[rustler::nif]
fn loop_submit<'a>(
    env: Env<'a>,
    pool: ResourceArc<Pool>,
    index: usize,
    strict: bool,
    reference: Term<'a>,
    pid: Option<LocalPid>,
    op: Term<'a>,
) -> Term<'a> {
    if term_size::exceeds(op, HEAVY_WORDS) {
        return atoms::heavy().encode(env);
    }
    submit_task(env, &pool, index, strict, reference, pid, op)
}

#[rustler::nif(schedule = "DirtyCpu")]
fn loop_submit_dirty<'a>(
    env: Env<'a>,
    pool: ResourceArc<Pool>,
    index: usize,
    strict: bool,
    reference: Term<'a>,
    pid: Option<LocalPid>,
    op: Term<'a>,
) -> Term<'a> {
    submit_task(env, &pool, index, strict, reference, pid, op)
}

fn submit_task<'a>(
    env: Env<'a>,
    pool: &Pool,
    index: usize,
    strict: bool,
    reference: Term<'a>,
    pid: Option<LocalPid>,
    op: Term<'a>,
) -> Term<'a> {
    let context = match routed(env, pool, index, strict) {
        Ok(context) => context,
        Err(refused) => return refused,
    };
    let interp = context.interp_id.load(std::sync::atomic::Ordering::Relaxed);
    let Some(inbox) = crate::task::inbox_of(interp) else {
        return atoms::not_started().encode(env);
    };
    match crate::task::submit(&inbox, pid, reference, op) {
        crate::task::Submitted::Handle(handle) => {
            (atoms::ok(), ResourceArc::new(handle)).encode(env)
        }
        crate::task::Submitted::Detached => atoms::ok().encode(env),
        crate::task::Submitted::Overloaded(current, max) => {
            (atoms::error(), (atoms::overloaded(), current, max)).encode(env)
        }
        crate::task::Submitted::Stopped => atoms::not_started().encode(env),
    }
}

/// Cancels a task: `:cancelled` when no reply will come, `:replied` when it was
/// already answered (the reply is in the caller's mailbox or on its way).
#[rustler::nif]
fn loop_cancel(handle: ResourceArc<crate::task::TaskHandle>) -> Atom {
    if crate::task::cancel_handle(&handle) {
        atoms::cancelled()
    } else {
        atoms::replied()
    }
}
