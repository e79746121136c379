//! The built-in schema definitions, and how to find and gather them.
//!
//! Definitions are kept in their Swagger 2.0 form (`$ref: "#/definitions/<name>"`),
//! the form they are embedded in; the v3 and v2 renderers convert from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// Where Swagger 2.0 references point.
pub(super) const V2_REF_PREFIX: &str = "#/definitions/";

/// The Kubernetes swagger definitions: v1.21.2's plus `flotilla-schema`'s v1.33
/// supplement (fields added since, and `autoscaling/v2` in its own shape), the same
/// merged definitions the schema catalog validates and patches with.
///
/// This is the single seam to the embedded data. Since the supplement defines every
/// `io.k8s.api.autoscaling.v2.*` name, the v2beta2 stand-ins below no longer add anything.
fn builtin_definitions() -> &'static Map<String, Value> {
    flotilla_schema::builtin_definitions_json()
}

/// Versions we serve whose definitions the embedded data lacks, and the version
/// whose definitions stand in for them (same shape, different name).
const STAND_INS: &[(&str, &str, &str)] = &[
    // autoscaling/v2 went GA in 1.23; v2beta2 is field-for-field its predecessor.
    (
        "io.k8s.api.autoscaling.v2beta2.",
        "io.k8s.api.autoscaling.v2.",
        "v2",
    ),
];

/// The built-in definitions plus the stand-ins, by name.
fn definitions() -> &'static Map<String, Value> {
    static ALL: OnceLock<Map<String, Value>> = OnceLock::new();
    ALL.get_or_init(|| {
        let builtin = builtin_definitions();
        let mut all = builtin.clone();
        for (from, to, version) in STAND_INS {
            for (name, schema) in builtin {
                let Some(rest) = name.strip_prefix(from) else {
                    continue;
                };
                let target = format!("{to}{rest}");
                if builtin.contains_key(&target) {
                    continue;
                }
                let mut renamed = schema.clone();
                let (old_ref, new_ref) = (
                    format!("{V2_REF_PREFIX}{from}"),
                    format!("{V2_REF_PREFIX}{to}"),
                );
                visit_schemas_mut(&mut renamed, &mut |m| {
                    if let Some(Value::String(r)) = m.get_mut("$ref")
                        && let Some(rest) = r.strip_prefix(&old_ref)
                    {
                        *r = format!("{new_ref}{rest}");
                    }
                });
                if let Some(Value::Array(gvks)) = renamed.get_mut("x-kubernetes-group-version-kind")
                {
                    for gvk in gvks {
                        gvk["version"] = json!(version);
                    }
                }
                all.insert(target, renamed);
            }
        }
        all
    })
}

/// A built-in definition by name.
pub(super) fn definition(name: &str) -> Option<&'static Value> {
    definitions().get(name)
}

/// The definition name of a built-in kind, found through `x-kubernetes-group-version-kind`.
pub(super) fn name_for_kind(group: &str, version: &str, kind: &str) -> Option<&'static str> {
    static INDEX: OnceLock<HashMap<(String, String, String), &'static str>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut index = HashMap::new();
        for (name, schema) in definitions() {
            for gvk in gvks(schema) {
                // Meta types (DeleteOptions, WatchEvent…) claim every group; a kind's
                // own definition is the one whose name ends with it.
                if name.ends_with(&format!(".{}", gvk.2)) {
                    index.entry(gvk).or_insert(name.as_str());
                }
            }
        }
        index
    });
    index
        .get(&(group.to_string(), version.to_string(), kind.to_string()))
        .copied()
}

fn gvks(schema: &Value) -> Vec<(String, String, String)> {
    schema
        .get("x-kubernetes-group-version-kind")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|g| {
            let s = |k: &str| g.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (s("group"), s("version"), s("kind"))
        })
        .collect()
}

