//! Argo CD's retries of a failed automated sync (`processRequestedAppOperation`,
//! `autoSync`, `alreadyAttemptedSync`). A failed sync is tried again after
//! duration × factor^n while the strategy allows (five times by default), its operation
//! `Running` meanwhile with `retryCount` and the time of the failure; once the retries are
//! spent the operation ends Failed, and the same revision of the same source is not synced
//! automatically again — selfHeal included — until either changes: the app gets a SyncError
//! condition instead, as in Argo CD, rather than a sync every few seconds for ever.

use flotilla_core::pointer::Pointer as _;
use std::time::Duration;

use flotilla_fleet::argocd::application::RetryStrategy;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

/// What the last operation says about syncing a revision of a source now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LastSync {
    /// Nothing holds it back: no operation yet, or one for another revision or source.
    Clear,
    /// This revision of this source synced successfully.
    Synced,
    /// A failed sync of this revision and source is being retried: `retries` so far, the
    /// next one due after `wait` (zero: now).
    Retrying { retries: i64, wait: Duration },
    /// This revision and source failed and will not be retried: the SyncError message.
    Failed { message: String },
}

/// Reads `status.operationState` against the target about to be synced, as a sync
/// result records it: `{"revision", "source"}` for one source, `{"revisions",
/// "sources"}` for several.
pub(crate) fn last_sync(status: &Value, target: &Value, now: Timestamp) -> LastSync {
    let Some(operation) = status.get("operationState") else {
        return LastSync::Clear;
    };
    let text = |pointer: &str| operation.at(pointer).and_then(Value::as_str);
    let fields = target.as_object().into_iter().flatten();
    let same = fields
        .into_iter()
        .all(|(key, value)| operation.at(&format!("/syncResult/{key}")) == Some(value));
    // Go prints a list of revisions as `[a b]`, one as `[a]`.
    let revision = match (target.get("revision"), target.get("revisions")) {
        (Some(Value::String(one)), _) => one.clone(),
        (_, Some(Value::Array(many))) => many
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    if !same {
        // A new commit or source is a new operation (Argo CD would finish retrying the old
        // revision first unless `retry.refresh` is set).
        return LastSync::Clear;
    }
    match text("/phase") {
        Some("Running") => {
            let retries = operation
                .get("retryCount")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let strategy = recorded_strategy(operation);
            let failed_at = text("/finishedAt").and_then(|t| t.parse::<Timestamp>().ok());
            let wait = match (failed_at, strategy.wait(retries)) {
                (Some(at), Ok(wait)) => {
                    let elapsed = now.duration_since(at);
                    let elapsed = Duration::try_from(elapsed).unwrap_or_default();
                    wait.saturating_sub(elapsed)
                }
                _ => Duration::ZERO,
            };
            LastSync::Retrying { retries, wait }
        }
        Some("Succeeded") => LastSync::Synced,
        Some("Failed" | "Error") => LastSync::Failed {
            message: format!(
                "Failed last sync attempt to [{revision}]: {}",
                text("/message").unwrap_or("")
            ),
        },
        _ => LastSync::Clear,
    }
}

/// The strategy the operation was started with, else the automated default.
fn recorded_strategy(operation: &Value) -> RetryStrategy {
    operation
        .at("/operation/retry")
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .unwrap_or_else(|| RetryStrategy::automated(None))
}

/// How a sync attempt ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ended {
    /// `Succeeded`; after a failure `Running` while a retry is due, else the attempt's own
    /// phase.
    pub phase: String,
    /// The message, with Argo CD's note of the retry.
    pub message: String,
    /// Retries made, this one scheduled included.
    pub retry_count: i64,
    /// When to look again for the retry.
    pub requeue_after: Option<Duration>,
}

/// A sync attempt that succeeded after `retries` retries.
pub(crate) fn succeeded(retries: i64) -> Ended {
    Ended {
        phase: "Succeeded".into(),
        message: "successfully synced (all tasks run)".into(),
        retry_count: retries,
        requeue_after: None,
    }
}

/// A sync attempt that ended in `phase` with `message`, after `retries` retries.
pub(crate) fn after_failure(
    strategy: &RetryStrategy,
    retries: i64,
    phase: &str,
    message: &str,
    now: Timestamp,
) -> Ended {
    if !strategy.allows(retries) {
        let message = if retries > 0 {
            format!("{message} (retried {retries} times).")
        } else {
            message.to_string()
        };
        return Ended {
            phase: phase.to_string(),
            message,
            retry_count: retries,
            requeue_after: None,
        };
    }
    match (strategy.wait(retries), strategy.wait(retries + 1)) {
        (Ok(announced), Ok(due)) => Ended {
            phase: "Running".into(),
            // Argo CD announces now + wait(n) and checks failure + wait(n + 1): the retry
            // comes one step later than the message says, there as here.
            message: format!(
                "{message}. Retrying attempt #{} at {}.",
                retries + 1,
                kitchen(now, announced)
            ),
            retry_count: retries + 1,
            requeue_after: Some(due),
        },
        (Err(e), _) | (_, Err(e)) => Ended {
            phase: "Error".into(),
            message: format!("{message} (failed to retry: {e})"),
            retry_count: retries,
            requeue_after: None,
        },
    }
}

