//! Helm hooks and tests, run from a release's record as Helm's `execHook` runs them:
//! the hooks of one event ordered by weight, then name; each one's earlier copy deleted
//! first (`before-hook-creation`, the policy a hook without one is given), applied,
//! awaited until its Job completes or its Pod succeeds, its last run written to the
//! record; once all ran, those with `hook-succeeded` deleted (last first), or on a
//! failure the failed one with `hook-failed` and the earlier ones with `hook-succeeded`.
//! A hook that is a CustomResourceDefinition is never deleted.

use std::time::Duration;

use flotilla_render::helm::storage::{Hook, HookExecution, Release};
use flotilla_sync::Cluster;
use kube::api::PropagationPolicy;
use serde_json::Value;

use super::action::{WAIT_POLL, apply, delete, manifest_objects, now_timestamp, store, wait_gone};
use crate::flux::ssa::{self, Until};
use flotilla_sync::health::kstatus::Status;

const BEFORE_HOOK_CREATION: &str = "before-hook-creation";
const HOOK_SUCCEEDED: &str = "hook-succeeded";
const HOOK_FAILED: &str = "hook-failed";

/// Where hook runs are written: the record is stored as each hook starts, as Helm does,
/// when a storage namespace is given.
pub(super) struct Recording<'a> {
    /// The storage namespace, or `None` when the record is not written yet.
    pub storage_namespace: Option<&'a str>,
}

/// Runs the hooks of `event` of `record` (see the module); the error names the event.
pub(super) async fn run_hooks(
    cluster: &Cluster,
    record: &mut Release,
    event: &str,
    timeout: Duration,
    recording: &Recording<'_>,
) -> Result<(), String> {
    let order = in_order(&record.hooks, |h| h.events.iter().any(|e| e == event));
    run_in_order(cluster, record, &order, timeout, recording)
        .await
        .map_err(|e| format!("{event} hooks failed: {e}"))
}

/// Helm's hook order: weight, then name, stable otherwise.
pub(super) fn in_order(hooks: &[Hook], selected: impl Fn(&Hook) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..hooks.len()).filter(|&i| selected(&hooks[i])).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&hooks[a], &hooks[b]);
        a.weight.cmp(&b.weight).then_with(|| a.name.cmp(&b.name))
    });
    order
}

/// Runs the hooks at `order` in turn, deleting them by policy afterwards.
pub(super) async fn run_in_order(
    cluster: &Cluster,
    record: &mut Release,
    order: &[usize],
    timeout: Duration,
    recording: &Recording<'_>,
) -> Result<(), String> {
    let namespace = record.namespace.clone();
    for (position, &index) in order.iter().enumerate() {
        let hook = &mut record.hooks[index];
        if hook.delete_policies.is_empty() {
            hook.delete_policies = vec![BEFORE_HOOK_CREATION.to_string()];
        }
        let object = hook_object(hook)?;
        if has_policy(hook, BEFORE_HOOK_CREATION) {
            delete_hook(cluster, hook, &object, &namespace, timeout).await?;
        }
        hook.last_run = HookExecution {
            started_at: now_timestamp(),
            completed_at: None,
            phase: "Running".into(),
        };
        if let Some(storage_namespace) = recording.storage_namespace
            && let Err(e) = store(cluster, storage_namespace, record, true).await
        {
            tracing::warn!(release = %record.name, error = %e, "recording a hook's start");
        }
        let hook = &mut record.hooks[index];
        let finished = run_one(cluster, &object, &namespace, &hook.name, timeout).await;
        hook.last_run.completed_at = now_timestamp();
        hook.last_run.phase = if finished.is_ok() {
            "Succeeded"
        } else {
            "Failed"
        }
        .into();
        if let Err(e) = finished {
            if has_policy(hook, HOOK_FAILED)
                && let Err(deleting) =
                    delete_hook(cluster, hook, &object, &namespace, timeout).await
            {
                tracing::warn!(hook = %hook.name, error = %deleting, "deleting a failed hook");
            }
            let earlier: Vec<usize> = order[..position].to_vec();
            delete_succeeded(cluster, record, &earlier, &namespace, timeout, false).await?;
            return Err(e);
        }
    }
    delete_succeeded(cluster, record, order, &namespace, timeout, true).await
}

/// Applies a hook and waits until it finished; a failed Pod or Job is named as Helm's
/// status readers name it (`pod x failed`).
async fn run_one(
    cluster: &Cluster,
    object: &Value,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), String> {
    let meta = apply(cluster, object, namespace).await?;
    match ssa::wait_until(cluster, &[meta], timeout, WAIT_POLL, true, Until::Completed).await {
        Ok(()) => Ok(()),
        Err(e) => Err(failure_of(cluster, object, namespace, name)
            .await
            .unwrap_or(e)),
    }
}

