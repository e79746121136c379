//! The pull request generator's view of forges ([`PullRequests`]): GitHub's, GitLab's and
//! Gitea's REST APIs ([`flotilla_source::github`], [`flotilla_source::gitlab`],
//! [`flotilla_source::gitea`]), the token read from the Secret `tokenRef` names in the
//! ApplicationSet's namespace, the generator's `labels` required on every pull request
//! (Argo CD's `containLabels`). Other providers, GitHub App credentials and custom CAs are
//! refused by name. The controller's [`ScmPolicy`] (Argo CD's `--enable-scm-providers`,
//! `--allowed-scm-providers`, `--token-ref-strict-mode`) decides whether a generator may
//! call out at all, to which custom API URLs, and from which Secrets it may read tokens:
//! a tenant who may write an ApplicationSet otherwise chooses the URL the hub calls (with
//! a token from its namespace). Like [`super::repos`], it blocks on the async calls from
//! the generation thread.

use std::collections::BTreeSet;
use std::time::Duration;

use flotilla_fleet::appset::pull_request::{PullRequest, PullRequestError, PullRequests};
use flotilla_source::forge::ForgeError;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::Value;

/// How long one listing may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// The label a Secret must carry for a generator to read a token from it in strict mode.
const SCM_CREDS_LABEL: (&str, &str) = ("argocd.argoproj.io/secret-type", "scm-creds");

/// What the SCM-calling generators may do (Argo CD's ApplicationSet controller flags).
#[derive(Debug, Clone)]
pub struct ScmPolicy {
    /// `--enable-scm-providers` (default true): off, no generator calls a forge.
    pub enabled: bool,
    /// `--allowed-scm-providers`: the custom API URLs a generator may name (empty: any).
    pub allowed: Vec<String>,
    /// `--token-ref-strict-mode`: token Secrets must be labelled
    /// `argocd.argoproj.io/secret-type: scm-creds`.
    pub token_ref_strict: bool,
}

impl Default for ScmPolicy {
    fn default() -> Self {
        ScmPolicy {
            enabled: true,
            allowed: Vec::new(),
            token_ref_strict: false,
        }
    }
}

impl ScmPolicy {
    /// Argo CD's checks before a pull request or SCM provider is chosen: `scm providers are
    /// disabled`, or the generator's custom API URL (`api` of whichever provider it
    /// names) not in the allowed list — exact strings, as `ScmProviderAllowed` compares.
    pub fn check(&self, generator: &Value) -> Result<(), String> {
        if !self.enabled {
            return Err("scm providers are disabled".into());
        }
        let api = [
            "github",
            "gitlab",
            "gitea",
            "bitbucketServer",
            "bitbucket",
            // The pull request generator's name, then the SCM provider generator's.
            "azuredevops",
            "azureDevOps",
        ]
        .iter()
        .find_map(|p| generator.get(*p).filter(|v| v.is_object()))
        .and_then(|spec| spec.get("api"))
        .and_then(Value::as_str)
        .unwrap_or_default();
        if api.is_empty() || self.allowed.is_empty() || self.allowed.iter().any(|a| a == api) {
            return Ok(());
        }
        Err(format!(
            "scm provider not allowed: scm provider {api:?} not allowed, must use one of the following: {}",
            self.allowed.join(", ")
        ))
    }
}

/// Forges as the pull request and SCM provider generators read them during one
/// reconcile: the hub's Secrets for tokens, the runtime their calls block on, the policy.
pub(crate) struct HubForges {
    hub: kube::Client,
    namespace: String,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) policy: ScmPolicy,
    /// The repositories whose pull requests were listed ([`pull_request_identity`]), so a
    /// webhook's pull request event requeues the set.
    listed_repositories: std::sync::Mutex<BTreeSet<String>>,
}

impl HubForges {
    /// Forges for the ApplicationSet in `namespace`, called on `runtime`, as `policy`
    /// allows.
    pub(crate) fn new(
        hub: kube::Client,
        namespace: &str,
        runtime: tokio::runtime::Handle,
        policy: ScmPolicy,
    ) -> Self {
        HubForges {
            hub,
            namespace: namespace.to_string(),
            runtime,
            policy,
            listed_repositories: Default::default(),
        }
    }

