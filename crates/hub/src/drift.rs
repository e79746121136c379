//! Drift on the managed clusters, seen from watches: one watch per cluster and kind that
//! the hub's applications applied, selecting only objects that carry the instance label.
//! A change made by another field manager after our last apply (a `kubectl edit`, a
//! `kubectl scale`) or a deletion is recorded with the manager and the field paths, and
//! the owning application is queued: with selfHeal it is applied again at once, without
//! it its status turns OutOfSync.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher;
use serde_json::Value;

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

/// The watches and what they saw.
#[derive(Clone)]
pub struct DriftWatches {
    inner: Arc<Inner>,
}

struct Inner {
    queue: WorkQueue,
    watches: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    events: Mutex<VecDeque<DriftEvent>>,
    /// Applications with drift not yet answered by a full sync.
    drifted: Mutex<HashSet<String>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self
            .watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            task.abort();
        }
    }
}

impl DriftWatches {
    /// Watches that queue drifted applications on `queue`.
    pub fn new(queue: WorkQueue) -> DriftWatches {
        DriftWatches {
            inner: Arc::new(Inner {
                queue,
                watches: Mutex::default(),
                events: Mutex::default(),
                drifted: Mutex::default(),
            }),
        }
    }

    /// Makes sure objects of `resource` on the cluster at `server` are watched.
    pub fn ensure(&self, server: &str, client: &kube::Client, resource: &ApiResource) {
        let id = format!("{server}|{}/{}", resource.api_version, resource.plural);
        let mut watches = self.inner.watches.lock().unwrap_or_else(|e| e.into_inner());
        if watches.get(&id).is_some_and(|t| !t.is_finished()) {
            return;
        }
        let task = tokio::spawn(watch(
            Arc::downgrade(&self.inner),
            server.to_string(),
            client.clone(),
            resource.clone(),
        ));
        watches.insert(id, task);
    }

    /// Drift events seen so far (the most recent last, at most the last 1,024).
    pub fn events(&self) -> Vec<DriftEvent> {
        self.inner
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Whether `app` drifted since the last call for it (which clears the mark): its
    /// next reconcile must apply in full.
    pub fn take_drifted(&self, app: &str) -> bool {
        self.inner
            .drifted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(app)
    }
}

async fn watch(
    inner: std::sync::Weak<Inner>,
    server: String,
    client: kube::Client,
    resource: ApiResource,
) {
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    let config = watcher::Config::default().labels(flotilla_sync::tracking::INSTANCE_LABEL);
    let mut events = crate::controller::watch_with_backoff(api, config);
    while let Some(event) = events.next().await {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let (object, deleted) = match event {
            // The initial listing shows what is there, not what changed.
            Ok(watcher::Event::Apply(o)) => (o, false),
            Ok(watcher::Event::Delete(o)) => (o, true),
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(%server, error = %e, "drift watch");
                continue;
            }
        };
        let value = serde_json::to_value(&object).unwrap_or(Value::Null);
        if let Some(event) = drift_of(&value, deleted, &server) {
            tracing::info!(app = %event.app, object = %event.object, managers = ?event.managers, fields = ?event.fields, deleted, "drift");
            crate::metrics::global().drift(&server);
            // Marked before it is queued: the reconcile it triggers must see the mark.
            inner
                .drifted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(event.app.clone());
            inner.queue.add(event.app.clone());
            let mut kept = inner.events.lock().unwrap_or_else(|e| e.into_inner());
            kept.push_back(event);
            while kept.len() > KEPT_EVENTS {
                kept.pop_front();
            }
        }
    }
}

/// The drift an observed object shows, if any: deleted, or changed by another manager
/// (outside the status subresource) after our last apply.
pub fn drift_of(object: &Value, deleted: bool, server: &str) -> Option<DriftEvent> {
    let annotation = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(flotilla_sync::tracking::TRACKING_ANNOTATION))
        .and_then(Value::as_str)?;
    let (instance, key) = flotilla_sync::tracking::parse_tracking_id(annotation)?;
    // The instance is `<namespace>_<name>`; Application namespaces have no `_`.
    let (app_namespace, app_name) = instance.split_once('_')?;
    let app = format!("{app_namespace}/{app_name}");
    let object_name = format!("{} {}/{}", key.kind, key.namespace, key.name);
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
        .pointer("/metadata/managedFields")
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
                "labels": {"app.flotilla.dev/instance": "argocd_web"},
                "annotations": {"flotilla.dev/tracking-id": "argocd_web:apps/Deployment:shop/web"},
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
        let d = drift_of(&o, false, "https://c").unwrap();
        assert_eq!(d.app, "argocd/web");
        assert_eq!(d.object, "Deployment shop/web");
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
        assert!(drift_of(&o, false, "https://c").is_none());
        assert!(drift_of(&o, true, "https://c").unwrap().deleted);
        let mut untracked = o.clone();
        untracked["metadata"]["annotations"] = json!({});
        assert!(drift_of(&untracked, true, "https://c").is_none());
    }
}
