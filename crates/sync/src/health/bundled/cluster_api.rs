//! Cluster API (`cluster.x-k8s.io` and its `addons.`/`controlplane.` groups): clusters,
//! machines and their sets by phase and conditions; the EKS control plane of the AWS
//! provider.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("cluster.x-k8s.io", "Cluster") => cluster,
        ("cluster.x-k8s.io", "Machine") => machine,
        ("cluster.x-k8s.io", "MachineDeployment") => machine_deployment,
        ("cluster.x-k8s.io", "MachineHealthCheck") => machine_health_check,
        ("cluster.x-k8s.io", "MachinePool") => machine_pool,
        ("addons.cluster.x-k8s.io", "ClusterResourceSet") => cluster_resource_set,
        ("controlplane.cluster.x-k8s.io", "AWSManagedControlPlane") => aws_managed_control_plane,
        _ => return None,
    })
}

/// Paused, else by phase; a Ready condition that is false with a severity other than Info
/// (Info is the normal provisioning window) degrades whatever the phase.
fn cluster(obj: &Value) -> Verdict {
    if truthy(obj, &["spec", "paused"]) {
        return suspended("Cluster is paused");
    }
    let failing = conditions(obj).iter().find(|c| {
        cond_is(c, "Ready", "False")
            && get(c, &["severity"]).and_then(Value::as_str) != Some("Info")
    });
    if let Some(c) = failing {
        return degraded(message(c));
    }
    match text(obj, &["status", "phase"]) {
        Some("Provisioned") => healthy("Cluster is running"),
        Some("Failed") => degraded(""),
        _ => progressing("Waiting for clusters"),
    }
}

/// Running is Healthy; otherwise the message is the first false Ready condition's.
fn machine(obj: &Value) -> Verdict {
    let phase = text(obj, &["status", "phase"]);
    if phase == Some("Running") {
        return healthy("Machine is running");
    }
    let why = match find_condition(obj, "Ready", "False") {
        Some(c) => message(c),
        None => "Condition is unknown".to_string(),
    };
    if phase == Some("Failed") {
        degraded(why)
    } else {
        progressing(why)
    }
}

fn machine_deployment(obj: &Value) -> Verdict {
    if truthy(obj, &["spec", "paused"]) {
        return suspended("MachineDeployment is paused");
    }
    match text(obj, &["status", "phase"]) {
        Some("Running") => healthy("Machines are running under this deployment"),
        Some("ScalingUp") => progressing("Cluster is spawning machines"),
        Some("ScalingDown") => progressing("Cluster is stopping machines"),
        Some("Failed") => degraded("MachineDeployment is failed"),
        _ => progressing("Waiting for machines"),
    }
}

/// As many healthy machines as expected.
fn machine_health_check(obj: &Value) -> Verdict {
    let Some(current) = get(obj, &["status", "currentHealthy"]) else {
        return progressing("");
    };
    if same(get(obj, &["status", "expectedMachines"]), Some(current)) {
        healthy("")
    } else {
        degraded("")
    }
}

/// By phase, the false conditions listed after it (`Not <type> (<reason>)`).
fn machine_pool(obj: &Value) -> Verdict {
    let mut status = crate::health::HealthStatus::Progressing;
    let mut msg = String::new();
    if let Some(phase) = get(obj, &["status", "phase"]) {
        let Some(phase_text) = concat_text(Some(phase)) else {
            return script_error("status.phase is not a string");
        };
        msg = format!("MachinePool is {phase_text}");
        match phase.as_str() {
            Some("Running" | "Scaling") => status = crate::health::HealthStatus::Healthy,
            Some("Failed" | "Unknown") => status = crate::health::HealthStatus::Degraded,
            _ => {}
        }
    }
    let mut extra = Vec::new();
    for c in conditions(obj) {
        let Some(ty) = get(c, &["type"]) else {
            continue;
        };
        if field(c, "status") != Some("False") {
            continue;
        }
        let Some(ty) = concat_text(Some(ty)) else {
            return script_error("a condition's type is not a string");
        };
        match get(c, &["reason"]) {
            None => extra.push(format!("Not {ty}")),
            Some(r) => match concat_text(Some(r)) {
                Some(r) => extra.push(format!("Not {ty} ({r})")),
                None => return script_error("a condition's reason is not a string"),
            },
        }
    }
    if !extra.is_empty() {
        msg = format!("{msg}: {}", extra.join(", "));
    }
    verdict(status, msg)
}

fn cluster_resource_set(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "ResourcesApplied", "True") {
            return healthy("cluster resource set is applied");
        }
        if cond_is(c, "ResourcesApplied", "False") {
            return degraded(message(c));
        }
    }
    progressing("Initializing cluster resource set")
}

/// CAPA's EKS control plane: a status behind the spec, then a terminal failure message,
/// then an update in progress, then Ready, then the error-severity false conditions.
fn aws_managed_control_plane(obj: &Value) -> Verdict {
    const PROVISIONING: &str = "Provisioning...";
    if !has(obj, &["status"]) {
        return progressing(PROVISIONING);
    }
    let generation = get(obj, &["metadata", "generation"]);
    let observed = get(obj, &["status", "observedGeneration"]);
    if generation.is_some() && observed.is_some() && !same(observed, generation) {
        return progressing("Waiting for the control plane spec to be reconciled");
    }
    if let Some(failure) = get(obj, &["status", "failureMessage"])
        && failure.as_str() != Some("")
    {
        return degraded(failure.as_str().unwrap_or_default());
    }
    if !has_conditions(obj) {
        return progressing(PROVISIONING);
    }
    if find_condition(obj, "EKSControlPlaneUpdating", "True").is_some() {
        return progressing("EKS control plane is updating");
    }
    let mut errors: Option<String> = None;
    for c in conditions(obj) {
        if cond_is(c, "Ready", "True") {
            return healthy("Control plane is ready");
        }
        if field(c, "status") == Some("False") && field(c, "severity") == Some("Error") {
            let Some(m) = concat_text(get(c, &["message"])) else {
                return script_error("an Error condition has no message");
            };
            errors.get_or_insert_default().push_str(&format!("{m} "));
        }
    }
    if let Some(errors) = errors {
        return degraded(errors);
    }
    if get(obj, &["status", "ready"]).and_then(Value::as_bool) == Some(false) {
        return progressing("Control plane is not ready (.status.ready is false)");
    }
    progressing("Control plane is not ready")
}
