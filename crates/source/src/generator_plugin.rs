//! The HTTP call of Argo CD's ApplicationSet plugin generator: one JSON `POST` with a
//! bearer token, through the process's HTTP client and so its egress policy
//! ([`crate::egress`]). Redirects are not followed (the answer is the plugin's own), the
//! body read is bounded, and errors never carry the token.

use std::time::Duration;

/// What one `POST` sends.
#[derive(Clone, Copy)]
pub struct Post<'a> {
    /// The URL.
    pub url: &'a str,
    /// The bearer token, if any.
    pub token: Option<&'a str>,
    /// The `User-Agent`.
    pub user_agent: &'a str,
    /// The JSON body.
    pub body: &'a [u8],
    /// How long the whole exchange may take.
    pub timeout: Duration,
    /// Most bytes of the answer's body read.
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

/// `POST` `post.body` as `application/json`: the answer's status and body, or why none
/// came (no token in it).
pub async fn post_json(post: Post<'_>) -> Result<(u16, Vec<u8>), String> {
    use http_body_util::{BodyExt as _, Limited};
    let scrub = |text: String| match post.token {
        Some(token) if !token.is_empty() => text.replace(token, "******"),
        _ => text,
    };
    let work = async {
        let mut request = hyper::Request::post(post.url)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, post.user_agent);
        if let Some(token) = post.token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(
                post.body,
            )))
            .map_err(|e| e.to_string())?;
        let response = crate::smart_http::client()
            .request(request)
            .await
            .map_err(|e| crate::smart_http::error_chain(&e))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), post.limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    format!("the answer is larger than the {} bytes allowed", post.limit)
                } else {
                    format!("reading the answer: {e}")
                }
            })?
            .to_bytes()
            .to_vec();
        Ok::<_, String>((status, body))
    };
    match tokio::time::timeout(post.timeout, work).await {
        Ok(result) => result.map_err(|e| scrub(crate::url::redact_str(&e))),
        // Go's words for its client's timeout.
        Err(_) => {
            Err("context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into())
        }
    }
}
