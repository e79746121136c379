//! Providers (`notification.toolkit.fluxcd.io/v1beta3`): what notification-controller's
//! `createNotifier` builds from a Provider and its Secret, and the notifiers themselves
//! (`internal/notifier`): the payloads they send and `postMessage`'s retries
//! (go-retryablehttp with notification-controller's settings: at most four retries,
//! 2 s doubling to 30 s, on connection errors, 429 and 5xx but 501).
//!
//! Every request goes through the hub's egress policy
//! ([`flotilla_source::outbound`]); an address it refuses is not retried. What the hub's
//! HTTP client cannot do is refused by name: proxies (`spec.proxy`, `spec.proxySecretRef`,
//! the Secret's `proxy` key), custom TLS (`spec.certSecretRef`, a `ca.crt` in the Secret
//! of a commit status provider), workload identity (`spec.serviceAccountName`, as
//! upstream without its feature gate) and `spec.commitStatusExpr`.

use flotilla_core::pointer::Pointer as _;
use std::collections::BTreeMap;
use std::time::Duration;

use flotilla_source::outbound::{Answer, Outbound, worth_retrying};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::time::Instant;

use super::alert::LocalRef;
use super::commit_status::{CommitStatus, Forge};
use super::event::{Event, SEVERITY_ERROR, go_json, hex};

/// Every provider type notification-controller knows (its CRD's enum).
pub const UPSTREAM_TYPES: &[&str] = &[
    "slack",
    "discord",
    "msteams",
    "rocket",
    "generic",
    "generic-hmac",
    "github",
    "gitlab",
    "gitea",
    "giteapullrequestcomment",
    "bitbucketserver",
    "bitbucket",
    "azuredevops",
    "googlechat",
    "googlepubsub",
    "webex",
    "sentry",
    "azureeventhub",
    "telegram",
    "lark",
    "matrix",
    "opsgenie",
    "alertmanager",
    "grafana",
    "githubdispatch",
    "githubpullrequestcomment",
    "gitlabmergerequestcomment",
    "pagerduty",
    "datadog",
    "nats",
    "zulip",
    "otel",
    "zoom",
    "incident.io",
];

/// The provider types the hub sends to.
pub const SUPPORTED_TYPES: &[&str] = &[
    "generic",
    "generic-hmac",
    "slack",
    "msteams",
    "discord",
    "github",
    "gitlab",
    "gitea",
];

/// Why a provider type cannot be used, if it cannot: upstream's factory error for a type
/// it does not know either, else the hub's refusal by name.
pub fn unsupported(type_: &str) -> Option<String> {
    if SUPPORTED_TYPES.contains(&type_) {
        None
    } else if UPSTREAM_TYPES.contains(&type_) {
        Some(format!(
            "provider {type_} not supported by this hub (supported: {})",
            SUPPORTED_TYPES.join(", ")
        ))
    } else {
        Some(format!("provider {type_} not supported"))
    }
}

/// A Provider's `spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSpec {
    /// Which notifier.
    #[serde(default, rename = "type")]
    pub type_: String,
    /// The destination channel.
    #[serde(default)]
    pub channel: String,
    /// The name posted under.
    #[serde(default)]
    pub username: String,
    /// Where to send (an HTTP/S address for the webhook types).
    #[serde(default)]
    pub address: String,
    /// How long one notification may take, retries included (15 s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Deprecated proxy address (refused).
    #[serde(default)]
    pub proxy: String,
    /// Proxy Secret (refused).
    #[serde(default)]
    pub proxy_secret_ref: Option<LocalRef>,
    /// Credentials, headers and the address.
    #[serde(default)]
    pub secret_ref: Option<LocalRef>,
    /// Workload identity (refused, as upstream without its feature gate).
    #[serde(default)]
    pub service_account_name: String,
    /// TLS certificates (refused).
    #[serde(default)]
    pub cert_secret_ref: Option<LocalRef>,
    /// A suspended Provider sends nothing.
    #[serde(default)]
    pub suspend: bool,
    /// A CEL expression for the commit status key (refused).
    #[serde(default)]
    pub commit_status_expr: String,
}

/// A Provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// Its spec.
    pub spec: ProviderSpec,
}

