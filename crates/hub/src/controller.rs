//! The Application controller loop: a watch on the hub's Applications feeds a work queue
//! (only when an app's spec, refresh annotation, operation or deletion changes, so our own status
//! writes do not loop), workers reconcile and write status, repository pushes and a
//! jittered resync requeue the apps that read them.

use flotilla_core::pointer::Pointer as _;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::runtime::watcher;
use serde_json::{Value, json};

use crate::application::AppReconciler;
use crate::clusters::{self, ClusterRegistry};
use crate::known::Known;
use crate::lock;
use crate::queue::WorkQueue;
use crate::raw::UnmanagedObject;

/// Settings of the controller.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Applications reconciled at once.
    pub workers: usize,
    /// Every app is reconciled again after about this long (jittered ±10%), as a backstop
    /// for missed events, unless `argocd-cm`'s `timeout.reconciliation` says otherwise.
    pub resync: Duration,
    /// Argo CD's `--app-resync`: when set, wins over `argocd-cm`; zero turns the
    /// periodic comparison off (webhooks and watches only).
    pub resync_override: Option<Duration>,
    /// A failed reconcile is retried after this long.
    pub retry: Duration,
    /// An app whose health is still Progressing is looked at again after this long.
    pub health_recheck: Duration,
    /// Namespace of the cluster Secrets.
    pub cluster_namespace: String,
    /// Namespaces besides Argo CD's own whose Applications are reconciled (Argo CD's
    /// `--application-namespaces`: globs, or `/regular expressions/`); the others'
    /// are left alone, as Argo CD's controller does not process them.
    pub application_namespaces: Vec<String>,
}

impl ControllerOptions {
    /// Whether Applications in `namespace` are reconciled (`isAppNamespaceAllowed`).
    pub fn reconciles_namespace(&self, namespace: &str) -> bool {
        namespace == crate::application::PROJECT_NAMESPACE
            || flotilla_fleet::glob::match_string_in_list(&self.application_namespaces, namespace)
    }
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            workers: 16,
            resync: Duration::from_secs(180),
            resync_override: None,
            retry: Duration::from_secs(5),
            health_recheck: Duration::from_secs(1),
            cluster_namespace: "argocd".into(),
            application_namespaces: Vec::new(),
        }
    }
}

/// How many repositories are prefetched at once.
const PREFETCHES: usize = 8;

/// The Application resource on the hub.
pub fn application_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"),
        "applications",
    )
}

/// Shared state of the loop.
struct Loop {
    hub: kube::Client,
    reconciler: Arc<AppReconciler>,
    queue: WorkQueue,
    /// The Applications seen (shared with [`Feeds::store`]'s other readers).
    known: Arc<Known>,
    /// Repository identity → apps that read it.
    readers: Mutex<HashMap<String, HashSet<String>>>,
    /// Statuses held back: a Progressing status waits (at most `health_recheck`) to be
    /// written together with the health that follows, one write instead of two.
    held: Mutex<HashMap<String, Value>>,
    /// Repositories and revisions already prefetched, and how many fetch at once.
    prefetched: Mutex<HashSet<String>>,
    prefetches: tokio::sync::Semaphore,
    options: ControllerOptions,
    /// Also told of every Application change the watch sees.
    hooks: Vec<ApplicationHook>,
}

impl Loop {
    /// How long a settled app waits to be compared again with nothing new: Argo CD's
    /// `--app-resync`, else `argocd-cm`'s `timeout.reconciliation`, else the default;
    /// `None` when that is zero (no periodic comparison).
    fn resync_period(&self) -> Option<Duration> {
        let period = self
            .options
            .resync_override
            .or_else(|| self.reconciler.settings.reconciliation_timeout())
            .unwrap_or(self.options.resync);
        (!period.is_zero()).then_some(period)
    }
}

/// Told of every change to an Application (the object without managedFields; `false`
/// when it is gone) by the Application controller's watch, so another controller needs
/// no watch of its own.
pub type ApplicationHook = Arc<dyn Fn(&Value, bool) + Send + Sync>;

/// What the Application controller's watch serves besides its own loop, so that other
/// controllers need no watch of their own on the hub's most numerous objects.
#[derive(Default)]
pub struct Feeds {
    /// Told of every change the watch sees, after the store holds it.
    pub hooks: Vec<ApplicationHook>,
    /// Where the watched Applications are kept (with the status the controller wrote);
    /// another controller may read it (the ApplicationSet controller's
    /// [`application_store`](crate::appset::AppSetController::application_store)).
    pub store: Arc<Known>,
}

/// Runs the Application controller until the hub watch ends.
pub async fn run_applications(reconciler: Arc<AppReconciler>, options: ControllerOptions) {
    run_applications_with(reconciler, options, Feeds::default()).await;
}

