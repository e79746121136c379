//! Autoscalers: KEDA (`keda.sh`) and Karpenter (`karpenter.sh`, `karpenter.k8s.aws`).

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("keda.sh", "ScaledJob") => scaled_job,
        ("keda.sh", "ScaledObject") => scaled_object,
        ("karpenter.k8s.aws", "EC2NodeClass") => ec2_node_class,
        ("karpenter.sh", "NodeClaim") => node_claim,
        ("karpenter.sh", "NodePool") => {
            |o| true_false_or(o, "Ready", "Waiting for NodePool to be ready")
        }
        _ => return None,
    })
}

/// KEDA: the conditions raise flags (the message is the last raising condition's); a
/// degrading one wins, then ready (Suspended when also paused).
fn keda(obj: &Value, degrading: &[(&str, &str)], waiting: &str) -> Verdict {
    let (mut ready, mut failing, mut paused) = (false, false, false);
    let mut msg = String::new();
    for c in conditions(obj) {
        let ty = field(c, "type").unwrap_or_default();
        let status = field(c, "status").unwrap_or_default();
        if degrading.contains(&(ty, status)) {
            failing = true;
        } else if (ty, status) == ("Ready", "True") {
            ready = true;
        } else if (ty, status) == ("Paused", "True") {
            paused = true;
        } else {
            continue;
        }
        msg = message(c);
    }
    if failing {
        degraded(msg)
    } else if ready && !paused {
        healthy(msg)
    } else if ready {
        suspended(msg)
    } else {
        progressing(waiting)
    }
}

fn scaled_job(obj: &Value) -> Verdict {
    keda(
        obj,
        &[("Ready", "False"), ("Ready", "Unknown")],
        "Waiting for ScaledJob",
    )
}

fn scaled_object(obj: &Value) -> Verdict {
    keda(
        obj,
        &[("Ready", "False"), ("Fallback", "True")],
        "Creating HorizontalPodAutoscaler Object",
    )
}

fn ec2_node_class(obj: &Value) -> Verdict {
    for c in conditions(obj) {
        if cond_is(c, "Ready", "False") {
            return degraded(message(c));
        }
        if cond_is(c, "Ready", "True") {
            return healthy("EC2NodeClass is ready");
        }
    }
    progressing("Waiting for EC2NodeClass to be ready")
}

/// A stale status first; then disruption (Suspended), Ready, and otherwise the furthest
/// step of launch, registration and initialization reached.
fn node_claim(obj: &Value) -> Verdict {
    let generation = get(obj, &["metadata", "generation"]);
    let observed = get(obj, &["status", "observedGeneration"]);
    if generation.is_some() && observed.is_some() && !same(generation, observed) {
        return progressing("Waiting for NodeClaim spec to be reconciled");
    }
    if let Some(c) = find_condition(obj, "Disrupting", "True") {
        return suspended(message(c));
    }
    if let Some(v) = true_false(obj, "Ready") {
        return Some(v);
    }
    for (ty, msg) in [
        ("Initialized", "Node initialized, waiting for Ready"),
        ("Registered", "Node registered, waiting for initialization"),
        ("Launched", "Node launched, waiting for registration"),
    ] {
        if find_condition(obj, ty, "True").is_some() {
            return progressing(msg);
        }
    }
    progressing("Waiting for NodeClaim to be launched")
}
