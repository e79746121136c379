//! The ApplicationSet controller: generators fed by the hub's clusters and repositories,
//! the Applications they yield created, updated and deleted on the hub.
//!
//! A watch on the hub's ApplicationSets feeds a work queue when a set's spec, labels,
//! annotations, finalizers or deletion change (not on our status writes). A set is also
//! queued again when an Application it controls is changed by someone else (as Argo CD's
//! `Owns(&Application{})` watch does), when the cluster registrations change
//! ([`AppSetController::requeue_all`]), when a repository its git generators read is pushed,
//! when a webhook says a pull request of a repository its pull request generators list
//! was opened, updated or closed (Argo CD's ApplicationSet webhook), and after
//! `requeue_after` (git generators: 3 minutes, jittered).

mod controller_objects;
mod echoes;
mod pull_requests;
mod reconcile;
mod repos;
mod scm_providers;

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use kube::api::Api;
use serde_json::Value;

pub use echoes::{ECHO_WAIT, Echoes};
pub use pull_requests::ScmPolicy;
pub use reconcile::{AppSetOptions, AppSetReconciler, Outcome, applicationset_resource};

use crate::clusters::ClusterRegistry;
use crate::controller::{Change, application_resource, hash_of, jitter, now_rfc3339, object_key};
use crate::known::Known;
use crate::queue::WorkQueue;
use crate::sources::Sources;

/// Shared state of the loop.
struct Loop {
    reconciler: AppSetReconciler,
    queue: WorkQueue,
    /// The sets seen, by `namespace/name`.
    known: Known,
    /// Repository identity → sets whose generators read it.
    readers: Mutex<HashMap<String, HashSet<String>>>,
    /// Lower-case repository identity → sets whose pull request generators list it.
    pull_request_readers: Mutex<HashMap<String, HashSet<String>>>,
    /// Application `namespace/name` → what the controller manages of it, to notice edits.
    owned: Mutex<HashMap<String, u64>>,
    /// The cluster registry watch [`start_appsets`] prepared, started by the run.
    registry: RegistrySlot,
}

/// The ApplicationSet controller. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct AppSetController {
    state: Arc<Loop>,
}

impl AppSetController {
    /// A controller over the hub of `reconciler`.
    pub fn new(reconciler: AppSetReconciler) -> AppSetController {
        AppSetController {
            state: Arc::new(Loop {
                reconciler,
                queue: WorkQueue::new(),
                known: Known::default(),
                readers: Mutex::default(),
                pull_request_readers: Mutex::default(),
                owned: Mutex::default(),
                registry: Mutex::default(),
            }),
        }
    }

    /// Queues every known ApplicationSet (the cluster registrations changed: the clusters
    /// generator's output may have).
    pub fn requeue_all(&self) {
        for key in self.state.known.keys() {
            self.state.queue.add(key);
        }
    }

    /// Runs the workers, the triggers and the watches until the hub watch ends.
    pub async fn run(self) {
        // Owned here: it stops when this future is dropped.
        let mut watch = tokio::task::JoinSet::new();
        watch.spawn(watch_applications(self.state.clone()));
        self.run_fed().await;
    }

    /// Where the Applications are kept that this controller reads when it plans: for
    /// [`run_fed`](Self::run_fed), the Application controller's watch must keep it (its
    /// [`Feeds::store`](crate::controller::Feeds::store)).
    pub fn application_store(&self) -> Arc<Known> {
        self.state.reconciler.applications.clone()
    }

    /// The ApplicationSets this controller reconciles, as its watch last saw them (for
    /// Argo CD's ApplicationSet metrics).
    pub fn applicationsets(&self) -> AppSetsView {
        AppSetsView(self.state.clone())
    }

    /// What the Application controller's watch should tell this controller (see
    /// [`run_fed`](Self::run_fed)).
    pub fn application_hook(&self) -> crate::controller::ApplicationHook {
        let state = self.state.clone();
        Arc::new(move |app: &Value, present: bool| observe_application(&state, app, present))
    }

