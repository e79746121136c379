//! Sync operations asked of an Application: `operation.sync`, as `argocd app sync`, the UI
//! or a `kubectl patch` write it, run as Argo CD's `processRequestedAppOperation` and
//! `SyncAppState` run them. The operation's own flags decide (its `prune`, `dryRun`,
//! `syncOptions`, `resources`, `revision`, `retry`), not the app's sync policy; its state
//! is `status.operationState`, and the operation is removed from the Application once it
//! has completed (Succeeded, Failed or Error). It is `Running` while it syncs (written
//! first, [`write_running`]) and while a failed attempt waits for the retry its `retry`
//! asks for (none by default); `Terminating` stops it ([`watch_for_termination`]).

use flotilla_core::pointer::Pointer as _;
use std::sync::Arc;
use std::time::Duration;

use flotilla_fleet::argocd::application::{ApplicationSource, ApplicationSpec, RetryStrategy};
use flotilla_sync::SelectedResource;
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::application::Reconciled;

/// An operation read from an Application.
#[derive(Debug, Clone)]
pub(crate) struct Requested {
    /// As written on the Application (kept in `status.operationState.operation`).
    pub(crate) written: Value,
    /// Its sync.
    pub(crate) sync: SyncOperation,
    /// What a failed attempt does: Argo CD retries an operation only when it says so.
    pub(crate) retry: RetryStrategy,
}

/// `operation.sync`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SyncOperation {
    /// The revision to sync instead of `targetRevision` (one source).
    pub(crate) revision: String,
    /// Per source, the revision to sync instead of its `targetRevision`.
    pub(crate) revisions: Vec<String>,
    /// Delete what the app tracks and no longer renders.
    pub(crate) prune: bool,
    /// Apply with the server's dry run only.
    pub(crate) dry_run: bool,
    /// `apply` (no hooks) or `hook`, each with `force`.
    pub(crate) sync_strategy: Option<SyncStrategy>,
    /// A selective sync: only these objects.
    pub(crate) resources: Vec<SelectedResource>,
    /// A source to sync instead of the app's (a rollback writes it).
    pub(crate) source: Option<ApplicationSource>,
    /// Sources to sync instead of the app's.
    pub(crate) sources: Vec<ApplicationSource>,
    /// Local manifests (`argocd app sync --local`).
    pub(crate) manifests: Vec<String>,
    /// The sync options of this operation (the app's are not added to them).
    pub(crate) sync_options: Vec<String>,
}

