//! Runs CPython inside the BEAM. See `runtime` for start-up, `context` for the
//! threads that execute Python, and `convert` for the data model.

mod atoms;
mod buffer;
mod context;
mod convert;
mod erlang_module;
mod error;
mod nif;
mod object;
mod output;
mod request;
mod runtime;
mod semaphore;
mod subinterp;
mod watchdog;

rustler::init!("Elixir.Py.Native");
