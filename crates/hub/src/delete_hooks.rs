//! Argo CD's PreDelete and PostDelete hooks (`argocd.argoproj.io/hook: PreDelete`, or
//! Helm's `pre-delete`; `PostDelete`/`post-delete`): objects of the rendered app that
//! never sync, run when the Application is deleted — before its resources are deleted,
//! and after. As Argo CD's controller (`controller/hook.go`): an Application whose render
//! holds such hooks carries the finalizer of each kind and its `/cleanup` twin; at
//! deletion the hooks are created (tracked as the app's), waited for until Healthy (a
//! Degraded one is deleted to be retried, and fails the step with its name), then once
//! the rest is done deleted by their policy (`HookSucceeded`, `HookFailed`).

use flotilla_core::pointer::Pointer as _;
use flotilla_sync::Cluster;
use flotilla_sync::health::{HealthStatus, assess};
use flotilla_sync::order::{DeletePolicy, hook_info};
use flotilla_sync::tracking::{AppId, stamp};
use kube::api::{DeleteParams, PostParams};
use serde_json::Value;

/// The finalizer that holds an Application's deletion until its PreDelete hooks ran.
pub const PRE_DELETE_FINALIZER: &str = "pre-delete-finalizer.argocd.argoproj.io";
/// The finalizer that holds it after its resources are gone, until its PostDelete
/// hooks ran.
pub const POST_DELETE_FINALIZER: &str = "post-delete-finalizer.argocd.argoproj.io";
/// The suffix of each one's cleanup stage (the hooks deleted at the end).
pub const CLEANUP: &str = "/cleanup";

/// A kind of deletion hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteHook {
    /// Before the resources are deleted.
    PreDelete,
    /// After.
    PostDelete,
}

impl DeleteHook {
    /// Its finalizer.
    pub fn finalizer(self) -> &'static str {
        match self {
            DeleteHook::PreDelete => PRE_DELETE_FINALIZER,
            DeleteHook::PostDelete => POST_DELETE_FINALIZER,
        }
    }

    fn name(self) -> &'static str {
        match self {
            DeleteHook::PreDelete => "PreDelete",
            DeleteHook::PostDelete => "PostDelete",
        }
    }

    /// Whether `object` is a hook of this kind: Argo CD's annotation or Helm's, one of
    /// its comma-separated values (`isHookOfType`).
    pub fn is(self, object: &Value) -> bool {
        let (argo, helm) = match self {
            DeleteHook::PreDelete => ("PreDelete", "pre-delete"),
            DeleteHook::PostDelete => ("PostDelete", "post-delete"),
        };
        let annotation = |key: &str| {
            object
                .at("/metadata/annotations")
                .and_then(|a| a.get(key))
                .and_then(Value::as_str)
        };
        [("argocd.argoproj.io/hook", argo), ("helm.sh/hook", helm)]
            .iter()
            .any(|(key, wanted)| {
                annotation(key).is_some_and(|v| v.split(',').any(|p| p.trim() == *wanted))
            })
    }
}

/// The finalizers an Application not being deleted should carry for the hooks its
/// render holds: `current` with each kind's pair added or removed; `None` when that is
/// what it has.
pub fn finalizers_for(current: &[String], desired: &[Value]) -> Option<Vec<String>> {
    let mut wanted = current.to_vec();
    for kind in [DeleteHook::PreDelete, DeleteHook::PostDelete] {
        let has = desired.iter().any(|o| kind.is(o));
        let pair = [
            kind.finalizer().to_string(),
            format!("{}{CLEANUP}", kind.finalizer()),
        ];
        if has {
            for f in pair {
                if !wanted.contains(&f) {
                    wanted.push(f);
                }
            }
        } else {
            wanted.retain(|f| !pair.contains(f));
        }
    }
    (wanted != current).then_some(wanted)
}

/// Where a hook step stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Done: its finalizer may go.
    Done,
    /// Still under way (hooks created, running, or being deleted): look again later.
    Waiting(String),
}

