//! The commit status notifiers of notification-controller for GitHub, GitLab and Gitea
//! (`internal/notifier/{github,gitlab,gitea}.go`): the commit from the event's revision
//! metadata, the state from its severity, the description from its reason, the key
//! (`kind/name/<first part of the Provider's uid>`, lower case) as the status's context
//! or name; an identical status already there is not set again. The forges' REST APIs
//! are called as their Go clients call them, through the egress policy.

use flotilla_source::outbound::{Answer, Outbound};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::event::{Event, SEVERITY_ERROR, SEVERITY_INFO, go_json};

/// A forge whose commit statuses a notifier sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// GitHub or GitHub Enterprise (go-github).
    GitHub,
    /// GitLab (client-go).
    GitLab,
    /// Gitea or Forgejo (Gitea's SDK).
    Gitea,
}

/// A commit status notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    /// The forge.
    pub forge: Forge,
    /// The API's base URL, ending in `/`.
    pub api: String,
    /// `owner/repo` (GitLab: the project's full path).
    pub project: String,
    /// The token.
    pub token: String,
    /// The status key: GitHub's and Gitea's context, GitLab's name.
    pub key: String,
}

/// The key notification-controller gives a Provider's statuses by default
/// (`generateDefaultCommitStatus`): `kind/name/<uid up to its first dash>`, lower case.
pub fn default_key(provider_uid: &str, event: &Event) -> String {
    let uid = provider_uid.split('-').next().unwrap_or("");
    format!(
        "{}/{}/{uid}",
        event.involved_object.kind, event.involved_object.name
    )
    .to_lowercase()
}

impl CommitStatus {
    /// The notifier for `forge` at the repository `address` (`NewGitHub`, `NewGitLab`,
    /// `NewGitea` without GitHub App authentication).
    pub fn new(forge: Forge, address: &str, token: &str, key: &str) -> Result<Self, String> {
        if token.is_empty() {
            return Err(match forge {
                Forge::GitHub => "github token or github app details must be specified",
                Forge::GitLab => "gitlab token cannot be empty",
                Forge::Gitea => "gitea token cannot be empty",
            }
            .into());
        }
        if key.is_empty() {
            return Err("commit status cannot be empty".into());
        }
        let (host, id) = parse_git_address(address)?;
        let api = match forge {
            Forge::GitHub if host.split_once("://").map(|(_, h)| h) == Some("github.com") => {
                "https://api.github.com/".to_string()
            }
            Forge::GitHub => format!("{host}/api/v3/"),
            Forge::GitLab => format!("{host}/api/v4/"),
            Forge::Gitea => format!("{host}/api/v1/"),
        };
        if forge != Forge::GitLab && id.split('/').count() != 2 {
            return Err(match forge {
                Forge::GitHub => format!("invalid repository id: '{id}'"),
                _ => format!("invalid repository id {id:?}"),
            });
        }
        Ok(CommitStatus {
            forge,
            api,
            project: id,
            token: token.to_string(),
            key: key.to_string(),
        })
    }

