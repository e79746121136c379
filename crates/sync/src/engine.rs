//! The engine's I/O: prepare desired objects against a cluster, read what is live, plan,
//! apply in order with server-side apply, wait for health, run hooks and prune.

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    ValidationDirective,
};
use serde_json::Value;

use crate::cluster::{
    Cluster, DiscoveryError, Resolved, api_status, poll_until, to_value, with_retry,
};
use crate::diff::{diff_name, mask_secrets, normalize, unified};
use crate::health::{Health, HealthStatus, assess};
use crate::ignore;
use crate::model::*;
use crate::options::{
    ObjectOptions, Propagation, PruneMode, Recreate, SsaPolicy, SyncOptions,
    needs_deletion_confirmation,
};
use crate::order::{self, DeletePolicy, HookInfo, Ordered, Phase};
use crate::tracking::{AppId, ObjectKey, group_of, is_tracked_by, stamp};

/// The field manager every apply uses.
pub const FIELD_MANAGER: &str = "flotilla";

/// Why a sync or plan stopped before changing anything (per-object failures are results,
/// not errors).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A desired object is malformed.
    #[error("desired object #{index} ({name}): {reason}")]
    InvalidObject {
        /// Position in the desired list.
        index: usize,
        /// What it says it is.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two desired objects have the same identity.
    #[error("desired objects #{first} and #{second} are both {key}")]
    Duplicate {
        /// The shared identity.
        key: ObjectKey,
        /// First position.
        first: usize,
        /// Second position.
        second: usize,
    },
    /// The render was empty and pruning would delete everything the app has.
    #[error(
        "the render is empty and would prune all {tracked} objects of app {app}; refusing (set allowEmpty to allow it)"
    )]
    EmptyRender {
        /// The app, `namespace/name`.
        app: String,
        /// How many objects it tracks.
        tracked: usize,
    },
    /// Discovery failed or a kind is not served (and no CRD in the sync defines it).
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The render failed: nothing was applied or pruned.
    #[error("render failed, nothing applied or pruned: {0}")]
    RenderFailed(String),
    /// Reading the cluster failed.
    #[error("{context}: {source}")]
    Api {
        /// What was being done.
        context: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

/// A desired object made ready for one cluster.
#[derive(Debug, Clone)]
struct Prepared {
    key: ObjectKey,
    api_version: String,
    /// Shared with the results that keep what was applied.
    obj: Arc<Value>,
    /// `None` while its CRD is part of the same sync and not applied yet.
    resolved: Option<Resolved>,
    opts: ObjectOptions,
    hook: Option<HookInfo>,
    /// Deleting it would wait for an approval (its own or the app's `Delete=confirm` or
    /// `Prune=confirm`).
    needs_deletion_confirmation: bool,
}

impl Prepared {
    fn name(&self) -> &str {
        &self.key.name
    }
}

/// Checks, defaults, resolves and stamps the desired objects.
async fn prepare(
    cluster: &Cluster,
    app: &AppId,
    desired: Vec<Value>,
    opts: &SyncOptions,
) -> Result<Vec<Prepared>, SyncError> {
    // Kinds the sync itself defines through CRDs.
    let crd_kinds: HashSet<(String, String)> = desired
        .iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"))
        .filter_map(|o| {
            Some((
                o.at("/spec/group")?.as_str()?.to_string(),
                o.at("/spec/names/kind")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let mut out = Vec::with_capacity(desired.len());
    let mut seen: HashMap<ObjectKey, usize> = HashMap::new();
    for (index, mut obj) in desired.into_iter().enumerate() {
        let label = ObjectKey::of(&obj).to_string();
        let invalid = |reason: &str| SyncError::InvalidObject {
            index,
            name: label.clone(),
            reason: reason.to_string(),
        };
        if !obj.is_object() {
            return Err(invalid("not a mapping"));
        }
        let api_version = match obj.get("apiVersion").and_then(Value::as_str) {
            Some(v) if !v.is_empty() => v.to_string(),
            _ => return Err(invalid("apiVersion is missing")),
        };
        let kind = match obj.get("kind").and_then(Value::as_str) {
            Some(k) if !k.is_empty() => k.to_string(),
            _ => return Err(invalid("kind is missing")),
        };
        // As Flux does before applying: server-side apply would own stringData keys the
        // server never stores, and a key dropped from Git would stay in data.
        if flotilla_core::secret::is_secret(&obj) {
            flotilla_core::secret::merge_string_data(&mut obj);
        }
        // The server stores bytes as canonical base64 (kustomize writes generated values
        // in lines of 70), so plan and apply what it will keep.
        flotilla_core::byte_fields::canonicalise(&mut obj)
            .map_err(|e| invalid(&format!("{}[{}]: {e}", e.field, e.key)))?;
        let hook = order::hook_info(&obj);
        let name = obj
            .at("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let generate = obj
            .at("/metadata/generateName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if name.is_empty() && (hook.is_none() || generate.is_empty()) {
            return Err(invalid("metadata.name is missing"));
        }
        let resolved = match cluster.resolve(&api_version, &kind).await {
            Ok(r) => Some(r),
            Err(DiscoveryError::UnknownKind { .. })
                if crd_kinds.contains(&(group_of(&api_version).to_string(), kind.clone())) =>
            {
                None
            }
            Err(e) => return Err(e.into()),
        };
        let meta = obj
            .as_object_mut()
            .and_then(|o| o.get_mut("metadata"))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| invalid("metadata is not a mapping"))?;
        // Without discovery (CRD pending) the CRD's scope decides; assume namespaced unless
        // it says Cluster, as the CRD's default is.
        let namespaced = resolved.as_ref().map(|r| r.namespaced).unwrap_or(true);
        if namespaced {
            let ns = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
            if ns.is_empty() {
                meta.insert(
                    "namespace".into(),
                    Value::String(opts.destination_namespace.clone()),
                );
            }
        } else {
            meta.remove("namespace");
        }
        stamp(&mut obj, app, &opts.destination_namespace);
        let key = ObjectKey::of(&obj);
        if !key.name.is_empty()
            && hook.is_none()
            && let Some(first) = seen.insert(key.clone(), index)
        {
            return Err(SyncError::Duplicate {
                key,
                first,
                second: index,
            });
        }
        let object_opts = ObjectOptions::of(&obj, opts);
        out.push(Prepared {
            key,
            api_version,
            needs_deletion_confirmation: object_opts.deletion_needs_confirmation(&obj, opts),
            obj: Arc::new(obj),
            resolved,
            opts: object_opts,
            hook,
        });
    }
    Ok(out)
}

/// Live objects keyed by identity: everything labelled for the app among the kinds it
/// uses or used, and every desired object that exists unlabelled.
async fn read_live(
    cluster: &Cluster,
    app: &AppId,
    prepared: &[Prepared],
    inventory: Option<&Inventory>,
    opts: &SyncOptions,
    fetch_unlisted: bool,
) -> Result<HashMap<ObjectKey, Value>, SyncError> {
    let mut kinds: BTreeSet<(String, String)> = prepared
        .iter()
        .filter(|p| p.resolved.is_some())
        .map(|p| (p.api_version.clone(), p.key.kind.clone()))
        .collect();
    let mut resolved: Vec<Resolved> = Vec::new();
    match inventory {
        Some(inv) => {
            kinds.extend(
                inv.entries
                    .iter()
                    .map(|e| (e.api_version.clone(), e.kind.clone())),
            );
            for (api_version, kind) in &kinds {
                match cluster.resolve(api_version, kind).await {
                    Ok(r) => resolved.push(r),
                    // A kind gone from the cluster (its CRD deleted) has nothing to prune.
                    Err(DiscoveryError::UnknownKind { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        None => resolved = scan_kinds(cluster).await?,
    }
    let selector = app.selector();
    let scanning = inventory.is_none();
    let mut live: HashMap<ObjectKey, Value> = HashMap::new();
    // Kinds a watch-kept cache holds are read from it, the others listed.
    if let (Some(cache), false) = (cluster.live_cache(), scanning) {
        let label_value = app.label_value();
        resolved.retain(|r| match cache.labelled(&r.resource, &label_value) {
            Some(objects) => {
                for v in objects {
                    live.insert(ObjectKey::of(&v), v);
                }
                false
            }
            None => true,
        });
    }
    // Futures are collected before streaming them: a closure inside the stream would make
    // the whole sync future !Send (rust-lang/rust#64552), and the hub spawns syncs.
    let scope = cluster.scope();
    let list_futures: Vec<_> = resolved
        .into_iter()
        .flat_map(|r| {
            scope
                .namespaces_of(r.namespaced)
                .into_iter()
                .map(move |namespace| (cluster.read_api(&r, namespace), r.clone()))
        })
        .map(|(api, r)| {
            let lp = ListParams::default().labels(&selector);
            let retry = opts.retry;
            async move {
                match with_retry(&retry, || api.list(&lp)).await {
                    Ok(l) => Ok(Some(l.items)),
                    // Scanning every kind: skip what this identity may not list.
                    Err(e) if scanning && matches!(api_status(&e), Some((403..=405, _))) => {
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
                .map_err(|source| SyncError::Api {
                    context: format!("listing {} of app {app}", r.resource.plural),
                    source,
                })
            }
        })
        .collect();
    let lists = stream::iter(list_futures)
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    let lists = lists.into_iter().flatten();
    for obj in lists.into_iter().flatten() {
        let v = to_value(obj);
        live.insert(ObjectKey::of(&v), v);
    }
    let missing: Vec<&Prepared> = prepared
        .iter()
        .filter(|p| {
            fetch_unlisted
                && p.resolved.is_some()
                && !p.key.name.is_empty()
                && !live.contains_key(&p.key)
        })
        .collect();
    let missing = missing
        .into_iter()
        .map(|p| {
            (
                p.resolved.clone().expect("filtered on resolved"),
                p.key.clone(),
            )
        })
        .collect();
    for v in read_each(cluster, missing, opts, Forbidden::Fails).await? {
        live.insert(ObjectKey::of(&v), v);
    }
    for v in inventory_unlabelled(cluster, app, prepared, inventory, &live, opts).await? {
        live.insert(ObjectKey::of(&v), v);
    }
    Ok(live)
}

/// The objects `inventory` names that no label selected and that are not desired, read
/// one by one, kept when their tracking names `app` and themselves: what Argo CD applied
/// before the hub took the app over (its annotation, without Flotilla's selector label),
/// listed in the `status.resources` Argo CD wrote. Without them such an object that left
/// Git would never be pruned. A stale entry (the object gone) or one naming an object
/// that another app or nobody tracks adds nothing. In the hub's steady state every entry
/// is labelled and this reads nothing.
async fn inventory_unlabelled(
    cluster: &Cluster,
    app: &AppId,
    prepared: &[Prepared],
    inventory: Option<&Inventory>,
    live: &HashMap<ObjectKey, Value>,
    opts: &SyncOptions,
) -> Result<Vec<Value>, SyncError> {
    let desired: HashSet<&ObjectKey> = prepared.iter().map(|p| &p.key).collect();
    let mut wanted = Vec::new();
    for entry in inventory.iter().flat_map(|inv| inv.entries.iter()) {
        let key = entry.key();
        if key.name.is_empty()
            || live.contains_key(&key)
            || desired.contains(&key)
            || !cluster.scope().covers(&key.namespace)
        {
            continue;
        }
        match cluster.resolve(&entry.api_version, &entry.kind).await {
            Ok(r) => wanted.push((r, key)),
            // A kind gone from the cluster (its CRD deleted) has nothing to prune.
            Err(DiscoveryError::UnknownKind { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Not this identity's to read: not the app's to prune either.
    let found = read_each(cluster, wanted, opts, Forbidden::Absent).await?;
    Ok(found
        .into_iter()
        .filter(|v| is_tracked_by(v, app))
        .collect())
}

/// What a 403 on reading one object means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Forbidden {
    /// The read fails.
    Fails,
    /// The object counts as absent.
    Absent,
}

/// Reads each object of `wanted` (its resource and key) as the live state's reader,
/// `opts.concurrency` at a time, transient errors retried; the ones that exist.
async fn read_each(
    cluster: &Cluster,
    wanted: Vec<(Resolved, ObjectKey)>,
    opts: &SyncOptions,
    forbidden: Forbidden,
) -> Result<Vec<Value>, SyncError> {
    let get_futures: Vec<_> = wanted
        .into_iter()
        .map(|(r, key)| {
            let api = cluster.read_api(&r, Some(&key.namespace));
            let retry = opts.retry;
            async move {
                match with_retry(&retry, || api.get_opt(&key.name)).await {
                    Ok(found) => Ok(found.map(to_value)),
                    Err(e)
                        if forbidden == Forbidden::Absent
                            && matches!(api_status(&e), Some((403, _))) =>
                    {
                        Ok(None)
                    }
                    Err(source) => Err(SyncError::Api {
                        context: format!("reading {key}"),
                        source,
                    }),
                }
            }
        })
        .collect();
    let found = stream::iter(get_futures)
        .buffer_unordered(opts.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Every listable resource the cluster serves (the CLI's way to find extras when no
/// inventory was kept).
async fn scan_kinds(cluster: &Cluster) -> Result<Vec<Resolved>, SyncError> {
    // A fresh discovery: a kind created a moment ago may hold the app's objects.
    cluster
        .served_kinds(Duration::ZERO)
        .await
        .map(|kinds| kinds.to_vec())
        .map_err(|source| SyncError::Api {
            context: "discovering the cluster's resources".into(),
            source,
        })
}

/// Every object in `namespace` of the namespaced kinds `keep` admits — what Argo CD's
/// cluster cache holds there —, read as the hub; a kind this identity may not list is
/// skipped. Kinds come from a discovery at most a minute old.
pub async fn namespace_objects(
    cluster: &Cluster,
    namespace: &str,
    keep: &(dyn Fn(&ApiResource) -> bool + Sync),
) -> Result<Vec<Value>, SyncError> {
    let kinds = cluster
        .served_kinds(Duration::from_secs(60))
        .await
        .map_err(|source| SyncError::Api {
            context: "discovering the cluster's resources".into(),
            source,
        })?;
    let lists: Vec<_> = kinds
        .iter()
        .filter(|r| r.namespaced && keep(&r.resource))
        .map(|r| {
            let api = cluster.read_api(r, Some(namespace));
            let plural = r.resource.plural.clone();
            async move {
                let (retry, lp) = (crate::options::Retry::default(), ListParams::default());
                match with_retry(&retry, || api.list(&lp)).await {
                    Ok(list) => Ok(list.items),
                    Err(e) if matches!(api_status(&e), Some((403..=405, _))) => Ok(Vec::new()),
                    Err(source) => Err(SyncError::Api {
                        context: format!("listing {plural} in {namespace}"),
                        source,
                    }),
                }
            }
        })
        .collect();
    let lists = stream::iter(lists)
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(lists.into_iter().flatten().map(to_value).collect())
}

/// The desired object as it will be applied: with RespectIgnoreDifferences, the ignored
/// fields of an existing object are left out, so the live values stay.
fn body_for_apply(p: &Prepared, live: Option<&Value>, opts: &SyncOptions) -> Arc<Value> {
    match live {
        Some(live) if opts.respect_ignore_differences => {
            let mut body = (*p.obj).clone();
            ignore::strip(&mut body, &p.key, &opts.ignore_differences, Some(live));
            Arc::new(body)
        }
        _ => p.obj.clone(),
    }
}

fn patch_params(p: &Prepared, opts: &SyncOptions, dry_run: bool) -> PatchParams {
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    pp.force = opts.force_conflicts;
    pp.dry_run = dry_run;
    pp.field_validation = Some(if p.opts.validate {
        ValidationDirective::Strict
    } else {
        ValidationDirective::Ignore
    });
    pp
}

/// The message of a client error, as the server worded it.
fn error_text(e: &kube::Error) -> String {
    match api_status(e) {
        Some((_, message)) => message.to_string(),
        None => e.to_string(),
    }
}

/// Compares one desired object with the cluster through a server-side dry-run apply.
async fn plan_item(
    cluster: &Cluster,
    p: &Prepared,
    live: Option<&Value>,
    opts: &SyncOptions,
) -> PlanItem {
    let mut message = None;
    let predicted = match &p.resolved {
        Some(r)
            if p.opts.ssa != SsaPolicy::Ignore
                && !(p.opts.ssa == SsaPolicy::IfNotPresent && live.is_some()) =>
        {
            let api = cluster.api(r, Some(&p.key.namespace));
            let body = body_for_apply(p, live, opts);
            let pp = patch_params(p, opts, true);
            let patch = Patch::Apply(body.as_ref());
            match with_retry(&opts.retry, || api.patch(p.name(), &pp, &patch)).await {
                Ok(o) => Some(to_value(o)),
                Err(e) => {
                    message = Some(error_text(&e));
                    Some((*p.obj).clone())
                }
            }
        }
        Some(_) => live.cloned(),
        None => {
            message = Some("the kind is defined by a CRD in this sync; not dry-run".into());
            Some((*p.obj).clone())
        }
    };
    let state = match live {
        None => ObjectState::Missing,
        Some(_) => ObjectState::Synced, // refined below
    };
    let mut l = live.map(normalize);
    let mut d = predicted.as_ref().map(normalize);
    for v in [l.as_mut(), d.as_mut()].into_iter().flatten() {
        ignore::strip(v, &p.key, &opts.ignore_differences, live);
    }
    mask_secrets(&mut [l.as_mut(), d.as_mut()]);
    let name = diff_name(&p.obj, &p.key);
    let diff = unified(&name, l.as_ref(), d.as_ref());
    let state = match state {
        ObjectState::Synced if !diff.is_empty() || message.is_some() => ObjectState::OutOfSync,
        s => s,
    };
    PlanItem {
        key: p.key.clone(),
        api_version: p.api_version.clone(),
        state,
        diff,
        message,
        health: Some(
            live.map(assess)
                .unwrap_or(Health::new(HealthStatus::Missing, "")),
        ),
        wave: order::wave(&p.obj),
        needs_deletion_confirmation: p.needs_deletion_confirmation
            || live.is_some_and(|l| needs_deletion_confirmation(l, opts)),
        ignore_extraneous: false,
    }
}

fn extra_item(obj: &Value, opts: &SyncOptions) -> PlanItem {
    let key = ObjectKey::of(obj);
    let mut l = normalize(obj);
    mask_secrets(&mut [Some(&mut l)]);
    PlanItem {
        api_version: obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        diff: unified(&diff_name(obj, &key), Some(&l), None),
        key,
        state: ObjectState::Extra,
        message: None,
        health: Some(assess(obj)),
        wave: 0,
        needs_deletion_confirmation: needs_deletion_confirmation(obj, opts),
        ignore_extraneous: ignores_extraneous(obj),
    }
}

/// The annotation of per-object compare options.
const COMPARE_OPTIONS: &str = "argocd.argoproj.io/compare-options";

/// Whether `obj` is marked `argocd.argoproj.io/compare-options: IgnoreExtraneous`: left
/// out of its app's sync status when it is extra (live, not desired).
pub fn ignores_extraneous(obj: &Value) -> bool {
    has_annotation_option(obj, COMPARE_OPTIONS, "IgnoreExtraneous")
}

/// Whether the comma-separated options of `obj`'s `annotation` include `option` (Argo
/// CD's `HasAnnotationOption`: entries trimmed, compared exactly).
fn has_annotation_option(obj: &Value, annotation: &str, option: &str) -> bool {
    obj.at("/metadata/annotations")
        .and_then(|a| a.get(annotation))
        .and_then(Value::as_str)
        .is_some_and(|v| v.split(',').any(|o| o.trim() == option))
}

/// Why an object stays when its Application is deleted (Argo CD's `shouldBeDeleted`):
/// a CRD (its custom resources would go with it), `Delete=false` on the object or the
/// app, Helm's `helm.sh/resource-policy: keep`, or `Delete=confirm` not yet approved.
fn kept_on_app_deletion(obj: &Value, opts: &SyncOptions, approved: bool) -> Option<&'static str> {
    if obj.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition") {
        return Some("CustomResourceDefinitions are kept when their Application is deleted");
    }
    if has_annotation_option(obj, "helm.sh/resource-policy", "keep") {
        return Some("kept (helm.sh/resource-policy: keep)");
    }
    match crate::options::delete_mode(obj, opts) {
        PruneMode::Disabled => Some("kept (Delete=false)"),
        PruneMode::Confirm if !approved => Some(DELETION_NEEDS_CONFIRMATION),
        _ => None,
    }
}

/// The report of a sync that stopped before touching anything: `phase` and `message`,
/// the inventory as it was.
fn nothing_done(
    phase: OperationPhase,
    message: String,
    opts: &SyncOptions,
    inventory: Option<&Inventory>,
    shared: Vec<String>,
) -> SyncReport {
    SyncReport {
        phase,
        message,
        dry_run: opts.dry_run,
        results: Vec::new(),
        health: HealthStatus::Unknown,
        inventory: inventory.cloned().unwrap_or_default(),
        plan: None,
        shared,
    }
}

/// gitops-engine's message while a sync waits for its `Prune=confirm` objects to be
/// approved (`waiting for pruning confirmation of <group>/<kind>/<name> and N more
/// resources`), or `None` when it need not wait: pruning off, no such object among the
/// app's `extra` ones, or approved already.
fn awaiting_prune_confirmation(app: &AppId, extra: &[Value], opts: &SyncOptions) -> Option<String> {
    if !opts.prune || opts.prune_confirmed != Some(false) || opts.app_deletion.is_some() {
        return None;
    }
    let waiting: Vec<ObjectKey> = extra
        .iter()
        .filter(|obj| {
            is_tracked_by(obj, app)
                && ObjectOptions::of(obj, opts).prune == PruneMode::Confirm
                && ObjectOptions::of(obj, opts).ssa != SsaPolicy::Ignore
        })
        .map(ObjectKey::of)
        .collect();
    let first = waiting.first()?;
    let mut message = format!(
        "{WAITING_FOR_PRUNE_CONFIRMATION} {}/{}/{}",
        first.group, first.kind, first.name
    );
    if waiting.len() > 1 {
        message.push_str(&format!(" and {} more resources", waiting.len() - 1));
    }
    Some(message)
}

/// How the message of a sync waiting for its prunes to be approved begins.
pub const WAITING_FOR_PRUNE_CONFIRMATION: &str = "waiting for pruning confirmation of";

/// The result message of an object whose deletion waits for approval (`Delete=confirm`).
pub const DELETION_NEEDS_CONFIRMATION: &str = "deletion needs confirmation (Delete=confirm)";

/// Live objects tracked by `app` that are no longer desired (never hooks).
fn extras<'a>(
    app: &AppId,
    prepared: &[Prepared],
    live: &'a HashMap<ObjectKey, Value>,
) -> Vec<&'a Value> {
    let desired: HashSet<&ObjectKey> = prepared.iter().map(|p| &p.key).collect();
    let mut out: Vec<&Value> = live
        .iter()
        .filter(|(k, v)| {
            !desired.contains(k) && is_tracked_by(v, app) && order::hook_info(v).is_none()
        })
        .map(|(_, v)| v)
        .collect();
    out.sort_by_key(|v| ObjectKey::of(v));
    out
}

/// The plan for `desired` against the cluster: per object Synced, OutOfSync (with its
/// diff), Missing or Extra. Hooks are not part of a plan. Changes nothing.
pub async fn plan(
    cluster: &Cluster,
    app: &AppId,
    desired: Vec<Value>,
    opts: &SyncOptions,
    inventory: Option<&Inventory>,
) -> Result<Plan, SyncError> {
    let prepared = prepare(cluster, app, desired, opts).await?;
    let live = read_live(cluster, app, &prepared, inventory, opts, true).await?;
    let mut plan = plan_from(cluster, app, &prepared, &live, opts).await;
    plan.shared = shared_with_others(cluster, app, &prepared);
    Ok(plan)
}

/// The objects of `prepared` whose live copy (in the watch-kept cache) carries another
/// app's tracking id, worded as Argo CD's SharedResourceWarning.
fn shared_with_others(cluster: &Cluster, app: &AppId, prepared: &[Prepared]) -> Vec<String> {
    let Some(cache) = cluster.live_cache() else {
        return Vec::new();
    };
    prepared
        .iter()
        .filter(|p| p.hook.is_none())
        .filter_map(|p| {
            let resolved = p.resolved.as_ref()?;
            let other = cache.claimed_by_other(
                &resolved.resource,
                &p.key.namespace,
                &p.key.name,
                app,
            )??;
            Some(format!(
                "{}/{} is part of applications {}/{} and {other}",
                p.key.kind, p.key.name, app.namespace, app.name,
            ))
        })
        .collect()
}

async fn plan_from(
    cluster: &Cluster,
    app: &AppId,
    prepared: &[Prepared],
    live: &HashMap<ObjectKey, Value>,
    opts: &SyncOptions,
) -> Plan {
    let mut ordered: Vec<Ordered<usize>> = prepared
        .iter()
        .enumerate()
        .filter(|(_, p)| p.hook.is_none())
        .map(|(i, p)| Ordered {
            obj: &p.obj,
            phase: Phase::Sync,
            wave: order::wave(&p.obj),
            item: i,
        })
        .collect();
    order::sort(&mut ordered);
    let item_futures: Vec<_> = ordered
        .iter()
        .map(|o| {
            let p = &prepared[o.item];
            plan_item(cluster, p, live.get(&p.key), opts)
        })
        .collect();
    let mut items: Vec<PlanItem> = stream::iter(item_futures)
        .buffered(opts.concurrency.max(1))
        .collect()
        .await;
    items.extend(
        extras(app, prepared, live)
            .into_iter()
            .map(|obj| extra_item(obj, opts)),
    );
    Plan {
        items,
        shared: Vec::new(),
    }
}

/// One unit of work in the sync order.
#[derive(Debug, Clone)]
enum Task {
    Apply(usize),
    Hook(usize),
    Prune(Value),
}

/// [`sync`] of a render's outcome: a failed render touches nothing (above all, prunes
/// nothing) and is reported as [`SyncError::RenderFailed`].
pub async fn sync_rendered<E: std::fmt::Display>(
    cluster: &Cluster,
    app: &AppId,
    rendered: Result<Vec<Value>, E>,
    opts: &SyncOptions,
    inventory: Option<&Inventory>,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<SyncReport, SyncError> {
    match rendered {
        Ok(desired) => sync(cluster, app, desired, opts, inventory, progress).await,
        Err(e) => Err(SyncError::RenderFailed(e.to_string())),
    }
}

/// Makes the cluster match `desired` for `app`: ensures the destination namespace
/// (CreateNamespace), applies in Argo CD's order with server-side apply, waits for health
/// between waves, runs hooks, prunes (when asked) what the app tracks but no longer
/// wants, and reports per object.
///
/// Safety: a render failure never reaches this function (callers pass only a rendered
/// set); an empty set with tracked objects is refused unless `allow_empty`; only objects
/// whose tracking annotation names this app and themselves are pruned.
pub async fn sync(
    cluster: &Cluster,
    app: &AppId,
    desired: Vec<Value>,
    opts: &SyncOptions,
    inventory: Option<&Inventory>,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<SyncReport, SyncError> {
    let mut prepared = prepare(cluster, app, desired, opts).await?;
    // A selective sync takes only the objects it names; hooks run in neither it nor the
    // `apply` strategy (gitops-engine's resource filter and `skipHooks`).
    prepared.retain(|p| match p.hook {
        Some(_) => !opts.skip_hooks,
        None => opts.selects(&p.key),
    });
    let shared = shared_with_others(cluster, app, &prepared);
    if opts.fail_on_shared_resource && !shared.is_empty() {
        // Argo CD fails the operation before anything is applied.
        let message = format!("Shared resource found: {}", shared[0]);
        return Ok(nothing_done(
            OperationPhase::Failed,
            message,
            opts,
            inventory,
            shared,
        ));
    }
    if opts.create_namespace && !opts.dry_run {
        ensure_namespace(cluster, &opts.destination_namespace, opts).await?;
    }
    // Objects not labelled for the app are read one by one only when a plan needs them;
    // otherwise the apply's answer tells whether it created them.
    let planning = opts.apply_out_of_sync_only || opts.dry_run;
    let live = read_live(cluster, app, &prepared, inventory, opts, planning).await?;
    let extra: Vec<Value> = extras(app, &prepared, &live)
        .into_iter()
        .filter(|obj| opts.selects(&ObjectKey::of(obj)))
        .cloned()
        .collect();
    // An Application's deletion deletes nothing while one of its objects waits for
    // approval (Argo CD's `finalizeApplicationDeletion`).
    if opts.app_deletion == Some(false)
        && let Some(waiting) = extra
            .iter()
            .find(|o| kept_on_app_deletion(o, opts, false) == Some(DELETION_NEEDS_CONFIRMATION))
    {
        let key = ObjectKey::of(waiting);
        let report = nothing_done(
            OperationPhase::Succeeded,
            String::new(),
            opts,
            inventory,
            shared,
        );
        return Ok(SyncReport {
            results: vec![ObjectResult {
                key,
                api_version: waiting
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                action: Action::PruneSkipped,
                message: DELETION_NEEDS_CONFIRMATION.into(),
                phase: Phase::Sync,
                wave: order::wave(waiting),
                health: None,
                hook: false,
                needs_deletion_confirmation: true,
                live: None,
                applied: None,
            }],
            ..report
        });
    }
    if let Some(message) = awaiting_prune_confirmation(app, &extra, opts) {
        let report = nothing_done(OperationPhase::Running, message, opts, inventory, shared);
        return Ok(report);
    }
    let desired_count = prepared.iter().filter(|p| p.hook.is_none()).count();
    if desired_count == 0 && !extra.is_empty() && !opts.allow_empty {
        return Err(SyncError::EmptyRender {
            app: app.to_string(),
            tracked: extra.len(),
        });
    }
    let plan = if opts.apply_out_of_sync_only || opts.dry_run {
        Some(plan_from(cluster, app, &prepared, &live, opts).await)
    } else {
        None
    };
    let synced: HashSet<ObjectKey> = plan
        .iter()
        .flat_map(|p| p.items.iter())
        .filter(|i| i.state == ObjectState::Synced)
        .map(|i| i.key.clone())
        .collect();

    // The task list in Argo CD's order.
    let mut ordered: Vec<Ordered<Task>> = Vec::new();
    let mut sync_fail: Vec<usize> = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        let wave = order::wave(&p.obj);
        match &p.hook {
            None => ordered.push(Ordered {
                obj: &p.obj,
                phase: Phase::Sync,
                wave,
                item: Task::Apply(i),
            }),
            Some(h) => {
                for phase in &h.phases {
                    if *phase == Phase::SyncFail {
                        sync_fail.push(i);
                    } else {
                        ordered.push(Ordered {
                            obj: &p.obj,
                            phase: *phase,
                            wave,
                            item: Task::Hook(i),
                        });
                    }
                }
            }
        }
    }
    order::sort(&mut ordered);
    // Prunes in their own waves mirrored, PruneLast ones (the app's option or the
    // object's own) after every wave, as gitops-engine orders them.
    let own: Vec<(i64, bool)> = extra
        .iter()
        .map(|obj| {
            let last = opts.prune_last || crate::options::has_sync_option(obj, "PruneLast=true");
            (order::wave(obj), last)
        })
        .collect();
    let sync_waves = ordered
        .iter()
        .filter(|o| o.phase == Phase::Sync)
        .map(|o| o.wave);
    let prune_waves = order::prune_waves(&own, sync_waves);
    let mut results: Vec<ObjectResult> = Vec::new();
    let mut prune_tasks: Vec<Ordered<Task>> = Vec::new();
    for (obj, wave) in extra.iter().zip(prune_waves) {
        prune_tasks.push(Ordered {
            obj,
            phase: Phase::Sync,
            wave,
            item: Task::Prune(obj.clone()),
        });
    }
    // Prunes run first within their wave, in reverse kind order (dependents first).
    prune_tasks.sort_by_key(|o| {
        std::cmp::Reverse(order::kind_rank(
            o.obj.get("kind").and_then(Value::as_str).unwrap_or(""),
        ))
    });
    for t in prune_tasks {
        let pos = ordered
            .iter()
            .position(|o| (o.phase, o.wave) >= (t.phase, t.wave))
            .unwrap_or(ordered.len());
        ordered.insert(pos, t);
    }

    let mut failure: Option<String> = None;
    let mut i = 0;
    while i < ordered.len() {
        if opts.terminated() {
            failure = Some(crate::options::TERMINATED.into());
            break;
        }
        let (phase, wave) = (ordered[i].phase, ordered[i].wave);
        let end = ordered[i..]
            .iter()
            .position(|o| (o.phase, o.wave) != (phase, wave))
            .map(|p| p + i)
            .unwrap_or(ordered.len());
        let group = &ordered[i..end];
        progress(Progress::Wave {
            phase,
            wave,
            objects: group.len(),
        });
        let mut wave_results = Vec::new();
        // Within a wave: runs of the same kind rank go together, in order, so that
        // Namespaces and CRDs are in place before what depends on them.
        let mut j = 0;
        while j < group.len() {
            let rank = rank_of(&group[j]);
            let run_end = group[j..]
                .iter()
                .position(|o| rank_of(o) != rank)
                .map(|p| p + j)
                .unwrap_or(group.len());
            let task_futures: Vec<_> = group[j..run_end]
                .iter()
                .map(|o| run_task(cluster, app, &prepared, &live, &synced, o, opts))
                .collect();
            let run: Vec<ObjectResult> = stream::iter(task_futures)
                .buffered(opts.concurrency.max(1))
                .collect()
                .await;
            for r in &run {
                progress(Progress::Object(r));
            }
            if run
                .iter()
                .any(|r| matches!(r.action, Action::Failed | Action::HookFailed))
            {
                failure = Some(failure_message(&run));
            }
            wave_results.extend(run);
            if failure.is_some() {
                break;
            }
            j = run_end;
        }
        // Wait for the wave's objects to be healthy before the next wave or phase, once
        // other controllers had the wave delay to react.
        if failure.is_none() && end < ordered.len() && !opts.dry_run {
            // A wave that changed nothing (ApplyOutOfSyncOnly) has nothing to react to:
            // gitops-engine never runs it.
            if !opts.wave_delay.is_zero()
                && wave_results.iter().any(|r| r.action != Action::Skipped)
            {
                tokio::time::sleep(opts.wave_delay).await;
            }
            if let Err(message) =
                wait_healthy(cluster, &prepared, &mut wave_results, opts, progress).await
            {
                failure = Some(message);
            }
        }
        results.extend(wave_results);
        if failure.is_some() {
            break;
        }
        i = end;
    }

    // A terminated sync runs no SyncFail hooks (gitops-engine's `Terminate`).
    if failure.is_some() && !opts.terminated() && !sync_fail.is_empty() {
        for idx in sync_fail {
            let task = Ordered {
                obj: &prepared[idx].obj,
                phase: Phase::SyncFail,
                wave: order::wave(&prepared[idx].obj),
                item: Task::Hook(idx),
            };
            let r = run_task(cluster, app, &prepared, &live, &synced, &task, opts).await;
            progress(Progress::Object(&r));
            results.push(r);
        }
    }

    let before = inventory;
    let mut inventory = Inventory::default();
    for r in &results {
        let keep = match r.action {
            Action::Pruned | Action::HookSucceeded | Action::HookFailed => false,
            Action::Failed => live.contains_key(&r.key),
            _ => !r.hook,
        };
        if keep {
            inventory.entries.insert(InventoryEntry {
                api_version: r.api_version.clone(),
                kind: r.key.kind.clone(),
                namespace: r.key.namespace.clone(),
                name: r.key.name.clone(),
            });
        }
    }
    // Objects not reached because the sync stopped stay tracked.
    for p in prepared
        .iter()
        .filter(|p| p.hook.is_none() && live.contains_key(&p.key))
    {
        inventory.entries.insert(InventoryEntry::of(&p.obj));
    }
    for obj in &extra {
        if !results
            .iter()
            .any(|r| r.key == ObjectKey::of(obj) && r.action == Action::Pruned)
        {
            inventory.entries.insert(InventoryEntry::of(obj));
        }
    }
    // What a selective sync left out is still the app's.
    if let Some(before) = before.filter(|_| !opts.resources.is_empty()) {
        inventory.entries.extend(
            before
                .entries
                .iter()
                .filter(|e| !opts.selects(&e.key()))
                .cloned(),
        );
    }
    let health = crate::health::app_worst(
        results
            .iter()
            .filter(|r| !r.hook && r.action != Action::Pruned)
            .filter_map(|r| r.health.as_ref()),
    );
    Ok(SyncReport {
        phase: if failure.is_some() {
            OperationPhase::Failed
        } else {
            OperationPhase::Succeeded
        },
        message: failure.unwrap_or_default(),
        dry_run: opts.dry_run,
        results,
        health,
        inventory,
        plan,
        shared,
    })
}

/// The operation's message for a run in which tasks failed, as gitops-engine words it
/// (`executeSyncFailPhase`): each distinct message of an object that failed to apply as the
/// reason (per object, the results keep theirs), or — when only hooks ran and failed —
/// the tasks' summary alone.
fn failure_message(run: &[ObjectResult]) -> String {
    let mut reasons: Vec<&str> = Vec::new();
    for r in run.iter().filter(|r| r.action == Action::Failed) {
        if !reasons.contains(&r.message.as_str()) {
            reasons.push(&r.message);
        }
    }
    if reasons.is_empty() {
        "one or more synchronization tasks completed unsuccessfully".to_string()
    } else {
        format!(
            "one or more objects failed to apply, reason: {}",
            reasons.join(",")
        )
    }
}

fn rank_of(o: &Ordered<'_, Task>) -> (bool, usize) {
    (
        !matches!(o.item, Task::Prune(_)),
        order::kind_rank(o.obj.get("kind").and_then(Value::as_str).unwrap_or("")),
    )
}

async fn ensure_namespace(
    cluster: &Cluster,
    name: &str,
    opts: &SyncOptions,
) -> Result<(), SyncError> {
    let r = cluster.resolve("v1", "Namespace").await?;
    let api = cluster.api(&r, None);
    // Without managed metadata an existing namespace is left as it is (Argo CD's
    // `syncNamespace`); with it, the namespace is applied every time.
    if opts.namespace_metadata.is_none()
        && with_retry(&opts.retry, || api.get_opt(name))
            .await
            .map_err(|source| SyncError::Api {
                context: format!("reading namespace {name}"),
                source,
            })?
            .is_some()
    {
        return Ok(());
    }
    let mut body =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    if let Some(metadata) = &opts.namespace_metadata {
        // Argo CD marks the managed namespace for server-side apply.
        let mut annotations = metadata.annotations.clone();
        annotations.insert(
            "argocd.argoproj.io/sync-options".into(),
            "ServerSideApply=true".into(),
        );
        body["metadata"]["labels"] = serde_json::json!(metadata.labels);
        body["metadata"]["annotations"] = serde_json::json!(annotations);
    }
    let pp = PatchParams::apply(FIELD_MANAGER);
    let patch = Patch::Apply(&body);
    with_retry(&opts.retry, || api.patch(name, &pp, &patch))
        .await
        .map_err(|source| SyncError::Api {
            context: format!("creating namespace {name} (CreateNamespace=true)"),
            source,
        })?;
    Ok(())
}

fn result(p: &Prepared, action: Action, message: impl Into<String>, phase: Phase) -> ObjectResult {
    ObjectResult {
        key: p.key.clone(),
        api_version: p.api_version.clone(),
        action,
        message: message.into(),
        phase,
        wave: order::wave(&p.obj),
        health: None,
        hook: p.hook.is_some(),
        needs_deletion_confirmation: p.needs_deletion_confirmation,
        live: None,
        applied: None,
    }
}

async fn run_task(
    cluster: &Cluster,
    app: &AppId,
    prepared: &[Prepared],
    live: &HashMap<ObjectKey, Value>,
    synced: &HashSet<ObjectKey>,
    task: &Ordered<'_, Task>,
    opts: &SyncOptions,
) -> ObjectResult {
    match &task.item {
        Task::Apply(i) => {
            let p = &prepared[*i];
            let mut r = if opts.apply_out_of_sync_only && synced.contains(&p.key) {
                let mut r = result(
                    p,
                    Action::Skipped,
                    "in sync (ApplyOutOfSyncOnly)",
                    task.phase,
                );
                r.health = live.get(&p.key).map(assess);
                r.live = live.get(&p.key).cloned();
                r
            } else {
                apply(cluster, p, live.get(&p.key), opts, task.phase).await
            };
            r.wave = task.wave;
            r
        }
        Task::Hook(i) => run_hook(cluster, &prepared[*i], opts, task.phase).await,
        Task::Prune(obj) => prune(cluster, app, obj, opts, task.wave).await,
    }
}

/// Server-side applies one object; recreates it instead, or on an immutable-field error,
/// as its options say ([`Recreate`]).
async fn apply(
    cluster: &Cluster,
    p: &Prepared,
    live: Option<&Value>,
    opts: &SyncOptions,
    phase: Phase,
) -> ObjectResult {
    match p.opts.ssa {
        SsaPolicy::Ignore => {
            return result(
                p,
                Action::Skipped,
                "kustomize.toolkit.fluxcd.io/ssa: Ignore",
                phase,
            );
        }
        SsaPolicy::IfNotPresent if live.is_some() => {
            let mut r = result(
                p,
                Action::Skipped,
                "kustomize.toolkit.fluxcd.io/ssa: IfNotPresent",
                phase,
            );
            r.health = live.map(assess);
            r.live = live.cloned();
            return r;
        }
        _ => {}
    }
    let resolved = match &p.resolved {
        Some(r) => r.clone(),
        None => match cluster.resolve(&p.api_version, &p.key.kind).await {
            Ok(r) => r,
            Err(e) => return result(p, Action::Failed, e.to_string(), phase),
        },
    };
    let api = cluster.api(&resolved, Some(&p.key.namespace));
    let body = body_for_apply(p, live, opts);
    let pp = patch_params(p, opts, opts.dry_run);
    // `Force=true,Replace=true`: deleted and created whatever changed (kubectl
    // `replace --force`), but for a periodic re-apply; a dry run applies.
    let when = match p.opts.recreate {
        Recreate::Always if opts.periodic => Recreate::WhenRefused,
        other => other,
    };
    if when == Recreate::Always && live.is_some() && !opts.dry_run {
        return match recreate(&api, p, &body, &pp, opts).await {
            Ok(o) => {
                let obj = as_applied(&body, o, live);
                applied(p, Action::Replaced, body, obj, phase)
            }
            Err(e) => result(p, Action::Failed, error_text(&e), phase),
        };
    }
    let patch = Patch::Apply(body.as_ref());
    let outcome = with_retry(&opts.retry, || {
        patch_value(cluster.client(), &api, p.name(), &pp, &patch)
    })
    .await;
    let (action, obj) = match outcome {
        Ok(o) => {
            let before = live.and_then(|l| l.at("/metadata/resourceVersion"));
            let action = match before {
                // Not seen before: created, unless other managers already own fields
                // (an existing object adopted without a prior read).
                None if other_managers(&o) => Action::Configured,
                None => Action::Created,
                Some(rv) if Some(rv) == o.at("/metadata/resourceVersion") => Action::Unchanged,
                Some(_) => Action::Configured,
            };
            (action, o)
        }
        Err(e)
            if is_immutable(&e)
                && when == Recreate::WhenRefused
                && live.is_some()
                && !opts.dry_run =>
        {
            match recreate(&api, p, &body, &pp, opts).await {
                Ok(o) => (Action::Replaced, o),
                Err(e2) => return result(p, Action::Failed, error_text(&e2), phase),
            }
        }
        Err(e) => return result(p, Action::Failed, error_text(&e), phase),
    };
    let obj = if !opts.dry_run
        && crate::takeover::needs_takeover(obj.at("/metadata/managedFields"), &opts.predecessors())
    {
        match take_over(cluster, &api, p, (&pp, &patch), obj, opts).await {
            Ok(o) => o,
            Err(message) => return result(p, Action::Failed, message, phase),
        }
    } else {
        obj
    };
    if p.key.kind == "CustomResourceDefinition" && !opts.dry_run {
        wait_established(&api, p.name(), opts).await;
    }
    let obj = as_applied(&body, obj, live);
    applied(p, action, body, obj, phase)
}

/// Hands the fields of the managers before Flotilla (Argo CD's, a client-side apply's)
/// to Flotilla's manager on the object just applied as `answer`, then applies again so
/// that what Git no longer has goes (see [`crate::takeover`]). Done after the apply,
/// whose answer holds the managed fields, so an object is not read first; a concurrent
/// write (409 on the resourceVersion precondition) reads it again, up to five times, as
/// client-go's `RetryOnConflict`. Fails in Argo CD's words.
async fn take_over<P: serde::Serialize + std::fmt::Debug>(
    cluster: &Cluster,
    api: &Api<DynamicObject>,
    p: &Prepared,
    (pp, apply): (&PatchParams, &Patch<P>),
    mut answer: Value,
    opts: &SyncOptions,
) -> Result<Value, String> {
    let predecessors = opts.predecessors();
    let failed = |e: &dyn std::fmt::Display| {
        format!(
            "Failed to perform client-side apply migration for {}: {e}",
            p.key
        )
    };
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    for _ in 0..5 {
        let entries = answer
            .at("/metadata/managedFields")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(upgraded) = crate::takeover::upgraded(entries, &predecessors, FIELD_MANAGER)
            .map_err(|e| failed(&e))?
        else {
            return Ok(answer);
        };
        let version = answer
            .at("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let json: json_patch::Patch =
            serde_json::from_value(crate::takeover::patch(upgraded, version))
                .map_err(|e| failed(&e))?;
        match patch_value(
            cluster.client(),
            api,
            p.name(),
            &params,
            &Patch::<()>::Json(json),
        )
        .await
        {
            Ok(_) => {
                return with_retry(&opts.retry, || {
                    patch_value(cluster.client(), api, p.name(), pp, apply)
                })
                .await
                .map_err(|e| error_text(&e));
            }
            Err(e) if matches!(api_status(&e), Some((409, _))) => {
                answer = with_retry(&opts.retry, || api.get(p.name()))
                    .await
                    .map(to_value)
                    .map_err(|e| failed(&error_text(&e)))?;
            }
            Err(e) => return Err(failed(&error_text(&e))),
        }
    }
    Err(failed(&"the object kept changing"))
}

/// The result of an object applied as `body` and now `obj`.
fn applied(
    p: &Prepared,
    action: Action,
    body: Arc<Value>,
    obj: Value,
    phase: Phase,
) -> ObjectResult {
    let mut r = result(p, action, "", phase);
    r.health = Some(assess(&obj));
    r.live = Some(obj);
    r.applied = Some(body);
    r
}

/// The object as applied, from a metadata answer: the manifest sent, the server's
/// metadata (resourceVersion, generation, managedFields) and the status last seen of the
/// same object (same uid: not of one deleted since) — what Argo CD's health reads from its
/// cache, which has the new object only once its watch brings it. (A server that answers
/// with the whole object gives its status instead.)
fn as_applied(sent: &Value, answer: Value, live: Option<&Value>) -> Value {
    let Value::Object(mut answer) = answer else {
        return sent.clone();
    };
    fn uid(o: &Value) -> Option<&str> {
        o.at("/metadata/uid").and_then(Value::as_str)
    }
    let mut object = sent.clone();
    if let Some(metadata) = answer.remove("metadata") {
        object["metadata"] = metadata;
    }
    let same_object = live.filter(|l| uid(l).is_some() && uid(l) == uid(&object));
    if let Some(status) = answer
        .remove("status")
        .or_else(|| same_object.and_then(|l| l.get("status")).cloned())
    {
        object["status"] = status;
    }
    object
}

/// `Api::patch`, answered with the object's metadata ([`as_applied`] completes it) as
/// JSON: the engine reads the answer as a `Value`, and a typed object on the way would only
/// be converted again. Its managedFields keep `fieldsV1` as text
/// ([`flotilla_ssa::compact`]): only drift baselines and ignore rules read it.
async fn patch_value<P: serde::Serialize + std::fmt::Debug>(
    client: &kube::Client,
    api: &Api<DynamicObject>,
    name: &str,
    pp: &PatchParams,
    patch: &Patch<P>,
) -> Result<Value, kube::Error> {
    let request = kube::core::Request::new(api.resource_url())
        .patch(name, pp, patch)
        .map_err(kube::Error::BuildRequest)?;
    client
        .request::<flotilla_ssa::compact::CompactValue>(crate::cluster::metadata_answer(request))
        .await
        .map(|answer| answer.0)
}

fn other_managers(obj: &Value) -> bool {
    obj.at("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|m| {
            m.iter()
                .any(|e| e.get("manager").and_then(Value::as_str) != Some(FIELD_MANAGER))
        })
}

/// The API server's words for a change it refuses to make in place: "field is
/// immutable", a PVC's "spec is immutable after creation", a Service's cluster IP that
/// "may not change once set", a StatefulSet's "updates to statefulset spec for fields
/// other than …". (kubectl `apply --force` recreates on any 422; a 422 for a bad value
/// would fail the create after the delete, so only these are taken.)
fn is_immutable(e: &kube::Error) -> bool {
    const REFUSALS: [&str; 3] = [
        "immutable",
        "may not change once set",
        "updates to statefulset spec for fields other than",
    ];
    matches!(api_status(e), Some((422, m)) if REFUSALS.iter().any(|r| m.contains(r)))
}

async fn recreate(
    api: &Api<DynamicObject>,
    p: &Prepared,
    body: &Value,
    pp: &PatchParams,
    opts: &SyncOptions,
) -> Result<Value, kube::Error> {
    let dp = DeleteParams::foreground();
    match api.delete(p.name(), &dp).await {
        Ok(_) => {}
        Err(e) if matches!(api_status(&e), Some((404, _))) => {}
        Err(e) => return Err(e),
    }
    poll_until(api, p.name(), opts.health_poll, opts.health_timeout, |o| {
        o.is_none()
    })
    .await?;
    let patch = Patch::Apply(body);
    with_retry(&opts.retry, || api.patch(p.name(), pp, &patch))
        .await
        .map(to_value)
}

async fn wait_established(api: &Api<DynamicObject>, name: &str, opts: &SyncOptions) {
    let _ = poll_until(
        api,
        name,
        Duration::from_millis(50),
        opts.health_timeout,
        |o| {
            o.is_some_and(|o| {
                o.at("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.get("type").and_then(Value::as_str) == Some("Established")
                                && c.get("status").and_then(Value::as_str) == Some("True")
                        })
                    })
            })
        },
    )
    .await;
}

/// Runs a hook: deletes the previous one (BeforeHookCreation), creates it, waits for it
/// to finish (its health), and deletes it as its policy says.
async fn run_hook(
    cluster: &Cluster,
    p: &Prepared,
    opts: &SyncOptions,
    phase: Phase,
) -> ObjectResult {
    let hook = p.hook.as_ref().expect("a hook task");
    if opts.dry_run {
        return result(p, Action::Skipped, "hooks do not run in a dry run", phase);
    }
    let resolved = match &p.resolved {
        Some(r) => r.clone(),
        None => match cluster.resolve(&p.api_version, &p.key.kind).await {
            Ok(r) => r,
            Err(e) => return result(p, Action::HookFailed, e.to_string(), phase),
        },
    };
    let api = cluster.api(&resolved, Some(&p.key.namespace));
    let policies = &hook.delete_policies;
    let created = if p.key.name.is_empty() {
        // generateName: a fresh object each time.
        let obj: DynamicObject = match serde_json::from_value((*p.obj).clone()) {
            Ok(o) => o,
            Err(e) => return result(p, Action::HookFailed, e.to_string(), phase),
        };
        api.create(&PostParams::default(), &obj).await.map(to_value)
    } else {
        if policies.contains(&DeletePolicy::BeforeHookCreation) {
            let _ = api.delete(p.name(), &DeleteParams::background()).await;
            let _ = poll_until(&api, p.name(), opts.health_poll, opts.health_timeout, |o| {
                o.is_none()
            })
            .await;
        }
        let pp = patch_params(p, opts, false);
        let patch = Patch::Apply(p.obj.as_ref());
        with_retry(&opts.retry, || api.patch(p.name(), &pp, &patch))
            .await
            .map(to_value)
    };
    let created = match created {
        Ok(o) => o,
        Err(e) => return result(p, Action::HookFailed, error_text(&e), phase),
    };
    let name = created
        .at("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut last = assess(&created);
    let finished = poll_until(&api, &name, opts.health_poll, opts.health_timeout, |o| {
        if let Some(o) = o {
            last = assess(o);
        }
        matches!(last.status, HealthStatus::Healthy | HealthStatus::Degraded)
    })
    .await;
    let (action, message) = match (&finished, last.status) {
        (Err(e), _) => (Action::HookFailed, error_text(e)),
        (_, HealthStatus::Healthy) => (Action::HookSucceeded, last.message.clone()),
        (_, HealthStatus::Degraded) => (Action::HookFailed, last.message.clone()),
        _ => (
            Action::HookFailed,
            format!("hook did not finish within {:?}", opts.health_timeout),
        ),
    };
    let delete = (action == Action::HookSucceeded
        && policies.contains(&DeletePolicy::HookSucceeded))
        || (action == Action::HookFailed && policies.contains(&DeletePolicy::HookFailed));
    if delete {
        let _ = api.delete(&name, &DeleteParams::background()).await;
    }
    let mut r = result(p, action, message, phase);
    r.key.name = name;
    r.health = Some(last);
    r.live = finished.ok().flatten();
    r
}

/// Deletes an object the app no longer wants, if its options allow and it is ours.
async fn prune(
    cluster: &Cluster,
    app: &AppId,
    obj: &Value,
    opts: &SyncOptions,
    wave: i64,
) -> ObjectResult {
    let key = ObjectKey::of(obj);
    let api_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let object_opts = ObjectOptions::of(obj, opts);
    let mut r = ObjectResult {
        key: key.clone(),
        api_version: api_version.clone(),
        action: Action::PruneSkipped,
        message: String::new(),
        phase: Phase::Sync,
        wave,
        health: Some(assess(obj)),
        hook: false,
        needs_deletion_confirmation: object_opts.deletion_needs_confirmation(obj, opts),
        live: Some(obj.clone()),
        applied: None,
    };
    if !is_tracked_by(obj, app) {
        r.message = "not tracked by this app".into();
        return r;
    }
    if !opts.prune {
        r.message = "prune is off".into();
        return r;
    }
    if let Some(approved) = opts.app_deletion {
        if let Some(reason) = kept_on_app_deletion(obj, opts, approved) {
            r.message = reason.into();
            return r;
        }
    } else {
        match object_opts.prune {
            PruneMode::Disabled => {
                r.message = "pruning disabled for this object".into();
                return r;
            }
            PruneMode::Confirm if opts.prune_confirmed != Some(true) => {
                r.message = "pruning needs confirmation (Prune=confirm)".into();
                return r;
            }
            PruneMode::Confirm => {}
            PruneMode::Allow => {}
        }
    }
    if object_opts.ssa == SsaPolicy::Ignore {
        r.message = "kustomize.toolkit.fluxcd.io/ssa: Ignore".into();
        return r;
    }
    let resolved = match cluster.resolve(&api_version, &key.kind).await {
        Ok(x) => x,
        Err(e) => {
            r.action = Action::Failed;
            r.message = e.to_string();
            return r;
        }
    };
    let api = cluster.api(&resolved, Some(&key.namespace));
    let mut dp = match opts.prune_propagation {
        Propagation::Foreground => DeleteParams::foreground(),
        Propagation::Background => DeleteParams::background(),
        Propagation::Orphan => DeleteParams::orphan(),
    };
    dp.dry_run = opts.dry_run;
    // Only the object we saw: a same-named object created since is not ours to delete.
    if let Some(uid) = obj.at("/metadata/uid").and_then(Value::as_str) {
        dp.preconditions = Some(kube::api::Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        });
    }
    match with_retry(&opts.retry, || api.delete(&key.name, &dp)).await {
        Ok(_) => r.action = Action::Pruned,
        Err(e) if matches!(api_status(&e), Some((404, _))) => r.action = Action::Pruned,
        Err(e) => {
            r.action = Action::Failed;
            r.message = error_text(&e);
        }
    }
    r.health = None;
    r
}

/// Polls the wave's applied objects until each is Healthy or Suspended (or has no health
/// to wait for); fails on Degraded or timeout.
async fn wait_healthy(
    cluster: &Cluster,
    prepared: &[Prepared],
    results: &mut [ObjectResult],
    opts: &SyncOptions,
    progress: &(dyn Fn(Progress) + Send + Sync),
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + opts.health_timeout;
    let by_key: HashMap<&ObjectKey, &Prepared> = prepared.iter().map(|p| (&p.key, p)).collect();
    loop {
        let mut pending = Vec::new();
        for r in results.iter_mut() {
            if r.hook
                || matches!(
                    r.action,
                    Action::Pruned | Action::PruneSkipped | Action::Skipped
                )
            {
                continue;
            }
            match r.health.as_ref().map(|h| h.status) {
                Some(HealthStatus::Degraded) => {
                    return Err(format!(
                        "{} is Degraded: {}",
                        r.key,
                        r.health.as_ref().map(|h| h.message.as_str()).unwrap_or("")
                    ));
                }
                Some(HealthStatus::Progressing | HealthStatus::Unknown | HealthStatus::Missing) => {
                    pending.push(r.key.clone())
                }
                _ => {}
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        if opts.terminated() {
            return Err(crate::options::TERMINATED.into());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "{} objects not healthy after {:?}: {}",
                pending.len(),
                opts.health_timeout,
                pending
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        progress(Progress::Waiting {
            pending: pending.clone(),
        });
        tokio::time::sleep(opts.health_poll).await;
        let pending: HashSet<ObjectKey> = pending.into_iter().collect();
        for r in results.iter_mut().filter(|r| pending.contains(&r.key)) {
            let Some(p) = by_key.get(&r.key) else {
                continue;
            };
            let Ok(resolved) = cluster.resolve(&p.api_version, &p.key.kind).await else {
                continue;
            };
            let api = cluster.read_api(&resolved, Some(&p.key.namespace));
            match api.get_opt(p.name()).await {
                Ok(Some(o)) => {
                    let o = to_value(o);
                    r.health = Some(assess(&o));
                    r.live = Some(o);
                }
                Ok(None) => r.health = Some(Health::new(HealthStatus::Missing, "")),
                Err(_) => {}
            }
        }
    }
}

/// The health of every object in `inventory` now: per object, and the worst of them.
pub async fn app_health(
    cluster: &Cluster,
    inventory: &Inventory,
) -> Result<(HealthStatus, Vec<(ObjectKey, Health)>), SyncError> {
    let mut out = Vec::new();
    for e in &inventory.entries {
        let health = match cluster.resolve(&e.api_version, &e.kind).await {
            Ok(r) => {
                let api = cluster.read_api(&r, Some(&e.namespace));
                match api.get_opt(&e.name).await {
                    Ok(Some(o)) => assess(&to_value(o)),
                    Ok(None) => Health::new(HealthStatus::Missing, ""),
                    Err(source) => {
                        return Err(SyncError::Api {
                            context: format!("reading {}", e.key()),
                            source,
                        });
                    }
                }
            }
            Err(DiscoveryError::UnknownKind { .. }) => Health::new(HealthStatus::Missing, ""),
            Err(err) => return Err(err.into()),
        };
        out.push((e.key(), health));
    }
    let status = crate::health::app_worst(out.iter().map(|(_, h)| h));
    Ok((status, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// gitops-engine's wording, and who it waits for: tracked objects whose own or
    /// app-wide prune option is `confirm`, when pruning is on and not yet approved.
    #[test]
    fn a_prune_needing_confirmation_holds_the_sync_back_until_approved() {
        let app = AppId::new("argocd", "web");
        let object = |kind: &str, name: &str, option: Option<&str>| {
            let mut o = json!({"apiVersion": "apps/v1", "kind": kind,
                               "metadata": {"name": name, "namespace": "web"}});
            if kind == "ConfigMap" {
                o["apiVersion"] = json!("v1");
            }
            if let Some(option) = option {
                o["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-options": option});
            }
            crate::tracking::stamp(&mut o, &app, "web");
            o
        };
        let extra = vec![
            object("ConfigMap", "plain", None),
            object("Deployment", "db", Some("Prune=confirm")),
            object("ConfigMap", "cache", Some("Prune=confirm")),
        ];
        let opts = |prune: bool, confirmed: Option<bool>| SyncOptions {
            prune,
            prune_confirmed: confirmed,
            ..Default::default()
        };
        assert_eq!(
            awaiting_prune_confirmation(&app, &extra, &opts(true, Some(false))).as_deref(),
            Some("waiting for pruning confirmation of apps/Deployment/db and 1 more resources")
        );
        assert_eq!(
            awaiting_prune_confirmation(&app, &extra[2..], &opts(true, Some(false))).as_deref(),
            Some("waiting for pruning confirmation of /ConfigMap/cache")
        );
        for (prune, confirmed) in [(true, Some(true)), (true, None), (false, Some(false))] {
            assert_eq!(
                awaiting_prune_confirmation(&app, &extra, &opts(prune, confirmed)),
                None
            );
        }
        let mut app_wide = opts(true, Some(false));
        app_wide.default_prune = PruneMode::Confirm;
        assert_eq!(
            awaiting_prune_confirmation(&app, &extra[..1], &app_wide).as_deref(),
            Some("waiting for pruning confirmation of /ConfigMap/plain"),
            "the app's Prune=confirm covers objects without their own"
        );
        let stranger = json!({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "x", "annotations": {"argocd.argoproj.io/sync-options": "Prune=confirm"}}});
        assert_eq!(
            awaiting_prune_confirmation(&app, &[stranger], &app_wide),
            None,
            "only the app's own objects"
        );
    }

    fn task(name: &str, action: Action, message: &str, hook: bool) -> ObjectResult {
        ObjectResult {
            key: ObjectKey {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: "default".into(),
                name: name.into(),
            },
            api_version: "v1".into(),
            action,
            message: message.into(),
            phase: Phase::Sync,
            wave: 0,
            health: None,
            hook,
            needs_deletion_confirmation: false,
            live: None,
            applied: None,
        }
    }

    /// gitops-engine's `Test_executeSyncFailPhase` and `…_DuplicatedMessages`, and a run
    /// whose only failure is a hook's.
    #[test]
    fn a_failed_run_is_worded_as_gitops_engine_words_it() {
        let failed = task("a", Action::Failed, "namespace not found", false);
        assert_eq!(
            failure_message(std::slice::from_ref(&failed)),
            "one or more objects failed to apply, reason: namespace not found"
        );
        let twice = [
            failed.clone(),
            task("b", Action::Failed, "namespace not found", false),
            task("c", Action::Configured, "", false),
        ];
        assert_eq!(
            failure_message(&twice),
            "one or more objects failed to apply, reason: namespace not found"
        );
        let two = [failed, task("d", Action::Failed, "quota exceeded", false)];
        assert_eq!(
            failure_message(&two),
            "one or more objects failed to apply, reason: namespace not found,quota exceeded"
        );
        let hook = [task(
            "job",
            Action::HookFailed,
            "Job has reached the specified backoff limit",
            true,
        )];
        assert_eq!(
            failure_message(&hook),
            "one or more synchronization tasks completed unsuccessfully"
        );
    }

    #[test]
    fn an_applied_object_is_the_manifest_with_the_servers_metadata_and_the_last_status() {
        let sent = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "web", "labels": {"a": "b"}},
                          "spec": {"replicas": 2}});
        let answer = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                            "metadata": {"name": "web", "labels": {"a": "b"}, "generation": 3,
                                         "resourceVersion": "17", "uid": "u-1",
                                         "managedFields": [{"manager": FIELD_MANAGER}]}});
        let live = json!({"metadata": {"name": "web", "generation": 2, "uid": "u-1"},
                          "spec": {"replicas": 1},
                          "status": {"observedGeneration": 2, "replicas": 1}});
        let applied = as_applied(&sent, answer.clone(), Some(&live));
        assert_eq!(applied["metadata"], answer["metadata"]);
        assert_eq!(
            applied["spec"], sent["spec"],
            "the spec sent, not the old one"
        );
        assert_eq!(applied["status"], live["status"]);
        assert_eq!(applied["kind"], "Deployment");
        // Generation 3 not yet observed: the rollout is under way.
        assert_eq!(assess(&applied).status, HealthStatus::Progressing);

        let created = as_applied(&sent, answer.clone(), None);
        assert!(created.get("status").is_none(), "{created}");
        // Deleted since it was seen, and created again by this apply: not its old status.
        let mut recreated = answer.clone();
        recreated["metadata"]["uid"] = json!("u-2");
        recreated["metadata"]["generation"] = json!(1);
        let applied = as_applied(&sent, recreated, Some(&live));
        assert!(applied.get("status").is_none(), "{applied}");
        assert_eq!(assess(&applied).status, HealthStatus::Progressing);

        // A server that answers with the whole object: its status wins.
        let mut whole = answer.clone();
        whole["status"] = json!({"observedGeneration": 3});
        assert_eq!(
            as_applied(&sent, whole, Some(&live))["status"],
            json!({"observedGeneration": 3})
        );
        assert_eq!(as_applied(&sent, Value::Null, Some(&live)), sent);
    }

    fn assert_send<T: Send>(_: &T) {}

    /// The hub runs syncs on a multi-threaded runtime: the futures must be Send (checked
    /// at compile time; never called).
    #[allow(dead_code)]
    fn futures_are_send(cluster: &Cluster) {
        let app = AppId::new("a", "b");
        let opts = SyncOptions::default();
        let progress = |_p: Progress| {};
        let f = sync(cluster, &app, Vec::new(), &opts, None, &progress);
        assert_send(&f);
        let p = plan(cluster, &app, Vec::new(), &opts, None);
        assert_send(&p);
    }
}
