//! GitHub's REST API as Argo CD's generators read it (go-github, 100 per page, the `Link`
//! header's next page followed): the open pull requests of a repository
//! (`GET /repos/{owner}/{repo}/pulls`) for the pull request generator; an organization's
//! repositories, their branches and the contents API for the SCM provider generator. A
//! token is sent only to the API's own origin (redirects elsewhere drop it).

use std::time::Duration;

use crate::forge::{Access, ApiPull, Branch, Branches, ForgeError, ForgeRepo, Pull, is_name};

use crate::forge::MAX_PAGES;

/// The open pull requests of `owner/repo` at the API `api` (`https://api.github.com` when
/// empty), with `token` as a bearer token when given.
pub async fn open_pull_requests(
    api: &str,
    owner: &str,
    repo: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Vec<Pull>, ForgeError> {
    let which = format!("{owner}/{repo}");
    let failed = |detail: String| {
        ForgeError::Failed(format!("error listing pull requests for {which}: {detail}"))
    };
    if !is_name(owner) || !is_name(repo) {
        return Err(failed(
            "owner and repo are GitHub names (letters, digits, '-', '_', '.')".into(),
        ));
    }
    let api = base(api);
    let authorization = token.map(|t| format!("Bearer {t}"));
    let headers = [
        (hyper::header::ACCEPT, "application/vnd.github+json"),
        (hyper::header::USER_AGENT, "flotilla"),
    ];
    let work = async {
        let mut pulls = Vec::new();
        let mut next = Some(format!("{api}/repos/{owner}/{repo}/pulls?per_page=100"));
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else {
                return Ok(pulls);
            };
            let what = format!("error listing pull requests for {which}");
            let (page, answer) =
                crate::forge::page::<ApiPull>(&url, &headers, authorization.as_deref(), &what)
                    .await?;
            pulls.extend(page.into_iter().map(Pull::from));
            next = crate::oci::next_page(&answer.headers)
                .and_then(|link| crate::redirect::resolve_location(&answer.url, &link));
        }
        Err(failed(format!("more than {MAX_PAGES} pages")))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| failed(format!("no answer within {timeout:?}")))?
}

/// The API's base URL, without a trailing `/`: GitHub's own when `api` is empty, else as
/// go-github's `WithEnterpriseURLs` makes it from the `api` Argo CD hands it — `/api/v3`
/// appended unless the path already ends so or the host is an `api.` one — so the
/// documented `api: https://git.example.com/` reaches GitHub Enterprise's REST API.
pub(crate) fn base(api: &str) -> String {
    if api.is_empty() {
        return "https://api.github.com".into();
    }
    let Ok(uri) = api.parse::<hyper::Uri>() else {
        // Not a URL: the request fails with the text as given.
        return api.trim_end_matches('/').into();
    };
    let host = uri.host().unwrap_or_default();
    let path = uri.path().trim_end_matches('/');
    if path.ends_with("/api/v3") || host.starts_with("api.") || host.contains(".api.") {
        api.trim_end_matches('/').into()
    } else {
        format!("{}/api/v3", api.trim_end_matches('/'))
    }
}

const HEADERS: [(hyper::header::HeaderName, &str); 2] = [
    (hyper::header::ACCEPT, "application/vnd.github+json"),
    (hyper::header::USER_AGENT, "flotilla"),
];

/// Every page of a listing from `first`, following the `Link` header's next page.
async fn all_pages<T: serde::de::DeserializeOwned>(
    first: String,
    authorization: Option<&str>,
    what: &str,
) -> Result<Vec<T>, ForgeError> {
    let mut items = Vec::new();
    let mut next = Some(first);
    for _ in 0..MAX_PAGES {
        let Some(url) = next.take() else {
            return Ok(items);
        };
        let (page, answer) = crate::forge::page::<T>(&url, &HEADERS, authorization, what).await?;
        items.extend(page);
        next = crate::oci::next_page(&answer.headers)
            .and_then(|link| crate::redirect::resolve_location(&answer.url, &link));
    }
    Err(ForgeError::Failed(format!(
        "{what}: more than {MAX_PAGES} pages"
    )))
}

#[derive(serde::Deserialize)]
struct ApiRepo {
    id: i64,
    name: String,
    #[serde(default)]
    owner: Option<ApiOwner>,
    #[serde(default)]
    ssh_url: String,
    #[serde(default)]
    clone_url: String,
    #[serde(default)]
    default_branch: String,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    archived: bool,
}

#[derive(serde::Deserialize)]
struct ApiOwner {
    #[serde(default)]
    login: String,
}

