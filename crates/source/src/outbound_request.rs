//! One HTTP request the hub makes on its own account for Argo CD notifications (a notification to a webhook or
//! Slack), through the process's HTTP client and so its egress policy
//! ([`crate::egress`]). Redirects are not followed, the answer's body is bounded, and no
//! error carries a secret the caller names or the URL's user information.

use std::time::Duration;

/// What one request sends.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The method (`GET`, `POST`, …).
    pub method: &'a str,
    /// The URL.
    pub url: &'a str,
    /// Headers, in order.
    pub headers: &'a [(String, String)],
    /// The body.
    pub body: &'a [u8],
    /// How long the whole exchange may take.
    pub timeout: Duration,
    /// Most bytes of the answer's body read.
    pub limit: usize,
    /// Values that must not appear in an error (tokens, passwords).
    pub secrets: &'a [String],
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &crate::url::redact_str(self.url))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Its status code.
    pub status: u16,
    /// Its `Retry-After`, in seconds.
    pub retry_after: Option<Duration>,
    /// Its body (at most the request's limit).
    pub body: Vec<u8>,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The egress policy refuses the destination: asking again cannot help.
    #[error("{0}")]
    Refused(String),
    /// The request could not be made or answered (worth retrying).
    #[error("{0}")]
    Failed(String),
}

/// Replaces every secret in `text` (and user information in URLs).
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = crate::url::redact_str(text);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), "******");
    }
    out
}

/// The egress policy's refusal, if it is somewhere in `e`'s chain.
fn refusal(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(e);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::PermissionDenied
        {
            return Some(io.to_string());
        }
        current = e.source();
    }
    None
}

/// Sends `request`: its answer, or why none came (no secret in it).
pub async fn send(request: Request<'_>) -> Result<Answer, Failure> {
    use http_body_util::{BodyExt as _, Limited};
    let failed = |text: String| Failure::Failed(scrub(&text, request.secrets));
    let method = hyper::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| failed(format!("net/http: invalid method {:?}", request.method)))?;
    let mut builder = hyper::Request::builder().method(method).uri(request.url);
    for (name, value) in request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let built = builder
        .body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
            request.body,
        )))
        .map_err(|e| failed(format!("building the request: {e}")))?;
    let work = async {
        let response =
            crate::smart_http::client()
                .request(built)
                .await
                .map_err(|e| match refusal(&e) {
                    Some(refused) => Failure::Refused(scrub(&refused, request.secrets)),
                    None => failed(crate::smart_http::error_chain(&e)),
                })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(hyper::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = Limited::new(response.into_body(), request.limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    failed(format!(
                        "the answer is larger than the {} bytes allowed",
                        request.limit
                    ))
                } else {
                    failed(format!("reading the answer: {e}"))
                }
            })?
            .to_bytes()
            .to_vec();
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    };
    match tokio::time::timeout(request.timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(failed(format!(
            "no answer within {}s",
            request.timeout.as_secs()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_user_information_are_scrubbed() {
        assert_eq!(
            scrub(
                "POST https://user:pw@hooks.example.com/x failed: token xoxb-123 refused",
                &["xoxb-123".into(), String::new()]
            ),
            "POST https://hooks.example.com/x failed: token ****** refused"
        );
    }

    #[tokio::test]
    async fn an_address_the_policy_refuses_is_refused_not_failed() {
        let request = Request {
            method: "POST",
            url: "http://169.254.169.254/latest/meta-data",
            headers: &[("Authorization".into(), "Bearer s3cr3t".into())],
            body: b"{}",
            timeout: Duration::from_secs(5),
            limit: 1024,
            secrets: &["s3cr3t".into()],
        };
        match send(request).await {
            Err(Failure::Refused(message)) => {
                assert!(
                    message.starts_with("the egress policy refuses 169.254.169.254"),
                    "{message}"
                );
                assert!(!message.contains("s3cr3t"));
            }
            other => panic!("{other:?}"),
        }
    }
}
