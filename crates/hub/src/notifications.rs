//! Argo CD's notifications controller in the hub: `argocd-notifications-cm` and
//! `argocd-notifications-secret` (in the namespace of `argocd-cm`) kept current by a watch,
//! every Application's subscribed triggers evaluated when it changes (the Application
//! controller's watch tells; status writes the hub makes echo back through it), what
//! fires sent — webhooks, Slack and GitHub commit statuses, through the hub's egress
//! policy — and the notified
//! state written back to the Application's `notified.notifications.argoproj.io`
//! annotation, as notifications-engine keeps it. The pure parts are
//! [`flotilla_fleet::notifications`].
//!
//! Off the hot path: nothing is looked at until the ConfigMap defines a trigger; an
//! Application is evaluated only when its status, labels, annotations (but ours), project
//! or deletion changed; the evaluation reads the store the Application controller keeps
//! and writes only when the state changes.
//!
//! What cannot work is said where it is seen: the configuration's problems as warnings in
//! the log and as a Warning Event on the ConfigMap; a delivery that fails (a service that
//! is not configured or not supported, a template that does not render, a refused or
//! failing request) in the log and as a Warning Event on the Application. No error
//! carries a value of the Secret.

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use flotilla_fleet::notifications::{
    self as engine, CONFIG_MAP, Config, Delivery, Destination, NOTIFIED_ANNOTATION, Notification,
    SECRET, Service,
};
use flotilla_source::outbound;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::application::AppReconciler;
use crate::controller::{ApplicationHook, application_resource, hash_of};
use crate::flux::events::{FluxEvent, Recorder};
use crate::known::Known;
use crate::lock;
use crate::queue::WorkQueue;

/// How many Applications are evaluated (and notified) at once.
const WORKERS: usize = 4;
/// When an Application whose delivery failed is looked at again (upstream's informer
/// resyncs every 60 s).
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes of an answer read.
const ANSWER_LIMIT: usize = 1 << 20;
/// How much of a failing answer's body an error quotes.
const QUOTED: usize = 512;
/// The component Events are written as.
const COMPONENT: &str = "argocd-notifications-controller";

/// What the notifier wrote to an Application's annotation and what was there before, until
/// the watch brings the write back (an evaluation in between must not send again).
#[derive(Debug, Clone)]
struct Written {
    before: Option<String>,
    after: Option<String>,
}

/// The ConfigMap's and the Secret's data, as last read.
type Raw = (BTreeMap<String, String>, BTreeMap<String, Vec<u8>>);

/// The notifications controller.
pub struct Notifier {
    hub: kube::Client,
    namespace: String,
    config: RwLock<Arc<Config>>,
    /// The configuration defines triggers: only then are Applications looked at.
    active: AtomicBool,
    queue: WorkQueue,
    /// The Application controller's store of Applications.
    store: Arc<Known>,
    /// For AppProjects (its watch-kept cache).
    reconciler: Arc<AppReconciler>,
    /// Each Application's fingerprint of what evaluation reads.
    prints: Mutex<HashMap<String, u64>>,
    written: Mutex<HashMap<String, Written>>,
    events: Recorder,
    /// Slack threads: (service, channel, grouping key) → the first message's timestamp.
    threads: Mutex<HashMap<(String, String, String), String>>,
}

/// Why a delivery failed, and whether it is worth trying again (notifications-engine's
/// `HandleSendError`: not when GitHub has too many statuses for the commit).
struct Failed {
    message: String,
    retry: bool,
}

impl From<String> for Failed {
    fn from(message: String) -> Failed {
        Failed {
            message,
            retry: true,
        }
    }
}

impl Notifier {
    /// A notifier reading `argocd-notifications-cm` and its Secret in `namespace`, the
    /// Applications of `store` and the AppProjects of `reconciler`'s cache.
    pub fn new(
        hub: kube::Client,
        namespace: String,
        store: Arc<Known>,
        reconciler: Arc<AppReconciler>,
    ) -> Arc<Notifier> {
        Arc::new(Notifier {
            events: Recorder::new(hub.clone(), COMPONENT),
            hub,
            namespace,
            config: RwLock::new(Arc::new(Config::default())),
            active: AtomicBool::new(false),
            queue: WorkQueue::new(),
            store,
            reconciler,
            prints: Mutex::default(),
            written: Mutex::default(),
            threads: Mutex::default(),
        })
    }