    /// The repositories whose pull requests the generators listed, as
    /// [`pull_request_identity`] names them.
    pub(crate) fn listed_repositories(&self) -> BTreeSet<String> {
        crate::lock(&self.listed_repositories).clone()
    }

    /// An installation token of the GitHub App whose credentials the Secret `name` in
    /// Argo CD's namespace holds (`appSecretName`: repo-creds keys `githubAppID`,
    /// `githubAppInstallationID`, `githubAppPrivateKey`, `githubAppEnterpriseBaseUrl`),
    /// bought at `api` (else the App's Enterprise URL, else GitHub's), the installation
    /// found in `org` when the Secret does not name it; Argo CD's words when it fails.
    pub(super) fn github_app_token(
        &self,
        name: &str,
        api: &str,
        org: &str,
    ) -> Result<String, String> {
        let namespace = crate::application::PROJECT_NAMESPACE;
        let secrets: Api<Secret> = Api::namespaced(self.hub.clone(), namespace);
        let fetching = |why: String| {
            format!("error fetching Github app secret: error getting creds for {name}: {why}")
        };
        let secret = self
            .runtime
            .block_on(secrets.get_opt(name))
            .map_err(|e| fetching(e.to_string()))?
            .ok_or_else(|| fetching(format!("secret {namespace}/{name} not found")))?;
        let mut data: Vec<(String, Vec<u8>)> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        data.extend(
            secret
                .string_data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes())),
        );
        let app = flotilla_source::github_app::GitHubApp::from_secret_data(
            data.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
        )
        .map_err(fetching)?
        .ok_or_else(|| {
            format!("error fetching Github app secret: no github app found for {name}")
        })?;
        self.runtime
            .block_on(flotilla_source::github_app::installation_token(
                &app,
                api,
                org,
                LIST_TIMEOUT,
            ))
    }

    /// `GetSecretRef`: the value under `tokenRef.key` of the Secret `tokenRef.secretName`
    /// in the set's namespace (labelled `scm-creds` under `--token-ref-strict-mode`), or
    /// Argo CD's words for why not.
    pub(super) fn token(&self, token_ref: &Value) -> Result<String, String> {
        let (hub, namespace, runtime) = (&self.hub, &self.namespace, &self.runtime);
        let strict = self.policy.token_ref_strict;
        let name = token_ref
            .get("secretName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = token_ref
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let secrets: Api<Secret> = Api::namespaced(hub.clone(), namespace);
        let secret = runtime
            .block_on(secrets.get_opt(name))
            .map_err(|e| format!("error fetching secret {namespace}/{name}: {e}"))?
            .ok_or_else(|| format!("secret {namespace}/{name} not found"))?;
        let labelled = secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SCM_CREDS_LABEL.0))
            .is_some_and(|v| v == SCM_CREDS_LABEL.1);
        if strict && !labelled {
            return Err(format!(
                "secret {namespace}/{name} is not a valid SCM creds secret: secret must have label {:?}={:?}",
                SCM_CREDS_LABEL.0, SCM_CREDS_LABEL.1
            ));
        }
        let value = secret
            .data
            .unwrap_or_default()
            .remove(key)
            .ok_or_else(|| format!("key {key:?} in secret {namespace}/{name} not found"))?;
        String::from_utf8(value.0).map_err(|_| format!("key {key:?} of secret {name} is not text"))
    }
}