    /// Sets the status `event` calls for, unless the same one is there already.
    pub async fn post(&self, event: &Event, deadline: Instant) -> Result<(), String> {
        let progressing = event.reason == "Progressing";
        if progressing && self.forge != Forge::Gitea {
            return Ok(());
        }
        let revision = revision_of(event).ok_or("missing revision metadata")?;
        let commit = parse_revision(revision)?;
        let state = match (self.forge, event.severity.as_str(), progressing) {
            (Forge::Gitea, _, true) => "pending",
            (Forge::GitLab, SEVERITY_INFO, _) => "success",
            (Forge::GitLab, SEVERITY_ERROR, _) => "failed",
            (_, SEVERITY_INFO, _) => "success",
            (_, SEVERITY_ERROR, _) => "failure",
            (Forge::GitHub, ..) => return Err("can't convert to github state".into()),
            (Forge::GitLab, ..) => return Err("can't convert to gitlab state".into()),
            (Forge::Gitea, ..) => return Err("can't convert to gitea state".into()),
        };
        let description = description(&event.reason);
        let calls = self.calls(&commit, state, &description);
        if let Some((url, failure)) = &calls.version_check {
            self.call("GET", url, None, deadline)
                .await
                .map_err(|e| format!("{failure}: {e}"))?;
        }
        let statuses = self
            .call("GET", &calls.list, None, deadline)
            .await
            .map_err(|e| format!("{}: {e}", calls.list_failure))?;
        let already_set = match calls.already_set {
            AlreadySet::LatestOfContext => {
                latest_is_same(&statuses, "context", &self.key, state, &description)
            }
            AlreadySet::AnyIdentical => statuses.as_array().into_iter().flatten().any(|s| {
                s["sha"] == commit.as_str()
                    && s["status"] == state
                    && s["description"] == description.as_str()
                    && s["name"] == self.key.as_str()
            }),
        };
        if already_set {
            return Ok(());
        }
        self.call("POST", &calls.create, Some(&calls.body), deadline)
            .await
            .map(drop)
            .map_err(|e| match calls.create_failure {
                Some(failure) => format!("{failure}: {e}"),
                None => e,
            })
    }

    /// What setting one commit status asks of this forge's API, in the order and words of
    /// Flux's notifier for it: GitHub and Gitea look at the latest status of the same
    /// context, GitLab at any status with the same name, state and description; the Gitea
    /// SDK asks for the server's version first.
    fn calls(&self, commit: &str, state: &str, description: &str) -> Calls {
        let key = self.key.as_str();
        match self.forge {
            Forge::GitHub => {
                let repo = format!("{}repos/{}", self.api, self.project);
                Calls {
                    version_check: None,
                    list: format!("{repo}/commits/{commit}/statuses?per_page=50"),
                    list_failure: "could not list commit statuses",
                    already_set: AlreadySet::LatestOfContext,
                    create: format!("{repo}/statuses/{commit}"),
                    body: json!({"state": state, "description": description, "context": key}),
                    create_failure: Some("could not create commit status"),
                }
            }
            Forge::GitLab => {
                let project = format!("{}projects/{}", self.api, path_escape(&self.project));
                Calls {
                    version_check: None,
                    list: format!(
                        "{project}/repository/commits/{commit}/statuses?name={}",
                        query_escape(key)
                    ),
                    list_failure: "unable to list commit status",
                    already_set: AlreadySet::AnyIdentical,
                    create: format!("{project}/statuses/{commit}"),
                    body: json!({"state": state, "name": key, "description": description}),
                    create_failure: None,
                }
            }
            Forge::Gitea => {
                let repo = format!("{}repos/{}", self.api, self.project);
                Calls {
                    version_check: Some((
                        format!("{}version", self.api),
                        "failed creating Gitea client",
                    )),
                    list: format!("{repo}/commits/{commit}/statuses?limit=50&page=1"),
                    list_failure: "could not list commit statuses",
                    already_set: AlreadySet::LatestOfContext,
                    create: format!("{repo}/statuses/{commit}"),
                    body: json!({"state": state, "target_url": "", "description": description,
                                 "context": key}),
                    create_failure: None,
                }
            }
        }
    }

