//! A Flux Kustomization's build: the kustomization file found or generated in
//! `spec.path`, the spec's overlay (targetNamespace, name prefix and suffix, patches,
//! components, images), the kustomize build, post-build substitution, and the
//! post-processing kustomize-controller does before applying (normalisation, common
//! metadata, owner labels).

use std::collections::BTreeMap;

use crate::sops::{self, Identities};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::envsubst::{self, EnvsubstError};
use crate::kustomize::{self, EntryKind, Tree, TreeError};

/// The file names kustomize recognises, in its order of preference.
const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The label and annotation that turn substitution off for one object.
const SUBSTITUTE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// The parts of a Flux Kustomization's `spec` that shape its build (field names as in
/// `kustomize.toolkit.fluxcd.io/v1`; other fields are ignored here).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildSpec {
    /// `spec.path`: the directory to build, relative to the source's root.
    #[serde(default)]
    pub path: String,
    /// `spec.targetNamespace`: replaces the kustomization's `namespace`.
    pub target_namespace: Option<String>,
    /// `spec.namePrefix`: replaces the kustomization's `namePrefix`.
    pub name_prefix: Option<String>,
    /// `spec.nameSuffix`: replaces the kustomization's `nameSuffix`.
    pub name_suffix: Option<String>,
    /// `spec.patches`: appended to the kustomization's `patches`.
    #[serde(default)]
    pub patches: Vec<Patch>,
    /// `spec.components`: appended to the kustomization's `components`.
    #[serde(default)]
    pub components: Vec<String>,
    /// `spec.ignoreMissingComponents`: drop components whose directory does not exist.
    #[serde(default)]
    pub ignore_missing_components: bool,
    /// `spec.images`: merged into the kustomization's `images` by name.
    #[serde(default)]
    pub images: Vec<Image>,
    /// `spec.commonMetadata`: labels and annotations set on every object.
    pub common_metadata: Option<CommonMetadata>,
    /// `spec.postBuild`: variable substitution.
    pub post_build: Option<PostBuild>,
    /// `spec.decryption`: how encrypted objects are decrypted.
    pub decryption: Option<Decryption>,
}

/// `spec.decryption` of a Kustomization.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    /// Only `sops` exists.
    #[serde(default)]
    pub provider: String,
    /// The Secret holding the keys (in the Kustomization's namespace).
    pub secret_ref: Option<DecryptionSecretRef>,
}

/// `spec.decryption.secretRef`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DecryptionSecretRef {
    /// The Secret's name.
    #[serde(default)]
    pub name: String,
}

/// One entry of `spec.patches`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Patch {
    /// A strategic merge or JSON 6902 patch, as YAML or JSON text.
    #[serde(default)]
    pub patch: String,
    /// Which objects it applies to.
    pub target: Option<Selector>,
}

/// A patch target (`spec.patches[].target`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// API group.
    pub group: Option<String>,
    /// API version.
    pub version: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Object name (a regular expression in kustomize).
    pub name: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Label selector text.
    pub label_selector: Option<String>,
    /// Annotation selector text.
    pub annotation_selector: Option<String>,
}

/// One entry of `spec.images`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// The image name to match.
    pub name: String,
    /// Replacement name.
    #[serde(default)]
    pub new_name: String,
    /// Replacement tag.
    #[serde(default)]
    pub new_tag: String,
    /// Replacement digest.
    #[serde(default)]
    pub digest: String,
}

/// `spec.commonMetadata`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CommonMetadata {
    /// Labels set on every object (overriding the object's own).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations set on every object (overriding the object's own).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.postBuild`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// `WithVariables` (the default: substitute only when some variable is defined) or
    /// `Always`.
    #[serde(default)]
    pub substitute_strategy: Option<String>,
    /// Inline variables; they win over `substituteFrom`.
    #[serde(default)]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets (in the Kustomization's namespace) to read variables from.
    #[serde(default)]
    pub substitute_from: Vec<SubstituteReference>,
}

/// One entry of `spec.postBuild.substituteFrom`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// The object's name.
    pub name: String,
    /// Tolerate a missing object.
    #[serde(default)]
    pub optional: bool,
}

/// The Kustomization that owns the built objects (its name and namespace become the
/// owner labels).
#[derive(Debug, Clone)]
pub struct Owner {
    /// `metadata.name` of the Kustomization.
    pub name: String,
    /// `metadata.namespace` of the Kustomization.
    pub namespace: String,
}

