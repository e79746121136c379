//! The open pull requests of a Gitea (or Forgejo) repository, as Argo CD's pull request
//! generator lists them (the Gitea SDK's `ListRepoPullRequests`, state open), from
//! `GET /api/v1/repos/{owner}/{repo}/pulls`. Argo CD reads the first page only; here the
//! pages are followed (`page`, 50 a page) until one comes back short. The token goes as a
//! bearer token (Gitea reads access tokens so), only to the API's origin.
//!
//! For the SCM provider generator, an owner's repositories with their labels, their
//! branches and the contents API, as Argo CD's Gitea provider (whose SDK calls read one
//! page; here every page is followed the same way).

use std::time::Duration;

use crate::forge::{
    Access, ApiPull, Branch, Branches, ForgeError, ForgeRepo, MAX_PAGES, Pull, is_name,
};

/// Pull requests asked per page.
const PAGE_SIZE: usize = 50;

/// The open pull requests of `owner/repo` on the Gitea at `api` (its base URL; `/api/v1`
/// added).
pub async fn open_pull_requests(
    api: &str,
    owner: &str,
    repo: &str,
    token: Option<&str>,
    timeout: Duration,
) -> Result<Vec<Pull>, ForgeError> {
    let what = format!("error listing pull requests for {owner}/{repo}");
    if !is_name(owner) || !is_name(repo) {
        return Err(ForgeError::Failed(format!(
            "{what}: owner and repo are Gitea names (letters, digits, '-', '_', '.')"
        )));
    }
    if api.is_empty() {
        return Err(ForgeError::Failed(format!("{what}: gitea.api is required")));
    }
    let base = api.trim_end_matches('/');
    let base = if base.ends_with("/api/v1") {
        base.to_string()
    } else {
        format!("{base}/api/v1")
    };
    let authorization = token.map(|t| format!("Bearer {t}"));
    let headers = [(hyper::header::USER_AGENT, "flotilla")];
    let work = async {
        let mut pulls = Vec::new();
        for page in 1..=MAX_PAGES {
            let url = format!(
                "{base}/repos/{owner}/{repo}/pulls?state=open&limit={PAGE_SIZE}&page={page}"
            );
            let (listed, _) =
                crate::forge::page::<ApiPull>(&url, &headers, authorization.as_deref(), &what)
                    .await?;
            let short = listed.len() < PAGE_SIZE;
            pulls.extend(listed.into_iter().map(Pull::from));
            if short {
                return Ok(pulls);
            }
        }
        Err(ForgeError::Failed(format!(
            "{what}: more than {MAX_PAGES} pages"
        )))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ForgeError::Failed(format!("{what}: no answer within {timeout:?}")))?
}

const HEADERS: [(hyper::header::HeaderName, &str); 1] = [(hyper::header::USER_AGENT, "flotilla")];

/// `api` with `/api/v1` added; Gitea has no default instance.
fn api_v1(api: &str, what: &str) -> Result<String, ForgeError> {
    if api.is_empty() {
        return Err(ForgeError::Failed(format!("{what}: gitea.api is required")));
    }
    let base = api.trim_end_matches('/');
    Ok(if base.ends_with("/api/v1") {
        base.to_string()
    } else {
        format!("{base}/api/v1")
    })
}

