//! One outbound HTTP request of any method, through the process's HTTP client and so its
//! egress policy ([`crate::egress`]): what the hub sends on its own account — Flux and
//! Argo CD notifications, forges' commit status APIs, the ApplicationSet plugin
//! generator, Vault's transit engine, GitHub App token requests. Redirects are not
//! followed, the answer's body is read up to a bound, and no error carries the URL's
//! user information or a secret the caller names. go-retryablehttp's retry policy, which
//! both Flux's and Argo CD's notifiers send with, is [`worth_retrying`] and [`backoff`].

use std::time::Duration;

/// One request.
#[derive(Clone, Copy)]
pub struct Outbound<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The URL.
    pub url: &'a str,
    /// Headers, in order; a later one of the same name replaces an earlier one (Go's
    /// `Header.Set`).
    pub headers: &'a [(String, String)],
    /// The body (empty for none).
    pub body: &'a [u8],
    /// Most bytes of the answer's body read; the rest is dropped unread.
    pub limit: usize,
    /// How long the whole exchange may take; `None` when the caller bounds it (with its
    /// retries) by a deadline of its own.
    pub timeout: Option<Duration>,
    /// Values no error may show (tokens, passwords), replaced by `******`.
    pub secrets: &'a [String],
}

impl std::fmt::Debug for Outbound<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("method", &self.method)
            .field("url", &crate::url::redact_str(self.url))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header, when there is one.
    pub retry_after: Option<String>,
    /// The body, up to the request's limit.
    pub body: Vec<u8>,
    /// Whether the body went on past the limit (and was cut there).
    pub truncated: bool,
}

impl Answer {
    /// `Retry-After` in seconds (an HTTP date is not read, as neither notifier reads
    /// one: their default waits apply).
    pub fn retry_after_seconds(&self) -> Option<Duration> {
        let value = self.retry_after.as_deref()?;
        value.trim().parse::<u64>().ok().map(Duration::from_secs)
    }
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The request could not be built (a bad URL, a header name or value HTTP forbids):
    /// trying again cannot help.
    #[error("{0}")]
    Invalid(String),
    /// The egress policy refuses every address of the host: trying again cannot help.
    #[error("{0}")]
    Refused(String),
    /// The connection or the exchange failed (refused, reset, TLS, out of time, …).
    #[error("{0}")]
    Failed(String),
}

impl SendError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Failed(_))
    }
}

/// `text` with user information out of its URLs and every non-empty secret replaced.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = crate::url::redact_str(text);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), "******");
    }
    out
}

/// Sends `request` and reads the answer. Errors read as Go's `url.Error` does
/// (`Post "https://…": …`).
pub async fn send(request: Outbound<'_>) -> Result<Answer, SendError> {
    let shown = format!("{} {:?}", title_case(request.method), redact(request.url));
    let work = exchange(request, &shown);
    let outcome = match request.timeout {
        None => work.await,
        Some(timeout) => tokio::time::timeout(timeout, work).await.unwrap_or_else(|_| {
            // Go's words for its client's timeout.
            Err(SendError::Failed(format!(
                "{shown}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )))
        }),
    };
    outcome.map_err(|e| match e {
        SendError::Invalid(m) => SendError::Invalid(scrub(&m, request.secrets)),
        SendError::Refused(m) => SendError::Refused(scrub(&m, request.secrets)),
        SendError::Failed(m) => SendError::Failed(scrub(&m, request.secrets)),
    })
}

async fn exchange(request: Outbound<'_>, shown: &str) -> Result<Answer, SendError> {
    use http_body_util::BodyExt as _;
    let method = hyper::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
        SendError::Invalid(format!("net/http: invalid method {:?}", request.method))
    })?;
    let uri: hyper::Uri = request
        .url
        .parse()
        .map_err(|e| SendError::Invalid(format!("parse {:?}: {e}", redact(request.url))))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(SendError::Invalid(format!(
            "unsupported protocol scheme in {:?}",
            redact(request.url)
        )));
    }
    let mut builder = hyper::Request::builder().method(method).uri(uri);
    if let Some(headers) = builder.headers_mut() {
        for (name, value) in request.headers {
            let name = hyper::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SendError::Invalid(format!("invalid header field name {name:?}")))?;
            let value = hyper::header::HeaderValue::from_str(value).map_err(|_| {
                SendError::Invalid(format!("invalid header field value for {name:?}"))
            })?;
            headers.insert(name, value);
        }
    }
    let built = builder
        .body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
            request.body,
        )))
        .map_err(|e| SendError::Invalid(e.to_string()))?;
    let response = crate::smart_http::client()
        .request(built)
        .await
        .map_err(|e| {
            let what = format!("{shown}: {}", redact(&crate::smart_http::error_chain(&e)));
            if refused_by_policy(&e) {
                SendError::Refused(what)
            } else {
                SendError::Failed(what)
            }
        })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(hyper::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = response.into_body();
    let mut read = Vec::new();
    let mut truncated = false;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| SendError::Failed(format!("{shown}: reading the answer: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let room = request.limit - read.len();
        if data.len() > room {
            read.extend_from_slice(&data[..room]);
            truncated = true;
            break;
        }
        read.extend_from_slice(&data);
    }
    Ok(Answer {
        status,
        retry_after,
        body: read,
        truncated,
    })
}

/// What one JSON `POST` sends ([`post_json`]).
#[derive(Clone, Copy)]
pub struct Post<'a> {
    /// The URL.
    pub url: &'a str,
    /// The bearer token, if any (never shown in an error).
    pub token: Option<&'a str>,
    /// The `User-Agent`.
    pub user_agent: &'a str,
    /// The JSON body.
    pub body: &'a [u8],
    /// How long the whole exchange may take.
    pub timeout: Duration,
    /// Most bytes of the answer's body read; a longer answer is an error.
    pub limit: usize,
}