/// How substitution treats a variable that is not defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strictness {
    /// An undefined variable without a default is an error (kustomize-controller's
    /// default since v1.9).
    #[default]
    Strict,
    /// An undefined variable expands to the empty string.
    Lenient,
}

/// Why a Flux build failed. The messages follow kustomize-controller's.
#[derive(Debug, thiserror::Error)]
pub enum FluxBuildError {
    /// `spec.path` does not exist in the source.
    #[error("kustomization path not found: {path}: no such file or directory")]
    PathNotFound {
        /// The path as given.
        path: String,
    },
    /// Reading the source tree failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A YAML file found while generating a kustomization is not Kubernetes YAML.
    #[error("failed to decode Kubernetes YAML from {file}: {reason}")]
    Manifest {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// The existing kustomization file could not be read.
    #[error("{0}")]
    Kustomization(kustomize::Error),
    /// `spec.components` names something that is not a local relative path.
    #[error("component path '{0}' must be local and relative")]
    ComponentNotLocal(String),
    /// The kustomize build failed.
    #[error("kustomize build failed: {0}")]
    Build(kustomize::Error),
    /// A built object lacks its identity.
    #[error("failed to decode Kubernetes apiVersion, kind and name from: {0}")]
    Identity(String),
    /// A variable name that substitution would never match.
    #[error("'{0}' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'")]
    VariableName(String),
    /// A `substituteFrom` source could not be read.
    #[error("substitute from '{kind}/{name}' error: {reason}")]
    SubstituteFrom {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its name.
        name: String,
        /// Why.
        reason: String,
    },
    /// An encrypted generator or patch source did not decrypt.
    #[error("error decrypting sources: {path}: {reason}")]
    SourceDecryption {
        /// The source's path in the tree.
        path: String,
        /// Why.
        reason: String,
    },
    /// An encrypted object did not decrypt.
    #[error("decryption failed for '{gvk}/{name}': {reason}")]
    Decryption {
        /// The object's group, version and kind as kustomize prints them.
        gvk: String,
        /// The object's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Substitution failed for one object.
    #[error("post build failed for '{gvk}/{name}': envsubst error: {reason}")]
    PostBuild {
        /// The object's group, version and kind as kustomize prints them (`~G_v1_ConfigMap`).
        gvk: String,
        /// The object's name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Variable names and values.
pub type Variables = BTreeMap<String, String>;

/// The variables for substitution: `substituteFrom` in order (later entries win), then
/// the inline `substitute` map, newlines removed from every value. `read` answers the
/// `data` of a ConfigMap or Secret (Secret values decoded), `Ok(None)` when it does not
/// exist, or an error text.
pub fn variables(
    post_build: &PostBuild,
    read: &dyn Fn(&SubstituteReference) -> Result<Option<Variables>, String>,
) -> Result<BTreeMap<String, String>, FluxBuildError> {
    let mut vars = BTreeMap::new();
    for reference in &post_build.substitute_from {
        let error = |reason: String| FluxBuildError::SubstituteFrom {
            kind: reference.kind.clone(),
            name: reference.name.clone(),
            reason,
        };
        match read(reference).map_err(error)? {
            Some(data) => vars.extend(data.into_iter().map(|(k, v)| (k, v.replace('\n', "")))),
            None if reference.optional => {}
            None => {
                let resource = match reference.kind.as_str() {
                    "Secret" => "secrets",
                    _ => "configmaps",
                };
                return Err(error(format!(
                    "{resource} \"{}\" not found",
                    reference.name
                )));
            }
        }
    }
    for (k, v) in &post_build.substitute {
        vars.insert(k.clone(), v.replace('\n', ""));
    }
    Ok(vars)
}

/// Builds `spec.path` of `tree` as kustomize-controller does and returns the objects it
/// would apply. `vars` are the resolved substitution variables (see [`variables`]); they
/// are used only when `spec.postBuild` is set.
pub fn build(
    tree: &dyn Tree,
    spec: &BuildSpec,
    owner: &Owner,
    vars: &BTreeMap<String, String>,
    strictness: Strictness,
) -> Result<Vec<Value>, FluxBuildError> {
    build_with_keys(tree, spec, owner, vars, strictness, &Identities::none())
}

/// [`build`] with the age identities `spec.decryption` decrypts with, as
/// kustomize-controller does: encrypted generator sources before the build
/// (`DecryptSources`); after it and before substitution, each object carrying SOPS
/// metadata decrypted whole and a Secret's encrypted data files field by field
/// (`DecryptResource`), unless annotated `kustomize.toolkit.fluxcd.io/decrypt: disabled`.
pub fn build_with_keys(
    tree: &dyn Tree,
    spec: &BuildSpec,
    owner: &Owner,
    vars: &BTreeMap<String, String>,
    strictness: Strictness,
    identities: &Identities,
) -> Result<Vec<Value>, FluxBuildError> {
    let dir = source_dir(tree, &spec.path)?;
    let (kustomization_path, kustomization) = kustomization_for(tree, &dir, spec)?;
    let decrypting = spec
        .decryption
        .as_ref()
        .is_some_and(|d| !d.provider.is_empty());
    // Sources first (kustomize-controller's DecryptSources), so generated Secrets hold
    // plaintext.
    let decrypted = if decrypting {
        super::decrypt_sources::decrypt_sources(tree, &dir, &kustomization, identities)?
    } else {
        Default::default()
    };
    let sources = super::decrypt_sources::Replaced {
        base: tree,
        files: decrypted,
    };
    let bytes = kustomize::to_yaml(&Value::Object(kustomization)).into_bytes();
    // Upstream writes the kustomization into its temporary copy of the source.
    let overlay = kustomize::WithFile::new(&sources, kustomization_path, bytes);
    let objects = kustomize::build(&overlay, &dir).map_err(FluxBuildError::Build)?;
    let mut out = Vec::with_capacity(objects.len());
    for mut object in objects {
        check_identity(&object)?;
        if decrypting && !decryption_disabled(&object) {
            let failed = |object: &Value, reason: String| FluxBuildError::Decryption {
                gvk: kustomize_gvk(object),
                name: metadata_value_root(object, "name"),
                reason,
            };
            if sops::is_encrypted(&object) {
                sops::decrypt_values(&mut object, identities)
                    .map_err(|e| failed(&object, e.to_string()))?;
            } else if flotilla_core::secret::is_secret(&object) {
                decrypt_secret_files(&mut object, identities)
                    .map_err(|reason| failed(&object, reason))?;
            }
        }
        let object = match &spec.post_build {
            Some(post_build) => substitute(object, post_build, vars, strictness)?,
            None => object,
        };
        out.push(object);
    }
    for object in &mut out {
        normalize(object);
        if let Some(common) = &spec.common_metadata {
            merge_metadata(object, "labels", &common.labels);
            merge_metadata(object, "annotations", &common.annotations);
        }
        let owner_labels = BTreeMap::from([
            (
                "kustomize.toolkit.fluxcd.io/name".to_string(),
                owner.name.clone(),
            ),
            (
                "kustomize.toolkit.fluxcd.io/namespace".to_string(),
                owner.namespace.clone(),
            ),
        ]);
        merge_metadata(object, "labels", &owner_labels);
    }
    Ok(out)
}

/// `spec.path` as a tree path (`./apps/` → `apps`); it must be a directory.
fn source_dir(tree: &dyn Tree, path: &str) -> Result<String, FluxBuildError> {
    let dir = kustomize::join("", path.trim_start_matches('/'))?;
    match tree.entry(&dir)? {
        Some(EntryKind::Dir) => Ok(dir),
        _ => Err(FluxBuildError::PathNotFound {
            path: path.to_string(),
        }),
    }
}

pub(crate) fn kustomization_file_in(
    tree: &dyn Tree,
    dir: &str,
) -> Result<Option<String>, FluxBuildError> {
    for name in KUSTOMIZATION_FILES {
        let path = kustomize::join(dir, name)?;
        if tree.entry(&path)? == Some(EntryKind::File) {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// The kustomization to build, with the spec's overlay applied, and where it lives.
fn kustomization_for(
    tree: &dyn Tree,
    dir: &str,
    spec: &BuildSpec,
) -> Result<(String, Map<String, Value>), FluxBuildError> {
    let (path, mut k) = match kustomization_file_in(tree, dir)? {
        Some(path) => {
            let bytes = tree.read(&path)?;
            let mut k =
                kustomize::parse_mapping(&path, &bytes).map_err(FluxBuildError::Kustomization)?;
            // Upstream adds this to an existing kustomization without resources.
            let has_resources = k
                .get("resources")
                .and_then(Value::as_array)
                .is_some_and(|r| !r.is_empty());
            if !has_resources {
                k.insert("buildMetadata".into(), json!(["originAnnotations"]));
            }
            (path, k)
        }
        None => {
            let mut resources = Vec::new();
            scan_manifests(tree, dir, dir, &mut resources)?;
            let mut k = Map::new();
            k.insert(
                "apiVersion".into(),
                json!("kustomize.config.k8s.io/v1beta1"),
            );
            k.insert("kind".into(), json!("Kustomization"));
            if resources.is_empty() {
                k.insert("namespace".into(), json!("_placeholder"));
            } else {
                k.insert("resources".into(), json!(resources));
            }
            (kustomize::join(dir, KUSTOMIZATION_FILES[0])?, k)
        }
    };
    overlay(tree, dir, spec, &mut k)?;
    Ok((path, k))
}

/// Every YAML file under `dir` (must decode as Kubernetes YAML) and every subdirectory
/// holding its own kustomization (listed as a whole, not descended into), in walk order.
fn scan_manifests(
    tree: &dyn Tree,
    root: &str,
    dir: &str,
    resources: &mut Vec<String>,
) -> Result<(), FluxBuildError> {
    for (name, kind) in tree.list(dir)? {
        let path = kustomize::join(dir, &name)?;
        let relative = format!("./{}", relative_to(root, &path));
        match kind {
            EntryKind::Dir => {
                if kustomization_file_in(tree, &path)?.is_some() {
                    resources.push(relative);
                } else {
                    scan_manifests(tree, root, &path, resources)?;
                }
            }
            EntryKind::File => {
                if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                    continue;
                }
                let bytes = tree.read(&path)?;
                kustomize::parse_documents(&path, &bytes).map_err(|e| {
                    FluxBuildError::Manifest {
                        file: path.clone(),
                        reason: e.to_string(),
                    }
                })?;
                resources.push(relative);
            }
        }
    }
    Ok(())
}

fn relative_to<'p>(root: &str, path: &'p str) -> &'p str {
    if root.is_empty() {
        path
    } else {
        path.strip_prefix(root)
            .map(|rest| rest.trim_start_matches('/'))
            .unwrap_or(path)
    }
}

/// The spec's fields written over the kustomization, as upstream's generator does.
fn overlay(
    tree: &dyn Tree,
    dir: &str,
    spec: &BuildSpec,
    k: &mut Map<String, Value>,
) -> Result<(), FluxBuildError> {
    for (field, value) in [
        ("namespace", &spec.target_namespace),
        ("namePrefix", &spec.name_prefix),
        ("nameSuffix", &spec.name_suffix),
    ] {
        match value.as_deref() {
            // An empty value is omitted when upstream writes the file back.
            Some("") => {
                k.remove(field);
            }
            Some(v) => {
                k.insert(field.into(), json!(v));
            }
            None => {}
        }
    }
    if !spec.patches.is_empty() {
        let patches = array_field(k, "patches");
        for patch in &spec.patches {
            let mut entry = Map::new();
            entry.insert("patch".into(), json!(patch.patch));
            if let Some(target) = &patch.target {
                entry.insert("target".into(), selector_json(target));
            }
            patches.push(Value::Object(entry));
        }
    }
    let mut components = Vec::new();
    for component in &spec.components {
        if !is_local_relative(component) {
            return Err(FluxBuildError::ComponentNotLocal(component.clone()));
        }
        if spec.ignore_missing_components {
            let exists = kustomize::join(dir, component)
                .ok()
                .map(|p| tree.entry(&p))
                .transpose()?
                .flatten()
                .is_some();
            if !exists {
                continue;
            }
        }
        components.push(json!(component));
    }
    if !components.is_empty() {
        array_field(k, "components").extend(components);
    }
    if !spec.images.is_empty() {
        let images = array_field(k, "images");
        for image in &spec.images {
            let existing = images
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .find(|i| i.get("name").and_then(Value::as_str) == Some(image.name.as_str()));
            match existing {
                Some(entry) => {
                    if !image.new_name.is_empty() {
                        entry.insert("newName".into(), json!(image.new_name));
                    }
                    if !image.new_tag.is_empty() || !image.digest.is_empty() {
                        set_or_remove(entry, "newTag", &image.new_tag);
                        set_or_remove(entry, "digest", &image.digest);
                    }
                }
                None => {
                    let mut entry = Map::new();
                    entry.insert("name".into(), json!(image.name));
                    set_or_remove(&mut entry, "newName", &image.new_name);
                    set_or_remove(&mut entry, "newTag", &image.new_tag);
                    set_or_remove(&mut entry, "digest", &image.digest);
                    images.push(Value::Object(entry));
                }
            }
        }
    }
    Ok(())
}

fn array_field<'k>(k: &'k mut Map<String, Value>, field: &str) -> &'k mut Vec<Value> {
    let slot = k.entry(field).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    match slot {
        Value::Array(items) => items,
        _ => unreachable!("just made an array"),
    }
}

fn set_or_remove(entry: &mut Map<String, Value>, field: &str, value: &str) {
    if value.is_empty() {
        entry.remove(field);
    } else {
        entry.insert(field.into(), json!(value));
    }
}

fn selector_json(s: &Selector) -> Value {
    let mut out = Map::new();
    for (field, value) in [
        ("group", &s.group),
        ("version", &s.version),
        ("kind", &s.kind),
        ("name", &s.name),
        ("namespace", &s.namespace),
        ("labelSelector", &s.label_selector),
        ("annotationSelector", &s.annotation_selector),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            out.insert(field.into(), json!(v));
        }
    }
    Value::Object(out)
}

/// Upstream's `IsLocalRelativePath`: no remote URL forms, not absolute.
fn is_local_relative(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let remote = [
        "git::",
        "gh:",
        "ssh://",
        "https://",
        "http://",
        "git@",
        "github.com:",
        "github.com/",
    ]
    .iter()
    .any(|p| p.len() < lower.len() && lower.starts_with(p));
    let absolute = path.starts_with('/') || lower.trim_start_matches("file://").starts_with('/');
    !remote && !absolute
}

fn check_identity(object: &Value) -> Result<(), FluxBuildError> {
    let present = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if present(object.get("apiVersion"))
        && present(object.get("kind"))
        && present(object.pointer("/metadata/name"))
    {
        Ok(())
    } else {
        Err(FluxBuildError::Identity(object.to_string()))
    }
}

fn metadata_value<'o>(object: &'o Value, field: &str, key: &str) -> Option<&'o str> {
    object.get("metadata")?.get(field)?.get(key)?.as_str()
}

