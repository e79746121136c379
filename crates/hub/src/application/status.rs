//! The status a reconcile writes: why it stopped early, what a settled app's health
//! check found, or, once it got past its checks, what the target was and what a sync or
//! a comparison found (`status.sync`, `status.health`, `status.resources`,
//! `status.operationState`, `status.conditions`, `status.history`).
//! Pure functions: the reconcile does the I/O and hands them its results.

use std::time::Duration;

use flotilla_fleet::argocd::application::{ApplicationSource, RetryStrategy};
use flotilla_sync::{
    Action, InventoryEntry, ObjectResult, ObjectState, OperationPhase, PlanItem, SyncReport,
};
use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::{
    Attempt, Pass, Reconciled, images_of, source_type_name, split_api_version, until_next_minute,
};
use crate::operation::OperationRun;
use crate::render::SourceType;
use crate::retry::Ended;

/// What the app's sources resolved to.
pub(super) struct Target {
    /// Several sources (`spec.sources`): the status lists each revision and source.
    pub(super) multiple: bool,
    /// Each source's commit.
    pub(super) revisions: Vec<String>,
    /// Each source, as JSON.
    pub(super) sources: Vec<Value>,
    /// What Argo CD records of the target: one revision and source, or a list of each.
    pub(super) recorded: Value,
}

impl Target {
    /// The target of `sources`, fetched as `trees`.
    pub(super) fn new(
        multiple: bool,
        trees: &[crate::sources::SourceTree],
        sources: &[ApplicationSource],
    ) -> Target {
        let revisions: Vec<String> = trees.iter().map(|t| t.commit.clone()).collect();
        let sources: Vec<Value> = sources
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .collect();
        let recorded = if multiple {
            json!({"revisions": revisions, "sources": sources})
        } else {
            json!({"revision": revisions[0], "source": sources[0]})
        };
        Target {
            multiple,
            revisions,
            sources,
            recorded,
        }
    }

    /// `status.sync`: `status` (Synced, OutOfSync) of the app compared to this target and
    /// `destination`.
    fn comparison(&self, status: &str, destination: &Value) -> Value {
        if self.multiple {
            json!({
                "status": status,
                "revisions": self.revisions,
                "comparedTo": {"sources": self.sources, "destination": destination},
            })
        } else {
            json!({
                "status": status,
                "revision": self.revisions[0],
                "comparedTo": {"source": self.sources[0], "destination": destination},
            })
        }
    }
}

/// What the status after a sync or a comparison is written from, besides its outcome.
pub(super) struct Draft<'a> {
    /// The status so far ([`started`]).
    pub(super) status: Map<String, Value>,
    pub(super) target: &'a Target,
    /// `spec.destination`, as JSON.
    pub(super) destination: Value,
    /// Argo CD's ExcludedResourceWarning message for each object left out.
    pub(super) excluded: Vec<String>,
    /// Argo CD's OrphanedResourceWarning message, when the project asks and there are.
    pub(super) orphaned: Option<String>,
    /// `spec.revisionHistoryLimit`.
    pub(super) history_limit: Option<i64>,
    /// The time of the reconcile, as written and as read.
    pub(super) now: &'a str,
    pub(super) now_at: Timestamp,
}

/// The status a sync or a comparison starts from: the previous one, reconciled now, with
/// the sources' types and the images of the `desired` objects.
pub(super) fn started(
    pass: &Pass<'_>,
    multiple: bool,
    source_types: &[Option<SourceType>],
    desired: &[Value],
) -> Map<String, Value> {
    let mut status = pass.previous.as_object().cloned().unwrap_or_default();
    status.insert("reconciledAt".into(), json!(pass.now));
    let type_name = |kind: &Option<SourceType>| kind.map(source_type_name).unwrap_or("");
    if multiple {
        let names: Vec<&str> = source_types.iter().map(type_name).collect();
        status.insert("sourceTypes".into(), json!(names));
    } else if let Some(kind) = source_types.first().copied().flatten() {
        status.insert("sourceType".into(), json!(source_type_name(kind)));
    }
    let images = images_of(desired);
    status.insert("summary".into(), json!({"images": images}));
    status
}

