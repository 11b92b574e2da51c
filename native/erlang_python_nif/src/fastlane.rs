//! The fast lane: one request at a time, handed from a caller waiting in the NIF to
//! an idle context that is spinning for work, and its reply handed back, through a
//! state byte and two slots on cache lines of their own. The in-flight table and
//! the job queue are not touched: on the usual path each costs a lock and a few
//! cache lines crossing between cores each way, most of what a short call costs.
//!
//! A request in the lane is known only to its caller and its context. Whatever needs
//! the table (output, a callback that parks the frame, a caller that stops waiting
//! and may cancel) *registers* it first, under the table's lock: from then on it is
//! an ordinary running request, and the caller waits for it the ordinary way.
//!
//! ```text
//! FREE ─caller claims→ CLAIMED ─request written→ SUBMITTED ─context takes→ RUNNING
//!   ↑                      ↑                          │                     │  │
//!   │                      └── caller takes it back ──┘ (context too slow)  │  │
//!   ├──── caller takes the reply ←──────────── DONE ←── context answers ────┘  │
//!   └──── caller lets go ←──────────────── REGISTERED ←── either, under lock ──┘
//! ```
//!
//! Only the caller moves the lane out of DONE and REGISTERED, so a new request never
//! enters while the previous caller still reads it.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::context::{InlineReply, Request};

const FREE: u8 = 0;
const CLAIMED: u8 = 1;
const SUBMITTED: u8 = 2;
const RUNNING: u8 = 3;
const DONE: u8 = 4;
const REGISTERED: u8 = 5;

/// What a waiting caller finds in the lane.
pub enum Seen {
    /// Still queued or running: keep waiting (or give up).
    Waiting,
    /// Answered; the lane is free again.
    Done(InlineReply),
    /// Registered in the table (output, a callback): wait the ordinary way. The lane
    /// is free again.
    Registered,
}

#[repr(align(64))]
pub struct FastLane {
    state: AtomicU8,
    /// Written by the caller before SUBMITTED, taken by the context at RUNNING, or
    /// by the caller again from SUBMITTED.
    request: UnsafeCell<Option<Request>>,
    /// Written by the context before DONE, taken by the caller after it.
    reply: UnsafeCell<Option<InlineReply>>,
    /// How requests left the lane, for tests and diagnostics (`counts`). Bumped by
    /// the caller right after it wrote the state, so on a line it holds already.
    answered: AtomicU64,
    registered: AtomicU64,
    given_up: AtomicU64,
    reclaimed: AtomicU64,
}

/// How many requests left a lane each way: answered in it, registered by the
/// context (output, a callback), registered by a caller that stopped waiting, taken
/// back by their caller.
#[derive(Default, Clone, Copy)]
pub struct Counts {
    pub answered: u64,
    pub registered: u64,
    pub given_up: u64,
    pub reclaimed: u64,
}

// SAFETY: `request` and `reply` are only touched by the side the state gives them
// to, with acquire/release on every hand-over (see the diagram above).
unsafe impl Sync for FastLane {}

impl Default for FastLane {
    fn default() -> Self {
        FastLane {
            state: AtomicU8::new(FREE),
            request: UnsafeCell::new(None),
            reply: UnsafeCell::new(None),
            answered: AtomicU64::new(0),
            registered: AtomicU64::new(0),
            given_up: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
        }
    }
}

impl FastLane {
    /// Caller: puts `request` in the lane, or gives it back when the lane is busy.
    pub fn submit(&self, request: Request) -> Result<(), Request> {
        if self
            .state
            .compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(request);
        }
        // SAFETY: CLAIMED gives the request field to this caller alone.
        unsafe { *self.request.get() = Some(request) };
        self.state.store(SUBMITTED, Ordering::Release);
        Ok(())
    }

    /// Caller: what became of its request.
    pub fn seen(&self) -> Seen {
        match self.state.load(Ordering::Acquire) {
            DONE => {
                // SAFETY: DONE gives the reply field to the caller.
                let reply = unsafe { (*self.reply.get()).take() };
                self.state.store(FREE, Ordering::Release);
                self.answered.fetch_add(1, Ordering::Relaxed);
                match reply {
                    Some(reply) => Seen::Done(reply),
                    None => unreachable!("DONE without a reply"),
                }
            }
            REGISTERED => {
                self.state.store(FREE, Ordering::Release);
                self.registered.fetch_add(1, Ordering::Relaxed);
                Seen::Registered
            }
            _ => Seen::Waiting,
        }
    }

    /// Caller: takes its request back if the context has not taken it yet.
    pub fn reclaim(&self) -> Option<Request> {
        self.state
            .compare_exchange(SUBMITTED, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // SAFETY: CLAIMED gives the request field back to this caller.
        let request = unsafe { (*self.request.get()).take() };
        self.state.store(FREE, Ordering::Release);
        self.reclaimed.fetch_add(1, Ordering::Relaxed);
        request
    }

    /// Caller, holding the table's lock: registers its running request as it stops
    /// waiting, and lets go of the lane. False when it was answered or registered by
    /// the context meanwhile.
    pub fn give_up(&self) -> bool {
        if !self.register() {
            return false;
        }
        self.state.store(FREE, Ordering::Release);
        self.given_up.fetch_add(1, Ordering::Relaxed);
        true
    }

    pub fn counts(&self) -> Counts {
        Counts {
            answered: self.answered.load(Ordering::Relaxed),
            registered: self.registered.load(Ordering::Relaxed),
            given_up: self.given_up.load(Ordering::Relaxed),
            reclaimed: self.reclaimed.load(Ordering::Relaxed),
        }
    }

    /// Context: whether a request waits to be taken.
    pub fn has_request(&self) -> bool {
        self.state.load(Ordering::Relaxed) == SUBMITTED
    }

    /// Context: takes the waiting request, if any.
    pub fn take(&self) -> Option<Request> {
        if !self.has_request() {
            return None;
        }
        self.state
            .compare_exchange(SUBMITTED, RUNNING, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // SAFETY: RUNNING gives the request field to the context.
        let mut request = unsafe { (*self.request.get()).take() }?;
        request.fast = true;
        Some(request)
    }

    /// Either side, holding the table's lock: the running request leaves the lane for
    /// the table. False when it already has (or was answered).
    pub fn register(&self) -> bool {
        self.state
            .compare_exchange(RUNNING, REGISTERED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Context: hands the reply to the waiting caller, or gives it back when the
    /// request was registered meanwhile (then it is answered the ordinary way).
    pub fn answer(&self, reply: InlineReply) -> Result<(), InlineReply> {
        // SAFETY: only this context thread ever sets DONE, and it runs one lane request
        // at a time; a caller reads the field only once it sees DONE. So nothing reads
        // it now, whatever the state (RUNNING, or registered meanwhile, or even FREE
        // with another caller's request after a give-up).
        unsafe { *self.reply.get() = Some(reply) };
        match self
            .state
            .compare_exchange(RUNNING, DONE, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            // SAFETY: not DONE, so the caller never reads the field: take it back.
            Err(_) => match unsafe { (*self.reply.get()).take() } {
                Some(reply) => Err(reply),
                None => unreachable!("the reply was just written"),
            },
        }
    }
}
