//! The merge requests of a GitLab project, as Argo CD's pull request generator lists them
//! (go-gitlab's `ListProjectMergeRequests`: 100 per page, `X-Next-Page` followed; the
//! generator's `labels` and `pullRequestState` passed to the API, which filters — without a
//! state GitLab lists them all, as upstream), from `GET /api/v4/projects/{project}/merge_requests`.
//! The token goes as a bearer token (GitLab reads personal and project tokens so), only to
//! the API's origin.

use std::time::Duration;

use crate::forge::{ForgeError, Pull, is_name};

use crate::forge::MAX_PAGES;

#[derive(serde::Deserialize)]
struct MergeRequest {
    iid: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    source_branch: String,
    #[serde(default)]
    target_branch: String,
    #[serde(default)]
    sha: String,
    #[serde(default)]
    author: Option<Author>,
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Author {
    #[serde(default)]
    username: String,
}

/// The project as a path segment: a numeric id, or `group/…/name` escaped.
fn project_segment(project: &str) -> Option<String> {
    let parts: Vec<&str> = project.split('/').collect();
    parts.iter().all(|p| is_name(p)).then(|| parts.join("%2F"))
}

fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The merge requests of `project` at `api` (`https://gitlab.com/` when empty; `api/v4/`
/// added as go-gitlab adds it), with `labels` (all required) and `state` (`opened`,
/// `closed`, `merged`, `locked`; empty: all).
pub async fn merge_requests(
    api: &str,
    project: &str,
    token: Option<&str>,
    labels: &[String],
    state: &str,
    timeout: Duration,
) -> Result<Vec<Pull>, ForgeError> {
    let failed = |detail: String| {
        ForgeError::Failed(format!(
            "error listing merge requests for project '{project}': {detail}"
        ))
    };
    let Some(segment) = project_segment(project) else {
        return Err(failed(
            "a project is its numeric id or its path of GitLab names".into(),
        ));
    };
    let base = if api.is_empty() {
        "https://gitlab.com"
    } else {
        api.trim_end_matches('/')
    };
    let base = if base.ends_with("/api/v4") {
        base.to_string()
    } else {
        format!("{base}/api/v4")
    };
    let mut query = String::from("per_page=100");
    if !labels.is_empty() {
        query.push_str(&format!("&labels={}", query_escape(&labels.join(","))));
    }
    if !state.is_empty() {
        query.push_str(&format!("&state={}", query_escape(state)));
    }
    let authorization = token.map(|t| format!("Bearer {t}"));
    let headers = [(hyper::header::USER_AGENT, "flotilla")];
    let work = async {
        let mut pulls = Vec::new();
        let mut page = Some(1u32);
        for _ in 0..MAX_PAGES {
            let Some(number) = page.take() else {
                return Ok(pulls);
            };
            let url = format!("{base}/projects/{segment}/merge_requests?{query}&page={number}");
            let what = format!("error listing merge requests for project '{project}'");
            let (listed, answer) =
                crate::forge::page::<MergeRequest>(&url, &headers, authorization.as_deref(), &what)
                    .await?;
            pulls.extend(listed.into_iter().map(|mr| Pull {
                number: mr.iid,
                title: mr.title,
                head_ref: mr.source_branch,
                base_ref: mr.target_branch,
                head_sha: mr.sha,
                author: mr.author.map(|a| a.username).unwrap_or_default(),
                labels: mr.labels,
            }));
            page = answer
                .headers
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
        }
        Err(failed(format!("more than {MAX_PAGES} pages")))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| failed(format!("no answer within {timeout:?}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_ids_or_escaped_paths() {
        assert_eq!(project_segment("42").as_deref(), Some("42"));
        assert_eq!(
            project_segment("platform/apps/web").as_deref(),
            Some("platform%2Fapps%2Fweb")
        );
        for bad in ["", "a//b", "../x", "a/b?c", "a/%2e%2e"] {
            assert_eq!(project_segment(bad), None, "{bad}");
        }
        assert_eq!(
            query_escape("preview,needs review"),
            "preview%2Cneeds%20review"
        );
    }
}