/// `now + after` as Go's `time.Kitchen` (`3:04PM`), in UTC.
fn kitchen(now: Timestamp, after: Duration) -> String {
    let seconds = now.as_second() + after.as_secs() as i64;
    let of_day = seconds.rem_euclid(86_400);
    let (hour, minute) = (of_day / 3600, of_day % 3600 / 60);
    let twelve = if hour % 12 == 0 { 12 } else { hour % 12 };
    let half = if hour < 12 { "AM" } else { "PM" };
    format!("{twelve}:{minute:02}{half}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn target(revision: &str, source: &Value) -> Value {
        json!({"revision": revision, "source": source})
    }

    fn status(phase: &str, retries: i64, finished: &str) -> Value {
        json!({"operationState": {
            "operation": {"retry": {"limit": 5}},
            "phase": phase,
            "message": "one or more objects failed to apply, reason: quota exceeded",
            "retryCount": retries,
            "finishedAt": finished,
            "syncResult": {"revision": "abc123", "source": {"repoURL": "r"}},
        }})
    }

    #[test]
    fn a_failure_is_retried_with_argo_cds_messages_until_the_limit() {
        let strategy = RetryStrategy::automated(None);
        let now = at("2026-11-27T15:04:00Z");
        let first = after_failure(&strategy, 0, "Failed", "boom", now);
        assert_eq!(
            first,
            Ended {
                phase: "Running".into(),
                message: "boom. Retrying attempt #1 at 3:04PM.".into(),
                retry_count: 1,
                requeue_after: Some(Duration::from_secs(10)),
            }
        );
        let fifth = after_failure(&strategy, 4, "Failed", "boom", at("2026-11-27T00:59:30Z"));
        assert_eq!(fifth.message, "boom. Retrying attempt #5 at 1:00AM.");
        let spent = after_failure(&strategy, 5, "Error", "boom", now);
        assert_eq!(
            (
                spent.phase.as_str(),
                spent.message.as_str(),
                spent.requeue_after
            ),
            ("Error", "boom (retried 5 times).", None)
        );
        // No retries at all: the message as it was.
        let none = RetryStrategy {
            limit: Some(0),
            ..RetryStrategy::default()
        };
        assert_eq!(
            after_failure(&none, 0, "Failed", "boom", now).message,
            "boom"
        );
    }

    #[test]
    fn the_last_operation_holds_a_sync_back_only_for_its_own_revision_and_source() {
        let source = json!({"repoURL": "r"});
        let now = at("2026-11-27T15:04:10Z");
        // Failed at :00 after one retry: the next is due 10 s later.
        let retrying = status("Running", 1, "2026-11-27T15:04:00Z");
        assert_eq!(
            last_sync(&retrying, &target("abc123", &source), now),
            LastSync::Retrying {
                retries: 1,
                wait: Duration::ZERO
            }
        );
        assert_eq!(
            last_sync(
                &retrying,
                &target("abc123", &source),
                at("2026-11-27T15:04:04Z")
            ),
            LastSync::Retrying {
                retries: 1,
                wait: Duration::from_secs(6)
            }
        );
        let failed = status("Failed", 5, "2026-11-27T15:04:00Z");
        assert_eq!(
            last_sync(&failed, &target("abc123", &source), now),
            LastSync::Failed {
                message: "Failed last sync attempt to [abc123]: one or more objects failed to apply, reason: quota exceeded".into()
            }
        );
        // Another commit, another source or nothing at all: clear; a success: synced.
        assert_eq!(
            last_sync(&failed, &target("def456", &source), now),
            LastSync::Clear
        );
        assert_eq!(
            last_sync(&failed, &target("abc123", &json!({"repoURL": "s"})), now),
            LastSync::Clear
        );
        let succeeded = status("Succeeded", 0, "2026-11-27T15:04:00Z");
        assert_eq!(
            last_sync(&succeeded, &target("abc123", &source), now),
            LastSync::Synced
        );
        assert_eq!(
            last_sync(&json!({}), &target("abc123", &source), now),
            LastSync::Clear
        );
        // Several sources: their revisions and sources as lists, printed as Go prints them.
        let several =
            json!({"revisions": ["abc123", "fed987"], "sources": [source, {"repoURL": "v"}]});
        let mut failed_several = status("Failed", 5, "2026-11-27T15:04:00Z");
        failed_several["operationState"]["syncResult"] = several.clone();
        assert_eq!(
            last_sync(&failed_several, &several, now),
            LastSync::Failed {
                message: "Failed last sync attempt to [abc123 fed987]: one or more objects failed to apply, reason: quota exceeded".into()
            }
        );
        let moved = json!({"revisions": ["abc123", "000000"], "sources": several["sources"]});
        assert_eq!(last_sync(&failed_several, &moved, now), LastSync::Clear);
    }
}
