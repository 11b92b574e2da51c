//! An operation lent to the context thread instead of copied.
//!
//! A caller that waits inside the submitting NIF keeps its environment, and the
//! operation's terms in it, alive. The context thread can then convert the arguments
//! straight from the caller's heap: no copy into a message environment first, which
//! for a 10 000-element list is an eighth of the call.
//!
//! The terms are valid only while the caller stays in the NIF, so a loan ends in one
//! of two ways, decided once by compare-and-swap:
//! - the context takes it, converts the operation, and gives it back; the caller
//!   waits for that before it returns;
//! - the caller withdraws it before the context took it (the context was waiting for
//!   the GIL, or stopped): it first leaves a copy, which the context uses instead.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use rustler::env::SavedTerm;
use rustler::sys::{ErlNifEnv, ErlNifTerm};
use rustler::{Env, OwnedEnv, Term};

const LENT: u8 = 0;
const TAKEN: u8 = 1;
const RETURNED: u8 = 2;
const WITHDRAWN: u8 = 3;

/// How long the caller spins for a taken loan to come back before it sleeps until
/// woken: short conversions are answered without a futex call.
const RETURN_SPIN: Duration = Duration::from_micros(200);

/// Loans made and loans withdrawn since start (tests check the fallback is taken).
static LENT_COUNT: AtomicU64 = AtomicU64::new(0);
static WITHDRAWN_COUNT: AtomicU64 = AtomicU64::new(0);

/// `(made, withdrawn)` since start.
pub fn counts() -> (u64, u64) {
    (
        LENT_COUNT.load(Ordering::Relaxed),
        WITHDRAWN_COUNT.load(Ordering::Relaxed),
    )
}

pub struct Loan {
    env: *mut ErlNifEnv,
    op: ErlNifTerm,
    state: AtomicU8,
    /// The lender, woken when the loan comes back.
    lender: Thread,
    /// The operation, copied by a caller that withdrew the loan.
    copy: OnceLock<(OwnedEnv, SavedTerm)>,
}

// SAFETY: `env` and `op` are only dereferenced by the thread that took the loan,
// while the lender waits for it inside the NIF that owns them (see `settle`).
unsafe impl Send for Loan {}
unsafe impl Sync for Loan {}

impl Loan {
    /// Lends `op`, a term of the calling NIF's environment. The caller must call
    /// `settle` before that NIF returns.
    pub fn new(op: Term<'_>) -> Arc<Loan> {
        LENT_COUNT.fetch_add(1, Ordering::Relaxed);
        Arc::new(Loan {
            env: op.get_env().as_c_arg(),
            op: op.as_c_arg(),
            state: AtomicU8::new(LENT),
            lender: std::thread::current(),
            copy: OnceLock::new(),
        })
    }

    /// The context's side: the lent terms, until the returned guard is dropped.
    /// `None` once the lender withdrew them; `copy` then has the operation.
    pub fn take(&self) -> Option<Taken<'_>> {
        self.state
            .compare_exchange(LENT, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Taken { loan: self })
    }

    /// The copy a withdrawing lender left.
    pub fn copy(&self) -> Option<&(OwnedEnv, SavedTerm)> {
        self.copy.get()
    }

    /// The lender's side, before leaving the NIF: waits up to `limit` for the
    /// context to take the loan (else withdraws it, leaving a copy of `op`), then for
    /// a taken loan to come back. Afterwards nothing reads the lender's terms.
    pub fn settle(&self, op: Term<'_>, limit: Duration) {
        let start = Instant::now();
        let mut spins = 0u32;
        while self.state.load(Ordering::Acquire) == LENT {
            spins += 1;
            if spins.is_multiple_of(64) && start.elapsed() > limit {
                let copy = OwnedEnv::new();
                let saved = copy.save(op);
                let _ = self.copy.set((copy, saved));
                if self
                    .state
                    .compare_exchange(LENT, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    WITHDRAWN_COUNT.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                // Taken meanwhile: the copy goes unused.
                break;
            }
            std::hint::spin_loop();
        }
        let taken_at = Instant::now();
        let mut spins = 0u32;
        while self.state.load(Ordering::Acquire) != RETURNED {
            spins += 1;
            if !spins.is_multiple_of(64) || taken_at.elapsed() < RETURN_SPIN {
                std::hint::spin_loop();
            } else {
                std::thread::park_timeout(Duration::from_millis(1));
            }
        }
    }
}

/// A taken loan; dropping it gives the terms back to the lender.
pub struct Taken<'l> {
    loan: &'l Loan,
}

impl Taken<'_> {
    /// Runs `f` on the lent operation. Whatever `f` returns must not refer to it.
    pub fn with<R>(&self, f: impl for<'a> FnOnce(Term<'a>) -> R) -> R {
        // SAFETY: the lender is inside the NIF that owns `env`, waiting for this
        // guard to be dropped, so the environment and its terms are alive and
        // nothing else uses them. The `Env` cannot outlive the closure.
        let env = unsafe { Env::new(self, self.loan.env) };
        f(unsafe { Term::new(env, self.loan.op) })
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.loan.state.store(RETURNED, Ordering::Release);
        self.loan.lender.unpark();
    }
}
