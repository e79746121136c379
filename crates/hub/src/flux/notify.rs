//! Flux's notification-controller on the hub: every event the hub records for a Flux
//! object is also handed, in process, to an event server that does what
//! notification-controller's does with the events fluxcd/pkg's recorder posts to it —
//! metadata cleanup, duplicate suppression, Alert matching, metadata merging — and
//! dispatches it to the Alerts' Providers ([`provider`]). Receivers ([`receiver`]) are
//! reconciled in the Flux loop and served on the hub's webhook address.
//!
//! Alerts are read from a watch, as upstream reads them from its cache; Providers and
//! their Secrets are read live when an Alert takes an event. Warnings about an Alert
//! (`InvalidConfig`, `NotificationDispatchFailed`, `MetadataAppendFailed`) are Kubernetes
//! Events of `notification-controller`, which are never dispatched themselves.

pub mod alert;
pub mod commit_status;
pub mod event;
pub mod provider;
pub mod receiver;

use flotilla_core::pointer::Pointer as _;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use serde_json::Value;
use tokio::sync::mpsc;

use self::alert::{Alert, SourceMatch};
use self::event::{DuplicateFilter, Event, SEVERITY_ERROR};
use self::provider::{Provider, SecretData};
use crate::controller::{Change, object_key};
use crate::flux::events::{self, FluxEvent};
use crate::flux::{api_message, finalizers_of};
use crate::lock;

/// The notification API group.
pub const NOTIFICATION_GROUP: &str = "notification.toolkit.fluxcd.io";

/// The name Kubernetes Events about Alerts, Providers and Receivers are written under.
pub const CONTROLLER: &str = "notification-controller";

/// The finalizer notification-controller keeps on Providers (and removes from Alerts,
/// which no longer need one).
const FINALIZER: &str = "finalizers.fluxcd.io";

/// The Provider resource (`notification.toolkit.fluxcd.io/v1beta3`).
pub fn provider_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(NOTIFICATION_GROUP, "v1beta3", "Provider"),
        "providers",
    )
}

/// The Alert resource (`notification.toolkit.fluxcd.io/v1beta3`).
pub fn alert_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(NOTIFICATION_GROUP, "v1beta3", "Alert"),
        "alerts",
    )
}

/// Settings of the notification controller (notification-controller's flags where they
/// exist).
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// `--rate-limit-interval`: an event repeated within it is a duplicate (5 min).
    pub rate_limit_interval: Duration,
    /// How notifiers retry (notification-controller's HTTP client).
    pub retry: provider::Retry,
    /// Events waiting for the event server; more are dropped with a warning (a recorder
    /// whose POST fails drops its event too).
    pub queue: usize,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            rate_limit_interval: Duration::from_secs(300),
            retry: provider::Retry::default(),
            queue: 4096,
        }
    }
}

/// The event server and what it shares with the Flux loop.
pub struct Notifications {
    hub: kube::Client,
    options: NotifyOptions,
    /// `--no-cross-namespace-refs`: an Alert takes events of its own namespace only.
    no_cross_namespace_refs: bool,
    /// The Alerts by `namespace/name`, from the watch.
    alerts: Mutex<BTreeMap<String, Value>>,
    duplicates: Mutex<DuplicateFilter>,
    /// Events about Alerts and Providers.
    recorder: events::Recorder,
    queue: mpsc::Sender<Event>,
    /// What the Provider watch has warned about: uid → generation.
    warned: Mutex<HashMap<String, i64>>,
    /// The recorder's `reportingInstance`: this host's name.
    instance: String,
}

/// One notification ready to go: `getNotificationParams`'s result.
struct Job {
    notifier: provider::Notifier,
    event: Event,
    /// Masked in errors.
    secrets: Vec<String>,
    timeout: Duration,
    alert: Value,
}

impl Notifications {
    /// An event server on `hub`; the receiving end of its queue goes to [`Self::run`].
    pub fn new(
        hub: kube::Client,
        options: NotifyOptions,
        no_cross_namespace_refs: bool,
    ) -> (Arc<Notifications>, mpsc::Receiver<Event>) {
        let (queue, events) = mpsc::channel(options.queue.max(1));
        let notifications = Notifications {
            recorder: events::Recorder::new(hub.clone(), CONTROLLER),
            duplicates: Mutex::new(DuplicateFilter::new(options.rate_limit_interval)),
            hub,
            options,
            no_cross_namespace_refs,
            alerts: Mutex::default(),
            queue,
            warned: Mutex::default(),
            instance: host_name(),
        };
        (Arc::new(notifications), events)
    }

