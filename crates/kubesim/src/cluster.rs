//! One simulated cluster: its store, the types it serves, and the API verbs as
//! methods. Every write runs the `meta` rules under the store lock, so each
//! verb is atomic and a no-op write leaves the revision untouched.

use crate::meta::Lookup as _;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::meta::{self, Part};
use crate::registry::{self, Registry};
use crate::resources::{Origin, ResourceType, StorageKey};
use crate::store::{Event, ObjectKey, State, Store};
use crate::validation::{self, FieldValidation, Schemas};

/// Settings of one simulated cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Number of events kept for watch resumption.
    pub log_window: usize,
    /// How long a workload takes to get its (healthy or simulated) status.
    pub status_delay: std::time::Duration,
    /// Run apply, patch and controller status changes outside the store lock and commit
    /// them if the object is unchanged ([`Cluster::modify_retrying`]); off, they hold the
    /// lock throughout (the benchmark's reference).
    pub optimistic_writes: bool,
}

/// The default status delay: short, but long enough that clients really wait for status.
pub const DEFAULT_STATUS_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            log_window: crate::store::DEFAULT_LOG_WINDOW,
            status_delay: DEFAULT_STATUS_DELAY,
            optimistic_writes: true,
        }
    }
}

/// The result of a successful write: the object and the warnings to send back.
#[derive(Debug, Clone)]
pub struct Written {
    /// The stored (or, in a dry run, would-be-stored) object, shared with the store.
    pub object: Arc<Value>,
    /// `Warning` header texts (unknown fields under fieldValidation=Warn).
    pub warnings: Vec<String>,
    /// Whether the write created the object.
    pub created: bool,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: do everything but persist.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub validation: FieldValidation,
    /// The field manager to record this write under (an Update entry of managedFields);
    /// `None` records nothing (server-side apply records its own Apply entry).
    pub manager: Option<String>,
}

impl WriteOptions {
    /// Default options recording the write under `manager`.
    pub fn by(manager: &str) -> Self {
        WriteOptions {
            manager: Some(manager.to_string()),
            ..Default::default()
        }
    }
}

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the owner now; the garbage collector deletes dependents afterwards.
    Background,
    /// Delete dependents first (owner keeps `foregroundDeletion` until they are gone).
    Foreground,
    /// Keep dependents, removing their owner references.
    Orphan,
}

/// DELETE's options (the body's `DeleteOptions`).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `propagationPolicy`, if given.
    pub propagation: Option<Propagation>,
    /// `preconditions.resourceVersion`.
    pub precondition_rv: Option<String>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// What a DELETE did.
#[derive(Debug, Clone)]
pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Value),
    /// The object is marked for deletion and waits for finalizers.
    Pending(Value),
}

/// What an update comes to before it is stored.
enum Prepared {
    /// Nothing to store; answer this.
    Done(Written),
    /// Store this object; answer with these warnings.
    Commit(Value, Vec<String>),
}

/// A page of a list.
pub struct ListPage {
    /// Matching objects, in key order.
    pub items: Vec<Arc<Value>>,
    /// The list's resourceVersion.
    pub revision: u64,
    /// Token for the next page, when there is one.
    pub continue_token: Option<String>,
    /// Objects left after this page (`remainingItemCount`), when known.
    pub remaining: Option<u64>,
}

/// One simulated cluster.
pub struct Cluster {
    name: String,
    config: ClusterConfig,
    /// This cluster, for controllers that schedule work on it later.
    this: std::sync::Weak<Cluster>,
    store: Store,
    registry: RwLock<Arc<Registry>>,
    schemas: Schemas,
    expire_next_watch: AtomicBool,
    /// Bumped to end every open watch (clients then resume from their last resourceVersion).
    watch_epoch: tokio::sync::watch::Sender<u64>,
    faults: RwLock<crate::faults::Faults>,
    /// Connections that carried requests for this cluster, cut when it becomes unreachable.
    connections: crate::listen::Connections,
    /// Whether the cluster is unreachable now, for listeners that close while it is.
    unreachable: tokio::sync::watch::Sender<bool>,
}

impl Cluster {
    /// A cluster with the default namespaces and nothing else.
    pub fn new(name: &str, config: &ClusterConfig) -> Arc<Self> {
        Cluster::with_storage(name, config, None, None)
    }

