//! Crossplane: every kind of every `*.crossplane.io` and `*.upbound.io` group (the check
//! of Crossplane's Argo CD guide), the package manager's Provider, the v0.x stacks, and
//! the classic AWS provider's managed resources, which have checks of their own.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("pkg.crossplane.io", "Provider") => provider,
        ("stacks.crossplane.io", "ClusterStackInstall") => cluster_stack_install,
        ("cloudfront.aws.crossplane.io", "Distribution") => |o| aws(o, "distribution"),
        ("iam.aws.crossplane.io", "Policy") => |o| aws(o, "Policy"),
        ("iam.aws.crossplane.io", "Role") => |o| aws(o, "Role"),
        ("iam.aws.crossplane.io", "RolePolicyAttachment") => |o| aws(o, "RolePolicyAttachment"),
        ("rds.aws.crossplane.io", "DBCluster") => |o| aws(o, "DBCluster"),
        ("rds.aws.crossplane.io", "DBInstance") => |o| aws(o, "DBInstance"),
        // Upstream's spelling.
        ("route53.aws.crossplane.io", "ResourceRecordSet") => |o| aws(o, "resourcrecordset"),
        ("s3.aws.crossplane.io", "Bucket") => |o| aws(o, "Bucket"),
        _ => return None,
    })
}

/// The `_.crossplane.io/_` directory: every kind of a `*.crossplane.io` group.
pub(super) fn any_crossplane(obj: &Value) -> Verdict {
    guide(
        obj,
        &[
            "Composition",
            "CompositionRevision",
            "DeploymentRuntimeConfig",
            "ClusterProviderConfig",
            "ProviderConfig",
            "ProviderConfigUsage",
            "ControllerConfig",
        ],
        &[
            "Ready",
            "Healthy",
            "Offered",
            "Established",
            "ValidPipeline",
            "RevisionHealthy",
        ],
    )
}

/// The `_.upbound.io/_` directory: every kind of an `*.upbound.io` group.
pub(super) fn any_upbound(obj: &Value) -> Verdict {
    guide(
        obj,
        &[
            "ClusterProviderConfig",
            "ProviderConfig",
            "ProviderConfigUsage",
        ],
        &["Ready"],
    )
}

/// Crossplane's guide: no status at all (or an empty one, for the kinds that never have
/// one) is up to date; a provider config with users is in use; a false Synced or
/// LastAsyncOperation condition degrades; a true readiness condition is up to date unless
/// a later condition degrades.
fn guide(obj: &Value, statusless: &[&str], ready_types: &[&str]) -> Verdict {
    const PROVISIONING: &str = "Provisioning ...";
    const UP_TO_DATE: &str = "Resource is up-to-date.";
    let kind = text(obj, &["kind"]);
    let Some(status) = get(obj, &["status"]) else {
        return healthy(UP_TO_DATE);
    };
    let empty = match status {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => return script_error("status is not an object"),
    };
    if empty && kind.is_some_and(|k| statusless.contains(&k)) {
        return healthy(UP_TO_DATE);
    }
    if empty || !has_conditions(obj) {
        if matches!(kind, Some("ProviderConfig" | "ClusterProviderConfig"))
            && has(obj, &["status", "users"])
        {
            return healthy("Resource is in use.");
        }
        return progressing(PROVISIONING);
    }
    let mut verdict = progressing(PROVISIONING);
    for c in conditions(obj) {
        if cond_is(c, "LastAsyncOperation", "False") || cond_is(c, "Synced", "False") {
            return degraded(message(c));
        }
        if field(c, "type").is_some_and(|t| ready_types.contains(&t))
            && field(c, "status") == Some("True")
        {
            verdict = healthy(UP_TO_DATE);
        }
    }
    verdict
}

/// Installed and Healthy conditions, both true for Healthy; the message is their two
/// reasons (the last of each type).
fn provider(obj: &Value) -> Verdict {
    if !has_conditions(obj) {
        return progressing("Waiting for provider to be installed");
    }
    let (mut installed, mut healthy_) = (false, false);
    let (mut installed_why, mut healthy_why) = (None, None);
    for c in conditions(obj) {
        match field(c, "type") {
            Some("Installed") => {
                installed = field(c, "status") == Some("True");
                installed_why = Some(field(c, "reason"));
            }
            Some("Healthy") => {
                healthy_ = field(c, "status") == Some("True");
                healthy_why = Some(field(c, "reason"));
            }
            _ => {}
        }
    }
    let (Some(Some(installed_why)), Some(Some(healthy_why))) = (installed_why, healthy_why) else {
        return script_error("an Installed or Healthy condition with a reason is missing");
    };
    let message = format!("{installed_why} {healthy_why}");
    if installed && healthy_ {
        healthy(message)
    } else {
        degraded(message)
    }
}

/// The Ready condition under `status.conditionedStatus`; its reason is the message.
fn cluster_stack_install(obj: &Value) -> Verdict {
    let mut message = Some("Waiting for stack to be installed");
    for c in items(obj, &["status", "conditionedStatus", "conditions"]) {
        if field(c, "type") == Some("Ready") {
            message = field(c, "reason");
            if field(c, "status") == Some("True") {
                return healthy(message.unwrap_or(""));
            }
        }
    }
    progressing(message.unwrap_or(""))
}

/// The classic AWS provider: Ready and Synced both true is Healthy (Ready's reason); a
/// paused reconcile is Suspended; synced but not ready is on its way; anything else is
/// Degraded with the reconcile error, if any.
fn aws(obj: &Value, what: &str) -> Verdict {
    if !has_conditions(obj) {
        return progressing(format!("Waiting for {what} to be created"));
    }
    let (mut ready, mut synced, mut paused) = (false, false, false);
    let (mut ready_why, mut synced_why, mut paused_why) = (None, None, None);
    for c in conditions(obj) {
        match field(c, "type") {
            Some("Ready") => {
                ready = field(c, "status") == Some("True");
                ready_why = field(c, "reason");
            }
            Some("Synced") => {
                synced = field(c, "status") == Some("True");
                match field(c, "reason") {
                    Some("ReconcileError") => synced_why = field(c, "message"),
                    Some("ReconcilePaused") => {
                        paused = true;
                        paused_why = field(c, "reason");
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if ready && synced {
        healthy(ready_why.unwrap_or(""))
    } else if !synced && paused {
        suspended(paused_why.unwrap_or(""))
    } else if !ready && synced && !paused {
        progressing(format!("Waiting for {what} to be available"))
    } else {
        degraded(synced_why.unwrap_or(""))
    }
}
