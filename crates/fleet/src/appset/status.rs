//! Writing conditions into an ApplicationSet's status as Argo CD's `SetConditions` does:
//! conditions of the evaluated types are replaced (an unchanged one keeps its
//! `lastTransitionTime`), others are kept, the list is sorted, and `status.health` is derived.

use serde_json::{Value, json};

use super::sync::{Condition, ConditionStatus};

/// The condition types every reconcile evaluates.
const EVALUATED: [&str; 5] = [
    "ParametersGenerated",
    "ErrorOccurred",
    "ResourcesUpToDate",
    "RolloutProgressing",
    "InvalidRolloutConfig",
];

/// The rollout's conditions: for a `RollingSync` set, evaluated only when a reconcile
/// produced them (one that stopped early keeps the last ones), otherwise always (so they
/// go when the strategy does).
const ROLLOUT: [&str; 2] = ["RolloutProgressing", "InvalidRolloutConfig"];

/// The new `status.conditions` and `status.health` from the previous status, the conditions
/// a reconcile produced, whether the set is a `RollingSync` one, and the current time
/// (RFC 3339, e.g. `2026-11-26T16:00:00Z`).
pub fn updated_status(
    previous: Option<&Value>,
    conditions: &[Condition],
    rolling_sync: bool,
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
        .filter(|c| {
            let kind = field(c, "type");
            let evaluated = EVALUATED.contains(&kind.as_str())
                && !(rolling_sync
                    && ROLLOUT.contains(&kind.as_str())
                    && !conditions.iter().any(|n| n.kind == kind));
            !evaluated
        })
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
/// `status.resources` as Argo CD 3 writes it (`BuildResourceStatus`): one entry per
/// Application the set owns, sorted by name, with its group, version, kind, namespace,
/// name, sync status and health status — as those Applications were when the reconcile
/// listed them (without progressive syncs the set is not requeued by their status changes,
/// so the list follows at its next reconcile, as upstream). Empty fields are left out (`omitempty`).
pub fn resource_statuses(apps: &[&crate::Application]) -> Vec<Value> {
    let mut entries: Vec<(&str, Value)> = apps
        .iter()
        .map(|app| {
            let status = |path: &str| {
                app.status
                    .as_ref()
                    .and_then(|s| s.pointer(path))
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
            };
            let mut entry = json!({
                "group": "argoproj.io",
                "version": "v1alpha1",
                "kind": "Application",
            });
            if !app.metadata.namespace.is_empty() {
                entry["namespace"] = json!(app.metadata.namespace);
            }
            entry["name"] = json!(app.metadata.name);
            if let Some(sync) = status("/sync/status") {
                entry["status"] = json!(sync);
            }
            entry["health"] = match status("/health/status") {
                Some(health) => json!({"status": health}),
                None => json!({}),
            };
            (app.metadata.name.as_str(), entry)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries.into_iter().map(|(_, e)| e).collect()
}

/// Argo CD's default `--max-resources-status-count`
/// (`ARGOCD_APPLICATIONSET_CONTROLLER_MAX_RESOURCES_STATUS_COUNT`).
pub const DEFAULT_MAX_RESOURCES_STATUS_COUNT: usize = 5000;

/// `updateResourcesStatus`'s bound on the status: of the sorted `entries`, the first `max`
/// (all when `max` is 0), and how many there were in all (`status.resourcesCount`), so a
/// reader can tell a truncated list from a short one.
pub fn limit_resource_statuses(mut entries: Vec<Value>, max: usize) -> (Vec<Value>, usize) {
    let count = entries.len();
    if max > 0 && count > max {
        entries.truncate(max);
    }
    (entries, count)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(kind: &str, status: ConditionStatus, message: &str) -> Condition {
        Condition {
            kind: kind.into(),
            status,
            reason: "r".into(),
            message: message.into(),
        }
    }

    /// Argo CD's `setApplicationSetStatusCondition`: a `RollingSync` set evaluates its
    /// rollout conditions only when a reconcile produced them; any other set drops them.
    #[test]
    fn rollout_conditions_stay_on_a_rolling_sync_set_until_replaced() {
        let previous = json!({"conditions": [
            {"type": "RolloutProgressing", "status": "True", "reason": "r",
             "message": "ApplicationSet is performing rollout of step 2", "lastTransitionTime": "t0"}]});
        let error = [condition("ErrorOccurred", ConditionStatus::True, "boom")];
        let kinds = |conditions: &[Value]| {
            conditions
                .iter()
                .map(|c| c["type"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let (kept, health) = updated_status(Some(&previous), &error, true, "t1");
        assert_eq!(kinds(&kept), ["ErrorOccurred", "RolloutProgressing"]);
        assert_eq!(health["status"], "Degraded");
        let (dropped, _) = updated_status(Some(&previous), &error, false, "t1");
        assert_eq!(kinds(&dropped), ["ErrorOccurred"]);
        let done = [condition(
            "RolloutProgressing",
            ConditionStatus::False,
            "ApplicationSet Rollout has completed",
        )];
        let (replaced, _) = updated_status(Some(&previous), &done, true, "t1");
        assert_eq!(replaced[0]["status"], "False");
        assert_eq!(replaced[0]["lastTransitionTime"], "t1");
    }
}