    /// One API call: the answer's JSON, or the client's error for another status.
    async fn call(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
        deadline: Instant,
    ) -> Result<Value, String> {
        let mut headers = vec![(
            "User-Agent".to_string(),
            concat!("flotilla/", env!("CARGO_PKG_VERSION")).to_string(),
        )];
        match self.forge {
            Forge::GitHub => {
                headers.push(("Accept".into(), "application/vnd.github.v3+json".into()));
                headers.push(("Authorization".into(), format!("Bearer {}", self.token)));
            }
            Forge::GitLab => headers.push(("PRIVATE-TOKEN".into(), self.token.clone())),
            Forge::Gitea => headers.push(("Authorization".into(), format!("token {}", self.token))),
        }
        let text = body.map(go_json).unwrap_or_default();
        if body.is_some() {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        let answer = tokio::time::timeout_at(
            deadline,
            flotilla_source::outbound::send(Outbound {
                method,
                url,
                headers: &headers,
                body: text.as_bytes(),
                limit: 1024 * 1024,
                timeout: None,
                secrets: &[],
            }),
        )
        .await
        .map_err(|_| "context deadline exceeded".to_string())?
        .map_err(|e| e.to_string())?;
        answered(method, url, answer)
    }
}

/// A 2xx answer's JSON (null when empty), else `METHOD URL: STATUS BODY`.
fn answered(method: &str, url: &str, answer: Answer) -> Result<Value, String> {
    if !(200..300).contains(&answer.status) {
        let body = String::from_utf8_lossy(&answer.body);
        return Err(format!(
            "{method} {}: {} {}",
            flotilla_source::redact_str(url),
            answer.status,
            body.trim()
        ));
    }
    if answer.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&answer.body).map_err(|e| format!("decoding the answer of {url}: {e}"))
}

/// How a forge's notifier reads its listed statuses before setting one.
enum AlreadySet {
    /// The latest status of the same context has the same state and description.
    LatestOfContext,
    /// Some status has the same commit, name, state and description.
    AnyIdentical,
}

/// The requests that set one commit status on a forge (`CommitStatus::calls`).
struct Calls {
    /// A GET made first, and the words of its failure.
    version_check: Option<(String, &'static str)>,
    /// The commit's statuses, and the words of a failure to list them.
    list: String,
    list_failure: &'static str,
    /// How the listed statuses show that the status is set already.
    already_set: AlreadySet,
    /// Where the new status is POSTed, its body, and the words of a failure (GitLab's and
    /// Gitea's notifiers return the client's error as it is).
    create: String,
    body: Value,
    create_failure: Option<&'static str>,
}

/// `duplicateGithubStatus` and `duplicateGiteaStatus`: the first listed status with the
/// key (the newest) has the same state and description. Statuses missing a field are
/// passed over.
fn latest_is_same(
    statuses: &Value,
    key_field: &str,
    key: &str,
    state: &str,
    description: &str,
) -> bool {
    #[derive(Deserialize)]
    struct Status {
        #[serde(default)]
        state: String,
        #[serde(default)]
        description: String,
    }
    for status in statuses.as_array().into_iter().flatten() {
        let Some(this_key) = status[key_field].as_str().filter(|k| !k.is_empty()) else {
            continue;
        };
        let Ok(s) = serde_json::from_value::<Status>(status.clone()) else {
            continue;
        };
        if s.state.is_empty() || s.description.is_empty() {
            continue;
        }
        if this_key == key {
            return s.state == state && s.description == description;
        }
    }
    false
}

/// `Event.GetRevision`: the (stripped) `commit`, `originRevision` or `revision` metadata.
fn revision_of(event: &Event) -> Option<&str> {
    ["commit", "originRevision", "revision"]
        .iter()
        .find_map(|k| event.metadata.get(*k))
        .map(String::as_str)
}

/// `parseRevision`: the commit of a Flux revision (`main@sha1:<hash>`, `sha1:<hash>`, the
/// legacy `main/<hash>`); only a 40-character SHA-1 is a commit.
pub fn parse_revision(revision: &str) -> Result<String, String> {
    let hash = match revision.rfind(':') {
        Some(i) => &revision[i + 1..],
        None => revision.rsplit('/').next().unwrap_or(revision),
    };
    if hash.len() == 40 {
        Ok(hash.to_string())
    } else {
        Err(format!(
            "failed to extract commit hash from '{revision}' revision"
        ))
    }
}

/// `formatNameAndDescription`'s description: the reason split where its case changes,
/// in lower case (`ReconciliationSucceeded` → `reconciliation succeeded`).
pub fn description(reason: &str) -> String {
    split_camel_case(reason).join(" ").to_lowercase()
}

/// `splitCamelcase`: runs of lower case, upper case, digits and anything else, with the
/// last capital of an upper-case run moved to the lower-case run after it (`PDFLoader` →
/// `PDF`, `Loader`).
fn split_camel_case(text: &str) -> Vec<String> {
    let class = |c: char| {
        if c.is_lowercase() {
            1
        } else if c.is_uppercase() {
            2
        } else if c.is_numeric() {
            3
        } else {
            4
        }
    };
    let mut runs: Vec<Vec<char>> = Vec::new();
    let mut last = 0;
    for c in text.chars() {
        let this = class(c);
        match runs.last_mut() {
            Some(run) if this == last => run.push(c),
            _ => runs.push(vec![c]),
        }
        last = this;
    }
    for i in 0..runs.len().saturating_sub(1) {
        if runs[i][0].is_uppercase()
            && runs[i + 1][0].is_lowercase()
            && let Some(moved) = runs[i].pop()
        {
            runs[i + 1].insert(0, moved);
        }
    }
    runs.into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.into_iter().collect())
        .collect()
}

