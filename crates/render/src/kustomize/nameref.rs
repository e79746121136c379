//! Name references: after prefixes, suffixes and hashes have renamed objects, fields
//! that refer to an object by its old name are rewritten to its new one (kustomize's
//! `nameref` filter). Only renamed objects (those with earlier ids) are candidates.

use std::collections::HashMap;

use serde_json::Value;

use super::error::{Error, Result};
use super::fieldspec::{FieldSpec, NameBackReference, walk};
use super::resource::{Gvk, ResId, ResMap, Resource, prefixes_suffixes_equal};

/// What the rewiring reads about each resource, taken once before any field changes
/// (rewiring never renames), so that a referrer's object can be edited in place while
/// the others, itself included, are looked up.
struct Snapshot {
    ids: Vec<ResId>,
    cluster: Vec<bool>,
    /// Positions, ascending, of the renamed resources by each earlier name.
    by_old_name: HashMap<String, Vec<usize>>,
    /// Positions, ascending, of all resources by original namespace.
    by_org_namespace: HashMap<String, Vec<usize>>,
}

impl Snapshot {
    fn take(m: &ResMap) -> Snapshot {
        let mut by_old_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_org_namespace: HashMap<String, Vec<usize>> = HashMap::new();
        for (j, r) in m.list().iter().enumerate() {
            for p in &r.prev_ids {
                let hits = by_old_name.entry(p.name.clone()).or_default();
                if hits.last() != Some(&j) {
                    hits.push(j);
                }
            }
            let org_namespace = r
                .prev_ids
                .first()
                .map_or_else(|| r.namespace(), |p| p.namespace.as_str());
            by_org_namespace
                .entry(org_namespace.to_string())
                .or_default()
                .push(j);
        }
        let ids: Vec<ResId> = m.list().iter().map(Resource::cur_id).collect();
        let cluster = ids.iter().map(|id| id.gvk.is_cluster_scoped()).collect();
        Snapshot {
            ids,
            cluster,
            by_old_name,
            by_org_namespace,
        }
    }
}

/// The resource whose fields are being rewritten, and whom it may refer to.
struct Referrer<'a> {
    i: usize,
    /// Its prefixes and suffixes (its object is out for editing).
    res: &'a Resource,
    field: &'a FieldSpec,
    target: &'a Gvk,
    /// For `roleRef/name`: the kind the role reference names.
    role_ref: Option<Gvk>,
    /// For a RoleBinding: its ServiceAccount subjects' namespaces.
    binding_namespaces: Vec<String>,
}

impl Referrer<'_> {
    /// Whether resource `j` is in reach: anything for a cluster-scoped referrer;
    /// otherwise cluster-scoped ones, those in its namespace, and for a RoleBinding those
    /// in its ServiceAccount subjects' namespaces.
    fn reaches(&self, snap: &Snapshot, j: usize) -> bool {
        snap.cluster[self.i]
            || snap.cluster[j]
            || snap.ids[j].ns_equals(&snap.ids[self.i])
            || self
                .binding_namespaces
                .iter()
                .any(|ns| *ns == snap.ids[j].namespace)
    }
}

/// Rewrites every reference the back-reference config describes.
pub(crate) fn fix(file: &str, m: &mut ResMap, backrefs: &[NameBackReference]) -> Result<()> {
    let snap = Snapshot::take(m);
    if snap.by_old_name.is_empty() {
        // Nothing was renamed: no reference can need rewriting.
        return Ok(());
    }
    let list = m.list_mut();
    for i in 0..list.len() {
        // Which fields apply is decided on the original kind, as upstream does, in
        // config order.
        let org_gvk = list[i]
            .prev_ids
            .first()
            .map_or_else(|| snap.ids[i].gvk.clone(), |p| p.gvk.clone());
        for br in backrefs {
            for fs in &br.referrers {
                if !org_gvk.is_selected(&fs.gvk) {
                    continue;
                }
                let present = match fs.path.split_first() {
                    Some((first, rest)) => {
                        list[i].obj.get(first).is_some_and(|c| has_path(c, rest))
                    }
                    None => false,
                };
                if !present {
                    continue;
                }
                let mut obj = Value::Object(std::mem::take(&mut list[i].obj));
                let view: &[Resource] = list;
                let referrer = Referrer {
                    i,
                    res: &view[i],
                    field: fs,
                    target: &br.gvk,
                    role_ref: role_ref(&obj, fs),
                    binding_namespaces: binding_namespaces(&obj, &snap.ids[i]),
                };
                let result = walk::<Error>(&mut obj, &fs.path, false, &mut |node| {
                    set(file, node, &referrer, view, &snap)
                });
                if let Value::Object(o) = obj {
                    list[i].obj = o;
                }
                result?;
            }
        }
    }
    Ok(())
}

fn role_ref(obj: &Value, fs: &FieldSpec) -> Option<Gvk> {
    if !fs.path_string().ends_with("roleRef/name") {
        return None;
    }
    let rr = obj.get("roleRef")?;
    Some(Gvk {
        group: rr.get("apiGroup")?.as_str()?.to_string(),
        version: String::new(),
        kind: rr.get("kind")?.as_str()?.to_string(),
    })
}

fn binding_namespaces(obj: &Value, id: &ResId) -> Vec<String> {
    let mut out = Vec::new();
    if id.gvk.kind == "RoleBinding"
        && let Some(Value::Array(subjects)) = obj.get("subjects")
    {
        for s in subjects {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && let Some(ns) = s.get("namespace").and_then(Value::as_str)
            {
                out.push(ns.to_string());
            }
        }
    }
    out
}

