//! Keptn: lifecycle objects (`lifecycle.keptn.sh`) and metrics (`metrics.keptn.sh`). The
//! scripts read `status` without checking it is there, so an object without status fails
//! upstream.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("lifecycle.keptn.sh", "KeptnAppVersion") => |o| outcome(o, "status", "KeptnAppVersion"),
        ("lifecycle.keptn.sh", "KeptnEvaluation") => {
            |o| outcome(o, "overallStatus", "KeptnEvaluation")
        }
        ("lifecycle.keptn.sh", "KeptnTask") => |o| outcome(o, "status", "KeptnTask"),
        ("lifecycle.keptn.sh", "KeptnWorkloadInstance") => {
            |o| outcome(o, "status", "KeptnWorkloadInstance")
        }
        ("lifecycle.keptn.sh", "KeptnWorkloadVersion") => {
            |o| outcome(o, "status", "KeptnWorkloadVersion")
        }
        ("metrics.keptn.sh", "Analysis") => analysis,
        ("metrics.keptn.sh", "KeptnMetric") => keptn_metric,
        _ => return None,
    })
}

const NO_STATUS: &str = "the object has no status";

/// Succeeded or Failed in `status.<key>`.
fn outcome(obj: &Value, key: &str, kind: &str) -> Verdict {
    if !has(obj, &["status"]) {
        return script_error(NO_STATUS);
    }
    match text(obj, &["status", key]) {
        Some("Succeeded") => healthy(format!("{kind} is healthy")),
        Some("Failed") => degraded(format!("{kind} is degraded")),
        _ => progressing(format!("{kind} is progressing")),
    }
}

fn analysis(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) {
        return script_error(NO_STATUS);
    }
    let pass = get(obj, &["status", "pass"]).and_then(Value::as_bool);
    if pass == Some(true) {
        return healthy("Analysis is healthy");
    }
    if is_true(obj, &["status", "warning"]) {
        return healthy("Analysis is healthy with warnings");
    }
    if pass == Some(false) {
        return degraded("Analysis is degraded");
    }
    progressing("Analysis is progressing")
}

/// A value without an error is healthy; an error degrades.
fn keptn_metric(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) {
        return script_error(NO_STATUS);
    }
    let error = get(obj, &["status", "errMsg"]).filter(|e| e.as_str() != Some(""));
    if error.is_none() && has(obj, &["status", "value"]) {
        return healthy("KeptnMetric is healthy");
    }
    if error.is_some() {
        return degraded("KeptnMetric is degraded");
    }
    progressing("KeptnMetric is progressing")
}
