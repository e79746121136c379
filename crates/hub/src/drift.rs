//! The hub's view of the managed clusters, kept by watches: one watch per cluster and
//! kind that the hub's applications applied, selecting only objects that carry the
//! instance label. From what they see:
//! - a cache of those objects (by instance label), which syncs read instead of listing and
//!   health checks read instead of getting ([`flotilla_sync::cluster::LiveCache`]);
//! - drift: a change made by another field manager after our last apply (a `kubectl
//!   edit`, a `kubectl scale`) or a deletion is recorded with the manager and the field
//!   paths, and the owning application is queued: with selfHeal it is applied again at
//!   once, without it its status turns OutOfSync;
//! - health: an object whose health changed (a Deployment becoming available) queues its
//!   application, so its status follows without polling — also when a relist after an
//!   outage is what shows the change.

use flotilla_core::pointer::Pointer as _;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use flotilla_sync::health::{Health, HealthStatus};
use flotilla_sync::ignore::IgnoreRule;
use flotilla_sync::tracking::{AppId, Tracking};
use futures::StreamExt;
use kube::api::{Api, ApiResource};
use kube::runtime::watcher;
use serde_json::Value;

use crate::lock;
use crate::queue::WorkQueue;

/// How many drift events are kept for inspection.
const KEPT_EVENTS: usize = 1024;

/// One observed drift.
#[derive(Debug, Clone)]
pub struct DriftEvent {
    /// The application (`namespace/name`).
    pub app: String,
    /// The cluster's server URL.
    pub server: String,
    /// `Kind namespace/name` of the object.
    pub object: String,
    /// Who changed it (empty when it was deleted).
    pub managers: Vec<String>,
    /// The field paths that manager now owns.
    pub fields: Vec<String>,
    /// Whether the object was deleted.
    pub deleted: bool,
    /// When the watch saw it.
    pub seen_at: SystemTime,
}

/// What the watches of one cluster hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Kinds watched.
    pub kinds: usize,
    /// Objects held.
    pub objects: usize,
    /// When the oldest of their last listings finished.
    pub oldest_listing: Option<std::time::Instant>,
}

/// The watches and what they saw.
#[derive(Clone)]
pub struct DriftWatches {
    inner: Arc<Inner>,
}

struct Inner {
    queue: WorkQueue,
    /// By watch id (server and resource).
    watches: Mutex<HashMap<String, Watch>>,
    events: Mutex<VecDeque<DriftEvent>>,
    /// Applications with drift not yet answered by a full sync.
    drifted: Mutex<HashSet<String>>,
    /// Each Application's `ignoreDifferences`: a change to ignored fields only is no
    /// drift.
    ignore: Mutex<HashMap<String, Arc<Vec<IgnoreRule>>>>,
    /// `argocd-cm`'s tracking settings as last read: which app an object names.
    tracking: Arc<RwLock<Tracking>>,
}

/// One running watch and what it holds.
struct Watch {
    task: tokio::task::JoinHandle<()>,
    store: Arc<Mutex<KindStore>>,
    /// Its kind's group and kind.
    group_kind: (String, String),
}

/// Namespace (empty when cluster-scoped) and name.
type ObjectName = (String, String);

/// One object as a watch last saw it: its JSON text, decoded again when it is read (as a
/// tree of small maps it took about five times the memory, and most objects are read
/// only at the next full sync), and what the watch learnt from it at once.
#[derive(Debug)]
struct Seen {
    text: Box<str>,
    /// Its resourceVersion (a relist compares it: changed while the watch was away).
    resource_version: Box<str>,
    /// Its health when it was seen (what health checks read).
    health: Health,
    /// The `argocd-cm` health scripts it was judged under.
    health_generation: u64,
    /// Its instance label.
    instance: Option<String>,
}

impl Seen {
    fn of(object: &Value, text: Box<str>) -> Seen {
        Seen {
            text,
            resource_version: resource_version(object).into(),
            health_generation: flotilla_sync::health::health_scripts_generation(),
            health: flotilla_sync::health::assess(object),
            instance: instance_of(object).map(str::to_string),
        }
    }

    /// Its health, assessed again when the health scripts changed since it was seen.
    fn current_health(&self) -> Health {
        if self.health_generation == flotilla_sync::health::health_scripts_generation() {
            return self.health.clone();
        }
        self.object()
            .map(|object| flotilla_sync::health::assess(&object))
            .unwrap_or_else(|| self.health.clone())
    }

