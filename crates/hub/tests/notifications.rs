//! Argo CD's notifications end to end: the hub as `flotilla controller` starts it
//! (`run::start`) on kubesim, `argocd-notifications-cm` and `argocd-notifications-secret`
//! as Argo CD's documentation writes them, an Application subscribed by annotations, and a
//! real HTTP receiver on 127.0.0.1 standing in for a webhook endpoint and Slack's API.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flotilla_hub::controller::application_resource;
use flotilla_hub::run::{self, HubConfig};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::{git, wait_for, write};

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// An HTTP server on 127.0.0.1 that records every request; Slack's `chat.postMessage`,
/// GitHub's installation tokens and commit statuses are answered as their APIs answer,
/// everything else with 200.
async fn receiver() -> (String, Log) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, Uri};
    let log = Log::default();
    let kept = log.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push(Received {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    authorization: headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let path = uri.path();
                if path.ends_with("chat.postMessage") {
                    r#"{"ok":true,"channel":"C1","ts":"1700000000.000100"}"#.to_string()
                } else if path.ends_with("/access_tokens") {
                    r#"{"token":"ghs_installation-token","expires_at":"2099-01-01T00:00:00Z"}"#
                        .to_string()
                } else if path.contains("/statuses/") {
                    r#"{"id":1,"state":"success"}"#.to_string()
                } else {
                    "ok".to_string()
                }
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), log)
}

fn received(log: &Log, path: &str) -> Vec<Received> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == path)
        .cloned()
        .collect()
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: registry.local/web:1.0\n";

/// The ConfigMap: Argo CD's catalog triggers for sync success and degraded health, a
/// trigger that does not parse, templates with webhook sections and a Slack message, a
/// webhook with a token from the Secret, a webhook at a cloud metadata address, Slack and
/// a GitHub App (Enterprise) at the receiver, and a template naming a webhook that is not
/// configured.
fn notifications_cm(receiver: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": "argocd-notifications-cm", "namespace": "argocd"},
        "data": {
            "context": "argocdUrl: https://argocd.example.com\n",
            "trigger.on-sync-succeeded": "- when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']\n  description: Application syncing has succeeded\n  send: [app-sync-succeeded]\n  oncePer: app.status.operationState?.syncResult?.revision\n",
            "trigger.on-health-degraded": "- when: app.status.health.status == 'Degraded'\n  description: Application has degraded\n  send: [app-health-degraded]\n  oncePer: app.status.operationState?.syncResult?.revision\n",
            "trigger.on-broken": "- when: app.status.sync.status = 'Unknown'\n  send: [app-health-degraded]\n",
            "trigger.on-deployed": "- when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy' and (!time.Parse(app.status.health.lastTransitionTime).Add(1 * time.Minute).Before(time.Parse(app.status.operationState.finishedAt)) or time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.startedAt)))\n  description: Application is synced and healthy. Triggered once per commit.\n  send: [app-deployed]\n  oncePer: app.status.operationState?.syncResult?.revision\n",
            "template.app-deployed": "webhook:\n  receiver:\n    method: POST\n    path: /deployed\n    body: '{\"app\": \"{{.app.metadata.name}}\", \"revision\": \"{{.app.status.operationState.syncResult.revision}}\"}'\n",
            "template.app-sync-succeeded": "message: |\n  {{if eq .serviceType \"slack\"}}:white_check_mark:{{end}} Application {{.app.metadata.name}} has been successfully synced.\nwebhook:\n  receiver:\n    method: POST\n    path: /sync-succeeded\n    body: |\n      {\"app\": \"{{.app.metadata.name}}\", \"revision\": \"{{.app.status.operationState.syncResult.revision}}\", \"link\": \"{{.context.argocdUrl}}/applications/{{.app.metadata.name}}\"}\ngithub:\n  repoURLPath: https://github.com/argoproj/argocd-example-apps\n  status:\n    state: success\n    label: continuous-delivery/{{.app.metadata.name}}\n    targetURL: '{{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true'\n",
            "template.app-health-degraded": "webhook:\n  receiver:\n    method: POST\n    path: /health-degraded\n    body: |\n      {\"app\": \"{{.app.metadata.name}}\", \"health\": \"{{.app.status.health.status}}\"}\n",
            "template.uses-missing": "webhook:\n  missing-hook:\n    method: POST\n    body: x\n",
            "service.webhook.receiver": format!("url: {receiver}/hooks\nheaders:\n- name: Authorization\n  value: Bearer $webhook-token\n"),
            "service.webhook.metadata": "url: http://169.254.169.254/latest/meta-data\n",
            "service.slack": format!("token: $slack-token\napiURL: {receiver}/slack/\nusername: argocd\n"),
            "service.github": format!("appID: 12345\ninstallationID: 42\nprivateKey: $github-privateKey\nenterpriseBaseURL: {receiver}/github/api/v3\n"),
        },
    }))
    .unwrap()
}