    /// A cluster holding what `snapshot` saved (or only the default namespaces), persisting
    /// every write through `persist` when given.
    pub fn with_storage(
        name: &str,
        config: &ClusterConfig,
        snapshot: Option<crate::persist::Snapshot>,
        persist: Option<crate::persist::Sink>,
    ) -> Arc<Self> {
        let restored = snapshot.is_some();
        let store = match snapshot {
            Some(s) => Store::restore(s, config.log_window, persist),
            None => Store::with_persistence(1_000, config.log_window, persist),
        };
        let cluster = Arc::new_cyclic(|this| Cluster {
            name: name.to_string(),
            config: config.clone(),
            this: this.clone(),
            store,
            registry: RwLock::new(Arc::new(Registry::builtin())),
            schemas: Schemas::default(),
            expire_next_watch: AtomicBool::new(false),
            watch_epoch: tokio::sync::watch::Sender::new(0),
            faults: RwLock::new(crate::faults::Faults::default()),
            connections: crate::listen::Connections::default(),
            unreachable: tokio::sync::watch::Sender::new(false),
        });
        if restored {
            cluster.serve_restored_crds();
        }
        let ns_type = cluster
            .registry()
            .lookup("", "v1", "namespaces")
            .expect("namespaces are built in");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            if restored && cluster.get(&ns_type, None, ns).is_ok() {
                continue;
            }
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            cluster
                .create(&ns_type, None, obj, WriteOptions::default())
                .expect("default namespaces are valid");
        }
        cluster
    }

    /// Serve the types of every stored CRD again (after a restore).
    fn serve_restored_crds(&self) {
        let Some(crd_type) =
            self.registry()
                .lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        else {
            return;
        };
        let crds: Vec<Arc<Value>> = self.store.with(|s| {
            s.range(&crd_type.storage_key(), None, None)
                .map(|(_, o)| o.clone())
                .collect()
        });
        for crd in crds {
            self.after_write(&crd_type, &crd);
        }
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cluster's settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// A shared handle to this cluster (`None` only while it is being dropped).
    pub fn handle(&self) -> Option<Arc<Cluster>> {
        self.this.upgrade()
    }

    /// A snapshot of the types served now.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().clone()
    }

    /// The latest resourceVersion.
    pub fn revision(&self) -> u64 {
        self.store.with(|s| s.revision())
    }

    /// Events from now on (for controllers).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.store.subscribe()
    }

    /// Drop the event log: every watch from an older resourceVersion gets 410.
    pub fn compact(&self) {
        self.store.with(State::compact);
    }

    /// Make the next watch request fail with 410 Expired, whatever its resourceVersion.
    pub fn expire_next_watch(&self) {
        self.expire_next_watch.store(true, Ordering::SeqCst);
    }

    /// The faults active now.
    pub fn faults(&self) -> crate::faults::Faults {
        self.faults.read().clone()
    }

    /// Change the faults (and run the one-shot controls the change asks for).
    pub fn change_faults(
        &self,
        change: &crate::faults::FaultChange,
    ) -> Result<crate::faults::Faults, String> {
        let mut faults = self.faults.write();
        let mut next = faults.clone();
        next.apply(change)?;
        let cut = next.unreachable && !faults.unreachable;
        *faults = next.clone();
        drop(faults);
        if change.compact {
            self.compact();
        }
        if change.expire_next_watch {
            self.expire_next_watch();
        }
        if change.drop_watches || cut {
            self.drop_watches();
        }
        if cut {
            self.connections.cut_all();
        }
        self.unreachable.send_if_modified(|u| {
            let changed = *u != next.unreachable;
            *u = next.unreachable;
            changed
        });
        Ok(next)
    }

    /// Remember a connection that carries requests for this cluster (to cut it when the
    /// cluster becomes unreachable).
    pub fn track_connection(&self, conn: &crate::listen::Connection) {
        self.connections.track(conn);
    }

    /// Follows whether the cluster is unreachable.
    pub fn unreachable_changes(&self) -> tokio::sync::watch::Receiver<bool> {
        self.unreachable.subscribe()
    }

    /// End every open watch now, as an API server restart or a dropped connection would.
    pub fn drop_watches(&self) {
        self.watch_epoch.send_modify(|e| *e += 1);
    }

    /// A receiver that changes when [`Cluster::drop_watches`] is called.
    pub fn watch_epoch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.watch_epoch.subscribe()
    }

    /// Read one object.
    pub fn get(&self, rt: &ResourceType, namespace: Option<&str>, name: &str) -> ApiResult<Value> {
        let key = object_key(namespace, name);
        self.store.with(|s| {
            s.get(&rt.storage_key(), &key)
                .map(|o| as_version(o, rt))
                .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
        })
    }

    /// List objects, optionally paginated.
    pub fn list(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        filter: &Filter,
        limit: Option<usize>,
        continue_token: Option<&str>,
    ) -> ApiResult<ListPage> {
        let cont = continue_token.map(decode_continue).transpose()?;
        self.store.with(|s| {
            let revision = match &cont {
                Some((rv, _)) => {
                    if *rv < s.compacted() {
                        return Err(ApiError::expired(
                            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                        ));
                    }
                    *rv
                }
                None => s.revision(),
            };
            let after = cont.as_ref().map(|(_, k)| k);
            let resource = rt.storage_key();
            let mut items = Vec::new();
            let mut last_key = None;
            let mut more = false;
            let mut iter = s.range(&resource, namespace, after).filter(|(_, o)| filter.matches(o));
            for (k, o) in iter.by_ref() {
                if limit.is_some_and(|l| items.len() >= l) {
                    more = true;
                    break;
                }
                items.push(o.clone());
                last_key = Some(k.clone());
            }
            let (continue_token, remaining) = if more {
                let remaining = 1 + iter.count() as u64;
                let key = last_key.expect("a full page has a last key");
                (Some(encode_continue(revision, &key)), Some(remaining))
            } else {
                (None, None)
            };
            let items = if rt.version == rt.storage_version {
                items
            } else {
                items.iter().map(|o| Arc::new(as_version(o, rt))).collect()
            };
            Ok(ListPage {
                items,
                revision,
                continue_token,
                remaining,
            })
        })
    }

    /// Start a watch: the events after `since` (or synthetic ADDED events for the current
    /// state when `since` is `None`), and a receiver for everything after them.
    pub fn watch(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        since: Option<u64>,
        filter: &Filter,
    ) -> ApiResult<(Vec<WatchItem>, u64, broadcast::Receiver<Arc<Event>>)> {
        if self.expire_next_watch.swap(false, Ordering::SeqCst) {
            let rv = since.unwrap_or(0);
            return Err(ApiError::expired(format!(
                "too old resource version: {rv} ({})",
                self.revision()
            )));
        }
        let resource = rt.storage_key();
        self.store.with(|s| {
            let rx = s.subscribe();
            let revision = s.revision();
            let initial = match since {
                None => s
                    .range(&resource, namespace, None)
                    .filter(|(_, o)| filter.matches(o))
                    .map(|(_, o)| WatchItem {
                        kind: "ADDED",
                        object: o.clone(),
                        revision,
                    })
                    .collect(),
                Some(rv) => {
                    let events = s.events_since(rv).ok_or_else(|| {
                        ApiError::expired(format!(
                            "too old resource version: {rv} ({})",
                            s.compacted()
                        ))
                    })?;
                    events
                        .iter()
                        .filter_map(|e| watch_item(e, &resource, namespace, filter))
                        .collect()
                }
            };
            Ok((initial, revision, rx))
        })
    }

    /// Create an object. `namespace` is the URL's namespace (`None` for cluster-scoped types).
    pub fn create(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        mut obj: Value,
        opts: WriteOptions,
    ) -> ApiResult<Written> {
        meta::check_identity(rt, &mut obj, namespace)?;
        let warnings = self.admit(rt, &mut obj, opts.validation)?;
        let now = meta::now();
        meta::prepare_create(rt, &mut obj, &now)?;
        if rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition" {
            self.check_crd(&obj)?;
        }
        if let Some(manager) = &opts.manager {
            obj = self.with_field_manager(rt, Part::Main, |res| {
                flotilla_ssa::update(res, None, obj, manager, &now)
            });
        }
        let name = meta::meta_str(&obj, "name").to_string();
        let key = object_key(namespace, &name);
        let resource = rt.storage_key();
        let stored = self.store.with(|s| -> ApiResult<Arc<Value>> {
            if let Some(ns) = namespace {
                check_namespace_open(s, ns, rt, &name)?;
            }
            if s.get(&resource, &key).is_some() {
                return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
            }
            let mut obj = obj;
            if opts.dry_run {
                // A dry-run create answers with an empty resourceVersion (Flux relies on it).
                meta::set_pointer(&mut obj, "/metadata/resourceVersion", json!(""));
                return Ok(Arc::new(obj));
            }
            let mut obj = to_storage(obj, rt);
            fill_server_status(rt, &mut obj);
            let rv = s.next_revision();
            meta::set_pointer(&mut obj, "/metadata/resourceVersion", json!(rv.to_string()));
            self.after_write(rt, &obj);
            Ok(versioned(s.put(&resource, key, obj, rv), rt))
        })?;
        Ok(Written {
            object: stored,
            warnings,
            created: true,
        })
    }

    /// Replace an object (PUT), or its status.
    pub fn update(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        mut obj: Value,
        part: Part,
        opts: WriteOptions,
    ) -> ApiResult<Written> {
        meta::check_identity(rt, &mut obj, namespace)?;
        self.modify(rt, namespace, name, part, opts, |_| Ok(obj))
    }

    /// Read-modify-write under the lock: `change` gets the current object (in the
    /// requested version) and returns the new one. Used by PATCH and by controllers.
    pub fn modify(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        part: Part,
        opts: WriteOptions,
        change: impl FnOnce(&Value) -> ApiResult<Value>,
    ) -> ApiResult<Written> {
        let key = object_key(namespace, name);
        let resource = rt.storage_key();
        self.store.with(|s| {
            let current = s
                .get(&resource, &key)
                .cloned()
                .map(|o| versioned(o, rt))
                .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
            match self.prepare_update(rt, namespace, part, &opts, current, change)? {
                Prepared::Done(written) => Ok(written),
                Prepared::Commit(new, warnings) => Ok(Written {
                    object: self.commit_update(s, rt, key, new),
                    warnings,
                    created: false,
                }),
            }
        })
    }

    /// Like [`Cluster::modify`], but `change` and the bookkeeping around it (validation,
    /// generation, managedFields) run outside the lock, against a snapshot of the object;
    /// the write commits only if the object is still that snapshot, and is retried
    /// otherwise (optimistic concurrency, as the API server's own update loop does). Other
    /// writers of the cluster are not held up while an expensive merge runs.
    pub fn modify_retrying(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        part: Part,
        opts: WriteOptions,
        mut change: impl FnMut(&Value) -> ApiResult<Value>,
    ) -> ApiResult<Written> {
        const ATTEMPTS: usize = 8;
        if !self.config.optimistic_writes {
            return self.modify(rt, namespace, name, part, opts, change);
        }
        let key = object_key(namespace, name);
        let resource = rt.storage_key();
        for _ in 0..ATTEMPTS {
            let stored = self
                .store
                .with(|s| s.get(&resource, &key).cloned())
                .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
            let current = versioned(stored.clone(), rt);
            let (new, warnings) =
                match self.prepare_update(rt, namespace, part, &opts, current, &mut change)? {
                    Prepared::Done(written) => return Ok(written),
                    Prepared::Commit(new, warnings) => (new, warnings),
                };
            let committed = self.store.with(|s| {
                let unchanged = s
                    .get(&resource, &key)
                    .is_some_and(|now| Arc::ptr_eq(now, &stored));
                unchanged.then(|| self.commit_update(s, rt, key.clone(), new))
            });
            if let Some(object) = committed {
                return Ok(Written {
                    object,
                    warnings,
                    created: false,
                });
            }
        }
        // Heavily contended: take the lock for the whole change.
        self.modify(rt, namespace, name, part, opts, change)
    }

    /// Everything an update does short of storing: the change, identity and field checks,
    /// generation and managedFields. `Done` when nothing is to be stored (a no-op or a dry
    /// run), with what to answer.
    fn prepare_update(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        part: Part,
        opts: &WriteOptions,
        current: Arc<Value>,
        change: impl FnOnce(&Value) -> ApiResult<Value>,
    ) -> ApiResult<Prepared> {
        let mut new = change(&current)?;
        meta::check_identity(rt, &mut new, namespace)?;
        let warnings = self.admit(rt, &mut new, opts.validation)?;
        if rt.kind == "CustomResourceDefinition"
            && rt.group == "apiextensions.k8s.io"
            && part == Part::Main
        {
            self.check_crd(&new)?;
        }
        let Some(mut new) = meta::prepare_update(rt, &current, new, part)? else {
            return Ok(Prepared::Done(Written {
                object: current,
                warnings,
                created: false,
            }));
        };
        if let Some(manager) = &opts.manager
            && part != Part::Finalize
        {
            new = self.with_field_manager(rt, part, |res| {
                flotilla_ssa::update(res, Some(&current), new, manager, &meta::now())
            });
            if new == *current {
                return Ok(Prepared::Done(Written {
                    object: current,
                    warnings,
                    created: false,
                }));
            }
        }
        if opts.dry_run {
            return Ok(Prepared::Done(Written {
                object: Arc::new(new),
                warnings,
                created: false,
            }));
        }
        Ok(Prepared::Commit(new, warnings))
    }

    /// Store an updated object; if it is being deleted and nothing holds it any more, remove it.
    fn commit_update(
        &self,
        s: &mut State,
        rt: &ResourceType,
        key: ObjectKey,
        new: Value,
    ) -> Arc<Value> {
        let resource = rt.storage_key();
        let mut new = to_storage(new, rt);
        fill_server_status(rt, &mut new);
        let rv = s.next_revision();
        meta::set_pointer(&mut new, "/metadata/resourceVersion", json!(rv.to_string()));
        if meta::is_deleting(&new) && !holds_deletion(rt, &new) {
            s.remove(&resource, &key, new.clone(), rv);
            self.after_delete(rt, &new);
            return versioned(Arc::new(new), rt);
        }
        self.after_write(rt, &new);
        versioned(s.put(&resource, key, new, rv), rt)
    }

    /// Delete an object, honouring preconditions, finalizers and propagation.
    pub fn delete(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Deleted> {
        let key = object_key(namespace, name);
        let resource = rt.storage_key();
        self.store.with(|s| {
            let current = s
                .get(&resource, &key)
                .cloned()
                .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
            if let Some(uid) = &opts.precondition_uid
                && uid != meta::meta_str(&current, "uid")
            {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        meta::meta_str(&current, "uid")
                    ),
                ));
            }
            if let Some(rv) = &opts.precondition_rv
                && rv != meta::meta_str(&current, "resourceVersion")
            {
                return Err(ApiError::conflict(
                    &rt.group,
                    &rt.plural,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        meta::meta_str(&current, "resourceVersion")
                    ),
                ));
            }
            let mut obj = (*current).clone();
            let mut finalizers = meta::finalizers(&obj);
            let extra = match opts.propagation {
                Some(Propagation::Foreground) => Some("foregroundDeletion"),
                Some(Propagation::Orphan) => Some("orphan"),
                _ => None,
            };
            let already = meta::is_deleting(&obj);
            if let Some(f) = extra
                && !finalizers.iter().any(|x| x == f)
                && !already
            {
                finalizers.push(f.to_string());
                meta::set_pointer(&mut obj, "/metadata/finalizers", json!(finalizers));
            }
            if !already {
                meta::set_pointer(&mut obj, "/metadata/deletionTimestamp", json!(meta::now()));
                meta::set_pointer(&mut obj, "/metadata/deletionGracePeriodSeconds", json!(0));
                if rt.kind == "Namespace" && rt.group.is_empty() {
                    meta::set_pointer(&mut obj, "/status/phase", json!("Terminating"));
                }
            }
            if holds_deletion(rt, &obj) {
                if already && obj == *current {
                    return Ok(Deleted::Pending(as_version(&obj, rt)));
                }
                if opts.dry_run {
                    return Ok(Deleted::Pending(as_version(&obj, rt)));
                }
                let rv = s.next_revision();
                meta::set_pointer(&mut obj, "/metadata/resourceVersion", json!(rv.to_string()));
                let stored = s.put(&resource, key, obj, rv);
                return Ok(Deleted::Pending(as_version(&stored, rt)));
            }
            if opts.dry_run {
                return Ok(Deleted::Gone(as_version(&current, rt)));
            }
            let rv = s.next_revision();
            let mut last = (*current).clone();
            meta::set_pointer(&mut last, "/metadata/resourceVersion", json!(rv.to_string()));
            s.remove(&resource, &key, last.clone(), rv);
            self.after_delete(rt, &last);
            Ok(Deleted::Gone(as_version(&last, rt)))
        })
    }

    /// Run `f` with the field manager's view of `rt` for a write to `part`: the type's schema
    /// (built-in definitions, the CRD's structural schema, or none) and the fields that
    /// endpoint resets (`status` on the main resource, `spec` on `/status`).
    fn with_field_manager<R>(
        &self,
        rt: &ResourceType,
        part: Part,
        f: impl FnOnce(&flotilla_ssa::Resource<'_, flotilla_ssa::OpenApiType<'_>>) -> R,
    ) -> R {
        use flotilla_ssa::{FieldSet, OpenApiType, PathElement, Resource};
        let api_version = rt.api_version();
        let mut reset = FieldSet::new();
        let subresource = match part {
            Part::Status => {
                reset.insert(&[PathElement::field("spec")]);
                "status"
            }
            _ => {
                if rt.status_subresource {
                    reset.insert(&[PathElement::field("status")]);
                }
                ""
            }
        };
        let run = |schema: OpenApiType<'_>| {
            f(&Resource {
                schema,
                api_version: &api_version,
                subresource,
                reset_fields: &reset,
                empty: None,
            })
        };
        match &rt.origin {
            Origin::Builtin => {
                match flotilla_schema::builtin().kind(&rt.group, &rt.version, &rt.kind) {
                    Some(schema) => run(OpenApiType::resource(schema)),
                    None => run(OpenApiType::deduced()),
                }
            }
            Origin::Crd { .. } => match self.schemas.compiled(rt) {
                Some(schema) => run(OpenApiType::resource(schema.root())),
                None => run(OpenApiType::deduced()),
            },
        }
    }

    /// Server-side apply (`PATCH` with `application/apply-patch+yaml`): merge `patch` into
    /// the object as `manager` owns it, creating the object when it does not exist.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &self,
        rt: &ResourceType,
        namespace: Option<&str>,
        name: &str,
        patch: Value,
        manager: &str,
        force: bool,
        part: Part,
        opts: WriteOptions,
    ) -> ApiResult<Written> {
        let opts = WriteOptions {
            manager: None,
            ..opts
        };
        let apply_to = |live: Option<&Value>| -> ApiResult<Value> {
            self.with_field_manager(rt, part, |res| {
                flotilla_ssa::apply(res, live, &patch, manager, force, &meta::now())
            })
            .map(|r| r.object)
            .map_err(|e| ssa_error(rt, name, e))
        };
        let key = object_key(namespace, name);
        let exists = self
            .store
            .with(|s| s.get(&rt.storage_key(), &key).is_some());
        if !exists {
            if part != Part::Main {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            }
            let mut obj = apply_to(None)?;
            meta::set_pointer(&mut obj, "/metadata/name", json!(name));
            match self.create(rt, namespace, obj, opts.clone()) {
                Err(e) if e.code == 409 && e.reason == "AlreadyExists" => {}
                other => return other,
            }
        }
        self.modify_retrying(rt, namespace, name, part, opts, |current| {
            apply_to(Some(current))
        })
    }

    /// Validate the body's fields against the type's schema per `fieldValidation`,
    /// dropping unknown fields as the server's decoder does.
    fn admit(
        &self,
        rt: &ResourceType,
        obj: &mut Value,
        mode: FieldValidation,
    ) -> ApiResult<Vec<String>> {
        validation::admit(&self.schemas, rt, obj, mode)
    }

    fn check_crd(&self, crd: &Value) -> ApiResult<()> {
        registry::crd_types(crd).map(|_| ()).map_err(|causes| {
            ApiError::invalid(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                meta::meta_str(crd, "name"),
                causes,
            )
        })
    }

    /// Bookkeeping after a stored write: CRDs change what the cluster serves.
    fn after_write(&self, rt: &ResourceType, obj: &Value) {
        if rt.group == "apiextensions.k8s.io"
            && rt.kind == "CustomResourceDefinition"
            && !meta::is_deleting(obj)
            && let Ok(types) = registry::crd_types(obj)
        {
            let name = meta::meta_str(obj, "name");
            let mut reg = self.registry.write();
            let mut next = (**reg).clone();
            if next.set_crd(name, types) {
                *reg = Arc::new(next);
            }
        }
    }

    /// Bookkeeping after a removal: a deleted CRD takes its types and objects with it.
    fn after_delete(&self, rt: &ResourceType, obj: &Value) {
        if rt.group == "apiextensions.k8s.io" && rt.kind == "CustomResourceDefinition" {
            let name = meta::meta_str(obj, "name");
            let mut reg = self.registry.write();
            let mut next = (**reg).clone();
            if next.set_crd(name, vec![]) {
                *reg = Arc::new(next);
            }
        }
    }

    /// Remove every object of a CRD's resource (its cleanup finalizer), emitting DELETED events.
    pub fn purge(&self, resource: &StorageKey) {
        self.store.with(|s| {
            let keys: Vec<(ObjectKey, Value)> = s
                .range(resource, None, None)
                .map(|(k, o)| (k.clone(), (**o).clone()))
                .collect();
            for (key, mut obj) in keys {
                let rv = s.next_revision();
                meta::set_pointer(&mut obj, "/metadata/resourceVersion", json!(rv.to_string()));
                s.remove(resource, &key, obj, rv);
            }
            s.drop_table(resource);
        });
    }

    /// Run `f` over the locked state (controllers use it to look around).
    pub fn inspect<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        self.store.with(|s| f(s))
    }

    /// Compiled schemas (shared by validation and OpenAPI).
    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }
}

