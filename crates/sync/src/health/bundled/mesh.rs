//! Service meshes and ingress: Istio's operator, Kiali, Contour, Airlock Microgateway, and
//! Flagger's canaries.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("install.istio.io", "IstioOperator") => istio_operator,
        ("kiali.io", "Kiali") => kiali,
        ("projectcontour.io", "ExtensionService") => extension_service,
        ("projectcontour.io", "HTTPProxy") => http_proxy,
        ("flagger.app", "Canary") => canary,
        _ => return None,
    })
}

/// `status.status`, as a number or its name.
fn istio_operator(obj: &Value) -> Verdict {
    let state = get(obj, &["status", "status"]);
    let code = state.and_then(Value::as_f64);
    let name = state.and_then(Value::as_str);
    let is = |n: f64, s: &str| code == Some(n) || name == Some(s);
    if is(0.0, "NONE") {
        unknown("Component is not present.")
    } else if is(1.0, "UPDATING") {
        progressing("Component is being updated to a different version.")
    } else if is(2.0, "RECONCILING") {
        progressing(
            "Controller has started but not yet completed reconciliation loop for the component.",
        )
    } else if is(3.0, "HEALTHY") {
        healthy("Component is healthy.")
    } else if is(4.0, "ERROR") {
        degraded("Component is in an error state.")
    } else {
        progressing("Waiting for Istio Control Plane")
    }
}

/// The first condition that decides: Successful, Failure, or a Running reason; the
/// message is that of the last condition read.
fn kiali(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "Successful", "True") {
            return healthy(message(c));
        }
        if cond_is(c, "Failure", "True") {
            return degraded(message(c));
        }
        if field(c, "type") == Some("Running") && field(c, "reason") == Some("Running") {
            return progressing(message(c));
        }
    }
    progressing("Waiting for Kiali")
}

/// Whether Contour's condition speaks for the current generation (both absent counts).
fn current(obj: &Value, c: &Value) -> bool {
    same(
        get(obj, &["metadata", "generation"]),
        get(c, &["observedGeneration"]),
    )
}

/// The Valid condition of the current generation.
fn extension_service(obj: &Value) -> Verdict {
    if truthy(obj, &["status"]) {
        for c in conditions(obj).iter().filter(|c| current(obj, c)) {
            if cond_is(c, "Valid", "True") {
                return healthy(message(c));
            }
            if cond_is(c, "Valid", "False") {
                return degraded(message(c));
            }
        }
    }
    progressing("Waiting for status")
}

/// The Valid condition of the current generation, with the status description; a proxy
/// that includes others is taken as healthy when a condition is false (parents and
/// children depend on each other, so neither could become healthy first).
fn http_proxy(obj: &Value) -> Verdict {
    let description = || {
        text(obj, &["status", "description"])
            .unwrap_or("")
            .to_string()
    };
    let mut verdict = progressing("Waiting for status");
    if !truthy(obj, &["status"]) {
        return verdict;
    }
    if truthy(obj, &["status", "conditions"]) {
        for c in conditions(obj).iter().filter(|c| current(obj, c)) {
            if cond_is(c, "Valid", "True") {
                return healthy(description());
            } else if has(obj, &["spec", "includes"]) && field(c, "status") == Some("False") {
                verdict = healthy("HTTPProxy inclusions cannot be health checked");
            } else if cond_is(c, "Valid", "False") {
                return degraded(description());
            }
        }
    } else if truthy(obj, &["status", "currentStatus"]) {
        verdict = progressing(description());
    }
    verdict
}

/// By phase, with the canary weight and every condition's message after it.
fn canary(obj: &Value) -> Verdict {
    const SEP: &str = " --- ";
    if !has(obj, &["status"]) {
        return unknown("No status");
    }
    let Some(weight) = to_number(get(obj, &["status", "canaryWeight"])) else {
        return script_error("status.canaryWeight is not a number");
    };
    let mut msg = String::new();
    if weight > 0.0 {
        let shown = concat_text(get(obj, &["status", "canaryWeight"])).unwrap_or_default();
        msg = format!("Canary Weight: {shown} %");
    }
    if !has_conditions(obj) {
        return script_error("status.conditions is missing");
    }
    for c in conditions(obj) {
        let Some(m) = concat_text(get(c, &["message"])) else {
            return script_error("a condition has no message");
        };
        if !msg.is_empty() {
            msg.push_str(SEP);
        }
        msg.push_str(&m);
    }
    let phase = get(obj, &["status", "phase"]);
    let status = match phase.and_then(Value::as_str) {
        Some("Failed") => crate::health::HealthStatus::Degraded,
        Some("Progressing" | "Finalising" | "Promoting") => {
            crate::health::HealthStatus::Progressing
        }
        Some("Succeeded" | "Initialized") => crate::health::HealthStatus::Healthy,
        _ => crate::health::HealthStatus::Unknown,
    };
    let Some(phase) = concat_text(phase) else {
        return script_error("status.phase is missing");
    };
    verdict(status, format!("{phase}{SEP}{msg}"))
}

/// The `microgateway.airlock.com/_` directory: every kind of Airlock Microgateway. A kind
/// that is not a policy is healthy as it is; a policy must have been seen by every
/// ancestor at its generation and be accepted, with resolved references, by each.
pub(super) fn airlock(obj: &Value) -> Verdict {
    let kind = text(obj, &["kind"]);
    if !kind.is_some_and(|k| k.ends_with("Policy")) {
        let Some(kind) = concat_text(get(obj, &["kind"])) else {
            return script_error("the object has no kind");
        };
        return healthy(format!("{kind} is healthy"));
    }
    let what = kind.unwrap_or("Policy");
    let mut verdict = progressing(format!("Waiting for {what} status"));
    if !has(obj, &["status", "ancestors"]) {
        return verdict;
    }
    let ancestors = items(obj, &["status", "ancestors"]);
    let name = |a: &Value| -> Option<String> {
        get(a, &["ancestorRef"]).map(|r| concat_text(get(r, &["name"])).unwrap_or_default())
    };
    let no_ref = || script_error("an ancestor has no ancestorRef");
    let no_conditions = || script_error("an ancestor has no conditions");
    if let Some(generation) = get(obj, &["metadata", "generation"]) {
        for a in ancestors {
            if !has(a, &["conditions"]) {
                return no_conditions();
            }
            let stale = items(a, &["conditions"])
                .iter()
                .any(|c| !same(get(c, &["observedGeneration"]), Some(generation)));
            if stale {
                let Some(n) = name(a) else { return no_ref() };
                return progressing(format!("Waiting for Ancestor {n} to update {what} status"));
            }
        }
    }
    for a in ancestors {
        if !has(a, &["conditions"]) {
            return no_conditions();
        }
        let mut accepted = false;
        for c in items(a, &["conditions"]) {
            let ty = field(c, "type");
            if !matches!(ty, Some("Accepted" | "ResolvedRefs")) {
                continue;
            }
            if ty == Some("Accepted") {
                accepted = true;
            }
            if field(c, "status") != Some("True") {
                let (Some(n), Some(m)) = (name(a), concat_text(get(c, &["message"]))) else {
                    return script_error("a failing condition has no message or ancestorRef");
                };
                return degraded(format!("Ancestor {n}: {m}"));
            }
            if ty == Some("Accepted") {
                verdict = healthy(format!("{what} is healthy"));
            }
        }
        if !accepted {
            let Some(n) = name(a) else { return no_ref() };
            verdict = degraded(format!("Ancestor {n}: {what} is not accepted"));
        }
    }
    verdict
}
