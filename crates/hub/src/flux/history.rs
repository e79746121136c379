//! A Kustomization's `status.history` (fluxcd/pkg `meta.History`): the last five distinct
//! outcomes of its reconciles, newest first, each a snapshot of what was built (its
//! digest), how the reconcile ended, when, and how often.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// How many snapshots are kept (`HistoryMaxSize`).
pub(super) const MAX_SNAPSHOTS: usize = 5;

/// One reconcile's outcome, as `History.Upsert` records it.
#[derive(Debug, Clone)]
pub(super) struct Outcome<'a> {
    /// `<algo>:<hex>` of what was built.
    pub(super) digest: &'a str,
    /// When the reconcile ended (RFC 3339).
    pub(super) at: &'a str,
    /// How long it took (a Go duration).
    pub(super) duration: &'a str,
    /// Its Ready reason (`ReconciliationSucceeded`, `ReconciliationFailed`, …).
    pub(super) status: &'a str,
    /// `revision` (and `originRevision`).
    pub(super) metadata: &'a BTreeMap<String, String>,
}

/// `History.Upsert`: the snapshot of the same digest and status is brought up to date and
/// moved to the front, else a new one is put there; at most [`MAX_SNAPSHOTS`] stay.
pub(super) fn upsert(history: &mut Vec<Value>, outcome: &Outcome<'_>) {
    let same = history.iter().position(|snapshot| {
        snapshot["digest"] == outcome.digest && snapshot["lastReconciledStatus"] == outcome.status
    });
    match same {
        Some(i) => {
            let mut snapshot = history.remove(i);
            let total = snapshot["totalReconciliations"].as_i64().unwrap_or(0);
            snapshot["lastReconciled"] = json!(outcome.at);
            snapshot["lastReconciledDuration"] = json!(outcome.duration);
            snapshot["totalReconciliations"] = json!(total + 1);
            set_metadata(&mut snapshot, outcome.metadata);
            history.insert(0, snapshot);
        }
        None => {
            let mut snapshot = json!({
                "digest": outcome.digest,
                "firstReconciled": outcome.at,
                "lastReconciled": outcome.at,
                "lastReconciledDuration": outcome.duration,
                "lastReconciledStatus": outcome.status,
                "totalReconciliations": 1,
            });
            set_metadata(&mut snapshot, outcome.metadata);
            history.insert(0, snapshot);
        }
    }
    history.truncate(MAX_SNAPSHOTS);
}

/// `metadata`, left out when empty (`omitempty`).
fn set_metadata(snapshot: &mut Value, metadata: &BTreeMap<String, String>) {
    if let Some(fields) = snapshot.as_object_mut() {
        if metadata.is_empty() {
            fields.remove("metadata");
        } else {
            fields.insert("metadata".into(), json!(metadata));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome<'a>(
        digest: &'a str,
        at: &'a str,
        status: &'a str,
        metadata: &'a BTreeMap<String, String>,
    ) -> Outcome<'a> {
        Outcome {
            digest,
            at,
            duration: "1.5s",
            status,
            metadata,
        }
    }

    /// fluxcd/pkg's `Upsert` cases: a new outcome goes first, the same digest and status
    /// updates its snapshot and moves it first, another status of the same digest is a
    /// snapshot of its own, and the sixth oldest is dropped.
    #[test]
    fn snapshots_are_upserted_newest_first_and_capped() {
        let meta = BTreeMap::from([("revision".to_string(), "main@sha1:abc".to_string())]);
        let mut history = Vec::new();
        upsert(
            &mut history,
            &outcome("sha256:a", "t1", "ReconciliationSucceeded", &meta),
        );
        upsert(
            &mut history,
            &outcome("sha256:b", "t2", "ReconciliationSucceeded", &meta),
        );
        upsert(
            &mut history,
            &outcome("sha256:a", "t3", "ReconciliationSucceeded", &meta),
        );
        assert_eq!(history.len(), 2);
        assert_eq!(history[0]["digest"], "sha256:a");
        assert_eq!(history[0]["firstReconciled"], "t1");
        assert_eq!(history[0]["lastReconciled"], "t3");
        assert_eq!(history[0]["totalReconciliations"], 2);
        assert_eq!(history[0]["metadata"]["revision"], "main@sha1:abc");
        assert_eq!(history[1]["digest"], "sha256:b");

        upsert(
            &mut history,
            &outcome("sha256:a", "t4", "HealthCheckFailed", &BTreeMap::new()),
        );
        assert_eq!(history.len(), 3);
        assert_eq!(history[0]["lastReconciledStatus"], "HealthCheckFailed");
        assert!(history[0].get("metadata").is_none());
        for (i, digest) in ["c", "d", "e", "f"].iter().enumerate() {
            let at = format!("t{}", 5 + i);
            upsert(
                &mut history,
                &outcome(digest, &at, "ReconciliationSucceeded", &meta),
            );
        }
        assert_eq!(history.len(), MAX_SNAPSHOTS);
        assert_eq!(history[0]["digest"], "f");
        assert_eq!(
            history.last().unwrap()["lastReconciledStatus"],
            "HealthCheckFailed",
            "the oldest two went"
        );
    }
}
