//! OpenShift's own kinds: DeploymentConfigs, Routes, IngressControllers and OpenShift Data
//! Foundation's StorageCluster.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("apps.openshift.io", "DeploymentConfig") => deployment_config,
        ("route.openshift.io", "Route") => route,
        ("operator.openshift.io", "IngressController") => ingress_controller,
        ("ocs.openshift.io", "StorageCluster") => storage_cluster,
        _ => return None,
    })
}

/// Available and a new replication controller available (or no replicas wanted).
fn deployment_config(obj: &Value) -> Verdict {
    const WAITING: &str = "replication controller is waiting for pods to run";
    let Some(replicas) = get(obj, &["status", "replicas"]) else {
        return progressing(WAITING);
    };
    if !has_conditions(obj) {
        return progressing(WAITING);
    }
    let done = conditions(obj)
        .iter()
        .filter(|c| {
            let ty = field(c, "type");
            (ty == Some("Available")
                || (ty == Some("Progressing")
                    && field(c, "reason") == Some("NewReplicationControllerAvailable")))
                && field(c, "status") == Some("True")
        })
        .count();
    if done == 2 || replicas.as_f64() == Some(0.0) {
        healthy("replication controller successfully rolled out")
    } else if done == 1 {
        progressing(WAITING)
    } else {
        degraded("Deployment config is degraded")
    }
}

/// Every router has admitted the route; any refusal degrades.
fn route(obj: &Value) -> Verdict {
    const WAITING: &str = "Route is still getting admitted";
    let Some(ingress) = get(obj, &["status", "ingress"]) else {
        return progressing(WAITING);
    };
    let routers: Vec<&Value> = match ingress {
        Value::Array(a) => a.iter().filter(|r| !r.is_null()).collect(),
        Value::Object(m) => m.values().filter(|r| !r.is_null()).collect(),
        _ => return script_error("status.ingress is not a list"),
    };
    let (mut admitted, mut refused) = (0, 0);
    for router in &routers {
        let conds: Vec<&Value> = match get(router, &["conditions"]) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(Value::Object(m)) => m.values().collect(),
            _ => return script_error("a router has no conditions"),
        };
        for c in conds {
            if cond_is(c, "Admitted", "True") {
                admitted += 1;
            } else if cond_is(c, "Admitted", "False") {
                refused += 1;
            }
        }
    }
    if admitted == routers.len() {
        healthy("Route is healthy")
    } else if refused > 0 {
        degraded("Route is degraded")
    } else {
        progressing(WAITING)
    }
}

/// The first condition that decides: degraded, replicas unavailable, progressing (its
/// reason), available.
fn ingress_controller(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "Degraded", "True") {
            return degraded(message(c));
        }
        if cond_is(c, "DeploymentReplicasAllAvailable", "False") {
            return progressing(message(c));
        }
        if cond_is(c, "Progressing", "True") {
            return progressing(field(c, "reason").unwrap_or(""));
        }
        if cond_is(c, "Available", "True") {
            return healthy("IngressController is available");
        }
    }
    progressing("Status of IngressController is not known yet")
}

/// Degraded over Progressing over Available, each with the last such condition's message.
fn storage_cluster(obj: &Value) -> Verdict {
    let last = |ty: &str| conditions(obj).iter().rfind(|c| cond_is(c, ty, "True"));
    if let Some(c) = last("Degraded") {
        return degraded(message(c));
    }
    if let Some(c) = last("Progressing") {
        return progressing(message(c));
    }
    if let Some(c) = last("Available") {
        return healthy(message(c));
    }
    unknown("StorageCluster is in an unknown state.")
}
