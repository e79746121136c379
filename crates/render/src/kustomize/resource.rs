//! Resources as a build carries them: the object plus what kustomize tracks beside it
//! (earlier ids, the prefixes and suffixes applied, generator behaviour), and the list
//! of resources with kustomize's id rules.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use flotilla_schema::{Scope, builtin};

/// Group, version and kind; an empty field in a selector matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub(crate) fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_string(),
        }
    }

    /// Whether `selector` selects this gvk (empty selector fields are wildcards).
    pub(crate) fn is_selected(&self, selector: &Gvk) -> bool {
        (selector.group.is_empty() || selector.group == self.group)
            && (selector.version.is_empty() || selector.version == self.version)
            && (selector.kind.is_empty() || selector.kind == self.kind)
    }

    /// Whether objects of this kind live outside namespaces. Kinds the built-in schema
    /// does not know are namespaced, as kustomize assumes.
    pub(crate) fn is_cluster_scoped(&self) -> bool {
        static SCOPES: OnceLock<HashMap<(String, String), Scope>> = OnceLock::new();
        let scopes = SCOPES.get_or_init(|| {
            let catalog = builtin();
            catalog
                .kinds()
                .filter_map(|gvk| {
                    let scope = catalog.scope(&gvk.group, &gvk.version, &gvk.kind)?;
                    Some(((gvk.group, gvk.kind), scope))
                })
                .collect()
        });
        scopes.get(&(self.group.clone(), self.kind.clone())) == Some(&Scope::Cluster)
    }
}

impl fmt::Display for Gvk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or = |s: &str, d: &'static str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        write!(
            f,
            "{}.{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]")
        )
    }
}

/// A resource's identity: gvk, name and namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct ResId {
    pub gvk: Gvk,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    /// The namespace the id effectively lives in: `default` for an unset namespace, and
    /// one shared marker for cluster-scoped kinds.
    pub(crate) fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            "_non_namespaceable_"
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    pub(crate) fn ns_equals(&self, other: &ResId) -> bool {
        self.effective_namespace() == other.effective_namespace()
    }

    /// kustomize's id equality: same gvk and name, same effective namespace.
    pub(crate) fn equals(&self, other: &ResId) -> bool {
        self.name == other.name && self.gvk == other.gvk && self.ns_equals(other)
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        write!(f, "{}/{}.{}", self.gvk, self.name, ns)
    }
}

/// What a generated resource does to one of the same id generated before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Behavior {
    /// It is new; an existing one is an error.
    #[default]
    Create,
    /// It replaces the existing one.
    Replace,
    /// Its data merges into the existing one's.
    Merge,
}

/// One resource in a build.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub obj: Map<String, Value>,
    /// Earlier ids, oldest first; the current id is not among them.
    pub prev_ids: Vec<ResId>,
    pub name_prefixes: Vec<String>,
    pub name_suffixes: Vec<String>,
    pub behavior: Behavior,
    pub needs_hash: bool,
    /// Where the resource came from, for `buildMetadata: [originAnnotations]`.
    pub origin: Option<Value>,
}

impl Resource {
    pub(crate) fn new(obj: Map<String, Value>) -> Self {
        Resource {
            obj,
            prev_ids: Vec::new(),
            name_prefixes: Vec::new(),
            name_suffixes: Vec::new(),
            behavior: Behavior::Create,
            needs_hash: false,
            origin: None,
        }
    }

    pub(crate) fn str_field(&self, key: &str) -> &str {
        self.obj.get(key).and_then(Value::as_str).unwrap_or("")
    }

    pub(crate) fn meta(&self, key: &str) -> &str {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub(crate) fn meta_map(&self, key: &str) -> Option<&Map<String, Value>> {
        self.obj
            .get("metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_object)
    }

    pub(crate) fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let meta = self
            .obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        match meta {
            Value::Object(m) => m,
            _ => unreachable!("metadata was made an object just above"),
        }
    }

    pub(crate) fn kind(&self) -> &str {
        self.str_field("kind")
    }

    pub(crate) fn name(&self) -> &str {
        self.meta("name")
    }

    pub(crate) fn namespace(&self) -> &str {
        self.meta("namespace")
    }

    pub(crate) fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.to_string()));
    }

    pub(crate) fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.str_field("apiVersion"), self.kind())
    }

    pub(crate) fn cur_id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }

    /// The id the resource had when it was read or generated.
    pub(crate) fn org_id(&self) -> ResId {
        self.prev_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.cur_id())
    }

    /// Remembers the current id before a transformation changes it.
    pub(crate) fn store_previous_id(&mut self) {
        let mut id = self.cur_id();
        // kustomize records the effective namespace.
        if !id.gvk.is_cluster_scoped() && id.namespace.is_empty() {
            id.namespace = "default".to_string();
        }
        self.prev_ids.push(id);
    }

    pub(crate) fn labels(&self) -> Map<String, Value> {
        self.meta_map("labels").cloned().unwrap_or_default()
    }

    pub(crate) fn annotations(&self) -> Map<String, Value> {
        self.meta_map("annotations").cloned().unwrap_or_default()
    }

    /// Whether this resource has the annotation `config.kubernetes.io/local-config`.
    pub(crate) fn is_local_config(&self) -> bool {
        self.meta_map("annotations")
            .is_some_and(|a| a.contains_key("config.kubernetes.io/local-config"))
    }
}

