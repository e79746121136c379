//! Pull (merge) requests of hosted forges, as Argo CD's pull request generator lists them:
//! [`crate::github`] and [`crate::gitlab`], over their REST APIs. Tokens go only to the
//! API's own origin (redirects elsewhere drop them) and never into messages.

/// One pull (merge) request as a forge describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pull {
    /// Its number (GitHub `number`, GitLab `iid`).
    pub number: i64,
    /// Its title.
    pub title: String,
    /// The source branch.
    pub head_ref: String,
    /// The target branch.
    pub base_ref: String,
    /// The head commit.
    pub head_sha: String,
    /// Who opened it.
    pub author: String,
    /// Its labels.
    pub labels: Vec<String>,
}

/// Why the pull requests could not be listed. Messages hold no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    /// HTTP 404: no such repository (or not visible with these credentials).
    #[error("{0}")]
    NotFound(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// A pull request as GitHub and Gitea describe it in JSON (the same shape).
#[derive(serde::Deserialize)]
pub(crate) struct ApiPull {
    number: i64,
    #[serde(default)]
    title: String,
    head: ApiRef,
    base: ApiRef,
    #[serde(default)]
    user: Option<ApiUser>,
    #[serde(default)]
    labels: Vec<ApiLabel>,
}

#[derive(serde::Deserialize)]
struct ApiRef {
    #[serde(rename = "ref", default)]
    name: String,
    #[serde(default)]
    sha: String,
}

#[derive(serde::Deserialize)]
struct ApiUser {
    #[serde(default)]
    login: String,
}

#[derive(serde::Deserialize)]
struct ApiLabel {
    #[serde(default)]
    name: String,
}

impl From<ApiPull> for Pull {
    fn from(p: ApiPull) -> Pull {
        Pull {
            number: p.number,
            title: p.title,
            head_ref: p.head.name,
            base_ref: p.base.name,
            head_sha: p.head.sha,
            author: p.user.map(|u| u.login).unwrap_or_default(),
            labels: p.labels.into_iter().map(|l| l.name).collect(),
        }
    }
}

/// Whether `name` may stand in a URL path segment: a forge's name characters only, so a
/// tenant's spec cannot reach another endpoint.
pub(crate) fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The largest page read.
const MAX_PAGE_BYTES: usize = 16 << 20;
/// Pages followed at most (10,000 pull requests at 100 a page).
pub(crate) const MAX_PAGES: usize = 100;

/// One page of a listing: `GET url` (the token only to its origin), a 404 as
/// [`ForgeError::NotFound`], any other failure as `what: …`, the JSON array decoded.
pub(crate) async fn page<T: serde::de::DeserializeOwned>(
    url: &str,
    headers: &[(hyper::header::HeaderName, &str)],
    authorization: Option<&str>,
    what: &str,
) -> Result<(Vec<T>, crate::redirect::Answer), ForgeError> {
    let failed = |detail: String| ForgeError::Failed(format!("{what}: {detail}"));
    let answer = crate::redirect::get(url, headers, authorization, MAX_PAGE_BYTES)
        .await
        .map_err(|e| failed(crate::url::redact_str(&e)))?;
    if answer.status == hyper::StatusCode::NOT_FOUND {
        return Err(ForgeError::NotFound(format!(
            "{what}: GET {url}: 404 Not Found"
        )));
    }
    if !answer.status.is_success() {
        return Err(failed(format!("GET {url}: HTTP {}", answer.status)));
    }
    let items = serde_json::from_slice(&answer.body)
        .map_err(|e| failed(format!("the answer does not parse: {e}")))?;
    Ok((items, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_leave_their_path_segment() {
        assert!(is_name("argoproj") && is_name("argo-cd") && is_name("my_repo.v2"));
        for bad in ["", ".", "..", "a/b", "a?b", "a#b", "a%2Fb", "../x"] {
            assert!(!is_name(bad), "{bad}");
        }
    }
}
