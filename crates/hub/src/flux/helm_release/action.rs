//! The Helm actions helm-controller runs for a HelmRelease, against the target cluster:
//! install and upgrade (render, CRDs by policy, the release record written `pending-*`
//! first, hooks, a server-side apply of the manifests as `helm-controller`, objects that
//! left the chart deleted, a kstatus wait, the record `deployed` or `failed`, history
//! trimmed) and uninstall. Release records are Helm's own Secrets
//! ([`flotilla_render::helm::storage`]), so `helm list`, `helm history` and `helm get`
//! read what the hub did.

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flotilla_render::helm::storage::{self, Info, Release, Status, Timestamp};
use flotilla_render::helm::{
    Chart, ClusterCapabilities, Manifest, RenderOptions, Rendered, Table, ValueOptions, ValuesFile,
};
use flotilla_sync::Cluster;
use flotilla_sync::health::cel::HealthExprs;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use serde_json::{Value, json};

use super::hooks;
use crate::flux::ssa::{self, ObjMeta, Until};
use flotilla_fleet::helm_release::{Propagation, UninstallSettings};

/// The field manager helm-controller applies with.
pub const FIELD_MANAGER: &str = "helm-controller";

/// Labels helm-controller's post-renderer puts on every object of a release.
pub const NAME_LABEL: &str = "helm.toolkit.fluxcd.io/name";
/// See [`NAME_LABEL`].
pub const NAMESPACE_LABEL: &str = "helm.toolkit.fluxcd.io/namespace";

/// How often waits poll the cluster.
pub(super) const WAIT_POLL: Duration = Duration::from_secs(2);

/// What one install, upgrade or rollback needs besides the chart.
#[derive(Clone)]
pub struct Plan<'a> {
    /// The (shortened) release name Helm is given.
    pub release: &'a str,
    /// Where the objects go.
    pub namespace: &'a str,
    /// Where the records live.
    pub storage_namespace: &'a str,
    /// The HelmRelease (`name`, `namespace`) for the origin labels.
    pub owner: (&'a str, &'a str),
    /// The composed values.
    pub values: &'a Table,
    /// `Skip`, `Create` or `CreateReplace`.
    pub crds: &'a str,
    /// Create the namespace first.
    pub create_namespace: bool,
    /// Wait for the objects to be ready.
    pub wait: bool,
    /// The wait holds until Jobs complete.
    pub wait_for_jobs: bool,
    /// A failure deletes the objects the action created (`cleanupOnFail`).
    pub cleanup_on_fail: bool,
    /// Existing objects new to the release are adopted (`disableTakeOwnership` off);
    /// otherwise only those whose ownership metadata already names the release.
    pub take_ownership: bool,
    /// An upgrade reuses the last release's values (`upgrade.preserveValues`).
    pub reuse_values: bool,
    /// The values are checked against the chart's `values.schema.json`
    /// (`disableSchemaValidation` off).
    pub validate_schema: bool,
    /// Run the chart's install and upgrade hooks (`disableHooks` off).
    pub hooks: bool,
    /// How long the action may take.
    pub timeout: Duration,
    /// Records kept (`None`: all).
    pub max_history: Option<usize>,
    /// `spec.commonMetadata`.
    pub common_labels: BTreeMap<String, String>,
    /// `spec.commonMetadata`.
    pub common_annotations: BTreeMap<String, String>,
    /// `spec.postRenderers`, run in order over the rendered objects.
    pub post_renderers: &'a [Value],
    /// `spec.healthCheckExprs`: the kinds they cover are waited for by their CEL.
    pub health_exprs: Option<&'a HealthExprs>,
}

/// Why an action failed, and whether a release record was written for it (only then do
/// helm-controller's failure counters move).
#[derive(Debug)]
pub struct ActionError {
    /// Helm's error text.
    pub message: String,
    /// A record exists for the attempt (now `failed`).
    pub recorded: bool,
}

fn unrecorded(message: String) -> ActionError {
    ActionError {
        message,
        recorded: false,
    }
}

