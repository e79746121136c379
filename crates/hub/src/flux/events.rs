//! Kubernetes Events for the Flux objects, as kustomize-controller records them through
//! client-go's event recorder (what `kubectl describe` and `flux events` show): the reason
//! is the object's Ready reason when the event is emitted, an error is a `Warning`, the
//! metadata (the revision) goes into the Event's annotations, and an identical event
//! within ten minutes raises the count of the one already written instead of adding
//! another (client-go's `EventLogger`).

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::lock;

/// One event to record about the object a reconcile ran for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxEvent {
    /// `Warning` (an error) rather than `Normal`.
    pub warning: bool,
    /// The object's Ready reason when it was emitted.
    pub reason: String,
    /// What happened.
    pub message: String,
    /// Annotations of the Event (`kustomize.toolkit.fluxcd.io/revision`, …).
    pub metadata: BTreeMap<String, String>,
}

/// How long an identical event raises the count of the last one (client-go's
/// `defaultAggregateIntervalInSeconds` is the same ten minutes).
const SAME_EVENT_WINDOW: Duration = Duration::from_secs(600);

/// How many recent events are remembered for counting (client-go keeps 4,096).
const REMEMBERED: usize = 4096;

/// The events written recently, by what makes two events the same.
#[derive(Debug, Default)]
struct Recent {
    written: HashMap<String, Written>,
}

#[derive(Debug, Clone)]
struct Written {
    /// The Event's name.
    name: String,
    count: u64,
    /// When it last occurred.
    at: Instant,
}

/// What to write for an event.
#[derive(Debug, PartialEq, Eq)]
enum Write {
    /// A new Event.
    Create,
    /// One more occurrence of the Event `name`: its new count.
    Count { name: String, count: u64 },
}

impl Recent {
    fn next(&mut self, key: &str, at: Instant) -> Write {
        match self.written.get_mut(key) {
            Some(w) if at.duration_since(w.at) < SAME_EVENT_WINDOW => {
                w.count += 1;
                w.at = at;
                Write::Count {
                    name: w.name.clone(),
                    count: w.count,
                }
            }
            _ => Write::Create,
        }
    }

    fn remember(&mut self, key: String, written: Written) {
        if self.written.len() >= REMEMBERED {
            let now = written.at;
            self.written
                .retain(|_, w| now.duration_since(w.at) < SAME_EVENT_WINDOW);
            if self.written.len() >= REMEMBERED {
                self.written.clear();
            }
        }
        self.written.insert(key, written);
    }

    fn forget(&mut self, key: &str) {
        self.written.remove(key);
    }
}

/// Writes the events of one controller (`source.component`: `kustomize-controller`).
pub struct Recorder {
    hub: kube::Client,
    component: &'static str,
    recent: Mutex<Recent>,
}

impl Recorder {
    /// A recorder writing to the hub as `component`.
    pub fn new(hub: kube::Client, component: &'static str) -> Recorder {
        Recorder {
            hub,
            component,
            recent: Mutex::default(),
        }
    }

    /// Records `event` about `object` at `now` (RFC 3339). A failed write is logged: an
    /// event is worth less than the reconcile that emitted it.
    pub async fn record(&self, object: &Value, event: &FluxEvent, now: &str) {
        let involved = involved_object(object);
        let namespace = involved["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let key = correlation_key(self.component, &involved, event);
        let write = lock(&self.recent).next(&key, Instant::now());
        let api: Api<Event> = Api::namespaced(self.hub.clone(), &namespace);
        if let Write::Count { name, count } = &write {
            let patch = json!({"count": count, "lastTimestamp": now});
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                .await
            {
                Ok(_) => return,
                // Gone (expired, deleted): written anew.
                Err(e) => {
                    tracing::debug!(event = %name, error = %e, "counting an event again");
                    lock(&self.recent).forget(&key);
                }
            }
        }
        let name = event_name(involved["name"].as_str().unwrap_or(""));
        let body = event_body(self.component, &name, involved, event, now);
        let result = match serde_json::from_value::<Event>(body) {
            Ok(body) => api.create(&PostParams::default(), &body).await.map(|_| ()),
            Err(e) => Err(kube::Error::SerdeError(e)),
        };
        match result {
            Ok(()) => lock(&self.recent).remember(
                key,
                Written {
                    name,
                    count: 1,
                    at: Instant::now(),
                },
            ),
            Err(e) => {
                tracing::warn!(reason = %event.reason, error = %e, "writing a Flux event");
            }
        }
    }
}

/// The `involvedObject` reference of `object`.
fn involved_object(object: &Value) -> Value {
    let s = |p: &str| object.at(p).cloned().unwrap_or(Value::Null);
    json!({
        "apiVersion": s("/apiVersion"),
        "kind": s("/kind"),
        "name": s("/metadata/name"),
        "namespace": s("/metadata/namespace"),
        "uid": s("/metadata/uid"),
        "resourceVersion": s("/metadata/resourceVersion"),
    })
}

/// What makes two events the same (client-go's `getEventKey`: source, object, type,
/// reason and message — not the resourceVersion, which every status write changes).
fn correlation_key(component: &str, involved: &Value, event: &FluxEvent) -> String {
    let f = |k: &str| involved[k].as_str().unwrap_or("").to_string();
    [
        component.to_string(),
        f("kind"),
        f("namespace"),
        f("name"),
        f("uid"),
        f("apiVersion"),
        event_type(event).to_string(),
        event.reason.clone(),
        event.message.clone(),
    ]
    .join("\u{0}")
}

fn event_type(event: &FluxEvent) -> &'static str {
    if event.warning { "Warning" } else { "Normal" }
}

