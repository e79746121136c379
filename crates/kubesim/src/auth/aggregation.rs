//! The clusterrole-aggregation controller: a ClusterRole with an `aggregationRule` gets the
//! rules of every ClusterRole its selectors pick, written into the object, as kube-
//! controller-manager keeps them. (Authorization does not wait for it: [`super::rbac`]
//! resolves aggregation itself, so a new `aggregate-to-edit` role counts at once.)

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::rbac::{GROUP, Policy, Rule};
use crate::cluster::{Cluster, WriteOptions};
use crate::meta::Part;
use crate::resources::StorageKey;

/// The field manager kube-controller-manager's aggregation controller writes as.
pub const MANAGER: &str = "clusterrole-aggregation-controller";

/// Keep the aggregated ClusterRoles of `cluster` filled in until the cluster goes away.
pub async fn run(cluster: Arc<Cluster>) {
    let mut events = cluster.subscribe();
    let roles = StorageKey::new(GROUP, "clusterroles");
    sync(&cluster);
    loop {
        match events.recv().await {
            Ok(e) if e.resource == roles => sync(&cluster),
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => sync(&cluster),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Rewrite every aggregated ClusterRole whose stored rules differ from what its selectors
/// gather. Writing one changes ClusterRoles again; the next pass finds nothing to do, since
/// an unchanged write is a no-op.
fn sync(cluster: &Cluster) {
    let Some(rt) = cluster.registry().lookup(GROUP, "v1", "clusterroles") else {
        return;
    };
    let (policy, aggregated) = cluster.inspect(|s| {
        let names: Vec<(String, Value)> = s
            .range(&StorageKey::new(GROUP, "clusterroles"), None, None)
            .filter(|(_, o)| o.get("aggregationRule").is_some_and(|a| !a.is_null()))
            .map(|(k, o)| (k.1.clone(), o.get("rules").cloned().unwrap_or(json!([]))))
            .collect();
        (Policy::from_state(s), names)
    });
    for (name, stored) in aggregated {
        let desired: Vec<Value> = policy
            .cluster_role_rules(&name)
            .unwrap_or_default()
            .iter()
            .map(Rule::to_json)
            .collect();
        if stored == json!(desired) {
            continue;
        }
        let result = cluster.modify(
            &rt,
            None,
            &name,
            Part::Main,
            // As kube-controller-manager writes them: its manager owns the rules.
            WriteOptions::by(MANAGER),
            |current| {
                let mut next = current.clone();
                next["rules"] = json!(desired);
                Ok(next)
            },
        );
        if let Err(e) = result
            && e.code != 404
        {
            tracing::warn!("aggregating ClusterRole {name}: {}", e.message);
        }
    }
}
