//! Policy engines: Kyverno (`kyverno.io`) and Open Cluster Management's governance
//! policies (`policy.open-cluster-management.io`).

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("kyverno.io", "Policy") => kyverno_policy,
        ("policy.open-cluster-management.io", "CertificatePolicy") => certificate_policy,
        ("policy.open-cluster-management.io", "ConfigurationPolicy") => configuration_policy,
        ("policy.open-cluster-management.io", "OperatorPolicy") => operator_policy,
        ("policy.open-cluster-management.io", "Policy") => ocm_policy,
        _ => return None,
    })
}

/// Ready only when the condition says exactly: True, Succeeded, "Ready".
fn kyverno_policy(obj: &Value) -> Verdict {
    let ready = conditions(obj).iter().any(|c| {
        cond_is(c, "Ready", "True")
            && field(c, "reason") == Some("Succeeded")
            && field(c, "message") == Some("Ready")
    });
    if ready {
        healthy("Policy is ready")
    } else {
        progressing("Waiting for Policy to be ready")
    }
}

const WAITING: &str = "Waiting for the status to be reported";

fn certificate_policy(obj: &Value) -> Verdict {
    match get(obj, &["status", "compliant"]) {
        None => progressing(WAITING),
        Some(c) if c.as_str() == Some("Compliant") => {
            healthy("All certificates found comply with the policy")
        }
        Some(_) => degraded("At least once certificate does not comply with the policy"),
    }
}

/// Compliance at the current generation, with every detail condition as
/// `<type> - <message>`.
fn configuration_policy(obj: &Value) -> Verdict {
    let Some(compliant) = get(obj, &["status", "compliant"]) else {
        return progressing(WAITING);
    };
    if !same(
        get(obj, &["status", "lastEvaluatedGeneration"]),
        get(obj, &["metadata", "generation"]),
    ) {
        return progressing("Waiting for the status to be updated");
    }
    if !has(obj, &["status", "compliancyDetails"]) {
        return progressing("Waiting for compliance");
    }
    let mut messages = Vec::new();
    for detail in items(obj, &["status", "compliancyDetails"]) {
        for c in items(detail, &["conditions"]) {
            let (Some(ty), Some(m)) = (get(c, &["type"]), get(c, &["message"])) else {
                continue;
            };
            match (concat_text(Some(ty)), concat_text(Some(m))) {
                (Some(ty), Some(m)) => messages.push(format!("{ty} - {m}")),
                _ => return script_error("a compliancy condition is not text"),
            }
        }
    }
    let msg = messages.join("; ");
    if compliant.as_str() == Some("Compliant") {
        healthy(msg)
    } else {
        degraded(msg)
    }
}

/// The Compliant condition at the current generation.
fn operator_policy(obj: &Value) -> Verdict {
    if !has_conditions(obj) {
        return progressing(WAITING);
    }
    if let Some(observed) = get(obj, &["status", "observedGeneration"])
        && !same(Some(observed), get(obj, &["metadata", "generation"]))
    {
        return progressing("Waiting for the status to be updated");
    }
    for c in conditions(obj) {
        if field(c, "type") == Some("Compliant") {
            return if field(c, "status") == Some("True") {
                healthy(message(c))
            } else {
                degraded(message(c))
            };
        }
    }
    progressing("Waiting for the compliance condition")
}

/// A disabled policy is healthy; a root policy lists its non-compliant clusters, a
/// replicated one its non-compliant templates.
fn ocm_policy(obj: &Value) -> Verdict {
    use crate::health::HealthStatus::*;
    if truthy(obj, &["spec", "disabled"]) {
        return healthy("Policy is disabled");
    }
    if !has(obj, &["status"]) {
        return progressing(WAITING);
    }
    let compliant = get(obj, &["status", "compliant"]);
    if compliant.is_none()
        && !has(obj, &["status", "status"])
        && len(obj, &["status", "placement"]) > 0
    {
        return healthy("No clusters match this policy");
    }
    let Some(compliant) = compliant else {
        return progressing(WAITING);
    };
    let status = if compliant.as_str() == Some("Compliant") {
        Healthy
    } else {
        Degraded
    };
    let failing = |entry: &&Value| field(entry, "compliant") != Some("Compliant");
    let msg = if has(obj, &["status", "status"]) {
        let clusters: Vec<String> = items(obj, &["status", "status"])
            .iter()
            .filter(failing)
            .filter_map(|e| concat_text(get(e, &["clustername"])))
            .collect();
        if clusters.is_empty() {
            "All clusters are compliant".to_string()
        } else {
            format!("NonCompliant clusters: {}", clusters.join(", "))
        }
    } else if has(obj, &["status", "details"]) {
        let mut templates = Vec::new();
        for entry in items(obj, &["status", "details"]).iter().filter(failing) {
            let Some(meta) = get(entry, &["templateMeta"]) else {
                return script_error("a detail has no templateMeta");
            };
            templates.extend(concat_text(get(meta, &["name"])));
        }
        if templates.is_empty() {
            "All templates are compliant".to_string()
        } else {
            format!("NonCompliant templates: {}", templates.join(", "))
        }
    } else {
        String::new()
    };
    verdict(status, msg)
}
