//! The supplement itself: what the 1.33 definitions have that the embedded 1.21.2 ones
//! lack, with list markers from [`Strategies`] and patch strategies from
//! [`crate::patch_table`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::Error;
use crate::roots::Root;
use crate::strategies::{Strategies, Strategy};

const REF_PREFIX: &str = "#/definitions/";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// What the generator found, for the maintainer to read; nothing here is written out.
#[derive(Default)]
pub(crate) struct Report {
    /// `Definition.property` added to a definition 1.21.2 has.
    pub(crate) new_properties: Vec<String>,
    /// Definitions 1.21.2 lacks, carried whole.
    pub(crate) new_definitions: Vec<String>,
    /// Definitions 1.21.2 lacks that nothing in the supplement reaches (they are only
    /// reached through a property whose 1.21.2 shape stays authoritative); left out.
    pub(crate) unreached_definitions: Vec<String>,
    /// Properties both versions have whose type or `$ref` differ; 1.21.2's shape is kept.
    pub(crate) changed: Vec<String>,
    /// Properties 1.21.2 has and 1.33 no longer does; kept (the merge is additive).
    pub(crate) removed: Vec<String>,
}

/// Builds the supplement document from the 1.33 definitions `v133` and the 1.21.2
/// document `base` (with `definitions` and `resources`).
pub(crate) fn build(
    v133: &Map<String, Value>,
    base: &Value,
    roots: &[Root],
    strategies: &Strategies,
    source: &str,
) -> Result<(Value, Report), Error> {
    let base_defs = base
        .get("definitions")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::Schema("the 1.21.2 document has no definitions".into()))?;
    let mut report = Report::default();
    let mut out: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut whole: BTreeSet<String> = BTreeSet::new();

    // (1.21.2 name, 1.33 name) pairs to diff: every definition under its own name,
    // then the definitions 1.33 renamed, found where a property's `$ref` changed.
    let mut pairs: Vec<(String, String)> = Vec::new();
    let sorted: BTreeMap<&String, &Value> = v133.iter().collect();
    for (name, def) in sorted {
        if base_defs.contains_key(name.as_str()) {
            pairs.push((name.clone(), name.clone()));
            continue;
        }
        let Value::Object(mut def) = def.clone() else {
            return Err(Error::Schema(format!("{name}: not an object schema")));
        };
        let names: Vec<String> = properties(&def)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        for prop in names {
            if let Some(schema) = def.get_mut("properties").and_then(|p| p.get_mut(&prop)) {
                annotate(name, &prop, schema, strategies)?;
            }
        }
        whole.insert(name.clone());
        out.insert(name.clone(), def);
    }
    let diff = Diff {
        base_defs,
        v133,
        strategies,
    };
    let mut seen: BTreeSet<(String, String)> = pairs.iter().cloned().collect();
    let mut next = 0;
    while let Some((old, new)) = pairs.get(next).cloned() {
        next += 1;
        for renamed in diff.run(&old, &new, &mut out, &mut report)? {
            if seen.insert(renamed.clone()) {
                pairs.push(renamed);
            }
        }
    }
    report.new_properties.sort();
    report.new_properties.dedup();

    crate::patch_table::apply(&mut out)?;
    let resources = served_kinds(roots, base, base_defs, &mut out, &mut whole)?;
    prune_unreached(&mut out, &whole, &mut report);
    report.new_definitions = whole
        .iter()
        .filter(|n| out.contains_key(*n))
        .cloned()
        .collect();
    check_references(&out, base_defs)?;

    let doc = json!({
        "formatVersion": 1,
        "kubernetesVersion": "v1.33",
        "base": "v1.21.2",
        "source": source,
        "merge": "additive: a definition or property the base has is never replaced",
        "definitions": out,
        "resources": resources,
    });
    Ok((doc, report))
}

fn properties(def: &Map<String, Value>) -> Option<&Map<String, Value>> {
    def.get("properties").and_then(Value::as_object)
}

/// Compares one definition across the two versions.
struct Diff<'a> {
    base_defs: &'a Map<String, Value>,
    v133: &'a Map<String, Value>,
    strategies: &'a Strategies,
}

