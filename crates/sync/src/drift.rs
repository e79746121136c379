//! Drift: watch the app's objects (one watch per kind, selected by the instance label) and
//! report, within moments of the write, every field the app owns that another field
//! manager took over or that disappeared — with the field paths and the manager — and,
//! with self-heal, re-apply the object after a short backoff.
//!
//! Ownership tells what changed: when someone edits a field Flotilla applied, the API
//! server moves that field from `flotilla`'s managedFields entry to the editor's. The
//! baseline is `flotilla`'s field set right after the sync; a field missing from the
//! current set is drift, and the manager now owning it is who changed it.

use flotilla_core::pointer::Pointer as _;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use flotilla_ssa::FieldSet;
use futures::StreamExt;
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, to_value};
use crate::engine::FIELD_MANAGER;
use crate::ignore::IgnoreRule;
use crate::model::{ObjectResult, SyncReport};
use crate::tracking::{AppId, ObjectKey};

/// How drift is handled.
#[derive(Debug, Clone)]
pub struct DriftOptions {
    /// Re-apply drifted objects.
    pub self_heal: bool,
    /// Wait this long after a drift before re-applying (coalesces bursts of edits).
    pub backoff: Duration,
    /// Fields whose changes are not drift (jsonPointers and managedFieldsManagers).
    pub ignore_differences: Vec<IgnoreRule>,
    /// RespectIgnoreDifferences: self-heal leaves ignored fields to their owners.
    pub respect_ignore_differences: bool,
}

impl Default for DriftOptions {
    fn default() -> DriftOptions {
        DriftOptions {
            self_heal: false,
            backoff: Duration::from_millis(500),
            ignore_differences: Vec::new(),
            respect_ignore_differences: false,
        }
    }
}

/// Someone changed an object the app manages.
#[derive(Debug, Clone, Serialize)]
pub struct DriftEvent {
    /// The object.
    pub key: ObjectKey,
    /// Field paths (`.spec.replicas`, `.data.key`) no longer as Flotilla applied them.
    pub fields: Vec<String>,
    /// Managers that now own those fields (`kubectl-edit`, `kubectl-client-side-apply`).
    pub managers: Vec<String>,
    /// Whether the object was deleted (or lost its instance label).
    pub deleted: bool,
    /// When the watch saw it.
    #[serde(skip)]
    pub seen_at: SystemTime,
}

/// What a drift watch reports.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// Drift was seen.
    Drift(DriftEvent),
    /// Self-heal re-applied the object.
    Healed {
        /// The object.
        key: ObjectKey,
    },
    /// Self-heal failed.
    HealFailed {
        /// The object.
        key: ObjectKey,
        /// The server's message.
        message: String,
    },
    /// A watch failed and is retrying.
    WatchError {
        /// The error.
        message: String,
    },
}

/// Running watches; dropping it stops them.
pub struct DriftWatch {
    rx: mpsc::UnboundedReceiver<WatchEvent>,
    tasks: Vec<JoinHandle<()>>,
}

impl DriftWatch {
    /// The next event.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }
}

impl Drop for DriftWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One watched object: what we applied and the fields we owned after applying it.
struct Watched {
    applied: Value,
    baseline: FieldSet,
    reported: HashSet<String>,
    healing: bool,
}

struct Shared {
    cluster: Cluster,
    objects: Mutex<HashMap<ObjectKey, Watched>>,
    opts: DriftOptions,
    tx: mpsc::UnboundedSender<WatchEvent>,
}

/// Starts watching the objects a sync applied.
pub fn watch(
    cluster: &Cluster,
    app: &AppId,
    report: &SyncReport,
    opts: DriftOptions,
) -> DriftWatch {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut objects = HashMap::new();
    let mut kinds: HashMap<(String, String), ()> = HashMap::new();
    for r in report.results.iter().filter(|r| !r.hook) {
        let (Some(live), Some(applied)) = (&r.live, &r.applied) else {
            continue;
        };
        objects.insert(
            r.key.clone(),
            Watched {
                applied: (**applied).clone(),
                baseline: owned_by(live, FIELD_MANAGER),
                reported: HashSet::new(),
                healing: false,
            },
        );
        kinds.insert((r.api_version.clone(), r.key.kind.clone()), ());
    }
    let shared = Arc::new(Shared {
        cluster: cluster.clone(),
        objects: Mutex::new(objects),
        opts,
        tx,
    });
    let selector = app.selector();
    let tasks = kinds
        .into_keys()
        .map(|(api_version, kind)| {
            let shared = shared.clone();
            let selector = selector.clone();
            tokio::spawn(async move { watch_kind(shared, api_version, kind, selector).await })
        })
        .collect();
    DriftWatch { rx, tasks }
}

/// Starts watching for one object result list (e.g. several reports merged).
pub fn watch_results(
    cluster: &Cluster,
    app: &AppId,
    results: &[ObjectResult],
    opts: DriftOptions,
) -> DriftWatch {
    let report = SyncReport {
        phase: crate::model::OperationPhase::Succeeded,
        message: String::new(),
        dry_run: false,
        results: results.to_vec(),
        health: crate::health::HealthStatus::Healthy,
        inventory: Default::default(),
        plan: None,
        shared: Vec::new(),
    };
    watch(cluster, app, &report, opts)
}

