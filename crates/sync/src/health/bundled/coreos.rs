//! The CoreOS operators: the Prometheus Operator (`monitoring.coreos.com`) and OLM
//! subscriptions (`operators.coreos.com`).

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("monitoring.coreos.com", "Prometheus") => prometheus,
        ("operators.coreos.com", "Subscription") => subscription,
        _ => return None,
    })
}

/// The Available condition; the last one decides. Some pods not ready is Progressing.
fn prometheus(obj: &Value) -> Verdict {
    let mut verdict = progressing("Waiting for initialization");
    for c in conditions(obj) {
        if field(c, "type") != Some("Available") {
            continue;
        }
        if field(c, "status") == Some("True") {
            verdict = healthy("All instances are available");
        } else {
            let why = field(c, "message").or(field(c, "reason")).unwrap_or("");
            verdict = if field(c, "reason") == Some("SomePodsNotReady") {
                progressing(why)
            } else {
                degraded(why)
            };
        }
    }
    verdict
}

/// OLM: every condition listed (`<n>: <type> | <status>`) and the subscription state; a
/// pending install plan or an unknown or upgradable state is Progressing, a failed plan,
/// resolution or catalog Degraded. An upgrade waiting for manual approval of an installed
/// operator is expected, so it counts as neither.
fn subscription(obj: &Value) -> Verdict {
    if !has_conditions(obj) {
        return progressing("An install plan for a subscription is pending installation");
    }
    let conds = conditions(obj);
    let manual = is(obj, &["spec", "installPlanApproval"], "Manual");
    let awaiting_approval = manual
        && conds
            .iter()
            .find(|c| {
                cond_is(c, "InstallPlanPending", "True")
                    && field(c, "reason") == Some("RequiresApproval")
            })
            .is_some()
        && has(obj, &["status", "installedCSV"]);
    let (mut pending, mut failing) = (0, 0);
    let mut msg = String::new();
    for (i, c) in conds.iter().enumerate() {
        let ty = field(c, "type");
        if awaiting_approval && ty == Some("InstallPlanPending") {
            continue;
        }
        let (Some(t), Some(s)) = (
            concat_text(get(c, &["type"])),
            concat_text(get(c, &["status"])),
        ) else {
            return script_error("a condition has no type or status");
        };
        msg.push_str(&format!("{}: {t} | {s}\n", i + 1));
        let status = field(c, "status");
        if ty == Some("InstallPlanPending") && status == Some("True") {
            pending += 1;
        } else if (ty == Some("InstallPlanMissing")
            && field(c, "reason") != Some("ReferencedInstallPlanNotFound"))
            || (matches!(
                ty,
                Some("CatalogSourcesUnhealthy" | "InstallPlanFailed" | "ResolutionFailed")
            ) && status == Some("True"))
        {
            failing += 1;
        }
    }
    let state = get(obj, &["status", "state"]);
    let quoted = || concat_text(state).map(|s| format!(".status.state is '{s}'\n"));
    match state.map(|s| s.as_str()) {
        None => {
            pending += 1;
            msg.push_str(".status.state not yet known\n");
        }
        Some(Some("" | "UpgradeAvailable")) => {
            pending += 1;
            msg.push_str(&quoted().unwrap_or_default());
        }
        Some(Some("UpgradePending")) if awaiting_approval => msg.push_str(
            ".status.state is 'UpgradePending' (manual InstallPlan approval pending; treated as healthy)\n",
        ),
        Some(Some("UpgradePending")) => {
            pending += 1;
            msg.push_str(&quoted().unwrap_or_default());
        }
        Some(Some("UpgradeFailed")) => {
            failing += 1;
            msg.push_str(&quoted().unwrap_or_default());
        }
        Some(_) => match quoted() {
            Some(q) => msg.push_str(&q),
            None => return script_error("status.state is not a string"),
        },
    }
    if failing == 0 && pending == 0 {
        healthy(msg)
    } else if failing == 0 {
        progressing(msg)
    } else {
        degraded(msg)
    }
}
