//! Integration tests: real git over smart HTTP (`git http-backend`) and file://.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod counting;
mod export;
mod fetch;
mod gc;
mod http_bad_input;
mod reconcile;
mod ssh;
mod webhook;

use std::time::Duration;

use flotilla_source::{CacheOptions, MirrorCache, Reference, Request};

/// A cache in a fresh temporary directory.
pub(crate) fn cache(dir: &std::path::Path) -> MirrorCache {
    MirrorCache::new(CacheOptions::new(dir.join("cache"))).unwrap()
}

/// A request with a short timeout.
pub(crate) fn request(url: &str, reference: Reference) -> Request {
    let mut r = Request::new(url, reference);
    r.timeout = Duration::from_secs(20);
    r
}
