//! The open pull requests of a Gitea (or Forgejo) repository, as Argo CD's pull request
//! generator lists them (the Gitea SDK's `ListRepoPullRequests`, state open), from
//! `GET /api/v1/repos/{owner}/{repo}/pulls`. Argo CD reads the first page only; here the
//! pages are followed (`page`, 50 a page) until one comes back short. The token goes as a
//! bearer token (Gitea reads access tokens so), only to the API's origin.

use std::time::Duration;

use crate::forge::{ApiPull, ForgeError, MAX_PAGES, Pull, is_name};

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
