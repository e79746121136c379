//! The configuration read as a whole, and an Application's notifications over its life:
//! notifications-engine's controller_test.go cases (sent once, state kept and cleared,
//! oncePer, a failed send tried again), over Argo CD's catalog triggers.

use super::*;
use serde_json::json;

fn now() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap()
}

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const SYNC_SUCCEEDED: &str = "- when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']\n  send: [app-sync-succeeded]\n  oncePer: app.status.operationState?.syncResult?.revision\n";
const HEALTH_DEGRADED: &str =
    "- when: app.status.health.status == 'Degraded'\n  send: [app-health-degraded]\n";

fn config() -> Config {
    Config::parse(
        &data(&[
            ("trigger.on-sync-succeeded", SYNC_SUCCEEDED),
            ("trigger.on-health-degraded", HEALTH_DEGRADED),
            (
                "template.app-sync-succeeded",
                "message: '{{.app.metadata.name}} synced {{.app.status.operationState.syncResult.revision}} ({{.context.notificationType}})'\nwebhook:\n  receiver:\n    method: POST\n    path: /synced\n    body: '{\"app\": \"{{.app.metadata.name}}\", \"env\": \"{{.context.env}}\", \"token\": \"{{.secrets.token}}\"}'\n",
            ),
            (
                "template.app-health-degraded",
                "message: '{{.app.metadata.name}} is {{.app.status.health.status}}'\n",
            ),
            (
                "service.webhook.receiver",
                "url: http://127.0.0.1:9999/hooks\nheaders:\n- name: Authorization\n  value: Bearer $token\n",
            ),
            (
                "context",
                "env: staging\nargocdUrl: https://argocd.example.com\n",
            ),
        ]),
        &[("token".to_string(), b"s3cr3t".to_vec())].into(),
    )
}

fn app(phase: &str, revision: &str, health: &str) -> Json {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd", "annotations": {
            "notifications.argoproj.io/subscribe.on-sync-succeeded.receiver": "",
            "notifications.argoproj.io/subscribe.on-health-degraded.receiver": "",
        }},
        "spec": {"project": "default"},
        "status": {
            "operationState": {"phase": phase, "syncResult": {"revision": revision},
                               "startedAt": "2026-03-01T11:59:00Z", "finishedAt": "2026-03-01T11:59:30Z"},
            "health": {"status": health},
            "reconciledAt": "2026-03-01T11:59:30Z",
        },
    })
}

/// Writes the evaluation's state into the app's annotation, as the hub does.
fn persist(app: &mut Json, evaluation: &mut Evaluation) {
    let annotations = app["metadata"]["annotations"].as_object_mut().unwrap();
    match evaluation.state.persist() {
        Some(v) => annotations.insert(NOTIFIED_ANNOTATION.into(), json!(v)),
        None => annotations.remove(NOTIFIED_ANNOTATION),
    };
}

#[test]
fn the_configuration_is_read_key_by_key_and_problems_are_named() {
    let config = Config::parse(
        &data(&[
            (
                "trigger.on-broken",
                "- when: app.status.sync.status = 'Unknown'\n  send: [t]\n",
            ),
            ("trigger.not-a-list", "when: 'true'\n"),
            ("trigger.on-fine", "- when: 'true'\n  send: [t, missing]\n"),
            (
                "template.t",
                "message: hi\nwebhook:\n  nowhere:\n    body: x\n",
            ),
            ("template.bad", "message: '{{ .app'\n"),
            ("service.email", "host: smtp\n"),
            ("service.webhook.a.b", "url: http://x\n"),
            ("service.slack", "token: $missing\n"),
            ("defaultTriggers", "- on-fine\n"),
            ("defaultTriggers.slack", "[on-broken]\n"),
            (
                "subscriptions",
                "- recipients: [slack:ops]\n  selector: tier=1\n",
            ),
            ("context", "region: east\n"),
            ("config.yaml", "triggers: []\n"),
        ]),
        &BTreeMap::new(),
    );
    assert!(config.active());
    assert_eq!(config.defaults.all, ["on-fine"]);
    assert_eq!(config.defaults.per_service["slack"], ["on-broken"]);
    assert_eq!(config.context["region"], "east");
    assert_eq!(config.subscriptions.len(), 1);
    assert!(config.triggers["on-fine"].is_ok());
    assert!(config.triggers["not-a-list"].is_err());
    assert!(config.templates["bad"].is_err());
    let problems = config.problems.join("\n");
    for expected in [
        "argocd-notifications-cm key trigger.on-broken: trigger on-broken: condition [0] when: unexpected token Operator(\"=\") (1:24)",
        "argocd-notifications-cm key trigger.not-a-list: failed to unmarshal trigger not-a-list: ",
        "argocd-notifications-cm key template.bad: failed to unmarshal template bad: ",
        "argocd-notifications-cm key service.email: notification service type 'email' is not supported by Flotilla",
        "argocd-notifications-cm: invalid service key; expected 'service.<type>(.<name>)' but got 'service.webhook.a.b'",
        "service.slack references '$missing', but argocd-notifications-secret has no such key",
        "argocd-notifications-cm key template.t: webhook.nowhere names no service.webhook.nowhere",
        "argocd-notifications-cm key trigger.on-fine: template 'missing' is not defined",
        "argocd-notifications-cm key config.yaml: the legacy argocd-notifications configuration is not read",
    ] {
        assert!(
            problems.contains(expected),
            "missing {expected:?} in:\n{problems}"
        );
    }
    assert!(!Config::parse(&data(&[("context", "a: b\n")]), &BTreeMap::new()).active());
}