fn notifications_secret(github_key: &str) -> Secret {
    serde_json::from_value(json!({
        "metadata": {"name": "argocd-notifications-secret", "namespace": "argocd"},
        "stringData": {"webhook-token": "s3cr3t-webhook-token", "slack-token": "xoxb-s3cr3t-slack",
                       "github-privateKey": github_key},
    }))
    .unwrap()
}

/// A GitHub App's RSA key as GitHub hands it out (PEM), and its public key (DER).
fn github_app_key() -> (String, Vec<u8>) {
    use aws_lc_rs::encoding::AsDer as _;
    use base64::Engine as _;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = key.as_der().unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    (
        pem,
        aws_lc_rs::signature::KeyPair::public_key(&key)
            .as_ref()
            .to_vec(),
    )
}

/// The claims of a JWT whose RS256 signature `public_key` verifies.
fn verified_claims(jwt: &str, public_key: &[u8]) -> Value {
    use base64::Engine as _;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let header: Value = serde_json::from_slice(&url.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT"}));
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key,
    )
    .verify(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &url.decode(parts[2]).unwrap(),
    )
    .expect("signed with the App's key");
    serde_json::from_slice(&url.decode(parts[1]).unwrap()).unwrap()
}

async fn events(hub: &kube::Client, kind: &str, name: &str) -> Vec<Event> {
    Api::<Event>::namespaced(hub.clone(), "argocd")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some(kind)
                && e.involved_object.name.as_deref() == Some(name)
        })
        .collect()
}

