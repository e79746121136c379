//! A kustomization's `openapi` field: which schema strategic merge patches take their
//! merge keys from, and which kinds count as cluster-scoped.
//!
//! kustomize keeps the schema in process-wide state (kyaml's `openapi` package) and the
//! field only sets it, so where and when a kustomization names one matters. This module
//! replays that state for one build:
//!
//! * The top kustomization's `openapi` always applies. A kustomization reached below it
//!   (a resource directory, a component, a `transformers`/`generators` directory)
//!   applies its own only while no version and no custom schema has been chosen yet;
//!   afterwards its field is ignored, though a `path` it names must still be readable.
//! * `version` names a built-in schema. kustomize v5.5.0 has one, `v1.21.2`, which is
//!   also its default; any other version fails in kustomize's words.
//! * `path` names a custom schema (JSON, or YAML when the file does not start with `{`):
//!   swagger `definitions` (a kind found by `x-kubernetes-group-version-kind`) and
//!   optionally `paths` (kinds whose GET path holds `namespaces/{namespace}` are
//!   namespaced, other kinds found there cluster-scoped). `path` and `version` together
//!   are an error.
//! * A custom schema *replaces* the built-in one unless kustomize had read the built-in
//!   one before: then both are in effect. kyaml reads it lazily, when a strategic merge
//!   patch first runs (then the custom definitions win where names clash) or, after a
//!   custom schema is set, when a kind outside its table of well-known scopes
//!   ([`KNOWN_SCOPES`]) was seen before (then the built-in definitions win). A custom
//!   schema named at the top therefore stands alone: a Deployment's containers, which
//!   it does not describe, are then replaced by a patch, not merged.
//! * A custom schema that does not parse fails the build only when kustomize would
//!   first read it (a strategic merge patch, or a kind outside [`KNOWN_SCOPES`]), with
//!   kustomize's `invalid schema file` (kustomize panics there).
//!
//! Strategic merge itself is apimachinery's (`flotilla_schema`), so a custom schema is
//! first brought to what kyaml reads of it: `x-kubernetes-patch-strategy` counts only
//! when one of its comma-separated parts is `merge`; the merge key is the single entry of
//! `x-kubernetes-list-map-keys` when that is present, else `x-kubernetes-patch-merge-key`
//! (a list keyed by several fields merges by its patch merge key, else the first, as
//! built-in kinds do here, and a patch whose result that would change is refused:
//! see `patch.rs`); `x-kubernetes-list-type` is not read; a property beside a
//! `$ref` is hidden by the referenced definition; an unresolvable `$ref` describes
//! nothing; and a field the schema does not declare merges without schema instead of
//! failing.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use flotilla_schema::{Catalog, Scope, builtin, builtin_definitions_json};
use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::resource::Gvk;
use super::yaml;

/// The built-in versions kustomize v5.5.0 accepts in `openapi.version` (its default).
pub(crate) const BUILTIN_VERSION: &str = "v1.21.2";

