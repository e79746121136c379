//! kustomize-controller's apply, as fluxcd/pkg `ssa` does it: objects sorted by kind,
//! applied in stages (CRDs, Namespaces and ClusterRoles first, then `*Class` kinds, then
//! everything else), each stage validated by a server-side dry run of every object
//! before any of them is applied, drift detected by comparing the dry run with the live
//! object; then the inventory, pruning of what left it, and kstatus health checks.

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flotilla_sync::Cluster;
use flotilla_sync::cluster::Resolved;
use flotilla_sync::health::cel::HealthExprs;
use flotilla_sync::health::kstatus::{self, Status};
use futures::StreamExt;
use kube::api::{DeleteParams, Patch, PatchParams, PropagationPolicy};
use serde_json::{Value, json};

/// The field manager kustomize-controller applies with.
pub const FIELD_MANAGER: &str = "kustomize-controller";

/// The owner labels every built object carries.
pub const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// See [`NAME_LABEL`].
pub const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";

/// Objects applied at once (kustomize-controller's `--concurrent-ssa`).
const CONCURRENCY: usize = 4;

/// Kinds in the order they are applied within a stage (fluxcd/pkg `ssa/sort.go`); other
/// kinds come after them and before the webhook configurations.
const KIND_ORDER: [&str; 23] = [
    "CustomResourceDefinition",
    "Namespace",
    "ClusterRole",
    "ClusterClass",
    "RuntimeClass",
    "PriorityClass",
    "StorageClass",
    "VolumeSnapshotClass",
    "IngressClass",
    "GatewayClass",
    "ClusterRoleBinding",
    "ResourceQuota",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Secret",
    "Service",
    "LimitRange",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// One object's identity, as Flux's inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjMeta {
    /// Namespace (`""` when cluster-scoped).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// API group (`""` for the core group).
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Version.
    pub version: String,
}

impl ObjMeta {
    /// The identity of `obj`.
    pub fn of(obj: &Value) -> ObjMeta {
        let s = |p: &str| obj.at(p).and_then(Value::as_str).unwrap_or("");
        let (group, version) = split_api_version(s("/apiVersion"));
        ObjMeta {
            namespace: s("/metadata/namespace").to_string(),
            name: s("/metadata/name").to_string(),
            group: group.to_string(),
            kind: s("/kind").to_string(),
            version: version.to_string(),
        }
    }

    /// `apiVersion` of the entry.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The inventory id, cli-utils' `ObjMetadata` string: `<ns>_<name>_<group>_<kind>`,
    /// with a `:` in a name (RBAC) written `__`.
    pub fn id(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.namespace,
            self.name.replace(':', "__"),
            self.group,
            self.kind
        )
    }

    /// Parses an inventory entry `{id, v}`.
    pub fn from_entry(entry: &Value) -> Option<ObjMeta> {
        let id = entry.get("id")?.as_str()?;
        let version = entry.get("v")?.as_str()?.to_string();
        // The name may hold `__` (an escaped `:`), never the other fields: split the
        // namespace off the front and group and kind off the back.
        let (namespace, rest) = id.split_once('_')?;
        let (rest, kind) = rest.rsplit_once('_')?;
        let (name, group) = rest.rsplit_once('_')?;
        Some(ObjMeta {
            namespace: namespace.to_string(),
            name: name.replace("__", ":"),
            group: group.to_string(),
            kind: kind.to_string(),
            version,
        })
    }

    /// `Kind/ns/name`, or `Kind/name` when cluster-scoped (fluxcd/pkg `FmtObjMetadata`).
    pub fn display(&self) -> String {
        if self.namespace.is_empty() {
            format!("{}/{}", self.kind, self.name)
        } else {
            format!("{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// The inventory as `status.inventory` holds it.
pub fn inventory_value(entries: &BTreeSet<ObjMeta>) -> Value {
    let mut list: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.id(), e.version.clone()))
        .collect();
    list.sort();
    json!({"entries": list.into_iter().map(|(id, v)| json!({"id": id, "v": v})).collect::<Vec<_>>()})
}

/// The entries of a `status.inventory`.
pub fn inventory_entries(inventory: Option<&Value>) -> BTreeSet<ObjMeta> {
    inventory
        .and_then(|i| i.get("entries"))
        .and_then(Value::as_array)
        .map(|entries| entries.iter().filter_map(ObjMeta::from_entry).collect())
        .unwrap_or_default()
}

/// What the apply did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Created.
    Created,
    /// Changed.
    Configured,
    /// Already as desired.
    Unchanged,
    /// Not applied (`ssa: Ignore`, `IfNotPresent` on an existing object, `reconcile:
    /// disabled`).
    Skipped,
}

