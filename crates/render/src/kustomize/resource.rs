//! Resources as a build carries them: the object plus what kustomize tracks beside it
//! (earlier ids, the prefixes and suffixes applied, generator behaviour), and the list
//! of resources with kustomize's id rules.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

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
    /// does not know are namespaced, as kustomize assumes; while a custom schema is in
    /// effect (`openapi`), kustomize's answer under it.
    pub(crate) fn is_cluster_scoped(&self) -> bool {
        super::openapi::custom_cluster_scoped(self)
            .unwrap_or_else(|| is_cluster_scoped(&self.group, &self.kind))
    }
}

/// The cluster-scoped kinds of the built-in schema, as (group, kind), sorted. Kept as a
/// table because the schema takes longer to load than a small build takes to run, and
/// most builds need only this from it; a test checks it against the schema.
pub(crate) const CLUSTER_SCOPED: &[(&str, &str)] = &[
    ("", "ComponentStatus"),
    ("", "Namespace"),
    ("", "Node"),
    ("", "PersistentVolume"),
    (
        "admissionregistration.k8s.io",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "ValidatingWebhookConfiguration",
    ),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("apiregistration.k8s.io", "APIService"),
    ("authentication.k8s.io", "SelfSubjectReview"),
    ("certificates.k8s.io", "CertificateSigningRequest"),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
    ("networking.k8s.io", "IngressClass"),
    ("node.k8s.io", "RuntimeClass"),
    ("policy", "PodSecurityPolicy"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("storage.k8s.io", "CSIDriver"),
    ("storage.k8s.io", "CSINode"),
    ("storage.k8s.io", "StorageClass"),
    ("storage.k8s.io", "VolumeAttachment"),
];

/// Whether kind `kind` of group `group` is cluster-scoped in the built-in schema.
pub(crate) fn is_cluster_scoped(group: &str, kind: &str) -> bool {
    CLUSTER_SCOPED.binary_search(&(group, kind)).is_ok()
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

/// The namespace an object of kind `gvk` in `namespace` effectively lives in: `default`
/// for an unset namespace, and one shared marker for cluster-scoped kinds.
pub(crate) fn effective_namespace<'a>(gvk: &Gvk, namespace: &'a str) -> &'a str {
    if gvk.is_cluster_scoped() {
        "_non_namespaceable_"
    } else if namespace.is_empty() {
        "default"
    } else {
        namespace
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
        effective_namespace(&self.gvk, &self.namespace)
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
    /// The transformers that ran over it, each as the origin upstream records
    /// (`configuredIn`, `configuredBy`), for `buildMetadata: [transformerAnnotations]`.
    /// Shared: every transformer is recorded on every resource.
    pub transformations: Vec<Arc<Value>>,
    /// The vars bound to this resource (upstream's `RefVarNames`).
    pub ref_vars: Vec<String>,
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
            transformations: Vec::new(),
            ref_vars: Vec::new(),
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
    // An empty list ends only an empty one (kustomize's `SameEndingSubSlice`): with no
    // affix a resource matches only unaffixed ones once empties no longer match all.
    if short.is_empty() {
        return long.is_empty();
    }
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
///
/// Lookups by id go through an index from names (current and earlier) to positions, so
/// accumulating, patching and generating stay linear in the number of resources. The
/// index may list positions that no longer match (every hit is checked against the
/// resource), but never misses one: [`ResMap::update`] adds the new name a change
/// gives, and handing out the whole list mutably ([`ResMap::list_mut`]) drops the index
/// until the next lookup rebuilds it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResMap {
    list: Vec<Resource>,
    by_name: Option<HashMap<String, Vec<usize>>>,
}

impl ResMap {
    /// The resources, in order.
    pub(crate) fn list(&self) -> &[Resource] {
        &self.list
    }

    /// The resources, to change freely; drops the name index.
    pub(crate) fn list_mut(&mut self) -> &mut Vec<Resource> {
        self.by_name = None;
        &mut self.list
    }

    pub(crate) fn into_list(self) -> Vec<Resource> {
        self.list
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    pub(crate) fn get(&self, i: usize) -> &Resource {
        &self.list[i]
    }

    /// Changes resource `i` with `f`, keeping the name index valid.
    pub(crate) fn update<T>(&mut self, i: usize, f: impl FnOnce(&mut Resource) -> T) -> T {
        let r = &mut self.list[i];
        let out = f(r);
        if let Some(index) = &mut self.by_name {
            index_names(index, i, r);
        }
        out
    }

    /// The name index (built now if stale) and the list it indexes.
    fn indexed(&mut self) -> (&HashMap<String, Vec<usize>>, &[Resource]) {
        let list = &self.list;
        let index = self.by_name.get_or_insert_with(|| {
            let mut index = HashMap::with_capacity(list.len());
            for (i, r) in list.iter().enumerate() {
                index_names(&mut index, i, r);
            }
            index
        });
        (index, list)
    }

    /// Positions, ascending, of the resources that had or have the name `name`. Some
    /// may no longer match: callers check.
    pub(crate) fn named(&mut self, name: &str) -> Vec<usize> {
        let mut hits = self.indexed().0.get(name).cloned().unwrap_or_default();
        hits.sort_unstable();
        hits.dedup();
        hits
    }

    /// Appends `r`, refusing a second resource with the same current id.
    pub(crate) fn append(&mut self, r: Resource) -> Result<(), String> {
        let id = r.cur_id();
        let (index, list) = self.indexed();
        let taken = index
            .get(&id.name)
            .is_some_and(|hits| hits.iter().any(|&j| list[j].cur_id().equals(&id)));
        if taken {
            return Err(format!(
                "may not add resource with an already registered id: {id}"
            ));
        }
        let i = self.list.len();
        self.list.push(r);
        if let Some(index) = &mut self.by_name {
            index_names(index, i, &self.list[i]);
        }
        Ok(())
    }

    pub(crate) fn append_all(&mut self, other: ResMap) -> Result<(), String> {
        for r in other.list {
            self.append(r)?;
        }
        Ok(())
    }

    /// Indices of resources with `id` among their current and earlier ids.
    pub(crate) fn matching_any_id(&mut self, id: &ResId) -> Vec<usize> {
        let hits = self.named(&id.name);
        hits.into_iter()
            .filter(|&i| {
                let r = &self.list[i];
                !r.obj.is_empty()
                    && (r.cur_id().equals(id) || r.prev_ids.iter().any(|p| p.equals(id)))
            })
            .collect()
    }

    /// Removes the resources `keep` refuses.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&Resource) -> bool) {
        self.list_mut().retain(keep);
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
                        self.update(*i, |slot| *slot = r);
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

/// Adds position `i` under the current and earlier names of `r`.
fn index_names(index: &mut HashMap<String, Vec<usize>>, i: usize, r: &Resource) {
    let mut add = |name: &str| match index.get_mut(name) {
        Some(hits) => {
            if !hits.contains(&i) {
                hits.push(i);
            }
        }
        None => {
            index.insert(name.to_string(), vec![i]);
        }
    };
    add(r.name());
    for p in &r.prev_ids {
        add(&p.name);
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
    r.ref_vars = old.ref_vars.clone();
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

#[cfg(test)]
mod tests {
    use super::CLUSTER_SCOPED;
    use flotilla_schema::{Scope, builtin};

    #[test]
    fn cluster_scoped_table_matches_the_schema() {
        let catalog = builtin();
        let mut from_schema: Vec<(String, String)> = catalog
            .kinds()
            .filter(|g| catalog.scope(&g.group, &g.version, &g.kind) == Some(Scope::Cluster))
            .map(|g| (g.group, g.kind))
            .collect();
        from_schema.sort();
        from_schema.dedup();
        let table: Vec<(String, String)> = CLUSTER_SCOPED
            .iter()
            .map(|(g, k)| (g.to_string(), k.to_string()))
            .collect();
        assert_eq!(table, from_schema);
    }
}