/// Kinds whose scope kyaml knows without reading any schema, as (group, version, kind,
/// namespaced), sorted: for them a custom schema cannot change the scope, and seeing
/// them never makes kyaml read a schema.
pub(crate) const KNOWN_SCOPES: &[(&str, &str, &str, bool)] = &[
    ("", "v1", "ComponentStatus", false),
    ("", "v1", "ConfigMap", true),
    ("", "v1", "Endpoints", true),
    ("", "v1", "Event", true),
    ("", "v1", "LimitRange", true),
    ("", "v1", "Namespace", false),
    ("", "v1", "Node", false),
    ("", "v1", "NodeProxyOptions", false),
    ("", "v1", "PersistentVolume", false),
    ("", "v1", "PersistentVolumeClaim", true),
    ("", "v1", "Pod", true),
    ("", "v1", "PodAttachOptions", true),
    ("", "v1", "PodExecOptions", true),
    ("", "v1", "PodPortForwardOptions", true),
    ("", "v1", "PodProxyOptions", true),
    ("", "v1", "PodTemplate", true),
    ("", "v1", "ReplicationController", true),
    ("", "v1", "ResourceQuota", true),
    ("", "v1", "Secret", true),
    ("", "v1", "Service", true),
    ("", "v1", "ServiceAccount", true),
    ("", "v1", "ServiceProxyOptions", true),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1beta1",
        "MutatingWebhookConfiguration",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1beta1",
        "ValidatingWebhookConfiguration",
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        false,
    ),
    (
        "apiextensions.k8s.io",
        "v1beta1",
        "CustomResourceDefinition",
        false,
    ),
    ("apiregistration.k8s.io", "v1", "APIService", false),
    ("apiregistration.k8s.io", "v1beta1", "APIService", false),
    ("apps", "v1", "ControllerRevision", true),
    ("apps", "v1", "DaemonSet", true),
    ("apps", "v1", "Deployment", true),
    ("apps", "v1", "ReplicaSet", true),
    ("apps", "v1", "StatefulSet", true),
    ("autoscaling", "v1", "HorizontalPodAutoscaler", true),
    ("autoscaling", "v1", "Scale", true),
    ("autoscaling", "v2beta1", "HorizontalPodAutoscaler", true),
    ("autoscaling", "v2beta2", "HorizontalPodAutoscaler", true),
    ("batch", "v1", "CronJob", true),
    ("batch", "v1", "Job", true),
    ("batch", "v1beta1", "CronJob", true),
    (
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        false,
    ),
    (
        "certificates.k8s.io",
        "v1beta1",
        "CertificateSigningRequest",
        false,
    ),
    ("coordination.k8s.io", "v1", "Lease", true),
    ("coordination.k8s.io", "v1beta1", "Lease", true),
    ("discovery.k8s.io", "v1", "EndpointSlice", true),
    ("discovery.k8s.io", "v1beta1", "EndpointSlice", true),
    ("events.k8s.io", "v1", "Event", true),
    ("events.k8s.io", "v1beta1", "Event", true),
    ("extensions", "v1beta1", "Ingress", true),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta1",
        "FlowSchema",
        false,
    ),
    (
        "flowcontrol.apiserver.k8s.io",
        "v1beta1",
        "PriorityLevelConfiguration",
        false,
    ),
    ("networking.k8s.io", "v1", "Ingress", true),
    ("networking.k8s.io", "v1", "IngressClass", false),
    ("networking.k8s.io", "v1", "NetworkPolicy", true),
    ("networking.k8s.io", "v1beta1", "Ingress", true),
    ("networking.k8s.io", "v1beta1", "IngressClass", false),
    ("node.k8s.io", "v1", "RuntimeClass", false),
    ("node.k8s.io", "v1beta1", "RuntimeClass", false),
    ("policy", "v1", "PodDisruptionBudget", true),
    ("policy", "v1beta1", "PodDisruptionBudget", true),
    ("policy", "v1beta1", "PodSecurityPolicy", false),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", false),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        false,
    ),
    ("rbac.authorization.k8s.io", "v1", "Role", true),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", true),
    ("rbac.authorization.k8s.io", "v1beta1", "ClusterRole", false),
    (
        "rbac.authorization.k8s.io",
        "v1beta1",
        "ClusterRoleBinding",
        false,
    ),
    ("rbac.authorization.k8s.io", "v1beta1", "Role", true),
    ("rbac.authorization.k8s.io", "v1beta1", "RoleBinding", true),
    ("scheduling.k8s.io", "v1", "PriorityClass", false),
    ("scheduling.k8s.io", "v1beta1", "PriorityClass", false),
    ("storage.k8s.io", "v1", "CSIDriver", false),
    ("storage.k8s.io", "v1", "CSINode", false),
    ("storage.k8s.io", "v1", "StorageClass", false),
    ("storage.k8s.io", "v1", "VolumeAttachment", false),
    ("storage.k8s.io", "v1beta1", "CSIDriver", false),
    ("storage.k8s.io", "v1beta1", "CSINode", false),
    ("storage.k8s.io", "v1beta1", "CSIStorageCapacity", true),
    ("storage.k8s.io", "v1beta1", "StorageClass", false),
    ("storage.k8s.io", "v1beta1", "VolumeAttachment", false),
];