impl HubForges {
    /// The generator's provider listing: GitHub's or GitLab's, the required labels
    /// applied (GitLab filters them itself).
    fn listed(
        &self,
        generator: &Value,
    ) -> Result<Vec<flotilla_source::forge::Pull>, PullRequestError> {
        let select = |detail: String| {
            PullRequestError::Failed(format!(
                "failed to select pull request service provider: {detail}"
            ))
        };
        self.policy.check(generator).map_err(select)?;
        let spec_of = |name: &str| generator.get(name).filter(|v| v.is_object());
        let known = ["github", "gitlab", "gitea"];
        let found = known.iter().find_map(|p| spec_of(p).map(|spec| (*p, spec)));
        let (provider, spec) = match found {
            Some(found) => found,
            None => {
                let provider = generator
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys())
                    .find(|k| {
                        !matches!(
                            k.as_str(),
                            "filters"
                                | "requeueAfterSeconds"
                                | "template"
                                | "values"
                                | "continueOnRepoNotFoundError"
                        )
                    })
                    .cloned()
                    .unwrap_or_else(|| "(none)".into());
                return Err(select(format!(
                    "the {provider} pull request provider is not supported by flotilla yet (github, gitlab and gitea are)"
                )));
            }
        };
        if let Some(identity) = pull_request_identity(provider, spec) {
            crate::lock(&self.listed_repositories).insert(identity);
        }
        let text = |k: &str| spec.get(k).and_then(Value::as_str).unwrap_or_default();
        if !text("appSecretName").is_empty() && provider != "github" {
            return Err(select(format!(
                "appSecretName is read for github only, not {provider}"
            )));
        }
        if spec.get("caRef").is_some()
            || spec.get("insecure").and_then(Value::as_bool) == Some(true)
        {
            return Err(select(
                "caRef and insecure are not supported by flotilla yet".into(),
            ));
        }
        let token = match spec.get("tokenRef") {
            _ if !text("appSecretName").is_empty() => Some(
                self.github_app_token(text("appSecretName"), text("api"), text("owner"))
                    .map_err(select)?,
            ),
            Some(token_ref) => Some(self.token(token_ref).map_err(select)?),
            None => None,
        };
        let labels: Vec<String> = spec
            .get("labels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let listing = match provider {
            "github" => self
                .runtime
                .block_on(flotilla_source::github::open_pull_requests(
                    text("api"),
                    text("owner"),
                    text("repo"),
                    token.as_deref(),
                    LIST_TIMEOUT,
                )),
            "gitea" => self
                .runtime
                .block_on(flotilla_source::gitea::open_pull_requests(
                    text("api"),
                    text("owner"),
                    text("repo"),
                    token.as_deref(),
                    LIST_TIMEOUT,
                )),
            _ => self
                .runtime
                .block_on(flotilla_source::gitlab::merge_requests(
                    text("api"),
                    text("project"),
                    token.as_deref(),
                    &labels,
                    text("pullRequestState"),
                    LIST_TIMEOUT,
                )),
        };
        let pulls = listing.map_err(|e| match e {
            ForgeError::NotFound(m) => PullRequestError::RepositoryNotFound(m),
            ForgeError::Failed(m) => PullRequestError::Failed(m),
        })?;
        // `containLabels` (GitHub's listing cannot filter by label).
        Ok(pulls
            .into_iter()
            .filter(|p| labels.iter().all(|l| p.labels.contains(l)))
            .collect())
    }
}

/// The repository a pull request generator lists, named as a webhook's pull request event
/// names it ([`flotilla_source::MirrorCache::subscribe_pull_requests`]): the lower-case
/// [`flotilla_source::GitUrl::identity`] of its clone URL. GitHub:
/// `<host>/<owner>/<repo>`, the host `github.com` for the default API, else the custom
/// `api`'s with an `api.` prefix dropped (`api.github.com` serves `github.com`; an
/// Enterprise `/api/v3` path is on the host itself). GitLab: `<api host>/<project>`
/// (`gitlab.com` by default) — a project named by number gives `<host>/<id>`, which is
/// what a merge request event announces besides the path. Gitea: `<api host>/<owner>/<repo>`.
pub(super) fn pull_request_identity(provider: &str, spec: &Value) -> Option<String> {
    let text = |k: &str| spec.get(k).and_then(Value::as_str).unwrap_or_default();
    let owner_repo = || {
        let (owner, repo) = (text("owner"), text("repo"));
        (!owner.is_empty() && !repo.is_empty()).then(|| format!("{owner}/{repo}"))
    };
    let host = |api: &str| {
        api.parse::<http::Uri>()
            .ok()?
            .host()
            .map(str::to_ascii_lowercase)
    };
    let (host, path) = match provider {
        "github" => {
            let host = match text("api") {
                "" => "github.com".to_string(),
                api => {
                    let host = host(api)?;
                    host.strip_prefix("api.")
                        .map(str::to_string)
                        .unwrap_or(host)
                }
            };
            (host, owner_repo()?)
        }
        "gitlab" => {
            let host = match text("api") {
                "" => "gitlab.com".to_string(),
                api => host(api)?,
            };
            (host, text("project").to_string())
        }
        "gitea" => (host(text("api"))?, owner_repo()?),
        _ => return None,
    };
    let path = path.trim_matches('/');
    (!host.is_empty() && !path.is_empty()).then(|| format!("{host}/{path}").to_lowercase())
}

