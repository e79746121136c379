//! Helm chart repositories, for Argo CD sources that name a `chart`: the repository's
//! `index.yaml` read over HTTP(S), the version chosen as Argo CD chooses it (an exact
//! version, else the highest one a Masterminds constraint admits), and the packaged
//! chart downloaded and checked against the digest the index gives. Parsing and choosing
//! are pure; the two requests share the process's HTTP client with the Git fetches.

use crate::tls::Tls;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

use crate::semver::{Constraint, Version};

/// The largest `index.yaml` read (public indexes run to tens of MiB).
pub const MAX_INDEX_BYTES: usize = 96 << 20;
/// The largest packaged chart downloaded.
pub const MAX_CHART_BYTES: usize = 32 << 20;

/// Why a chart could not be had. Messages never hold credentials (none are sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelmRepoError {
    /// A request failed or was refused.
    #[error("fetching {url}: {detail}")]
    Fetch {
        /// What was asked for.
        url: String,
        /// Why it failed.
        detail: String,
    },
    /// The index does not parse.
    #[error("{url}: invalid index: {detail}")]
    Index {
        /// The index URL.
        url: String,
        /// The parser's reason.
        detail: String,
    },
    /// The index lists no chart of that name.
    #[error("chart {chart:?} not found in repository {repo}")]
    NoChart {
        /// The repository.
        repo: String,
        /// The chart.
        chart: String,
    },
    /// No listed version is the one asked for, or satisfies the constraint.
    #[error("no version of chart {chart:?} in {repo} matches {wanted:?}")]
    NoVersion {
        /// The repository.
        repo: String,
        /// The chart.
        chart: String,
        /// `targetRevision` as written.
        wanted: String,
    },
    /// `targetRevision` is neither a version nor a constraint.
    #[error("invalid chart version constraint {0:?}")]
    Constraint(String),
    /// The archive is not what the index says.
    #[error("{url}: digest {actual} does not match the index's {expected}")]
    Digest {
        /// The archive URL.
        url: String,
        /// sha256 from the index.
        expected: String,
        /// sha256 of what arrived.
        actual: String,
    },
    /// `oci://` names Argo CD's OCI source type, which is not read here.
    #[error(
        "{0}: oci:// sources (Argo CD's OCI source type) are not supported; a Helm chart in a registry is named without the scheme (registry.example.com/charts)"
    )]
    Oci(String),
}

/// One version of a chart as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ChartVersion {
    /// The chart's version.
    pub version: String,
    /// Where the package is (absolute, or relative to the repository).
    #[serde(default)]
    pub urls: Vec<String>,
    /// sha256 of the package, hex.
    #[serde(default)]
    pub digest: String,
    /// When the package was made (RFC 3339, as `helm repo index` writes it; empty when
    /// the index does not say). Flux orders equal versions by it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub created: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default, rename = "apiVersion")]
    api_version: String,
    #[serde(default)]
    entries: HashMap<String, Vec<ChartVersion>>,
}

/// A chart's versions from an `index.yaml`. Public indexes hold hundreds of thousands
/// of nodes: the parser's node and event budgets are raised for them (the input is
/// already capped at [`MAX_INDEX_BYTES`]; aliases stay limited).
pub fn parse_index(text: &[u8]) -> Result<HashMap<String, Vec<ChartVersion>>, String> {
    parse_index_document(text).map(|(_, entries)| entries)
}

/// [`parse_index`], with the index's `apiVersion` (empty when it has none).
pub fn parse_index_document(
    text: &[u8],
) -> Result<(String, HashMap<String, Vec<ChartVersion>>), String> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 40_000_000;
    budget.max_nodes = 20_000_000;
    budget.max_total_scalar_bytes = MAX_INDEX_BYTES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    let index: Index =
        serde_saphyr::from_slice_with_options(text, options).map_err(|e| e.to_string())?;
    Ok((index.api_version, index.entries))
}