    /// The recorder's `reportingInstance`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Hands `event` to the event server (fluxcd/pkg's recorder's POST). A full queue
    /// drops it with a warning, as a failed POST does.
    pub fn submit(&self, event: Event) {
        if let Err(e) = self.queue.try_send(event) {
            tracing::warn!(error = %e, "unable to record event: the event server's queue is full");
        }
    }

    /// The event server: takes queued events until the queue closes; their
    /// notifications are sent concurrently.
    pub async fn run(self: Arc<Self>, mut events: mpsc::Receiver<Event>) {
        let mut sending = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                received = events.recv() => {
                    let Some(event) = received else { break };
                    for job in self.ingest(event).await {
                        let me = self.clone();
                        sending.spawn(async move { me.send(job).await });
                    }
                }
                Some(_) = sending.join_next(), if !sending.is_empty() => {}
            }
        }
        while sending.join_next().await.is_some() {}
    }

    /// What the event server does with a posted event, up to the notifications to send.
    async fn ingest(&self, mut event: Event) -> Vec<Job> {
        event::cleanup_metadata(&mut event);
        let key = event::event_key(&event);
        let admitted = lock(&self.duplicates).admit(&key, tokio::time::Instant::now());
        let involved = event.involved_object.display();
        if !admitted {
            tracing::debug!(object = %involved, "Discarding event, rate limiting duplicate events");
            return Vec::new();
        }
        event::exclude_internal_metadata(&mut event);
        let alerts = self.alerts_for(&event).await;
        if alerts.is_empty() {
            tracing::debug!(object = %involved, "discarding event, no alerts found for the involved object");
            return Vec::new();
        }
        tracing::info!(object = %involved, message = %event.message, "dispatching event");
        let mut jobs = Vec::new();
        for alert in alerts {
            match self.prepare(&event, &alert).await {
                Ok(Some(job)) => jobs.push(job),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(alert = %format!("{}/{}", alert.namespace, alert.name),
                                   error = %e, "failed to dispatch notification");
                    self.warn(
                        &alert.object,
                        "NotificationDispatchFailed",
                        format!("failed to dispatch notification for {involved}: {e}"),
                        BTreeMap::new(),
                    )
                    .await;
                }
            }
        }
        jobs
    }

    /// `filterAlertsForEvent`: the Alerts that take `event`, in name order.
    async fn alerts_for(&self, event: &Event) -> Vec<Alert> {
        let objects: Vec<Value> = lock(&self.alerts).values().cloned().collect();
        let mut labels: Option<Result<BTreeMap<String, String>, String>> = None;
        let mut out = Vec::new();
        for object in objects {
            let alert = match Alert::from_object(&object) {
                Ok(alert) => alert,
                Err(e) => {
                    tracing::warn!(alert = %object_key(&object), error = %e, "unreadable Alert");
                    continue;
                }
            };
            if alert.spec.suspend {
                continue;
            }
            let mut matched = false;
            for source in &alert.spec.event_sources {
                match alert::source_match(event, &alert, source) {
                    SourceMatch::No => {}
                    SourceMatch::Yes => matched = true,
                    SourceMatch::IfLabelled(wanted) => {
                        if labels.is_none() {
                            labels = Some(self.labels_of(event).await);
                        }
                        match labels.as_ref() {
                            Some(Ok(have)) => matched = alert::labels_match(wanted, have),
                            _ => {
                                self.warn(
                                    &alert.object,
                                    "SourceFetchFailed",
                                    format!(
                                        "error getting source object {}",
                                        event.involved_object.display()
                                    ),
                                    BTreeMap::new(),
                                )
                                .await;
                            }
                        }
                    }
                }
                if matched {
                    break;
                }
            }
            if !matched {
                continue;
            }
            let verdict = alert::message_verdict(&event.message, &alert.spec);
            for message in verdict.invalid {
                tracing::warn!(alert = %object_key(&object), %message, "invalid Alert");
                self.warn(&alert.object, "InvalidConfig", message, BTreeMap::new())
                    .await;
            }
            if verdict.passes {
                out.push(alert);
            }
        }
        out
    }

    /// The labels of the event's object, read live.
    async fn labels_of(&self, event: &Event) -> Result<BTreeMap<String, String>, String> {
        let o = &event.involved_object;
        let (group, version) = match o.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", o.api_version.as_str()),
        };
        let gvk = GroupVersionKind::gvk(group, version, &o.kind);
        let (resource, _) = kube::discovery::pinned_kind(&self.hub, &gvk)
            .await
            .map_err(|e| e.to_string())?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), &o.namespace, &resource);
        let object = api.get(&o.name).await.map_err(|e| e.to_string())?;
        Ok(object.metadata.labels.unwrap_or_default())
    }

    /// `getNotificationParams`: the notification `alert` sends for `event`, none when its
    /// Provider is suspended or does not take such events, or why it cannot be sent.
    async fn prepare(&self, event: &Event, alert: &Alert) -> Result<Option<Job>, String> {
        let involved = event.involved_object.display();
        if self.no_cross_namespace_refs && event.involved_object.namespace != alert.namespace {
            return Err(format!(
                "discarding event, access denied to cross-namespace sources: alert '{}/{}' can't process event from '{involved}', cross-namespace references have been blocked",
                alert.namespace, alert.name
            ));
        }
        let providers: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), &alert.namespace, &provider_resource());
        let object = providers
            .get(&alert.spec.provider_ref.name)
            .await
            .map_err(|e| format!("failed to read provider: {}", api_message(&e)))?;
        let object = serde_json::to_value(object).unwrap_or(Value::Null);
        let provider =
            Provider::from_object(&object).map_err(|e| format!("failed to read provider: {e}"))?;
        if provider.spec.suspend {
            return Ok(None);
        }
        let type_ = provider.spec.type_.as_str();
        let commit_status_update = event.object_metadata("commit_status") == Some("update");
        if !provider::is_commit_status_type(type_)
            && !provider::is_generic_type(type_)
            && commit_status_update
        {
            return Ok(None);
        }
        let has_commit = event
            .metadata
            .get(&format!("{}/commit", event::EVENT_GROUP))
            .is_some_and(|c| !c.is_empty());
        if provider::is_commit_status_type(type_)
            && !has_commit
            && !commit_status_update
            && event.severity != SEVERITY_ERROR
        {
            tracing::info!(alert = %format!("{}/{}", alert.namespace, alert.name),
                           "event dropped for commit status providers due to missing commit metadata key");
            return Ok(None);
        }
        if !provider.spec.service_account_name.is_empty() {
            return Err("to use spec.serviceAccountName for provider authentication please enable the ObjectLevelWorkloadIdentity feature gate in the controller".into());
        }
        let mut notification = event.clone();
        let combined = alert::combine_metadata(event, &alert.spec);
        if !combined.conflicts.is_empty() {
            tracing::info!(alert = %format!("{}/{}", alert.namespace, alert.name),
                           conflicts = ?combined.conflicts, "warning: {}", alert::CONFLICT_MESSAGE);
            self.warn(
                &alert.object,
                "MetadataAppendFailed",
                alert::CONFLICT_MESSAGE.to_string(),
                combined.conflicts.clone(),
            )
            .await;
        }
        if !combined.metadata.is_empty() {
            notification.metadata = combined.metadata;
        }
        let commit_status = if !provider.sets_commit_status() {
            String::new()
        } else if provider.spec.commit_status_expr.is_empty() {
            commit_status::default_key(&provider.uid, &notification)
        } else {
            return Err("failed to create commit status: spec.commitStatusExpr is not supported by this hub".into());
        };
        let secret = match &provider.spec.secret_ref {
            None => Ok(None),
            Some(reference) => self
                .secret_data(&provider.namespace, &reference.name)
                .await
                .map(Some),
        };
        let secrets = match &secret {
            Ok(Some(data)) => provider::secret_values(data),
            _ => Vec::new(),
        };
        let notifier = provider::build(&provider, secret, &commit_status).map_err(|e| {
            provider::mask(
                &format!(
                    "failed to initialize notifier for provider '{}': {e}",
                    provider.name
                ),
                &secrets,
            )
        })?;
        Ok(Some(Job {
            notifier,
            event: notification,
            secrets,
            timeout: provider.timeout(),
            alert: alert.object.clone(),
        }))
    }

    /// The data of the Secret `namespace/name`, in upstream's words when it cannot be read.
    async fn secret_data(&self, namespace: &str, name: &str) -> Result<SecretData, String> {
        let api: Api<Secret> = Api::namespaced(self.hub.clone(), namespace);
        let secret = api.get(name).await.map_err(|e| {
            format!(
                "failed to get secret '{namespace}/{name}': {}",
                api_message(&e)
            )
        })?;
        Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect())
    }

    /// Sends one notification; a failure is a Warning on the Alert, secrets masked.
    async fn send(&self, job: Job) {
        let deadline = tokio::time::Instant::now() + job.timeout;
        let Err(e) = job
            .notifier
            .post(&job.event, &self.options.retry, deadline)
            .await
        else {
            return;
        };
        let e = provider::mask(&e, &job.secrets);
        tracing::warn!(alert = %object_key(&job.alert), error = %e, "failed to send notification");
        let involved = job.event.involved_object.display();
        self.warn(
            &job.alert,
            "NotificationDispatchFailed",
            format!("failed to send notification for {involved}: {e}"),
            BTreeMap::new(),
        )
        .await;
    }

    /// Records a Warning about `object` (an Alert or a Provider).
    async fn warn(
        &self,
        object: &Value,
        reason: &str,
        message: String,
        annotations: BTreeMap<String, String>,
    ) {
        let event = FluxEvent {
            warning: true,
            reason: reason.to_string(),
            message,
            metadata: annotations,
        };
        self.recorder
            .record(object, &event, &crate::controller::now_rfc3339())
            .await;
    }

    /// Keeps the Alerts from a watch; removes the finalizer older notification-controllers
    /// put on them (notification-controller's Alert reconciler, with its `Migration`
    /// event).
    pub async fn watch_alerts(self: Arc<Self>) {
        let api: Api<crate::raw::RawObject> = Api::all_with(self.hub.clone(), &alert_resource());
        let mut changes = std::pin::pin!(crate::controller::object_changes(api, "Alert"));
        while let Some(change) = changes.next().await {
            match change {
                Change::Listed => {}
                Change::Gone(object) => {
                    lock(&self.alerts).remove(&object_key(&object));
                }
                Change::Present(object) => {
                    lock(&self.alerts).insert(object_key(&object), object.clone());
                    self.migrate_alert(&object).await;
                }
            }
        }
    }

    async fn migrate_alert(&self, object: &Value) {
        let finalizers = finalizers_of(object);
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return;
        }
        let deleting = object.at("/metadata/deletionTimestamp").is_some();
        let suspended = object
            .at("/spec/suspend")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if suspended && !deleting {
            return;
        }
        let kept: Vec<String> = finalizers.into_iter().filter(|f| f != FINALIZER).collect();
        match crate::controller::write_finalizers(&self.hub, &alert_resource(), object, &kept).await
        {
            Ok(()) => {
                let event = FluxEvent {
                    warning: false,
                    reason: "Migration".into(),
                    message: "removed finalizer from Alert to migrate to static Alert".into(),
                    metadata: BTreeMap::new(),
                };
                self.recorder
                    .record(object, &event, &crate::controller::now_rfc3339())
                    .await;
            }
            Err(e) => {
                tracing::debug!(alert = %object_key(object), error = %e, "removing the finalizer")
            }
        }
    }

    /// Watches the Providers: keeps notification-controller's finalizer on them (removed
    /// once one is deleted) and reports a type the hub cannot send to, by name, once per
    /// generation (a log line and a Warning event on the Provider).
    pub async fn watch_providers(self: Arc<Self>) {
        let api: Api<crate::raw::RawObject> = Api::all_with(self.hub.clone(), &provider_resource());
        let mut changes = std::pin::pin!(crate::controller::object_changes(api, "Provider"));
        while let Some(change) = changes.next().await {
            let Change::Present(object) = change else {
                continue;
            };
            let mut finalizers = finalizers_of(&object);
            let has = finalizers.iter().any(|f| f == FINALIZER);
            let deleting = object.at("/metadata/deletionTimestamp").is_some();
            let wanted = match (deleting, has) {
                (true, true) => {
                    finalizers.retain(|f| f != FINALIZER);
                    Some(finalizers)
                }
                (false, false) => {
                    finalizers.push(FINALIZER.to_string());
                    Some(finalizers)
                }
                _ => None,
            };
            if let Some(finalizers) = wanted
                && let Err(e) = crate::controller::write_finalizers(
                    &self.hub,
                    &provider_resource(),
                    &object,
                    &finalizers,
                )
                .await
            {
                tracing::debug!(provider = %object_key(&object), error = %e, "writing the finalizer");
            }
            if !deleting {
                self.check_provider_type(&object).await;
            }
        }
    }

    async fn check_provider_type(&self, object: &Value) {
        let type_ = object
            .at("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(why) = provider::unsupported(type_) else {
            return;
        };
        let uid = object
            .at("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let generation = object
            .at("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if lock(&self.warned).insert(uid, generation) == Some(generation) {
            return;
        }
        tracing::warn!(provider = %object_key(object), r#type = type_, "{why}");
        self.warn(object, "ValidationFailed", why, BTreeMap::new())
            .await;
    }
}

/// The host name, as Go's `os.Hostname` reads it on Linux.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "flotilla".into())
}
