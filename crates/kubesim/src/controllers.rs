//! The controllers a cluster needs for its API to behave: workload status,
//! namespace lifecycle, garbage collection (background, foreground, orphan),
//! CRD cleanup, and each namespace's default ServiceAccount.
//!
//! They react to the cluster's own event stream, like kube-controller-manager
//! reacts to watches, and write through the same API methods clients use.
//! Falling behind the stream triggers a full resync.

use crate::meta::Lookup as _;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::cluster::{Cluster, DeleteOptions, Propagation, WriteOptions, namespaced_objects};
use crate::error::ApiResult;
use crate::meta::{self, CRD_CLEANUP_FINALIZER, Part};
use crate::resources::{ResourceType, StorageKey};
use crate::store::{Event, EventType};
use crate::workloads;

/// The field manager the simulated controllers write as (kube-controller-manager's name).
const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// Run the controllers of one cluster until its event stream closes.
pub async fn run(cluster: Arc<Cluster>) {
    let mut rx = cluster.subscribe();
    resync(&cluster);
    loop {
        match rx.recv().await {
            Ok(event) => react(&cluster, &event),
            Err(RecvError::Lagged(_)) => resync(&cluster),
            Err(RecvError::Closed) => return,
        }
    }
}

/// Look at every object once (start-up, or after missing events).
pub fn resync(cluster: &Cluster) {
    let registry = cluster.registry();
    let mut work: Vec<(Arc<ResourceType>, Value)> = Vec::new();
    cluster.inspect(|s| {
        for rt in registry.all().filter(|t| t.version == t.storage_version) {
            for (_, obj) in s.range(&rt.storage_key(), None, None) {
                work.push((rt.clone(), (**obj).clone()));
            }
        }
    });
    for (rt, obj) in work {
        if rt.kind == "Namespace" && rt.group.is_empty() && !meta::is_deleting(&obj) {
            populate_namespace(cluster, meta::meta_str(&obj, "name"));
        }
        reconcile_object(cluster, &rt, &obj);
    }
}

fn storage_type(cluster: &Cluster, resource: &StorageKey) -> Option<Arc<ResourceType>> {
    cluster
        .registry()
        .all()
        .find(|t| {
            // Compared in place: building each type's key allocated on every event.
            t.group == *resource.group
                && t.plural == *resource.resource
                && t.version == t.storage_version
        })
        .cloned()
}

fn react(cluster: &Cluster, event: &Event) {
    match event.kind {
        EventType::Added | EventType::Modified => {
            if let Some(rt) = storage_type(cluster, &event.resource) {
                if event.kind == EventType::Added && rt.kind == "Namespace" && rt.group.is_empty() {
                    populate_namespace(cluster, &event.key.1);
                }
                reconcile_object(cluster, &rt, &event.object);
            }
        }
        EventType::Deleted => {
            let uid = meta::meta_str(&event.object, "uid");
            collect_dependents(cluster, uid);
            release_owners(cluster, &event.object);
            if !event.key.0.is_empty() {
                finish_namespace(cluster, &event.key.0);
            }
        }
    }
}

/// Everything an object's own state asks for: status, or the steps of its deletion.
fn reconcile_object(cluster: &Cluster, rt: &ResourceType, obj: &Value) {
    if meta::is_deleting(obj) {
        let finalizers = meta::finalizers(obj);
        if rt.kind == "Namespace" && rt.group.is_empty() {
            delete_namespace_contents(cluster, meta::meta_str(obj, "name"));
        }
        if finalizers.iter().any(|f| f == "orphan") {
            orphan_dependents(cluster, rt, obj);
        }
        if finalizers.iter().any(|f| f == "foregroundDeletion") {
            delete_dependents_first(cluster, rt, obj);
        }
        if finalizers.iter().any(|f| f == CRD_CLEANUP_FINALIZER)
            && rt.kind == "CustomResourceDefinition"
        {
            cleanup_crd(cluster, rt, obj);
        }
        return;
    }
    if rt.status_subresource
        && let Some(status) = workloads::desired_status(&rt.group, &rt.kind, obj, &meta::now())
        && obj.get("status") != Some(&status)
    {
        let delay = workloads::ready_after(obj).unwrap_or(cluster.config().status_delay);
        let ns = namespace_of(obj);
        let name = meta::meta_str(obj, "name").to_string();
        if delay.is_zero() {
            write_status(cluster, rt, ns.as_deref(), &name);
        } else if let Some(cluster) = cluster.handle() {
            // Like a real controller, the status follows the spec a moment later.
            let rt = rt.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                write_status(&cluster, &rt, ns.as_deref(), &name);
            });
        }
    }
}

