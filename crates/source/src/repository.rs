//! Flux's `GitRepository` (source.toolkit.fluxcd.io/v1): the spec as users write it,
//! and a reconcile that turns it into an artifact revision and Flux's conditions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::credentials::Access;
use crate::ignore::{IgnoreError, IgnoreRules};
use crate::mirror::{Checkout, MirrorCache, Request};
use crate::refs::GitRef;
use crate::verify::TrustedKeys;

/// Reference by name to an object in the referrer's namespace (a Secret, an included
/// GitRepository; Flux's `LocalObjectReference`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalReference {
    /// The object's name.
    pub name: String,
}

/// `spec` of a GitRepository, with Flux's field names. `include` is resolved by the
/// caller, which holds the other repositories' artifacts; fields Flotilla does not act
/// on (`provider`, `recurseSubmodules`, `proxySecretRef`) are kept out of this type, and
/// the hub refuses an object that sets them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositorySpec {
    /// Repository URL.
    pub url: String,
    /// Secret with `username`/`password`, `bearerToken`, or `identity`/`known_hosts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalReference>,
    /// How often to check the remote (Go duration, e.g. `5m`).
    pub interval: String,
    /// Limit for git operations (Go duration, default `60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// What to check out (default: branch `master`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRef>,
    /// gitignore-syntax exclusions; replaces Flux's default list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Stop reconciling.
    #[serde(default)]
    pub suspend: bool,
    /// Directories the artifact is limited to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sparse_checkout: Vec<String>,
    /// Other GitRepositories' artifacts (of the same namespace) copied into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<Include>,
    /// Signature verification of the commit (`HEAD`), the tag (`Tag`) or both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verification>,
}

/// One `spec.include` entry: a GitRepository of the same namespace whose artifact (or
/// a path in it) is copied into this artifact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Include {
    /// The included GitRepository.
    pub repository: LocalReference,
    /// What to copy: a path in the included artifact (default: all of it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from_path: String,
    /// Where to put it in this artifact (default: the included repository's name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to_path: String,
}

impl Include {
    /// `toPath`, or the included repository's name when it is not set (Flux's
    /// `GetToPath`).
    pub fn destination(&self) -> &str {
        if self.to_path.is_empty() {
            &self.repository.name
        } else {
            &self.to_path
        }
    }
}

/// `spec.verify`: which object to verify and the Secret of trusted public keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// `HEAD` (the default, also written `head`), `Tag` or `TagAndHEAD`.
    #[serde(default)]
    pub mode: String,
    /// The Secret holding the public keys.
    pub secret_ref: LocalReference,
}

impl Verification {
    /// Whether the commit is verified (modes `HEAD`, also written `head` or left unset,
    /// and `TagAndHEAD`).
    fn verifies_head(&self) -> bool {
        matches!(self.mode.as_str(), "" | "HEAD" | "head" | "TagAndHEAD")
    }

    /// Whether the annotated tag the checkout came from is verified (`Tag`,
    /// `TagAndHEAD`).
    fn verifies_tag(&self) -> bool {
        matches!(self.mode.as_str(), "Tag" | "TagAndHEAD")
    }

    /// The mode as `status.sourceVerificationMode` records it (`head` and unset are
    /// `HEAD`).
    fn mode_name(&self) -> String {
        match self.mode.as_str() {
            "" | "head" => "HEAD".into(),
            other => other.to_string(),
        }
    }
}

impl GitRepositorySpec {
    /// What the artifact leaves out: Flux's exclusions (`spec.ignore` or the defaults,
    /// `.sourceignore` files as they are met) and everything outside `sparseCheckout`.
    pub fn artifact_rules(&self) -> Result<IgnoreRules, IgnoreError> {
        Ok(IgnoreRules::flux(self.ignore.as_deref())?.with_sparse_checkout(&self.sparse_checkout))
    }

    /// A key that differs whenever [`GitRepositorySpec::artifact_rules`] may differ.
    pub fn artifact_rules_key(&self) -> String {
        let sparse: Vec<&str> = self
            .sparse_checkout
            .iter()
            .map(|d| crate::ignore::sparse_dir(d))
            .collect();
        format!("{:?}\u{0}{}", self.ignore, sparse.join("\u{0}"))
    }
}

/// The artifact of a successful reconcile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Flux's revision string (`main@sha1:…`).
    pub revision: String,
    /// The commit id.
    pub commit: String,
    /// Tree id of the repository root at that commit (Flotilla's change key).
    pub tree: String,
}

