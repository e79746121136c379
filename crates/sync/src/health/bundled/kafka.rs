//! Kafka and ZooKeeper operators: Strimzi (`kafka.strimzi.io`), Banzai Cloud's Koperator
//! (`kafka.banzaicloud.io`), Confluent for Kubernetes (`platform.confluent.io`) and
//! Pravega's ZooKeeper operator (`zookeeper.pravega.io`).

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("kafka.strimzi.io", "Kafka") => |o| strimzi(o, "Kafka Cluster", true),
        ("kafka.strimzi.io", "KafkaBridge") => |o| strimzi(o, "KafkaBridge", false),
        ("kafka.strimzi.io", "KafkaConnect") => |o| strimzi(o, "Kafka Connect", false),
        ("kafka.strimzi.io", "KafkaConnector") => |o| strimzi(o, "KafkaConnector", false),
        ("kafka.strimzi.io", "KafkaTopic") => |o| strimzi(o, "Kafka Topic", false),
        ("kafka.strimzi.io", "KafkaUser") => |o| strimzi(o, "Kafka User", false),
        ("kafka.banzaicloud.io", "KafkaCluster") => kafka_cluster,
        ("platform.confluent.io", "Connect") => |o| confluent(o, "Connect"),
        ("platform.confluent.io", "Connector") => connector,
        ("platform.confluent.io", "ControlCenter") => |o| confluent(o, "ControlCenter"),
        ("platform.confluent.io", "Kafka") => |o| confluent(o, "Kafka"),
        ("platform.confluent.io", "KsqlDB") => |o| confluent(o, "KsqlDB"),
        ("platform.confluent.io", "SchemaRegistry") => |o| confluent(o, "SchemaRegistry"),
        ("platform.confluent.io", "Zookeeper") => |o| confluent(o, "Zookeeper"),
        ("zookeeper.pravega.io", "ZookeeperCluster") => zookeeper_cluster,
        _ => return None,
    })
}

/// Strimzi: a true NotReady condition degrades (for a Kafka cluster, unless it is still
/// being created), a true Ready one is healthy.
fn strimzi(obj: &Value, what: &str, creating_is_fine: bool) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "NotReady", "True")
            && !(creating_is_fine && field(c, "reason") == Some("Creating"))
        {
            return degraded(message(c));
        }
        if cond_is(c, "Ready", "True") {
            return healthy("");
        }
    }
    progressing(format!("Waiting for {what}"))
}

/// Koperator: a rolling upgrade first; then every broker in sync with a successful
/// graceful resize, and the cruise-control topic and the cluster state.
fn kafka_cluster(obj: &Value) -> Verdict {
    let waiting = progressing("Waiting for KafkaCluster");
    if !has(obj, &["status"]) {
        return waiting;
    }
    let state = text(obj, &["status", "state"]);
    if state == Some("ClusterRollingUpgrading") {
        return progressing("Kafka Cluster is Rolling Upgrading.");
    }
    let Some(brokers) = get(obj, &["status", "brokersState"]) else {
        return waiting;
    };
    let brokers: Vec<&Value> = match brokers {
        Value::Object(m) => m.values().collect(),
        Value::Array(a) => a.iter().collect(),
        _ => return script_error("status.brokersState is not a table"),
    };
    let mut all_healthy = true;
    for b in brokers.into_iter().filter(|b| !b.is_null()) {
        if field(b, "configurationState") != Some("ConfigInSync") {
            all_healthy = false;
            continue;
        }
        let Some(graceful) = get(b, &["gracefulActionState"]) else {
            return script_error("a broker has no gracefulActionState");
        };
        if !matches!(
            field(graceful, "cruiseControlState"),
            Some("GracefulUpscaleSucceeded" | "GracefulDownscaleSucceeded")
        ) {
            all_healthy = false;
        }
    }
    if !all_healthy {
        return degraded("Broker Config is out of Sync or CruiseControlState is not Ready");
    }
    let topic = get(obj, &["status", "cruiseControlTopicStatus"]);
    let topic_text = topic.and_then(Value::as_str);
    if topic_text == Some("CruiseControlTopicReady") && state == Some("ClusterRunning") {
        return healthy("Kafka Brokers, CruiseControl and cluster are in Healthy State.");
    }
    if (topic.is_none() || topic_text == Some("CruiseControlTopicNotReady"))
        && state == Some("ClusterReconciling")
    {
        return progressing("Kafka Cluster is Reconciling.");
    }
    waiting
}

/// Confluent's platform components by phase.
fn confluent(obj: &Value, what: &str) -> Verdict {
    match text(obj, &["status", "phase"]) {
        Some("RUNNING") => healthy(format!("{what} running")),
        Some("PROVISIONING") => progressing(format!("{what} provisioning")),
        _ => progressing(format!("Waiting for {what}")),
    }
}

/// A connector: created and running without failed tasks; an error shows the first
/// condition's message (the connector nests its issues there).
fn connector(obj: &Value) -> Verdict {
    let waiting = progressing("Waiting for Kafka Connector");
    let Some(state) = get(obj, &["status", "state"]) else {
        return waiting;
    };
    let failed_tasks = get(obj, &["status", "failedTasksCount"]);
    if state.as_str() == Some("CREATED")
        && is(obj, &["status", "connectorState"], "RUNNING")
        && failed_tasks.is_none()
    {
        return healthy("Connector running");
    }
    if state.as_str() == Some("ERROR") {
        if truthy(obj, &["status", "conditions"]) && len(obj, &["status", "conditions"]) > 0 {
            return degraded(message(&conditions(obj)[0]));
        }
        return degraded("No conditions available");
    }
    if let Some(failed) = failed_tasks {
        match failed.as_f64() {
            Some(n) if n > 0.0 => return degraded("Connector has failed tasks"),
            Some(_) => {}
            None => return script_error("status.failedTasksCount is not a number"),
        }
    }
    waiting
}

/// All replicas ready (and not none ready).
fn zookeeper_cluster(obj: &Value) -> Verdict {
    if has(obj, &["status"]) {
        let ready = get(obj, &["status", "readyReplicas"]);
        let zero = serde_json::json!(0);
        if !same(ready, Some(&zero)) && same(ready, get(obj, &["status", "replicas"])) {
            return healthy("All ZK Nodes have joined the ensemble");
        }
    }
    progressing("Waiting for ZK Nodes to join the ensemble")
}
