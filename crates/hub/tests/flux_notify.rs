//! Flux's notification-controller on the hub, end to end against kubesim: the events of a
//! GitRepository and a Kustomization dispatched by Alerts to Providers served by a real
//! HTTP server on 127.0.0.1 that records every request — generic and generic-hmac (the
//! signature checked here with its own HMAC), Slack, Microsoft Teams and Discord payloads
//! as upstream's notifiers build them, Alert filtering (severity, exclusion regex, name
//! `*`, a suspended Alert, an invalid regex), duplicate suppression, and bad Providers
//! reported on their Alerts (a missing Secret, an address the egress policy refuses, a
//! failing address retried, an unsupported type) with no secret in any message; GitHub,
//! GitLab and Gitea commit statuses set on a stand-in forge API; Receivers annotating
//! their targets, which the hub then reconciles at once.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use flotilla_hub::flux::notify::receiver::receiver_resource;
use flotilla_hub::flux::notify::{alert_resource, provider_resource};
use flotilla_hub::flux::{git_repository_resource, kustomization_resource};
use flotilla_source::{CacheOptions, MirrorCache, Rewrite};
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kubesim::{Fleet, FleetConfig, Server};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};
use support::{git, wait_for, write};
use tower::ServiceExt as _;

const NS: &str = "flux-system";

/// One request the stand-in webhook server received.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A webhook server on 127.0.0.1 recording every request; paths starting with `/fail`
/// answer 500, everything else 200.
#[derive(Clone, Default)]
struct Webhooks {
    received: Arc<Mutex<Vec<Received>>>,
}

impl Webhooks {
    async fn start() -> (Webhooks, String) {
        let hooks = Webhooks::default();
        let router = axum::Router::new()
            .fallback(record)
            .with_state(hooks.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (hooks, format!("http://{address}"))
    }

    /// The requests to `path`, in order.
    fn at(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits for a request to `path` whose JSON body satisfies `wanted`.
    async fn wait(&self, path: &str, what: &str, wanted: impl Fn(&Value) -> bool) -> Received {
        wait_for(&format!("{what} at {path}"), async || {
            self.at(path).into_iter().find(|r| {
                serde_json::from_slice::<Value>(&r.body)
                    .map(|v| wanted(&v))
                    .unwrap_or(false)
            })
        })
        .await
    }
}

async fn record(
    State(hooks): State<Webhooks>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri.path().to_string();
    let failing = path.starts_with("/fail");
    hooks.received.lock().unwrap().push(Received {
        path,
        headers,
        body,
    });
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// A hub with the Flux controllers (notifications retried after 50 ms, not 2 s) and a
/// repository `platform-config` under `repos`, reachable as
/// `https://gitlab.internal/platform-config`.
struct Hub {
    _server: Server,
    client: Client,
    repo: std::path::PathBuf,
}

async fn start_hub(dir: &Path) -> Hub {
    let repo = dir.join("repos/platform-config");
    std::fs::create_dir_all(&repo).unwrap();
    write(
        &repo,
        "apps/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  color: blue\n",
    );
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let mut options = CacheOptions::new(dir.join("cache"));
    options.rewrites = vec![Rewrite {
        base: format!("file://{}/", dir.join("repos").display()),
        instead_of: "https://gitlab.internal/".into(),
    }];
    let mirrors = MirrorCache::new(options).unwrap();
    let fleet = Fleet::new(&["hub".to_string()], FleetConfig::default());
    let server = Server::start_tls(fleet, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let config = support::config(&server, "hub").await;
    let client = Client::try_from(config.clone()).unwrap();
    flotilla_hub::bootstrap::install(&client, Duration::from_secs(10))
        .await
        .unwrap();
    let mut options = flotilla_hub::flux::FluxOptions {
        workers: 4,
        health_poll: Duration::from_millis(200),
        dependency_requeue: Duration::from_secs(1),
        ..Default::default()
    };
    options.notify.retry.wait_min = Duration::from_millis(50);
    options.notify.retry.wait_max = Duration::from_millis(200);
    let reconciler = flotilla_hub::flux::FluxReconciler::new(
        config,
        flotilla_hub::sources::Sources::new(mirrors),
        options,
    )
    .unwrap();
    tokio::spawn(flotilla_hub::flux::run_flux(Arc::new(reconciler)));
    Hub {
        _server: server,
        client,
        repo,
    }
}

async fn create(client: &Client, resource: &ApiResource, value: Value) {
    let namespace = value["metadata"]["namespace"]
        .as_str()
        .unwrap_or(NS)
        .to_string();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, resource);
    let object: DynamicObject = serde_json::from_value(value).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

async fn patch(client: &Client, resource: &ApiResource, name: &str, merge: Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, resource);
    api.patch(name, &PatchParams::default(), &Patch::Merge(merge))
        .await
        .unwrap();
}

async fn object(client: &Client, resource: &ApiResource, name: &str) -> Value {
    support::object_of(client, resource, NS, name)
        .await
        .unwrap_or(Value::Null)
}

async fn secret(client: &Client, name: &str, data: &[(&str, &str)]) {
    let api: Api<Secret> = Api::namespaced(client.clone(), NS);
    let string_data: BTreeMap<String, String> = data
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "stringData": string_data,
    }))
    .unwrap();
    api.create(&PostParams::default(), &secret).await.unwrap();
}