impl Provider {
    /// The Provider `object`, or why its spec cannot be read.
    pub fn from_object(object: &Value) -> Result<Provider, String> {
        let s = |p: &str| {
            object
                .at(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Ok(Provider {
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            uid: s("/metadata/uid"),
            spec: serde_json::from_value(object.get("spec").cloned().unwrap_or(Value::Null))
                .map_err(|e| format!("invalid spec: {e}"))?,
        })
    }

    /// `GetTimeout`: `spec.timeout`, else 15 s.
    pub fn timeout(&self) -> Duration {
        self.spec
            .timeout
            .as_deref()
            .and_then(|t| flotilla_fleet::flux::parse_duration(t, false))
            .unwrap_or(Duration::from_secs(15))
    }

    /// Whether this is a commit status provider (`isCommitStatusProvider`).
    pub fn sets_commit_status(&self) -> bool {
        is_commit_status_type(&self.spec.type_)
    }
}

/// `isCommitStatusProvider`: the Git forges whose notifiers set commit statuses.
pub fn is_commit_status_type(type_: &str) -> bool {
    matches!(
        type_,
        "github" | "gitlab" | "gitea" | "bitbucketserver" | "bitbucket" | "azuredevops"
    )
}

/// `isGenericProvider`.
pub fn is_generic_type(type_: &str) -> bool {
    matches!(type_, "generic" | "generic-hmac")
}

/// A Secret's data.
pub type SecretData = BTreeMap<String, Vec<u8>>;

/// notification-controller's `createNotifier` and its factory: the notifier for
/// `provider`, whose `spec.secretRef` read as `secret` (`Ok(None)` without one; the error
/// is the caller's `failed to get secret …`); `commit_status` is the status key of a
/// commit status provider.
pub fn build(
    provider: &Provider,
    secret: Result<Option<SecretData>, String>,
    commit_status: &str,
) -> Result<Notifier, String> {
    let spec = &provider.spec;
    if !spec.proxy.is_empty() {
        return Err(
            "spec.proxy is not supported by this hub (its HTTP client sends through no proxy)"
                .into(),
        );
    }
    let mut address = spec.address.clone();
    let mut headers = BTreeMap::new();
    let mut token = String::new();
    let mut password = String::new();
    let mut github_app = false;
    if let Some(data) = secret? {
        let text = |key: &str| {
            data.get(key)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        if let Some(value) = data.get("address")
            && value.len() > 2048
        {
            return Err(
                "invalid address in secret: address exceeds maximum length of 2048 bytes".into(),
            );
        }
        if data.contains_key("proxy") {
            return Err("the Secret's 'proxy' key is not supported by this hub (its HTTP client sends through no proxy)".into());
        }
        if let Some(raw) = text("headers") {
            let parsed: BTreeMap<String, String> = serde_saphyr::from_str(&raw)
                .map_err(|e| format!("failed to read headers from secret: {e}"))?;
            headers = parsed;
        }
        if let Some(raw) = text("token") {
            // The notifier is given the value as it is (generic-hmac's key).
            token = raw;
        }
        if let Some(value) = text("address") {
            address = value.trim().to_string();
        }
        password = text("password").unwrap_or_default();
        github_app = data.contains_key("githubAppID");
        if provider.sets_commit_status() && data.contains_key("ca.crt") {
            return Err("a CA certificate ('ca.crt' in the Secret) is not supported by this hub (its HTTP client trusts the platform's roots)".into());
        }
    }
    if spec.proxy_secret_ref.is_some() {
        return Err("spec.proxySecretRef is not supported by this hub (its HTTP client sends through no proxy)".into());
    }
    if spec.cert_secret_ref.is_some() {
        return Err("spec.certSecretRef is not supported by this hub (its HTTP client trusts the platform's roots)".into());
    }
    // The Git forges take the password when there is no token.
    if token.is_empty() && is_commit_status_type(&spec.type_) {
        if github_app && spec.type_ == "github" {
            return Err("failed to initialize notifier: GitHub App authentication (githubAppID) is not supported by this hub".into());
        }
        token = password;
    }
    notifier(spec, address, headers, token, commit_status)
        .map_err(|e| format!("failed to initialize notifier: {e}"))
}

/// The strings of a Provider's Secret no message may show: every value (as it is and
/// trimmed) and each value of its `headers` map. Values shorter than four bytes are left
/// alone: masking them would garble messages and hide nothing.
pub fn secret_values(data: &SecretData) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in data {
        let text = String::from_utf8_lossy(value).into_owned();
        if key == "headers"
            && let Ok(headers) = serde_saphyr::from_str::<BTreeMap<String, String>>(&text)
        {
            out.extend(headers.into_values());
        }
        out.push(text.trim().to_string());
        out.push(text);
    }
    out.retain(|s| s.len() >= 4);
    out
}

/// The factory: the notifier of `spec.type`.
fn notifier(
    spec: &ProviderSpec,
    url: String,
    headers: BTreeMap<String, String>,
    token: String,
    commit_status: &str,
) -> Result<Notifier, String> {
    let checked = |what: &str, quoted: bool| {
        check_request_uri(&url).map_err(|e| {
            if quoted {
                format!("invalid {what} {url}: '{e}'")
            } else {
                format!("invalid {what} {url}: {e}")
            }
        })
    };
    Ok(match spec.type_.as_str() {
        "generic" => {
            checked("hook URL", false)?;
            Notifier::Forward {
                url,
                headers,
                hmac_key: None,
            }
        }
        "generic-hmac" => {
            checked("hook URL", false)?;
            if token.is_empty() {
                return Err("HMAC key is empty".into());
            }
            Notifier::Forward {
                url,
                headers,
                hmac_key: Some(token.into_bytes()),
            }
        }
        "slack" => {
            checked("Slack hook URL", true)?;
            Notifier::Slack {
                url,
                token,
                username: spec.username.clone(),
                channel: spec.channel.clone(),
            }
        }
        "discord" => {
            checked("Discord hook URL", true)?;
            Notifier::Discord {
                url: discord_url(&url),
                username: spec.username.clone(),
            }
        }
        "msteams" => {
            checked("MS Teams webhook URL", true)?;
            let connector = teams_uses_connector(&url);
            Notifier::Teams { url, connector }
        }
        "github" => Notifier::CommitStatus(CommitStatus::new(
            Forge::GitHub,
            &url,
            &token,
            commit_status,
        )?),
        "gitlab" => Notifier::CommitStatus(CommitStatus::new(
            Forge::GitLab,
            &url,
            &token,
            commit_status,
        )?),
        "gitea" => Notifier::CommitStatus(CommitStatus::new(
            Forge::Gitea,
            &url,
            &token,
            commit_status,
        )?),
        other => return Err(unsupported(other).unwrap_or_default()),
    })
}

/// Go's `url.ParseRequestURI`, roughly: an absolute URL (or an absolute path).
fn check_request_uri(url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("parse \"\": empty url".into());
    }
    if url.starts_with('/') {
        return Ok(());
    }
    match url.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic()) =>
        {
            Ok(())
        }
        _ => Err(format!("parse {url:?}: invalid URI for request")),
    }
}

