//! Who is told of which trigger: notifications-engine's subscriptions
//! (`pkg/subscriptions`, `pkg/api/config.go`) and Argo CD's project and legacy ones
//! (`notification_controller`, `util/notification/settings/legacy.go`).
//!
//! * `notifications.argoproj.io/subscribe.<trigger>.<service>: <recipients>` on an
//!   Application or its AppProject; `…/subscribe.<service>` subscribes the default
//!   triggers (`defaultTriggers.<service>`, else `defaultTriggers`). Recipients are
//!   separated by `;` and trimmed; an empty value is one empty recipient (a webhook).
//! * `notifications.argoproj.io/subscriptions`: a YAML list of `{trigger: [..],
//!   destinations: [{service, recipients: [..]}]}`.
//! * `subscriptions` in `argocd-notifications-cm`: `recipients` as `service:recipient`,
//!   `triggers` (default: the default triggers), a label `selector`.
//! * The legacy `[<trigger>.]recipients.argocd-notifications.argoproj.io` annotation on
//!   an AppProject: `service:recipient` separated by `,`.

use std::collections::BTreeMap;

use flotilla_core::Selector;

/// The annotations' prefix.
pub const ANNOTATION_PREFIX: &str = "notifications.argoproj.io";

/// The legacy recipients annotation (argocd-notifications before Argo CD 2.3).
const LEGACY_ANNOTATION: &str = "recipients.argocd-notifications.argoproj.io";

/// A service and one of its recipients (a Slack channel, nothing for a webhook).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Destination {
    /// The service's name (`slack`, a webhook's name).
    pub service: String,
    /// The recipient, as the service reads it.
    pub recipient: String,
}

impl std::fmt::Display for Destination {
    /// As Go prints the struct (`{slack my-channel}`), in logs and events.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{} {}}}", self.service, self.recipient)
    }
}

/// Destinations by trigger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destinations(pub BTreeMap<String, Vec<Destination>>);

impl Destinations {
    fn add(&mut self, trigger: &str, to: Destination) {
        self.0.entry(trigger.to_string()).or_default().push(to);
    }

    /// Adds `other`'s destinations after these.
    pub fn merge(&mut self, other: Destinations) {
        for (trigger, list) in other.0 {
            self.0.entry(trigger).or_default().extend(list);
        }
    }

    /// Each trigger's destinations once, in their first order.
    pub fn dedup(mut self) -> Destinations {
        for list in self.0.values_mut() {
            let mut seen = std::collections::HashSet::new();
            list.retain(|d| seen.insert(d.clone()));
        }
        self
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(Vec::is_empty)
    }
}

/// The default triggers: for every service, and per service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultTriggers {
    /// `defaultTriggers`.
    pub all: Vec<String>,
    /// `defaultTriggers.<service>`.
    pub per_service: BTreeMap<String, Vec<String>>,
}

impl DefaultTriggers {
    fn for_service(&self, service: &str) -> &[String] {
        self.per_service.get(service).unwrap_or(&self.all)
    }
}

/// A subscription of `argocd-notifications-cm`'s `subscriptions`.
#[derive(Debug, Clone)]
pub struct GlobalSubscription {
    /// `service:recipient` entries.
    pub recipients: Vec<String>,
    /// The triggers; none means the default triggers.
    pub triggers: Vec<String>,
    /// Which objects' labels it applies to.
    pub selector: Selector,
}

/// How a `subscriptions` entry is written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct RawGlobal {
    recipients: Vec<String>,
    triggers: Vec<String>,
    selector: String,
}

/// Reads `argocd-notifications-cm`'s `subscriptions`.
pub fn parse_global(yaml: &str) -> Result<Vec<GlobalSubscription>, String> {
    let raw: Vec<RawGlobal> = super::from_yaml(yaml)?;
    raw.into_iter()
        .map(|r| {
            let selector = Selector::parse(&r.selector)
                .map_err(|e| format!("selector {:?}: {e}", r.selector))?;
            Ok(GlobalSubscription {
                recipients: r.recipients,
                triggers: r.triggers,
                selector,
            })
        })
        .collect()
}

/// `service:recipient` as a destination (`GetGlobalDestinations`).
fn service_and_recipient(entry: &str) -> Destination {
    let mut parts = entry.split(':');
    Destination {
        service: parts.next().unwrap_or_default().to_string(),
        recipient: parts.next().unwrap_or_default().to_string(),
    }
}