/// Post-build substitution of one object, through its YAML text as upstream does.
fn substitute(
    object: Value,
    post_build: &PostBuild,
    vars: &BTreeMap<String, String>,
    strictness: Strictness,
) -> Result<Value, FluxBuildError> {
    let disabled = ["labels", "annotations"]
        .iter()
        .any(|field| metadata_value(&object, field, SUBSTITUTE_KEY) == Some("disabled"));
    let always = post_build.substitute_strategy.as_deref() == Some("Always");
    if disabled || (vars.is_empty() && !always) {
        return Ok(object);
    }
    if let Some(bad) = vars.keys().find(|name| !is_variable_name(name)) {
        return Err(FluxBuildError::VariableName(bad.clone()));
    }
    let failure = |reason: String| FluxBuildError::PostBuild {
        gvk: kustomize_gvk(&object),
        name: metadata_value_root(&object, "name"),
        reason,
    };
    let text = kustomize::to_yaml(&object);
    let lookup = |name: &str| match strictness {
        Strictness::Strict => vars.get(name).cloned(),
        Strictness::Lenient => Some(vars.get(name).cloned().unwrap_or_default()),
    };
    let expanded = envsubst::expand(&text, &lookup)
        .map_err(|e: EnvsubstError| failure(format!("variable substitution failed: {e}")))?;
    let mut docs = kustomize::parse_documents("substituted", expanded.as_bytes())
        .map_err(|e| failure(format!("YAMLToJSON: {e}")))?;
    match (docs.pop(), docs.is_empty()) {
        (Some(object @ Value::Object(_)), true) => Ok(object),
        _ => Err(failure(
            "YAMLToJSON: the substituted text is not one object".to_string(),
        )),
    }
}

