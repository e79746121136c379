//! The Humio operator (`core.humio.com`): each kind reports a state.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    if group != "core.humio.com" {
        return None;
    }
    Some(match kind {
        "HumioAction" | "HumioAlert" | "HumioIngestToken" | "HumioParser" | "HumioRepository"
        | "HumioView" => component,
        "HumioCluster" => cluster,
        _ => return None,
    })
}

/// `Component state: <state>.` for the states the operator reports.
fn component(obj: &Value) -> Verdict {
    match text(obj, &["status", "state"]) {
        Some("Exists") => healthy("Component state: Exists."),
        Some("NotFound") => missing("Component state: NotFound."),
        Some("ConfigError") => degraded("Component state: ConfigError."),
        Some("Unknown") => unknown("Component state: Unknown."),
        _ => progressing("Update in progress"),
    }
}

/// The cluster's state, with its own message where it has one. (Upstream reads the message
/// of a missing status and fails: a cluster without status is Unknown.)
fn cluster(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) {
        return script_error("the HumioCluster has no status");
    }
    let own = |default: &str| {
        text(obj, &["status", "message"])
            .unwrap_or(default)
            .to_string()
    };
    match text(obj, &["status", "state"]) {
        Some("Running") => healthy(own("Cluster is in a healthy running state")),
        Some("Restarting") => progressing(own("Cluster pods are being restarted")),
        Some("Upgrading") => progressing(own("Cluster pods are being upgraded")),
        Some("ConfigError") => degraded(own(
            "User-provided cluster specification resulted in a configuration error",
        )),
        Some("Pending") => progressing(own("Cluster is waiting on resources to be provisioned")),
        Some("Unknown") => unknown(own("Component state: Unknown.")),
        _ => progressing("Update in progress"),
    }
}
