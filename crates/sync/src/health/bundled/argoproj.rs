//! Argo's own kinds (`argoproj.io`): Rollouts, analysis runs and experiments, Argo
//! Workflows' cron workflows, Argo Events' event bus, Argo CD's ApplicationSet.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    if group != "argoproj.io" {
        return None;
    }
    Some(match kind {
        "AnalysisRun" => analysis_run,
        "ApplicationSet" => application_set,
        "CronWorkflow" => cron_workflow,
        "EventBus" => event_bus,
        "Experiment" => experiment,
        "Rollout" => rollout,
        _ => return None,
    })
}

/// By phase; the run's own message, where it has one, for the finished phases. A phase the
/// check does not know gives no health.
fn analysis_run(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) {
        return progressing("Waiting for analysis run to finish: status has not been reconciled.");
    }
    let own = |default: &str| {
        text(obj, &["status", "message"])
            .unwrap_or(default)
            .to_string()
    };
    match text(obj, &["status", "phase"]) {
        Some("Pending" | "Running") => progressing("Analysis run is running"),
        Some("Successful") => healthy(own("Analysis run completed successfully")),
        Some("Failed") => degraded(own("Analysis run failed")),
        Some("Error") => degraded(own("Analysis run had an error")),
        Some("Inconclusive") => unknown(own("Analysis run was inconclusive")),
        _ => None,
    }
}

/// An error wins, then resources out of date, then a progressive rollout under way, then
/// resources up to date.
fn application_set(obj: &Value) -> Verdict {
    let first = |ty: &str, status: &str| find_condition(obj, ty, status).map(message);
    if let Some(m) = first("ErrorOccurred", "True") {
        return degraded(m);
    }
    if let Some(m) = first("ResourcesUpToDate", "False") {
        return degraded(m);
    }
    if let Some(m) = first("RolloutProgressing", "True") {
        return progressing(m);
    }
    if let Some(m) = first("ResourcesUpToDate", "True") {
        return healthy(m);
    }
    progressing("Waiting for the status to be reported")
}

/// The first true SpecError or SubmissionError condition degrades, a true Completed one is
/// healthy; healthy otherwise.
fn cron_workflow(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "SpecError", "True") || cond_is(c, "SubmissionError", "True") {
            return degraded(message(c));
        }
        if cond_is(c, "Completed", "True") {
            return healthy(message(c));
        }
    }
    healthy("CronWorkflow is healthy.")
}

/// The Deployed condition; its message, else its reason.
fn event_bus(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        let why = || field(c, "message").or(field(c, "reason")).unwrap_or("");
        if cond_is(c, "Deployed", "False") {
            return degraded(why());
        }
        if cond_is(c, "Deployed", "True") {
            return healthy(why());
        }
    }
    progressing("Waiting for initialization")
}

/// By phase; a phase the check does not know gives no health.
fn experiment(obj: &Value) -> Verdict {
    if !has(obj, &["status"]) {
        return progressing("Waiting for experiment to finish: status has not been reconciled.");
    }
    match text(obj, &["status", "phase"]) {
        Some("Pending") => progressing("Experiment is pending"),
        Some("Running") => progressing("Experiment is running"),
        Some("Successful") => healthy("Experiment is successful"),
        Some("Failed") => degraded("Experiment has failed"),
        Some("Error") => degraded("Experiment had an error"),
        _ => None,
    }
}