impl Action {
    /// How kustomize-controller names the action in its change set.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Skipped => "skipped",
        }
    }
}

/// One entry of the change set.
#[derive(Debug, Clone)]
pub struct Change {
    /// The object.
    pub meta: ObjMeta,
    /// What happened.
    pub action: Action,
}

/// Why an apply stopped: the error, and the change set of the stages already applied.
#[derive(Debug)]
pub struct ApplyFailure {
    /// The message kustomize-controller reports (the error, then one line per change).
    pub message: String,
}

fn rank(kind: &str) -> usize {
    match kind {
        "MutatingWebhookConfiguration" => KIND_ORDER.len() + 1,
        "ValidatingWebhookConfiguration" => KIND_ORDER.len() + 2,
        other => KIND_ORDER
            .iter()
            .position(|k| *k == other)
            .unwrap_or(KIND_ORDER.len()),
    }
}

/// Sorts objects as fluxcd/pkg `SortableUnstructureds`: by kind rank, then group, kind,
/// namespace and name.
pub fn sort_objects(objects: &mut [Value]) {
    objects.sort_by_key(|o| {
        let m = ObjMeta::of(o);
        (rank(&m.kind), m.group, m.kind, m.namespace, m.name)
    });
}

fn control(obj: &Value, key: &str) -> Option<String> {
    for place in ["labels", "annotations"] {
        if let Some(v) = obj
            .at(&format!("/metadata/{place}"))
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
        {
            return Some(v.to_ascii_lowercase());
        }
    }
    None
}

fn is_stage_one(m: &ObjMeta) -> bool {
    m.kind == "CustomResourceDefinition"
        || (m.kind == "Namespace" && m.group.is_empty())
        || m.kind == "ClusterRole"
}

/// Applies `objects` in kustomize-controller's stages. Namespaced objects without a
/// namespace are refused as the API server would refuse them.
pub async fn apply_all_staged(
    cluster: &Cluster,
    mut objects: Vec<Value>,
    options: &ApplyOptions<'_>,
    wait_poll: Duration,
) -> Result<Vec<Change>, ApplyFailure> {
    sort_objects(&mut objects);
    let (first, rest): (Vec<Value>, Vec<Value>) = objects
        .into_iter()
        .partition(|o| is_stage_one(&ObjMeta::of(o)));
    let (classes, rest): (Vec<Value>, Vec<Value>) = rest
        .into_iter()
        .partition(|o| ObjMeta::of(o).kind.ends_with("Class"));
    let mut changes: Vec<Change> = Vec::new();
    for (stage, wait) in [(first, true), (classes, true), (rest, false)] {
        if stage.is_empty() {
            continue;
        }
        match apply_all(cluster, &stage, options).await {
            Ok(c) => changes.extend(c),
            Err(e) => return Err(failure(e, &changes)),
        }
        if wait {
            let metas: Vec<ObjMeta> = stage.iter().map(ObjMeta::of).collect();
            if let Err(e) =
                wait_for_current(cluster, &metas, Duration::from_secs(60), wait_poll, false).await
            {
                return Err(failure(e, &changes));
            }
        }
    }
    Ok(changes)
}

fn failure(error: String, changes: &[Change]) -> ApplyFailure {
    let mut message = error;
    for c in changes {
        message.push('\n');
        message.push_str(&format!("{} {}", c.meta.display(), c.action.as_str()));
    }
    ApplyFailure { message }
}

