//! Elastic Cloud on Kubernetes: Elasticsearch, Beats and Logstash.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("elasticsearch.k8s.elastic.co", "Elasticsearch") => elasticsearch,
        ("beat.k8s.elastic.co", "Beat") => beat,
        ("logstash.k8s.elastic.co", "Logstash") => logstash,
        _ => return None,
    })
}

const BUG_REPORT: &str = "Ensure your ArgoCD is current and then check for/file a bug report: https://github.com/argoproj/argo-cd/issues";

/// All the node sets' nodes available, then the phase and the cluster's colour.
fn elasticsearch(obj: &Value) -> Verdict {
    let unknown_status = || {
        unknown(format!(
            "Elasticsearch Cluster status is unknown. {BUG_REPORT}"
        ))
    };
    let Some(available) = get(obj, &["status", "availableNodes"]) else {
        return unknown_status();
    };
    attempt(|| {
        let sets: Vec<&Value> = match get(obj, &["spec", "nodeSets"]) {
            Some(Value::Array(a)) => a.iter().take_while(|v| !v.is_null()).collect(),
            Some(Value::Object(m)) => m.values().filter(|v| !v.is_null()).collect(),
            _ => return Err("spec.nodeSets is missing"),
        };
        let mut wanted = 0.0;
        for set in sets {
            wanted += num(set, &["count"])?;
        }
        let available = available
            .as_f64()
            .ok_or("status.availableNodes is not a number")?;
        if available < wanted {
            return Ok(progressing(format!(
                "The desired amount of availableNodes is {} but the current amount is {}",
                lua_number(wanted),
                lua_number(available)
            )));
        }
        if available > wanted || !has(obj, &["status", "health"]) {
            return Ok(unknown_status());
        }
        let health = text(obj, &["status", "health"]);
        Ok(match text(obj, &["status", "phase"]) {
            Some("Ready") => match health {
                Some("green") => healthy("Elasticsearch Cluster status is Green"),
                Some("yellow") => progressing(
                    "Elasticsearch Cluster status is Yellow. Check the status of indices, replicas and shards",
                ),
                Some("red") => degraded(
                    "Elasticsearch Cluster status is Red. Check the status of indices, replicas and shards",
                ),
                _ => unknown_status(),
            },
            Some("ApplyingChanges") => progressing("Elasticsearch phase is ApplyingChanges"),
            Some("MigratingData") => progressing("Elasticsearch phase is MigratingData"),
            Some("Invalid") => degraded("Elasticsearch phase is Invalid"),
            _ => unknown_status(),
        })
    })
}

/// The Beat's colour; while yellow, how many instances are up.
fn beat(obj: &Value) -> Verdict {
    let health = get(obj, &["status", "health"]);
    if health.is_none() && !has(obj, &["status", "expectedNodes"]) {
        return unknown(format!("Elastic Beat status is unknown. {BUG_REPORT}"));
    }
    match health.map(Value::as_str) {
        Some(Some("red")) => degraded("Elastic Beat status is Red"),
        Some(Some("green")) => healthy("Elastic Beat status is Green"),
        Some(Some("yellow")) => {
            let available = get(obj, &["status", "availableNodes"]);
            let expected = get(obj, &["status", "expectedNodes"]);
            if available.is_none() || expected.is_none() {
                return progressing("Elastic Beat phase is progressing");
            }
            match (concat_text(available), concat_text(expected)) {
                (Some(a), Some(e)) => progressing(format!(
                    "Elastic Beat status is deploying, there is {a} instance(s) on {e} expected"
                )),
                _ => script_error("the node counts are not numbers"),
            }
        }
        None => progressing("Elastic Beat phase is progressing"),
        Some(_) => unknown(format!("Elastic Beat status is unknown. {BUG_REPORT}")),
    }
}

fn logstash(obj: &Value) -> Verdict {
    match text(obj, &["status", "health"]) {
        Some("green") => healthy("Logstash status is Green"),
        Some("yellow") => progressing("Logstash status is Yellow"),
        Some("red") => degraded("Logstash status is Red"),
        _ => progressing("Waiting for Logstash"),
    }
}