    /// The object, decoded from its text (which was valid JSON when it arrived), its
    /// managedFields' `fieldsV1` kept as text as the watch decodes them
    /// ([`flotilla_ssa::compact`]: only drift baselines and ignore rules read them).
    fn object(&self) -> Option<Value> {
        serde_json::from_str::<flotilla_ssa::compact::CompactValue>(&self.text)
            .ok()
            .map(|compact| compact.0)
    }
}

/// The labelled objects of one kind on one cluster, as a watch last saw them.
#[derive(Default)]
struct KindStore {
    /// Whether the first listing finished: until then the store cannot tell what exists.
    ready: bool,
    /// When the last (re)listing finished.
    listed_at: Option<std::time::Instant>,
    objects: Objects,
    /// While a (re)listing runs: what it has shown so far (replaces `objects` when done).
    listing: Option<Objects>,
    /// Watch events taken in (additions, changes, deletions; not what a listing shows).
    events: u64,
}

impl KindStore {
    /// Keeps `seen` as `name`; returns what it replaces.
    fn insert(&mut self, name: ObjectName, seen: Seen) -> Option<Seen> {
        self.listing
            .as_mut()
            .unwrap_or(&mut self.objects)
            .insert(name, seen)
    }
}

/// Objects by name, and their names by instance label value.
#[derive(Default)]
struct Objects {
    by_name: HashMap<ObjectName, Seen>,
    by_instance: HashMap<String, HashSet<ObjectName>>,
}

impl Objects {
    fn insert(&mut self, name: ObjectName, seen: Seen) -> Option<Seen> {
        if let Some(instance) = &seen.instance {
            self.by_instance
                .entry(instance.clone())
                .or_default()
                .insert(name.clone());
        }
        let instance = seen.instance.clone();
        let previous = self.by_name.insert(name.clone(), seen);
        // Relabelled: it no longer belongs to its former instance.
        if let Some(old) = previous.as_ref().and_then(|p| p.instance.as_deref())
            && Some(old) != instance.as_deref()
        {
            self.forget_instance(old, &name);
        }
        previous
    }

    fn remove(&mut self, name: &ObjectName) -> Option<Seen> {
        let removed = self.by_name.remove(name)?;
        if let Some(instance) = &removed.instance {
            self.forget_instance(instance, name);
        }
        Some(removed)
    }

    fn forget_instance(&mut self, instance: &str, name: &ObjectName) {
        if let Some(names) = self.by_instance.get_mut(instance) {
            names.remove(name);
            if names.is_empty() {
                self.by_instance.remove(instance);
            }
        }
    }

    fn labelled(&self, instance: &str) -> Vec<Value> {
        self.by_instance
            .get(instance)
            .into_iter()
            .flatten()
            .filter_map(|name| self.by_name.get(name)?.object())
            .collect()
    }
}

fn instance_of(object: &Value) -> Option<&str> {
    object
        .at("/metadata/labels")?
        .get(flotilla_sync::tracking::INSTANCE_LABEL)?
        .as_str()
}