async fn resolve(cluster: &Cluster, m: &ObjMeta) -> Result<Resolved, String> {
    cluster
        .resolve(&m.api_version(), &m.kind)
        .await
        .map_err(|e| format!("{} {}", m.display(), e))
}

/// The API server's reason and message of a client error.
fn api_reason(e: &kube::Error) -> (String, String) {
    match e {
        kube::Error::Api(status) => (status.reason.clone(), status.message.clone()),
        other => (String::new(), other.to_string()),
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

fn is_immutable(e: &kube::Error) -> bool {
    let (reason, message) = api_reason(e);
    reason == "Conflict"
        || reason == "Invalid"
        || message.contains("is immutable")
        || message.contains("immutable field")
}

/// How a Kustomization's objects are applied.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions<'a> {
    /// `spec.force`: objects whose immutable fields changed are deleted and created again.
    pub force: bool,
    /// kustomize-controller's `--override-manager`: field managers whose fields the
    /// apply takes over, besides kubectl's.
    pub override_managers: &'a [String],
}

/// One stage: dry-run every object, then apply those that drifted.
async fn apply_all(
    cluster: &Cluster,
    objects: &[Value],
    options: &ApplyOptions<'_>,
) -> Result<Vec<Change>, String> {
    let checks: Vec<_> = objects
        .iter()
        .map(|o| dry_run(cluster, o, options))
        .collect();
    let planned: Vec<Result<(Change, Option<Value>), String>> = futures::stream::iter(checks)
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let mut changes = Vec::with_capacity(planned.len());
    let mut to_apply = Vec::new();
    for p in planned {
        let (change, body) = p?;
        if let Some(body) = body {
            to_apply.push((change.meta.clone(), body));
        }
        changes.push(change);
    }
    for (meta, body) in to_apply {
        let r = resolve(cluster, &meta).await?;
        let api = cluster.api(&r, Some(&meta.namespace));
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(&meta.name, &params, &Patch::Apply(&body))
            .await
            .map_err(|e| {
                let (reason, message) = api_reason(&e);
                format!("{} apply failed ({reason}): {message}", meta.display())
            })?;
    }
    Ok(changes)
}

/// The dry run of one object: its change-set entry and the body to apply if it drifted.
async fn dry_run(
    cluster: &Cluster,
    obj: &Value,
    options: &ApplyOptions<'_>,
) -> Result<(Change, Option<Value>), String> {
    let force = options.force;
    let mut obj = obj.clone();
    let mut meta = ObjMeta::of(&obj);
    let r = resolve(cluster, &meta).await?;
    if r.namespaced && meta.namespace.is_empty() {
        return Err(format!("{} namespace not specified", meta.display()));
    }
    if !r.namespaced && !meta.namespace.is_empty() {
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("namespace");
        }
        meta.namespace.clear();
    }
    let api = cluster.api(&r, Some(&meta.namespace));
    let live = api.get_opt(&meta.name).await.ok().flatten();
    let live = live.map(|l| serde_json::to_value(l).unwrap_or(Value::Null));
    let skip = |meta: ObjMeta| {
        Ok((
            Change {
                meta,
                action: Action::Skipped,
            },
            None,
        ))
    };
    if control(&obj, "kustomize.toolkit.fluxcd.io/reconcile").as_deref() == Some("disabled")
        || live
            .as_ref()
            .and_then(|l| control(l, "kustomize.toolkit.fluxcd.io/reconcile"))
            .as_deref()
            == Some("disabled")
    {
        return skip(meta);
    }
    match control(&obj, "kustomize.toolkit.fluxcd.io/ssa").as_deref() {
        Some("ignore") => return skip(meta),
        Some("ifnotpresent") if live.is_some() => return skip(meta),
        _ => {}
    }
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.dry_run = true;
    let mut result = api.patch(&meta.name, &params, &Patch::Apply(&obj)).await;
    if let (Err(e), Some(live_obj)) = (&result, &live) {
        let forced = force
            || control(&obj, "kustomize.toolkit.fluxcd.io/force").as_deref() == Some("enabled")
            || control(live_obj, "kustomize.toolkit.fluxcd.io/force").as_deref() == Some("enabled");
        if forced && is_immutable(e) {
            recreate(&api, &meta).await?;
            result = api.patch(&meta.name, &params, &Patch::Apply(&obj)).await;
        }
    }
    let predicted = match result {
        Ok(o) => serde_json::to_value(o).unwrap_or(Value::Null),
        Err(e) => {
            let (reason, message) = api_reason(&e);
            return Err(format!(
                "{} dry-run failed ({reason}): {message}",
                meta.display()
            ));
        }
    };
    let created = predicted
        .at("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let live = live.filter(|_| !created);
    // Objects first written by kubectl or an older Flux are taken over before the apply.
    let cleaned = match &live {
        Some(live) => clean_up(&api, &meta, &obj, live, options.override_managers).await?,
        None => false,
    };
    let action = match &live {
        None => Action::Created,
        Some(l) if cleaned || drifted(l, &predicted) => Action::Configured,
        Some(_) => Action::Unchanged,
    };
    let body = (action != Action::Unchanged).then_some(obj);
    Ok((Change { meta, action }, body))
}

/// Sends the cleanup patch of `live` (see [`super::cleanup`]), if it needs one; whether
/// it did.
async fn clean_up(
    api: &kube::Api<kube::api::DynamicObject>,
    meta: &ObjMeta,
    desired: &Value,
    live: &Value,
    override_managers: &[String],
) -> Result<bool, String> {
    let failed = |e: String| {
        format!(
            "{} metadata.managedFields cleanup failed: {e}",
            meta.display()
        )
    };
    let Some(patch) =
        super::cleanup::cleanup_patch(desired, live, FIELD_MANAGER, override_managers)
            .map_err(failed)?
    else {
        return Ok(false);
    };
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(|e| failed(e.to_string()))?;
    api.patch(
        &meta.name,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        },
        &Patch::<()>::Json(patch),
    )
    .await
    .map_err(|e| failed(e.to_string()))?;
    Ok(true)
}

