//! Shared state: one concurrent map in the NIF, reachable from Elixir and from every
//! interpreter without a BEAM round trip.
//!
//! Keys and values are kept as Erlang terms in the external term format, never as
//! Python objects, so any interpreter can read what another wrote. Integers that fit
//! 64 bits are kept as numbers, so `incr`/`decr` are a locked add on one entry.

use std::sync::OnceLock;

use dashmap::DashMap;
use rustler::{Encoder, Env, Term};

pub enum Value {
    Int(i64),
    Term(Vec<u8>),
}

#[derive(Debug, PartialEq, Eq)]
pub enum IncrError {
    NotInteger,
    Overflow,
}

fn store() -> &'static DashMap<Vec<u8>, Value> {
    static STORE: OnceLock<DashMap<Vec<u8>, Value>> = OnceLock::new();
    STORE.get_or_init(DashMap::new)
}

/// The key of `term`: its external term format.
pub fn key(term: Term<'_>) -> Vec<u8> {
    term.to_binary().as_slice().to_vec()
}

pub fn value(term: Term<'_>) -> Value {
    match term.decode::<i64>() {
        Ok(int) => Value::Int(int),
        Err(_) => Value::Term(key(term)),
    }
}

pub fn set(key: Vec<u8>, value: Value) {
    store().insert(key, value);
}

/// The value of `key`, built in `env`.
pub fn get<'a>(env: Env<'a>, key: &[u8]) -> Option<Term<'a>> {
    let entry = store().get(key)?;
    match &*entry {
        Value::Int(int) => Some(int.encode(env)),
        Value::Term(etf) => env.binary_to_term(etf).map(|(term, _)| term),
    }
}

pub fn delete(key: &[u8]) {
    store().remove(key);
}

/// Every key, built in `env`.
pub fn keys<'a>(env: Env<'a>) -> Vec<Term<'a>> {
    store()
        .iter()
        .filter_map(|entry| env.binary_to_term(entry.key()).map(|(term, _)| term))
        .collect()
}

/// Adds `by` to the integer at `key` (a missing key starts at 0) and returns the
/// new value, atomically with respect to every other update of that key.
pub fn incr(key: Vec<u8>, by: i64) -> Result<i64, IncrError> {
    let mut entry = store().entry(key).or_insert(Value::Int(0));
    match &mut *entry {
        Value::Int(current) => {
            *current = current.checked_add(by).ok_or(IncrError::Overflow)?;
            Ok(*current)
        }
        Value::Term(_) => Err(IncrError::NotInteger),
    }
}