/// The live copy of `object` on the cluster, if any.
async fn live(cluster: &Cluster, object: &Value, namespace: &str) -> Result<Option<Value>, String> {
    let (api, name) = api_for(cluster, object, namespace).await?;
    api.get_opt(&name)
        .await
        .map(|o| o.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
        .map_err(|e| e.to_string())
}

async fn api_for(
    cluster: &Cluster,
    object: &Value,
    namespace: &str,
) -> Result<(kube::Api<kube::api::DynamicObject>, String), String> {
    let s = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
    let resolved = cluster
        .resolve(s("/apiVersion"), s("/kind"))
        .await
        .map_err(|e| e.to_string())?;
    let ns = match s("/metadata/namespace") {
        "" => namespace,
        set => set,
    };
    let api = cluster.api(&resolved, resolved.namespaced.then_some(ns));
    Ok((api, s("/metadata/name").to_string()))
}

/// Runs the hooks of `kind` among `desired` (Argo CD's `executeHooks`): those not live
/// are created, tracked as the app's (and the step waits for them); then a Degraded one
/// is deleted (to be created again) and fails the step, a Progressing one keeps it
/// waiting, and all Healthy end it.
pub async fn execute(
    cluster: &Cluster,
    app: &AppId,
    kind: DeleteHook,
    desired: &[Value],
    namespace: &str,
) -> Result<Step, String> {
    let hooks: Vec<&Value> = desired.iter().filter(|o| kind.is(o)).collect();
    let mut created = 0;
    let mut running = Vec::new();
    for hook in &hooks {
        match live(cluster, hook, namespace).await? {
            Some(object) => running.push(object),
            None => {
                let mut object = (*hook).clone();
                stamp(&mut object, app, namespace);
                let (api, name) = api_for(cluster, &object, namespace).await?;
                let body: kube::api::DynamicObject =
                    serde_json::from_value(object).map_err(|e| e.to_string())?;
                match api.create(&PostParams::default(), &body).await {
                    Ok(_) => created += 1,
                    Err(kube::Error::Api(s)) if s.code == 409 => {}
                    Err(e) => {
                        return Err(format!("creating {} hook {name}: {e}", kind.name()));
                    }
                }
            }
        }
    }
    if created > 0 {
        return Ok(Step::Waiting(format!(
            "created {created} {} hook(s)",
            kind.name()
        )));
    }
    let mut failed = Vec::new();
    let mut progressing = 0;
    for object in &running {
        match assess(object).status {
            HealthStatus::Degraded => {
                let s = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
                failed.push(format!(
                    "{}/{}",
                    s("/metadata/namespace"),
                    s("/metadata/name")
                ));
                let (api, name) = api_for(cluster, object, namespace).await?;
                if let Err(e) = api.delete(&name, &DeleteParams::default()).await {
                    tracing::warn!(hook = %name, error = %e, "deleting a failed hook");
                }
            }
            HealthStatus::Progressing => progressing += 1,
            _ => {}
        }
    }
    if !failed.is_empty() {
        return Err(format!(
            "{} hook(s) failed: {}",
            kind.name(),
            failed.join(", ")
        ));
    }
    if progressing > 0 {
        return Ok(Step::Waiting(format!(
            "waiting for {progressing} {} hook(s) to complete",
            kind.name()
        )));
    }
    Ok(Step::Done)
}

/// Deletes the live hooks of `kind` by their policy once the deletion is otherwise done
/// (Argo CD's `cleanupHooks`): `HookSucceeded` when they all ended Healthy, `HookFailed`
/// when one is Degraded (a hook without a policy reads as BeforeHookCreation, as
/// gitops-engine's `DeletePolicies` has it, and stays); done once none of those is left.
pub async fn clean_up(
    cluster: &Cluster,
    kind: DeleteHook,
    desired: &[Value],
    namespace: &str,
) -> Result<Step, String> {
    let mut live_hooks = Vec::new();
    for hook in desired.iter().filter(|o| kind.is(o)) {
        if let Some(object) = live(cluster, hook, namespace).await? {
            live_hooks.push(object);
        }
    }
    let worst = flotilla_sync::health::worst(
        live_hooks
            .iter()
            .map(|o| assess(o).status)
            .collect::<Vec<_>>()
            .iter(),
    );
    let mut pending = 0;
    for object in &live_hooks {
        // gitops-engine's `DeletePolicies` (both annotations; none given reads as
        // BeforeHookCreation, which never deletes here).
        let policies = hook_info(object)
            .map(|h| h.delete_policies)
            .unwrap_or_default();
        let delete = policies.iter().any(|p| match p {
            DeletePolicy::HookFailed => worst == HealthStatus::Degraded,
            DeletePolicy::HookSucceeded => worst == HealthStatus::Healthy,
            DeletePolicy::BeforeHookCreation => false,
        });
        if !delete {
            continue;
        }
        pending += 1;
        if object.at("/metadata/deletionTimestamp").is_some() {
            continue;
        }
        let (api, name) = api_for(cluster, object, namespace).await?;
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(format!("deleting {} hook {name}: {e}", kind.name())),
        }
    }
    if pending > 0 {
        return Ok(Step::Waiting(format!(
            "waiting for {pending} {} hook(s) to be deleted",
            kind.name()
        )));
    }
    Ok(Step::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(annotations: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "h", "annotations": annotations}})
    }

    #[test]
    fn hooks_are_told_by_either_annotation_and_any_of_their_values() {
        assert!(DeleteHook::PreDelete.is(&hook(json!({"argocd.argoproj.io/hook": "PreDelete"}))));
        assert!(
            DeleteHook::PreDelete.is(&hook(json!({"helm.sh/hook": "post-install, pre-delete"})))
        );
        assert!(DeleteHook::PostDelete.is(&hook(
            json!({"argocd.argoproj.io/hook": "PreSync,PostDelete"})
        )));
        assert!(!DeleteHook::PostDelete.is(&hook(json!({"argocd.argoproj.io/hook": "PreDelete"}))));
        assert!(!DeleteHook::PreDelete.is(&hook(json!({"argocd.argoproj.io/hook": "PreDeleteX"}))));
        assert!(
            !DeleteHook::PreDelete.is(&json!({"kind": "ConfigMap", "metadata": {"name": "c"}}))
        );
    }

    #[test]
    fn finalizers_follow_the_hooks_the_render_holds() {
        let pre = hook(json!({"argocd.argoproj.io/hook": "PreDelete"}));
        let resources = "resources-finalizer.argocd.argoproj.io".to_string();
        let with_pre =
            finalizers_for(std::slice::from_ref(&resources), std::slice::from_ref(&pre)).unwrap();
        assert_eq!(
            with_pre,
            [
                resources.clone(),
                PRE_DELETE_FINALIZER.to_string(),
                format!("{PRE_DELETE_FINALIZER}/cleanup"),
            ]
        );
        assert_eq!(finalizers_for(&with_pre, &[pre]), None, "already in place");
        assert_eq!(
            finalizers_for(&with_pre, &[]).unwrap(),
            [resources],
            "the hooks left the render"
        );
    }
}