    /// Told of every Application change by the Application controller's watch: queues the
    /// Application when what its evaluation reads changed.
    pub fn hook(self: &Arc<Self>) -> ApplicationHook {
        let notifier = Arc::downgrade(self);
        Arc::new(move |app: &Value, present: bool| {
            let Some(notifier) = notifier.upgrade() else {
                return;
            };
            let key = crate::controller::object_key(app);
            if !present {
                lock(&notifier.prints).remove(&key);
                lock(&notifier.written).remove(&key);
                notifier.queue.forget(&key);
                return;
            }
            if !notifier.active.load(Ordering::Acquire) {
                return;
            }
            let print = fingerprint(app);
            if lock(&notifier.prints).insert(key.clone(), print) != Some(print) {
                notifier.queue.add(key);
            }
        })
    }

    fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Watches the configuration and runs the workers, until dropped.
    pub async fn run(self: Arc<Self>) {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..WORKERS {
            tasks.spawn(self.clone().worker());
        }
        self.watch_config().await;
    }

    /// Keeps the configuration equal to the ConfigMap and Secret.
    async fn watch_config(&self) {
        enum Seen {
            Map(Option<ConfigMap>),
            Secret(Option<Secret>),
        }
        let maps: Api<ConfigMap> = Api::namespaced(self.hub.clone(), &self.namespace);
        let secrets: Api<Secret> = Api::namespaced(self.hub.clone(), &self.namespace);
        let map_events = crate::controller::watch_named(maps, CONFIG_MAP).map(Seen::Map);
        let secret_events = crate::controller::watch_named(secrets, SECRET).map(Seen::Secret);
        let mut events = std::pin::pin!(futures::stream::select(map_events, secret_events));
        let mut map: Option<ConfigMap> = None;
        let mut secret: Option<Secret> = None;
        let mut read: Option<Raw> = None;
        while let Some(seen) = events.next().await {
            match seen {
                Seen::Map(m) => map = m,
                Seen::Secret(s) => secret = s,
            }
            let data = map
                .as_ref()
                .and_then(|m| m.data.clone())
                .unwrap_or_default();
            let secret_data: BTreeMap<String, Vec<u8>> = secret
                .as_ref()
                .and_then(|s| s.data.clone())
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            if read.as_ref() == Some(&(data.clone(), secret_data.clone())) {
                continue;
            }
            let config = Config::parse(&data, &secret_data);
            read = Some((data, secret_data));
            self.apply(config, map.as_ref()).await;
        }
    }

    /// Puts `config` in force: its problems reported, every Application looked at again.
    async fn apply(&self, config: Config, map: Option<&ConfigMap>) {
        // A value read from the Secret may be quoted by a parse error.
        let secrets = scrubbed(&config, None);
        let problems: Vec<String> = config
            .problems
            .iter()
            .map(|p| outbound::scrub(p, &secrets))
            .collect();
        for problem in &problems {
            tracing::warn!(%problem, "{CONFIG_MAP}");
        }
        if let Some(map) = map
            && !problems.is_empty()
        {
            let mut object = serde_json::to_value(map).unwrap_or_default();
            object["apiVersion"] = json!("v1");
            object["kind"] = json!("ConfigMap");
            let event = FluxEvent {
                warning: true,
                reason: "InvalidConfiguration".into(),
                message: problems.join("\n"),
                metadata: BTreeMap::new(),
            };
            self.events
                .record(&object, &event, &crate::controller::now_rfc3339())
                .await;
        }
        let active = config.active();
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        self.active.store(active, Ordering::Release);
        lock(&self.prints).clear();
        if active {
            for key in self.store.keys() {
                self.queue.add(key);
            }
        }
    }

    async fn worker(self: Arc<Self>) {
        while let Some(lease) = self.queue.next().await {
            let key = lease.key().to_string();
            if let Err(panic) = crate::contained(self.process(&key)).await {
                tracing::error!(app = %key, error = %panic, "evaluating notifications panicked");
            }
        }
    }

    /// The annotation an evaluation must start from: ours while the watch has not brought
    /// our last write back.
    fn effective_state(&self, key: &str, app: &Value) -> Option<Option<String>> {
        let current = notified(app);
        let mut written = lock(&self.written);
        let w = written.get(key)?.clone();
        if current == w.after {
            written.remove(key);
            return None;
        }
        if current == w.before {
            return Some(w.after);
        }
        // Someone else changed it since: theirs.
        written.remove(key);
        None
    }

