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
    resources: &mut [Resource],
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
    let mut keyed: Vec<(ResId, Resource)> =
        resources.iter().map(|r| (r.cur_id(), r.clone())).collect();
    keyed.sort_by(|(a, _), (b, _)| compare(a, b, &ranks));
    for (slot, (_, r)) in resources.iter_mut().zip(keyed) {
        *slot = r;
    }
}

fn compare(a: &ResId, b: &ResId, ranks: &HashMap<&str, i64>) -> Ordering {
    if a.gvk != b.gvk {
        let ra = ranks.get(a.gvk.kind.as_str()).copied().unwrap_or(0);
        let rb = ranks.get(b.gvk.kind.as_str()).copied().unwrap_or(0);
        if ra != rb {
            return ra.cmp(&rb);
        }
        let (sa, sb) = (gvk_key(&a.gvk), gvk_key(&b.gvk));
        // Upstream's quirk: a core-group Namespace sorts after other Namespace groups.
        if a.gvk.kind == "Namespace"
            && b.gvk.kind == "Namespace"
            && (a.gvk.group.is_empty() || b.gvk.group.is_empty())
        {
            return sb.cmp(&sa);
        }
        return sa.cmp(&sb);
    }
    id_key(a).cmp(&id_key(b))
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
