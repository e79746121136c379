//! The status a healthy cluster gives workloads, as pure functions of the object.
//!
//! Field names, condition types, reasons and messages follow the controllers of
//! kube-controller-manager, so kstatus (Flux) and Argo CD's health checks, and
//! `kubectl rollout status` / `kubectl wait`, read them as a real cluster's.
//! Condition timestamps are kept when nothing else about the condition changed,
//! so recomputing a status is a no-op and writes nothing.

use serde_json::{Value, json};

/// The status this object should have now, or `None` when the kind has no simulated status.
pub fn desired_status(group: &str, kind: &str, obj: &Value, now: &str) -> Option<Value> {
    let old = obj.get("status").cloned().unwrap_or(json!({}));
    let generation = obj
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let replicas = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let status = match (group, kind) {
        ("apps", "Deployment") => {
            let hash = template_hash(obj.pointer("/spec/template"));
            let mut s = counts(&[
                ("observedGeneration", generation.as_i64().unwrap_or(1)),
                ("replicas", replicas),
                ("updatedReplicas", replicas),
                ("readyReplicas", replicas),
                ("availableReplicas", replicas),
            ]);
            s["conditions"] = conditions(
                &old,
                now,
                &[
                    (
                        "Available",
                        "True",
                        "MinimumReplicasAvailable",
                        "Deployment has minimum availability.".to_string(),
                    ),
                    (
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable",
                        format!("ReplicaSet \"{name}-{hash}\" has successfully progressed."),
                    ),
                ],
                true,
            );
            s
        }
        ("apps", "StatefulSet") => {
            let revision = format!("{name}-{}", template_hash(obj.pointer("/spec/template")));
            let mut s = counts(&[
                ("observedGeneration", generation.as_i64().unwrap_or(1)),
                ("replicas", replicas),
                ("readyReplicas", replicas),
                ("currentReplicas", replicas),
                ("updatedReplicas", replicas),
                ("availableReplicas", replicas),
            ]);
            s["currentRevision"] = json!(revision);
            s["updateRevision"] = json!(revision);
            s["collisionCount"] = json!(0);
            s
        }
        ("apps", "ReplicaSet") => counts(&[
            ("observedGeneration", generation.as_i64().unwrap_or(1)),
            ("replicas", replicas),
            ("fullyLabeledReplicas", replicas),
            ("readyReplicas", replicas),
            ("availableReplicas", replicas),
        ]),
        ("apps", "DaemonSet") => {
            // No nodes are simulated, so a DaemonSet is complete with nothing scheduled.
            let mut s = json!({
                "currentNumberScheduled": 0,
                "desiredNumberScheduled": 0,
                "numberMisscheduled": 0,
                "numberReady": 0,
            });
            s["observedGeneration"] = generation;
            s
        }
        ("batch", "Job") => {
            if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
                return None;
            }
            let completions = obj
                .pointer("/spec/completions")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let start = old
                .get("startTime")
                .and_then(Value::as_str)
                .unwrap_or(now)
                .to_string();
            let done = old
                .get("completionTime")
                .and_then(Value::as_str)
                .unwrap_or(now)
                .to_string();
            let mut s = json!({"startTime": start, "completionTime": done, "succeeded": completions, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
            s["conditions"] = conditions(
                &old,
                now,
                &[
                    (
                        "SuccessCriteriaMet",
                        "True",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods".to_string(),
                    ),
                    (
                        "Complete",
                        "True",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods".to_string(),
                    ),
                ],
                false,
            );
            s
        }
        ("", "PersistentVolumeClaim") => {
            let mut s = json!({"phase": "Bound"});
            if let Some(modes) = obj.pointer("/spec/accessModes") {
                s["accessModes"] = modes.clone();
            }
            if let Some(req) = obj.pointer("/spec/resources/requests") {
                s["capacity"] = req.clone();
            }
            s
        }
        _ => return None,
    };
    Some(status)
}

/// A status object from integer fields, omitting zeros as the Go structs' `omitempty` does.
fn counts(fields: &[(&str, i64)]) -> Value {
    let mut s = json!({});
    for (k, v) in fields {
        if *v != 0 || *k == "replicas" || *k == "observedGeneration" {
            s[*k] = json!(v);
        }
    }
    s
}

/// Conditions with the given (type, status, reason, message), keeping the old timestamps of
/// conditions whose status did not change.
fn conditions(
    old: &Value,
    now: &str,
    wanted: &[(&str, &str, &str, String)],
    update_time: bool,
) -> Value {
    let previous = old
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    for (kind, status, reason, message) in wanted {
        let prev = previous
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind));
        let same = prev.is_some_and(|p| {
            p.get("status").and_then(Value::as_str) == Some(status)
                && p.get("reason").and_then(Value::as_str) == Some(reason)
                && p.get("message").and_then(Value::as_str) == Some(message.as_str())
        });
        let stamp = |field: &str| -> Value {
            match prev.and_then(|p| p.get(field)) {
                Some(t) if same => t.clone(),
                _ => json!(now),
            }
        };
        let mut c = json!({"type": kind, "status": status});
        if update_time {
            c["lastUpdateTime"] = stamp("lastUpdateTime");
        } else {
            c["lastProbeTime"] = stamp("lastProbeTime");
        }
        c["lastTransitionTime"] = stamp("lastTransitionTime");
        c["reason"] = json!(reason);
        c["message"] = json!(message);
        out.push(c);
    }
    Value::Array(out)
}

