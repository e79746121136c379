//! Writing conditions into an ApplicationSet's status as Argo CD's `SetConditions` does:
//! conditions of the evaluated types are replaced (an unchanged one keeps its
//! `lastTransitionTime`), others are kept, the list is sorted, and `status.health` is derived.

use serde_json::{Value, json};

use super::sync::{Condition, ConditionStatus};

/// The condition types every reconcile evaluates (progressive sync is not enabled).
const EVALUATED: [&str; 5] = [
    "ParametersGenerated",
    "ErrorOccurred",
    "ResourcesUpToDate",
    "RolloutProgressing",
    "InvalidRolloutConfig",
];

/// The new `status.conditions` and `status.health` from the previous status, the conditions
/// a reconcile produced, and the current time (RFC 3339, e.g. `2026-11-26T16:00:00Z`).
pub fn updated_status(
    previous: Option<&Value>,
    conditions: &[Condition],
    now: &str,
) -> (Vec<Value>, Value) {
    let old: Vec<&Value> = previous
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let field = |c: &Value, k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut out: Vec<Value> = old
        .iter()
        .filter(|c| !EVALUATED.contains(&field(c, "type").as_str()))
        .map(|c| {
            let mut c = (*c).clone();
            if c.get("lastTransitionTime").is_none_or(Value::is_null) {
                c["lastTransitionTime"] = json!(now);
            }
            c
        })
        .collect();
    for condition in conditions {
        let status = match condition.status {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
        };
        let existing = old.iter().find(|c| field(c, "type") == condition.kind);
        match existing {
            Some(c)
                if field(c, "message") == condition.message
                    && field(c, "reason") == condition.reason
                    && field(c, "status") == status =>
            {
                out.push((*c).clone());
            }
            _ => out.push(json!({
                "type": condition.kind,
                "status": status,
                "reason": condition.reason,
                "message": condition.message,
                "lastTransitionTime": now,
            })),
        }
    }
    out.sort_by_key(|c| {
        (
            field(c, "type"),
            field(c, "status"),
            field(c, "reason"),
            field(c, "message"),
            field(c, "lastTransitionTime"),
        )
    });
    let health = health(&out, &field);
    (out, health)
}

/// `CalculateHealth`.
fn health(conditions: &[Value], field: &dyn Fn(&Value, &str) -> String) -> Value {
    if conditions.is_empty() {
        return json!({"status": "Unknown", "message": "No status conditions found for ApplicationSet"});
    }
    let mut progressing = None;
    let mut healthy = None;
    for c in conditions.iter().filter(|c| field(c, "status") == "True") {
        match field(c, "type").as_str() {
            "ErrorOccurred" => return json!({"status": "Degraded", "message": field(c, "message")}),
            "RolloutProgressing" => progressing = Some(field(c, "message")),
            "ResourcesUpToDate" => healthy = Some(field(c, "message")),
            _ => {}
        }
    }
    if let Some(message) = progressing {
        return json!({"status": "Progressing", "message": message});
    }
    if let Some(message) = healthy {
        return json!({"status": "Healthy", "message": message});
    }
    json!({"status": "Unknown", "message": "Waiting for health status to be determined"})
}