#[test]
fn a_synced_app_is_notified_once_per_revision() {
    let config = config();
    assert!(config.problems.is_empty(), "{:?}", config.problems);
    let mut web = app("Succeeded", "abc", "Healthy");
    let mut first = config.evaluate(&web, None, now());
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    assert_eq!(first.deliveries.len(), 1);
    let delivery = first.deliveries[0].clone();
    assert_eq!(delivery.trigger, "on-sync-succeeded");
    assert_eq!(delivery.result.once_per, "abc");
    assert_eq!(
        delivery.to,
        Destination {
            service: "receiver".into(),
            recipient: String::new()
        }
    );
    persist(&mut web, &mut first);
    let key = format!("abc:on-sync-succeeded:{}:receiver:", delivery.result.key);
    assert_eq!(
        web["metadata"]["annotations"][NOTIFIED_ANNOTATION],
        json!(format!("{{\"{key}\":{}}}", now().timestamp()))
    );

    // An unrelated status write: nothing new.
    web["status"]["reconciledAt"] = json!("2026-03-01T12:03:00Z");
    let again = config.evaluate(&web, None, now());
    assert!(again.deliveries.is_empty());
    assert_eq!(again.already.len(), 1);

    // The next sync runs: the condition is false, but its oncePer key stays.
    web["status"]["operationState"]["phase"] = json!("Running");
    let mut running = config.evaluate(&web, None, now());
    persist(&mut web, &mut running);
    assert!(running.state.contains(&key));
    // It succeeds at a new revision: told again; the same revision again would not be.
    web["status"]["operationState"]["phase"] = json!("Succeeded");
    web["status"]["operationState"]["syncResult"]["revision"] = json!("def");
    let next = config.evaluate(&web, None, now());
    assert_eq!(next.deliveries.len(), 1);
    assert_eq!(next.deliveries[0].result.once_per, "def");
}

#[test]
fn a_condition_without_once_per_notifies_again_after_it_was_false() {
    let config = config();
    let mut web = app("Succeeded", "abc", "Degraded");
    let mut first = config.evaluate(&web, None, now());
    let degraded: Vec<_> = first
        .deliveries
        .iter()
        .filter(|d| d.trigger == "on-health-degraded")
        .collect();
    assert_eq!(degraded.len(), 1);
    persist(&mut web, &mut first);
    assert!(config.evaluate(&web, None, now()).deliveries.is_empty());
    web["status"]["health"]["status"] = json!("Healthy");
    let mut healthy = config.evaluate(&web, None, now());
    persist(&mut web, &mut healthy);
    web["status"]["health"]["status"] = json!("Degraded");
    let degraded_again = config.evaluate(&web, None, now());
    assert_eq!(degraded_again.deliveries.len(), 1);
    assert_eq!(degraded_again.deliveries[0].trigger, "on-health-degraded");
}

