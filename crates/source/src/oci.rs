//! Helm charts in OCI registries, as Argo CD reads them for a Helm source whose
//! `repoURL` names a registry (`registry.example.com/charts`, no scheme) or whose
//! repository Secret sets `enableOCI`: the chart's tags listed (`_` read back as `+`,
//! Helm's convention) when `targetRevision` is a constraint, then `helm pull
//! oci://<repoURL>/<chart> --version <v>` — the manifest, its Helm config and chart
//! layer, the layer checked against its digest. Registries answer 401 with a challenge:
//! `Basic` is answered with the repository's credentials, `Bearer` with a token from
//! the challenge's realm (asked with those credentials, or anonymously), as the Docker
//! registry token protocol describes.
//!
//! Also Argo CD's OCI source type (`repoURL: oci://…`, Argo CD 3.1+, `util/oci`):
//! [`resolve_revision`] turns a tag, digest or semver constraint into the manifest
//! digest, [`pull_content`] brings the artifact's single content layer by Argo CD's rules.

use std::time::Duration;

use crate::Credentials;

/// The largest manifest read (the OCI distribution spec's suggested limit).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;
/// The largest tag list page, and token answer, read.
const MAX_LISTING_BYTES: usize = 4 << 20;
/// Tag list pages followed at most.
const MAX_TAG_PAGES: usize = 100;
/// Tags kept at most over all pages (a chart's versions; bounds what a hostile or
/// runaway registry can make the hub hold).
const MAX_TAGS: usize = 100_000;

/// Media types of a Helm chart artifact (Helm's `pkg/registry`).
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const LEGACY_CHART_LAYER: &str = "application/tar+gzip";
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json";

/// Why a chart could not be had from a registry. Messages hold no credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OciError {
    /// The repository URL and chart name do not make a registry reference.
    #[error("invalid OCI chart reference {reference:?}: {reason}")]
    Reference {
        /// `repoURL/chart` as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A request failed or was refused.
    #[error("{reference}: {detail}")]
    Request {
        /// `oci://registry/repository[:tag]`.
        reference: String,
        /// What failed.
        detail: String,
    },
    /// The artifact is not a Helm chart.
    #[error("{reference}: {detail}")]
    NotAChart {
        /// `oci://registry/repository:tag`.
        reference: String,
        /// Helm's reason.
        detail: String,
    },
    /// An Argo CD OCI source's revision could not be resolved to a digest.
    #[error("failed to resolve revision {revision:?}: {detail}")]
    Revision {
        /// `targetRevision` as given.
        revision: String,
        /// Argo CD's reason (`cannot get digest for revision …`, `no version for
        /// constraints: …`).
        detail: String,
    },
    /// An Argo CD OCI source's artifact has no single content layer it may extract.
    #[error("{reference}: {detail}")]
    Content {
        /// `oci://registry/repository@sha256:…`.
        reference: String,
        /// Argo CD's reason.
        detail: String,
    },
    /// What arrived is not what was asked for (a layer its manifest describes, a
    /// manifest by its digest).
    #[error("{reference}: the digest of what arrived is {actual}, {expected} was expected")]
    Digest {
        /// `oci://registry/repository:tag`.
        reference: String,
        /// The manifest's digest.
        expected: String,
        /// What arrived.
        actual: String,
    },
}

/// Whether an Argo CD Helm source's `repoURL` names an OCI registry: Argo CD's
/// `IsHelmOciRepo`, a URL Go parses with no host (`registry.example.com/charts`,
/// `localhost:5000/charts`; not `https://…`, not `oci://…`).
pub fn is_oci_repo_url(repo_url: &str) -> bool {
    if repo_url.is_empty() || repo_url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return false;
    }
    let rest = crate::redirect::scheme_split(repo_url).map_or(repo_url, |(_, rest)| rest);
    let host = rest
        .strip_prefix("//")
        .map(|authority| &authority[..authority.find(['/', '?', '#']).unwrap_or(authority.len())]);
    host.is_none_or(str::is_empty)
}

/// How to reach a registry: the repository's credentials and whether it speaks plain
/// HTTP (Argo CD's `insecureOCIForceHttp`).
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Basic credentials answer `Basic` challenges and are sent to a `Bearer` realm; a
    /// bearer token is sent as it is.
    pub credentials: Credentials,
    /// `http://` instead of `https://`.
    pub plain_http: bool,
    /// `https://` first and, when the first request of an operation cannot be answered
    /// over it, `http://` (go-containerregistry's `name.Insecure`, Flux OCIRepository's
    /// `insecure`).
    pub http_fallback: bool,
    /// Whom an HTTPS registry (and its token realm) must be, and the client certificate
    /// presented to them.
    pub tls: crate::tls::Tls,
}

/// A repository in a registry, `registry/repository`: a Helm chart's, or a Flux
/// `OCIRepository`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryReference {
    /// `host[:port]`.
    pub registry: String,
    /// The repository's name (`charts/web`).
    pub repository: String,
}

impl RepositoryReference {
    /// The repository of `chart` under Argo CD's `repoURL` (`oci://` optional, as
    /// `helm pull oci://<repoURL>/<chart>` reads it).
    pub fn new(repo_url: &str, chart: &str) -> Result<RepositoryReference, OciError> {
        let given = format!("{repo_url}/{chart}");
        let invalid = |reason: &str| OciError::Reference {
            reference: given.clone(),
            reason: reason.to_string(),
        };
        let bare = ["oci://", "https://", "http://"]
            .iter()
            .find_map(|scheme| repo_url.strip_prefix(scheme))
            .unwrap_or(repo_url)
            .trim_end_matches('/');
        let (registry, path) = bare.split_once('/').unwrap_or((bare, ""));
        if registry.is_empty() || registry.contains(['@', '?', '#', '\\']) {
            return Err(invalid("no registry host"));
        }
        let chart = chart.trim_matches('/');
        let repository = if path.is_empty() {
            chart.to_string()
        } else {
            format!("{path}/{chart}")
        };
        if chart.is_empty() || !is_repository_name(&repository) {
            return Err(invalid(
                "a repository name is lowercase letters, digits and separators (. _ __ - /) between them",
            ));
        }
        Ok(RepositoryReference {
            registry: registry.to_string(),
            repository,
        })
    }

