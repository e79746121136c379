//! What was already notified, kept in the Application's `notified.notifications.argoproj.io`
//! annotation exactly as notifications-engine keeps it (`pkg/controller/state.go`): a JSON
//! object from a key per trigger condition and destination to the Unix time it was sent.
//!
//! A condition that is true and notified stays notified; one that turns false is forgotten,
//! so it notifies again when it next turns true — unless it has an `oncePer` value, whose
//! key (prefixed with that value) is kept, so it notifies once per value. At most 100 keys
//! are kept, the oldest dropped first.

use std::collections::BTreeMap;

use super::subscriptions::Destination;
use super::triggers::ConditionResult;

/// The annotation holding the state.
pub const NOTIFIED_ANNOTATION: &str = "notified.notifications.argoproj.io";

/// How many keys the annotation keeps (`notifiedHistoryMaxSize`).
const MAX_KEYS: usize = 100;

/// The state of one object: key → when it was notified (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State(BTreeMap<String, i64>);

/// The key of a condition's result for one destination (`StateItemKey`, without the
/// self-service namespace): `[oncePer:]trigger:condition:service:recipient`.
pub fn item_key(trigger: &str, result: &ConditionResult, to: &Destination) -> String {
    let key = format!("{trigger}:{}:{}:{}", result.key, to.service, to.recipient);
    if result.once_per.is_empty() {
        key
    } else {
        format!("{}:{key}", result.once_per)
    }
}

impl State {
    /// The state an annotation value holds; nothing when it is missing or not the JSON
    /// object it should be (as upstream reads it).
    pub fn parse(annotation: Option<&str>) -> State {
        annotation
            .filter(|v| !v.is_empty())
            .and_then(|v| serde_json::from_str(v).ok())
            .map(State)
            .unwrap_or_default()
    }

    /// The annotation's new value: `None` removes it (an empty state).
    pub fn persist(&mut self) -> Option<String> {
        self.truncate(MAX_KEYS);
        if self.0.is_empty() {
            return None;
        }
        // Go's encoding/json escapes `<`, `>` and `&` (a `<nil>` oncePer value).
        serde_json::to_string(&self.0).ok().map(|json| {
            json.replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026")
        })
    }

    /// Whether `key` is recorded.
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Records the condition's result for `to` as notified (or not) at `now`; whether the
    /// state changed (`SetAlreadyNotified`). A result with an `oncePer` value is never
    /// forgotten.
    pub fn set_notified(
        &mut self,
        trigger: &str,
        result: &ConditionResult,
        to: &Destination,
        notified: bool,
        now: i64,
    ) -> bool {
        let key = item_key(trigger, result, to);
        if self.0.contains_key(&key) == notified {
            return false;
        }
        if notified {
            self.0.insert(key, now);
        } else {
            if !result.once_per.is_empty() {
                return false;
            }
            self.0.remove(&key);
        }
        true
    }

    /// Drops the oldest keys beyond `max`.
    fn truncate(&mut self, max: usize) {
        let Some(excess) = self.0.len().checked_sub(max).filter(|n| *n > 0) else {
            return;
        };
        let mut keys: Vec<(i64, String)> = self.0.iter().map(|(k, t)| (*t, k.clone())).collect();
        keys.sort();
        for (_, key) in keys.into_iter().take(excess) {
            self.0.remove(&key);
        }
    }

    /// The recorded keys.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(key: &str, once_per: &str) -> ConditionResult {
        ConditionResult {
            key: key.into(),
            once_per: once_per.into(),
            templates: vec!["t".into()],
            triggered: true,
            error: None,
        }
    }

    fn slack(recipient: &str) -> Destination {
        Destination {
            service: "slack".into(),
            recipient: recipient.into(),
        }
    }

    /// notifications-engine's state_test.go: keys, set and unset, oncePer kept.
    #[test]
    fn notified_keys_are_set_cleared_and_kept_per_once_per() {
        let mut state = State::default();
        let plain = result("[0].abc", "");
        assert!(state.set_notified("on-sync", &plain, &slack("ch"), true, 100));
        assert!(
            !state.set_notified("on-sync", &plain, &slack("ch"), true, 200),
            "already"
        );
        assert!(state.contains("on-sync:[0].abc:slack:ch"));
        assert!(state.set_notified("on-sync", &plain, &slack("ch"), false, 300));
        assert!(!state.contains("on-sync:[0].abc:slack:ch"));

        let once = result("[0].abc", "rev1");
        assert!(state.set_notified("on-sync", &once, &slack("ch"), true, 100));
        assert!(state.contains("rev1:on-sync:[0].abc:slack:ch"));
        assert!(
            !state.set_notified("on-sync", &once, &slack("ch"), false, 300),
            "an oncePer key outlives its condition"
        );
        assert!(state.contains("rev1:on-sync:[0].abc:slack:ch"));
        assert_eq!(
            state.persist().as_deref(),
            Some(r#"{"rev1:on-sync:[0].abc:slack:ch":100}"#)
        );
    }

    #[test]
    fn the_annotation_round_trips_and_bad_values_read_as_nothing() {
        let state = State::parse(Some(r#"{"a:b:c:d":1700000000}"#));
        assert!(state.contains("a:b:c:d"));
        assert_eq!(State::parse(Some("not json")), State::default());
        assert_eq!(State::parse(Some("")), State::default());
        assert_eq!(State::parse(None), State::default());
        assert_eq!(
            State::default().persist(),
            None,
            "an empty state removes the annotation"
        );
        let mut nil = State::default();
        nil.set_notified("t", &result("[0].k", "<nil>"), &slack("c"), true, 1);
        let written = nil.persist().unwrap();
        assert_eq!(
            written, r#"{"\u003cnil\u003e:t:[0].k:slack:c":1}"#,
            "as Go writes it"
        );
        assert_eq!(State::parse(Some(&written)), nil);
    }

    #[test]
    fn only_the_newest_hundred_keys_are_kept() {
        let mut state = State::default();
        for i in 0..105 {
            state.set_notified("t", &result(&format!("[{i}].x"), ""), &slack("c"), true, i);
        }
        state.persist();
        assert_eq!(state.keys().count(), 100);
        assert!(!state.contains("t:[4].x:slack:c"));
        assert!(state.contains("t:[5].x:slack:c"));
    }
}