/// The destinations the global subscriptions give an object with `labels`.
pub fn global_destinations(
    subscriptions: &[GlobalSubscription],
    defaults: &DefaultTriggers,
    labels: &BTreeMap<String, String>,
) -> Destinations {
    let mut out = Destinations::default();
    for s in subscriptions {
        let triggers = if s.triggers.is_empty() {
            &defaults.all
        } else {
            &s.triggers
        };
        if !s.selector.matches(labels) {
            continue;
        }
        for trigger in triggers {
            for recipient in &s.recipients {
                out.add(trigger, service_and_recipient(recipient));
            }
        }
    }
    out
}

/// `;`-separated recipients, trimmed, empty ones dropped (`parseRecipients`).
fn parse_recipients(value: &str) -> Vec<String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// One entry of the `subscriptions` annotation.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct AnnotatedSubscription {
    trigger: Vec<String>,
    destinations: Vec<AnnotatedDestination>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct AnnotatedDestination {
    service: String,
    recipients: Vec<String>,
}

/// The destinations an object's (or its project's) annotations subscribe, and what could
/// not be read.
pub fn annotation_destinations(
    annotations: &BTreeMap<String, String>,
    defaults: &DefaultTriggers,
) -> (Destinations, Vec<String>) {
    let mut out = Destinations::default();
    let mut problems = Vec::new();
    let subscribe = format!("{ANNOTATION_PREFIX}/subscribe.");
    let listed = format!("{ANNOTATION_PREFIX}/subscriptions");
    let mut add = |trigger: &str, service: &str, recipients: &[String]| {
        for recipient in recipients {
            let triggers: Vec<String> = if trigger.is_empty() {
                defaults.for_service(service).to_vec()
            } else {
                vec![trigger.to_string()]
            };
            for t in &triggers {
                out.add(
                    t,
                    Destination {
                        service: service.to_string(),
                        recipient: recipient.clone(),
                    },
                );
            }
        }
    };
    for (key, value) in annotations {
        if let Some(rest) = key.strip_prefix(&subscribe) {
            let parts: Vec<&str> = rest.split('.').collect();
            let (trigger, service) = if parts.len() >= 2 {
                (parts[0], parts[1])
            } else {
                ("", parts[0])
            };
            let recipients = if value.is_empty() {
                vec![String::new()]
            } else {
                parse_recipients(value)
            };
            add(trigger, service, &recipients);
        } else if key.starts_with(&listed) {
            if value.is_empty() {
                problems.push(format!("annotation {key}: no subscription is defined"));
                continue;
            }
            let entries: Vec<AnnotatedSubscription> = match super::from_yaml(value) {
                Ok(entries) => entries,
                Err(e) => {
                    problems.push(format!("annotation {key}: {e}"));
                    continue;
                }
            };
            for entry in entries {
                let triggers = if entry.trigger.is_empty() {
                    vec![String::new()]
                } else {
                    entry.trigger
                };
                for trigger in &triggers {
                    for destination in &entry.destinations {
                        add(trigger, &destination.service, &destination.recipients);
                    }
                }
            }
        }
    }
    (out, problems)
}

