//! Database operators: MariaDB (`k8s.mariadb.com` and its older `mariadb.mmontes.io`),
//! Percona (MongoDB, XtraDB Cluster), CloudNativePG, Zalando's postgres-operator, Atlas,
//! Altinity ClickHouse and Apache Solr.

use serde_json::Value;

use super::Check;
use super::support::*;
use crate::health::HealthStatus;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("k8s.mariadb.com", "Backup") => mariadb_backup,
        ("k8s.mariadb.com", "Database" | "Grant" | "User") => mariadb_ready,
        ("k8s.mariadb.com", "MariaDB") | ("mariadb.mmontes.io", "MariaDB") => mariadb,
        ("k8s.mariadb.com", "SqlJob") => mariadb_sql_job,
        ("psmdb.percona.com", "PerconaServerMongoDB") => percona_mongodb,
        ("pxc.percona.com", "PerconaXtraDBCluster") => percona_xtradb,
        ("postgresql.cnpg.io", "Cluster") => cnpg_cluster,
        ("acid.zalan.do", "postgresql") => zalando_postgresql,
        ("db.atlasgo.io", "AtlasMigration") => |o| atlas(o, &["Reconciling"], false),
        ("db.atlasgo.io", "AtlasSchema") => |o| atlas(o, &["Reconciling", "GettingDevDB"], true),
        ("clickhouse-keeper.altinity.com", "ClickHouseKeeperInstallation") => {
            |o| clickhouse(o, "ClickHouseKeeper")
        }
        ("clickhouse.altinity.com", "ClickHouseInstallation") => |o| clickhouse(o, "ClickHouse"),
        ("solr.apache.org", "SolrCloud") => solr_cloud,
        _ => return None,
    })
}

const NO_STATUS: &str = "No status info available";

/// `<reason> <message>` of a condition; `None` where either is missing (the script fails).
fn reason_and_message(c: &Value) -> Option<String> {
    let reason = concat_text(get(c, &["reason"]))?;
    let message = concat_text(get(c, &["message"]))?;
    Some(format!("{reason} {message}"))
}

/// The MariaDB operator's scripts keep the message of the last condition they read, so a
/// verdict reached after the loop carries it (nothing, when there were no conditions).
fn mariadb_backup(obj: &Value) -> Verdict {
    if !has_conditions(obj) {
        return progressing(NO_STATUS);
    }
    let mut msg = String::new();
    for c in conditions(obj) {
        let Some(m) = reason_and_message(c) else {
            return script_error("a condition has no reason or message");
        };
        msg = m;
        if field(c, "status") == Some("False") {
            if field(c, "reason") == Some("CronJobScheduled")
                && field(c, "message") == Some("Failed")
            {
                return degraded(msg);
            }
            return progressing(msg);
        }
    }
    healthy(msg)
}

fn mariadb_ready(obj: &Value) -> Verdict {
    let mut msg = NO_STATUS.to_string();
    for c in conditions(obj) {
        msg = message(c);
        if field(c, "type") == Some("Ready") {
            return if field(c, "status") == Some("True") {
                healthy(msg)
            } else {
                degraded(msg)
            };
        }
    }
    progressing(msg)
}

fn mariadb(obj: &Value) -> Verdict {
    if !has_conditions(obj) {
        return progressing(NO_STATUS);
    }
    let mut msg = String::new();
    for c in conditions(obj) {
        msg = message(c);
        if field(c, "status") == Some("False") {
            return if field(c, "reason") == Some("Failed") {
                degraded(msg)
            } else {
                progressing(msg)
            };
        }
    }
    healthy(msg)
}

fn mariadb_sql_job(obj: &Value) -> Verdict {
    let mut msg = NO_STATUS.to_string();
    for c in conditions(obj) {
        let Some(m) = reason_and_message(c) else {
            return script_error("a condition has no reason or message");
        };
        msg = m;
        let done = field(c, "status") == Some("True");
        match field(c, "reason") {
            Some("JobComplete") if done => return healthy(msg),
            Some("JobFailed") if done => return degraded(msg),
            _ => {}
        }
    }
    progressing(msg)
}

/// `<ready>/<size> node(s) are ready`.
fn nodes_ready(obj: &Value) -> Option<String> {
    let ready = concat_text(get(obj, &["status", "ready"]))?;
    let size = concat_text(get(obj, &["status", "size"]))?;
    Some(format!("{ready}/{size} node(s) are ready"))
}

fn percona_mongodb(obj: &Value) -> Verdict {
    use HealthStatus::*;
    if !has(obj, &["status"]) {
        return unknown("Cluster status is unknown");
    }
    let status = match text(obj, &["status", "state"]) {
        Some("initializing" | "stopping") => Progressing,
        Some("ready") => Healthy,
        Some("error") => Degraded,
        Some("paused") => Suspended,
        _ => Unknown,
    };
    match nodes_ready(obj) {
        Some(m) => verdict(status, m),
        None => script_error("status.ready or status.size is missing"),
    }
}

