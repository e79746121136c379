//! Legacy `vars`: `$(NAME)` in the configured fields becomes a field of another object,
//! resolved after names are final.

use serde_json::Value;

use super::error::{Error, Result};
use super::fieldspec::{FieldSpec, walk};
use super::resource::{Gvk, ResMap};

/// One entry of `vars`.
#[derive(Debug, Clone)]
pub(crate) struct Var {
    pub name: String,
    gvk: Gvk,
    obj_name: String,
    namespace: String,
    field_path: String,
    file: String,
}

impl Var {
    pub(crate) fn from_value(file: &str, v: &Value) -> Result<Var> {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let name = s(v.get("name"));
        if name.is_empty() {
            return Err(Error::field(file, "vars.name", "a var needs a name"));
        }
        let objref = v.get("objref");
        let api = s(objref.and_then(|o| o.get("apiVersion")));
        let mut gvk = Gvk::from_api_version(&api, &s(objref.and_then(|o| o.get("kind"))));
        if api.is_empty() {
            gvk.version.clear();
        }
        let field_path = match s(v.get("fieldref").and_then(|f| f.get("fieldpath"))) {
            p if p.is_empty() => "metadata.name".to_string(),
            p => p,
        };
        Ok(Var {
            name,
            gvk,
            obj_name: s(objref.and_then(|o| o.get("name"))),
            namespace: s(objref.and_then(|o| o.get("namespace"))),
            field_path,
            file: file.to_string(),
        })
    }
}

/// Binds `v`, declared by a kustomization, to the one resource it names among those
/// that kustomization has accumulated (upstream's `MergeVars`): later overlays may add
/// objects of the same name elsewhere without making the var ambiguous. Naming none
/// is not an error yet; resolving is.
pub(crate) fn bind(m: &mut ResMap, v: &Var) -> Result<()> {
    let matches: Vec<usize> = m
        .list()
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            std::iter::once(r.cur_id())
                .chain(r.prev_ids.iter().cloned())
                .any(|id| {
                    id.gvk.is_selected(&v.gvk)
                        && id.name == v.obj_name
                        && (v.namespace.is_empty() || r.namespace() == v.namespace)
                })
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [] => Ok(()),
        [i] => {
            m.update(*i, |r| r.ref_vars.push(v.name.clone()));
            Ok(())
        }
        _ => Err(Error::field(
            &v.file,
            "vars",
            format!(
                "found {} resId matches for var '{}' (unable to disambiguate)",
                matches.len(),
                v.name
            ),
        )),
    }
}

/// Replaces `$(VAR)` references in `specs` fields with the vars' values, each read
/// from the resource it was bound to.
pub(crate) fn resolve(file: &str, m: &mut ResMap, vars: &[Var], specs: &[FieldSpec]) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values = Vec::new();
    for v in vars {
        let Some(r) = m.list().iter().find(|r| r.ref_vars.contains(&v.name)) else {
            return Err(Error::field(
                &v.file,
                "vars",
                format!(
                    "var '{}' cannot be mapped to a field in the set of known resources",
                    v.name
                ),
            ));
        };
        let value = field_value(&Value::Object(r.obj.clone()), &v.field_path).ok_or_else(|| {
            Error::field(
                &v.file,
                "vars",
                format!(
                    "field {} specified in var '{}' not found",
                    v.field_path, v.name
                ),
            )
        })?;
        values.push((v.name.clone(), value));
    }
    for r in m.list_mut() {
        let gvk = r.gvk();
        let mut obj = Value::Object(std::mem::take(&mut r.obj));
        for fs in specs {
            if !gvk.is_selected(&fs.gvk) {
                continue;
            }
            walk::<Error>(&mut obj, &fs.path, false, &mut |node| {
                expand_node(node, &values);
                Ok(())
            })?;
        }
        if let Value::Object(o) = obj {
            r.obj = o;
        }
    }
    let _ = file;
    Ok(())
}

fn expand_node(node: &mut Value, values: &[(String, Value)]) {
    match node {
        Value::String(s) => {
            if let Some(v) = expand(s, values) {
                *node = v;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| expand_node(x, values)),
        Value::Object(map) => map.values_mut().for_each(|x| expand_node(x, values)),
        _ => {}
    }
}

/// Expands `$(NAME)` (and `$$` escapes) in `s`; `None` when nothing changes. A string
/// that is exactly one reference takes the value with its type.
fn expand(s: &str, values: &[(String, Value)]) -> Option<Value> {
    if !s.contains("$(") {
        return None;
    }
    let lookup = |name: &str| values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if let Some(name) = s.strip_prefix("$(").and_then(|r| r.strip_suffix(')'))
        && let Some(v) = lookup(name)
    {
        return Some(v.clone());
    }
    let mut out = String::new();
    let mut rest = s;
    let mut changed = false;
    while let Some(i) = rest.find("$(") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find(')') {
            Some(j) if lookup(&after[..j]).is_some() => {
                let v = lookup(&after[..j]).cloned().unwrap_or(Value::Null);
                match v {
                    Value::String(t) => out.push_str(&t),
                    other => out.push_str(&other.to_string()),
                }
                rest = &after[j + 1..];
                changed = true;
            }
            _ => {
                out.push_str("$(");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    changed.then_some(Value::String(out))
}

/// The value at a dotted field path such as `spec.ports[0].protocol`.
fn field_value(obj: &Value, path: &str) -> Option<Value> {
    let mut cur = obj;
    for part in path.split('.') {
        let (key, index) = match part.find('[') {
            Some(i) => (&part[..i], part[i + 1..].strip_suffix(']')),
            None => (part, None),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        if let Some(idx) = index {
            cur = cur.get(idx.parse::<usize>().ok()?)?;
        }
    }
    Some(cur.clone())
}