/// Whether `group`/`version`/`kind` is namespaced per [`KNOWN_SCOPES`], if listed.
fn known_scope(group: &str, version: &str, kind: &str) -> Option<bool> {
    KNOWN_SCOPES
        .binary_search_by(|(g, v, k, _)| (*g, *v, *k).cmp(&(group, version, kind)))
        .ok()
        .map(|i| KNOWN_SCOPES[i].3)
}

/// How a custom schema stands to the built-in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layering {
    /// The custom schema alone.
    Alone,
    /// Both, the custom definitions winning where names or kinds clash.
    OverBuiltin,
    /// Both, the built-in definitions winning where names or kinds clash.
    UnderBuiltin,
}

/// A custom schema in effect: the definitions patches read, and the scopes its `paths`
/// declare.
pub(crate) struct CustomSchema {
    catalog: Catalog,
    /// (group, version, kind) → namespaced, from the schema's `paths`.
    scopes: HashMap<KindKey, bool>,
    /// Whether the built-in schema's scopes are in effect too.
    with_builtin: bool,
}

impl std::fmt::Debug for CustomSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomSchema")
            .field("catalog", &self.catalog)
            .field("with_builtin", &self.with_builtin)
            .finish()
    }
}

impl CustomSchema {
    /// The definitions strategic merge patches read.
    pub(crate) fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Whether objects of `gvk` are cluster-scoped while this schema is in effect.
    fn is_cluster_scoped(&self, gvk: &Gvk) -> bool {
        if let Some(namespaced) = known_scope(&gvk.group, &gvk.version, &gvk.kind) {
            return !namespaced;
        }
        // kyaml merges the scopes of every schema it read: namespaced wins.
        let mut cluster = false;
        let key = (gvk.group.clone(), gvk.version.clone(), gvk.kind.clone());
        match self.scopes.get(&key) {
            Some(true) => return false,
            Some(false) => cluster = true,
            None => {}
        }
        if self.with_builtin {
            match builtin().scope(&gvk.group, &gvk.version, &gvk.kind) {
                Some(Scope::Namespaced) => return false,
                Some(Scope::Cluster) => cluster = true,
                None => {}
            }
        }
        cluster
    }
}

/// A custom schema file that does not parse, reported when kustomize would read it.
#[derive(Debug, Clone)]
struct Broken {
    file: String,
    reason: String,
}

/// The schema state of one build (kyaml's process-wide `openapi` state, replayed).
#[derive(Debug, Default)]
pub(crate) struct OpenApi {
    /// A version or a custom schema has been chosen: later kustomizations cannot.
    locked: bool,
    /// A strategic merge patch ran without a custom schema: kyaml has read the built-in one.
    builtin_read: bool,
    /// A kind outside [`KNOWN_SCOPES`] was seen before any schema was read: kyaml reads
    /// the built-in schema after a custom one when it first needs a schema.
    delayed: bool,
    /// The custom schema set, if any.
    custom: Option<std::result::Result<Arc<CustomSchema>, Broken>>,
}

