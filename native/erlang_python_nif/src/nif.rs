//! The NIF functions, as `Py.Native` declares them. Each is a thin shell over the
//! module that does the work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustler::{Atom, Encoder, Env, LocalPid, OwnedEnv, Resource, ResourceArc, Term};

use crate::atoms;
use crate::context::{Cancel, Context, Kind, INDEX_BITS};
use crate::object::{self, PyObj};
use crate::runtime;
use crate::semaphore;

/// How long a caller whose request went to an idle context waits for the reply
/// before returning to `receive`: short calls finish well within it.
const CALLER_SPIN: Duration = Duration::from_micros(20);

/// A set of contexts. Dropping the last reference stops their threads.
pub struct Pool {
    contexts: Vec<Arc<Context>>,
    stopped: AtomicBool,
}

#[rustler::resource_impl]
impl Resource for Pool {}

impl Pool {
    fn stop(&self) {
        if !self.stopped.swap(true, Ordering::AcqRel) {
            for context in &self.contexts {
                context.stop();
            }
        }
    }

    /// The preferred context unless it is busy while another is idle, so a call never
    /// waits behind a slow or abandoned request when it need not.
    fn pick(&self, preferred: usize) -> &Arc<Context> {
        let n = self.contexts.len();
        let first = preferred % n;
        if self.contexts[first].load() == 0 {
            return &self.contexts[first];
        }
        let mut best = first;
        for step in 1..n {
            let index = (first + step) % n;
            let load = self.contexts[index].load();
            if load == 0 {
                return &self.contexts[index];
            }
            if load < self.contexts[best].load() {
                best = index;
            }
        }
        &self.contexts[best]
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}

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

fn info_term<'a>(env: Env<'a>, info: &runtime::Info) -> Term<'a> {
    let pairs: Vec<(Term, Term)> = vec![
        (atoms::version().encode(env), info.version.encode(env)),
        (
            rustler::types::atom::Atom::from_str(env, "version_info")
                .map(|a| a.encode(env))
                .unwrap_or_else(|_| atoms::version().encode(env)),
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
    ];
    Term::map_from_pairs(env, &pairs).unwrap_or_else(|_| atoms::error().encode(env))
}

#[rustler::nif(schedule = "DirtyIo")]
fn pool_new(env: Env<'_>, size: usize, mode: Atom) -> Term<'_> {
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
    let mut contexts = Vec::with_capacity(size);
    for index in 0..size {
        let kind = if subinterp {
            Kind::Subinterp
        } else {
            Kind::Worker(runtime.home.clone())
        };
        match Context::spawn(index, kind) {
            Ok(context) => contexts.push(context),
            Err(why) => {
                for context in &contexts {
                    context.stop();
                }
                return (atoms::error(), (atoms::init_failed(), why)).encode(env);
            }
        }
    }
    let pool = ResourceArc::new(Pool {
        contexts,
        stopped: AtomicBool::new(false),
    });
    (atoms::ok(), pool).encode(env)
}

/// Queues `op` on the pool; the reply arrives as `{reference, result}`, or directly
/// as `{:done, result, had_output?}` when `wait` is set and the call is short.
/// `strict` pins the request to context `index` (bound processes, `context:` option).
#[rustler::nif]
fn pool_submit<'a>(
    env: Env<'a>,
    pool: ResourceArc<Pool>,
    index: usize,
    strict: bool,
    reference: Term<'a>,
    op: Term<'a>,
    wait: bool,
) -> Term<'a> {
    if pool.stopped.load(Ordering::Acquire) {
        return (atoms::error(), atoms::stopped()).encode(env);
    }
    let context = if strict {
        match pool.contexts.get(index) {
            Some(context) => context,
            None => return (atoms::error(), (atoms::invalid(), "no such context")).encode(env),
        }
    } else {
        pool.pick(index)
    };
    submit_to(env, context, reference, op, wait)
}

/// Submits to one context: takes a semaphore permit, queues the request and, for a
/// short call on an idle context, waits for the reply inline.
fn submit_to<'a>(
    env: Env<'a>,
    context: &Context,
    reference: Term<'a>,
    op: Term<'a>,
    wait: bool,
) -> Term<'a> {
    if let Err((current, max)) = semaphore::acquire() {
        return (atoms::error(), (atoms::overloaded(), current, max)).encode(env);
    }
    // Only an uncontended call is worth waiting for here; behind other work the wait
    // would be wasted, and a batch (`wait` false) must not wait per request.
    let spin = wait && context.load() == 0;
    let owned = OwnedEnv::new();
    let reference = owned.save(reference);
    let op = owned.save(op);
    match context.submit(env.pid(), owned, reference, op, spin) {
        Ok(id) => {
            if spin {
                if let Some(reply) = context.wait_inline(id, CALLER_SPIN) {
                    // SAFETY: `reply.term` was built in `reply.env`, which is alive.
                    let result = reply
                        .env
                        .run(|owned| unsafe { Term::new(owned, reply.term) }.in_env(env));
                    return (atoms::done(), result, reply.had_output).encode(env);
                }
            }
            (atoms::ok(), id).encode(env)
        }
        // `submit` gave the permit back.
        Err(()) => (atoms::error(), atoms::stopped()).encode(env),
    }
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
) -> Term<'a> {
    match object.home_context() {
        Some(context) => submit_to(env, &context, reference, op, wait),
        None if object.is_subinterp() => (atoms::error(), atoms::stopped()).encode(env),
        None => atoms::main().encode(env),
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

#[rustler::nif]
fn semaphore_current() -> usize {
    semaphore::current()
}

#[rustler::nif]
fn semaphore_max() -> usize {
    semaphore::max()
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

/// Does nothing: the floor for the per-call cost in benchmarks.
#[rustler::nif]
fn noop() -> Atom {
    atoms::ok()
}