/// A status for a reconcile that stopped early: the previous sync and health are kept
/// (nothing was applied or pruned), the comparison is Unknown, the condition says why.
pub(super) fn failed(previous: &Value, kind: &str, message: String, now: &str) -> Reconciled {
    let mut status = previous.as_object().cloned().unwrap_or_default();
    let mut sync = status.get("sync").cloned().unwrap_or_else(|| json!({}));
    sync["status"] = json!("Unknown");
    status.insert("sync".into(), sync);
    if !status.contains_key("health") {
        status.insert("health".into(), json!({"status": "Unknown"}));
    }
    status.insert("conditions".into(), conditions(kind, &message, now));
    status.insert("reconciledAt".into(), json!(now));
    Reconciled {
        status: Value::Object(status),
        repo_urls: Vec::new(),
        failed: true,
        requeue_after: None,
        operation_done: false,
        // Argo CD's `FormatAppConditions`, which an operation ends with.
        stopped: Some(format!("{kind}: {message}")),
        running: None,
    }
}

/// The status of a settled app after a look at its objects: the previous status with each
/// resource's health and the app's health brought up to date.
pub(super) fn refreshed_health(
    mut status: serde_json::Map<String, Value>,
    healths: &[(InventoryEntry, flotilla_sync::health::Health)],
) -> Reconciled {
    let health = flotilla_sync::health::app_worst(healths.iter().map(|(_, h)| h));
    if let Some(Value::Array(resources)) = status.get_mut("resources") {
        for resource in resources {
            let s = |f: &str| resource.get(f).and_then(Value::as_str).unwrap_or("");
            let found = healths.iter().find(|(e, _)| {
                e.kind == s("kind") && e.namespace == s("namespace") && e.name == s("name")
            });
            match found {
                Some((_, h)) if h.ignored => {
                    if let Some(resource) = resource.as_object_mut() {
                        resource.remove("health");
                    }
                }
                Some((_, h)) => resource["health"] = resource_health(h),
                None => {}
            }
        }
    }
    status.insert("health".into(), json!({"status": health.as_str()}));
    Reconciled {
        status: Value::Object(status),
        repo_urls: Vec::new(),
        failed: false,
        requeue_after: None,
        operation_done: false,
        stopped: None,
        running: None,
    }
}

/// The app left as it is until the retry of its failed sync, after `wait`.
pub(super) fn waiting_for_retry(previous: &Value, wait: Duration) -> Reconciled {
    Reconciled {
        status: previous.clone(),
        repo_urls: Vec::new(),
        failed: false,
        requeue_after: Some(wait),
        operation_done: false,
        stopped: None,
        running: None,
    }
}

/// The operation `run` waiting, Running, for the sync window to open (`window`: why it
/// is closed, when a window is invalid).
pub(super) fn blocked_by_window(
    previous: &Value,
    run: &OperationRun,
    window: &Result<bool, String>,
    now_at: Timestamp,
) -> Reconciled {
    let message = match window {
        Err(reason) => format!("Sync operation blocked by sync window: {reason}"),
        Ok(_) => "Sync operation blocked by sync window".to_string(),
    };
    let mut status = previous.as_object().cloned().unwrap_or_default();
    let running = Ended {
        phase: "Running".into(),
        message,
        retry_count: run.retries,
        requeue_after: None,
    };
    status.insert(
        "operationState".into(),
        crate::operation::state(&run.requested, &running, None, &run.started_at, None),
    );
    Reconciled::operation_only(status, false, Some(until_next_minute(now_at)))
}

