//! The request state machine of one context: pure bookkeeping, no Python, no BEAM.
//!
//! Every request has a slot from submission until it leaves the context. A request
//! that starts is pushed on the context's stack of frames; the top frame is the one
//! running Python. A frame that must wait on the BEAM (a callback into Elixir) *parks*:
//! its thread detaches from Python and serves nested requests addressed to that frame,
//! which run on top of it. Cancelling a frame interrupts it only while it is the
//! running top; a parked frame is woken instead; a frame under others is marked and
//! raises when control returns to it.
//!
//! ```text
//! submit → Queued ─start→ on the stack (running ⇄ parked) ─finish→ reply, slot gone
//!            └──────── cancel: marked; never replied to ─────────┘
//! ```
//!
//! The table is generic over what the BEAM side stores (`C`: the caller, `W`: a frame's
//! wake-up sender, `R`: a reply handed over inline) so the logic is unit-tested alone.
//! It uses std only: its tests run without the BEAM or libpython, as
//! `rustc --edition 2021 --test src/inflight.rs -o inflight && ./inflight`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

#[derive(Default)]
pub struct IdHasher(u64);

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

pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

pub struct Slot<C> {
    pub caller: C,
    pub submitted: Instant,
    /// On the stack (started), as opposed to queued.
    pub started: bool,
    pub cancelled: bool,
    /// Runs under its root request's semaphore permit and load count.
    pub nested: bool,
    /// The caller is waiting inside the submitting NIF: answer inline.
    pub spinning: bool,
    /// Output was sent to the caller as messages while the request ran.
    pub had_output: bool,
}

impl<C> Slot<C> {
    pub fn new(caller: C, nested: bool, spinning: bool) -> Self {
        Slot {
            caller,
            submitted: Instant::now(),
            started: false,
            cancelled: false,
            nested,
            spinning,
            had_output: false,
        }
    }
}

struct Frame<W> {
    id: u64,
    parked: bool,
    /// Where nested requests and callback replies for this frame go; made the first
    /// time the frame parks, so a request that never parks pays nothing for it.
    wake: Option<W>,
}

/// What `cancel` found, and what the caller must do about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancel<W> {
    /// No such request: its reply has been sent already.
    Replied,
    /// Marked: it will never be answered (queued, or under other frames).
    Marked,
    /// Marked, and it is running Python right now: interrupt the thread.
    Interrupt,
    /// Marked, and it is parked waiting on the BEAM: wake it with this.
    Wake(W),
}

/// What `start` decided.
pub enum Start<C> {
    Run,
    /// Cancelled before it started (or unknown); the slot, if any, is removed.
    Skip(Option<Slot<C>>),
}

pub struct Inflight<C, W, R> {
    slots: IdMap<Slot<C>>,
    stack: Vec<Frame<W>>,
    /// Replies waiting for a caller spinning in the submitting NIF.
    pub inline: IdMap<R>,
    /// The frame an interrupt was raised for, while it may still be pending.
    pub interrupted: Option<u64>,
    /// An interrupter decided to raise and has not finished raising.
    pub raising: bool,
    /// The context stopped accepting requests.
    closed: bool,
}

impl<C, W: Clone, R> Default for Inflight<C, W, R> {
    fn default() -> Self {
        Inflight {
            slots: IdMap::default(),
            stack: Vec::new(),
            inline: IdMap::default(),
            interrupted: None,
            raising: false,
            closed: false,
        }
    }
}

impl<C, W: Clone, R> Inflight<C, W, R> {
    /// Registers a new request. False once the context is closed.
    pub fn admit(&mut self, id: u64, slot: Slot<C>) -> bool {
        if self.closed {
            return false;
        }
        self.slots.insert(id, slot);
        true
    }

    /// Registers a request nested in frame `frame`, returning where to deliver it.
    /// `None` when that frame is no longer on the stack or has never parked.
    pub fn admit_nested(&mut self, frame: u64, id: u64, slot: Slot<C>) -> Option<W> {
        let wake = self.wake_of(frame)?;
        self.slots.insert(id, slot);
        Some(wake)
    }

    /// The wake-up sender of frame `frame`, if it is on the stack and has one.
    pub fn wake_of(&self, frame: u64) -> Option<W> {
        self.stack
            .iter()
            .rev()
            .find(|entry| entry.id == frame)
            .and_then(|entry| entry.wake.clone())
    }