/// A notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notifier {
    /// generic and generic-hmac (`Forwarder`): the event itself.
    Forward {
        /// The address.
        url: String,
        /// Headers from the Secret.
        headers: BTreeMap<String, String>,
        /// generic-hmac's key (the Secret's token).
        hmac_key: Option<Vec<u8>>,
    },
    /// Slack (an incoming webhook, or `chat.postMessage` with a token).
    Slack {
        /// The address.
        url: String,
        /// A bot token (`Authorization: Bearer`), if any.
        token: String,
        /// `spec.username`.
        username: String,
        /// `spec.channel`.
        channel: String,
    },
    /// Discord through its Slack-compatible endpoint.
    Discord {
        /// The address, ending in `/slack`.
        url: String,
        /// `spec.username`.
        username: String,
    },
    /// Microsoft Teams: an Adaptive Card, or a MessageCard for the deprecated
    /// `*.webhook.office.com` connectors.
    Teams {
        /// The address.
        url: String,
        /// Whether the address is a deprecated Office 365 connector.
        connector: bool,
    },
    /// GitHub, GitLab or Gitea commit statuses.
    CommitStatus(CommitStatus),
}

/// How `postMessage` retries (notification-controller's `newHTTPClient`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The first wait (2 s).
    pub wait_min: Duration,
    /// The longest wait (30 s).
    pub wait_max: Duration,
    /// Retries after the first attempt (4).
    pub max_retries: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            wait_min: Duration::from_secs(2),
            wait_max: Duration::from_secs(30),
            max_retries: 4,
        }
    }
}

/// What decides a final answer's success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validator {
    /// Any 2xx.
    Success,
    /// Slack's `chat.postMessage`, which answers 200 with `{"ok": false}` on errors.
    SlackApi,
}

/// The Slack Web API method a bot token posts to.
const SLACK_API: &str = "https://slack.com/api/chat.postMessage";

/// A webhook request: address, body, headers, and what judges the answer.
type Request = (String, Vec<u8>, Vec<(String, String)>, Validator);