/// A server-side apply failure as the API server answers it.
fn ssa_error(rt: &ResourceType, name: &str, e: flotilla_ssa::Error) -> ApiError {
    match e {
        flotilla_ssa::Error::Conflict(conflicts) => {
            let mut err = ApiError::conflict(&rt.group, &rt.plural, name, "");
            err.message = conflicts.message();
            err.details = Some(json!({"causes": conflicts.causes()}));
            err
        }
        other if other.status_code() == 400 => ApiError::bad_request(other.to_string()),
        other => ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            vec![crate::error::Cause::invalid(
                "",
                &json!(null),
                &other.to_string(),
            )],
        ),
    }
}

/// An event as a watcher sees it.
#[derive(Debug, Clone)]
pub struct WatchItem {
    /// `ADDED`, `MODIFIED`, `DELETED`.
    pub kind: &'static str,
    /// The object (storage version; the HTTP layer relabels it).
    pub object: Arc<Value>,
    /// The event's revision.
    pub revision: u64,
}

/// How one store event looks to a watcher of `resource` in `namespace` with `filter`:
/// an object that stops matching is DELETED for it, one that starts matching is ADDED.
pub fn watch_item(
    e: &Event,
    resource: &StorageKey,
    namespace: Option<&str>,
    filter: &Filter,
) -> Option<WatchItem> {
    if &e.resource != resource || namespace.is_some_and(|ns| e.key.0 != ns) {
        return None;
    }
    let now = e.kind != crate::store::EventType::Deleted && filter.matches(&e.object);
    let before = e.previous.as_ref().is_some_and(|p| filter.matches(p));
    let kind = match e.kind {
        crate::store::EventType::Added if now => "ADDED",
        crate::store::EventType::Modified if now && before => "MODIFIED",
        crate::store::EventType::Modified if now => "ADDED",
        crate::store::EventType::Modified if before => "DELETED",
        crate::store::EventType::Deleted if filter.matches(&e.object) => "DELETED",
        _ => return None,
    };
    Some(WatchItem {
        kind,
        object: e.object.clone(),
        revision: e.revision,
    })
}

