//! The merge requests of a GitLab project, as Argo CD's pull request generator lists them
//! (go-gitlab's `ListProjectMergeRequests`: 100 per page, `X-Next-Page` followed; the
//! generator's `labels` and `pullRequestState` passed to the API, which filters — without a
//! state GitLab lists them all, as upstream), from `GET /api/v4/projects/{project}/merge_requests`.
//! For the SCM provider generator, a group's projects, their branches and whether a path
//! exists (the repository files API, then the tree API), as Argo CD's GitLab provider.
//! The token goes as a bearer token (GitLab reads personal and project tokens so), only to
//! the API's origin.

use std::time::Duration;

use crate::forge::{Access, Branch, Branches, ForgeError, ForgeRepo, Pull, is_name};

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

use crate::forge::escape as query_escape;

/// `api` with go-gitlab's `api/v4` added (`https://gitlab.com` when empty).
fn api_v4(api: &str) -> String {
    let base = if api.is_empty() {
        "https://gitlab.com"
    } else {
        api.trim_end_matches('/')
    };
    if base.ends_with("/api/v4") {
        base.to_string()
    } else {
        format!("{base}/api/v4")
    }
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
    let base = api_v4(api);
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

const HEADERS: [(hyper::header::HeaderName, &str); 1] = [(hyper::header::USER_AGENT, "flotilla")];

/// Every page of a listing (`{url}&page=N`), following `X-Next-Page`; a 404 as the
/// listing's error.
async fn all_pages<T: serde::de::DeserializeOwned>(
    url: &str,
    authorization: Option<&str>,
    what: &str,
) -> Result<Vec<T>, ForgeError> {
    let mut items = Vec::new();
    let mut page = Some(1u32);
    for _ in 0..MAX_PAGES {
        let Some(number) = page.take() else {
            return Ok(items);
        };
        let url = format!("{url}&page={number}");
        let (listed, answer) = crate::forge::page::<T>(&url, &HEADERS, authorization, what).await?;
        items.extend(listed);
        page = answer
            .headers
            .get("x-next-page")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
    }
    Err(ForgeError::Failed(format!(
        "{what}: more than {MAX_PAGES} pages"
    )))
}

/// What `GET /groups/{group}/projects` is asked, as Argo CD's GitLab provider asks it.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupProjects<'a> {
    /// `include_subgroups`: the subgroups' projects too.
    pub include_subgroups: bool,
    /// `with_shared`: projects shared with the group too (Argo CD's default: true).
    pub include_shared: bool,
    /// Sends `archived=true`, which GitLab reads as archived projects *only*; Argo CD
    /// sends it for `includeArchivedRepos`, and so do we.
    pub include_archived: bool,
    /// `topic`: only projects with this topic (empty: any).
    pub topic: &'a str,
}

#[derive(serde::Deserialize)]
struct Project {
    id: i64,
    #[serde(default)]
    path: String,
    #[serde(default)]
    namespace: Option<Namespace>,
    #[serde(default)]
    ssh_url_to_repo: String,
    #[serde(default)]
    http_url_to_repo: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    tag_list: Vec<String>,
    #[serde(default)]
    archived: bool,
}

#[derive(serde::Deserialize)]
struct Namespace {
    #[serde(default)]
    full_path: String,
}

