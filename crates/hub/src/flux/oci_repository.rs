//! Flux `OCIRepository` (source.toolkit.fluxcd.io/v1), as source-controller reconciles it:
//! the artifact named by `spec.ref` (a digest, the highest tag a semver range accepts —
//! `semverFilter` first —, a tag, or `latest`) pulled from the registry of `spec.url`, its
//! layer (`layerSelector.mediaType`, else the first) unpacked as Flux unpacks one, kept
//! in memory for the Kustomizations that read it; revision `<tag>@sha256:<manifest>` (or
//! the digest), Ready `stored artifact for digest '<revision>'`. Credentials come from a
//! `kubernetes.io/dockerconfigjson` Secret (`spec.secretRef`); `insecure` tries HTTPS
//! without verifying the server's certificate (unless a `certSecretRef` names one), then
//! plain HTTP, as source-controller does; `certSecretRef` gives a CA trusted beside the
//! platform's roots and a client certificate, as for a HelmRepository. Cloud providers'
//! auto-login, signature verification, proxies and service account pull secrets are
//! refused by name (Stalled), never ignored.

use flotilla_core::pointer::Pointer as _;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use flotilla_render::kustomize::MemTree;
use flotilla_source::Credentials;
use flotilla_source::oci::{self, Access, RepositoryReference};
use kube::api::ApiResource;
use kube::core::GroupVersionKind;
use serde::Deserialize;
use serde_json::{Value, json};

use super::conditions::{Conditions, Failed, failed, stalled};
use super::{FluxReconciler, Outcome, SOURCE_GROUP, events, generation_of};
use crate::controller::object_key;
use crate::lock;
use crate::sources::SourceTree;

/// The OCIRepository resource (`source.toolkit.fluxcd.io/v1`).
pub fn oci_repository_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(SOURCE_GROUP, "v1", "OCIRepository"),
        "ocirepositories",
    )
}

/// The largest layer pulled (Flux's default `--artifact-…` limits are of this order).
const MAX_LAYER_BYTES: usize = 100 << 20;