pub(super) fn now_timestamp() -> Option<Timestamp> {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_unix(elapsed.as_secs() as i64, 0)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn api_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The records of a release in the storage namespace, oldest first.
pub async fn history(
    cluster: &Cluster,
    storage_namespace: &str,
    release: &str,
) -> Result<Vec<Release>, String> {
    let secrets: Api<Secret> = Api::namespaced(cluster.client().clone(), storage_namespace);
    let listed = secrets
        .list(&ListParams::default().labels(&storage::history_selector(release)))
        .await
        .map_err(|e| {
            format!(
                "failed to retrieve last release from storage: {}",
                api_error(&e)
            )
        })?;
    let mut releases = Vec::new();
    for secret in listed.items {
        let value = serde_json::to_value(&secret).unwrap_or(Value::Null);
        let record = storage::release_from_secret(&value).map_err(|e| e.to_string())?;
        releases.push(record);
    }
    releases.sort_by_key(|r| r.version);
    Ok(releases)
}

/// Writes `record` (create, or update when `exists`) in the storage namespace.
pub(super) async fn store(
    cluster: &Cluster,
    storage_namespace: &str,
    record: &Release,
    exists: bool,
) -> Result<(), String> {
    let mut secret = if exists {
        storage::secret_for_update(record, unix_now())
    } else {
        storage::secret_for(record, unix_now())
    }
    .map_err(|e| e.to_string())?;
    // Records live in the storage namespace, which need not be the release's.
    secret["metadata"]["namespace"] = json!(storage_namespace);
    let secret: Secret = serde_json::from_value(secret).map_err(|e| e.to_string())?;
    let secrets: Api<Secret> = Api::namespaced(cluster.client().clone(), storage_namespace);
    let name = storage::secret_name(&record.name, record.version);
    let written = if exists {
        secrets
            .replace(&name, &PostParams::default(), &without_version(secret))
            .await
    } else {
        secrets.create(&PostParams::default(), &secret).await
    };
    written
        .map(drop)
        .map_err(|e| format!("failed to store release {name}: {}", api_error(&e)))
}

fn without_version(mut secret: Secret) -> Secret {
    secret.metadata.resource_version = None;
    secret
}

/// `.Capabilities` as Helm's install and upgrade read them from the cluster (its
/// `getCapabilities`, asked afresh for each action): the server's version as written,
/// and `GetVersionSet` of its discovery.
async fn capabilities_of(cluster: &Cluster) -> Result<ClusterCapabilities, String> {
    let client = cluster.client();
    let version = client.apiserver_version().await.map_err(|e| {
        format!(
            "could not get server version from Kubernetes: {}",
            crate::flux::api_message(&e)
        )
    })?;
    let discovered = crate::api_discovery::discover(client).await.map_err(|e| {
        format!(
            "could not get apiVersions from Kubernetes: {}",
            crate::flux::api_message(&e)
        )
    })?;
    Ok(ClusterCapabilities {
        git_version: version.git_version,
        major: version.major,
        minor: version.minor,
        api_versions: discovered.helm_version_set(),
    })
}

/// What Helm's install or upgrade renders the chart with (the cluster's capabilities
/// are added once its `crds/` are applied).
fn render_options(plan: &Plan<'_>, is_upgrade: bool) -> Result<RenderOptions, String> {
    let values =
        serde_json::to_vec(&Value::Object(plan.values.clone())).map_err(|e| e.to_string())?;
    Ok(RenderOptions {
        release_name: plan.release.to_string(),
        namespace: plan.namespace.to_string(),
        is_upgrade,
        // The chart's `crds/`, applied by policy before the release (never stored in
        // its manifest, never deleted with it).
        include_crds: true,
        skip_schema_validation: !plan.validate_schema,
        values: ValueOptions {
            files: vec![ValuesFile {
                name: "values".into(),
                data: values,
            }],
            ..Default::default()
        },
        ..Default::default()
    })
}

/// Renders the chart as Helm's install or upgrade renders it.
fn render(chart: &Chart, plan: &Plan<'_>, options: &RenderOptions) -> Result<Rendered, String> {
    let mut rendered =
        flotilla_render::helm::render_chart(chart.clone(), options).map_err(|e| e.to_string())?;
    for post_renderer in plan.post_renderers {
        if let Some(kustomize) = post_renderer.get("kustomize") {
            flotilla_render::helm::post_render(&mut rendered, |objects| {
                kustomize_post_render(kustomize, objects)
            })
            .map_err(|e| e.to_string())?;
        }
    }
    // helm-controller's own post-renderers come last: `commonMetadata`, then the origin
    // labels, so the stored manifest and hooks carry them as helm-controller's do.
    flotilla_render::helm::post_render(&mut rendered, |objects| {
        Ok(objects
            .into_iter()
            .map(|mut object| {
                label(&mut object, plan, false);
                object
            })
            .collect())
    })
    .map_err(|e| e.to_string())?;
    Ok(rendered)
}

/// helm-controller's Kustomize post-renderer: the objects as `helm-output.yaml`, the
/// only resource of a kustomization with the post-renderer's `patches` and `images`.
fn kustomize_post_render(kustomize: &Value, objects: Vec<Value>) -> Result<Vec<Value>, String> {
    let mut kustomization = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": ["helm-output.yaml"],
    });
    for field in ["patches", "images"] {
        if let Some(list) = kustomize.get(field).filter(|v| !v.is_null()) {
            kustomization[field] = list.clone();
        }
    }
    let tree = flotilla_render::kustomize::MemTree::from_files([
        (
            "helm-output.yaml".to_string(),
            flotilla_render::kustomize::to_yaml_stream(&objects).into_bytes(),
        ),
        (
            "kustomization.yaml".to_string(),
            kustomization.to_string().into_bytes(),
        ),
    ]);
    flotilla_render::kustomize::build(&tree, "").map_err(|e| e.to_string())
}

/// The labels and annotations a release's objects carry: helm-controller's
/// post-renderer (`commonMetadata`, then the origin labels) and Helm's ownership
/// metadata.
fn label(object: &mut Value, plan: &Plan<'_>, owned: bool) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let labels = metadata.entry("labels").or_insert_with(|| json!({}));
    if let Some(labels) = labels.as_object_mut() {
        for (k, v) in &plan.common_labels {
            labels.insert(k.clone(), json!(v));
        }
        labels.insert(NAME_LABEL.into(), json!(plan.owner.0));
        labels.insert(NAMESPACE_LABEL.into(), json!(plan.owner.1));
        if owned {
            labels.insert("app.kubernetes.io/managed-by".into(), json!("Helm"));
        }
    }
    if !plan.common_annotations.is_empty() || owned {
        let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
        if let Some(annotations) = annotations.as_object_mut() {
            for (k, v) in &plan.common_annotations {
                annotations.insert(k.clone(), json!(v));
            }
            if owned {
                annotations.insert("meta.helm.sh/release-name".into(), json!(plan.release));
                annotations.insert(
                    "meta.helm.sh/release-namespace".into(),
                    json!(plan.namespace),
                );
            }
        }
    }
}

/// helm-controller's origin labels alone: what it puts on the chart's CRDs.
fn origin_labels(object: &mut Value, (name, namespace): (&str, &str)) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = metadata.entry("labels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(NAME_LABEL.into(), json!(name));
            labels.insert(NAMESPACE_LABEL.into(), json!(namespace));
        }
    }
}

