//! The revision log of one cluster, kine-style.
//!
//! Every write takes the next value of one monotonic counter; that value is the
//! object's `resourceVersion` and the position of its event in the log. A bounded
//! window of recent events lets a watch resume from any resourceVersion still in
//! it; anything older is compacted and answers 410 Expired. No-op writes never
//! reach the store, so they bump nothing and emit nothing.

use crate::meta::Lookup as _;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::resources::StorageKey;

/// Namespace ("" when cluster-scoped) and name of a stored object.
pub type ObjectKey = (String, String);

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed from the store.
    Deleted,
}

impl EventType {
    /// The watch event's `type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One entry of the revision log.
#[derive(Debug)]
pub struct Event {
    /// What happened.
    pub kind: EventType,
    /// Which resource.
    pub resource: StorageKey,
    /// Namespace and name.
    pub key: ObjectKey,
    /// The revision of this change.
    pub revision: u64,
    /// The object after the change (for Deleted: its last state, carrying this revision).
    pub object: Arc<Value>,
    /// The object before the change, for watchers whose selector it stopped or started matching.
    pub previous: Option<Arc<Value>>,
    /// `object` as JSON, encoded by the first watcher that sends it as stored and shared
    /// by the others (a popular resource has many watchers).
    pub encoded: std::sync::OnceLock<bytes::Bytes>,
}

impl Event {
    /// The object as JSON (see [`Event::encoded`]).
    pub fn encoded_object(&self) -> &bytes::Bytes {
        self.encoded.get_or_init(|| {
            bytes::Bytes::from(serde_json::to_vec(self.object.as_ref()).unwrap_or_default())
        })
    }
}

/// The default number of events kept for watch resumption per cluster. (The apiserver's
/// watch cache keeps far fewer per resource; older resourceVersions answer 410 and clients
/// relist.)
pub const DEFAULT_LOG_WINDOW: usize = 10_000;

/// Objects and the log, guarded together so a watch can start exactly where a list ended.
pub struct State {
    revision: u64,
    tables: HashMap<StorageKey, BTreeMap<ObjectKey, Arc<Value>>>,
    log: VecDeque<Arc<Event>>,
    log_window: usize,
    /// Events at or below this revision are gone from the log.
    compacted: u64,
    /// Owner uid → dependents, for garbage collection.
    dependents: HashMap<String, BTreeSet<(StorageKey, ObjectKey)>>,
    events: broadcast::Sender<Arc<Event>>,
    /// Where committed events are persisted, with `--data-dir`.
    persist: Option<crate::persist::Sink>,
}

/// A cluster's storage: state behind one lock, and the event fan-out.
pub struct Store {
    state: Mutex<State>,
    events: broadcast::Sender<Arc<Event>>,
}

impl Store {
    /// An empty store whose first write gets revision `first_revision + 1`.
    pub fn new(first_revision: u64, log_window: usize) -> Self {
        Store::with_persistence(first_revision, log_window, None)
    }

    /// Like [`Store::new`], persisting every committed event through `persist`.
    pub fn with_persistence(
        first_revision: u64,
        log_window: usize,
        persist: Option<crate::persist::Sink>,
    ) -> Self {
        // Sized for bursts between a watcher's reads; a watcher that falls further behind gets 410
        // and relists. (tokio preallocates every slot: 65,536 cost ~3 MB per cluster.)
        let (events, _) = broadcast::channel(8_192);
        Store {
            state: Mutex::new(State {
                revision: first_revision,
                tables: HashMap::new(),
                log: VecDeque::new(),
                log_window: log_window.max(1),
                compacted: first_revision,
                dependents: HashMap::new(),
                events: events.clone(),
                persist,
            }),
            events,
        }
    }

    /// A store holding what `snapshot` saved, persisting on through `persist`. The saved
    /// events are the log again, so watches resume across the restart.
    pub fn restore(
        snapshot: crate::persist::Snapshot,
        log_window: usize,
        persist: Option<crate::persist::Sink>,
    ) -> Self {
        let store = Store::with_persistence(snapshot.revision, log_window, persist);
        store.with(|s| {
            for (resource, key, object) in snapshot.objects {
                let object = Arc::new(object);
                s.index_owners(&resource, &key, &object);
                s.tables.entry(resource).or_default().insert(key, object);
            }
            let keep = snapshot.events.len().min(s.log_window);
            let skip = snapshot.events.len() - keep;
            s.compacted = snapshot.compacted;
            let mut dropped = snapshot.events.into_iter();
            for event in dropped.by_ref().take(skip) {
                s.compacted = s.compacted.max(event.revision);
            }
            s.log.extend(dropped.map(Arc::new));
        });
        store
    }