    /// [`run`](Self::run) without a watch of Applications: their changes come from
    /// [`application_hook`](Self::application_hook), called by the Application
    /// controller's watch (one watch of the hub's most numerous objects, not two), which
    /// keeps them in [`application_store`](Self::application_store).
    pub async fn run_fed(self) {
        let state = self.state;
        // Owned here: when this future is dropped (the hub stops), they stop with it.
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(registry) = crate::lock(&state.registry).take() {
            tasks.spawn(registry);
        }
        for _ in 0..state.reconciler.options.workers.max(1) {
            tasks.spawn(worker(state.clone()));
        }
        let (by_repo, all) = (state.clone(), state.clone());
        tasks.spawn(crate::controller::requeue_on_push(
            state.reconciler.sources.mirrors().clone(),
            state.queue.clone(),
            move |identity| crate::controller::readers_of(&by_repo.readers, identity),
            move || all.known.keys(),
        ));
        let (by_repo, all) = (state.clone(), state.clone());
        tasks.spawn(crate::controller::requeue_on_news(
            state.reconciler.sources.mirrors().subscribe_pull_requests(),
            state.queue.clone(),
            move |identity| crate::controller::readers_of(&by_repo.pull_request_readers, identity),
            move || all.known.keys(),
        ));
        watch_appsets(state).await;
    }
}

/// Runs an ApplicationSet controller over `hub` until its watch ends; the cluster registry
/// is kept current by [`crate::controller::run_cluster_registry`], whose `on_change` should
/// call [`AppSetController::requeue_all`] (this function wires that itself).
pub async fn run_appsets(
    hub: kube::Client,
    cluster_namespace: String,
    clusters: Arc<RwLock<ClusterRegistry>>,
    sources: Sources,
    options: AppSetOptions,
) {
    start_appsets(hub, cluster_namespace, clusters, sources, options)
        .run()
        .await;
}

/// The ApplicationSets a controller reconciles, as its watch last saw them.
#[derive(Clone)]
pub struct AppSetsView(Arc<Loop>);

impl AppSetsView {
    /// Their latest copies.
    pub fn values(&self) -> Vec<Arc<Value>> {
        self.0.known.values_where(|_| true)
    }
}

impl std::fmt::Debug for AppSetsView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSetsView").finish_non_exhaustive()
    }
}

/// An ApplicationSet controller over `hub`, with the cluster registry watch that requeues
/// it already started; run it with [`AppSetController::run`] or
/// [`AppSetController::run_fed`].
pub fn start_appsets(
    hub: kube::Client,
    cluster_namespace: String,
    clusters: Arc<RwLock<ClusterRegistry>>,
    sources: Sources,
    options: AppSetOptions,
) -> AppSetController {
    let controller = AppSetController::new(AppSetReconciler {
        hub: hub.clone(),
        namespace: cluster_namespace.clone(),
        clusters: clusters.clone(),
        sources,
        options,
        echoes: Default::default(),
        applications: Default::default(),
    });
    // Weak: the registry watch runs inside the controller's own run, so a strong
    // reference would keep the controller alive through its own task.
    let on_change = Arc::downgrade(&controller.state);
    let registry =
        crate::controller::run_cluster_registry(hub, cluster_namespace, clusters, move || {
            if let Some(state) = on_change.upgrade() {
                AppSetController { state }.requeue_all();
            }
        });
    *crate::lock(&controller.state.registry) = Some(Box::pin(registry));
    controller
}

/// The slot of the cluster registry watch, until the controller runs it.
type RegistrySlot = Mutex<Option<futures::future::BoxFuture<'static, ()>>>;

/// What makes a set worth reconciling again (Argo CD's ApplicationSet predicate): spec,
/// labels, annotations, finalizers, deletion, and for progressive syncs its
/// `status.applicationStatus`; also its uid (recreated under the same name).
fn appset_fingerprint(set: &Value, progressive: bool) -> u64 {
    hash_of(&[
        // A rollout moves on as its Applications' statuses do (`shouldRequeueForApplicationSet`).
        progressive
            .then(|| set.at("/status/applicationStatus"))
            .flatten(),
        set.get("spec"),
        set.at("/metadata/labels"),
        set.at("/metadata/annotations"),
        set.at("/metadata/finalizers"),
        set.at("/metadata/deletionTimestamp"),
        set.at("/metadata/uid"),
    ])
}