/// The header naming the controller that emitted the event.
pub const NOTIFICATION_HEADER: &str = "gotk-component";

impl Notifier {
    /// Posts `event`, retrying as `retry` says, giving up at `deadline` (the Provider's
    /// timeout) with Go's `context deadline exceeded`.
    pub async fn post(
        &self,
        event: &Event,
        retry: &Retry,
        deadline: Instant,
    ) -> Result<(), String> {
        let Some((url, body, headers, validator)) = self.request(event) else {
            return match self {
                Notifier::CommitStatus(status) => status.post(event, deadline).await,
                _ => Ok(()),
            };
        };
        post_message(&url, body, &headers, validator, retry, deadline)
            .await
            .map_err(|e| format!("postMessage failed: {e}"))
    }

    /// The request a webhook notifier sends for `event`: address, body, headers (in the
    /// order they are set; a later one replaces an earlier one of the same name) and
    /// validator. None for a commit status notifier, which calls an API.
    fn request(&self, event: &Event) -> Option<Request> {
        let json = |headers: Vec<(String, String)>| {
            let mut all = vec![("Content-Type".to_string(), "application/json".to_string())];
            all.extend(headers);
            all
        };
        match self {
            Notifier::Forward {
                url,
                headers,
                hmac_key,
            } => {
                let body = event.to_go_json().into_bytes();
                let mut set = vec![(
                    NOTIFICATION_HEADER.to_string(),
                    event.reporting_controller.clone(),
                )];
                set.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));
                if let Some(key) = hmac_key {
                    set.push(("X-Signature".into(), format!("sha256={}", sign(&body, key))));
                }
                Some((url.clone(), body, json(set), Validator::Success))
            }
            Notifier::Slack {
                url,
                token,
                username,
                channel,
            } => {
                let body = go_json(&slack_payload(event, username, channel, true)).into_bytes();
                let mut set = Vec::new();
                if !token.is_empty() {
                    set.push(("Authorization".to_string(), format!("Bearer {token}")));
                }
                let validator = if url == SLACK_API {
                    Validator::SlackApi
                } else {
                    Validator::Success
                };
                Some((url.clone(), body, json(set), validator))
            }
            Notifier::Discord { url, username } => {
                let body = go_json(&slack_payload(event, username, "", false)).into_bytes();
                Some((url.clone(), body, json(Vec::new()), Validator::Success))
            }
            Notifier::Teams { url, connector } => {
                let payload = if *connector {
                    teams_connector_payload(event)
                } else {
                    teams_adaptive_card_payload(event)
                };
                let body = go_json(&payload).into_bytes();
                Some((url.clone(), body, json(Vec::new()), Validator::Success))
            }
            Notifier::CommitStatus(_) => None,
        }
    }
}

