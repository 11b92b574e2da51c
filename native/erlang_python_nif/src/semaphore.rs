//! Bounds concurrent Python work across every pool: a request holds a permit from
//! submission until it leaves its context (answered, cancelled or stopped). When none
//! is free the call fails at once with `{:overloaded, current, max}` instead of queuing.

use std::sync::atomic::{AtomicUsize, Ordering};

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static MAX: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Takes a permit, or returns `(current, max)` when none is free.
pub fn acquire() -> Result<(), (usize, usize)> {
    let max = MAX.load(Ordering::Relaxed);
    let current = CURRENT.fetch_add(1, Ordering::AcqRel) + 1;
    if current > max {
        CURRENT.fetch_sub(1, Ordering::AcqRel);
        return Err((current - 1, max));
    }
    Ok(())
}

/// Gives a permit back; the count never goes below zero.
pub fn release() {
    let _ = CURRENT.fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
        current.checked_sub(1)
    });
}

pub fn current() -> usize {
    CURRENT.load(Ordering::Relaxed)
}

pub fn max() -> usize {
    MAX.load(Ordering::Relaxed)
}

pub fn set_max(max: usize) {
    MAX.store(max, Ordering::Relaxed);
}