    async fn process(&self, key: &str) {
        let Some(stored) = self.store.get(key) else {
            return;
        };
        let config = self.config();
        if !config.active() {
            return;
        }
        if engine::sync_status_outdated(&stored) {
            tracing::debug!(app = %key, "sync status out of date: notifications wait");
            return;
        }
        let app: std::borrow::Cow<'_, Value> = match self.effective_state(key, &stored) {
            None => std::borrow::Cow::Borrowed(stored.as_ref()),
            Some(state) => {
                let mut copy = stored.as_ref().clone();
                set_notified(&mut copy, state.as_deref());
                std::borrow::Cow::Owned(copy)
            }
        };
        let project_name = match app.at("/spec/project").and_then(Value::as_str) {
            Some(p) if !p.is_empty() => p,
            _ => "default",
        };
        let project = self.reconciler.cached_project_value(project_name);
        let now = chrono::Utc::now().fixed_offset();
        let mut evaluation = config.evaluate(&app, project.as_ref(), now);
        for error in &evaluation.errors {
            let error = outbound::scrub(error, &scrubbed(&config, None));
            // What does not compile was reported with the configuration.
            if error.contains("does not compile") {
                tracing::debug!(app = %key, %error, "notifications");
            } else {
                tracing::warn!(app = %key, %error, "notifications");
            }
        }
        for (trigger, condition, to) in &evaluation.already {
            tracing::debug!(app = %key, "Notification about condition '{trigger}.{condition}' already sent to '{to}'");
        }
        let mut retry = false;
        for delivery in evaluation.deliveries.clone() {
            let Delivery {
                trigger,
                result,
                to,
            } = &delivery;
            tracing::info!(app = %key, "Sending notification about condition '{trigger}.{}' to '{to}'", result.key);
            if let Err(failed) = self
                .deliver(&config, &app, project.as_ref(), &delivery)
                .await
            {
                let message = outbound::scrub(
                    &format!(
                        "failed to deliver notification {trigger} to {to}: {}",
                        failed.message
                    ),
                    &scrubbed(&config, Some(&to.service)),
                );
                tracing::warn!(app = %key, error = %message, "notifications");
                let event = FluxEvent {
                    warning: true,
                    reason: "NotificationFailed".into(),
                    message,
                    metadata: BTreeMap::new(),
                };
                self.events
                    .record(&stored, &event, &crate::controller::now_rfc3339())
                    .await;
                if failed.retry {
                    evaluation.failed(&delivery);
                    retry = true;
                }
            }
        }
        if evaluation.subscribed {
            let before = notified(&app);
            let after = evaluation.state.persist();
            if before != after {
                self.write_state(key, notified(&stored), after).await;
            }
        }
        if retry {
            self.queue.add_after(key.to_string(), RETRY_AFTER);
        }
    }

    /// Patches the Application's notified annotation (`None` removes it).
    async fn write_state(&self, key: &str, before: Option<String>, after: Option<String>) {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), namespace, &application_resource());
        let patch = json!({"metadata": {"annotations": {NOTIFIED_ANNOTATION: after}}});
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
        {
            Ok(_) => {
                lock(&self.written).insert(key.to_string(), Written { before, after });
            }
            Err(e) => tracing::warn!(app = %key, error = %e, "writing the notified state"),
        }
    }

    /// Renders and sends one delivery.
    async fn deliver(
        &self,
        config: &Config,
        app: &Value,
        project: Option<&Value>,
        delivery: &Delivery,
    ) -> Result<(), Failed> {
        let to = &delivery.to;
        let entry = config
            .services
            .get(&to.service)
            .ok_or_else(|| format!("notification service '{}' is not supported", to.service))?;
        let service = entry.service.as_ref().map_err(Clone::clone)?;
        let notification = config.render(&delivery.result.templates, app, project, to)?;
        let secrets = scrubbed(config, Some(&to.service));
        match service {
            Service::Webhook(options) => {
                let request = engine::services::webhook_request(options, &notification, to);
                Ok(send_webhook(&request, options, &secrets).await?)
            }
            Service::Slack(options) => Ok(self
                .send_slack(options, &notification, to, &secrets)
                .await?),
            Service::GitHub(options) => self.send_github(options, &notification, &secrets).await,
        }
    }

    /// Sets a commit status as a GitHub App installation (ghinstallation and go-github):
    /// a JWT signed with the App's key buys an installation token (kept until it
    /// expires), which posts the status.
    async fn send_github(
        &self,
        options: &engine::services::GitHubOptions,
        notification: &Notification,
        secrets: &[String],
    ) -> Result<(), Failed> {
        let (url, body) = engine::services::github_status_request(options, notification)?;
        let token = self.github_token(options, secrets).await?;
        let mut secrets = secrets.to_vec();
        secrets.push(token.clone());
        let headers = [
            ("Accept".to_string(), GITHUB_ACCEPT.to_string()),
            ("Authorization".to_string(), format!("token {token}")),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        let answer = outbound::send(outbound::Outbound {
            method: "POST",
            url: &url,
            headers: &headers,
            body: body.as_bytes(),
            timeout: Some(REQUEST_TIMEOUT),
            limit: ANSWER_LIMIT,
            secrets: &secrets,
        })
        .await
        .map_err(|e| e.to_string())?;
        match answer.status {
            200..=299 => Ok(()),
            422 => {
                let github = notification.github.as_ref();
                Err(Failed {
                    message: format!(
                        "too many commit statuses for sha {} and context {}",
                        github.map_or("", |g| g.revision.as_str()),
                        github
                            .and_then(|g| g.status.as_ref())
                            .map_or("", |s| s.label.as_str())
                    ),
                    retry: false,
                })
            }
            status => {
                let quoted: String = String::from_utf8_lossy(&answer.body)
                    .chars()
                    .take(QUOTED)
                    .collect();
                Err(outbound::scrub(&format!("POST {url}: {status} {quoted}"), &secrets).into())
            }
        }
    }

    /// The installation's token (kept by `flotilla_source::github_app` until near its
    /// expiry, as ghinstallation keeps it).
    async fn github_token(
        &self,
        options: &engine::services::GitHubOptions,
        secrets: &[String],
    ) -> Result<String, String> {
        let app = flotilla_source::github_app::GitHubApp {
            id: options.app_id,
            installation_id: options.installation_id,
            private_key: options.private_key.clone(),
            enterprise_base_url: options.enterprise_base_url.clone(),
        };
        flotilla_source::github_app::installation_token(&app, "", "", REQUEST_TIMEOUT)
            .await
            .map_err(|e| outbound::scrub(&e, secrets))
    }

    async fn send_slack(
        &self,
        options: &engine::services::SlackOptions,
        notification: &Notification,
        to: &Destination,
        secrets: &[String],
    ) -> Result<(), String> {
        let grouping = notification
            .slack
            .as_ref()
            .map(|s| s.grouping_key.clone())
            .unwrap_or_default();
        let thread_key = (to.service.clone(), to.recipient.clone(), grouping.clone());
        let thread = lock(&self.threads).get(&thread_key).cloned();
        let request =
            engine::services::slack_request(options, notification, to, thread.as_deref())?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let answer = outbound::send(outbound::Outbound {
                method: &request.method,
                url: &request.url,
                headers: &request.headers,
                body: request.body.as_bytes(),
                timeout: Some(REQUEST_TIMEOUT),
                limit: ANSWER_LIMIT,
                secrets,
            })
            .await
            .map_err(|e| e.to_string())?;
            // Slack's rate limit: wait as it says (slack-go waits and asks again).
            if answer.status == 429 && attempts < 3 {
                let wait = answer
                    .retry_after_seconds()
                    .unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                continue;
            }
            let posted = engine::services::slack_answer(answer.status, &answer.body)?;
            if !grouping.is_empty() && thread.is_none() {
                lock(&self.threads).insert(thread_key, posted.ts);
            }
            return Ok(());
        }
    }
}