/// The status after a sync that reported: a full sync's comparison, health and
/// resources; the operation's state (`opts`: the sync's) and the conditions; the history
/// of a full sync that succeeded. `running`: the operationState written while it ran.
pub(super) fn after_sync(
    draft: Draft<'_>,
    attempt: &Attempt<'_>,
    report: &SyncReport,
    opts: &flotilla_sync::SyncOptions,
    running: Option<Value>,
) -> Reconciled {
    let Draft {
        mut status,
        target,
        destination,
        excluded,
        orphaned,
        history_limit,
        now,
        now_at,
    } = draft;
    let run = attempt.run;
    let succeeded = report.phase == OperationPhase::Succeeded;
    let full = attempt.is_full();
    if full {
        let all_synced = succeeded && all_synced(&report.results);
        status.insert(
            "sync".into(),
            target.comparison(
                if all_synced { "Synced" } else { "OutOfSync" },
                &destination,
            ),
        );
        status.insert("health".into(), json!({"status": report.health.as_str()}));
        status.insert(
            "resources".into(),
            Value::Array(synced_resources(&report.results)),
        );
    }
    let ended = sync_ended(attempt, report, opts, now_at);
    let result = with_target(
        &target.recorded,
        json!({"resources": sync_results(&report.results)}),
        true,
    );
    let state = match run {
        Some(run) => crate::operation::state(
            &run.requested,
            &ended,
            Some(result),
            &attempt.started,
            Some(now),
        ),
        None => operation_state(
            with_target(&target.recorded, automated_sync(attempt, opts), false),
            &attempt.strategy,
            &ended,
            result,
            (&attempt.started, Some(now)),
        ),
    };
    status.insert("operationState".into(), state);
    set_conditions(
        &mut status,
        None,
        &report.shared,
        &excluded,
        orphaned.as_deref(),
        now,
    );
    if succeeded && full {
        let by = run.map_or_else(
            || json!({"automated": true}),
            |run| run.requested.initiated_by(),
        );
        record_history(
            &mut status,
            &target.recorded,
            (&attempt.started, now),
            history_limit,
            by,
        );
    }
    Reconciled {
        status: Value::Object(status),
        repo_urls: Vec::new(),
        failed: !succeeded && run.is_none(),
        requeue_after: ended.requeue_after,
        operation_done: run.is_some() && crate::operation::is_completed(&ended.phase),
        stopped: None,
        running,
    }
}

/// The status of a sync that holds back, Running, until its `Prune=confirm` objects are
/// approved (the report's message says which): the app OutOfSync, the operation Running
/// since its start, without a finish — looked at again when the app's annotations change.
pub(super) fn waiting_for_confirmation(
    draft: Draft<'_>,
    attempt: &Attempt<'_>,
    report: &SyncReport,
    opts: &flotilla_sync::SyncOptions,
    running: Option<Value>,
) -> Reconciled {
    let Draft {
        mut status,
        target,
        destination,
        ..
    } = draft;
    status.insert("sync".into(), target.comparison("OutOfSync", &destination));
    let waiting = crate::retry::Ended {
        phase: "Running".into(),
        message: report.message.clone(),
        retry_count: attempt.retries,
        requeue_after: None,
    };
    let state = match attempt.run {
        Some(run) => {
            crate::operation::state(&run.requested, &waiting, None, &attempt.started, None)
        }
        None => {
            // Without a finish: the operation goes on.
            operation_state(
                with_target(&target.recorded, automated_sync(attempt, opts), false),
                &attempt.strategy,
                &waiting,
                with_target(&target.recorded, json!({}), true),
                (&attempt.started, None),
            )
        }
    };
    status.insert("operationState".into(), state);
    Reconciled {
        running,
        ..Reconciled::operation_only(status, false, None)
    }
}

