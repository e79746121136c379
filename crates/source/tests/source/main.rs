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
mod tls;
mod verify;
mod webhook;

use std::time::Duration;

use flotilla_source::{CacheOptions, Error, MirrorCache, Reference, Request};

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

/// Checks out `main` of `url` into a cache under `dir/limited` that keeps mirrors up to
/// `max_repo_bytes`, expecting it to fail; the cache and the error.
pub(crate) async fn over_the_repo_limit(
    dir: &std::path::Path,
    url: &str,
    max_repo_bytes: u64,
) -> (MirrorCache, Error) {
    let mut opts = CacheOptions::new(dir.join("limited"));
    opts.max_repo_bytes = max_repo_bytes;
    let limited = MirrorCache::new(opts).unwrap();
    let err = limited
        .checkout(&request(url, Reference::Branch("main".into())))
        .await
        .unwrap_err();
    (limited, err)
}