/// Whether `short` is a trailing run of `long` (kustomize's `SameEndingSubSlice`).
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.ends_with(short)
}

/// kustomize's `PrefixesSuffixesEquals`.
pub(crate) fn prefixes_suffixes_equal(a: &Resource, b: &Resource, allow_empty: bool) -> bool {
    if allow_empty {
        let p = a.name_prefixes.is_empty()
            || b.name_prefixes.is_empty()
            || same_ending(&a.name_prefixes, &b.name_prefixes);
        let s = a.name_suffixes.is_empty()
            || b.name_suffixes.is_empty()
            || same_ending(&a.name_suffixes, &b.name_suffixes);
        p && s
    } else {
        same_ending(&a.name_prefixes, &b.name_prefixes)
            && same_ending(&a.name_suffixes, &b.name_suffixes)
    }
}

/// Resources in order, with kustomize's rule that current ids are unique.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResMap {
    pub list: Vec<Resource>,
}

impl ResMap {
    /// Appends `r`, refusing a second resource with the same current id.
    pub(crate) fn append(&mut self, r: Resource) -> Result<(), String> {
        let id = r.cur_id();
        if self.list.iter().any(|x| x.cur_id().equals(&id)) {
            return Err(format!(
                "may not add resource with an already registered id: {id}"
            ));
        }
        self.list.push(r);
        Ok(())
    }

    pub(crate) fn append_all(&mut self, other: ResMap) -> Result<(), String> {
        for r in other.list {
            self.append(r)?;
        }
        Ok(())
    }

    /// Indices of resources with `id` among their current and earlier ids.
    pub(crate) fn matching_any_id(&self, id: &ResId) -> Vec<usize> {
        self.list
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                !r.obj.is_empty()
                    && (r.cur_id().equals(id) || r.prev_ids.iter().any(|p| p.equals(id)))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Adds a generated resource, honouring its behaviour towards an existing one.
    pub(crate) fn absorb(&mut self, mut r: Resource) -> Result<(), String> {
        let id = r.cur_id();
        let matches = self.matching_any_id(&id);
        match matches.as_slice() {
            [] => match r.behavior {
                Behavior::Create => self.append(r),
                _ => Err(format!("id {id} does not exist; cannot merge or replace")),
            },
            [i] => {
                let old = &self.list[*i];
                match r.behavior {
                    Behavior::Create => {
                        Err(format!("id {id} exists; behavior must be merge or replace"))
                    }
                    Behavior::Replace | Behavior::Merge => {
                        copy_merge_metadata(&mut r, old);
                        if r.behavior == Behavior::Merge {
                            for field in ["data", "binaryData"] {
                                merge_string_map(&mut r.obj, &old.obj, field);
                            }
                            if old.origin.is_some() {
                                r.origin = old.origin.clone();
                            }
                        }
                        r.behavior = Behavior::Create;
                        self.list[*i] = r;
                        Ok(())
                    }
                }
            }
            _ => Err(format!(
                "found multiple objects that could accept merge of {id}"
            )),
        }
    }
}

/// kustomize's `CopyMergeMetaDataFieldsFrom`: labels and annotations merge (the new
/// resource's win), name and namespace come from the old one.
fn copy_merge_metadata(r: &mut Resource, old: &Resource) {
    for key in ["labels", "annotations"] {
        let mut merged = old.meta_map(key).cloned().unwrap_or_default();
        if let Some(new) = r.meta_map(key) {
            for (k, v) in new {
                merged.insert(k.clone(), v.clone());
            }
        }
        if !merged.is_empty() {
            r.metadata_mut().insert(key.into(), Value::Object(merged));
        }
    }
    let name = old.name().to_string();
    r.set_name(&name);
    let ns = old.namespace().to_string();
    if ns.is_empty() {
        r.metadata_mut().remove("namespace");
    } else {
        r.metadata_mut()
            .insert("namespace".into(), Value::String(ns));
    }
    r.prev_ids = old.prev_ids.clone();
    r.name_prefixes = old.name_prefixes.clone();
    r.name_suffixes = old.name_suffixes.clone();
}

fn merge_string_map(new: &mut Map<String, Value>, old: &Map<String, Value>, field: &str) {
    let mut merged = old
        .get(field)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Object(m)) = new.get(field) {
        for (k, v) in m {
            merged.insert(k.clone(), v.clone());
        }
    }
    if !merged.is_empty() {
        merged.sort_keys();
        new.insert(field.to_string(), Value::Object(merged));
    }
}