/// What the ApplicationSet controller manages of an Application (Argo CD's owned-app
/// predicate): spec, labels, annotations, finalizers, owner references, deletion, the
/// operation asked of it — and,
/// for progressive syncs, its health and sync status and its operation's phase and start
/// (`shouldRequeueForApplication`).
fn application_fingerprint(app: &Value, progressive: bool) -> u64 {
    let status = |pointer: &str| progressive.then(|| app.at(pointer)).flatten();
    hash_of(&[
        app.get("spec"),
        app.at("/metadata/labels"),
        app.at("/metadata/annotations"),
        app.at("/metadata/finalizers"),
        app.at("/metadata/ownerReferences"),
        app.at("/metadata/deletionTimestamp"),
        // The operation a rollout writes: its write's echo must be told from others.
        app.get("operation"),
        status("/status/health/status"),
        status("/status/sync/status"),
        status("/status/operationState/phase"),
        status("/status/operationState/startedAt"),
    ])
}

async fn watch_appsets(state: Arc<Loop>) {
    let api: Api<crate::raw::RawObject> =
        Api::all_with(state.reconciler.hub.clone(), &applicationset_resource());
    let mut changes = std::pin::pin!(crate::controller::object_changes(api, "ApplicationSets"));
    while let Some(change) = changes.next().await {
        match change {
            Change::Listed => state.known.mark_listed(),
            Change::Gone(value) => forget(&state, &object_key(&value)),
            Change::Present(value) => {
                let namespace = value
                    .at("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !state.reconciler.reconciles_namespace(namespace) {
                    // Argo CD's `ignoreNotAllowedNamespaces` event filter: not ours.
                    continue;
                }
                let key = object_key(&value);
                let progressive = state.reconciler.options.enable_progressive_syncs;
                let print = appset_fingerprint(&value, progressive);
                if state.known.observe(&key, value, print) {
                    state.queue.add(key);
                }
            }
        }
    }
}

fn forget(state: &Loop, key: &str) {
    state.known.forget(key);
    if let Some((namespace, name)) = key.split_once('/') {
        crate::metrics::global().forget_appset(namespace, name);
    }
    remember_readers(&state.readers, key, &BTreeSet::new());
    remember_readers(&state.pull_request_readers, key, &BTreeSet::new());
}

/// Records that the set `key` reads `identities` (and no others) in `readers`.
fn remember_readers(
    readers: &Mutex<HashMap<String, HashSet<String>>>,
    key: &str,
    identities: &BTreeSet<String>,
) {
    let mut readers = crate::lock(readers);
    for sets in readers.values_mut() {
        sets.remove(key);
    }
    for identity in identities {
        readers
            .entry(identity.clone())
            .or_default()
            .insert(key.to_string());
    }
}

/// The Applications, watched by this controller itself (when no Application controller
/// feeds it, see [`AppSetController::run_fed`]).
async fn watch_applications(state: Arc<Loop>) {
    if state.reconciler.options.enable_progressive_syncs {
        // A rollout moves on as the Applications' status does.
        let api: Api<crate::raw::UnmanagedObject> =
            Api::all_with(state.reconciler.hub.clone(), &application_resource());
        return keep_applications(
            state,
            crate::controller::object_changes(api, "Applications"),
        )
        .await;
    }
    // What a set manages is spec and metadata: the Applications' status is not decoded.
    let api: Api<crate::raw::StatuslessObject> =
        Api::all_with(state.reconciler.hub.clone(), &application_resource());
    keep_applications(
        state,
        crate::controller::object_changes(api, "Applications"),
    )
    .await;
}

/// Keeps the Applications' store from their watch and tells the sets of their changes.
async fn keep_applications(state: Arc<Loop>, changes: impl futures::Stream<Item = Change> + Send) {
    let mut changes = std::pin::pin!(changes);
    let store = &state.reconciler.applications;
    // The store first, as the Application controller's watch keeps it: the echo of our
    // own write is in the store once `observe_application` has taken it.
    while let Some(change) = changes.next().await {
        match change {
            Change::Listed => store.mark_listed(),
            Change::Gone(value) => {
                let key = object_key(&value);
                // Its last state as stored (a relist tells only its name).
                let last = store.forget(&key);
                observe_application(&state, last.as_deref().unwrap_or(&value), false);
            }
            Change::Present(value) => {
                let value = Arc::new(value);
                store.observe(&object_key(&value), value.clone(), 0);
                observe_application(&state, &value, true);
            }
        }
    }
}