/// A stable 10-character hash of a pod template, in the alphabet of `pod-template-hash`.
pub fn template_hash(template: Option<&Value>) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    // FNV-1a over the canonical JSON: stable across runs and processes.
    let text = template.map(Value::to_string).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (0..10)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_status_satisfies_kstatus_current() {
        let d = json!({"metadata": {"name": "web", "generation": 3}, "spec": {"replicas": 2, "template": {"spec": {}}}});
        let s = desired_status("apps", "Deployment", &d, "t0").expect("simulated");
        assert_eq!(s["observedGeneration"], 3);
        for f in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ] {
            assert_eq!(s[f], 2, "{f}");
        }
        let progressing = &s["conditions"][1];
        assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
        assert_eq!(s["conditions"][0]["type"], "Available");
    }

    #[test]
    fn recomputing_keeps_timestamps_so_the_write_is_a_noop() {
        let mut d = json!({"metadata": {"name": "web", "generation": 1}, "spec": {"replicas": 1}});
        let first = desired_status("apps", "Deployment", &d, "t0").expect("simulated");
        d["status"] = first.clone();
        let second = desired_status("apps", "Deployment", &d, "t1").expect("simulated");
        assert_eq!(first, second);
    }

    #[test]
    fn zero_replicas_omit_zero_counts() {
        let d = json!({"metadata": {"name": "web", "generation": 1}, "spec": {"replicas": 0}});
        let s = desired_status("apps", "Deployment", &d, "t0").expect("simulated");
        assert_eq!(s["replicas"], 0);
        assert!(s.get("readyReplicas").is_none());
    }

    #[test]
    fn job_completes_and_pvc_binds() {
        let j = json!({"metadata": {"name": "j"}, "spec": {"completions": 2}});
        let s = desired_status("batch", "Job", &j, "t0").expect("simulated");
        assert_eq!(s["succeeded"], 2);
        assert!(
            s["conditions"]
                .as_array()
                .expect("conditions")
                .iter()
                .any(|c| c["type"] == "Complete")
        );
        let pvc = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        let s = desired_status("", "PersistentVolumeClaim", &pvc, "t0").expect("simulated");
        assert_eq!(
            s,
            json!({"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}})
        );
    }

    #[test]
    fn template_hash_is_stable_and_sensitive() {
        let a = json!({"spec": {"containers": [{"image": "a"}]}});
        let b = json!({"spec": {"containers": [{"image": "b"}]}});
        assert_eq!(template_hash(Some(&a)), template_hash(Some(&a)));
        assert_ne!(template_hash(Some(&a)), template_hash(Some(&b)));
        assert_eq!(template_hash(Some(&a)).len(), 10);
    }
}
