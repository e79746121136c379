//! The Sealed Secrets controller's HTTP endpoints, per cluster, on the hub's address:
//! `GET /sealed-secrets/<cluster>/v1/cert.pem`, `POST …/v1/verify` and `POST …/v1/rotate`
//! — what bitnami-labs/sealed-secrets' controller serves in each cluster
//! (`pkg/controller/server.go`), for `kubeseal --cert <URL>`, `--validate` and
//! `--re-encrypt`. Every cluster user may call them, so no answer, log line or error
//! carries plaintext or key material.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flotilla_secrets::ControllerKey;
use serde_json::Value;

/// The largest request body read (SealedSecrets are Kubernetes objects, which etcd caps
/// at about 1.5 MiB); a larger one is answered 413 before it is parsed.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Each cluster's Sealed Secrets keys by cluster name, oldest first (by their
/// certificates' NotBefore, as upstream's key registry orders them). The newest seals:
/// its certificate is `cert.pem` and `/v1/rotate` seals with it; all of them open.
#[derive(Clone, Default)]
pub struct ClusterKeys(Arc<RwLock<BTreeMap<String, Arc<[ControllerKey]>>>>);

impl ClusterKeys {
    /// The keys of `cluster`, oldest first, once it has any.
    pub fn keys(&self, cluster: &str) -> Option<Arc<[ControllerKey]>> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(cluster)
            .cloned()
    }

    /// The newest certificate of `cluster` (PEM).
    pub fn certificate(&self, cluster: &str) -> Option<String> {
        let keys = self.keys(cluster)?;
        Some(keys.last()?.certificate_pem().to_string())
    }

    /// Serves `keys` for `cluster` (none: the cluster is no longer served).
    pub fn set(&self, cluster: &str, mut keys: Vec<ControllerKey>) {
        keys.sort_by_key(ControllerKey::not_before);
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if keys.is_empty() {
            map.remove(cluster);
        } else {
            map.insert(cluster.to_string(), keys.into());
        }
    }
}

/// How fast `/v1/verify` may be called per cluster: upstream's `--rate-limit` (sustained
/// requests per second) and `--rate-limit-burst` (requests allowed beyond it at once),
/// there to slow down guessing what a sealed value holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    /// Sustained requests per second (at least 1).
    pub per_second: u32,
    /// Requests beyond the rate allowed in a burst.
    pub burst: u32,
}

impl Default for RateQuota {
    /// Upstream's defaults: 2 per second, burst 2.
    fn default() -> Self {
        RateQuota {
            per_second: 2,
            burst: 2,
        }
    }
}

/// The endpoints' shared state.
struct Endpoints {
    keys: ClusterKeys,
    verify_limiter: RateLimiter,
}

/// The endpoints for every cluster in `keys`; `/v1/verify` limited per cluster by
/// `verify_quota`. A cluster without keys is answered 404.
pub fn router(keys: ClusterKeys, verify_quota: RateQuota) -> axum::Router {
    let endpoints = Arc::new(Endpoints {
        keys,
        verify_limiter: RateLimiter::new(verify_quota),
    });
    axum::Router::new()
        .route(
            "/sealed-secrets/{cluster}/v1/cert.pem",
            axum::routing::get(certificate),
        )
        .route(
            "/sealed-secrets/{cluster}/v1/verify",
            axum::routing::post(verify),
        )
        .route(
            "/sealed-secrets/{cluster}/v1/rotate",
            axum::routing::post(rotate),
        )
        .with_state(endpoints)
}

fn unknown_cluster(cluster: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("no Sealed Secrets key for cluster {cluster:?}\n"),
    )
        .into_response()
}

/// The cluster's newest certificate, as upstream's `/v1/cert.pem` answers.
async fn certificate(
    State(endpoints): State<Arc<Endpoints>>,
    Path(cluster): Path<String>,
) -> Response {
    match endpoints.keys.certificate(&cluster) {
        Some(pem) => ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response(),
        None => unknown_cluster(&cluster),
    }
}

