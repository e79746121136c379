//! Name references: after prefixes, suffixes and hashes have renamed objects, fields
//! that refer to an object by its old name are rewritten to its new one (kustomize's
//! `nameref` filter). Only renamed objects (those with earlier ids) are candidates.

use serde_json::Value;

use super::error::{Error, Result};
use super::fieldspec::{FieldSpec, NameBackReference, walk};
use super::resource::{Gvk, ResMap, Resource, prefixes_suffixes_equal};

/// Rewrites every reference the back-reference config describes.
pub(crate) fn fix(file: &str, m: &mut ResMap, backrefs: &[NameBackReference]) -> Result<()> {
    // Which (referrer, field, target kind) triples apply, decided on original ids first,
    // as upstream does, in config order.
    let mut work: Vec<(usize, &FieldSpec, &Gvk)> = Vec::new();
    for br in backrefs {
        for fs in &br.referrers {
            for (i, r) in m.list.iter().enumerate() {
                if r.org_id().gvk.is_selected(&fs.gvk) {
                    work.push((i, fs, &br.gvk));
                }
            }
        }
    }
    // Group by referrer, keeping the first-seen order of referrers.
    work.sort_by_key(|(i, _, _)| *i);
    for (i, fs, target) in work {
        let present = match fs.path.split_first() {
            Some((first, rest)) => m.list[i].obj.get(first).is_some_and(|c| has_path(c, rest)),
            None => false,
        };
        if !present {
            continue;
        }
        let candidates = candidates_for(m, i);
        let referrer = m.list[i].clone();
        // A copy, not a take: the referrer may refer to itself.
        let mut obj = Value::Object(referrer.obj.clone());
        let result = walk::<Error>(&mut obj, &fs.path, false, &mut |node| {
            set(file, node, &referrer, fs, target, m, &candidates)
        });
        if let Value::Object(o) = obj {
            m.list[i].obj = o;
        }
        result?;
    }
    Ok(())
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

/// Indices of the resources `m.list[i]` may refer to: all for a cluster-scoped referrer;
/// otherwise cluster-scoped ones, those in its namespace, and for a RoleBinding those
/// in its ServiceAccount subjects' namespaces.
fn candidates_for(m: &ResMap, i: usize) -> Vec<usize> {
    let referrer = &m.list[i];
    let rid = referrer.cur_id();
    if rid.gvk.is_cluster_scoped() {
        return (0..m.list.len()).collect();
    }
    let mut binding_namespaces = Vec::new();
    if referrer.kind() == "RoleBinding"
        && let Some(Value::Array(subjects)) = referrer.obj.get("subjects")
    {
        for s in subjects {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && let Some(ns) = s.get("namespace").and_then(Value::as_str)
            {
                binding_namespaces.push(ns.to_string());
            }
        }
    }
    (0..m.list.len())
        .filter(|&j| {
            let id = m.list[j].cur_id();
            id.gvk.is_cluster_scoped()
                || id.ns_equals(&rid)
                || binding_namespaces
                    .iter()
                    .any(|ns| ns == m.list[j].namespace())
        })
        .collect()
}

fn set(
    file: &str,
    node: &mut Value,
    referrer: &Resource,
    fs: &FieldSpec,
    target: &Gvk,
    m: &ResMap,
    candidates: &[usize],
) -> Result<()> {
    match node {
        Value::Null => Ok(()),
        Value::String(_) => set_scalar(file, node, referrer, fs, target, m, candidates),
        Value::Object(_) => set_mapping(file, node, referrer, fs, target, m, candidates),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Null => {}
                    Value::String(_) => {
                        set_scalar(file, item, referrer, fs, target, m, candidates)?
                    }
                    Value::Object(_) => {
                        set_mapping(file, item, referrer, fs, target, m, candidates)?
                    }
                    _ => {
                        return Err(Error::build(
                            file,
                            format!(
                                "name reference in {} of {}: expected a string or a map",
                                fs.path_string(),
                                referrer.cur_id()
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
                fs.path_string(),
                referrer.cur_id()
            ),
        )),
    }
}

fn set_scalar(
    file: &str,
    node: &mut Value,
    referrer: &Resource,
    fs: &FieldSpec,
    target: &Gvk,
    m: &ResMap,
    candidates: &[usize],
) -> Result<()> {
    let Value::String(old) = node else {
        return Ok(());
    };
    let picked = select_referral(file, old, candidates, referrer, fs, target, m, false)?;
    if let Some(j) = picked {
        let new = m.list[j].name().to_string();
        *node = Value::String(new);
    }
    Ok(())
}

fn set_mapping(
    file: &str,
    node: &mut Value,
    referrer: &Resource,
    fs: &FieldSpec,
    target: &Gvk,
    m: &ResMap,
    candidates: &[usize],
) -> Result<()> {
    let Value::Object(map) = node else {
        return Ok(());
    };
    let Some(old) = map.get("name").and_then(Value::as_str).map(str::to_string) else {
        return Err(Error::build(
            file,
            format!(
                "name reference in {} of {}: no 'name' field",
                fs.path_string(),
                referrer.cur_id()
            ),
        ));
    };
    let narrowed: Vec<usize> = match map.get("namespace").and_then(Value::as_str) {
        None => candidates.to_vec(),
        Some(ns) => {
            let by_original: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&j| m.list[j].org_id().namespace == ns)
                .collect();
            if by_original.is_empty() {
                candidates
                    .iter()
                    .copied()
                    .filter(|&j| m.list[j].namespace() == ns)
                    .collect()
            } else {
                by_original
            }
        }
    };
    let Some(j) = select_referral(file, &old, &narrowed, referrer, fs, target, m, true)? else {
        return Ok(());
    };
    let r = &m.list[j];
    if r.name() == old && r.namespace().is_empty() {
        return Ok(());
    }
    map.insert("name".into(), Value::String(r.name().to_string()));
    if !r.namespace().is_empty() {
        map.insert("namespace".into(), Value::String(r.namespace().to_string()));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn select_referral(
    file: &str,
    old: &str,
    candidates: &[usize],
    referrer: &Resource,
    fs: &FieldSpec,
    target: &Gvk,
    m: &ResMap,
    compare_namespaces: bool,
) -> Result<Option<usize>> {
    let role_ref_gvk = if fs.path_string().ends_with("roleRef/name") {
        referrer.obj.get("roleRef").and_then(|rr| {
            let kind = rr.get("kind")?.as_str()?;
            let group = rr.get("apiGroup")?.as_str()?;
            Some(Gvk {
                group: group.to_string(),
                version: String::new(),
                kind: kind.to_string(),
            })
        })
    } else {
        None
    };
    let rid = referrer.cur_id();
    let mut c: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&j| {
            let r = &m.list[j];
            r.prev_ids.iter().any(|p| p.name == old)
                && r.prev_ids.iter().any(|p| p.gvk.is_selected(target))
                && role_ref_gvk
                    .as_ref()
                    .is_none_or(|g| r.prev_ids.iter().any(|p| p.gvk.is_selected(g)))
                && (rid.gvk.is_cluster_scoped() || {
                    let id = r.cur_id();
                    id.gvk.is_cluster_scoped() || r.kind() == "ServiceAccount" || rid.ns_equals(&id)
                })
        })
        .collect();
    if c.len() == 1 {
        return Ok(c.pop());
    }
    c.retain(|&j| prefixes_suffixes_equal(&m.list[j], referrer, true));
    if c.len() > 1 {
        c.retain(|&j| prefixes_suffixes_equal(&m.list[j], referrer, false));
    }
    match c.len() {
        0 => Ok(None),
        1 => Ok(c.pop()),
        _ => {
            let first = &m.list[c[0]];
            let identical = c.iter().all(|&j| {
                m.list[j].name() == first.name()
                    && (!compare_namespaces || m.list[j].namespace() == first.namespace())
            });
            if identical {
                Ok(Some(c[0]))
            } else {
                let ids: Vec<String> = c.iter().map(|&j| m.list[j].cur_id().to_string()).collect();
                Err(Error::build(
                    file,
                    format!(
                        "updating name reference in '{}' field of '{}': found multiple possible referrals: {}",
                        fs.path_string(),
                        rid,
                        ids.join(", ")
                    ),
                ))
            }
        }
    }
}
