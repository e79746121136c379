//! kstatus (`sigs.k8s.io/cli-utils/pkg/kstatus/status`) `Compute`: the status Flux and
//! kpt read from any object, from `observedGeneration`, the Reconciling/Stalled/Ready
//! conditions and per-kind rules for the built-in workloads.

use serde::Serialize;
use serde_json::Value;

use super::{conditions, field, group_kind, str_at};

/// kstatus' status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Still being reconciled.
    InProgress,
    /// Reconciliation failed (Stalled).
    Failed,
    /// Reconciled and up to date.
    Current,
    /// Being deleted.
    Terminating,
    /// Absent.
    NotFound,
    /// Could not be computed.
    Unknown,
}

/// One condition kstatus concludes (Reconciling or Stalled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// `Reconciling` or `Stalled`.
    pub kind: &'static str,
    /// Always `True` in what `Compute` returns.
    pub status: &'static str,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// What `Compute` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KstatusResult {
    /// The status.
    pub status: Status,
    /// Why.
    pub message: String,
    /// The conditions kstatus would add.
    pub conditions: Vec<Condition>,
}

fn result(status: Status, message: impl Into<String>) -> KstatusResult {
    KstatusResult {
        status,
        message: message.into(),
        conditions: Vec::new(),
    }
}

fn in_progress(reason: &str, message: impl Into<String>) -> KstatusResult {
    let message = message.into();
    KstatusResult {
        status: Status::InProgress,
        conditions: vec![Condition {
            kind: "Reconciling",
            status: "True",
            reason: reason.to_string(),
            message: message.clone(),
        }],
        message,
    }
}

fn failed(reason: &str, message: impl Into<String>) -> KstatusResult {
    let message = message.into();
    KstatusResult {
        status: Status::Failed,
        conditions: vec![Condition {
            kind: "Stalled",
            status: "True",
            reason: reason.to_string(),
            message: message.clone(),
        }],
        message,
    }
}

/// Go's `GetIntField`: an integer at `path`, else `default`.
fn int(obj: &Value, path: &[&str], default: i64) -> i64 {
    field(obj, path).and_then(Value::as_i64).unwrap_or(default)
}

fn string<'a>(obj: &'a Value, path: &[&str], default: &'a str) -> &'a str {
    field(obj, path).and_then(Value::as_str).unwrap_or(default)
}

fn cond_field<'a>(c: &'a Value, key: &str) -> &'a str {
    c.get(key).and_then(Value::as_str).unwrap_or("")
}

/// kstatus `Compute`.
pub fn compute(obj: &Value) -> KstatusResult {
    if let Some(r) = generic(obj) {
        return r;
    }
    let (group, _, kind) = group_kind(obj);
    let legacy = match (group, kind) {
        ("", "Service") => Some(service(obj)),
        ("", "Pod") => Some(pod(obj)),
        ("", "Secret") | ("", "ConfigMap") | ("batch", "CronJob") => {
            Some(result(Status::Current, "Resource is always ready"))
        }
        ("", "PersistentVolumeClaim") => Some(pvc(obj)),
        ("apps", "StatefulSet") => Some(statefulset(obj)),
        ("apps" | "extensions", "DaemonSet") => Some(daemonset(obj)),
        ("apps" | "extensions", "Deployment") => Some(deployment(obj)),
        ("apps" | "extensions", "ReplicaSet") => Some(replicaset(obj)),
        ("policy", "PodDisruptionBudget") => Some(result(
            Status::Current,
            "AllowedDisruptions has been computed.",
        )),
        ("batch", "Job") => Some(job(obj)),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some(crd(obj)),
        _ => None,
    };
    if let Some(r) = legacy {
        return r;
    }
    for c in conditions(obj) {
        if cond_field(c, "type") != "Ready" {
            continue;
        }
        match cond_field(c, "status") {
            "True" => return result(Status::Current, "Resource is Ready"),
            "False" | "Unknown" => {
                return in_progress(cond_field(c, "reason"), cond_field(c, "message"));
            }
            _ => {}
        }
    }
    result(Status::Current, "Resource is current")
}

