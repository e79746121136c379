//! Argo CD's sync order: phase (PreSync, Sync, PostSync, SyncFail), then wave
//! (`argocd.argoproj.io/sync-wave`), then kind (Helm's install order, which gitops-engine
//! uses), then name; a Namespace moves up to the first object in it, a CRD to the first
//! of its custom resources (taking their wave and phase).

use flotilla_core::pointer::Pointer as _;
use serde::Serialize;
use serde_json::Value;

/// The hook annotation (`PreSync`, `Sync`, `PostSync`, `SyncFail`, `Skip`).
pub const HOOK_ANNOTATION: &str = "argocd.argoproj.io/hook";
/// The hook deletion policy annotation.
pub const HOOK_DELETE_POLICY_ANNOTATION: &str = "argocd.argoproj.io/hook-delete-policy";
/// The wave annotation (an integer, default 0).
pub const SYNC_WAVE_ANNOTATION: &str = "argocd.argoproj.io/sync-wave";
/// Helm's hook annotation, which Argo CD maps onto its own.
pub const HELM_HOOK_ANNOTATION: &str = "helm.sh/hook";
/// Helm's hook weight (the wave of a Helm hook).
pub const HELM_HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
/// Helm's hook deletion policy.
pub const HELM_HOOK_DELETE_POLICY_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// A sync phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Phase {
    /// Hooks before anything is applied.
    PreSync,
    /// The app's objects (and `Sync` hooks).
    Sync,
    /// Hooks after every wave is applied and healthy.
    PostSync,
    /// Hooks run when the sync failed.
    SyncFail,
}

/// When a hook is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeletePolicy {
    /// After it succeeded.
    HookSucceeded,
    /// After it failed.
    HookFailed,
    /// Before it is created again (the default).
    BeforeHookCreation,
}

/// What the annotations make of an object: a hook of some phases, or a plain resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookInfo {
    /// The phases it runs in; empty for a `Skip` hook (never applied).
    pub phases: Vec<Phase>,
    /// Deletion policies (BeforeHookCreation when none is given).
    pub delete_policies: Vec<DeletePolicy>,
}

/// The hook an object is, if any (Argo CD's annotation, else Helm's mapped as Argo CD
/// maps it: pre-install/pre-upgrade → PreSync, post-install/post-upgrade → PostSync).
pub fn hook_info(obj: &Value) -> Option<HookInfo> {
    let annotations = obj.at("/metadata/annotations");
    let get = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Value::as_str);
    let csv = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    };
    let mut phases = Vec::new();
    let mut is_hook = false;
    if let Some(text) = get(HOOK_ANNOTATION) {
        for p in csv(text) {
            is_hook = true;
            match p.as_str() {
                "PreSync" => phases.push(Phase::PreSync),
                "Sync" => phases.push(Phase::Sync),
                "PostSync" => phases.push(Phase::PostSync),
                "SyncFail" => phases.push(Phase::SyncFail),
                _ => {} // "Skip" and unknown values: a hook that never runs.
            }
        }
    } else if let Some(text) = get(HELM_HOOK_ANNOTATION) {
        for p in csv(text) {
            match p.as_str() {
                "pre-install" | "pre-upgrade" => {
                    is_hook = true;
                    phases.push(Phase::PreSync)
                }
                "post-install" | "post-upgrade" => {
                    is_hook = true;
                    phases.push(Phase::PostSync)
                }
                "crd-install" => {}
                _ => is_hook = true,
            }
        }
    }
    if !is_hook {
        return None;
    }
    phases.sort();
    phases.dedup();
    let mut delete_policies = Vec::new();
    for text in [
        get(HOOK_DELETE_POLICY_ANNOTATION),
        get(HELM_HOOK_DELETE_POLICY_ANNOTATION),
    ]
    .into_iter()
    .flatten()
    {
        for p in csv(text) {
            match p.as_str() {
                "HookSucceeded" | "hook-succeeded" => {
                    delete_policies.push(DeletePolicy::HookSucceeded)
                }
                "HookFailed" | "hook-failed" => delete_policies.push(DeletePolicy::HookFailed),
                "BeforeHookCreation" | "before-hook-creation" => {
                    delete_policies.push(DeletePolicy::BeforeHookCreation)
                }
                _ => {}
            }
        }
    }
    if delete_policies.is_empty() {
        delete_policies.push(DeletePolicy::BeforeHookCreation);
    }
    Some(HookInfo {
        phases,
        delete_policies,
    })
}

