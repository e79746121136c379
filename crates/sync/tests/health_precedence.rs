//! Which check judges an object, in gitops-engine's order: the deletion rule, then an
//! `argocd-cm` script, then the check Argo CD bundles for the kind, then the built-ins and
//! kstatus. The scripts in force are process-wide, so this binary holds one test.

use flotilla_sync::health::lua::{HealthScript, HealthScripts};
use flotilla_sync::health::{Health, HealthStatus, assess, set_health_scripts};
use serde_json::{Value, json};

fn certificate(ready: &str, message: &str) -> Value {
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"secretName": "web-tls"},
        "status": {"conditions": [
            {"type": "Ready", "status": ready, "reason": "Pending", "message": message}
        ]}
    })
}

#[test]
fn bundled_checks_judge_their_kinds_unless_argocd_cm_overrides_them() {
    set_health_scripts(HealthScripts::default());
    let failing = certificate("False", "Issuing certificate as Secret does not exist");

    // cert-manager's bundled check: a false Ready condition degrades, in its words (kstatus
    // alone would have called this Certificate Current).
    assert_eq!(
        assess(&failing),
        Health {
            status: HealthStatus::Degraded,
            message: "Issuing certificate as Secret does not exist".into(),
            ignored: false,
        }
    );
    let mut deleting = failing.clone();
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    assert_eq!(assess(&deleting).message, "Pending deletion");

    // An argocd-cm script for the kind wins over the bundled check.
    let mut scripts = HealthScripts::default();
    scripts.insert(
        "cert-manager.io/Certificate".into(),
        HealthScript {
            script: r#"return {status = "Healthy", message = "judged by argocd-cm"}"#.into(),
            use_open_libs: false,
        },
    );
    set_health_scripts(scripts);
    assert_eq!(
        assess(&failing),
        Health {
            status: HealthStatus::Healthy,
            message: "judged by argocd-cm".into(),
            ignored: false,
        }
    );
    set_health_scripts(HealthScripts::default());
    assert_eq!(assess(&failing).status, HealthStatus::Degraded);

    // A bundled script that returns no status: no health, not kstatus's verdict.
    let experiment = json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "e"},
        "status": {"phase": "Inconclusive", "conditions": [
            {"type": "Ready", "status": "False", "reason": "Stuck"}
        ]}
    });
    assert_eq!(
        assess(&experiment),
        Health {
            status: HealthStatus::Healthy,
            message: String::new(),
            ignored: false,
        }
    );
}

/// `argocd.argoproj.io/ignore-healthcheck: "true"` (Argo CD's `setApplicationHealth`): the
/// object keeps its own verdict, which does not count for its app's.
#[test]
fn an_object_asking_to_be_ignored_does_not_count_for_its_app() {
    let job = |annotations: serde_json::Value| {
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "migrate", "annotations": annotations},
            "status": {"failed": 1, "conditions": [
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                 "message": "Job has reached the specified backoff limit"}
            ]}
        })
    };
    let failed = assess(&job(json!({})));
    assert_eq!(failed.status, HealthStatus::Degraded);
    assert!(!failed.ignored);
    let ignored = assess(&job(
        json!({"argocd.argoproj.io/ignore-healthcheck": "true"}),
    ));
    assert_eq!(
        ignored.status,
        HealthStatus::Degraded,
        "its own verdict stays"
    );
    assert!(ignored.ignored);
    assert!(
        !assess(&job(
            json!({"argocd.argoproj.io/ignore-healthcheck": "yes"})
        ))
        .ignored,
        "only \"true\", as Argo CD compares"
    );
    let config_map =
        assess(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}));
    assert_eq!(
        flotilla_sync::health::app_worst([&failed, &config_map]),
        HealthStatus::Degraded
    );
    assert_eq!(
        flotilla_sync::health::app_worst([&ignored, &config_map]),
        HealthStatus::Healthy
    );
}