/// Deletion, generation and the Reconciling/Stalled conditions, for every kind.
fn generic(obj: &Value) -> Option<KstatusResult> {
    if !str_at(obj, &["metadata", "deletionTimestamp"]).is_empty() {
        return Some(result(
            Status::Terminating,
            "Resource scheduled for deletion",
        ));
    }
    if let (Some(generation), Some(observed)) = (
        field(obj, &["metadata", "generation"]).and_then(Value::as_i64),
        field(obj, &["status", "observedGeneration"]).and_then(Value::as_i64),
    ) && generation != observed
    {
        let message = format!(
            "{} generation is {generation}, but latest observed generation is {observed}",
            str_at(obj, &["kind"])
        );
        return Some(in_progress("LatestGenerationNotObserved", message));
    }
    for c in conditions(obj) {
        let (t, s) = (cond_field(c, "type"), cond_field(c, "status"));
        if t == "Reconciling" && s == "True" {
            return Some(in_progress(
                cond_field(c, "reason"),
                cond_field(c, "message"),
            ));
        }
        if t == "Stalled" && s == "True" {
            return Some(failed(cond_field(c, "reason"), cond_field(c, "message")));
        }
    }
    None
}

fn statefulset(obj: &Value) -> KstatusResult {
    if string(obj, &["spec", "updateStrategy", "type"], "") == "OnDelete" {
        return result(
            Status::Current,
            "StatefulSet is using the ondelete update strategy",
        );
    }
    let spec = int(obj, &["spec", "replicas"], 1);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let current = int(obj, &["status", "currentReplicas"], 0);
    let updated = int(obj, &["status", "updatedReplicas"], 0);
    let replicas = int(obj, &["status", "replicas"], 0);
    let partition = int(
        obj,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
        -1,
    );
    if spec > replicas {
        return in_progress("LessReplicas", format!("Replicas: {replicas}/{spec}"));
    }
    if spec > ready {
        return in_progress("LessReady", format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return in_progress(
            "ExtraPods",
            format!("Pending termination: {}", replicas - spec),
        );
    }
    if partition != -1 {
        if updated < spec - partition {
            return in_progress(
                "PartitionRollout",
                format!("updated: {updated}/{}", spec - partition),
            );
        }
        return result(
            Status::Current,
            format!("Partition rollout complete. updated: {updated}"),
        );
    }
    if spec > current {
        return in_progress("LessCurrent", format!("current: {current}/{spec}"));
    }
    if string(obj, &["status", "currentRevision"], "")
        != string(obj, &["status", "updateRevision"], "")
    {
        return in_progress(
            "RevisionMismatch",
            "Waiting for updated revision to match current",
        );
    }
    result(
        Status::Current,
        format!("All replicas scheduled as expected. Replicas: {replicas}"),
    )
}

fn deployment(obj: &Value) -> KstatusResult {
    let mut progressing =
        int(obj, &["spec", "progressDeadlineSeconds"], i32::MAX as i64) == i32::MAX as i64;
    let mut available = false;
    for c in conditions(obj) {
        match cond_field(c, "type") {
            "Progressing" => {
                if cond_field(c, "reason") == "ProgressDeadlineExceeded" {
                    let mut r = failed(cond_field(c, "reason"), cond_field(c, "message"));
                    r.message = "Progress deadline exceeded".to_string();
                    return r;
                }
                if cond_field(c, "status") == "True"
                    && cond_field(c, "reason") == "NewReplicaSetAvailable"
                {
                    progressing = true;
                }
            }
            "Available" if cond_field(c, "status") == "True" => available = true,
            _ => {}
        }
    }
    let spec = int(obj, &["spec", "replicas"], 1);
    let replicas = int(obj, &["status", "replicas"], 0);
    let updated = int(obj, &["status", "updatedReplicas"], 0);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let avail = int(obj, &["status", "availableReplicas"], 0);
    if spec > replicas {
        return in_progress("LessReplicas", format!("Replicas: {replicas}/{spec}"));
    }
    if spec > updated {
        return in_progress("LessUpdated", format!("Updated: {updated}/{spec}"));
    }
    if replicas > spec {
        return in_progress(
            "ExtraPods",
            format!("Pending termination: {}", replicas - spec),
        );
    }
    if updated > avail {
        return in_progress("LessAvailable", format!("Available: {avail}/{updated}"));
    }
    if spec > ready {
        return in_progress("LessReady", format!("Ready: {ready}/{spec}"));
    }
    if !progressing {
        return in_progress("ReplicaSetNotAvailable", "ReplicaSet not Available");
    }
    if !available {
        return in_progress("DeploymentNotAvailable", "Deployment not Available");
    }
    result(
        Status::Current,
        format!("Deployment is available. Replicas: {replicas}"),
    )
}

fn replicaset(obj: &Value) -> KstatusResult {
    if conditions(obj)
        .iter()
        .any(|c| cond_field(c, "type") == "ReplicaFailure" && cond_field(c, "status") == "True")
    {
        return in_progress("ReplicaFailure", "Replica Failure condition. Check Pods");
    }
    let spec = int(obj, &["spec", "replicas"], 1);
    let replicas = int(obj, &["status", "replicas"], 0);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let avail = int(obj, &["status", "availableReplicas"], 0);
    let labelled = int(obj, &["status", "fullyLabeledReplicas"], 0);
    if spec > labelled {
        return in_progress("LessLabelled", format!("Labelled: {labelled}/{spec}"));
    }
    if spec > avail {
        return in_progress("LessAvailable", format!("Available: {avail}/{spec}"));
    }
    if spec > ready {
        return in_progress("LessReady", format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return in_progress(
            "ExtraPods",
            format!("Pending termination: {}", replicas - spec),
        );
    }
    result(
        Status::Current,
        format!("ReplicaSet is available. Replicas: {replicas}"),
    )
}

fn daemonset(obj: &Value) -> KstatusResult {
    let kind = str_at(obj, &["kind"]);
    if field(obj, &["metadata", "generation"])
        .and_then(Value::as_i64)
        .is_none()
    {
        return in_progress(
            "NoGeneration",
            format!("{kind} metadata.generation not found"),
        );
    }
    if field(obj, &["status", "observedGeneration"])
        .and_then(Value::as_i64)
        .is_none()
    {
        return in_progress(
            "NoObservedGeneration",
            format!("{kind} status.observedGeneration not found"),
        );
    }
    let desired = int(obj, &["status", "desiredNumberScheduled"], -1);
    let current = int(obj, &["status", "currentNumberScheduled"], 0);
    let updated = int(obj, &["status", "updatedNumberScheduled"], 0);
    let avail = int(obj, &["status", "numberAvailable"], 0);
    let ready = int(obj, &["status", "numberReady"], 0);
    if desired == -1 {
        return in_progress("NoDesiredNumber", "Missing .status.desiredNumberScheduled");
    }
    if desired > current {
        return in_progress("LessCurrent", format!("Current: {current}/{desired}"));
    }
    if desired > updated {
        return in_progress("LessUpdated", format!("Updated: {updated}/{desired}"));
    }
    if desired > avail {
        return in_progress("LessAvailable", format!("Available: {avail}/{desired}"));
    }
    if desired > ready {
        return in_progress("LessReady", format!("Ready: {ready}/{desired}"));
    }
    result(
        Status::Current,
        format!("All replicas scheduled as expected. Replicas: {desired}"),
    )
}

fn pvc(obj: &Value) -> KstatusResult {
    let phase = string(obj, &["status", "phase"], "unknown");
    if phase != "Bound" {
        return in_progress("NotBound", format!("PVC is not Bound. phase: {phase}"));
    }
    result(Status::Current, "PVC is Bound")
}

fn pod(obj: &Value) -> KstatusResult {
    let conds = conditions(obj);
    let has = |t: &str, s: &str| {
        conds
            .iter()
            .find(|c| cond_field(c, "type") == t && cond_field(c, "status") == s)
    };
    match string(obj, &["status", "phase"], "") {
        "Succeeded" => result(Status::Current, "Pod has completed successfully"),
        "Failed" => result(Status::Current, "Pod has completed, but not successfully"),
        "Running" => {
            if has("Ready", "True").is_some() {
                return result(Status::Current, "Pod is Ready");
            }
            let crashing: Vec<&str> = field(obj, &["status", "containerStatuses"])
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|cs| {
                            field(cs, &["state", "waiting", "reason"]).and_then(Value::as_str)
                                == Some("CrashLoopBackOff")
                        })
                        .filter_map(|cs| cs.get("name").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            if !crashing.is_empty() {
                return failed(
                    "ContainerCrashLooping",
                    format!("Containers in CrashLoop state: {}", crashing.join(",")),
                );
            }
            in_progress("PodRunningNotReady", "Pod is running but is not Ready")
        }
        "Pending" => {
            if has("PodScheduled", "False")
                .is_some_and(|c| cond_field(c, "reason") == "Unschedulable")
            {
                // Upstream allows a 15 s scheduling window after creation; without a clock
                // here an unschedulable pod is judged after that window.
                return failed("PodUnschedulable", "Pod could not be scheduled");
            }
            in_progress("PodPending", "Pod is in the Pending phase")
        }
        "" => in_progress("PodNotObserved", "Pod phase not available"),
        other => result(Status::Unknown, format!("unknown phase {other}")),
    }
}

fn job(obj: &Value) -> KstatusResult {
    let parallelism = int(obj, &["spec", "parallelism"], 1);
    let completions = int(obj, &["spec", "completions"], parallelism);
    let succeeded = int(obj, &["status", "succeeded"], 0);
    let active = int(obj, &["status", "active"], 0);
    let failed_count = int(obj, &["status", "failed"], 0);
    let suspended = field(obj, &["spec", "suspend"]).and_then(Value::as_bool) == Some(true);
    for c in conditions(obj) {
        let status = cond_field(c, "status");
        match cond_field(c, "type") {
            "Complete" if status == "True" => {
                return result(
                    Status::Current,
                    format!("Job Completed. succeeded: {succeeded}/{completions}"),
                );
            }
            "Failed" if status == "True" => {
                return failed(
                    "JobFailed",
                    format!("Job Failed. failed: {failed_count}/{completions}"),
                );
            }
            "Suspended" if status == "True" && suspended => {
                return result(Status::Current, "Job is suspended");
            }
            _ => {}
        }
    }
    if string(obj, &["status", "startTime"], "").is_empty() {
        return in_progress("JobNotStarted", "Job not started");
    }
    result(
        Status::Current,
        format!("Job in progress. success:{succeeded}, active: {active}, failed: {failed_count}"),
    )
}

fn service(obj: &Value) -> KstatusResult {
    if string(obj, &["spec", "type"], "ClusterIP") == "LoadBalancer"
        && string(obj, &["spec", "clusterIP"], "").is_empty()
    {
        return in_progress(
            "NoIPAssigned",
            "ClusterIP not set. Service type: LoadBalancer",
        );
    }
    result(Status::Current, "Service is ready")
}

fn crd(obj: &Value) -> KstatusResult {
    for c in conditions(obj) {
        let (t, s, reason) = (
            cond_field(c, "type"),
            cond_field(c, "status"),
            cond_field(c, "reason"),
        );
        if t == "NamesAccepted" && s == "False" {
            return failed(reason, cond_field(c, "message"));
        }
        if t == "Established" {
            if s == "False" && reason != "Installing" {
                return failed(reason, cond_field(c, "message"));
            }
            if s == "True" {
                return result(Status::Current, "CRD is established");
            }
        }
    }
    in_progress("Installing", "Install in progress")
}