impl Diff<'_> {
    /// Adds to `out[old]` the properties 1.33's `new` has and 1.21.2's `old` lacks, and
    /// returns the pairs of definitions a changed `$ref` points at: 1.33 renamed
    /// `Handler` to `LifecycleHandler` when it added `sleep`, and keeping 1.21.2's
    /// `$ref` (the merge is additive) must not lose the new fields.
    fn run(
        &self,
        old: &str,
        new: &str,
        out: &mut BTreeMap<String, Map<String, Value>>,
        report: &mut Report,
    ) -> Result<Vec<(String, String)>, Error> {
        let (Some(base_def), Some(def)) = (self.base_defs.get(old), self.v133.get(new)) else {
            return Ok(Vec::new());
        };
        let base_props = base_def.as_object().and_then(properties);
        let new_props = def.as_object().and_then(properties);
        let label = if old == new {
            old.to_owned()
        } else {
            format!("{old} (as {new})")
        };
        let mut renamed = Vec::new();
        for (prop, schema) in new_props.into_iter().flatten() {
            match base_props.and_then(|b| b.get(prop)) {
                None => {
                    let mut schema = schema.clone();
                    annotate(new, prop, &mut schema, self.strategies)?;
                    let props = out
                        .entry(old.to_owned())
                        .or_default()
                        .entry("properties")
                        .or_insert_with(|| json!({}));
                    if let Some(props) = props.as_object_mut() {
                        props.entry(prop.clone()).or_insert(schema);
                    }
                    report.new_properties.push(format!("{label}.{prop}"));
                }
                Some(before) if shape(before) != shape(schema) => {
                    report.changed.push(format!(
                        "{label}.{prop}: 1.21.2 {}, 1.33 {}",
                        shape(before),
                        shape(schema)
                    ));
                    if let (Some(from), Some(to)) = (ref_target(before), ref_target(schema)) {
                        renamed.push((from.to_owned(), to.to_owned()));
                    }
                }
                Some(_) => {}
            }
        }
        for prop in base_props.into_iter().flat_map(Map::keys) {
            if new_props.is_none_or(|p| !p.contains_key(prop)) {
                report.removed.push(format!("{label}.{prop}"));
            }
        }
        Ok(renamed)
    }
}

/// The definition a property refers to, directly or as its items or map values.
fn ref_target(schema: &Value) -> Option<&str> {
    [
        Some(schema),
        schema.get("items"),
        schema.get("additionalProperties"),
    ]
    .into_iter()
    .flatten()
    .find_map(|s| s.get("$ref").and_then(Value::as_str))
    .map(|r| r.strip_prefix(REF_PREFIX).unwrap_or(r))
}

/// A property's type in one word, for spotting properties whose shape changed.
fn shape(schema: &Value) -> String {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.trim_start_matches(REF_PREFIX).to_owned();
    }
    let int_or_string = schema.get("format") == Some(&json!("int-or-string"))
        || schema.get("x-kubernetes-int-or-string") == Some(&json!(true));
    if int_or_string {
        return "int-or-string".into();
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    match (schema.get("items"), schema.get("additionalProperties")) {
        (Some(items), _) => format!("[{}]", shape(items)),
        (None, Some(values)) if values.is_object() => format!("map[{}]", shape(values)),
        _ => ty.to_owned(),
    }
}

/// Adds the list or map markers k8s-openapi's merge code records for `def.prop`.
fn annotate(
    def: &str,
    prop: &str,
    schema: &mut Value,
    strategies: &Strategies,
) -> Result<(), Error> {
    let is_list = schema.get("type") == Some(&json!("array"));
    let strategy = strategies.of(def, prop);
    let Value::Object(m) = schema else {
        return Err(Error::Schema(format!("{def}.{prop}: not an object schema")));
    };
    match strategy {
        Some(Strategy::ListAtomic) => {
            m.insert("x-kubernetes-list-type".into(), json!("atomic"));
        }
        Some(Strategy::ListSet) => {
            m.insert("x-kubernetes-list-type".into(), json!("set"));
        }
        Some(Strategy::ListMap(rust_keys)) => {
            let item = m
                .get("items")
                .and_then(|i| i.get("$ref"))
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
                .ok_or_else(|| {
                    Error::Schema(format!("{def}.{prop}: keyed list of unnamed items"))
                })?;
            let keys = strategies
                .map_keys(item, rust_keys)
                .map_err(|e| Error::Schema(format!("{def}.{prop}: {e}")))?;
            m.insert("x-kubernetes-list-type".into(), json!("map"));
            m.insert("x-kubernetes-list-map-keys".into(), json!(keys));
        }
        Some(Strategy::MapAtomic) => {
            m.insert("x-kubernetes-map-type".into(), json!("atomic"));
        }
        Some(Strategy::MapGranular) | None if !is_list => {}
        Some(Strategy::MapGranular) | None => {
            return Err(Error::Schema(format!(
                "{def}.{prop}: a list without a merge strategy in k8s-openapi's source"
            )));
        }
    }
    Ok(())
}

