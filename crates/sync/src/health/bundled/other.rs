//! Single projects' kinds: SpinKube apps, Keycloak, OpenFaaS functions, proclaim's DNS-SD
//! instances, Pulumi stacks, Ansible Automation Platform jobs and Karmada bindings.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("core.spinkube.dev", "SpinApp") => spin_app,
        ("k8s.keycloak.org", "Keycloak") => keycloak,
        ("openfaas.com", "Function") => openfaas_function,
        ("proclaim.dogmatiq.io", "DNSSDServiceInstance") => dns_sd_service_instance,
        ("pulumi.com", "Stack") => pulumi_stack,
        ("tower.ansible.com", "AnsibleJob") => ansible_job,
        ("work.karmada.io", "ClusterResourceBinding") => |o| karmada_binding(o, false),
        ("work.karmada.io", "ResourceBinding") => |o| karmada_binding(o, true),
        _ => return None,
    })
}

/// A failed rollout degrades at once; then availability, the ready replicas, a rollout in
/// progress.
fn spin_app(obj: &Value) -> Verdict {
    if !truthy(obj, &["status"]) {
        return progressing("Waiting for status to be available");
    }
    let (mut available, mut available_msg) = (false, String::new());
    let (mut rolling, mut rolling_msg) = (false, String::new());
    for c in conditions(obj) {
        let own = field(c, "message");
        match field(c, "type") {
            Some("Progressing") => {
                let lower = own.unwrap_or("").to_lowercase();
                if field(c, "status") == Some("False")
                    && (field(c, "reason") == Some("ProgressDeadlineExceeded")
                        || lower.contains("timeout")
                        || lower.contains("failed"))
                {
                    return degraded(own.unwrap_or("Application deployment has failed"));
                }
                if field(c, "status") == Some("True") {
                    rolling = true;
                    rolling_msg = own.unwrap_or("Application progress status").to_string();
                }
            }
            Some("Available") => {
                available = field(c, "status") == Some("True");
                available_msg = own
                    .unwrap_or(if available {
                        "Application availability status"
                    } else {
                        "Application is not available"
                    })
                    .to_string();
            }
            _ => {}
        }
    }
    attempt(|| {
        let count = |v: Option<&Value>, default: f64| match v {
            None => Ok(default),
            Some(v) if v.as_bool() == Some(false) => Ok(default),
            Some(v) => v.as_f64().ok_or("a replica count is not a number"),
        };
        if !has(obj, &["spec"]) {
            return Err("the SpinApp has no spec");
        }
        let ready = count(get(obj, &["status", "readyReplicas"]), 0.0)?;
        let desired = count(get(obj, &["spec", "replicas"]), 1.0)?;
        if !available {
            return Ok(degraded(available_msg));
        }
        let (r, d) = (lua_number(ready.trunc()), lua_number(desired.trunc()));
        if ready < desired {
            return Ok(progressing(format!(
                "Waiting for replicas to be ready ({r}/{d})"
            )));
        }
        if rolling {
            return Ok(progressing(rolling_msg));
        }
        Ok(healthy(format!(
            "Application is healthy with {r}/{d} replicas ready"
        )))
    })
}

/// The conditions from oldest to newest (those without a time last): Ready, or errors.
fn keycloak(obj: &Value) -> Verdict {
    if !has_conditions(obj) {
        return progressing("Waiting for Keycloak status conditions to exist");
    }
    let mut conds: Vec<&Value> = conditions(obj).iter().collect();
    let mut times = Vec::new();
    for c in &conds {
        match get(c, &["lastTransitionTime"]) {
            None => times.push(None),
            Some(Value::String(t)) => times.push(Some(t.clone())),
            Some(_) => return script_error("a lastTransitionTime is not text"),
        }
    }
    // A stable sort, as gopher-lua's (insertion sort for short lists) leaves equal times.
    let mut order: Vec<usize> = (0..conds.len()).collect();
    order.sort_by(|&a, &b| match (&times[a], &times[b]) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
    });
    conds = order.into_iter().map(|i| conds[i]).collect();
    for c in conds {
        if cond_is(c, "Ready", "True") {
            return healthy("");
        }
        if cond_is(c, "HasErrors", "True") {
            return match concat_text(get(c, &["message"])) {
                Some(m) => degraded(format!("Has Errors: {m}")),
                None => script_error("the HasErrors condition has no message"),
            };
        }
    }
    progressing("")
}

