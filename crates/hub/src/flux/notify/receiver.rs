//! Receivers (`notification.toolkit.fluxcd.io/v1`): notification-controller's Receiver
//! reconciler (the webhook path `/hook/` + hex(sha256(token + name + namespace)) in
//! `status.webhookPath`, Ready once the token is read) and its receiver server (`POST
//! <path>`: 404 for an unknown path, 503 when suspended or not Ready, 400 when the
//! request does not prove it knows the token, 500 when a target could not be annotated,
//! 200 once every target carries `reconcile.fluxcd.io/requestedAt`), served on the hub's
//! webhook address by [`router`].
//!
//! Types: `generic`, `generic-hmac`, `github`, `gitlab` and `bitbucket`; the others, CEL
//! resource filters and OIDC providers are refused by name in the Receiver's status.

use flotilla_core::pointer::Pointer as _;
use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use hmac::{Hmac, Mac};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

use super::alert::CrossNamespaceObjectReference;
use super::event::hex;
use super::{NOTIFICATION_GROUP, api_message, finalizers_of};
use crate::flux::conditions::Conditions;
use crate::flux::events::FluxEvent;
use crate::flux::{FluxReconciler, Outcome, go_duration};

/// The Receiver resource (`notification.toolkit.fluxcd.io/v1`).
pub fn receiver_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(NOTIFICATION_GROUP, "v1", "Receiver"),
        "receivers",
    )
}

/// The receiver types the hub serves.
pub const SUPPORTED_TYPES: &[&str] = &["generic", "generic-hmac", "github", "gitlab", "bitbucket"];

/// The annotation that asks a Flux controller to reconcile at once.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";

/// notification-controller keeps its finalizer on Receivers.
const FINALIZER: &str = "finalizers.fluxcd.io";

/// The largest request read (notification-controller's 3 MiB); more is 413.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// The webhook path of a Receiver (`GetWebhookPath`).
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("{token}{name}{namespace}").as_bytes());
    format!("/hook/{}", hex(&digest))
}

/// A target of `spec.resources`: the object and a CEL filter (upstream embeds the
/// reference the same way).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReceiverResource {
    /// The object, or with `name: "*"` the objects its `matchLabels` select.
    #[serde(flatten)]
    pub target: CrossNamespaceObjectReference,
    /// A CEL filter (refused).
    #[serde(default)]
    pub filter: String,
}

/// A Receiver's `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverSpec {
    /// The sender.
    #[serde(default, rename = "type")]
    pub type_: String,
    /// How often the token is read again (10m).
    #[serde(default)]
    pub interval: Option<String>,
    /// The event types taken (all when empty), compared case-insensitively.
    #[serde(default)]
    pub events: Vec<String>,
    /// The objects asked to reconcile.
    #[serde(default)]
    pub resources: Vec<ReceiverResource>,
    /// A CEL filter over every target (refused).
    #[serde(default)]
    pub resource_filter: String,
    /// The Secret with the `token`.
    #[serde(default)]
    pub secret_ref: Option<super::alert::LocalRef>,
    /// OIDC providers of `generic-oidc` (refused).
    #[serde(default)]
    pub oidc_providers: Vec<Value>,
    /// A suspended Receiver answers 503.
    #[serde(default)]
    pub suspend: bool,
}

impl ReceiverSpec {
    /// `GetInterval`: `spec.interval`, else 10 minutes.
    fn interval(&self) -> Duration {
        self.interval
            .as_deref()
            .and_then(|i| flotilla_fleet::flux::parse_duration(i, true))
            .unwrap_or(Duration::from_secs(600))
    }