/// An Application controlled by a set changed (or went away) in what the set manages:
/// the set is queued so it puts its Application back as generated.
fn observe_application(state: &Loop, value: &Value, present: bool) {
    let Some(owner) = reconcile::controller_owner(value) else {
        return;
    };
    let key = object_key(value);
    let namespace = value
        .at("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let set_key = format!("{namespace}/{owner}");
    let changed = {
        let mut owned = crate::lock(&state.owned);
        if present {
            let print =
                application_fingerprint(value, state.reconciler.options.enable_progressive_syncs);
            owned.insert(key.clone(), print) != Some(print)
        } else {
            owned.remove(&key);
            true
        }
    };
    let known = state.known.contains(&set_key);
    // Only Apply events echo a create or an update; a deletion always counts.
    let echo = changed && present && state.reconciler.echoes.take(&key);
    if changed && known && !echo {
        state.queue.add(set_key);
    }
}

async fn worker(state: Arc<Loop>) {
    while let Some(lease) = state.queue.next().await {
        let key = lease.key().to_string();
        let Some(object) = state.known.get(&key) else {
            continue;
        };
        let started = std::time::Instant::now();
        let mut outcome = state.reconciler.reconcile(&object, &now_rfc3339()).await;
        drop(object);
        tracing::debug!(appset = %key, elapsed = ?started.elapsed(), failed = outcome.failed, "reconciled ApplicationSet");
        crate::metrics::global().reconcile(
            "applicationset",
            crate::metrics::Outcome::of(outcome.failed),
            started.elapsed(),
        );
        if let Some((namespace, name)) = key.split_once('/') {
            crate::metrics::global().appset_reconcile(namespace, name, started.elapsed());
        }
        remember_readers(&state.readers, &key, &outcome.repositories);
        remember_readers(
            &state.pull_request_readers,
            &key,
            &outcome.pull_request_repositories,
        );
        if let Some(status) = outcome.status.take() {
            // The next reconcile starts from what we wrote (our write's echo is ignored).
            state.known.set_status(&key, status);
        }
        let delay = if outcome.failed {
            Some(state.reconciler.options.retry)
        } else {
            outcome.requeue_after.map(|d| jitter(d, &key))
        };
        drop(lease);
        if let Some(delay) = delay {
            state.queue.add_after(key, delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_writes_do_not_change_fingerprints_but_spec_and_deletion_do() {
        let a =
            json!({"metadata": {"name": "s", "uid": "1"}, "spec": {"x": 1}, "status": {"c": 1}});
        let mut b = a.clone();
        b["status"] = json!({"c": 2});
        b["metadata"]["resourceVersion"] = json!("9");
        assert_eq!(appset_fingerprint(&a, false), appset_fingerprint(&b, false));
        b["spec"]["x"] = json!(2);
        assert_ne!(appset_fingerprint(&a, false), appset_fingerprint(&b, false));
        let mut c = a.clone();
        c["metadata"]["deletionTimestamp"] = json!("2026-11-26T00:00:00Z");
        assert_ne!(appset_fingerprint(&a, false), appset_fingerprint(&c, false));
        // A rollout's own status moves it on.
        let mut d = a.clone();
        d["status"]["applicationStatus"] = json!([{"application": "x", "status": "Pending"}]);
        assert_eq!(appset_fingerprint(&a, false), appset_fingerprint(&d, false));
        assert_ne!(appset_fingerprint(&a, true), appset_fingerprint(&d, true));
    }

    #[test]
    fn application_status_requeues_its_set_only_for_progressive_syncs() {
        let a = json!({"metadata": {"name": "a"}, "spec": {"project": "default"},
                       "status": {"sync": {"status": "Synced"}, "reconciledAt": "t1"}});
        let mut b = a.clone();
        b["status"]["sync"]["status"] = json!("OutOfSync");
        assert_eq!(
            application_fingerprint(&a, false),
            application_fingerprint(&b, false)
        );
        assert_ne!(
            application_fingerprint(&a, true),
            application_fingerprint(&b, true)
        );
        // Other status fields are not what a rollout waits for.
        let mut c = a.clone();
        c["status"]["reconciledAt"] = json!("t2");
        assert_eq!(
            application_fingerprint(&a, true),
            application_fingerprint(&c, true)
        );
        c["status"]["operationState"] = json!({"phase": "Running", "startedAt": "t2"});
        assert_ne!(
            application_fingerprint(&a, true),
            application_fingerprint(&c, true)
        );
        b["metadata"]["finalizers"] = json!([]);
        assert_ne!(
            application_fingerprint(&a, false),
            application_fingerprint(&b, false)
        );
    }
}