/// [`run_applications`], its watch also serving `feeds`.
pub async fn run_applications_with(
    reconciler: Arc<AppReconciler>,
    options: ControllerOptions,
    feeds: Feeds,
) {
    let Feeds { hooks, store } = feeds;
    reconciler.set_applications(store.clone());
    let state = Arc::new(Loop {
        hub: reconciler.hub.clone(),
        queue: WorkQueue::new(),
        reconciler,
        known: store,
        readers: Mutex::default(),
        held: Mutex::default(),
        prefetched: Mutex::default(),
        prefetches: tokio::sync::Semaphore::new(PREFETCHES),
        options,
        hooks,
    });
    state
        .reconciler
        .set_drift_watches(crate::drift::DriftWatches::new(
            state.queue.clone(),
            state.reconciler.settings.tracking.clone(),
        ));
    // Owned here: when this future is dropped (the hub stops), they stop with it.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..state.options.workers.max(1) {
        tasks.spawn(worker(state.clone()));
    }
    let of_project = state.clone();
    tasks.spawn(state.reconciler.clone().run_project_cache(move |project| {
        for key in apps_of_project(&of_project.known, project) {
            of_project.queue.add(key);
        }
    }));
    let (by_repo, all) = (state.clone(), state.clone());
    tasks.spawn(requeue_on_push(
        state.reconciler.sources.mirrors().clone(),
        state.queue.clone(),
        move |identity| readers_of(&by_repo.readers, identity),
        move || all.known.keys(),
    ));
    watch_applications(state).await;
}

/// The keys of the Applications whose project is `project` (an empty `spec.project` is
/// `default`).
fn apps_of_project(known: &Known, project: &str) -> Vec<String> {
    known
        .keys()
        .into_iter()
        .filter(|key| {
            known.get(key).is_some_and(|app| {
                let named = app
                    .at("/spec/project")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (if named.is_empty() { "default" } else { named }) == project
            })
        })
        .collect()
}

/// A signal each time the Secrets of `namespace` that `selector` picks change, and once
/// the watch has listed them: the caller reloads what it reads from them.
pub(crate) fn secret_changes(
    hub: kube::Client,
    namespace: &str,
    selector: &str,
) -> impl futures::Stream<Item = ()> + Send + 'static {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(hub, namespace);
    watch_with_backoff(secrets, watcher::Config::default().labels(selector)).filter_map(
        |event| async move {
            matches!(
                event,
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone)
            )
            .then_some(())
        },
    )
}

/// Keeps `registry` equal to the cluster Secrets on the hub (reloaded on every change).
pub async fn run_cluster_registry(
    hub: kube::Client,
    namespace: String,
    registry: Arc<RwLock<ClusterRegistry>>,
    on_change: impl Fn() + Send + 'static,
) {
    let mut changes = std::pin::pin!(secret_changes(
        hub.clone(),
        &namespace,
        clusters::CLUSTER_SECRET_LABEL
    ));
    while changes.next().await.is_some() {
        let current = registry.read().unwrap_or_else(|e| e.into_inner()).clone();
        match clusters::reload(&hub, &namespace, &current).await {
            Ok((loaded, errors)) => {
                for e in errors {
                    tracing::warn!(error = %e, "unusable cluster Secret");
                }
                // The watch's first listing, or a change to something else than a
                // registration: nothing to regenerate.
                if loaded.same_registrations(&current) {
                    continue;
                }
                *registry.write().unwrap_or_else(|e| e.into_inner()) = loaded;
                on_change();
            }
            Err(e) => tracing::warn!(error = %e, "reading cluster Secrets"),
        }
    }
}

/// What makes an app worth reconciling again: its spec, the refresh annotation, an
/// operation asked of it (or its termination), its deletion. Status and other metadata
/// changes are ignored.
fn fingerprint(app: &Value) -> u64 {
    let terminating = app
        .at("/status/operationState/phase")
        .is_some_and(|p| p == "Terminating");
    hash_of(&[
        app.get("spec"),
        app.at("/metadata/annotations/argocd.argoproj.io~1refresh"),
        // A deletion's approval lets a held deletion go on at once.
        app.at("/metadata/annotations/argocd.argoproj.io~1deletion-approved"),
        app.get("operation"),
        terminating.then_some(&Value::Bool(true)),
        app.at("/metadata/deletionTimestamp"),
        app.at("/metadata/uid"),
    ])
}