/// Deletes an object whose immutable fields changed and waits until it is gone.
async fn recreate(api: &kube::Api<kube::api::DynamicObject>, meta: &ObjMeta) -> Result<(), String> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    if let Err(e) = api.delete(&meta.name, &params).await
        && !is_not_found(&e)
    {
        return Err(format!(
            "{} immutable field detected, failed to delete object: {e}",
            meta.display()
        ));
    }
    for _ in 0..300 {
        match api.get_opt(&meta.name).await {
            Ok(None) => return Ok(()),
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => {
                return Err(format!(
                    "{} immutable field detected, failed to wait for object to be deleted: {e}",
                    meta.display()
                ));
            }
        }
    }
    Err(format!(
        "{} immutable field detected, failed to wait for object to be deleted",
        meta.display()
    ))
}

/// fluxcd/pkg `hasDrifted`: labels, annotations or anything outside metadata and status.
fn drifted(live: &Value, predicted: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            let meta = o.remove("metadata");
            o.remove("status");
            let pick = |k: &str| {
                meta.as_ref()
                    .and_then(|m| m.get(k))
                    .cloned()
                    .unwrap_or(json!({}))
            };
            o.insert("labels".into(), pick("labels"));
            o.insert("annotations".into(), pick("annotations"));
        }
        v
    };
    strip(live) != strip(predicted)
}

/// What [`prune`] did.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Objects whose deletion was asked for (they may still be terminating).
    pub deleted: Vec<ObjMeta>,
    /// Objects that could not be deleted (still in the inventory).
    pub survivors: BTreeSet<ObjMeta>,
    /// Why, one line each.
    pub errors: Vec<String>,
}

