//! Kubernetes' own API groups: CronJobs, PodDisruptionBudgets, CustomResourceDefinitions,
//! volume snapshots and the Gateway API.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("batch", "CronJob") => cronjob,
        ("policy", "PodDisruptionBudget") => pod_disruption_budget,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => custom_resource_definition,
        ("snapshot.storage.k8s.io", "VolumeSnapshot" | "VolumeSnapshotContent") => volume_snapshot,
        ("gateway.networking.k8s.io", "BackendTLSPolicy") => backend_tls_policy,
        ("gateway.networking.k8s.io", "GRPCRoute") => |o| route(o, "GRPCRoute", false),
        ("gateway.networking.k8s.io", "Gateway") => gateway,
        ("gateway.networking.k8s.io", "GatewayClass") => gateway_class,
        ("gateway.networking.k8s.io", "HTTPRoute") => |o| route(o, "HTTPRoute", true),
        _ => return None,
    })
}

/// Argo CD's `batch/CronJob` check. Upstream reports a suspended CronJob, and one whose
/// last run may have failed while another runs, as Healthy (argo-cd issues 24428 and
/// 24429): the status cannot tell a failure from a run in progress.
pub(crate) fn cronjob(obj: &Value) -> Verdict {
    if is_true(obj, &["spec", "suspend"]) {
        return healthy("CronJob is Suspended");
    }
    if !has(obj, &["status"]) {
        return progressing("Waiting for CronJob");
    }
    let Some(scheduled) = get(obj, &["status", "lastScheduleTime"]) else {
        return healthy("CronJob has not been scheduled yet");
    };
    let Some(succeeded) = get(obj, &["status", "lastSuccessfulTime"]) else {
        return healthy("The CronJob never completed successfully. It may not be healthy");
    };
    if len(obj, &["status", "active"]) > 0 {
        return healthy("The job is running. Its last execution may not have been successful");
    }
    // RFC 3339 times in UTC compare as strings, as the script compares them.
    let behind = match (succeeded.as_str(), scheduled.as_str()) {
        (Some(s), Some(t)) => s < t,
        _ => match (succeeded.as_f64(), scheduled.as_f64()) {
            (Some(s), Some(t)) => s < t,
            _ => return script_error("lastScheduleTime and lastSuccessfulTime do not compare"),
        },
    };
    if behind {
        return degraded("CronJob has not completed its last execution successfully");
    }
    healthy("CronJob has completed its last execution successfully")
}

/// The last condition decides: false for any reason but InsufficientPods (which has valid
/// uses, argo-cd issue 20171) is Degraded at once; otherwise Healthy, by its reason.
fn pod_disruption_budget(obj: &Value) -> Verdict {
    let mut verdict = progressing("Waiting for status");
    for c in conditions(obj) {
        let Some(reason) = concat_text(get(c, &["reason"])) else {
            return script_error("a condition has no reason");
        };
        let message = format!("PodDisruptionBudget has {reason}");
        if field(c, "status") == Some("False") && reason != "InsufficientPods" {
            return degraded(message);
        }
        verdict = healthy(message);
    }
    verdict
}

fn custom_resource_definition(obj: &Value) -> Verdict {
    if has(obj, &["metadata", "deletionTimestamp"]) {
        return progressing("CRD is terminating");
    }
    if !has(obj, &["status"]) {
        return script_error("the CRD has no status");
    }
    if len(obj, &["status", "conditions"]) == 0 {
        return progressing("Status conditions not found");
    }
    let mut established = false;
    for c in conditions(obj) {
        let with_message =
            |prefix: &str| concat_text(get(c, &["message"])).map(|m| format!("{prefix}{m}"));
        let decided = if cond_is(c, "Terminating", "True") {
            Some((
                crate::health::HealthStatus::Progressing,
                "CRD is terminating: ",
            ))
        } else if cond_is(c, "NamesAccepted", "False") {
            Some((
                crate::health::HealthStatus::Degraded,
                "CRD names have not been accepted: ",
            ))
        } else if cond_is(c, "NonStructuralSchema", "True") {
            Some((
                crate::health::HealthStatus::Degraded,
                "Schema violations found: ",
            ))
        } else {
            None
        };
        if let Some((status, prefix)) = decided {
            return match with_message(prefix) {
                Some(m) => verdict(status, m),
                None => script_error("a condition has no message"),
            };
        }
        if field(c, "type") == Some("Established") {
            if field(c, "status") == Some("True") {
                established = true;
            } else if field(c, "reason") == Some("Installing") {
                return progressing("CRD is being installed");
            }
        }
    }
    if !established {
        return degraded("CRD is not established");
    }
    healthy("CRD is healthy")
}

