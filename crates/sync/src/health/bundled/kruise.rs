//! OpenKruise: workloads (`apps.kruise.io`), game servers (`game.kruise.io`) and
//! progressive delivery (`rollouts.kruise.io`).

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("apps.kruise.io", "AdvancedCronJob") => advanced_cron_job,
        ("apps.kruise.io", "BroadcastJob") => broadcast_job,
        ("apps.kruise.io", "CloneSet") => clone_set,
        ("apps.kruise.io", "DaemonSet") => daemon_set,
        ("apps.kruise.io", "StatefulSet") => stateful_set,
        ("game.kruise.io", "GameServer") => game_server,
        ("game.kruise.io", "GameServerSet") => game_server_set,
        ("rollouts.kruise.io", "Rollout") => rollout,
        _ => return None,
    })
}

/// Whether the controller has seen the current generation (both absent counts).
fn observed(obj: &Value) -> bool {
    same(
        get(obj, &["metadata", "generation"]),
        get(obj, &["status", "observedGeneration"]),
    )
}

/// Whether `s` holds a `YYYY-MM-DDTHH:MM:SSZ` time the script can read with `os.time`.
fn has_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len()).any(|start| {
        let mut i = start;
        let digits = |i: &mut usize| {
            let from = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            *i > from
        };
        let sep = |i: &mut usize, c: u8| {
            let ok = *i < b.len() && b[*i] == c;
            *i += usize::from(ok);
            ok
        };
        digits(&mut i)
            && sep(&mut i, b'-')
            && digits(&mut i)
            && sep(&mut i, b'-')
            && digits(&mut i)
            && sep(&mut i, b'T')
            && digits(&mut i)
            && sep(&mut i, b':')
            && digits(&mut i)
            && sep(&mut i, b':')
            && digits(&mut i)
            && sep(&mut i, b'Z')
    })
}

/// Paused before its first run, running jobs, or whether it has ever been scheduled.
fn advanced_cron_job(obj: &Value) -> Verdict {
    attempt(|| {
        if !has(obj, &["status"]) {
            return Err("the AdvancedCronJob has no status");
        }
        let scheduled = match get(obj, &["status", "lastScheduleTime"]) {
            None => false,
            Some(t) if t.as_str().is_some_and(has_timestamp) => true,
            Some(_) => return Err("status.lastScheduleTime is not a time"),
        };
        if !scheduled && is_true(obj, &["spec", "paused"]) {
            return Ok(suspended("AdvancedCronJob is Paused"));
        }
        if len(obj, &["status", "active"]) > 0 {
            return Ok(progressing("AdvancedCronJobs has active jobs"));
        }
        if !scheduled {
            return Ok(degraded("AdvancedCronJobs has not run successfully"));
        }
        Ok(healthy("AdvancedCronJobs has run successfully"))
    })
}

fn broadcast_job(obj: &Value) -> Verdict {
    let running = progressing("BroadcastJob is still running");
    if !has(obj, &["status"]) {
        return running;
    }
    let phase = text(obj, &["status", "phase"]);
    let zero = serde_json::json!(0);
    let nonzero = |key: &str| !same(get(obj, &["status", key]), Some(&zero));
    if same(
        get(obj, &["status", "desired"]),
        get(obj, &["status", "succeeded"]),
    ) && phase == Some("completed")
    {
        return healthy("BroadcastJob is completed successfully");
    }
    if nonzero("active") && phase == Some("running") {
        return running;
    }
    if nonzero("failed") && phase == Some("failed") {
        return degraded("BroadcastJob failed");
    }
    if phase == Some("paused") && is_true(obj, &["spec", "paused"]) {
        return suspended("BroadcastJob is Paused");
    }
    running
}