fn hook_name(hook: &flotilla_render::helm::Hook) -> &str {
    hook.manifest
        .object
        .at("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Where an object of a release lives: its kind resolved on the cluster, its name, and
/// its namespace — set to `namespace` on a namespaced object that names none, as Helm's
/// client does, and taken off a cluster-scoped one.
struct Located {
    resolved: flotilla_sync::cluster::Resolved,
    name: String,
    namespace: Option<String>,
}

async fn locate(cluster: &Cluster, object: &mut Value, namespace: &str) -> Result<Located, String> {
    let s = |p: &str| {
        object
            .at(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (api_version, kind, name) = (s("/apiVersion"), s("/kind"), s("/metadata/name"));
    let resolved = cluster
        .resolve(&api_version, &kind)
        .await
        .map_err(|e| format!("unable to build kubernetes objects from release manifest: {e}"))?;
    let namespace = if resolved.namespaced {
        let ns = Some(s("/metadata/namespace"))
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| namespace.to_string());
        object["metadata"]["namespace"] = json!(ns);
        Some(ns)
    } else {
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("namespace");
        }
        None
    };
    Ok(Located {
        resolved,
        name,
        namespace,
    })
}

/// Server-side applies one object as helm-controller, in the release namespace when it
/// is namespaced and names none.
pub(super) async fn apply(
    cluster: &Cluster,
    object: &Value,
    namespace: &str,
) -> Result<ObjMeta, String> {
    let mut object = object.clone();
    let at = locate(cluster, &mut object, namespace).await?;
    let api = cluster.api(&at.resolved, at.namespace.as_deref());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&at.name, &params, &Patch::Apply(&object))
        .await
        .map_err(|e| {
            format!(
                "{} {}: {}",
                at.resolved.resource.kind,
                at.name,
                api_error(&e)
            )
        })?;
    Ok(ObjMeta::of(&object))
}

/// Deletes an object unless it asks to be kept (`helm.sh/resource-policy: keep`); the
/// object when a deletion was asked for.
pub(super) async fn delete(
    cluster: &Cluster,
    object: &Value,
    namespace: &str,
    propagation: PropagationPolicy,
) -> Result<Option<ObjMeta>, String> {
    let keep = object
        .at("/metadata/annotations/helm.sh~1resource-policy")
        .and_then(Value::as_str)
        == Some("keep");
    if keep {
        return Ok(None);
    }
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object
        .at("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Ok(resolved) = cluster.resolve(api_version, kind).await else {
        // The kind is gone from the cluster: nothing left to delete.
        return Ok(None);
    };
    let object_namespace = resolved.namespaced.then(|| {
        object
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .unwrap_or(namespace)
            .to_string()
    });
    let api = cluster.api(&resolved, object_namespace.as_deref());
    let params = DeleteParams {
        propagation_policy: Some(propagation),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {
            let mut meta = ObjMeta::of(object);
            meta.namespace = object_namespace.unwrap_or_default();
            Ok(Some(meta))
        }
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(format!("{kind} {name}: {}", api_error(&e))),
    }
}

/// The objects of a stored manifest (Helm's `---`-separated text).
pub fn manifest_objects(manifest: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(manifest)
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o.is_object())
        .collect()
}

/// An object's group, kind, namespace and name.
type Identity = (String, String, String, String);

fn identity(object: &Value, namespace: &str) -> Identity {
    let s = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
    let group = s("/apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
    let ns = match s("/metadata/namespace") {
        "" => namespace,
        other => other,
    };
    (
        group.to_string(),
        s("/kind").to_string(),
        ns.to_string(),
        s("/metadata/name").to_string(),
    )
}

/// Applies the chart's CRDs by `policy`: `Create` creates those missing, `CreateReplace`
/// also updates existing ones, `Skip` leaves them; then waits for them to be established.
async fn apply_crds(cluster: &Cluster, crds: &[Manifest], plan: &Plan<'_>) -> Result<(), String> {
    if plan.crds == "Skip" || crds.is_empty() {
        return Ok(());
    }
    let mut applied = Vec::new();
    for crd in crds {
        let mut object = crd.object.clone();
        if !object.is_object() {
            continue;
        }
        origin_labels(&mut object, plan.owner);
        if plan.crds == "Create" {
            let resolved = cluster
                .resolve("apiextensions.k8s.io/v1", "CustomResourceDefinition")
                .await
                .map_err(|e| e.to_string())?;
            let api = cluster.api(&resolved, None);
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            if api
                .get_opt(name)
                .await
                .map_err(|e| api_error(&e))?
                .is_some()
            {
                continue;
            }
        }
        applied.push(
            apply(cluster, &object, plan.namespace)
                .await
                .map_err(|e| format!("failed to apply CustomResourceDefinitions: {e}"))?,
        );
    }
    ssa::wait_for_current(cluster, &applied, Duration::from_secs(60), WAIT_POLL, false)
        .await
        .map_err(|e| format!("failed to wait for CustomResourceDefinitions: {e}"))
}

/// Creates the release namespace when asked and missing.
async fn ensure_namespace(cluster: &Cluster, namespace: &str) -> Result<(), String> {
    let namespaces: Api<Namespace> = Api::all(cluster.client().clone());
    if namespaces
        .get_opt(namespace)
        .await
        .map_err(|e| api_error(&e))?
        .is_some()
    {
        return Ok(());
    }
    let body: Namespace = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}
    }))
    .map_err(|e| e.to_string())?;
    match namespaces.create(&PostParams::default(), &body).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(api_error(&e)),
    }
}

pub(super) async fn wait_gone(
    cluster: &Cluster,
    object: &Value,
    namespace: &str,
    timeout: Duration,
) -> Result<(), String> {
    let mut meta = ObjMeta::of(object);
    if meta.namespace.is_empty() {
        meta.namespace = namespace.to_string();
    }
    ssa::wait_for_termination(cluster, &[meta], timeout, WAIT_POLL).await
}

/// Whether an object of a release exists (Helm's client reads each object before it
/// applies it, and counts those it did not find as created).
async fn exists(cluster: &Cluster, object: &Value, namespace: &str) -> Result<bool, String> {
    let mut object = object.clone();
    let at = locate(cluster, &mut object, namespace).await?;
    cluster
        .api(&at.resolved, at.namespace.as_deref())
        .get_opt(&at.name)
        .await
        .map(|o| o.is_some())
        .map_err(|e| {
            format!(
                "could not get information about the resource: {}",
                api_error(&e)
            )
        })
}

