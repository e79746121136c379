//! The event a Flux controller posts to notification-controller (fluxcd/pkg
//! `apis/event/v1beta1.Event`), as fluxcd/pkg's `runtime/events` recorder builds it, and
//! what the event server does on arrival: the metadata cleanup, the key of duplicate
//! suppression and the rate limit that drops duplicates.

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::flux::events::FluxEvent;

/// The Event API group: annotations of an object with this prefix travel with its
/// events (`event.toolkit.fluxcd.io/summary`).
pub const EVENT_GROUP: &str = "event.toolkit.fluxcd.io";

/// The object an event is about (`corev1.ObjectReference`, the fields Flux fills).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvolvedObject {
    /// Its kind.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// `group/version`.
    pub api_version: String,
    /// Its resourceVersion when the event was made.
    pub resource_version: String,
}

impl InvolvedObject {
    /// The reference to `object`.
    pub fn of(object: &Value) -> InvolvedObject {
        let s = |p: &str| {
            object
                .at(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        InvolvedObject {
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            uid: s("/metadata/uid"),
            api_version: s("/apiVersion"),
            resource_version: s("/metadata/resourceVersion"),
        }
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        match self.api_version.split_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }

    /// `Kind/namespace/name`, as notification-controller names it in messages.
    pub fn display(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// One event (`eventv1.Event`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// What it is about.
    pub involved_object: InvolvedObject,
    /// `info` or `error` (`trace` events are never posted).
    pub severity: String,
    /// When (RFC 3339, seconds).
    pub timestamp: String,
    /// What happened.
    pub message: String,
    /// Why (the object's Ready reason when it was emitted).
    pub reason: String,
    /// Metadata (`<group>/revision`, `event.toolkit.fluxcd.io/…`).
    pub metadata: BTreeMap<String, String>,
    /// `kustomize-controller`, `source-controller`, `helm-controller`.
    pub reporting_controller: String,
    /// The controller's host name.
    pub reporting_instance: String,
}

/// Severity of an error event.
pub const SEVERITY_ERROR: &str = "error";
/// Severity of an informational event.
pub const SEVERITY_INFO: &str = "info";

impl Event {
    /// The event fluxcd/pkg's recorder posts for `event` about `object`: a Warning is an
    /// `error`, anything else `info`; the metadata is the event's with the object's
    /// `event.toolkit.fluxcd.io/` annotations over it.
    pub fn recorded(
        object: &Value,
        event: &FluxEvent,
        controller: &str,
        instance: &str,
        now: &str,
    ) -> Event {
        Event {
            involved_object: InvolvedObject::of(object),
            severity: if event.warning {
                SEVERITY_ERROR
            } else {
                SEVERITY_INFO
            }
            .to_string(),
            timestamp: now.to_string(),
            message: event.message.clone(),
            reason: event.reason.clone(),
            metadata: with_event_annotations(object, &event.metadata),
            reporting_controller: controller.to_string(),
            reporting_instance: instance.to_string(),
        }
    }

    /// The event as JSON, in Go's field order (what [`Event::to_go_json`] writes).
    pub fn to_value(&self) -> Value {
        let o = &self.involved_object;
        let mut involved = serde_json::Map::new();
        for (key, value) in [
            ("kind", &o.kind),
            ("namespace", &o.namespace),
            ("name", &o.name),
            ("uid", &o.uid),
            ("apiVersion", &o.api_version),
            ("resourceVersion", &o.resource_version),
        ] {
            // `omitempty` on every field of an ObjectReference.
            if !value.is_empty() {
                involved.insert(key.into(), json!(value));
            }
        }
        let mut event = serde_json::Map::new();
        event.insert("involvedObject".into(), Value::Object(involved));
        event.insert("severity".into(), json!(self.severity));
        event.insert("timestamp".into(), json!(self.timestamp));
        event.insert("message".into(), json!(self.message));
        event.insert("reason".into(), json!(self.reason));
        if !self.metadata.is_empty() {
            event.insert("metadata".into(), json!(self.metadata));
        }
        event.insert(
            "reportingController".into(),
            json!(self.reporting_controller),
        );
        if !self.reporting_instance.is_empty() {
            event.insert("reportingInstance".into(), json!(self.reporting_instance));
        }
        Value::Object(event)
    }

    /// The bytes Go's `json.Marshal` writes for this event (what generic-hmac signs).
    pub fn to_go_json(&self) -> String {
        go_json(&self.to_value())
    }

    /// The metadata key `<involved group>/<key>`.
    fn object_key(&self, key: &str) -> String {
        format!("{}/{key}", self.involved_object.group())
    }

    /// The value of `<involved group>/<key>`.
    pub fn object_metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(&self.object_key(key)).map(String::as_str)
    }
}

/// `metadata` with the `event.toolkit.fluxcd.io/` annotations of `object` over it (the
/// Kubernetes Event carries them too).
pub fn with_event_annotations(
    object: &Value,
    metadata: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = metadata.clone();
    let prefix = format!("{EVENT_GROUP}/");
    if let Some(annotations) = object
        .at("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for (key, value) in annotations {
            if key.starts_with(&prefix)
                && let Some(value) = value.as_str()
            {
                out.insert(key.clone(), value.to_string());
            }
        }
    }
    out
}

/// The event server's `cleanupMetadata`: only keys prefixed with the Event API group or
/// the involved object's group are kept, without the object group's `checksum` and
/// `digest` (compared case-insensitively).
pub fn cleanup_metadata(event: &mut Event) {
    let event_prefix = format!("{EVENT_GROUP}/");
    let object_prefix = format!("{}/", event.involved_object.group());
    let excluded = [
        format!("{object_prefix}checksum"),
        format!("{object_prefix}digest"),
    ];
    event.metadata.retain(|key, _| {
        !excluded.iter().any(|e| e.eq_ignore_ascii_case(key))
            && (key.starts_with(&event_prefix) || key.starts_with(&object_prefix))
    });
}

/// The event server's `excludeInternalMetadata`: the object group's `token` is used for
/// duplicate suppression only and never dispatched.
pub fn exclude_internal_metadata(event: &mut Event) {
    let key = event.object_key("token");
    event.metadata.remove(&key);
}

/// The event server's `eventKeyFunc`: the sha256, in hex, of the involved object's name,
/// namespace and kind, the message, and the object group's `originRevision`, `revision`
/// and `token` when present.
pub fn event_key(event: &Event) -> String {
    let o = &event.involved_object;
    let mut parts = vec![
        "event".to_string(),
        format!("name={}", o.name),
        format!("namespace={}", o.namespace),
        format!("kind={}", o.kind),
        format!("message={}", event.message),
    ];
    for key in ["originRevision", "revision", "token"] {
        if let Some(value) = event.object_metadata(key) {
            parts.push(format!("{key}={value}"));
        }
    }
    hex(&Sha256::digest(parts.join("/").as_bytes()))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The event server's rate limit (go-limiter's memory store with one token per
/// `--rate-limit-interval`): per key, one event per interval, the intervals counted from
/// the key's first event; a key unused for two intervals is forgotten.
#[derive(Debug)]
pub struct DuplicateFilter {
    interval: Duration,
    buckets: HashMap<String, Bucket>,
    swept: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// When the key was first seen: intervals are counted from here.
    start: Instant,
    /// The interval whose token was last taken.
    tick: u128,
    /// When an event of this key last came.
    last: Instant,
}

impl DuplicateFilter {
    /// One event per key per `interval`.
    pub fn new(interval: Duration) -> DuplicateFilter {
        DuplicateFilter {
            interval,
            buckets: HashMap::new(),
            swept: None,
        }
    }

    /// Whether an event of `key` arriving at `now` passes (else it is a duplicate: the
    /// event server's 429).
    pub fn admit(&mut self, key: &str, now: Instant) -> bool {
        self.sweep(now);
        let interval = self.interval.as_nanos().max(1);
        match self.buckets.get_mut(key) {
            None => {
                self.buckets.insert(
                    key.to_string(),
                    Bucket {
                        start: now,
                        tick: 0,
                        last: now,
                    },
                );
                true
            }
            Some(bucket) => {
                bucket.last = now;
                let tick = now.duration_since(bucket.start).as_nanos() / interval;
                if tick > bucket.tick {
                    bucket.tick = tick;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Forgets keys unused for two intervals, at most once per interval.
    fn sweep(&mut self, now: Instant) {
        if self
            .swept
            .is_some_and(|at| now.duration_since(at) < self.interval)
        {
            return;
        }
        self.swept = Some(now);
        let ttl = self.interval * 2;
        self.buckets
            .retain(|_, bucket| now.duration_since(bucket.last) < ttl);
    }
}

/// `value` as Go's `encoding/json` writes it, keys in the order given (structs in field
/// order; maps must be given sorted, as Go sorts map keys).
pub fn go_json(value: &Value) -> String {
    flotilla_core::gofmt::marshal_in_order(value)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// notification-controller's `testEvent()` (internal/notifier/client_test.go).
    pub(crate) fn upstream_test_event() -> Event {
        Event {
            involved_object: InvolvedObject {
                kind: "GitRepository".into(),
                namespace: "gitops-system".into(),
                name: "webapp".into(),
                ..Default::default()
            },
            severity: "info".into(),
            timestamp: "2022-09-30T06:40:29Z".into(),
            message: "message".into(),
            reason: "reason".into(),
            metadata: BTreeMap::from([("test".into(), "metadata".into())]),
            reporting_controller: "source-controller".into(),
            reporting_instance: "source-controller-xyz".into(),
        }
    }

    #[test]
    fn the_event_is_written_as_go_marshals_it() {
        assert_eq!(
            upstream_test_event().to_go_json(),
            r#"{"involvedObject":{"kind":"GitRepository","namespace":"gitops-system","name":"webapp"},"severity":"info","timestamp":"2022-09-30T06:40:29Z","message":"message","reason":"reason","metadata":{"test":"metadata"},"reportingController":"source-controller","reportingInstance":"source-controller-xyz"}"#
        );
        let mut html = upstream_test_event();
        html.message = "a <b> & \"c\"\n\u{2028}".into();
        html.metadata.clear();
        html.reporting_instance.clear();
        let text = html.to_go_json();
        assert!(
            text.contains(r#""message":"a \u003cb\u003e \u0026 \"c\"\n\u2028""#),
            "{text}"
        );
        assert!(!text.contains("metadata") && !text.contains("reportingInstance"));
    }

    fn kustomization_event(metadata: &[(&str, &str)]) -> Event {
        Event {
            involved_object: InvolvedObject {
                kind: "Kustomization".into(),
                namespace: "flux-system".into(),
                name: "apps".into(),
                api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
                ..Default::default()
            },
            severity: "info".into(),
            message: "Reconciliation finished".into(),
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_two_prefixes_are_kept_without_checksum_and_digest() {
        let mut event = kustomization_event(&[
            ("kustomize.toolkit.fluxcd.io/revision", "main@sha1:abc"),
            ("kustomize.toolkit.fluxcd.io/Digest", "sha256:x"),
            ("kustomize.toolkit.fluxcd.io/checksum", "y"),
            ("event.toolkit.fluxcd.io/summary", "prod"),
            ("source.toolkit.fluxcd.io/revision", "other group"),
            ("revision", "no prefix"),
        ]);
        cleanup_metadata(&mut event);
        assert_eq!(
            event.metadata.keys().collect::<Vec<_>>(),
            [
                "event.toolkit.fluxcd.io/summary",
                "kustomize.toolkit.fluxcd.io/revision"
            ]
        );
        let mut token = kustomization_event(&[("kustomize.toolkit.fluxcd.io/token", "t")]);
        exclude_internal_metadata(&mut token);
        assert!(token.metadata.is_empty());
    }

    #[test]
    fn the_duplicate_key_is_upstreams_sha256() {
        let event = kustomization_event(&[
            ("kustomize.toolkit.fluxcd.io/revision", "main@sha1:abc"),
            ("kustomize.toolkit.fluxcd.io/token", "7"),
        ]);
        let text = "event/name=apps/namespace=flux-system/kind=Kustomization/message=Reconciliation finished/revision=main@sha1:abc/token=7";
        assert_eq!(event_key(&event), hex(&Sha256::digest(text.as_bytes())));
        // Metadata outside the three keys does not make an event another.
        let mut other = event.clone();
        other
            .metadata
            .insert("event.toolkit.fluxcd.io/summary".into(), "x".into());
        assert_eq!(event_key(&other), event_key(&event));
        other.message = "Reconciliation failed".into();
        assert_ne!(event_key(&other), event_key(&event));
    }

    #[tokio::test(start_paused = true)]
    async fn a_duplicate_passes_once_per_interval_counted_from_the_first() {
        let mut filter = DuplicateFilter::new(Duration::from_secs(300));
        let t0 = Instant::now();
        assert!(filter.admit("k", t0));
        assert!(!filter.admit("k", t0 + Duration::from_secs(1)));
        assert!(filter.admit("other", t0 + Duration::from_secs(1)));
        assert!(!filter.admit("k", t0 + Duration::from_secs(299)));
        // The next interval starts 300 s after the first event, not after the last.
        assert!(filter.admit("k", t0 + Duration::from_secs(301)));
        assert!(!filter.admit("k", t0 + Duration::from_secs(599)));
        assert!(filter.admit("k", t0 + Duration::from_secs(600)));
        // Unused for two intervals: forgotten, a new first event.
        assert!(filter.admit("k", t0 + Duration::from_secs(600 + 700)));
        assert!(!filter.admit("k", t0 + Duration::from_secs(600 + 701)));
    }

    #[test]
    fn object_annotations_of_the_event_group_join_the_metadata() {
        let object = json!({"metadata": {"annotations": {
            "event.toolkit.fluxcd.io/summary": "prod cluster",
            "kustomize.toolkit.fluxcd.io/other": "not copied"}}});
        let metadata = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let merged = with_event_annotations(&object, &metadata);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged["event.toolkit.fluxcd.io/summary"], "prod cluster");
    }
}
