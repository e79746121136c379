//! Webhook receivers: an axum router that other parts mount. A push whose signature
//! checks out marks the pushed repository's mirrors stale, so the next request checks
//! the remote at once, and tells [`MirrorCache::subscribe`] listeners. A pull request
//! opened, updated or closed (the events and actions after which Argo CD's ApplicationSet
//! webhook refreshes pull request generators) is also told to
//! [`MirrorCache::subscribe_pull_requests`] listeners, mirrored or not.
//!
//! Each receiver is served at `/hook/<digest>`, where the digest is the SHA-256 of its
//! secret and name (as Flux's notification-controller derives receiver paths), so a
//! path alone does not reveal which receiver it is.
//!
//! | provider | proof checked |
//! |---|---|
//! | GitHub | `X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body)>` |
//! | GitLab | `X-Gitlab-Token: <secret>` |
//! | Gitea | `X-Gitea-Signature: <HMAC-SHA256(secret, body)>` |
//! | Bitbucket Server | `X-Hub-Signature: sha256=<HMAC-SHA256(secret, body)>` |
//! | generic | the secret path itself |
//! | generic-hmac | `X-Signature: sha256=<HMAC-SHA256(secret, body)>` |
//!
//! A wrong or missing proof is answered 401 and triggers nothing. A delivery whose id
//! (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`, `X-Gitea-Delivery`, Bitbucket's
//! `X-Request-Id`) this receiver accepted before is answered 200 and triggers nothing
//! again: a captured delivery replayed many times costs one check of the remote.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::mirror::MirrorCache;
use crate::url::GitUrl;

/// Which sender a receiver expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// GitHub (and GitHub Enterprise).
    GitHub,
    /// GitLab.
    GitLab,
    /// Gitea and Forgejo.
    Gitea,
    /// Bitbucket Server / Data Center.
    Bitbucket,
    /// Any sender that knows the secret path.
    Generic,
    /// Any sender that signs the body like GitHub does, in `X-Signature`.
    GenericHmac,
}

/// One receiver.
#[derive(Clone)]
pub struct Receiver {
    /// Name (part of the path digest).
    pub name: String,
    /// What to expect.
    pub provider: Provider,
    /// The shared secret (token or HMAC key).
    pub secret: String,
    /// Repositories a valid call refreshes. Empty: those named in the payload.
    pub repositories: Vec<String>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("repositories", &self.repositories)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// The path this receiver is served at: `/hook/<sha256(secret + name)>`.
    pub fn path(&self) -> String {
        let digest = Sha256::digest(format!("{}{}", self.secret, self.name).as_bytes());
        format!("/hook/{}", crate::hex(&digest))
    }
}

struct Hub {
    cache: MirrorCache,
    receivers: Vec<(String, Receiver)>,
    /// Where a path no receiver here serves goes (the hub's Flux Receivers).
    others: Option<Router>,
    /// The ids of the deliveries accepted lately, by receiver.
    accepted: std::sync::Mutex<RecentDeliveries>,
}

/// How many accepted delivery ids are remembered (a replay older than that many
/// deliveries triggers a check again: harmless, as any push does).
const REMEMBERED_DELIVERIES: usize = 4096;

/// The ids of the last [`REMEMBERED_DELIVERIES`] deliveries accepted, oldest first.
#[derive(Default)]
struct RecentDeliveries {
    order: std::collections::VecDeque<(String, String)>,
    known: std::collections::HashSet<(String, String)>,
}

impl RecentDeliveries {
    /// Remembers `receiver`'s delivery `id`; false when it was already known.
    fn accept(&mut self, receiver: &str, id: &str) -> bool {
        let key = (receiver.to_string(), id.to_string());
        if !self.known.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED_DELIVERIES
            && let Some(oldest) = self.order.pop_front()
        {
            self.known.remove(&oldest);
        }
        true
    }
}

/// The largest delivery read (GitHub caps its payloads at 25 MB; Argo CD reads up to
/// 50 MB). A larger body is refused with 413 before it is buffered, verified or parsed.
pub const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;

/// The router: `POST /hook/{digest}` for each receiver.
pub fn router(cache: MirrorCache, receivers: Vec<Receiver>) -> Router {
    router_with(cache, receivers, None)
}

/// [`router`], handing every request to a path none of `receivers` serves to `others`
/// (the hub's Flux Receivers, served on the same `/hook/` paths) instead of answering 404.
pub fn router_with(cache: MirrorCache, receivers: Vec<Receiver>, others: Option<Router>) -> Router {
    let receivers = receivers
        .into_iter()
        .map(|r| (r.path().trim_start_matches("/hook/").to_string(), r))
        .collect();
    Router::new()
        .route("/hook/{digest}", any(receive))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
        .with_state(Arc::new(Hub {
            cache,
            receivers,
            others,
            accepted: Default::default(),
        }))
}

