//! Flux's kinds (`*.toolkit.fluxcd.io`) as Argo CD judges them when an Argo CD app
//! deploys them: suspension first, then a count of the conditions that say "working" and
//! "done". The message is the Ready condition's reason.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("helm.toolkit.fluxcd.io", "HelmRelease") => |o| counted(o, &HELM_RELEASE),
        ("image.toolkit.fluxcd.io", "ImagePolicy") => |o| counted(o, &IMAGE_POLICY),
        ("image.toolkit.fluxcd.io", "ImageRepository") => |o| counted(o, &IMAGE_REPOSITORY),
        ("image.toolkit.fluxcd.io", "ImageUpdateAutomation")
        | ("kustomize.toolkit.fluxcd.io", "Kustomization") => |o| counted(o, &RECONCILER),
        ("notification.toolkit.fluxcd.io", "Receiver") => |o| counted(o, &RECEIVER),
        (
            "source.toolkit.fluxcd.io",
            "Bucket" | "GitRepository" | "HelmChart" | "OCIRepository",
        ) => |o| counted(o, &SOURCE),
        ("source.toolkit.fluxcd.io", "HelmRepository") => helm_repository,
        _ => return None,
    })
}

/// How one kind's script counts its conditions.
struct Counting {
    /// Whether `spec.suspend: true` makes it Suspended first.
    suspend: bool,
    /// The Ready status that counts as working (besides "True", which counts as done).
    ready_working: &'static str,
    /// The reasons for which a true Reconciling condition counts as working; empty: any.
    reconciling_reasons: &'static [&'static str],
    /// Other condition types that count as done when true.
    done_types: &'static [&'static str],
    /// Whether a true ArtifactOutdated condition adds its reason to the message.
    artifact_outdated: bool,
    /// How many done conditions make it Healthy.
    healthy_at: u32,
    /// Whether two working conditions mean Degraded rather than Progressing.
    working_is_failing: bool,
}

const HELM_RELEASE: Counting = Counting {
    suspend: true,
    ready_working: "Unknown",
    reconciling_reasons: &[],
    done_types: &["Released", "TestSuccess"],
    artifact_outdated: false,
    healthy_at: 2,
    working_is_failing: false,
};

const IMAGE_POLICY: Counting = Counting {
    suspend: false,
    ready_working: "False",
    reconciling_reasons: &["NewGeneration", "AccessingRepository", "ApplyingPolicy"],
    done_types: &[],
    artifact_outdated: false,
    healthy_at: 1,
    working_is_failing: false,
};

const IMAGE_REPOSITORY: Counting = Counting {
    suspend: true,
    ready_working: "False",
    reconciling_reasons: &["NewGeneration", "Scanning"],
    done_types: &[],
    artifact_outdated: false,
    healthy_at: 1,
    working_is_failing: false,
};

const RECONCILER: Counting = Counting {
    suspend: true,
    ready_working: "Unknown",
    reconciling_reasons: &[],
    done_types: &[],
    artifact_outdated: false,
    healthy_at: 1,
    working_is_failing: false,
};

const RECEIVER: Counting = Counting {
    suspend: true,
    ready_working: "False",
    reconciling_reasons: &[],
    done_types: &[],
    artifact_outdated: false,
    healthy_at: 1,
    working_is_failing: true,
};

const SOURCE: Counting = Counting {
    suspend: true,
    ready_working: "Unknown",
    reconciling_reasons: &[],
    done_types: &["ArtifactInStorage"],
    artifact_outdated: true,
    healthy_at: 2,
    working_is_failing: false,
};

/// `<Kind> is suspended`.
fn suspension(obj: &Value) -> Verdict {
    let kind = text(obj, &["kind"]).unwrap_or_default();
    is_true(obj, &["spec", "suspend"])
        .then(|| suspended(format!("{kind} is suspended")))
        .flatten()
}

fn counted(obj: &Value, rule: &Counting) -> Verdict {
    if rule.suspend
        && let Some(v) = suspension(obj)
    {
        return Some(v);
    }
    if !has_conditions(obj) {
        return progressing("Status unknown");
    }
    let (mut working, mut done) = (0, 0);
    // `nil` once a Ready condition without a reason has been read.
    let mut msg = Some(String::new());
    for c in conditions(obj) {
        let ty = field(c, "type");
        let status = field(c, "status");
        if ty == Some("Ready") {
            if status == Some("True") {
                done += 1;
            } else if status == Some(rule.ready_working) {
                working += 1;
            }
            msg = field(c, "reason").map(str::to_string);
        } else if ty == Some("Reconciling") && status == Some("True") {
            let reason = field(c, "reason").unwrap_or("\0");
            if rule.reconciling_reasons.is_empty() || rule.reconciling_reasons.contains(&reason) {
                working += 1;
            }
        } else if rule.artifact_outdated && ty == Some("ArtifactOutdated") {
            if status == Some("True") {
                match (msg, field(c, "reason")) {
                    (Some(m), Some(r)) => msg = Some(format!("{m} {r}")),
                    _ => {
                        return script_error(
                            "ArtifactOutdated or Ready condition without a reason",
                        );
                    }
                }
            }
        } else if ty.is_some_and(|t| rule.done_types.contains(&t)) && status == Some("True") {
            done += 1;
        }
    }
    let msg = msg.unwrap_or_default();
    if working == 2 {
        if rule.working_is_failing {
            degraded(msg)
        } else {
            progressing(msg)
        }
    } else if done == rule.healthy_at {
        healthy(msg)
    } else {
        degraded(msg)
    }
}

/// An `oci` repository keeps no status, so it is Healthy as it is.
fn helm_repository(obj: &Value) -> Verdict {
    if let Some(v) = suspension(obj) {
        return Some(v);
    }
    if is(obj, &["spec", "type"], "oci") {
        return healthy(
            "Helm repositories of type 'oci' do not contain any information in the status.",
        );
    }
    counted(
        obj,
        &Counting {
            suspend: false,
            ..SOURCE
        },
    )
}
