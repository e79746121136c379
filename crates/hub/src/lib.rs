//! The hub's controllers: everything that talks to clusters around the pure engines of
//! `flotilla-fleet` — installing the hub's resource types, connecting to the clusters the
//! hub knows, and (as they land) the reconcilers that render and sync what the hub holds.
#![deny(missing_docs)]

pub mod api_discovery;
pub mod application;
pub mod appset;
pub mod argocd_cm;
pub mod bootstrap;
pub mod cluster_versions;
pub mod clusters;
pub mod controller;
pub mod delete_hooks;
pub mod drift;
pub mod flux;
pub mod known;
pub mod metrics;
pub mod notifications;
mod operation;
pub mod queue;
pub mod raw;
pub mod render;
pub mod repo_creds;
mod retry;
pub mod run;
pub mod sealed_secrets;
pub mod settled;
pub mod sources;
pub mod tls_certs;

/// A mutex's guard, also after a panic elsewhere poisoned it: the hub's shared maps stay
/// usable, since each update leaves them consistent.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `work` in the caller's task, turning a panic into an error with its message: a
/// panicking reconcile costs one object, not the worker. (A task of its own would do that
/// too, but would run on, detached, after the worker that awaited it was stopped.)
pub(crate) async fn contained<F: std::future::Future>(work: F) -> Result<F::Output, String> {
    use futures::FutureExt as _;
    std::panic::AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|payload| {
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into())
        })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_panic_in_contained_work_is_an_error_with_its_message() {
        assert_eq!(crate::contained(async { 7 }).await, Ok(7));
        let name = "web";
        let failed = crate::contained(async move {
            if !name.is_empty() {
                panic!("reconciling {name} failed");
            }
        })
        .await;
        assert_eq!(failed, Err("reconciling web failed".to_string()));
        let literal: Result<(), String> = crate::contained(async { panic!("plain") }).await;
        assert_eq!(literal, Err("plain".to_string()));
    }
}
