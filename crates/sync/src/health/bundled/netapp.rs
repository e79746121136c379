//! NetApp: Trident Protect, formerly Astra (`astra.netapp.io`), and Trident
//! (`trident.netapp.io`).

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("astra.netapp.io", "AppVault") => app_vault,
        ("astra.netapp.io", "Application") => application,
        (
            "astra.netapp.io",
            "Backup" | "ExecHooksRun" | "ResourceBackup" | "ResticVolumeBackup" | "Snapshot",
        ) => run,
        ("astra.netapp.io", "ExecHook") => exec_hook,
        ("astra.netapp.io", "Schedule") => schedule,
        ("trident.netapp.io", "TridentBackendConfig") => backend_config,
        ("trident.netapp.io", "TridentOrchestrator") => orchestrator,
        _ => return None,
    })
}

const NO_STATUS: &str = "No status available";

/// `<Kind> <suffix>`; `None` where the object has no kind to name.
fn kind_says(obj: &Value, suffix: &str) -> Option<String> {
    concat_text(get(obj, &["kind"])).map(|k| format!("{k} {suffix}"))
}

fn named(obj: &Value, status: crate::health::HealthStatus, suffix: &str) -> Verdict {
    match kind_says(obj, suffix) {
        Some(m) => verdict(status, m),
        None => script_error("the object has no kind"),
    }
}

fn app_vault(obj: &Value) -> Verdict {
    use crate::health::HealthStatus::*;
    match text(obj, &["status", "state"]) {
        Some("available" | "Available") => named(obj, Healthy, "Available"),
        Some("failed" | "Failed") => named(obj, Degraded, "Failed"),
        _ => progressing(NO_STATUS),
    }
}

/// The Ready condition, with the protection state or the failure message.
fn application(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "Ready", "True") {
            return match concat_text(get(obj, &["status", "protectionState"])) {
                Some(p) => healthy(format!("Astra Application Ready, protectionState: {p}")),
                None => script_error("status.protectionState is missing"),
            };
        }
        if cond_is(c, "Ready", "False") {
            return match concat_text(get(c, &["message"])) {
                Some(m) => degraded(format!("Astra Application Degraded, message: {m}")),
                None => script_error("the Ready condition has no message"),
            };
        }
    }
    progressing(NO_STATUS)
}

/// A run-to-completion kind: Completed, Running, or any other state shown as Degraded.
fn run(obj: &Value) -> Verdict {
    use crate::health::HealthStatus::*;
    let Some(state) = get(obj, &["status", "state"]) else {
        return progressing(NO_STATUS);
    };
    match state.as_str() {
        Some("Completed") => named(obj, Healthy, "Completed"),
        Some("Running") => named(obj, Progressing, "Running"),
        other => degraded(other.unwrap_or_default()),
    }
}

fn exec_hook(obj: &Value) -> Verdict {
    use crate::health::HealthStatus::*;
    match get(obj, &["spec", "enabled"]).and_then(Value::as_bool) {
        Some(true) => named(obj, Healthy, "enabled"),
        Some(false) => named(obj, Suspended, "disabled"),
        None => progressing(NO_STATUS),
    }
}

/// Always Healthy; the last scheduled run when there is one.
fn schedule(obj: &Value) -> Verdict {
    match get(obj, &["status", "lastScheduleTime"]) {
        None => healthy("Protection policy not yet executed"),
        Some(t) => match concat_text(Some(t)) {
            Some(t) => healthy(format!("Protection policy lastScheduleTime: {t}")),
            None => script_error("status.lastScheduleTime is not text"),
        },
    }
}

fn backend_config(obj: &Value) -> Verdict {
    let own = || text(obj, &["status", "message"]).unwrap_or("").to_string();
    let last = text(obj, &["status", "lastOperationStatus"]);
    if is(obj, &["status", "phase"], "Bound") && last == Some("Success") {
        return healthy(own());
    }
    if last == Some("Failed") {
        return degraded(own());
    }
    progressing("Waiting for backend creation")
}

fn orchestrator(obj: &Value) -> Verdict {
    let own = || text(obj, &["status", "message"]).unwrap_or("").to_string();
    match text(obj, &["status", "status"]) {
        Some("Installed") => healthy(own()),
        Some("Failed" | "Error") => degraded(own()),
        _ => progressing("Waiting for trident installation"),
    }
}
