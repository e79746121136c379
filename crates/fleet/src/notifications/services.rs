//! Notification services (`service.<type>[.<name>]` in `argocd-notifications-cm`): their
//! options, with `$key` references to `argocd-notifications-secret` replaced as
//! notifications-engine replaces them, and the HTTP request each sends
//! (`pkg/services/webhook.go`; `pkg/services/slack.go` through slack-go's
//! `chat.postMessage`). The requests are built here and sent by the hub, through its
//! egress policy.
//!
//! Flotilla sends webhooks and Slack messages. The other services notifications-engine
//! knows are refused by name, and so is `insecureSkipVerify: true`: the hub verifies
//! every certificate it is shown.

use std::collections::BTreeMap;
use std::time::Duration;

use super::subscriptions::Destination;
use super::templates::Notification;

/// What a configured service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// `service.webhook.<name>`.
    Webhook(WebhookOptions),
    /// `service.slack`.
    Slack(SlackOptions),
    /// `service.github`: commit statuses, as a GitHub App.
    GitHub(GitHubOptions),
}

/// GitHub's options (`GitHubOptions`): a GitHub App's installation.
#[derive(Clone, PartialEq, Eq)]
pub struct GitHubOptions {
    /// The App's id.
    pub app_id: i64,
    /// The installation's id.
    pub installation_id: i64,
    /// The App's private key (PEM).
    pub private_key: String,
    /// A GitHub Enterprise API (`https://git.example.com/api/v3`), else github.com's.
    pub enterprise_base_url: String,
}

impl std::fmt::Debug for GitHubOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubOptions")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("enterprise_base_url", &self.enterprise_base_url)
            .finish_non_exhaustive()
    }
}

/// github.com's API.
const GITHUB_API: &str = "https://api.github.com";

impl GitHubOptions {
    /// Where the installation's token is asked for (ghinstallation: the configured base
    /// URL as written, then `/app/installations/<id>/access_tokens`).
    pub fn token_url(&self) -> String {
        let base = if self.enterprise_base_url.is_empty() {
            GITHUB_API
        } else {
            &self.enterprise_base_url
        };
        format!(
            "{base}/app/installations/{}/access_tokens",
            self.installation_id
        )
    }

    /// The REST API's base, ending in `/` (go-github's `WithEnterpriseURLs` adds
    /// `api/v3/` to an enterprise URL that lacks it).
    pub fn api_base(&self) -> String {
        if self.enterprise_base_url.is_empty() {
            return format!("{GITHUB_API}/");
        }
        let mut base = self.enterprise_base_url.clone();
        if !base.ends_with('/') {
            base.push('/');
        }
        let host = base
            .split_once("://")
            .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
        if !base.ends_with("/api/v3/") && !host.starts_with("api.") && !host.contains(".api.") {
            base.push_str("api/v3/");
        }
        base
    }
}

/// The commit status GitHub's service sets for `notification` (`gitHubService.Send`):
/// the URL and JSON body of `POST /repos/{owner}/{repo}/statuses/{sha}`, the message as
/// the description (at most 140 characters).
pub fn github_status_request(
    options: &GitHubOptions,
    notification: &Notification,
) -> Result<(String, String), String> {
    let Some(github) = &notification.github else {
        return Err("config is empty".into());
    };
    if !github.unsupported.is_empty() {
        return Err(format!(
            "{} is not supported by Flotilla (it sets commit statuses)",
            github.unsupported.join(", ")
        ));
    }
    let Some(status) = &github.status else {
        return Err("github.status is not set: Flotilla sets commit statuses only".into());
    };
    let full_name = super::expr::full_name_by_repo_url(&github.repo_url)?;
    let Some((owner, repo)) = full_name.split_once('/') else {
        return Err(format!(
            "GitHub.repoURL ({}) does not have a `/`",
            github.repo_url
        ));
    };
    let description: String = if notification.message.chars().count() > 140 {
        let kept: String = notification.message.chars().take(137).collect();
        format!("{kept}...")
    } else {
        notification.message.clone()
    };
    // go-github's RepoStatus, in its field order.
    let body = serde_json::json!({
        "state": status.state,
        "target_url": status.target_url,
        "description": description,
        "context": status.label,
    });
    Ok((
        format!(
            "{}repos/{owner}/{repo}/statuses/{}",
            options.api_base(),
            github.revision
        ),
        body.to_string(),
    ))
}