    /// Run `f` with the state locked. Writes inside are atomic with respect to every reader.
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock())
    }

    /// A receiver of every event committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }
}

impl State {
    /// The latest revision.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The oldest revision a watch may still start from (exclusive lower bound).
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// Forget every logged event: watches from any older revision will get 410.
    pub fn compact(&mut self) {
        self.log.clear();
        self.compacted = self.revision;
        if let Some(p) = &self.persist {
            p.compact(self.revision);
        }
    }

    /// A receiver of every event committed after this call; taken under the lock together
    /// with [`State::events_since`] so a watch neither misses nor repeats an event.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Take the next revision for a write about to be committed.
    pub fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    /// The stored object, if present.
    pub fn get(&self, resource: &StorageKey, key: &ObjectKey) -> Option<&Arc<Value>> {
        self.tables.get(resource)?.get(key)
    }

    /// Objects of `resource` in key order, optionally limited to one namespace and
    /// starting after `after` (exclusive), for paginated lists.
    pub fn range<'a>(
        &'a self,
        resource: &StorageKey,
        namespace: Option<&'a str>,
        after: Option<&ObjectKey>,
    ) -> Box<dyn Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let Some(table) = self.tables.get(resource) else {
            return Box::new(std::iter::empty());
        };
        let lower = match (after, namespace) {
            (Some(a), _) => Excluded(a.clone()),
            (None, Some(ns)) => Included((ns.to_string(), String::new())),
            (None, None) => Unbounded,
        };
        let iter = table.range((lower, Unbounded));
        match namespace {
            Some(ns) => Box::new(iter.take_while(move |(k, _)| k.0 == ns)),
            None => Box::new(iter),
        }
    }

    /// Number of objects of `resource` (all namespaces).
    pub fn count(&self, resource: &StorageKey) -> usize {
        self.tables.get(resource).map_or(0, BTreeMap::len)
    }

    /// Resources that currently hold at least one object.
    pub fn resources(&self) -> Vec<StorageKey> {
        self.tables
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Dependents recorded for an owner uid.
    pub fn dependents_of(&self, owner_uid: &str) -> Vec<(StorageKey, ObjectKey)> {
        self.dependents
            .get(owner_uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Store an object whose `metadata.resourceVersion` is already `revision`, and log it.
    pub fn put(
        &mut self,
        resource: &StorageKey,
        key: ObjectKey,
        object: Value,
        revision: u64,
    ) -> Arc<Value> {
        let object = Arc::new(object);
        let table = self.tables.entry(resource.clone()).or_default();
        let previous = table.insert(key.clone(), object.clone());
        if let Some(prev) = &previous {
            self.unindex_owners(resource, &key, prev);
        }
        self.index_owners(resource, &key, &object);
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.log_event(Event {
            kind,
            resource: resource.clone(),
            key,
            revision,
            object: object.clone(),
            previous,
            encoded: Default::default(),
        });
        object
    }

    /// Remove an object; `last_state` (carrying `revision`) is what watchers receive.
    pub fn remove(
        &mut self,
        resource: &StorageKey,
        key: &ObjectKey,
        last_state: Value,
        revision: u64,
    ) -> Option<Arc<Value>> {
        let previous = self.tables.get_mut(resource)?.remove(key)?;
        self.unindex_owners(resource, key, &previous);
        let object = Arc::new(last_state);
        self.log_event(Event {
            kind: EventType::Deleted,
            resource: resource.clone(),
            key: key.clone(),
            revision,
            object: object.clone(),
            previous: Some(previous),
            encoded: Default::default(),
        });
        Some(object)
    }

    /// Drop a whole resource's objects without events (a CRD's table once its objects are deleted).
    pub fn drop_table(&mut self, resource: &StorageKey) {
        self.tables.remove(resource);
    }

    /// Logged events after `revision`, or `None` when that revision was compacted.
    pub fn events_since(&self, revision: u64) -> Option<Vec<Arc<Event>>> {
        if revision < self.compacted {
            return None;
        }
        let start = self.log.partition_point(|e| e.revision <= revision);
        Some(self.log.range(start..).cloned().collect())
    }

    fn log_event(&mut self, event: Event) {
        let event = Arc::new(event);
        if self.log.len() >= self.log_window
            && let Some(old) = self.log.pop_front()
        {
            self.compacted = old.revision;
        }
        self.log.push_back(event.clone());
        if let Some(p) = &self.persist {
            p.event(&event);
        }
        // Nobody listening is fine: watches subscribe when they start.
        let _ = self.events.send(event);
    }

    fn index_owners(&mut self, resource: &StorageKey, key: &ObjectKey, object: &Value) {
        for uid in owner_uids(object) {
            self.dependents
                .entry(uid.to_string())
                .or_default()
                .insert((resource.clone(), key.clone()));
        }
    }

    fn unindex_owners(&mut self, resource: &StorageKey, key: &ObjectKey, object: &Value) {
        for uid in owner_uids(object) {
            if let Some(set) = self.dependents.get_mut(uid) {
                set.remove(&(resource.clone(), key.clone()));
                if set.is_empty() {
                    self.dependents.remove(uid);
                }
            }
        }
    }
}

fn owner_uids(object: &Value) -> impl Iterator<Item = &str> {
    object
        .at("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(ns: &str, name: &str) -> ObjectKey {
        (ns.into(), name.into())
    }

    #[test]
    fn revisions_are_monotonic_and_events_resume_after_a_revision() {
        let store = Store::new(100, 10);
        let cm = StorageKey::new("", "configmaps");
        store.with(|s| {
            for i in 0..3 {
                let rv = s.next_revision();
                s.put(&cm, key("a", &format!("c{i}")), json!({"i": i}), rv);
            }
            assert_eq!(s.revision(), 103);
            let since = s.events_since(101).expect("not compacted");
            assert_eq!(
                since.iter().map(|e| e.revision).collect::<Vec<_>>(),
                [102, 103]
            );
        });
    }

    #[test]
    fn window_overflow_compacts_and_old_revisions_expire() {
        let store = Store::new(0, 2);
        let cm = StorageKey::new("", "configmaps");
        store.with(|s| {
            for i in 0..4 {
                let rv = s.next_revision();
                s.put(&cm, key("a", "c"), json!({"i": i}), rv);
            }
            assert!(s.events_since(1).is_none(), "revision 1 was compacted");
            assert_eq!(s.events_since(2).expect("kept").len(), 2);
        });
    }

    #[test]
    fn range_stays_inside_the_namespace_and_after_the_cursor() {
        let store = Store::new(0, 10);
        let cm = StorageKey::new("", "configmaps");
        store.with(|s| {
            for (ns, n) in [("a", "x"), ("b", "x"), ("b", "y"), ("c", "x")] {
                let rv = s.next_revision();
                s.put(&cm, key(ns, n), json!({}), rv);
            }
            let names: Vec<_> = s
                .range(&cm, Some("b"), None)
                .map(|(k, _)| k.1.clone())
                .collect();
            assert_eq!(names, ["x", "y"]);
            let after: Vec<_> = s
                .range(&cm, Some("b"), Some(&key("b", "x")))
                .map(|(k, _)| k.1.clone())
                .collect();
            assert_eq!(after, ["y"]);
            assert_eq!(s.range(&cm, None, Some(&key("b", "y"))).count(), 1);
        });
    }

    #[test]
    fn owner_index_follows_owner_references() {
        let store = Store::new(0, 10);
        let rs = StorageKey::new("apps", "replicasets");
        store.with(|s| {
            let rv = s.next_revision();
            s.put(
                &rs,
                key("a", "r"),
                json!({"metadata":{"ownerReferences":[{"uid":"u1"}]}}),
                rv,
            );
            assert_eq!(s.dependents_of("u1").len(), 1);
            let rv = s.next_revision();
            s.remove(&rs, &key("a", "r"), json!({}), rv);
            assert!(s.dependents_of("u1").is_empty());
        });
    }
}