/// `spec` of an OCIRepository.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OciRepositorySpec {
    url: String,
    #[serde(rename = "ref")]
    reference: Option<OciReference>,
    layer_selector: Option<LayerSelector>,
    provider: String,
    secret_ref: Option<LocalRef>,
    service_account_name: String,
    cert_secret_ref: Option<LocalRef>,
    proxy_secret_ref: Option<LocalRef>,
    verify: Option<Value>,
    insecure: bool,
    interval: String,
    timeout: String,
    ignore: Option<String>,
    suspend: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct OciReference {
    tag: String,
    semver: String,
    semver_filter: String,
    digest: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LayerSelector {
    media_type: String,
    operation: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct LocalRef {
    name: String,
}

/// What was pulled: the revision and the artifact's files.
struct Pulled {
    revision: String,
    digest: String,
    size: usize,
    files: Vec<(String, Vec<u8>)>,
    /// The manifest's annotations.
    annotations: BTreeMap<String, String>,
}

impl FluxReconciler {
    /// Reconciles one OCIRepository: resolves its reference, pulls and keeps the artifact
    /// when the revision is new, and returns source-controller's status.
    pub async fn reconcile_oci_repository(&self, obj: &Value, now: &str) -> Outcome {
        let key = object_key(obj);
        let generation = generation_of(obj);
        let old_status = obj.get("status").cloned().unwrap_or(json!({}));
        let mut conditions = Conditions::from_status(&old_status, generation, now);
        let spec: OciRepositorySpec =
            match serde_json::from_value(obj.get("spec").cloned().unwrap_or(Value::Null)) {
                Ok(spec) => spec,
                Err(e) => {
                    return finish_failed(
                        &old_status,
                        conditions,
                        generation,
                        stalled("InvalidSpec", format!("invalid spec: {e}")),
                        None,
                    );
                }
            };
        if spec.suspend {
            return Outcome {
                status: None,
                requeue: None,
                events: Vec::new(),
            };
        }
        let interval = flotilla_fleet::flux::parse_duration(&spec.interval, true)
            .unwrap_or(Duration::from_secs(600));
        let namespace = obj
            .at("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        conditions.reconciling("Progressing", "reconciliation in progress");
        let pulled = self.pull(&key, namespace, &spec, &old_status).await;
        let source = format!("OCIRepository/{key}");
        let pulled = match pulled {
            Ok(pulled) => pulled,
            Err(failure) => {
                let requeue = (!failure.stalls).then(|| self.source_failed(&source));
                return finish_failed(&old_status, conditions, generation, failure, requeue);
            }
        };
        self.source_succeeded(&source);
        let mut status = old_status.clone();
        if let Some(pulled) = pulled {
            let tree = MemTree::from_files(pulled.files);
            lock(&self.artifacts).insert(
                artifact_key("OCIRepository", &key),
                SourceTree {
                    commit: pulled.digest.clone(),
                    revision: pulled.revision.clone(),
                    tree: Arc::new(tree),
                    included: Vec::new(),
                    metadata: Arc::new(pulled.annotations.clone()),
                },
            );
            let hex = pulled.digest.trim_start_matches("sha256:");
            status["artifact"] = json!({
                "revision": pulled.revision,
                "digest": pulled.digest,
                "path": format!("ocirepository/{key}/{hex}.tar.gz"),
                "url": format!("flotilla://ocirepository/{key}/{hex}.tar.gz"),
                "size": pulled.size,
                "lastUpdateTime": now,
            });
            // source-controller copies the manifest's annotations as the artifact's
            // metadata (what `flux push artifact --source --revision` records).
            if !pulled.annotations.is_empty() {
                status["artifact"]["metadata"] = json!(pulled.annotations);
            }
        }
        let revision = status
            .at("/artifact/revision")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let message = format!("stored artifact for digest '{revision}'");
        conditions.delete("FetchFailed");
        conditions.delete("Reconciling");
        conditions.delete("Stalled");
        conditions.set("ArtifactInStorage", "True", "Succeeded", &message);
        conditions.set("Ready", "True", "Succeeded", &message);
        status["conditions"] = conditions.to_value();
        status["observedGeneration"] = json!(generation);
        match &spec.ignore {
            Some(ignore) => status["observedIgnore"] = json!(ignore),
            None => {
                if let Some(fields) = status.as_object_mut() {
                    fields.remove("observedIgnore");
                }
            }
        }
        let events = oci_events(&old_status, &status, &spec.url);
        Outcome {
            status: Some(status),
            requeue: Some(interval),
            events,
        }
    }

    /// Resolves the reference and pulls the artifact unless the stored one has the same
    /// revision (`None`: nothing new).
    async fn pull(
        &self,
        key: &str,
        namespace: &str,
        spec: &OciRepositorySpec,
        old_status: &Value,
    ) -> Result<Option<Pulled>, Failed> {
        unsupported(spec)?;
        let reference = RepositoryReference::from_oci_url(&spec.url).map_err(|e| {
            let reason = match &e {
                oci::OciError::Reference { reason, .. } => reason.clone(),
                other => other.to_string(),
            };
            stalled(
                "URLInvalid",
                format!("URL validation failed for '{}': {reason}", spec.url),
            )
        })?;
        let credentials = match &spec.secret_ref {
            None => Credentials::default(),
            Some(secret) => {
                let data = self
                    .secret_data(namespace, &secret.name)
                    .await
                    .map_err(|e| {
                        failed(
                            "AuthenticationFailed",
                            format!("failed to get credential: {e}"),
                        )
                    })?;
                docker_config_credentials(&data, &reference.registry).map_err(|e| {
                    failed(
                        "AuthenticationFailed",
                        format!(
                            "failed to get credential: secret '{namespace}/{}': {e}",
                            secret.name
                        ),
                    )
                })?
            }
        };
        // `insecure`, or a local registry: HTTPS first, then plain HTTP (go-containerregistry's
        // `name.Insecure` and `Registry.Scheme`). `insecure` without a `certSecretRef` also
        // leaves the server's certificate unverified — the one place Flux allows that
        // (source-controller's `getTLSConfig`); a local registry's HTTPS is verified.
        let tls = match &spec.cert_secret_ref {
            None if spec.insecure => flotilla_source::ServerTrust::Unverified.into(),
            cert => {
                self.cert_tls(namespace, cert.as_ref().map(|r| r.name.as_str()))
                    .await?
            }
        };
        let access = Access {
            credentials,
            plain_http: false,
            http_fallback: spec.insecure || reference.is_local_registry(),
            tls,
        };
        let timeout = flotilla_fleet::flux::parse_duration(&spec.timeout, true)
            .unwrap_or(Duration::from_secs(60));
        let wanted = spec.reference.clone().unwrap_or_default();
        let media_type = spec
            .layer_selector
            .as_ref()
            .map(|l| l.media_type.as_str())
            .filter(|m| !m.is_empty());
        let tag_or_digest = if !wanted.digest.is_empty() {
            wanted.digest.clone()
        } else if !wanted.semver.is_empty() {
            let tags = oci::tags(&reference, &access, timeout).await.map_err(|e| {
                failed(
                    "ReadOperationFailed",
                    format!(
                        "failed to determine the artifact tag for '{}': {e}",
                        spec.url
                    ),
                )
            })?;
            highest_tag(&tags, &wanted.semver, &wanted.semver_filter).map_err(|e| {
                failed(
                    "ReadOperationFailed",
                    format!(
                        "failed to determine the artifact tag for '{}': {e}",
                        spec.url
                    ),
                )
            })?
        } else if !wanted.tag.is_empty() {
            wanted.tag.clone()
        } else {
            "latest".to_string()
        };
        // Skipped when the stored revision names this tag and digest and the ignore rules
        // did not change (`ociContentConfigChanged`); the manifest is asked for either way.
        let pulled = oci::pull_artifact(
            &reference,
            &tag_or_digest,
            &access,
            media_type,
            MAX_LAYER_BYTES,
            timeout,
        )
        .await
        .map_err(|e| match e {
            oci::OciError::Request { detail, .. }
                if detail.starts_with("no layers found")
                    || detail.starts_with("failed to find layer") =>
            {
                failed("OCILayerOperationFailed", detail)
            }
            other => failed(
                "OCIPullFailed",
                format!("failed to pull artifact from '{}': {other}", spec.url),
            ),
        })?;
        let revision = if tag_or_digest.starts_with("sha256:") {
            pulled.digest.clone()
        } else {
            format!("{tag_or_digest}@{}", pulled.digest)
        };
        let same_ignore =
            old_status.get("observedIgnore").and_then(Value::as_str) == spec.ignore.as_deref();
        let stored =
            old_status.at("/artifact/revision").and_then(Value::as_str) == Some(revision.as_str());
        if stored
            && same_ignore
            && lock(&self.artifacts).contains_key(&artifact_key("OCIRepository", key))
        {
            return Ok(None);
        }
        let operation = spec
            .layer_selector
            .as_ref()
            .map(|l| l.operation.as_str())
            .unwrap_or("");
        if !matches!(operation, "" | "extract" | "copy") {
            return Err(stalled(
                "OCILayerOperationFailed",
                format!("unsupported layer operation: {operation}"),
            ));
        }
        // `copy` keeps the layer as the artifact: a tarball either way for what reads it.
        let files =
            flotilla_render::helm::unpack_artifact(&spec.url, &pulled.layer).map_err(|e| {
                failed(
                    "OCILayerOperationFailed",
                    format!("failed to extract layer contents from artifact: {e}"),
                )
            })?;
        let files = without_ignored(files, spec.ignore.as_deref()).map_err(|e| {
            failed(
                "SourceIgnoreError",
                format!("failed to load source ignore patterns from repository: {e}"),
            )
        })?;
        let layer_digest = format!("sha256:{}", flotilla_source::sha256_hex(&pulled.layer));
        Ok(Some(Pulled {
            revision,
            digest: layer_digest,
            size: pulled.layer.len(),
            files,
            annotations: pulled.annotations,
        }))
    }
}

/// The key of a source's artifact: kind and `namespace/name`.
pub(crate) fn artifact_key(kind: &str, key: &str) -> String {
    format!("{kind}/{key}")
}

/// What this hub does not do, named rather than ignored.
fn unsupported(spec: &OciRepositorySpec) -> Result<(), Failed> {
    let refuse = |what: &str| {
        Err(stalled(
            "UnsupportedFeature",
            format!("{what} is not supported by this hub"),
        ))
    };
    if !matches!(spec.provider.as_str(), "" | "generic") {
        return refuse(&format!(
            "spec.provider '{}' (cloud registry login)",
            spec.provider
        ));
    }
    if spec.verify.is_some() {
        return refuse("spec.verify (signature verification)");
    }
    if spec.proxy_secret_ref.is_some() {
        return refuse("spec.proxySecretRef");
    }
    if !spec.service_account_name.is_empty() {
        return refuse("spec.serviceAccountName (image pull secrets)");
    }
    Ok(())
}

/// The highest tag (as Masterminds/semver orders versions) a constraint accepts, among
/// those `filter` (a regular expression) matches; source-controller's `getTagBySemver`.
fn highest_tag(tags: &[String], constraint: &str, filter: &str) -> Result<String, String> {
    let filter = if filter.is_empty() {
        None
    } else {
        Some(regex::Regex::new(filter).map_err(|e| e.to_string())?)
    };
    let text = constraint;
    let constraint = flotilla_source::Constraint::parse(constraint)
        .map_err(|e| format!("semver '{constraint}' parse error: {e}"))?;
    tags.iter()
        .filter(|tag| filter.as_ref().is_none_or(|f| f.is_match(tag)))
        .filter_map(|tag| Some((flotilla_source::Version::parse(tag)?, tag)))
        .filter(|(version, _)| constraint.matches(version))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, tag)| tag.clone())
        .ok_or_else(|| format!("no match found for semver: {text}"))
}

/// Basic credentials for `registry` from a `kubernetes.io/dockerconfigjson` Secret's data:
/// its `auths` entry for the host (a scheme or path on the key is allowed), `username`
/// and `password`, or `auth` (base64 of `user:password`). No entry: anonymous.
pub(super) fn docker_config_credentials(
    data: &BTreeMap<String, Vec<u8>>,
    registry: &str,
) -> Result<Credentials, String> {
    let Some(config) = data.get(".dockerconfigjson") else {
        return Err("the Secret has no '.dockerconfigjson' key".into());
    };
    let config: Value = serde_json::from_slice(config)
        .map_err(|e| format!("'.dockerconfigjson' does not parse: {e}"))?;
    let host_of = |key: &str| {
        let key = key
            .strip_prefix("https://")
            .or_else(|| key.strip_prefix("http://"))
            .unwrap_or(key);
        key.split('/').next().unwrap_or(key).to_string()
    };
    let Some(entry) = config
        .get("auths")
        .and_then(Value::as_object)
        .and_then(|auths| auths.iter().find(|(k, _)| host_of(k) == registry))
        .map(|(_, v)| v)
    else {
        return Ok(Credentials::default());
    };
    let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or_default();
    let (username, password) = if !text("username").is_empty() {
        (text("username").to_string(), text("password").to_string())
    } else {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text("auth"))
            .map_err(|e| format!("the auth of '{registry}' is not base64: {e}"))?;
        let decoded = String::from_utf8_lossy(&decoded).to_string();
        let (u, p) = decoded
            .split_once(':')
            .ok_or_else(|| format!("the auth of '{registry}' is not user:password"))?;
        (u.to_string(), p.to_string())
    };
    Ok(Credentials::Basic { username, password })
}