async fn watch_kind(shared: Arc<Shared>, api_version: String, kind: String, selector: String) {
    let resolved = match shared.cluster.resolve(&api_version, &kind).await {
        Ok(r) => r,
        Err(e) => {
            let _ = shared.tx.send(WatchEvent::WatchError {
                message: e.to_string(),
            });
            return;
        }
    };
    let api = shared.cluster.api(&resolved, None);
    let mut stream = watcher(api, watcher::Config::default().labels(&selector)).boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                on_change(&shared, to_value(o));
            }
            Ok(watcher::Event::Delete(o)) => on_delete(&shared, to_value(o)),
            Ok(_) => {}
            Err(e) => {
                let _ = shared.tx.send(WatchEvent::WatchError {
                    message: e.to_string(),
                });
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The field set `manager` owns through apply in `obj`.
fn owned_by(obj: &Value, manager: &str) -> FieldSet {
    let mut set = FieldSet::new();
    for e in obj
        .at("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
            && let Some(s) = e
                .get("fieldsV1")
                .and_then(|f| flotilla_ssa::fieldsv1::from_value(f).ok())
        {
            set = set.union(&s);
        }
    }
    set
}

fn ignored(
    opts: &DriftOptions,
    key: &ObjectKey,
    obj: &Value,
    path: &flotilla_ssa::Path,
    managers: &[String],
) -> bool {
    opts.ignore_differences
        .iter()
        .filter(|r| r.matches(key))
        .any(|r| {
            managers
                .iter()
                .any(|m| r.managed_fields_managers.contains(m))
                || crate::ignore::resolve_field_path(obj, path.elements()).is_some_and(|segs| {
                    let pointer: String = segs
                        .iter()
                        .map(|s| match s {
                            crate::ignore::Seg::Key(k) => {
                                format!("/{}", k.replace('~', "~0").replace('/', "~1"))
                            }
                            crate::ignore::Seg::Index(i) => format!("/{i}"),
                        })
                        .collect();
                    r.json_pointers
                        .iter()
                        .any(|p| pointer == *p || pointer.starts_with(&format!("{p}/")))
                })
        })
}

fn on_change(shared: &Arc<Shared>, obj: Value) {
    let key = ObjectKey::of(&obj);
    let mut objects = shared.objects.lock().unwrap_or_else(|e| e.into_inner());
    let Some(w) = objects.get_mut(&key) else {
        return;
    };
    let current = owned_by(&obj, FIELD_MANAGER);
    let lost = w.baseline.leaves().difference(&current);
    if lost.is_empty() {
        // In line with (or beyond) what we applied: the new baseline.
        w.baseline = current;
        w.reported.clear();
        return;
    }
    let mut fields = Vec::new();
    let mut managers: Vec<String> = Vec::new();
    for path in lost.paths() {
        let owners: Vec<String> = obj
            .at("/metadata/managedFields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|e| e.get("manager").and_then(Value::as_str) != Some(FIELD_MANAGER))
            .filter(|e| {
                e.get("fieldsV1")
                    .and_then(|f| flotilla_ssa::fieldsv1::from_value(f).ok())
                    .is_some_and(|s| s.has(path.elements()))
            })
            .filter_map(|e| e.get("manager").and_then(Value::as_str).map(String::from))
            .collect();
        if ignored(&shared.opts, &key, &obj, &path, &owners) {
            continue;
        }
        fields.push(path.to_string());
        for m in owners {
            if !managers.contains(&m) {
                managers.push(m);
            }
        }
    }
    let new: Vec<String> = fields
        .iter()
        .filter(|f| !w.reported.contains(*f))
        .cloned()
        .collect();
    if new.is_empty() {
        return;
    }
    w.reported.extend(new);
    let _ = shared.tx.send(WatchEvent::Drift(DriftEvent {
        key: key.clone(),
        fields,
        managers,
        deleted: false,
        seen_at: SystemTime::now(),
    }));
    if shared.opts.self_heal && !w.healing {
        w.healing = true;
        heal(shared.clone(), key, w.applied.clone());
    }
}

fn on_delete(shared: &Arc<Shared>, obj: Value) {
    let key = ObjectKey::of(&obj);
    let mut objects = shared.objects.lock().unwrap_or_else(|e| e.into_inner());
    let Some(w) = objects.get_mut(&key) else {
        return;
    };
    let _ = shared.tx.send(WatchEvent::Drift(DriftEvent {
        key: key.clone(),
        fields: Vec::new(),
        managers: Vec::new(),
        deleted: true,
        seen_at: SystemTime::now(),
    }));
    if shared.opts.self_heal && !w.healing {
        w.healing = true;
        heal(shared.clone(), key, w.applied.clone());
    }
}

/// Re-applies `applied` after the backoff.
fn heal(shared: Arc<Shared>, key: ObjectKey, applied: Value) {
    tokio::spawn(async move {
        tokio::time::sleep(shared.opts.backoff).await;
        let api_version = applied
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let outcome = match shared.cluster.resolve(&api_version, &key.kind).await {
            Ok(r) => {
                let api = shared.cluster.api(&r, Some(&key.namespace));
                let mut body = applied;
                if shared.opts.respect_ignore_differences
                    && let Ok(Some(live)) = api.get_opt(&key.name).await
                {
                    let live = to_value(live);
                    crate::ignore::strip(
                        &mut body,
                        &key,
                        &shared.opts.ignore_differences,
                        Some(&live),
                    );
                }
                api.patch(
                    &key.name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(&body),
                )
                .await
                .map(to_value)
                .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        let mut objects = shared.objects.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = objects.get_mut(&key) {
            w.healing = false;
            if let Ok(obj) = &outcome {
                w.baseline = owned_by(obj, FIELD_MANAGER);
                w.reported.clear();
            }
        }
        drop(objects);
        let _ = shared.tx.send(match outcome {
            Ok(_) => WatchEvent::Healed { key },
            Err(message) => WatchEvent::HealFailed { key, message },
        });
    });
}
