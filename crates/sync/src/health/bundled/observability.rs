//! Observability stacks: the Grafana operator and the kubitus Grafana-organisation
//! operator, Jaeger, the OpenTelemetry operator, Datadog, VictoriaMetrics and Coralogix.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("grafana.integreatly.org", "Grafana") => grafana,
        ("grafana.integreatly.org", "GrafanaDashboard" | "GrafanaFolder") => grafana_conditions,
        ("grafana.integreatly.org", "GrafanaDatasource") => grafana_datasource,
        ("jaegertracing.io", "Jaeger") => jaeger,
        ("opentelemetry.io", "OpenTelemetryCollector") => opentelemetry_collector,
        ("datadoghq.com", "DatadogMetric") => datadog_metric,
        ("coralogix.com", "Alert" | "RecordingRuleGroupSet") => coralogix,
        _ => return None,
    })
}

/// The operator's stage and whether it succeeded.
fn grafana(obj: &Value) -> Verdict {
    let Some(stage_status) = get(obj, &["status", "stageStatus"]) else {
        return progressing("Waiting for Grafana status info");
    };
    let stage = get(obj, &["status", "stage"]);
    if stage_status.as_str() == Some("failed") {
        return match concat_text(stage) {
            Some(stage) => degraded(format!("Failed at stage {stage}")),
            None => script_error("status.stage is missing"),
        };
    }
    if stage.and_then(Value::as_str) == Some("complete") && stage_status.as_str() == Some("success")
    {
        return healthy("");
    }
    progressing(stage.and_then(Value::as_str).unwrap_or(""))
}

/// Every condition with a status described (`<reason> for <type> because <message>`); a
/// false one degrades at once, a true one makes it healthy.
fn grafana_conditions(obj: &Value) -> Verdict {
    let mut status = crate::health::HealthStatus::Progressing;
    let mut msg = String::new();
    for c in conditions(obj) {
        if !has(c, &["status"]) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(", ");
        }
        if let Some(reason) = get(c, &["reason"]) {
            let Some(reason) = concat_text(Some(reason)) else {
                return script_error("a condition's reason is not text");
            };
            msg.push_str(&reason);
            if let Some(ty) = get(c, &["type"]) {
                let Some(ty) = concat_text(Some(ty)) else {
                    return script_error("a condition's type is not text");
                };
                msg.push_str(&format!(" for {ty}"));
                if let Some(m) = get(c, &["message"]) {
                    let Some(m) = concat_text(Some(m)) else {
                        return script_error("a condition's message is not text");
                    };
                    msg.push_str(&format!(" because {m}"));
                }
            }
        }
        match field(c, "status") {
            Some("False") => return degraded(msg),
            Some("True") => status = crate::health::HealthStatus::Healthy,
            _ => {}
        }
    }
    verdict(status, msg)
}

/// A data source with a UID is healthy unless no Grafana instance matches it.
fn grafana_datasource(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) || is(obj, &["status", "uid"], "") {
        return progressing("");
    }
    if truthy(obj, &["status", "NoMatchingInstances"]) {
        return degraded("can't find matching grafana instance");
    }
    healthy("")
}

fn jaeger(obj: &Value) -> Verdict {
    match text(obj, &["status", "phase"]) {
        Some("Running") => healthy("Jaeger is Running"),
        Some("Failed") => degraded("Jaeger Failed For Some Reason"),
        _ => progressing("Waiting for Jaeger"),
    }
}

/// The first `<digits>/<digits>` in `s`, as Lua's `string.match(s, "(%d+)/(%d+)")`.
fn ready_of_total(s: &str) -> Option<(f64, f64)> {
    let b = s.as_bytes();
    let digits_from = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    (0..b.len()).find_map(|start| {
        let n = digits_from(start);
        if n == 0 || b.get(start + n) != Some(&b'/') {
            return None;
        }
        let m = digits_from(start + n + 1);
        if m == 0 {
            return None;
        }
        let ready = s[start..start + n].parse().ok()?;
        let total = s[start + n + 1..start + n + 1 + m].parse().ok()?;
        Some((ready, total))
    })
}

