//! Hosted forges' REST APIs as Argo CD's ApplicationSet generators read them
//! ([`crate::github`], [`crate::gitlab`], [`crate::gitea`]): the pull (merge) requests of a
//! repository, and an organization's repositories, their branches and whether a path
//! exists at a branch. Tokens go only to the API's own origin (redirects elsewhere drop
//! them) and never into messages.

use std::time::Duration;

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

/// Which API to call and how: its base URL (the forge's default when empty), a token sent
/// as a bearer token to that origin only, and how long one whole listing may take.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The API's base URL as the generator gives it (`api`).
    pub api: &'a str,
    /// The token, if any.
    pub token: Option<&'a str>,
    /// The bound on one call with all its pages.
    pub timeout: Duration,
}

impl Access<'_> {
    pub(crate) fn authorization(&self) -> Option<String> {
        self.token.map(|t| format!("Bearer {t}"))
    }

    /// `work` within the timeout, else `what: no answer within …`.
    pub(crate) async fn bounded<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, ForgeError>>,
    ) -> Result<T, ForgeError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| {
                ForgeError::Failed(format!("{what}: no answer within {:?}", self.timeout))
            })?
    }
}

/// A repository of an organization, as the SCM provider generator reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgeRepo {
    /// Its organization (GitHub owner login, GitLab namespace full path, Gitea owner).
    pub organization: String,
    /// Its name (GitLab: its path).
    pub name: String,
    /// The forge's id of it.
    pub id: i64,
    /// The SSH clone URL.
    pub ssh_url: String,
    /// The HTTPS URL Argo CD clones with `cloneProtocol: https` (GitHub `clone_url`,
    /// GitLab `http_url_to_repo`, Gitea `html_url`).
    pub https_url: String,
    /// The default branch.
    pub default_branch: String,
    /// Topics (GitHub, GitLab) or label names (Gitea).
    pub labels: Vec<String>,
    /// Whether it is archived.
    pub archived: bool,
}

/// A branch and its head commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// Its name.
    pub name: String,
    /// Its head commit.
    pub sha: String,
}