/// The repositories of `organization` (`GET /orgs/{org}/repos`, 100 a page, as go-github's
/// `Repositories.ListByOrg`), topics as labels.
pub async fn org_repos(
    access: &Access<'_>,
    organization: &str,
) -> Result<Vec<ForgeRepo>, ForgeError> {
    let what = format!("error listing repositories for {organization}");
    if !is_name(organization) {
        return Err(ForgeError::Failed(format!(
            "{what}: an organization is a GitHub name (letters, digits, '-', '_', '.')"
        )));
    }
    let url = format!(
        "{}/orgs/{organization}/repos?per_page=100",
        base(access.api)
    );
    let authorization = access.authorization();
    let work = all_pages::<ApiRepo>(url, authorization.as_deref(), &what);
    let repos = access.bounded(&what, work).await?;
    Ok(repos
        .into_iter()
        .map(|r| ForgeRepo {
            organization: r.owner.map(|o| o.login).unwrap_or_default(),
            name: r.name,
            id: r.id,
            ssh_url: r.ssh_url,
            https_url: r.clone_url,
            default_branch: r.default_branch,
            labels: r.topics,
            archived: r.archived,
        })
        .collect())
}

/// The branches of `owner/repo` with their head commits: only the default one
/// (`GET /repos/{o}/{r}/branches/{branch}`; a 404 is an empty repository, no branch) or
/// all (`GET /repos/{o}/{r}/branches`, 100 a page), as Argo CD's `listBranches`.
pub async fn branches(
    access: &Access<'_>,
    owner: &str,
    repo: &str,
    which: Branches<'_>,
) -> Result<Vec<Branch>, ForgeError> {
    let what = format!("error listing branches for {owner}/{repo}");
    let failed = |detail: &str| ForgeError::Failed(format!("{what}: {detail}"));
    if !is_name(owner) || !is_name(repo) {
        return Err(failed(
            "owner and repo are GitHub names (letters, digits, '-', '_', '.')",
        ));
    }
    let repo_url = format!("{}/repos/{owner}/{repo}", base(access.api));
    let authorization = access.authorization();
    let authorization = authorization.as_deref();
    let work = async {
        match which {
            // No default branch (an empty repository): nothing to ask.
            Branches::Only("") => Ok(Vec::new()),
            Branches::Only(name) => {
                let Some(name) = crate::forge::segment(name) else {
                    return Err(failed("the default branch has no usable name"));
                };
                let url = format!("{repo_url}/branches/{name}");
                crate::forge::branch_or_none(&url, &HEADERS, authorization, &what).await
            }
            Branches::All => {
                let url = format!("{repo_url}/branches?per_page=100");
                let all = all_pages::<crate::forge::ApiBranch>(url, authorization, &what).await?;
                Ok(all.into_iter().map(Branch::from).collect())
            }
        }
    };
    access.bounded(&what, work).await
}