/// A Kubernetes condition (metav1.Condition, without the transition time, which the
/// controller that writes the object stamps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling`, `Stalled`, `FetchFailed`, `ArtifactInStorage`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// CamelCase reason (`Succeeded`, `GitOperationFailed`, `AuthenticationFailed`, …).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
    /// The generation this condition describes.
    pub observed_generation: i64,
}

/// `status` of a GitRepository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryStatus {
    /// Last generation reconciled.
    pub observed_generation: i64,
    /// Conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The last good artifact; kept when a later reconcile fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// `spec.ignore` as of the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ignore: Option<String>,
    /// `spec.sparseCheckout` as of the artifact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observed_sparse_checkout: Vec<String>,
    /// The verification mode the artifact's commit passed (`HEAD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_verification_mode: Option<String>,
}

/// A GitRepository object: identity, spec and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRepository {
    /// `metadata.namespace/metadata.name`, for messages.
    pub name: String,
    /// `metadata.generation`.
    pub generation: i64,
    /// The spec.
    pub spec: GitRepositorySpec,
    /// The status.
    pub status: GitRepositoryStatus,
}

/// What to do after a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// Reconcile again after this long; `None` waits for a change (suspended, or a
    /// spec error that only an edit can fix).
    pub requeue_after: Option<Duration>,
}

/// Parses a Go duration (`1h30m`, `90s`, `1.5m`, `300ms`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

