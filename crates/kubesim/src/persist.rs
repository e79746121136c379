//! Persistence for `kubesim serve --data-dir DIR`: every cluster's objects, revision and
//! recent events in one redb database, `DIR/kubesim.redb`.
//!
//! Writes never wait for the disk. Each committed event is handed (under the store lock, so
//! in revision order) to a bounded queue; one writer thread drains whatever has queued and
//! commits it as a single redb transaction (group commit: one fsync per batch, however many
//! writes it holds). The durability this gives:
//!
//! * an acknowledged write reaches the disk within one commit of the writer, normally a few
//!   milliseconds; the queue holds at most [`QUEUE_CAPACITY`] writes, beyond which writers
//!   wait for the disk (that bounds the lag);
//! * [`Persistence::close`] (kubesim's orderly shutdown) commits everything and marks the
//!   database clean;
//! * after a crash, the writes still queued are lost. resourceVersions still never go back:
//!   on opening a database that was not closed cleanly, every cluster's revision jumps by
//!   [`REVISION_GAP`] (more than the queue and a batch can hold) and its event log starts
//!   empty, so every watch from before the crash gets 410 Expired and relists.
//!
//! What is stored per cluster: the objects (table `objects/<cluster>`, key group/resource,
//! namespace, name; value the stored JSON), the last `log_window` events (table
//! `events/<cluster>`, by revision) so that watches resume across a restart exactly as they
//! would have without it, and the revision and compaction point (table `meta`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use parking_lot::Mutex;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resources::StorageKey;
use crate::store::{Event, EventType, ObjectKey};

/// Writes that may wait in the queue before writers block on the disk.
pub const QUEUE_CAPACITY: usize = 65_536;

/// Most writes one transaction commits.
const MAX_BATCH: usize = 65_536;

/// How far revisions jump after an unclean shutdown: more than the queue and one batch hold,
/// so no resourceVersion a client may have seen is handed out again.
pub const REVISION_GAP: u64 = 1_000_000;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const CLEAN: &str = "clean";

/// Why the data directory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory could not be created.
    #[error("creating the data directory {path}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// redb refused (already open by another kubesim, corrupt, I/O).
    #[error("database {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: Box<redb::Error>,
    },
    /// A stored record could not be decoded.
    #[error("database {path}: cluster {cluster}: {what}: {source}")]
    Decode {
        /// The database file.
        path: PathBuf,
        /// Which cluster.
        cluster: String,
        /// Which record.
        what: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// One cluster's state as it was stored.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The latest revision.
    pub revision: u64,
    /// Events at or below this revision are gone.
    pub compacted: u64,
    /// Every stored object.
    pub objects: Vec<(StorageKey, ObjectKey, Value)>,
    /// The retained events, oldest first.
    pub events: Vec<Event>,
}

/// What the writer thread is asked to do.
enum Op {
    Event(Arc<str>, Arc<Event>),
    Compact(Arc<str>, u64),
    Flush(SyncSender<()>),
    Close(SyncSender<()>),
}

/// The handle a cluster's store writes through.
#[derive(Clone)]
pub struct Sink {
    cluster: Arc<str>,
    queue: SyncSender<Op>,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Sink {
    /// Queue a committed event (blocks only while the queue is full).
    pub fn event(&self, event: &Arc<Event>) {
        if self
            .queue
            .send(Op::Event(self.cluster.clone(), event.clone()))
            .is_err()
        {
            // After `close` (an orderly shutdown under way): expected, and not worth a warning
            // per write.
            tracing::debug!(
                "cluster {}: persistence is closed; revision {} stays in memory",
                self.cluster,
                event.revision
            );
        }
    }

    /// Record that events up to `revision` were compacted away.
    pub fn compact(&self, revision: u64) {
        let _ = self.queue.send(Op::Compact(self.cluster.clone(), revision));
    }
}

/// The open database and its writer thread.
pub struct Persistence {
    path: PathBuf,
    queue: Mutex<Option<SyncSender<Op>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    snapshots: Mutex<HashMap<String, Snapshot>>,
}

impl std::fmt::Debug for Persistence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persistence")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// How an event is stored.
#[derive(Serialize)]
struct EventRecord<'a> {
    kind: &'a str,
    group: &'a str,
    resource: &'a str,
    namespace: &'a str,
    name: &'a str,
    object: &'a Value,
    previous: Option<&'a Value>,
}

