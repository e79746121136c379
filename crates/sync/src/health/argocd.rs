//! Argo CD's built-in health checks (gitops-engine `pkg/health`, as current Argo CD runs
//! them), written from their behaviour: which fields each check reads and what it
//! concludes. Fields are read as Go's typed conversion would see them: absent means zero.

use serde_json::Value;

use super::{Health, HealthStatus, conditions, field, group_kind, int_at, str_at};

/// The finalizer Argo CD puts on hooks; a hook being deleted keeps its health while it
/// carries it.
const HOOK_FINALIZER: &str = "argocd.argoproj.io/hook-finalizer";

/// Argo CD's `GetResourceHealth(obj, nil)`: `None` when no built-in check applies.
pub fn resource_health(obj: &Value) -> Option<Health> {
    if pending_deletion(obj) {
        return Some(Health::new(HealthStatus::Progressing, "Pending deletion"));
    }
    let (group, version, kind) = group_kind(obj);
    let result = match (group, kind) {
        ("apps", "Deployment") => only_v1(group, version, kind, || deployment(obj)),
        ("apps", "StatefulSet") => only_v1(group, version, kind, || statefulset(obj)),
        ("apps", "ReplicaSet") => only_v1(group, version, kind, || replicaset(obj)),
        ("apps", "DaemonSet") => only_v1(group, version, kind, || daemonset(obj)),
        ("extensions" | "networking.k8s.io", "Ingress") => Ok(ingress(obj)),
        ("argoproj.io", "Workflow") => Ok(argo_workflow(obj)),
        ("apiregistration.k8s.io", "APIService") => match version {
            "v1" | "v1beta1" => Ok(apiservice(obj)),
            _ => Err(unsupported("APIService", group, version, kind)),
        },
        ("", "Service") => only_v1(group, version, kind, || service(obj)),
        ("", "PersistentVolumeClaim") => only_v1(group, version, kind, || pvc(obj)),
        ("", "Pod") => only_v1(group, version, kind, || pod(obj)),
        ("batch", "Job") => only_v1(group, version, kind, || job(obj)),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(obj, version),
        _ => return None,
    };
    Some(result.unwrap_or_else(|message| Health::new(HealthStatus::Unknown, message)))
}

/// Being deleted, and not a hook Argo CD holds back: "Pending deletion" whatever the kind.
pub(crate) fn pending_deletion(obj: &Value) -> bool {
    field(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
        && !has_hook_finalizer(obj)
}

fn has_hook_finalizer(obj: &Value) -> bool {
    field(obj, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|v| v.as_str() == Some(HOOK_FINALIZER)))
}

/// Go's `GroupVersionKind.String()`.
fn gvk_string(group: &str, version: &str, kind: &str) -> String {
    format!("{group}/{version}, Kind={kind}")
}

fn unsupported(what: &str, group: &str, version: &str, kind: &str) -> String {
    format!(
        "unsupported {what} GVK: {}",
        gvk_string(group, version, kind)
    )
}

fn only_v1(
    group: &str,
    version: &str,
    kind: &str,
    check: impl FnOnce() -> Health,
) -> Result<Health, String> {
    if version == "v1" {
        Ok(check())
    } else {
        Err(unsupported(kind, group, version, kind))
    }
}

fn i(obj: &Value, path: &[&str]) -> i64 {
    int_at(obj, path).unwrap_or(0)
}

fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    conditions(obj)
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn cstr<'a>(c: &'a Value, key: &str) -> &'a str {
    c.get(key).and_then(Value::as_str).unwrap_or("")
}

