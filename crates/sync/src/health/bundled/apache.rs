//! Apache projects' operators: Camel K integrations, Flink deployments and Spark
//! applications.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("camel.apache.org", "Integration") => {
            |o| true_false_or(o, "Ready", "Waiting for Integration")
        }
        ("flink.apache.org", "FlinkDeployment") => flink_deployment,
        ("sparkoperator.k8s.io", "SparkApplication") => spark_application,
        _ => return None,
    })
}

/// A successful or deployed reconciliation, else the job manager's deployment status.
fn flink_deployment(obj: &Value) -> Verdict {
    if let Some(reconciliation) = get(obj, &["status", "reconciliationStatus"]) {
        if truthy(reconciliation, &["success"]) || is(reconciliation, &["state"], "DEPLOYED") {
            return healthy("");
        }
        match text(obj, &["status", "jobManagerDeploymentStatus"]) {
            Some("DEPLOYED_NOT_READY" | "DEPLOYING") => {
                return progressing("Waiting for deploying");
            }
            Some("ERROR") => return degraded(text(reconciliation, &["error"]).unwrap_or("")),
            _ => {}
        }
    }
    progressing("Waiting for Flink operator")
}

/// The executor count dynamic allocation allows: from `spec.dynamicAllocation` when it is
/// enabled, else from the Spark configuration's (streaming) dynamic allocation; `None`
/// when neither applies (or a configured bound does not read as a number).
fn executor_range(obj: &Value) -> Result<Option<(f64, Option<f64>)>, &'static str> {
    if truthy(obj, &["spec", "dynamicAllocation"])
        && truthy(obj, &["spec", "dynamicAllocation", "enabled"])
    {
        let bound = |key: &str, default: f64| -> Result<f64, &'static str> {
            match get(obj, &["spec", "dynamicAllocation", key]) {
                Some(v) if v.as_bool() != Some(false) => v
                    .as_f64()
                    .ok_or("a dynamicAllocation bound is not a number"),
                _ => Ok(default),
            }
        };
        return Ok(Some((
            bound("minExecutors", 0.0)?,
            Some(bound("maxExecutors", f64::INFINITY)?),
        )));
    }
    let Some(conf) = get(obj, &["spec", "sparkConf"]) else {
        return Ok(None);
    };
    for prefix in [
        "spark.streaming.dynamicAllocation",
        "spark.dynamicAllocation",
    ] {
        if text(conf, &[&format!("{prefix}.enabled")]) != Some("true") {
            continue;
        }
        let bound = |key: &str, default: f64| match get(conf, &[&format!("{prefix}.{key}")]) {
            None => Some(default),
            Some(v) => to_number(Some(v)),
        };
        let Some(min) = bound("minExecutors", 0.0) else {
            return Ok(None);
        };
        return Ok(Some((min, bound("maxExecutors", f64::INFINITY))));
    }
    Ok(None)
}

/// The application's state; while running, the running executors against the instances
/// asked for or the dynamic-allocation range.
fn spark_application(obj: &Value) -> Verdict {
    let waiting = progressing("Waiting for Executor pods");
    if !has(obj, &["status"]) {
        return waiting;
    }
    let Some(app) = get(obj, &["status", "applicationState"]) else {
        return script_error("status.applicationState is missing");
    };
    let error = || text(app, &["errorMessage"]).unwrap_or("").to_string();
    let Some(state) = get(app, &["state"]) else {
        return waiting;
    };
    match state.as_str() {
        Some("") => progressing("SparkApplication was added, enqueuing it for submission"),
        Some("RUNNING") => attempt(|| {
            let Some(executors) = get(obj, &["status", "executorState"]) else {
                return Ok(waiting);
            };
            let running = match executors {
                Value::Object(m) => m.values().filter(|s| s.as_str() == Some("RUNNING")).count(),
                Value::Array(a) => a.iter().filter(|s| s.as_str() == Some("RUNNING")).count(),
                _ => return Err("status.executorState is not a table"),
            } as f64;
            let Some(executor) = get(obj, &["spec", "executor"]) else {
                return Err("spec.executor is missing");
            };
            let instances = get(executor, &["instances"]);
            let running_ok = healthy("SparkApplication is Running");
            if instances.is_some_and(|n| n.as_f64() == Some(running)) {
                return Ok(running_ok);
            }
            if let Some((min, max)) = executor_range(obj)? {
                let max = max.ok_or("a dynamic-allocation maximum is not a number")?;
                return Ok(if running >= min && running <= max {
                    running_ok
                } else {
                    waiting
                });
            }
            if !has(obj, &["spec", "dynamicAllocation"]) && instances.is_none() && running >= 1.0 {
                return Ok(running_ok);
            }
            Ok(waiting)
        }),
        Some("SUBMITTED") => progressing("SparkApplication was submitted successfully"),
        Some("COMPLETED") => healthy("SparkApplication was Completed"),
        Some("FAILED" | "SUBMISSION_FAILED" | "FAILING") => degraded(error()),
        Some("PENDING_RERUN") => progressing("SparkApplication is Pending Rerun"),
        Some("INVALIDATING") => missing("SparkApplication is in InvalidatingState"),
        Some("SUCCEEDING") => progressing(
            "The driver pod has been completed successfully. The executor pods terminate and are cleaned up.\n                                Under this circumstances, we assume the executor pod are completed.",
        ),
        Some("UNKNOWN") => progressing(
            "SparkApplication is in UnknownState because either driver pod or one or all executor pods in unknown state  ",
        ),
        _ => waiting,
    }
}