    /// Why the hub cannot serve this spec, if it cannot: the cross-field rules of the
    /// CRD (`validateOIDCSpec`), then what the hub does not implement.
    fn refusal(&self) -> Option<String> {
        let oidc = self.type_ == "generic-oidc";
        if oidc && self.oidc_providers.is_empty() {
            return Some("generic-oidc receiver requires at least one oidcProvider".into());
        }
        if !oidc && !self.oidc_providers.is_empty() {
            return Some("oidcProviders can only be set when type is generic-oidc".into());
        }
        if oidc && self.secret_ref.is_some() {
            return Some("secretRef cannot be set when type is generic-oidc".into());
        }
        if !oidc && self.secret_ref.is_none() {
            return Some("secretRef is required when type is not generic-oidc".into());
        }
        if !SUPPORTED_TYPES.contains(&self.type_.as_str()) {
            return Some(format!(
                "receiver type '{}' is not supported by this hub (supported: {})",
                self.type_,
                SUPPORTED_TYPES.join(", ")
            ));
        }
        if !self.resource_filter.is_empty() {
            return Some("spec.resourceFilter (CEL) is not supported by this hub".into());
        }
        if let Some((i, r)) = self
            .resources
            .iter()
            .enumerate()
            .find(|(_, r)| !r.filter.is_empty())
        {
            return Some(format!(
                "the filter of resources[{i}] (kind={:?}, name={:?}) (CEL) is not supported by this hub",
                r.target.kind, r.target.name
            ));
        }
        None
    }
}

/// fluxcd/pkg's prefix for errors only a new generation can fix.
const TERMINAL: &str = "Reconciliation failed terminally due to configuration error";

