//! The pull request generator's view of forges ([`PullRequests`]): GitHub's REST API
//! ([`flotilla_source::github`]), its token read from the Secret `tokenRef` names in the
//! ApplicationSet's namespace, the generator's `labels` required on every pull request
//! (Argo CD's `containLabels`). Other providers and GitHub App credentials are refused by
//! name. Like [`super::repos`], it blocks on the async calls from the generation thread.

use std::time::Duration;

use flotilla_fleet::appset::pull_request::{PullRequest, PullRequestError, PullRequests};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::Value;

/// How long one listing may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Forges as the pull request generator reads them during one reconcile.
pub(crate) struct HubPullRequests {
    hub: kube::Client,
    namespace: String,
    runtime: tokio::runtime::Handle,
}

impl HubPullRequests {
    /// Listings for the ApplicationSet in `namespace`, run on `runtime`.
    pub(crate) fn new(hub: kube::Client, namespace: &str, runtime: tokio::runtime::Handle) -> Self {
        HubPullRequests {
            hub,
            namespace: namespace.to_string(),
            runtime,
        }
    }

    /// `tokenRef`'s value, or Argo CD's words for why not.
    fn token(&self, token_ref: &Value) -> Result<String, String> {
        let name = token_ref
            .get("secretName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = token_ref
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let secrets: Api<Secret> = Api::namespaced(self.hub.clone(), &self.namespace);
        let secret = self
            .runtime
            .block_on(secrets.get_opt(name))
            .map_err(|e| format!("error fetching secret {}/{name}: {e}", self.namespace))?
            .ok_or_else(|| format!("secret {}/{name} not found", self.namespace))?;
        let value =
            secret.data.unwrap_or_default().remove(key).ok_or_else(|| {
                format!("key {key:?} in secret {}/{name} not found", self.namespace)
            })?;
        String::from_utf8(value.0).map_err(|_| format!("key {key:?} of secret {name} is not text"))
    }
}

impl PullRequests for HubPullRequests {
    fn list(&self, generator: &Value) -> Result<Vec<PullRequest>, PullRequestError> {
        let select = |detail: String| {
            PullRequestError::Failed(format!(
                "failed to select pull request service provider: {detail}"
            ))
        };
        let Some(github) = generator.get("github") else {
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
                "the {provider} pull request provider is not supported by flotilla yet (github is)"
            )));
        };
        let text = |k: &str| github.get(k).and_then(Value::as_str).unwrap_or_default();
        if !text("appSecretName").is_empty() {
            return Err(select(
                "GitHub App credentials (appSecretName) are not supported by flotilla yet; use tokenRef".into(),
            ));
        }
        let token = match github.get("tokenRef") {
            Some(token_ref) => Some(self.token(token_ref).map_err(select)?),
            None => None,
        };
        let pulls = self
            .runtime
            .block_on(flotilla_source::github::open_pull_requests(
                text("api"),
                text("owner"),
                text("repo"),
                token.as_deref(),
                LIST_TIMEOUT,
            ))
            .map_err(|e| match e {
                flotilla_source::github::GithubError::NotFound(m) => {
                    PullRequestError::RepositoryNotFound(m)
                }
                flotilla_source::github::GithubError::Failed(m) => PullRequestError::Failed(m),
            })?;
        let required: Vec<&str> = github
            .get("labels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        Ok(pulls
            .into_iter()
            .filter(|p| {
                required
                    .iter()
                    .all(|l| p.labels.iter().any(|have| have == l))
            })
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