/// The files Flux keeps: VCS files, `.sourceignore` patterns and `spec.ignore` left out.
fn without_ignored(
    files: Vec<(String, Vec<u8>)>,
    spec_ignore: Option<&str>,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut rules = flotilla_source::IgnoreRules::flux(Some(spec_ignore.unwrap_or("")))
        .map_err(|e| e.to_string())?;
    for (path, text) in files
        .iter()
        .filter(|(p, _)| p == ".sourceignore" || p.ends_with("/.sourceignore"))
    {
        let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        rules
            .add_sourceignore(dir, &String::from_utf8_lossy(text))
            .map_err(|e| e.to_string())?;
    }
    Ok(files
        .into_iter()
        .filter(|(path, _)| {
            let parts: Vec<&str> = path.split('/').collect();
            let dirs_ignored =
                (1..parts.len()).any(|n| rules.is_ignored(&parts[..n].join("/"), true));
            !dirs_ignored && !rules.is_ignored(path, false)
        })
        .collect())
}

/// A failed reconcile: FetchFailed (or Stalled) and Ready False with the reason, the
/// last artifact kept.
fn finish_failed(
    old_status: &Value,
    mut conditions: Conditions,
    generation: i64,
    failure: Failed,
    requeue: Option<Duration>,
) -> Outcome {
    if failure.stalls {
        conditions.stalled(failure.reason, &failure.message);
        conditions.set("Ready", "False", failure.reason, &failure.message);
    } else {
        conditions.set("FetchFailed", "True", failure.reason, &failure.message);
        conditions.set("Ready", "False", failure.reason, &failure.message);
        conditions.retry_reconciling();
    }
    let mut status = old_status.clone();
    status["conditions"] = conditions.to_value();
    if failure.stalls {
        status["observedGeneration"] = json!(generation);
    }
    Outcome {
        status: Some(status),
        requeue,
        events: vec![events::FluxEvent {
            warning: true,
            reason: failure.reason.to_string(),
            message: failure.message,
            metadata: BTreeMap::new(),
        }],
    }
}