impl OpenApi {
    /// Applies the `openapi` field of kustomization `file`; `top` for the kustomization
    /// the build started from. `loaded` is the file its `path` names (its path in the
    /// tree and bytes), read whether or not the field counts, as kustomize reads it.
    pub(crate) fn set(
        &mut self,
        file: &str,
        field: Option<&BTreeMap<String, String>>,
        top: bool,
        loaded: Option<Result<(String, Vec<u8>)>>,
    ) -> Result<()> {
        let Some(field) = field else {
            return Ok(());
        };
        let schema = match loaded {
            Some(r) => Some(r.map_err(|e| match e {
                // A refusal stays one (a remote schema), naming the field.
                Error::Unsupported { file, what, detail } => Error::Unsupported {
                    file,
                    what,
                    detail: format!("openapi.path {detail}"),
                },
                other => Error::field(file, "openapi.path", reason_of(other)),
            })?),
            None => None,
        };
        if self.locked && !top {
            return Ok(());
        }
        let version = field.get("version");
        if let Some((path, bytes)) = schema {
            if version.is_some() {
                return Err(Error::field(
                    file,
                    "openapi",
                    "builtin version and custom schema provided, cannot use both",
                ));
            }
            self.locked = true;
            let layering = if self.builtin_read {
                Layering::OverBuiltin
            } else if self.delayed {
                Layering::UnderBuiltin
            } else {
                Layering::Alone
            };
            let custom = parse_custom(&bytes, layering)
                .map(Arc::new)
                .map_err(|reason| Broken {
                    file: file.to_string(),
                    reason: format!("invalid schema file {path}: {reason}"),
                });
            if let Ok(c) = &custom {
                install_scopes(Some(c.clone()));
            }
            self.custom = Some(custom);
            return Ok(());
        }
        match version.map(String::as_str) {
            None | Some("") => Ok(()),
            Some(BUILTIN_VERSION) => {
                self.locked = true;
                Ok(())
            }
            Some(other) => Err(Error::field(
                file,
                "openapi.version",
                format!(
                    "the specified OpenAPI version is not built in ({other}; kustomize v5.5.0 has only {BUILTIN_VERSION})"
                ),
            )),
        }
    }

    /// Notes an object of `api_version`/`kind` entering the build (kyaml looks up the
    /// scope of every object's kind, and reads a schema to do so for kinds outside
    /// [`KNOWN_SCOPES`]).
    pub(crate) fn saw(&mut self, api_version: &str, kind: &str) -> Result<()> {
        let gvk = Gvk::from_api_version(api_version, kind);
        if known_scope(&gvk.group, &gvk.version, &gvk.kind).is_some() {
            return Ok(());
        }
        match &self.custom {
            Some(Err(broken)) => Err(broken_error(broken)),
            Some(Ok(_)) => Ok(()),
            None => {
                if !self.builtin_read {
                    self.delayed = true;
                }
                Ok(())
            }
        }
    }

    /// The custom schema a strategic merge patch reads, or `None` for the built-in one.
    pub(crate) fn for_patch(&mut self) -> Result<Option<Arc<CustomSchema>>> {
        match &self.custom {
            Some(Err(broken)) => Err(broken_error(broken)),
            Some(Ok(c)) => Ok(Some(c.clone())),
            None => {
                self.builtin_read = true;
                Ok(None)
            }
        }
    }
}

fn broken_error(b: &Broken) -> Error {
    Error::field(&b.file, "openapi.path", b.reason.clone())
}

/// The reason of a load error, without the kustomization's name it already carries.
fn reason_of(e: Error) -> String {
    match e {
        Error::Build { reason, .. } => reason,
        other => other.to_string(),
    }
}

thread_local! {
    /// The custom schema in effect for the build running on this thread, if any.
    static SCOPES: RefCell<Option<Arc<CustomSchema>>> = const { RefCell::new(None) };
}

fn install_scopes(custom: Option<Arc<CustomSchema>>) -> Option<Arc<CustomSchema>> {
    SCOPES.with(|s| std::mem::replace(&mut *s.borrow_mut(), custom))
}

/// Whether `gvk` is cluster-scoped under the custom schema of the build running on this
/// thread; `None` when no custom schema is in effect.
pub(crate) fn custom_cluster_scoped(gvk: &Gvk) -> Option<bool> {
    SCOPES.with(|s| s.borrow().as_ref().map(|c| c.is_cluster_scoped(gvk)))
}

/// Scopes a build: no custom schema is in effect when it starts, and whatever was in
/// effect before (nothing, unless builds nest) is back when it ends.
pub(crate) struct BuildScope {
    previous: Option<Arc<CustomSchema>>,
}

impl BuildScope {
    pub(crate) fn enter() -> Self {
        BuildScope {
            previous: install_scopes(None),
        }
    }
}