/// Flux's default `spec.timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl GitRepository {
    /// The request this spec makes of the cache.
    fn request(&self, access: Access) -> Result<Request, String> {
        let interval = parse_duration(&self.spec.interval)
            .ok_or_else(|| format!("spec.interval: invalid duration {:?}", self.spec.interval))?;
        let timeout = match &self.spec.timeout {
            Some(t) => {
                parse_duration(t).ok_or_else(|| format!("spec.timeout: invalid duration {t:?}"))?
            }
            None => DEFAULT_TIMEOUT,
        };
        Ok(Request {
            url: self.spec.url.clone(),
            reference: self.spec.reference.clone().unwrap_or_default().effective(),
            credentials: access.credentials,
            tls: access.tls,
            interval,
            timeout,
        })
    }

    /// Checks the remote and updates the status. `credentials` are what `secretRef`
    /// resolved to (the caller reads the Secret), with the certificates it trusts. On
    /// failure the previous artifact is kept and the conditions say why. Returns the
    /// checkout when one succeeded.
    pub async fn reconcile(
        &mut self,
        cache: &MirrorCache,
        access: impl Into<Access>,
    ) -> (Action, Option<Checkout>) {
        self.reconcile_verified(cache, access, Err("no secret was read".into()))
            .await
    }

    /// [`GitRepository::reconcile`] for a spec that may ask for `verify`: `keys` are
    /// the trusted keys its Secret holds, or why they could not be read.
    pub async fn reconcile_verified(
        &mut self,
        cache: &MirrorCache,
        access: impl Into<Access>,
        keys: Result<TrustedKeys, String>,
    ) -> (Action, Option<Checkout>) {
        if self.spec.suspend {
            return (
                Action {
                    requeue_after: None,
                },
                None,
            );
        }
        let request = match self.request(access.into()) {
            Ok(r) => r,
            Err(message) => {
                self.stalled("InvalidSpec", message);
                return (
                    Action {
                        requeue_after: None,
                    },
                    None,
                );
            }
        };
        if let Err(e) = crate::url::GitUrl::parse(&request.url) {
            self.stalled("URLInvalid", e.to_string());
            return (
                Action {
                    requeue_after: None,
                },
                None,
            );
        }
        if let Err(e) = IgnoreRules::flux(self.spec.ignore.as_deref()) {
            self.stalled("InvalidSpec", e.to_string());
            return (
                Action {
                    requeue_after: None,
                },
                None,
            );
        }
        if let Some(refused) = self.unsupported() {
            self.stalled("UnsupportedSpec", refused);
            return (
                Action {
                    requeue_after: None,
                },
                None,
            );
        }
        let requeue = Action {
            requeue_after: Some(request.interval),
        };
        match cache.checkout(&request).await {
            Ok(checkout) => {
                if let Some(missing) = self.missing_sparse_dir(&checkout) {
                    self.failed(
                        "GitOperationFailed",
                        format!(
                            "failed to sparse checkout directories : sparse checkout dir '{missing}' does not exist in repository"
                        ),
                    );
                    return (requeue, None);
                }
                if !self.verify(&checkout, keys, cache, &request).await {
                    return (requeue, None);
                }
                let tree = match checkout.snapshot.tree_id("") {
                    Ok(Some(t)) => t,
                    Ok(None) | Err(_) => String::new(),
                };
                self.succeeded(&checkout, tree);
                (requeue, Some(checkout))
            }
            Err(e) => {
                let reason = if e.is_auth() {
                    "AuthenticationFailed"
                } else {
                    "GitOperationFailed"
                };
                self.failed(
                    reason,
                    format!("failed to checkout and determine revision: {e}"),
                );
                (requeue, None)
            }
        }
    }

    /// Why the spec asks for what Flotilla does not do, if it does.
    fn unsupported(&self) -> Option<String> {
        if let Some(verify) = &self.spec.verify
            && !verify.verifies_head()
            && !verify.verifies_tag()
        {
            return Some(format!(
                "spec.verify.mode {:?} is not supported: one of HEAD, Tag or TagAndHEAD",
                verify.mode
            ));
        }
        None
    }

    /// The first `sparseCheckout` directory the checkout lacks (Flux checks each exists).
    fn missing_sparse_dir(&self, checkout: &Checkout) -> Option<String> {
        self.spec.sparse_checkout.iter().find_map(|dir| {
            let path = crate::ignore::sparse_dir(dir);
            match checkout.snapshot.tree_id(path) {
                Ok(Some(_)) => None,
                _ => Some(dir.clone()),
            }
        })
    }

    fn set(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        let condition = Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.to_string(),
            message: message.to_string(),
            observed_generation: self.generation,
        };
        match self.status.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) => *c = condition,
            None => self.status.conditions.push(condition),
        }
    }

    fn remove(&mut self, type_: &str) {
        self.status.conditions.retain(|c| c.type_ != type_);
    }

    fn succeeded(&mut self, checkout: &Checkout, tree: String) {
        let message = format!("stored artifact for revision '{}'", checkout.revision);
        for negative in ["FetchFailed", "Reconciling", "Stalled", "ArtifactOutdated"] {
            self.remove(negative);
        }
        self.set("Ready", "True", "Succeeded", &message);
        self.set("ArtifactInStorage", "True", "Succeeded", &message);
        self.status.artifact = Some(Artifact {
            revision: checkout.revision.clone(),
            commit: checkout.commit.clone(),
            tree,
        });
        self.status.observed_ignore = self.spec.ignore.clone();
        self.status.observed_sparse_checkout = self.spec.sparse_checkout.clone();
        self.status.observed_generation = self.generation;
    }

    /// Checks the signatures the spec asks for — the annotated tag's, the commit's, or
    /// both — as source-controller does; false (and conditions saying why) when they
    /// do not verify.
    async fn verify(
        &mut self,
        checkout: &Checkout,
        keys: Result<TrustedKeys, String>,
        cache: &MirrorCache,
        request: &Request,
    ) -> bool {
        let Some(verification) = &self.spec.verify else {
            self.remove("SourceVerified");
            self.status.source_verification_mode = None;
            return true;
        };
        let mode = verification.mode_name();
        let (tag, head) = (verification.verifies_tag(), verification.verifies_head());
        let verified = async {
            let keys = keys.map_err(|e| {
                Refusal::Retry(
                    "VerificationError",
                    format!("public keys secret error: {e}"),
                )
            })?;
            let mut lines = Vec::new();
            if tag {
                let (name, key) = verify_tag_of(checkout, &keys, cache, request).await?;
                lines.push(format!("tag '{name}' with key '{key}'"));
            }
            if head {
                let key = verify_head(checkout, &keys).await.map_err(Refusal::retry)?;
                lines.push(format!("commit '{}' with key '{key}'", checkout.commit));
            }
            Ok::<_, Refusal>(format!(
                "verified signature of\n\t- {}",
                lines.join("\n\t- ")
            ))
        }
        .await;
        match verified {
            Ok(message) => {
                self.set("SourceVerified", "True", "Succeeded", &message);
                self.status.source_verification_mode = Some(mode);
                true
            }
            Err(Refusal::Retry(reason, message)) => {
                self.set("SourceVerified", "False", reason, &message);
                self.retrying(reason, &message);
                false
            }
            Err(Refusal::Stall(reason, message)) => {
                self.set("SourceVerified", "False", reason, &message);
                self.stalled(reason, message);
                false
            }
        }
    }

    fn failed(&mut self, reason: &str, message: String) {
        self.remove("Stalled");
        self.set("FetchFailed", "True", reason, &message);
        self.retrying(reason, &message);
    }

    /// Not ready for `reason`; the next interval tries again.
    fn retrying(&mut self, reason: &str, message: &str) {
        self.set("Ready", "False", reason, message);
        self.set(
            "Reconciling",
            "True",
            "ProgressingWithRetry",
            &format!("processing object: new generation {}", self.generation),
        );
    }

    fn stalled(&mut self, reason: &str, message: String) {
        self.remove("Reconciling");
        self.set("Stalled", "True", reason, &message);
        self.set("Ready", "False", reason, &message);
        self.status.observed_generation = self.generation;
    }

    /// The `Ready` condition, if any.
    pub fn ready(&self) -> Option<&Condition> {
        self.status.conditions.iter().find(|c| c.type_ == "Ready")
    }
}