/// Applies a release's objects as Helm's client updates them: each one owned, noted in
/// `created` first when `plan.cleanup_on_fail` and missing; the applied objects.
async fn apply_release_objects(
    cluster: &Cluster,
    plan: &Plan<'_>,
    objects: Vec<Value>,
    namespace: &str,
    created: &mut Vec<Value>,
) -> Result<(Vec<ObjMeta>, BTreeSet<Identity>), String> {
    let mut applied = Vec::new();
    let mut kept = BTreeSet::new();
    for mut object in objects {
        if !object.is_object() {
            continue;
        }
        label(&mut object, plan, true);
        kept.insert(identity(&object, namespace));
        if plan.cleanup_on_fail && !exists(cluster, &object, namespace).await? {
            // Counted before it is created, as Helm counts it, so a failed create is
            // cleaned up too.
            created.push(object.clone());
        }
        applied.push(apply(cluster, &object, namespace).await?);
    }
    Ok((applied, kept))
}

/// Deletes what `previous` had and the new objects (`kept`) do not, in reverse install
/// order, as Helm's client does: each read first (one that cannot be read is left), one
/// whose live copy says `helm.sh/resource-policy: keep` left (an operator may mark a
/// volume so by hand), the others deleted in the background; every one is tried, the
/// failures reported together.
async fn delete_left_behind(
    cluster: &Cluster,
    previous: &Release,
    kept: &BTreeSet<Identity>,
) -> Result<(), String> {
    let mut gone: Vec<Value> = manifest_objects(&previous.manifest)
        .into_iter()
        .filter(|o| !kept.contains(&identity(o, &previous.namespace)))
        .collect();
    gone.reverse();
    let mut failures = Vec::new();
    for mut object in gone {
        let Ok(at) = locate(cluster, &mut object, &previous.namespace).await else {
            continue;
        };
        let live = cluster
            .api(&at.resolved, at.namespace.as_deref())
            .get_opt(&at.name)
            .await;
        let Ok(Some(live)) = live else {
            continue;
        };
        let keep = live
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("helm.sh/resource-policy"))
            .is_some_and(|p| p == "keep");
        if keep {
            continue;
        }
        if let Err(e) = delete(
            cluster,
            &object,
            &previous.namespace,
            PropagationPolicy::Background,
        )
        .await
        {
            failures.push(format!("failed to delete resource {e}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join(" && "))
    }
}

/// Helm's `cleanupOnFail`: the objects a failed action created, deleted (background);
/// the error to report, with the cleanup's failure when it failed.
async fn clean_up(
    cluster: &Cluster,
    created: &[Value],
    namespace: &str,
    action: &str,
    error: String,
) -> String {
    let mut failures = Vec::new();
    for object in created {
        if let Err(e) = delete(cluster, object, namespace, PropagationPolicy::Background).await {
            failures.push(e);
        }
    }
    if failures.is_empty() {
        error
    } else {
        format!(
            "an error occurred while cleaning up resources. original {action} error: {error}: unable to cleanup resources: {}",
            failures.join(", ")
        )
    }
}

/// How a wait of `plan` judges Jobs.
fn until(plan: &Plan<'_>) -> Until {
    if plan.wait_for_jobs {
        Until::JobsComplete
    } else {
        Until::Current
    }
}

/// `context deadline exceeded after …`, the error of an action out of time.
fn deadline_exceeded(timeout: Duration) -> String {
    format!(
        "context deadline exceeded after {}",
        crate::flux::go_duration(timeout)
    )
}

/// The result of an install or upgrade that succeeded.
pub struct Done {
    /// The record now `deployed`.
    pub release: Release,
    /// The objects of the release (manifests and CRDs), for the inventory.
    pub objects: Vec<ObjMeta>,
}

/// Installs (`previous` is `None`) or upgrades a release to `version`, Helm's way; on a
/// failure after the record was written the record is left `failed` (and, with
/// `cleanupOnFail`, what the upgrade created deleted).
pub async fn install_or_upgrade(
    cluster: &Cluster,
    chart: &Chart,
    plan: &Plan<'_>,
    version: u32,
    previous: Option<&Release>,
) -> Result<Done, ActionError> {
    let is_upgrade = previous.is_some();
    let reused = previous
        .filter(|_| plan.reuse_values)
        .map(|previous| reuse_values(chart, plan.values, previous));
    let (chart, values) = match &reused {
        Some((chart, values)) => (chart, values),
        None => (chart, plan.values),
    };
    let plan = &Plan {
        values,
        ..plan.clone()
    };
    // As Helm: the chart's `crds/` go first, then the cluster is asked what it serves
    // (so the chart sees its own definitions), then the chart renders.
    let mut options = render_options(plan, is_upgrade).map_err(unrecorded)?;
    if plan.crds != "Skip" {
        let crds = flotilla_render::helm::chart_crds(chart.clone(), &options)
            .map_err(|e| unrecorded(e.to_string()))?;
        apply_crds(cluster, &crds, plan).await.map_err(unrecorded)?;
    }
    options.cluster = Some(capabilities_of(cluster).await.map_err(unrecorded)?);
    let rendered = render(chart, plan, &options).map_err(unrecorded)?;
    if plan.create_namespace && !is_upgrade {
        ensure_namespace(cluster, plan.namespace)
            .await
            .map_err(unrecorded)?;
    }
    if !plan.take_ownership {
        refuse_unowned(cluster, &rendered, plan, previous)
            .await
            .map_err(unrecorded)?;
    }
    let now = now_timestamp();
    let manifest = manifest_text(&rendered);
    let mut record = Release {
        name: plan.release.to_string(),
        info: Some(Info {
            first_deployed: previous
                .and_then(|p| p.info.as_ref())
                .and_then(|i| i.first_deployed)
                .or(now),
            last_deployed: now,
            description: if is_upgrade {
                "Preparing upgrade".into()
            } else {
                "Initial install underway".into()
            },
            status: Some(if is_upgrade {
                Status::PendingUpgrade
            } else {
                Status::PendingInstall
            }),
            notes: rendered.notes.clone(),
            ..Default::default()
        }),
        chart: Some(storage::chart_record(chart)),
        config: plan.values.clone(),
        manifest,
        hooks: rendered
            .hooks
            .iter()
            .map(|h| storage::Hook {
                name: hook_name(h).to_string(),
                kind: h.manifest.kind.clone(),
                path: h.manifest.source.clone(),
                manifest: h.manifest.content.clone(),
                events: h.events.clone(),
                weight: h.weight,
                delete_policies: h.delete_policies.clone(),
                ..Default::default()
            })
            .collect(),
        version,
        namespace: plan.namespace.to_string(),
        apply_method: "ssa".into(),
        labels: BTreeMap::new(),
    };
    store(cluster, plan.storage_namespace, &record, false)
        .await
        .map_err(unrecorded)?;
    let mut created = Vec::new();
    let outcome = tokio::time::timeout(
        plan.timeout,
        deploy(
            cluster,
            &rendered,
            plan,
            previous,
            &mut record,
            &mut created,
        ),
    )
    .await
    .unwrap_or_else(|_| Err(deadline_exceeded(plan.timeout)));
    let info = record.info.get_or_insert_with(Info::default);
    match outcome {
        Ok(objects) => {
            info.status = Some(Status::Deployed);
            info.description = if is_upgrade {
                "Upgrade complete".into()
            } else {
                "Install complete".into()
            };
            store(cluster, plan.storage_namespace, &record, true)
                .await
                .map_err(|message| ActionError {
                    message,
                    recorded: true,
                })?;
            if is_upgrade {
                supersede_deployed(cluster, plan.storage_namespace, plan.release, version).await;
            }
            trim_history(cluster, plan).await;
            Ok(Done {
                release: record,
                objects,
            })
        }
        Err(message) => {
            info.status = Some(Status::Failed);
            info.description = format!("Release {:?} failed: {message}", plan.release);
            if let Err(e) = store(cluster, plan.storage_namespace, &record, true).await {
                tracing::warn!(release = %plan.release, error = %e, "recording a failed release");
            }
            let message = clean_up(cluster, &created, plan.namespace, "upgrade", message).await;
            Err(ActionError {
                message,
                recorded: true,
            })
        }
    }
}

/// Helm's `existingResourceConflict` (`disableTakeOwnership`): an object new to the
/// release (all of them on install) that exists without the release's ownership
/// metadata stops the action before anything is written.
async fn refuse_unowned(
    cluster: &Cluster,
    rendered: &Rendered,
    plan: &Plan<'_>,
    previous: Option<&Release>,
) -> Result<(), String> {
    let existing: BTreeSet<Identity> = previous
        .map(|p| {
            manifest_objects(&p.manifest)
                .iter()
                .map(|o| identity(o, &p.namespace))
                .collect()
        })
        .unwrap_or_default();
    let verb = if previous.is_some() {
        "update"
    } else {
        "install"
    };
    for manifest in &rendered.manifests {
        let mut object = manifest.object.clone();
        if !object.is_object() || existing.contains(&identity(&object, plan.namespace)) {
            continue;
        }
        let at = locate(cluster, &mut object, plan.namespace).await?;
        let described = format!(
            "{} {:?} in namespace {:?}",
            at.resolved.resource.kind,
            at.name,
            at.namespace.as_deref().unwrap_or_default()
        );
        let live = cluster
            .api(&at.resolved, at.namespace.as_deref())
            .get_opt(&at.name)
            .await
            .map_err(|e| {
                format!(
                    "unable to continue with {verb}: could not get information about the resource {described}: {}",
                    api_error(&e)
                )
            })?;
        let Some(live) = live else {
            continue;
        };
        let live = serde_json::to_value(live).unwrap_or(Value::Null);
        if let Err(why) = owned_by(&live, plan.release, plan.namespace) {
            return Err(format!(
                "unable to continue with {verb}: {described} exists and cannot be imported into the current release: {why}"
            ));
        }
    }
    Ok(())
}

/// Helm's `--reuse-values` (`upgrade.preserveValues`): the new values over the last
/// release's (`CoalesceTables(new, current.Config)`), and the chart's defaults replaced
/// by the last release's computed values (its chart's defaults under its values) — so
/// defaults the new chart version introduces are not seen, as with Helm.
fn reuse_values(chart: &Chart, values: &Table, previous: &Release) -> (Chart, Table) {
    let merged = flotilla_render::helm::coalesce_tables(values.clone(), &previous.config);
    let old_defaults = previous
        .chart
        .as_ref()
        .and_then(|c| c.values.clone())
        .unwrap_or_default();
    let mut chart = chart.clone();
    chart.values = flotilla_render::helm::coalesce_tables(previous.config.clone(), &old_defaults);
    (chart, merged)
}

/// Hooks, manifests, the deletion of what left the chart, the wait: what happens
/// between the `pending-*` record and the final one. Hook runs are written to `record`.
async fn deploy(
    cluster: &Cluster,
    rendered: &Rendered,
    plan: &Plan<'_>,
    previous: Option<&Release>,
    record: &mut Release,
    created: &mut Vec<Value>,
) -> Result<Vec<ObjMeta>, String> {
    let hooks = if previous.is_some() {
        ("pre-upgrade", "post-upgrade")
    } else {
        ("pre-install", "post-install")
    };
    // Collected first: an iterator with a closure held across awaits makes the future
    // !Send (rust-lang/rust#64552).
    let objects: Vec<Value> = rendered
        .manifests
        .iter()
        .map(|m| m.object.clone())
        .collect();
    let mut applied = release_steps(
        cluster,
        plan,
        record,
        objects,
        plan.namespace,
        previous,
        hooks,
        created,
    )
    .await?;
    let crds: Vec<ObjMeta> = rendered
        .crds
        .iter()
        .filter(|c| c.object.is_object())
        .map(|c| ObjMeta::of(&c.object))
        .collect();
    applied.extend(crds);
    Ok(applied)
}

/// What an install, upgrade or rollback does between its pending record and the final
/// one: the `pre` hooks, `objects` applied in `namespace` (owned by the release), what
/// `previous` had and they do not deleted, the wait, the `post` hooks; the objects
/// applied.
#[allow(clippy::too_many_arguments)]
async fn release_steps(
    cluster: &Cluster,
    plan: &Plan<'_>,
    record: &mut Release,
    objects: Vec<Value>,
    namespace: &str,
    previous: Option<&Release>,
    (pre, post): (&str, &str),
    created: &mut Vec<Value>,
) -> Result<Vec<ObjMeta>, String> {
    let recording = hooks::Recording {
        storage_namespace: Some(plan.storage_namespace),
    };
    if plan.hooks {
        hooks::run_hooks(cluster, record, pre, plan.timeout, &recording).await?;
    }
    let (applied, kept) = apply_release_objects(cluster, plan, objects, namespace, created).await?;
    if let Some(previous) = previous {
        delete_left_behind(cluster, previous, &kept).await?;
    }
    if plan.wait {
        ssa::wait_with(
            cluster,
            &applied,
            plan.timeout,
            WAIT_POLL,
            true,
            until(plan),
            plan.health_exprs,
        )
        .await?;
    }
    if plan.hooks {
        hooks::run_hooks(cluster, record, post, plan.timeout, &recording).await?;
    }
    Ok(applied)
}

/// Helm's rollback with `plan`'s settings (`spec.rollback`): a new revision with
/// `target`'s chart, values and manifest — its pre-rollback hooks, its objects applied,
/// what only `current` had deleted, the wait, its post-rollback hooks; `current` (the
/// failed revision) is then `superseded`. A failure leaves the new revision `failed`
/// (and, with `cleanupOnFail`, what it created deleted).
pub async fn rollback(
    cluster: &Cluster,
    plan: &Plan<'_>,
    target: &Release,
    current: &Release,
    version: u32,
) -> Result<Release, ActionError> {
    let mut record = target.clone();
    record.version = version;
    let info = record.info.get_or_insert_with(Info::default);
    info.status = Some(Status::PendingRollback);
    info.description = format!("Rollback to {}", target.version);
    info.last_deployed = now_timestamp();
    info.deleted = None;
    store(cluster, plan.storage_namespace, &record, false)
        .await
        .map_err(unrecorded)?;
    let mut created = Vec::new();
    let outcome = tokio::time::timeout(
        plan.timeout,
        restore(cluster, plan, &mut record, current, &mut created),
    )
    .await
    .unwrap_or_else(|_| Err(deadline_exceeded(plan.timeout)));
    let info = record.info.get_or_insert_with(Info::default);
    let recorded = |message| ActionError {
        message,
        recorded: true,
    };
    match outcome {
        Ok(()) => {
            info.status = Some(Status::Deployed);
            store(cluster, plan.storage_namespace, &record, true)
                .await
                .map_err(recorded)?;
            // Helm's rollback supersedes the revision it replaces, failed or not, and
            // every other deployed one.
            let mut replaced = current.clone();
            let info = replaced.info.get_or_insert_with(Info::default);
            info.status = Some(Status::Superseded);
            if let Err(e) = store(cluster, plan.storage_namespace, &replaced, true).await {
                tracing::warn!(release = %replaced.name, error = %e, "superseding a failed release");
            }
            supersede_deployed(cluster, plan.storage_namespace, plan.release, version).await;
            trim_history(cluster, plan).await;
            Ok(record)
        }
        Err(message) => {
            info.status = Some(Status::Failed);
            info.description = format!("Release {:?} failed: {message}", plan.release);
            if let Err(e) = store(cluster, plan.storage_namespace, &record, true).await {
                tracing::warn!(release = %plan.release, error = %e, "recording a failed rollback");
            }
            let namespace = record.namespace.clone();
            Err(recorded(
                clean_up(cluster, &created, &namespace, "rollback", message).await,
            ))
        }
    }
}

/// The steps of a rollback between its `pending-rollback` record and the final one:
/// the target revision's manifest, with its pre- and post-rollback hooks.
async fn restore(
    cluster: &Cluster,
    plan: &Plan<'_>,
    record: &mut Release,
    current: &Release,
    created: &mut Vec<Value>,
) -> Result<(), String> {
    let namespace = record.namespace.clone();
    let objects = manifest_objects(&record.manifest);
    release_steps(
        cluster,
        plan,
        record,
        objects,
        &namespace,
        Some(current),
        ("pre-rollback", "post-rollback"),
        created,
    )
    .await
    .map(drop)
}

/// Marks every `deployed` record but revision `current` `superseded` (Helm leaves one
/// deployed revision; a failed one it replaces stays failed).
async fn supersede_deployed(
    cluster: &Cluster,
    storage_namespace: &str,
    release: &str,
    current: u32,
) {
    let Ok(records) = history(cluster, storage_namespace, release).await else {
        return;
    };
    for mut record in records {
        let info = record.info.get_or_insert_with(Info::default);
        if record.version == current || info.status != Some(Status::Deployed) {
            continue;
        }
        info.status = Some(Status::Superseded);
        info.description = "Superseded".into();
        if let Err(e) = store(cluster, storage_namespace, &record, true).await {
            tracing::warn!(release = %record.name, error = %e, "superseding a release record");
        }
    }
}

/// Deletes the oldest records beyond `max_history` (Helm keeps the newest ones).
async fn trim_history(cluster: &Cluster, plan: &Plan<'_>) {
    let Some(max) = plan.max_history else {
        return;
    };
    let Ok(records) = history(cluster, plan.storage_namespace, plan.release).await else {
        return;
    };
    let excess = records.len().saturating_sub(max);
    let secrets: Api<Secret> = Api::namespaced(cluster.client().clone(), plan.storage_namespace);
    for record in records.iter().take(excess) {
        let name = storage::secret_name(&record.name, record.version);
        if let Err(e) = secrets.delete(&name, &DeleteParams::default()).await {
            tracing::warn!(record = %name, error = %api_error(&e), "trimming release history");
        }
    }
}

/// Marks a record stuck in a `pending-*` state `failed` (helm-controller's unlock).
pub async fn unlock(
    cluster: &Cluster,
    storage_namespace: &str,
    record: &Release,
) -> Result<(), String> {
    let mut record = record.clone();
    let info = record.info.get_or_insert_with(Info::default);
    let from = info
        .status
        .as_ref()
        .map_or("unknown", |s| s.as_str())
        .to_string();
    info.status = Some(Status::Failed);
    info.description = format!("Release unlocked from stale '{from}' state");
    store(cluster, storage_namespace, &record, true).await
}

/// Deletes every record of a release (Helm's purge).
async fn purge(
    cluster: &Cluster,
    storage_namespace: &str,
    records: &[Release],
) -> Result<(), String> {
    let secrets: Api<Secret> = Api::namespaced(cluster.client().clone(), storage_namespace);
    for record in records {
        let name = storage::secret_name(&record.name, record.version);
        match secrets.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(format!(
                    "uninstall: Failed to purge the release: {name}: {}",
                    api_error(&e)
                ));
            }
        }
    }
    Ok(())
}