/// The `ready/total` replica count; a daemon set with no eligible node is fine; a
/// sidecar has no replicas of its own.
fn opentelemetry_collector(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) {
        return progressing("Waiting for OpenTelemetry Collector status");
    }
    let Some(replicas) = get(obj, &["status", "scale", "statusReplicas"]) else {
        if !has(obj, &["spec"]) {
            return script_error("the collector has no spec");
        }
        return if is(obj, &["spec", "mode"], "sidecar") {
            healthy("Collector is running in sidecar mode")
        } else {
            progressing("Scale status not available")
        };
    };
    let parsed = match replicas {
        Value::String(s) => ready_of_total(s),
        Value::Number(_) => None,
        _ => return script_error("status.scale.statusReplicas is not text"),
    };
    let Some((ready, total)) = parsed else {
        let shown = concat_text(Some(replicas)).unwrap_or_default();
        return progressing(format!("Unable to parse replica status: {shown}"));
    };
    if ready == 0.0 {
        if is(obj, &["spec", "mode"], "daemonset") && total == 0.0 {
            healthy("DaemonSet has no eligible nodes (0/0)")
        } else {
            degraded("No replicas are ready")
        }
    } else if ready == total {
        healthy("All replicas are ready")
    } else {
        progressing("Replicas are starting up")
    }
}

/// An error condition (with its reason), then an invalid query; healthy otherwise.
fn datadog_metric(obj: &Value) -> Verdict {
    if let Some(c) = find_condition(obj, "Error", "True") {
        let reason = field(c, "reason").unwrap_or("");
        let msg = field(c, "message").unwrap_or("DatadogMetric reported an error");
        return degraded(if reason.is_empty() {
            msg.to_string()
        } else {
            format!("{reason}: {msg}")
        });
    }
    if let Some(c) = find_condition(obj, "Valid", "False") {
        return degraded(field(c, "message").unwrap_or("DatadogMetric is not valid"));
    }
    healthy("DatadogMetric is healthy")
}

/// The RemoteSynced condition.
fn coralogix(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "RemoteSynced", "True") {
            return healthy("Resource is ready");
        }
        if cond_is(c, "RemoteSynced", "False") {
            return degraded(message(c));
        }
    }
    progressing("Waiting for status to be updated")
}

/// The `operator.victoriametrics.com/_` directory: the operator's update status for the
/// observed generation, with its reason where it gives one.
pub(super) fn victoria_metrics(obj: &Value) -> Verdict {
    let waiting = progressing("Waiting for the operator to reconcile");
    if !has(obj, &["status"]) {
        return waiting;
    }
    let generation = get(obj, &["metadata", "generation"]);
    let observed = get(obj, &["status", "observedGeneration"]);
    if generation.is_some() && observed.is_some() && !same(generation, observed) {
        return waiting;
    }
    let reason = text(obj, &["status", "reason"]).filter(|r| !r.is_empty());
    match text(obj, &["status", "updateStatus"]) {
        Some("operational") => healthy("All components are operational"),
        Some("expanding") => progressing(reason.unwrap_or("Reconciliation in progress")),
        Some("paused") => suspended(reason.unwrap_or("Reconciliation is paused")),
        Some("failed") => degraded(reason.unwrap_or("Reconciliation failed")),
        _ => progressing("Waiting for the operator to report status"),
    }
}

/// The `grafana-org-operator.kubitus-project.gitlab.io/_` directory: the Ready condition.
pub(super) fn grafana_org(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if field(c, "type") == Some("Ready") {
            let m = message(c);
            return match field(c, "status") {
                Some("False") => degraded(m),
                Some("True") => healthy(m),
                _ => progressing(m),
            };
        }
    }
    progressing("Waiting ...")
}