/// The status after a sync that could not run (`error`): an operation's state only, or
/// for an automated sync the app OutOfSync with a SyncError.
pub(super) fn after_sync_error(
    draft: Draft<'_>,
    attempt: &Attempt<'_>,
    error: &str,
    running: Option<Value>,
) -> Reconciled {
    let Draft {
        mut status,
        target,
        destination,
        now,
        now_at,
        ..
    } = draft;
    let ended =
        crate::retry::after_failure(&attempt.strategy, attempt.retries, "Error", error, now_at);
    if let Some(run) = attempt.run {
        // The operation ends in Error (or waits for its retry); the
        // comparison is the next reconcile's.
        status.insert(
            "operationState".into(),
            crate::operation::state(&run.requested, &ended, None, &attempt.started, Some(now)),
        );
        let done = crate::operation::is_completed(&ended.phase);
        return Reconciled {
            running,
            ..Reconciled::operation_only(status, done, ended.requeue_after)
        };
    }
    status.insert("sync".into(), target.comparison("OutOfSync", &destination));
    // With the revision and source it tried, so that a new commit is
    // a new operation (Argo CD records none and holds every revision).
    status.insert(
        "operationState".into(),
        operation_state(
            with_target(&target.recorded, json!({}), false),
            &attempt.strategy,
            &ended,
            with_target(&target.recorded, json!({}), true),
            (&attempt.started, Some(now)),
        ),
    );
    status.insert("conditions".into(), conditions("SyncError", error, now));
    Reconciled {
        status: Value::Object(status),
        repo_urls: Vec::new(),
        failed: true,
        requeue_after: ended.requeue_after,
        operation_done: false,
        stopped: None,
        running: None,
    }
}

/// The status after a comparison (`plan`), its SyncError condition saying why no sync
/// ran: a closed `window` (then an `automated` app is looked at again on the next
/// minute) or a revision whose sync `failed_before`.
pub(super) fn after_compare(
    draft: Draft<'_>,
    plan: &flotilla_sync::Plan,
    window: &Result<bool, String>,
    failed_before: Option<&str>,
    automated: bool,
) -> Reconciled {
    let Draft {
        mut status,
        target,
        destination,
        excluded,
        orphaned,
        now,
        now_at,
        ..
    } = draft;
    let resources = planned_resources(&plan.items);
    // An extra object's health counts as Argo CD's `setApplicationHealth` counts every
    // live object the app tracks.
    let health =
        flotilla_sync::health::app_worst(plan.items.iter().filter_map(|i| i.health.as_ref()));
    status.insert(
        "sync".into(),
        target.comparison(
            if plan.in_sync() {
                "Synced"
            } else {
                "OutOfSync"
            },
            &destination,
        ),
    );
    status.insert("health".into(), json!({"status": health.as_str()}));
    status.insert("resources".into(), Value::Array(resources));
    let blocked = match window {
        Err(reason) => Some(format!("Sync operation blocked by sync window: {reason}")),
        Ok(_) => None,
    };
    let error = blocked.as_deref().or(failed_before);
    set_conditions(
        &mut status,
        error.map(|message| ("SyncError", message)),
        &plan.shared,
        &excluded,
        orphaned.as_deref(),
        now,
    );
    let window_open = *window == Ok(true);
    Reconciled {
        status: Value::Object(status),
        repo_urls: Vec::new(),
        failed: false,
        // Windows open and close on whole minutes.
        requeue_after: (!window_open && automated).then(|| until_next_minute(now_at)),
        operation_done: false,
        stopped: None,
        running: None,
    }
}

/// How a sync attempt that reported ended: succeeded, or failed and retried as its
/// strategy says — unless its user terminated it.
fn sync_ended(
    attempt: &Attempt<'_>,
    report: &SyncReport,
    opts: &flotilla_sync::SyncOptions,
    now_at: Timestamp,
) -> Ended {
    if report.phase == OperationPhase::Succeeded {
        crate::retry::succeeded(attempt.retries)
    } else if opts.terminated() {
        // Ended by its user: not retried.
        crate::retry::after_failure(
            &RetryStrategy {
                limit: Some(0),
                ..RetryStrategy::default()
            },
            attempt.retries,
            "Failed",
            flotilla_sync::options::TERMINATED,
            now_at,
        )
    } else {
        crate::retry::after_failure(
            &attempt.strategy,
            attempt.retries,
            "Failed",
            &report.message,
            now_at,
        )
    }
}