/// The version Argo CD takes for `wanted` (`targetRevision`): the entry of that exact
/// version if it parses as one, else the highest version (pre-releases only when the
/// constraint names one) the constraint admits; empty means any.
pub fn choose<'a>(
    versions: &'a [ChartVersion],
    wanted: &str,
) -> Result<Option<&'a ChartVersion>, HelmRepoError> {
    let wanted = wanted.trim();
    let parsed = |v: &ChartVersion| Version::parse(&v.version);
    if let Some(exact) = Version::parse(wanted) {
        return Ok(versions.iter().find(|v| parsed(v).as_ref() == Some(&exact)));
    }
    let expr = if wanted.is_empty() { "*" } else { wanted };
    let constraint =
        Constraint::parse(expr).map_err(|_| HelmRepoError::Constraint(wanted.to_string()))?;
    Ok(versions
        .iter()
        .filter_map(|v| parsed(v).map(|p| (p, v)))
        .filter(|(p, _)| constraint.matches(p))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, v)| v))
}

/// An OCI repository's tags as chart versions (no package URLs, digests or dates), for
/// [`choose_tag`].
pub fn tag_versions(tags: Vec<String>) -> Vec<ChartVersion> {
    tags.into_iter()
        .map(|version| ChartVersion {
            version,
            urls: Vec::new(),
            digest: String::new(),
            created: String::new(),
        })
        .collect()
}

/// The tag `wanted` picks among an OCI chart repository's `tags` ([`tag_versions`]), as
/// [`choose`] picks a version; a `wanted` that is no constraint but is a tag exactly is
/// that tag. (A `wanted` that is a version needs no listing: it is the tag.)
pub fn choose_tag(tags: &[ChartVersion], wanted: &str) -> Result<Option<String>, HelmRepoError> {
    let wanted = wanted.trim();
    match choose(tags, wanted) {
        Err(HelmRepoError::Constraint(_)) if tags.iter().any(|v| v.version == wanted) => {
            Ok(Some(wanted.to_string()))
        }
        chosen => Ok(chosen?.map(|v| v.version.clone())),
    }
}