/// Deletes the stale objects (in reverse apply order, background propagation) whose live
/// copy still carries both owner labels of `owner` and does not opt out of pruning.
/// Returns what it deleted and the entries that could not be deleted, with the error.
pub async fn prune(cluster: &Cluster, stale: &BTreeSet<ObjMeta>, owner: (&str, &str)) -> Pruned {
    let mut ordered: Vec<&ObjMeta> = stale.iter().collect();
    ordered.sort_by_key(|m| {
        (
            rank(&m.kind),
            m.group.clone(),
            m.kind.clone(),
            m.namespace.clone(),
            m.name.clone(),
        )
    });
    ordered.reverse();
    let mut survivors = BTreeSet::new();
    let mut errors = Vec::new();
    let mut deleted = Vec::new();
    for meta in ordered {
        let r = match cluster.resolve(&meta.api_version(), &meta.kind).await {
            Ok(r) => r,
            // The kind is gone (its CRD deleted): nothing left to prune.
            Err(flotilla_sync::cluster::DiscoveryError::UnknownKind { .. }) => continue,
            Err(e) => {
                survivors.insert(meta.clone());
                errors.push(format!("{} {e}", meta.display()));
                continue;
            }
        };
        let api = cluster.api(&r, Some(&meta.namespace));
        let live = match api.get_opt(&meta.name).await {
            Ok(Some(l)) => serde_json::to_value(l).unwrap_or(Value::Null),
            Ok(None) => continue,
            Err(e) => {
                survivors.insert(meta.clone());
                errors.push(format!("{} query failed: {e}", meta.display()));
                continue;
            }
        };
        let labels = live.at("/metadata/labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let owned = label(NAME_LABEL) == Some(owner.0) && label(NAMESPACE_LABEL) == Some(owner.1);
        let opted_out = control(&live, "kustomize.toolkit.fluxcd.io/prune").as_deref()
            == Some("disabled")
            || control(&live, "kustomize.toolkit.fluxcd.io/reconcile").as_deref()
                == Some("disabled")
            || control(&live, "kustomize.toolkit.fluxcd.io/ssa").as_deref() == Some("ignore");
        if !owned || opted_out {
            continue;
        }
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        };
        match api.delete(&meta.name, &params).await {
            Ok(_) => deleted.push(meta.clone()),
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                survivors.insert(meta.clone());
                errors.push(format!("{} delete failed: {e}", meta.display()));
            }
        }
    }
    Pruned {
        deleted,
        survivors,
        errors,
    }
}

/// Polls until none of `objects` exists any more (fluxcd/pkg's `WaitForTermination`,
/// every `poll`), or `timeout` passes; the error names those still there.
pub async fn wait_for_termination(
    cluster: &Cluster,
    objects: &[ObjMeta],
    timeout: Duration,
    poll: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut remaining = Vec::new();
        for meta in objects {
            let Ok(r) = resolve(cluster, meta).await else {
                // The kind is gone (its CRD deleted) or unknown: nothing left to wait for.
                continue;
            };
            match cluster
                .api(&r, Some(&meta.namespace))
                .get_opt(&meta.name)
                .await
            {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => remaining.push(meta.display()),
            }
        }
        if remaining.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() + poll > deadline {
            return Err(format!(
                "timeout waiting for termination of: [{}]",
                remaining.join(", ")
            ));
        }
        tokio::time::sleep(poll).await;
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::InProgress => "InProgress",
        Status::Failed => "Failed",
        Status::Current => "Current",
        Status::Terminating => "Terminating",
        Status::NotFound => "NotFound",
        Status::Unknown => "Unknown",
    }
}

/// What a wait takes for done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// kstatus `Current` (a Job that started is Current, as kstatus has it).
    Current,
    /// Current, and Jobs complete or suspended (Helm's wait for Jobs, and fluxcd/pkg's
    /// custom Job status reader that kustomize-controller polls with).
    JobsComplete,
    /// Jobs complete and Pods succeeded: how Helm waits for a hook or a test.
    Completed,
}