/// generic-hmac's signature: the hex HMAC-SHA256 of the body with the key.
pub fn sign(body: &[u8], key: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// `<kind in lower case>/<name>.<namespace>`, as the chat notifiers name the object.
fn object_title(event: &Event) -> String {
    let o = &event.involved_object;
    format!("{}/{}.{}", o.kind.to_lowercase(), o.name, o.namespace)
}

/// The `SlackPayload` the Slack notifier (`with_slack_fields`: channel and fallback) and
/// the Discord notifier (neither) send. Go ranges over the metadata map in no fixed
/// order; the fields here are in key order.
fn slack_payload(event: &Event, username: &str, channel: &str, slack: bool) -> Value {
    let username = if username.is_empty() {
        event.reporting_controller.as_str()
    } else {
        username
    };
    let color = if event.severity == SEVERITY_ERROR {
        "danger"
    } else {
        "good"
    };
    let fields: Vec<Value> = event
        .metadata
        .iter()
        .map(|(k, v)| json!({"title": k, "value": v, "short": false}))
        .collect();
    let author = object_title(event);
    let fallback = if slack {
        let first_line = event.message.split('\n').next().unwrap_or("");
        format!("{author}: {first_line}")
    } else {
        String::new()
    };
    json!({
        "channel": channel,
        "username": username,
        "icon_url": "",
        "icon_emoji": "",
        "attachments": [{
            "fallback": fallback,
            "color": color,
            "author_name": author,
            "text": event.message,
            "mrkdwn_in": ["text"],
            "fields": fields,
        }],
    })
}

/// The Discord address: its Slack-compatible endpoint (`path.Join(path, "slack")` unless
/// it already ends in `/slack`).
fn discord_url(url: &str) -> String {
    if url.ends_with("/slack") {
        return url.to_string();
    }
    let (before_query, query) = match url.find(['?', '#']) {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let path_start = before_query
        .find("://")
        .map(|i| {
            before_query[i + 3..]
                .find('/')
                .map_or(before_query.len(), |p| i + 3 + p)
        })
        .unwrap_or(0);
    let (origin, path) = before_query.split_at(path_start);
    let joined = clean_path(&format!("{path}/slack"));
    let joined = if origin.is_empty() || joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    };
    format!("{origin}{joined}{query}")
}

/// Go's `path.Clean` of a joined path (duplicate slashes and `.` removed, `..` applied).
fn clean_path(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    if rooted { format!("/{joined}") } else { joined }
}

/// Whether a Teams address is a deprecated Office 365 connector (its host, without the
/// port, ends in `.webhook.office.com`).
fn teams_uses_connector(url: &str) -> bool {
    let authority = url.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host_port.split(':').next().unwrap_or("");
    host.ends_with(".webhook.office.com")
}

/// The MessageCard of a deprecated Teams connector.
fn teams_connector_payload(event: &Event) -> Value {
    let title = object_title(event);
    let facts: Vec<Value> = event
        .metadata
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    let color = if event.severity == SEVERITY_ERROR {
        "FF0000"
    } else {
        "0076D7"
    };
    json!({
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": color,
        "summary": title,
        "sections": [{
            "activityTitle": event.message,
            "activitySubtitle": title,
            "facts": facts,
        }],
    })
}

/// The Adaptive Card (schema 1.4) of a Teams workflow webhook: the object, the message
/// (in the `attention` color for errors) and the metadata as facts, `summary` first.
fn teams_adaptive_card_payload(event: &Event) -> Value {
    let title = object_title(event);
    let mut message = serde_json::Map::new();
    message.insert("type".into(), json!("TextBlock"));
    message.insert("text".into(), json!(event.message));
    if event.severity == SEVERITY_ERROR {
        message.insert("color".into(), json!("attention"));
    }
    message.insert("wrap".into(), json!(true));
    let mut facts = Vec::new();
    if let Some(summary) = event.metadata.get("summary") {
        facts.push(json!({"title": "summary", "value": summary}));
    }
    for (k, v) in event.metadata.iter().filter(|(k, _)| *k != "summary") {
        facts.push(json!({"title": k, "value": v}));
    }
    let mut fact_set = serde_json::Map::new();
    fact_set.insert("type".into(), json!("FactSet"));
    if !facts.is_empty() {
        fact_set.insert("facts".into(), json!(facts));
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{
                    "type": "Container",
                    "items": [
                        {"type": "TextBlock", "text": title, "size": "large",
                         "weight": "bolder", "wrap": true},
                        Value::Object(message),
                        Value::Object(fact_set),
                    ],
                }],
                "msteams": {"width": "Full"},
            },
        }],
    })
}

/// go-retryablehttp's `DefaultBackoff` between `retry`'s bounds.
fn backoff(retry: &Retry, attempt: u32, answer: Option<&Answer>) -> Duration {
    flotilla_source::outbound::backoff(retry.wait_min, retry.wait_max, attempt, answer)
}

/// The error of a deadline that passed (Go's `context.DeadlineExceeded`).
const DEADLINE: &str = "failed to execute request: context deadline exceeded";

/// notification-controller's `postMessage` over go-retryablehttp: `POST` `body` with
/// `headers`, retried as `retry` says until `deadline`; the final answer judged by
/// `validator`.
async fn post_message(
    url: &str,
    body: Vec<u8>,
    headers: &[(String, String)],
    validator: Validator,
    retry: &Retry,
    deadline: Instant,
) -> Result<(), String> {
    let shown = flotilla_source::redact_str(url);
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let sent = tokio::time::timeout_at(
            deadline,
            flotilla_source::outbound::send(Outbound {
                method: "POST",
                url,
                headers,
                body: &body,
                limit: 64 * 1024,
                timeout: None,
                secrets: &[],
            }),
        )
        .await
        .map_err(|_| DEADLINE.to_string())?;
        if !worth_retrying(&sent) {
            return match sent {
                Ok(answer) => {
                    validate(validator, &answer).map_err(|e| format!("request failed: {e}"))
                }
                Err(e) => Err(format!(
                    "failed to execute request: POST {shown} giving up after {attempt} attempt(s): {e}"
                )),
            };
        }
        if attempt > retry.max_retries {
            return Err(match sent {
                Ok(_) => format!(
                    "failed to execute request: POST {shown} giving up after {attempt} attempt(s)"
                ),
                Err(e) => format!(
                    "failed to execute request: POST {shown} giving up after {attempt} attempt(s): {e}"
                ),
            });
        }
        let wait = backoff(retry, attempt - 1, sent.as_ref().ok());
        // Not the address: a Secret may hold it.
        tracing::debug!(?wait, attempt, "retrying a notification");
        tokio::time::timeout_at(deadline, tokio::time::sleep(wait))
            .await
            .map_err(|_| DEADLINE.to_string())?;
    }
}