fn volume_snapshot(obj: &Value) -> Verdict {
    if truthy(obj, &["status", "readyToUse"]) {
        return healthy("Ready to use");
    }
    if let Some(error) = get(obj, &["status", "error"]) {
        return match error {
            Value::Number(_) | Value::Bool(_) => script_error("status.error is not an object"),
            _ => degraded(text(error, &["message"]).unwrap_or("")),
        };
    }
    progressing("Waiting for status")
}

/// The first condition of `ty` that is "False": its message, or `Failed condition: <ty>`.
fn failed(conds: &[Value], ty: &str) -> Option<String> {
    conds.iter().find(|c| cond_is(c, ty, "False")).map(|c| {
        field(c, "message")
            .map(str::to_string)
            .unwrap_or_else(|| format!("Failed condition: {ty}"))
    })
}

/// The first Programmed condition that is not "True": its message or `otherwise`.
fn unprogrammed(conds: &[Value], otherwise: &str) -> Option<String> {
    conds
        .iter()
        .find(|c| field(c, "type") == Some("Programmed") && field(c, "status") != Some("True"))
        .map(|c| field(c, "message").unwrap_or(otherwise).to_string())
}

/// A Gateway's or a listener's conditions: unresolved references, then not accepted
/// (Degraded), then not programmed (Progressing); each message after `prefix`.
fn gateway_conditions(conds: &[Value], prefix: &str, still: &str) -> Verdict {
    if let Some(m) = failed(conds, "ResolvedRefs").or_else(|| failed(conds, "Accepted")) {
        return degraded(format!("{prefix}{m}"));
    }
    unprogrammed(conds, still).and_then(|m| progressing(format!("{prefix}{m}")))
}

fn gateway(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) {
        return progressing("Waiting for Gateway status");
    }
    if has_conditions(obj) {
        let found = gateway_conditions(conditions(obj), "", "Gateway is still being programmed");
        if found.is_some() {
            return found;
        }
    }
    for listener in items(obj, &["status", "listeners"]) {
        if has(listener, &["conditions"]) {
            let found = gateway_conditions(
                items(listener, &["conditions"]),
                "Listener: ",
                "Listener is still being programmed",
            );
            if found.is_some() {
                return found;
            }
        }
    }
    if has_conditions(obj) || len(obj, &["status", "listeners"]) > 0 {
        return healthy("Gateway is healthy");
    }
    progressing("Waiting for Gateway status")
}

/// `parentRef.name` (or an ancestor's `ancestorRef.name`), "" when unnamed; `None` where
/// the reference itself is missing and the script fails.
fn ref_name(v: &Value, reference: &str) -> Option<String> {
    get(v, &[reference]).map(|r| concat_text(get(r, &["name"])).unwrap_or_default())
}

/// Whether every condition of `parent` that records an observed generation saw the
/// current one (HTTPRoute); a parent without conditions has seen nothing.
fn parent_observed(obj: &Value, parent: &Value) -> bool {
    let Some(generation) = get(obj, &["metadata", "generation"]) else {
        return true;
    };
    let conds = items(parent, &["conditions"]);
    !conds.is_empty()
        && conds.iter().all(|c| {
            get(c, &["observedGeneration"]).is_none_or(|g| same(Some(g), Some(generation)))
        })
}