    /// The repository of a Flux `OCIRepository` URL, `oci://<domain>/<org>/<repo>` (no tag,
    /// no digest), with source-controller's messages (`parseRepository`).
    pub fn from_oci_url(url: &str) -> Result<RepositoryReference, OciError> {
        let invalid = |reason: String| OciError::Reference {
            reference: url.to_string(),
            reason,
        };
        let Some(bare) = url.strip_prefix("oci://") else {
            return Err(invalid(
                "URL must be in format 'oci://<domain>/<org>/<repo>'".into(),
            ));
        };
        let (registry, repository) = bare.split_once('/').unwrap_or((bare, ""));
        if let Some((_, tag)) = repository.split_once(':') {
            return Err(invalid(format!(
                "URL must not contain a tag; remove ':{tag}'"
            )));
        }
        if registry.is_empty()
            || registry.contains(['@', '?', '#', '\\'])
            || repository.contains('@')
            || !is_repository_name(repository)
        {
            return Err(invalid(
                "URL must be in format 'oci://<domain>/<org>/<repo>'".into(),
            ));
        }
        Ok(RepositoryReference {
            registry: registry.to_string(),
            repository: repository.to_string(),
        })
    }

    /// Whether go-containerregistry tries plain HTTP after HTTPS for this registry even
    /// without `insecure` (its `Registry.Scheme`): `localhost:<port>`, a `*.localhost`
    /// name, `127.0.0.1`, `::1` and the RFC 1918 addresses, where development
    /// registries (kind's, a cluster's own) usually speak plain HTTP.
    pub fn is_local_registry(&self) -> bool {
        let host = self.registry.as_str();
        let port_or_nothing = |rest: &str| {
            rest.is_empty()
                || rest.strip_prefix(':').is_some_and(|port| {
                    (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
                })
        };
        let private_ipv4 = host
            .split(':')
            .next()
            .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
            .is_some_and(|ip| ip.is_private());
        host.starts_with("localhost:")
            || host
                .rfind(".localhost")
                .is_some_and(|at| port_or_nothing(&host[at + ".localhost".len()..]))
            || host.strip_prefix("127.0.0.1").is_some_and(port_or_nothing)
            || host == "::1"
            || host.strip_prefix("[::1]").is_some_and(port_or_nothing)
            || private_ipv4
    }

    /// `oci://registry/repository`, for messages.
    fn shown(&self) -> String {
        format!("oci://{}/{}", self.registry, self.repository)
    }

    fn endpoint(&self, access: &Access, rest: &str) -> String {
        let scheme = if access.plain_http { "http" } else { "https" };
        format!("{scheme}://{}/v2/{}/{rest}", self.registry, self.repository)
    }
}

/// The distribution spec's repository name grammar: path components of lowercase
/// alphanumerics joined by `.`, `_`, `__` or runs of `-`.
fn is_repository_name(name: &str) -> bool {
    name.len() <= 255
        && name.split('/').all(|component| {
            let bytes = component.as_bytes();
            let edge =
                |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            edge(bytes.first())
                && edge(bytes.last())
                && bytes.iter().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && !component.contains("..")
                && !component.contains("___")
                && !component.contains("._")
                && !component.contains("_.")
                && !component.contains(".-")
                && !component.contains("-.")
                && !component.contains("_-")
                && !component.contains("-_")
        })
}

/// A tag as Helm pushes a version: `+` is not allowed in tags and becomes `_`.
pub fn tag_of(version: &str) -> String {
    version.replace('+', "_")
}

/// Every version the repository has a tag for (`_` read back as `+`, as Argo CD's
/// `GetTags`), following the registry's `Link` pages.
pub async fn versions(
    reference: &RepositoryReference,
    access: &Access,
    timeout: Duration,
) -> Result<Vec<String>, OciError> {
    let tags = tags(reference, access, timeout).await?;
    Ok(tags.iter().map(|tag| tag.replace('_', "+")).collect())
}

/// The repository's tags as the registry lists them, following its `Link` pages.
pub async fn tags(
    reference: &RepositoryReference,
    access: &Access,
    timeout: Duration,
) -> Result<Vec<String>, OciError> {
    let mut session = Session::new(reference, access);
    let work = async {
        let mut versions = Vec::new();
        let mut next = Some(reference.endpoint(access, "tags/list"));
        for _ in 0..MAX_TAG_PAGES {
            let Some(url) = next.take() else {
                return Ok(versions);
            };
            let answer = session.get(&url, None, MAX_LISTING_BYTES).await?;
            let listed: TagList = serde_json::from_slice(&answer.body)
                .map_err(|e| session.failed(format!("the tag list does not parse: {e}")))?;
            versions.extend(listed.tags);
            if versions.len() > MAX_TAGS {
                return Err(session.failed(format!("more than {MAX_TAGS} tags")));
            }
            next = next_page(&answer.headers)
                .and_then(|link| crate::redirect::resolve_location(&answer.url, &link));
        }
        Err(session.failed(format!("more than {MAX_TAG_PAGES} pages of tags")))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| session.failed(format!("no answer within {timeout:?}")))?
}

/// The packaged chart (`.tgz`) of `version`: the manifest of its tag, which must carry
/// Helm's config and one chart layer, then that layer, checked against its digest and
/// at most `limit` bytes.
pub async fn pull_chart(
    reference: &RepositoryReference,
    version: &str,
    access: &Access,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, OciError> {
    let tag = tag_of(version);
    let mut session = Session::new(reference, access);
    session.shown = format!("{}:{tag}", reference.shown());
    let work = async {
        let url = reference.endpoint(access, &format!("manifests/{tag}"));
        let answer = session
            .get(&url, Some(MANIFEST_TYPES), MAX_MANIFEST_BYTES)
            .await?;
        let manifest: Manifest = serde_json::from_slice(&answer.body)
            .map_err(|e| session.failed(format!("the manifest does not parse: {e}")))?;
        let layer = chart_layer(&manifest).map_err(|detail| OciError::NotAChart {
            reference: session.shown.clone(),
            detail,
        })?;
        session.layer(layer, "the chart layer", limit).await
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| session.failed(format!("no answer within {timeout:?}")))?
}

/// What [`pull_artifact`] brings: the manifest's digest and the layer chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledArtifact {
    /// `sha256:…` of the manifest as served.
    pub digest: String,
    /// The layer's media type.
    pub media_type: String,
    /// The layer, checked against its digest.
    pub layer: Vec<u8>,
    /// The manifest's annotations (`org.opencontainers.image.revision`, …: what `flux
    /// push artifact` records of its origin).
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Manifest types an artifact may be served as (OCI, or Docker's schema 2).
const ARTIFACT_MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// An artifact of any kind (a Flux `OCIRepository`'s) by tag or by `sha256:` digest: its
/// manifest (a digest asked for is checked against it) and one layer — the first with
/// `media_type` when given, else the first — checked against its digest and at most
/// `limit` bytes, with source-controller's messages (`selectLayer`).
pub async fn pull_artifact(
    reference: &RepositoryReference,
    tag_or_digest: &str,
    access: &Access,
    media_type: Option<&str>,
    limit: usize,
    timeout: Duration,
) -> Result<PulledArtifact, OciError> {
    let mut session = Session::new(reference, access);
    let by_digest = tag_or_digest.starts_with("sha256:");
    session.shown = format!(
        "{}{}{tag_or_digest}",
        reference.shown(),
        if by_digest { "@" } else { ":" }
    );
    let work = async {
        let url = reference.endpoint(access, &format!("manifests/{tag_or_digest}"));
        let answer = session
            .get(&url, Some(ARTIFACT_MANIFEST_TYPES), MAX_MANIFEST_BYTES)
            .await?;
        let digest = format!("sha256:{}", crate::sha256_hex(&answer.body));
        if by_digest && !digest.eq_ignore_ascii_case(tag_or_digest) {
            return Err(OciError::Digest {
                reference: session.shown.clone(),
                expected: tag_or_digest.to_string(),
                actual: digest,
            });
        }
        let manifest: Manifest = serde_json::from_slice(&answer.body)
            .map_err(|e| session.failed(format!("failed to parse artifact manifest: {e}")))?;
        if manifest.layers.is_empty() {
            return Err(session.failed("no layers found in artifact".into()));
        }
        let layer = match media_type {
            Some(wanted) => manifest
                .layers
                .iter()
                .find(|l| l.media_type == wanted)
                .ok_or_else(|| {
                    session.failed(format!(
                        "failed to find layer with media type '{wanted}' in artifact"
                    ))
                })?,
            None => &manifest.layers[0],
        };
        let bytes = session.layer(layer, "the layer", limit).await?;
        Ok(PulledArtifact {
            digest,
            media_type: layer.media_type.clone(),
            layer: bytes,
            annotations: manifest.annotations,
        })
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| session.failed(format!("no answer within {timeout:?}")))?
}

/// The layer media types Argo CD's repo-server accepts when
/// `ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES` is not set (`--oci-layer-media-types` in
/// `cmd/argocd-repo-server`; its user guide lists only the last two).
pub const ARGO_DEFAULT_LAYER_MEDIA_TYPES: [&str; 3] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    CHART_LAYER,
];

/// Layers an Argo CD OCI artifact may have at most (`expected no more than 10 oci layers`).
const ARGO_MAX_LAYERS: usize = 10;

/// The allowed layer media types from the value of
/// `ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES` as Argo CD's `StringsFromEnv` reads it: unset
/// or empty is the default list, else comma-separated entries, each trimmed.
pub fn argo_layer_media_types(env: Option<&str>) -> Vec<String> {
    match env {
        Some(value) if !value.is_empty() => {
            value.split(',').map(|t| t.trim().to_string()).collect()
        }
        _ => ARGO_DEFAULT_LAYER_MEDIA_TYPES
            .iter()
            .map(|t| t.to_string())
            .collect(),
    }
}

/// Whether Argo CD takes `revision` for a semver constraint over the tags
/// (`versions.IsConstraint`): not an exact version, but a Masterminds constraint.
pub fn is_constraint(revision: &str) -> bool {
    crate::Version::parse(revision).is_none() && crate::Constraint::parse(revision).is_ok()
}

/// The highest of `tags` the constraint `revision` admits, as the tag was written (Argo
/// CD's `versions.MaxVersion` without a tag prefix); tags that are no version are
/// skipped, and of equal versions the first listed wins (Masterminds' `GreaterThan`).
pub fn max_version(revision: &str, tags: &[String]) -> Result<String, String> {
    let constraint = crate::Constraint::parse(revision)
        .map_err(|e| format!("failed to determine semver constraint: {e}"))?;
    let mut best: Option<(crate::Version, &String)> = None;
    for tag in tags {
        let Some(version) = crate::Version::parse(tag) else {
            continue;
        };
        if constraint.matches(&version) && best.as_ref().is_none_or(|(b, _)| version > *b) {
            best = Some((version, tag));
        }
    }
    best.map(|(_, tag)| tag.clone()).ok_or_else(|| {
        format!(
            "version matching constraint not found in {} tags",
            tags.len()
        )
    })
}

/// Argo CD's `ResolveRevision` for an OCI source: `revision` (a tag or a `sha256:`
/// digest) is looked up as it is; only when that fails and `revision` is a semver
/// constraint are the tags listed (`_` read back as `+`) and the highest match looked
/// up. `digest_of` asks the registry for a tag's manifest digest, `tags` lists the
/// repository (the caller may serve both from caches). Errors carry Argo CD's words.
pub async fn resolve_revision<D, T>(
    revision: &str,
    digest_of: impl Fn(String) -> D,
    tags: impl FnOnce() -> T,
) -> Result<String, OciError>
where
    D: std::future::Future<Output = Result<String, OciError>>,
    T: std::future::Future<Output = Result<Vec<String>, OciError>>,
{
    let failed = |detail: String| OciError::Revision {
        revision: revision.to_string(),
        detail,
    };
    let looked_up = if revision.is_empty() {
        Err("no tag or digest given".to_string())
    } else {
        digest_of(revision.to_string())
            .await
            .map_err(|e| e.to_string())
    };
    let error = match looked_up {
        Ok(digest) => return Ok(digest),
        Err(error) => error,
    };
    if !is_constraint(revision) {
        return Err(failed(format!(
            "cannot get digest for revision {revision}: {error}"
        )));
    }
    let tags = tags()
        .await
        .map_err(|e| failed(format!("error fetching tags: failed to get tags: {e}")))?;
    let tags: Vec<String> = tags.iter().map(|t| t.replace('_', "+")).collect();
    let version = max_version(revision, &tags)
        .map_err(|e| failed(format!("no version for constraints: {e}")))?;
    // `+` is not allowed in a tag: Helm's convention writes it `_`.
    digest_of(tag_of(&version))
        .await
        .map_err(|e| failed(format!("cannot get digest for revision {version}: {e}")))
}

/// The digest (`sha256:…`) of the manifest `tag_or_digest` names, computed from the
/// manifest as served (a digest asked for is checked against it).
pub async fn manifest_digest(
    reference: &RepositoryReference,
    tag_or_digest: &str,
    access: &Access,
    timeout: Duration,
) -> Result<String, OciError> {
    let (digest, _) = manifest_of(reference, tag_or_digest, access, timeout).await?;
    Ok(digest)
}

async fn manifest_of(
    reference: &RepositoryReference,
    tag_or_digest: &str,
    access: &Access,
    timeout: Duration,
) -> Result<(String, Manifest), OciError> {
    let mut session = Session::new(reference, access);
    session.shown = shown_at(reference, tag_or_digest);
    let work = async {
        let url = reference.endpoint(access, &format!("manifests/{tag_or_digest}"));
        let answer = session
            .get(&url, Some(ARTIFACT_MANIFEST_TYPES), MAX_MANIFEST_BYTES)
            .await?;
        let digest = format!("sha256:{}", crate::sha256_hex(&answer.body));
        if tag_or_digest.starts_with("sha256:") && !digest.eq_ignore_ascii_case(tag_or_digest) {
            return Err(OciError::Digest {
                reference: session.shown.clone(),
                expected: tag_or_digest.to_string(),
                actual: digest,
            });
        }
        let manifest: Manifest = serde_json::from_slice(&answer.body).map_err(|e| {
            session.failed(format!(
                "error decoding oci manifest for digest {digest}: {e}"
            ))
        })?;
        Ok((digest, manifest))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| session.failed(format!("no answer within {timeout:?}")))?
}

/// `oci://registry/repository:tag` or `…@sha256:…`, for messages.
fn shown_at(reference: &RepositoryReference, tag_or_digest: &str) -> String {
    let separator = if tag_or_digest.starts_with("sha256:") {
        '@'
    } else {
        ':'
    };
    format!("{}{separator}{tag_or_digest}", reference.shown())
}

/// The content layer of an Argo CD OCI source, as [`pull_content`] brings it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The manifest's digest (the revision Argo CD reports).
    pub digest: String,
    /// The layer's media type (`…tar+gzip`, `…tar.gzip` or `…tar`).
    pub media_type: String,
    /// Whether the layer is a Helm chart's (its one top directory is the chart).
    pub helm_chart: bool,
    /// The layer, checked against its digest.
    pub layer: Vec<u8>,
}

/// The single content layer of the artifact at `digest`, as Argo CD's OCI client
/// (`util/oci`) takes it: no more than 10 layers; of a Helm chart (Helm's config type)
/// only the chart layer counts, otherwise every `tar+gzip`/`tar.gzip`/`tar` layer does
/// (attestations and provenance are skipped); a counted layer must have one of
/// `allowed` media types, and exactly one must be counted. The layer is at most
/// `limit` bytes and checked against its digest.
pub async fn pull_content(
    reference: &RepositoryReference,
    digest: &str,
    access: &Access,
    allowed: &[String],
    limit: usize,
    timeout: Duration,
) -> Result<Content, OciError> {
    let (digest, manifest) = manifest_of(reference, digest, access, timeout).await?;
    let shown = shown_at(reference, &digest);
    let (layer, helm_chart) =
        argo_content_layer(&manifest, allowed).map_err(|detail| OciError::Content {
            reference: shown.clone(),
            detail,
        })?;
    let mut session = Session::new(reference, access);
    session.shown = shown;
    let work = session.layer(layer, "the content layer", limit);
    let bytes = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| OciError::Request {
            reference: shown_at(reference, &digest),
            detail: format!("no answer within {timeout:?}"),
        })??;
    Ok(Content {
        digest,
        media_type: layer.media_type.clone(),
        helm_chart,
        layer: bytes,
    })
}