impl FluxReconciler {
    /// notification-controller's Receiver reconciler: the finalizer, the token, the
    /// webhook path, Ready, and its events.
    pub async fn reconcile_receiver(&self, obj: &Value, now: &str) -> Outcome {
        let generation = obj
            .at("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let old_status = obj.get("status").cloned().unwrap_or(json!({}));
        let none = Outcome {
            status: None,
            requeue: None,
            events: Vec::new(),
        };
        let mut finalizers = finalizers_of(obj);
        if obj.at("/metadata/deletionTimestamp").is_some() {
            if finalizers.iter().any(|f| f == FINALIZER) {
                finalizers.retain(|f| f != FINALIZER);
                if let Err(e) = crate::controller::write_finalizers(
                    &self.hub,
                    &receiver_resource(),
                    obj,
                    &finalizers,
                )
                .await
                {
                    tracing::debug!(error = %e, "removing a Receiver's finalizer");
                    return Outcome {
                        requeue: Some(self.options.source_retry),
                        ..none
                    };
                }
            }
            return none;
        }
        if !finalizers.iter().any(|f| f == FINALIZER) {
            finalizers.push(FINALIZER.to_string());
            if let Err(e) = crate::controller::write_finalizers(
                &self.hub,
                &receiver_resource(),
                obj,
                &finalizers,
            )
            .await
            {
                tracing::debug!(error = %e, "adding a Receiver's finalizer");
            }
        }
        let spec: ReceiverSpec =
            serde_json::from_value(obj.get("spec").cloned().unwrap_or(Value::Null))
                .unwrap_or_default();
        if spec.suspend {
            return none;
        }
        let mut conditions = Conditions::from_status(&old_status, generation, now);
        let mut status = old_status.clone();
        let mut events = Vec::new();
        let namespace = obj
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = obj
            .at("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let requeue;
        if let Some(why) = spec.refusal() {
            let reason = "ValidationFailed";
            let message = format!("{TERMINAL}: {why}");
            conditions.set("Ready", "False", reason, &message);
            conditions.stalled(reason, &message);
            status["observedGeneration"] = json!(generation);
            tracing::warn!(receiver = %format!("{namespace}/{name}"), %why, "{TERMINAL}");
            events.push(warning(reason, message));
            requeue = None;
        } else {
            conditions.reconciling("Progressing", "Reconciliation in progress");
            let secret = spec.secret_ref.as_ref().map_or("", |r| r.name.as_str());
            match receiver_token(&self.hub, namespace, secret).await {
                Err(message) => {
                    conditions.set("Ready", "False", "TokenNotFound", &message);
                    if let Some(s) = status.as_object_mut() {
                        s.remove("webhookPath");
                    }
                    events.push(warning("Failed", message));
                    requeue = Some(self.options.source_retry);
                }
                Ok(token) => {
                    let path = webhook_path(&token, name, namespace);
                    let message = format!("Receiver initialized for path: {path}");
                    conditions.set("Ready", "True", "Succeeded", &message);
                    if status["webhookPath"] != path.as_str() {
                        tracing::info!(receiver = %format!("{namespace}/{name}"), "{message}");
                        status["webhookPath"] = json!(path);
                    }
                    let interval = spec.interval();
                    events.push(FluxEvent {
                        warning: false,
                        reason: "Succeeded".into(),
                        message: format!(
                            "Reconciliation finished, next run in {}",
                            go_duration(interval)
                        ),
                        metadata: BTreeMap::new(),
                    });
                    requeue = Some(interval);
                }
            }
        }
        // The patch helper's last steps.
        if let Some(requested) = obj
            .at("/metadata/annotations")
            .and_then(|a| a.get(REQUESTED_AT))
            .and_then(Value::as_str)
        {
            status["lastHandledReconcileAt"] = json!(requested);
        }
        if conditions.is("Ready", "True") {
            conditions.delete("Reconciling");
            status["observedGeneration"] = json!(generation);
        }
        if conditions.is("Ready", "False") {
            conditions.retry_reconciling();
        }
        status["conditions"] = conditions.to_value();
        Outcome {
            status: Some(status),
            requeue,
            events,
        }
    }
}

fn warning(reason: &str, message: String) -> FluxEvent {
    FluxEvent {
        warning: true,
        reason: reason.to_string(),
        message,
        metadata: BTreeMap::new(),
    }
}

/// The reconciler's `token`: the Secret's `token`, in its words when there is none.
async fn receiver_token(hub: &kube::Client, namespace: &str, name: &str) -> Result<String, String> {
    let api: Api<Secret> = Api::namespaced(hub.clone(), namespace);
    let secret = api.get(name).await.map_err(|e| {
        format!(
            "unable to read token from secret '{namespace}/{name}' error: {}",
            api_message(&e)
        )
    })?;
    secret
        .data
        .unwrap_or_default()
        .get("token")
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
        .ok_or_else(|| format!("invalid '{namespace}/{name}' secret data: required fields 'token'"))
}

/// What the receiver server needs.
#[derive(Clone)]
struct Server {
    hub: kube::Client,
    no_cross_namespace_refs: bool,
}

/// The receiver server: any method on `/hook/<digest>`, matched against the Receivers'
/// `status.webhookPath` (query included, as upstream matches the request URI).
pub fn router(hub: kube::Client, no_cross_namespace_refs: bool) -> Router {
    Router::new()
        .route("/hook/{digest}", any(handle))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Server {
            hub,
            no_cross_namespace_refs,
        })
}

async fn handle(
    State(server): State<Server>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
    let api: Api<DynamicObject> = Api::all_with(server.hub.clone(), &receiver_resource());
    let receivers = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            tracing::error!(error = %e, "unable to list receivers");
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
    };
    let Some(receiver) = receivers
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .find(|r| r.at("/status/webhookPath").and_then(Value::as_str) == Some(&path))
    else {
        return StatusCode::NOT_FOUND;
    };
    let namespace = receiver
        .at("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = receiver
        .at("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let shown = format!("{namespace}/{name}");
    // Upstream logs the path's digest; for a generic Receiver it is the only credential.
    tracing::info!(receiver = %shown, "handling request");
    let spec: ReceiverSpec =
        serde_json::from_value(receiver.get("spec").cloned().unwrap_or(Value::Null))
            .unwrap_or_default();
    let ready = Conditions::from_status(receiver.get("status").unwrap_or(&Value::Null), 0, "")
        .is("Ready", "True");
    if spec.suspend || !ready {
        let why = if spec.suspend {
            "receiver is suspended"
        } else {
            "receiver is not ready"
        };
        tracing::error!(receiver = %shown, "unable to process request: {why}");
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let token = match &spec.secret_ref {
        None => String::new(),
        Some(r) => match secret_token(&server.hub, &namespace, &r.name).await {
            Ok(token) => token,
            Err(e) => {
                tracing::error!(receiver = %shown, error = %e, "unable to validate payload");
                return StatusCode::BAD_REQUEST;
            }
        },
    };
    if let Err(e) = validate(&spec, &token, &headers, &body) {
        tracing::error!(receiver = %shown, error = %e, "unable to validate payload");
        return StatusCode::BAD_REQUEST;
    }
    let mut failed = false;
    for resource in &spec.resources {
        if let Err(e) = request_reconciliation(&server, &resource.target, &namespace).await {
            tracing::error!(receiver = %shown, resource = ?resource.target.name,
                            kind = %resource.target.kind,
                            error = %e, "unable to request reconciliation");
            failed = true;
        }
    }
    if failed {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// The receiver server's `validate`: the Secret's token, read live.
async fn secret_token(hub: &kube::Client, namespace: &str, name: &str) -> Result<String, String> {
    let api: Api<Secret> = Api::namespaced(hub.clone(), namespace);
    let secret = api.get(name).await.map_err(|e| {
        format!(
            "unable to read secret, error: unable to read secret \"{namespace}/{name}\": {}",
            api_message(&e)
        )
    })?;
    secret
        .data
        .unwrap_or_default()
        .get("token")
        .map(|t| String::from_utf8_lossy(&t.0).into_owned())
        .ok_or_else(|| {
            format!("invalid \"{namespace}/{name}\" secret data: required field 'token'")
        })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Whether the request proves it knows the token, and is of an event type the Receiver
/// takes (a pure function of the request).
pub fn validate(
    spec: &ReceiverSpec,
    token: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let allowed = |sender: &str, event: &str| {
        if spec.events.is_empty() || spec.events.iter().any(|e| e.eq_ignore_ascii_case(event)) {
            Ok(())
        } else {
            Err(format!("the {sender} event {event:?} is not authorised"))
        }
    };
    match spec.type_.as_str() {
        "generic" => Ok(()),
        "generic-hmac" => {
            validate_signature(header(headers, "x-signature"), body, token.as_bytes())
                .map_err(|e| format!("unable to validate HMAC signature: {e}"))
        }
        "github" => {
            github_payload(headers, body, token)
                .map_err(|e| format!("the GitHub signature header is invalid, err: {e}"))?;
            let event = header(headers, "x-github-event");
            allowed("GitHub", event)?;
            tracing::info!("handling GitHub event: {event}");
            Ok(())
        }
        "gitlab" => {
            if header(headers, "x-gitlab-token") != token {
                return Err(
                    "the X-Gitlab-Token header value does not match the receiver token".into(),
                );
            }
            let event = header(headers, "x-gitlab-event");
            allowed("GitLab", event)?;
            tracing::info!("handling GitLab event: {event}");
            Ok(())
        }
        "bitbucket" => {
            github_payload(headers, body, token).map_err(|e| {
                format!("the Bitbucket server signature header is invalid, err: {e}")
            })?;
            let event = header(headers, "x-event-key");
            allowed("Bitbucket server", event)?;
            tracing::info!("handling Bitbucket server event: {event}");
            Ok(())
        }
        other => Err(format!("recevier type {other:?} not supported")),
    }
}

/// go-github's `ValidatePayload`: JSON or a form's `payload`; the signature
/// (`X-Hub-Signature-256`, else `X-Hub-Signature`) checked over the raw body when a token
/// or a signature is there.
fn github_payload(headers: &HeaderMap, body: &[u8], token: &str) -> Result<(), String> {
    let mut signature = header(headers, "x-hub-signature-256");
    if signature.is_empty() {
        signature = header(headers, "x-hub-signature");
    }
    let content_type = header(headers, "content-type");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "" => return Err("mime: no media type".into()),
        "application/json" | "application/x-www-form-urlencoded" => {}
        other => {
            return Err(format!(
                "webhook request has unsupported Content-Type {other:?}"
            ));
        }
    }
    if !token.is_empty() || !signature.is_empty() {
        validate_signature(signature, body, token.as_bytes())?;
    }
    Ok(())
}

/// go-github's `ValidateSignature`: `sha1=`, `sha256=` or `sha512=` and the hex HMAC of
/// `body` with `key`, compared in constant time.
pub fn validate_signature(signature: &str, body: &[u8], key: &[u8]) -> Result<(), String> {
    if signature.is_empty() {
        return Err("missing signature".into());
    }
    let Some((algorithm, digest)) = signature.split_once('=') else {
        return Err(format!("error parsing signature {signature:?}"));
    };
    let wanted = decode_hex(digest)
        .ok_or_else(|| format!("error decoding signature {signature:?}: invalid hex"))?;
    let verified = match algorithm {
        "sha1" => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).expect("any key length");
            mac.update(body);
            mac.verify_slice(&wanted).is_ok()
        }
        "sha256" => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
            mac.update(body);
            mac.verify_slice(&wanted).is_ok()
        }
        "sha512" => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("any key length");
            mac.update(body);
            mac.verify_slice(&wanted).is_ok()
        }
        other => return Err(format!("unknown hash type prefix: {other:?}")),
    };
    if verified {
        Ok(())
    } else {
        Err("payload signature check failed".into())
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The API versions of the kinds a target may leave it out for (`defaultFluxAPIVersions`).
fn default_api_version(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Bucket" | "HelmChart" | "HelmRepository" | "GitRepository" | "OCIRepository" => {
            "source.toolkit.fluxcd.io/v1"
        }
        "ImageRepository" => "image.toolkit.fluxcd.io/v1",
        "ArtifactGenerator" => "source.extensions.fluxcd.io/v1beta1",
        _ => return None,
    })
}

