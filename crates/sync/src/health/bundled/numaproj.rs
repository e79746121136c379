//! Numaflow (`numaflow.numaproj.io`) and Numaplane, which rolls it out
//! (`numaplane.numaproj.io`).

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("numaflow.numaproj.io", "InterStepBufferService") => |o| {
            numaflow(
                o,
                "InterStepBufferService",
                &Numaflow {
                    own_message: true,
                    progressive: true,
                    paused: &[],
                },
            )
        },
        ("numaflow.numaproj.io", "MonoVertex") => |o| {
            numaflow(
                o,
                "MonoVertex",
                &Numaflow {
                    own_message: false,
                    progressive: true,
                    paused: &["Paused"],
                },
            )
        },
        ("numaflow.numaproj.io", "Pipeline") => |o| {
            numaflow(
                o,
                "Pipeline",
                &Numaflow {
                    own_message: false,
                    progressive: true,
                    paused: &["Paused", "Pausing"],
                },
            )
        },
        ("numaflow.numaproj.io", "Vertex") => |o| {
            numaflow(
                o,
                "Vertex",
                &Numaflow {
                    own_message: true,
                    progressive: false,
                    paused: &["Paused"],
                },
            )
        },
        ("numaplane.numaproj.io", "ISBServiceRollout") => |o| {
            rollout(
                o,
                &Numaplane {
                    failed_reason: Some("ISBSvcFailed"),
                    paused: None,
                    unknown: "Unknown status",
                },
            )
        },
        ("numaplane.numaproj.io", "MonoVertexRollout") => |o| {
            rollout(
                o,
                &Numaplane {
                    failed_reason: Some("MonoVertexFailed"),
                    paused: Some("MonoVertexPausingOrPaused"),
                    unknown: "Unknown MonoVertex status",
                },
            )
        },
        ("numaplane.numaproj.io", "NumaflowControllerRollout") => |o| {
            rollout(
                o,
                &Numaplane {
                    failed_reason: None,
                    paused: None,
                    unknown: "Unknown status",
                },
            )
        },
        ("numaplane.numaproj.io", "PipelineRollout") => |o| {
            rollout(
                o,
                &Numaplane {
                    failed_reason: Some("PipelineFailed"),
                    paused: Some("PipelinePausingOrPaused"),
                    unknown: "Unknown Pipeline status",
                },
            )
        },
        _ => return None,
    })
}

/// How a Numaflow kind's script differs from the others.
struct Numaflow {
    /// A false condition's message is shown (else "Subresources are unhealthy").
    own_message: bool,
    /// Whether Numaplane's failed-progressive-upgrade label degrades.
    progressive: bool,
    /// Phases reported as Healthy "<Kind> is paused".
    paused: &'static [&'static str],
}

/// At the observed generation: a false condition, a failed phase or a failed progressive
/// upgrade degrade; Running (or paused) is healthy.
fn numaflow(obj: &Value, kind: &str, rule: &Numaflow) -> Verdict {
    let waiting = progressing(format!("Waiting for {kind} status"));
    if !has(obj, &["status"]) {
        return waiting;
    }
    let false_condition = conditions(obj)
        .iter()
        .rfind(|c| field(c, "status") == Some("False"));
    let progressive_failure = rule.progressive
        && is(
            obj,
            &[
                "metadata",
                "labels",
                "numaplane.numaproj.io/progressive-result-state",
            ],
            "failed",
        );
    if !same(
        get(obj, &["metadata", "generation"]),
        get(obj, &["status", "observedGeneration"]),
    ) {
        return waiting;
    }
    let phase = text(obj, &["status", "phase"]);
    if false_condition.is_some() || phase == Some("Failed") || progressive_failure {
        let msg = if phase == Some("Failed") {
            text(obj, &["status", "message"]).unwrap_or("").to_string()
        } else if progressive_failure {
            "Failed progressive upgrade".to_string()
        } else if rule.own_message {
            false_condition.map(message).unwrap_or_default()
        } else {
            "Subresources are unhealthy".to_string()
        };
        return degraded(msg);
    }
    if phase.is_some_and(|p| rule.paused.contains(&p)) {
        return healthy(format!("{kind} is paused"));
    }
    if phase == Some("Running") {
        return healthy(format!("{kind} is healthy"));
    }
    waiting
}

/// How a Numaplane rollout's script differs from the others.
struct Numaplane {
    /// The ChildResourcesHealthy reason that means the child failed; `None`: any reason
    /// but Progressing (and no progressive upgrades to consider).
    failed_reason: Option<&'static str>,
    /// The condition that, when true, reports the child paused (Healthy, its message).
    paused: Option<&'static str>,
    /// The message when nothing decides.
    unknown: &'static str,
}

/// Progressing (not reconciled, upgrading, child progressing), then Degraded (failed
/// phase, failed child, failed progressive upgrade), then paused, then a healthy child.
fn rollout(obj: &Value, rule: &Numaplane) -> Verdict {
    let conds = conditions(obj);
    let child = |status: &'static str| {
        conds
            .iter()
            .filter(move |c| cond_is(c, "ChildResourcesHealthy", status))
    };
    let progressive_failed = || {
        rule.failed_reason.is_some()
            && find_condition(obj, "ProgressiveUpgradeSucceeded", "False").is_some()
    };
    if !has(obj, &["status"])
        || !same(
            get(obj, &["metadata", "generation"]),
            get(obj, &["status", "observedGeneration"]),
        )
    {
        return progressing("Not yet reconciled");
    }
    let upgrading = get(obj, &["status", "upgradeInProgress"])
        .is_some_and(|u| u.as_str() != Some(""))
        || is(obj, &["status", "phase"], "Pending");
    if upgrading && !progressive_failed() {
        return progressing("Update in progress");
    }
    if child("False").any(|c| field(c, "reason") == Some("Progressing")) {
        return progressing("Child Progressing");
    }
    if is(obj, &["status", "phase"], "Failed") {
        return degraded(text(obj, &["status", "message"]).unwrap_or(""));
    }
    for c in conds {
        let child_failed = cond_is(c, "ChildResourcesHealthy", "False")
            && match rule.failed_reason {
                Some(reason) => field(c, "reason") == Some(reason),
                None => field(c, "reason") != Some("Progressing"),
            };
        if child_failed {
            return degraded(message(c));
        }
        if rule.failed_reason.is_some() && cond_is(c, "ProgressiveUpgradeSucceeded", "False") {
            return degraded("Progressive upgrade failed");
        }
    }
    if let Some(paused) = rule.paused
        && let Some(c) = find_condition(obj, paused, "True")
    {
        return healthy(message(c));
    }
    if child("True").next().is_some() {
        return healthy("Healthy");
    }
    unknown(rule.unknown)
}