async fn watch_applications(state: Arc<Loop>) {
    let api: Api<UnmanagedObject> = Api::all_with(state.hub.clone(), &application_resource());
    let mut changes = std::pin::pin!(object_changes(api, "Applications"));
    // Owned by the watch, so they stop with the controller.
    let mut prefetches = tokio::task::JoinSet::new();
    while let Some(change) = changes.next().await {
        while prefetches.try_join_next().is_some() {}
        // The store first, then the hooks: a hook hearing of a change (the ApplicationSet
        // controller's echo of its own write) finds the store holding it.
        match change {
            Change::Listed => state.known.mark_listed(),
            Change::Gone(value) => {
                let key = AppReconciler::key_of(&value);
                // Its last state as stored (a relist tells only its name).
                let last = state.known.forget(&key);
                state.reconciler.forget(&key);
                state.queue.forget(&key);
                lock(&state.held).remove(&key);
                for hook in &state.hooks {
                    hook(last.as_deref().unwrap_or(&value), false);
                }
            }
            Change::Present(value) => {
                let key = AppReconciler::key_of(&value);
                let print = fingerprint(&value);
                let namespace = value
                    .at("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let reconciled = state.options.reconciles_namespace(namespace);
                if reconciled && !state.known.contains(&key) {
                    prefetch(&state, &value, &mut prefetches);
                }
                let value = Arc::new(value);
                let changed = state.known.observe(&key, value.clone(), print);
                for hook in &state.hooks {
                    hook(&value, true);
                }
                drop(value);
                if changed && reconciled {
                    state.queue.add(key);
                }
            }
        }
    }
}

/// Starts fetching a newly seen app's repository in the background (a few at a time,
/// each repository and revision once), so that workers do not wait on each new
/// repository in turn.
fn prefetch(state: &Arc<Loop>, app: &Value, tasks: &mut tokio::task::JoinSet<()>) {
    let Some(request) = state.reconciler.source_request_of(app) else {
        return;
    };
    let project = app
        .at("/spec/project")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or("default")
        .to_string();
    let wanted = format!("{}#{:?}", request.url, request.reference);
    if !lock(&state.prefetched).insert(wanted) {
        return;
    }
    let state = state.clone();
    tasks.spawn(async move {
        let Ok(_permit) = state.prefetches.acquire().await else {
            return;
        };
        state.reconciler.prefetch(&request, &project).await;
    });
}

async fn worker(state: Arc<Loop>) {
    while let Some(lease) = state.queue.next().await {
        let key = lease.key().to_string();
        let held = lock(&state.held).remove(&key);
        let Some(object) = state.known.get(&key) else {
            continue;
        };
        let namespace = object
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !state.options.reconciles_namespace(namespace) {
            // Queued by a project or repository change: still not this controller's.
            continue;
        }
        if object.at("/metadata/deletionTimestamp").is_some() {
            finalize(&state, &key, &object).await;
            continue;
        }
        let now = now_rfc3339();
        let was_held = held.is_some();
        let run = match held {
            // Continue from the status not yet written.
            Some(status) => Arc::new(crate::known::with_status(&object, status)),
            None => object.clone(),
        };
        let started = std::time::Instant::now();
        // The destination's server URL labels Argo CD's app metrics, read once per pass.
        let mut dest_server = None;
        let mut outcome = match crate::contained(state.reconciler.reconcile(&run, &now)).await {
            Ok(outcome) => {
                let metrics = crate::metrics::global();
                metrics.reconcile(
                    "application",
                    crate::metrics::Outcome::of(outcome.failed),
                    started.elapsed(),
                );
                let server = dest_server.insert(state.reconciler.destination_server(&object));
                metrics.app_reconcile(namespace, server, started.elapsed());
                outcome
            }
            Err(e) => {
                tracing::error!(app = %key, error = %e, "reconcile panicked");
                drop(lease);
                state.queue.add_after(key, state.options.retry);
                continue;
            }
        };
        for url in &outcome.repo_urls {
            remember_reader(&state, url, &key);
        }
        let progressing =
            outcome.status.at("/health/status").and_then(Value::as_str) == Some("Progressing");
        // Held back while health settles, unless an operation ended: it goes at once.
        if progressing
            && !outcome.failed
            && !outcome.operation_done
            && !was_held
            && outcome.requeue_after.is_none()
        {
            lock(&state.held).insert(key.clone(), outcome.status);
            drop(lease);
            state.queue.follow_up(key, state.options.health_recheck);
            continue;
        }
        let phase = std::time::Instant::now();
        // The operation's Running state went to the hub meanwhile: the change is from it.
        let base = outcome.running.as_ref().map(|running| {
            let mut status = object.get("status").cloned().unwrap_or_else(|| json!({}));
            status["operationState"] = running.clone();
            crate::known::with_status(&object, status)
        });
        health_transition(
            base.as_ref().unwrap_or(&object).get("status"),
            &mut outcome.status,
            &now,
        );
        let written = write_status(
            &state.hub,
            &application_resource(),
            StatusOn::Object {
                operation_done: outcome.operation_done,
            },
            base.as_ref().unwrap_or(&object),
            &outcome.status,
        )
        .await;
        crate::metrics::global().phase("application", "status", phase.elapsed());
        let settling = matches!(
            outcome.status.at("/health/status").and_then(Value::as_str),
            Some("Progressing" | "Missing" | "Unknown")
        );
        if let Err(e) = written {
            tracing::warn!(app = %key, error = %e, "writing Application status");
        } else {
            let before = base.as_ref().unwrap_or(&object).get("status");
            if let Some(ended) = crate::metrics::completed_operation(before, &outcome.status) {
                crate::metrics::global().app_sync(
                    crate::metrics::AppLabels::of(&object),
                    dest_server.as_deref().unwrap_or_default(),
                    &ended,
                );
            }
            // Keep our copy current so the next reconcile starts from what we wrote.
            drop(object);
            state.known.set_status(&key, outcome.status);
            if outcome.operation_done {
                state.known.clear_operation(&key);
            }
        }
        let delay = if let Some(after) = outcome.requeue_after {
            // The sync's own schedule (a retry's backoff).
            Some(after)
        } else if outcome.failed {
            Some(state.options.retry)
        } else if settling {
            // Health is followed until it settles (Argo CD re-evaluates it on every
            // resource event); a settled app waits for the next trigger or resync.
            Some(state.options.health_recheck)
        } else {
            state.resync_period().map(|period| jitter(period, &key))
        };
        drop(lease);
        if let Some(delay) = delay {
            state.queue.follow_up(key, delay);
        }
    }
}

/// Deletes what a deleted Application tracked (when its finalizer asks) and then lets it go.
async fn finalize(state: &Arc<Loop>, key: &str, object: &Value) {
    let outcome = crate::contained(state.reconciler.finalize(object))
        .await
        .unwrap_or_else(Err);
    match outcome {
        Ok(crate::application::Finalized::Waiting(message)) => {
            tracing::debug!(app = %key, %message, "deleting the Application");
            state
                .queue
                .add_after(key.to_string(), state.options.health_recheck);
        }
        Ok(crate::application::Finalized::Keep(keep)) => {
            let namespace = object
                .at("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            let name = object
                .at("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let api: Api<DynamicObject> =
                Api::namespaced_with(state.hub.clone(), namespace, &application_resource());
            // The next stage (deletion hooks, then the resources) when one is left: the
            // watch does not bring a deleting object back for a finalizer change.
            let more = keep
                .iter()
                .any(|f| crate::application::is_deletion_stage(f));
            let patch = json!({"metadata": {"finalizers": keep}});
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                Ok(_) if more => state.queue.add(key.to_string()),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(app = %key, error = %e, "removing a finalizer");
                    state.queue.add_after(key.to_string(), state.options.retry);
                }
            }
        }
        Err(message) => {
            tracing::warn!(app = %key, %message, "deleting the Application's resources");
            state.queue.add_after(key.to_string(), state.options.retry);
        }
    }
}

fn remember_reader(state: &Loop, url: &str, key: &str) {
    let Ok(parsed) = flotilla_source::GitUrl::parse(url) else {
        return;
    };
    let mut readers = lock(&state.readers);
    readers
        .entry(parsed.identity())
        .or_default()
        .insert(key.to_string());
}

/// A push to a repository (webhook) requeues every object that reads it: `readers` maps a
/// repository identity to queue keys; when pushes were missed, every key in `objects` is
/// requeued rather than miss one. Shared by the Application and ApplicationSet loops.
pub(crate) async fn requeue_on_push(
    mirrors: flotilla_source::MirrorCache,
    queue: WorkQueue,
    readers: impl Fn(&str) -> Vec<String>,
    objects: impl Fn() -> Vec<String>,
) {
    requeue_on_news(mirrors.subscribe(), queue, readers, objects).await;
}

/// [`requeue_on_push`] over any news of repositories by identity (the ApplicationSet
/// loop's pull request events too).
pub(crate) async fn requeue_on_news(
    mut news: tokio::sync::broadcast::Receiver<String>,
    queue: WorkQueue,
    readers: impl Fn(&str) -> Vec<String>,
    objects: impl Fn() -> Vec<String>,
) {
    loop {
        let keys = match news.recv().await {
            Ok(identity) => readers(&identity),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => objects(),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        for key in keys {
            queue.add(key);
        }
    }
}

/// What a watch tells its consumer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Change {
    /// The object as it is now (added or changed, or listed again).
    Present(Value),
    /// The object went away: its last state — or, when a relist found it gone, only its
    /// namespace and name (the consumer's own copy is its last state).
    Gone(Value),
    /// A (re)list is complete: what was seen is everything there is.
    Listed,
}

/// The objects a watch of `api` sees, as JSON; errors are logged as `what` and retried
/// with backoff. After a relist (a 410, a restarted watch) an object that was there before
/// and is no longer listed comes out as gone — kube's watcher only lists it again, so
/// without [`Relist`] an object deleted while the watch was down would be reconciled on
/// forever.
pub(crate) fn object_changes<K>(
    api: Api<K>,
    what: &'static str,
) -> impl futures::Stream<Item = Change> + Send + 'static
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Into<Value>
        + 'static,
{
    let mut relist = Relist::default();
    watch_with_backoff(api, watcher::Config::default())
        .map(move |event| {
            let changes = match event {
                Ok(event) => relist.changes(as_values(event)),
                Err(e) => {
                    tracing::warn!(error = %e, "watching {what}");
                    Vec::new()
                }
            };
            futures::stream::iter(changes)
        })
        .flatten()
}

/// What a watch's consumer must hear of its events, relists included: every object seen
/// as present, and at the end of a relist every object not listed again as gone (as
/// client-go's informer does when it replaces its store), then that the list is complete.
/// Keeps the present objects' keys only.
#[derive(Debug, Default)]
pub(crate) struct Relist {
    /// Present objects' `namespace/name`.
    present: HashSet<String>,
    /// During a relist: the keys listed so far.
    listing: Option<HashSet<String>>,
}

impl Relist {
    /// The changes `event` makes.
    pub(crate) fn changes(&mut self, event: watcher::Event<Value>) -> Vec<Change> {
        match event {
            watcher::Event::Init => {
                self.listing = Some(HashSet::new());
                Vec::new()
            }
            watcher::Event::InitApply(object) => {
                let key = object_key(&object);
                if let Some(listing) = &mut self.listing {
                    listing.insert(key.clone());
                }
                self.present.insert(key);
                vec![Change::Present(object)]
            }
            watcher::Event::InitDone => {
                let Some(listed) = self.listing.take() else {
                    return vec![Change::Listed];
                };
                let gone: Vec<Change> = self
                    .present
                    .difference(&listed)
                    .map(|key| Change::Gone(named(key)))
                    .chain([Change::Listed])
                    .collect();
                self.present = listed;
                gone
            }
            watcher::Event::Apply(object) => {
                self.present.insert(object_key(&object));
                vec![Change::Present(object)]
            }
            watcher::Event::Delete(object) => {
                self.present.remove(&object_key(&object));
                vec![Change::Gone(object)]
            }
        }
    }
}

/// The event with its object as JSON.
fn as_values<K: Into<Value>>(event: watcher::Event<K>) -> watcher::Event<Value> {
    match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(o.into()),
        watcher::Event::Delete(o) => watcher::Event::Delete(o.into()),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitApply(o) => watcher::Event::InitApply(o.into()),
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// `namespace/name` of an object (the key the hub's controllers queue and store it by).
pub(crate) fn object_key(object: &Value) -> String {
    let field = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
    format!(
        "{}/{}",
        field("/metadata/namespace"),
        field("/metadata/name")
    )
}

/// The object a `namespace/name` key names, with nothing else.
fn named(key: &str) -> Value {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let mut metadata = serde_json::Map::new();
    if !namespace.is_empty() {
        metadata.insert("namespace".into(), namespace.into());
    }
    metadata.insert("name".into(), name.into());
    json!({ "metadata": metadata })
}

/// A hash of the given parts of an object (what a controller reacts to).
pub(crate) fn hash_of(parts: &[Option<&Value>]) -> u64 {
    /// Feeds the JSON text to the hasher as it is written, instead of into a String.
    struct Feed<'a>(&'a mut std::collections::hash_map::DefaultHasher);
    impl std::io::Write for Feed<'_> {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            std::hash::Hasher::write(self.0, bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for part in parts {
        part.is_some().hash(&mut hasher);
        if let Some(value) = part {
            // Writing JSON into a hasher cannot fail.
            let _ = serde_json::to_writer(Feed(&mut hasher), value);
        }
        // A separator, so that moving text from one part to the next changes the hash.
        0xffu8.hash(&mut hasher);
    }
    hasher.finish()
}