/// Argo CD's choice of the content layer (see [`pull_content`]) and whether it is a Helm
/// chart's layer, or its refusal in its words.
fn argo_content_layer<'m>(
    manifest: &'m Manifest,
    allowed: &[String],
) -> Result<(&'m Descriptor, bool), String> {
    if manifest.layers.len() > ARGO_MAX_LAYERS {
        return Err(format!(
            "expected no more than {ARGO_MAX_LAYERS} oci layers, got {}",
            manifest.layers.len()
        ));
    }
    let helm = manifest.config.media_type == HELM_CONFIG;
    let mut content = Vec::new();
    for layer in &manifest.layers {
        let counted = if helm {
            layer.media_type == CHART_LAYER
        } else {
            is_content_layer(&layer.media_type)
        };
        if !counted {
            continue;
        }
        if !allowed.contains(&layer.media_type) {
            return Err(format!(
                "oci layer media type {} is not in the list of allowed media types",
                layer.media_type
            ));
        }
        content.push(layer);
    }
    match content.as_slice() {
        [layer] => Ok((layer, layer.media_type == CHART_LAYER)),
        _ => Err(format!(
            "expected only a single oci content layer, got {}",
            content.len()
        )),
    }
}

/// A layer Argo CD extracts: a tarball, gzipped or not (`isCompressedLayer`).
pub fn is_content_layer(media_type: &str) -> bool {
    media_type.ends_with("tar+gzip")
        || media_type.ends_with("tar.gzip")
        || media_type.ends_with("tar")
}

