//! Patches: strategic merge (by the patch's own id, or by a target selector) and JSON
//! 6902 (by target), and the selector that picks targets.

use flotilla_core::labels::Selector as LabelSelector;
use flotilla_schema::{SchemaRef, builtin, strategic_merge_patch_owned};
use regex::Regex;
use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::kustomization::{PatchOptions, Selector};
use super::openapi::OpenApi;
use super::resource::{ResMap, Resource, effective_namespace};
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
    openapi: &mut OpenApi,
) -> Result<()> {
    match patch {
        Patch::Strategic(patches) => {
            for p in patches {
                let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("");
                openapi.saw(s("apiVersion"), s("kind"))?;
            }
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
                    m.update(i, |r| {
                        apply_smp(file, source, r, &patches[0], options, openapi)
                    })?;
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
                    m.update(i, |r| apply_smp(file, source, r, p, options, openapi))?;
                }
            }
            if m.list().iter().any(|r| r.obj.is_empty()) {
                m.retain(|r| !r.obj.is_empty());
            }
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
                m.update(i, |r| json_patch_one(file, source, r, ops))?;
            }
            Ok(())
        }
    }
}

fn json_patch_one(
    file: &str,
    source: &str,
    r: &mut Resource,
    ops: &json_patch::Patch,
) -> Result<()> {
    r.store_previous_id();
    let mut doc = Value::Object(std::mem::take(&mut r.obj));
    json_patch::patch(&mut doc, ops)
        .map_err(|e| Error::build(file, format!("applying JSON patch {source}: {e}")))?;
    match doc {
        Value::Object(o) => {
            r.obj = o;
            Ok(())
        }
        _ => Err(Error::build(
            file,
            format!("JSON patch {source} did not leave an object"),
        )),
    }
}