/// Whether any node exists at `path` (through lists).
fn has_path(v: &Value, path: &[String]) -> bool {
    match (v, path.split_first()) {
        (_, None) => !v.is_null(),
        (Value::Array(items), Some(_)) => items.iter().any(|x| has_path(x, path)),
        (Value::Object(m), Some((first, rest))) => m.get(first).is_some_and(|c| has_path(c, rest)),
        _ => false,
    }
}

fn set(
    file: &str,
    node: &mut Value,
    referrer: &Referrer<'_>,
    list: &[Resource],
    snap: &Snapshot,
) -> Result<()> {
    match node {
        Value::Null => Ok(()),
        Value::String(_) => set_scalar(file, node, referrer, list, snap),
        Value::Object(_) => set_mapping(file, node, referrer, list, snap),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Null => {}
                    Value::String(_) => set_scalar(file, item, referrer, list, snap)?,
                    Value::Object(_) => set_mapping(file, item, referrer, list, snap)?,
                    _ => {
                        return Err(Error::build(
                            file,
                            format!(
                                "name reference in {} of {}: expected a string or a map",
                                referrer.field.path_string(),
                                snap.ids[referrer.i]
                            ),
                        ));
                    }
                }
            }
            Ok(())
        }
        _ => Err(Error::build(
            file,
            format!(
                "name reference in {} of {}: expected a string, list or map",
                referrer.field.path_string(),
                snap.ids[referrer.i]
            ),
        )),
    }
}

fn set_scalar(
    file: &str,
    node: &mut Value,
    referrer: &Referrer<'_>,
    list: &[Resource],
    snap: &Snapshot,
) -> Result<()> {
    let Value::String(old) = node else {
        return Ok(());
    };
    let picked = select_referral(file, old, None, referrer, list, snap, false)?;
    if let Some(j) = picked {
        *node = Value::String(snap.ids[j].name.clone());
    }
    Ok(())
}

fn set_mapping(
    file: &str,
    node: &mut Value,
    referrer: &Referrer<'_>,
    list: &[Resource],
    snap: &Snapshot,
) -> Result<()> {
    let Value::Object(map) = node else {
        return Ok(());
    };
    let Some(old) = map.get("name").and_then(Value::as_str).map(str::to_string) else {
        return Err(Error::build(
            file,
            format!(
                "name reference in {} of {}: no 'name' field",
                referrer.field.path_string(),
                snap.ids[referrer.i]
            ),
        ));
    };
    // A namespace beside the name narrows the candidates to those originally in it, or,
    // when no candidate was, to those now in it.
    let namespace = map.get("namespace").and_then(Value::as_str).map(|ns| {
        let by_original = snap
            .by_org_namespace
            .get(ns)
            .is_some_and(|js| js.iter().any(|&j| referrer.reaches(snap, j)));
        (ns, by_original)
    });
    let Some(j) = select_referral(file, &old, namespace, referrer, list, snap, true)? else {
        return Ok(());
    };
    let id = &snap.ids[j];
    if id.name == old && id.namespace.is_empty() {
        return Ok(());
    }
    map.insert("name".into(), Value::String(id.name.clone()));
    if !id.namespace.is_empty() {
        map.insert("namespace".into(), Value::String(id.namespace.clone()));
    }
    Ok(())
}

/// The one resource `old` refers to, among those in reach (and, with `namespace`, in
/// that namespace: originally when the flag is set, currently otherwise).
fn select_referral(
    file: &str,
    old: &str,
    namespace: Option<(&str, bool)>,
    referrer: &Referrer<'_>,
    list: &[Resource],
    snap: &Snapshot,
    compare_namespaces: bool,
) -> Result<Option<usize>> {
    let Some(named) = snap.by_old_name.get(old) else {
        return Ok(None);
    };
    let rid = &snap.ids[referrer.i];
    let mut c: Vec<usize> = named
        .iter()
        .copied()
        .filter(|&j| {
            let r = &list[j];
            let id = &snap.ids[j];
            referrer.reaches(snap, j)
                && namespace.is_none_or(|(ns, by_original)| {
                    if by_original {
                        r.prev_ids.first().is_some_and(|p| p.namespace == ns)
                    } else {
                        id.namespace == ns
                    }
                })
                && r.prev_ids
                    .iter()
                    .any(|p| p.gvk.is_selected(referrer.target))
                && referrer
                    .role_ref
                    .as_ref()
                    .is_none_or(|g| r.prev_ids.iter().any(|p| p.gvk.is_selected(g)))
                && (snap.cluster[referrer.i]
                    || snap.cluster[j]
                    || id.gvk.kind == "ServiceAccount"
                    || rid.ns_equals(id))
        })
        .collect();
    if c.len() == 1 {
        return Ok(c.pop());
    }
    c.retain(|&j| prefixes_suffixes_equal(&list[j], referrer.res, true));
    if c.len() > 1 {
        c.retain(|&j| prefixes_suffixes_equal(&list[j], referrer.res, false));
    }
    match c.len() {
        0 => Ok(None),
        1 => Ok(c.pop()),
        _ => {
            let first = &snap.ids[c[0]];
            let identical = c.iter().all(|&j| {
                snap.ids[j].name == first.name
                    && (!compare_namespaces || snap.ids[j].namespace == first.namespace)
            });
            if identical {
                Ok(Some(c[0]))
            } else {
                let ids: Vec<String> = c.iter().map(|&j| snap.ids[j].to_string()).collect();
                Err(Error::build(
                    file,
                    format!(
                        "updating name reference in '{}' field of '{}': found multiple possible referrals: {}",
                        referrer.field.path_string(),
                        rid,
                        ids.join(", ")
                    ),
                ))
            }
        }
    }
}