/// The chart layer of a Helm artifact's manifest, with Helm's refusals.
fn chart_layer(manifest: &Manifest) -> Result<&Descriptor, String> {
    if manifest.config.media_type != HELM_CONFIG {
        return Err(format!(
            "could not load config with mediatype {HELM_CONFIG} (the artifact's config is {:?})",
            manifest.config.media_type
        ));
    }
    let mut layers = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == CHART_LAYER || l.media_type == LEGACY_CHART_LAYER);
    match (layers.next(), layers.next()) {
        (Some(layer), None) => Ok(layer),
        (None, _) => Err(format!(
            "manifest does not contain a layer with mediatype {CHART_LAYER}"
        )),
        (Some(_), Some(_)) => Err(format!(
            "manifest has more than one layer with mediatype {CHART_LAYER}"
        )),
    }
}

#[derive(serde::Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, serde::Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
}

/// The `rel="next"` target of a `Link` header.
pub(crate) fn next_page(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find(|link| {
            link.split(';')
                .skip(1)
                .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
        })
        .and_then(|link| {
            let target = link.split(';').next()?.trim();
            Some(target.strip_prefix('<')?.strip_suffix('>')?.to_string())
        })
}

/// A `WWW-Authenticate` challenge: its scheme and parameters.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    scheme: String,
    parameters: Vec<(String, String)>,
}