/// A configured service: its type, its options or why it cannot be used, and the
/// secret values its requests carry (scrubbed from every error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// `webhook`, `slack`, …
    pub service_type: String,
    /// The options, or why the service is refused.
    pub service: Result<Service, String>,
    /// Values never to show.
    pub secrets: Vec<String>,
}

/// A header a webhook sends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Header {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// HTTP basic credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct BasicAuth {
    /// The user.
    pub username: String,
    /// The password.
    pub password: String,
}

/// A webhook's options (`WebhookOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOptions {
    /// The URL requests go to (a template's `path` is appended).
    pub url: String,
    /// Headers set on every request.
    pub headers: Vec<Header>,
    /// Basic credentials.
    pub basic_auth: Option<BasicAuth>,
    /// The first wait before a retry (default 1 s).
    pub retry_wait_min: Duration,
    /// The longest wait between retries (default 5 s).
    pub retry_wait_max: Duration,
    /// Retries after the first attempt (default 3).
    pub retry_max: u32,
}

/// Slack's options (`SlackOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackOptions {
    /// The bot token.
    pub token: String,
    /// The default username.
    pub username: String,
    /// The default icon (an emoji `:name:` or a URL).
    pub icon: String,
    /// The API's base URL (default `https://slack.com/api/`).
    pub api_url: String,
    /// Links and media are not unfurled.
    pub disable_unfurl: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawWebhook {
    url: String,
    headers: Vec<Header>,
    basic_auth: Option<BasicAuth>,
    // Go's time.Duration reads JSON as nanoseconds.
    retry_wait_min: i64,
    retry_wait_max: i64,
    retry_max: i64,
    insecure_skip_verify: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawSlack {
    token: String,
    username: String,
    icon: String,
    #[serde(rename = "apiURL")]
    api_url: String,
    disable_unfurl: bool,
    insecure_skip_verify: bool,
}

/// The service types notifications-engine implements (`services.NewService`).
const KNOWN_TYPES: &[&str] = &[
    "awssqs",
    "email",
    "slack",
    "mattermost",
    "rocketchat",
    "grafana",
    "opsgenie",
    "webhook",
    "telegram",
    "github",
    "teams",
    "teams-workflows",
    "googlechat",
    "pushover",
    "alertmanager",
    "pagerduty",
    "pagerdutyv2",
    "newrelic",
    "webex",
    "nats",
    "gcppubsub",
];

/// Slack's API when `apiURL` is not set (slack-go's `APIURL`).
pub const SLACK_API: &str = "https://slack.com/api/";

/// Replaces every `$key` in the strings of `value` with `argocd-notifications-secret`'s
/// `key` (`replaceStringSecret`: a reference to a missing key is left as written and
/// reported); returns the values put in.
fn replace_secrets(
    value: &mut serde_json::Value,
    secrets: &BTreeMap<String, String>,
    used: &mut Vec<String>,
    missing: &mut Vec<String>,
) {
    match value {
        serde_json::Value::String(s) => {
            let pattern = regex::Regex::new(r"\$[0-9A-Za-z_-]+").expect("a valid pattern");
            let replaced = pattern.replace_all(s, |c: &regex::Captures| {
                let reference = &c[0];
                match secrets.get(&reference[1..]) {
                    Some(v) => {
                        used.push(v.clone());
                        v.clone()
                    }
                    None => {
                        missing.push(reference.to_string());
                        reference.to_string()
                    }
                }
            });
            *s = replaced.into_owned();
        }
        serde_json::Value::Array(items) => {
            for item in items {
                replace_secrets(item, secrets, used, missing);
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values_mut() {
                replace_secrets(item, secrets, used, missing);
            }
        }
        _ => {}
    }
}

/// Reads the service `service.<service_type>[.<name>]` from its YAML; problems worth a
/// warning (a missing secret key) are added to `problems`.
pub fn parse(
    key: &str,
    service_type: &str,
    yaml: &str,
    secrets: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> ServiceEntry {
    let mut used = Vec::new();
    let entry = |service: Result<Service, String>, used: Vec<String>| ServiceEntry {
        service_type: service_type.to_string(),
        service,
        secrets: used,
    };
    if !KNOWN_TYPES.contains(&service_type) {
        return entry(
            Err(format!("service type '{service_type}' is not supported")),
            used,
        );
    }
    if !matches!(service_type, "webhook" | "slack" | "github") {
        return entry(
            Err(format!(
                "notification service type '{service_type}' is not supported by Flotilla (it sends webhook, slack and github)"
            )),
            used,
        );
    }
    let mut value = match super::yaml_value(yaml) {
        Ok(v) => v,
        Err(e) => return entry(Err(format!("failed to read {key}: {e}")), used),
    };
    let mut missing = Vec::new();
    replace_secrets(&mut value, secrets, &mut used, &mut missing);
    for reference in missing {
        problems.push(format!(
            "{key} references '{reference}', but argocd-notifications-secret has no such key"
        ));
    }
    let service = match service_type {
        "webhook" => parse_webhook(value, &mut used),
        "github" => parse_github(value, &mut used),
        _ => parse_slack(value, &mut used),
    };
    used.retain(|s| !s.is_empty());
    used.sort();
    used.dedup();
    entry(service.map_err(|e| format!("{key}: {e}")), used)
}

fn parse_webhook(value: serde_json::Value, secrets: &mut Vec<String>) -> Result<Service, String> {
    let raw: RawWebhook = if value.is_null() {
        RawWebhook::default()
    } else {
        serde_json::from_value(value).map_err(|e| e.to_string())?
    };
    if raw.insecure_skip_verify {
        return Err("insecureSkipVerify is refused: the hub verifies every certificate".into());
    }
    for header in &raw.headers {
        secrets.push(header.value.clone());
    }
    if let Some(auth) = &raw.basic_auth {
        secrets.push(auth.password.clone());
    }
    let nanos = |n: i64, default: Duration| {
        if n == 0 {
            default
        } else {
            Duration::from_nanos(n.max(0) as u64)
        }
    };
    Ok(Service::Webhook(WebhookOptions {
        url: raw.url,
        headers: raw.headers,
        basic_auth: raw.basic_auth,
        retry_wait_min: nanos(raw.retry_wait_min, Duration::from_secs(1)),
        retry_wait_max: nanos(raw.retry_wait_max, Duration::from_secs(5)),
        retry_max: if raw.retry_max == 0 {
            3
        } else {
            raw.retry_max.clamp(0, 10) as u32
        },
    }))
}

fn parse_slack(value: serde_json::Value, secrets: &mut Vec<String>) -> Result<Service, String> {
    let raw: RawSlack = if value.is_null() {
        RawSlack::default()
    } else {
        serde_json::from_value(value).map_err(|e| e.to_string())?
    };
    if raw.insecure_skip_verify {
        return Err("insecureSkipVerify is refused: the hub verifies every certificate".into());
    }
    secrets.push(raw.token.clone());
    Ok(Service::Slack(SlackOptions {
        token: raw.token,
        username: raw.username,
        icon: raw.icon,
        api_url: if raw.api_url.is_empty() {
            SLACK_API.into()
        } else {
            raw.api_url
        },
        disable_unfurl: raw.disable_unfurl,
    }))
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RawGitHub {
    #[serde(rename = "appID")]
    app_id: serde_json::Value,
    #[serde(rename = "installationID")]
    installation_id: serde_json::Value,
    private_key: String,
    #[serde(rename = "enterpriseBaseURL")]
    enterprise_base_url: String,
    insecure_skip_verify: bool,
}

/// An id as spf13/cast's `ToInt64E` reads it: a number or a numeric string; nothing is 0.
fn int64(field: &str, value: &serde_json::Value) -> Result<i64, String> {
    match value {
        serde_json::Value::Null => Ok(0),
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("unable to cast {n} of type float64 to int64 ({field})")),
        serde_json::Value::String(s) => {
            let trimmed = s.strip_suffix(".0").unwrap_or(s);
            trimmed
                .parse()
                .map_err(|_| format!("unable to cast {s:?} of type string to int64 ({field})"))
        }
        other => Err(format!("unable to cast {other} to int64 ({field})")),
    }
}

fn parse_github(value: serde_json::Value, secrets: &mut Vec<String>) -> Result<Service, String> {
    let raw: RawGitHub = if value.is_null() {
        RawGitHub::default()
    } else {
        serde_json::from_value(value).map_err(|e| e.to_string())?
    };
    if raw.insecure_skip_verify {
        return Err("insecureSkipVerify is refused: the hub verifies every certificate".into());
    }
    secrets.push(raw.private_key.clone());
    Ok(Service::GitHub(GitHubOptions {
        app_id: int64("appID", &raw.app_id)?,
        installation_id: int64("installationID", &raw.installation_id)?,
        private_key: raw.private_key,
        enterprise_base_url: raw.enterprise_base_url,
    }))
}

/// One HTTP request to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers, in order (a later one of the same name replaces an earlier one).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl std::fmt::Debug for Outbound {
    /// Without header values or the body, which may carry secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("method", &self.method)
            .field("url", &self.url)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Outbound {
    fn set_header(&mut self, name: &str, value: String) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value));
    }
}

