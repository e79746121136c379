//! Alerts (`notification.toolkit.fluxcd.io/v1beta3`) as notification-controller's event
//! server reads them: which events an Alert takes (`filterAlertsForEvent`) and the
//! metadata its provider is given (`combineEventMetadata`). Pure functions; the label
//! look-up of `matchLabels` is the caller's.

use flotilla_core::pointer::Pointer as _;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::event::{EVENT_GROUP, Event, SEVERITY_INFO};

/// A local object reference (`meta.LocalObjectReference`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LocalRef {
    /// The object's name.
    #[serde(default)]
    pub name: String,
}

/// An object in any namespace (`CrossNamespaceObjectReference`): an entry of an Alert's
/// `spec.eventSources` and, with a filter beside it, of a Receiver's `spec.resources`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    /// The API version (an Alert does not compare it; a Receiver defaults it for Flux's
    /// source kinds).
    #[serde(default)]
    pub api_version: String,
    /// The kind, compared exactly.
    #[serde(default)]
    pub kind: String,
    /// The name, or `*` for every object of the kind (no other globbing), which
    /// `matchLabels` narrows.
    #[serde(default)]
    pub name: String,
    /// The namespace; the referring object's when empty.
    #[serde(default)]
    pub namespace: String,
    /// Labels the live object must carry.
    #[serde(default)]
    pub match_labels: Option<BTreeMap<String, String>>,
}

/// An Alert's `spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertSpec {
    /// The Provider of the Alert's namespace that sends its notifications.
    #[serde(default)]
    pub provider_ref: LocalRef,
    /// `info` (every event; the CRD's default) or `error` (errors only).
    #[serde(default)]
    pub event_severity: String,
    /// The objects whose events the Alert takes.
    #[serde(default)]
    pub event_sources: Vec<CrossNamespaceObjectReference>,
    /// Go regular expressions, one of which a message must match when set.
    #[serde(default)]
    pub inclusion_list: Vec<String>,
    /// Metadata added to every notification.
    #[serde(default)]
    pub event_metadata: BTreeMap<String, String>,
    /// Go regular expressions none of which a message may match.
    #[serde(default)]
    pub exclusion_list: Vec<String>,
    /// Deprecated: added as the metadata key `summary`.
    #[serde(default)]
    pub summary: String,
    /// A suspended Alert takes no events.
    #[serde(default)]
    pub suspend: bool,
}

/// An Alert as the event server sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its spec.
    pub spec: AlertSpec,
    /// The object, for the events about it.
    pub object: Value,
}

impl Alert {
    /// The Alert `object`, or why its spec cannot be read.
    pub fn from_object(object: &Value) -> Result<Alert, String> {
        let s = |p: &str| {
            object
                .at(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let spec = serde_json::from_value(object.get("spec").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("invalid spec: {e}"))?;
        Ok(Alert {
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            spec,
            object: object.clone(),
        })
    }
}

/// Whether an event source takes an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceMatch<'a> {
    /// It does not.
    No,
    /// It does.
    Yes,
    /// It does if the live object carries these labels.
    IfLabelled(&'a BTreeMap<String, String>),
}

/// The event server's `eventMatchesAlertSource` without the look-up: the same namespace
/// (the Alert's when the source names none) and kind, a severity the Alert takes, the
/// same name or `*`, then the labels when `matchLabels` is set.
pub fn source_match<'a>(
    event: &Event,
    alert: &Alert,
    source: &'a CrossNamespaceObjectReference,
) -> SourceMatch<'a> {
    let namespace = if source.namespace.is_empty() {
        &alert.namespace
    } else {
        &source.namespace
    };
    let o = &event.involved_object;
    if &o.namespace != namespace || o.kind != source.kind {
        return SourceMatch::No;
    }
    // An empty severity is the CRD's default, `info`.
    let severity = match alert.spec.event_severity.as_str() {
        "" => SEVERITY_INFO,
        other => other,
    };
    if event.severity != severity && severity != SEVERITY_INFO {
        return SourceMatch::No;
    }
    if source.name != "*" && source.name != o.name {
        return SourceMatch::No;
    }
    match &source.match_labels {
        None => SourceMatch::Yes,
        Some(labels) => SourceMatch::IfLabelled(labels),
    }
}

/// Whether `labels` carry every pair of `wanted`.
pub fn labels_match(wanted: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The message filters' verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageVerdict {
    /// Whether the message passes.
    pub passes: bool,
    /// The patterns that did not compile, as the event server words its `InvalidConfig`
    /// events (`failed to compile inclusion regex: <pattern>`), in the order met.
    pub invalid: Vec<String>,
}