/// The projects of `group` (its numeric id or full path), 100 a page; `topics` as labels,
/// `tag_list` for GitLab before 14.5 (no topics).
pub async fn group_projects(
    access: &Access<'_>,
    group: &str,
    options: GroupProjects<'_>,
) -> Result<Vec<ForgeRepo>, ForgeError> {
    let what = format!("error listing projects for {group}");
    let Some(segment) = project_segment(group) else {
        return Err(ForgeError::Failed(format!(
            "{what}: a group is its numeric id or its path of GitLab names"
        )));
    };
    let mut url = format!(
        "{}/groups/{segment}/projects?per_page=100&include_subgroups={}&with_shared={}&topic={}",
        api_v4(access.api),
        options.include_subgroups,
        options.include_shared,
        query_escape(options.topic)
    );
    if options.include_archived {
        url.push_str("&archived=true");
    }
    let authorization = access.authorization();
    let work = all_pages::<Project>(&url, authorization.as_deref(), &what);
    let projects = access.bounded(&what, work).await?;
    Ok(projects
        .into_iter()
        .map(|p| ForgeRepo {
            organization: p.namespace.map(|n| n.full_path).unwrap_or_default(),
            name: p.path,
            id: p.id,
            ssh_url: p.ssh_url_to_repo,
            https_url: p.http_url_to_repo,
            default_branch: p.default_branch.unwrap_or_default(),
            labels: if p.topics.is_empty() {
                p.tag_list
            } else {
                p.topics
            },
            archived: p.archived,
        })
        .collect())
}

/// The branches of project `id` (`name` in messages) with their head commits: only the
/// default one (`GET /projects/{id}/repository/branches/{branch}`) or all, 100 a page; a
/// 404 is no branch, as Argo CD's `listBranches`.
pub async fn branches(
    access: &Access<'_>,
    id: i64,
    name: &str,
    which: Branches<'_>,
) -> Result<Vec<Branch>, ForgeError> {
    let what = format!("error listing branches for {name}");
    let project = format!("{}/projects/{id}/repository/branches", api_v4(access.api));
    let authorization = access.authorization();
    let authorization = authorization.as_deref();
    let work = async {
        match which {
            // No default branch (an empty repository): nothing to ask.
            Branches::Only("") => Ok(Vec::new()),
            Branches::Only(branch) => {
                let Some(branch) = crate::forge::segment(branch) else {
                    return Err(ForgeError::Failed(format!(
                        "{what}: the default branch has no usable name"
                    )));
                };
                let url = format!("{project}/{branch}");
                crate::forge::branch_or_none(&url, &HEADERS, authorization, &what).await
            }
            Branches::All => {
                let url = format!("{project}?per_page=100");
                let all = all_pages::<crate::forge::ApiBranch>(&url, authorization, &what).await;
                crate::forge::none_if_missing(all)
                    .map(|all| all.into_iter().map(Branch::from).collect())
            }
        }
    };
    access.bounded(&what, work).await
}

