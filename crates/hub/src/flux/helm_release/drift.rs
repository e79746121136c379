//! HelmRelease drift detection (`spec.driftDetection`) as helm-controller does it with
//! fluxcd/pkg's `jsondiff`: each object of the release's manifest is server-side applied
//! in dry-run as `helm-controller` and compared with the live object — labels,
//! annotations and name for additions and changes only, the rest (metadata and status
//! aside) for every difference — or reported removed when it is gone. Objects labelled or
//! annotated `helm.toolkit.fluxcd.io/driftDetection: disabled` are excluded, and `ignore`
//! rules take JSON pointers out of both sides first. The pure comparison lives here; the
//! requests are in [`super::action`].

use flotilla_core::pointer::Pointer as _;
use serde_json::Value;

/// The label or annotation that turns drift detection off for one object.
pub const DISABLED_KEY: &str = "helm.toolkit.fluxcd.io/driftDetection";

/// How one object differs from the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// It is gone from the cluster.
    Removed,
    /// Its fields differ: JSON patch operations that would add, replace and remove.
    Changed {
        /// `add` operations.
        added: usize,
        /// `replace` operations.
        changed: usize,
        /// `remove` operations.
        removed: usize,
    },
}

/// One drifted object: `Kind/namespace/name` and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drifted {
    /// `Kind/namespace/name` (`Kind/name` when cluster-scoped), as Flux names it.
    pub name: String,
    /// How it differs.
    pub difference: Difference,
}

/// fluxcd/pkg `SummarizeDiffSet`: one line per drifted object.
pub fn summary(drifted: &[Drifted]) -> String {
    drifted
        .iter()
        .map(|d| match d.difference {
            Difference::Removed => format!("{} removed", d.name),
            Difference::Changed {
                added,
                changed,
                removed,
            } => format!(
                "{} changed ({added} additions, {changed} changes, {removed} removals)",
                d.name
            ),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether an object opts out of drift detection.
pub fn excluded(object: &Value) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        object
            .at(&format!("/metadata/{field}"))
            .and_then(|m| m.get(DISABLED_KEY))
            .and_then(Value::as_str)
            == Some("disabled")
    })
}

/// `Kind/namespace/name` of an object.
pub fn display_name(object: &Value) -> String {
    let s = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
    match s("/metadata/namespace") {
        "" => format!("{}/{}", s("/kind"), s("/metadata/name")),
        ns => format!("{}/{ns}/{}", s("/kind"), s("/metadata/name")),
    }
}

/// Removes the JSON pointers `paths` from `object` (missing ones are ignored).
pub fn remove_paths(object: &mut Value, paths: &[String]) {
    for path in paths {
        let Some((parent, last)) = path.rsplit_once('/') else {
            continue;
        };
        let last = last.replace("~1", "/").replace("~0", "~");
        match object.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.remove(&last);
            }
            Some(Value::Array(list)) => {
                if let Ok(index) = last.parse::<usize>()
                    && index < list.len()
                {
                    list.remove(index);
                }
            }
            _ => {}
        }
    }
}

/// How `desired` (the dry-run result) differs from `live`, counted as fluxcd/pkg counts
/// jsondiff's operations; `None` when they agree.
pub fn compare(live: &Value, desired: &Value) -> Option<Difference> {
    let mut counts = Counts::default();
    // Labels, annotations and name: what the release adds or changes only (another
    // manager's extra labels are not drift).
    let meta = |o: &Value| {
        let mut out = serde_json::Map::new();
        for field in ["name", "annotations", "labels"] {
            if let Some(v) = o.at(&format!("/metadata/{field}")) {
                out.insert(field.to_string(), v.clone());
            }
        }
        Value::Object(out)
    };
    let mut meta_counts = Counts::default();
    diff(&meta(live), &meta(desired), &mut meta_counts);
    counts.added += meta_counts.added;
    counts.changed += meta_counts.changed;
    let body = |o: &Value| {
        let mut o = o.clone();
        if let Some(map) = o.as_object_mut() {
            map.remove("metadata");
            map.remove("status");
        }
        o
    };
    diff(&body(live), &body(desired), &mut counts);
    (counts.added + counts.changed + counts.removed > 0).then_some(Difference::Changed {
        added: counts.added,
        changed: counts.changed,
        removed: counts.removed,
    })
}

#[derive(Default)]
struct Counts {
    added: usize,
    changed: usize,
    removed: usize,
}

/// wI2L/jsondiff's `Compare` without options: objects key by key, arrays index by index
/// (the longer side's tail added or removed), anything else replaced when unequal.
fn diff(from: &Value, to: &Value, counts: &mut Counts) {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                match b.get(key) {
                    Some(other) => diff(value, other, counts),
                    None => counts.removed += 1,
                }
            }
            counts.added += b.keys().filter(|k| !a.contains_key(*k)).count();
        }
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter().zip(b) {
                diff(x, y, counts);
            }
            if a.len() > b.len() {
                counts.removed += a.len() - b.len();
            } else {
                counts.added += b.len() - a.len();
            }
        }
        (a, b) if a != b => counts.changed += 1,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_counted_as_jsondiff_operations() {
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "extra": "theirs"},
                         "resourceVersion": "7"},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.27"}, {"name": "sidecar"}]}}},
            "status": {"readyReplicas": 5},
        });
        let desired = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "team": "a"},
                         "resourceVersion": "8"},
            "spec": {"replicas": 2, "paused": false, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1.27"}]}}},
            "status": {"readyReplicas": 2},
        });
        // A label added (another manager's label missing from the dry run is not a
        // removal), replicas replaced, `paused` added, the sidecar removed; status and
        // resourceVersion are not compared.
        assert_eq!(
            compare(&live, &desired),
            Some(Difference::Changed {
                added: 2,
                changed: 1,
                removed: 1
            })
        );
        assert_eq!(compare(&live, &live), None);
    }

    #[test]
    fn summaries_read_as_fluxs() {
        let drifted = [
            Drifted {
                name: "Deployment/web/podinfo".into(),
                difference: Difference::Changed {
                    added: 0,
                    changed: 1,
                    removed: 0,
                },
            },
            Drifted {
                name: "ConfigMap/web/settings".into(),
                difference: Difference::Removed,
            },
        ];
        assert_eq!(
            summary(&drifted),
            "Deployment/web/podinfo changed (0 additions, 1 changes, 0 removals)\nConfigMap/web/settings removed"
        );
    }

    #[test]
    fn ignore_paths_and_opt_outs() {
        let mut object = json!({"spec": {"replicas": 3, "list": [1, 2]},
                                "metadata": {"annotations": {"a/b": "x"}}});
        remove_paths(
            &mut object,
            &[
                "/spec/replicas".into(),
                "/spec/list/0".into(),
                "/metadata/annotations/a~1b".into(),
                "/nothing/here".into(),
            ],
        );
        assert_eq!(
            object,
            json!({"spec": {"list": [2]}, "metadata": {"annotations": {}}})
        );
        assert!(excluded(
            &json!({"metadata": {"labels": {DISABLED_KEY: "disabled"}}})
        ));
        assert!(!excluded(
            &json!({"metadata": {"labels": {DISABLED_KEY: "enabled"}}})
        ));
    }
}
