//! A pool: a set of contexts behind one resource. Dropping the last reference stops
//! their threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustler::Resource;

use crate::context::Context;

pub struct Pool {
    pub contexts: Vec<Arc<Context>>,
    stopped: AtomicBool,
}

#[rustler::resource_impl]
impl Resource for Pool {}

impl Pool {
    pub fn new(contexts: Vec<Arc<Context>>) -> Pool {
        Pool {
            contexts,
            stopped: AtomicBool::new(false),
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub fn stop(&self) {
        if !self.stopped.swap(true, Ordering::AcqRel) {
            for context in &self.contexts {
                context.stop();
            }
        }
    }

    /// The preferred context unless it is busy while another is idle, so a call never
    /// waits behind a slow or abandoned request when it need not.
    pub fn pick(&self, preferred: usize) -> &Arc<Context> {
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

    pub fn holds(&self, context: &Arc<Context>) -> bool {
        self.contexts
            .iter()
            .any(|candidate| Arc::ptr_eq(candidate, context))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop();
    }
}