/// Upstream's `/v1/verify`: 200 when the cluster's keys unseal the SealedSecret, 409 when
/// they do not, 500 for a body that is not one SealedSecret; bodies empty, as upstream's.
async fn verify(
    State(endpoints): State<Arc<Endpoints>>,
    Path(cluster): Path<String>,
    body: Body,
) -> Response {
    let Some(keys) = endpoints.keys.keys(&cluster) else {
        return unknown_cluster(&cluster);
    };
    let admission = endpoints.verify_limiter.admit(&cluster, Instant::now());
    let headers = admission.headers();
    if !admission.allowed {
        return (headers, limit_exceeded()).into_response();
    }
    let content = match read_body(body).await {
        Ok(content) => content,
        Err(refused) => return (headers, refused).into_response(),
    };
    let sealed = match parse_sealed_secret(&content) {
        Ok(sealed) => sealed,
        Err(e) => {
            tracing::info!(%cluster, error = %e, "error validating secret");
            return (headers, StatusCode::INTERNAL_SERVER_ERROR).into_response();
        }
    };
    // RSA work for every item and key: off the async workers.
    let opens =
        tokio::task::spawn_blocking(move || flotilla_secrets::unseal(&sealed, &keys).is_ok())
            .await
            .unwrap_or(false);
    let status = if opens {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    (headers, status).into_response()
}

/// Upstream's `/v1/rotate`: the SealedSecret with every item sealed again with the
/// cluster's newest key (`flotilla_secrets::reseal`); 500 with an empty body when it is
/// not one SealedSecret or the keys do not open it, as upstream answers.
async fn rotate(
    State(endpoints): State<Arc<Endpoints>>,
    Path(cluster): Path<String>,
    body: Body,
) -> Response {
    let Some(keys) = endpoints.keys.keys(&cluster) else {
        return unknown_cluster(&cluster);
    };
    let content = match read_body(body).await {
        Ok(content) => content,
        Err(refused) => return refused.into_response(),
    };
    let resealed = match parse_sealed_secret(&content) {
        Ok(sealed) => tokio::task::spawn_blocking(move || {
            let newest = keys.last().expect("served keys are never empty");
            flotilla_secrets::reseal(&sealed, &keys, &newest.sealing_key())
                .map_err(|e| format!("error decrypting secret. {e}"))
        })
        .await
        .unwrap_or_else(|e| Err(format!("re-sealing: {e}"))),
        Err(e) => Err(e),
    };
    match resealed.and_then(|v| serde_json::to_vec(&v).map_err(|e| e.to_string())) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => {
            tracing::info!(%cluster, error = %e, "error rotating secret");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The request body, up to [`MAX_BODY_BYTES`]: 413 above it, 400 when it cannot be read
/// (upstream's answer to a failed read).
async fn read_body(body: Body) -> Result<Bytes, StatusCode> {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => {
            tracing::debug!(error = %e, "reading a Sealed Secrets request body");
            Err(StatusCode::BAD_REQUEST)
        }
    }
}

/// One `bitnami.com/v1alpha1` SealedSecret, as JSON or YAML (upstream's universal
/// decoder reads both). The error says what the body is, never what it holds.
fn parse_sealed_secret(content: &[u8]) -> Result<Value, String> {
    let object: Value = match serde_json::from_slice(content) {
        Ok(object) => object,
        Err(_) => {
            let text = std::str::from_utf8(content).map_err(|_| "body is not UTF-8")?;
            let mut documents: Vec<Value> =
                serde_saphyr::from_multiple(text).map_err(|_| "body is neither JSON nor YAML")?;
            documents.retain(|d| !d.is_null());
            match <[Value; 1]>::try_from(documents) {
                Ok([object]) => object,
                Err(documents) => {
                    return Err(format!(
                        "expected one SealedSecret, found {} documents",
                        documents.len()
                    ));
                }
            }
        }
    };
    let field = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or("");
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version != flotilla_secrets::sealed::API_VERSION
        || kind != flotilla_secrets::sealed::KIND
    {
        return Err(format!(
            "unexpected resource type: apiVersion {api_version:?}, kind {kind:?}"
        ));
    }
    Ok(object)
}

/// throttled's answer to a limited request.
fn limit_exceeded() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        "limit exceeded\n",
    )
        .into_response()
}