/// Write the status the object should have now (computed from its current state, which may
/// have moved on since the event that asked for it).
fn write_status(cluster: &Cluster, rt: &ResourceType, ns: Option<&str>, name: &str) {
    let _ = cluster.modify_retrying(
        rt,
        ns,
        name,
        Part::Status,
        WriteOptions::by(CONTROLLER_MANAGER),
        |current| {
            // A status write carries only what identifies the object and the new status;
            // the rest comes from the stored object (a full copy here cost a third of a
            // server-side apply benchmark's CPU).
            let status = workloads::desired_status(&rt.group, &rt.kind, current, &meta::now())
                .or_else(|| current.get("status").cloned());
            let mut next = json!({
                "apiVersion": current.get("apiVersion").cloned().unwrap_or(Value::Null),
                "kind": current.get("kind").cloned().unwrap_or(Value::Null),
                "metadata": {"name": meta::meta_str(current, "name")},
            });
            let ns = meta::meta_str(current, "namespace");
            if !ns.is_empty() {
                next["metadata"]["namespace"] = json!(ns);
            }
            if let Some(status) = status {
                next["status"] = status;
            }
            Ok(next)
        },
    );
}

fn namespace_of(obj: &Value) -> Option<String> {
    Some(meta::meta_str(obj, "namespace").to_string()).filter(|s| !s.is_empty())
}

/// A new namespace gets its `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap.
fn populate_namespace(cluster: &Cluster, ns: &str) {
    let registry = cluster.registry();
    let opts = WriteOptions::by(CONTROLLER_MANAGER);
    if let Some(sa) = registry.lookup("", "v1", "serviceaccounts") {
        let obj = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
        let _ = cluster.create(&sa, Some(ns), obj, opts.clone());
    }
    if let Some(cm) = registry.lookup("", "v1", "configmaps") {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt", "namespace": ns,
                "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nkubesim\n-----END CERTIFICATE-----\n"}});
        let _ = cluster.create(&cm, Some(ns), obj, opts);
    }
}

/// A terminating namespace: delete everything in it, then release its `kubernetes` finalizer.
fn delete_namespace_contents(cluster: &Cluster, ns: &str) {
    let registry = cluster.registry();
    let contents = cluster.inspect(|s| namespaced_objects(s, &registry, ns));
    for (rt, name) in &contents {
        let _ = cluster.delete(rt, Some(ns), name, &DeleteOptions::default());
    }
    finish_namespace(cluster, ns);
}

/// If `ns` is terminating and empty, clear `spec.finalizers` (the namespace then goes).
fn finish_namespace(cluster: &Cluster, ns: &str) {
    let registry = cluster.registry();
    let Some(ns_type) = registry.lookup("", "v1", "namespaces") else {
        return;
    };
    let Ok(namespace) = cluster.get(&ns_type, None, ns) else {
        return;
    };
    if !meta::is_deleting(&namespace) {
        return;
    }
    let remaining = cluster.inspect(|s| namespaced_objects(s, &registry, ns));
    if !remaining.is_empty() {
        return;
    }
    let _ = cluster.modify(
        &ns_type,
        None,
        ns,
        Part::Finalize,
        WriteOptions::by(CONTROLLER_MANAGER),
        |current| {
            let mut next = current.clone();
            meta::set_pointer(&mut next, "/spec/finalizers", json!([]));
            Ok(next)
        },
    );
}

/// Owner references of `obj` as (apiVersion, kind, name, uid).
fn owners(obj: &Value) -> Vec<(String, String, String, String)> {
    obj.at("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (s("apiVersion"), s("kind"), s("name"), s("uid"))
        })
        .collect()
}

/// Whether an owner reference still points at a live object with that uid.
fn owner_exists(
    cluster: &Cluster,
    dependent_ns: Option<&str>,
    owner: &(String, String, String, String),
) -> bool {
    let (api_version, kind, name, uid) = owner;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let registry = cluster.registry();
    let Some(rt) = registry.by_kind(group, version, kind) else {
        return false;
    };
    let ns = if rt.namespaced { dependent_ns } else { None };
    cluster
        .get(&rt, ns, name)
        .is_ok_and(|o| meta::meta_str(&o, "uid") == uid)
}

/// Background collection: dependents of a deleted owner go once no owner of theirs is left.
fn collect_dependents(cluster: &Cluster, owner_uid: &str) {
    if owner_uid.is_empty() {
        return;
    }
    for (resource, key) in cluster.inspect(|s| s.dependents_of(owner_uid)) {
        let Some(rt) = storage_type(cluster, &resource) else {
            continue;
        };
        let ns = Some(key.0.as_str()).filter(|s| !s.is_empty());
        let Ok(dependent) = cluster.get(&rt, ns, &key.1) else {
            continue;
        };
        let alive = owners(&dependent)
            .iter()
            .any(|o| o.3 != owner_uid && owner_exists(cluster, ns, o));
        if alive {
            let _ = drop_owner_reference(cluster, &rt, ns, &key.1, owner_uid);
        } else {
            let _ = cluster.delete(
                &rt,
                ns,
                &key.1,
                &DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..Default::default()
                },
            );
        }
    }
}

