//! A per-thread buffer for the element terms of a list being encoded, kept between
//! conversions. A fresh 80 KB buffer per 10 000-element list cost page faults, and
//! freeing it made glibc give the pages back (`madvise`) and flush TLBs across cores.
//!
//! A list takes its thread's buffer and gives it back when done; a list nested in it
//! finds none and starts its own. The largest buffer is kept, up to `KEEP_MAX`.
//! (Decoding needs none: it makes the Python list first, at its final size.)

use std::cell::Cell;

use rustler::sys::ErlNifTerm;

/// Past this many elements (8 MB) a buffer is freed, not kept.
const KEEP_MAX: usize = 1 << 20;

thread_local! {
    static TERMS: Cell<Vec<ErlNifTerm>> = const { Cell::new(Vec::new()) };
    static BYTES: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The thread's buffer for a reply in external term format.
pub fn take_bytes() -> Vec<u8> {
    BYTES.with(Cell::take)
}

pub fn give_back_bytes(mut bytes: Vec<u8>) {
    if bytes.capacity() <= KEEP_MAX * 8 {
        bytes.clear();
        BYTES.with(|buffer| buffer.set(bytes));
    }
}

/// The thread's buffer, empty.
pub fn take_terms() -> Vec<ErlNifTerm> {
    TERMS.with(Cell::take)
}

/// Keeps `items`' allocation for the next list if it is the largest at hand.
pub fn give_back_terms(mut items: Vec<ErlNifTerm>) {
    if items.capacity() > KEEP_MAX {
        return;
    }
    items.clear();
    TERMS.with(|buffer| {
        let kept = buffer.take();
        buffer.set(if kept.capacity() >= items.capacity() {
            kept
        } else {
            items
        });
    });
}
