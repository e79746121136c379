//! What a cluster serves right now: the built-in types plus those of its CRDs.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::error::Cause;
use crate::resources::{GenerationRule, Origin, ResourceType, ScalePaths, builtin_types};

/// Built-in groups in the order a real API server lists them in `/apis`.
const BUILTIN_GROUP_ORDER: &[&str] = &[
    "",
    "apps",
    "autoscaling",
    "batch",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
];

/// The resource types a cluster serves.
#[derive(Clone)]
pub struct Registry {
    builtin: Arc<Vec<Arc<ResourceType>>>,
    crds: BTreeMap<String, Vec<Arc<ResourceType>>>,
    by_gvr: HashMap<(String, String, String), Arc<ResourceType>>,
    /// Bumped whenever the set of types changes (discovery and OpenAPI hashes follow it).
    pub generation: u64,
    /// A hash of everything the served types publish: equal fingerprints mean identical
    /// discovery and OpenAPI documents, so clusters with the same CRDs share them.
    pub fingerprint: u64,
}

/// One API group as discovery shows it.
#[derive(Debug, Clone)]
pub struct GroupInfo {
    /// Group name ("" for core).
    pub name: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
}

impl Registry {
    /// Only the built-in types.
    pub fn builtin() -> Self {
        let builtin = Arc::new(builtin_types());
        let mut r = Registry {
            builtin,
            crds: BTreeMap::new(),
            by_gvr: HashMap::new(),
            generation: 1,
            fingerprint: 0,
        };
        r.reindex();
        r
    }

    fn reindex(&mut self) {
        self.by_gvr = self
            .all()
            .map(|t| {
                (
                    (t.group.clone(), t.version.clone(), t.plural.clone()),
                    t.clone(),
                )
            })
            .collect();
        self.fingerprint = self.compute_fingerprint();
    }

    fn compute_fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (name, types) in &self.crds {
            name.hash(&mut h);
            for t in types {
                (&t.version, &t.kind, &t.plural, &t.singular, t.namespaced).hash(&mut h);
                (
                    &t.short_names,
                    &t.categories,
                    t.status_subresource,
                    &t.storage_version,
                )
                    .hash(&mut h);
                t.scale
                    .as_ref()
                    .map(|s| (&s.spec_replicas, &s.status_replicas, &s.label_selector))
                    .hash(&mut h);
                if let Origin::Crd {
                    schema,
                    printer_columns,
                    selectable_fields,
                    ..
                } = &t.origin
                {
                    schema.as_ref().map(|s| s.to_string()).hash(&mut h);
                    printer_columns.to_string().hash(&mut h);
                    selectable_fields.hash(&mut h);
                }
            }
        }
        h.finish()
    }

    /// Every served type: built-ins first, then CRD types by CRD name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.builtin.iter().chain(self.crds.values().flatten())
    }

    /// The type served at `group/version/resource`.
    pub fn lookup(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceType>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
            .cloned()
    }

    /// The type for a kind at `group/version`.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.all()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .cloned()
    }

    /// Whether any version of `group` is served.
    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.all().any(|t| t.group == group && t.version == version)
    }

    /// Types served at one group/version.
    pub fn group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.all()
            .filter(|t| t.group == group && t.version == version)
            .cloned()
            .collect()
    }

    /// Groups in discovery order, each with versions preferred-first.
    pub fn groups(&self) -> Vec<GroupInfo> {
        let mut groups: Vec<GroupInfo> = Vec::new();
        for t in self.all() {
            match groups.iter_mut().find(|g| g.name == t.group) {
                Some(g) if !g.versions.contains(&t.version) => g.versions.push(t.version.clone()),
                Some(_) => {}
                None => groups.push(GroupInfo {
                    name: t.group.clone(),
                    versions: vec![t.version.clone()],
                }),
            }
        }
        for g in &mut groups {
            g.versions.sort_by(|a, b| compare_versions(a, b));
        }
        let rank = |name: &str| {
            BUILTIN_GROUP_ORDER
                .iter()
                .position(|g| *g == name)
                .unwrap_or(BUILTIN_GROUP_ORDER.len())
        };
        groups.sort_by(|a, b| {
            rank(&a.name)
                .cmp(&rank(&b.name))
                .then_with(|| a.name.cmp(&b.name))
        });
        groups
    }

    /// Serve (or stop serving) a CRD's types. Returns whether anything changed.
    pub fn set_crd(&mut self, crd_name: &str, types: Vec<Arc<ResourceType>>) -> bool {
        let changed = match self.crds.get(crd_name) {
            Some(old) => !same_types(old, &types),
            None => !types.is_empty(),
        };
        if types.is_empty() {
            self.crds.remove(crd_name);
        } else {
            self.crds.insert(crd_name.to_string(), types);
        }
        if changed {
            self.generation += 1;
            self.reindex();
        }
        changed
    }
}