/// The event server's `messageIsIncluded` then `messageIsExcluded`: with an inclusion
/// list, some entry must match (the first match ends the search); no exclusion entry may
/// match (likewise). A pattern that does not compile is skipped and reported.
pub fn message_verdict(message: &str, spec: &AlertSpec) -> MessageVerdict {
    let mut invalid = Vec::new();
    let first_match = |list: &[String], which: &str, invalid: &mut Vec<String>| {
        for pattern in list {
            match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(message) => return true,
                Ok(_) => {}
                Err(_) => invalid.push(format!("failed to compile {which} regex: {pattern}")),
            }
        }
        false
    };
    let included = spec.inclusion_list.is_empty()
        || first_match(&spec.inclusion_list, "inclusion", &mut invalid);
    if !included {
        return MessageVerdict {
            passes: false,
            invalid,
        };
    }
    let excluded = !spec.exclusion_list.is_empty()
        && first_match(&spec.exclusion_list, "exclusion", &mut invalid);
    MessageVerdict {
        passes: !excluded,
        invalid,
    }
}

/// The metadata a provider is given, and the keys that more than one source set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Combined {
    /// The metadata, prefixes stripped.
    pub metadata: BTreeMap<String, String>,
    /// Each conflicting key with its sources joined by `, ` (the annotations of the
    /// `MetadataAppendFailed` event).
    pub conflicts: BTreeMap<String, String>,
}

/// The message of the `MetadataAppendFailed` warning.
pub const CONFLICT_MESSAGE: &str = "metadata key conflicts detected (please refer to the Alert API docs and Flux RFC 0008 for more information)";

