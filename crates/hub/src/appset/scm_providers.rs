//! The SCM provider generator's view of forges ([`ScmProviders`]): an organization's
//! repositories on GitHub, a group's projects on GitLab, an owner's repositories on Gitea,
//! read from their REST APIs ([`flotilla_source::github`], [`flotilla_source::gitlab`],
//! [`flotilla_source::gitea`]) with the token of the Secret `tokenRef` names in the
//! ApplicationSet's namespace. The controller's [`ScmPolicy`](super::ScmPolicy) applies as
//! to the pull request generator: whether forges may be called at all, which custom API
//! URLs, which Secrets. Bitbucket (Cloud and Server), Azure DevOps and AWS CodeCommit,
//! GitHub App credentials, `caRef` and `insecure` are refused by name. Like
//! [`super::repos`], it blocks on the async calls from the generation thread.

use std::time::Duration;

use flotilla_fleet::appset::scm_provider::{
    Repository, RepositoryId, ScmError, ScmProvider, ScmProviders,
};
use flotilla_source::forge::{Access, Branches, ForgeError, ForgeRepo};
use serde_json::Value;

use super::pull_requests::HubForges;

/// How long one call (with all its pages) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Providers Argo CD has that are not read here.
const REFUSED: [&str; 4] = [
    "bitbucket",
    "bitbucketServer",
    "azureDevOps",
    "awsCodeCommit",
];

impl HubForges {
    /// The token of the provider's `tokenRef`, when it names one.
    pub(super) fn optional_token(&self, spec: &Value) -> Result<Option<String>, String> {
        spec.get("tokenRef")
            .filter(|r| !r.is_null())
            .map(|token_ref| self.token(token_ref))
            .transpose()
    }
}

/// Which forge, with the options Argo CD's provider of it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `github.organization`.
    GitHub { exclude_archived: bool },
    /// `gitlab.group`.
    GitLab {
        include_subgroups: bool,
        include_shared: bool,
        include_archived: bool,
        topic: String,
    },
    /// `gitea.owner`.
    Gitea { exclude_archived: bool },
}

/// One organization on one forge, for one generation.
struct Forge<'a> {
    runtime: &'a tokio::runtime::Handle,
    kind: Kind,
    api: String,
    organization: String,
    token: Option<String>,
    all_branches: bool,
}

impl ScmProviders for HubForges {
    /// Argo CD's order: the policy, the provider named, its credentials.
    fn provider<'a>(&'a self, generator: &Value) -> Result<Box<dyn ScmProvider + 'a>, ScmError> {
        self.policy.check(generator).map_err(ScmError)?;
        let spec_of = |name: &str| generator.get(name).filter(|v| v.is_object());
        let Some((name, spec)) = ["github", "gitlab", "gitea"]
            .into_iter()
            .find_map(|name| spec_of(name).map(|spec| (name, spec)))
        else {
            if let Some(refused) = REFUSED.into_iter().find(|name| spec_of(name).is_some()) {
                return Err(ScmError(format!(
                    "the {refused} scm provider is not supported by flotilla yet (github, gitlab and gitea are)"
                )));
            }
            return Err(ScmError("no SCM provider implementation configured".into()));
        };
        let text = |k: &str| {
            spec.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let flag = |k: &str| spec.get(k).and_then(Value::as_bool);
        if !text("appSecretName").is_empty() && name != "github" {
            return Err(ScmError(format!(
                "scm provider: appSecretName is read for github only, not {name}"
            )));
        }
        if spec.get("caRef").is_some_and(|v| !v.is_null()) || flag("insecure") == Some(true) {
            return Err(ScmError(
                "caRef and insecure are not supported by flotilla yet".into(),
            ));
        }
        let (kind, organization, token_error) = match name {
            "github" => (
                Kind::GitHub {
                    exclude_archived: flag("excludeArchivedRepos") == Some(true),
                },
                text("organization"),
                "scm provider: error fetching Github token",
            ),
            "gitlab" => (
                Kind::GitLab {
                    include_subgroups: flag("includeSubgroups") == Some(true),
                    // `WillIncludeSharedProjects`: unset means yes.
                    include_shared: flag("includeSharedProjects") != Some(false),
                    include_archived: flag("includeArchivedRepos") == Some(true),
                    topic: text("topic"),
                },
                text("group"),
                "error fetching Gitlab token",
            ),
            _ => (
                Kind::Gitea {
                    exclude_archived: flag("excludeArchivedRepos") == Some(true),
                },
                text("owner"),
                "error fetching Gitea token",
            ),
        };
        let token = if text("appSecretName").is_empty() {
            self.optional_token(spec)
                .map_err(|e| ScmError(format!("{token_error}: {e}")))?
        } else {
            Some(
                self.github_app_token(&text("appSecretName"), &text("api"), &organization)
                    .map_err(ScmError)?,
            )
        };
        Ok(Box::new(Forge {
            runtime: &self.runtime,
            kind,
            api: text("api"),
            organization,
            token,
            all_branches: flag("allBranches") == Some(true),
        }))
    }
}