/// At the observed generation: paused (or nothing updated yet), a partition held for
/// manual steps, all updated replicas available, or not.
fn clone_set(obj: &Value) -> Verdict {
    attempt(|| {
        let waiting = progressing("Waiting for initialization");
        if !has(obj, &["status"]) || !observed(obj) {
            return Ok(waiting);
        }
        let Some(strategy) = get(obj, &["spec", "updateStrategy"]) else {
            return Err("spec.updateStrategy is missing");
        };
        if is_true(strategy, &["paused"]) || !truthy(obj, &["status", "updatedAvailableReplicas"]) {
            return Ok(suspended("Cloneset is paused"));
        }
        let zero = serde_json::json!(0);
        if !same(get(strategy, &["partition"]), Some(&zero))
            && num(obj, &["metadata", "generation"])? > 1.0
        {
            if num(obj, &["status", "updatedReplicas"])?
                >= num(obj, &["status", "expectedUpdatedReplicas"])?
            {
                return Ok(suspended("Cloneset needs manual intervention"));
            }
            return Ok(waiting);
        }
        if same(
            get(obj, &["status", "updatedAvailableReplicas"]),
            get(obj, &["status", "replicas"]),
        ) {
            return Ok(healthy("All Cloneset workloads are ready and updated"));
        }
        Ok(degraded("Some replicas are not ready or available"))
    })
}

fn daemon_set(obj: &Value) -> Verdict {
    attempt(|| {
        let waiting = progressing("Waiting for initialization");
        if !has(obj, &["status"]) || !observed(obj) {
            return Ok(waiting);
        }
        let Some(rolling) = get(obj, &["spec", "updateStrategy", "rollingUpdate"]) else {
            return Err("spec.updateStrategy.rollingUpdate is missing");
        };
        if is_true(rolling, &["paused"]) || !truthy(obj, &["status", "updatedNumberScheduled"]) {
            return Ok(suspended("Daemonset is paused"));
        }
        let status = |key: &str| get(obj, &["status", key]);
        let zero = serde_json::json!(0);
        if let Some(partition) = get(rolling, &["partition"])
            && !same(Some(partition), Some(&zero))
            && num(obj, &["metadata", "generation"])? > 1.0
        {
            let partition = partition.as_f64().ok_or("the partition is not a number")?;
            let held = num(obj, &["status", "desiredNumberScheduled"])? - partition;
            if num(obj, &["status", "updatedNumberScheduled"])? > held {
                return Ok(suspended("Daemonset needs manual intervention"));
            }
            return Ok(waiting);
        }
        let desired = status("desiredNumberScheduled");
        let all_updated = same(status("updatedNumberScheduled"), desired);
        if all_updated && same(status("numberAvailable"), desired) {
            return Ok(healthy("All Daemonset workloads are ready and updated"));
        }
        if all_updated && same(status("numberUnavailable"), desired) {
            return Ok(degraded("Some pods are not ready or available"));
        }
        Ok(waiting)
    })
}

fn stateful_set(obj: &Value) -> Verdict {
    attempt(|| {
        let waiting = progressing("Waiting for initialization");
        if !has(obj, &["status"]) || !observed(obj) {
            return Ok(waiting);
        }
        let Some(rolling) = get(obj, &["spec", "updateStrategy", "rollingUpdate"]) else {
            return Err("spec.updateStrategy.rollingUpdate is missing");
        };
        if is_true(rolling, &["paused"]) || !truthy(obj, &["status", "updatedAvailableReplicas"]) {
            return Ok(suspended("Statefulset is paused"));
        }
        let zero = serde_json::json!(0);
        if !same(get(rolling, &["partition"]), Some(&zero))
            && num(obj, &["metadata", "generation"])? > 1.0
        {
            let held = num(obj, &["status", "replicas"])? - num(rolling, &["partition"])?;
            if num(obj, &["status", "updatedReplicas"])? > held {
                return Ok(suspended("Statefulset needs manual intervention"));
            }
            return Ok(waiting);
        }
        if same(
            get(obj, &["status", "updatedAvailableReplicas"]),
            get(obj, &["status", "replicas"]),
        ) {
            return Ok(healthy("All Statefulset workloads are ready and updated"));
        }
        Ok(degraded("Some replicas are not ready or available"))
    })
}