/// `reference` resolved against the repository URL as Helm's `ResolveReferenceURL` does:
/// an absolute URL as it is; otherwise the repository taken as a directory, RFC 3986
/// reference resolution, and the repository's query (a signed URL's token) kept.
pub fn package_url(repo: &str, reference: &str) -> String {
    if has_scheme(reference) {
        return reference.to_string();
    }
    let (repo, query) = repo.split_once('?').unwrap_or((repo, ""));
    let base = format!("{}/", repo.trim_end_matches('/'));
    let resolved = crate::redirect::resolve_location(&base, reference)
        .unwrap_or_else(|| format!("{base}{reference}"));
    let path = &resolved[..resolved.find(['?', '#']).unwrap_or(resolved.len())];
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// Whether `reference` starts with a URL scheme (`https:`, `oci:`), as Go's `IsAbs`.
fn has_scheme(reference: &str) -> bool {
    crate::redirect::scheme_split(reference).is_some()
}

/// `GET url` with `authorization` (a header value), following redirects as Helm's client
/// does (the header only while they stay on `url`'s origin), at most `limit` bytes, within
/// `timeout`; anything but a success is an error.
async fn get(
    url: &str,
    authorization: Option<&str>,
    tls: &Tls,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, HelmRepoError> {
    let failed = |detail: String| HelmRepoError::Fetch {
        url: crate::url::redact_str(url),
        detail,
    };
    let answer = tokio::time::timeout(
        timeout,
        crate::redirect::get(url, &[], authorization, tls, limit),
    )
    .await
    .map_err(|_| failed(format!("no answer within {timeout:?}")))?
    .map_err(failed)?;
    if !answer.status.is_success() {
        let detail = format!("the server answered HTTP {}", answer.status);
        return Err(failed(answer.explain(url, detail)));
    }
    Ok(answer.body)
}

/// `GET url` as Helm's HTTP getter does it for Flux (redirects followed, `authorization`
/// only while they stay on `url`'s origin), at most `limit` bytes within `timeout`. A
/// refusal reads as Helm words it: `failed to fetch <url> : 401 Unauthorized`.
pub async fn fetch(
    url: &str,
    authorization: Option<&str>,
    tls: &Tls,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let shown = crate::url::redact_str(url);
    let answer = tokio::time::timeout(
        timeout,
        crate::redirect::get(url, &[], authorization, tls, limit),
    )
    .await
    .map_err(|_| format!("Get \"{shown}\": context deadline exceeded"))??;
    if !answer.status.is_success() {
        return Err(format!("failed to fetch {shown} : {}", answer.status));
    }
    Ok(answer.body)
}

/// Every chart's versions in the repository at `repo` (one request for all of its
/// charts); `authorization` is sent as the `Authorization` header, and an HTTPS server
/// must chain to `trust`.
pub async fn index(
    repo: &str,
    authorization: Option<&str>,
    tls: &Tls,
    timeout: Duration,
) -> Result<HashMap<String, Vec<ChartVersion>>, HelmRepoError> {
    if repo.starts_with("oci://") {
        return Err(HelmRepoError::Oci(repo.to_string()));
    }
    let url = package_url(repo, "index.yaml");
    let text = get(&url, authorization, tls, MAX_INDEX_BYTES, timeout).await?;
    tokio::task::spawn_blocking(move || parse_index(&text))
        .await
        .map_err(|e| HelmRepoError::Index {
            url: url.clone(),
            detail: e.to_string(),
        })?
        .map_err(|detail| HelmRepoError::Index {
            url: url.clone(),
            detail,
        })
}

/// Downloads the package of `version`, checked against the index's digest. The
/// `Authorization` header goes only to the repository's own host (Helm's
/// `passCredentials` is off by default).
pub async fn package(
    repo: &str,
    version: &ChartVersion,
    authorization: Option<&str>,
    tls: &Tls,
    timeout: Duration,
) -> Result<Vec<u8>, HelmRepoError> {
    let reference = version.urls.first().ok_or_else(|| HelmRepoError::Fetch {
        url: repo.to_string(),
        detail: format!("the index gives no URL for version {}", version.version),
    })?;
    let url = package_url(repo, reference);
    let same_host = crate::redirect::origin_of(&url) == crate::redirect::origin_of(repo);
    let authorization = authorization.filter(|_| same_host);
    let bytes = get(&url, authorization, tls, MAX_CHART_BYTES, timeout).await?;
    if !version.digest.is_empty() {
        let actual = crate::sha256_hex(&bytes);
        if !actual.eq_ignore_ascii_case(version.digest.trim()) {
            return Err(HelmRepoError::Digest {
                url,
                expected: version.digest.clone(),
                actual,
            });
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(versions: &[&str]) -> Vec<ChartVersion> {
        versions
            .iter()
            .map(|v| ChartVersion {
                version: v.to_string(),
                urls: vec![format!("web-{v}.tgz")],
                digest: String::new(),
                created: String::new(),
            })
            .collect()
    }

    fn chosen(versions: &[ChartVersion], wanted: &str) -> Option<String> {
        choose(versions, wanted).unwrap().map(|v| v.version.clone())
    }

    #[test]
    fn versions_are_chosen_as_argo_cd_chooses_them() {
        let all = listed(&["1.2.0", "1.10.1", "2.0.0-rc.1", "1.9.9", "not-a-version"]);
        assert_eq!(chosen(&all, "1.9.9").as_deref(), Some("1.9.9"));
        assert_eq!(chosen(&all, "v1.2"), Some("1.2.0".into()), "lenient");
        assert_eq!(chosen(&all, "1.3.0"), None, "an exact version not listed");
        assert_eq!(chosen(&all, "1.*").as_deref(), Some("1.10.1"));
        assert_eq!(chosen(&all, ">=1.2, <1.10").as_deref(), Some("1.9.9"));
        assert_eq!(
            chosen(&all, "*").as_deref(),
            Some("1.10.1"),
            "no pre-release"
        );
        assert_eq!(chosen(&all, "").as_deref(), Some("1.10.1"));
        assert_eq!(chosen(&all, ">=2.0.0-0").as_deref(), Some("2.0.0-rc.1"));
        assert!(matches!(
            choose(&all, "what?"),
            Err(HelmRepoError::Constraint(_))
        ));
    }

    #[test]
    /// Helm's own vectors (`TestResolveReferenceURL`, pkg/repo), and an index's URL.
    fn package_urls_resolve_against_the_repository_as_helm_resolves_them() {
        for (repo, reference, expected) in [
            (
                "http://localhost:8123/",
                "/nginx-0.2.0.tgz",
                "http://localhost:8123/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts/",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts/",
                "/nginx-0.2.0.tgz",
                "http://localhost:8123/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts-with-no-trailing-slash",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts-with-no-trailing-slash/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123",
                "https://charts.helm.sh/stable/nginx-0.2.0.tgz",
                "https://charts.helm.sh/stable/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts%2fwith%2fescaped%2fslash",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts%2fwith%2fescaped%2fslash/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts%2fwith%2fescaped%2fslash",
                "/nginx-0.2.0.tgz",
                "http://localhost:8123/nginx-0.2.0.tgz",
            ),
            (
                "http://localhost:8123/charts?with=queryparameter",
                "nginx-0.2.0.tgz",
                "http://localhost:8123/charts/nginx-0.2.0.tgz?with=queryparameter",
            ),
            (
                "http://localhost:8123/charts?with=queryparameter",
                "/nginx-0.2.0.tgz",
                "http://localhost:8123/nginx-0.2.0.tgz?with=queryparameter",
            ),
            (
                "https://h/charts",
                "../pkgs/a-1.0.0.tgz",
                "https://h/pkgs/a-1.0.0.tgz",
            ),
            (
                "https://h/charts?token=x",
                "index.yaml",
                "https://h/charts/index.yaml?token=x",
            ),
        ] {
            assert_eq!(
                package_url(repo, reference),
                expected,
                "{repo} + {reference}"
            );
        }
    }

    #[test]
    fn an_index_lists_each_charts_versions() {
        let index = b"apiVersion: v1\nentries:\n  web:\n  - version: 1.0.0\n    urls: [web-1.0.0.tgz]\n    digest: abc\n    created: 2026-01-01T00:00:00Z\n  api: []\ngenerated: 2026-01-01T00:00:00Z\n";
        let entries = parse_index(index).unwrap();
        assert_eq!(entries["web"][0].urls, ["web-1.0.0.tgz"]);
        assert!(entries["api"].is_empty());
        assert!(parse_index(b"entries: [").is_err());
    }

    /// Each request a test server saw: its path and `Authorization` header.
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

    /// A loopback server answering every request with `answer(path)`, recording it.
    async fn serve(
        seen: Seen,
        answer: impl Fn(&str) -> axum::response::Response + Clone + Send + Sync + 'static,
    ) -> String {
        let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (seen, answer) = (seen.clone(), answer.clone());
            async move {
                let path = request.uri().path().to_string();
                let authorization = request
                    .headers()
                    .get(hyper::header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_string());
                seen.lock().unwrap().push((path.clone(), authorization));
                answer(&path)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }

    fn redirect(status: u16, location: &str) -> axum::response::Response {
        axum::response::Response::builder()
            .status(status)
            .header(hyper::header::LOCATION, location)
            .body(axum::body::Body::empty())
            .unwrap()
    }

    fn ok(body: impl Into<axum::body::Body>) -> axum::response::Response {
        axum::response::Response::new(body.into())
    }

    fn auth_of(seen: &Seen, path: &str) -> Vec<Option<String>> {
        let seen = seen.lock().unwrap();
        seen.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, auth)| auth.clone())
            .collect()
    }

    /// Two loopback servers (two origins): the repository's, whose index has moved and
    /// whose packages redirect to a download host, as chart repositories publishing
    /// GitHub release assets do. Redirects are followed as Go's client follows them
    /// (relative locations, 301/302/303/307/308, at most 10); the credentials reach the
    /// repository's origin only and, once a redirect has left it, not even on the way
    /// back; an endless answer is cut at the cap.
    #[tokio::test]
    async fn redirects_are_followed_and_credentials_stay_with_their_origin() {
        const AUTH: &str = "Basic aGVsbTpzM2NyM3Q=";
        let package = b"not really a chart".to_vec();
        let digest = crate::sha256_hex(&package);
        let repo_seen = Seen::default();
        {
            let downloads_seen = Seen::default();
            let repo_origin = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
            let downloads = {
                let (package, repo_origin) = (package.clone(), repo_origin.clone());
                serve(downloads_seen.clone(), move |path| match path {
                    "/assets/web-1.0.0.tgz" => ok(package.clone()),
                    "/bounce" => redirect(
                        307,
                        &format!("{}/charts/web-1.0.0.tgz", repo_origin.get().unwrap()),
                    ),
                    "/endless" => ok(axum::body::Body::from_stream(futures::stream::repeat_with(
                        || {
                            Ok::<_, std::convert::Infallible>(bytes::Bytes::from(vec![
                                b'x';
                                1 << 16
                            ]))
                        },
                    ))),
                    _ => redirect(404, ""),
                })
                .await
            };
            let index = format!(
                "apiVersion: v1\nentries:\n  web:\n  - version: 1.0.0\n    urls: [web-1.0.0.tgz]\n    digest: {digest}\n"
            );
            let base = {
                let downloads = downloads.clone();
                serve(repo_seen.clone(), move |path| match path {
                    "/charts/index.yaml" => redirect(301, "../moved/index.yaml"),
                    "/moved/index.yaml" => ok(index.clone()),
                    "/charts/web-1.0.0.tgz" => {
                        redirect(302, &format!("{downloads}/assets/web-1.0.0.tgz"))
                    }
                    "/charts/bounce.tgz" => redirect(302, &format!("{downloads}/bounce")),
                    "/charts/endless.tgz" => redirect(302, &format!("{downloads}/endless")),
                    "/charts/loop.tgz" => redirect(308, "loop.tgz"),
                    "/charts/nowhere.tgz" => redirect(303, ""),
                    "/charts/elsewhere.tgz" => redirect(302, "ftp://example.com/x"),
                    _ => redirect(404, ""),
                })
                .await
            };
            repo_origin.set(base.clone()).unwrap();
            let repo = format!("{base}/charts");

            let timeout = Duration::from_secs(20);
            let charts = super::index(&repo, Some(AUTH), &Tls::default(), timeout)
                .await
                .unwrap();
            assert_eq!(
                auth_of(&repo_seen, "/moved/index.yaml"),
                [Some(AUTH.to_string())],
                "same origin: kept"
            );
            let version = charts["web"][0].clone();
            assert_eq!(
                super::package(&repo, &version, Some(AUTH), &Tls::default(), timeout)
                    .await
                    .unwrap(),
                package
            );
            assert_eq!(
                auth_of(&repo_seen, "/charts/web-1.0.0.tgz"),
                [Some(AUTH.to_string())]
            );
            assert_eq!(
                auth_of(&downloads_seen, "/assets/web-1.0.0.tgz"),
                [None],
                "another origin: dropped"
            );

            let with_url = |url: &str| ChartVersion {
                urls: vec![url.to_string()],
                digest: String::new(),
                ..version.clone()
            };
            // Back to the repository's origin after leaving it: still without credentials.
            super::package(
                &repo,
                &with_url("bounce.tgz"),
                Some(AUTH),
                &Tls::default(),
                timeout,
            )
            .await
            .unwrap();
            assert_eq!(
                auth_of(&repo_seen, "/charts/web-1.0.0.tgz"),
                [Some(AUTH.to_string()), None],
                "not restored on the way back"
            );
            let failure = async |url: &str| {
                super::package(&repo, &with_url(url), Some(AUTH), &Tls::default(), timeout)
                    .await
                    .unwrap_err()
                    .to_string()
            };
            let message = failure("loop.tgz").await;
            assert!(message.ends_with("stopped after 10 redirects"), "{message}");
            assert_eq!(
                auth_of(&repo_seen, "/charts/loop.tgz").len(),
                11,
                "the first request and 10 redirects"
            );
            let message = failure("endless.tgz").await;
            assert!(message.ends_with(&format!("the answer is larger than the 32 MiB allowed (redirected to {downloads}/endless)")), "{message}");
            let message = failure("nowhere.tgz").await;
            assert!(
                message.ends_with("the server answered HTTP 303 See Other"),
                "{message}"
            );
            let message = failure("elsewhere.tgz").await;
            assert!(
                message.ends_with(
                    "HTTP 302 Found to \"ftp://example.com/x\", which is not an http(s) location"
                ),
                "{message}"
            );
            let message = failure("missing.tgz").await;
            assert!(
                message.starts_with(&format!("fetching {repo}/missing.tgz: ")),
                "{message}"
            );
            assert!(
                !message.contains(AUTH) && !message.contains("s3cr3t"),
                "{message}"
            );
        }
    }
}