/// The event server's `combineEventMetadata` (Flux RFC 0008). Later sources win:
/// 1. the event's `event.toolkit.fluxcd.io/` keys, prefix stripped;
/// 2. the Alert's `spec.eventMetadata`;
/// 3. the Alert's deprecated `spec.summary`, as `summary`;
/// 4. the event's `<involved group>/` keys, prefix stripped.
pub fn combine_metadata(event: &Event, spec: &AlertSpec) -> Combined {
    const FROM_EVENT_GROUP: &str = "involved object annotations";
    const FROM_ALERT_METADATA: &str = "Alert object .spec.eventMetadata";
    const FROM_ALERT_SUMMARY: &str = "Alert object .spec.summary";
    const FROM_OBJECT_GROUP: &str = "involved object controller metadata";
    let mut metadata = BTreeMap::new();
    let mut sources: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut put = |key: &str, value: &str, source: &'static str| {
        metadata.insert(key.to_string(), value.to_string());
        sources.entry(key.to_string()).or_default().push(source);
    };
    let event_prefix = format!("{EVENT_GROUP}/");
    for (key, value) in &event.metadata {
        if let Some(stripped) = key.strip_prefix(&event_prefix) {
            put(stripped, value, FROM_EVENT_GROUP);
        }
    }
    for (key, value) in &spec.event_metadata {
        put(key, value, FROM_ALERT_METADATA);
    }
    if !spec.summary.is_empty() {
        put("summary", &spec.summary, FROM_ALERT_SUMMARY);
    }
    let object_prefix = format!("{}/", event.involved_object.group());
    for (key, value) in &event.metadata {
        if let Some(stripped) = key.strip_prefix(&object_prefix) {
            put(stripped, value, FROM_OBJECT_GROUP);
        }
    }
    let conflicts = sources
        .into_iter()
        .filter(|(_, from)| from.len() > 1)
        .map(|(key, from)| (key, from.join(", ")))
        .collect();
    Combined {
        metadata,
        conflicts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flux::notify::event::InvolvedObject;
    use serde_json::json;

    fn event(kind: &str, name: &str, severity: &str, message: &str) -> Event {
        Event {
            involved_object: InvolvedObject {
                kind: kind.into(),
                namespace: "flux-system".into(),
                name: name.into(),
                api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
                ..Default::default()
            },
            severity: severity.into(),
            message: message.into(),
            ..Default::default()
        }
    }

    fn alert(spec: Value) -> Alert {
        Alert::from_object(
            &json!({"metadata": {"name": "a", "namespace": "flux-system"},
                                   "spec": spec}),
        )
        .unwrap()
    }

    /// What the Alert's first source says: "no", "yes" or "labels".
    fn first_source(event: &Event, alert: &Alert) -> &'static str {
        match source_match(event, alert, &alert.spec.event_sources[0]) {
            SourceMatch::No => "no",
            SourceMatch::Yes => "yes",
            SourceMatch::IfLabelled(_) => "labels",
        }
    }

    #[test]
    fn sources_match_on_namespace_kind_severity_and_name() {
        let all = alert(json!({"eventSources": [{"kind": "Kustomization", "name": "*"}]}));
        let info = event("Kustomization", "apps", "info", "m");
        let error = event("Kustomization", "apps", "error", "m");
        assert_eq!(first_source(&info, &all), "yes");
        assert_eq!(first_source(&error, &all), "yes");
        let errors_only = alert(json!({"eventSeverity": "error",
            "eventSources": [{"kind": "Kustomization", "name": "*"}]}));
        assert_eq!(first_source(&info, &errors_only), "no");
        assert_eq!(first_source(&error, &errors_only), "yes");
        // No globbing but `*` alone; the kind is compared exactly.
        let glob = alert(json!({"eventSources": [{"kind": "Kustomization", "name": "ap*"}]}));
        assert_eq!(first_source(&info, &glob), "no");
        let kind = alert(json!({"eventSources": [{"kind": "kustomization", "name": "apps"}]}));
        assert_eq!(first_source(&info, &kind), "no");
        // Another namespace must be named.
        let other = alert(
            json!({"eventSources": [{"kind": "Kustomization", "name": "apps",
                                                     "namespace": "team"}]}),
        );
        assert_eq!(first_source(&info, &other), "no");
        let mut elsewhere = info.clone();
        elsewhere.involved_object.namespace = "team".into();
        assert_eq!(first_source(&elsewhere, &other), "yes");
        // Labels are looked up only once everything else matched.
        let labelled = alert(
            json!({"eventSources": [{"kind": "Kustomization", "name": "*",
                                                        "matchLabels": {"team": "a"}}]}),
        );
        assert!(matches!(
            source_match(&info, &labelled, &labelled.spec.event_sources[0]),
            SourceMatch::IfLabelled(l) if l["team"] == "a"
        ));
        let wanted = BTreeMap::from([("team".to_string(), "a".to_string())]);
        let mut labels = BTreeMap::from([("team".to_string(), "b".to_string())]);
        assert!(!labels_match(&wanted, &labels));
        labels.insert("team".into(), "a".into());
        labels.insert("tier".into(), "x".into());
        assert!(labels_match(&wanted, &labels));
    }

    #[test]
    fn inclusion_then_exclusion_with_invalid_patterns_skipped_and_named() {
        let spec = |inclusion: Value, exclusion: Value| {
            alert(json!({"inclusionList": inclusion, "exclusionList": exclusion})).spec
        };
        let verdict = |s: &AlertSpec, m: &str| message_verdict(m, s);
        let none = spec(json!([]), json!([]));
        assert!(verdict(&none, "anything").passes);
        let excluded = spec(json!([]), json!(["^Dependencies", "finished"]));
        assert!(!verdict(&excluded, "Reconciliation finished in 2s").passes);
        assert!(verdict(&excluded, "Health check failed").passes);
        let included = spec(json!(["failed"]), json!(["timeout"]));
        assert!(verdict(&included, "Health check failed").passes);
        assert!(!verdict(&included, "Health check failed after timeout").passes);
        assert!(!verdict(&included, "Reconciliation finished").passes);
        let broken = spec(json!(["(unclosed", "failed"]), json!(["[z-a]"]));
        let v = verdict(&broken, "Health check failed");
        assert!(v.passes);
        assert_eq!(
            v.invalid,
            [
                "failed to compile inclusion regex: (unclosed",
                "failed to compile exclusion regex: [z-a]"
            ]
        );
        // Not included: the exclusion list is not read, so its bad pattern goes unnamed.
        let v = verdict(&broken, "Reconciliation finished");
        assert!(!v.passes);
        assert_eq!(v.invalid, ["failed to compile inclusion regex: (unclosed"]);
    }

    #[test]
    fn metadata_is_combined_in_rfc_0008_order_with_conflicts_named() {
        let mut e = event("Kustomization", "apps", "info", "m");
        e.metadata = BTreeMap::from([
            (
                "event.toolkit.fluxcd.io/summary".into(),
                "from annotation".into(),
            ),
            ("event.toolkit.fluxcd.io/env".into(), "prod".into()),
            (
                "kustomize.toolkit.fluxcd.io/revision".into(),
                "main@sha1:abc".into(),
            ),
            (
                "kustomize.toolkit.fluxcd.io/env".into(),
                "from controller".into(),
            ),
        ]);
        let spec = alert(
            json!({"eventMetadata": {"cluster": "eu-1", "summary": "from alert"},
                                "summary": "deprecated summary"}),
        )
        .spec;
        let combined = combine_metadata(&e, &spec);
        assert_eq!(
            combined.metadata,
            BTreeMap::from([
                ("cluster".into(), "eu-1".into()),
                ("env".into(), "from controller".into()),
                ("revision".into(), "main@sha1:abc".into()),
                ("summary".into(), "deprecated summary".into()),
            ])
        );
        assert_eq!(
            combined.conflicts,
            BTreeMap::from([
                (
                    "env".into(),
                    "involved object annotations, involved object controller metadata".into()
                ),
                (
                    "summary".into(),
                    "involved object annotations, Alert object .spec.eventMetadata, Alert object .spec.summary"
                        .into()
                ),
            ])
        );
        let plain = combine_metadata(&e, &AlertSpec::default());
        assert_eq!(plain.metadata["summary"], "from annotation");
        assert_eq!(plain.conflicts.len(), 1, "env only");
    }
}
