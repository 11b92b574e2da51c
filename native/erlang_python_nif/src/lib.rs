//! Runs CPython inside the BEAM. See `runtime` for start-up, `worker` and `context`
//! for the threads that execute Python, and `convert` for the data model.

mod affinity;
mod atoms;
mod audit;
mod bridge;
mod buffer;
mod callback;
mod channel;
mod context;
mod convert;
mod erlang_module;
mod error;
mod event_loop;
mod fastlane;
mod inflight;
mod interp;
mod loan;
mod logging;
mod nif;
mod object;
mod op;
mod output;
mod pool;
mod runner;
mod runtime;
mod semaphore;
mod state;
mod subinterp;
mod task;
mod term_size;
mod trace;
mod watchdog;
mod worker;

rustler::init!("Elixir.Py.Native");