/// Helm's uninstall with helm-controller's settings (`spec.uninstall`): the latest
/// record marked `uninstalling`, its pre-delete hooks, its objects deleted with the
/// chosen propagation — only those the release owns (Helm's ownership labels and
/// annotations name it), never those kept by `helm.sh/resource-policy` — waited for
/// unless `disableWait`, its post-delete hooks; then the records purged, or kept with
/// the latest `uninstalled` (`keepHistory`). A release without records is done.
pub async fn uninstall(
    cluster: &Cluster,
    storage_namespace: &str,
    release: &str,
    settings: &UninstallSettings,
) -> Result<(), String> {
    let records = history(cluster, storage_namespace, release).await?;
    let Some(mut latest) = records.last().cloned() else {
        return Ok(());
    };
    if latest.info.as_ref().and_then(|i| i.status.as_ref()) == Some(&Status::Uninstalled) {
        if settings.keep_history {
            return Err(format!("the release named {release:?} is already deleted"));
        }
        return purge(cluster, storage_namespace, &records).await;
    }
    let info = latest.info.get_or_insert_with(Info::default);
    info.status = Some(Status::Uninstalling);
    info.deleted = now_timestamp();
    info.description = "Deletion in progress (or silently failed)".into();
    let recording = hooks::Recording {
        storage_namespace: Some(storage_namespace),
    };
    if settings.hooks {
        hooks::run_hooks(
            cluster,
            &mut latest,
            "pre-delete",
            settings.timeout,
            &recording,
        )
        .await?;
    }
    if let Err(e) = store(cluster, storage_namespace, &latest, true).await {
        tracing::warn!(%release, error = %e, "recording an uninstall under way");
    }
    let deleted = delete_owned(cluster, &latest, propagation(settings.propagation))
        .await
        .map_err(|e| format!("failed to delete release: {release}: {e}"))?;
    let mut errors = Vec::new();
    if settings.wait
        && let Err(e) =
            ssa::wait_for_termination(cluster, &deleted, settings.timeout, WAIT_POLL).await
    {
        errors.push(e);
    }
    if settings.hooks
        && let Err(e) = hooks::run_hooks(
            cluster,
            &mut latest,
            "post-delete",
            settings.timeout,
            &recording,
        )
        .await
    {
        errors.push(e);
    }
    let info = latest.info.get_or_insert_with(Info::default);
    info.status = Some(Status::Uninstalled);
    info.description = "Uninstallation complete".into();
    if settings.keep_history {
        if let Err(e) = store(cluster, storage_namespace, &latest, true).await {
            tracing::warn!(%release, error = %e, "recording an uninstalled release");
        }
        // The deployed revisions before it are superseded (Helm's issue 12556).
        supersede_deployed(cluster, storage_namespace, release, latest.version).await;
    } else if let Err(e) = purge(cluster, storage_namespace, &records).await {
        errors.push(e);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "uninstallation completed with {} error(s): {}",
            errors.len(),
            errors.join("; ")
        ))
    }
}