/// Whether an object the sync handled is in sync: it neither failed nor stayed unpruned.
fn is_synced(action: Action) -> bool {
    !matches!(action, Action::Failed | Action::PruneSkipped)
}

/// Whether every object a successful sync handled is in sync. An extra object left
/// unpruned is out of sync, unless it is marked IgnoreExtraneous (Argo CD leaves it out
/// of the app's).
fn all_synced(results: &[ObjectResult]) -> bool {
    results.iter().all(|r| {
        r.hook
            || r.action == Action::Pruned
            || is_synced(r.action)
            || (r.action == Action::PruneSkipped
                && r.live
                    .as_ref()
                    .is_some_and(flotilla_sync::ignores_extraneous))
    })
}

/// `status.resources` after a sync: every object it handled but the hooks and what it
/// pruned.
fn synced_resources(results: &[ObjectResult]) -> Vec<Value> {
    results
        .iter()
        .filter(|r| !r.hook && r.action != Action::Pruned)
        .map(|r| {
            let unpruned = r.action == Action::PruneSkipped;
            resource_status(
                &r.api_version,
                &r.key,
                if is_synced(r.action) {
                    "Synced"
                } else {
                    "OutOfSync"
                },
                r.health.as_ref(),
                Placement {
                    wave: if unpruned { 0 } else { r.wave },
                    requires_pruning: unpruned,
                    requires_deletion_confirmation: r.needs_deletion_confirmation,
                },
            )
        })
        .collect()
}

/// The sync result's `resources`: every object the sync handled but the hooks, with what
/// it did.
fn sync_results(results: &[ObjectResult]) -> Vec<Value> {
    results
        .iter()
        .filter(|r| !r.hook)
        .map(|r| {
            let (group, version) = split_api_version(&r.api_version);
            json!({
                "group": group,
                "version": version,
                "kind": r.key.kind,
                "namespace": r.key.namespace,
                "name": r.key.name,
                "status": match r.action {
                    Action::Failed => "SyncFailed",
                    Action::Pruned => "Pruned",
                    Action::PruneSkipped => "PruneSkipped",
                    _ => "Synced",
                },
                "message": r.message,
                "syncPhase": "Sync",
            })
        })
        .collect()
}

/// `status.resources` after a comparison: every object planned, Synced or OutOfSync.
fn planned_resources(items: &[PlanItem]) -> Vec<Value> {
    items
        .iter()
        .map(|item| {
            resource_status(
                &item.api_version,
                &item.key,
                if item.state == ObjectState::Synced {
                    "Synced"
                } else {
                    "OutOfSync"
                },
                item.health.as_ref(),
                Placement {
                    wave: item.wave,
                    requires_pruning: item.state == ObjectState::Extra,
                    requires_deletion_confirmation: item.needs_deletion_confirmation,
                },
            )
        })
        .collect()
}

/// Where an object stands in its app's sync, as `status.resources` tells it.
struct Placement {
    /// The desired object's sync wave.
    wave: i64,
    /// Tracked by the app, no longer desired, still live.
    requires_pruning: bool,
    /// Its deletion waits for an approval (`Delete=confirm` or `Prune=confirm`).
    requires_deletion_confirmation: bool,
}

