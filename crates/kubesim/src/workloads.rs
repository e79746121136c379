//! The status a healthy cluster gives workloads, as pure functions of the object.
//!
//! Field names, condition types, reasons and messages follow the controllers of
//! kube-controller-manager, so kstatus (Flux) and Argo CD's health checks, and
//! `kubectl rollout status` / `kubectl wait`, read them as a real cluster's.
//! Condition timestamps are kept when nothing else about the condition changed,
//! so recomputing a status is a no-op and writes nothing.
//!
//! Tests make a workload misbehave with one annotation, [`SIMULATE_ANNOTATION`]:
//!
//! | value | Deployment / StatefulSet / ReplicaSet | Job | PVC |
//! |---|---|---|---|
//! | `never-ready` | no replica becomes ready; Available=False (MinimumReplicasUnavailable), Progressing=True (ReplicaSetUpdated) | never completes | stays Pending |
//! | `progress-deadline-exceeded` | as never-ready, but Progressing=False (ProgressDeadlineExceeded) | — | — |
//! | `crash-loop` | as never-ready (its pods would be in CrashLoopBackOff) | fails: Failed=True (BackoffLimitExceeded) | — |
//! | `fail` | — | fails: Failed=True (BackoffLimitExceeded) | — |
//!
//! A bare Pod runs Ready, or, when it does not restart (`restartPolicy: Never` or
//! `OnFailure`), completes `Succeeded`; `fail` makes such a Pod `Failed`, `never-ready`
//! keeps a Pod running unready and `crash-loop` waiting in `CrashLoopBackOff`.
//!
//! [`READY_AFTER_ANNOTATION`] (e.g. `"5s"`, `"250ms"`) overrides the cluster's status delay
//! for one object.

use crate::meta::Lookup as _;
use serde_json::{Value, json};

/// The annotation that makes a workload misbehave (see the module docs).
pub const SIMULATE_ANNOTATION: &str = "kubesim.flotilla.dev/simulate";

/// The annotation that sets how long one object takes to get its status.
pub const READY_AFTER_ANNOTATION: &str = "kubesim.flotilla.dev/ready-after";

/// How a workload behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Healthy,
    NeverReady,
    DeadlineExceeded,
    CrashLoop,
    Fail,
}

fn behaviour(obj: &Value) -> Behaviour {
    let annotation = obj
        .at("/metadata/annotations")
        .and_then(|a| a.get(SIMULATE_ANNOTATION))
        .and_then(Value::as_str);
    match annotation {
        Some("never-ready") => Behaviour::NeverReady,
        Some("progress-deadline-exceeded") => Behaviour::DeadlineExceeded,
        Some("crash-loop") => Behaviour::CrashLoop,
        Some("fail") => Behaviour::Fail,
        _ => Behaviour::Healthy,
    }
}

/// The per-object delay from [`READY_AFTER_ANNOTATION`], if set and valid.
pub fn ready_after(obj: &Value) -> Option<std::time::Duration> {
    let text = obj
        .at("/metadata/annotations")
        .and_then(|a| a.get(READY_AFTER_ANNOTATION))
        .and_then(Value::as_str)?;
    parse_duration(text)
}

/// `250ms`, `5s`, `2m`: the subset of Go durations tests use.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(std::time::Duration::from_secs_f64(secs))
}