fn metadata_value_root(object: &Value, key: &str) -> String {
    object
        .pointer(&format!("/metadata/{key}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// kustomize-controller's `DecryptResource` for a Secret that is not encrypted whole:
/// each `data` value holding a SOPS file (of the format its marker shows) is decrypted
/// in place and written in the format its key names — `config.yaml` as YAML, `app.env`
/// as dotenv, `tls.key` as the binary file's bytes. A value that is not base64 is left
/// for the server.
fn decrypt_secret_files(secret: &mut Value, identities: &Identities) -> Result<(), String> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let Some(Value::Object(data)) = secret.get_mut("data") else {
        return Ok(());
    };
    for (key, value) in data.iter_mut() {
        let Some(bytes) = value.as_str().and_then(|v| engine.decode(v).ok()) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let Some(input) = sops::Format::detect(&text) else {
            continue;
        };
        let plain =
            sops::decrypt_file(&text, input, sops::Format::for_path(key), identities, false)
                .map_err(|e| format!("failed to decrypt and format Secret field '{key}': {e}"))?;
        *value = Value::String(engine.encode(plain));
    }
    Ok(())
}

/// `kustomize.toolkit.fluxcd.io/decrypt: disabled` (any case), as kustomize-controller's
/// `IsDecryptionDisabled`.
pub fn decryption_disabled(object: &Value) -> bool {
    object
        .pointer("/metadata/annotations/kustomize.toolkit.fluxcd.io~1decrypt")
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
}

/// kustomize's `Gvk.String()`: `group_version_kind` with `~G`, `~V`, `~K` for blanks.
fn kustomize_gvk(object: &Value) -> String {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let or = |s: &str, blank: &str| {
        if s.is_empty() {
            blank.to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "{}_{}_{}",
        or(group, "~G"),
        or(version, "~V"),
        or(kind, "~K")
    )
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// What kustomize-controller's normaliser changes before applying: Secret `stringData`
/// folded into `data`, missing port protocols set to TCP, `status` dropped (but on CRDs),
/// no `creationTimestamp`.
fn normalize(object: &mut Value) {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let core = api_version == "v1";
    let apps = api_version == "apps/v1";
    let batch = api_version == "batch/v1";
    let pod_spec = match kind.as_str() {
        "Pod" if core => Some("/spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" if apps => {
            Some("/spec/template/spec")
        }
        "Job" if batch => Some("/spec/template/spec"),
        "CronJob" if batch => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    };
    if let Some(pointer) = pod_spec
        && let Some(containers) = object
            .pointer_mut(&format!("{pointer}/containers"))
            .and_then(Value::as_array_mut)
    {
        for container in containers {
            default_protocols(container.get_mut("ports"));
        }
    }
    if kind == "Service" && core {
        default_protocols(object.pointer_mut("/spec/ports"));
    }
    if kind == "Secret" && core {
        flotilla_core::secret::merge_string_data(object);
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("creationTimestamp");
    }
    let is_crd =
        kind == "CustomResourceDefinition" && api_version.starts_with("apiextensions.k8s.io/");
    if !is_crd && let Some(fields) = object.as_object_mut() {
        fields.remove("status");
    }
}

fn default_protocols(ports: Option<&mut Value>) {
    let Some(ports) = ports.and_then(Value::as_array_mut) else {
        return;
    };
    for port in ports.iter_mut().filter_map(Value::as_object_mut) {
        let missing = port
            .get("protocol")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing {
            port.insert("protocol".into(), json!("TCP"));
        }
    }
}

/// Sets each entry of `values` in `metadata.<field>`, overriding what is there.
fn merge_metadata(object: &mut Value, field: &str, values: &BTreeMap<String, String>) {
    if values.is_empty() {
        return;
    }
    let Some(fields) = object.as_object_mut() else {
        return;
    };
    let metadata = fields.entry("metadata").or_insert_with(|| json!({}));
    let Some(metadata) = metadata.as_object_mut() else {
        return;
    };
    let map = metadata.entry(field).or_insert_with(|| json!({}));
    if !map.is_object() {
        *map = json!({});
    }
    if let Value::Object(map) = map {
        for (k, v) in values {
            map.insert(k.clone(), json!(v));
        }
    }
}