/// Why a verification refused the checkout: worth retrying (the keys or the remote may
/// change), or stalled until the spec changes.
enum Refusal {
    Retry(&'static str, String),
    Stall(&'static str, String),
}

impl Refusal {
    fn retry((reason, message): (&'static str, String)) -> Refusal {
        Refusal::Retry(reason, message)
    }
}

/// Runs a verification (gpgv and ssh-keygen are processes) off the async workers.
async fn verify_blocking(
    object: crate::GitObject,
    raw: Vec<u8>,
    keys: &TrustedKeys,
) -> Result<String, String> {
    let keys = keys.clone();
    tokio::task::spawn_blocking(move || {
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        crate::verify::verify_object(object, &raw, &keys, scratch.path()).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Verifies the checkout's commit with `keys`: the signing key, or the condition
/// reason and message Flux gives when it cannot.
async fn verify_head(
    checkout: &Checkout,
    keys: &TrustedKeys,
) -> Result<String, (&'static str, String)> {
    let failed = |e: String| {
        (
            "InvalidCommitSignature",
            format!(
                "signature verification of commit '{}' failed: {e}",
                checkout.commit
            ),
        )
    };
    let object = checkout
        .snapshot
        .commit_object()
        .map_err(|e| failed(e.to_string()))?;
    verify_blocking(crate::GitObject::Commit, object, keys)
        .await
        .map_err(failed)
}

/// Verifies the annotated tag the checkout came from: the tag as Flux names it
/// (`<name>@<tag object id>`) and the signing key, or why not in Flux's words.
async fn verify_tag_of(
    checkout: &Checkout,
    keys: &TrustedKeys,
    cache: &MirrorCache,
    request: &Request,
) -> Result<(String, String), Refusal> {
    let Some(short) = checkout
        .refname
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/tags/"))
    else {
        return Err(Refusal::Stall(
            "InvalidVerificationMode",
            "cannot verify tag object's signature if a tag reference is not specified".into(),
        ));
    };
    let tag = cache.tag_object(request, checkout).await.map_err(|e| {
        Refusal::Retry(
            "VerificationError",
            format!("cannot read tag '{short}': {e}"),
        )
    })?;
    let unsigned = |name: &str| {
        Refusal::Retry(
            "InvalidGitObject",
            format!("cannot verify signature of tag '{name}' since it is not signed"),
        )
    };
    // A lightweight tag is named by the ref alone.
    let Some(crate::mirror::TagObject { id, raw: object }) = tag else {
        return Err(unsigned(short));
    };
    let name = format!("{}@{id}", tag_name(&object).unwrap_or(short));
    if crate::verify::split_signed_tag(&object).is_none() {
        return Err(unsigned(&name));
    }
    let key = verify_blocking(crate::GitObject::Tag, object, keys)
        .await
        .map_err(|e| {
            Refusal::Retry(
                "InvalidTagSignature",
                format!("signature verification of tag '{name}' failed: {e}"),
            )
        })?;
    Ok((name, key))
}

/// The `tag` header of a raw tag object (the name the tagger gave it).
fn tag_name(object: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(object).ok()?;
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix("tag "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5 minutes"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn spec_reads_flux_yaml_field_names() {
        let spec: GitRepositorySpec = serde_json::from_value(serde_json::json!({
            "url": "https://github.com/stefanprodan/podinfo",
            "interval": "5m",
            "ref": {"semver": ">=6.0.0"},
            "secretRef": {"name": "auth"},
            "ignore": "/*\n!/deploy\n",
            "recurseSubmodules": false
        }))
        .unwrap();
        assert_eq!(spec.secret_ref.unwrap().name, "auth");
        assert_eq!(spec.reference.unwrap().semver, ">=6.0.0");
        assert!(!spec.suspend);
    }
}