    /// Registers a request that is already running on top of an empty stack: one
    /// that reached its context through the fast lane (see `context`), now needing
    /// the table. Unlike `admit`, a closed context takes it: it is running already.
    pub fn adopt(&mut self, id: u64, slot: Slot<C>) {
        self.slots.insert(id, slot);
        // A new slot is neither cancelled nor started: it always goes on the stack.
        let _ = self.start(id);
    }

    /// Undoes `admit` for a request that could not be queued.
    pub fn withdraw(&mut self, id: u64) -> Option<Slot<C>> {
        self.slots.remove(&id)
    }

    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Moves a queued request onto the stack, unless it was cancelled meanwhile.
    pub fn start(&mut self, id: u64) -> Start<C> {
        match self.slots.get_mut(&id) {
            Some(slot) if !slot.cancelled && !slot.started => {
                slot.started = true;
                self.stack.push(Frame {
                    id,
                    parked: false,
                    wake: None,
                });
                Start::Run
            }
            _ => Start::Skip(self.slots.remove(&id)),
        }
    }

    /// Takes request `id` off the stack and out of the table. The slot comes back so
    /// the caller can answer it (unless it was cancelled).
    pub fn finish(&mut self, id: u64) -> Option<Slot<C>> {
        if let Some(position) = self.stack.iter().rposition(|entry| entry.id == id) {
            // Frames finish in stack order; anything above is stale bookkeeping.
            self.stack.truncate(position);
        }
        self.slots.remove(&id)
    }

    /// Marks request `id` cancelled and says how to make it stop.
    pub fn cancel(&mut self, id: u64) -> Cancel<W> {
        let Some(slot) = self.slots.get_mut(&id) else {
            return Cancel::Replied;
        };
        slot.cancelled = true;
        match self.stack.last() {
            Some(top) if top.id == id && !top.parked => Cancel::Interrupt,
            Some(top) if top.id == id => match &top.wake {
                Some(wake) => Cancel::Wake(wake.clone()),
                None => Cancel::Marked,
            },
            _ => Cancel::Marked,
        }
    }

    pub fn is_cancelled(&self, id: u64) -> bool {
        self.slots.get(&id).is_some_and(|slot| slot.cancelled)
    }

    /// An interrupter asks to raise for `id`: only a cancelled frame running on top.
    /// On yes, the interrupt is recorded as in progress.
    pub fn begin_interrupt(&mut self, id: u64) -> bool {
        let running = matches!(self.stack.last(), Some(top) if top.id == id && !top.parked);
        if running && self.is_cancelled(id) {
            self.interrupted = Some(id);
            self.raising = true;
            true
        } else {
            false
        }
    }

    /// Gives frame `id` its wake-up sender (the first time it parks).
    pub fn open_frame(&mut self, id: u64, wake: W) {
        if let Some(entry) = self.stack.iter_mut().rev().find(|entry| entry.id == id) {
            entry.wake = Some(wake);
        }
    }

    /// Parks frame `id` (the running top). False if it was cancelled: it must raise
    /// instead of waiting.
    pub fn park(&mut self, id: u64) -> bool {
        if self.is_cancelled(id) {
            return false;
        }
        if let Some(top) = self.stack.last_mut() {
            if top.id == id {
                top.parked = true;
            }
        }
        true
    }

    /// Resumes frame `id` after a wait. False if it was cancelled meanwhile.
    pub fn unpark(&mut self, id: u64) -> bool {
        if let Some(entry) = self.stack.iter_mut().rev().find(|entry| entry.id == id) {
            entry.parked = false;
        }
        !self.is_cancelled(id)
    }

    pub fn slot_mut(&mut self, id: u64) -> Option<&mut Slot<C>> {
        self.slots.get_mut(&id)
    }

    /// Requests of this context (queued, running or parked), for caller watching.
    pub fn slots_mut(&mut self) -> impl Iterator<Item = (&u64, &mut Slot<C>)> {
        self.slots.iter_mut()
    }