fn name_of(object: &Value) -> ObjectName {
    let field = |f: &str| {
        object
            .get("metadata")
            .and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (field("namespace"), field("name"))
}

/// The watch of `resource` on the cluster at `server`, in `namespace` (`None`: all
/// namespaces, or cluster scope).
fn watch_id(server: &str, resource: &ApiResource, namespace: Option<&str>) -> String {
    let id = format!("{server}|{}/{}", resource.api_version, resource.plural);
    match namespace {
        Some(namespace) => format!("{id}|{namespace}"),
        None => id,
    }
}

/// The cache of one cluster, as the sync engine reads it.
struct ClusterView {
    inner: Arc<Inner>,
    server: String,
    /// The namespaces its watches are limited to (Argo CD's namespaced mode; empty: none).
    namespaces: Vec<String>,
}

impl ClusterView {
    /// The store holding `namespace` of `resource`: the kind's one watch, else (in
    /// namespaced mode) that namespace's.
    fn store(&self, resource: &ApiResource, namespace: &str) -> Option<Arc<Mutex<KindStore>>> {
        let watches = lock(&self.inner.watches);
        watches
            .get(&watch_id(&self.server, resource, None))
            .or_else(|| {
                (!namespace.is_empty())
                    .then(|| watches.get(&watch_id(&self.server, resource, Some(namespace))))
                    .flatten()
            })
            .map(|w| w.store.clone())
    }

    /// Every store of `resource`: its one watch's, else one per namespace — `None`
    /// unless all of them exist.
    fn stores(&self, resource: &ApiResource) -> Option<Vec<Arc<Mutex<KindStore>>>> {
        let watches = lock(&self.inner.watches);
        if let Some(watch) = watches.get(&watch_id(&self.server, resource, None)) {
            return Some(vec![watch.store.clone()]);
        }
        if self.namespaces.is_empty() {
            return None;
        }
        self.namespaces
            .iter()
            .map(|namespace| {
                watches
                    .get(&watch_id(&self.server, resource, Some(namespace)))
                    .map(|w| w.store.clone())
            })
            .collect()
    }
}

impl flotilla_sync::cluster::LiveCache for ClusterView {
    fn labelled(&self, resource: &ApiResource, label_value: &str) -> Option<Vec<Value>> {
        let mut objects = Vec::new();
        for store in self.stores(resource)? {
            let store = lock(&store);
            if !store.ready {
                return None;
            }
            objects.extend(store.objects.labelled(label_value));
        }
        Some(objects)
    }

    /// The health stored when the watch saw the object: nothing is decoded, unless the
    /// `argocd-cm` health scripts changed since.
    fn health(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Option<Option<Health>> {
        let store = self.store(resource, namespace)?;
        let store = lock(&store);
        let key = (namespace.to_string(), name.to_string());
        store.ready.then(|| {
            store
                .objects
                .by_name
                .get(&key)
                .map(|seen| seen.current_health())
        })
    }

    /// Another app's object: its instance label differs from `label_value`, and its
    /// tracking annotation names the app in full (decoded only then).
    fn claimed_by_other(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        app: &AppId,
    ) -> Option<Option<String>> {
        let store = self.store(resource, namespace)?;
        let store = lock(&store);
        let key = (namespace.to_string(), name.to_string());
        store.ready.then(|| {
            let seen = store.objects.by_name.get(&key)?;
            // Flotilla's own label says whose it is without decoding the object.
            if seen
                .instance
                .as_deref()
                .is_none_or(|i| i == app.label_value())
            {
                return None;
            }
            let other = app.tracking.app_of(&seen.object()?)?;
            (other != app.instance()).then(|| other.replace('_', "/"))
        })
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for watch in lock(&self.watches).values() {
            watch.task.abort();
        }
    }
}

impl DriftWatches {
    /// Watches that queue drifted applications on `queue`, reading which app an object
    /// belongs to by the `tracking` settings of the moment.
    pub fn new(queue: WorkQueue, tracking: Arc<RwLock<Tracking>>) -> DriftWatches {
        DriftWatches {
            inner: Arc::new(Inner {
                queue,
                watches: Mutex::default(),
                events: Mutex::default(),
                drifted: Mutex::default(),
                ignore: Mutex::default(),
                tracking,
            }),
        }
    }

    /// Makes sure objects of `resolved` on `cluster` (at `server`) are watched where its
    /// scope lets them be read: one watch for the kind, or one per namespace.
    pub fn ensure(
        &self,
        server: &str,
        cluster: &flotilla_sync::Cluster,
        resolved: &flotilla_sync::cluster::Resolved,
    ) {
        let mut watches = lock(&self.inner.watches);
        for namespace in cluster.scope().namespaces_of(resolved.namespaced) {
            let id = watch_id(server, &resolved.resource, namespace);
            if watches.get(&id).is_some_and(|w| !w.task.is_finished()) {
                continue;
            }
            let store = Arc::new(Mutex::new(KindStore::default()));
            let task = tokio::spawn(watch(
                Arc::downgrade(&self.inner),
                store.clone(),
                server.to_string(),
                // The hub's own credentials, as Argo CD's cache watches: a sync that
                // impersonates a service account must not make the watch its.
                cluster.reader().clone(),
                resolved.resource.clone(),
                namespace.map(str::to_string),
            ));
            let group_kind = (
                resolved.resource.group.clone(),
                resolved.resource.kind.clone(),
            );
            watches.insert(
                id,
                Watch {
                    task,
                    store,
                    group_kind,
                },
            );
        }
    }

    /// Stops the watches on the cluster at `server` (its registration changed: the
    /// next syncs start them again with its new credentials and scope).
    pub fn forget_server(&self, server: &str) {
        let prefix = format!("{server}|");
        lock(&self.inner.watches).retain(|id, watch| {
            let kept = !id.starts_with(&prefix);
            if !kept {
                watch.task.abort();
            }
            kept
        });
    }

    /// The cache of the cluster at `server`, whose watches are limited to `scope`, for
    /// its [`flotilla_sync::Cluster`].
    pub fn view(
        &self,
        server: &str,
        scope: &flotilla_sync::ClusterScope,
    ) -> Arc<dyn flotilla_sync::cluster::LiveCache> {
        Arc::new(ClusterView {
            inner: self.inner.clone(),
            server: server.to_string(),
            namespaces: scope.namespaces.clone(),
        })
    }

    /// What the watches of each cluster hold, by server URL (Argo CD's cluster cache
    /// info).
    pub fn cluster_stats(&self) -> std::collections::BTreeMap<String, CacheStats> {
        let mut out: std::collections::BTreeMap<String, CacheStats> = Default::default();
        let mut kinds: HashSet<(String, String)> = HashSet::new();
        for (id, watch) in lock(&self.inner.watches).iter() {
            let mut parts = id.splitn(3, '|');
            let (Some(server), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let stats = out.entry(server.to_string()).or_default();
            if kinds.insert((server.to_string(), kind.to_string())) {
                stats.kinds += 1;
            }
            let store = lock(&watch.store);
            stats.objects += store.objects.by_name.len();
            stats.oldest_listing = match (stats.oldest_listing, store.listed_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        out
    }

    /// The watch events taken in so far, by server URL, group and kind (Argo CD's
    /// `argocd_cluster_events_total`); a cluster's count starts again when its watches
    /// are made again (a changed registration).
    pub fn event_counts(&self) -> std::collections::BTreeMap<(String, String, String), u64> {
        let mut out = std::collections::BTreeMap::new();
        for (id, watch) in lock(&self.inner.watches).iter() {
            let Some((server, _)) = id.split_once('|') else {
                continue;
            };
            let (group, kind) = watch.group_kind.clone();
            *out.entry((server.to_string(), group, kind)).or_default() += lock(&watch.store).events;
        }
        out
    }

    /// Drift events seen so far (the most recent last, at most the last 1,024).
    pub fn events(&self) -> Vec<DriftEvent> {
        lock(&self.inner.events).iter().cloned().collect()
    }

    /// Keeps `rules` (the app's `ignoreDifferences`) for judging its objects' changes.
    pub fn set_ignore_rules(&self, app: &str, rules: &[IgnoreRule]) {
        let mut ignore = lock(&self.inner.ignore);
        if rules.is_empty() {
            ignore.remove(app);
        } else if ignore.get(app).is_none_or(|kept| kept.as_slice() != rules) {
            ignore.insert(app.to_string(), Arc::new(rules.to_vec()));
        }
    }

    /// Whether `app` drifted since the last call for it (which clears the mark): its
    /// next reconcile must apply in full.
    pub fn take_drifted(&self, app: &str) -> bool {
        lock(&self.inner.drifted).remove(app)
    }

    /// Marks `app` drifted again without queueing it: drift taken by a reconcile that
    /// did not heal it yet (a self-heal backing off), for the reconcile that will.
    pub fn mark_drifted(&self, app: &str) {
        lock(&self.inner.drifted).insert(app.to_string());
    }
}

async fn watch(
    inner: std::sync::Weak<Inner>,
    store: Arc<Mutex<KindStore>>,
    server: String,
    client: kube::Client,
    resource: ApiResource,
    namespace: Option<String>,
) {
    let api: Api<crate::raw::TextObject> = match &namespace {
        Some(namespace) => Api::namespaced_with(client, namespace, &resource),
        None => Api::all_with(client, &resource),
    };
    let config = watcher::Config::default().labels(flotilla_sync::tracking::INSTANCE_LABEL);
    let mut events = crate::controller::watch_with_backoff(api, config);
    while let Some(event) = events.next().await {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let (object, deleted) = match event {
            Ok(watcher::Event::Apply(o)) => (o, false),
            Ok(watcher::Event::Delete(o)) => (o, true),
            // A (re)listing shows what is there, not what changed.
            Ok(watcher::Event::Init) => {
                lock(&store).listing = Some(Objects::default());
                continue;
            }
            // After the first listing, a relist also shows what changed while the watch
            // was away (a 410 after a long outage): those changes are drift as much as
            // the ones a watch event shows.
            Ok(watcher::Event::InitApply(o)) => {
                let (value, text) = o.into_parts();
                let name = name_of(&value);
                let changed_while_away = {
                    let mut store = lock(&store);
                    let changed = store.ready
                        && store.objects.by_name.get(&name).is_none_or(|seen| {
                            seen.resource_version.as_ref() != resource_version(&value)
                        });
                    store.insert(name, Seen::of(&value, text));
                    changed
                };
                if changed_while_away
                    && let Some(event) = drift_of(&value, false, &server, &tracking(&inner))
                    && !ignores_all(&inner, &event, &value)
                {
                    report(&inner, event);
                }
                continue;
            }
            Ok(watcher::Event::InitDone) => {
                let (gone, unsettled) = {
                    let mut store = lock(&store);
                    let mut gone = Vec::new();
                    let mut unsettled = Vec::new();
                    if let Some(listed) = store.listing.take() {
                        if store.ready {
                            gone = store
                                .objects
                                .by_name
                                .iter()
                                .filter(|(name, _)| !listed.by_name.contains_key(*name))
                                .filter_map(|(_, seen)| seen.object())
                                .collect();
                            unsettled = health_changes(&store.objects, &listed, &tracking(&inner));
                        }
                        store.objects = listed;
                    }
                    store.ready = true;
                    store.listed_at = Some(std::time::Instant::now());
                    (gone, unsettled)
                };
                for object in gone {
                    if let Some(event) = drift_of(&object, true, &server, &tracking(&inner)) {
                        report(&inner, event);
                    }
                }
                // Queued once the store holds the listing: their health checks read it.
                for app in unsettled {
                    inner.queue.add(app);
                }
                continue;
            }
            Err(e) => {
                tracing::debug!(%server, error = %e, "drift watch");
                continue;
            }
        };
        let (value, text) = object.into_parts();
        let name = name_of(&value);
        let (previous, health) = if deleted {
            let mut store = lock(&store);
            store.events += 1;
            (store.objects.remove(&name), None)
        } else {
            let seen = Seen::of(&value, text);
            let health = seen.health.status;
            let mut store = lock(&store);
            store.events += 1;
            (store.insert(name, seen), Some(health))
        };
        if let Some(event) = drift_of(&value, deleted, &server, &tracking(&inner))
            .filter(|event| !ignores_all(&inner, event, &value))
        {
            report(&inner, event);
        } else if health_changed(previous.map(|p| p.health.status), health)
            && let Some(app) = owner_of(&value, &tracking(&inner))
        {
            inner.queue.add(app);
        }
    }
}

/// Whether every field the other managers now own is one the app's
/// `ignoreDifferences` leave out (pointers, jq expressions, `managedFieldsManagers`):
/// then the change is not drift.
fn ignores_all(inner: &Inner, event: &DriftEvent, object: &Value) -> bool {
    if event.deleted {
        return false;
    }
    let Some(rules) = lock(&inner.ignore).get(&event.app).cloned() else {
        return false;
    };
    let key = flotilla_sync::ObjectKey::of(object);
    let ignored = flotilla_sync::ignore::ignored_paths(object, &key, &rules, Some(object));
    if ignored.is_empty() {
        return false;
    }
    flotilla_sync::ignore::manager_sets(object, &event.managers)
        .iter()
        .flat_map(|set| set.leaves().paths())
        .all(|path| {
            flotilla_sync::ignore::resolve_field_path(object, path.elements())
                .is_some_and(|found| ignored.iter().any(|p| found.starts_with(p)))
        })
}

/// Counts and keeps a drift event, marks its app drifted and queues it.
fn report(inner: &Inner, event: DriftEvent) {
    tracing::info!(app = %event.app, object = %event.object, managers = ?event.managers, fields = ?event.fields, deleted = event.deleted, "drift");
    crate::metrics::global().drift(&event.server);
    // Marked before it is queued: the reconcile it triggers must see the mark.
    lock(&inner.drifted).insert(event.app.clone());
    inner.queue.add(event.app.clone());
    let mut kept = lock(&inner.events);
    kept.push_back(event);
    while kept.len() > KEPT_EVENTS {
        kept.pop_front();
    }
}

/// `metadata.resourceVersion` of a watched object.
fn resource_version(object: &Value) -> &str {
    object
        .at("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Whether an object's health differs from its previous copy's (`None`: not seen before,
/// or deleted). A first sighting is not a change: the sync that created the object read
/// its health from the answer.
fn health_changed(previous: Option<HealthStatus>, now: Option<HealthStatus>) -> bool {
    matches!((previous, now), (Some(p), Some(n)) if p != n)
}

/// The apps (`namespace/name`) owning an object whose health a relist shows changed — a
/// status written while the watch was away is no drift, but the app's health must follow
/// it as it follows a watch event's.
fn health_changes(before: &Objects, listed: &Objects, tracking: &Tracking) -> Vec<String> {
    listed
        .by_name
        .iter()
        .filter(|(name, seen)| {
            before.by_name.get(*name).is_some_and(|old| {
                health_changed(Some(old.health.status), Some(seen.health.status))
            })
        })
        .filter_map(|(_, seen)| owner_of(&seen.object()?, tracking))
        .collect()
}

/// The tracking settings of the moment (read in place: every watch event asks).
fn tracking(inner: &Inner) -> std::sync::RwLockReadGuard<'_, Tracking> {
    inner.tracking.read().unwrap_or_else(|e| e.into_inner())
}

/// The application (`namespace/name`) that applied the object, from its tracking.
fn owner_of(object: &Value, tracking: &Tracking) -> Option<String> {
    let instance = tracking.app_of(object)?;
    Some(crate::application::application_key(&instance))
}

/// The drift an observed object shows, if any: deleted, or changed by another manager
/// (outside the status subresource) after our last apply.
pub fn drift_of(
    object: &Value,
    deleted: bool,
    server: &str,
    tracking: &Tracking,
) -> Option<DriftEvent> {
    let app = owner_of(object, tracking)?;
    let (namespace, name) = name_of(object);
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let object_name = format!("{kind} {namespace}/{name}");
    if deleted {
        return Some(DriftEvent {
            app,
            server: server.to_string(),
            object: object_name,
            managers: Vec::new(),
            fields: Vec::new(),
            deleted: true,
            seen_at: SystemTime::now(),
        });
    }
    let entries: Vec<&Value> = object
        .at("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e.get("subresource")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
        })
        .collect();
    let ours = entries
        .iter()
        .filter(|e| e.get("manager").and_then(Value::as_str) == Some(flotilla_sync::FIELD_MANAGER))
        .filter_map(|e| e.get("time").and_then(Value::as_str))
        .max()?;
    let mut managers = Vec::new();
    let mut fields = Vec::new();
    for e in &entries {
        let manager = e.get("manager").and_then(Value::as_str).unwrap_or("");
        let time = e.get("time").and_then(Value::as_str).unwrap_or("");
        if manager == flotilla_sync::FIELD_MANAGER || time < ours {
            continue;
        }
        managers.push(manager.to_string());
        if let Some(set) = e
            .get("fieldsV1")
            .and_then(|f| flotilla_ssa::fieldsv1::from_value(f).ok())
        {
            fields.extend(set.leaves().paths().iter().map(|p| p.to_string()));
        }
    }
    if managers.is_empty() {
        return None;
    }
    Some(DriftEvent {
        app,
        server: server.to_string(),
        object: object_name,
        managers,
        fields,
        deleted: false,
        seen_at: SystemTime::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(entries: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "shop",
                "labels": {"app.flotilla.dev/instance": "web"},
                "annotations": {"argocd.argoproj.io/tracking-id": "web:apps/Deployment:shop/web"},
                "managedFields": entries,
            }
        })
    }

    #[test]
    fn a_later_edit_by_another_manager_is_drift_with_its_fields() {
        let o = object(json!([
            {"manager": "flotilla", "operation": "Apply", "time": "2026-01-01T00:00:00Z",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-edit", "operation": "Update", "time": "2026-01-01T00:00:05Z",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "time": "2026-01-01T00:00:09Z", "fieldsV1": {"f:status": {"f:replicas": {}}}}
        ]));
        let d = drift_of(&o, false, "https://c", &Tracking::default()).unwrap();
        assert_eq!(d.app, "argocd/web");
        assert_eq!(d.object, "Deployment shop/web");
        assert_eq!(d.managers, ["kubectl-edit"]);
        assert_eq!(d.fields, [".spec.replicas"]);
        // As the watch caches it (fieldsV1 as JSON text), the same drift is seen.
        let line = serde_json::to_vec(&json!({"type": "MODIFIED", "object": o})).unwrap();
        let event: kube::core::WatchEvent<crate::raw::CompactObject> =
            serde_json::from_slice(&line).unwrap();
        let kube::core::WatchEvent::Modified(cached) = event else {
            panic!("a MODIFIED event");
        };
        let cached = Value::from(cached);
        assert!(
            cached
                .at("/metadata/managedFields/1/fieldsV1")
                .unwrap()
                .is_string()
        );
        let d = drift_of(&cached, false, "https://c", &Tracking::default()).unwrap();
        assert_eq!(d.managers, ["kubectl-edit"]);
        assert_eq!(d.fields, [".spec.replicas"]);
    }

    #[test]
    fn our_own_apply_and_status_writes_are_not_drift() {
        let o = object(json!([
            {"manager": "kubectl-edit", "operation": "Update", "time": "2026-01-01T00:00:00Z",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:x": {}}}}},
            {"manager": "flotilla", "operation": "Apply", "time": "2026-01-01T00:00:05Z",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "time": "2026-01-01T00:00:09Z", "fieldsV1": {"f:status": {}}}
        ]));
        assert!(drift_of(&o, false, "https://c", &Tracking::default()).is_none());
        assert!(
            drift_of(&o, true, "https://c", &Tracking::default())
                .unwrap()
                .deleted
        );
        let mut untracked = o.clone();
        untracked["metadata"]["annotations"] = json!({});
        assert!(drift_of(&untracked, true, "https://c", &Tracking::default()).is_none());
    }

    /// Which Application an object belongs to follows Argo CD's tracking settings and
    /// instance names.
    #[test]
    fn the_owner_is_read_as_the_tracking_settings_say() {
        let mut o = object(json!([]));
        let annotation = Tracking::default();
        assert_eq!(owner_of(&o, &annotation).as_deref(), Some("argocd/web"));
        o["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] =
            json!("team-a_web:apps/Deployment:shop/web");
        assert_eq!(owner_of(&o, &annotation).as_deref(), Some("team-a/web"));
        // Another installation's objects are nobody's here.
        let installed = Tracking::from_settings(None, None, Some("hub-1"));
        assert_eq!(owner_of(&o, &installed), None);
        // Under label tracking the label names the app, and the annotation counts not.
        let label = Tracking::from_settings(Some("label"), None, None);
        assert_eq!(owner_of(&o, &label), None);
        o["metadata"]["labels"]["app.kubernetes.io/instance"] = json!("web");
        assert_eq!(owner_of(&o, &label).as_deref(), Some("argocd/web"));
    }

    fn labelled(name: &str, instance: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "shop",
                         "labels": {"app.flotilla.dev/instance": instance}},
        })
    }

    /// `object` as a watch keeps it: decoded from its JSON text.
    fn seen(object: &Value) -> (ObjectName, Seen) {
        let text = serde_json::to_string(object).unwrap();
        let decoded: crate::raw::TextObject = serde_json::from_str(&text).unwrap();
        let (value, text) = decoded.into_parts();
        (name_of(&value), Seen::of(&value, text))
    }

    fn insert(objects: &mut Objects, object: Value) -> Option<Seen> {
        let (name, seen) = seen(&object);
        objects.insert(name, seen)
    }

    #[test]
    fn the_cache_finds_objects_by_instance_and_name_and_follows_relabelling() {
        let mut objects = Objects::default();
        assert!(insert(&mut objects, labelled("a", "argocd_web")).is_none());
        insert(&mut objects, labelled("b", "argocd_web"));
        insert(&mut objects, labelled("c", "argocd_db"));
        let mut found = objects.labelled("argocd_web");
        found.sort_by_key(|o| o["metadata"]["name"].as_str().map(str::to_string));
        assert_eq!(
            found,
            [labelled("a", "argocd_web"), labelled("b", "argocd_web")]
        );
        // Relabelled to another app: found under the new instance only.
        assert!(insert(&mut objects, labelled("b", "argocd_db")).is_some());
        assert_eq!(objects.labelled("argocd_web").len(), 1);
        assert_eq!(objects.labelled("argocd_db").len(), 2);
        // Deleted: gone from both indexes.
        let a = ("shop".to_string(), "a".to_string());
        assert!(objects.remove(&a).is_some());
        assert!(objects.labelled("argocd_web").is_empty());
        assert!(!objects.by_instance.contains_key("argocd_web"));
        assert!(
            objects
                .by_name
                .contains_key(&("shop".to_string(), "c".to_string()))
        );
    }

    #[test]
    fn a_kept_object_is_its_text_and_its_health_when_seen() {
        let deployment = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "generation": 2,
                         "labels": {"app.flotilla.dev/instance": "argocd_web"},
                         "managedFields": [{"manager": "flotilla", "operation": "Apply",
                                            "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 1},
        });
        let (name, seen) = seen(&deployment);
        assert_eq!(name, ("shop".to_string(), "web".to_string()));
        assert_eq!(seen.instance.as_deref(), Some("argocd_web"));
        // The text is what the server sent, and reads back as it (fieldsV1 as its text).
        let read = seen.object().unwrap();
        let fields = read.at("/metadata/managedFields/0/fieldsV1").unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(fields.as_str().unwrap()).unwrap(),
            deployment["metadata"]["managedFields"][0]["fieldsV1"]
        );
        let mut as_sent = read.clone();
        as_sent["metadata"]["managedFields"][0]["fieldsV1"] =
            deployment["metadata"]["managedFields"][0]["fieldsV1"].clone();
        assert_eq!(as_sent, deployment);
        assert_eq!(*seen.text, *serde_json::to_string(&deployment).unwrap());
        // Not yet observed at its generation: Argo CD's check says Progressing.
        assert_eq!(seen.health, flotilla_sync::health::assess(&deployment));
        assert_eq!(seen.health.status, HealthStatus::Progressing);
    }

    #[test]
    fn a_store_cannot_tell_until_its_first_listing_is_done() {
        let mut store = KindStore {
            listing: Some(Objects::default()),
            ..KindStore::default()
        };
        let (name, seen) = seen(&labelled("a", "argocd_web"));
        store.insert(name, seen);
        // Listed objects wait in `listing` until the listing is done.
        assert!(store.objects.labelled("argocd_web").is_empty());
        assert!(!store.ready);
    }

    #[test]
    fn a_deployment_becoming_available_is_a_health_change() {
        let deployment = |available: &str| {
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "generation": 1},
                "spec": {"replicas": 1},
                "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                           "availableReplicas": if available == "True" { 1 } else { 0 },
                           "conditions": [{"type": "Available", "status": available}]},
            })
        };
        let health = |o: &Value| Some(flotilla_sync::health::assess(o).status);
        let progressing = health(&deployment("False"));
        let available = health(&deployment("True"));
        assert!(health_changed(progressing, available));
        assert!(!health_changed(available, available));
        assert!(!health_changed(None, available));
        // Deleted: drift, not a health change.
        assert!(!health_changed(available, None));
    }

    #[test]
    fn a_relist_names_the_apps_whose_objects_changed_health() {
        let service = |name: &str, ingress: bool| {
            let mut service = labelled(name, "web");
            service["kind"] = json!("Service");
            service["metadata"]["annotations"] = json!({
                "argocd.argoproj.io/tracking-id": format!("web:/Service:shop/{name}")
            });
            service["spec"] = json!({"type": "LoadBalancer"});
            service["status"] = if ingress {
                json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}})
            } else {
                json!({"loadBalancer": {}})
            };
            service
        };
        let mut before = Objects::default();
        insert(&mut before, service("lb", true));
        insert(&mut before, service("steady", true));
        let mut listed = Objects::default();
        // Its address taken away while the watch was away: Healthy → Progressing.
        insert(&mut listed, service("lb", false));
        insert(&mut listed, service("steady", true));
        // First seen in this listing: the sync that made it read its health.
        insert(&mut listed, service("new", false));
        let tracking = Tracking::default();
        assert_eq!(health_changes(&before, &listed, &tracking), ["argocd/web"]);
        assert!(health_changes(&listed, &listed, &tracking).is_empty());
    }
}
