//! The health checks Argo CD ships for custom resources (argo-cd
//! `resource_customizations/<group>/<kind>/health.lua`), ported to Rust from what each
//! script decides: the fields it reads, the order it reads them in, and the messages it
//! returns, word for word.
//!
//! A kind's check is found as upstream's `GetHealthScript` finds a bundled script: the
//! directory of its exact group and kind first, else the first wildcard directory, in
//! sorted order, whose name read with `_` as `*` matches `<group>/<kind>` (a `*` never
//! crosses the `/`): `_.crossplane.io/_` covers every kind of every `*.crossplane.io`
//! group that has no directory of its own.
//!
//! Each port is a small function from the object to a `Verdict`: `None` where the script
//! returns nil or an empty table. The ports read the object as Lua sees it after Argo CD's
//! JSON round trip (see `support.rs`).

mod apache;
mod argoproj;
mod autoscaling;
mod cert_manager;
mod cloud;
mod cluster_api;
mod coreos;
mod crossplane;
mod databases;
mod elastic;
mod flux;
mod humio;
mod kafka;
mod keptn;
mod knative;
mod kruise;
mod kubernetes;
mod kubevirt;
mod mesh;
mod netapp;
mod numaproj;
mod observability;
mod openshift;
mod other;
mod policy;
mod promoter;
mod rabbitmq;
mod secrets;
mod solo;
mod storage;
mod support;
mod threescale;

use serde_json::Value;

use super::{Health, HealthStatus, group_kind};
use support::Verdict;

/// One kind's check.
type Check = fn(&Value) -> Verdict;

/// Each family's directory lookup by exact group and kind.
const FAMILIES: &[fn(&str, &str) -> Option<Check>] = &[
    apache::check,
    argoproj::check,
    autoscaling::check,
    cert_manager::check,
    cloud::check,
    cluster_api::check,
    coreos::check,
    crossplane::check,
    databases::check,
    elastic::check,
    flux::check,
    humio::check,
    kafka::check,
    keptn::check,
    knative::check,
    kruise::check,
    kubernetes::check,
    kubevirt::check,
    mesh::check,
    netapp::check,
    numaproj::check,
    observability::check,
    openshift::check,
    other::check,
    policy::check,
    promoter::check,
    rabbitmq::check,
    secrets::check,
    solo::check,
    storage::check,
    threescale::check,
];

/// The wildcard directories, in upstream's sorted order: a group pattern (`*` for any run
/// of characters) and the check; every one of them covers all kinds of its groups.
const WILDCARDS: &[(&str, Check)] = &[
    ("*.cnrm.cloud.google.com", cloud::config_connector),
    ("*.crossplane.io", crossplane::any_crossplane),
    ("*.services.k8s.aws", cloud::aws_controllers),
    ("*.upbound.io", crossplane::any_upbound),
    (
        "grafana-org-operator.kubitus-project.gitlab.io",
        observability::grafana_org,
    ),
    ("microgateway.airlock.com", mesh::airlock),
    (
        "operator.victoriametrics.com",
        observability::victoria_metrics,
    ),
];

/// The check Argo CD bundles for `group`/`kind`, if any.
fn check_for(group: &str, kind: &str) -> Option<Check> {
    FAMILIES
        .iter()
        .find_map(|family| family(group, kind))
        .or_else(|| {
            WILDCARDS
                .iter()
                .find(|(pattern, _)| group_matches(pattern, group))
                .map(|(_, check)| *check)
        })
}

/// A directory's group pattern against a group: `*` matches any run of characters (a
/// group has no `/` to stop it).
fn group_matches(pattern: &str, group: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == group,
        Some((prefix, rest)) => {
            group.len() >= prefix.len() + rest.len()
                && group.starts_with(prefix)
                && group.ends_with(rest)
        }
    }
}

/// The object's health by the check Argo CD bundles for its kind, as upstream's harness
/// runs the script (no deletion rule): `None` when there is none. A check that gives no
/// status (the script returns nil or an empty table) is reported as Healthy with no
/// message, as for an `argocd-cm` script: Argo CD shows no health for the object and
/// leaves it out of the app's, and does not fall back to its built-in checks.
pub fn bundled_health(obj: &Value) -> Option<Health> {
    let (group, _, kind) = group_kind(obj);
    let check = check_for(group, kind)?;
    Some(check(obj).unwrap_or_else(|| Health::new(HealthStatus::Healthy, "")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn health(api_version: &str, kind: &str) -> Option<Health> {
        bundled_health(
            &json!({"apiVersion": api_version, "kind": kind, "metadata": {}, "spec": {}}),
        )
    }

    #[test]
    fn wildcard_directories_cover_their_groups_and_exact_directories_win() {
        assert!(group_matches("*.crossplane.io", "ec2.aws.crossplane.io"));
        assert!(!group_matches("*.crossplane.io", "crossplane.io"));
        let crossplane = Health::new(HealthStatus::Healthy, "Resource is up-to-date.");
        assert_eq!(
            health("ec2.aws.crossplane.io/v1beta1", "VPC"),
            Some(crossplane.clone())
        );
        assert_eq!(
            health("s3.aws.crossplane.io/v1beta1", "Bucket"),
            Some(Health::new(
                HealthStatus::Progressing,
                "Waiting for Bucket to be created"
            )),
            "s3.aws.crossplane.io/Bucket has a directory of its own"
        );
        assert_eq!(health("crossplane.io/v1", "Thing"), None);
        assert_eq!(
            health("v1", "Bucket"),
            None,
            "the core group has no wildcard"
        );
    }
}