    #[cfg(test)]
    pub fn depth(&self) -> usize {
        self.stack.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Table = Inflight<(), &'static str, ()>;

    fn table_with(ids: &[u64]) -> Table {
        let mut table = Table::default();
        for id in ids {
            assert!(table.admit(*id, Slot::new((), false, false)));
        }
        table
    }

    #[test]
    fn an_adopted_request_runs_and_can_be_cancelled_like_a_started_one() {
        let mut table = table_with(&[]);
        table.close();
        table.adopt(7, Slot::new((), false, false));
        assert_eq!(table.depth(), 1);
        assert_eq!(table.cancel(7), Cancel::Interrupt);
        assert!(table.finish(7).is_some_and(|slot| slot.cancelled));
        assert_eq!(table.depth(), 0);
    }

    #[test]
    fn a_queued_request_cancelled_never_starts() {
        let mut table = table_with(&[1]);
        assert_eq!(table.cancel(1), Cancel::Marked);
        assert!(matches!(table.start(1), Start::Skip(Some(_))));
        assert_eq!(table.cancel(1), Cancel::Replied);
    }

    #[test]
    fn a_running_request_is_interrupted_once_cancelled() {
        let mut table = table_with(&[1]);
        assert!(matches!(table.start(1), Start::Run));
        assert!(!table.begin_interrupt(1), "not cancelled: no interrupt");
        assert_eq!(table.cancel(1), Cancel::Interrupt);
        assert!(table.begin_interrupt(1));
        assert_eq!(table.interrupted, Some(1));
        assert!(table.finish(1).is_some_and(|slot| slot.cancelled));
        assert_eq!(table.cancel(1), Cancel::Replied);
    }

    #[test]
    fn a_parked_frame_is_woken_not_interrupted() {
        let mut table = table_with(&[1]);
        assert!(matches!(table.start(1), Start::Run));
        table.open_frame(1, "wake-1");
        assert!(table.park(1));
        assert_eq!(table.cancel(1), Cancel::Wake("wake-1"));
        assert!(
            !table.begin_interrupt(1),
            "parked frames get no async exception"
        );
        assert!(!table.unpark(1), "it resumes knowing it was cancelled");
    }

    #[test]
    fn a_frame_that_parks_after_cancellation_raises_instead() {
        let mut table = table_with(&[1]);
        assert!(matches!(table.start(1), Start::Run));
        table.cancel(1);
        assert!(!table.park(1));
    }

    #[test]
    fn nested_requests_go_to_their_frame_only() {
        let mut table = table_with(&[1]);
        assert!(matches!(table.start(1), Start::Run));
        let nested = Slot::new((), true, false);
        assert!(
            table.admit_nested(1, 2, nested).is_none(),
            "a frame that never parked has no channel"
        );
        table.open_frame(1, "wake-1");
        assert!(table.park(1));
        assert_eq!(
            table.admit_nested(1, 2, Slot::new((), true, false)),
            Some("wake-1")
        );
        assert_eq!(table.admit_nested(9, 3, Slot::new((), true, false)), None);
    }

    #[test]
    fn cancelling_an_outer_frame_leaves_the_inner_one_running() {
        let mut table = table_with(&[1]);
        assert!(matches!(table.start(1), Start::Run));
        table.open_frame(1, "wake-1");
        assert!(table.park(1));
        table.admit_nested(1, 2, Slot::new((), true, false));
        assert!(matches!(table.start(2), Start::Run));
        assert_eq!(table.depth(), 2);

        assert_eq!(
            table.cancel(1),
            Cancel::Marked,
            "under frame 2: marked only"
        );
        assert!(!table.begin_interrupt(1));
        assert!(!table.is_cancelled(2));

        // The inner frame can still be interrupted on its own.
        assert_eq!(table.cancel(2), Cancel::Interrupt);
        assert!(table.begin_interrupt(2));
        table.finish(2);
        assert_eq!(table.depth(), 1);
        assert!(
            !table.unpark(1),
            "the outer frame learns of its cancellation"
        );
    }

    #[test]
    fn an_inner_frame_finishing_keeps_the_outer_one_interruptible() {
        let mut table = table_with(&[1]);
        assert!(matches!(table.start(1), Start::Run));
        table.open_frame(1, "wake-1");
        assert!(table.park(1));
        table.admit_nested(1, 2, Slot::new((), true, false));
        assert!(matches!(table.start(2), Start::Run));
        table.finish(2);
        assert!(table.unpark(1));
        assert_eq!(table.cancel(1), Cancel::Interrupt);
    }

    #[test]
    fn a_closed_table_admits_nothing() {
        let mut table = table_with(&[]);
        table.close();
        assert!(!table.admit(1, Slot::new((), false, false)));
    }

    #[test]
    fn finishing_removes_the_frame_and_its_channel() {
        let mut table = table_with(&[1]);
        assert!(matches!(table.start(1), Start::Run));
        table.open_frame(1, "wake-1");
        table.finish(1);
        assert_eq!(table.wake_of(1), None);
        assert_eq!(table.depth(), 0);
    }
}