/// The wave of an object: `sync-wave`, else a Helm hook's weight, else 0. A value that is
/// not an integer counts as 0, as in Argo CD.
pub fn wave(obj: &Value) -> i64 {
    let annotations = obj.at("/metadata/annotations");
    let get = |k: &str| annotations.and_then(|a| a.get(k)).and_then(Value::as_str);
    get(SYNC_WAVE_ANNOTATION)
        .or_else(|| get(HELM_HOOK_WEIGHT_ANNOTATION))
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0)
}

/// gitops-engine's waves of prunes, for objects whose own wave and PruneLast setting are
/// `own`: the distinct prune waves mirrored (the lowest swapped with the highest, and so
/// on: what was created first is deleted last); a PruneLast prune one wave after every
/// Sync-phase wave (`sync_waves`, the prunes' mirrored waves included), and never before
/// wave 1.
pub fn prune_waves(own: &[(i64, bool)], sync_waves: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut distinct: Vec<i64> = own.iter().map(|(wave, _)| *wave).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mirrored: Vec<i64> = own
        .iter()
        .map(|(wave, _)| {
            let at = distinct.binary_search(wave).unwrap_or_default();
            distinct[distinct.len() - 1 - at]
        })
        .collect();
    let after_last = sync_waves
        .into_iter()
        .chain(mirrored.iter().copied())
        .fold(0, i64::max)
        .saturating_add(1);
    own.iter()
        .zip(mirrored)
        .map(|((_, last), wave)| if *last { after_last } else { wave })
        .collect()
}

/// Helm's install order, which gitops-engine sorts kinds by within a wave.
pub const KIND_ORDER: [&str; 35] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// The rank of a kind: listed kinds in order, every other kind (custom resources) after.
pub fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// Something to order: its object (borrowed: ordering only reads it), phase and wave.
#[derive(Debug, Clone)]
pub struct Ordered<'a, T> {
    /// The object ordered by.
    pub obj: &'a Value,
    /// Its phase.
    pub phase: Phase,
    /// Its wave (may be raised or lowered by dependency adjustment).
    pub wave: i64,
    /// What the caller carries along.
    pub item: T,
}

/// Sorts as gitops-engine's `syncTasks.Sort`: phase, wave, kind, name; then moves each
/// Namespace before the first object in it and each CRD before the first of its custom
/// resources, giving the moved object that object's phase and wave.
pub fn sort<T>(tasks: &mut [Ordered<'_, T>]) {
    tasks.sort_by(|a, b| {
        let kind = |o: &Value| kind_rank(str_at(o, "/kind"));
        (
            a.phase,
            a.wave,
            kind(a.obj),
            str_at(a.obj, "/metadata/name"),
        )
            .cmp(&(
                b.phase,
                b.wave,
                kind(b.obj),
                str_at(b.obj, "/metadata/name"),
            ))
    });
    adjust(tasks, namespace_dep, namespace_ref);
    adjust(tasks, crd_dep, crd_ref);
}

fn str_at<'a>(o: &'a Value, p: &str) -> &'a str {
    o.at(p).and_then(Value::as_str).unwrap_or("")
}

fn namespace_dep(o: &Value) -> Option<String> {
    (str_at(o, "/kind") == "Namespace" && str_at(o, "/apiVersion") == "v1")
        .then(|| str_at(o, "/metadata/name").to_string())
}

fn namespace_ref(o: &Value) -> Option<String> {
    let ns = str_at(o, "/metadata/namespace");
    (!ns.is_empty()).then(|| ns.to_string())
}

fn crd_dep(o: &Value) -> Option<String> {
    if str_at(o, "/kind") != "CustomResourceDefinition"
        || crate::tracking::group_of(str_at(o, "/apiVersion")) != "apiextensions.k8s.io"
    {
        return None;
    }
    let (group, kind) = (str_at(o, "/spec/group"), str_at(o, "/spec/names/kind"));
    (!group.is_empty() && !kind.is_empty()).then(|| format!("{group}/{kind}"))
}

fn crd_ref(o: &Value) -> Option<String> {
    Some(format!(
        "{}/{}",
        crate::tracking::group_of(str_at(o, "/apiVersion")),
        str_at(o, "/kind")
    ))
}