/// `hook-succeeded` deletions of the hooks at `order` (last first when `backward`).
async fn delete_succeeded(
    cluster: &Cluster,
    record: &Release,
    order: &[usize],
    namespace: &str,
    timeout: Duration,
    backward: bool,
) -> Result<(), String> {
    let mut indices = order.to_vec();
    if backward {
        indices.reverse();
    }
    for index in indices {
        let hook = &record.hooks[index];
        if has_policy(hook, HOOK_SUCCEEDED) {
            let object = hook_object(hook)?;
            delete_hook(cluster, hook, &object, namespace, timeout).await?;
        }
    }
    Ok(())
}

fn has_policy(hook: &Hook, policy: &str) -> bool {
    hook.delete_policies.iter().any(|p| p == policy)
}

fn hook_object(hook: &Hook) -> Result<Value, String> {
    manifest_objects(&hook.manifest)
        .into_iter()
        .next()
        .ok_or_else(|| {
            format!(
                "unable to build kubernetes object for hook {}: no object in its manifest",
                hook.path
            )
        })
}

/// Deletes a hook's object (background propagation) and waits until it is gone; a
/// CustomResourceDefinition stays (its deletion would cascade).
async fn delete_hook(
    cluster: &Cluster,
    hook: &Hook,
    object: &Value,
    namespace: &str,
    timeout: Duration,
) -> Result<(), String> {
    if hook.kind == "CustomResourceDefinition" {
        return Ok(());
    }
    delete(cluster, object, namespace, PropagationPolicy::Background).await?;
    wait_gone(cluster, object, namespace, timeout).await
}

/// `pod <name> failed` / `job <name> failed` when the finished hook failed.
async fn failure_of(
    cluster: &Cluster,
    object: &Value,
    namespace: &str,
    name: &str,
) -> Option<String> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let resolved = cluster
        .resolve(object["apiVersion"].as_str().unwrap_or_default(), kind)
        .await
        .ok()?;
    let live = cluster
        .api(&resolved, Some(namespace))
        .get_opt(name)
        .await
        .ok()??;
    let live = serde_json::to_value(live).unwrap_or(Value::Null);
    // Helm's Pod and Job status readers: the same judgement the wait made.
    let failed = matches!(kind, "Pod" | "Job")
        && ssa::status_until(&live, Until::Completed) == Status::Failed;
    failed.then(|| format!("{} {name} failed", kind.to_lowercase()))
}

/// `spec.test` when Helm tests are enabled.
#[derive(Debug, Clone, Default)]
pub struct TestSpec {
    /// How long the tests may take.
    pub timeout: Duration,
    /// A failed test does not fail the release.
    pub ignore_failures: bool,
    /// `filters`: test hook names run (`exclude: false`) or skipped (`exclude: true`).
    pub filters: Vec<(String, bool)>,
}

impl TestSpec {
    /// Whether the test hook `name` runs (`helm test --filter` semantics: with any
    /// inclusive filter only those names run; exclusive filters skip theirs).
    fn selects(&self, name: &str) -> bool {
        let included: Vec<&str> = self
            .filters
            .iter()
            .filter(|(_, exclude)| !exclude)
            .map(|(n, _)| n.as_str())
            .collect();
        let excluded = self
            .filters
            .iter()
            .any(|(n, exclude)| *exclude && n == name);
        !excluded && (included.is_empty() || included.contains(&name))
    }
}

/// Helm's `helm test`: the test hooks of `record` that the filters select, run as hooks,
/// and the record written with their last runs; how many ran, or the first failure.
pub async fn run_tests(
    cluster: &Cluster,
    storage_namespace: &str,
    record: &mut Release,
    tests: &TestSpec,
) -> Result<usize, String> {
    let order = in_order(&record.hooks, |h| {
        h.events.iter().any(|e| e == "test") && tests.selects(&h.name)
    });
    let outcome = run_in_order(
        cluster,
        record,
        &order,
        tests.timeout,
        &Recording {
            storage_namespace: None,
        },
    )
    .await
    .map(|()| order.len());
    store(cluster, storage_namespace, record, true).await?;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(name: &str, weight: i64, events: &[&str]) -> Hook {
        Hook {
            name: name.into(),
            weight,
            events: events.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn hooks_run_by_weight_then_name() {
        // Helm's hookByWeight: weight first, the name breaks ties.
        let hooks = vec![
            hook("b", 0, &["pre-install"]),
            hook("a", 5, &["pre-install"]),
            hook("z", -1, &["pre-install", "pre-upgrade"]),
            hook("c", 0, &["post-install"]),
            hook("a0", 0, &["pre-install"]),
        ];
        let order = in_order(&hooks, |h| h.events.iter().any(|e| e == "pre-install"));
        let names: Vec<&str> = order.iter().map(|&i| hooks[i].name.as_str()).collect();
        assert_eq!(names, ["z", "a0", "b", "a"]);
    }

    #[test]
    fn test_filters_follow_helm_test_filter() {
        let only = TestSpec {
            filters: vec![("smoke".into(), false)],
            ..Default::default()
        };
        assert!(only.selects("smoke"));
        assert!(!only.selects("load"));
        let skip = TestSpec {
            filters: vec![("load".into(), true)],
            ..Default::default()
        };
        assert!(skip.selects("smoke"));
        assert!(!skip.selects("load"));
    }
}