async fn receive(
    State(hub): State<Arc<Hub>>,
    Path(digest): Path<String>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((_, receiver)) = hub
        .receivers
        .iter()
        .find(|(d, _)| constant_time_eq(d.as_bytes(), digest.as_bytes()))
    else {
        let Some(others) = &hub.others else {
            return (StatusCode::NOT_FOUND, "no such receiver\n").into_response();
        };
        let mut request = axum::http::Request::builder().method(method).uri(uri);
        if let Some(all) = request.headers_mut() {
            *all = headers;
        }
        let Ok(request) = request.body(axum::body::Body::from(body)) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        // A Router is always ready; its error type is Infallible.
        let mut others = others.clone();
        return match tower_service::Service::call(&mut others, request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
    };
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    if let Err(reason) = verify(receiver, &headers, &body) {
        tracing::info!(receiver = %receiver.name, reason, "webhook refused");
        return (StatusCode::UNAUTHORIZED, format!("{reason}\n")).into_response();
    }
    if let Some(id) = delivery_id(receiver.provider, &headers)
        && !hub
            .accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .accept(&receiver.name, id)
    {
        tracing::info!(receiver = %receiver.name, delivery = id, "webhook delivery seen before: ignored");
        return axum::Json(serde_json::json!({ "triggered": [], "duplicate": id })).into_response();
    }
    let event = event_name(receiver.provider, &headers);
    if matches!(event.as_deref(), Some("ping")) {
        return (StatusCode::OK, "pong\n").into_response();
    }
    // A receiver with its repositories configured reads the body only for a pull request
    // event's action.
    let needs_payload = receiver.repositories.is_empty()
        || may_be_pull_request_event(receiver.provider, event.as_deref());
    let payload = match needs_payload.then(|| serde_json::from_slice::<serde_json::Value>(&body)) {
        Some(Ok(payload)) => Some(payload),
        Some(Err(_)) if receiver.repositories.is_empty() => {
            return (StatusCode::BAD_REQUEST, "body is not JSON\n").into_response();
        }
        _ => None,
    };
    let urls: Vec<String> = match &payload {
        Some(payload) if receiver.repositories.is_empty() => payload_urls(payload),
        _ => receiver.repositories.clone(),
    };
    let identities: BTreeSet<String> = urls
        .iter()
        .filter_map(|u| GitUrl::parse(u).ok())
        .map(|u| u.identity())
        .collect();
    let mut triggered = Vec::new();
    for identity in &identities {
        if hub.cache.trigger(identity) > 0 {
            triggered.push(identity.clone());
        }
    }
    let mut pull_requests = Vec::new();
    if let Some(payload) = payload
        .as_ref()
        .filter(|p| pull_requests_changed(receiver.provider, event.as_deref(), p))
    {
        pull_requests.extend(identities);
        pull_requests.extend(gitlab_project_id(payload));
        for identity in &pull_requests {
            hub.cache.announce_pull_requests(identity);
        }
    }
    tracing::info!(receiver = %receiver.name, ?triggered, ?pull_requests, "webhook accepted");
    axum::Json(serde_json::json!({ "triggered": triggered })).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The sender's id of this delivery, when it sends one.
fn delivery_id(provider: Provider, headers: &HeaderMap) -> Option<&str> {
    let name = match provider {
        Provider::GitHub => "x-github-delivery",
        Provider::GitLab => "x-gitlab-event-uuid",
        Provider::Gitea => "x-gitea-delivery",
        Provider::Bitbucket => "x-request-id",
        Provider::Generic | Provider::GenericHmac => return None,
    };
    header(headers, name).filter(|id| !id.is_empty())
}

fn event_name(provider: Provider, headers: &HeaderMap) -> Option<String> {
    let name = match provider {
        Provider::GitHub => "x-github-event",
        Provider::GitLab => "x-gitlab-event",
        Provider::Gitea => "x-gitea-event",
        Provider::Bitbucket => "x-event-key",
        Provider::Generic | Provider::GenericHmac => return None,
    };
    let value = header(headers, name)?;
    Some(
        if provider == Provider::Bitbucket && value == "diagnostics:ping" {
            "ping".to_string()
        } else {
            value.to_string()
        },
    )
}

/// GitHub's `pull_request` actions after which Argo CD refreshes pull request generators.
const GITHUB_PULL_REQUEST_ACTIONS: [&str; 6] = [
    "opened",
    "closed",
    "synchronize",
    "labeled",
    "reopened",
    "unlabeled",
];

/// GitLab's merge request actions after which Argo CD refreshes pull request generators.
const GITLAB_MERGE_REQUEST_ACTIONS: [&str; 5] = ["open", "close", "reopen", "update", "merge"];

/// Gitea's `pull_request` actions that change what a pull request generator lists (Argo
/// CD's ApplicationSet webhook has no Gitea receiver: these are GitHub's, as Gitea names
/// them).
const GITEA_PULL_REQUEST_ACTIONS: [&str; 6] = [
    "opened",
    "closed",
    "synchronized",
    "label_updated",
    "reopened",
    "label_cleared",
];

/// Whether the event could be a pull request's, so a configured receiver reads the body.
fn may_be_pull_request_event(provider: Provider, event: Option<&str>) -> bool {
    matches!(
        (provider, event),
        (Provider::GitHub | Provider::Gitea, Some("pull_request"))
            | (Provider::GitLab, Some("Merge Request Hook" | "System Hook"))
    )
}

/// Whether a delivery says a pull request was opened, updated or closed.
fn pull_requests_changed(
    provider: Provider,
    event: Option<&str>,
    payload: &serde_json::Value,
) -> bool {
    if !may_be_pull_request_event(provider, event) {
        return false;
    }
    let text = |pointer: &str| {
        payload
            .pointer(pointer)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
    };
    match provider {
        Provider::GitHub => GITHUB_PULL_REQUEST_ACTIONS.contains(&text("/action")),
        Provider::Gitea => GITEA_PULL_REQUEST_ACTIONS.contains(&text("/action")),
        // A system hook carries every kind of event: only a merge request's counts.
        Provider::GitLab => {
            text("/object_kind") == "merge_request"
                && GITLAB_MERGE_REQUEST_ACTIONS.contains(&text("/object_attributes/action"))
        }
        _ => false,
    }
}

/// `<host>/<target project id>` of a GitLab merge request: a pull request generator may
/// name its project by number (Argo CD matches only that), not by path.
fn gitlab_project_id(payload: &serde_json::Value) -> Option<String> {
    let id = payload
        .pointer("/object_attributes/target_project_id")?
        .as_u64()?;
    let web_url = payload.pointer("/project/web_url")?.as_str()?;
    Some(format!("{}/{id}", GitUrl::parse(web_url).ok()?.host()))
}

/// Checks the provider's proof of the secret.
fn verify(receiver: &Receiver, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    let hmac_hex = |value: Option<&str>, prefix: &str| -> Result<(), &'static str> {
        let value = value.ok_or("missing signature header")?;
        let hex_sig = value
            .strip_prefix(prefix)
            .ok_or("signature is not sha256")?;
        let sig = decode_hex(hex_sig).ok_or("signature is not hexadecimal")?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(receiver.secret.as_bytes()).map_err(|_| "bad key")?;
        mac.update(body);
        mac.verify_slice(&sig).map_err(|_| "signature mismatch")
    };
    match receiver.provider {
        Provider::GitHub => hmac_hex(header(headers, "x-hub-signature-256"), "sha256="),
        Provider::Bitbucket => hmac_hex(header(headers, "x-hub-signature"), "sha256="),
        Provider::Gitea => hmac_hex(header(headers, "x-gitea-signature"), ""),
        Provider::GenericHmac => hmac_hex(header(headers, "x-signature"), "sha256="),
        Provider::GitLab => {
            let token = header(headers, "x-gitlab-token").ok_or("missing X-Gitlab-Token")?;
            if constant_time_eq(token.as_bytes(), receiver.secret.as_bytes()) {
                Ok(())
            } else {
                Err("token mismatch")
            }
        }
        Provider::Generic => Ok(()),
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Repository URLs in a push payload of any of the providers.
fn payload_urls(payload: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |v: &serde_json::Value| {
        if let Some(s) = v.as_str() {
            out.push(s.to_string());
        }
    };
    for object in ["repository", "project"] {
        let Some(repo) = payload.get(object) else {
            continue;
        };
        for field in [
            "clone_url",
            "ssh_url",
            "html_url",
            "git_url",
            "git_http_url",
            "git_ssh_url",
            "http_url",
            "web_url",
            "url",
        ] {
            if let Some(v) = repo.get(field) {
                push(v);
            }
        }
        // Bitbucket: links.clone[].href and links.html.href.
        if let Some(links) = repo.get("links") {
            for clone in links
                .get("clone")
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(v) = clone.get("href") {
                    push(v);
                }
            }
            if let Some(v) = links.get("html").and_then(|h| h.get("href")) {
                push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_urls_of_each_provider() {
        let github = serde_json::json!({"repository": {"clone_url": "https://github.com/o/r.git", "ssh_url": "git@github.com:o/r.git"}});
        let gitlab = serde_json::json!({"project": {"git_http_url": "https://gitlab.com/o/r.git"}});
        let bitbucket = serde_json::json!({"repository": {"links": {"clone": [{"href": "ssh://git@bb.example.com:7999/o/r.git"}]}}});
        assert_eq!(payload_urls(&github).len(), 2);
        assert_eq!(payload_urls(&gitlab), ["https://gitlab.com/o/r.git"]);
        assert_eq!(
            payload_urls(&bitbucket),
            ["ssh://git@bb.example.com:7999/o/r.git"]
        );
    }

    #[test]
    fn pull_request_events_are_those_argo_cd_refreshes_on() {
        let github = |action: &str| serde_json::json!({"action": action});
        let changed = pull_requests_changed;
        assert!(changed(
            Provider::GitHub,
            Some("pull_request"),
            &github("opened")
        ));
        assert!(changed(
            Provider::GitHub,
            Some("pull_request"),
            &github("unlabeled")
        ));
        assert!(!changed(
            Provider::GitHub,
            Some("pull_request"),
            &github("edited")
        ));
        assert!(!changed(Provider::GitHub, Some("push"), &github("opened")));
        assert!(!changed(
            Provider::Generic,
            Some("pull_request"),
            &github("opened")
        ));
        assert!(changed(
            Provider::Gitea,
            Some("pull_request"),
            &github("synchronized")
        ));
        let gitlab = |kind: &str, action: &str| {
            serde_json::json!({"object_kind": kind,
                "object_attributes": {"action": action, "target_project_id": 42},
                "project": {"web_url": "https://GitLab.example.com/team/app"}})
        };
        let merge_request = gitlab("merge_request", "merge");
        assert!(changed(
            Provider::GitLab,
            Some("Merge Request Hook"),
            &merge_request
        ));
        assert!(changed(
            Provider::GitLab,
            Some("System Hook"),
            &merge_request
        ));
        assert!(!changed(
            Provider::GitLab,
            Some("System Hook"),
            &gitlab("push", "merge")
        ));
        assert!(!changed(
            Provider::GitLab,
            Some("Merge Request Hook"),
            &gitlab("merge_request", "approved")
        ));
        assert_eq!(
            gitlab_project_id(&merge_request).as_deref(),
            Some("gitlab.example.com/42")
        );
    }

    /// A pull request event is told to listeners although no mirror reads the
    /// repository; `triggered` still lists only the mirrors marked stale.
    #[tokio::test]
    async fn pull_request_events_are_announced_without_a_mirror() {
        use tower::ServiceExt as _;
        let dir = tempfile::tempdir().unwrap();
        let cache = MirrorCache::new(crate::CacheOptions::new(dir.path().to_path_buf())).unwrap();
        let mut announced = cache.subscribe_pull_requests();
        let mut pushed = cache.subscribe();
        let hook = Receiver {
            name: "gh".into(),
            provider: Provider::GitHub,
            secret: "s".into(),
            repositories: vec![],
        };
        let app = router(cache.clone(), vec![hook.clone()]);
        let deliver = |event: &str, action: &str| {
            let body = serde_json::json!({"action": action,
                "repository": {"clone_url": "https://github.com/Org/App.git"}})
            .to_string();
            let mut mac = Hmac::<Sha256>::new_from_slice(b"s").unwrap();
            mac.update(body.as_bytes());
            let signature = format!("sha256={}", crate::hex(&mac.finalize().into_bytes()));
            let request = axum::http::Request::post(hook.path())
                .header("x-github-event", event)
                .header("x-hub-signature-256", signature)
                .body(axum::body::Body::from(body))
                .unwrap();
            let app = app.clone();
            async move {
                let response = app.oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let body = http_body_util::BodyExt::collect(response.into_body()).await;
                String::from_utf8(body.unwrap().to_bytes().to_vec()).unwrap()
            }
        };
        let answer = deliver("pull_request", "opened").await;
        assert_eq!(answer, r#"{"triggered":[]}"#);
        assert_eq!(announced.try_recv().unwrap(), "github.com/org/app");
        assert!(pushed.try_recv().is_err(), "no mirror: no push told");
        deliver("pull_request", "edited").await;
        deliver("push", "").await;
        assert!(announced.try_recv().is_err(), "{:?}", announced.try_recv());
    }

    #[test]
    fn receiver_paths_depend_on_the_secret() {
        let r = |secret: &str| Receiver {
            name: "n".into(),
            provider: Provider::Generic,
            secret: secret.into(),
            repositories: vec![],
        };
        assert_ne!(r("a").path(), r("b").path());
        assert!(r("a").path().starts_with("/hook/"));
        assert!(!format!("{:?}", r("topsecret")).contains("topsecret"));
    }
}
