//! Argo CD `ignoreDifferences`: fields left out of diffs (and, with
//! `RespectIgnoreDifferences`, out of applies), chosen by JSON pointer, by a jq path
//! expression, or by the field manager that owns them.
//!
//! jq support is the subset `ignoreDifferences` rules use in practice: paths of `.field`,
//! `.["field"]`, `[n]`, `[]` (every item, with optional `?`), joined by `|` with
//! `select(PATH == LITERAL)` / `select(PATH != LITERAL)` filters (string, number, boolean
//! or null literals). Anything else is an [`IgnoreError`] naming the expression.

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
    /// jq path expressions (see the module docs for the subset).
    pub jq_path_expressions: Vec<String>,
    /// Fields owned by these managers (from `metadata.managedFields`).
    pub managed_fields_managers: Vec<String>,
}

/// A jq expression outside the supported subset.
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

    /// Checks every jq expression parses.
    pub fn validate(&self) -> Result<(), IgnoreError> {
        for e in &self.jq_path_expressions {
            parse_jq(e)?;
        }
        Ok(())
    }
}

/// One step into a JSON value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seg {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

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
            if let Ok(steps) = parse_jq(e) {
                paths.extend(eval_jq(obj, &steps));
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
    let Some(entries) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
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

// --- the jq subset ---

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    Each,
    Select {
        path: Vec<Step>,
        equal: bool,
        literal: Value,
    },
}

fn parse_jq(expr: &str) -> Result<Vec<Step>, IgnoreError> {
    let err = |reason: &str| IgnoreError {
        expression: expr.to_string(),
        reason: reason.to_string(),
    };
    let mut steps = Vec::new();
    for (i, part) in split_pipes(expr).iter().enumerate() {
        let part = part.trim();
        if let Some(inner) = part
            .strip_prefix("select(")
            .and_then(|s| s.strip_suffix(')'))
        {
            let (lhs, rhs, equal) = if let Some((l, r)) = inner.split_once("==") {
                (l, r, true)
            } else if let Some((l, r)) = inner.split_once("!=") {
                (l, r, false)
            } else {
                return Err(err("select needs == or !="));
            };
            let literal: Value = serde_json::from_str(rhs.trim())
                .map_err(|_| err("select compares with a JSON literal"))?;
            let path = parse_path(lhs.trim()).map_err(|r| err(&r))?;
            steps.push(Step::Select {
                path,
                equal,
                literal,
            });
        } else if part.starts_with('.') {
            steps.extend(parse_path(part).map_err(|r| err(&r))?);
        } else if i == 0 && part.is_empty() {
            return Err(err("empty expression"));
        } else {
            return Err(err("only paths and select(…) are supported"));
        }
    }
    if steps.is_empty() {
        return Err(err("empty expression"));
    }
    Ok(steps)
}

fn split_pipes(expr: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let (mut depth, mut quoted) = (0i32, false);
    for c in expr.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' if !quoted => depth += 1,
            ')' | ']' if !quoted => depth -= 1,
            '|' if !quoted && depth == 0 => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

fn parse_path(text: &str) -> Result<Vec<Step>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    if chars.first() != Some(&'.') {
        return Err("a path starts with '.'".into());
    }
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-')
                {
                    i += 1;
                }
                if i > start {
                    steps.push(Step::Field(chars[start..i].iter().collect()));
                } else if i < chars.len() && chars[i] != '[' {
                    return Err(format!("unexpected {:?}", chars[i]));
                }
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .map(|p| p + i)
                    .ok_or("unclosed '['")?;
                let inner: String = chars[i + 1..end].iter().collect();
                let inner = inner.trim();
                if inner.is_empty() {
                    steps.push(Step::Each);
                } else if let Ok(n) = inner.parse::<usize>() {
                    steps.push(Step::Index(n));
                } else if let Ok(Value::String(s)) = serde_json::from_str::<Value>(inner) {
                    steps.push(Step::Field(s));
                } else {
                    return Err(format!("unsupported index [{inner}]"));
                }
                i = end + 1;
                if chars.get(i) == Some(&'?') {
                    i += 1;
                }
            }
            c if c.is_whitespace() => i += 1,
            c => return Err(format!("unexpected {c:?}")),
        }
    }
    Ok(steps)
}

fn eval_jq(obj: &Value, steps: &[Step]) -> Vec<Vec<Seg>> {
    let mut current: Vec<Vec<Seg>> = vec![Vec::new()];
    for step in steps {
        let mut next = Vec::new();
        for path in current {
            let Some(v) = get(obj, &path) else { continue };
            match step {
                Step::Field(k) => {
                    if v.get(k).is_some() {
                        next.push(extend(&path, Seg::Key(k.clone())));
                    }
                }
                Step::Index(n) => {
                    if v.as_array().is_some_and(|a| *n < a.len()) {
                        next.push(extend(&path, Seg::Index(*n)));
                    }
                }
                Step::Each => match v {
                    Value::Array(a) => {
                        next.extend((0..a.len()).map(|i| extend(&path, Seg::Index(i))))
                    }
                    Value::Object(m) => {
                        next.extend(m.keys().map(|k| extend(&path, Seg::Key(k.clone()))))
                    }
                    _ => {}
                },
                Step::Select {
                    path: sel,
                    equal,
                    literal,
                } => {
                    let found = eval_jq(v, sel)
                        .first()
                        .and_then(|p| get(v, p))
                        .cloned()
                        .unwrap_or(Value::Null);
                    if (found == *literal) == *equal {
                        next.push(path);
                    }
                }
            }
        }
        current = next;
    }
    current.retain(|p| !p.is_empty());
    current
}

fn extend(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
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

fn get<'a>(obj: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in path {
        cur = match seg {
            Seg::Key(k) => cur.as_object()?.get(k)?,
            Seg::Index(i) => cur.as_array()?.get(*i)?,
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
        assert!(d.pointer("/spec/replicas").is_none());
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
            jq_path_expressions: vec!["map(.x)".into()],
            ..Default::default()
        };
        let e = r.validate().unwrap_err();
        assert!(e.to_string().contains("map(.x)"), "{e}");
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
        assert!(obj.pointer("/spec/replicas").is_none());
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