/// An object's status under `until`: kstatus's, except for the Jobs and Pods Helm's own
/// status readers judge by completion (a Job by its `Complete`/`Failed` conditions, a Pod
/// by its phase).
pub fn status_until(object: &Value, until: Until) -> Status {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let condition = |kind: &str| {
        object
            .at("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| c["type"] == kind && c["status"] == "True")
    };
    match (api_version, kind, until) {
        ("batch/v1", "Job", Until::JobsComplete)
            if object.at("/spec/suspend") == Some(&Value::Bool(true)) =>
        {
            Status::Current
        }
        ("batch/v1", "Job", Until::JobsComplete | Until::Completed) => {
            if condition("Complete") {
                Status::Current
            } else if condition("Failed") {
                Status::Failed
            } else {
                Status::InProgress
            }
        }
        ("v1", "Pod", Until::Completed) => {
            match object.at("/status/phase").and_then(Value::as_str) {
                Some("Succeeded") => Status::Current,
                Some("Failed") => Status::Failed,
                _ => Status::InProgress,
            }
        }
        _ => kstatus::compute(object).status,
    }
}

/// Polls the objects' kstatus until every one is Current, one is Failed (fail fast) or
/// `timeout` passes. The error is fluxcd/pkg's wording (the caller adds "health check
/// failed after …").
pub async fn wait_for_current(
    cluster: &Cluster,
    objects: &[ObjMeta],
    timeout: Duration,
    poll: Duration,
    fail_fast: bool,
) -> Result<(), String> {
    wait_until(cluster, objects, timeout, poll, fail_fast, Until::Current).await
}

/// [`wait_for_current`], with Jobs and Pods judged as `until` says.
pub async fn wait_until(
    cluster: &Cluster,
    objects: &[ObjMeta],
    timeout: Duration,
    poll: Duration,
    fail_fast: bool,
    until: Until,
) -> Result<(), String> {
    wait_with(cluster, objects, timeout, poll, fail_fast, until, None).await
}

/// [`wait_until`], the kinds `custom` covers judged by its CEL expressions (a
/// Kustomization's `healthCheckExprs`; one that fails to evaluate reads `Unknown`).
pub async fn wait_with(
    cluster: &Cluster,
    objects: &[ObjMeta],
    timeout: Duration,
    poll: Duration,
    fail_fast: bool,
    until: Until,
    custom: Option<&HealthExprs>,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut statuses: BTreeMap<String, Status> = BTreeMap::new();
        for meta in objects {
            let status = match resolve(cluster, meta).await {
                Err(_) => Status::Unknown,
                Ok(r) => match cluster
                    .api(&r, Some(&meta.namespace))
                    .get_opt(&meta.name)
                    .await
                {
                    Ok(Some(o)) => {
                        let v = serde_json::to_value(o).unwrap_or(Value::Null);
                        let job = v["apiVersion"] == "batch/v1" && v["kind"] == "Job";
                        match custom.filter(|_| !job).and_then(|c| c.status(&v)) {
                            Some(judged) => judged.unwrap_or(Status::Unknown),
                            None => status_until(&v, until),
                        }
                    }
                    Ok(None) => Status::NotFound,
                    Err(_) => Status::Unknown,
                },
            };
            statuses.insert(meta.display(), status);
        }
        let pending: Vec<String> = statuses
            .iter()
            .filter(|(_, s)| **s != Status::Current)
            .map(|(k, s)| format!("{k} status: '{}'", status_word(*s)))
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let failed: Vec<String> = statuses
            .iter()
            .filter(|(_, s)| **s == Status::Failed)
            .map(|(k, s)| format!("{k} status: '{}'", status_word(*s)))
            .collect();
        if fail_fast && !failed.is_empty() {
            return Err(format!(
                "failed early due to stalled resources: [{}]",
                failed.join(", ")
            ));
        }
        if tokio::time::Instant::now() + poll > deadline {
            return Err(format!("timeout waiting for: [{}]", pending.join(", ")));
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_ids_are_cli_utils_object_metadata() {
        let svc = ObjMeta::of(&json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "app", "namespace": "default"}}));
        assert_eq!(svc.id(), "default_app__Service");
        let ns = ObjMeta::of(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}),
        );
        assert_eq!(ns.id(), "_apps__Namespace");
        let role = ObjMeta::of(&json!({"apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole", "metadata": {"name": "system:flux"}}));
        assert_eq!(
            role.id(),
            "_system__flux_rbac.authorization.k8s.io_ClusterRole"
        );
        let back = ObjMeta::from_entry(&json!({"id": role.id(), "v": "v1"})).unwrap();
        assert_eq!(back, role);
        let value = inventory_value(&BTreeSet::from([svc.clone(), ns.clone()]));
        assert_eq!(
            value["entries"][0],
            json!({"id": "_apps__Namespace", "v": "v1"})
        );
        assert_eq!(inventory_entries(Some(&value)), BTreeSet::from([svc, ns]));
    }

    #[test]
    fn jobs_and_pods_are_done_when_complete_as_helm_readers_judge() {
        // Helm's internal/statusreaders: a Job by its Complete/Failed conditions, a Pod
        // by its phase; kstatus alone takes a started Job and a Ready Pod for Current.
        let running_job = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "migrate"},
            "status": {"startTime": "2026-01-01T00:00:00Z", "active": 1}});
        assert_eq!(status_until(&running_job, Until::Current), Status::Current);
        assert_eq!(
            status_until(&running_job, Until::JobsComplete),
            Status::InProgress
        );
        assert_eq!(
            status_until(&running_job, Until::Completed),
            Status::InProgress
        );
        let mut done = running_job.clone();
        done["status"]["conditions"] = json!([{"type": "Complete", "status": "True"}]);
        assert_eq!(status_until(&done, Until::JobsComplete), Status::Current);
        let mut failed = running_job.clone();
        failed["status"]["conditions"] = json!([{"type": "Failed", "status": "True"}]);
        assert_eq!(status_until(&failed, Until::Completed), Status::Failed);
        let mut suspended = running_job.clone();
        suspended["spec"] = json!({"suspend": true});
        assert_eq!(
            status_until(&suspended, Until::JobsComplete),
            Status::Current,
            "fluxcd/pkg's Job reader: a suspended Job is Current"
        );

        let ready_pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(status_until(&ready_pod, Until::Current), Status::Current);
        assert_eq!(
            status_until(&ready_pod, Until::JobsComplete),
            Status::Current
        );
        assert_eq!(
            status_until(&ready_pod, Until::Completed),
            Status::InProgress
        );
        let mut succeeded = ready_pod.clone();
        succeeded["status"]["phase"] = json!("Succeeded");
        assert_eq!(status_until(&succeeded, Until::Completed), Status::Current);
        succeeded["status"]["phase"] = json!("Failed");
        assert_eq!(status_until(&succeeded, Until::Completed), Status::Failed);
    }

    #[test]
    fn objects_sort_in_flux_apply_order() {
        let mk = |kind: &str, name: &str| json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}});
        let mut objects = vec![
            mk("ValidatingWebhookConfiguration", "v"),
            mk("Deployment", "d"),
            mk("Widget", "w"),
            mk("ConfigMap", "b"),
            mk("ConfigMap", "a"),
            mk("Namespace", "n"),
        ];
        sort_objects(&mut objects);
        let names: Vec<&str> = objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["n", "a", "b", "d", "w", "v"]);
    }

    #[test]
    fn drift_ignores_status_and_managed_fields() {
        let live = json!({"metadata": {"name": "a", "resourceVersion": "1", "labels": {"x": "1"}},
                          "data": {"k": "v"}, "status": {"s": 1}});
        let mut predicted = live.clone();
        predicted["metadata"]["resourceVersion"] = json!("2");
        predicted["status"] = json!({"s": 2});
        assert!(!drifted(&live, &predicted));
        predicted["data"]["k"] = json!("w");
        assert!(drifted(&live, &predicted));
        let mut relabelled = live.clone();
        relabelled["metadata"]["labels"]["x"] = json!("2");
        assert!(drifted(&live, &relabelled));
    }
}
