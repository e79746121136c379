//! Output order: kustomize's legacy order (the default) or the order of accumulation
//! (`sortOptions.order: fifo`).

use std::cmp::Ordering;
use std::collections::HashMap;

use super::resource::{Gvk, ResId, Resource};

/// Kinds that go first, in this order (kustomize's `orderFirst`).
const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// Kinds that go last, in this order.
const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Sorts in legacy order: by kind rank, then group/version/kind, then namespace and name.
pub(crate) fn legacy(
    resources: &mut Vec<Resource>,
    first: Option<&[String]>,
    last: Option<&[String]>,
) {
    let mut ranks: HashMap<&str, i64> = HashMap::new();
    match first {
        Some(f) => {
            for (i, k) in f.iter().enumerate() {
                ranks.insert(k, i as i64 - f.len() as i64);
            }
        }
        None => {
            for (i, k) in ORDER_FIRST.iter().enumerate() {
                ranks.insert(k, i as i64 - ORDER_FIRST.len() as i64);
            }
        }
    }
    match last {
        Some(l) => {
            for (i, k) in l.iter().enumerate() {
                ranks.insert(k, 1 + i as i64);
            }
        }
        None => {
            for (i, k) in ORDER_LAST.iter().enumerate() {
                ranks.insert(k, 1 + i as i64);
            }
        }
    }
    // Sort keys once per resource, and move the resources rather than clone them.
    let mut keyed: Vec<(Key, Resource)> = std::mem::take(resources)
        .into_iter()
        .map(|r| (Key::new(r.cur_id(), &ranks), r))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| compare(a, b));
    resources.extend(keyed.into_iter().map(|(_, r)| r));
}

/// What the legacy order compares, computed once.
struct Key {
    id: ResId,
    rank: i64,
    gvk: String,
    id_text: String,
}

impl Key {
    fn new(id: ResId, ranks: &HashMap<&str, i64>) -> Key {
        Key {
            rank: ranks.get(id.gvk.kind.as_str()).copied().unwrap_or(0),
            gvk: gvk_key(&id.gvk),
            id_text: id_key(&id),
            id,
        }
    }
}

fn compare(a: &Key, b: &Key) -> Ordering {
    if a.id.gvk != b.id.gvk {
        if a.rank != b.rank {
            return a.rank.cmp(&b.rank);
        }
        // Upstream's quirk: a core-group Namespace sorts after other Namespace groups.
        if a.id.gvk.kind == "Namespace"
            && b.id.gvk.kind == "Namespace"
            && (a.id.gvk.group.is_empty() || b.id.gvk.group.is_empty())
        {
            return b.gvk.cmp(&a.gvk);
        }
        return a.gvk.cmp(&b.gvk);
    }
    a.id_text.cmp(&b.id_text)
}

/// kustomize's `Gvk.IsLessThan` with the default kind ranks: the order field specs are
/// kept in, which decides which of two overlapping specs a merge keeps.
pub(crate) fn gvk_order(a: &Gvk, b: &Gvk) -> Ordering {
    let rank = |g: &Gvk| {
        let kind = g.kind.as_str();
        if let Some(i) = ORDER_FIRST.iter().position(|k| *k == kind) {
            i as i64 - ORDER_FIRST.len() as i64
        } else if let Some(i) = ORDER_LAST.iter().position(|k| *k == kind) {
            1 + i as i64
        } else {
            0
        }
    };
    rank(a)
        .cmp(&rank(b))
        .then_with(|| gvk_key(a).cmp(&gvk_key(b)))
}

fn or<'a>(s: &'a str, d: &'a str) -> &'a str {
    if s.is_empty() { d } else { s }
}

fn gvk_key(g: &Gvk) -> String {
    format!(
        "{}_{}_{}",
        or(&g.group, "~G"),
        or(&g.version, "~V"),
        or(&g.kind, "~K")
    )
}

fn id_key(id: &ResId) -> String {
    format!(
        "{}|{}|{}",
        id.gvk,
        or(&id.namespace, "~X"),
        or(&id.name, "~N")
    )
}