/// `requestReconciliation`: annotates the target (or every target `*` selects by
/// labels) with `reconcile.fluxcd.io/requestedAt`.
async fn request_reconciliation(
    server: &Server,
    resource: &CrossNamespaceObjectReference,
    receiver_namespace: &str,
) -> Result<(), String> {
    let mut namespace = receiver_namespace;
    if !resource.namespace.is_empty() {
        if server.no_cross_namespace_refs && resource.namespace != receiver_namespace {
            return Err("cross-namespace references are not allowed".into());
        }
        namespace = &resource.namespace;
    }
    let api_version = if resource.api_version.is_empty() {
        default_api_version(&resource.kind)
            .ok_or_else(|| format!("apiVersion must be specified for kind {:?}", resource.kind))?
    } else {
        resource.api_version.as_str()
    };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, &resource.kind);
    let (api_resource, _) = kube::discovery::pinned_kind(&server.hub, &gvk)
        .await
        .map_err(|e| format!("unable to find {:?} {api_version}: {e}", resource.kind))?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(server.hub.clone(), namespace, &api_resource);
    if resource.name == "*" {
        let Some(labels) = &resource.match_labels else {
            return Err("matchLabels field not set when using wildcard '*' as name".into());
        };
        let selector = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let list = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| {
                format!(
                    "failed listing resources in namespace {namespace:?} by matching labels {labels:?}: {}",
                    api_message(&e)
                )
            })?;
        if list.items.is_empty() {
            tracing::error!(
                "error annotating resources: no {:?} resources found with matching labels {labels:?}' in {namespace:?} namespace",
                resource.kind
            );
            return Ok(());
        }
        for item in list.items {
            let name = item.metadata.name.clone().unwrap_or_default();
            annotate(&api, &resource.kind, namespace, &name).await?;
        }
        return Ok(());
    }
    api.get_metadata(&resource.name).await.map_err(|e| {
        format!(
            "unable to read {} \"{namespace}/{}\" error: {}",
            resource.kind,
            resource.name,
            api_message(&e)
        )
    })?;
    annotate(&api, &resource.kind, namespace, &resource.name).await
}