/// What go-github and ghinstallation ask GitHub's API for.
const GITHUB_ACCEPT: &str = "application/vnd.github.v3+json";

/// The values no message about `service` (about anything: every service) may show: the
/// Secret's (but very short ones, which would garble any text) and the services' own
/// credentials.
fn scrubbed(config: &Config, service: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = config
        .secrets
        .values()
        .filter(|v| v.len() >= 4)
        .cloned()
        .collect();
    let services: Vec<&engine::ServiceEntry> = match service {
        Some(name) => config.services.get(name).into_iter().collect(),
        None => config.services.values().collect(),
    };
    for entry in services {
        out.extend(entry.secrets.iter().cloned());
    }
    // Longest first, so a secret containing another is replaced whole.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// Sends a webhook's request, retrying as go-retryablehttp does (connection errors, 429
/// and 5xx but 501; waits doubling from `retryWaitMin` to `retryWaitMax`, a 429's or
/// 503's `Retry-After` honoured up to the same maximum). A destination the egress
/// policy refuses is not retried.
async fn send_webhook(
    request: &engine::Outbound,
    options: &engine::services::WebhookOptions,
    secrets: &[String],
) -> Result<(), String> {
    let shown = format!(
        "{} {}",
        request.method,
        flotilla_source::redact_str(&request.url)
    );
    let attempts = options.retry_max + 1;
    let mut last = String::new();
    for attempt in 0..attempts {
        if attempt > 0 {
            let wait = outbound::backoff(
                options.retry_wait_min,
                options.retry_wait_max,
                attempt - 1,
                None,
            );
            tokio::time::sleep(wait).await;
        }
        let answer = outbound::send(outbound::Outbound {
            method: &request.method,
            url: &request.url,
            headers: &request.headers,
            body: request.body.as_bytes(),
            timeout: Some(REQUEST_TIMEOUT),
            limit: ANSWER_LIMIT,
            secrets,
        })
        .await;
        match answer {
            Ok(answer) if (200..300).contains(&answer.status) => return Ok(()),
            Ok(answer) => {
                let body = String::from_utf8_lossy(&answer.body);
                let quoted: String = body.chars().take(QUOTED).collect();
                last = format!(
                    "request to {shown} has failed with error code {} : {quoted}",
                    answer.status
                );
                let retryable =
                    answer.status == 429 || (answer.status >= 500 && answer.status != 501);
                if !retryable {
                    return Err(last);
                }
                if let Some(wait) = answer
                    .retry_after_seconds()
                    .filter(|_| matches!(answer.status, 429 | 503))
                    && attempt + 1 < attempts
                {
                    tokio::time::sleep(wait.min(options.retry_wait_max)).await;
                }
            }
            Err(outbound::SendError::Failed(message)) => last = message,
            Err(refused_or_invalid) => return Err(refused_or_invalid.to_string()),
        }
    }
    Err(format!("{last} (giving up after {attempts} attempt(s))"))
}

/// The notified annotation of an object.
fn notified(app: &Value) -> Option<String> {
    app.at("/metadata/annotations")
        .and_then(|a| a.get(NOTIFIED_ANNOTATION))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn set_notified(app: &mut Value, state: Option<&str>) {
    let Some(metadata) = app.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
    let Some(annotations) = annotations.as_object_mut() else {
        return;
    };
    match state {
        Some(v) => annotations.insert(NOTIFIED_ANNOTATION.into(), json!(v)),
        None => annotations.remove(NOTIFIED_ANNOTATION),
    };
}

/// What an evaluation reads of an Application, but the state it writes itself: status,
/// labels, the other annotations, the project, the deletion.
fn fingerprint(app: &Value) -> u64 {
    let annotations = app.at("/metadata/annotations").map(|a| {
        let mut a = a.clone();
        if let Some(map) = a.as_object_mut() {
            map.remove(NOTIFIED_ANNOTATION);
        }
        a
    });
    hash_of(&[
        app.get("status"),
        app.at("/metadata/labels"),
        annotations.as_ref(),
        app.at("/spec/project"),
        app.at("/metadata/deletionTimestamp"),
        app.at("/metadata/uid"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_state_write_is_no_change_worth_an_evaluation() {
        let app = json!({"metadata": {"name": "web", "annotations": {"a": "b"}},
                         "spec": {"project": "default"}, "status": {"sync": {"status": "Synced"}}});
        let mut written = app.clone();
        set_notified(&mut written, Some("{\"k\":1}"));
        assert_eq!(fingerprint(&app), fingerprint(&written));
        assert_eq!(notified(&written).as_deref(), Some("{\"k\":1}"));
        let mut changed = written.clone();
        changed["status"]["sync"]["status"] = json!("OutOfSync");
        assert_ne!(fingerprint(&written), fingerprint(&changed));
        let mut subscribed = app.clone();
        subscribed["metadata"]["annotations"]["notifications.argoproj.io/subscribe.on-x.y"] =
            json!("");
        assert_ne!(fingerprint(&app), fingerprint(&subscribed));
    }
}