impl Drop for BuildScope {
    fn drop(&mut self) {
        install_scopes(self.previous.take());
    }
}

/// Reads a custom schema file as kyaml does: JSON when it starts with `{`, else YAML.
fn parse_document(bytes: &[u8]) -> std::result::Result<Value, String> {
    if bytes.first() == Some(&b'{') {
        return serde_json::from_slice(bytes).map_err(|e| e.to_string());
    }
    if bytes.is_empty() {
        return Err("the file is empty".to_string());
    }
    let docs = yaml::parse_documents("schema", bytes).map_err(|e| match e {
        Error::Yaml { reason, .. } => reason,
        other => other.to_string(),
    })?;
    Ok(docs.into_iter().next().unwrap_or(Value::Null))
}

fn parse_custom(bytes: &[u8], layering: Layering) -> std::result::Result<CustomSchema, String> {
    let doc = parse_document(bytes)?;
    let Value::Object(doc) = doc else {
        return Err("a swagger document must be a mapping".to_string());
    };
    let definitions = match doc.get("definitions") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(d)) => d.clone(),
        Some(_) => return Err("definitions: not a mapping".to_string()),
    };
    let scopes = match doc.get("paths") {
        None | Some(Value::Null) => HashMap::new(),
        Some(Value::Object(paths)) => scopes_of(paths),
        Some(_) => return Err("paths: not a mapping".to_string()),
    };
    let merged = merge_definitions(definitions, layering);
    let catalog = Catalog::from_json(&serde_json::json!({ "definitions": merged }))
        .map_err(|e| e.to_string())?;
    Ok(CustomSchema {
        catalog,
        scopes,
        with_builtin: layering != Layering::Alone,
    })
}

/// The scopes `paths` declare: the kind (`x-kubernetes-group-version-kind` of a path's
/// GET operation) of a path holding `namespaces/{namespace}` is namespaced, a kind only
/// found on other paths cluster-scoped.
fn scopes_of(paths: &Map<String, Value>) -> HashMap<KindKey, bool> {
    let mut scopes = HashMap::new();
    for (path, item) in paths {
        if !path.starts_with('/') {
            continue;
        }
        let Some(gvk) = item
            .get("get")
            .and_then(|g| g.get("x-kubernetes-group-version-kind"))
            .and_then(gvk_of)
        else {
            continue;
        };
        if path.contains("namespaces/{namespace}") {
            scopes.insert(gvk, true);
        } else {
            scopes.entry(gvk).or_insert(false);
        }
    }
    scopes
}

/// `{group?, version, kind}` as (group, version, kind); the group defaults to the core one.
fn gvk_of(v: &Value) -> Option<KindKey> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some((s("group").unwrap_or_default(), s("version")?, s("kind")?))
}

/// Where a definition of the merged set came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Builtin,
    Custom,
}

/// A kind: (group, version, kind).
type KindKey = (String, String, String);

/// A definition about to be read: its name, JSON and the kinds it declares.
struct Incoming {
    name: String,
    def: Value,
    kinds: Vec<KindKey>,
}

/// The definitions read so far, in kyaml's order, and the definition each kind finds.
#[derive(Default)]
struct Layered {
    defs: Vec<(String, Value, Origin)>,
    by_name: HashMap<String, usize>,
    kinds: BTreeMap<KindKey, String>,
    shadowed: usize,
}

impl Layered {
    /// Reads one schema's definitions over those read before (kyaml's `AddDefinitions`:
    /// a definition replaces the one of the same name, a kind is found by the definition
    /// read last).
    fn add(&mut self, layer: Vec<Incoming>, origin: Origin) {
        for Incoming { name, def, kinds } in layer {
            if let Some(&i) = self.by_name.get(&name) {
                // kyaml keeps the replaced definition for the kinds that found it; its
                // `$ref`s now lead to the replacing definitions.
                let alias = format!("{name}\u{0}shadowed{}", self.shadowed);
                self.shadowed += 1;
                for target in self.kinds.values_mut() {
                    if *target == name {
                        *target = alias.clone();
                    }
                }
                let (_, old, old_origin) =
                    std::mem::replace(&mut self.defs[i], (name.clone(), def, origin));
                self.by_name.insert(alias.clone(), self.defs.len());
                self.defs.push((alias, old, old_origin));
            } else {
                self.by_name.insert(name.clone(), self.defs.len());
                self.defs.push((name.clone(), def, origin));
            }
            for kind in kinds {
                self.kinds.insert(kind, name.clone());
            }
        }
    }