async fn annotate(
    api: &Api<DynamicObject>,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<(), String> {
    let patch = json!({"metadata": {"annotations": {REQUESTED_AT: go_time_now()}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            format!(
                "failed to annotate resource: '{kind}/{name}.{namespace}': unable to annotate {kind} \"{namespace}/{name}\" error: {}",
                api_message(&e)
            )
        })?;
    tracing::info!("resource '{kind}/{name}.{namespace}' annotated");
    Ok(())
}

/// `metav1.Now().String()`: Go's `time.Time.String` of the current time in UTC
/// (`2006-01-02 15:04:05.999999999 +0000 UTC`) with its monotonic reading (`m=+…`,
/// seconds since this process first asked).
pub fn go_time_now() -> String {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let monotonic = START.get_or_init(std::time::Instant::now).elapsed();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    go_time_string(wall, monotonic)
}

fn go_time_string(since_epoch: Duration, monotonic: Duration) -> String {
    let secs = since_epoch.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::controller::civil_from_days(days);
    let nanos = since_epoch.subsec_nanos();
    let fraction = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}{fraction} +0000 UTC m=+{}.{:09}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        monotonic.as_secs(),
        monotonic.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: Value) -> ReceiverSpec {
        serde_json::from_value(value).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn hmac_hex<M: Mac + hmac::digest::KeyInit>(body: &[u8], key: &[u8]) -> String {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).unwrap();
        mac.update(body);
        hex(&mac.finalize().into_bytes())
    }

    #[test]
    fn the_webhook_path_is_upstreams_digest() {
        let path = webhook_path("token", "receiver", "default");
        assert_eq!(
            path,
            format!("/hook/{}", hex(&Sha256::digest(b"tokenreceiverdefault")))
        );
        assert_eq!(path.len(), "/hook/".len() + 64);
    }

    #[test]
    fn generic_hmac_takes_sha1_sha256_and_sha512() {
        let body = br#"{"ref":"main"}"#;
        let s = spec(json!({"type": "generic-hmac", "secretRef": {"name": "s"}}));
        for signature in [
            format!("sha1={}", hmac_hex::<Hmac<sha1::Sha1>>(body, b"tok")),
            format!("sha256={}", hmac_hex::<Hmac<Sha256>>(body, b"tok")),
            format!("sha512={}", hmac_hex::<Hmac<Sha512>>(body, b"tok")),
        ] {
            assert_eq!(
                validate(&s, "tok", &headers(&[("X-Signature", &signature)]), body),
                Ok(()),
                "{signature}"
            );
        }
        let wrong = format!("sha256={}", hmac_hex::<Hmac<Sha256>>(body, b"other"));
        assert_eq!(
            validate(&s, "tok", &headers(&[("X-Signature", &wrong)]), body),
            Err("unable to validate HMAC signature: payload signature check failed".into())
        );
        assert_eq!(
            validate(&s, "tok", &headers(&[]), body),
            Err("unable to validate HMAC signature: missing signature".into())
        );
        assert_eq!(
            validate(&s, "tok", &headers(&[("X-Signature", "md5=00")]), body),
            Err("unable to validate HMAC signature: unknown hash type prefix: \"md5\"".into())
        );
    }

    #[test]
    fn github_checks_the_signature_then_the_event() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let s = spec(json!({"type": "github", "events": ["ping", "Push"],
                            "secretRef": {"name": "s"}}));
        let sha256 = format!("sha256={}", hmac_hex::<Hmac<Sha256>>(body, b"tok"));
        let sha1 = format!("sha1={}", hmac_hex::<Hmac<sha1::Sha1>>(body, b"tok"));
        let ok = |h: &[(&str, &str)]| validate(&s, "tok", &headers(h), body);
        let json = ("Content-Type", "application/json");
        assert_eq!(
            ok(&[
                json,
                ("X-Hub-Signature-256", &sha256),
                ("X-GitHub-Event", "ping")
            ]),
            Ok(())
        );
        // X-Hub-Signature when there is no X-Hub-Signature-256; events compared without case.
        assert_eq!(
            ok(&[json, ("X-Hub-Signature", &sha1), ("X-GitHub-Event", "push")]),
            Ok(())
        );
        assert_eq!(
            ok(&[
                json,
                ("X-Hub-Signature-256", &sha256),
                ("X-GitHub-Event", "issues")
            ]),
            Err("the GitHub event \"issues\" is not authorised".into())
        );
        assert!(
            ok(&[json, ("X-GitHub-Event", "push")])
                .unwrap_err()
                .ends_with("missing signature")
        );
        assert!(
            ok(&[
                ("Content-Type", "text/plain"),
                ("X-Hub-Signature-256", &sha256)
            ])
            .unwrap_err()
            .contains("unsupported Content-Type")
        );
    }

    #[test]
    fn gitlab_compares_the_token_and_reads_its_event() {
        let s = spec(json!({"type": "gitlab", "events": ["Push Hook"],
                            "secretRef": {"name": "s"}}));
        let check = |h: &[(&str, &str)]| validate(&s, "tok", &headers(h), b"{}");
        assert_eq!(
            check(&[("X-Gitlab-Token", "tok"), ("X-Gitlab-Event", "push hook")]),
            Ok(())
        );
        assert_eq!(
            check(&[("X-Gitlab-Token", "tok "), ("X-Gitlab-Event", "Push Hook")]),
            Err("the X-Gitlab-Token header value does not match the receiver token".into())
        );
        assert_eq!(
            check(&[
                ("X-Gitlab-Token", "tok"),
                ("X-Gitlab-Event", "Tag Push Hook")
            ]),
            Err("the GitLab event \"Tag Push Hook\" is not authorised".into())
        );
    }

    #[test]
    fn what_the_hub_cannot_serve_is_refused_by_name() {
        let refusal = |v: Value| spec(v).refusal();
        assert_eq!(
            refusal(json!({"type": "harbor", "secretRef": {"name": "s"}})).unwrap(),
            "receiver type 'harbor' is not supported by this hub (supported: generic, generic-hmac, github, gitlab, bitbucket)"
        );
        assert_eq!(
            refusal(json!({"type": "github"})).unwrap(),
            "secretRef is required when type is not generic-oidc"
        );
        assert!(
            refusal(json!({"type": "github", "secretRef": {"name": "s"},
                           "resourceFilter": "true"}))
            .unwrap()
            .contains("resourceFilter")
        );
        assert!(
            refusal(json!({"type": "generic", "secretRef": {"name": "s"},
                           "resources": [{"kind": "GitRepository", "name": "a",
                                          "filter": "true"}]}))
            .unwrap()
            .contains("resources[0]")
        );
        assert_eq!(
            refusal(json!({"type": "generic", "secretRef": {"name": "s"}})),
            None
        );
    }

    #[test]
    fn the_requested_at_value_is_gos_time_string() {
        let at = Duration::new(1_786_118_364, 120_000_000);
        assert_eq!(
            go_time_string(at, Duration::new(12, 5)),
            "2026-08-07 15:59:24.12 +0000 UTC m=+12.000000005"
        );
        assert_eq!(
            go_time_string(Duration::from_secs(0), Duration::ZERO),
            "1970-01-01 00:00:00 +0000 UTC m=+0.000000000"
        );
    }
}