impl Challenge {
    fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The first challenge of a `WWW-Authenticate` value (RFC 7235: a scheme, then
/// `name=value` or `name="quoted \" value"` parameters separated by commas).
fn parse_challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, mut rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut parameters = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some((name, after)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim();
        if name.contains(' ') {
            // The next challenge's scheme: only the first is read.
            break;
        }
        let after = after.trim_start();
        let (parsed, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => out.push(c),
                }
            }
            (out, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        parameters.push((name.to_string(), parsed));
        rest = remaining;
    }
    Some(Challenge {
        scheme: scheme.to_string(),
        parameters,
    })
}

/// Percent-encodes a query parameter (unreserved characters kept).
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The requests of one operation: the `Authorization` it has earned from the
/// registry's challenge is kept for the rest of them.
struct Session<'a> {
    reference: &'a RepositoryReference,
    access: &'a Access,
    authorization: Option<String>,
    shown: String,
    /// Whether the registry has answered (so the scheme is settled).
    answered: bool,
    /// Whether it answered only over plain HTTP ([`Access::http_fallback`]).
    downgraded: bool,
}

impl<'a> Session<'a> {
    fn new(reference: &'a RepositoryReference, access: &'a Access) -> Self {
        let authorization = match &access.credentials {
            Credentials::Bearer { token } => Some(format!("Bearer {token}")),
            _ => None,
        };
        Session {
            reference,
            access,
            authorization,
            shown: reference.shown(),
            answered: false,
            downgraded: false,
        }
    }

    fn failed(&self, detail: String) -> OciError {
        OciError::Request {
            reference: self.shown.clone(),
            detail,
        }
    }