fn drop_owner_reference(
    cluster: &Cluster,
    rt: &ResourceType,
    ns: Option<&str>,
    name: &str,
    owner_uid: &str,
) -> ApiResult<()> {
    cluster
        .modify(
            rt,
            ns,
            name,
            Part::Main,
            WriteOptions::by(CONTROLLER_MANAGER),
            |current| {
                let mut next = current.clone();
                if let Some(refs) = next
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
                    if refs.is_empty()
                        && let Some(m) = next.get_mut("metadata").and_then(Value::as_object_mut)
                    {
                        m.remove("ownerReferences");
                    }
                }
                Ok(next)
            },
        )
        .map(|_| ())
}

fn remove_finalizer(cluster: &Cluster, rt: &ResourceType, obj: &Value, finalizer: &str) {
    let ns = namespace_of(obj);
    let name = meta::meta_str(obj, "name").to_string();
    let _ = cluster.modify(
        rt,
        ns.as_deref(),
        &name,
        Part::Main,
        WriteOptions::by(CONTROLLER_MANAGER),
        |current| {
            let mut next = current.clone();
            let kept: Vec<String> = meta::finalizers(current)
                .into_iter()
                .filter(|f| f != finalizer)
                .collect();
            meta::set_pointer(&mut next, "/metadata/finalizers", json!(kept));
            Ok(next)
        },
    );
}

/// Orphan propagation: strip this owner from its dependents, then let it go.
fn orphan_dependents(cluster: &Cluster, rt: &ResourceType, obj: &Value) {
    let uid = meta::meta_str(obj, "uid").to_string();
    for (resource, key) in cluster.inspect(|s| s.dependents_of(&uid)) {
        if let Some(drt) = storage_type(cluster, &resource) {
            let ns = Some(key.0.as_str()).filter(|s| !s.is_empty());
            let _ = drop_owner_reference(cluster, &drt, ns, &key.1, &uid);
        }
    }
    remove_finalizer(cluster, rt, obj, "orphan");
}

/// Foreground propagation: delete dependents (themselves in the foreground); release the
/// owner once none is left.
fn delete_dependents_first(cluster: &Cluster, rt: &ResourceType, obj: &Value) {
    let uid = meta::meta_str(obj, "uid").to_string();
    let dependents = cluster.inspect(|s| s.dependents_of(&uid));
    if dependents.is_empty() {
        remove_finalizer(cluster, rt, obj, "foregroundDeletion");
        return;
    }
    for (resource, key) in dependents {
        if let Some(drt) = storage_type(cluster, &resource) {
            let ns = Some(key.0.as_str()).filter(|s| !s.is_empty());
            let _ = cluster.delete(
                &drt,
                ns,
                &key.1,
                &DeleteOptions {
                    propagation: Some(Propagation::Foreground),
                    ..Default::default()
                },
            );
        }
    }
}

/// When a dependent goes, an owner waiting in the foreground may now be free.
fn release_owners(cluster: &Cluster, dependent: &Value) {
    let ns = namespace_of(dependent);
    for (api_version, kind, name, uid) in owners(dependent) {
        let (group, version) = api_version
            .split_once('/')
            .unwrap_or(("", api_version.as_str()));
        let registry = cluster.registry();
        let Some(rt) = registry.by_kind(group, version, &kind) else {
            continue;
        };
        let owner_ns = if rt.namespaced { ns.as_deref() } else { None };
        if let Ok(owner) = cluster.get(&rt, owner_ns, &name)
            && meta::meta_str(&owner, "uid") == uid
            && meta::is_deleting(&owner)
            && meta::finalizers(&owner)
                .iter()
                .any(|f| f == "foregroundDeletion")
        {
            delete_dependents_first(cluster, &rt, &owner);
        }
    }
}

/// A deleted CRD takes its custom resources with it, then its cleanup finalizer goes.
fn cleanup_crd(cluster: &Cluster, rt: &ResourceType, crd: &Value) {
    if let Some(group) = crd.at("/spec/group").and_then(Value::as_str)
        && let Some(plural) = crd.at("/spec/names/plural").and_then(Value::as_str)
    {
        cluster.purge(&StorageKey::new(group, plural));
    }
    remove_finalizer(cluster, rt, crd, CRD_CLEANUP_FINALIZER);
}