    /// The definitions, custom ones brought to what kyaml reads of them, each listing in
    /// `x-kubernetes-group-version-kind` exactly the kinds that find it.
    fn into_definitions(self) -> Map<String, Value> {
        let mut kinds_of: HashMap<&str, Vec<Value>> = HashMap::new();
        for ((group, version, kind), name) in &self.kinds {
            kinds_of
                .entry(name.as_str())
                .or_default()
                .push(serde_json::json!({"group": group, "version": version, "kind": kind}));
        }
        let mut out = Map::new();
        for (name, def, origin) in &self.defs {
            let mut def = match origin {
                Origin::Custom => normalize(def, &self.by_name, true),
                Origin::Builtin => def.clone(),
            };
            if let Value::Object(m) = &mut def {
                m.remove("x-kubernetes-group-version-kind");
                if let Some(list) = kinds_of.remove(name.as_str()) {
                    m.insert(
                        "x-kubernetes-group-version-kind".to_string(),
                        Value::Array(list),
                    );
                }
            }
            out.insert(name.clone(), def);
        }
        out
    }
}

/// The custom definitions as kyaml reads them.
fn custom_layer(custom: Map<String, Value>) -> Vec<Incoming> {
    custom
        .into_iter()
        .map(|(name, def)| {
            let kinds = def
                .get("x-kubernetes-group-version-kind")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(gvk_of).collect())
                .unwrap_or_default();
            Incoming { name, def, kinds }
        })
        .collect()
}

/// The built-in definitions, each with the kinds the built-in catalog finds by it.
fn builtin_layer() -> Vec<Incoming> {
    let catalog = builtin();
    let mut kinds_of: HashMap<&str, Vec<KindKey>> = HashMap::new();
    let mut all: Vec<_> = catalog.kinds().collect();
    all.sort_by(|a, b| (&a.group, &a.version, &a.kind).cmp(&(&b.group, &b.version, &b.kind)));
    for g in all {
        if let Some(name) = catalog
            .kind(&g.group, &g.version, &g.kind)
            .and_then(|s| s.definition())
        {
            kinds_of
                .entry(name)
                .or_default()
                .push((g.group, g.version, g.kind));
        }
    }
    builtin_definitions_json()
        .iter()
        .map(|(name, def)| Incoming {
            name: name.clone(),
            def: def.clone(),
            kinds: kinds_of.remove(name.as_str()).unwrap_or_default(),
        })
        .collect()
}

/// The definitions in effect: the custom ones alone or layered with the built-in ones.
fn merge_definitions(custom: Map<String, Value>, layering: Layering) -> Map<String, Value> {
    let mut layered = Layered::default();
    match layering {
        Layering::Alone => layered.add(custom_layer(custom), Origin::Custom),
        Layering::OverBuiltin => {
            layered.add(builtin_layer(), Origin::Builtin);
            layered.add(custom_layer(custom), Origin::Custom);
        }
        Layering::UnderBuiltin => {
            layered.add(custom_layer(custom), Origin::Custom);
            layered.add(builtin_layer(), Origin::Builtin);
        }
    }
    layered.into_definitions()
}

/// The definition name a `$ref` names, if it names one of `names` (`#/definitions/…`,
/// JSON-pointer escaped).
fn ref_target<'a>(r: &str, names: &'a HashMap<String, usize>) -> Option<&'a str> {
    let name = r
        .strip_prefix("#/definitions/")?
        .replace("~1", "/")
        .replace("~0", "~");
    names.get_key_value(&name).map(|(k, _)| k.as_str())
}