/// Not ready or stalled degrades; ready with no replica running is Suspended.
fn openfaas_function(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "Ready", "False") || cond_is(c, "Stalled", "True") {
            return degraded(message(c));
        }
        if cond_is(c, "Ready", "True") {
            return match get(obj, &["status", "replicas"]) {
                None => suspended("No replicas available"),
                Some(n) => match n.as_f64() {
                    Some(n) if n > 0.0 => healthy(message(c)),
                    Some(_) => suspended("No replicas available"),
                    None => script_error("status.replicas is not a number"),
                },
            };
        }
    }
    progressing("Waiting for Function")
}

/// The last Adopted, Advertised and Discoverable conditions, in that order of weight.
fn dns_sd_service_instance(obj: &Value) -> Verdict {
    let last = |ty: &str| {
        conditions(obj)
            .iter()
            .rfind(|c| field(c, "type") == Some(ty))
    };
    let (adopted, advertised, discovered) =
        (last("Adopted"), last("Advertised"), last("Discoverable"));
    let msg = |c: Option<&Value>| c.map(message).unwrap_or_default();
    if adopted.is_some_and(|c| field(c, "status") == Some("False")) {
        return degraded(msg(adopted));
    }
    if advertised.is_some_and(|c| {
        matches!(
            field(c, "reason"),
            Some("AdvertiseError" | "UnadvertiseError")
        )
    }) {
        return degraded(msg(advertised));
    }
    if discovered.is_some_and(|c| field(c, "reason") == Some("DiscoveryError")) {
        return unknown(msg(discovered));
    }
    if discovered.is_some_and(|c| field(c, "status") == Some("True")) {
        return healthy(msg(discovered));
    }
    progressing(msg(discovered))
}

/// At the observed generation: stalled, reconciling or ready.
fn pulumi_stack(obj: &Value) -> Verdict {
    if !has(obj, &["status"])
        || !same(
            get(obj, &["status", "observedGeneration"]),
            get(obj, &["metadata", "generation"]),
        )
    {
        return progressing("Waiting for the operator to observe the latest spec change");
    }
    for c in conditions(obj) {
        if cond_is(c, "Stalled", "True") {
            return degraded(message(c));
        }
        if cond_is(c, "Reconciling", "True") {
            return progressing(message(c));
        }
        if cond_is(c, "Ready", "True") {
            return healthy(message(c));
        }
    }
    progressing("Waiting for the stack to be reconciled")
}

/// The job result's status, with the job's URL.
fn ansible_job(obj: &Value) -> Verdict {
    use crate::health::HealthStatus::*;
    let Some(result) = get(obj, &["status", "ansibleJobResult"]) else {
        return progressing("Waiting for AnsibleJob");
    };
    let job = field(result, "status");
    let status = match job {
        Some("successful") => Healthy,
        Some("failed" | "error" | "canceled") => Degraded,
        Some("new" | "pending" | "waiting" | "running") => Progressing,
        _ => return progressing("Waiting for AnsibleJob"),
    };
    match concat_text(get(result, &["url"])) {
        Some(url) => verdict(status, format!("{} job - {url}", job.unwrap_or_default())),
        None => script_error("status.ansibleJobResult.url is missing"),
    }
}

/// Every scheduled cluster has reported; an unhealthy one, or an unknown one whose
/// resource was not applied, degrades. A ResourceBinding propagated as a dependency has
/// no clusters of its own and is judged by what was reported.
fn karmada_binding(obj: &Value, dependencies: bool) -> Verdict {
    let insufficient = progressing("Current resource status is insufficient");
    if !has(obj, &["status"]) {
        return insufficient;
    }
    let clusters = get(obj, &["spec", "clusters"]).map(|_| len(obj, &["spec", "clusters"]));
    let reported = get(obj, &["status", "aggregatedStatus"])
        .map(|_| len(obj, &["status", "aggregatedStatus"]));
    if dependencies {
        if clusters == Some(0) || reported.unwrap_or(0) == 0 {
            return insufficient;
        }
        if clusters.is_some_and(|n| Some(n) != reported) {
            return insufficient;
        }
    } else if clusters.unwrap_or(0) == 0 || reported.is_none() || clusters != reported {
        return insufficient;
    }
    for s in items(obj, &["status", "aggregatedStatus"]) {
        match field(s, "health") {
            Some("Unhealthy") => return degraded("Current resource status is unhealthy"),
            Some("Unknown") if !is_true(s, &["applied"]) => {
                return degraded("Current resource status is unhealthy");
            }
            _ => {}
        }
    }
    healthy("")
}