/// Whether `path` (a file or a directory) exists in `owner/repo` at `branch`:
/// `GET /repos/{o}/{r}/contents/{path}?ref={branch}`, a 404 meaning no.
pub async fn has_path(
    access: &Access<'_>,
    owner: &str,
    repo: &str,
    path: &str,
    branch: &str,
) -> Result<bool, ForgeError> {
    let base = base(access.api);
    let api = (base.as_str(), "GitHub", &HEADERS[..]);
    crate::forge::contents_exist(access, api, (owner, repo), path, branch).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::stand_in::{not_found, ok, paths, serve};
    use serde_json::json;

    fn access(api: &str) -> Access<'_> {
        Access {
            api,
            token: Some("s3cret"),
            timeout: Duration::from_secs(10),
        }
    }

    /// The organization's repositories over two `Link` pages, topics as labels, the
    /// token on every request; the default branch alone or every branch; the contents
    /// API with the path's segments and the ref escaped, a 404 meaning no.
    #[tokio::test]
    async fn an_organization_is_read_as_argo_cds_github_provider_reads_it() {
        let origin = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
        let link_to = origin.clone();
        // The stand-in answers under `/api/v3`, where go-github sends a custom `api`.
        let (api, log) = serve(
            move |path| match path.strip_prefix("/api/v3").unwrap_or("") {
                "/orgs/org/repos?per_page=100" => (
                    "200 OK",
                    json!([{"id": 1, "name": "web", "owner": {"login": "org"},
                        "ssh_url": "git@github.com:org/web.git",
                        "clone_url": "https://github.com/org/web.git",
                        "default_branch": "main", "topics": ["prod"], "archived": false}])
                    .to_string(),
                    format!(
                        "Link: <{}/orgs/org/repos?per_page=100&page=2>; rel=\"next\"\r\n",
                        link_to.get().unwrap()
                    ),
                ),
                "/orgs/org/repos?per_page=100&page=2" => ok(json!([
                {"id": 2, "name": "empty", "owner": {"login": "org"}, "default_branch": "main",
                 "archived": true}])),
                "/repos/org/web/branches/release%2F1.0" => {
                    ok(json!({"name": "release/1.0", "commit": {"sha": "abc"}}))
                }
                "/repos/org/web/branches?per_page=100" => ok(json!([
                {"name": "main", "commit": {"sha": "111"}},
                {"name": "dev", "commit": {"sha": "222"}}])),
                "/repos/org/web/contents/deploy/kustomization.yaml?ref=release%2F1.0" => {
                    ok(json!({"type": "file"}))
                }
                "/repos/org/web/contents/helm%20charts?ref=main" => ok(json!([])),
                _ => not_found(),
            },
        );
        origin.set(format!("{api}/api/v3")).unwrap();
        let access = access(&api);
        let repos = org_repos(&access, "org").await.unwrap();
        assert_eq!(
            repos,
            [
                ForgeRepo {
                    organization: "org".into(),
                    name: "web".into(),
                    id: 1,
                    ssh_url: "git@github.com:org/web.git".into(),
                    https_url: "https://github.com/org/web.git".into(),
                    default_branch: "main".into(),
                    labels: vec!["prod".into()],
                    archived: false,
                },
                ForgeRepo {
                    organization: "org".into(),
                    name: "empty".into(),
                    id: 2,
                    default_branch: "main".into(),
                    archived: true,
                    ..ForgeRepo::default()
                }
            ]
        );
        let only = branches(&access, "org", "web", Branches::Only("release/1.0")).await;
        assert_eq!(
            only.unwrap(),
            [Branch {
                name: "release/1.0".into(),
                sha: "abc".into()
            }]
        );
        let all = branches(&access, "org", "web", Branches::All)
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        let empty = branches(&access, "org", "empty", Branches::Only("main")).await;
        assert_eq!(empty.unwrap(), [], "no default branch: an empty repository");
        let has = |path: &'static str, branch: &'static str| {
            has_path(&access, "org", "web", path, branch)
        };
        assert!(
            has("deploy/kustomization.yaml", "release/1.0")
                .await
                .unwrap()
        );
        assert!(has("helm charts", "main").await.unwrap());
        assert!(!has("missing", "main").await.unwrap());
        assert!(
            log.lock()
                .unwrap()
                .iter()
                .all(|(_, auth)| auth.as_deref() == Some("Bearer s3cret"))
        );
        let before = paths(&log).len();
        for (owner, path) in [("org", "../../orgs/x"), ("../x", "deploy")] {
            let error = has_path(&access, owner, "web", path, "main")
                .await
                .unwrap_err();
            assert!(!error.to_string().contains("s3cret"));
        }
        assert!(org_repos(&access, "a/b").await.is_err());
        assert_eq!(paths(&log).len(), before, "refused before any request");
    }

    #[test]
    fn a_custom_api_gets_githubs_enterprise_path_as_go_github_gives_it() {
        // go-github's WithEnterpriseURLs rules (base URL suffix, `api.` hosts).
        for (api, want) in [
            ("", "https://api.github.com"),
            ("https://custom-url/", "https://custom-url/api/v3"),
            ("https://custom-url", "https://custom-url/api/v3"),
            ("https://custom-url/api/v3/", "https://custom-url/api/v3"),
            ("https://custom-url/api/v3", "https://custom-url/api/v3"),
            ("https://api.custom-url", "https://api.custom-url"),
            ("https://api.custom-url/", "https://api.custom-url"),
            ("https://www.api.custom-url", "https://www.api.custom-url"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v3"),
        ] {
            assert_eq!(base(api), want, "{api}");
        }
    }

    #[tokio::test]
    async fn a_failing_api_is_an_error_without_the_token() {
        let (api, _) = serve(|_| ("500 Internal Server Error", "{}".into(), String::new()));
        let access = access(&api);
        let error = has_path(&access, "org", "web", "deploy", "main")
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("HTTP 500") && !message.contains("s3cret"),
            "{message}"
        );
        let error = org_repos(&access, "org").await.unwrap_err().to_string();
        assert!(
            error.starts_with("error listing repositories for org: "),
            "{error}"
        );
    }
}