/// An Argo Rollout: the spec (and a referenced workload's) observed first; then the phase
/// Rollouts v1.0+ reports (Paused read as Suspended), passed through with its message; for
/// older controllers the conditions, pauses, replica counts and the strategy's own state.
fn rollout(obj: &Value) -> Verdict {
    let Some(observed) = generation_observed(obj) else {
        return script_error(
            "the Rollout has status.observedGeneration but no metadata.generation",
        );
    };
    if !observed || !workload_generation_observed(obj) {
        return progressing("Waiting for rollout spec update to be observed");
    }
    if let Some(phase) = get(obj, &["status", "phase"]) {
        let status = match phase.as_str() {
            Some("Paused") => Some("Suspended"),
            other => other,
        };
        return passed_through(status, text(obj, &["status", "message"]).unwrap_or(""));
    }
    if !has(obj, &["status", "conditions"]) {
        return script_error("the Rollout has neither status.phase nor status.conditions");
    }
    for c in conditions(obj) {
        let ty = field(c, "type");
        let reason = field(c, "reason");
        if ty == Some("InvalidSpec")
            || (ty == Some("Progressing")
                && matches!(reason, Some("RolloutAborted" | "ProgressDeadlineExceeded")))
        {
            return degraded(message(c));
        }
    }
    if len(obj, &["status", "pauseConditions"]) > 0 || truthy(obj, &["spec", "paused"]) {
        return suspended("Rollout is paused");
    }
    let Some(pod_hash) = get(obj, &["status", "currentPodHash"]) else {
        return progressing("Waiting for rollout to finish: status has not been reconciled.");
    };
    let desired = number(obj, &["spec", "replicas"]).unwrap_or(1.0);
    let replicas = number(obj, &["status", "replicas"]).unwrap_or(0.0);
    let updated = number(obj, &["status", "updatedReplicas"]).unwrap_or(0.0);
    let available = number(obj, &["status", "availableReplicas"]).unwrap_or(0.0);
    if updated < desired {
        return progressing("Waiting for roll out to finish: More replicas need to be updated");
    }
    if available < updated {
        return progressing(
            "Waiting for roll out to finish: updated replicas are still becoming available",
        );
    }
    // Rollouts v0.8 moved status.canary.stableRS to status.stableRS; either may be there.
    let stable_rs = match get(obj, &["status", "stableRS"]) {
        Some(rs) => Some(Some(rs)),
        None if has(obj, &["status", "canary"]) => {
            Some(get(obj, &["status", "canary", "stableRS"]))
        }
        None => None,
    };
    let empty = Value::String(String::new());
    let stable_rs = stable_rs.unwrap_or(Some(&empty));
    let stable_is_empty = same(stable_rs, Some(&empty));
    if !has(obj, &["spec", "strategy"]) {
        return script_error("the Rollout has no spec.strategy");
    }
    if has(obj, &["spec", "strategy", "blueGreen"]) {
        let active = get(obj, &["status", "blueGreen", "activeSelector"]);
        if !has(obj, &["status", "blueGreen"]) || !same(active, Some(pod_hash)) {
            return progressing("active service cutover pending");
        }
        if !stable_is_empty && !same(stable_rs, Some(pod_hash)) {
            return progressing("waiting for analysis to complete");
        }
    } else if has(obj, &["spec", "strategy", "canary"]) {
        if replicas > updated {
            return progressing(
                "Waiting for roll out to finish: old replicas are pending termination",
            );
        }
        if stable_is_empty || !same(stable_rs, Some(pod_hash)) {
            return progressing("Waiting for rollout to finish steps");
        }
    }
    healthy("")
}

/// Whether the controller has seen the current spec: a numeric `status.observedGeneration`
/// equal to `metadata.generation`; Rollouts v0.9 and older (no number there, or a larger
/// one) always count as observed. `None` where upstream compares a number with a missing
/// generation and fails.
fn generation_observed(obj: &Value) -> Option<bool> {
    if !has(obj, &["status"]) {
        return Some(false);
    }
    match to_number(get(obj, &["status", "observedGeneration"])) {
        None => Some(true),
        Some(observed) => number(obj, &["metadata", "generation"]).map(|g| observed >= g),
    }
}

/// Rollouts v1.1+ with a `workloadRef`: the workload generation in the annotation equals
/// the one the status has seen (both absent counts as equal).
fn workload_generation_observed(obj: &Value) -> bool {
    let Some(annotations) = get(obj, &["metadata", "annotations"]) else {
        return true;
    };
    if !has(obj, &["spec", "workloadRef"]) {
        return true;
    }
    let wanted = to_number(get(
        annotations,
        &["rollout.argoproj.io/workload-generation"],
    ));
    let seen = to_number(get(obj, &["status", "workloadObservedGeneration"]));
    wanted == seen
}