/// client-go's event name: the object's name and the time in nanoseconds, in hex.
fn event_name(object_name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{object_name}.{nanos:x}")
}

fn event_body(component: &str, name: &str, involved: Value, event: &FluxEvent, now: &str) -> Value {
    let mut metadata = json!({"name": name, "namespace": involved["namespace"]});
    if !event.metadata.is_empty() {
        metadata["annotations"] = json!(event.metadata);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": metadata,
        "involvedObject": involved,
        "reason": event.reason,
        "message": event.message,
        "type": event_type(event),
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": component,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message: &str) -> FluxEvent {
        FluxEvent {
            warning: true,
            reason: "BuildFailed".into(),
            message: message.into(),
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn an_identical_event_within_ten_minutes_counts_the_first() {
        let object = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                            "metadata": {"name": "apps", "namespace": "flux-system", "uid": "u1",
                                         "resourceVersion": "5"}});
        let involved = involved_object(&object);
        let key = correlation_key("kustomize-controller", &involved, &event("bad"));
        let mut recent = Recent::default();
        let t0 = Instant::now();
        assert_eq!(recent.next(&key, t0), Write::Create);
        recent.remember(
            key.clone(),
            Written {
                name: "apps.1".into(),
                count: 1,
                at: t0,
            },
        );
        let again = recent.next(&key, t0 + Duration::from_secs(60));
        assert_eq!(
            again,
            Write::Count {
                name: "apps.1".into(),
                count: 2,
            }
        );
        // Ten minutes after the last occurrence, a new Event.
        assert_eq!(
            recent.next(&key, t0 + Duration::from_secs(60 + 600)),
            Write::Create
        );
        // Another message, another status write (resourceVersion): another key, the same key.
        let other = correlation_key("kustomize-controller", &involved, &event("worse"));
        assert_ne!(other, key);
        let mut written = object.clone();
        written["metadata"]["resourceVersion"] = json!("6");
        let same = correlation_key(
            "kustomize-controller",
            &involved_object(&written),
            &event("bad"),
        );
        assert_eq!(same, key);
    }

    #[test]
    fn the_event_body_is_what_client_go_writes() {
        let object = json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                            "metadata": {"name": "apps", "namespace": "flux-system", "uid": "u1",
                                         "resourceVersion": "5"}});
        let mut e = event("kustomization path not found");
        e.metadata.insert(
            "kustomize.toolkit.fluxcd.io/revision".into(),
            "main@sha1:abc".into(),
        );
        let name = event_name("apps");
        assert!(name.starts_with("apps.") && name.len() > 10, "{name}");
        let body = event_body(
            "kustomize-controller",
            &name,
            involved_object(&object),
            &e,
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(body["metadata"]["namespace"], "flux-system");
        assert_eq!(
            body["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/revision"],
            "main@sha1:abc"
        );
        assert_eq!(body["involvedObject"]["kind"], "Kustomization");
        assert_eq!(body["involvedObject"]["uid"], "u1");
        assert_eq!(body["type"], "Warning");
        assert_eq!(body["reason"], "BuildFailed");
        assert_eq!(body["source"]["component"], "kustomize-controller");
        assert_eq!(body["count"], 1);
    }
}