/// A stable address for a simulated load balancer, from the object's namespace and name.
fn load_balancer_ip(obj: &Value) -> String {
    let key = format!(
        "{}/{}",
        obj.at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(""),
        obj.at("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    let h = fnv(&key);
    format!("172.18.{}.{}", (h >> 8) % 256, 1 + h % 254)
}

/// The status this object should have now, or `None` when the kind has no simulated status.
pub fn desired_status(group: &str, kind: &str, obj: &Value, now: &str) -> Option<Value> {
    static NO_STATUS: Value = Value::Null;
    // Read only: a missing status reads as an empty one (`null` has no fields either).
    let old = obj.get("status").unwrap_or(&NO_STATUS);
    let behaviour = behaviour(obj);
    let generation = obj.at("/metadata/generation").cloned().unwrap_or(json!(1));
    let name = obj
        .at("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let replicas = obj
        .at("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let status = match (group, kind) {
        ("apps", "Deployment") => {
            let hash = template_hash(obj.at("/spec/template"));
            let rs = format!("{name}-{hash}");
            let healthy = behaviour == Behaviour::Healthy;
            let ready = if healthy { replicas } else { 0 };
            let mut s = counts(&[
                ("observedGeneration", generation.as_i64().unwrap_or(1)),
                ("replicas", replicas),
                ("updatedReplicas", replicas),
                ("readyReplicas", ready),
                ("availableReplicas", ready),
                ("unavailableReplicas", replicas - ready),
            ]);
            let available = if healthy || replicas == 0 {
                (
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.".to_string(),
                )
            } else {
                (
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.".to_string(),
                )
            };
            let progressing = match behaviour {
                Behaviour::Healthy => (
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \"{rs}\" has successfully progressed."),
                ),
                Behaviour::DeadlineExceeded => (
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    format!("ReplicaSet \"{rs}\" has timed out progressing."),
                ),
                _ => (
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{rs}\" is progressing."),
                ),
            };
            s["conditions"] = conditions(old, now, &[available, progressing], true);
            s
        }
        ("apps", "StatefulSet") => {
            let revision = format!("{name}-{}", template_hash(obj.at("/spec/template")));
            let ready = if behaviour == Behaviour::Healthy {
                replicas
            } else {
                0
            };
            let mut s = counts(&[
                ("observedGeneration", generation.as_i64().unwrap_or(1)),
                ("replicas", replicas),
                ("readyReplicas", ready),
                ("currentReplicas", replicas),
                ("updatedReplicas", replicas),
                ("availableReplicas", ready),
            ]);
            s["currentRevision"] = json!(revision);
            s["updateRevision"] = json!(revision);
            s["collisionCount"] = json!(0);
            s
        }
        ("apps", "ReplicaSet") => {
            let ready = if behaviour == Behaviour::Healthy {
                replicas
            } else {
                0
            };
            counts(&[
                ("observedGeneration", generation.as_i64().unwrap_or(1)),
                ("replicas", replicas),
                ("fullyLabeledReplicas", replicas),
                ("readyReplicas", ready),
                ("availableReplicas", ready),
            ])
        }
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
            if obj.at("/spec/suspend").and_then(Value::as_bool) == Some(true) {
                return None;
            }
            let start = old
                .get("startTime")
                .and_then(Value::as_str)
                .unwrap_or(now)
                .to_string();
            match behaviour {
                Behaviour::NeverReady | Behaviour::DeadlineExceeded => {
                    json!({"startTime": start, "active": 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}})
                }
                Behaviour::Fail | Behaviour::CrashLoop => {
                    let backoff = obj
                        .at("/spec/backoffLimit")
                        .and_then(Value::as_i64)
                        .unwrap_or(6);
                    let message = "Job has reached the specified backoff limit".to_string();
                    let mut s = json!({"startTime": start, "failed": backoff + 1, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
                    s["conditions"] = conditions(
                        old,
                        now,
                        &[
                            (
                                "FailureTarget",
                                "True",
                                "BackoffLimitExceeded",
                                message.clone(),
                            ),
                            ("Failed", "True", "BackoffLimitExceeded", message),
                        ],
                        false,
                    );
                    s
                }
                Behaviour::Healthy => {
                    let completions = obj
                        .at("/spec/completions")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    let done = old
                        .get("completionTime")
                        .and_then(Value::as_str)
                        .unwrap_or(now)
                        .to_string();
                    let mut s = json!({"startTime": start, "completionTime": done, "succeeded": completions, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {}});
                    s["conditions"] = conditions(
                        old,
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
            }
        }
        ("", "Pod") => pod_status(obj, old, now, behaviour),
        ("", "PersistentVolumeClaim") => {
            if behaviour != Behaviour::Healthy {
                return Some(json!({"phase": "Pending"}));
            }
            let mut s = json!({"phase": "Bound"});
            if let Some(modes) = obj.at("/spec/accessModes") {
                s["accessModes"] = modes.clone();
            }
            if let Some(req) = obj.at("/spec/resources/requests") {
                s["capacity"] = req.clone();
            }
            s
        }
        ("", "Service") => {
            if obj.at("/spec/type").and_then(Value::as_str) != Some("LoadBalancer")
                || behaviour != Behaviour::Healthy
            {
                return Some(json!({"loadBalancer": {}}));
            }
            json!({"loadBalancer": {"ingress": [{"ip": load_balancer_ip(obj), "ipMode": "VIP"}]}})
        }
        ("networking.k8s.io", "Ingress") => {
            if behaviour != Behaviour::Healthy {
                return Some(json!({"loadBalancer": {}}));
            }
            json!({"loadBalancer": {"ingress": [{"ip": load_balancer_ip(obj)}]}})
        }
        _ => return None,
    };
    Some(keep_unmanaged(old, status, managed_fields(group, kind)))
}

/// A bare Pod as kwok's stages leave one: a Pod that restarts (`restartPolicy: Always`,
/// the default) runs Ready (kwok's `pod-ready`); one that does not (`Never`, `OnFailure`
/// — Helm test hooks, Job pods) runs to completion, `Succeeded` (`Failed` with exit code 1
/// when simulated to fail). `never-ready` keeps it running unready, `crash-loop` waiting
/// in `CrashLoopBackOff`.
fn pod_status(obj: &Value, old: &Value, now: &str, behaviour: Behaviour) -> Value {
    let start = old
        .get("startTime")
        .and_then(Value::as_str)
        .unwrap_or(now)
        .to_string();
    let restarts = obj
        .at("/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or("Always");
    let completes = restarts != "Always";
    let containers: Vec<(String, String)> = obj
        .at("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (field("name"), field("image"))
        })
        .collect();
    let (phase, ready, reason, state): (&str, bool, &str, Value) = match behaviour {
        Behaviour::Fail if completes => (
            "Failed",
            false,
            "PodFailed",
            json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": start, "finishedAt": now}}),
        ),
        _ if completes && behaviour != Behaviour::NeverReady => (
            "Succeeded",
            false,
            "PodCompleted",
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": start, "finishedAt": now}}),
        ),
        Behaviour::CrashLoop => (
            "Running",
            false,
            "ContainersNotReady",
            json!({"waiting": {"reason": "CrashLoopBackOff"}}),
        ),
        Behaviour::Healthy | Behaviour::Fail => (
            "Running",
            true,
            "",
            json!({"running": {"startedAt": start}}),
        ),
        _ => (
            "Running",
            false,
            "ContainersNotReady",
            json!({"running": {"startedAt": start}}),
        ),
    };
    let flag = if ready { "True" } else { "False" };
    let ready_reason = if ready { "" } else { reason };
    let mut status = json!({
        "phase": phase,
        "hostIP": "10.0.0.1",
        "podIP": load_balancer_ip(obj),
        "startTime": start,
        "containerStatuses": containers.iter().map(|(name, image)| json!({
            "name": name, "image": image, "imageID": "", "ready": ready,
            "restartCount": 0, "started": phase == "Running", "state": state.clone(),
        })).collect::<Vec<_>>(),
    });
    status["conditions"] = conditions(
        old,
        now,
        &[
            ("PodScheduled", "True", "", String::new()),
            ("Initialized", "True", "", String::new()),
            ("ContainersReady", flag, ready_reason, String::new()),
            ("Ready", flag, ready_reason, String::new()),
        ],
        false,
    );
    status
}

/// The status fields the simulated controller of a kind computes; anything else in the
/// status (e.g. a Deployment's `collisionCount`, fields a test wrote through `/status`)
/// is the controller's to carry over, as the real controllers do.
fn managed_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("apps", "Deployment") => &[
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
            "conditions",
        ],
        ("apps", "StatefulSet") => &[
            "observedGeneration",
            "replicas",
            "readyReplicas",
            "currentReplicas",
            "updatedReplicas",
            "availableReplicas",
            "currentRevision",
            "updateRevision",
        ],
        ("apps", "ReplicaSet") => &[
            "observedGeneration",
            "replicas",
            "fullyLabeledReplicas",
            "readyReplicas",
            "availableReplicas",
        ],
        ("apps", "DaemonSet") => &[
            "observedGeneration",
            "currentNumberScheduled",
            "desiredNumberScheduled",
            "numberMisscheduled",
            "numberReady",
        ],
        ("batch", "Job") => &[
            "startTime",
            "completionTime",
            "succeeded",
            "failed",
            "active",
            "ready",
            "terminating",
            "uncountedTerminatedPods",
            "conditions",
        ],
        ("", "PersistentVolumeClaim") => &["phase", "accessModes", "capacity"],
        ("", "Pod") => &[
            "phase",
            "conditions",
            "containerStatuses",
            "podIP",
            "hostIP",
            "startTime",
        ],
        ("", "Service") | ("networking.k8s.io", "Ingress") => &["loadBalancer"],
        _ => &[],
    }
}

/// `computed` plus the fields of `old` the controller does not manage.
fn keep_unmanaged(old: &Value, mut computed: Value, managed: &[&str]) -> Value {
    if let (Some(old), Some(out)) = (old.as_object(), computed.as_object_mut()) {
        for (k, v) in old {
            if !managed.contains(&k.as_str()) && !out.contains_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    computed
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
    let previous: &[Value] = old
        .get("conditions")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
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

/// FNV-1a: stable across runs and processes (std's hasher is not).
pub(crate) fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a over bytes as they are written, so a value is hashed without first being
/// serialised into a string.
struct FnvWriter(u64);

impl std::io::Write for FnvWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for b in buf {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stable 10-character hash of a pod template, in the alphabet of `pod-template-hash`:
/// FNV-1a of the template's compact JSON.
pub fn template_hash(template: Option<&Value>) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut hasher = FnvWriter(fnv(""));
    if let Some(t) = template {
        // Writing to memory cannot fail.
        let _ = serde_json::to_writer(&mut hasher, t);
    }
    let mut h = hasher.0;
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
    fn bare_pods_run_ready_or_run_to_completion_as_kwok_leaves_them() {
        let pod = |restart: &str| {
            json!({"metadata": {"name": "p", "namespace": "ns"},
                   "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]}})
        };
        let phase = |s: &Value| s["phase"].as_str().unwrap().to_string();
        let ready = |s: &Value| {
            s["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "Ready")
                .unwrap()["status"]
                .clone()
        };
        let running = desired_status("", "Pod", &pod("Always"), "t0").expect("simulated");
        assert_eq!(
            (phase(&running), ready(&running)),
            ("Running".into(), json!("True"))
        );
        assert_eq!(
            running["containerStatuses"][0]["state"]["running"]["startedAt"],
            "t0"
        );
        let done = desired_status("", "Pod", &pod("Never"), "t0").expect("simulated");
        assert_eq!(phase(&done), "Succeeded");
        assert_eq!(
            done["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            0
        );
        let failed = desired_status("", "Pod", &simulated(pod("OnFailure"), "fail"), "t0")
            .expect("simulated");
        assert_eq!(phase(&failed), "Failed");
        assert_eq!(
            failed["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            1
        );
        let unready = desired_status("", "Pod", &simulated(pod("Always"), "never-ready"), "t0")
            .expect("simulated");
        assert_eq!(
            (phase(&unready), ready(&unready)),
            ("Running".into(), json!("False"))
        );
    }

    fn simulated(mut obj: Value, mode: &str) -> Value {
        obj["metadata"]["annotations"] = json!({SIMULATE_ANNOTATION: mode});
        obj
    }

    #[test]
    fn annotations_make_workloads_fail_the_way_health_checks_see_it() {
        let d = json!({"metadata": {"name": "web", "generation": 1}, "spec": {"replicas": 2}});
        let s = desired_status(
            "apps",
            "Deployment",
            &simulated(d.clone(), "never-ready"),
            "t",
        )
        .expect("simulated");
        assert!(s.get("readyReplicas").is_none());
        assert_eq!(s["unavailableReplicas"], 2);
        assert_eq!(
            (
                s["conditions"][0]["status"].as_str(),
                s["conditions"][0]["reason"].as_str()
            ),
            (Some("False"), Some("MinimumReplicasUnavailable"))
        );
        let s = desired_status(
            "apps",
            "Deployment",
            &simulated(d, "progress-deadline-exceeded"),
            "t",
        )
        .expect("simulated");
        assert_eq!(s["conditions"][1]["reason"], "ProgressDeadlineExceeded");
        assert_eq!(s["conditions"][1]["status"], "False");
        let j = json!({"metadata": {"name": "j"}, "spec": {"backoffLimit": 2}});
        let s = desired_status("batch", "Job", &simulated(j, "fail"), "t").expect("simulated");
        assert_eq!(s["failed"], 3);
        assert_eq!(s["conditions"][1]["type"], "Failed");
    }

    #[test]
    fn load_balancers_get_a_stable_address() {
        let svc =
            json!({"metadata": {"name": "lb", "namespace": "a"}, "spec": {"type": "LoadBalancer"}});
        let s = desired_status("", "Service", &svc, "t").expect("simulated");
        let ip = s["loadBalancer"]["ingress"][0]["ip"]
            .as_str()
            .expect("ip")
            .to_string();
        assert!(ip.starts_with("172.18."));
        assert_eq!(
            desired_status("", "Service", &svc, "t").expect("again")["loadBalancer"]["ingress"][0]
                ["ip"],
            ip.as_str()
        );
        let cluster_ip = json!({"metadata": {"name": "c"}, "spec": {"type": "ClusterIP"}});
        assert_eq!(
            desired_status("", "Service", &cluster_ip, "t"),
            Some(json!({"loadBalancer": {}}))
        );
    }

    #[test]
    fn fields_the_controller_does_not_manage_are_kept() {
        let d = json!({"metadata": {"name": "web", "generation": 1}, "spec": {"replicas": 1}, "status": {"collisionCount": 7, "readyReplicas": 9}});
        let s = desired_status("apps", "Deployment", &d, "t").expect("simulated");
        assert_eq!(s["collisionCount"], 7);
        assert_eq!(s["readyReplicas"], 1, "managed fields are recomputed");
    }

    #[test]
    fn durations_parse_like_go_for_common_units() {
        assert_eq!(
            parse_duration("250ms"),
            Some(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration("2m"),
            Some(std::time::Duration::from_secs(120))
        );
        assert_eq!(parse_duration("soon"), None);
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
