//! Gloo Edge (`gateway.solo.io`, `gloo.solo.io`): every kind reports the same validation
//! state, per watching namespace (`status.statuses`) or, in older releases, once.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    let known = match group {
        "gateway.solo.io" => matches!(
            kind,
            "Gateway"
                | "MatchableHttpGateway"
                | "RouteOption"
                | "RouteTable"
                | "VirtualHostOption"
                | "VirtualService"
        ),
        "gloo.solo.io" => matches!(kind, "Proxy" | "Settings" | "Upstream" | "UpstreamGroup"),
        _ => false,
    };
    known.then_some(gloo as Check)
}

/// One validation state: Accepted (1), Warning (3), Pending (0), Rejected (2); `None` for
/// any other (still "Update in progress").
fn state(status: &Value) -> Option<Verdict> {
    let state = get(status, &["state"]);
    let is = |name: &str, code: f64| {
        state.and_then(Value::as_str) == Some(name) || state.and_then(Value::as_f64) == Some(code)
    };
    let reason = || field(status, "reason").unwrap_or("").to_string();
    if is("Accepted", 1.0) {
        Some(healthy("The resource has been validated"))
    } else if is("Warning", 3.0) || is("Rejected", 2.0) {
        Some(degraded(reason()))
    } else if is("Pending", 0.0) {
        Some(suspended("The resource has not yet been validated"))
    } else {
        None
    }
}

/// The first namespace whose state decides, else the non-namespaced state. (Upstream walks
/// the namespaces in the order Go's map iteration happens to give; here, as written.)
fn gloo(obj: &Value) -> Verdict {
    if let Some(Value::Object(namespaces)) = get(obj, &["status", "statuses"]) {
        for ns in namespaces.values() {
            if let Some(v) = state(ns) {
                return v;
            }
        }
    }
    if let Some(status) = get(obj, &["status"])
        && has(status, &["state"])
        && let Some(v) = state(status)
    {
        return v;
    }
    progressing("Update in progress")
}
