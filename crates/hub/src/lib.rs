//! The hub's controllers: everything that talks to clusters around the pure engines of
//! `flotilla-fleet` — installing the hub's resource types, connecting to the clusters the
//! hub knows, and (as they land) the reconcilers that render and sync what the hub holds.
#![deny(missing_docs)]

pub mod application;
pub mod appset;
pub mod bootstrap;
pub mod clusters;
pub mod controller;
pub mod drift;
pub mod flux;
pub mod known;
pub mod metrics;
pub mod queue;
pub mod raw;
pub mod render;
pub mod run;
pub mod settled;
pub mod sources;

/// A mutex's guard, also after a panic elsewhere poisoned it: the hub's shared maps stay
/// usable, since each update leaves them consistent.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
