//! Following HTTP redirects: where a `Location` leads (RFC 3986 reference resolution, as
//! Go's `url.ResolveReference` and curl resolve it) and whether credentials may travel
//! there (only to the origin they were given for).

use crate::tls::Tls;

/// Status codes whose `Location` is followed (Go's `http.Client` follows exactly these).
pub(crate) fn is_followed(status: hyper::StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// `scheme://host[:port]` of an absolute URL, the scheme and host lowercased: two URLs
/// with the same origin reach the same server in the same way.
pub(crate) fn origin_of(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    url[..end].to_ascii_lowercase()
}

/// `(scheme, rest)` when `url` starts with a URL scheme, as Go's `getScheme` reads one
/// (a letter, then letters, digits, `+`, `-` or `.`, then `:`).
pub(crate) fn scheme_split(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some((scheme, rest))
}

/// Where `location` (a redirect's `Location` header) leads from `from`: an absolute
/// http(s) URL, a scheme-relative `//host/…`, a host-absolute `/path`, or a path relative
/// to `from`'s directory, with `.` and `..` segments removed. Other schemes and an
/// empty location lead nowhere.
pub(crate) fn resolve_location(from: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(location.to_string());
    }
    let scheme_end = from.find("://")? + 3;
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{}{rest}", &from[..scheme_end]));
    }
    if location[..location.find(['/', '?', '#']).unwrap_or(location.len())].contains(':') {
        // `mailto:…`, `ftp://…`: another scheme, never followed.
        return None;
    }
    let host_end = from[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(from.len(), |i| scheme_end + i);
    let (path, suffix) = location.split_at(location.find(['?', '#']).unwrap_or(location.len()));
    let from_path = &from[host_end
        ..from[host_end..]
            .find(['?', '#'])
            .map_or(from.len(), |i| host_end + i)];
    let joined = if path.starts_with('/') {
        path.to_string()
    } else if path.is_empty() {
        if from_path.is_empty() { "/" } else { from_path }.to_string()
    } else {
        let directory = from_path.rfind('/').map_or("/", |i| &from_path[..=i]);
        format!("{directory}{path}")
    };
    Some(format!(
        "{}{}{suffix}",
        &from[..host_end],
        remove_dot_segments(&joined)
    ))
}

/// RFC 3986 §5.2.4 on an absolute path: `.` dropped, `..` removes the segment before it
/// (never above the root); a path ending in `.` or `..` keeps its trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {
                if last {
                    kept.push("");
                }
            }
            ".." => {
                kept.pop();
                if last {
                    kept.push("");
                }
            }
            other => kept.push(other),
        }
    }
    format!("/{}", kept.join("/"))
}

/// Redirects followed before giving up (Go's `http.Client` stops after 10).
pub(crate) const MAX_REDIRECTS: usize = 10;

/// The answer to a [`get`]: the last response of the redirect chain.
pub(crate) struct Answer {
    pub(crate) status: hyper::StatusCode,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) body: Vec<u8>,
    /// Where it came from: the last redirect's target.
    pub(crate) url: String,
}

impl Answer {
    /// `detail`, saying where the redirects led when that is not where `asked` was.
    pub(crate) fn explain(&self, asked: &str, detail: String) -> String {
        elsewhere(asked, &self.url, detail)
    }
}

fn elsewhere(asked: &str, reached: &str, detail: String) -> String {
    if asked == reached {
        detail
    } else {
        format!(
            "{detail} (redirected to {})",
            crate::url::redact_str(reached)
        )
    }
}