/// The request a webhook sends for `notification` to `to` (`webhookService.Send`): the
/// message as body with `GET`, unless the notification has a section for this webhook
/// (by the service's name), whose method, body and path (appended to the URL) win.
pub fn webhook_request(
    options: &WebhookOptions,
    notification: &Notification,
    to: &Destination,
) -> Outbound {
    let mut request = Outbound {
        method: "GET".into(),
        url: options.url.clone(),
        headers: Vec::new(),
        body: notification.message.clone(),
    };
    if let Some(section) = notification.webhook.get(&to.service) {
        request.body = section.body.clone();
        if !section.method.is_empty() {
            request.method = section.method.clone();
        }
        if !section.path.is_empty() {
            request.url = format!(
                "{}/{}",
                request.url.trim_end_matches('/'),
                section.path.trim_start_matches('/')
            );
        }
    }
    for header in &options.headers {
        request.set_header(&header.name, header.value.clone());
    }
    if let Some(auth) = &options.basic_auth {
        use base64::Engine as _;
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", auth.username, auth.password));
        request.set_header("Authorization", format!("Basic {credentials}"));
    }
    request
}

/// Go's `url.QueryEscape` (a form value, as `url.Values.Encode` writes it).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Whether `icon` is a URL slack-go takes as `icon_url` (`isValidIconURL`).
fn is_icon_url(icon: &str) -> bool {
    let Some((scheme, rest)) = icon.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.starts_with('/')
}