fn apply_smp(
    file: &str,
    source: &str,
    r: &mut Resource,
    patch: &Map<String, Value>,
    options: &PatchOptions,
    openapi: &mut OpenApi,
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
    let custom = openapi.for_patch()?;
    // Loading the built-in schema costs more than most builds; skip it when it cannot
    // change the result. (A custom schema never gives a map field a strategy.)
    let schema = if schema_matters(patch) {
        match &custom {
            Some(c) => c.catalog().kind(&gvk.group, &gvk.version, &gvk.kind),
            None => builtin().kind(&gvk.group, &gvk.version, &gvk.kind),
        }
    } else {
        None
    };
    let mut patch = patch.clone();
    // The patch's own apiVersion and kind only identify it.
    patch.remove("apiVersion");
    if !options.allow_kind_change {
        patch.remove("kind");
    }
    if let Some(schema) = schema {
        refuse_multi_key_merges(file, source, &r.obj, &patch, schema, "")?;
    }
    // Kept to order merged lists afterwards (only lists merge, so only with a schema).
    let patch_for_order = schema.map(|_| patch.clone());
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
    if let (Some(schema), Some(p)) = (schema, &patch_for_order) {
        order_merged_lists(&mut r.obj, p, schema);
    }
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

/// Refuses a strategic merge whose result would differ from kustomize's because a list
/// is keyed by several fields (`x-kubernetes-list-map-keys`, e.g. a container's ports by
/// `containerPort` and `protocol`): kyaml matches elements on all the keys, apimachinery's
/// merge (used here) on the patch merge key alone. They differ when a patch element and
/// a live one share the merge key but not the value (or absence) of another key: then
/// kustomize keeps both, or drops the patch's element when it lacks a key the live one
/// has, where the merge here would fold them into one.
fn refuse_multi_key_merges(
    file: &str,
    source: &str,
    original: &Map<String, Value>,
    patch: &Map<String, Value>,
    schema: SchemaRef<'_>,
    path: &str,
) -> Result<()> {
    for (key, p) in patch {
        if key.starts_with('$') {
            continue;
        }
        let (Some(o), Some(field)) = (original.get(key), schema.field(key)) else {
            continue;
        };
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match (o, p) {
            (Value::Object(o), Value::Object(p)) => {
                refuse_multi_key_merges(file, source, o, p, field, &here)?;
            }
            (Value::Array(o), Value::Array(p)) if field.patch_strategy().is_merge() => {
                let Some(mk) = field.patch_merge_key() else {
                    continue;
                };
                let keys = field.list_map_keys();
                let text = |v: Option<&Value>| match v {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                };
                for pe in p.iter().filter_map(Value::as_object) {
                    let Some(oe) = o
                        .iter()
                        .filter_map(Value::as_object)
                        .find(|oe| oe.get(mk).is_some() && oe.get(mk) == pe.get(mk))
                    else {
                        continue;
                    };
                    if let Some(other) = keys
                        .iter()
                        .find(|k| text(oe.get(k.as_str())) != text(pe.get(k.as_str())))
                    {
                        let shown = |v: Option<&Value>| match text(v) {
                            t if t.is_empty() => "none".to_string(),
                            t => t,
                        };
                        return Err(Error::Unsupported {
                            file: file.to_string(),
                            what: "strategic merge of a list keyed by several fields",
                            detail: format!(
                                "{source}: {here}: the patch's element with {mk} {} has {other} {}, the live one {}; kustomize matches elements on all of {} and Flotilla's merge would fold them into one",
                                text(pe.get(mk)),
                                shown(pe.get(other.as_str())),
                                shown(oe.get(other.as_str())),
                                keys.join(", ")
                            ),
                        });
                    }
                    if let Some(items) = field.items() {
                        refuse_multi_key_merges(file, source, oe, pe, items, &here)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Orders the lists a strategic merge merged as kustomize (kyaml, merging with the
/// patch's elements prepended) orders them: the elements the patch names, in the patch's
/// order, then the others in their order. apimachinery's merge keeps live elements in
/// place, so patching a Deployment's second container would otherwise leave it second
/// where kustomize moves it first. A list the patch orders itself (`$setElementOrder`)
/// is left as merged.
fn order_merged_lists(
    merged: &mut Map<String, Value>,
    patch: &Map<String, Value>,
    schema: SchemaRef<'_>,
) {
    for (key, p) in patch {
        if key.starts_with('$') || patch.contains_key(&format!("$setElementOrder/{key}")) {
            continue;
        }
        let (Some(m), Some(field)) = (merged.get_mut(key), schema.field(key)) else {
            continue;
        };
        match (m, p) {
            (Value::Object(m), Value::Object(p)) => order_merged_lists(m, p, field),
            (Value::Array(m), Value::Array(p)) if field.patch_strategy().is_merge() => {
                let mk = field.patch_merge_key();
                // Which result element a patch element names: by merge key, or (a list of
                // scalars) by value.
                let same = |a: &Value, b: &Value| match mk {
                    Some(mk) => a.is_object() && a.get(mk).is_some() && a.get(mk) == b.get(mk),
                    None => !a.is_object() && a == b,
                };
                let mut rest: Vec<Option<Value>> =
                    std::mem::take(m).into_iter().map(Some).collect();
                let mut ordered = Vec::with_capacity(rest.len());
                for pe in p {
                    if let Some(slot) = rest
                        .iter_mut()
                        .find(|slot| slot.as_ref().is_some_and(|e| same(e, pe)))
                    {
                        ordered.extend(slot.take());
                    }
                }
                ordered.extend(rest.into_iter().flatten());
                *m = ordered;
                if let (Some(mk), Some(items)) = (mk, field.items()) {
                    for pe in p.iter().filter_map(Value::as_object) {
                        if let Some(Value::Object(me)) = m.iter_mut().find(|e| {
                            e.is_object() && e.get(mk).is_some() && e.get(mk) == pe.get(mk)
                        }) {
                            order_merged_lists(me, pe, items);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// Map fields of built-in kinds with a patch strategy of their own (`retainKeys` on
/// `DeploymentSpec.strategy`, `replace` on `PodDisruptionBudgetSpec.selector`). A test
/// checks this against the schema.
const MAP_FIELDS_WITH_STRATEGY: &[&str] = &["strategy", "selector"];

/// Whether strategic merge of `patch` needs the target's schema. The schema only
/// decides how lists merge, what `$` directives mean, and how the few map fields with
/// a patch strategy merge; a patch of plain maps and scalars merges the same without.
fn schema_matters(patch: &Map<String, Value>) -> bool {
    fn walk(m: &Map<String, Value>) -> bool {
        m.iter().any(|(k, v)| {
            k.starts_with('$')
                || MAP_FIELDS_WITH_STRATEGY.contains(&k.as_str())
                || match v {
                    Value::Array(_) => true,
                    Value::Object(inner) => walk(inner),
                    _ => false,
                }
        })
    }
    walk(patch)
}

/// Indices of the resources `sel` selects: name and namespace by original or current
/// value, gvk by current value, each an anchored regular expression.
pub(crate) fn select(file: &str, m: &mut ResMap, sel: &Selector) -> Result<Vec<usize>> {
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
    // A name without regular-expression syntax matches only itself: look it up instead
    // of testing every resource (overlays patch hundreds of objects by name).
    let literal = !sel.name.is_empty()
        && sel
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let candidates: Vec<usize> = if literal {
        m.named(&sel.name)
    } else {
        (0..m.len()).collect()
    };
    let mut out = Vec::new();
    for i in candidates {
        let r = m.get(i);
        let (cur_gvk, org) = (r.gvk(), r.org_id());
        let cur_ns = effective_namespace(&cur_gvk, r.namespace());
        if !ok(&namespace, org.effective_namespace()) && !ok(&namespace, cur_ns) {
            continue;
        }
        if !ok(&name, &org.name) && !ok(&name, r.name()) {
            continue;
        }
        if !ok(&group, &cur_gvk.group)
            || !ok(&version, &cur_gvk.version)
            || !ok(&kind, &cur_gvk.kind)
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

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_schema::builtin_definitions_json;
    use serde_json::json;

    #[test]
    fn map_fields_with_a_patch_strategy_are_all_known() {
        let mut found = Vec::new();
        for def in builtin_definitions_json().values() {
            let Some(props) = def.get("properties").and_then(Value::as_object) else {
                continue;
            };
            for (name, p) in props {
                let scalar_or_list = matches!(
                    p.get("type").and_then(Value::as_str),
                    Some("array" | "string" | "integer" | "number" | "boolean")
                );
                if p.get("x-kubernetes-patch-strategy").is_some() && !scalar_or_list {
                    found.push(name.clone());
                }
            }
        }
        found.sort();
        found.dedup();
        let mut known: Vec<String> = MAP_FIELDS_WITH_STRATEGY
            .iter()
            .map(|s| s.to_string())
            .collect();
        known.sort();
        assert_eq!(found, known);
    }

    #[test]
    fn plain_map_patches_merge_the_same_without_the_schema() {
        let deployment = builtin().kind("apps", "v1", "Deployment");
        let original = json!({
            "metadata": {"name": "web", "labels": {"a": "1"}},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}
        });
        let patch = json!({"metadata": {"labels": {"b": "2", "a": null}}, "spec": {"replicas": 3}});
        let Value::Object(p) = &patch else {
            unreachable!()
        };
        assert!(!schema_matters(p));
        let with =
            strategic_merge_patch_owned(original.clone(), patch.clone(), deployment.as_ref())
                .unwrap();
        let without = strategic_merge_patch_owned(original, patch, None).unwrap();
        assert_eq!(with, without);
        let lists = json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}});
        let Value::Object(l) = &lists else {
            unreachable!()
        };
        assert!(schema_matters(l));
    }
}