/// The destinations of the legacy `[<trigger>.]recipients.argocd-notifications.argoproj.io`
/// annotation (`GetLegacyDestinations`; read on AppProjects, as Argo CD reads it).
pub fn legacy_destinations(
    annotations: &BTreeMap<String, String>,
    defaults: &DefaultTriggers,
) -> Destinations {
    let mut out = Destinations::default();
    for (key, value) in annotations {
        let Some(head) = key.strip_suffix(LEGACY_ANNOTATION) else {
            continue;
        };
        let trigger = head.trim_end_matches('.');
        let named = [trigger.to_string()];
        let triggers: &[String] = if trigger.is_empty() {
            &defaults.all
        } else {
            &named
        };
        for recipient in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let to = service_and_recipient(recipient);
            let triggers = defaults
                .per_service
                .get(&to.service)
                .map_or(triggers, Vec::as_slice);
            for t in triggers {
                out.add(t, to.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn to(service: &str, recipient: &str) -> Destination {
        Destination {
            service: service.into(),
            recipient: recipient.into(),
        }
    }

    fn defaults() -> DefaultTriggers {
        DefaultTriggers {
            all: vec!["on-sync-status-unknown".into()],
            per_service: [(
                "mattermost".to_string(),
                vec![
                    "on-sync-running".to_string(),
                    "on-sync-succeeded".to_string(),
                ],
            )]
            .into(),
        }
    }

    /// subscriptions.md and triggers.md "Default Triggers", and annotations_test.go.
    #[test]
    fn annotations_subscribe_triggers_and_default_triggers() {
        let (dests, problems) = annotation_destinations(
            &map(&[
                (
                    "notifications.argoproj.io/subscribe.on-sync-succeeded.slack",
                    "my-channel1; my-channel2;",
                ),
                ("notifications.argoproj.io/subscribe.slack", "my-channel"),
                (
                    "notifications.argoproj.io/subscribe.mattermost",
                    "my-mattermost-channel",
                ),
                ("notifications.argoproj.io/subscribe.on-deployed.github", ""),
                ("example.com/other", "x"),
            ]),
            &defaults(),
        );
        assert!(problems.is_empty());
        let of = |t: &str| dests.0.get(t).cloned().unwrap_or_default();
        // Annotations are read in key order (Go's map order is random).
        assert_eq!(
            of("on-sync-succeeded"),
            [
                to("mattermost", "my-mattermost-channel"),
                to("slack", "my-channel1"),
                to("slack", "my-channel2")
            ]
        );
        assert_eq!(of("on-sync-status-unknown"), [to("slack", "my-channel")]);
        assert_eq!(
            of("on-sync-running"),
            [to("mattermost", "my-mattermost-channel")]
        );
        assert_eq!(
            of("on-deployed"),
            [to("github", "")],
            "an empty value is one empty recipient"
        );
    }

    #[test]
    fn the_subscriptions_annotation_lists_triggers_and_destinations() {
        let (dests, problems) = annotation_destinations(
            &map(&[(
                "notifications.argoproj.io/subscriptions",
                "- trigger: [on-sync-failed, on-sync-succeeded]\n  destinations:\n  - service: slack\n    recipients: [a, b]\n- destinations:\n  - service: webhook\n    recipients: [hook]\n",
            )]),
            &defaults(),
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            dests.0["on-sync-failed"],
            [to("slack", "a"), to("slack", "b")]
        );
        assert_eq!(
            dests.0["on-sync-succeeded"],
            [to("slack", "a"), to("slack", "b")]
        );
        assert_eq!(dests.0["on-sync-status-unknown"], [to("webhook", "hook")]);
        let (_, problems) = annotation_destinations(
            &map(&[("notifications.argoproj.io/subscriptions", "{not: a list}")]),
            &defaults(),
        );
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn global_subscriptions_match_labels_and_default_their_triggers() {
        let subscriptions = parse_global(
            "- recipients: [slack:test2, 'email:test@gmail.com']\n  triggers: [on-sync-status-unknown]\n- recipients: [slack:test3]\n  selector: test=true\n  triggers: [on-sync-status-unknown]\n- recipients: [my-webhook]\n",
        )
        .unwrap();
        let plain = global_destinations(&subscriptions, &defaults(), &map(&[]));
        assert_eq!(
            plain.0["on-sync-status-unknown"],
            [
                to("slack", "test2"),
                to("email", "test@gmail.com"),
                to("my-webhook", "")
            ]
        );
        let labelled = global_destinations(&subscriptions, &defaults(), &map(&[("test", "true")]));
        assert_eq!(labelled.0["on-sync-status-unknown"].len(), 4);
        assert!(parse_global("- selector: 'a in (b'\n").is_err());
    }

    #[test]
    fn legacy_project_recipients_are_comma_separated() {
        let dests = legacy_destinations(
            &map(&[
                (
                    "on-sync-failed.recipients.argocd-notifications.argoproj.io",
                    "slack:ops, email:oncall@example.com",
                ),
                ("recipients.argocd-notifications.argoproj.io", "slack:all"),
            ]),
            &defaults(),
        );
        assert_eq!(
            dests.0["on-sync-failed"],
            [to("slack", "ops"), to("email", "oncall@example.com")]
        );
        assert_eq!(dests.0["on-sync-status-unknown"], [to("slack", "all")]);
    }

    #[test]
    fn merged_destinations_are_deduplicated_in_order() {
        let mut a = Destinations::default();
        a.add("t", to("slack", "x"));
        let mut b = Destinations::default();
        b.add("t", to("slack", "y"));
        b.add("t", to("slack", "x"));
        a.merge(b);
        assert_eq!(a.dedup().0["t"], [to("slack", "x"), to("slack", "y")]);
    }
}