/// One node of a custom schema, reduced to what kyaml's strategic merge reads (see the
/// module documentation). `top` for a definition itself: kyaml reads a kind's definition
/// as it is, without following a `$ref` on it.
fn normalize(node: &Value, names: &HashMap<String, usize>, top: bool) -> Value {
    let Value::Object(m) = node else {
        // Not a schema: left for the parser to refuse.
        return node.clone();
    };
    let mut out = Map::new();
    if !top && let Some(r) = m.get("$ref") {
        // kyaml replaces a node with a `$ref` by the definition it names, or reads
        // nothing there when it names none.
        if let Some(name) = r.as_str().and_then(|r| ref_target(r, names)) {
            let escaped = name.replace('~', "~0").replace('/', "~1");
            out.insert(
                "$ref".to_string(),
                Value::String(format!("#/definitions/{escaped}")),
            );
        }
        return Value::Object(out);
    }
    let declared = match m.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) if ts.len() == 1 => ts[0].as_str(),
        _ => None,
    };
    if let Some(t) = declared
        && matches!(
            t,
            "object" | "array" | "string" | "integer" | "number" | "boolean"
        )
    {
        out.insert("type".to_string(), Value::String(t.to_string()));
    }
    if let Some(props) = m.get("properties") {
        let props = match props {
            Value::Object(p) => Value::Object(
                p.iter()
                    .map(|(k, v)| (k.clone(), normalize(v, names, false)))
                    .collect(),
            ),
            other => other.clone(),
        };
        out.insert("properties".to_string(), props);
    }
    match m.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            out.insert("additionalProperties".to_string(), Value::Bool(*b));
        }
        Some(a @ Value::Object(_)) => {
            out.insert(
                "additionalProperties".to_string(),
                normalize(a, names, false),
            );
        }
        _ => {}
    }
    if let Some(items @ Value::Object(_)) = m.get("items") {
        out.insert("items".to_string(), normalize(items, names, false));
    }
    // Only `merge` makes kyaml merge a list; it ignores the strategy of anything else.
    let merges = match m.get("x-kubernetes-patch-strategy") {
        Some(Value::String(s)) => s.split(',').any(|p| p == "merge"),
        Some(other) => {
            // kyaml fails on a strategy that is not a string: leave it for the parser.
            out.insert("x-kubernetes-patch-strategy".to_string(), other.clone());
            false
        }
        None => false,
    };
    if merges {
        out.insert(
            "x-kubernetes-patch-strategy".to_string(),
            Value::String("merge".to_string()),
        );
        let merge_key = m.get("x-kubernetes-patch-merge-key");
        let key = match m.get("x-kubernetes-list-map-keys") {
            Some(Value::Array(keys)) => match keys.as_slice() {
                [] => None,
                [one] => Some(one.clone()),
                [first, ..] => {
                    // Several keys: merged by the patch merge key when it is one of them,
                    // else by the first (see the module documentation).
                    match merge_key {
                        Some(k) if keys.contains(k) => Some(k.clone()),
                        _ => Some(first.clone()),
                    }
                }
            },
            Some(other) => Some(other.clone()),
            None => merge_key.cloned(),
        };
        if let Some(key) = key {
            out.insert("x-kubernetes-patch-merge-key".to_string(), key);
        }
        // Kept for the refusal of merges they would decide (see `patch.rs`).
        if let Some(keys @ Value::Array(list)) = m.get("x-kubernetes-list-map-keys")
            && list.len() > 1
            && list.iter().all(Value::is_string)
        {
            out.insert("x-kubernetes-list-map-keys".to_string(), keys.clone());
        }
    }
    // What the schema does not declare merges without schema, as in kyaml, instead of
    // failing as apimachinery's lookup does.
    out.insert(
        "x-kubernetes-preserve-unknown-fields".to_string(),
        Value::Bool(true),
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_scopes_are_sorted_and_agree_with_the_builtin_schema() {
        let mut sorted = KNOWN_SCOPES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, KNOWN_SCOPES);
        for (g, v, k, namespaced) in KNOWN_SCOPES {
            if let Some(scope) = builtin().scope(g, v, k) {
                assert_eq!(scope == Scope::Namespaced, *namespaced, "{g}/{v} {k}");
            }
        }
    }

    #[test]
    fn a_list_map_key_is_the_merge_key_and_siblings_of_a_ref_are_hidden() {
        let names: HashMap<String, usize> = [("A".to_string(), 0)].into();
        let node = json!({"properties": {
            "ports": {"type": "array", "x-kubernetes-patch-strategy": "merge,retainKeys",
                "x-kubernetes-patch-merge-key": "port", "x-kubernetes-list-map-keys": ["name"],
                "x-kubernetes-list-type": "map", "items": {"$ref": "#/definitions/A"}},
            "replaced": {"type": "array", "x-kubernetes-patch-strategy": "replace",
                "x-kubernetes-patch-merge-key": "name"},
            "hidden": {"$ref": "#/definitions/A", "x-kubernetes-patch-strategy": "merge"},
            "dangling": {"$ref": "#/definitions/Missing"},
            "typed": {"type": ["string"]}
        }});
        let n = normalize(&node, &names, true);
        let p = &n["properties"];
        assert_eq!(p["ports"]["x-kubernetes-patch-strategy"], "merge");
        assert_eq!(p["ports"]["x-kubernetes-patch-merge-key"], "name");
        assert!(p["ports"].get("x-kubernetes-list-type").is_none());
        assert_eq!(p["ports"]["items"], json!({"$ref": "#/definitions/A"}));
        assert!(p["replaced"].get("x-kubernetes-patch-strategy").is_none());
        assert_eq!(p["hidden"], json!({"$ref": "#/definitions/A"}));
        assert_eq!(p["dangling"], json!({}));
        assert_eq!(p["typed"]["type"], "string");
    }

    #[test]
    fn scopes_come_from_get_paths_and_namespaced_wins() {
        let paths = json!({
            "/apis/example.com/v1/widgets": {"get": {"x-kubernetes-group-version-kind":
                {"group": "example.com", "version": "v1", "kind": "Widget"}}},
            "/apis/example.com/v1/namespaces/{namespace}/widgets": {"get": {
                "x-kubernetes-group-version-kind":
                {"group": "example.com", "version": "v1", "kind": "Widget"}}},
            "/apis/example.com/v1/gadgets": {"get": {"x-kubernetes-group-version-kind":
                {"group": "example.com", "version": "v1", "kind": "Gadget"}}},
            "x-extension": {}
        });
        let scopes = scopes_of(paths.as_object().expect("object"));
        let key = |k: &str| ("example.com".to_string(), "v1".to_string(), k.to_string());
        assert_eq!(scopes.get(&key("Widget")), Some(&true));
        assert_eq!(scopes.get(&key("Gadget")), Some(&false));
        assert_eq!(scopes.len(), 2);
    }

    #[test]
    fn a_replaced_definition_keeps_serving_its_kinds_under_the_custom_one() {
        // The custom PodSpec replaces the built-in one by name: a Deployment, still found
        // by its built-in definition, now reads the custom PodSpec.
        let custom = json!({
            "io.k8s.api.core.v1.PodSpec": {"properties": {"containers": {"type": "array"}}}
        });
        let merged = merge_definitions(
            custom.as_object().cloned().expect("object"),
            Layering::OverBuiltin,
        );
        let catalog = Catalog::from_json(&json!({ "definitions": merged })).expect("catalog");
        let deployment = catalog
            .kind("apps", "v1", "Deployment")
            .expect("Deployment");
        let containers = deployment
            .property("spec")
            .and_then(|s| s.property("template"))
            .and_then(|t| t.property("spec"))
            .and_then(|s| s.property("containers"))
            .expect("containers");
        assert_eq!(containers.patch_merge_key(), None);
    }
}
