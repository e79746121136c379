//! KubeVirt (`kubevirt.io`), its Containerized Data Importer (`cdi.kubevirt.io`) and
//! kubernetes-nmstate (`nmstate.io`).

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("kubevirt.io", "VirtualMachine") => virtual_machine,
        ("kubevirt.io", "VirtualMachineInstance") => virtual_machine_instance,
        ("cdi.kubevirt.io", "DataVolume") => data_volume,
        ("nmstate.io", "NodeNetworkConfigurationPolicy") => node_network_configuration_policy,
        _ => return None,
    })
}

const NO_STATUS: &str = "No status available";

/// Paused, else the Ready condition (Running, Starting, or Stopped); the printable status
/// is the message when there is one.
fn virtual_machine(obj: &Value) -> Verdict {
    use crate::health::HealthStatus::*;
    if !has(obj, &["status"]) {
        return progressing(NO_STATUS);
    }
    let (mut status, mut msg) = (Progressing, NO_STATUS);
    for c in conditions(obj) {
        if cond_is(c, "Paused", "True") {
            return suspended("Paused");
        }
        if field(c, "type") == Some("Ready") {
            if field(c, "status") == Some("True") {
                (status, msg) = (Healthy, "Running");
            } else if truthy(obj, &["status", "created"]) {
                msg = "Starting";
            } else {
                (status, msg) = (Suspended, "Stopped");
            }
        }
    }
    let printable = text(obj, &["status", "printableStatus"]);
    verdict(status, printable.unwrap_or(msg))
}

/// By phase, then the Ready and Paused conditions.
fn virtual_machine_instance(obj: &Value) -> Verdict {
    use crate::health::HealthStatus::*;
    if !has(obj, &["status"]) {
        return progressing(NO_STATUS);
    }
    let mut msg = NO_STATUS.to_string();
    if let Some(phase) = get(obj, &["status", "phase"]) {
        msg = phase.as_str().unwrap_or_default().to_string();
        match phase.as_str() {
            Some("Failed") => return degraded(msg),
            Some("Pending" | "Scheduling" | "Scheduled") => return progressing(msg),
            Some("Succeeded") => return suspended(msg),
            Some("Unknown") => return unknown(msg),
            _ => {}
        }
    }
    let mut status = Progressing;
    for c in conditions(obj) {
        if field(c, "type") == Some("Ready") {
            if field(c, "status") == Some("True") {
                (status, msg) = (Healthy, "Running".to_string());
            } else {
                (status, msg) = (Degraded, message(c));
            }
        } else if cond_is(c, "Paused", "True") {
            return suspended(message(c));
        }
    }
    verdict(status, msg)
}

/// By phase; a failed import (Running false with reason Error) degrades with its message.
fn data_volume(obj: &Value) -> Verdict {
    use crate::health::HealthStatus::*;
    if !has(obj, &["status"]) {
        return progressing(NO_STATUS);
    }
    let (mut status, mut msg) = (Progressing, NO_STATUS.to_string());
    if let Some(phase) = get(obj, &["status", "phase"]) {
        msg = phase.as_str().unwrap_or_default().to_string();
        match phase.as_str() {
            Some("Succeeded") => return healthy(msg),
            Some("Failed" | "Unknown") => status = Degraded,
            Some("Paused") => return suspended(msg),
            _ => {}
        }
    }
    for c in conditions(obj) {
        if cond_is(c, "Running", "False") && field(c, "reason") == Some("Error") {
            return degraded(message(c));
        }
    }
    verdict(status, msg)
}

/// The first true condition of a known type: Available, Degraded, Progressing, or Ignored
/// (the policy matches no node: Suspended); `<reason>: <message>` as the message.
fn node_network_configuration_policy(obj: &Value) -> Verdict {
    use crate::health::HealthStatus::*;
    for c in conditions(obj) {
        if field(c, "status") != Some("True") {
            continue;
        }
        let reason = get(c, &["reason"]);
        let msg = match get(c, &["message"]).filter(|m| m.as_str() != Some("")) {
            None => reason.and_then(Value::as_str).unwrap_or("").to_string(),
            Some(m) => match (concat_text(reason), concat_text(Some(m))) {
                (Some(r), Some(m)) => format!("{r}: {m}"),
                _ => return script_error("a condition with a message has no reason"),
            },
        };
        let status = match field(c, "type") {
            Some("Available") => Healthy,
            Some("Degraded") => Degraded,
            Some("Progressing") => Progressing,
            Some("Ignored") => Suspended,
            _ => continue,
        };
        return verdict(status, msg);
    }
    progressing("Waiting for policy to be applied")
}
