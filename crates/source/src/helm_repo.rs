//! Helm chart repositories, for Argo CD sources that name a `chart`: the repository's
//! `index.yaml` read over HTTP(S), the version chosen as Argo CD chooses it (an exact
//! version, else the highest one a Masterminds constraint admits), and the packaged
//! chart downloaded and checked against the digest the index gives. Parsing and choosing
//! are pure; the two requests share the process's HTTP client with the Git fetches.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;
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
    /// OCI registries are another protocol.
    #[error("{0}: OCI Helm repositories are not supported")]
    Oci(String),
}

/// One version of a chart as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChartVersion {
    /// The chart's version.
    pub version: String,
    /// Where the package is (absolute, or relative to the repository).
    #[serde(default)]
    pub urls: Vec<String>,
    /// sha256 of the package, hex.
    #[serde(default)]
    pub digest: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    entries: HashMap<String, Vec<ChartVersion>>,
}

/// A chart's versions from an `index.yaml`. Public indexes hold hundreds of thousands
/// of nodes: the parser's node and event budgets are raised for them (the input is
/// already capped at [`MAX_INDEX_BYTES`]; aliases stay limited).
pub fn parse_index(text: &[u8]) -> Result<HashMap<String, Vec<ChartVersion>>, String> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_events = 40_000_000;
    budget.max_nodes = 20_000_000;
    budget.max_total_scalar_bytes = MAX_INDEX_BYTES;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    let index: Index =
        serde_saphyr::from_slice_with_options(text, options).map_err(|e| e.to_string())?;
    Ok(index.entries)
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

/// `reference` resolved against the repository URL as Helm does (the repository taken
/// as a directory).
pub fn package_url(repo: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_string();
    }
    let base = repo.trim_end_matches('/');
    match reference.strip_prefix('/') {
        Some(absolute) => format!("{}/{absolute}", host_of(base)),
        None => format!("{base}/{}", reference.trim_start_matches("./")),
    }
}

/// `scheme://host[:port]` of a URL.
fn host_of(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    &url[..end]
}

/// `GET url` with `authorization` (a header value), at most `limit` bytes, within
/// `timeout`.
async fn get(
    url: &str,
    authorization: Option<&str>,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, HelmRepoError> {
    let failed = |detail: String| HelmRepoError::Fetch {
        url: crate::url::redact_str(url),
        detail,
    };
    let mut request = hyper::Request::get(url).header(
        hyper::header::USER_AGENT,
        concat!("flotilla/", env!("CARGO_PKG_VERSION")),
    );
    if let Some(authorization) = authorization {
        request = request.header(hyper::header::AUTHORIZATION, authorization);
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| failed(e.to_string()))?;
    let work = async {
        let response = crate::smart_http::client()
            .request(request)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!(
                "the server answered HTTP {}",
                response.status()
            )));
        }
        Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map(|b| b.to_bytes().to_vec())
            .map_err(|e| failed(format!("reading the answer: {e}")))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| failed(format!("no answer within {timeout:?}")))?
}

/// Every chart's versions in the repository at `repo` (one request for all of its
/// charts); `authorization` is sent as the `Authorization` header.
pub async fn index(
    repo: &str,
    authorization: Option<&str>,
    timeout: Duration,
) -> Result<HashMap<String, Vec<ChartVersion>>, HelmRepoError> {
    if repo.starts_with("oci://") {
        return Err(HelmRepoError::Oci(repo.to_string()));
    }
    let url = format!("{}/index.yaml", repo.trim_end_matches('/'));
    let text = get(&url, authorization, MAX_INDEX_BYTES, timeout).await?;
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
    timeout: Duration,
) -> Result<Vec<u8>, HelmRepoError> {
    let reference = version.urls.first().ok_or_else(|| HelmRepoError::Fetch {
        url: repo.to_string(),
        detail: format!("the index gives no URL for version {}", version.version),
    })?;
    let url = package_url(repo, reference);
    let same_host = host_of(&url) == host_of(repo);
    let authorization = authorization.filter(|_| same_host);
    let bytes = get(&url, authorization, MAX_CHART_BYTES, timeout).await?;
    if !version.digest.is_empty() {
        use sha2::Digest as _;
        let actual: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
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
    fn package_urls_resolve_against_the_repository() {
        let repo = "https://charts.example.com/stable/";
        assert_eq!(
            package_url(repo, "web-1.0.0.tgz"),
            "https://charts.example.com/stable/web-1.0.0.tgz"
        );
        assert_eq!(
            package_url(repo, "/pkgs/web-1.0.0.tgz"),
            "https://charts.example.com/pkgs/web-1.0.0.tgz"
        );
        assert_eq!(
            package_url(repo, "https://cdn.example.com/web-1.0.0.tgz"),
            "https://cdn.example.com/web-1.0.0.tgz"
        );
    }

    #[test]
    fn an_index_lists_each_charts_versions() {
        let index = b"apiVersion: v1\nentries:\n  web:\n  - version: 1.0.0\n    urls: [web-1.0.0.tgz]\n    digest: abc\n    created: 2026-01-01T00:00:00Z\n  api: []\ngenerated: 2026-01-01T00:00:00Z\n";
        let entries = parse_index(index).unwrap();
        assert_eq!(entries["web"][0].urls, ["web-1.0.0.tgz"]);
        assert!(entries["api"].is_empty());
        assert!(parse_index(b"entries: [").is_err());
    }
}
