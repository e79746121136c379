//! The RabbitMQ cluster and messaging-topology operators (`rabbitmq.com`).

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    if group != "rabbitmq.com" {
        return None;
    }
    Some(match kind {
        "Binding" => |o| topology(o, "binding"),
        "Exchange" => |o| topology(o, "exchange"),
        "Permission" => |o| topology(o, "permission"),
        "Policy" => |o| topology(o, "policy"),
        "Queue" => |o| topology(o, "queue"),
        "Shovel" => |o| topology(o, "shovel"),
        "User" => |o| topology(o, "user"),
        "Vhost" => |o| topology(o, "vhost"),
        "RabbitmqCluster" => rabbitmq_cluster,
        _ => return None,
    })
}

/// A topology object: the Ready condition with the operator's create-or-update reasons;
/// anything else is Unknown.
fn topology(obj: &Value, what: &str) -> Verdict {
    for c in conditions(obj) {
        let reason = field(c, "reason");
        if cond_is(c, "Ready", "True") && reason == Some("SuccessfulCreateOrUpdate") {
            return healthy(format!("RabbitMQ {what} ready"));
        }
        if cond_is(c, "Ready", "False") && reason == Some("FailedCreateOrUpdate") {
            return degraded(format!("RabbitMQ {what} failed to be created or updated"));
        }
    }
    unknown(format!("RabbitMQ {what} status is unknown"))
}

/// A failed reconcile degrades; the cluster's availability and its replicas' readiness
/// (the last condition of each type counts; Unknown while the cluster forms).
fn rabbitmq_cluster(obj: &Value) -> Verdict {
    if !has_conditions(obj) {
        return progressing("Waiting for RabbitMQ Operator");
    }
    let (mut available, mut replicas_ready) = (None, None);
    for c in conditions(obj) {
        match field(c, "type") {
            Some("ReconcileSuccess") if field(c, "status") == Some("False") => {
                return degraded(message(c));
            }
            Some("ClusterAvailable") => available = field(c, "status"),
            Some("AllReplicasReady") => replicas_ready = field(c, "status"),
            _ => {}
        }
    }
    if available == Some("Unknown") || replicas_ready == Some("Unknown") {
        return progressing("Waiting for RabbitMQ cluster readiness (conditions unknown)");
    }
    if available == Some("False") {
        return progressing("Waiting for RabbitMQ cluster formation");
    }
    if replicas_ready == Some("False") {
        return progressing("Waiting for RabbitMQ instances ready");
    }
    if available == Some("True") && replicas_ready == Some("True") {
        return healthy("RabbitMQ cluster ready");
    }
    progressing("Waiting for RabbitMQ Operator")
}
