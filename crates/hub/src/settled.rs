//! Applications that need no apply: an app whose last sync succeeded with the same
//! inputs (commit, spec, render context, project), and whose objects nobody changed
//! since (the drift watches say so), is only looked at again — the health of what it
//! tracks is read — instead of
//! being applied again. A new commit, a new render, a changed spec, a drift event or
//! the end of the full-resync period ends the shortcut, so selfHeal and the periodic
//! backstop behave as before while the health rechecks of a settling fleet cost one
//! read per object instead of a list and an apply.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flotilla_sync::health::Health;
use flotilla_sync::{Inventory, InventoryEntry};
use serde_json::Value;

/// What each app last synced successfully, and when.
#[derive(Debug)]
pub struct Settled {
    synced: Mutex<HashMap<String, (u64, Instant)>>,
    /// After this long an app is applied in full again even if nothing seems changed.
    full_every: Duration,
}

impl Settled {
    /// An empty record; a full sync at least every `full_every`.
    pub fn new(full_every: Duration) -> Settled {
        Settled {
            synced: Mutex::default(),
            full_every,
        }
    }

    fn synced(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, Instant)>> {
        crate::lock(&self.synced)
    }

    /// A successful sync of `key` with inputs `fingerprint`.
    pub fn record(&self, key: &str, fingerprint: u64) {
        self.synced()
            .insert(key.to_string(), (fingerprint, Instant::now()));
    }

    /// Forgets `key` (a failed sync, a deleted app).
    pub fn forget(&self, key: &str) {
        self.synced().remove(key);
    }

    /// Whether `key` synced `fingerprint` successfully within the full-resync period.
    pub fn is_settled(&self, key: &str, fingerprint: u64) -> bool {
        self.freshness(key, fingerprint) == Freshness::Settled
    }

    /// What is known of `key`'s last successful sync against inputs `fingerprint`.
    pub fn freshness(&self, key: &str, fingerprint: u64) -> Freshness {
        match self.synced().get(key) {
            None => Freshness::Unknown,
            Some((f, _)) if *f != fingerprint => Freshness::Changed,
            Some((_, at)) if at.elapsed() < self.full_every => Freshness::Settled,
            Some(_) => Freshness::Expired,
        }
    }
}

/// An app's last successful sync, seen from its inputs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Synced with these inputs within the full-resync period.
    Settled,
    /// Synced with these inputs, longer ago: due for the periodic full apply.
    Expired,
    /// Synced with other inputs (a commit, the spec, the render context changed).
    Changed,
    /// Not synced since the controller started (or its last sync failed).
    Unknown,
}

/// Whether a sync about to run only re-applies what the app already runs: no drift, and
/// either the full-resync period ended with the inputs unchanged, or nothing is known
/// here but the app's status says this revision of this source synced. Argo CD would not
/// sync such an app, so nothing is recreated for `Force=true,Replace=true` then.
pub fn periodic(drifted: bool, freshness: Freshness, already_synced: bool) -> bool {
    !drifted
        && match freshness {
            Freshness::Settled | Freshness::Expired => true,
            Freshness::Unknown => already_synced,
            Freshness::Changed => false,
        }
}

/// The inputs of a sync: the commit, the app's spec (source, destination, sync policy
/// and options) and whatever else shapes the render or the permission check (`other`,
/// e.g. the render context and the project's resourceVersion). Rendering is a pure
/// function of these, so equal inputs mean an equal render.
pub fn fingerprint(commit: &str, spec: &Value, other: &impl std::fmt::Debug) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    commit.hash(&mut hasher);
    crate::controller::hash_of(&[Some(spec)]).hash(&mut hasher);
    format!("{other:?}").hash(&mut hasher);
    hasher.finish()
}

/// The health of every tracked object, from the watch-kept cache or else the cluster;
/// `None` when one is gone or cannot be read (then the caller syncs in full).
pub async fn live_health(
    cluster: &flotilla_sync::Cluster,
    inventory: &Inventory,
) -> Option<Vec<(InventoryEntry, Health)>> {
    let mut out = Vec::with_capacity(inventory.entries.len());
    for entry in &inventory.entries {
        let resolved = cluster
            .resolve(&entry.api_version, &entry.kind)
            .await
            .ok()?;
        let cached = cluster
            .live_cache()
            .and_then(|cache| cache.health(&resolved.resource, &entry.namespace, &entry.name));
        let health = match cached {
            Some(Some(found)) => found,
            // Not in the cache, or not labelled for it (an object Argo CD applied that the
            // app still tracks): read from the cluster; gone there too ends the shortcut.
            _ => {
                let namespace = (!entry.namespace.is_empty()).then_some(entry.namespace.as_str());
                let api = cluster.api(&resolved, namespace);
                let live = api.get_opt(&entry.name).await.ok()??;
                flotilla_sync::health::assess(&serde_json::to_value(&live).ok()?)
            }
        };
        out.push((entry.clone(), health));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_change_to_any_input_or_the_end_of_the_period_ends_the_shortcut() {
        let spec = json!({"source": {"repoURL": "r"}});
        let base = fingerprint("c1", &spec, &("ctx", Some("7")));
        assert_eq!(base, fingerprint("c1", &spec, &("ctx", Some("7"))));
        assert_ne!(base, fingerprint("c2", &spec, &("ctx", Some("7"))));
        assert_ne!(base, fingerprint("c1", &json!({}), &("ctx", Some("7"))));
        // A changed project (its resourceVersion) or render context.
        assert_ne!(base, fingerprint("c1", &spec, &("ctx", Some("8"))));
        assert_ne!(base, fingerprint("c1", &spec, &("other", Some("7"))));

        let settled = Settled::new(Duration::from_secs(60));
        assert!(!settled.is_settled("argocd/a", base));
        settled.record("argocd/a", base);
        assert!(settled.is_settled("argocd/a", base));
        assert!(!settled.is_settled("argocd/a", base + 1));
        settled.forget("argocd/a");
        assert!(!settled.is_settled("argocd/a", base));

        let expired = Settled::new(Duration::ZERO);
        expired.record("argocd/a", base);
        assert!(!expired.is_settled("argocd/a", base));
        assert_eq!(expired.freshness("argocd/a", base), Freshness::Expired);
        assert_eq!(expired.freshness("argocd/a", base + 1), Freshness::Changed);
        assert_eq!(expired.freshness("argocd/b", base), Freshness::Unknown);
    }

    #[test]
    fn only_new_inputs_or_drift_make_a_sync_more_than_periodic() {
        use Freshness::*;
        // The backstop and a restart on a synced revision re-apply; nothing is new.
        assert!(periodic(false, Expired, true));
        assert!(periodic(false, Unknown, true));
        // A new commit or spec, a revision never synced, drift: a sync as Argo CD's.
        assert!(!periodic(false, Changed, true));
        assert!(!periodic(false, Unknown, false));
        assert!(!periodic(true, Expired, true));
    }
}
