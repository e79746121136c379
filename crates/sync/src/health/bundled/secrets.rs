//! Secret operators: External Secrets (`external-secrets.io`, and the older
//! `kubernetes-client.io` one), Bitnami's SealedSecret, 1Password's OnePasswordItem.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("external-secrets.io", "ClusterExternalSecret") => cluster_external_secret,
        ("external-secrets.io", "ClusterSecretStore") => {
            |o| true_false_or(o, "Ready", "Waiting for ClusterSecretStore")
        }
        ("external-secrets.io", "ExternalSecret") => {
            |o| true_false_or(o, "Ready", "Waiting for ExternalSecret")
        }
        ("external-secrets.io", "PushSecret") => {
            |o| true_false_or(o, "Ready", "Waiting for PushSecret")
        }
        ("external-secrets.io", "SecretStore") => {
            |o| true_false_or(o, "Ready", "Waiting for SecretStore")
        }
        ("bitnami.com", "SealedSecret") => {
            |o| true_false_or(o, "Synced", "Waiting for Sealed Secret to be decrypted")
        }
        ("kubernetes-client.io", "ExternalSecret") => kubernetes_client_external_secret,
        ("onepassword.com", "OnePasswordItem") => {
            |o| true_false_or(o, "Ready", "Waiting for controller to report status")
        }
        _ => return None,
    })
}

/// Only the last condition counts: the controller appends new ones.
fn cluster_external_secret(obj: &Value) -> Verdict {
    if has_conditions(obj) {
        let Some(last) = conditions(obj).last() else {
            return script_error("status.conditions is empty");
        };
        if cond_is(last, "Ready", "True") {
            return healthy(message(last));
        }
        if cond_is(last, "PartiallyReady", "True") || cond_is(last, "NotReady", "True") {
            return degraded(message(last));
        }
    }
    progressing("Waiting for ClusterExternalSecret")
}

/// `status.status`: SUCCESS, or an `ERROR, …` text shown without its `ERROR, ` prefixes.
fn kubernetes_client_external_secret(obj: &Value) -> Verdict {
    const WAITING: &str = "Waiting for ExternalSecret.";
    if !has(obj, &["status"]) {
        return progressing(WAITING);
    }
    match text(obj, &["status", "status"]) {
        Some("SUCCESS") => healthy("Fetched ExternalSecret."),
        Some(s) if s.starts_with("ERROR") => degraded(s.replace("ERROR, ", "")),
        Some(_) => progressing(WAITING),
        None => script_error("status.status is not a string"),
    }
}