impl std::fmt::Debug for Post<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Post")
            .field("url", &crate::url::redact_str(self.url))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `POST` `post.body` as `application/json` with a bearer token, for APIs that answer
/// JSON (the plugin generator, Vault, GitHub's App API): the answer's status and whole
/// body, or why none came.
pub async fn post_json(post: Post<'_>) -> Result<(u16, Vec<u8>), String> {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), post.user_agent.to_string()),
    ];
    let secrets: Vec<String> = post.token.iter().map(|t| t.to_string()).collect();
    if let Some(token) = post.token {
        headers.push(("Authorization".to_string(), format!("Bearer {token}")));
    }
    let answer = send(Outbound {
        method: "POST",
        url: post.url,
        headers: &headers,
        body: post.body,
        limit: post.limit,
        timeout: Some(post.timeout),
        secrets: &secrets,
    })
    .await
    .map_err(|e| e.to_string())?;
    if answer.truncated {
        return Err(format!(
            "the answer is larger than the {} bytes allowed",
            post.limit
        ));
    }
    Ok((answer.status, answer.body))
}

/// go-retryablehttp's `DefaultRetryPolicy` for an attempt's outcome: connection errors
/// (not a refusal by the egress policy, which another attempt cannot change), 429, and
/// 5xx but 501.
pub fn worth_retrying(outcome: &Result<Answer, SendError>) -> bool {
    match outcome {
        Err(e) => e.is_transient(),
        Ok(answer) => {
            answer.status == 429
                || answer.status == 0
                || (answer.status >= 500 && answer.status != 501)
        }
    }
}

/// go-retryablehttp's `DefaultBackoff` before retry `attempt` (0 for the first retry):
/// a 429's or 503's `Retry-After` in seconds, else `min` doubled per attempt, at most
/// `max`.
pub fn backoff(min: Duration, max: Duration, attempt: u32, answer: Option<&Answer>) -> Duration {
    if let Some(answer) = answer
        && matches!(answer.status, 429 | 503)
        && let Some(after) = answer.retry_after_seconds()
    {
        return after;
    }
    let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
    min.checked_mul(factor).map_or(max, |d| d.min(max))
}

fn redact(text: &str) -> String {
    crate::url::redact_str(text)
}

