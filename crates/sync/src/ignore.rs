//! Argo CD `ignoreDifferences`: fields left out of diffs (and, with
//! `RespectIgnoreDifferences`, out of applies), chosen by JSON pointer, by a jq path
//! expression, or by the field manager that owns them.
//!
//! jq expressions are jq's language as [`flotilla_core::jq`] runs it (what `del(EXPR)`
//! would remove, as Argo CD's gojq query): filters, `?`, string tests and boolean logic
//! included; functions that may not end (`recurse`, `repeat`, `def`, …) and assignments
//! are an [`IgnoreError`] naming the expression. An expression that fails on one object
//! (`.spec[]` on a string) ignores nothing there, as Argo CD skips it.

use flotilla_core::pointer::Pointer as _;
use serde::Deserialize;
use serde_json::Value;

use crate::tracking::ObjectKey;

/// One `ignoreDifferences` entry.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IgnoreRule {
    /// API group (`""` core); `*` or empty-and-absent matches any.
    pub group: Option<String>,
    /// Kind; `*` matches any.
    pub kind: String,
    /// Only this object name, if set.
    pub name: Option<String>,
    /// Only this namespace, if set.
    pub namespace: Option<String>,
    /// RFC 6901 pointers.
    pub json_pointers: Vec<String>,
    /// jq path expressions (see the module docs).
    pub jq_path_expressions: Vec<String>,
    /// Fields owned by these managers (from `metadata.managedFields`).
    pub managed_fields_managers: Vec<String>,
}

/// A jq expression that does not compile or is not allowed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("ignoreDifferences jqPathExpression {expression:?}: {reason}")]
pub struct IgnoreError {
    /// The expression.
    pub expression: String,
    /// What is not supported or malformed.
    pub reason: String,
}

impl IgnoreRule {
    /// Whether the rule applies to the object `key`.
    pub fn matches(&self, key: &ObjectKey) -> bool {
        let glob = |pattern: &str, v: &str| pattern == "*" || pattern == v;
        self.group.as_deref().is_none_or(|g| glob(g, &key.group))
            && glob(&self.kind, &key.kind)
            && self
                .name
                .as_deref()
                .is_none_or(|n| n.is_empty() || n == key.name)
            && self
                .namespace
                .as_deref()
                .is_none_or(|n| n.is_empty() || n == key.namespace)
    }

    /// Checks every jq expression compiles.
    pub fn validate(&self) -> Result<(), IgnoreError> {
        for e in &self.jq_path_expressions {
            compile_jq(e)?;
        }
        Ok(())
    }
}

/// One step into a JSON value: a map key or a list index.
pub use flotilla_core::jq::PathSeg as Seg;

/// Removes from `obj` every field the matching rules ignore. `owners` is the object whose
/// `metadata.managedFields` decides `managedFieldsManagers` (the live object).
pub fn strip(obj: &mut Value, key: &ObjectKey, rules: &[IgnoreRule], owners: Option<&Value>) {
    let paths = ignored_paths(obj, key, rules, owners);
    remove_paths(obj, paths);
}

/// The paths in `obj` that the rules matching `key` ignore: their pointers, their jq
/// expressions' results and, with `owners`, the fields `managedFieldsManagers` own there.
pub fn ignored_paths(
    obj: &Value,
    key: &ObjectKey,
    rules: &[IgnoreRule],
    owners: Option<&Value>,
) -> Vec<Vec<Seg>> {
    let mut paths: Vec<Vec<Seg>> = Vec::new();
    for rule in rules.iter().filter(|r| r.matches(key)) {
        for p in &rule.json_pointers {
            if let Some(path) = pointer_path(obj, p) {
                paths.push(path);
            }
        }
        for e in &rule.jq_path_expressions {
            // A failure on this object ignores nothing, as Argo CD skips the expression.
            if let Ok(jq) = compile_jq(e)
                && let Ok(found) = jq.paths(obj)
            {
                paths.extend(found);
            }
        }
        if let Some(owner) = owners {
            for set in manager_sets(owner, &rule.managed_fields_managers) {
                for p in set.paths() {
                    if let Some(path) = resolve_field_path(obj, p.elements()) {
                        paths.push(path);
                    }
                }
            }
        }
    }
    paths
}

/// The field sets `managers` own in `obj` (any operation).
pub fn manager_sets(obj: &Value, managers: &[String]) -> Vec<flotilla_ssa::FieldSet> {
    if managers.is_empty() {
        return Vec::new();
    }
    let Some(entries) = obj.at("/metadata/managedFields").and_then(Value::as_array) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter(|e| {
            e.get("manager")
                .and_then(Value::as_str)
                .is_some_and(|m| managers.iter().any(|x| x == m))
        })
        .filter_map(|e| e.get("fieldsV1"))
        .filter_map(|f| flotilla_ssa::fieldsv1::from_value(f).ok())
        .collect()
}

/// Removes `paths` from `obj`, deepest and highest indexes first so earlier removals do
/// not shift later ones.
pub fn remove_paths(obj: &mut Value, mut paths: Vec<Vec<Seg>>) {
    paths.sort();
    paths.dedup();
    for path in paths.into_iter().rev() {
        let Some((last, parent)) = path.split_last() else {
            continue;
        };
        let Some(cur) = get_mut(obj, parent) else {
            continue;
        };
        match (last, cur) {
            (Seg::Key(k), Value::Object(m)) => {
                m.remove(k);
            }
            (Seg::Index(i), Value::Array(a)) if *i < a.len() => {
                a.remove(*i);
            }
            _ => {}
        }
    }
}