/// `parseGitAddress`: the forge's origin (`https` for SSH addresses) and the repository's
/// path without `.git`.
pub fn parse_git_address(address: &str) -> Result<(String, String), String> {
    let failed = || format!("failed parsing URL {address:?}");
    let (scheme, host, path) = match address.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            (scheme.to_string(), host.to_string(), path.to_string())
        }
        // scp-like: [user@]host:path
        None => {
            let (before, path) = address.split_once(':').ok_or_else(failed)?;
            let host = before.rsplit_once('@').map_or(before, |(_, h)| h);
            ("ssh".to_string(), host.to_string(), path.to_string())
        }
    };
    if host.is_empty() {
        return Err(failed());
    }
    let scheme = if scheme == "ssh" {
        "https".into()
    } else {
        scheme
    };
    let id = path.trim_start_matches('/');
    let id = id.strip_suffix(".git").unwrap_or(id);
    Ok((format!("{scheme}://{host}"), id.to_string()))
}

/// Go's `url.PathEscape` (a GitLab project path as one segment: `/` is `%2F`).
fn path_escape(text: &str) -> String {
    escape(text, |b| {
        b.is_ascii_alphanumeric() || b"-._~$&+,:;=@".contains(&b)
    })
}

/// Go's `url.QueryEscape` (spaces as `+`).
fn query_escape(text: &str) -> String {
    escape(text, |b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)).replace("%20", "+")
}