impl Forge<'_> {
    fn access(&self) -> Access<'_> {
        Access {
            api: &self.api,
            token: self.token.as_deref(),
            timeout: CALL_TIMEOUT,
        }
    }

    /// The forge's name in Argo CD's `unknown clone protocol for …` (its Gitea provider
    /// says GitHub).
    fn protocol_name(&self) -> &'static str {
        match self.kind {
            Kind::GitLab { .. } => "Gitlab",
            Kind::GitHub { .. } | Kind::Gitea { .. } => "GitHub",
        }
    }
}

fn failed(error: ForgeError) -> ScmError {
    ScmError(error.to_string())
}

impl ScmProvider for Forge<'_> {
    fn list_repos(&self, clone_protocol: &str) -> Result<Vec<Repository>, ScmError> {
        let access = self.access();
        let (listed, exclude_archived) = match &self.kind {
            Kind::GitHub { exclude_archived } => (
                self.runtime.block_on(flotilla_source::github::org_repos(
                    &access,
                    &self.organization,
                )),
                *exclude_archived,
            ),
            Kind::GitLab {
                include_subgroups,
                include_shared,
                include_archived,
                topic,
            } => {
                let options = flotilla_source::gitlab::GroupProjects {
                    include_subgroups: *include_subgroups,
                    include_shared: *include_shared,
                    include_archived: *include_archived,
                    topic,
                };
                (
                    self.runtime
                        .block_on(flotilla_source::gitlab::group_projects(
                            &access,
                            &self.organization,
                            options,
                        )),
                    false,
                )
            }
            Kind::Gitea { exclude_archived } => (
                self.runtime.block_on(flotilla_source::gitea::org_repos(
                    &access,
                    &self.organization,
                )),
                *exclude_archived,
            ),
        };
        let mut repos = Vec::new();
        for repo in listed.map_err(failed)? {
            // Upstream picks the URL (and refuses an unknown protocol) before it skips
            // an archived repository.
            let url = match clone_protocol {
                "" | "ssh" => repo.ssh_url.clone(),
                "https" => repo.https_url.clone(),
                other => {
                    return Err(ScmError(format!(
                        "unknown clone protocol for {} {other}",
                        self.protocol_name()
                    )));
                }
            };
            if exclude_archived && repo.archived {
                continue;
            }
            repos.push(repository_of(repo, url));
        }
        Ok(repos)
    }

    fn has_path(&self, repo: &Repository, path: &str) -> Result<bool, ScmError> {
        let access = self.access();
        let (owner, name, branch) = (&repo.organization, &repo.repository, &repo.branch);
        let found = match &self.kind {
            Kind::GitHub { .. } => self.runtime.block_on(flotilla_source::github::has_path(
                &access, owner, name, path, branch,
            )),
            Kind::GitLab { .. } => {
                let id = project_id(repo)?;
                self.runtime.block_on(flotilla_source::gitlab::has_path(
                    &access,
                    id,
                    &format!("{owner}/{name}"),
                    path,
                    branch,
                ))
            }
            Kind::Gitea { .. } => self.runtime.block_on(flotilla_source::gitea::has_path(
                &access, owner, name, path, branch,
            )),
        };
        found.map_err(failed)
    }

    fn branches(&self, repo: &Repository) -> Result<Vec<Repository>, ScmError> {
        let access = self.access();
        let which = if self.all_branches {
            Branches::All
        } else {
            Branches::Only(&repo.branch)
        };
        let (owner, name) = (&repo.organization, &repo.repository);
        let listed = match &self.kind {
            Kind::GitHub { .. } => self.runtime.block_on(flotilla_source::github::branches(
                &access, owner, name, which,
            )),
            Kind::GitLab { .. } => {
                let id = project_id(repo)?;
                self.runtime.block_on(flotilla_source::gitlab::branches(
                    &access,
                    id,
                    &format!("{owner}/{name}"),
                    which,
                ))
            }
            // Gitea's owner is the generator's, as upstream's provider uses it.
            Kind::Gitea { .. } => self.runtime.block_on(flotilla_source::gitea::branches(
                &access,
                &self.organization,
                name,
                which,
            )),
        };
        Ok(listed
            .map_err(failed)?
            .into_iter()
            .map(|branch| Repository {
                branch: branch.name,
                sha: branch.sha,
                ..repo.clone()
            })
            .collect())
    }
}

fn repository_of(repo: ForgeRepo, url: String) -> Repository {
    Repository {
        organization: repo.organization,
        repository: repo.name,
        url,
        branch: repo.default_branch,
        sha: String::new(),
        labels: repo.labels,
        repository_id: Some(RepositoryId::Number(repo.id)),
    }
}

/// The GitLab project id the listing gave.
fn project_id(repo: &Repository) -> Result<i64, ScmError> {
    match &repo.repository_id {
        Some(RepositoryId::Number(id)) => Ok(*id),
        _ => Err(ScmError(format!(
            "error getting Project Info: {}/{} has no project id",
            repo.organization, repo.repository
        ))),
    }
}
