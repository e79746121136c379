//! One outbound HTTP request of any method, through the process's HTTP client and so its
//! egress policy ([`crate::egress`]): what the hub's notification providers send (a
//! webhook `POST`, a forge's commit status API). Redirects are not followed, the answer's
//! body is read up to a bound, and the caller bounds the whole exchange (with its retries)
//! by its own timeout.

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
}

impl std::fmt::Debug for Outbound<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("method", &self.method)
            .field("url", &crate::url::redact_str(self.url))
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
    /// The connection or the exchange failed (refused, reset, TLS, …).
    #[error("{0}")]
    Failed(String),
}

impl SendError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Failed(_))
    }
}

/// Sends `request` and reads the answer. Error messages carry the URL without userinfo.
pub async fn send(request: Outbound<'_>) -> Result<Answer, SendError> {
    use http_body_util::{BodyExt as _, Limited};
    let method = hyper::Method::from_bytes(request.method.as_bytes())
        .map_err(|e| SendError::Invalid(e.to_string()))?;
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
            let detail = redact(&crate::smart_http::error_chain(&e));
            let what = format!(
                "{} {:?}: {detail}",
                title_case(request.method),
                redact(request.url)
            );
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
    let body = match Limited::new(response.into_body(), request.limit)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes().to_vec(),
        // A longer answer is cut, not failed: only its beginning is ever shown.
        Err(_) => Vec::new(),
    };
    Ok(Answer {
        status,
        retry_after,
        body,
    })
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

    #[tokio::test]
    async fn link_local_is_refused_and_not_worth_retrying() {
        let refused = send(Outbound {
            method: "POST",
            url: "http://169.254.169.254/latest/meta-data",
            headers: &[],
            body: b"{}",
            limit: 1024,
        })
        .await
        .unwrap_err();
        assert!(matches!(refused, SendError::Refused(_)), "{refused:?}");
        assert!(!refused.is_transient());
        assert!(
            refused.to_string().contains("egress policy refuses"),
            "{refused}"
        );
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
            let e = send(Outbound {
                method: "POST",
                url,
                headers: &headers,
                body: b"",
                limit: 16,
            })
            .await
            .unwrap_err();
            assert!(matches!(e, SendError::Invalid(_)), "{url}: {e:?}");
        }
    }

    #[test]
    fn methods_are_named_as_go_names_them() {
        assert_eq!(title_case("POST"), "Post");
        assert_eq!(title_case("get"), "Get");
    }
}
