//! Storage operators: Rook (`ceph.rook.io`, `cassandra.rook.io`), object bucket claims
//! (`objectbucket.io`) and MinIO tenants (`minio.min.io`).

use serde_json::Value;

use super::Check;
use super::support::*;
use crate::health::HealthStatus;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("ceph.rook.io", "CephCluster") => ceph_cluster,
        ("ceph.rook.io", "CephObjectStore") => ceph_object_store,
        ("cassandra.rook.io", "Cluster") => cassandra_cluster,
        ("objectbucket.io", "ObjectBucketClaim") => object_bucket_claim,
        ("minio.min.io", "Tenant") => minio_tenant,
        _ => return None,
    })
}

/// Messages joined by " - ", empty ones left out.
#[derive(Default)]
struct Joined(String);

impl Joined {
    fn add(&mut self, part: &str) {
        if part.is_empty() {
            return;
        }
        if !self.0.is_empty() {
            self.0.push_str(" - ");
        }
        self.0.push_str(part);
    }
}

/// Ceph's health (with the details' messages, by detail name), then the cluster state
/// while Ceph is healthy, then the operator's message.
fn ceph_cluster(obj: &Value) -> Verdict {
    let mut msg = Joined::default();
    if !has(obj, &["status"]) {
        msg.add("Waiting for status to be reported");
        return progressing(msg.0);
    }
    let mut status = HealthStatus::Progressing;
    if let Some(health) = get(obj, &["status", "ceph", "health"]) {
        let mut details = String::new();
        if let Some(all) = get(obj, &["status", "ceph", "details"]) {
            let mut named: Vec<(&String, &Value)> = match all {
                Value::Object(m) => m.iter().filter(|(_, v)| !v.is_null()).collect(),
                _ => return script_error("status.ceph.details is not a map"),
            };
            named.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            let mut parts = Vec::new();
            for (_, detail) in named {
                if !detail.is_object() && !detail.is_string() {
                    return script_error("a Ceph health detail is not a table");
                }
                if let Some(m) = get(detail, &["message"]) {
                    let Some(m) = concat_text(Some(m)) else {
                        return script_error("a Ceph health detail's message is not text");
                    };
                    parts.push(m);
                }
            }
            if !parts.is_empty() {
                details = format!(" ({})", parts.join("; "));
            }
        }
        match health.as_str() {
            Some("HEALTH_ERR" | "HEALTH_WARN") => status = HealthStatus::Degraded,
            Some("HEALTH_OK") => status = HealthStatus::Healthy,
            _ => {}
        }
        let Some(health) = concat_text(Some(health)) else {
            return script_error("status.ceph.health is not text");
        };
        msg.add(&format!("Ceph health is {health}{details}"));
    }
    if let Some(state) = get(obj, &["status", "state"])
        && status == HealthStatus::Healthy
    {
        let Some(shown) = concat_text(Some(state)) else {
            return script_error("status.state is not text");
        };
        msg.add(&format!("Ceph cluster state is {shown}"));
        status = match state.as_str() {
            Some("Created" | "Connected") => HealthStatus::Healthy,
            Some("Error") => HealthStatus::Degraded,
            _ => HealthStatus::Progressing,
        };
    }
    if let Some(m) = get(obj, &["status", "message"]) {
        match concat_text(Some(m)) {
            Some(m) => msg.add(&m),
            None => return script_error("status.message is not text"),
        }
    }
    verdict(status, msg.0)
}

/// By phase, with the endpoint when there is one.
fn ceph_object_store(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) {
        return progressing("Waiting for status to be reported");
    }
    let mut status = HealthStatus::Progressing;
    let mut msg = "Waiting for status to be reported".to_string();
    if let Some(phase) = get(obj, &["status", "phase"]) {
        let Some(shown) = concat_text(Some(phase)) else {
            return script_error("status.phase is not text");
        };
        msg = format!("Ceph object store phase is {shown}");
        match phase.as_str() {
            Some("Ready") => status = HealthStatus::Healthy,
            Some("Failure") => status = HealthStatus::Degraded,
            _ => {}
        }
    }
    if let Some(endpoint) = get(obj, &["status", "info", "endpoint"])
        && endpoint.as_str() != Some("")
    {
        let Some(endpoint) = concat_text(Some(endpoint)) else {
            return script_error("status.info.endpoint is not text");
        };
        msg = format!("{msg} - endpoint: {endpoint}");
    }
    verdict(status, msg)
}

/// Every rack has as many ready members as members.
fn cassandra_cluster(obj: &Value) -> Verdict {
    const WAITING: &str = "Waiting for Cassandra Cluster";
    let Some(racks) = get(obj, &["status", "racks"]) else {
        return progressing(WAITING);
    };
    let racks: Vec<&Value> = match racks {
        Value::Object(m) => m.values().collect(),
        Value::Array(a) => a.iter().collect(),
        _ => return script_error("status.racks is not a table"),
    };
    let lagging = racks.iter().any(|rack| {
        let members = get(rack, &["members"]);
        let ready = get(rack, &["readyMembers"]);
        members.is_some() && ready.is_some() && !same(members, ready)
    });
    if lagging {
        progressing(WAITING)
    } else {
        healthy("")
    }
}

/// By phase.
fn object_bucket_claim(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) {
        return progressing("Waiting for status to be reported");
    }
    let Some(phase) = get(obj, &["status", "phase"]) else {
        return progressing("Waiting for phase to be reported");
    };
    let Some(shown) = concat_text(Some(phase)) else {
        return script_error("status.phase is not text");
    };
    let msg = format!("Object bucket claim phase is {shown}");
    match phase.as_str() {
        Some("Bound") => healthy(msg),
        Some("Failed") => degraded(msg),
        _ => progressing(msg),
    }
}

/// The tenant's current state, shown as it is: Initialized is healthy, the operator's
/// known failures degrade, anything else is on its way.
fn minio_tenant(obj: &Value) -> Verdict {
    let Some(state) = get(obj, &["status", "currentState"]) else {
        return progressing("No status info available");
    };
    let Some(state) = state.as_str() else {
        return script_error("status.currentState is not text");
    };
    match state {
        "Initialized" => healthy(state),
        "Statefulset not controlled by operator"
        | "Another MinIO Tenant already exists in the namespace"
        | "Tenant credentials are not set properly"
        | "Different versions across MinIO Pools"
        | "Pool Decommissioning Not Allowed" => degraded(state),
        _ => progressing(state),
    }
}