/// The `chat.postMessage` request Slack's service sends for `notification` to the
/// channel `to.recipient` (`buildMessageOptions`, slack-go's form sender): a form with
/// the token, channel and text, the username and icon (the template's, else the
/// service's), and — when the notification has a Slack section — its attachments and
/// blocks as JSON (`[]` when empty) and its thread. Fields sorted by name, as
/// `url.Values.Encode` writes them.
pub fn slack_request(
    options: &SlackOptions,
    notification: &Notification,
    to: &Destination,
    thread: Option<&str>,
) -> Result<Outbound, String> {
    let mut form: BTreeMap<&str, String> = BTreeMap::new();
    form.insert("token", options.token.clone());
    form.insert("channel", to.recipient.clone());
    form.insert("text", notification.message.clone());
    let section = notification.slack.as_ref();
    let username = section
        .map(|s| s.username.as_str())
        .filter(|u| !u.is_empty())
        .unwrap_or(&options.username);
    if !username.is_empty() {
        form.insert("username", username.to_string());
    }
    let icon = section
        .map(|s| s.icon.as_str())
        .filter(|i| !i.is_empty())
        .unwrap_or(&options.icon);
    if !icon.is_empty() {
        if icon.len() > 2 && icon.starts_with(':') && icon.ends_with(':') {
            form.insert("icon_emoji", icon.to_string());
        } else if is_icon_url(icon) {
            form.insert("icon_url", icon.to_string());
        }
    }
    if let Some(section) = section {
        let array = |what: &str, text: &str| -> Result<String, String> {
            if text.trim().is_empty() {
                return Ok("[]".into());
            }
            let value: Vec<serde_json::Value> = serde_json::from_str(text)
                .map_err(|e| format!("failed to unmarshal {what} '{text}' : {e}"))?;
            serde_json::to_string(&value).map_err(|e| e.to_string())
        };
        form.insert("attachments", array("attachments", &section.attachments)?);
        form.insert("blocks", array("blocks", &section.blocks)?);
        if let Some(ts) = thread.filter(|_| !section.grouping_key.is_empty()) {
            form.insert("thread_ts", ts.to_string());
            if section.notify_broadcast {
                form.insert("reply_broadcast", "true".into());
            }
        }
    }
    if options.disable_unfurl {
        form.insert("unfurl_links", "false".into());
        form.insert("unfurl_media", "false".into());
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&");
    Ok(Outbound {
        method: "POST".into(),
        url: format!("{}chat.postMessage", options.api_url),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body,
    })
}

/// What Slack answered a `chat.postMessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackPosted {
    /// The message's timestamp (a thread's parent for later messages).
    pub ts: String,
}

