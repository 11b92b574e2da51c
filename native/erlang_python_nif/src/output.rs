//! Routes what Python writes to `sys.stdout`/`sys.stderr`.
//!
//! While a context thread runs a request, output goes to the calling process as
//! `{ref, {:output, text}}`; the caller writes it to its own group leader, so iex,
//! `ExUnit.CaptureIO` and Livebook see it in order with the reply. Output from any
//! other thread goes to the application's relay process as `{:py_output, text}`.

use std::cell::Cell;
use std::sync::RwLock;

use rustler::{Encoder, LocalPid, OwnedEnv};

use crate::atoms;
use crate::context::{Context, Request};
use crate::convert::encode;

/// Replaced when the application's relay process restarts.
static RELAY: RwLock<Option<LocalPid>> = RwLock::new(None);

thread_local! {
    static CURRENT: Cell<Route> = const { Cell::new(None) };
}

pub fn set_relay(pid: LocalPid) {
    *RELAY.write().unwrap_or_else(|poison| poison.into_inner()) = Some(pid);
}

/// The application's relay process, which also forwards `erlang.send` to other nodes.
pub fn relay() -> Option<LocalPid> {
    *RELAY.read().unwrap_or_else(|poison| poison.into_inner())
}

type Route = Option<(*const Context, *const Request)>;

/// Marks `request` as the one whose caller receives this thread's output until the
/// returned guard is dropped; then the route of the frame below (if any) is back.
pub fn route_to(context: &Context, request: &Request) -> RouteGuard {
    let previous =
        CURRENT.with(|current| current.replace(Some((context as *const _, request as *const _))));
    RouteGuard { previous }
}

pub struct RouteGuard {
    previous: Route,
}

impl Drop for RouteGuard {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

pub fn write(text: &str) {
    let current = CURRENT.with(|current| current.get());
    match current {
        // SAFETY: the pointers are set by `route_to` from references that outlive the
        // guard, and the guard clears them before the request is dropped.
        Some((context, request)) => unsafe { (*context).send_output(&*request, text) },
        None => {
            let relay = *RELAY.read().unwrap_or_else(|poison| poison.into_inner());
            if let Some(relay) = relay {
                let mut env = OwnedEnv::new();
                let _ = env.send_and_clear(&relay, |env| {
                    (atoms::py_output(), encode::binary(env, text.as_bytes())).encode(env)
                });
            }
        }
    }
}