#[derive(Deserialize)]
struct StoredEvent {
    kind: String,
    group: String,
    resource: String,
    namespace: String,
    name: String,
    object: Value,
    previous: Option<Value>,
}

fn objects_table(cluster: &str) -> String {
    format!("objects/{cluster}")
}

fn events_table(cluster: &str) -> String {
    format!("events/{cluster}")
}

/// `group/resource`, the stored form of a [`StorageKey`].
fn resource_id(key: &StorageKey) -> String {
    format!("{}/{}", key.group, key.resource)
}

fn storage_key(id: &str) -> StorageKey {
    let (group, resource) = id.split_once('/').unwrap_or(("", id));
    StorageKey::new(group, resource)
}

impl Persistence {
    /// Open (or create) `dir/kubesim.redb`, load the named clusters and start the writer.
    /// `log_window` is how many events each cluster keeps.
    pub fn open(dir: &Path, clusters: &[String], log_window: usize) -> Result<Persistence, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("kubesim.redb");
        let db_err = |e: redb::Error| Error::Db {
            path: path.clone(),
            source: Box::new(e),
        };
        let db = Database::create(&path).map_err(|e| db_err(e.into()))?;
        let (clean, mut snapshots) = load(&db, &path, clusters).map_err(|e| match e {
            LoadError::Db(e) => db_err(e),
            LoadError::Decode(e) => e,
        })?;
        if !clean {
            for (name, snap) in &mut snapshots {
                if snap.revision == 0 {
                    continue;
                }
                tracing::warn!(
                    "cluster {name}: the data directory was not closed cleanly; revisions jump by {REVISION_GAP} and watches from before get 410"
                );
                snap.revision += REVISION_GAP;
                snap.compacted = snap.revision;
                snap.events.clear();
            }
        }
        // From now until `close`, the database is "in use": a crash leaves it unclean.
        mark(&db, &snapshots, false).map_err(db_err)?;
        let (queue, ops) = sync_channel(QUEUE_CAPACITY);
        let writer_path = path.clone();
        let writer = std::thread::Builder::new()
            .name("kubesim-persist".into())
            .spawn(move || write_loop(db, ops, log_window, &writer_path))
            .map_err(|source| Error::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        Ok(Persistence {
            path,
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(writer)),
            snapshots: Mutex::new(snapshots),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored state of `cluster` (taken: a second call gets `None`), or `None` when
    /// the database has never held it.
    pub fn take_snapshot(&self, cluster: &str) -> Option<Snapshot> {
        self.snapshots
            .lock()
            .remove(cluster)
            .filter(|s| s.revision > 0)
    }

    /// The handle `cluster`'s store writes through; `None` once closed.
    pub fn sink(&self, cluster: &str) -> Option<Sink> {
        self.queue.lock().as_ref().map(|q| Sink {
            cluster: Arc::from(cluster),
            queue: q.clone(),
        })
    }

    /// Wait until everything queued so far is on disk.
    pub fn flush(&self) {
        let Some(queue) = self.queue.lock().clone() else {
            return;
        };
        let (done, wait) = sync_channel(1);
        if queue.send(Op::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Commit everything queued, mark the database clean and stop the writer (releasing the
    /// file). Writes made after this stay in memory.
    pub fn close(&self) {
        let Some(queue) = self.queue.lock().take() else {
            return;
        };
        let (done, wait) = sync_channel(1);
        if queue.send(Op::Close(done)).is_ok() {
            let _ = wait.recv();
        }
        if let Some(w) = self.writer.lock().take() {
            let _ = w.join();
        }
    }
}

impl Drop for Persistence {
    fn drop(&mut self) {
        self.close();
    }
}

enum LoadError {
    Db(redb::Error),
    Decode(Error),
}

impl From<redb::Error> for LoadError {
    fn from(e: redb::Error) -> Self {
        LoadError::Db(e)
    }
}

fn load(
    db: &Database,
    path: &Path,
    clusters: &[String],
) -> Result<(bool, HashMap<String, Snapshot>), LoadError> {
    let txn = db.begin_read().map_err(redb::Error::from)?;
    let meta = match txn.open_table(META) {
        Ok(t) => Some(t),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(redb::Error::from(e).into()),
    };
    let get = |key: &str| -> Result<Option<u64>, redb::Error> {
        match &meta {
            Some(t) => Ok(t.get(key)?.map(|v| v.value())),
            None => Ok(None),
        }
    };
    // A new database is clean; an existing one is clean only if `close` marked it.
    let clean = meta.is_none() || get(CLEAN)? == Some(1);
    let mut snapshots = HashMap::new();
    for cluster in clusters {
        let decode = |what: String, source| {
            LoadError::Decode(Error::Decode {
                path: path.to_path_buf(),
                cluster: cluster.clone(),
                what,
                source,
            })
        };
        let mut snap = Snapshot {
            revision: get(&format!("{cluster}:revision"))?.unwrap_or(0),
            compacted: get(&format!("{cluster}:compacted"))?.unwrap_or(0),
            ..Default::default()
        };
        let objects_name = objects_table(cluster);
        let objects: TableDefinition<(&str, &str, &str), &[u8]> =
            TableDefinition::new(&objects_name);
        match txn.open_table(objects) {
            Ok(t) => {
                for row in t.iter().map_err(redb::Error::from)? {
                    let (k, v) = row.map_err(redb::Error::from)?;
                    let (resource, ns, name) = k.value();
                    let obj: Value = serde_json::from_slice(v.value())
                        .map_err(|e| decode(format!("object {resource} {ns}/{name}"), e))?;
                    snap.objects
                        .push((storage_key(resource), (ns.into(), name.into()), obj));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(redb::Error::from(e).into()),
        }
        let events_name = events_table(cluster);
        let events: TableDefinition<u64, &[u8]> = TableDefinition::new(&events_name);
        match txn.open_table(events) {
            Ok(t) => {
                for row in t.iter().map_err(redb::Error::from)? {
                    let (k, v) = row.map_err(redb::Error::from)?;
                    let revision = k.value();
                    let e: StoredEvent = serde_json::from_slice(v.value())
                        .map_err(|e| decode(format!("event {revision}"), e))?;
                    let kind = match e.kind.as_str() {
                        "ADDED" => EventType::Added,
                        "DELETED" => EventType::Deleted,
                        _ => EventType::Modified,
                    };
                    snap.events.push(Event {
                        kind,
                        resource: StorageKey::new(&e.group, &e.resource),
                        key: (e.namespace, e.name),
                        revision,
                        object: Arc::new(e.object),
                        previous: e.previous.map(Arc::new),
                        encoded: Default::default(),
                    });
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(redb::Error::from(e).into()),
        }
        // Events older than the compaction point may linger if a crash hit between trims.
        snap.events.retain(|e| e.revision > snap.compacted);
        snapshots.insert(cluster.clone(), snap);
    }
    Ok((clean, snapshots))
}

/// Record each cluster's revision and compaction point, and whether the database is clean.
fn mark(
    db: &Database,
    snapshots: &HashMap<String, Snapshot>,
    clean: bool,
) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        for (name, s) in snapshots {
            if s.revision > 0 {
                meta.insert(format!("{name}:revision").as_str(), s.revision)?;
                meta.insert(format!("{name}:compacted").as_str(), s.compacted)?;
            }
        }
        meta.insert(CLEAN, u64::from(clean))?;
    }
    txn.commit()?;
    Ok(())
}

fn write_loop(db: Database, ops: Receiver<Op>, log_window: usize, path: &Path) {
    let mut failed = false;
    let mut closing = None;
    while closing.is_none() {
        let Ok(first) = ops.recv() else { break };
        // Group commit: everything queued while the last commit ran goes into this one.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut acks = Vec::new();
        let mut work = Vec::with_capacity(batch.len());
        for op in batch {
            match op {
                Op::Flush(ack) => acks.push(ack),
                // Writes queued after the close request are not taken.
                Op::Close(ack) => {
                    closing = Some(ack);
                    break;
                }
                other => work.push(other),
            }
        }
        if !work.is_empty()
            && let Err(e) = commit(&db, work, log_window)
        {
            // Keep serving from memory; say so once.
            if !failed {
                tracing::error!("persisting to {}: {e}", path.display());
                failed = true;
            }
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
    // An orderly stop: everything before it is committed, so the database is clean.
    if !failed && let Err(e) = mark_clean(&db) {
        tracing::error!("closing {}: {e}", path.display());
    }
    drop(db);
    if let Some(ack) = closing {
        let _ = ack.send(());
    }
}

fn mark_clean(db: &Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(CLEAN, 1)?;
    txn.commit()?;
    Ok(())
}

fn commit(db: &Database, work: Vec<Op>, log_window: usize) -> Result<(), redb::Error> {
    let mut by_cluster: BTreeMap<Arc<str>, Vec<Op>> = BTreeMap::new();
    for op in work {
        let cluster = match &op {
            Op::Event(c, _) | Op::Compact(c, _) => c.clone(),
            Op::Flush(_) | Op::Close(_) => continue,
        };
        by_cluster.entry(cluster).or_default().push(op);
    }
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        for (cluster, ops) in by_cluster {
            let objects_name = objects_table(&cluster);
            let events_name = events_table(&cluster);
            let objects_def: TableDefinition<(&str, &str, &str), &[u8]> =
                TableDefinition::new(&objects_name);
            let events_def: TableDefinition<u64, &[u8]> = TableDefinition::new(&events_name);
            let mut objects = txn.open_table(objects_def)?;
            let mut events = txn.open_table(events_def)?;
            let revision_key = format!("{cluster}:revision");
            let compacted_key = format!("{cluster}:compacted");
            let mut revision = meta.get(revision_key.as_str())?.map_or(0, |v| v.value());
            let mut compacted = meta.get(compacted_key.as_str())?.map_or(0, |v| v.value());
            for op in ops {
                match op {
                    Op::Event(_, e) => {
                        let resource = resource_id(&e.resource);
                        let key = (resource.as_str(), e.key.0.as_str(), e.key.1.as_str());
                        if e.kind == EventType::Deleted {
                            objects.remove(key)?;
                        } else {
                            let bytes = serde_json::to_vec(&*e.object).unwrap_or_default();
                            objects.insert(key, bytes.as_slice())?;
                        }
                        let record = EventRecord {
                            kind: e.kind.as_str(),
                            group: &e.resource.group,
                            resource: &e.resource.resource,
                            namespace: &e.key.0,
                            name: &e.key.1,
                            object: &e.object,
                            previous: e.previous.as_deref(),
                        };
                        let bytes = serde_json::to_vec(&record).unwrap_or_default();
                        events.insert(e.revision, bytes.as_slice())?;
                        revision = revision.max(e.revision);
                    }
                    Op::Compact(_, rv) => {
                        compacted = compacted.max(rv);
                        loop {
                            let first = events.first()?.map(|(k, _)| k.value());
                            match first {
                                Some(k) if k <= compacted => {
                                    events.remove(k)?;
                                }
                                _ => break,
                            }
                        }
                    }
                    Op::Flush(_) | Op::Close(_) => {}
                }
            }
            // Keep the same window the in-memory log keeps.
            let mut excess = events.len()?.saturating_sub(log_window as u64);
            while excess > 0 {
                match events.pop_first()? {
                    Some((k, _)) => compacted = compacted.max(k.value()),
                    None => break,
                }
                excess -= 1;
            }
            meta.insert(revision_key.as_str(), revision)?;
            meta.insert(compacted_key.as_str(), compacted)?;
        }
    }
    txn.commit()?;
    Ok(())
}