fn escape(text: &str, keep: impl Fn(u8) -> bool) -> String {
    text.bytes()
        .map(|b| {
            if keep(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flux::notify::event::InvolvedObject;

    /// notification-controller's `TestUtil_ParseRevision`.
    #[test]
    fn revisions_name_their_commit() {
        let sha = "a1afe267b54f38b46b487f6e938a6fd508278c07";
        for revision in [
            format!("sha1:{sha}"),
            format!("master@sha1:{sha}"),
            format!("environment/dev@sha1:{sha}"),
            format!("master/{sha}"),
            format!("environment/dev/{sha}"),
        ] {
            assert_eq!(parse_revision(&revision).as_deref(), Ok(sha), "{revision}");
        }
        assert_eq!(
            parse_revision("master"),
            Err("failed to extract commit hash from 'master' revision".into())
        );
    }

    /// `TestUtil_NameAndDescription` and splitCamelcase's own example.
    #[test]
    fn descriptions_split_the_reason() {
        assert_eq!(description("ApplySucceeded"), "apply succeeded");
        assert_eq!(
            description("ReconciliationSucceeded"),
            "reconciliation succeeded"
        );
        assert_eq!(split_camel_case("PDFLoader"), ["PDF", "Loader"]);
        assert_eq!(
            split_camel_case("HealthCheckFailed"),
            ["Health", "Check", "Failed"]
        );
    }

    /// `TestUtil_ParseGit*`.
    #[test]
    fn git_addresses_give_origin_and_path() {
        for (address, host, id) in [
            (
                "https://github.com/foo/bar",
                "https://github.com",
                "foo/bar",
            ),
            (
                "https://example.com/foo/bar",
                "https://example.com",
                "foo/bar",
            ),
            (
                "https://gitlab.com/foo/bar.git",
                "https://gitlab.com",
                "foo/bar",
            ),
            (
                "git@gitlab.com:foo/bar.git",
                "https://gitlab.com",
                "foo/bar",
            ),
            (
                "ssh://git@github.com/stefanprodan/podinfo",
                "https://github.com",
                "stefanprodan/podinfo",
            ),
            (
                "https://gitlab.com/foo/bar/foo.git",
                "https://gitlab.com",
                "foo/bar/foo",
            ),
        ] {
            assert_eq!(
                parse_git_address(address),
                Ok((host.to_string(), id.to_string())),
                "{address}"
            );
        }
    }

    /// `TestNewGitHubBasic`, `TestNewEmterpriseGitHubBasic`, `TestNewGitHubInvalidUrl`,
    /// `TestNewGitHubEmptyToken`, `TestNewGitHubEmptyCommitStatus`.
    #[test]
    fn github_addresses_pick_the_api() {
        let key = "kustomization/gitops-system/0c9c2e41";
        let public =
            CommitStatus::new(Forge::GitHub, "https://github.com/foo/bar", "foobar", key).unwrap();
        assert_eq!(public.api, "https://api.github.com/");
        assert_eq!(public.project, "foo/bar");
        let enterprise =
            CommitStatus::new(Forge::GitHub, "https://foobar.com/foo/bar", "foobar", key).unwrap();
        assert_eq!(enterprise.api, "https://foobar.com/api/v3/");
        assert!(
            CommitStatus::new(Forge::GitHub, "https://github.com/foo/bar/baz", "t", key).is_err()
        );
        assert!(CommitStatus::new(Forge::GitHub, "https://github.com/foo/bar", "", key).is_err());
        assert!(CommitStatus::new(Forge::GitHub, "https://github.com/foo/bar", "t", "").is_err());
        let gitlab = CommitStatus::new(
            Forge::GitLab,
            "https://gitlab.com/foo/bar/foo.git",
            "t",
            key,
        )
        .unwrap();
        assert_eq!(gitlab.api, "https://gitlab.com/api/v4/");
        assert_eq!(path_escape(&gitlab.project), "foo%2Fbar%2Ffoo");
        assert_eq!(query_escape("a b/c"), "a+b%2Fc");
    }

    #[test]
    fn the_default_key_is_kind_name_and_uid_prefix() {
        let event = Event {
            involved_object: InvolvedObject {
                kind: "Kustomization".into(),
                name: "Apps".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            default_key("0c9c2e41-d2f9-4f9b-9c41-bebc1984d67a", &event),
            "kustomization/apps/0c9c2e41"
        );
    }

    /// `TestDuplicateGithubStatus`'s cases: the newest status of the key decides.
    #[test]
    fn only_the_newest_status_of_the_key_counts() {
        let s = |context: &str, state: &str, description: &str| json!({"context": context, "state": state, "description": description});
        let same = json!([s("key", "success", "reconciliation succeeded")]);
        assert!(latest_is_same(
            &same,
            "context",
            "key",
            "success",
            "reconciliation succeeded"
        ));
        let newer_failure = json!([
            s("key", "failure", "health check failed"),
            s("key", "success", "reconciliation succeeded")
        ]);
        assert!(!latest_is_same(
            &newer_failure,
            "context",
            "key",
            "success",
            "reconciliation succeeded"
        ));
        let other_key = json!([s("other", "success", "reconciliation succeeded")]);
        assert!(!latest_is_same(
            &other_key,
            "context",
            "key",
            "success",
            "reconciliation succeeded"
        ));
        let incomplete = json!([{"context": "key", "state": "success"},
                                 s("key", "success", "reconciliation succeeded")]);
        assert!(latest_is_same(
            &incomplete,
            "context",
            "key",
            "success",
            "reconciliation succeeded"
        ));
    }
}