/// A watch of `api` that backs off after errors (kube's default: 800 ms growing to 30 s,
/// with jitter). Without it a watch of an unreachable cluster — or of any API while the
/// runtime shuts down — fails at once, is retried at once, and spins a core.
pub fn watch_with_backoff<K>(
    api: Api<K>,
    config: watcher::Config,
) -> futures::stream::BoxStream<'static, Result<watcher::Event<K>, watcher::Error>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    use kube::runtime::WatchStreamExt as _;
    watcher(api, config).default_backoff().boxed()
}

/// One named object as a watch follows it: `Some` when it is created or changed, `None`
/// once deleted (a watch error is logged and the backoff retries; other events say nothing
/// new). For configuration objects the hub reads by name (`argocd-cm`, notifications).
pub fn watch_named<K>(api: Api<K>, name: &str) -> futures::stream::BoxStream<'static, Option<K>>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let name = name.to_string();
    watch_with_backoff(api, config)
        .filter_map(move |event| {
            let seen = match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    Some(Some(object))
                }
                Ok(watcher::Event::Delete(_)) => Some(None),
                Err(e) => {
                    tracing::warn!(error = %e, "watching {name}");
                    None
                }
                Ok(_) => None,
            };
            std::future::ready(seen)
        })
        .boxed()
}