/// The concrete path of a structured-merge-diff field path in `obj`, if present.
pub fn resolve_field_path(obj: &Value, path: &[flotilla_ssa::PathElement]) -> Option<Vec<Seg>> {
    use flotilla_ssa::PathElement as P;
    let mut out = Vec::with_capacity(path.len());
    let mut cur = obj;
    for pe in path {
        match pe {
            P::Field(name) => {
                cur = cur.as_object()?.get(&**name)?;
                out.push(Seg::Key(name.to_string()));
            }
            P::Key(fields) => {
                let items = cur.as_array()?;
                let i = items.iter().position(|item| {
                    fields.iter().all(|(k, v)| {
                        item.get(k)
                            .is_some_and(|x| flotilla_ssa::values_equal(x, v))
                    })
                })?;
                cur = &items[i];
                out.push(Seg::Index(i));
            }
            P::Value(v) => {
                let items = cur.as_array()?;
                let i = items
                    .iter()
                    .position(|x| flotilla_ssa::values_equal(x, v))?;
                cur = &items[i];
                out.push(Seg::Index(i));
            }
            P::Index(i) => {
                let i = usize::try_from(*i).ok()?;
                cur = cur.as_array()?.get(i)?;
                out.push(Seg::Index(i));
            }
        }
    }
    Some(out)
}

fn pointer_path(obj: &Value, pointer: &str) -> Option<Vec<Seg>> {
    if pointer.is_empty() {
        return None;
    }
    let mut cur = obj;
    let mut out = Vec::new();
    for raw in pointer.strip_prefix('/')?.split('/') {
        let token = raw.replace("~1", "/").replace("~0", "~");
        match cur {
            Value::Object(m) => {
                cur = m.get(&token)?;
                out.push(Seg::Key(token));
            }
            Value::Array(a) => {
                let i: usize = token.parse().ok()?;
                cur = a.get(i)?;
                out.push(Seg::Index(i));
            }
            _ => return None,
        }
    }
    Some(out)
}

fn compile_jq(expression: &str) -> Result<std::sync::Arc<flotilla_core::jq::JqPath>, IgnoreError> {
    flotilla_core::jq::JqPath::compile(expression).map_err(|e| IgnoreError {
        expression: expression.to_string(),
        reason: e.reason,
    })
}

fn get_mut<'a>(obj: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for seg in path {
        cur = match seg {
            Seg::Key(k) => cur.as_object_mut()?.get_mut(k)?,
            Seg::Index(i) => cur.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "prod"},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}]},
                {"name": "sidecar", "image": "envoy"}]}}}})
    }

    fn rule(f: impl FnOnce(&mut IgnoreRule)) -> Vec<IgnoreRule> {
        let mut r = IgnoreRule {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            ..Default::default()
        };
        f(&mut r);
        vec![r]
    }

    #[test]
    fn json_pointers_remove_fields() {
        let mut d = deploy();
        let key = ObjectKey::of(&d);
        strip(
            &mut d,
            &key,
            &rule(|r| r.json_pointers = vec!["/spec/replicas".into()]),
            None,
        );
        assert!(d.at("/spec/replicas").is_none());
        // Another kind is untouched.
        let mut other = d.clone();
        let mut k2 = key.clone();
        k2.kind = "StatefulSet".into();
        strip(
            &mut other,
            &k2,
            &rule(|r| r.json_pointers = vec!["/spec".into()]),
            None,
        );
        assert!(other.get("spec").is_some());
    }

    #[test]
    fn jq_paths_with_select() {
        let mut d = deploy();
        let key = ObjectKey::of(&d);
        let rules = rule(|r| {
            r.jq_path_expressions = vec![
                r#".spec.template.spec.containers[] | select(.name == "sidecar") | .image"#.into(),
                ".spec.template.spec.containers[].env".into(),
            ]
        });
        strip(&mut d, &key, &rules, None);
        let c = &d["spec"]["template"]["spec"]["containers"];
        assert_eq!(c[0], json!({"name": "web", "image": "nginx"}));
        assert_eq!(c[1], json!({"name": "sidecar"}));
    }

    #[test]
    fn unsupported_jq_is_an_error_naming_it() {
        let r = IgnoreRule {
            kind: "*".into(),
            jq_path_expressions: vec!["recurse(.x)".into()],
            ..Default::default()
        };
        let e = r.validate().unwrap_err();
        assert!(e.to_string().contains("recurse(.x)"), "{e}");
        assert!(e.to_string().contains("not allowed"), "{e}");
    }

    #[test]
    fn managed_fields_managers_remove_what_they_own() {
        let mut live = deploy();
        live["metadata"]["managedFields"] = json!([
            {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "flotilla", "operation": "Apply", "apiVersion": "apps/v1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:template": {"f:spec": {
                "f:containers": {"k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}}
        ]);
        let key = ObjectKey::of(&live);
        let owner = live.clone();
        let mut obj = live.clone();
        strip(
            &mut obj,
            &key,
            &rule(|r| r.managed_fields_managers = vec!["kube-controller-manager".into()]),
            Some(&owner),
        );
        assert!(obj.at("/spec/replicas").is_none());
        let mut obj = live.clone();
        strip(
            &mut obj,
            &key,
            &rule(|r| r.managed_fields_managers = vec!["flotilla".into()]),
            Some(&owner),
        );
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }
}