fn same_types(a: &[Arc<ResourceType>], b: &[Arc<ResourceType>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.version == y.version
                && x.kind == y.kind
                && x.plural == y.plural
                && x.namespaced == y.namespaced
                && x.short_names == y.short_names
                && x.categories == y.categories
                && x.status_subresource == y.status_subresource
                && x.scale == y.scale
                && x.storage_version == y.storage_version
                && match (&x.origin, &y.origin) {
                    (
                        Origin::Crd {
                            schema: s1,
                            printer_columns: p1,
                            selectable_fields: f1,
                            ..
                        },
                        Origin::Crd {
                            schema: s2,
                            printer_columns: p2,
                            selectable_fields: f2,
                            ..
                        },
                    ) => s1 == s2 && p1 == p2 && f1 == f2,
                    _ => false,
                }
        })
}

/// Kubernetes' version priority: GA > beta > alpha, higher majors and minors first,
/// then anything that does not look like a Kubernetes version, alphabetically.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u32, u8, u32)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u32 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((major, 2, 0));
        }
        for (word, level) in [("beta", 1u8), ("alpha", 0u8)] {
            if let Some(n) = tail.strip_prefix(word) {
                let minor: u32 = n.parse().ok()?;
                return Some((major, level, minor));
            }
        }
        None
    }
    match (parse(a), parse(b)) {
        (Some((ma, la, na)), Some((mb, lb, nb))) => lb.cmp(&la).then(mb.cmp(&ma)).then(nb.cmp(&na)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The types a CRD object defines, or the causes that make it invalid
/// (checked as `apiextensions-apiserver`'s validation does, for the fields that matter).
pub fn crd_types(crd: &Value) -> Result<Vec<Arc<ResourceType>>, Vec<Cause>> {
    let mut causes = Vec::new();
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let spec = crd.get("spec").cloned().unwrap_or(json!({}));
    let s = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let group = s("/group");
    let plural = s("/names/plural");
    let kind = s("/names/kind");
    let scope = s("/scope");
    if group.is_empty() {
        causes.push(Cause::required("spec.group", ""));
    } else if !group.contains('.') {
        causes.push(Cause::invalid(
            "spec.group",
            &json!(group),
            "should be a domain with at least one dot",
        ));
    }
    if plural.is_empty() {
        causes.push(Cause::required("spec.names.plural", ""));
    }
    if kind.is_empty() {
        causes.push(Cause::required("spec.names.kind", ""));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::invalid(
            "metadata.name",
            &json!(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let namespaced = match scope.as_str() {
        "Namespaced" => true,
        "Cluster" => false,
        "" => {
            causes.push(Cause::required("spec.scope", ""));
            true
        }
        other => {
            causes.push(Cause {
                reason: "FieldValueNotSupported",
                message: format!(
                    "Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""
                ),
                field: "spec.scope".into(),
            });
            true
        }
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::invalid(
            "spec.versions",
            &json!(null),
            "must have exactly one version marked as storage version",
        ));
    }
    let storage: Vec<&Value> = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .collect();
    if !versions.is_empty() && storage.len() != 1 {
        causes.push(Cause::invalid(
            "spec.versions",
            &Value::Array(versions.clone()),
            "must have exactly one version marked as storage version",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.pointer("/schema/openAPIV3Schema").is_none() {
            causes.push(Cause::required(
                &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                "schemas are required",
            ));
        }
        if v.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            causes.push(Cause::required(&format!("spec.versions[{i}].name"), ""));
        }
    }
    if !causes.is_empty() {
        return Err(causes);
    }
    let storage_version = storage[0]
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let strings = |p: &str| -> Vec<String> {
        spec.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let singular = match s("/names/singular") {
        x if x.is_empty() => kind.to_ascii_lowercase(),
        x => x,
    };
    let mut types: Vec<Arc<ResourceType>> = versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
        .map(|v| {
            let scale = v.pointer("/subresources/scale").map(|sc| ScalePaths {
                spec_replicas: sc
                    .get("specReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".spec.replicas")
                    .into(),
                status_replicas: sc
                    .get("statusReplicasPath")
                    .and_then(Value::as_str)
                    .unwrap_or(".status.replicas")
                    .into(),
                label_selector: sc
                    .get("labelSelectorPath")
                    .and_then(Value::as_str)
                    .map(String::from),
            });
            Arc::new(ResourceType {
                group: group.clone(),
                version: v.get("name").and_then(Value::as_str).unwrap_or("").into(),
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                short_names: strings("/names/shortNames"),
                categories: strings("/names/categories"),
                namespaced,
                status_subresource: v.pointer("/subresources/status").is_some(),
                scale,
                generation: GenerationRule::AllButMetadataAndStatus,
                storage_version: storage_version.clone(),
                origin: Origin::Crd {
                    crd_name: name.to_string(),
                    schema: v.pointer("/schema/openAPIV3Schema").cloned().map(Arc::new),
                    printer_columns: Arc::new(
                        v.get("additionalPrinterColumns")
                            .cloned()
                            .unwrap_or(json!([])),
                    ),
                    selectable_fields: v
                        .get("selectableFields")
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|f| {
                                    f.get("jsonPath").and_then(Value::as_str).map(String::from)
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                },
            })
        })
        .collect();
    types.sort_by(|a, b| compare_versions(&a.version, &b.version));
    Ok(types)
}

/// The status a CRD gets once its names are accepted and it is established.
pub fn established_status(crd: &Value, now: &str) -> Value {
    let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let mut accepted = names.clone();
    if accepted.get("singular").is_none()
        && let Some(kind) = names.get("kind").and_then(Value::as_str)
    {
        accepted["singular"] = json!(kind.to_ascii_lowercase());
    }
    if accepted.get("listKind").is_none()
        && let Some(kind) = names.get("kind").and_then(Value::as_str)
    {
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let storage: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let mut stored: Vec<Value> = crd
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for v in storage {
        if !stored.contains(&v) {
            stored.push(v);
        }
    }
    json!({
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": now,
             "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": now,
             "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "storedVersions": stored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut v = vec![
            "v1alpha1", "v2", "foo", "v1", "v1beta2", "v1beta1", "v10", "bar",
        ];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            [
                "v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "bar", "foo"
            ]
        );
    }

    fn crd() -> Value {
        json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
              "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wg"]},
              "versions": [
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}},
                {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object"}},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}}}
              ]}
        })
    }

    #[test]
    fn crd_serves_each_served_version_over_one_storage_version() {
        let types = crd_types(&crd()).expect("valid");
        assert_eq!(
            types.iter().map(|t| t.version.as_str()).collect::<Vec<_>>(),
            ["v1", "v1beta1"]
        );
        assert!(types.iter().all(|t| t.storage_version == "v1"));
        assert!(types[0].status_subresource && !types[1].status_subresource);
        assert_eq!(
            types[0].scale.as_ref().map(|s| s.spec_replicas.as_str()),
            Some(".spec.size")
        );
    }

    #[test]
    fn crd_name_must_be_plural_dot_group() {
        let mut c = crd();
        c["metadata"]["name"] = json!("widget.example.com");
        let causes = crd_types(&c).expect_err("invalid");
        assert_eq!(causes[0].field, "metadata.name");
        assert!(
            causes[0]
                .message
                .contains("must be spec.names.plural+\".\"+spec.group")
        );
    }

    #[test]
    fn registry_indexes_crd_types_and_bumps_generation() {
        let mut r = Registry::builtin();
        let g0 = r.generation;
        assert!(r.set_crd("widgets.example.com", crd_types(&crd()).expect("valid")));
        assert!(r.generation > g0);
        assert!(r.lookup("example.com", "v1beta1", "widgets").is_some());
        let groups = r.groups();
        assert_eq!(groups[0].name, "");
        let g = groups
            .iter()
            .find(|g| g.name == "example.com")
            .expect("served");
        assert_eq!(g.versions, ["v1", "v1beta1"]);
        assert!(r.set_crd("widgets.example.com", vec![]));
        assert!(r.lookup("example.com", "v1", "widgets").is_none());
    }
}
