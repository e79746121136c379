//! Cloud providers' controllers: Google Config Connector (every kind of every
//! `*.cnrm.cloud.google.com` group) and GKE's ManagedCertificate, AWS Controllers for
//! Kubernetes (every `*.services.k8s.aws` kind), Gardener shoots, keikoproj's IAM manager,
//! SAP BTP's service operator and Spot's Ocean deployments.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("networking.gke.io", "ManagedCertificate") => managed_certificate,
        ("core.gardener.cloud", "Shoot") => shoot,
        ("iammanager.keikoproj.io", "Iamrole") => iam_role,
        ("services.cloud.sap.com", "ServiceBinding" | "ServiceInstance") => sap_service,
        ("spot.io", "SpotDeployment") => spot_deployment,
        _ => return None,
    })
}

/// Whether the status speaks for the current generation (or records none).
fn current(obj: &Value) -> bool {
    let observed = get(obj, &["status", "observedGeneration"]);
    observed.is_none() || same(observed, get(obj, &["metadata", "generation"]))
}

/// The `_.cnrm.cloud.google.com/_` directory. ConfigConnector and ConfigConnectorContext
/// report `status.healthy`; every other kind's conditions are read by reason.
pub(super) fn config_connector(obj: &Value) -> Verdict {
    let waiting = progressing("Update in progress");
    if !has(obj, &["status"]) {
        return waiting;
    }
    let kind = text(obj, &["kind"]);
    if matches!(kind, Some("ConfigConnector" | "ConfigConnectorContext"))
        && has(obj, &["status", "healthy"])
        && current(obj)
    {
        let kind = kind.unwrap_or_default();
        return if is_true(obj, &["status", "healthy"]) {
            healthy(format!("{kind} is healthy"))
        } else {
            degraded(format!("{kind} is not healthy"))
        };
    }
    if !has_conditions(obj) || !current(obj) {
        return waiting;
    }
    for c in conditions(obj) {
        match field(c, "reason") {
            Some("UpToDate") if field(c, "status") == Some("True") => return healthy(message(c)),
            Some("UpdateFailed" | "DependencyNotFound") => return degraded(message(c)),
            Some("DependencyNotReady") => return suspended(message(c)),
            _ => {}
        }
    }
    waiting
}

/// The `_.services.k8s.aws/_` directory: a terminal error, then the Ready condition.
pub(super) fn aws_controllers(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "ACK.Terminal", "True") {
            return degraded(message(c));
        }
        if cond_is(c, "Ready", "False") {
            return progressing(message(c));
        }
        if cond_is(c, "Ready", "True") {
            return healthy("");
        }
    }
    progressing("Waiting for resource to be ready")
}

/// Any domain that failed degrades; an active certificate is healthy.
fn managed_certificate(obj: &Value) -> Verdict {
    if items(obj, &["status", "domainStatus"])
        .iter()
        .any(|d| field(d, "status") == Some("FailedNotVisible"))
    {
        return degraded("At least one certificate has failed to be provisioned");
    }
    if is(obj, &["status", "certificateStatus"], "Active") {
        return healthy("All certificates are active");
    }
    progressing("At least one certificate is still being provisioned")
}

/// The status Gardener puts in the `shoot.gardener.cloud/status` label.
fn shoot(obj: &Value) -> Verdict {
    let label = get(obj, &["metadata", "labels", "shoot.gardener.cloud/status"]);
    match label.and_then(Value::as_str) {
        Some("healthy") => healthy("Component state: Healthy"),
        Some("progressing") => progressing("Component state: Update in progress"),
        Some("unhealthy") => degraded("Component state: Unhealthy"),
        Some("unknown") => unknown("Component state: Unknown"),
        _ => progressing("Update in progress"),
    }
}

/// Ready, or one of the failed states with the retry count and the error.
fn iam_role(obj: &Value) -> Verdict {
    let waiting = progressing("Waiting for Iamrole to be reconciled");
    if !has(obj, &["status"]) {
        return waiting;
    }
    let part = |key: &str| match get(obj, &["status", key]) {
        None => Some("<none>".to_string()),
        Some(v) if v.as_bool() == Some(false) => Some("<none>".to_string()),
        Some(v) => concat_text(Some(v)),
    };
    let (Some(name), Some(arn), Some(id)) = (part("roleName"), part("roleARN"), part("roleID"))
    else {
        return script_error("the role's name, ARN or ID is not text");
    };
    let state = text(obj, &["status", "state"]);
    if state == Some("Ready") {
        return healthy(format!(
            "Role '{name}' exists with ARN '{arn}' and ID '{id}'."
        ));
    }
    if !matches!(
        state,
        Some("Error" | "RolesMaxLimitReached" | "PolicyNotAllowed" | "RoleNameNotAvailable")
    ) {
        return waiting;
    }
    attempt(|| {
        let mut msg = "Failed to reconcile the Iamrole ".to_string();
        if has(obj, &["status", "retryCount"]) {
            let retries = num(obj, &["status", "retryCount"])?;
            if retries > 0.0 {
                msg.push_str(&format!("(retry {}) ", lua_number(retries)));
            }
        }
        msg.push_str(&format!(
            "for role '{name}' with ARN '{arn}' and ID '{id}'."
        ));
        if let Some(e) = get(obj, &["status", "errorDescription"]) {
            let e = concat_text(Some(e)).ok_or("status.errorDescription is not text")?;
            msg.push_str(&format!(" Reconciliation error was: {e}"));
        }
        Ok(degraded(msg))
    })
}

/// SAP BTP: a condition behind the generation waits; a failed one degrades; otherwise
/// ready to use once the controller wrote conditions.
fn sap_service(obj: &Value) -> Verdict {
    if truthy(obj, &["metadata", "deletionTimestamp"]) {
        return progressing("Resource is being deleted");
    }
    let Some(conds) = get(obj, &["status", "conditions"]).filter(|c| c.is_array() || c.is_object())
    else {
        return progressing("Waiting for status");
    };
    let generation = get(obj, &["metadata", "generation"]).filter(|g| g.as_bool() != Some(false));
    let conds = conds.as_array().map(Vec::as_slice).unwrap_or(&[]);
    for c in conds.iter().take_while(|c| !c.is_null()) {
        let seen = get(c, &["observedGeneration"]).filter(|g| g.as_bool() != Some(false));
        if let (Some(seen), Some(generation)) = (seen, generation)
            && !same(Some(seen), Some(generation))
        {
            return progressing("Waiting for spec update to be observed");
        }
        if cond_is(c, "Succeeded", "False") || cond_is(c, "Failed", "True") {
            return degraded(message(c));
        }
    }
    healthy("Ready to use")
}

/// Spot's rollout conditions (as an Argo Rollout's), then its phase; no health without
/// conditions.
fn spot_deployment(obj: &Value) -> Verdict {
    if !has_conditions(obj) {
        return None;
    }
    for c in conditions(obj) {
        let ty = field(c, "type");
        if ty == Some("InvalidSpec")
            || (ty == Some("Progressing")
                && matches!(
                    field(c, "reason"),
                    Some("RolloutAborted" | "ProgressDeadlineExceeded")
                ))
        {
            return degraded(message(c));
        }
        if cond_is(c, "Paused", "True") {
            return suspended("Rollout is paused");
        }
    }
    if is(obj, &["status", "phase"], "Progressing") {
        return progressing("Waiting for rollout to finish steps");
    }
    healthy("")
}
