//! Patches: strategic merge (by the patch's own id, or by a target selector) and JSON
//! 6902 (by target), and the selector that picks targets.

use flotilla_core::labels::Selector as LabelSelector;
use flotilla_schema::{builtin, strategic_merge_patch_owned};
use regex::Regex;
use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::kustomization::{PatchOptions, Selector};
use super::resource::{ResMap, Resource};
use super::yaml;

/// A parsed patch.
#[derive(Debug, Clone)]
pub(crate) enum Patch {
    /// Strategic merge patches (a file may hold several).
    Strategic(Vec<Map<String, Value>>),
    /// JSON 6902 operations.
    Json(json_patch::Patch),
}

/// Parses patch text; `source` names it in errors. A YAML or JSON list is a JSON 6902
/// patch, anything else strategic merge.
pub(crate) fn parse(file: &str, source: &str, text: &str) -> Result<Patch> {
    let docs = yaml::parse_documents(source, text.as_bytes()).map_err(|e| match e {
        Error::Yaml { reason, .. } => Error::Yaml {
            file: file.to_string(),
            reason: format!("patch {source}: {reason}"),
        },
        other => other,
    })?;
    if let [Value::Array(_)] = docs.as_slice() {
        let ops = docs.into_iter().next().unwrap_or(Value::Null);
        let patch: json_patch::Patch = serde_json::from_value(ops).map_err(|e| {
            Error::field(
                file,
                "patches",
                format!("{source}: invalid JSON patch: {e}"),
            )
        })?;
        return Ok(Patch::Json(patch));
    }
    let mut out = Vec::new();
    for d in docs {
        match d {
            Value::Object(m) => out.push(m),
            _ => {
                return Err(Error::field(
                    file,
                    "patches",
                    format!("{source}: unable to parse SM or JSON patch"),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::field(
            file,
            "patches",
            format!("{source}: empty patch"),
        ));
    }
    Ok(Patch::Strategic(out))
}

/// Applies a patch entry of `patches` (or `patchesStrategicMerge`, or
/// `patchesJson6902`, with `target` set accordingly).
pub(crate) fn apply(
    file: &str,
    source: &str,
    m: &mut ResMap,
    patch: &Patch,
    target: Option<&Selector>,
    options: &PatchOptions,
) -> Result<()> {
    match patch {
        Patch::Strategic(patches) => {
            if let Some(target) = target {
                if patches.len() > 1 {
                    return Err(Error::field(
                        file,
                        "patches",
                        format!(
                            "{source}: multiple strategic merge patches in one entry may not have a target"
                        ),
                    ));
                }
                let selected = select(file, m, target)?;
                for i in selected {
                    apply_smp(file, source, &mut m.list[i], &patches[0], options)?;
                }
            } else {
                for p in patches {
                    let patch_res = Resource::new(p.clone());
                    let id = patch_res.org_id();
                    let matches = m.matching_any_id(&id);
                    let i = match matches.as_slice() {
                        [i] => *i,
                        [] => {
                            return Err(Error::build(
                                file,
                                format!(
                                    "no resource matches strategic merge patch {id} ({source})"
                                ),
                            ));
                        }
                        _ => {
                            return Err(Error::build(
                                file,
                                format!(
                                    "multiple matches for id {id}; failed to find unique target for patch ({source})"
                                ),
                            ));
                        }
                    };
                    apply_smp(file, source, &mut m.list[i], p, options)?;
                }
            }
            m.list.retain(|r| !r.obj.is_empty());
            Ok(())
        }
        Patch::Json(ops) => {
            let Some(target) = target else {
                return Err(Error::field(
                    file,
                    "patches",
                    format!("must specify a target for JSON patch {source}"),
                ));
            };
            for i in select(file, m, target)? {
                let r = &mut m.list[i];
                r.store_previous_id();
                let mut doc = Value::Object(std::mem::take(&mut r.obj));
                json_patch::patch(&mut doc, ops).map_err(|e| {
                    Error::build(file, format!("applying JSON patch {source}: {e}"))
                })?;
                match doc {
                    Value::Object(o) => r.obj = o,
                    _ => {
                        return Err(Error::build(
                            file,
                            format!("JSON patch {source} did not leave an object"),
                        ));
                    }
                }
            }
            Ok(())
        }
    }
}

fn apply_smp(
    file: &str,
    source: &str,
    r: &mut Resource,
    patch: &Map<String, Value>,
    options: &PatchOptions,
) -> Result<()> {
    let (name, ns, kind) = (
        r.name().to_string(),
        r.namespace().to_string(),
        r.kind().to_string(),
    );
    if options.allow_name_change || options.allow_kind_change {
        r.store_previous_id();
    }
    let gvk = r.gvk();
    let schema = builtin().kind(&gvk.group, &gvk.version, &gvk.kind);
    let mut patch = patch.clone();
    // The patch's own apiVersion and kind only identify it.
    patch.remove("apiVersion");
    if !options.allow_kind_change {
        patch.remove("kind");
    }
    let original = Value::Object(std::mem::take(&mut r.obj));
    let merged = strategic_merge_patch_owned(original, Value::Object(patch), schema.as_ref())
        .map_err(|e| {
            Error::build(
                file,
                format!("applying strategic merge patch {source} to {}: {e}", gvk),
            )
        })?;
    r.obj = match merged {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    if r.obj.is_empty() {
        return Ok(());
    }
    if !options.allow_kind_change {
        r.obj.insert("kind".into(), Value::String(kind));
    }
    if !options.allow_name_change {
        r.set_name(&name);
    }
    if ns.is_empty() {
        r.metadata_mut().remove("namespace");
    } else {
        r.metadata_mut()
            .insert("namespace".into(), Value::String(ns));
    }
    Ok(())
}

/// Indices of the resources `sel` selects: name and namespace by original or current
/// value, gvk by current value, each an anchored regular expression.
pub(crate) fn select(file: &str, m: &ResMap, sel: &Selector) -> Result<Vec<usize>> {
    let re = |field: &str, pattern: &str| -> Result<Option<Regex>> {
        if pattern.is_empty() {
            return Ok(None);
        }
        Regex::new(&format!("^(?:{pattern})$"))
            .map(Some)
            .map_err(|e| Error::field(file, format!("target.{field}"), e.to_string()))
    };
    let group = re("group", &sel.group)?;
    let version = re("version", &sel.version)?;
    let kind = re("kind", &sel.kind)?;
    let name = re("name", &sel.name)?;
    let namespace = re("namespace", &sel.namespace)?;
    let labels = parse_selector(file, "labelSelector", &sel.label_selector)?;
    let annotations = parse_selector(file, "annotationSelector", &sel.annotation_selector)?;
    let ok = |re: &Option<Regex>, s: &str| re.as_ref().is_none_or(|r| r.is_match(s));
    let mut out = Vec::new();
    for (i, r) in m.list.iter().enumerate() {
        let cur = r.cur_id();
        let org = r.org_id();
        if !ok(&namespace, org.effective_namespace()) && !ok(&namespace, cur.effective_namespace())
        {
            continue;
        }
        if !ok(&name, &org.name) && !ok(&name, &cur.name) {
            continue;
        }
        if !ok(&group, &cur.gvk.group)
            || !ok(&version, &cur.gvk.version)
            || !ok(&kind, &cur.gvk.kind)
        {
            continue;
        }
        if let Some(s) = &labels
            && !s.matches(&r.labels())
        {
            continue;
        }
        if let Some(s) = &annotations
            && !s.matches(&r.annotations())
        {
            continue;
        }
        out.push(i);
    }
    Ok(out)
}

fn parse_selector(file: &str, field: &str, s: &str) -> Result<Option<LabelSelector>> {
    if s.is_empty() {
        return Ok(None);
    }
    LabelSelector::parse(s)
        .map(Some)
        .map_err(|e| Error::field(file, format!("target.{field}"), e.to_string()))
}