/// Whether `path` exists in project `id` (`name` in messages) at `branch`: as a file
/// (`GET /projects/{id}/repository/files/{path}?ref=`), else as a directory
/// (`GET /projects/{id}/repository/tree?path=&ref=`), a 404 from both meaning no — Argo
/// CD's `RepoHasPath`, which first looks the project's id up by its path; we have it from
/// the listing.
pub async fn has_path(
    access: &Access<'_>,
    id: i64,
    name: &str,
    path: &str,
    branch: &str,
) -> Result<bool, ForgeError> {
    let what = format!("error reading {path:?} of {name} at {branch:?}");
    if crate::forge::repo_path(path).is_none() {
        return Err(ForgeError::Failed(format!(
            "{what}: a path has no empty, '.' or '..' segments"
        )));
    }
    let repository = format!("{}/projects/{id}/repository", api_v4(access.api));
    let (path, branch) = (query_escape(path), query_escape(branch));
    let file = format!("{repository}/files/{path}?ref={branch}");
    let tree = format!("{repository}/tree?path={path}&ref={branch}");
    let authorization = access.authorization();
    let authorization = authorization.as_deref();
    let work = async {
        if crate::forge::exists(&file, &HEADERS, authorization, &what).await? {
            return Ok(true);
        }
        crate::forge::exists(&tree, &HEADERS, authorization, &what).await
    };
    access.bounded(&what, work).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::stand_in::{not_found, ok, paths, serve};
    use serde_json::json;

    /// A group's projects asked with Argo CD's options (`X-Next-Page` followed), the
    /// namespace path as organization and topics (or the old `tag_list`) as labels; the
    /// default branch or all; a path found as a file, as a directory (the tree API after
    /// the files API's 404), or not at all.
    #[tokio::test]
    async fn a_group_is_read_as_argo_cds_gitlab_provider_reads_it() {
        let listing = "/api/v4/groups/platform%2Fapps/projects?per_page=100&include_subgroups=true&with_shared=false&topic=deploy%20me&archived=true&page=";
        let (api, log) = serve(move |path| match path.strip_prefix(listing) {
            Some("1") => (
                "200 OK",
                json!([{"id": 7, "path": "web", "namespace": {"full_path": "platform/apps"},
                        "ssh_url_to_repo": "git@gitlab.com:platform/apps/web.git",
                        "http_url_to_repo": "https://gitlab.com/platform/apps/web.git",
                        "default_branch": "main", "topics": [], "tag_list": ["old"]}])
                .to_string(),
                "X-Next-Page: 2\r\n".into(),
            ),
            Some("2") => ok(json!([{"id": 8, "path": "api", "topics": ["new"]}])),
            _ => match path {
                "/api/v4/projects/7/repository/branches/feat%2Fx" => {
                    ok(json!({"name": "feat/x", "commit": {"id": "abc"}}))
                }
                "/api/v4/projects/7/repository/branches?per_page=100&page=1" => {
                    ok(json!([{"name": "main", "commit": {"id": "111"}}]))
                }
                "/api/v4/projects/7/repository/files/deploy%2Fkustomization.yaml?ref=main" => {
                    ok(json!({"file_path": "deploy/kustomization.yaml"}))
                }
                "/api/v4/projects/7/repository/tree?path=deploy&ref=main" => ok(json!([])),
                _ => not_found(),
            },
        });
        let access = Access {
            api: &api,
            token: Some("gl"),
            timeout: Duration::from_secs(10),
        };
        let options = GroupProjects {
            include_subgroups: true,
            include_shared: false,
            include_archived: true,
            topic: "deploy me",
        };
        let projects = group_projects(&access, "platform/apps", options)
            .await
            .unwrap();
        let summary: Vec<(&str, &str, Vec<String>, i64)> = projects
            .iter()
            .map(|p| {
                (
                    p.organization.as_str(),
                    p.name.as_str(),
                    p.labels.clone(),
                    p.id,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("platform/apps", "web", vec!["old".to_string()], 7),
                ("", "api", vec!["new".to_string()], 8)
            ]
        );
        assert_eq!(
            projects[0].https_url,
            "https://gitlab.com/platform/apps/web.git"
        );
        let only = branches(&access, 7, "platform/apps/web", Branches::Only("feat/x")).await;
        assert_eq!(only.unwrap()[0].sha, "abc");
        assert_eq!(
            branches(&access, 7, "platform/apps/web", Branches::All)
                .await
                .unwrap()[0]
                .name,
            "main"
        );
        assert_eq!(
            branches(&access, 8, "platform/apps/api", Branches::Only("main")).await,
            Ok(vec![]),
            "a 404 is no branch"
        );
        assert_eq!(
            branches(&access, 8, "platform/apps/api", Branches::All).await,
            Ok(vec![])
        );
        let has = |path: &'static str| has_path(&access, 7, "platform/apps/web", path, "main");
        assert!(has("deploy/kustomization.yaml").await.unwrap());
        let before = paths(&log).len();
        assert!(has("deploy").await.unwrap(), "a directory");
        assert_eq!(
            paths(&log)[before..],
            [
                "/api/v4/projects/7/repository/files/deploy?ref=main",
                "/api/v4/projects/7/repository/tree?path=deploy&ref=main"
            ]
        );
        assert!(!has("missing").await.unwrap());
        assert!(has("../x").await.is_err());
        assert!(
            log.lock()
                .unwrap()
                .iter()
                .all(|(_, auth)| auth.as_deref() == Some("Bearer gl"))
        );
    }

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