/// The generic cell-rate algorithm as throttled (upstream's limiter) runs it: each key
/// has a theoretical arrival time that every admitted request moves one interval on; a
/// request is refused when that would put it more than the burst's tolerance ahead of
/// now. `burst + 1` requests pass at once, then one per interval.
struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    limit: u32,
    arrivals: Mutex<HashMap<String, Instant>>,
}

/// What the limiter decided, with throttled's `X-RateLimit-*` figures.
#[derive(Debug, PartialEq, Eq)]
struct Admission {
    allowed: bool,
    limit: u32,
    remaining: u32,
    /// Until the key is back to its full burst.
    reset: Duration,
    /// Until a refused request would pass.
    retry_after: Option<Duration>,
}

impl RateLimiter {
    fn new(quota: RateQuota) -> RateLimiter {
        // Upstream cannot start with a zero rate; one a second is the least we take.
        let interval = Duration::from_secs(1) / quota.per_second.max(1);
        RateLimiter {
            interval,
            tolerance: interval * (quota.burst + 1),
            limit: quota.burst + 1,
            arrivals: Mutex::new(HashMap::new()),
        }
    }

    fn admit(&self, key: &str, now: Instant) -> Admission {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        let arrival = arrivals.get(key).copied().unwrap_or(now).max(now);
        let next = arrival + self.interval;
        let ahead = next - now;
        if ahead > self.tolerance {
            let reset = arrival - now;
            return Admission {
                allowed: false,
                limit: self.limit,
                remaining: self.remaining(reset),
                reset,
                retry_after: Some(ahead - self.tolerance),
            };
        }
        arrivals.insert(key.to_string(), next);
        Admission {
            allowed: true,
            limit: self.limit,
            remaining: self.remaining(ahead),
            reset: ahead,
            retry_after: None,
        }
    }

    fn remaining(&self, reset: Duration) -> u32 {
        let left = self.tolerance.saturating_sub(reset).as_nanos() / self.interval.as_nanos();
        u32::try_from(left).unwrap_or(u32::MAX)
    }
}

impl Admission {
    /// throttled's headers: whole seconds, rounded up.
    fn headers(&self) -> HeaderMap {
        let seconds =
            |d: Duration| HeaderValue::from(d.as_secs() + u64::from(d.subsec_nanos() > 0));
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", seconds(self.reset));
        if let Some(retry_after) = self.retry_after {
            headers.insert(header::RETRY_AFTER, seconds(retry_after));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_defaults_let_three_through_at_once_then_one_every_half_second() {
        let limiter = RateLimiter::new(RateQuota::default());
        let start = Instant::now();
        let ms = |n: u64| start + Duration::from_millis(n);
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.admit("east", start))
            .map(|a| {
                assert!(a.allowed);
                a.remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.admit("east", ms(100));
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Some(Duration::from_millis(400)));
        assert_eq!(refused.headers()["retry-after"], "1");
        assert_eq!(refused.headers()["x-ratelimit-limit"], "3");
        // Another cluster has its own allowance.
        assert!(limiter.admit("west", ms(100)).allowed);
        assert!(limiter.admit("east", ms(500)).allowed);
        assert!(!limiter.admit("east", ms(600)).allowed);
        // Idle for the whole tolerance: the full burst again.
        let rested = ms(500 + 1500);
        assert_eq!(limiter.admit("east", rested).remaining, 2);
    }

    #[test]
    fn only_one_sealed_secret_is_a_body_to_check() {
        let sealed = r#"{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                         "metadata": {"name": "db"}}"#;
        assert!(parse_sealed_secret(sealed.as_bytes()).is_ok());
        let yaml = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\n";
        assert!(parse_sealed_secret(yaml.as_bytes()).is_ok());
        let two = format!("{yaml}---\n{yaml}");
        assert_eq!(
            parse_sealed_secret(two.as_bytes()).unwrap_err(),
            "expected one SealedSecret, found 2 documents"
        );
        let secret = r#"{"apiVersion": "v1", "kind": "Secret", "data": {"a": "czNjcjN0"}}"#;
        let refused = parse_sealed_secret(secret.as_bytes()).unwrap_err();
        assert!(!refused.contains("czNjcjN0"), "{refused}");
        assert!(parse_sealed_secret(b"\xff\xfe").is_err());
    }
}
