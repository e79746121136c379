//! cert-manager (`cert-manager.io`, and the pre-1.0 `certmanager.k8s.io`): the Ready
//! condition, with a Certificate being issued reported as Progressing first.

use serde_json::Value;

use super::Check;
use super::support::*;

pub(super) fn check(group: &str, kind: &str) -> Option<Check> {
    Some(match (group, kind) {
        ("cert-manager.io", "Certificate") => certificate,
        ("cert-manager.io", "ClusterIssuer") => {
            |o| true_false_or(o, "Ready", "Initializing ClusterIssuer")
        }
        ("cert-manager.io" | "certmanager.k8s.io", "Issuer") => {
            |o| true_false_or(o, "Ready", "Initializing issuer")
        }
        ("certmanager.k8s.io", "Certificate") => {
            |o| true_false_or(o, "Ready", "Waiting for certificate")
        }
        _ => return None,
    })
}

/// Issuing wins over Ready, whatever their order.
fn certificate(obj: &Value) -> Verdict {
    if let Some(c) = find_condition(obj, "Issuing", "True") {
        return progressing(message(c));
    }
    true_false_or(obj, "Ready", "Waiting for certificate")
}