impl PullRequests for HubForges {
    fn list(&self, generator: &Value) -> Result<Vec<PullRequest>, PullRequestError> {
        Ok(self
            .listed(generator)?
            .into_iter()
            .map(|p| PullRequest {
                number: p.number,
                title: p.title,
                branch: p.head_ref,
                target_branch: p.base_ref,
                head_sha: p.head_sha,
                author: p.author,
                labels: p.labels,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pull_request_generators_name_their_repository_as_a_clone_url_would() {
        let identity = |provider: &str, spec: Value| pull_request_identity(provider, &spec);
        let github = |api: &str| json!({"api": api, "owner": "Org", "repo": "App"});
        assert_eq!(
            identity("github", github("")).as_deref(),
            Some("github.com/org/app")
        );
        assert_eq!(
            identity("github", github("https://api.github.com/")).as_deref(),
            Some("github.com/org/app")
        );
        assert_eq!(
            identity("github", github("https://ghe.example.com/api/v3")).as_deref(),
            Some("ghe.example.com/org/app")
        );
        assert_eq!(
            identity("github", github("http://127.0.0.1:8080")).as_deref(),
            Some("127.0.0.1/org/app")
        );
        assert_eq!(identity("github", json!({"owner": "o"})), None);
        assert_eq!(
            identity("gitlab", json!({"project": "Team/Sub/App"})).as_deref(),
            Some("gitlab.com/team/sub/app")
        );
        assert_eq!(
            identity(
                "gitlab",
                json!({"api": "https://gl.example.com/", "project": "42"})
            )
            .as_deref(),
            Some("gl.example.com/42")
        );
        assert_eq!(
            identity(
                "gitea",
                json!({"api": "https://gitea.example.com", "owner": "o", "repo": "r"})
            )
            .as_deref(),
            Some("gitea.example.com/o/r")
        );
        assert_eq!(identity("gitea", json!({"owner": "o", "repo": "r"})), None);
        // Each is what a webhook announces for the repository's clone URL.
        let clone = flotilla_source::GitUrl::parse("https://ghe.example.com/Org/App.git").unwrap();
        assert_eq!(
            identity("github", github("https://ghe.example.com/api/v3")),
            Some(clone.identity().to_lowercase())
        );
    }

    #[test]
    fn scm_providers_are_checked_as_argo_cds_scm_provider_allowed() {
        // Argo CD's TestAllowedSCMProviderPullRequest / TestSCMProviderDisabled_PRGenerator.
        let allowed = ScmPolicy {
            allowed: vec!["github.myorg.com".into(), "gitlab.myorg.com".into()],
            ..ScmPolicy::default()
        };
        let github = |api: &str| json!({"github": {"api": api, "owner": "o", "repo": "r"}});
        assert_eq!(allowed.check(&github("github.myorg.com")), Ok(()));
        assert_eq!(
            allowed.check(&github("https://myservice.mynamespace.svc.cluster.local")),
            Err("scm provider not allowed: scm provider \"https://myservice.mynamespace.svc.cluster.local\" not allowed, must use one of the following: github.myorg.com, gitlab.myorg.com".into())
        );
        let bitbucket = json!({"bitbucketServer": {"api": "https://evil.example", "project": "p", "repo": "r"}});
        assert!(
            allowed.check(&bitbucket).is_err(),
            "every provider's api is checked"
        );
        assert_eq!(
            allowed.check(&json!({"github": {"owner": "o", "repo": "r"}})),
            Ok(()),
            "no custom API URL: the provider's default is allowed"
        );
        assert_eq!(
            ScmPolicy::default().check(&github("https://anywhere.example")),
            Ok(()),
            "an empty list allows any URL"
        );
        let disabled = ScmPolicy {
            enabled: false,
            ..ScmPolicy::default()
        };
        assert_eq!(
            disabled.check(&github("")),
            Err("scm providers are disabled".into())
        );
    }
}