fn adjust<T>(
    tasks: &mut [Ordered<'_, T>],
    is_dep: fn(&Value) -> Option<String>,
    refs_dep: fn(&Value) -> Option<String>,
) {
    let mut first_ref: std::collections::HashMap<String, usize> = Default::default();
    for i in 0..tasks.len() {
        if let Some(dep) = is_dep(tasks[i].obj) {
            if let Some(&index) = first_ref.get(&dep) {
                let (wave, phase) = (tasks[index].wave, tasks[index].phase);
                tasks[i].wave = wave;
                tasks[i].phase = phase;
                tasks[index..=i].rotate_right(1);
                for v in first_ref.values_mut() {
                    if *v >= index {
                        *v += 1;
                    }
                }
            }
        } else if let Some(dep) = refs_dep(tasks[i].obj) {
            first_ref.entry(dep).or_insert(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gitops-engine's symmetric swap of the distinct prune waves, and PruneLast after
    /// the last Sync-phase wave (prunes' included, at least 1).
    #[test]
    fn prune_waves_are_mirrored_and_prune_last_comes_after_every_wave() {
        let plain = |waves: &[i64]| waves.iter().map(|w| (*w, false)).collect::<Vec<_>>();
        assert_eq!(prune_waves(&plain(&[-1, 0, 2]), [5]), [2, 0, -1]);
        assert_eq!(prune_waves(&plain(&[1, 1, 3, 2]), []), [3, 3, 1, 2]);
        assert_eq!(prune_waves(&plain(&[4]), [0]), [4]);
        assert_eq!(prune_waves(&[], [1]), Vec::<i64>::new());
        // PruneLast: after the Sync waves (3) and the mirrored prune waves (7): 8.
        assert_eq!(prune_waves(&[(0, false), (7, true)], [3]), [7, 8]);
        // Every wave negative: PruneLast still goes to wave 1.
        assert_eq!(prune_waves(&[(-5, true)], [-3, -2]), [1]);
    }
    use serde_json::json;

    fn task(kind: &str, name: &str, ns: &str, wave: i64) -> Ordered<'static, ()> {
        let api = match kind {
            "CustomResourceDefinition" => "apiextensions.k8s.io/v1",
            "Deployment" => "apps/v1",
            "Widget" => "example.com/v1",
            _ => "v1",
        };
        let mut obj = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
        if !ns.is_empty() {
            obj["metadata"]["namespace"] = json!(ns);
        }
        if kind == "CustomResourceDefinition" {
            obj["spec"] = json!({"group": "example.com", "names": {"kind": "Widget"}});
        }
        Ordered {
            obj: Box::leak(Box::new(obj)),
            phase: Phase::Sync,
            wave,
            item: (),
        }
    }

    fn names(t: &[Ordered<'_, ()>]) -> Vec<String> {
        t.iter()
            .map(|t| {
                format!(
                    "{}:{}@{}",
                    t.obj["kind"].as_str().unwrap(),
                    t.obj["metadata"]["name"].as_str().unwrap(),
                    t.wave
                )
            })
            .collect()
    }

    #[test]
    fn kinds_then_names_within_a_wave_and_waves_first() {
        let mut t = vec![
            task("Deployment", "web", "app", 0),
            task("Service", "web", "app", 0),
            task("ConfigMap", "b", "app", 0),
            task("ConfigMap", "a", "app", 0),
            task("Widget", "w", "app", -1),
        ];
        sort(&mut t);
        assert_eq!(
            names(&t),
            [
                "Widget:w@-1",
                "ConfigMap:a@0",
                "ConfigMap:b@0",
                "Service:web@0",
                "Deployment:web@0"
            ]
        );
    }

    #[test]
    fn namespace_and_crd_move_before_their_dependents() {
        let mut t = vec![
            task("Namespace", "app", "", 5),
            task("CustomResourceDefinition", "widgets.example.com", "", 3),
            task("Widget", "w", "app", 1),
            task("ConfigMap", "a", "app", 2),
        ];
        sort(&mut t);
        assert_eq!(
            names(&t),
            [
                "Namespace:app@1",
                "CustomResourceDefinition:widgets.example.com@1",
                "Widget:w@1",
                "ConfigMap:a@2"
            ]
        );
    }

    #[test]
    fn hooks_and_policies() {
        let job = json!({"metadata": {"annotations": {HOOK_ANNOTATION: "PreSync,PostSync",
            HOOK_DELETE_POLICY_ANNOTATION: "HookSucceeded"}}});
        let h = hook_info(&job).unwrap();
        assert_eq!(h.phases, [Phase::PreSync, Phase::PostSync]);
        assert_eq!(h.delete_policies, [DeletePolicy::HookSucceeded]);
        let helm = json!({"metadata": {"annotations": {HELM_HOOK_ANNOTATION: "pre-install", HELM_HOOK_WEIGHT_ANNOTATION: "-2"}}});
        assert_eq!(hook_info(&helm).unwrap().phases, [Phase::PreSync]);
        assert_eq!(wave(&helm), -2);
        assert_eq!(hook_info(&json!({})), None);
        assert_eq!(
            wave(&json!({"metadata": {"annotations": {SYNC_WAVE_ANNOTATION: "x"}}})),
            0
        );
        let skip = json!({"metadata": {"annotations": {HOOK_ANNOTATION: "Skip"}}});
        assert!(hook_info(&skip).unwrap().phases.is_empty());
    }
}
