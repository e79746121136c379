//! Following HTTP redirects: where a `Location` leads (RFC 3986 reference resolution, as
//! Go's `url.ResolveReference` and curl resolve it) and whether credentials may travel
//! there (only to the origin they were given for).

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