/// One entry of `status.resources`, as Argo CD's `ResourceStatus` is written (empty and
/// zero fields left out).
fn resource_status(
    api_version: &str,
    key: &flotilla_sync::ObjectKey,
    sync: &str,
    health: Option<&flotilla_sync::health::Health>,
    placement: Placement,
) -> Value {
    let (group, version) = split_api_version(api_version);
    let mut r = serde_json::Map::new();
    if !group.is_empty() {
        r.insert("group".into(), json!(group));
    }
    r.insert("version".into(), json!(version));
    r.insert("kind".into(), json!(key.kind));
    if !key.namespace.is_empty() {
        r.insert("namespace".into(), json!(key.namespace));
    }
    r.insert("name".into(), json!(key.name));
    r.insert("status".into(), json!(sync));
    if let Some(h) = health.filter(|h| !h.ignored) {
        r.insert("health".into(), resource_health(h));
    }
    if placement.requires_pruning {
        r.insert("requiresPruning".into(), json!(true));
    }
    if placement.wave != 0 {
        r.insert("syncWave".into(), json!(placement.wave));
    }
    if placement.requires_deletion_confirmation {
        r.insert("requiresDeletionConfirmation".into(), json!(true));
    }
    Value::Object(r)
}

/// A resource's `health` as Argo CD writes it in `status.resources`: the status, and the
/// check's message when it has one.
fn resource_health(health: &flotilla_sync::health::Health) -> Value {
    if health.message.is_empty() {
        json!({"status": health.status.as_str()})
    } else {
        json!({"status": health.status.as_str(), "message": health.message})
    }
}

/// `operation.sync` of an automated sync before its target: `prune`, and for a
/// self-heal the resources it syncs and its attempt count, as Argo CD's `autoSync`
/// writes them (`Kind`, group and name; the group left out when empty).
fn automated_sync(attempt: &Attempt<'_>, opts: &flotilla_sync::SyncOptions) -> Value {
    let mut sync = json!({"prune": opts.prune});
    if let Some(count) = attempt.self_heal {
        let resources: Vec<Value> = opts
            .resources
            .iter()
            .map(|r| {
                let mut resource = json!({"kind": r.kind, "name": r.name});
                if !r.group.is_empty() {
                    resource["group"] = json!(r.group);
                }
                resource
            })
            .collect();
        sync["resources"] = json!(resources);
        sync["selfHealAttemptsCount"] = json!(count);
    }
    sync
}

/// `status.operationState` of an automated sync that `ended` so: its operation (`sync` and
/// the retry strategy), phase, message, result, times and, once retried, the retry count.
fn operation_state(
    sync: Value,
    strategy: &RetryStrategy,
    ended: &crate::retry::Ended,
    sync_result: Value,
    (started, finished): (&str, Option<&str>),
) -> Value {
    let mut state = json!({
        "operation": {
            "sync": sync,
            "initiatedBy": {"automated": true},
            "retry": strategy,
        },
        "phase": ended.phase,
        "message": ended.message,
        "syncResult": sync_result,
        "startedAt": started,
    });
    if let Some(finished) = finished {
        state["finishedAt"] = json!(finished);
    }
    if ended.retry_count > 0 {
        state["retryCount"] = json!(ended.retry_count);
    }
    state
}

/// The condition type of Argo CD's orphaned-resources warning.
pub(super) const ORPHANED_RESOURCE_WARNING: &str = "OrphanedResourceWarning";

/// The message of `status`'s first condition of type `kind`, if it has one.
pub(super) fn condition_message(status: &Value, kind: &str) -> Option<String> {
    status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))?
        .get("message")?
        .as_str()
        .map(str::to_string)
}