/// Which branches of a repository to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Branches<'a> {
    /// Only this one (the default branch): one call.
    Only(&'a str),
    /// Every branch, all pages.
    All,
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

/// A branch as GitHub (`commit.sha`), GitLab and Gitea (`commit.id`) describe it.
#[derive(serde::Deserialize)]
pub(crate) struct ApiBranch {
    name: String,
    commit: ApiCommit,
}

#[derive(serde::Deserialize)]
struct ApiCommit {
    #[serde(default, alias = "sha")]
    id: String,
}

impl From<ApiBranch> for Branch {
    fn from(b: ApiBranch) -> Branch {
        Branch {
            name: b.name,
            sha: b.commit.id,
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

/// `text` percent-encoded but for RFC 3986's unreserved characters: safe in a query value
/// and as one path segment (a `/` becomes `%2F`).
pub(crate) fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `text` as one path segment, or `None` for `.` and `..` (which would climb out of it
/// once a server normalizes the path) and the empty name.
pub(crate) fn segment(text: &str) -> Option<String> {
    (!matches!(text, "" | "." | "..")).then(|| escape(text))
}

/// A path in a repository as URL path segments (`/` kept between them, a leading `/`
/// dropped), or `None` when a segment is empty, `.` or `..`. The empty path is the root.
pub(crate) fn repo_path(path: &str) -> Option<String> {
    let path = path.trim_start_matches('/');
    if path.is_empty() {
        return Some(String::new());
    }
    path.split('/')
        .map(segment)
        .collect::<Option<Vec<_>>>()
        .map(|segments| segments.join("/"))
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
    json(url, headers, authorization, what).await
}

/// `GET url` decoded as `T`, errors as [`page`]'s.
pub(crate) async fn json<T: serde::de::DeserializeOwned>(
    url: &str,
    headers: &[(hyper::header::HeaderName, &str)],
    authorization: Option<&str>,
    what: &str,
) -> Result<(T, crate::redirect::Answer), ForgeError> {
    let answer = found(url, headers, authorization, what).await?;
    let decoded = serde_json::from_slice(&answer.body)
        .map_err(|e| ForgeError::Failed(format!("{what}: the answer does not parse: {e}")))?;
    Ok((decoded, answer))
}

/// `GET url`: a success as it came, a 404 as [`ForgeError::NotFound`], any other failure as
/// `what: …`.
pub(crate) async fn found(
    url: &str,
    headers: &[(hyper::header::HeaderName, &str)],
    authorization: Option<&str>,
    what: &str,
) -> Result<crate::redirect::Answer, ForgeError> {
    let failed = |detail: String| ForgeError::Failed(format!("{what}: {detail}"));
    let answer = crate::redirect::get(
        url,
        headers,
        authorization,
        &crate::tls::Tls::default(),
        MAX_PAGE_BYTES,
    )
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
    Ok(answer)
}

/// Whether `GET url` finds something: a success yes, a 404 no, anything else an error —
/// how Argo CD reads the contents and files APIs for `pathsExist`.
pub(crate) async fn exists(
    url: &str,
    headers: &[(hyper::header::HeaderName, &str)],
    authorization: Option<&str>,
    what: &str,
) -> Result<bool, ForgeError> {
    match found(url, headers, authorization, what).await {
        Ok(_) => Ok(true),
        Err(ForgeError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `path` exists in `owner/repo` at `branch` through the contents API GitHub and
/// Gitea share (`GET {base}/repos/{o}/{r}/contents/{path}?ref={branch}`, a 404 meaning
/// no); `names` says whose names `owner` and `repo` must be in the error.
pub(crate) async fn contents_exist(
    access: &Access<'_>,
    (base, names, headers): (&str, &str, &[(hyper::header::HeaderName, &str)]),
    (owner, repo): (&str, &str),
    path: &str,
    branch: &str,
) -> Result<bool, ForgeError> {
    let what = format!("error reading {path:?} of {owner}/{repo} at {branch:?}");
    let failed = |detail: String| ForgeError::Failed(format!("{what}: {detail}"));
    if !is_name(owner) || !is_name(repo) {
        return Err(failed(format!(
            "owner and repo are {names} names (letters, digits, '-', '_', '.')"
        )));
    }
    let Some(encoded) = repo_path(path) else {
        return Err(failed("a path has no empty, '.' or '..' segments".into()));
    };
    let url = format!(
        "{base}/repos/{owner}/{repo}/contents/{encoded}?ref={}",
        escape(branch)
    );
    let authorization = access.authorization();
    let work = exists(&url, headers, authorization.as_deref(), &what);
    access.bounded(&what, work).await
}

/// The branch at `url` (`GET …/branches/{name}`), none when it is a 404 — an empty
/// repository, as GitHub's and GitLab's providers in Argo CD read it.
pub(crate) async fn branch_or_none(
    url: &str,
    headers: &[(hyper::header::HeaderName, &str)],
    authorization: Option<&str>,
    what: &str,
) -> Result<Vec<Branch>, ForgeError> {
    let one = json::<ApiBranch>(url, headers, authorization, what)
        .await
        .map(|(branch, _)| vec![Branch::from(branch)]);
    none_if_missing(one)
}

/// A 404 as nothing: what Argo CD makes of a missing default branch.
pub(crate) fn none_if_missing<T: Default>(result: Result<T, ForgeError>) -> Result<T, ForgeError> {
    match result {
        Err(ForgeError::NotFound(_)) => Ok(T::default()),
        other => other,
    }
}

/// A loopback stand-in for a forge's API in unit tests: every request's path and
/// `Authorization` header are logged; `answer` maps a path to a status line, a JSON body
/// and extra header lines.
#[cfg(test)]
pub(crate) mod stand_in {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};

    /// Requests seen: path and `Authorization` value.
    pub(crate) type Log = Arc<Mutex<Vec<(String, Option<String>)>>>;

    /// Serves `answer` on a loopback port; the base URL and the log.
    pub(crate) fn serve(
        answer: impl Fn(&str) -> (&'static str, String, String) + Send + 'static,
    ) -> (String, Log) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let log = Log::default();
        let seen = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(value.trim().to_string());
                    }
                }
                let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
                let (status, body, headers) = answer(&path);
                seen.lock().expect("the log").push((path, authorization));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (base, log)
    }

    /// The paths requested, in order.
    pub(crate) fn paths(log: &Log) -> Vec<String> {
        log.lock()
            .expect("the log")
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    pub(crate) fn ok(body: serde_json::Value) -> (&'static str, String, String) {
        ("200 OK", body.to_string(), String::new())
    }

    pub(crate) fn not_found() -> (&'static str, String, String) {
        (
            "404 Not Found",
            "{\"message\":\"Not Found\"}".into(),
            String::new(),
        )
    }
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

    #[test]
    fn repository_paths_and_refs_stay_in_their_place() {
        assert_eq!(
            repo_path("deploy/base/kustomization.yaml").as_deref(),
            Some("deploy/base/kustomization.yaml")
        );
        assert_eq!(
            repo_path("/helm charts/a#b?c%d").as_deref(),
            Some("helm%20charts/a%23b%3Fc%25d")
        );
        assert_eq!(repo_path("").as_deref(), Some(""));
        for bad in ["../orgs", "a/../../x", "a/./b", "a//b"] {
            assert_eq!(repo_path(bad), None, "{bad}");
        }
        assert_eq!(segment("feature/x").as_deref(), Some("feature%2Fx"));
        assert_eq!(segment(".."), None);
        assert_eq!(escape("ä &="), "%C3%A4%20%26%3D");
    }
}