async fn provider(client: &Client, name: &str, spec: Value) {
    create(
        client,
        &provider_resource(),
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
               "metadata": {"name": name, "namespace": NS}, "spec": spec}),
    )
    .await;
}

async fn alert(client: &Client, name: &str, spec: Value) {
    create(
        client,
        &alert_resource(),
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
               "metadata": {"name": name, "namespace": NS}, "spec": spec}),
    )
    .await;
}

async fn git_repository(client: &Client, interval: &str) {
    create(
        client,
        &git_repository_resource(),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
               "metadata": {"name": "platform-config", "namespace": NS},
               "spec": {"interval": interval,
                        "url": "https://gitlab.internal/platform-config",
                        "ref": {"branch": "main"}}}),
    )
    .await;
}

async fn kustomization(client: &Client, metadata: Value, interval: &str) {
    let mut metadata = metadata;
    metadata["name"] = json!("apps");
    metadata["namespace"] = json!(NS);
    create(
        client,
        &kustomization_resource(),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": metadata,
               "spec": {"interval": interval, "path": "./apps", "prune": true,
                        "sourceRef": {"kind": "GitRepository", "name": "platform-config"}}}),
    )
    .await;
}

/// The Events about `kind/name`, oldest first.
async fn events_of(client: &Client, kind: &str, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), NS);
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    let mut events = api
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items;
    events.sort_by_key(|e| e.metadata.name.clone());
    events
}

/// Waits for a Warning Event about `kind/name` with `reason` whose message satisfies
/// `matches`.
async fn warning(
    client: &Client,
    (kind, name): (&str, &str),
    reason: &str,
    matches: impl Fn(&str) -> bool,
) -> Event {
    wait_for(
        &format!("a {reason} warning about {kind}/{name}"),
        async || {
            events_of(client, kind, name).await.into_iter().find(|e| {
                e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some(reason)
                    && matches(e.message.as_deref().unwrap_or(""))
            })
        },
    )
    .await
}