/// `status.conditions`: an error (kind and message) if any, then an
/// ExcludedResourceWarning per object left out, a SharedResourceWarning per object another
/// app claims, the OrphanedResourceWarning; none at all removes them.
fn set_conditions(
    status: &mut serde_json::Map<String, Value>,
    error: Option<(&str, &str)>,
    shared: &[String],
    excluded: &[String],
    orphaned: Option<&str>,
    now: &str,
) {
    let condition = |kind: &str, message: &str| json!({"type": kind, "message": message, "lastTransitionTime": now});
    let list: Vec<Value> = error
        .map(|(kind, message)| condition(kind, message))
        .into_iter()
        .chain(
            excluded
                .iter()
                .map(|m| condition("ExcludedResourceWarning", m)),
        )
        .chain(shared.iter().map(|m| condition("SharedResourceWarning", m)))
        .chain(orphaned.map(|m| condition(ORPHANED_RESOURCE_WARNING, m)))
        .collect();
    if list.is_empty() {
        status.remove("conditions");
    } else {
        status.insert("conditions".into(), Value::Array(list));
    }
}

fn conditions(kind: &str, message: &str, now: &str) -> Value {
    json!([{"type": kind, "message": message, "lastTransitionTime": now}])
}

/// Appends a successful sync to `status.history` as Argo CD's `persistRevisionHistory`
/// writes it (ids counting up, the revision and source synced, or each source's for a
/// multi-source app), keeping the last `limit` entries (`revisionHistoryLimit`, 10 by
/// default).
fn record_history(
    status: &mut serde_json::Map<String, Value>,
    target: &Value,
    (started, ended): (&str, &str),
    limit: Option<i64>,
    initiated_by: Value,
) {
    let mut history = match status.remove("history") {
        Some(Value::Array(history)) => history,
        _ => Vec::new(),
    };
    let id = history
        .last()
        .and_then(|h| h.get("id"))
        .and_then(Value::as_i64)
        .map_or(0, |id| id + 1);
    let entry = if target.get("sources").is_some() {
        // Go writes the (empty) single `source` of a multi-source entry too.
        json!({
            "deployedAt": ended, "id": id, "source": {"repoURL": ""},
            "deployStartedAt": started, "sources": target["sources"],
            "revisions": target["revisions"], "initiatedBy": initiated_by,
        })
    } else {
        json!({
            "revision": target["revision"], "deployedAt": ended, "id": id,
            "source": target["source"], "deployStartedAt": started,
            "initiatedBy": initiated_by,
        })
    };
    history.push(entry);
    let keep = usize::try_from(limit.unwrap_or(10)).unwrap_or(0);
    let drop = history.len().saturating_sub(keep);
    history.drain(..drop);
    status.insert("history".into(), Value::Array(history));
}