/// `POST` → `Post`, as Go's `url.Error` names the operation.
fn title_case(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Whether the connector refused the connection by the egress policy (a
/// `PermissionDenied` I/O error somewhere in the chain).
fn refused_by_policy(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::PermissionDenied
        {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(url: &'a str, headers: &'a [(String, String)]) -> Outbound<'a> {
        Outbound {
            method: "POST",
            url,
            headers,
            body: b"{}",
            limit: 1024,
            timeout: Some(Duration::from_secs(5)),
            secrets: &[],
        }
    }

    #[tokio::test]
    async fn link_local_is_refused_and_not_worth_retrying() {
        let secrets = ["s3cr3t".to_string()];
        let headers = [("Authorization".to_string(), "Bearer s3cr3t".to_string())];
        let refused = send(Outbound {
            secrets: &secrets,
            ..request(
                "http://169.254.169.254/latest/meta-data?key=s3cr3t",
                &headers,
            )
        })
        .await
        .unwrap_err();
        assert!(matches!(refused, SendError::Refused(_)), "{refused:?}");
        assert!(!refused.is_transient());
        assert!(!worth_retrying(&Err(refused.clone())));
        let message = refused.to_string();
        assert!(message.contains("egress policy refuses"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    #[tokio::test]
    async fn bad_urls_and_headers_are_invalid_requests() {
        for (url, headers) in [
            ("ftp://example.com/x", vec![]),
            ("not a url", vec![]),
            (
                "http://127.0.0.1:9/",
                vec![("bad name".to_string(), "v".to_string())],
            ),
        ] {
            let e = send(request(url, &headers)).await.unwrap_err();
            assert!(matches!(e, SendError::Invalid(_)), "{url}: {e:?}");
        }
    }

    #[tokio::test]
    async fn a_long_answer_is_cut_at_the_limit_and_says_so() {
        let (url, log) = crate::forge::stand_in::serve(|_| {
            (
                "503 Service Unavailable",
                "0123456789".to_string(),
                "Retry-After: 7\r\n".to_string(),
            )
        });
        let answer = send(Outbound {
            limit: 4,
            ..request(&url, &[])
        })
        .await
        .unwrap();
        assert_eq!((answer.status, answer.body.as_slice()), (503, &b"0123"[..]));
        assert!(answer.truncated);
        assert_eq!(answer.retry_after_seconds(), Some(Duration::from_secs(7)));
        let whole = send(request(&url, &[])).await.unwrap();
        assert_eq!(whole.body, b"0123456789");
        assert!(!whole.truncated);
        let json = post_json(Post {
            url: &url,
            token: Some("t0ken"),
            user_agent: "test",
            body: b"{}",
            timeout: Duration::from_secs(5),
            limit: 4,
        })
        .await
        .unwrap_err();
        assert_eq!(json, "the answer is larger than the 4 bytes allowed");
        let seen = log.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[2].1.as_deref(), Some("Bearer t0ken"));
    }

    #[test]
    fn retries_follow_go_retryablehttp() {
        let answer = |status, retry_after: Option<&str>| Answer {
            status,
            retry_after: retry_after.map(str::to_string),
            body: Vec::new(),
            truncated: false,
        };
        for (status, retried) in [(200, false), (404, false), (429, true), (500, true)] {
            assert_eq!(
                worth_retrying(&Ok(answer(status, None))),
                retried,
                "{status}"
            );
        }
        assert!(!worth_retrying(&Ok(answer(501, None))));
        assert!(worth_retrying(&Err(SendError::Failed("reset".into()))));
        assert!(!worth_retrying(&Err(SendError::Invalid("bad".into()))));
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(5));
        let waits: Vec<u64> = (0..4)
            .map(|a| backoff(min, max, a, None).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 5]);
        let busy = answer(503, Some("7"));
        assert_eq!(backoff(min, max, 0, Some(&busy)), Duration::from_secs(7));
        let dated = answer(429, Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(backoff(min, max, 1, Some(&dated)), Duration::from_secs(2));
        assert_eq!(backoff(min, max, 40, None), max);
    }

    #[test]
    fn secrets_and_user_information_are_scrubbed() {
        assert_eq!(
            scrub(
                "Post \"https://user:pw@hooks.example.com/x\": token xoxb-123 refused",
                &["xoxb-123".into(), String::new()]
            ),
            "Post \"https://hooks.example.com/x\": token ****** refused"
        );
    }

    #[test]
    fn methods_are_named_as_go_names_them() {
        assert_eq!(title_case("POST"), "Post");
        assert_eq!(title_case("get"), "Get");
    }
}
