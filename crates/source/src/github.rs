//! The open pull requests of a GitHub repository, as Argo CD's pull request generator
//! lists them (go-github's `PullRequests.List`: 100 per page, the `Link` header's next
//! page followed), read from GitHub's REST API (`GET /repos/{owner}/{repo}/pulls`). A
//! token is sent only to the API's own origin (redirects elsewhere drop it).

use std::time::Duration;

use crate::forge::{ApiPull, ForgeError, Pull, is_name};

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
    let api = if api.is_empty() {
        "https://api.github.com"
    } else {
        api.trim_end_matches('/')
    };
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