    /// The blob of `layer` (called `what` in messages): at most `limit` bytes, checked
    /// against its sha256 digest.
    async fn layer(
        &mut self,
        layer: &Descriptor,
        what: &str,
        limit: usize,
    ) -> Result<Vec<u8>, OciError> {
        if layer.size > limit as u64 {
            return Err(self.failed(format!(
                "{what} is {} bytes, more than the {limit} allowed",
                layer.size
            )));
        }
        let Some(expected) = layer.digest.strip_prefix("sha256:") else {
            return Err(self.failed(format!(
                "the digest of {what}, {:?}, is not sha256",
                layer.digest
            )));
        };
        let url = self
            .reference
            .endpoint(self.access, &format!("blobs/{}", layer.digest));
        let answer = self.get(&url, None, limit).await?;
        let actual = crate::sha256_hex(&answer.body);
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(OciError::Digest {
                reference: self.shown.clone(),
                expected: layer.digest.clone(),
                actual: format!("sha256:{actual}"),
            });
        }
        Ok(answer.body)
    }

    /// `GET url`; a 401 is answered once as its challenge asks, then asked again.
    /// Anything but a success is an error quoting the registry's own error codes.
    async fn get(
        &mut self,
        url: &str,
        accept: Option<&str>,
        limit: usize,
    ) -> Result<crate::redirect::Answer, OciError> {
        let headers: Vec<_> = accept
            .map(|a| (hyper::header::ACCEPT, a))
            .into_iter()
            .collect();
        let mut answered_challenge = false;
        let mut url = match url.strip_prefix("https://") {
            Some(rest) if self.downgraded => format!("http://{rest}"),
            _ => url.to_string(),
        };
        loop {
            let fetched = crate::redirect::get(
                &url,
                &headers,
                self.authorization.as_deref(),
                &self.access.tls,
                limit,
            )
            .await;
            let answer = match fetched {
                Ok(answer) => answer,
                // The first request decides the scheme, as go-containerregistry's ping:
                // HTTPS, then plain HTTP.
                Err(https) if self.access.http_fallback && !self.answered && !self.downgraded => {
                    let Some(rest) = url.strip_prefix("https://") else {
                        return Err(self.failed(https));
                    };
                    url = format!("http://{rest}");
                    self.downgraded = true;
                    match crate::redirect::get(
                        &url,
                        &headers,
                        self.authorization.as_deref(),
                        &self.access.tls,
                        limit,
                    )
                    .await
                    {
                        Ok(answer) => answer,
                        Err(http) => {
                            return Err(
                                self.failed(format!("over HTTPS: {https}; over HTTP: {http}"))
                            );
                        }
                    }
                }
                Err(e) => return Err(self.failed(e)),
            };
            self.answered = true;
            if answer.status == hyper::StatusCode::UNAUTHORIZED && !answered_challenge {
                answered_challenge = true;
                if self.answer_challenge(&answer).await? {
                    continue;
                }
            }
            if !answer.status.is_success() {
                let detail = format!(
                    "the registry answered HTTP {}{}",
                    answer.status,
                    registry_errors(&answer.body)
                );
                return Err(self.failed(answer.explain(&url, detail)));
            }
            return Ok(answer);
        }
    }

    /// Earns the `Authorization` a 401's challenge asks for; `false` when there is
    /// nothing to answer it with.
    async fn answer_challenge(
        &mut self,
        answer: &crate::redirect::Answer,
    ) -> Result<bool, OciError> {
        let Some(challenge) = answer
            .headers
            .get(hyper::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
        else {
            return Ok(false);
        };
        let basic = match &self.access.credentials {
            Credentials::Basic { .. } => self.access.credentials.http_authorization(),
            _ => None,
        };
        if challenge.scheme.eq_ignore_ascii_case("basic") {
            let found = basic.is_some();
            self.authorization = basic;
            return Ok(found);
        }
        if !challenge.scheme.eq_ignore_ascii_case("bearer") {
            return Ok(false);
        }
        let Some(realm) = challenge.parameter("realm") else {
            return Err(self.failed("the registry's Bearer challenge names no realm".into()));
        };
        if !(realm.starts_with("https://") || realm.starts_with("http://")) {
            return Err(self.failed(format!(
                "the registry's token realm {:?} is not an http(s) URL",
                crate::url::redact_str(realm)
            )));
        }
        let default_scope = format!("repository:{}:pull", self.reference.repository);
        let scope = challenge.parameter("scope").unwrap_or(&default_scope);
        let mut url = format!("{realm}{}", if realm.contains('?') { '&' } else { '?' });
        if let Some(service) = challenge.parameter("service") {
            url.push_str(&format!("service={}&", query_escape(service)));
        }
        url.push_str(&format!("scope={}", query_escape(scope)));
        let token_answer = crate::redirect::get(
            &url,
            &[],
            basic.as_deref(),
            &self.access.tls,
            MAX_LISTING_BYTES,
        )
        .await
        .map_err(|e| {
            self.failed(format!(
                "asking {} for a token: {e}",
                crate::url::redact_str(realm)
            ))
        })?;
        if !token_answer.status.is_success() {
            return Err(self.failed(format!(
                "asking {} for a token: HTTP {}",
                crate::url::redact_str(realm),
                token_answer.status
            )));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let token: Token = serde_json::from_slice(&token_answer.body).map_err(|e| {
            self.failed(format!(
                "the token from {} does not parse: {e}",
                crate::url::redact_str(realm)
            ))
        })?;
        let token = if token.token.is_empty() {
            token.access_token
        } else {
            token.token
        };
        if token.is_empty() {
            return Err(self.failed(format!("{} gave no token", crate::url::redact_str(realm))));
        }
        self.authorization = Some(format!("Bearer {token}"));
        Ok(true)
    }
}

/// `: CODE: message` for each error of a registry's error body (the distribution
/// spec's `{"errors": [{"code", "message"}]}`), or nothing.
fn registry_errors(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    serde_json::from_slice::<Errors>(body)
        .map(|e| {
            e.errors
                .iter()
                .map(|e| format!(": {}: {}", e.code, e.message))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Argo CD's `IsHelmOciRepo` cases (util/helm/client_test.go), and Go's reading of
    /// `host:port/path` as a scheme with an opaque part (no host).
    #[test]
    fn oci_repository_urls_are_those_without_a_host() {
        for (url, oci) in [
            ("demo.goharbor.io", true),
            ("demo.goharbor.io/test/nginx", true),
            ("https://demo.goharbor.io", false),
            ("https://demo.goharbor.io/test/nginx", false),
            ("localhost:5000/charts", true),
            ("registry.example.com:5000/charts", true),
            ("oci://ghcr.io/org/charts", false),
            ("//host/charts", false),
            ("", false),
        ] {
            assert_eq!(is_oci_repo_url(url), oci, "{url}");
        }
    }

    /// go-containerregistry's `TestRegistryScheme` cases, and the edges of its patterns.
    #[test]
    fn local_registries_are_those_go_containerregistry_tries_over_http() {
        for (registry, local) in [
            ("foo.svc.localhost:1234", true),
            ("foo.svc.local:1234", false),
            ("registry.local", false),
            ("127.0.0.1:1234", true),
            ("127.0.0.1", true),
            ("127.0.0.1.evil.com", false),
            ("my127.0.0.1registry.io", false),
            ("localhost:8080", true),
            ("gcr.io", false),
            ("index.docker.io", false),
            ("::1", true),
            ("[::1]:5000", true),
            ("[2001:db8::1]:5000", false),
            ("10.2.3.4:5000", true),
            ("172.16.0.1", true),
            ("172.32.0.1", false),
            ("192.168.1.10:5000", true),
            ("8.8.8.8", false),
            ("010.0.0.1:5000", false),
            ("10.0.0.1.nip.io", false),
            ("127.0.0.2:5000", false),
            ("localhost", false),
            ("a.localhost:123456", false),
            ("a.localhost.example.com", false),
            ("localhost.evil.com:5000", false),
        ] {
            let reference = RepositoryReference {
                registry: registry.into(),
                repository: "charts/web".into(),
            };
            assert_eq!(reference.is_local_registry(), local, "{registry}");
        }
    }

    #[test]
    fn references_join_the_repository_url_and_the_chart() {
        let reference = RepositoryReference::new("localhost:5000/charts/", "web").unwrap();
        assert_eq!(reference.registry, "localhost:5000");
        assert_eq!(reference.repository, "charts/web");
        assert_eq!(
            RepositoryReference::new("oci://ghcr.io", "web").unwrap(),
            RepositoryReference {
                registry: "ghcr.io".into(),
                repository: "web".into()
            }
        );
        for (repo, chart) in [
            ("ghcr.io/Org", "web"),
            ("ghcr.io/org", "../web"),
            ("ghcr.io/org", ""),
            ("", "web"),
            ("ghcr.io/org", "web?x"),
        ] {
            assert!(
                matches!(
                    RepositoryReference::new(repo, chart),
                    Err(OciError::Reference { .. })
                ),
                "{repo} {chart}"
            );
        }
    }

    /// Challenges as registries send them (Docker Hub's, GHCR's, distribution's
    /// htpasswd realm), and a quoted value with an escaped quote and a comma.
    /// source-controller's `parseRepository`: `oci://` required, no tag.
    #[test]
    fn an_oci_repository_url_names_a_repository_without_a_tag() {
        let parsed =
            RepositoryReference::from_oci_url("oci://localhost:5000/org/manifests").unwrap();
        assert_eq!(
            (parsed.registry.as_str(), parsed.repository.as_str()),
            ("localhost:5000", "org/manifests")
        );
        let refused = |url: &str| {
            RepositoryReference::from_oci_url(url)
                .unwrap_err()
                .to_string()
        };
        assert!(
            refused("ghcr.io/org/app")
                .contains("URL must be in format 'oci://<domain>/<org>/<repo>'")
        );
        assert!(
            refused("oci://ghcr.io/org/app:v1")
                .contains("URL must not contain a tag; remove ':v1'")
        );
        assert!(refused("oci://ghcr.io").contains("URL must be in format"));
        assert!(refused("oci://ghcr.io/Org/App").contains("URL must be in format"));
    }

    #[test]
    fn challenges_are_read_with_their_quoted_parameters() {
        let hub = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:bitnamicharts/nginx:pull""#,
        )
        .unwrap();
        assert_eq!(hub.scheme, "Bearer");
        assert_eq!(hub.parameter("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(hub.parameter("service"), Some("registry.docker.io"));
        assert_eq!(
            hub.parameter("scope"),
            Some("repository:bitnamicharts/nginx:pull")
        );
        let basic = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(basic.scheme, "Basic");
        assert_eq!(basic.parameter("REALM"), Some("Registry Realm"));
        let odd = parse_challenge(r#"Bearer realm="a \"b\", c" , scope=x:y"#).unwrap();
        assert_eq!(odd.parameter("realm"), Some(r#"a "b", c"#));
        assert_eq!(odd.parameter("scope"), Some("x:y"));
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn the_next_page_is_the_links_next_target() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert(
            hyper::header::LINK,
            r#"</v2/charts/web/tags/list?last=1.2.0&n=2>; rel="next""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_page(&headers).as_deref(),
            Some("/v2/charts/web/tags/list?last=1.2.0&n=2")
        );
        assert_eq!(next_page(&hyper::HeaderMap::new()), None);
    }

    #[test]
    fn versions_with_build_metadata_are_tagged_with_an_underscore() {
        assert_eq!(tag_of("1.2.3+build.7"), "1.2.3_build.7");
        assert_eq!(
            query_escape("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
    }

    /// Helm's refusals of artifacts that are not charts.
    #[test]
    fn only_a_helm_artifact_with_one_chart_layer_is_a_chart() {
        let manifest = manifest_of_layers;
        assert!(chart_layer(&manifest(HELM_CONFIG, &[CHART_LAYER])).is_ok());
        assert!(chart_layer(&manifest(HELM_CONFIG, &[LEGACY_CHART_LAYER])).is_ok());
        let image = chart_layer(&manifest(
            "application/vnd.oci.image.config.v1+json",
            &["application/vnd.oci.image.layer.v1.tar+gzip"],
        ))
        .unwrap_err();
        assert!(
            image.starts_with(
                "could not load config with mediatype application/vnd.cncf.helm.config.v1+json"
            ),
            "{image}"
        );
        assert_eq!(
            chart_layer(&manifest(HELM_CONFIG, &[])).unwrap_err(),
            "manifest does not contain a layer with mediatype application/vnd.cncf.helm.chart.content.v1.tar+gzip"
        );
    }

    fn manifest_of_layers(config: &str, layers: &[&str]) -> Manifest {
        Manifest {
            config: Descriptor {
                media_type: config.into(),
                digest: "sha256:0".into(),
                size: 0,
            },
            layers: layers
                .iter()
                .map(|m| Descriptor {
                    media_type: m.to_string(),
                    digest: "sha256:1".into(),
                    size: 1,
                })
                .collect(),
            annotations: Default::default(),
        }
    }

    /// The cases of Argo CD's `Test_nativeOCIClient_Extract` that choose the layer.
    #[test]
    fn argo_cd_takes_the_single_content_layer_it_allows() {
        const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
        const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
        const PROVENANCE: &str = "application/vnd.cncf.helm.chart.provenance.v1.prov";
        let defaults = argo_layer_media_types(None);
        let choose = |config: &str, layers: &[&str], allowed: &[String]| {
            argo_content_layer(&manifest_of_layers(config, layers), allowed)
                .map(|(layer, helm)| (layer.media_type.clone(), helm))
        };
        assert_eq!(
            choose(IMAGE_CONFIG, &[GZIP], &defaults),
            Ok((GZIP.to_string(), false))
        );
        assert_eq!(
            choose(IMAGE_CONFIG, &[GZIP, GZIP], &defaults),
            Err("expected only a single oci content layer, got 2".to_string())
        );
        assert_eq!(
            choose(IMAGE_CONFIG, &[GZIP, PROVENANCE], &defaults),
            Ok((GZIP.to_string(), false))
        );
        assert_eq!(
            choose(
                IMAGE_CONFIG,
                &[GZIP],
                &["application/vnd.different.media.type".to_string()]
            ),
            Err("oci layer media type application/vnd.oci.image.layer.v1.tar+gzip is not in the list of allowed media types".to_string())
        );
        let docker = "application/vnd.docker.image.rootfs.diff.tar.gzip";
        assert_eq!(
            choose(IMAGE_CONFIG, &[docker], &[docker.to_string()]),
            Ok((docker.to_string(), false))
        );
        assert_eq!(
            choose(IMAGE_CONFIG, &[docker], &defaults).unwrap_err(),
            format!("oci layer media type {docker} is not in the list of allowed media types")
        );
        // A Helm chart: only the chart layer counts; extra layers are skipped.
        assert_eq!(
            choose(HELM_CONFIG, &[CHART_LAYER, PROVENANCE], &defaults),
            Ok((CHART_LAYER.to_string(), true))
        );
        assert_eq!(
            choose(HELM_CONFIG, &[CHART_LAYER, GZIP, PROVENANCE], &defaults),
            Ok((CHART_LAYER.to_string(), true))
        );
        assert_eq!(
            choose(HELM_CONFIG, &[PROVENANCE], &defaults),
            Err("expected only a single oci content layer, got 0".to_string())
        );
        // Not a tarball: nothing to extract.
        assert_eq!(
            choose(IMAGE_CONFIG, &["application/yaml"], &defaults),
            Err("expected only a single oci content layer, got 0".to_string())
        );
        assert_eq!(
            choose(IMAGE_CONFIG, &[GZIP; 11], &defaults),
            Err("expected no more than 10 oci layers, got 11".to_string())
        );
    }

    #[test]
    fn the_allowed_media_types_come_from_the_environment_as_argo_cd_reads_it() {
        assert_eq!(
            argo_layer_media_types(None),
            [
                "application/vnd.oci.image.layer.v1.tar",
                "application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
            ]
        );
        assert_eq!(argo_layer_media_types(Some("")).len(), 3);
        assert_eq!(
            argo_layer_media_types(Some("a/b+tar , c/d")),
            ["a/b+tar", "c/d"]
        );
    }

    /// Argo CD's `IsConstraint` and `MaxVersion` (`util/versions/tags_test.go`).
    #[test]
    fn constraints_pick_the_highest_tag_they_admit() {
        for (revision, constraint) in [
            ("^1.0.0", true),
            (">=1.0.0 <2.0.0", true),
            ("1.*", true),
            ("*", true),
            ("1.2.0", false),
            ("v1.2", false),
            ("latest", false),
            ("sha256:abc", false),
            ("", false),
        ] {
            assert_eq!(is_constraint(revision), constraint, "{revision:?}");
        }
        let tags = |t: &[&str]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert_eq!(
            max_version(
                "^1.0.0",
                &tags(&["1.0.0", "1.1.0", "v1.2.0", "2.0.0", "latest"])
            ),
            Ok("v1.2.0".to_string())
        );
        assert_eq!(
            max_version("^1.0.0", &tags(&["1.2.0", "v1.2.0"])),
            Ok("1.2.0".to_string())
        );
        assert_eq!(
            max_version("^1.0.0", &tags(&["1.3.0-rc.1", "1.2.0"])),
            Ok("1.2.0".to_string())
        );
        assert_eq!(
            max_version("^3.0.0", &tags(&["1.0.0", "1.1.0", "1.2.0", "2.0.0"])),
            Err("version matching constraint not found in 4 tags".to_string())
        );
    }

    /// The cases of Argo CD's `Test_nativeOCIClient_ResolveRevision`: the revision is
    /// looked up as it is first; tags are listed only for a constraint whose lookup
    /// failed.
    #[tokio::test]
    async fn revisions_resolve_as_argo_cd_resolves_them() {
        let known = ["latest", "1.2.0", "v1.2.0", "2.0.0", "sha256:d1"];
        let digest_of = |tag: String| {
            let found = known.contains(&tag.as_str());
            async move {
                if found {
                    Ok(format!("sha256:of-{tag}"))
                } else {
                    Err(OciError::Request {
                        reference: "oci://r/x".into(),
                        detail: format!("{tag}: not found"),
                    })
                }
            }
        };
        let listed = |t: &[&str]| {
            let t: Vec<String> = t.iter().map(|t| t.to_string()).collect();
            move || async move { Ok(t) }
        };
        let never = || async { panic!("the tags are not listed for this revision") };
        let four = || listed(&["1.0.0", "1.1.0", "1.2.0", "2.0.0"]);
        assert_eq!(
            resolve_revision("^1.0.0", digest_of, four()).await,
            Ok("sha256:of-1.2.0".into())
        );
        assert_eq!(
            resolve_revision("1.2.0", digest_of, never).await,
            Ok("sha256:of-1.2.0".into())
        );
        assert_eq!(
            resolve_revision("v1.2.0", digest_of, never).await,
            Ok("sha256:of-v1.2.0".into())
        );
        assert_eq!(
            resolve_revision("latest", digest_of, never).await,
            Ok("sha256:of-latest".into())
        );
        assert_eq!(
            resolve_revision(">=1.0.0 <2.0.0", digest_of, four()).await,
            Ok("sha256:of-1.2.0".into())
        );
        assert_eq!(
            resolve_revision("^3.0.0", digest_of, four())
                .await
                .unwrap_err()
                .to_string(),
            "failed to resolve revision \"^3.0.0\": no version for constraints: version matching constraint not found in 4 tags"
        );
        assert_eq!(
            resolve_revision(
                "^1.0.0",
                digest_of,
                listed(&["latest", "stable", "prod", "dev"])
            )
            .await
            .unwrap_err()
            .to_string(),
            "failed to resolve revision \"^1.0.0\": no version for constraints: version matching constraint not found in 4 tags"
        );
        assert_eq!(
            resolve_revision("^1.0.0", digest_of, listed(&[]))
                .await
                .unwrap_err()
                .to_string(),
            "failed to resolve revision \"^1.0.0\": no version for constraints: version matching constraint not found in 0 tags"
        );
        assert_eq!(
            resolve_revision("sha256:abc123", digest_of, never)
                .await
                .unwrap_err()
                .to_string(),
            "failed to resolve revision \"sha256:abc123\": cannot get digest for revision sha256:abc123: oci://r/x: sha256:abc123: not found"
        );
        let failing = || async {
            Err(OciError::Request {
                reference: "oci://r/x".into(),
                detail: "some random error".into(),
            })
        };
        assert_eq!(
            resolve_revision("^1.0.0", digest_of, failing)
                .await
                .unwrap_err()
                .to_string(),
            "failed to resolve revision \"^1.0.0\": error fetching tags: failed to get tags: oci://r/x: some random error"
        );
        // Build metadata: tags hold `_` for `+`; the tag looked up is the one pushed.
        let built = |tag: String| async move {
            match tag.as_str() {
                "1.3.0_build.7" => Ok("sha256:built".into()),
                other => Err(OciError::Request {
                    reference: "oci://r/x".into(),
                    detail: format!("{other}: not found"),
                }),
            }
        };
        assert_eq!(
            resolve_revision("~1.3", built, listed(&["1.3.0_build.7"])).await,
            Ok("sha256:built".into())
        );
    }
}