/// An Application subscribed to `on-sync-succeeded` (a webhook, Slack, a webhook the
/// egress policy refuses, a service that is not configured), `on-health-degraded` and a
/// trigger that does not parse: after its sync the webhook gets exactly one POST with
/// the rendered body, Slack one `chat.postMessage` and GitHub one commit status, and the
/// catalog's `on-deployed` fires once the app is Healthy; an unrelated status write and a
/// restart of the hub send nothing again; a Deployment turning Degraded at a new commit
/// fires `on-health-degraded` once (and `on-sync-succeeded` for the new revision). What
/// cannot work is reported — on the Application and on the ConfigMap — without secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_application_is_notified_once_per_sync_and_when_it_degrades() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver_url, log) = receiver().await;
    let (fleet, server, hub) = support::simulated_hub(&["hub", "east"]).await;
    support::register_cluster(&fleet, &server, &hub, "east").await;
    let secrets = Api::<Secret>::namespaced(hub.clone(), "argocd");
    let (github_key, github_public_key) = github_app_key();
    secrets
        .create(&PostParams::default(), &notifications_secret(&github_key))
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(hub.clone(), "argocd")
        .create(&PostParams::default(), &notifications_cm(&receiver_url))
        .await
        .unwrap();

    let work = dir.path().join("work");
    write(&work, "deploy/web.yaml", DEPLOYMENT);
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    let url = format!("file://{}", work.join(".git").display());

    let start = async || {
        let mut config = HubConfig::new(dir.path().join("cache"));
        config.mirror_gc = None;
        config.source_interval = Duration::from_secs(1);
        run::start(support::config(&server, "hub").await, config)
            .await
            .unwrap()
    };
    let first_hub = start().await;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &application_resource());
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd", "annotations": {
            "notifications.argoproj.io/subscribe.on-sync-succeeded.receiver": "",
            "notifications.argoproj.io/subscribe.on-sync-succeeded.slack": "deploys",
            "notifications.argoproj.io/subscribe.on-sync-succeeded.github": "",
            "notifications.argoproj.io/subscribe.on-sync-succeeded.metadata": "",
            "notifications.argoproj.io/subscribe.on-sync-succeeded.teams": "ops",
            "notifications.argoproj.io/subscribe.on-health-degraded.receiver": "",
            "notifications.argoproj.io/subscribe.on-deployed.receiver": "",
            "notifications.argoproj.io/subscribe.on-broken.receiver": "",
        }},
        "spec": {
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": server.cluster_url("east"), "namespace": "web"},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
        },
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app).await.unwrap();
    let read = async || serde_json::to_value(apps.get("web").await.ok()?).ok();

    // The sync: one POST with the rendered body and the token, one Slack message.
    let synced = wait_for("the sync-succeeded webhook", async || {
        received(&log, "/hooks/sync-succeeded").into_iter().next()
    })
    .await;
    let app = read().await.unwrap();
    let revision = app["status"]["operationState"]["syncResult"]["revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(synced.method, "POST");
    assert_eq!(
        synced.authorization.as_deref(),
        Some("Bearer s3cr3t-webhook-token")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&synced.body).unwrap(),
        json!({"app": "web", "revision": revision,
               "link": "https://argocd.example.com/applications/web"})
    );
    let slack = wait_for("the Slack message", async || {
        received(&log, "/slack/chat.postMessage").into_iter().next()
    })
    .await;
    assert_eq!(
        slack.body,
        "channel=deploys&text=%3Awhite_check_mark%3A+Application+web+has+been+successfully+synced.%0A&token=xoxb-s3cr3t-slack&username=argocd"
    );
    // GitHub: an installation token bought with a JWT signed by the App's key, then the
    // commit status.
    let status = wait_for("the GitHub commit status", async || {
        log.lock()
            .unwrap()
            .iter()
            .find(|r| r.path.contains("/statuses/"))
            .cloned()
    })
    .await;
    assert_eq!(
        status.path,
        format!("/github/api/v3/repos/argoproj/argocd-example-apps/statuses/{revision}")
    );
    assert_eq!(
        status.authorization.as_deref(),
        Some("token ghs_installation-token")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&status.body).unwrap(),
        json!({"state": "success", "context": "continuous-delivery/web",
               "target_url": "https://argocd.example.com/applications/web?operation=true",
               "description": " Application web has been successfully synced.\n"})
    );
    let token_request = received(&log, "/github/api/v3/app/installations/42/access_tokens")
        .into_iter()
        .next()
        .expect("a token asked for before the status");
    assert_eq!(token_request.method, "POST");
    let jwt = token_request
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap();
    let claims = verified_claims(jwt, &github_public_key);
    assert_eq!(claims["iss"], "12345");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    let state = wait_for("the notified state", async || {
        let app = read().await?;
        let state = app
            .pointer("/metadata/annotations/notified.notifications.argoproj.io")?
            .as_str()?
            .to_string();
        let state: serde_json::Map<String, Value> = serde_json::from_str(&state).ok()?;
        (state.keys().filter(|k| k.starts_with(&revision)).count() == 6).then_some(state)
    })
    .await;
    assert_eq!(
        state
            .keys()
            .filter(|k| k.starts_with(&format!("{revision}:on-sync-succeeded:")))
            .count(),
        5,
        "{state:?}"
    );
    // on-deployed: the health's lastTransitionTime (kept as Argo CD keeps it) is within a
    // minute of the sync's end.
    let deployed = received(&log, "/hooks/deployed");
    assert_eq!(deployed.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&deployed[0].body).unwrap(),
        json!({"app": "web", "revision": revision})
    );

    // What could not be delivered is reported on the Application, without secrets.
    let failures = wait_for("the delivery failures reported", async || {
        let messages: Vec<String> = events(&hub, "Application", "web")
            .await
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("NotificationFailed"))
            .filter_map(|e| e.message)
            .collect();
        (messages.len() == 2).then_some(messages)
    })
    .await;
    let all = failures.join("\n");
    assert!(
        all.contains(r#"failed to deliver notification on-sync-succeeded to {metadata }: Get "http://169.254.169.254/latest/meta-data": "#)
            && all.contains("the egress policy refuses 169.254.169.254"),
        "{all}"
    );
    assert!(
        all.contains("failed to deliver notification on-sync-succeeded to {teams ops}: notification service 'teams' is not supported"),
        "{all}"
    );
    // The configuration's problems are reported on the ConfigMap.
    let problems = wait_for("the configuration's problems reported", async || {
        events(&hub, "ConfigMap", "argocd-notifications-cm")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("InvalidConfiguration"))
            .and_then(|e| e.message)
    })
    .await;
    assert!(
        problems.contains(
            "trigger on-broken: condition [0] when: unexpected token Operator(\"=\") (1:24)"
        ),
        "{problems}"
    );
    assert!(
        problems.contains(
            "template.uses-missing: webhook.missing-hook names no service.webhook.missing-hook"
        ),
        "{problems}"
    );
    for event in [&all, &problems] {
        assert!(!event.contains("s3cr3t"), "{event}");
        assert!(!event.contains("PRIVATE KEY"), "{event}");
    }

    // An unrelated status write (a refresh: a new reconciledAt) sends nothing.
    let before = read().await.unwrap()["status"]["reconciledAt"].clone();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refresh = async |kind: &str| {
        apps.patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": kind}}}),
            ),
        )
        .await
        .unwrap();
    };
    refresh("normal").await;
    wait_for("the refresh's status written", async || {
        (read().await?["status"]["reconciledAt"] != before).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(received(&log, "/hooks/sync-succeeded").len(), 1);

    // A restart: the state in the annotation says it was sent.
    drop(first_hub);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = read().await.unwrap()["status"]["reconciledAt"].clone();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second_hub = start().await;
    refresh("normal").await;
    wait_for("the restarted hub's status written", async || {
        (read().await?["status"]["reconciledAt"] != before).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        received(&log, "/hooks/sync-succeeded").len(),
        1,
        "not again after a restart"
    );
    assert_eq!(received(&log, "/slack/chat.postMessage").len(), 1);
    assert!(received(&log, "/hooks/health-degraded").is_empty());

    // A commit whose Deployment never makes progress: the new revision syncs (told once
    // more, as oncePer says) and the app turns Degraded (told once).
    write(
        &work,
        "deploy/web.yaml",
        &DEPLOYMENT.replace(
            "  name: web\nspec:",
            "  name: web\n  annotations:\n    kubesim.flotilla.dev/simulate: progress-deadline-exceeded\nspec:",
        ),
    );
    git(&work, &["commit", "-qam", "stuck"]);
    refresh("hard").await;
    let degraded = wait_for("the health-degraded webhook", async || {
        received(&log, "/hooks/health-degraded").into_iter().next()
    })
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&degraded.body).unwrap(),
        json!({"app": "web", "health": "Degraded"})
    );
    wait_for("the new revision's sync-succeeded", async || {
        (received(&log, "/hooks/sync-succeeded").len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(received(&log, "/hooks/health-degraded").len(), 1);
    assert_eq!(received(&log, "/hooks/sync-succeeded").len(), 2);
    wait_for("the new revision's commit status", async || {
        let statuses = log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.contains("/statuses/"))
            .count();
        (statuses == 2).then_some(())
    })
    .await;
    let hooks: Vec<Received> = log.lock().unwrap().clone();
    assert!(
        hooks.iter().all(|r| !r.path.contains("missing")),
        "nothing for the unconfigured webhook"
    );
    drop(second_hub);
}