/// `GET url` with `headers` and `authorization` (a header value), following redirects
/// as Go's client follows them, reading at most `limit` bytes of the final answer
/// whatever its status. The `Authorization` header goes only to `url`'s own origin: a
/// redirect elsewhere drops it for the rest of the chain (stricter than Go, which also
/// sends it to the same host on another port or scheme). Errors are messages without
/// credentials.
pub(crate) async fn get(
    url: &str,
    headers: &[(hyper::header::HeaderName, &str)],
    authorization: Option<&str>,
    tls: &Tls,
    limit: usize,
) -> Result<Answer, String> {
    use http_body_util::{BodyExt as _, Limited};
    let origin = origin_of(url);
    let mut current = url.to_string();
    let mut authorization = authorization;
    for _ in 0..=MAX_REDIRECTS {
        if origin_of(&current) != origin {
            authorization = None;
        }
        let response = send(&current, headers, authorization, tls)
            .await
            .map_err(|e| elsewhere(url, &current, e))?;
        let status = response.status();
        let location = response
            .headers()
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            // Go answers a redirect without a location as it is.
            .filter(|location| !location.trim().is_empty());
        if let Some(location) = location.filter(|_| is_followed(status)) {
            current = resolve_location(&current, location).ok_or_else(|| {
                format!(
                    "HTTP {status} to {:?}, which is not an http(s) location",
                    crate::url::redact_str(location)
                )
            })?;
            continue;
        }
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .map_err(|e| {
                let detail = if e.is::<http_body_util::LengthLimitError>() {
                    format!("the answer is larger than the {} allowed", size(limit))
                } else {
                    format!("reading the answer: {e}")
                };
                elsewhere(url, &current, detail)
            })?;
        return Ok(Answer {
            status,
            headers: parts.headers,
            body,
            url: current,
        });
    }
    Err(format!("stopped after {MAX_REDIRECTS} redirects"))
}

/// `limit` bytes for a message: in MiB or KiB when whole.
fn size(limit: usize) -> String {
    if limit >= 1 << 20 && limit.is_multiple_of(1 << 20) {
        format!("{} MiB", limit >> 20)
    } else if limit >= 1 << 10 && limit.is_multiple_of(1 << 10) {
        format!("{} KiB", limit >> 10)
    } else {
        format!("{limit} bytes")
    }
}

/// One `GET` of the chain.
async fn send(
    url: &str,
    headers: &[(hyper::header::HeaderName, &str)],
    authorization: Option<&str>,
    tls: &Tls,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let mut request = hyper::Request::get(url).header(
        hyper::header::USER_AGENT,
        concat!("flotilla/", env!("CARGO_PKG_VERSION")),
    );
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    if let Some(authorization) = authorization {
        request = request.header(hyper::header::AUTHORIZATION, authorization);
    }
    let request = request
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .map_err(|e| e.to_string())?;
    crate::smart_http::client_for(tls, "the server's certificates")
        .map_err(|e| e.to_string())?
        .request(request)
        .await
        // With its causes: "client error (Connect)" alone hides why (a refusal by the
        // egress policy, a TLS failure, a refused connection).
        .map_err(|e| crate::smart_http::error_chain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values are RFC 3986 §5.4's examples (base `http://a/b/c/d;p?q`), which
    /// Go's `ResolveReference` and curl both give.
    #[test]
    fn locations_resolve_as_rfc_3986_resolves_references() {
        let base = "http://a/b/c/d;p?q";
        for (reference, expected) in [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p#s"),
            ("g?y#s", "http://a/b/c/g?y#s"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
        ] {
            assert_eq!(
                resolve_location(base, reference).as_deref(),
                Some(expected),
                "{reference}"
            );
        }
        assert_eq!(
            resolve_location("https://h:8443/a/info/refs?x", "/b/info/refs?x").as_deref(),
            Some("https://h:8443/b/info/refs?x")
        );
        assert_eq!(
            resolve_location("https://h/a", "HTTP://other/b").as_deref(),
            Some("HTTP://other/b")
        );
        assert_eq!(
            resolve_location("https://h", "x.tgz").as_deref(),
            Some("https://h/x.tgz")
        );
        assert_eq!(resolve_location("https://h/a", ""), None);
        assert_eq!(resolve_location("https://h/a", "ftp://h/b"), None);
        assert_eq!(resolve_location("https://h/a", "javascript:alert(1)"), None);
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        assert_eq!(
            origin_of("HTTPS://Charts.Example.com:8443/a?b"),
            "https://charts.example.com:8443"
        );
        assert_eq!(origin_of("http://h?x"), "http://h");
        assert_ne!(origin_of("https://h/a"), origin_of("http://h/a"));
        assert_ne!(origin_of("http://h:1/a"), origin_of("http://h:2/a"));
    }
}