fn percona_xtradb(obj: &Value) -> Verdict {
    let nodes = || nodes_ready(obj).ok_or("status.ready or status.size is missing");
    attempt(|| {
        Ok(match text(obj, &["status", "state"]) {
            Some("initializing") => progressing(nodes()?),
            Some("ready") => healthy(nodes()?),
            Some("paused") => unknown("Cluster is paused"),
            Some("stopping") => degraded(format!("Cluster is stopping ({})", nodes()?)),
            Some("error") => {
                let Some(Value::Array(parts)) = get(obj, &["status", "message"]) else {
                    return Err("status.message is not a list");
                };
                let parts = parts
                    .iter()
                    .take_while(|p| !p.is_null())
                    .map(|p| concat_text(Some(p)))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("status.message holds something other than text")?;
                degraded(format!("Cluster is on error: {}", parts.join(", ")))
            }
            _ => unknown(
                "Cluster status is unknown. Ensure your ArgoCD is current and then check for/file a bug report: https://github.com/argoproj/argo-cd/issues",
            ),
        })
    })
}

/// CloudNativePG's phases, as the script maps them.
fn cnpg_phase(phase: &str) -> Option<HealthStatus> {
    use HealthStatus::*;
    Some(match phase {
        "Cluster in healthy state" => Healthy,
        "Setting up primary"
        | "Creating a new replica"
        | "Upgrading cluster"
        | "Waiting for the instances to become active"
        | "Promoting to primary cluster" => Progressing,
        "Switchover in progress"
        | "Failing over"
        | "Upgrading Postgres major version"
        | "Cluster upgrade delayed"
        | "Waiting for user action"
        | "Primary instance is being restarted in-place"
        | "Primary instance is being restarted without a switchover"
        | "Cluster cannot execute instance online upgrade due to missing architecture binary"
        | "Online upgrade in progress"
        | "Applying configuration" => Degraded,
        "Unable to create required cluster objects"
        | "Cluster cannot proceed to reconciliation due to an unknown plugin being required"
        | "Cluster has incomplete or invalid image catalog"
        | "Cluster is unrecoverable and needs manual intervention" => Suspended,
        _ => return None,
    })
}

/// Reconciliation disabled, then hibernation, then the phase (with its reason).
fn cnpg_cluster(obj: &Value) -> Verdict {
    if is(
        obj,
        &["metadata", "annotations", "cnpg.io/reconciliationLoop"],
        "disabled",
    ) {
        return suspended("Cluster reconciliation is suspended");
    }
    if !has(obj, &["status"]) {
        return script_error("the Cluster has no status");
    }
    let reason = text(obj, &["status", "phaseReason"]).unwrap_or("");
    if !has_conditions(obj) {
        return progressing(reason);
    }
    if let Some(c) = conditions(obj)
        .iter()
        .find(|c| field(c, "type") == Some("cnpg.io/hibernation"))
    {
        return if field(c, "status") == Some("True") {
            suspended(message(c))
        } else {
            degraded(message(c))
        };
    }
    let status = text(obj, &["status", "phase"]).and_then(cnpg_phase);
    verdict(status.unwrap_or(HealthStatus::Unknown), reason)
}

/// Zalando's cluster status, shown as it is.
fn zalando_postgresql(obj: &Value) -> Verdict {
    let Some(state) = get(obj, &["status", "PostgresClusterStatus"]) else {
        return progressing("Waiting for postgres cluster status...");
    };
    let shown = state.as_str().unwrap_or("");
    match state.as_str() {
        Some("Running") => healthy(shown),
        Some("Creating" | "Updating") => progressing(shown),
        _ => degraded(shown),
    }
}

/// Atlas: the first Ready condition; not yet true is Progressing for the operator's
/// working states (read from the reason, or for AtlasSchema the message), else Degraded.
fn atlas(obj: &Value, working: &[&str], by_message: bool) -> Verdict {
    let Some(ready) = conditions(obj)
        .iter()
        .find(|c| field(c, "type") == Some("Ready"))
    else {
        return progressing("Waiting for Atlas Operator");
    };
    let reason = field(ready, "reason").unwrap_or("");
    if field(ready, "status") == Some("True") {
        return healthy(reason);
    }
    let state = field(ready, if by_message { "message" } else { "reason" });
    if state.is_some_and(|s| working.contains(&s)) {
        progressing(reason)
    } else {
        degraded(reason)
    }
}

fn clickhouse(obj: &Value, what: &str) -> Verdict {
    let Some(status) = get(obj, &["status", "status"]) else {
        return progressing(format!("{what} status not yet available"));
    };
    match status.as_str() {
        Some("Completed") => healthy(format!("{what} installation completed successfully")),
        Some("InProgress") => progressing(format!("{what} installation in progress")),
        _ => match concat_text(Some(status)) {
            Some(s) => degraded(format!("{what} status: {s}")),
            None => script_error("status.status is not text"),
        },
    }
}

/// Every Solr node ready.
fn solr_cloud(obj: &Value) -> Verdict {
    if !has(obj, &["status", "solrNodes"]) {
        return progressing("Waiting for solr to exist");
    }
    if items(obj, &["status", "solrNodes"])
        .iter()
        .any(|node| !truthy(node, &["ready"]))
    {
        return progressing("Not all replicas are ready");
    }
    healthy("Solr is ready")
}