fn deployment(obj: &Value) -> Health {
    use HealthStatus::*;
    if field(obj, &["spec", "paused"]).and_then(Value::as_bool) == Some(true) {
        return Health::new(Suspended, "Deployment is paused");
    }
    let name = str_at(obj, &["metadata", "name"]);
    if i(obj, &["metadata", "generation"]) > i(obj, &["status", "observedGeneration"]) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed deployment generation less than desired generation",
        );
    }
    let replicas = int_at(obj, &["spec", "replicas"]);
    let updated = i(obj, &["status", "updatedReplicas"]);
    let total = i(obj, &["status", "replicas"]);
    let available = i(obj, &["status", "availableReplicas"]);
    if condition(obj, "Progressing")
        .is_some_and(|c| cstr(c, "reason") == "ProgressDeadlineExceeded")
    {
        return Health::new(
            Degraded,
            format!("Deployment {name:?} exceeded its progress deadline"),
        );
    }
    if let Some(r) = replicas.filter(|r| updated < *r) {
        return Health::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {updated} out of {r} new replicas have been updated..."
            ),
        );
    }
    if total > updated {
        return Health::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {} old replicas are pending termination...",
                total - updated
            ),
        );
    }
    if available < updated {
        return Health::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} of {updated} updated replicas are available..."
            ),
        );
    }
    Health::new(Healthy, "")
}

fn statefulset(obj: &Value) -> Health {
    use HealthStatus::*;
    let observed = i(obj, &["status", "observedGeneration"]);
    if observed == 0 || i(obj, &["metadata", "generation"]) > observed {
        return Health::new(
            Progressing,
            "Waiting for statefulset spec update to be observed...",
        );
    }
    let replicas = int_at(obj, &["spec", "replicas"]);
    let ready = i(obj, &["status", "readyReplicas"]);
    let updated = i(obj, &["status", "updatedReplicas"]);
    if let Some(r) = replicas.filter(|r| ready < *r) {
        return Health::new(
            Progressing,
            format!("Waiting for {} pods to be ready...", r - ready),
        );
    }
    let strategy = str_at(obj, &["spec", "updateStrategy", "type"]);
    let rolling = field(obj, &["spec", "updateStrategy", "rollingUpdate"]).filter(|v| !v.is_null());
    if strategy == "RollingUpdate" && rolling.is_some() {
        let partition = int_at(
            obj,
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
        );
        if let (Some(r), Some(p)) = (replicas, partition)
            && updated < r - p
        {
            return Health::new(
                Progressing,
                format!(
                    "Waiting for partitioned roll out to finish: {updated} out of {} new pods have been updated...",
                    r - p
                ),
            );
        }
        return Health::new(
            Healthy,
            format!("partitioned roll out complete: {updated} new pods have been updated..."),
        );
    }
    if strategy == "OnDelete" {
        return Health::new(Healthy, format!("statefulset has {ready} ready pods"));
    }
    let update_rev = str_at(obj, &["status", "updateRevision"]);
    let current_rev = str_at(obj, &["status", "currentRevision"]);
    if update_rev != current_rev {
        return Health::new(
            Progressing,
            format!(
                "waiting for statefulset rolling update to complete {updated} pods at revision {update_rev}..."
            ),
        );
    }
    Health::new(
        Healthy,
        format!(
            "statefulset rolling update complete {} pods at revision {current_rev}...",
            i(obj, &["status", "currentReplicas"])
        ),
    )
}

fn daemonset(obj: &Value) -> Health {
    use HealthStatus::*;
    let name = str_at(obj, &["metadata", "name"]);
    if i(obj, &["metadata", "generation"]) > i(obj, &["status", "observedGeneration"]) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed daemon set generation less than desired generation",
        );
    }
    let updated = i(obj, &["status", "updatedNumberScheduled"]);
    let desired = i(obj, &["status", "desiredNumberScheduled"]);
    let available = i(obj, &["status", "numberAvailable"]);
    if str_at(obj, &["spec", "updateStrategy", "type"]) == "OnDelete" {
        return Health::new(
            Healthy,
            format!("daemon set {updated} out of {desired} new pods have been updated"),
        );
    }
    if updated < desired {
        return Health::new(
            Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {updated} out of {desired} new pods have been updated..."
            ),
        );
    }
    if available < desired {
        return Health::new(
            Progressing,
            format!(
                "Waiting for daemon set {name:?} rollout to finish: {available} of {desired} updated pods are available..."
            ),
        );
    }
    Health::new(Healthy, "")
}