/// Reads Slack's answer: `ok` or its `error` (slack-go's `SlackResponse.Err`).
pub fn slack_answer(status: u16, body: &[u8]) -> Result<SlackPosted, String> {
    if status == 429 {
        return Err("slack rate limit exceeded".into());
    }
    if status != 200 {
        return Err(format!("slack server error: {status}"));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        ok: bool,
        #[serde(default)]
        error: String,
        #[serde(default)]
        ts: String,
    }
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| format!("reading Slack's answer: {e}"))?;
    if !answer.ok {
        return Err(answer.error);
    }
    Ok(SlackPosted { ts: answer.ts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::templates::{SlackNotification, WebhookNotification};

    fn secrets() -> BTreeMap<String, String> {
        [
            ("slack-token".to_string(), "xoxb-1".to_string()),
            ("pass".to_string(), "p@ss".to_string()),
        ]
        .into()
    }

    fn webhook(yaml: &str) -> WebhookOptions {
        match parse(
            "service.webhook.w",
            "webhook",
            yaml,
            &secrets(),
            &mut Vec::new(),
        )
        .service
        {
            Ok(Service::Webhook(w)) => w,
            other => panic!("{other:?}"),
        }
    }

    fn to(service: &str, recipient: &str) -> Destination {
        Destination {
            service: service.into(),
            recipient: recipient.into(),
        }
    }

    /// webhook.md: url, headers, basicAuth; a template's section for this webhook sets
    /// method, path and body (webhook_test.go).
    #[test]
    fn a_webhook_request_takes_the_sections_method_path_and_body() {
        let options = webhook(
            "url: https://example.com/api/\nheaders:\n- name: Content-Type\n  value: application/json\nbasicAuth:\n  username: admin\n  password: $pass\n",
        );
        assert_eq!(options.retry_max, 3);
        let mut notification = Notification {
            message: "hello".into(),
            ..Default::default()
        };
        let plain = webhook_request(&options, &notification, &to("w", ""));
        assert_eq!(
            (
                plain.method.as_str(),
                plain.url.as_str(),
                plain.body.as_str()
            ),
            ("GET", "https://example.com/api/", "hello")
        );
        notification.webhook.insert(
            "w".into(),
            WebhookNotification {
                method: "POST".into(),
                path: "/status/{{sha}}".into(),
                body: "{\"state\": \"success\"}".into(),
            },
        );
        let request = webhook_request(&options, &notification, &to("w", ""));
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "https://example.com/api/status/{{sha}}");
        assert_eq!(request.body, "{\"state\": \"success\"}");
        assert_eq!(
            request.headers,
            [
                ("Content-Type".to_string(), "application/json".to_string()),
                (
                    "Authorization".to_string(),
                    "Basic YWRtaW46cEBzcw==".to_string()
                )
            ]
        );
        let other = webhook_request(&options, &notification, &to("other", ""));
        assert_eq!(
            other.method, "GET",
            "another webhook's section is not this one's"
        );
        assert!(
            !format!("{request:?}").contains("YWRtaW4"),
            "no header values in Debug"
        );
    }

    #[test]
    fn secrets_are_replaced_and_missing_ones_reported() {
        let mut problems = Vec::new();
        let entry = parse(
            "service.slack",
            "slack",
            "token: $slack-token\nusername: $nobody\n",
            &secrets(),
            &mut problems,
        );
        assert_eq!(entry.secrets, ["xoxb-1"]);
        match entry.service {
            Ok(Service::Slack(s)) => {
                assert_eq!(s.token, "xoxb-1");
                assert_eq!(s.username, "$nobody");
                assert_eq!(s.api_url, SLACK_API);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            problems,
            ["service.slack references '$nobody', but argocd-notifications-secret has no such key"]
        );
    }

    #[test]
    fn other_services_and_skipped_verification_are_refused_by_name() {
        let refused = |key: &str, t: &str, yaml: &str| {
            parse(key, t, yaml, &secrets(), &mut Vec::new())
                .service
                .unwrap_err()
        };
        assert_eq!(
            refused("service.email.gmail", "email", "host: smtp.gmail.com\n"),
            "notification service type 'email' is not supported by Flotilla (it sends webhook, slack and github)"
        );
        assert_eq!(
            refused("service.carrier-pigeon", "carrier-pigeon", ""),
            "service type 'carrier-pigeon' is not supported"
        );
        assert_eq!(
            refused(
                "service.webhook.w",
                "webhook",
                "url: https://x\ninsecureSkipVerify: true\n"
            ),
            "service.webhook.w: insecureSkipVerify is refused: the hub verifies every certificate"
        );
        assert!(
            refused("service.webhook.w", "webhook", "retryWaitMin: 1s\n")
                .starts_with("service.webhook.w: invalid type")
        );
    }

    /// github.md's configuration and template; go-github's CreateStatus.
    #[test]
    fn a_github_commit_status_is_posted_to_the_repository_of_the_revision() {
        let mut problems = Vec::new();
        let entry = parse(
            "service.github",
            "github",
            "appID: '12345'\ninstallationID: 678\nprivateKey: $pass\n",
            &secrets(),
            &mut problems,
        );
        let Ok(Service::GitHub(options)) = entry.service else {
            panic!("{entry:?}")
        };
        assert_eq!((options.app_id, options.installation_id), (12345, 678));
        assert_eq!(entry.secrets, ["p@ss"]);
        assert_eq!(
            options.token_url(),
            "https://api.github.com/app/installations/678/access_tokens"
        );
        assert_eq!(options.api_base(), "https://api.github.com/");
        let enterprise = GitHubOptions {
            enterprise_base_url: "https://git.example.com/api/v3".into(),
            ..options.clone()
        };
        assert_eq!(
            enterprise.token_url(),
            "https://git.example.com/api/v3/app/installations/678/access_tokens"
        );
        assert_eq!(enterprise.api_base(), "https://git.example.com/api/v3/");
        let bare = GitHubOptions {
            enterprise_base_url: "https://git.example.com".into(),
            ..options.clone()
        };
        assert_eq!(bare.api_base(), "https://git.example.com/api/v3/");
        let notification = Notification {
            message: "x".repeat(150),
            github: Some(crate::notifications::templates::GitHubNotification {
                repo_url: "git@github.com:argoproj/argocd-example-apps.git".into(),
                revision: "0123abc".into(),
                status: Some(crate::notifications::templates::GitHubStatus {
                    state: "success".into(),
                    label: "continuous-delivery/guestbook".into(),
                    target_url: "https://argocd.example.com/applications/guestbook".into(),
                }),
                unsupported: Vec::new(),
            }),
            ..Default::default()
        };
        let (url, body) = github_status_request(&options, &notification).unwrap();
        assert_eq!(
            url,
            "https://api.github.com/repos/argoproj/argocd-example-apps/statuses/0123abc"
        );
        assert_eq!(
            body,
            format!(
                "{{\"state\":\"success\",\"target_url\":\"https://argocd.example.com/applications/guestbook\",\"description\":\"{}...\",\"context\":\"continuous-delivery/guestbook\"}}",
                "x".repeat(137)
            )
        );
        assert_eq!(
            github_status_request(&options, &Notification::default()).unwrap_err(),
            "config is empty"
        );
        assert!(
            parse(
                "service.github",
                "github",
                "appID: abc\n",
                &secrets(),
                &mut Vec::new()
            )
            .service
            .unwrap_err()
            .contains("unable to cast \"abc\"")
        );
    }

    /// slack.md's configuration; the form slack-go posts (chat.go: applyMsgOptions,
    /// formSender; url.Values sorted by key).
    #[test]
    fn a_slack_message_is_the_form_slack_go_posts() {
        let options = SlackOptions {
            token: "xoxb-1".into(),
            username: "argocd".into(),
            icon: ":robot_face:".into(),
            api_url: "http://127.0.0.1:9/api/".into(),
            disable_unfurl: false,
        };
        let plain = Notification {
            message: "App web synced & healthy".into(),
            ..Default::default()
        };
        let request = slack_request(&options, &plain, &to("slack", "ops"), None).unwrap();
        assert_eq!(request.url, "http://127.0.0.1:9/api/chat.postMessage");
        assert_eq!(
            request.body,
            "channel=ops&icon_emoji=%3Arobot_face%3A&text=App+web+synced+%26+healthy&token=xoxb-1&username=argocd"
        );
        let sectioned = Notification {
            message: "m".into(),
            slack: Some(SlackNotification {
                attachments: "[{\"title\": \"web\", \"color\": \"#18be52\"}]".into(),
                grouping_key: "web".into(),
                icon: "https://example.com/i.png".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let request =
            slack_request(&options, &sectioned, &to("slack", "ops"), Some("1.2")).unwrap();
        assert_eq!(
            request.body,
            "attachments=%5B%7B%22title%22%3A%22web%22%2C%22color%22%3A%22%2318be52%22%7D%5D&blocks=%5B%5D&channel=ops&icon_url=https%3A%2F%2Fexample.com%2Fi.png&text=m&thread_ts=1.2&token=xoxb-1&username=argocd"
        );
        let broken = Notification {
            slack: Some(SlackNotification {
                attachments: "[{".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(
            slack_request(&options, &broken, &to("slack", "ops"), None)
                .unwrap_err()
                .starts_with("failed to unmarshal attachments '[{' : ")
        );
        assert_eq!(
            slack_answer(200, br#"{"ok":true,"ts":"1.5"}"#),
            Ok(SlackPosted { ts: "1.5".into() })
        );
        assert_eq!(
            slack_answer(200, br#"{"ok":false,"error":"channel_not_found"}"#),
            Err("channel_not_found".into())
        );
        assert_eq!(
            slack_answer(500, b""),
            Err("slack server error: 500".into())
        );
    }
}