fn propagation(p: Propagation) -> PropagationPolicy {
    match p {
        Propagation::Background => PropagationPolicy::Background,
        Propagation::Foreground => PropagationPolicy::Foreground,
        Propagation::Orphan => PropagationPolicy::Orphan,
    }
}

/// Deletes the objects of `record` that the release owns, last installed first; those
/// deleted. An object gone already is skipped; one owned by another release or by no
/// release is left (and logged), as Helm 4 leaves it.
async fn delete_owned(
    cluster: &Cluster,
    record: &Release,
    propagation: PropagationPolicy,
) -> Result<Vec<ObjMeta>, String> {
    let mut objects = manifest_objects(&record.manifest);
    objects.reverse();
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for mut object in objects {
        let Ok(at) = locate(cluster, &mut object, &record.namespace).await else {
            // The kind is gone from the cluster: nothing left to delete.
            continue;
        };
        let live = match cluster
            .api(&at.resolved, at.namespace.as_deref())
            .get_opt(&at.name)
            .await
        {
            Ok(Some(live)) => serde_json::to_value(live).unwrap_or(Value::Null),
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(object = %at.name, error = %api_error(&e),
                    "skipping the deletion of an object whose ownership could not be verified");
                continue;
            }
        };
        if let Err(why) = owned_by(&live, &record.name, &record.namespace) {
            tracing::warn!(object = %at.name, release = %record.name, %why,
                "skipping the deletion of an object this release does not own");
            continue;
        }
        match delete(cluster, &object, &record.namespace, propagation.clone()).await {
            Ok(Some(meta)) => deleted.push(meta),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(deleted)
    } else {
        Err(errors.join("; "))
    }
}