#[test]
fn a_failed_delivery_is_not_recorded_and_is_tried_again() {
    let config = config();
    let mut web = app("Running", "abc", "Degraded");
    let mut evaluation = config.evaluate(&web, None, now());
    let delivery = evaluation.deliveries[0].clone();
    assert_eq!(delivery.trigger, "on-health-degraded");
    evaluation.failed(&delivery);
    persist(&mut web, &mut evaluation);
    assert!(
        web["metadata"]["annotations"]
            .get(NOTIFIED_ANNOTATION)
            .is_none()
    );
    assert_eq!(config.evaluate(&web, None, now()).deliveries, [delivery]);
}

/// notifications-engine resets a failed delivery with `SetAlreadyNotified(…, false)`,
/// which keeps a key that has an `oncePer` value: such a delivery is not tried again.
/// Pinned as upstream behaves.
#[test]
fn a_failed_once_per_delivery_stays_recorded_as_upstream_keeps_it() {
    let config = config();
    let mut web = app("Succeeded", "abc", "Healthy");
    let mut evaluation = config.evaluate(&web, None, now());
    let delivery = evaluation.deliveries[0].clone();
    assert_eq!(delivery.result.once_per, "abc");
    evaluation.failed(&delivery);
    persist(&mut web, &mut evaluation);
    assert!(config.evaluate(&web, None, now()).deliveries.is_empty());
}

#[test]
fn unsubscribed_apps_are_left_alone_and_unknown_triggers_reported() {
    let config = config();
    let mut web = app("Succeeded", "abc", "Healthy");
    web["metadata"]["annotations"] = json!({NOTIFIED_ANNOTATION: "{\"old\":1}"});
    let evaluation = config.evaluate(&web, None, now());
    assert!(
        !evaluation.subscribed,
        "no destinations: the annotation is not touched"
    );
    web["metadata"]["annotations"] =
        json!({"notifications.argoproj.io/subscribe.on-nothing.receiver": ""});
    let evaluation = config.evaluate(&web, None, now());
    assert_eq!(
        evaluation.errors,
        [
            "failed to evaluate condition of trigger on-nothing: trigger 'on-nothing' is not configured"
        ]
    );
}

#[test]
fn project_annotations_subscribe_every_app_of_the_project() {
    let config = config();
    let mut web = app("Succeeded", "abc", "Healthy");
    web["metadata"]["annotations"] = json!({});
    let project = json!({"metadata": {"name": "default", "annotations": {
        "notifications.argoproj.io/subscribe.on-sync-succeeded.receiver": ""}}});
    let evaluation = config.evaluate(&web, Some(&project), now());
    assert_eq!(evaluation.deliveries.len(), 1);
}

#[test]
fn templates_render_with_context_secrets_and_the_service_type() {
    let config = config();
    let web = app("Succeeded", "abc", "Healthy");
    let to = Destination {
        service: "receiver".into(),
        recipient: String::new(),
    };
    let n = config
        .render(&["app-sync-succeeded".into()], &web, None, &to)
        .unwrap();
    assert_eq!(n.message, "web synced abc (receiver)");
    assert_eq!(
        n.webhook["receiver"].body,
        "{\"app\": \"web\", \"env\": \"staging\", \"token\": \"s3cr3t\"}"
    );
    let Service::Webhook(options) = config.services["receiver"].service.clone().unwrap() else {
        panic!("a webhook")
    };
    let request = services::webhook_request(&options, &n, &to);
    assert_eq!(request.url, "http://127.0.0.1:9999/hooks/synced");
    assert_eq!(
        request.headers,
        [("Authorization".to_string(), "Bearer s3cr3t".to_string())]
    );
    assert_eq!(
        config.services["receiver"].secrets,
        ["Bearer s3cr3t", "s3cr3t"]
    );
    assert_eq!(
        config
            .render(&["nope".into()], &web, None, &to)
            .unwrap_err(),
        "template 'nope' is not supported"
    );
}

/// Argo CD's `isAppSyncStatusRefreshed`.
#[test]
fn a_sync_status_older_than_the_operations_end_is_outdated() {
    let mut web = app("Succeeded", "abc", "Healthy");
    assert!(!sync_status_outdated(&web), "reconciled when it finished");
    web["status"]["reconciledAt"] = json!("2026-03-01T11:59:00Z");
    assert!(sync_status_outdated(&web));
    web["status"]["observedAt"] = json!("2026-03-01T12:00:00Z");
    assert!(!sync_status_outdated(&web));
    web["status"]["operationState"]["phase"] = json!("Running");
    web["status"]["reconciledAt"] = json!("2026-03-01T11:00:00Z");
    assert!(!sync_status_outdated(&web), "a running operation");
}