/// `fields` with the target as Argo CD records it: `revision` (and, in a sync result,
/// `source`) for one source, `revisions` (and `sources`) for several.
fn with_target(target: &Value, mut fields: Value, with_sources: bool) -> Value {
    for (key, value) in target.as_object().into_iter().flatten() {
        if with_sources || key.starts_with("revision") {
            fields[key] = value.clone();
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Argo CD's `persistRevisionHistory` and `RevisionHistories.Trunc`: ids count up
    /// from the last entry's, the oldest entries go beyond the limit, and a multi-source
    /// entry carries each source's revision.
    #[test]
    fn history_counts_up_and_keeps_the_last_entries() {
        let single =
            json!({"revision": "abc", "source": {"repoURL": "https://git/x", "path": "p"}});
        let mut status = serde_json::Map::new();
        for i in 0..4 {
            let started = format!("2026-11-28T10:0{i}:00Z");
            let ended = format!("2026-11-28T10:0{i}:05Z");
            record_history(
                &mut status,
                &single,
                (&started, &ended),
                Some(3),
                json!({"automated": true}),
            );
        }
        let history = status["history"].as_array().unwrap();
        let ids: Vec<i64> = history.iter().map(|h| h["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(
            history[2],
            json!({"revision": "abc", "deployedAt": "2026-11-28T10:03:05Z", "id": 3,
                   "source": {"repoURL": "https://git/x", "path": "p"},
                   "deployStartedAt": "2026-11-28T10:03:00Z", "initiatedBy": {"automated": true}})
        );
        let multi =
            json!({"revisions": ["a", "b"], "sources": [{"repoURL": "r1"}, {"repoURL": "r2"}]});
        let mut status = serde_json::Map::new();
        record_history(
            &mut status,
            &multi,
            ("s", "e"),
            None,
            json!({"username": "ana"}),
        );
        let entry = &status["history"][0];
        assert_eq!(entry["revisions"], json!(["a", "b"]));
        assert_eq!(entry["sources"][1]["repoURL"], "r2");
        assert_eq!(entry["initiatedBy"], json!({"username": "ana"}));
        assert!(entry.get("revision").is_none());
        let mut status = serde_json::Map::new();
        record_history(
            &mut status,
            &single,
            ("s", "e"),
            Some(0),
            json!({"automated": true}),
        );
        assert_eq!(status["history"], json!([]), "a limit of 0 keeps none");
    }

    #[test]
    fn a_condition_is_found_by_its_type() {
        let status = json!({"conditions": [
            {"type": "SharedResourceWarning", "message": "ConfigMap/a is part of applications x and y"},
            {"type": ORPHANED_RESOURCE_WARNING, "message": "Application has 2 orphaned resources"}]});
        assert_eq!(
            condition_message(&status, ORPHANED_RESOURCE_WARNING).as_deref(),
            Some("Application has 2 orphaned resources")
        );
        assert_eq!(condition_message(&status, "SyncError"), None);
        assert_eq!(
            condition_message(&json!({}), ORPHANED_RESOURCE_WARNING),
            None
        );
    }

    /// Argo CD's `ResourceStatus` (controller/state.go): an extra object left unpruned
    /// `requiresPruning`, a desired one its non-zero `syncWave`, one whose deletion waits
    /// for an approval `requiresDeletionConfirmation`; each omitted when empty.
    #[test]
    fn resource_entries_say_what_requires_pruning_and_the_wave() {
        use flotilla_sync::{ObjectKey, PlanItem};
        let item = |name: &str, state, wave| PlanItem {
            key: ObjectKey {
                group: "apps".into(),
                kind: "Deployment".into(),
                namespace: "web".into(),
                name: name.into(),
            },
            api_version: "apps/v1".into(),
            state,
            diff: String::new(),
            message: None,
            health: None,
            wave,
            needs_deletion_confirmation: name == "db",
            ignore_extraneous: false,
        };
        let entries = planned_resources(&[
            item("db", ObjectState::Synced, -1),
            item("web", ObjectState::OutOfSync, 0),
            item("old", ObjectState::Extra, 0),
        ]);
        let fields = |e: &Value| {
            let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            keys.sort();
            keys.join(",")
        };
        assert_eq!(entries[0]["syncWave"], -1);
        assert_eq!(entries[0]["requiresDeletionConfirmation"], true);
        assert_eq!(
            fields(&entries[1]),
            "group,kind,name,namespace,status,version"
        );
        assert_eq!(entries[2]["requiresPruning"], true);
        assert_eq!(entries[2]["status"], "OutOfSync");

        let result = |name: &str, action, wave| ObjectResult {
            key: ObjectKey {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: "web".into(),
                name: name.into(),
            },
            api_version: "v1".into(),
            action,
            message: String::new(),
            phase: flotilla_sync::order::Phase::Sync,
            wave,
            health: None,
            hook: false,
            needs_deletion_confirmation: false,
            live: None,
            applied: None,
        };
        let entries = synced_resources(&[
            result("settings", Action::Configured, 2),
            result("kept", Action::PruneSkipped, 2),
            result("gone", Action::Pruned, 2),
        ]);
        assert_eq!(entries.len(), 2, "what was pruned is no longer the app's");
        assert_eq!(entries[0]["syncWave"], 2);
        assert!(entries[0].get("requiresPruning").is_none());
        assert_eq!(entries[1]["requiresPruning"], true);
        assert!(
            entries[1].get("syncWave").is_none(),
            "an extra object has no desired wave"
        );
    }
}