/// The readers of a repository identity in a readers map.
pub(crate) fn readers_of(
    readers: &Mutex<HashMap<String, HashSet<String>>>,
    identity: &str,
) -> Vec<String> {
    lock(readers)
        .get(identity)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
}

/// Where a kind keeps its status: Argo CD's Application CRD has no status subresource,
/// Flux's kinds have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusOn {
    /// `status` is written with the object (an Application); `operation_done` removes the
    /// operation it asked for, in the same patch (Argo CD's `setOperationState`).
    Object { operation_done: bool },
    /// `status` is written through `/status`.
    Subresource,
}

/// Writes `object`'s finalizers with a merge patch that carries its resourceVersion, so a
/// concurrent change fails (409) instead of being overwritten.
pub(crate) async fn write_finalizers(
    hub: &kube::Client,
    resource: &ApiResource,
    object: &Value,
    finalizers: &[String],
) -> Result<(), kube::Error> {
    let s = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
    let api: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), s("/metadata/namespace"), resource);
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": s("/metadata/resourceVersion"),
    }});
    api.patch(
        s("/metadata/name"),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await
    .map(drop)
}

/// Argo CD's `persistAppStatus`: `health.lastTransitionTime` is now when the health
/// status differs from the one written before, else the one written before (none stays
/// none). Notification triggers read it (the catalog's `on-deployed`).
fn health_transition(old: Option<&Value>, new: &mut Value, now: &str) {
    let Some(health) = new.get_mut("health").and_then(Value::as_object_mut) else {
        return;
    };
    let old = old.and_then(|s| s.get("health"));
    let status = |h: Option<&Value>| {
        h.and_then(|h| h.get("status"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let before = status(old);
    let after = health
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if before != after {
        health.insert("lastTransitionTime".into(), json!(now));
        return;
    }
    match old.and_then(|h| h.get("lastTransitionTime")) {
        Some(at) => health.insert("lastTransitionTime".into(), at.clone()),
        None => health.remove("lastTransitionTime"),
    };
}

/// The annotation that asks Argo CD for a refresh; the controller removes it once the
/// status is written (`persistReconciliationStatus`), so the next request is a change.
const REFRESH_ANNOTATION: &str = "argocd.argoproj.io/refresh";

/// Writes `status` with a merge patch; keys the previous status had and the new one
/// lacks are removed (null), so a resolved condition disappears. Written with the object
/// (an Application), the refresh request it carried is consumed in the same patch.
/// Nothing when unchanged.
pub(crate) async fn write_status(
    hub: &kube::Client,
    resource: &ApiResource,
    on: StatusOn,
    object: &Value,
    status: &Value,
) -> Result<(), kube::Error> {
    let old = object.get("status");
    let on_object = matches!(on, StatusOn::Object { .. });
    let operation_done = matches!(
        on,
        StatusOn::Object {
            operation_done: true
        }
    );
    let refresh_requested = on_object
        && object
            .at("/metadata/annotations")
            .and_then(|a| a.get(REFRESH_ANNOTATION))
            .is_some();
    if old == Some(status) && !refresh_requested && !operation_done {
        return Ok(());
    }
    let s = |p: &str| object.at(p).and_then(Value::as_str).unwrap_or("");
    // Only what changed: unchanged keys would cost the API server a merge and every
    // watcher a larger event for nothing.
    let request = kube::core::Request::new(url_path(resource, s("/metadata/namespace")));
    let patch = Patch::Merge(StatusPatch {
        status: status_change(old, status),
        metadata: refresh_requested
            .then(|| serde_json::json!({"annotations": {REFRESH_ANNOTATION: null}})),
        operation: operation_done.then_some(Value::Null),
    });
    let params = PatchParams::default();
    let name = s("/metadata/name");
    let request = match on {
        StatusOn::Object { .. } => request.patch(name, &params, &patch),
        StatusOn::Subresource => request.patch_subresource("status", name, &params, &patch),
    };
    send(hub, request).await
}

/// The body of a status merge patch.
#[derive(serde::Serialize)]
struct StatusPatch<'a> {
    status: StatusChange<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
    /// `null` to remove a finished operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<Value>,
}

/// A merge patch from one value to another: the keys of an object that changed, each as
/// its own change, or a whole new value, or (for a key) its removal as null.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum StatusChange<'a> {
    Keys(std::collections::BTreeMap<&'a str, StatusChange<'a>>),
    Whole(&'a Value),
    Removed,
}

/// What changed from `old` to `new`, borrowed from both (an Application's status is
/// large and is not copied for this). Objects are compared key by key at every depth:
/// a merge patch merges a nested object into the stored one, so a key gone from it (a
/// spent retry's `operationState.retryCount`) must be sent as null to go.
fn status_change<'a>(old: Option<&'a Value>, new: &'a Value) -> StatusChange<'a> {
    match (old, new) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            let mut changed = std::collections::BTreeMap::new();
            for (key, value) in new {
                match old.get(key) {
                    Some(before) if before == value => {}
                    before => {
                        changed.insert(key.as_str(), status_change(before, value));
                    }
                }
            }
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                changed.insert(key.as_str(), StatusChange::Removed);
            }
            StatusChange::Keys(changed)
        }
        _ => StatusChange::Whole(new),
    }
}

