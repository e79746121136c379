//! Webhook receivers: an axum router that other parts mount. A push whose signature
//! checks out marks the pushed repository's mirrors stale, so the next request checks
//! the remote at once, and tells [`MirrorCache::subscribe`] listeners.
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
//! A wrong or missing proof is answered 401 and triggers nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
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
}

/// The largest delivery read (GitHub caps its payloads at 25 MB; Argo CD reads up to
/// 50 MB). A larger body is refused with 413 before it is buffered, verified or parsed.
pub const MAX_PAYLOAD_BYTES: usize = 25 * 1024 * 1024;

/// The router: `POST /hook/{digest}` for each receiver.
pub fn router(cache: MirrorCache, receivers: Vec<Receiver>) -> Router {
    let receivers = receivers
        .into_iter()
        .map(|r| (r.path().trim_start_matches("/hook/").to_string(), r))
        .collect();
    Router::new()
        .route("/hook/{digest}", post(receive))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
        .with_state(Arc::new(Hub { cache, receivers }))
}

async fn receive(
    State(hub): State<Arc<Hub>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((_, receiver)) = hub
        .receivers
        .iter()
        .find(|(d, _)| constant_time_eq(d.as_bytes(), digest.as_bytes()))
    else {
        return (StatusCode::NOT_FOUND, "no such receiver\n").into_response();
    };
    if let Err(reason) = verify(receiver, &headers, &body) {
        tracing::info!(receiver = %receiver.name, reason, "webhook refused");
        return (StatusCode::UNAUTHORIZED, format!("{reason}\n")).into_response();
    }
    let event = event_name(receiver.provider, &headers);
    if matches!(event.as_deref(), Some("ping")) {
        return (StatusCode::OK, "pong\n").into_response();
    }
    let urls: Vec<String> = if receiver.repositories.is_empty() {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(payload) => payload_urls(&payload),
            Err(_) => return (StatusCode::BAD_REQUEST, "body is not JSON\n").into_response(),
        }
    } else {
        receiver.repositories.clone()
    };
    let identities: BTreeSet<String> = urls
        .iter()
        .filter_map(|u| GitUrl::parse(u).ok())
        .map(|u| u.identity())
        .collect();
    let mut triggered = Vec::new();
    for identity in identities {
        if hub.cache.trigger(&identity) > 0 {
            triggered.push(identity);
        }
    }
    tracing::info!(receiver = %receiver.name, ?triggered, "webhook accepted");
    axum::Json(serde_json::json!({ "triggered": triggered })).into_response()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
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
