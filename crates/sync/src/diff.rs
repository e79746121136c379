//! Normalised diffs: server-populated fields dropped, Secret values masked, printed as a
//! unified diff like `kubectl diff`.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;
use similar::TextDiff;

use crate::tracking::ObjectKey;

/// Metadata the server writes and a diff must not show.
const SERVER_METADATA: [&str; 7] = [
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionGracePeriodSeconds",
];

/// `obj` without status and the metadata the server maintains.
pub fn normalize(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        m.remove("status");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in SERVER_METADATA {
                meta.remove(f);
            }
            for f in ["annotations", "labels"] {
                if meta
                    .get(f)
                    .and_then(Value::as_object)
                    .is_some_and(|a| a.is_empty())
                {
                    meta.remove(f);
                }
            }
        }
    }
    out
}

pub use flotilla_core::secret::is_secret;

/// Replaces Secret values by runs of `+` (as Argo CD does): equal values get equal
/// masks, different values different lengths, so a diff still shows *which* keys changed
/// but never their values. The last-applied annotation, which holds the values too, is
/// masked as well. Objects that are not Secrets are left alone.
pub fn mask_secrets(objects: &mut [Option<&mut Value>]) {
    if !objects.iter().flatten().any(|o| is_secret(o)) {
        return;
    }
    for field in ["data", "stringData"] {
        let keys: BTreeSet<String> = objects
            .iter()
            .flatten()
            .filter_map(|o| o.get(field).and_then(Value::as_object))
            .flat_map(|m| m.keys().cloned())
            .collect();
        for k in keys {
            let mut masks: HashMap<String, String> = HashMap::new();
            let mut next = "++++++++".to_string();
            for obj in objects.iter_mut().flatten() {
                let Some(v) = obj
                    .get_mut(field)
                    .and_then(Value::as_object_mut)
                    .and_then(|m| m.get_mut(&k))
                else {
                    continue;
                };
                let text = v.to_string();
                let mask = masks.entry(text).or_insert_with(|| {
                    let m = next.clone();
                    next.push_str("++++");
                    m
                });
                *v = Value::String(mask.clone());
            }
        }
    }
    for obj in objects.iter_mut().flatten() {
        if let Some(a) = obj
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
            && let Some(v) = a.get_mut(flotilla_ssa::LAST_APPLIED_ANNOTATION)
        {
            *v = Value::String("++++++++".into());
        }
    }
}

/// The file name `kubectl diff` uses for an object: `group.version.Kind.namespace.name`.
pub fn diff_name(obj: &Value, key: &ObjectKey) -> String {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let gv = api_version.replace('/', ".");
    let mut parts = vec![gv, key.kind.clone()];
    if !key.namespace.is_empty() {
        parts.push(key.namespace.clone());
    }
    parts.push(key.name.clone());
    parts.join(".")
}

/// `value` as block YAML (JSON when it cannot be written as YAML).
pub fn to_yaml(value: &Value) -> String {
    serde_saphyr::to_string(value)
        .unwrap_or_else(|_| serde_json::to_string_pretty(value).unwrap_or_default() + "\n")
}

/// A unified diff (3 lines of context) from `live` to `desired`, both already normalised
/// and masked; `None` on either side is an absent object. Empty when equal.
pub fn unified(name: &str, live: Option<&Value>, desired: Option<&Value>) -> String {
    // Keys sorted on both sides (as `kubectl diff` prints objects): the live copy and a
    // dry run's answer may order them differently, which is no difference.
    let yaml = |v: Option<&Value>| v.map(|v| to_yaml(&sorted(v))).unwrap_or_default();
    let (a, b) = (yaml(live), yaml(desired));
    if a == b {
        return String::new();
    }
    let diff = TextDiff::from_lines(&a, &b);
    format!(
        "diff -u -N live/{name} desired/{name}\n{}",
        diff.unified_diff()
            .context_radius(3)
            .header(&format!("live/{name}"), &format!("desired/{name}"))
    )
}

/// `value` with every map's keys in sorted order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_order_of_keys_is_no_difference() {
        let live = json!({"metadata": {"name": "a", "namespace": "n", "labels": {"x": "1"}}});
        let desired = json!({"metadata": {"labels": {"x": "1"}, "namespace": "n", "name": "a"}});
        assert_eq!(unified("x", Some(&live), Some(&desired)), "");
        let changed = json!({"metadata": {"labels": {"x": "2"}, "namespace": "n", "name": "a"}});
        assert!(!unified("x", Some(&live), Some(&changed)).is_empty());
    }

    #[test]
    fn server_fields_are_dropped() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "5", "generation": 1,
                "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": [], "annotations": {}},
            "data": {"k": "v"}, "status": {"x": 1}});
        assert_eq!(
            normalize(&live),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn secrets_are_masked_but_changes_stay_visible() {
        let mut live = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="}});
        let mut desired = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"password": "c2VjcmV0", "user": "YWRtaW4="}});
        mask_secrets(&mut [Some(&mut live), Some(&mut desired)]);
        let text = format!("{live}{desired}");
        assert!(
            !text.contains("aHVudGVyMg") && !text.contains("c2VjcmV0") && !text.contains("YWRtaW4")
        );
        assert_eq!(live["data"]["user"], desired["data"]["user"]);
        assert_ne!(live["data"]["password"], desired["data"]["password"]);
        let d = unified("v1.Secret.s", Some(&live), Some(&desired));
        assert!(d.contains("-  password: ++++++++\n"), "{d}");
        assert!(d.contains("+  password: ++++++++++++\n"), "{d}");
    }

    #[test]
    fn unified_diff_has_kubectl_like_headers() {
        let a = json!({"data": {"k": "1"}});
        let b = json!({"data": {"k": "2"}});
        let d = unified("v1.ConfigMap.default.a", Some(&a), Some(&b));
        assert!(
            d.starts_with(
                "diff -u -N live/v1.ConfigMap.default.a desired/v1.ConfigMap.default.a\n--- live/"
            ),
            "{d}"
        );
        assert!(d.contains("-  k: \"1\"\n+  k: \"2\"\n"), "{d}");
        assert_eq!(unified("x", Some(&a), Some(&a)), "");
    }
}