/// Sends a write whose answer (the whole object) is not needed, since a watch brings it:
/// the API server is asked for the object's metadata only, and the answer is not decoded.
pub(crate) async fn send(
    hub: &kube::Client,
    request: Result<http::Request<Vec<u8>>, kube::core::request::Error>,
) -> Result<(), kube::Error> {
    let request =
        flotilla_sync::cluster::metadata_answer(request.map_err(kube::Error::BuildRequest)?);
    hub.request_text(request).await?;
    Ok(())
}

/// The URL path of `resource`'s objects in `namespace` (cluster-wide when empty).
pub(crate) fn url_path(resource: &ApiResource, namespace: &str) -> String {
    <DynamicObject as kube::Resource>::url_path(
        resource,
        (!namespace.is_empty()).then_some(namespace),
    )
}

/// `period` ±10%, fixed per key so apps spread evenly over the period.
pub(crate) fn jitter(period: Duration, key: &str) -> Duration {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    let spread = (hasher.finish() % 2001) as f64 / 10_000.0 - 0.1; // -0.1 ..= 0.1
    period.mul_f64(1.0 + spread)
}

/// The current time in RFC 3339 (UTC, seconds), as Kubernetes writes timestamps.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relist_reports_what_it_no_longer_shows_as_gone() {
        let owned = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "b", "namespace": "argocd", "uid": "u-b", "labels": {"x": "y"},
                         "ownerReferences": [{"kind": "ApplicationSet", "name": "set", "controller": true}]},
            "spec": {"project": "default"}});
        let plain = json!({"metadata": {"name": "a", "namespace": "argocd"}});
        let mut relist = Relist::default();
        relist.changes(watcher::Event::Init);
        relist.changes(watcher::Event::InitApply(plain.clone()));
        relist.changes(watcher::Event::InitApply(owned.clone()));
        assert_eq!(relist.changes(watcher::Event::InitDone), [Change::Listed]);
        // The watch restarts; only `a` is listed again.
        assert!(relist.changes(watcher::Event::Init).is_empty());
        assert_eq!(
            relist.changes(watcher::Event::InitApply(plain.clone())),
            [Change::Present(plain.clone())]
        );
        let gone = relist.changes(watcher::Event::InitDone);
        assert_eq!(
            gone,
            [
                Change::Gone(json!({"metadata": {"name": "b", "namespace": "argocd"}})),
                Change::Listed
            ]
        );
        // Told once: the next relist of the same objects reports nothing gone.
        relist.changes(watcher::Event::Init);
        relist.changes(watcher::Event::InitApply(plain));
        assert_eq!(relist.changes(watcher::Event::InitDone), [Change::Listed]);
    }

    #[test]
    fn watched_changes_pass_through_and_a_deleted_object_is_not_reported_twice() {
        let a = json!({"metadata": {"name": "a", "namespace": "n"}, "spec": 1});
        let mut relist = Relist::default();
        assert_eq!(
            relist.changes(watcher::Event::Apply(a.clone())),
            [Change::Present(a.clone())]
        );
        assert_eq!(
            relist.changes(watcher::Event::Delete(a.clone())),
            [Change::Gone(a.clone())]
        );
        relist.changes(watcher::Event::Init);
        assert_eq!(relist.changes(watcher::Event::InitDone), [Change::Listed]);
        // Created while a relist was under way (listed, then changed): still there.
        relist.changes(watcher::Event::Init);
        relist.changes(watcher::Event::InitApply(a.clone()));
        relist.changes(watcher::Event::InitDone);
        relist.changes(watcher::Event::Init);
        relist.changes(watcher::Event::InitApply(a.clone()));
        assert_eq!(relist.changes(watcher::Event::InitDone), [Change::Listed]);
    }

    #[test]
    fn a_status_patch_carries_changed_keys_and_removes_vanished_ones() {
        let old = json!({"a": 1, "b": 2, "c": 3});
        let new = json!({"a": 1, "b": 5, "d": 4});
        let patch = StatusPatch {
            status: status_change(Some(&old), &new),
            metadata: None,
            operation: None,
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"status": {"b": 5, "c": null, "d": 4}})
        );
        // Nested objects: only what changed, a vanished key as null (a merge patch would
        // keep it otherwise); a value that is no longer an object, whole.
        let old = json!({"op": {"phase": "Running", "retryCount": 2, "result": {"rev": "a"}}, "list": [1]});
        let new = json!({"op": {"phase": "Succeeded", "result": {"rev": "a"}}, "list": {"x": 1}});
        let patch = StatusPatch {
            status: status_change(Some(&old), &new),
            metadata: None,
            operation: None,
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!({"status": {"op": {"phase": "Succeeded", "retryCount": null}, "list": {"x": 1}}})
        );
        let first = StatusPatch {
            status: status_change(None, &new),
            metadata: None,
            operation: None,
        };
        assert_eq!(
            serde_json::to_value(&first).unwrap(),
            json!({"status": new})
        );
    }

    #[test]
    fn fingerprints_ignore_status_but_see_spec_refresh_and_operations() {
        let a =
            json!({"metadata": {"name": "a", "uid": "1"}, "spec": {"x": 1}, "status": {"s": 1}});
        let mut b = a.clone();
        b["status"] = json!({"s": 2});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b["spec"]["x"] = json!(2);
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let mut c = a.clone();
        c["metadata"]["annotations"] = json!({"argocd.argoproj.io/refresh": "hard"});
        assert_ne!(fingerprint(&a), fingerprint(&c));
        // An operation asked, and its termination (a status change, the only one seen).
        let mut d = a.clone();
        d["operation"] = json!({"sync": {"prune": true}});
        assert_ne!(fingerprint(&a), fingerprint(&d));
        let mut e = d.clone();
        e["status"] = json!({"operationState": {"phase": "Running"}});
        assert_eq!(fingerprint(&d), fingerprint(&e));
        e["status"]["operationState"]["phase"] = json!("Terminating");
        assert_ne!(fingerprint(&d), fingerprint(&e));
        // Which part a value is in counts, and an absent part is not a JSON null.
        let (x, null) = (json!("x"), Value::Null);
        assert_ne!(hash_of(&[Some(&x), None]), hash_of(&[None, Some(&x)]));
        assert_ne!(hash_of(&[None]), hash_of(&[Some(&null)]));
        assert_eq!(
            hash_of(&[Some(&a), None]),
            hash_of(&[Some(&a.clone()), None])
        );
    }

    #[test]
    fn the_health_transition_time_moves_only_when_the_health_does() {
        let mut first = json!({"health": {"status": "Progressing"}});
        health_transition(None, &mut first, "t1");
        assert_eq!(first["health"]["lastTransitionTime"], "t1");
        let mut same = json!({"health": {"status": "Progressing"}, "reconciledAt": "t2"});
        health_transition(Some(&first), &mut same, "t2");
        assert_eq!(same["health"]["lastTransitionTime"], "t1");
        let mut healthy = json!({"health": {"status": "Healthy"}});
        health_transition(Some(&same), &mut healthy, "t3");
        assert_eq!(healthy["health"]["lastTransitionTime"], "t3");
        // Written by a hub that did not keep it: it stays unset until the health moves.
        let old = json!({"health": {"status": "Healthy"}});
        let mut kept = json!({"health": {"status": "Healthy", "lastTransitionTime": "x"}});
        health_transition(Some(&old), &mut kept, "t4");
        assert_eq!(kept["health"], json!({"status": "Healthy"}));
        let mut none = json!({"sync": {"status": "Synced"}});
        health_transition(Some(&old), &mut none, "t5");
        assert_eq!(none, json!({"sync": {"status": "Synced"}}));
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for key in ["a", "b", "ns/app-01", "ns/app-02"] {
            let d = jitter(Duration::from_secs(100), key);
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
                "{d:?}"
            );
        }
    }
}