/// Every page of a listing (`{url}&limit=50&page=N`) until a short one.
async fn all_pages<T: serde::de::DeserializeOwned>(
    url: &str,
    authorization: Option<&str>,
    what: &str,
) -> Result<Vec<T>, ForgeError> {
    let mut items = Vec::new();
    for page in 1..=MAX_PAGES {
        let url = format!("{url}limit={PAGE_SIZE}&page={page}");
        let (listed, _) = crate::forge::page::<T>(&url, &HEADERS, authorization, what).await?;
        let short = listed.len() < PAGE_SIZE;
        items.extend(listed);
        if short {
            return Ok(items);
        }
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
    ssh_url: String,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    default_branch: String,
    #[serde(default)]
    archived: bool,
}

#[derive(serde::Deserialize)]
struct ApiLabel {
    #[serde(default)]
    name: String,
}

fn names_checked(owner: &str, repo: &str, what: &str) -> Result<(), ForgeError> {
    if is_name(owner) && is_name(repo) {
        Ok(())
    } else {
        Err(ForgeError::Failed(format!(
            "{what}: owner and repo are Gitea names (letters, digits, '-', '_', '.')"
        )))
    }
}

/// The repositories of organization `owner` (`GET /orgs/{owner}/repos`), each with its
/// labels' names (`GET /repos/{owner}/{repo}/labels`), the organization being `owner` and
/// the HTTPS URL the web page's (`html_url`), as Argo CD reads them.
pub async fn org_repos(access: &Access<'_>, owner: &str) -> Result<Vec<ForgeRepo>, ForgeError> {
    let what = format!("error listing repositories for {owner}");
    names_checked(owner, "repos", &what)?;
    let base = api_v1(access.api, &what)?;
    let authorization = access.authorization();
    let authorization = authorization.as_deref();
    let work = async {
        let listed =
            all_pages::<ApiRepo>(&format!("{base}/orgs/{owner}/repos?"), authorization, &what)
                .await?;
        let mut repos = Vec::with_capacity(listed.len());
        for repo in listed {
            let what = format!("error listing labels of {owner}/{}", repo.name);
            names_checked(owner, &repo.name, &what)?;
            let url = format!("{base}/repos/{owner}/{}/labels?", repo.name);
            let labels = all_pages::<ApiLabel>(&url, authorization, &what).await?;
            repos.push(ForgeRepo {
                organization: owner.to_string(),
                name: repo.name,
                id: repo.id,
                ssh_url: repo.ssh_url,
                https_url: repo.html_url,
                default_branch: repo.default_branch,
                labels: labels.into_iter().map(|l| l.name).collect(),
                archived: repo.archived,
            });
        }
        Ok(repos)
    };
    access.bounded(&what, work).await
}

/// The branches of `owner/repo` with their head commits: only the default one
/// (`GET /repos/{o}/{r}/branches/{branch}`, a 404 an error in Argo CD's words — unlike
/// GitHub's and GitLab's providers, Gitea's does not read it as an empty repository) or
/// all (`GET /repos/{o}/{r}/branches`).
pub async fn branches(
    access: &Access<'_>,
    owner: &str,
    repo: &str,
    which: Branches<'_>,
) -> Result<Vec<Branch>, ForgeError> {
    let what = format!("error listing branches for {owner}/{repo}");
    names_checked(owner, repo, &what)?;
    let base = api_v1(access.api, &what)?;
    let authorization = access.authorization();
    let authorization = authorization.as_deref();
    let work = async {
        match which {
            Branches::Only(name) => {
                let Some(segment) = crate::forge::segment(name) else {
                    return Err(ForgeError::Failed(format!(
                        "{what}: the default branch has no usable name"
                    )));
                };
                let url = format!("{base}/repos/{owner}/{repo}/branches/{segment}");
                match crate::forge::json::<crate::forge::ApiBranch>(
                    &url,
                    &HEADERS,
                    authorization,
                    &what,
                )
                .await
                {
                    Ok((branch, _)) => Ok(vec![Branch::from(branch)]),
                    Err(ForgeError::NotFound(e)) => Err(ForgeError::Failed(format!(
                        "got 404 while getting default branch {name:?} for repo {repo:?} - check your repo config: {e}"
                    ))),
                    Err(e) => Err(e),
                }
            }
            Branches::All => {
                let url = format!("{base}/repos/{owner}/{repo}/branches?");
                let all = all_pages::<crate::forge::ApiBranch>(&url, authorization, &what).await?;
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
    let what = format!("error reading {path:?} of {owner}/{repo} at {branch:?}");
    let base = api_v1(access.api, &what)?;
    let api = (base.as_str(), "Gitea", &HEADERS[..]);
    crate::forge::contents_exist(access, api, (owner, repo), path, branch).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::stand_in::{not_found, ok, serve};
    use serde_json::json;

    /// An owner's repositories with their labels, `html_url` as the HTTPS URL; the
    /// default branch (a 404 an error, as Argo CD's Gitea provider) or all; the contents
    /// API, a 404 meaning no.
    #[tokio::test]
    async fn an_owner_is_read_as_argo_cds_gitea_provider_reads_it() {
        let (api, _) = serve(|path| match path {
            "/api/v1/orgs/org/repos?limit=50&page=1" => ok(json!([
                {"id": 3, "name": "web", "ssh_url": "git@gitea:org/web.git",
                 "html_url": "https://gitea.example/org/web", "default_branch": "main"}])),
            "/api/v1/repos/org/web/labels?limit=50&page=1" => ok(json!([{"name": "prod"}])),
            "/api/v1/repos/org/web/branches/main" => {
                ok(json!({"name": "main", "commit": {"id": "111"}}))
            }
            "/api/v1/repos/org/web/branches?limit=50&page=1" => ok(json!([
                {"name": "main", "commit": {"id": "111"}},
                {"name": "dev", "commit": {"id": "222"}}])),
            "/api/v1/repos/org/web/contents/deploy?ref=main" => ok(json!([])),
            _ => not_found(),
        });
        let access = Access {
            api: &api,
            token: None,
            timeout: Duration::from_secs(10),
        };
        let repos = org_repos(&access, "org").await.unwrap();
        assert_eq!(
            (
                repos[0].organization.as_str(),
                repos[0].https_url.as_str(),
                &repos[0].labels
            ),
            (
                "org",
                "https://gitea.example/org/web",
                &vec!["prod".to_string()]
            )
        );
        let only = branches(&access, "org", "web", Branches::Only("main")).await;
        assert_eq!(only.unwrap()[0].sha, "111");
        assert_eq!(
            branches(&access, "org", "web", Branches::All)
                .await
                .unwrap()
                .len(),
            2
        );
        let missing = branches(&access, "org", "web", Branches::Only("gone")).await;
        let message = missing.unwrap_err().to_string();
        assert!(
            message.starts_with(
                "got 404 while getting default branch \"gone\" for repo \"web\" - check your repo config: "
            ),
            "{message}"
        );
        assert!(
            has_path(&access, "org", "web", "deploy", "main")
                .await
                .unwrap()
        );
        assert!(
            !has_path(&access, "org", "web", "nope", "main")
                .await
                .unwrap()
        );
    }
}