fn hmac_sha256(body: &[u8], key: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_rfc3339_seconds(text: &str) -> bool {
    text.len() == 20 && text.ends_with('Z') && text.as_bytes()[10] == b'T'
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerts_dispatch_flux_events_to_generic_and_hmac_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let (hooks, base) = Webhooks::start().await;
    let hub = start_hub(dir.path()).await;
    let client = &hub.client;
    secret(
        client,
        "hmac",
        &[
            ("token", "it's a secret"),
            ("headers", "X-Team: payments\n"),
            ("address", &format!("{base}/hmac")),
        ],
    )
    .await;
    provider(
        client,
        "generic",
        json!({"type": "generic", "address": format!("{base}/generic")}),
    )
    .await;
    // The Secret's address wins over spec.address.
    provider(
        client,
        "hmac",
        json!({"type": "generic-hmac", "address": format!("{base}/not-here"),
               "secretRef": {"name": "hmac"}}),
    )
    .await;
    provider(
        client,
        "suspended",
        json!({"type": "generic", "address": format!("{base}/suspended")}),
    )
    .await;
    provider(
        client,
        "quiet",
        json!({"type": "generic", "address": format!("{base}/quiet")}),
    )
    .await;
    alert(
        client,
        "all",
        json!({"providerRef": {"name": "generic"}, "eventMetadata": {"cluster": "hub-1"},
               "eventSources": [{"kind": "GitRepository", "name": "*"},
                                {"kind": "Kustomization", "name": "apps"}]}),
    )
    .await;
    alert(
        client,
        "errors",
        json!({"providerRef": {"name": "hmac"}, "eventSeverity": "error",
               "eventSources": [{"kind": "Kustomization", "name": "*"},
                                {"kind": "GitRepository", "name": "*"}]}),
    )
    .await;
    alert(
        client,
        "suspended",
        json!({"providerRef": {"name": "suspended"}, "suspend": true,
               "eventSources": [{"kind": "GitRepository", "name": "*"},
                                {"kind": "Kustomization", "name": "*"}]}),
    )
    .await;
    alert(
        client,
        "quiet",
        json!({"providerRef": {"name": "quiet"},
               "exclusionList": ["(", "^stored artifact", "created$"],
               "eventSources": [{"kind": "GitRepository", "name": "*"},
                                {"kind": "Kustomization", "name": "*"}]}),
    )
    .await;
    wait_for("the Providers' finalizers", async || {
        let p = object(client, &provider_resource(), "quiet").await;
        (p["metadata"]["finalizers"] == json!(["finalizers.fluxcd.io"])).then_some(())
    })
    .await;

    git_repository(client, "1h").await;
    kustomization(
        client,
        json!({"annotations": {"event.toolkit.fluxcd.io/summary": "payments in eu-1"}}),
        "1h",
    )
    .await;

    // source-controller's NewArtifact, as fluxcd/pkg's recorder posts it, merged.
    let stored = hooks
        .wait("/generic", "the NewArtifact event", |v| {
            v["reason"] == "NewArtifact"
        })
        .await;
    let repo = object(client, &git_repository_resource(), "platform-config").await;
    let revision = repo["status"]["artifact"]["revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(revision.starts_with("main@sha1:"), "{revision}");
    assert_eq!(stored.header("content-type"), "application/json");
    assert_eq!(stored.header("gotk-component"), "source-controller");
    assert!(stored.headers.get("x-signature").is_none());
    let event = stored.json();
    assert_eq!(
        event["involvedObject"],
        json!({"kind": "GitRepository", "namespace": NS, "name": "platform-config",
               "uid": repo["metadata"]["uid"], "apiVersion": "source.toolkit.fluxcd.io/v1",
               "resourceVersion": event["involvedObject"]["resourceVersion"]})
    );
    assert_eq!(event["severity"], "info");
    assert_eq!(event["message"], "stored artifact for commit 'first'");
    assert_eq!(
        event["metadata"],
        json!({"cluster": "hub-1", "revision": revision}),
        "prefixes stripped, the Alert's eventMetadata added"
    );
    assert_eq!(event["reportingController"], "source-controller");
    assert!(!event["reportingInstance"].as_str().unwrap().is_empty());
    assert!(
        is_rfc3339_seconds(event["timestamp"].as_str().unwrap()),
        "{event}"
    );
    // The keys in Go's order.
    let text = String::from_utf8(stored.body.to_vec()).unwrap();
    let order: Vec<usize> = [
        "involvedObject",
        "severity",
        "timestamp",
        "message",
        "reason",
        "metadata",
        "reportingController",
        "reportingInstance",
    ]
    .iter()
    .map(|k| text.find(&format!("\"{k}\"")).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");

    // kustomize-controller's events: the change set, then the summary with the object's
    // event annotation and the commit status update (generic providers take those).
    let finished = hooks
        .wait(
            "/generic",
            "the Kustomization's ReconciliationSucceeded",
            |v| v["reason"] == "ReconciliationSucceeded",
        )
        .await;
    let event = finished.json();
    assert_eq!(finished.header("gotk-component"), "kustomize-controller");
    assert_eq!(event["involvedObject"]["kind"], "Kustomization");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .starts_with("Reconciliation finished in "),
        "{event}"
    );
    assert_eq!(
        event["metadata"],
        json!({"cluster": "hub-1", "commit_status": "update", "revision": revision,
               "summary": "payments in eu-1"})
    );
    let progress = hooks
        .wait("/generic", "the change set", |v| {
            v["reason"] == "Progressing"
        })
        .await;
    assert_eq!(
        progress.json()["message"],
        "ConfigMap/default/settings created"
    );

    // The exclusion list: neither the artifact nor the change set; the bad pattern is
    // skipped and reported on the Alert.
    hooks
        .wait("/quiet", "the summary", |v| {
            v["reason"] == "ReconciliationSucceeded"
        })
        .await;
    let quiet: Vec<String> = hooks
        .at("/quiet")
        .iter()
        .map(|r| r.json()["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        quiet
            .iter()
            .all(|m| !m.starts_with("stored artifact") && !m.ends_with("created")),
        "{quiet:?}"
    );
    warning(client, ("Alert", "quiet"), "InvalidConfig", |m| {
        m == "failed to compile exclusion regex: ("
    })
    .await;
    assert!(hooks.at("/hmac").is_empty(), "errors only");

    // A failing Kustomization: an error, signed; asked to reconcile again twice, the same
    // error is a duplicate (it counts on the Kubernetes Event) and is not sent again.
    patch(
        client,
        &kustomization_resource(),
        "apps",
        json!({"spec": {"path": "./missing"}}),
    )
    .await;
    let signed = hooks
        .wait("/hmac", "the error", |v| v["severity"] == "error")
        .await;
    let event = signed.json();
    assert_eq!(
        signed.header("x-signature"),
        format!("sha256={}", hmac_sha256(&signed.body, b"it's a secret"))
    );
    assert_eq!(signed.header("x-team"), "payments");
    assert_eq!(signed.header("gotk-component"), "kustomize-controller");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .starts_with("kustomization path not found:"),
        "{event}"
    );
    assert_eq!(event["metadata"]["summary"], "payments in eu-1");
    for at in ["again-1", "again-2"] {
        patch(
            client,
            &kustomization_resource(),
            "apps",
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": at}}}),
        )
        .await;
        wait_for("the request handled", async || {
            let ks = object(client, &kustomization_resource(), "apps").await;
            (ks["status"]["lastHandledReconcileAt"] == at).then_some(())
        })
        .await;
    }
    wait_for("the error recorded three times", async || {
        events_of(client, "Kustomization", "apps")
            .await
            .into_iter()
            .find(|e| e.type_.as_deref() == Some("Warning") && e.count.unwrap_or(0) >= 3)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        hooks.at("/hmac").len(),
        1,
        "duplicates within 5 minutes are dropped"
    );
    assert!(hooks.at("/not-here").is_empty());
    assert!(
        hooks.at("/suspended").is_empty(),
        "a suspended Alert takes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chat_providers_post_upstreams_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let (hooks, base) = Webhooks::start().await;
    let hub = start_hub(dir.path()).await;
    let client = &hub.client;
    secret(client, "slack-bot", &[("token", "xoxb-not-shown")]).await;
    provider(
        client,
        "slack",
        json!({"type": "slack", "address": format!("{base}/slack-hook"), "channel": "#ops",
               "username": "flux", "secretRef": {"name": "slack-bot"}}),
    )
    .await;
    provider(
        client,
        "teams",
        json!({"type": "msteams", "address": format!("{base}/teams")}),
    )
    .await;
    provider(
        client,
        "discord",
        json!({"type": "discord", "address": format!("{base}/discord")}),
    )
    .await;
    for name in ["slack", "teams", "discord"] {
        alert(
            client,
            name,
            json!({"providerRef": {"name": name},
                   "eventSources": [{"kind": "GitRepository", "name": "platform-config"},
                                    {"kind": "Kustomization", "name": "*"}]}),
        )
        .await;
    }
    git_repository(client, "1h").await;
    kustomization(client, json!({}), "1h").await;

    let slack = hooks
        .wait("/slack-hook", "the NewArtifact message", |v| {
            v["attachments"][0]["text"] == "stored artifact for commit 'first'"
        })
        .await;
    let repo = object(client, &git_repository_resource(), "platform-config").await;
    let revision = repo["status"]["artifact"]["revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(slack.header("authorization"), "Bearer xoxb-not-shown");
    assert_eq!(slack.header("content-type"), "application/json");
    assert_eq!(
        slack.json(),
        json!({"channel": "#ops", "username": "flux", "icon_url": "", "icon_emoji": "",
               "attachments": [{
                   "fallback": "gitrepository/platform-config.flux-system: stored artifact for commit 'first'",
                   "color": "good",
                   "author_name": "gitrepository/platform-config.flux-system",
                   "text": "stored artifact for commit 'first'",
                   "mrkdwn_in": ["text"],
                   "fields": [{"title": "revision", "value": revision, "short": false}]}]})
    );
    // The change set reaches Slack; the summary, a commit status update, does not (only
    // generic and Git providers take those).
    hooks
        .wait("/slack-hook", "the change set", |v| {
            v["attachments"][0]["text"] == "ConfigMap/default/settings created"
        })
        .await;
    let teams = hooks
        .wait("/teams", "the change set", |v| {
            v["attachments"][0]["content"]["body"][0]["items"][1]["text"]
                == "ConfigMap/default/settings created"
        })
        .await;
    assert_eq!(
        teams.json()["attachments"][0]["content"]["body"][0]["items"][0],
        json!({"type": "TextBlock", "text": "kustomization/apps.flux-system", "size": "large",
               "weight": "bolder", "wrap": true})
    );
    assert_eq!(
        teams.json()["attachments"][0]["content"]["body"][0]["items"][2],
        json!({"type": "FactSet", "facts": [{"title": "revision", "value": revision}]})
    );
    let discord = hooks
        .wait("/discord/slack", "the NewArtifact message", |v| {
            v["attachments"][0]["author_name"] == "gitrepository/platform-config.flux-system"
        })
        .await;
    assert_eq!(discord.json()["username"], "source-controller");
    assert_eq!(discord.json()["channel"], "");
    wait_for("the Kustomization's summary recorded", async || {
        events_of(client, "Kustomization", "apps")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("ReconciliationSucceeded"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for path in ["/slack-hook", "/teams", "/discord/slack"] {
        for r in hooks.at(path) {
            let text = String::from_utf8_lossy(&r.body).to_string();
            assert!(
                !text.contains("Reconciliation finished"),
                "{path} got a commit status update: {text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_providers_are_reported_on_their_alerts_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (hooks, base) = Webhooks::start().await;
    let hub = start_hub(dir.path()).await;
    let client = &hub.client;
    secret(
        client,
        "leaky",
        &[
            ("address", &format!("{base}/fail/hook-token-AAAA")),
            ("token", "hook-token-AAAA"),
        ],
    )
    .await;
    provider(
        client,
        "no-secret",
        json!({"type": "generic", "secretRef": {"name": "missing"}}),
    )
    .await;
    provider(
        client,
        "metadata",
        json!({"type": "generic", "address": "http://169.254.169.254/latest"}),
    )
    .await;
    provider(
        client,
        "rocket",
        json!({"type": "rocket", "address": format!("{base}/rocket")}),
    )
    .await;
    provider(
        client,
        "leaky",
        json!({"type": "generic", "secretRef": {"name": "leaky"}}),
    )
    .await;
    provider(
        client,
        "proxied",
        json!({"type": "generic", "address": format!("{base}/proxied"),
               "proxy": "http://proxy.internal:3128"}),
    )
    .await;
    for name in ["no-secret", "metadata", "rocket", "leaky", "proxied"] {
        alert(
            client,
            name,
            json!({"providerRef": {"name": name},
                   "eventSources": [{"kind": "GitRepository", "name": "*"}]}),
        )
        .await;
    }
    alert(
        client,
        "no-provider",
        json!({"providerRef": {"name": "absent"},
               "eventSources": [{"kind": "GitRepository", "name": "*"}]}),
    )
    .await;
    // An unsupported type is reported on the Provider as soon as it is seen.
    warning(client, ("Provider", "rocket"), "ValidationFailed", |m| {
        m.starts_with("provider rocket not supported by this hub")
    })
    .await;
    git_repository(client, "1h").await;

    let involved = "GitRepository/flux-system/platform-config";
    warning(client, ("Alert", "no-secret"), "NotificationDispatchFailed", |m| {
        m == format!("failed to dispatch notification for {involved}: failed to initialize notifier for provider 'no-secret': failed to get secret 'flux-system/missing': secrets \"missing\" not found")
    })
    .await;
    warning(
        client,
        ("Alert", "no-provider"),
        "NotificationDispatchFailed",
        |m| {
            m.starts_with(&format!(
                "failed to dispatch notification for {involved}: failed to read provider: "
            )) && m.contains("absent")
        },
    )
    .await;
    let refused = warning(client, ("Alert", "metadata"), "NotificationDispatchFailed", |m| {
        m.starts_with(&format!("failed to send notification for {involved}: postMessage failed: failed to execute request: POST http://169.254.169.254/latest giving up after 1 attempt(s)"))
    })
    .await;
    assert!(
        refused
            .message
            .as_deref()
            .unwrap()
            .contains("egress policy refuses"),
        "{refused:?}"
    );
    warning(client, ("Alert", "rocket"), "NotificationDispatchFailed", |m| {
        m.contains("failed to initialize notifier for provider 'rocket': failed to initialize notifier: provider rocket not supported by this hub")
    })
    .await;
    warning(
        client,
        ("Alert", "proxied"),
        "NotificationDispatchFailed",
        |m| m.contains("spec.proxy is not supported by this hub"),
    )
    .await;
    // A failing address is retried (four times) and reported, masked.
    let failed = warning(
        client,
        ("Alert", "leaky"),
        "NotificationDispatchFailed",
        |m| m.contains("giving up after 5 attempt(s)"),
    )
    .await;
    let message = failed.message.unwrap();
    assert_eq!(
        message,
        format!(
            "failed to send notification for {involved}: postMessage failed: failed to execute request: POST ***** giving up after 5 attempt(s)"
        )
    );
    assert_eq!(hooks.at("/fail/hook-token-AAAA").len(), 5);
    for path in ["/rocket", "/proxied"] {
        assert!(hooks.at(path).is_empty(), "{path}");
    }
    let api: Api<Event> = Api::namespaced(client.clone(), NS);
    for event in api.list(&ListParams::default()).await.unwrap().items {
        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains("hook-token-AAAA"), "{text}");
    }
}

/// A request to the receiver server.
async fn hook(
    router: &axum::Router,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> StatusCode {
    let mut request = Request::builder().method(Method::POST).uri(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    router
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap()
        .status()
}

async fn receiver(client: &Client, name: &str, spec: Value) {
    create(
        client,
        &receiver_resource(),
        json!({"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
               "metadata": {"name": name, "namespace": NS}, "spec": spec}),
    )
    .await;
}

/// The Receiver's status and Ready condition once Ready has `status` and `reason`.
async fn receiver_ready(
    client: &Client,
    name: &str,
    status: &str,
    reason: &str,
) -> (Value, String) {
    support::condition_when(
        client,
        &receiver_resource(),
        (NS, name),
        "Ready",
        status,
        reason,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receivers_annotate_their_targets_and_the_hub_reconciles_them_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = start_hub(dir.path()).await;
    let client = &hub.client;
    let router = flotilla_hub::flux::notify::receiver::router(client.clone(), true);
    secret(client, "webhook-token", &[("token", "s3cr3t")]).await;
    // Intervals of an hour: only a request makes either run again.
    git_repository(client, "1h").await;
    kustomization(client, json!({"labels": {"team": "payments"}}), "1h").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let color = async || {
        config_maps
            .get_opt("settings")
            .await
            .unwrap()
            .and_then(|c| c.data)
            .and_then(|d| d.get("color").cloned())
    };
    wait_for("the first commit applied", async || {
        (color().await.as_deref() == Some("blue")).then_some(())
    })
    .await;

    receiver(
        client,
        "github",
        json!({"type": "github", "events": ["ping", "push"],
               "secretRef": {"name": "webhook-token"},
               "resources": [
                   {"kind": "GitRepository", "name": "platform-config"},
                   {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "name": "*", "matchLabels": {"team": "payments"}}]}),
    )
    .await;
    let (status, message) = receiver_ready(client, "github", "True", "Succeeded").await;
    let path = format!(
        "/hook/{}",
        hex(&Sha256::digest(
            format!("s3cr3t{}{NS}", "github").as_bytes()
        ))
    );
    assert_eq!(status["webhookPath"], path.as_str());
    assert_eq!(message, format!("Receiver initialized for path: {path}"));
    assert_eq!(status["observedGeneration"], 1);
    let receiver_object = object(client, &receiver_resource(), "github").await;
    assert_eq!(
        receiver_object["metadata"]["finalizers"],
        json!(["finalizers.fluxcd.io"])
    );
    wait_for("the Receiver's Succeeded event", async || {
        events_of(client, "Receiver", "github")
            .await
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("Succeeded")
                    && e.message.as_deref() == Some("Reconciliation finished, next run in 10m0s")
            })
    })
    .await;

    // A new commit nobody announced.
    write(
        &hub.repo,
        "apps/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  color: green\n",
    );
    git(&hub.repo, &["commit", "-q", "-am", "green"]);

    // What GitHub sends: refused unless signed with the token and of an event taken.
    let body: &'static [u8] = br#"{"zen":"Design for failure."}"#;
    let signed = format!("sha256={}", hmac_sha256(body, b"s3cr3t"));
    let wrong = format!("sha256={}", hmac_sha256(body, b"guess"));
    let json_type = ("Content-Type", "application/json");
    assert_eq!(
        hook(&router, "/hook/0123", &[json_type], body).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        hook(
            &router,
            &path,
            &[
                json_type,
                ("X-Hub-Signature-256", &wrong),
                ("X-GitHub-Event", "ping")
            ],
            body
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        hook(
            &router,
            &path,
            &[
                json_type,
                ("X-Hub-Signature-256", &signed),
                ("X-GitHub-Event", "issues")
            ],
            body
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        object(client, &git_repository_resource(), "platform-config").await["metadata"]
            ["annotations"]
            .get("reconcile.fluxcd.io/requestedAt"),
        None,
        "a refused request annotates nothing"
    );
    assert_eq!(
        hook(
            &router,
            &path,
            &[
                json_type,
                ("X-Hub-Signature-256", &signed),
                ("X-GitHub-Event", "ping")
            ],
            body
        )
        .await,
        StatusCode::OK
    );
    // Both targets annotated (Go's time.String), the GitRepository checks its remote at
    // once, and the Kustomization applies the new commit.
    let repo = object(client, &git_repository_resource(), "platform-config").await;
    let requested = repo["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(requested.contains(" +0000 UTC m=+"), "{requested}");
    let ks = object(client, &kustomization_resource(), "apps").await;
    assert!(ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].is_string());
    wait_for("the new commit applied", async || {
        (color().await.as_deref() == Some("green")).then_some(())
    })
    .await;
    let repo = object(client, &git_repository_resource(), "platform-config").await;
    assert_eq!(repo["status"]["lastHandledReconcileAt"], requested.as_str());
    wait_for("the Kustomization's request handled", async || {
        let ks = object(client, &kustomization_resource(), "apps").await;
        (ks["status"]["lastHandledReconcileAt"]
            == ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"])
            .then_some(())
    })
    .await;

    // GitLab compares its token; generic-hmac takes sha512 too.
    receiver(
        client,
        "gitlab",
        json!({"type": "gitlab", "events": ["Push Hook"], "secretRef": {"name": "webhook-token"},
               "resources": [{"kind": "GitRepository", "name": "platform-config"}]}),
    )
    .await;
    receiver(
        client,
        "hmac",
        json!({"type": "generic-hmac", "secretRef": {"name": "webhook-token"},
               "resources": [{"kind": "GitRepository", "name": "platform-config"}]}),
    )
    .await;
    let gitlab = receiver_ready(client, "gitlab", "True", "Succeeded")
        .await
        .0;
    let gitlab = gitlab["webhookPath"].as_str().unwrap().to_string();
    assert_eq!(
        hook(
            &router,
            &gitlab,
            &[
                ("X-Gitlab-Token", "s3cr3t"),
                ("X-Gitlab-Event", "Push Hook")
            ],
            b"{}"
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        hook(
            &router,
            &gitlab,
            &[("X-Gitlab-Token", "guess"), ("X-Gitlab-Event", "Push Hook")],
            b"{}"
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    let hmac_path = receiver_ready(client, "hmac", "True", "Succeeded").await.0;
    let hmac_path = hmac_path["webhookPath"].as_str().unwrap().to_string();
    let mut mac = Hmac::<Sha512>::new_from_slice(b"s3cr3t").unwrap();
    mac.update(b"{}");
    let sha512 = format!("sha512={}", hex(&mac.finalize().into_bytes()));
    assert_eq!(
        hook(&router, &hmac_path, &[("X-Signature", &sha512)], b"{}").await,
        StatusCode::OK
    );

    // A suspended Receiver answers 503.
    patch(
        client,
        &receiver_resource(),
        "gitlab",
        json!({"spec": {"suspend": true}}),
    )
    .await;
    wait_for("the suspended Receiver refusing", async || {
        let code = hook(
            &router,
            &gitlab,
            &[
                ("X-Gitlab-Token", "s3cr3t"),
                ("X-Gitlab-Event", "Push Hook"),
            ],
            b"{}",
        )
        .await;
        (code == StatusCode::SERVICE_UNAVAILABLE).then_some(())
    })
    .await;

    // `*` without matchLabels cannot be annotated: 500.
    receiver(
        client,
        "wildcard",
        json!({"type": "generic", "secretRef": {"name": "webhook-token"},
               "resources": [{"kind": "GitRepository", "name": "*"}]}),
    )
    .await;
    let wildcard = receiver_ready(client, "wildcard", "True", "Succeeded")
        .await
        .0;
    let wildcard = wildcard["webhookPath"].as_str().unwrap().to_string();
    assert_eq!(
        hook(&router, &wildcard, &[], b"{}").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    // What the hub cannot serve is refused by name; a missing token is TokenNotFound.
    receiver(
        client,
        "harbor",
        json!({"type": "harbor", "secretRef": {"name": "webhook-token"},
               "resources": [{"kind": "GitRepository", "name": "platform-config"}]}),
    )
    .await;
    let (status, message) = receiver_ready(client, "harbor", "False", "ValidationFailed").await;
    assert_eq!(
        message,
        "Reconciliation failed terminally due to configuration error: receiver type 'harbor' is not supported by this hub (supported: generic, generic-hmac, github, gitlab, bitbucket)"
    );
    assert!(
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Stalled" && c["reason"] == "ValidationFailed")
    );
    receiver(
        client,
        "tokenless",
        json!({"type": "generic", "secretRef": {"name": "absent"},
               "resources": [{"kind": "GitRepository", "name": "platform-config"}]}),
    )
    .await;
    let (status, message) = receiver_ready(client, "tokenless", "False", "TokenNotFound").await;
    assert_eq!(
        message,
        "unable to read token from secret 'flux-system/absent' error: secrets \"absent\" not found"
    );
    assert!(status.get("webhookPath").is_none());
}

/// A stand-in for the forges' commit status APIs (GitHub Enterprise under `/api/v3/`,
/// GitLab under `/api/v4/`, Gitea under `/api/v1/`): every request recorded; a status
/// set is listed back, newest first, in the forge's own JSON.
#[derive(Clone, Default)]
struct Forges {
    requests: Arc<Mutex<Vec<ForgeRequest>>>,
    statuses: Arc<Mutex<Vec<(String, Value)>>>,
}

/// Method, path and query, headers, JSON body.
type ForgeRequest = (Method, String, HeaderMap, Value);

impl Forges {
    async fn start() -> (Forges, String) {
        let forges = Forges::default();
        let router = axum::Router::new()
            .fallback(forge)
            .with_state(forges.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (forges, format!("http://{address}"))
    }

    fn requests(&self, method: &Method, prefix: &str) -> Vec<(String, HeaderMap, Value)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, _, _)| m == method && p.starts_with(prefix))
            .map(|(_, p, h, b)| (p.clone(), h.clone(), b.clone()))
            .collect()
    }
}

async fn forge(
    State(forges): State<Forges>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, axum::Json<Value>) {
    let path = uri.to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    forges
        .requests
        .lock()
        .unwrap()
        .push((method.clone(), path.clone(), headers, body.clone()));
    let api = path.get(..8).unwrap_or("").to_string();
    if path == "/api/v1/version" {
        return (StatusCode::OK, axum::Json(json!({"version": "1.21.0"})));
    }
    if method == Method::GET {
        let listed: Vec<Value> = forges
            .statuses
            .lock()
            .unwrap()
            .iter()
            .rev()
            .filter(|(a, _)| *a == api)
            .map(|(_, s)| s.clone())
            .collect();
        return (StatusCode::OK, axum::Json(json!(listed)));
    }
    let sha = path.rsplit('/').next().unwrap_or("").to_string();
    let stored = if api == "/api/v4/" {
        json!({"sha": sha, "status": body["state"], "name": body["name"],
               "description": body["description"]})
    } else {
        body.clone()
    };
    forges.statuses.lock().unwrap().push((api, stored.clone()));
    (StatusCode::CREATED, axum::Json(stored))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn git_providers_set_commit_statuses_from_the_revision() {
    let dir = tempfile::tempdir().unwrap();
    let (forges, base) = Forges::start().await;
    let hub = start_hub(dir.path()).await;
    let client = &hub.client;
    secret(client, "forge-token", &[("token", "forge-secret-token")]).await;
    for (name, address) in [
        ("github", format!("{base}/platform/platform-config")),
        ("gitlab", format!("{base}/group/sub/platform-config.git")),
        ("gitea", format!("{base}/platform/platform-config")),
    ] {
        provider(
            client,
            name,
            json!({"type": name, "address": address, "secretRef": {"name": "forge-token"}}),
        )
        .await;
        alert(
            client,
            name,
            json!({"providerRef": {"name": name},
                   "eventSources": [{"kind": "Kustomization", "name": "*"},
                                    {"kind": "GitRepository", "name": "*"}]}),
        )
        .await;
    }
    git_repository(client, "1h").await;
    kustomization(client, json!({}), "1h").await;

    let posted = |prefix: &'static str| {
        let forges = forges.clone();
        async move {
            wait_for(&format!("a status at {prefix}"), async || {
                forges.requests(&Method::POST, prefix).into_iter().next()
            })
            .await
        }
    };
    let (github_path, github_headers, github_body) = posted("/api/v3/").await;
    let commit = github_path.rsplit('/').next().unwrap().to_string();
    let repo = object(client, &git_repository_resource(), "platform-config").await;
    assert_eq!(
        repo["status"]["artifact"]["revision"],
        format!("main@sha1:{commit}").as_str()
    );
    let uid = object(client, &provider_resource(), "github").await["metadata"]["uid"]
        .as_str()
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .to_string();
    // Only the summary (a commit status update) sets a status: neither the change set
    // nor the new artifact carries a commit.
    assert_eq!(
        github_path,
        format!("/api/v3/repos/platform/platform-config/statuses/{commit}")
    );
    assert_eq!(
        github_body,
        json!({"state": "success", "description": "reconciliation succeeded",
               "context": format!("kustomization/apps/{uid}")})
    );
    assert_eq!(github_headers["authorization"], "Bearer forge-secret-token");
    assert_eq!(
        forges.requests(&Method::GET, "/api/v3/")[0].0,
        format!("/api/v3/repos/platform/platform-config/commits/{commit}/statuses?per_page=50")
    );

    let (gitlab_path, gitlab_headers, gitlab_body) = posted("/api/v4/").await;
    let gitlab_uid = object(client, &provider_resource(), "gitlab").await["metadata"]["uid"]
        .as_str()
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        gitlab_path,
        format!("/api/v4/projects/group%2Fsub%2Fplatform-config/statuses/{commit}")
    );
    assert_eq!(
        gitlab_body,
        json!({"state": "success", "name": format!("kustomization/apps/{gitlab_uid}"),
               "description": "reconciliation succeeded"})
    );
    assert_eq!(gitlab_headers["private-token"], "forge-secret-token");

    let (gitea_path, gitea_headers, gitea_body) = posted("/api/v1/repos/").await;
    assert_eq!(
        gitea_path,
        format!("/api/v1/repos/platform/platform-config/statuses/{commit}")
    );
    assert_eq!(gitea_body["state"], "success");
    assert_eq!(gitea_body["target_url"], "");
    assert_eq!(gitea_headers["authorization"], "token forge-secret-token");
    assert!(!forges.requests(&Method::GET, "/api/v1/version").is_empty());

    // Asked again: the same status is there already and is not set twice.
    patch(
        client,
        &kustomization_resource(),
        "apps",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "again"}}}),
    )
    .await;
    wait_for("the request handled", async || {
        let ks = object(client, &kustomization_resource(), "apps").await;
        (ks["status"]["lastHandledReconcileAt"] == "again").then_some(())
    })
    .await;
    // A failure: a failed status, described by its reason.
    patch(
        client,
        &kustomization_resource(),
        "apps",
        json!({"spec": {"path": "./missing"}}),
    )
    .await;
    let failed = wait_for("a failure at GitHub", async || {
        forges
            .requests(&Method::POST, "/api/v3/")
            .into_iter()
            .find(|(_, _, b)| b["state"] == "failure")
    })
    .await;
    assert_eq!(failed.2["description"], "artifact failed");
    let gitlab_failed = wait_for("a failure at GitLab", async || {
        forges
            .requests(&Method::POST, "/api/v4/")
            .into_iter()
            .find(|(_, _, b)| b["state"] == "failed")
    })
    .await;
    assert_eq!(gitlab_failed.2["description"], "artifact failed");
    for prefix in ["/api/v3/", "/api/v4/", "/api/v1/repos/"] {
        let successes = forges
            .requests(&Method::POST, prefix)
            .into_iter()
            .filter(|(_, _, b)| b["state"] == "success")
            .count();
        assert_eq!(successes, 1, "{prefix}: one success status");
    }
}