/// The OCI annotation naming where an artifact's content came from (`flux push artifact
/// --source`).
pub const OCI_SOURCE: &str = "org.opencontainers.image.source";

/// The OCI annotation naming the revision it came from (`--revision`): Flux's origin
/// revision.
pub const OCI_REVISION: &str = "org.opencontainers.image.revision";

/// source-controller's `notify`: a new revision is `NewArtifact` (`stored artifact with
/// revision '<r>' from '<url>'`, with `, origin source '<s>', origin revision '<r>'` when
/// the artifact's annotations name both), a recovery `Succeeded`.
fn oci_events(old_status: &Value, status: &Value, url: &str) -> Vec<events::FluxEvent> {
    let revision = |s: &Value| {
        s.at("/artifact/revision")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let Some(now) = revision(status) else {
        return Vec::new();
    };
    let was_failing = Conditions::from_status(old_status, 0, "").is("Ready", "False");
    let reason = match (
        revision(old_status).as_deref() != Some(now.as_str()),
        was_failing,
    ) {
        (true, _) => "NewArtifact",
        (false, true) => "Succeeded",
        (false, false) => return Vec::new(),
    };
    let mut metadata = BTreeMap::from([(format!("{SOURCE_GROUP}/revision"), now.clone())]);
    if let Some(digest) = status.at("/artifact/digest").and_then(Value::as_str) {
        metadata.insert(format!("{SOURCE_GROUP}/digest"), digest.to_string());
    }
    let mut message = format!("stored artifact with revision '{now}' from '{url}'");
    let origin = |key: &str| {
        status
            .at("/artifact/metadata")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    if let (Some(source), Some(revision)) = (origin(OCI_SOURCE), origin(OCI_REVISION)) {
        message.push_str(&format!(
            ", origin source '{source}', origin revision '{revision}'"
        ));
    }
    vec![events::FluxEvent {
        warning: false,
        reason: reason.to_string(),
        message,
        metadata,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_tag_a_range_accepts_after_the_filter() {
        let tags: Vec<String> = [
            "1.0.0",
            "1.2.0",
            "1.10.0",
            "2.0.0",
            "1.11.0-rc.1",
            "latest",
            "v1.9.0",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        assert_eq!(highest_tag(&tags, ">=1.0.0 <2.0.0", "").unwrap(), "1.10.0");
        assert_eq!(highest_tag(&tags, "1.x", "^v").unwrap(), "v1.9.0");
        assert_eq!(
            highest_tag(&tags, ">=3.0.0", "").unwrap_err(),
            "no match found for semver: >=3.0.0"
        );
        assert!(highest_tag(&tags, "1.x", "(").is_err());
    }

    #[test]
    fn docker_config_secrets_give_the_registrys_credentials() {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode("flux:s3cret");
        let config = json!({"auths": {
            "https://other.io/v1/": {"username": "x", "password": "y"},
            "localhost:5000": {"auth": auth},
        }})
        .to_string();
        let data = BTreeMap::from([(".dockerconfigjson".to_string(), config.into_bytes())]);
        assert_eq!(
            docker_config_credentials(&data, "localhost:5000").unwrap(),
            Credentials::Basic {
                username: "flux".into(),
                password: "s3cret".into()
            }
        );
        assert_eq!(
            docker_config_credentials(&data, "other.io").unwrap(),
            Credentials::Basic {
                username: "x".into(),
                password: "y".into()
            }
        );
        assert_eq!(
            docker_config_credentials(&data, "ghcr.io").unwrap(),
            Credentials::default()
        );
        assert!(docker_config_credentials(&BTreeMap::new(), "ghcr.io").is_err());
    }

    #[test]
    fn ignored_files_are_left_out_of_the_artifact() {
        let files = vec![
            ("deploy/app.yaml".to_string(), b"a".to_vec()),
            ("deploy/notes.md".to_string(), b"b".to_vec()),
            (".git/config".to_string(), b"c".to_vec()),
            ("skip/x.yaml".to_string(), b"d".to_vec()),
            (".sourceignore".to_string(), b"skip/\n".to_vec()),
        ];
        let kept = |ignore: Option<&str>| {
            without_ignored(files.clone(), ignore)
                .unwrap()
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kept(None),
            ["deploy/app.yaml", "deploy/notes.md", ".sourceignore"]
        );
        assert_eq!(kept(Some("*.md")), ["deploy/app.yaml", ".sourceignore"]);
    }
}