/// Makes the kinds 1.21.2 lacks (autoscaling/v2) servable: their group/version/kind,
/// their list definitions, and the `resources` entries the catalog indexes (scope
/// included). Returns the new `resources` entries.
fn served_kinds(
    roots: &[Root],
    base: &Value,
    base_defs: &Map<String, Value>,
    out: &mut BTreeMap<String, Map<String, Value>>,
    whole: &mut BTreeSet<String>,
) -> Result<Vec<Value>, Error> {
    let base_resources = base.get("resources").and_then(Value::as_array);
    let served_api_versions: BTreeSet<&str> = base_resources
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("apiVersion").and_then(Value::as_str))
        .collect();
    let mut resources = Vec::new();
    let mut new_api_versions = BTreeSet::new();
    for root in roots
        .iter()
        .filter(|r| !base_defs.contains_key(&r.definition))
    {
        let gvk =
            |kind: &str| json!([{"group": root.group, "kind": kind, "version": root.version}]);
        let def = out
            .get_mut(&root.definition)
            .ok_or_else(|| Error::Schema(format!("{}: no 1.33 schema", root.definition)))?;
        def.insert("x-kubernetes-group-version-kind".into(), gvk(root.kind));
        // k8s-openapi marks `metadata` required because its Rust field is not optional;
        // Kubernetes' own definitions do not require it.
        if let Some(Value::Array(required)) = def.get_mut("required") {
            required.retain(|r| r != "metadata");
            if required.is_empty() {
                def.remove("required");
            }
        }

        let package = root
            .definition
            .rsplit_once('.')
            .map(|(package, _)| package)
            .ok_or_else(|| Error::Schema(format!("{}: not a dotted name", root.definition)))?;
        resources.push(json!({
            "apiVersion": root.api_version,
            "kind": root.kind,
            "definition": root.definition,
            "scope": root.scope,
        }));
        // Create-only kinds (the reviews) have no list, so no List definition either.
        if let Some(list_kind) = root.list_kind {
            let list = format!("{package}.{list_kind}");
            if !base_defs.contains_key(&list) && !out.contains_key(&list) {
                // k8s-openapi models lists as one generic `List<T>` without a schema; every
                // Kubernetes list definition has this shape.
                if let Value::Object(list_def) = json!({
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "items": {"type": "array", "items": {"$ref": format!("{REF_PREFIX}{}", root.definition)}},
                        "kind": {"type": "string"},
                        "metadata": {"$ref": format!("{REF_PREFIX}{LIST_META}")},
                    },
                    "x-kubernetes-group-version-kind": gvk(list_kind),
                }) {
                    out.insert(list.clone(), list_def);
                    whole.insert(list.clone());
                }
            }
            resources.push(
                json!({"apiVersion": root.api_version, "kind": list_kind, "definition": list}),
            );
        }
        if !served_api_versions.contains(root.api_version) {
            new_api_versions.insert(root.api_version);
        }
    }
    // Every served group/version also answers with these two meta kinds (1.21.2 lists
    // them for each of its group/versions).
    for api_version in new_api_versions {
        for kind in ["DeleteOptions", "WatchEvent"] {
            resources.push(json!({
                "apiVersion": api_version,
                "kind": kind,
                "definition": format!("io.k8s.apimachinery.pkg.apis.meta.v1.{kind}"),
            }));
        }
    }
    Ok(resources)
}

/// Every `$ref` name under `schema`, following schema positions only.
fn references<'a>(schema: &'a Value, found: &mut Vec<&'a str>) {
    let Value::Object(m) = schema else { return };
    if let Some(r) = m.get("$ref").and_then(Value::as_str) {
        found.push(r.strip_prefix(REF_PREFIX).unwrap_or(r));
    }
    if let Some(Value::Object(props)) = m.get("properties") {
        props.values().for_each(|p| references(p, found));
    }
    for key in ["items", "additionalProperties"] {
        if let Some(s) = m.get(key) {
            references(s, found);
        }
    }
}

fn def_references(def: &Map<String, Value>) -> Vec<&str> {
    let mut found = Vec::new();
    for (key, value) in def {
        match key.as_str() {
            "properties" => value
                .as_object()
                .into_iter()
                .flat_map(Map::values)
                .for_each(|p| references(p, &mut found)),
            "items" | "additionalProperties" => references(value, &mut found),
            _ => {}
        }
    }
    found
}

/// Drops whole definitions that nothing added by the supplement refers to: 1.33 may
/// reach them only through a property whose 1.21.2 shape the merge keeps.
fn prune_unreached(
    out: &mut BTreeMap<String, Map<String, Value>>,
    whole: &BTreeSet<String>,
    report: &mut Report,
) {
    let mut reached: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<String> = Vec::new();
    for (name, def) in out.iter() {
        // Additions to old definitions, and new kinds, are wanted by construction.
        let wanted = !whole.contains(name) || def.contains_key("x-kubernetes-group-version-kind");
        if wanted {
            pending.push(name.clone());
        }
    }
    while let Some(name) = pending.pop() {
        if !reached.insert(name.clone()) {
            continue;
        }
        if let Some(def) = out.get(&name) {
            pending.extend(def_references(def).into_iter().map(str::to_owned));
        }
    }
    let unreached: Vec<String> = out
        .keys()
        .filter(|n| !reached.contains(*n))
        .cloned()
        .collect();
    for name in unreached {
        out.remove(&name);
        report.unreached_definitions.push(name);
    }
}

/// Fails if a `$ref` in the supplement names a definition neither document has.
fn check_references(
    out: &BTreeMap<String, Map<String, Value>>,
    base_defs: &Map<String, Value>,
) -> Result<(), Error> {
    for (name, def) in out {
        for r in def_references(def) {
            if !out.contains_key(r) && !base_defs.contains_key(r) {
                return Err(Error::Schema(format!(
                    "{name} refers to {r}, which neither document defines"
                )));
            }
        }
    }
    Ok(())
}