fn validate(validator: Validator, answer: &Answer) -> Result<(), String> {
    match validator {
        Validator::Success if (200..300).contains(&answer.status) => Ok(()),
        Validator::Success => Err(format!(
            "request failed with status code {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )),
        Validator::SlackApi => {
            #[derive(Deserialize)]
            struct SlackAnswer {
                #[serde(default)]
                ok: bool,
                #[serde(default)]
                error: String,
            }
            let parsed: SlackAnswer = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("unable to unmarshal response body: {e}"))?;
            if parsed.ok {
                Ok(())
            } else {
                Err(format!("Slack responded with error: {}", parsed.error))
            }
        }
    }
}

/// Masks every secret in `text` as `*****` (fluxcd/pkg `masktoken`).
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    // Longest first: a secret that contains another is masked whole.
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in sorted {
        out = out.replace(secret.as_str(), "*****");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flux::notify::event::tests::upstream_test_event;
    use flotilla_source::outbound::SendError;

    fn provider(spec: Value) -> Provider {
        Provider::from_object(
            &json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
                                      "spec": spec}),
        )
        .unwrap()
    }

    fn secret(pairs: &[(&str, &str)]) -> Result<Option<SecretData>, String> {
        Ok(Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        ))
    }

    /// notification-controller's `TestForwarder_Post` signature vector: the event of
    /// `testEvent()` at Unix time 1664520029, signed with its key.
    #[test]
    fn generic_hmac_signs_what_upstream_signs() {
        let key = b"7152fed34dd6149a7c75a276c510da27cb6f82b0";
        let body = upstream_test_event().to_go_json();
        assert_eq!(
            format!("sha256={}", sign(body.as_bytes(), key)),
            "sha256=65b018549b1254e7226d1c08f9567ee45bc9de0fc4e7b1a40253f9a018b08be7"
        );
    }

    #[test]
    fn forwarder_headers_are_set_in_upstreams_order() {
        let built = build(
            &provider(json!({"type": "generic-hmac", "address": "http://spec.example/"})),
            secret(&[
                ("token", "7152fed34dd6149a7c75a276c510da27cb6f82b0"),
                (
                    "headers",
                    "Authorization: token\nX-Signature: should be overwritten\n",
                ),
                ("address", " http://from-secret.example/hook \n"),
            ]),
            "",
        )
        .unwrap();
        let (url, body, headers, _) = built.request(&upstream_test_event()).unwrap();
        assert_eq!(
            url, "http://from-secret.example/hook",
            "the Secret's, trimmed"
        );
        let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "Content-Type",
                "gotk-component",
                "Authorization",
                "X-Signature",
                "X-Signature"
            ]
        );
        assert_eq!(headers[1].1, "source-controller");
        assert_eq!(
            headers[4].1,
            format!(
                "sha256={}",
                sign(&body, b"7152fed34dd6149a7c75a276c510da27cb6f82b0")
            )
        );
        let secrets = secret_values(
            &secret(&[
                ("token", "7152fed3"),
                ("headers", "Authorization: Bearer abcdef\n"),
                ("address", " http://from-secret.example/hook \n"),
            ])
            .unwrap()
            .unwrap(),
        );
        for shown in [
            "7152fed3",
            "Bearer abcdef",
            "http://from-secret.example/hook",
        ] {
            assert!(secrets.contains(&shown.to_string()), "{shown}");
        }
    }

    #[test]
    fn what_cannot_be_built_says_why() {
        let err = |spec: Value, secret: Result<Option<SecretData>, String>| {
            build(&provider(spec), secret, "").unwrap_err()
        };
        assert_eq!(
            err(
                json!({"type": "generic-hmac", "address": "http://x/"}),
                Ok(None)
            ),
            "failed to initialize notifier: HMAC key is empty"
        );
        assert_eq!(
            err(json!({"type": "generic"}), Ok(None)),
            "failed to initialize notifier: invalid hook URL : parse \"\": empty url"
        );
        assert_eq!(
            err(json!({"type": "nosuch", "address": "http://x/"}), Ok(None)),
            "failed to initialize notifier: provider nosuch not supported"
        );
        assert!(
            err(json!({"type": "rocket", "address": "http://x/"}), Ok(None)).starts_with(
                "failed to initialize notifier: provider rocket not supported by this hub"
            )
        );
        assert!(
            err(
                json!({"type": "generic", "address": "http://x/", "proxy": "http://p:3128"}),
                Ok(None)
            )
            .starts_with("spec.proxy is not supported")
        );
        assert!(
            err(
                json!({"type": "slack", "address": "http://x/"}),
                secret(&[("proxy", "http://p")])
            )
            .contains("'proxy' key is not supported")
        );
        assert!(
            err(
                json!({"type": "generic", "address": "http://x/",
                       "certSecretRef": {"name": "ca"}}),
                Ok(None)
            )
            .starts_with("spec.certSecretRef is not supported")
        );
        assert_eq!(
            err(
                json!({"type": "generic"}),
                secret(&[("headers", "- not\n- a map\n")])
            )
            .split(':')
            .next(),
            Some("failed to read headers from secret")
        );
        assert_eq!(
            err(
                json!({"type": "generic"}),
                Err("failed to get secret 'ns/s': gone".into())
            ),
            "failed to get secret 'ns/s': gone"
        );
    }

    /// `TestSlack_Post`: author `gitrepository/webapp.gitops-system`, the metadata value
    /// as the first field; plus the rest of the payload as the notifier builds it.
    #[test]
    fn slack_payload_is_upstreams() {
        let built = build(
            &provider(json!({"type": "slack", "address": "http://x/", "channel": "test"})),
            Ok(None),
            "",
        )
        .unwrap();
        let (_, body, headers, validator) = built.request(&upstream_test_event()).unwrap();
        let payload: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            payload["attachments"][0]["author_name"],
            "gitrepository/webapp.gitops-system"
        );
        assert_eq!(payload["attachments"][0]["fields"][0]["value"], "metadata");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"channel":"test","username":"source-controller","icon_url":"","icon_emoji":"","attachments":[{"fallback":"gitrepository/webapp.gitops-system: message","color":"good","author_name":"gitrepository/webapp.gitops-system","text":"message","mrkdwn_in":["text"],"fields":[{"title":"test","value":"metadata","short":false}]}]}"#
        );
        assert_eq!(headers.len(), 1, "no token, no Authorization");
        assert_eq!(validator, Validator::Success);
        let api = build(
            &provider(json!({"type": "slack", "address": SLACK_API})),
            secret(&[("token", "xoxb-1")]),
            "",
        )
        .unwrap();
        let (_, _, headers, validator) = api.request(&upstream_test_event()).unwrap();
        assert_eq!(headers[1], ("Authorization".into(), "Bearer xoxb-1".into()));
        assert_eq!(validator, Validator::SlackApi);
    }

    /// `TestSlack_ValidateResponse`.
    #[test]
    fn slack_api_answers_are_judged_by_ok() {
        let answer = |body: &str| Answer {
            status: 200,
            retry_after: None,
            body: body.as_bytes().to_vec(),
            truncated: false,
        };
        assert!(validate(Validator::SlackApi, &answer("{\n  \"ok\": true\n}")).is_ok());
        assert_eq!(
            validate(
                Validator::SlackApi,
                &answer("{\n  \"ok\": false,\n  \"error\": \"too_many_attachments\"\n}")
            ),
            Err("Slack responded with error: too_many_attachments".into())
        );
        assert_eq!(
            validate(Validator::Success, &answer("x")),
            Ok(()),
            "any 2xx"
        );
        let bad = Answer {
            status: 400,
            retry_after: None,
            body: b"nope".to_vec(),
            truncated: false,
        };
        assert_eq!(
            validate(Validator::Success, &bad),
            Err("request failed with status code 400: nope".into())
        );
    }

    /// `TestDiscord_Post`: the `/slack` endpoint, the Slack payload without channel and
    /// fallback.
    #[test]
    fn discord_posts_slack_payloads_to_its_slack_endpoint() {
        assert_eq!(
            discord_url("https://discord.com/api/webhooks/1/tok"),
            "https://discord.com/api/webhooks/1/tok/slack"
        );
        assert_eq!(
            discord_url("http://127.0.0.1:80"),
            "http://127.0.0.1:80/slack"
        );
        assert_eq!(
            discord_url("http://h/a//b/?wait=true"),
            "http://h/a/b/slack?wait=true"
        );
        assert_eq!(discord_url("http://h/x/slack"), "http://h/x/slack");
        let built = build(
            &provider(
                json!({"type": "discord", "address": "http://h/hook", "username": "test",
                             "channel": "test"}),
            ),
            Ok(None),
            "",
        )
        .unwrap();
        let (url, body, _, _) = built.request(&upstream_test_event()).unwrap();
        assert!(url.ends_with("/slack"));
        let payload: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            payload["attachments"][0]["author_name"],
            "gitrepository/webapp.gitops-system"
        );
        assert_eq!(payload["attachments"][0]["fields"][0]["value"], "metadata");
        assert_eq!(payload["channel"], "", "Discord ignores the channel");
        assert_eq!(payload["username"], "test");
        assert_eq!(payload["attachments"][0]["fallback"], "");
    }

    /// `TestNewMSTeams` and `TestMSTeams_Post`.
    #[test]
    fn teams_payloads_are_upstreams() {
        for (url, connector) in [
            ("https://xxx.webhook.office.com", true),
            ("https://xxx.webhook.office.com:443", true),
            ("https://xxx-webhook.office.com", false),
            (
                "https://prod-28.northeurope.logic.azure.com:443/workflows/xxx/triggers/manual/paths/invoke",
                false,
            ),
        ] {
            assert_eq!(teams_uses_connector(url), connector, "{url}");
        }
        let card = teams_adaptive_card_payload(&upstream_test_event());
        assert_eq!(
            card,
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "msteams": {"width": "Full"},
                        "body": [{
                            "type": "Container",
                            "items": [
                                {"type": "TextBlock", "size": "large",
                                 "text": "gitrepository/webapp.gitops-system",
                                 "weight": "bolder", "wrap": true},
                                {"type": "TextBlock", "text": "message", "wrap": true},
                                {"type": "FactSet",
                                 "facts": [{"title": "test", "value": "metadata"}]},
                            ],
                        }],
                    },
                }],
            })
        );
        let connector = teams_connector_payload(&upstream_test_event());
        assert_eq!(
            connector["sections"][0]["activitySubtitle"],
            "gitrepository/webapp.gitops-system"
        );
        assert_eq!(connector["sections"][0]["facts"][0]["value"], "metadata");
        assert_eq!(connector["themeColor"], "0076D7");
        let mut error = upstream_test_event();
        error.severity = "error".into();
        error.metadata.insert("summary".into(), "s".into());
        let card = teams_adaptive_card_payload(&error);
        let items = &card["attachments"][0]["content"]["body"][0]["items"];
        assert_eq!(items[1]["color"], "attention");
        assert_eq!(items[2]["facts"][0]["title"], "summary", "summary first");
        assert_eq!(teams_connector_payload(&error)["themeColor"], "FF0000");
    }

    #[test]
    fn waits_double_from_the_minimum_and_honour_retry_after() {
        let retry = Retry::default();
        let waits: Vec<u64> = (0..5).map(|i| backoff(&retry, i, None).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 30]);
        let busy = Answer {
            status: 503,
            retry_after: Some("7".into()),
            body: Vec::new(),
            truncated: false,
        };
        assert_eq!(backoff(&retry, 0, Some(&busy)), Duration::from_secs(7));
        let failed = Answer {
            status: 500,
            ..busy.clone()
        };
        assert_eq!(backoff(&retry, 0, Some(&failed)), Duration::from_secs(2));
        assert!(worth_retrying(&Ok(failed)));
        assert!(!worth_retrying(&Ok(Answer {
            status: 501,
            ..busy.clone()
        })));
        assert!(worth_retrying(&Ok(Answer {
            status: 429,
            ..busy.clone()
        })));
        assert!(!worth_retrying(&Ok(Answer {
            status: 404,
            ..busy
        })));
        assert!(!worth_retrying(&Err(SendError::Refused("egress".into()))));
        assert!(worth_retrying(&Err(SendError::Failed("reset".into()))));
    }

    #[test]
    fn secrets_are_masked_longest_first() {
        let secrets = vec!["tok".to_string(), "https://hooks/tok".to_string()];
        assert_eq!(
            mask("POST https://hooks/tok failed, key tok", &secrets),
            "POST ***** failed, key *****"
        );
    }
}