fn replicaset(obj: &Value) -> Health {
    use HealthStatus::*;
    if i(obj, &["metadata", "generation"]) > i(obj, &["status", "observedGeneration"]) {
        return Health::new(
            Progressing,
            "Waiting for rollout to finish: observed replica set generation less than desired generation",
        );
    }
    if let Some(c) = condition(obj, "ReplicaFailure").filter(|c| cstr(c, "status") == "True") {
        return Health::new(Degraded, cstr(c, "message"));
    }
    let available = i(obj, &["status", "availableReplicas"]);
    if let Some(r) = int_at(obj, &["spec", "replicas"]).filter(|r| available < *r) {
        return Health::new(
            Progressing,
            format!(
                "Waiting for rollout to finish: {available} out of {r} new replicas are available..."
            ),
        );
    }
    Health::new(Healthy, "")
}

fn lb_ingress_present(obj: &Value) -> bool {
    field(obj, &["status", "loadBalancer", "ingress"])
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn ingress(obj: &Value) -> Health {
    if lb_ingress_present(obj) {
        Health::new(HealthStatus::Healthy, "")
    } else {
        Health::new(HealthStatus::Progressing, "")
    }
}

fn service(obj: &Value) -> Health {
    if str_at(obj, &["spec", "type"]) == "LoadBalancer" && !lb_ingress_present(obj) {
        return Health::new(HealthStatus::Progressing, "");
    }
    Health::new(HealthStatus::Healthy, "")
}

fn pvc(obj: &Value) -> Health {
    let status = match str_at(obj, &["status", "phase"]) {
        "Lost" => HealthStatus::Degraded,
        "Pending" => HealthStatus::Progressing,
        "Bound" => HealthStatus::Healthy,
        _ => HealthStatus::Unknown,
    };
    Health::new(status, "")
}

fn job(obj: &Value) -> Health {
    use HealthStatus::*;
    let (mut failed, mut complete, mut suspended) = (false, false, false);
    let (mut fail_msg, mut message) = ("", "");
    for c in conditions(obj) {
        match cstr(c, "type") {
            "Failed" => {
                failed = true;
                complete = true;
                fail_msg = cstr(c, "message");
            }
            "Complete" => {
                complete = true;
                message = cstr(c, "message");
            }
            "Suspended" => {
                complete = true;
                message = cstr(c, "message");
                if cstr(c, "status") == "True" {
                    suspended = true;
                }
            }
            _ => {}
        }
    }
    if !complete {
        Health::new(Progressing, message)
    } else if failed {
        Health::new(Degraded, fail_msg)
    } else if suspended {
        Health::new(Suspended, fail_msg)
    } else {
        Health::new(Healthy, message)
    }
}

fn apiservice(obj: &Value) -> Health {
    if let Some(c) = condition(obj, "Available") {
        let message = format!("{}: {}", cstr(c, "reason"), cstr(c, "message"));
        let status = if cstr(c, "status") == "True" {
            HealthStatus::Healthy
        } else {
            HealthStatus::Progressing
        };
        return Health::new(status, message);
    }
    Health::new(HealthStatus::Progressing, "Waiting to be processed")
}

fn argo_workflow(obj: &Value) -> Health {
    let message = str_at(obj, &["status", "message"]);
    let status = match str_at(obj, &["status", "phase"]) {
        "" | "Pending" | "Running" => HealthStatus::Progressing,
        "Succeeded" => HealthStatus::Healthy,
        "Failed" | "Error" => HealthStatus::Degraded,
        _ => HealthStatus::Unknown,
    };
    Health::new(status, message)
}

/// Current Argo CD (v3.5+): autoscaling v1 (conditions in an annotation) and v2 only; a
/// degraded condition wins over a healthy one wherever it appears.
fn hpa(obj: &Value, version: &str) -> Result<Health, String> {
    let waiting = || Health::new(HealthStatus::Progressing, "Waiting to Autoscale");
    let conds: Vec<Value> = match version {
        "v1" => {
            let Some(text) = field(obj, &["metadata", "annotations"])
                .and_then(|a| a.get("autoscaling.alpha.kubernetes.io/conditions"))
                .and_then(Value::as_str)
            else {
                return Ok(waiting());
            };
            serde_json::from_str(text)
                .map_err(|e| format!("failed to convert conditions annotation to typed: {e}"))?
        }
        "v2" => conditions(obj).to_vec(),
        _ => {
            return Err(unsupported(
                "HPA",
                "autoscaling",
                version,
                "HorizontalPodAutoscaler",
            ));
        }
    };
    const DEGRADED: [(&str, &str); 4] = [
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "InvalidSelector"),
    ];
    let field_of = |c: &Value, k: &str| {
        // The annotation's JSON uses Go field names (Type, Reason…); status uses lower case.
        let upper = {
            let mut s = k.to_string();
            s[..1].make_ascii_uppercase();
            s
        };
        c.get(k)
            .or_else(|| c.get(upper.as_str()))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if let Some(c) = conds.iter().find(|c| {
        let (t, r) = (field_of(c, "type"), field_of(c, "reason"));
        DEGRADED.iter().any(|(dt, dr)| *dt == t && *dr == r)
    }) {
        return Ok(Health::new(HealthStatus::Degraded, field_of(c, "message")));
    }
    if let Some(c) = conds.iter().find(|c| {
        matches!(
            field_of(c, "type").as_str(),
            "AbleToScale" | "ScalingLimited"
        ) && field_of(c, "status") == "True"
    }) {
        return Ok(Health::new(HealthStatus::Healthy, field_of(c, "message")));
    }
    Ok(waiting())
}

const IGNORE_RESTART_POLICY: &str = "argocd.argoproj.io/ignore-restart-policy";

fn pod(obj: &Value) -> Health {
    use HealthStatus::*;
    let ignore_restart_policy = field(obj, &["metadata", "annotations"])
        .and_then(|a| a.get(IGNORE_RESTART_POLICY))
        .and_then(Value::as_str)
        == Some("true");
    let policy = match str_at(obj, &["spec", "restartPolicy"]) {
        "OnFailure" | "Never" if ignore_restart_policy => "Always",
        p => p,
    };
    let statuses = |key: &str| -> Vec<Value> {
        field(obj, &["status", key])
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let message = str_at(obj, &["status", "message"]);
    if policy == "Always" {
        let mut messages = Vec::new();
        for cs in statuses("containerStatuses") {
            if let Some(w) = field(&cs, &["state", "waiting"]).filter(|w| w.is_object()) {
                let reason = cstr(w, "reason");
                if reason.starts_with("Err")
                    || reason.ends_with("Error")
                    || reason.ends_with("BackOff")
                {
                    messages.push(cstr(w, "message").to_string());
                }
            }
        }
        if !messages.is_empty() {
            return Health::new(Degraded, messages.join(", "));
        }
    }
    match str_at(obj, &["status", "phase"]) {
        "Pending" => Health::new(Progressing, message),
        "Succeeded" => Health::new(Healthy, message),
        "Failed" => {
            if !message.is_empty() {
                return Health::new(Degraded, message);
            }
            let mut all = statuses("initContainerStatuses");
            all.extend(statuses("containerStatuses"));
            for ctr in &all {
                if let Some(t) = field(ctr, &["state", "terminated"]).filter(|t| t.is_object()) {
                    let msg = cstr(t, "message");
                    if !msg.is_empty() {
                        return Health::new(Degraded, msg);
                    }
                    if cstr(t, "reason") == "OOMKilled" {
                        return Health::new(Degraded, "OOMKilled");
                    }
                    let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(0);
                    if code != 0 {
                        return Health::new(
                            Degraded,
                            format!(
                                "container {:?} failed with exit code {code}",
                                cstr(ctr, "name")
                            ),
                        );
                    }
                }
            }
            Health::new(Degraded, "")
        }
        "Running" => match policy {
            "Always" => {
                let ready = conditions(obj)
                    .iter()
                    .any(|c| cstr(c, "type") == "Ready" && cstr(c, "status") == "True");
                if ready {
                    return Health::new(Healthy, message);
                }
                let terminated_before = statuses("containerStatuses").iter().any(|cs| {
                    field(cs, &["lastState", "terminated"]).is_some_and(Value::is_object)
                });
                if terminated_before {
                    Health::new(Degraded, message)
                } else {
                    Health::new(Progressing, message)
                }
            }
            "OnFailure" | "Never" => Health::new(Progressing, message),
            _ => Health::new(Unknown, message),
        },
        _ => Health::new(Unknown, message),
    }
}