/// GRPCRoute and HTTPRoute: each parent's conditions as a Gateway's; Healthy once a parent
/// has conditions. An HTTPRoute skips parents that have not seen its current generation.
fn route(obj: &Value, kind: &str, generations: bool) -> Verdict {
    let parents = items(obj, &["status", "parents"]);
    for parent in parents {
        if !has(parent, &["conditions"]) || (generations && !parent_observed(obj, parent)) {
            continue;
        }
        let conds = items(parent, &["conditions"]);
        let failure = failed(conds, "ResolvedRefs").or_else(|| failed(conds, "Accepted"));
        let pending = || unprogrammed(conds, "Route is still being programmed");
        let (status, m) = match (failure, pending()) {
            (Some(m), _) => (crate::health::HealthStatus::Degraded, m),
            (None, Some(m)) => (crate::health::HealthStatus::Progressing, m),
            (None, None) => continue,
        };
        let Some(name) = ref_name(parent, "parentRef") else {
            return script_error("a parent has no parentRef");
        };
        return verdict(status, format!("Parent {name}: {m}"));
    }
    let healthy_parent = parents
        .iter()
        .any(|p| len(p, &["conditions"]) > 0 && (!generations || parent_observed(obj, p)));
    if healthy_parent {
        return healthy(format!("{kind} is healthy"));
    }
    progressing(format!("Waiting for {kind} status"))
}

/// The Accepted condition, skipping one recorded for an older generation.
fn gateway_class(obj: &Value) -> Verdict {
    let generation = get(obj, &["metadata", "generation"]);
    for c in conditions(obj) {
        if field(c, "type") != Some("Accepted") {
            continue;
        }
        if let (Some(g), Some(seen)) = (generation, get(c, &["observedGeneration"]))
            && !same(Some(seen), Some(g))
        {
            continue;
        }
        let own = field(c, "message");
        return match field(c, "status") {
            Some("True") => healthy(own.unwrap_or("GatewayClass is accepted")),
            Some("False") => degraded(own.unwrap_or("GatewayClass is not accepted")),
            _ => progressing(own.unwrap_or("Waiting for GatewayClass status")),
        };
    }
    progressing("Waiting for GatewayClass status")
}

/// Each ancestor must have seen the current generation; then its Accepted and
/// ResolvedRefs conditions must be "True".
fn backend_tls_policy(obj: &Value) -> Verdict {
    let waiting = progressing("Waiting for BackendTLSPolicy status");
    if !has(obj, &["status", "ancestors"]) {
        return waiting;
    }
    let ancestors = items(obj, &["status", "ancestors"]);
    let no_conditions = || script_error("an ancestor has no conditions");
    if let Some(generation) = get(obj, &["metadata", "generation"]) {
        for a in ancestors {
            if !has(a, &["conditions"]) {
                return no_conditions();
            }
            let stale = items(a, &["conditions"]).iter().any(|c| {
                get(c, &["observedGeneration"]).is_some_and(|g| !same(Some(g), Some(generation)))
            });
            if stale {
                let Some(name) = ref_name(a, "ancestorRef") else {
                    return script_error("an ancestor has no ancestorRef");
                };
                return progressing(format!(
                    "Waiting for Ancestor {name} to update BackendTLSPolicy status"
                ));
            }
        }
    }
    let mut verdict = waiting;
    for a in ancestors {
        if !has(a, &["conditions"]) {
            return no_conditions();
        }
        for c in items(a, &["conditions"]) {
            let ty = field(c, "type");
            if !matches!(ty, Some("Accepted" | "ResolvedRefs")) {
                continue;
            }
            if field(c, "status") != Some("True") {
                let (Some(name), Some(m)) = (
                    ref_name(a, "ancestorRef"),
                    concat_text(get(c, &["message"])),
                ) else {
                    return script_error("a failing condition has no message or ancestorRef");
                };
                return degraded(format!("Ancestor {name}: {m}"));
            }
            if ty == Some("Accepted") {
                verdict = healthy("BackendTLSPolicy is healthy");
            }
        }
    }
    verdict
}