/// Status the server itself maintains synchronously: a CRD is established as soon as it is
/// stored (a real server takes a moment; clients wait for the condition either way).
fn fill_server_status(rt: &ResourceType, obj: &mut Value) {
    if rt.group == "apiextensions.k8s.io"
        && rt.kind == "CustomResourceDefinition"
        && !meta::is_deleting(obj)
    {
        let status = registry::established_status(obj, &meta::now());
        let same = obj.get("status").is_some_and(|old| {
            old.get("acceptedNames") == status.get("acceptedNames")
                && old.get("storedVersions") == status.get("storedVersions")
                && old.get("conditions").is_some()
        });
        if !same {
            obj["status"] = status;
        }
    }
}

/// Whether something still holds a deleting object: finalizers, or for a namespace its
/// `spec.finalizers`.
fn holds_deletion(rt: &ResourceType, obj: &Value) -> bool {
    if !meta::finalizers(obj).is_empty() {
        return true;
    }
    rt.kind == "Namespace"
        && rt.group.is_empty()
        && obj
            .at("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

fn check_namespace_open(s: &State, ns: &str, rt: &ResourceType, name: &str) -> ApiResult<()> {
    let nskey = StorageKey::new("", "namespaces");
    match s.get(&nskey, &(String::new(), ns.to_string())) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if meta::is_deleting(n) => Err(ApiError::forbidden(
            &rt.group,
            &rt.plural,
            name,
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        )
        .with_cause(
            "NamespaceTerminating",
            &format!("namespace {ns} is being terminated"),
            "metadata.namespace",
        )),
        Some(_) => Ok(()),
    }
}

/// The key an object is stored under.
pub fn object_key(namespace: Option<&str>, name: &str) -> ObjectKey {
    (namespace.unwrap_or("").to_string(), name.to_string())
}

/// A stored object as served at `rt`'s version, without copying it when the versions agree.
fn versioned(obj: Arc<Value>, rt: &ResourceType) -> Arc<Value> {
    if rt.version == rt.storage_version {
        obj
    } else {
        Arc::new(as_version(&obj, rt))
    }
}

/// The object as served at `rt`'s version (custom resources are stored in their
/// storage version and relabelled, without conversion).
pub fn as_version(obj: &Value, rt: &ResourceType) -> Value {
    let mut o = obj.clone();
    if rt.version != rt.storage_version {
        o["apiVersion"] = json!(rt.api_version());
    }
    o
}

fn to_storage(mut obj: Value, rt: &ResourceType) -> Value {
    if rt.version != rt.storage_version {
        obj["apiVersion"] = json!(format!("{}/{}", rt.group, rt.storage_version));
    }
    obj
}

fn encode_continue(revision: u64, key: &ObjectKey) -> String {
    use base64::Engine;
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": format!("{}/{}\u{0}", key.0, key.1)});
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, ObjectKey)> {
    use base64::Engine;
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let start = start.strip_suffix('\u{0}').unwrap_or(start);
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((rv, (ns.to_string(), name.to_string())))
}

/// Objects grouped by resource, for controllers scanning a namespace.
pub fn namespaced_objects(
    s: &State,
    registry: &Registry,
    ns: &str,
) -> Vec<(Arc<ResourceType>, String)> {
    let mut by_key: HashMap<StorageKey, Arc<ResourceType>> = HashMap::new();
    for t in registry.all() {
        if t.namespaced && t.version == t.storage_version {
            by_key.entry(t.storage_key()).or_insert_with(|| t.clone());
        }
    }
    let mut out = Vec::new();
    for resource in s.resources() {
        if let Some(rt) = by_key.get(&resource) {
            for (k, _) in s.range(&resource, Some(ns), None) {
                out.push((rt.clone(), k.1.clone()));
            }
        }
    }
    out
}

/// The CRD's origin name, for types that came from one.
pub fn crd_name(rt: &ResourceType) -> Option<&str> {
    match &rt.origin {
        Origin::Crd { crd_name, .. } => Some(crd_name),
        Origin::Builtin => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optimistic_update_retries_on_a_concurrent_write_and_keeps_both() {
        let cluster = Cluster::new("c", &ClusterConfig::default());
        let cms = cluster
            .registry()
            .lookup("", "v1", "configmaps")
            .expect("configmaps");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x"}, "data": {"a": "0"}});
        cluster
            .create(&cms, Some("default"), cm, WriteOptions::default())
            .expect("create");
        let mut calls = 0;
        let written = cluster
            .modify_retrying(
                &cms,
                Some("default"),
                "x",
                Part::Main,
                WriteOptions::default(),
                |current| {
                    calls += 1;
                    if calls == 1 {
                        // Another writer gets in between the snapshot and the commit.
                        cluster
                            .modify(
                                &cms,
                                Some("default"),
                                "x",
                                Part::Main,
                                WriteOptions::default(),
                                |c| {
                                    let mut c = c.clone();
                                    c["data"]["a"] = json!("other");
                                    Ok(c)
                                },
                            )
                            .expect("concurrent write");
                    }
                    let mut next = current.clone();
                    next["data"]["b"] = json!("mine");
                    Ok(next)
                },
            )
            .expect("update");
        assert_eq!(calls, 2, "the first attempt lost the race and was redone");
        assert_eq!(written.object["data"], json!({"a": "other", "b": "mine"}));
    }

    #[test]
    fn continue_tokens_round_trip() {
        let t = encode_continue(42, &("ns".into(), "a".into()));
        assert_eq!(
            decode_continue(&t).expect("valid"),
            (42, ("ns".into(), "a".into()))
        );
        assert_eq!(decode_continue("!!").expect_err("bad").code, 400);
    }
}
