//! Knative (`operator.knative.dev`, `serving.knative.dev`) and KServe
//! (`serving.kserve.io`), which builds on it: the operator's install conditions, a
//! Service's readiness conditions, an InferenceService's model and conditions.

use serde_json::Value;

use super::Check;
use super::support::*;
use crate::health::HealthStatus;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("operator.knative.dev", "KnativeEventing") => knative_eventing,
        ("operator.knative.dev", "KnativeServing") => knative_serving,
        ("serving.knative.dev", "Service") => service,
        ("serving.kserve.io", "InferenceService") => inference_service,
        _ => return None,
    })
}

/// `<n>: <type> | <status>` lines, one per condition (n from 1); `None` where a condition
/// lacks a type or status and the script fails.
fn condition_lines(conds: &[Value]) -> Option<String> {
    let mut msg = String::new();
    for (i, c) in conds.iter().enumerate() {
        let ty = concat_text(get(c, &["type"]))?;
        let status = concat_text(get(c, &["status"]))?;
        msg.push_str(&format!("{}: {ty} | {status}\n", i + 1));
    }
    Some(msg)
}

/// The Knative operator's kinds: any false or unknown condition that counts means still
/// installing; all of `done` true means healthy; otherwise degraded (with the listing).
fn operator(obj: &Value, done: &[&str], failing: &[&str], what: &str) -> Verdict {
    if !has_conditions(obj) {
        return progressing(format!("Waiting for {what}"));
    }
    let conds = conditions(obj);
    let Some(listing) = condition_lines(conds) else {
        return script_error("a condition has no type or status");
    };
    let (mut trues, mut falses) = (0, 0);
    for c in conds {
        let ty = field(c, "type").unwrap_or_default();
        match field(c, "status") {
            Some("True") if done.contains(&ty) => trues += 1,
            Some("False") if failing.contains(&ty) => falses += 1,
            Some("Unknown") => falses += 1,
            _ => {}
        }
    }
    if falses > 0 {
        progressing(listing)
    } else if trues == done.len() {
        healthy(format!("{what} is healthy."))
    } else {
        degraded(listing)
    }
}

fn knative_eventing(obj: &Value) -> Verdict {
    operator(
        obj,
        &["Ready", "InstallSucceeded"],
        &["Ready"],
        "KnativeEventing",
    )
}

fn knative_serving(obj: &Value) -> Verdict {
    operator(
        obj,
        &[
            "Ready",
            "InstallSucceeded",
            "DependenciesInstalled",
            "DeploymentsAvailable",
        ],
        &["Ready", "DeploymentsAvailable"],
        "KnativeServing",
    )
}

/// Ready, ConfigurationsReady and RoutesReady all true is healthy; every false or unknown
/// condition is listed (`<type> is <status>, since <reason>. <message>`).
fn service(obj: &Value) -> Verdict {
    if !has_conditions(obj) {
        return progressing("Waiting for status update.");
    }
    let (mut trues, mut falses, mut unknowns) = (0, 0, 0);
    let mut msg = String::new();
    for c in conditions(obj) {
        let ty = field(c, "type");
        let status = field(c, "status");
        if status == Some("True")
            && matches!(ty, Some("ConfigurationsReady" | "RoutesReady" | "Ready"))
        {
            trues += 1;
        } else if matches!(status, Some("False" | "Unknown")) {
            let Some(ty) = concat_text(get(c, &["type"])) else {
                return script_error("a condition has no type");
            };
            let mut line = format!("{ty} is {}", status.unwrap_or_default());
            if let Some(reason) = get(c, &["reason"]).filter(|r| r.as_str() != Some("")) {
                line.push_str(&format!(
                    ", since {}.",
                    concat_text(Some(reason)).unwrap_or_default()
                ));
            }
            if let Some(m) = get(c, &["message"]).filter(|m| m.as_str() != Some("")) {
                line.push_str(&format!(" {}", concat_text(Some(m)).unwrap_or_default()));
            }
            msg.push_str(&line);
            msg.push('\n');
            if status == Some("False") {
                falses += 1;
            } else {
                unknowns += 1;
            }
        }
    }
    if trues == 3 && falses == 0 && unknowns == 0 {
        healthy("Knative Service is healthy.")
    } else if falses > 0 {
        degraded(msg)
    } else {
        progressing(msg)
    }
}

/// Stopped is Suspended; a model transition under way or failed, and every condition that
/// is not true, are listed; any of them keeps it from Healthy.
fn inference_service(obj: &Value) -> Verdict {
    const WAITING: &str = "Waiting for InferenceService to report status...";
    if !has(obj, &["status"]) {
        return progressing(WAITING);
    }
    let (mut transitioning, mut failed_model) = (false, false);
    let mut msg = String::new();
    if has(obj, &["status", "modelStatus"]) {
        let transition = get(obj, &["status", "modelStatus", "transitionStatus"]);
        if transition.and_then(Value::as_str) != Some("UpToDate") {
            if transition.and_then(Value::as_str) == Some("InProgress") {
                transitioning = true;
            } else {
                failed_model = true;
            }
            let Some(t) = concat_text(transition) else {
                return script_error("status.modelStatus.transitionStatus is missing");
            };
            msg.push_str(&format!("0: transitionStatus | {t}"));
        }
    }
    if !has_conditions(obj) {
        return progressing(WAITING);
    }
    let (mut falses, mut unknowns) = (0, 0);
    for (i, c) in conditions(obj).iter().enumerate() {
        let ty = field(c, "type");
        let status = field(c, "status");
        if ty == Some("Stopped") && status == Some("True") {
            return suspended("InferenceService is Stopped");
        }
        if status == Some("Unknown") {
            unknowns += 1;
        } else if status == Some("False") && ty != Some("Stopped") {
            falses += 1;
        }
        if status != Some("True") && ty != Some("Stopped") {
            let (Some(ty), Some(status)) = (
                concat_text(get(c, &["type"])),
                concat_text(get(c, &["status"])),
            ) else {
                return script_error("a condition has no type or status");
            };
            msg.push_str(&format!(" | {}: {ty} | {status}", i + 1));
            if let Some(reason) = get(c, &["reason"]).filter(|r| r.as_str() != Some("")) {
                msg.push_str(&format!(
                    " | {}",
                    concat_text(Some(reason)).unwrap_or_default()
                ));
            }
            if let Some(m) = get(c, &["message"]).filter(|m| m.as_str() != Some("")) {
                msg.push_str(&format!(" | {}", concat_text(Some(m)).unwrap_or_default()));
            }
        }
    }
    if !transitioning && !failed_model && unknowns == 0 && falses == 0 {
        healthy("InferenceService is healthy.")
    } else if !failed_model {
        progressing(msg)
    } else {
        verdict(HealthStatus::Degraded, msg)
    }
}