/// The current state against the desired one, then the pod's readiness.
fn game_server(obj: &Value) -> Verdict {
    if !truthy(obj, &["status"]) {
        return unknown("Waiting for GameServer to be ready");
    }
    let current = get(obj, &["status", "currentState"]);
    let desired = get(obj, &["status", "desiredState"]);
    if !same(current, desired) {
        let shown = |v: Option<&Value>| match v {
            None => Some("Unknown".to_string()),
            Some(v) if v.as_bool() == Some(false) => Some("Unknown".to_string()),
            Some(v) => concat_text(Some(v)),
        };
        let (Some(c), Some(d)) = (shown(current), shown(desired)) else {
            return script_error("the game server states are not text");
        };
        return progressing(format!("State change: {c} → {d}"));
    }
    let pod_conditions = items(obj, &["status", "podStatus", "conditions"]);
    if pod_conditions
        .iter()
        .any(|c| field(c, "type") == Some("KruisePodReady") && field(c, "status") != Some("True"))
    {
        return degraded("Pod is not ready: KruisePodReady");
    }
    if current.and_then(Value::as_str) == Some("Ready") {
        return healthy("GameServer is Ready");
    }
    unknown("Waiting for GameServer to be ready")
}

/// At the observed generation: paused, a partition held, all replicas updated and ready,
/// or how many are ready.
fn game_server_set(obj: &Value) -> Verdict {
    let waiting = progressing("Waiting for GameServerSet initialization");
    if !truthy(obj, &["status"]) || !observed(obj) {
        return waiting;
    }
    let rolling = get(obj, &["spec", "updateStrategy", "rollingUpdate"]);
    if rolling.is_some_and(|r| is_true(r, &["paused"])) {
        return suspended("GameServerSet is paused");
    }
    attempt(|| {
        // `x or 0`: absent is zero; anything else must be a number to compare.
        let count = |v: Option<&Value>| -> Result<f64, &'static str> {
            match v {
                None => Ok(0.0),
                Some(v) if v.as_bool() == Some(false) => Ok(0.0),
                Some(v) => v.as_f64().ok_or("a replica count is not a number"),
            }
        };
        let status = |key: &str| get(obj, &["status", key]);
        let partition = count(rolling.and_then(|r| get(r, &["partition"])))?;
        let replicas = count(status("replicas"))?;
        if partition != 0.0 && count(status("updatedReplicas"))? >= replicas - partition {
            return Ok(suspended(format!(
                "Partition={}, waiting for manual intervention",
                lua_number(partition)
            )));
        }
        if count(status("updatedReadyReplicas"))? == replicas {
            return Ok(healthy("All GameServerSet replicas are updated and ready"));
        }
        let ready = count(status("readyReplicas"))?;
        if ready < replicas {
            return Ok(progressing(format!(
                "ReadyReplicas {}/{}, still progressing",
                lua_number(ready),
                lua_number(replicas)
            )));
        }
        Ok(waiting)
    })
}

/// The canary step's state and the rollout's phase, at the observed generation.
fn rollout(obj: &Value) -> Verdict {
    let waiting = progressing("Rollout is still progressing");
    if !has(obj, &["status"]) {
        return script_error("the Rollout has no status");
    }
    if !observed(obj) {
        return waiting;
    }
    let Some(canary) = get(obj, &["status", "canaryStatus"]) else {
        return script_error("status.canaryStatus is missing");
    };
    let step = field(canary, "currentStepState");
    match (step, text(obj, &["status", "phase"])) {
        (Some("StepUpgrade"), Some("Progressing")) => waiting,
        (Some("StepPaused"), Some("Progressing")) => {
            suspended("Rollout is Paused need manual intervention")
        }
        (Some("Completed"), Some("Healthy")) => healthy("Rollout is Completed"),
        (Some("StepPaused"), Some("Terminating" | "Disabled")) => {
            degraded("Rollout is Disabled or Terminating")
        }
        _ => waiting,
    }
}
