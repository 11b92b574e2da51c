//! A bounded estimate of how many heap words copying a term costs: enough to tell a
//! small call (walked in a few steps) from a large one, without walking all of it.

use rustler::{Term, TermType};

/// Binaries up to this size live on process heaps and are copied; larger ones are
/// reference-counted and only their handle is copied.
const HEAP_BINARY_MAX: usize = 64;

/// Deeper nesting than this counts as large: the walk runs on a scheduler's small
/// stack, and such terms are rare enough to go to a dirty scheduler anyway.
const MAX_DEPTH: usize = 64;

/// True when copying `term` costs more than `budget` words.
pub fn exceeds(term: Term<'_>, budget: usize) -> bool {
    estimate(term, budget) > budget
}

/// The words copying `term` costs, counted up to just past `budget`.
pub fn estimate(term: Term<'_>, budget: usize) -> usize {
    let mut left = budget as isize;
    walk(term, &mut left, 0);
    (budget as isize - left) as usize
}

/// Subtracts the term's words from `left`, stopping as soon as it is negative.
fn walk(term: Term<'_>, left: &mut isize, depth: usize) {
    if *left < 0 {
        return;
    }
    if depth > MAX_DEPTH {
        *left = -1;
        return;
    }
    match term.get_type() {
        TermType::List => {
            let env = term.get_env();
            let mut rest = term.as_c_arg();
            let (mut head, mut tail) = (rest, rest);
            // SAFETY: `rest` is a term of `env`; the call only reads it. (Raw calls:
            // rustler's `list_get_cell` costs a `Result` per element.)
            while unsafe {
                rustler::sys::enif_get_list_cell(env.as_c_arg(), rest, &mut head, &mut tail)
            } != 0
            {
                *left -= 2;
                // SAFETY: `head` was just read from a list of `env`.
                walk(unsafe { rustler::Term::new(env, head) }, left, depth + 1);
                if *left < 0 {
                    return;
                }
                rest = tail;
            }
        }
        TermType::Tuple => {
            let mut arity = 0;
            let mut items = std::ptr::null();
            // SAFETY: `term` is a tuple of `env`; the array stays valid as long as it.
            let ok = unsafe {
                rustler::sys::enif_get_tuple(
                    term.get_env().as_c_arg(),
                    term.as_c_arg(),
                    &mut arity,
                    &mut items,
                )
            };
            if ok == 0 {
                return;
            }
            *left -= arity as isize + 1;
            for index in 0..arity as usize {
                // SAFETY: `index` is below the tuple's arity.
                let item = unsafe { rustler::Term::new(term.get_env(), *items.add(index)) };
                walk(item, left, depth + 1);
                if *left < 0 {
                    return;
                }
            }
        }
        TermType::Map => {
            if let Some(iter) = rustler::types::map::MapIterator::new(term) {
                *left -= 3;
                for (key, value) in iter {
                    *left -= 2;
                    walk(key, left, depth + 1);
                    walk(value, left, depth + 1);
                    if *left < 0 {
                        return;
                    }
                }
            }
        }
        TermType::Binary => {
            let size = term.decode::<rustler::Binary>().map_or(0, |bin| bin.len());
            *left -= if size <= HEAP_BINARY_MAX {
                (size / 8 + 2) as isize
            } else {
                6
            };
        }
        TermType::Float => *left -= 3,
        // Big integers are the one unbounded immediate-looking term; the rest
        // (small integers, atoms, pids, refs, funs) are a few words at most.
        _ => *left -= 4,
    }
}