/// Helm's `checkOwnership`: the label `app.kubernetes.io/managed-by: Helm` and the
/// annotations naming the release and its namespace.
fn owned_by(object: &Value, release: &str, namespace: &str) -> Result<(), String> {
    let field = |map: &str, key: &str| {
        object
            .at(&format!("/metadata/{map}"))
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut problems = Vec::new();
    for (map, key, want) in [
        ("labels", "app.kubernetes.io/managed-by", "Helm"),
        ("annotations", "meta.helm.sh/release-name", release),
        ("annotations", "meta.helm.sh/release-namespace", namespace),
    ] {
        let kind = if map == "labels" {
            "label"
        } else {
            "annotation"
        };
        match field(map, key) {
            None => problems.push(format!(
                "{kind} validation error: missing key {key:?}: must be set to {want:?}"
            )),
            Some(v) if v != want => problems.push(format!(
                "{kind} validation error: key {key:?} must equal {want:?}: current value is {v:?}"
            )),
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "invalid ownership metadata; {}",
            problems.join("; ")
        ))
    }
}

/// The manifest text Helm stores: each manifest with its `# Source:` header, hooks apart.
fn manifest_text(rendered: &Rendered) -> String {
    rendered
        .manifests
        .iter()
        .map(|m| {
            format!(
                "---\n# Source: {}\n{}",
                m.source,
                m.content.trim_end_matches('\n')
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An `ignore` rule of `spec.driftDetection`: JSON pointers left out of the comparison of
/// the objects its target matches (every object without a target).
#[derive(Debug, Clone, Default)]
pub struct IgnoreRule {
    /// JSON pointers.
    pub paths: Vec<String>,
    /// `group`, `version`, `kind`, `name`, `namespace` as anchored regular expressions.
    pub target: Vec<(&'static str, regex::Regex)>,
    /// `labelSelector` and `annotationSelector`: the metadata field each reads
    /// (`labels`, `annotations`) and the selector.
    pub selectors: Vec<(&'static str, flotilla_core::labels::Selector)>,
}

impl IgnoreRule {
    pub(crate) fn matches(&self, object: &Value) -> bool {
        let s = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
        let (group, version) = s("/apiVersion")
            .rsplit_once('/')
            .unwrap_or(("", s("/apiVersion")));
        self.target.iter().all(|(field, pattern)| {
            let value = match *field {
                "group" => group,
                "version" => version,
                "kind" => s("/kind"),
                "name" => s("/metadata/name"),
                _ => s("/metadata/namespace"),
            };
            pattern.is_match(value)
        }) && self.selectors.iter().all(|(field, selector)| {
            let metadata = object.at(&format!("/metadata/{field}"));
            selector.matches(metadata.unwrap_or(&Value::Null))
        })
    }
}

/// An object of the release that drifted, and the object to apply to correct it.
pub struct Drift {
    /// How.
    pub drifted: super::drift::Drifted,
    /// The release's object, as it is applied.
    pub object: Value,
}

/// The objects of `record` that differ from the cluster (helm-controller's `Diff`).
pub async fn detect_drift(
    cluster: &Cluster,
    plan: &Plan<'_>,
    record: &Release,
    ignore: &[IgnoreRule],
) -> Result<Vec<Drift>, String> {
    use super::drift::{Difference, Drifted, compare, display_name, excluded, remove_paths};
    let mut found = Vec::new();
    for mut object in manifest_objects(&record.manifest) {
        label(&mut object, plan, true);
        let at = locate(cluster, &mut object, &record.namespace).await?;
        let name = at.name.clone();
        let paths: Vec<String> = ignore
            .iter()
            .filter(|rule| rule.matches(&object))
            .flat_map(|rule| rule.paths.iter().cloned())
            .collect();
        if excluded(&object) || paths.iter().any(String::is_empty) {
            continue;
        }
        let api = cluster.api(&at.resolved, at.namespace.as_deref());
        let Some(live) = api.get_opt(&name).await.map_err(|e| api_error(&e))? else {
            found.push(Drift {
                drifted: Drifted {
                    name: display_name(&object),
                    difference: Difference::Removed,
                },
                object,
            });
            continue;
        };
        let mut live = serde_json::to_value(live).unwrap_or(Value::Null);
        if excluded(&live) {
            continue;
        }
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = true;
        let desired = api
            .patch(&name, &params, &Patch::Apply(&object))
            .await
            .map_err(|e| {
                format!(
                    "{} dry-run failed: {}",
                    display_name(&object),
                    api_error(&e)
                )
            })?;
        let mut desired = serde_json::to_value(desired).unwrap_or(Value::Null);
        remove_paths(&mut live, &paths);
        remove_paths(&mut desired, &paths);
        if let Some(difference) = compare(&live, &desired) {
            found.push(Drift {
                drifted: Drifted {
                    name: display_name(&object),
                    difference,
                },
                object,
            });
        }
    }
    Ok(found)
}

/// Applies the drifted objects again (helm-controller's `ApplyDiff`): the change set
/// (`Kind/ns/name created|configured`) and the failures.
pub async fn correct_drift(cluster: &Cluster, drifts: &[Drift]) -> (Vec<String>, Vec<String>) {
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    for drift in drifts {
        let namespace = drift
            .object
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (verb, failure) = match drift.drifted.difference {
            super::drift::Difference::Removed => ("created", "creation failure"),
            super::drift::Difference::Changed { .. } => ("configured", "patch failure"),
        };
        match apply(cluster, &drift.object, namespace).await {
            Ok(_) => changes.push(format!("{} {verb}", drift.drifted.name)),
            Err(e) => errors.push(format!("{} {failure}: {e}", drift.drifted.name)),
        }
    }
    (changes, errors)
}