/// `operation.sync.syncStrategy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SyncStrategy {
    apply: Option<Force>,
    hook: Option<Force>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Force {
    force: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Operation {
    sync: Option<SyncOperation>,
    retry: Option<RetryStrategy>,
}

impl Requested {
    /// The operation `object` asks for, if any; an error (the operation then ends in
    /// Error) when it cannot be run.
    pub(crate) fn of(object: &Value) -> Option<Result<Requested, String>> {
        let written = object.get("operation").filter(|o| !o.is_null())?;
        Some(Requested::read(written))
    }

    fn read(written: &Value) -> Result<Requested, String> {
        // Kept as the status merge patch will store it: a null there removes its key.
        let mut written = written.clone();
        without_nulls(&mut written);
        let operation: Operation = serde_json::from_value(written.clone())
            .map_err(|e| format!("Invalid operation request: {e}"))?;
        let Some(sync) = operation.sync else {
            return Err("Invalid operation request: no operation specified".into());
        };
        if !sync.manifests.is_empty() {
            return Err("Invalid operation request: operation.sync.manifests (a sync of local manifests) is not supported; commit them and sync the revision".into());
        }
        Ok(Requested {
            written,
            sync,
            retry: operation.retry.unwrap_or_default(),
        })
    }

    /// Who asked: `initiatedBy` as written.
    pub(crate) fn initiated_by(&self) -> Value {
        self.written
            .get("initiatedBy")
            .cloned()
            .unwrap_or_else(|| json!({}))
    }

    /// Whether the application controller asked (an automated sync), not a person: sync
    /// windows treat the two apart.
    pub(crate) fn is_automated(&self) -> bool {
        self.written
            .at("/initiatedBy/automated")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

impl SyncOperation {
    /// `--force`: delete and create again what the server refuses to change.
    pub(crate) fn force(&self) -> bool {
        match &self.sync_strategy {
            Some(SyncStrategy { apply: Some(f), .. }) => f.force,
            Some(SyncStrategy { hook: Some(f), .. }) => f.force,
            _ => false,
        }
    }

    /// Hooks run in neither the `apply` strategy nor a selective sync.
    pub(crate) fn skips_hooks(&self) -> bool {
        self.sync_strategy
            .as_ref()
            .is_some_and(|s| s.apply.is_some())
            || !self.resources.is_empty()
    }

    /// A full sync: not a dry run, not a selection (only those are recorded in history).
    pub(crate) fn is_full(&self) -> bool {
        !self.dry_run && self.resources.is_empty()
    }

    /// Makes `spec` the one this operation syncs: its own sources when it names any (a
    /// rollback), else the app's; a revision it gives replaces the source's
    /// `targetRevision` (Argo CD's `newSyncOperationResult` and `CompareAppState`).
    pub(crate) fn apply_to(&self, spec: &mut ApplicationSpec) {
        if !self.sources.is_empty() {
            spec.sources = self.sources.clone();
            spec.source = None;
        } else if let Some(source) = &self.source {
            spec.source = Some(source.clone());
            spec.sources.clear();
        }
        let revisions: Vec<&str> = if self.revisions.is_empty() {
            vec![self.revision.as_str()]
        } else {
            self.revisions.iter().map(String::as_str).collect()
        };
        let sources = if spec.sources.is_empty() {
            spec.source.iter_mut().collect::<Vec<_>>()
        } else {
            spec.sources.iter_mut().collect()
        };
        for (source, revision) in sources.into_iter().zip(revisions) {
            if !revision.is_empty() {
                source.target_revision = revision.to_string();
            }
        }
    }
}

/// `value` without the object keys whose value is null, at any depth.
fn without_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(without_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(without_nulls),
        _ => {}
    }
}

/// Where an operation stands before this reconcile, from `status.operationState`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Not begun: it starts now.
    Begin,
    /// Running (a retry now due, or one a sync window held back): another attempt, the
    /// operation's start and its retries so far kept.
    Attempt { started_at: String, retries: i64 },
    /// A retry not yet due.
    Wait(Duration),
    /// Its termination was asked (`phase: Terminating`): it ends without another attempt.
    Terminate { started_at: String, retries: i64 },
}

/// Reads `status.operationState` for `requested`: the operation is in progress when the
/// state is of this very operation and not completed (Argo CD's `isOperationInProgress`).
pub(crate) fn step(state: Option<&Value>, requested: &Requested, now: Timestamp) -> Step {
    let Some(state) = state.filter(|s| s.get("operation") == Some(&requested.written)) else {
        return Step::Begin;
    };
    let text = |key: &str| state.get(key).and_then(Value::as_str);
    let started_at = text("startedAt").unwrap_or_default().to_string();
    let retries = state.get("retryCount").and_then(Value::as_i64).unwrap_or(0);
    match text("phase") {
        Some("Terminating") => Step::Terminate {
            started_at,
            retries,
        },
        Some("Running") => {
            // A failed attempt waiting for its retry: finishedAt + NextRetryAt's wait.
            let failed_at = text("finishedAt").and_then(|t| t.parse::<Timestamp>().ok());
            if let (Some(at), Ok(wait)) = (failed_at, requested.retry.wait(retries)) {
                let elapsed = Duration::try_from(now.duration_since(at)).unwrap_or_default();
                let left = wait.saturating_sub(elapsed);
                if !left.is_zero() {
                    return Step::Wait(left);
                }
            }
            Step::Attempt {
                started_at,
                retries,
            }
        }
        _ => Step::Begin,
    }
}

/// Whether a phase ends the operation (Argo CD's `Completed`).
pub(crate) fn is_completed(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed" | "Error")
}

/// `status.operationState` of `requested`: its phase and message, its result, its start
/// and (once an attempt ended) finish, and its retries.
pub(crate) fn state(
    requested: &Requested,
    ended: &crate::retry::Ended,
    sync_result: Option<Value>,
    started_at: &str,
    finished_at: Option<&str>,
) -> Value {
    let mut state = json!({
        "operation": requested.written,
        "phase": ended.phase,
        "message": ended.message,
        "startedAt": started_at,
    });
    if let Some(result) = sync_result {
        state["syncResult"] = result;
    }
    if let Some(finished) = finished_at {
        state["finishedAt"] = json!(finished);
    }
    if ended.retry_count > 0 {
        state["retryCount"] = json!(ended.retry_count);
    }
    state
}

// The hub's side of an operation: its outcomes, and what it writes and watches while it runs.

/// An operation being run: what was asked, when it began, its retries so far.
pub(crate) struct OperationRun {
    pub(crate) requested: Requested,
    pub(crate) started_at: String,
    pub(crate) retries: i64,
}

/// Ends `run` (or schedules its retry) with `ended` in `reconciled`'s status.
pub(crate) fn end_operation(
    reconciled: &mut Reconciled,
    run: &OperationRun,
    ended: &crate::retry::Ended,
    sync_result: Option<Value>,
    now: &str,
) {
    let state = state(
        &run.requested,
        ended,
        sync_result,
        &run.started_at,
        Some(now),
    );
    if let Value::Object(status) = &mut reconciled.status {
        status.insert("operationState".into(), state);
    }
    reconciled.operation_done = is_completed(&ended.phase);
    if ended.requeue_after.is_some() {
        reconciled.requeue_after = ended.requeue_after;
    }
}

/// An operation that cannot be run (no sync in it, local manifests): it ends in Error
/// at once, the rest of the status as it was.
pub(crate) fn operation_refused(previous: &Value, message: &str, now: &str) -> Reconciled {
    let mut status = previous.as_object().cloned().unwrap_or_default();
    status.insert(
        "operationState".into(),
        json!({"phase": "Error", "message": message, "startedAt": now, "finishedAt": now}),
    );
    Reconciled::operation_only(status, true, None)
}

/// An operation whose termination was asked while it waited for a retry: it ends Failed
/// as gitops-engine's `Terminate` words it, with the retries made.
pub(crate) fn operation_terminated(
    previous: &Value,
    requested: &Requested,
    started_at: &str,
    retries: i64,
    now: &str,
) -> Reconciled {
    let no_retry = RetryStrategy {
        limit: Some(0),
        ..RetryStrategy::default()
    };
    let now_at = now
        .parse::<Timestamp>()
        .unwrap_or_else(|_| Timestamp::now());
    let ended =
        crate::retry::after_failure(&no_retry, retries, "Failed", "Operation terminated", now_at);
    let result = previous.at("/operationState/syncResult").cloned();
    let mut status = previous.as_object().cloned().unwrap_or_default();
    status.insert(
        "operationState".into(),
        state(requested, &ended, result, started_at, Some(now)),
    );
    Reconciled::operation_only(status, true, None)
}

/// Writes `status.operationState` of `run` as Running (replacing the last operation's
/// whole state); a failure is only logged, the sync goes on.
pub(crate) async fn write_running(
    hub: &kube::Client,
    object: &Value,
    run: &OperationRun,
) -> Option<Value> {
    let running = crate::retry::Ended {
        phase: "Running".into(),
        message: if run.retries > 0 {
            format!("Retrying operation. Attempt #{}", run.retries)
        } else {
            String::new()
        },
        retry_count: run.retries,
        requeue_after: None,
    };
    let state = state(&run.requested, &running, None, &run.started_at, None);
    let text = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
    let path = format!(
        "{}/{}",
        crate::controller::url_path(
            &crate::controller::application_resource(),
            text("/metadata/namespace")
        ),
        text("/metadata/name")
    );
    // A JSON patch replaces the state whole (a merge patch would keep the last
    // operation's keys); without a status yet, a merge patch creates it.
    let (content_type, body) = if object.get("status").is_some_and(Value::is_object) {
        (
            "application/json-patch+json",
            json!([{"op": "add", "path": "/status/operationState", "value": state}]),
        )
    } else {
        (
            "application/merge-patch+json",
            json!({"status": {"operationState": state}}),
        )
    };
    let request = http::Request::patch(path)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(serde_json::to_vec(&body).unwrap_or_default())
        .map_err(kube::core::request::Error::BuildRequest);
    match crate::controller::send(hub, request).await {
        Ok(()) => Some(state),
        Err(e) => {
            tracing::warn!(app = %crate::controller::object_key(object), error = %e, "writing the Running operation state");
            None
        }
    }
}

/// Sets `flag` once the Application's operation state says Terminating (polled while its
/// operation syncs; the task is aborted when the sync ends).
pub(crate) async fn watch_for_termination(
    hub: kube::Client,
    object: Value,
    flag: Arc<std::sync::atomic::AtomicBool>,
) {
    let text = |p: &str| {
        object
            .at(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        hub,
        &text("/metadata/namespace"),
        &crate::controller::application_resource(),
    );
    let name = text("/metadata/name");
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let Ok(app) = api.get(&name).await else {
            continue;
        };
        let phase = app
            .data
            .at("/status/operationState/phase")
            .and_then(Value::as_str)
            .map(str::to_string);
        if phase.as_deref() == Some("Terminating") {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested(operation: Value) -> Requested {
        Requested::of(&json!({ "operation": operation }))
            .expect("an operation")
            .expect("readable")
    }

    #[test]
    fn an_operation_without_a_sync_or_with_local_manifests_is_refused() {
        assert!(Requested::of(&json!({"spec": {}})).is_none());
        assert!(Requested::of(&json!({"operation": null})).is_none());
        let error = |operation: Value| {
            Requested::of(&json!({ "operation": operation }))
                .expect("an operation")
                .expect_err("refused")
        };
        // Argo CD's own words for the first.
        assert_eq!(
            error(json!({"initiatedBy": {"username": "ana"}})),
            "Invalid operation request: no operation specified"
        );
        assert!(error(json!({"sync": {"manifests": ["kind: ConfigMap"]}})).contains("manifests"));
        assert!(error(json!({"sync": {"prune": "yes"}})).contains("Invalid operation request"));
    }

    #[test]
    fn the_strategy_decides_force_and_hooks() {
        let op = |sync: Value| requested(json!({ "sync": sync })).sync;
        assert!(!op(json!({})).force());
        assert!(!op(json!({})).skips_hooks());
        assert!(op(json!({"syncStrategy": {"apply": {"force": true}}})).force());
        assert!(op(json!({"syncStrategy": {"apply": {}}})).skips_hooks());
        assert!(op(json!({"syncStrategy": {"hook": {"force": true}}})).force());
        assert!(!op(json!({"syncStrategy": {"hook": {}}})).skips_hooks());
        let selective = op(json!({"resources": [{"kind": "ConfigMap", "name": "a"}]}));
        assert!(selective.skips_hooks() && !selective.is_full());
        assert!(!op(json!({"dryRun": true})).is_full());
    }

    #[test]
    fn revisions_replace_the_target_revisions_of_the_sources_synced() {
        let source = |repo: &str, revision: &str| ApplicationSource {
            repo_url: repo.into(),
            target_revision: revision.into(),
            ..ApplicationSource::default()
        };
        let one = ApplicationSpec {
            source: Some(source("a", "main")),
            ..ApplicationSpec::default()
        };
        let two = ApplicationSpec {
            sources: vec![source("a", "main"), source("b", "v1")],
            ..ApplicationSpec::default()
        };
        let synced = |sync: Value, spec: &ApplicationSpec| {
            let mut spec = spec.clone();
            requested(json!({ "sync": sync })).sync.apply_to(&mut spec);
            let multiple = !spec.sources.is_empty();
            let sources: Vec<String> = spec
                .effective_sources()
                .into_iter()
                .map(|s| format!("{}@{}", s.repo_url, s.target_revision))
                .collect();
            (sources, multiple)
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            synced(json!({}), &two),
            (strings(&["a@main", "b@v1"]), true)
        );
        assert_eq!(
            synced(json!({"revision": "abc"}), &one),
            (strings(&["a@abc"]), false)
        );
        assert_eq!(
            synced(json!({"revisions": ["", "v2"]}), &two),
            (strings(&["a@main", "b@v2"]), true)
        );
        // A rollback names the source it syncs.
        assert_eq!(
            synced(
                json!({"source": {"repoURL": "old", "targetRevision": "x"}, "revision": "def"}),
                &two
            ),
            (strings(&["old@def"]), false)
        );
    }

    #[test]
    fn an_operation_begins_waits_for_its_retry_retries_or_terminates() {
        let op = requested(json!({"sync": {}, "retry": {"limit": 2}}));
        let now: Timestamp = "2026-11-28T10:00:30Z".parse().unwrap();
        assert_eq!(step(None, &op, now), Step::Begin);
        let state = |phase: &str, finished: Option<&str>| {
            let mut s = json!({"operation": op.written, "phase": phase,
                "startedAt": "2026-11-28T10:00:00Z", "retryCount": 1});
            if let Some(f) = finished {
                s["finishedAt"] = json!(f);
            }
            s
        };
        // Another operation's state, or a completed one: this one begins.
        let other = json!({"operation": {"sync": {"prune": true}}, "phase": "Running"});
        assert_eq!(step(Some(&other), &op, now), Step::Begin);
        assert_eq!(
            step(
                Some(&state("Succeeded", Some("2026-11-28T10:00:10Z"))),
                &op,
                now
            ),
            Step::Begin
        );
        // One retry made: the next waits 5 s × 2 = 10 s after the failure.
        let attempt = Step::Attempt {
            started_at: "2026-11-28T10:00:00Z".into(),
            retries: 1,
        };
        assert_eq!(
            step(
                Some(&state("Running", Some("2026-11-28T10:00:25Z"))),
                &op,
                now
            ),
            Step::Wait(Duration::from_secs(5))
        );
        assert_eq!(
            step(
                Some(&state("Running", Some("2026-11-28T10:00:20Z"))),
                &op,
                now
            ),
            attempt
        );
        // Running without a failure (a window held it back): tried again.
        assert_eq!(step(Some(&state("Running", None)), &op, now), attempt);
        assert_eq!(
            step(
                Some(&state("Terminating", Some("2026-11-28T10:00:25Z"))),
                &op,
                now
            ),
            Step::Terminate {
                started_at: "2026-11-28T10:00:00Z".into(),
                retries: 1
            }
        );
    }
}