/// Keywords (besides `properties`) whose value is a schema or a list of schemas.
/// `additionalProperties` may also be a bool, which holds no schema.
const SUBSCHEMA_KEYS: [&str; 6] = [
    "items",
    "additionalProperties",
    "not",
    "allOf",
    "oneOf",
    "anyOf",
];

/// Calls `f` on every schema nested in `schema` (itself included), following only
/// schema positions, so a property *named* `$ref` or `items` (as in
/// `JSONSchemaProps`) is never mistaken for a keyword.
pub(super) fn visit_schemas_mut(schema: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    let Value::Object(map) = schema else { return };
    f(map);
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for p in props.values_mut() {
            visit_schemas_mut(p, f);
        }
    }
    for key in SUBSCHEMA_KEYS {
        match map.get_mut(key) {
            Some(Value::Array(items)) => items.iter_mut().for_each(|s| visit_schemas_mut(s, f)),
            Some(s @ Value::Object(_)) => visit_schemas_mut(s, f),
            _ => {}
        }
    }
}

/// Names of the definitions `schema` references, directly or through nested schemas.
fn references(schema: &Value, out: &mut Vec<String>) {
    let Value::Object(map) = schema else { return };
    if let Some(r) = map
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(V2_REF_PREFIX))
    {
        out.push(r.to_string());
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        props.values().for_each(|p| references(p, out));
    }
    for key in SUBSCHEMA_KEYS {
        match map.get(key) {
            Some(Value::Array(items)) => items.iter().for_each(|s| references(s, out)),
            Some(s @ Value::Object(_)) => references(s, out),
            _ => {}
        }
    }
}

/// `roots` and every definition they reach, by name. `local` holds definitions
/// that are not built in (CRD schemas); they win over built-in names. Names that
/// resolve nowhere are left out, as a dangling reference is better than a made-up
/// schema.
pub(super) fn closure(
    roots: &[String],
    local: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut pending: Vec<String> = roots.to_vec();
    while let Some(name) = pending.pop() {
        if out.contains_key(&name) {
            continue;
        }
        let Some(schema) = local.get(&name).or_else(|| definition(&name)) else {
            continue;
        };
        references(schema, &mut pending);
        out.insert(name, schema.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_definitions_decode() {
        assert!(builtin_definitions().len() > 500);
        assert!(definition("io.k8s.api.apps.v1.Deployment").is_some());
    }

    #[test]
    fn autoscaling_v2_stands_in_from_v2beta2() {
        let name = name_for_kind("autoscaling", "v2", "HorizontalPodAutoscaler").expect("stand-in");
        assert_eq!(name, "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler");
        let text = definition(name).expect("present").to_string();
        assert!(
            !text.contains("v2beta2"),
            "references and GVKs renamed: {text}"
        );
        let spec =
            definition("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec").expect("present");
        assert_eq!(
            spec["properties"]["metrics"]["items"]["$ref"],
            "#/definitions/io.k8s.api.autoscaling.v2.MetricSpec"
        );
    }

    #[test]
    fn kinds_resolve_through_their_group_version_kind() {
        assert_eq!(
            name_for_kind("apps", "v1", "DeploymentList"),
            Some("io.k8s.api.apps.v1.DeploymentList")
        );
        assert_eq!(
            name_for_kind("", "v1", "ConfigMap"),
            Some("io.k8s.api.core.v1.ConfigMap")
        );
        // Meta kinds claim every group-version; they resolve to the shared definition.
        assert_eq!(
            name_for_kind("apps", "v1", "DeleteOptions"),
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions")
        );
    }

    #[test]
    fn closure_follows_references_transitively() {
        let defs = closure(
            &["io.k8s.api.apps.v1.Deployment".to_string()],
            &BTreeMap::new(),
        );
        for name in [
            "io.k8s.api.apps.v1.DeploymentSpec",
            "io.k8s.api.core.v1.Container",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        ] {
            assert!(defs.contains_key(name), "{name}");
        }
        assert!(!defs.contains_key("io.k8s.api.core.v1.Service"));
    }
}
