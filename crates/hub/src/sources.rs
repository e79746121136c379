//! Repository contents for renderers: a checkout through the shared mirror cache, read
//! once per commit into an in-memory tree that every application of that commit shares.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use flotilla_render::kustomize::MemTree;
use flotilla_source::{Checkout, IgnoreRules, MirrorCache, Reference, Request, ServerTrust, Tls};

use crate::lock;

/// How many commits' trees are kept (the oldest is dropped first).
const MAX_TREES: usize = 256;

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The checkout failed (unreachable, unknown ref, credentials…); the message never
    /// holds a secret.
    #[error(transparent)]
    Checkout(#[from] flotilla_source::Error),
    /// A Helm repository did not give the chart.
    #[error(transparent)]
    HelmRepo(#[from] flotilla_source::helm_repo::HelmRepoError),
    /// An Argo CD OCI source's artifact could not be had or read (Argo CD's words).
    #[error("{0}")]
    OciSource(String),
    /// An OCI registry did not give the chart.
    #[error(transparent)]
    Oci(#[from] flotilla_source::oci::OciError),
    /// The certificates configured for the repository's server cannot be read.
    #[error("{0}")]
    Trust(String),
    /// A downloaded chart package does not unpack.
    #[error("chart {chart} {version} from {repo}: {detail}")]
    Package {
        /// The repository.
        repo: String,
        /// The chart.
        chart: String,
        /// Its version.
        version: String,
        /// Why.
        detail: String,
    },
    /// Reading the commit's files failed.
    #[error("reading {url} at {commit}: {detail}")]
    Read {
        /// The repository.
        url: String,
        /// The commit.
        commit: String,
        /// Why.
        detail: String,
    },
}

/// What a tree keeps of a commit: every file (Argo CD reads the repository as git has
/// it), or a GitRepository's artifact (Flux's exclusions and sparse checkout).
#[derive(Clone)]
pub enum Filter {
    /// Every file.
    All,
    /// What the artifact rules keep; `key` names the rules in the tree cache.
    Artifact {
        /// [`flotilla_source::GitRepositorySpec::artifact_rules_key`].
        key: String,
        /// The rules.
        rules: IgnoreRules,
    },
}

impl Filter {
    /// The artifact filter of a GitRepository's spec.
    pub fn artifact(
        spec: &flotilla_source::GitRepositorySpec,
    ) -> Result<Filter, flotilla_source::IgnoreError> {
        Ok(Filter::Artifact {
            key: spec.artifact_rules_key(),
            rules: spec.artifact_rules()?,
        })
    }

    /// The tree cache's key for `commit` read through this filter.
    fn cache_key(&self, commit: &str) -> String {
        match self {
            Filter::All => commit.to_string(),
            Filter::Artifact { key, .. } => format!("{commit}\u{0}{key}"),
        }
    }
}

/// One revision of a repository, ready to render.
#[derive(Clone)]
pub struct SourceTree {
    /// The commit id.
    pub commit: String,
    /// Flux's revision string (`main@sha1:…`).
    pub revision: String,
    /// The commit's files (all of them, or an artifact's).
    pub tree: Arc<MemTree>,
    /// For a GitRepository with `spec.include`: `namespace/name@revision` of each
    /// artifact copied in, those they included following each.
    pub included: Vec<String>,
    /// The artifact's metadata: an OCI artifact's manifest annotations (source-controller's
    /// `artifact.metadata`), empty for the others.
    pub metadata: Arc<BTreeMap<String, String>>,
}

impl SourceTree {
    /// What a reader must rebuild on: the revision, and the included revisions (an
    /// include can change while the commit does not).
    pub fn identity(&self) -> String {
        std::iter::once(self.revision.as_str())
            .chain(self.included.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\u{0}")
    }
}

/// The mirror cache plus the per-commit trees, the Helm repositories' chart listings,
/// and Argo CD's repository credentials for the Applications' and ApplicationSets'
/// sources.
#[derive(Clone)]
pub struct Sources {
    mirrors: MirrorCache,
    trees: Arc<Mutex<TreeCache>>,
    /// By repository and credentials (a listing read with credentials never serves an
    /// asker without them).
    charts: Arc<Mutex<HashMap<ListingKey, ChartListing>>>,
    repo_credentials: Arc<std::sync::RwLock<crate::repo_creds::RepoCredentials>>,
    /// Argo CD's `argocd-tls-certs-cm`: whom HTTPS repository servers must be.
    tls_certs: Arc<std::sync::RwLock<crate::tls_certs::TlsCerts>>,
    /// Argo CD OCI sources' digests, by repository and revision and the credentials'
    /// digest, and when each was asked for.
    oci_revisions: Arc<Mutex<HashMap<ListingKey, (String, std::time::Instant)>>>,
    /// The layer media types an Argo CD OCI source may have.
    oci_layer_media_types: Arc<Vec<String>>,
    /// The AppProject whose repository Secrets these sources may also use (see
    /// [`Sources::for_project`]).
    project: Option<Arc<str>>,
}

/// A listing's repository and digest of the credentials it was read with.
type ListingKey = (String, String);

/// A repository's charts and their versions as its index listed them, and when.
/// Each chart's versions, by chart name.
type Charts = HashMap<String, Vec<flotilla_source::helm_repo::ChartVersion>>;

struct ChartListing {
    charts: Arc<Charts>,
    read_at: std::time::Instant,
}

/// The environment variable Argo CD's repo-server reads its allowed OCI layer media types
/// from (comma-separated).
pub const OCI_LAYER_MEDIA_TYPES_ENV: &str = "ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES";

/// The largest OCI source layer pulled, and what its files may hold together (Argo CD's
/// `--oci-manifest-max-extracted-size` is 1G; an artifact here is held in memory).
const MAX_OCI_LAYER_BYTES: usize = flotilla_render::helm::MAX_ARCHIVE_BYTES as usize;

/// How long a Helm repository request may take.
const HELM_REPO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Default)]
struct TreeCache {
    /// By commit (every file) or commit and artifact rules.
    by_key: HashMap<String, Arc<MemTree>>,
    order: std::collections::VecDeque<String>,
    /// Trees being read: later askers wait for that read instead of repeating it.
    reading: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

/// Argo CD's `targetRevision`: empty or `HEAD` is the remote's HEAD; a 40-hex id a commit;
/// otherwise a branch or tag name (or a full ref).
pub fn argo_reference(target_revision: &str) -> Reference {
    match target_revision.trim() {
        "" | "HEAD" => Reference::Head,
        other => Reference::parse_cli(other),
    }
}

impl Sources {
    /// Sources over `mirrors`.
    pub fn new(mirrors: MirrorCache) -> Sources {
        Sources {
            mirrors,
            trees: Arc::default(),
            charts: Arc::default(),
            repo_credentials: Arc::default(),
            tls_certs: Arc::default(),
            oci_revisions: Arc::default(),
            oci_layer_media_types: Arc::new(flotilla_source::oci::argo_layer_media_types(
                std::env::var(OCI_LAYER_MEDIA_TYPES_ENV).ok().as_deref(),
            )),
            project: None,
        }
    }

    /// These sources as an Application of `project` reads them: a repository Secret
    /// scoped to that project comes before an unscoped one (caches and mirrors stay
    /// shared; both are keyed by the credentials used).
    pub fn for_project(&self, project: &str) -> Sources {
        Sources {
            project: Some(Arc::from(project)),
            ..self.clone()
        }
    }

    /// These sources, taking the Argo CD OCI sources' layers of `media_types` (what
    /// `ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES` says, read by [`Sources::new`]).
    pub fn with_oci_layer_media_types(mut self, media_types: Vec<String>) -> Sources {
        self.oci_layer_media_types = Arc::new(media_types);
        self
    }

    /// Argo CD's repository credentials, which [`Sources::tree`] and
    /// [`Sources::chart`] authenticate with (kept current by `repo_creds::run`).
    pub fn repo_credentials(&self) -> &Arc<std::sync::RwLock<crate::repo_creds::RepoCredentials>> {
        &self.repo_credentials
    }

    /// Argo CD's TLS certificates by host, which [`Sources::tree`] verifies HTTPS
    /// servers with (kept current by `tls_certs::run`).
    pub fn tls_certs(&self) -> &Arc<std::sync::RwLock<crate::tls_certs::TlsCerts>> {
        &self.tls_certs
    }

    /// How Argo CD would reach `url`: credentials and TLS settings.
    fn access_for(&self, url: &str) -> crate::repo_creds::RepoAccess {
        self.repo_credentials
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .access_in(url, self.project.as_deref())
    }

    /// Chart `chart` of the Helm repository `repo` at the version `wanted` picks (Argo
    /// CD's `targetRevision` for a chart source), unpacked with the chart at the root of
    /// the tree (as Helm loads a package). The index is read at most once per
    /// `interval`, each package once. A `repo` that names an OCI registry (no scheme,
    /// or `enableOCI` in its repository Secret) is read from its registry (`Sources::registry_chart`).
    pub async fn chart(
        &self,
        repo: &str,
        chart: &str,
        wanted: &str,
        interval: std::time::Duration,
    ) -> Result<SourceTree, SourceError> {
        let access = self.access_for(repo);
        if flotilla_source::oci::is_oci_repo_url(repo) || access.enable_oci {
            let registry = flotilla_source::oci::RepositoryReference::new(repo, chart)?.registry;
            let tls = self.registry_tls(&access, &registry)?;
            return self
                .registry_chart(repo, chart, wanted, interval, access, tls)
                .await;
        }
        let tls = self.argo_tls(&access, access.insecure, |certs| certs.trust_for(repo))?;
        self.repository_chart(repo, chart, wanted, interval, access.credentials, tls)
            .await
    }

    /// How Argo CD reaches a repository's server: `unverified` (the repository's
    /// `insecure`, for Git also `insecureIgnoreHostKey` and `insecureOCIForceHttp`), else under what
    /// `argocd-tls-certs-cm` says (`look` asks it of a URL or a registry host);
    /// presenting the repository's client certificate.
    fn argo_tls(
        &self,
        access: &crate::repo_creds::RepoAccess,
        unverified: bool,
        look: impl FnOnce(&crate::tls_certs::TlsCerts) -> Result<ServerTrust, String>,
    ) -> Result<Tls, SourceError> {
        let server = if unverified {
            ServerTrust::Unverified
        } else {
            look(&self.tls_certs.read().unwrap_or_else(|e| e.into_inner()))
                .map_err(SourceError::Trust)?
        };
        let client = access
            .client_certificate
            .clone()
            .transpose()
            .map_err(SourceError::Trust)?;
        Ok(Tls { server, client })
    }

    /// How the registry `registry` is reached: plain HTTP without TLS
    /// (`insecureOCIForceHttp`), else as [`Sources::argo_tls`] says for its host.
    fn registry_tls(
        &self,
        access: &crate::repo_creds::RepoAccess,
        registry: &str,
    ) -> Result<Tls, SourceError> {
        if access.insecure_oci_force_http {
            return Ok(Tls::default());
        }
        self.argo_tls(access, access.insecure, |certs| {
            certs.trust_for_host(registry)
        })
    }

    /// The chart a kustomization's `helmCharts` entry names (`repo`, `name`,
    /// `version`), as kustomize's `helm pull` under Argo CD gets it: `oci://` repos from
    /// their registry over HTTPS, others as Helm repositories (`http://` too, as `helm
    /// pull --repo` allows). Anonymously: Argo CD hands kustomize only the Git
    /// credentials of the Application's repository, and kustomize runs Helm with an
    /// empty `HELM_CONFIG_HOME`, so no repository Secret reaches the pull. A `version`
    /// that is empty is the latest release, as `helm pull` without `--version` takes
    /// it. Cached as [`Sources::chart`] caches. Verified against the platform's roots:
    /// Helm under kustomize is given no CA file.
    pub async fn kustomize_chart(
        &self,
        repo: &str,
        chart: &str,
        version: &str,
        interval: std::time::Duration,
    ) -> Result<SourceTree, SourceError> {
        let anonymous = crate::repo_creds::RepoAccess::default();
        if repo.starts_with("oci://") {
            return self
                .registry_chart(repo, chart, version, interval, anonymous, Tls::default())
                .await;
        }
        let credentials = anonymous.credentials;
        self.repository_chart(repo, chart, version, interval, credentials, Tls::default())
            .await
    }

    /// Chart `chart` of the Helm repository (`index.yaml` over HTTP) `repo`.
    async fn repository_chart(
        &self,
        repo: &str,
        chart: &str,
        wanted: &str,
        interval: std::time::Duration,
        credentials: flotilla_source::Credentials,
        tls: Tls,
    ) -> Result<SourceTree, SourceError> {
        use flotilla_source::helm_repo;
        let authorization = credentials.http_authorization();
        // Keyed by a digest of the credentials, never the credentials themselves, and of
        // the TLS settings (what one trust or client certificate let in is never served
        // under another).
        let who = flotilla_source::access_fingerprint(&credentials, &tls);
        let listing_key = (repo.to_string(), who.clone());
        // Thousands of apps of one repository ask at once: one index request.
        let charts = self
            .listing(listing_key, interval, async {
                Ok(
                    helm_repo::index(repo, authorization.as_deref(), &tls, HELM_REPO_TIMEOUT)
                        .await?,
                )
            })
            .await?;
        let versions = charts
            .get(chart)
            .ok_or_else(|| helm_repo::HelmRepoError::NoChart {
                repo: repo.to_string(),
                chart: chart.to_string(),
            })?;
        let version = helm_repo::choose(versions, wanted)?.ok_or_else(|| {
            helm_repo::HelmRepoError::NoVersion {
                repo: repo.to_string(),
                chart: chart.to_string(),
                wanted: wanted.to_string(),
            }
        })?;
        let key = format!(
            "helm\u{0}{repo}\u{0}{chart}\u{0}{}\u{0}{who}",
            version.version
        );
        let tree = self
            .package(&key, (repo, chart, &version.version), async {
                Ok(helm_repo::package(
                    repo,
                    version,
                    authorization.as_deref(),
                    &tls,
                    HELM_REPO_TIMEOUT,
                )
                .await?)
            })
            .await?;
        Ok(SourceTree {
            commit: version.version.clone(),
            revision: version.version.clone(),
            tree,
            included: Vec::new(),
            metadata: Default::default(),
        })
    }

    /// Chart `chart` of the OCI registry repository `repo`, as Argo CD pulls it: a
    /// `wanted` that is a version is pulled by its tag without listing; a constraint is
    /// chosen among the repository's tags (listed at most once per `interval`, and a
    /// tag equal to a `wanted` that is no constraint, such as `latest`, is taken as it
    /// is); each version is pulled once.
    async fn registry_chart(
        &self,
        repo: &str,
        chart: &str,
        wanted: &str,
        interval: std::time::Duration,
        access: crate::repo_creds::RepoAccess,
        tls: Tls,
    ) -> Result<SourceTree, SourceError> {
        use flotilla_source::{helm_repo, oci};
        let reference = oci::RepositoryReference::new(repo, chart)?;
        let who = flotilla_source::access_fingerprint(&access.credentials, &tls);
        let access = oci::Access {
            credentials: access.credentials,
            plain_http: access.insecure_oci_force_http,
            http_fallback: false,
            tls,
        };
        let wanted = wanted.trim();
        let name = format!("{}/{}", reference.registry, reference.repository);
        let version = if flotilla_source::Version::parse(wanted).is_some() {
            wanted.to_string()
        } else {
            let listing_key = (format!("oci://{name}"), who.clone());
            let listed = self
                .listing(listing_key, interval, async {
                    let versions = oci::versions(&reference, &access, HELM_REPO_TIMEOUT).await?;
                    Ok(HashMap::from([(
                        name.clone(),
                        helm_repo::tag_versions(versions),
                    )]))
                })
                .await?;
            let versions = listed.get(&name).map(Vec::as_slice).unwrap_or_default();
            helm_repo::choose_tag(versions, wanted)?.ok_or_else(|| {
                helm_repo::HelmRepoError::NoVersion {
                    repo: repo.to_string(),
                    chart: chart.to_string(),
                    wanted: wanted.to_string(),
                }
            })?
        };
        let key = format!("oci\u{0}{name}\u{0}{version}\u{0}{who}");
        let tree = self
            .package(&key, (repo, chart, &version), async {
                Ok(oci::pull_chart(
                    &reference,
                    &version,
                    &access,
                    helm_repo::MAX_CHART_BYTES,
                    HELM_REPO_TIMEOUT,
                )
                .await?)
            })
            .await?;
        Ok(SourceTree {
            commit: version.clone(),
            revision: version,
            tree,
            included: Vec::new(),
            metadata: Default::default(),
        })
    }

    /// Argo CD's OCI source type (`repoURL: oci://registry/repository`, chart or not): the
    /// artifact `target_revision` names (a tag, a `sha256:` digest, or a semver constraint
    /// over the tags) pulled from the registry and its single content layer extracted,
    /// a Helm chart's top directory stripped, as Argo CD's `util/oci` does. A tag is
    /// resolved to its manifest digest at most once per `interval`, the tags listed for
    /// a constraint at most once; the artifact is pulled once per digest, however many
    /// apps read it. The revision reported is the manifest digest. Credentials and
    /// `insecureOCIForceHttp` come from the repository Secret (`type: oci`).
    pub async fn oci_artifact(
        &self,
        repo_url: &str,
        target_revision: &str,
        interval: std::time::Duration,
    ) -> Result<SourceTree, SourceError> {
        use flotilla_source::oci;
        let access = self.access_for(repo_url);
        let reference = oci::RepositoryReference::from_oci_url(repo_url).map_err(|e| {
            let reason = match e {
                oci::OciError::Reference { reason, .. } => reason,
                other => other.to_string(),
            };
            SourceError::OciSource(format!(
                "failed to initialize oci client: {repo_url}: {reason}"
            ))
        })?;
        let tls = self.registry_tls(&access, &reference.registry)?;
        let who = flotilla_source::access_fingerprint(&access.credentials, &tls);
        let access = oci::Access {
            credentials: access.credentials,
            plain_http: access.insecure_oci_force_http,
            http_fallback: false,
            tls,
        };
        let name = format!("{}/{}", reference.registry, reference.repository);
        let revision = target_revision.trim();
        let digest = if revision.starts_with("sha256:") {
            revision.to_string()
        } else {
            let key = (format!("{name}\u{0}{revision}"), who.clone());
            let cached = || {
                lock(&self.oci_revisions)
                    .get(&key)
                    .filter(|(_, at)| at.elapsed() < interval)
                    .map(|(digest, _)| digest.clone())
            };
            let single_flight = format!("oci-revision\u{0}{}\u{0}{who}", key.0);
            self.once(&single_flight, cached, async {
                let (reference, access) = (&reference, &access);
                let digest_of = |tag: String| async move {
                    oci::manifest_digest(reference, &tag, access, HELM_REPO_TIMEOUT).await
                };
                let tags = || async {
                    let listing_key = (format!("oci-tags://{name}"), who.clone());
                    let listed = self
                        .listing(listing_key, interval, async {
                            let tags = oci::tags(reference, access, HELM_REPO_TIMEOUT).await?;
                            Ok(HashMap::from([(
                                name.clone(),
                                flotilla_source::helm_repo::tag_versions(tags),
                            )]))
                        })
                        .await
                        .map_err(|e| match e {
                            SourceError::Oci(e) => e,
                            other => oci::OciError::Request {
                                reference: format!("oci://{name}"),
                                detail: other.to_string(),
                            },
                        })?;
                    Ok(listed
                        .get(&name)
                        .into_iter()
                        .flatten()
                        .map(|v| v.version.clone())
                        .collect())
                };
                let digest = oci::resolve_revision(revision, digest_of, tags).await?;
                lock(&self.oci_revisions)
                    .insert(key.clone(), (digest.clone(), std::time::Instant::now()));
                Ok(digest)
            })
            .await?
        };
        let allowed = self.oci_layer_media_types.clone();
        let key = format!(
            "oci-artifact\u{0}{name}\u{0}{digest}\u{0}{who}\u{0}{}",
            allowed.join(",")
        );
        let tree = self
            .once(&key, || self.cached(&key), async {
                let content = oci::pull_content(
                    &reference,
                    &digest,
                    &access,
                    &allowed,
                    MAX_OCI_LAYER_BYTES,
                    HELM_REPO_TIMEOUT,
                )
                .await?;
                let files = oci_content_files(&content).map_err(|e| {
                    SourceError::OciSource(format!(
                        "cannot extract contents of oci image with revision {digest}: {e}"
                    ))
                })?;
                let tree = Arc::new(MemTree::from_files(files));
                self.keep(&key, tree.clone());
                Ok(tree)
            })
            .await?;
        Ok(SourceTree {
            commit: digest.clone(),
            revision: digest,
            tree,
            included: Vec::new(),
            metadata: Default::default(),
        })
    }

    /// The chart listing kept under `key` if read within `interval`, else `read` (once
    /// for every concurrent asker), kept.
    async fn listing(
        &self,
        key: ListingKey,
        interval: std::time::Duration,
        read: impl std::future::Future<Output = Result<Charts, SourceError>>,
    ) -> Result<Arc<Charts>, SourceError> {
        let cached = || {
            lock(&self.charts)
                .get(&key)
                .filter(|l| l.read_at.elapsed() < interval)
                .map(|l| l.charts.clone())
        };
        let single_flight = format!("listing\u{0}{}\u{0}{}", key.0, key.1);
        self.once(&single_flight, cached, async {
            let charts = Arc::new(read.await?);
            lock(&self.charts).insert(
                key.clone(),
                ChartListing {
                    charts: charts.clone(),
                    read_at: std::time::Instant::now(),
                },
            );
            Ok(charts)
        })
        .await
    }

    /// The unpacked chart package kept under `key`, else `download`ed (once for every
    /// concurrent asker), unpacked with Helm's archive rules and kept; `what` is the
    /// repository, chart and version for messages.
    async fn package(
        &self,
        key: &str,
        (repo, chart, version): (&str, &str, &str),
        download: impl std::future::Future<Output = Result<Vec<u8>, SourceError>>,
    ) -> Result<Arc<MemTree>, SourceError> {
        self.once(key, || self.cached(key), async {
            let bytes = download.await?;
            let files = flotilla_render::helm::unpack_archive(chart, &bytes).map_err(|e| {
                SourceError::Package {
                    repo: repo.to_string(),
                    chart: chart.to_string(),
                    version: version.to_string(),
                    detail: e.to_string(),
                }
            })?;
            let tree = Arc::new(MemTree::from_files(files));
            self.keep(key, tree.clone());
            Ok(tree)
        })
        .await
    }

    /// What `cached` finds, or else `read` run once for every concurrent asker of
    /// `key`: the first reads while the others wait, then find its result cached.
    /// `read` must keep its result where `cached` looks before it returns, so that an
    /// asker arriving after the turn is given up finds it instead of reading again.
    async fn once<T>(
        &self,
        key: &str,
        cached: impl Fn() -> Option<T>,
        read: impl std::future::Future<Output = Result<T, SourceError>>,
    ) -> Result<T, SourceError> {
        if let Some(found) = cached() {
            return Ok(found);
        }
        let flight = lock(&self.trees)
            .reading
            .entry(key.to_string())
            .or_default()
            .clone();
        let _turn = flight.lock().await;
        if let Some(found) = cached() {
            return Ok(found);
        }
        let read = read.await;
        lock(&self.trees).reading.remove(key);
        read
    }

    /// The mirror cache (for webhooks and statistics).
    pub fn mirrors(&self) -> &MirrorCache {
        &self.mirrors
    }

    /// The tree of `url` at `reference`, checked remotely at most once per the request's
    /// interval, read once per commit.
    pub async fn tree(&self, request: &Request) -> Result<SourceTree, SourceError> {
        // Argo CD's repository Secrets and TLS settings, unless the caller brought its
        // own.
        let own_credentials = !matches!(request.credentials, flotilla_source::Credentials::None);
        let (credentials, tls) = if own_credentials && !request.tls.is_platform() {
            (request.credentials.clone(), request.tls.clone())
        } else {
            let access = self.access_for(&request.url);
            let tls = if request.tls.is_platform() {
                let unverified = access.is_insecure_for_git();
                self.argo_tls(&access, unverified, |certs| certs.trust_for(&request.url))?
            } else {
                request.tls.clone()
            };
            let credentials = if own_credentials {
                request.credentials.clone()
            } else {
                access.credentials
            };
            (credentials, tls)
        };
        let completed;
        let request = if credentials == request.credentials && tls == request.tls {
            request
        } else {
            completed = Request {
                credentials,
                tls,
                ..request.clone()
            };
            &completed
        };
        // The common case at scale: thousands of apps of one fresh commit already read.
        if let Some((commit, revision)) = self.mirrors.fresh_commit(request)
            && let Some(tree) = self.cached(&commit)
        {
            return Ok(SourceTree {
                commit,
                revision,
                tree,
                included: Vec::new(),
                metadata: Default::default(),
            });
        }
        let checkout = self.mirrors.checkout(request).await?;
        self.tree_of(checkout, &Filter::All).await
    }

    /// The tree of a checkout already made (a GitRepository's artifact), read once per
    /// commit and filter.
    pub async fn tree_of(
        &self,
        checkout: Checkout,
        filter: &Filter,
    ) -> Result<SourceTree, SourceError> {
        let key = filter.cache_key(&checkout.commit);
        let tree = self
            .once(
                &key,
                || self.cached(&key),
                self.read(&checkout, filter, &key),
            )
            .await?;
        Ok(SourceTree {
            commit: checkout.commit,
            revision: checkout.revision,
            tree,
            included: Vec::new(),
            metadata: Default::default(),
        })
    }

    /// Reads the files of a checkout the filter keeps into the cache.
    async fn read(
        &self,
        checkout: &Checkout,
        filter: &Filter,
        key: &str,
    ) -> Result<Arc<MemTree>, SourceError> {
        let snapshot = checkout.snapshot.clone();
        let rules = match filter {
            Filter::All => IgnoreRules::none(),
            Filter::Artifact { rules, .. } => rules.clone(),
        };
        let read = tokio::task::spawn_blocking(move || snapshot.files("", &rules))
            .await
            .map_err(|e| SourceError::Read {
                url: checkout.url.clone(),
                commit: checkout.commit.clone(),
                detail: e.to_string(),
            })?
            .map_err(|e| SourceError::Read {
                url: checkout.url.clone(),
                commit: checkout.commit.clone(),
                detail: e.to_string(),
            })?;
        let tree = Arc::new(MemTree::from_files(
            read.into_iter().map(|f| (f.path, f.contents)),
        ));
        self.keep(key, tree.clone());
        Ok(tree)
    }

    /// Keeps `tree` under `key` (the oldest tree goes when the cache is full).
    fn keep(&self, key: &str, tree: Arc<MemTree>) {
        let mut cache = lock(&self.trees);
        if !cache.by_key.contains_key(key) {
            cache.order.push_back(key.to_string());
            cache.by_key.insert(key.to_string(), tree);
            while cache.order.len() > MAX_TREES {
                if let Some(old) = cache.order.pop_front() {
                    cache.by_key.remove(&old);
                }
            }
        }
    }

    fn cached(&self, key: &str) -> Option<Arc<MemTree>> {
        lock(&self.trees).by_key.get(key).cloned()
    }
}

/// The files of an Argo CD OCI source's content layer: a tarball (gzipped unless its
/// media type ends in `tar`) read with Flux's `tar.Untar` rules (no links, no path out of
/// the artifact, a size limit); a Helm chart's layer must hold one top directory, whose
/// contents become the root (`expected 1 directory, found N` otherwise), as Argo CD's
/// `compressedLayerExtracterStore` moves them.
fn oci_content_files(
    content: &flotilla_source::oci::Content,
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let unpack = if content.media_type.ends_with("tar") {
        flotilla_render::helm::unpack_tar_artifact
    } else {
        flotilla_render::helm::unpack_artifact
    };
    let files = unpack(&content.digest, &content.layer)
        .map_err(|e| format!("could not decompress layer: {e}"))?;
    if !content.helm_chart {
        return Ok(files);
    }
    let tops: std::collections::BTreeSet<&str> = files
        .iter()
        .map(|(path, _)| path.split_once('/').map_or(path.as_str(), |(top, _)| top))
        .collect();
    let directory = files.iter().all(|(path, _)| path.contains('/'));
    match tops.iter().next() {
        Some(top) if tops.len() == 1 && directory => {
            let prefix = format!("{top}/");
            Ok(files
                .iter()
                .map(|(path, bytes)| (path[prefix.len()..].to_string(), bytes.clone()))
                .collect())
        }
        _ => Err(format!("expected 1 directory, found {}", tops.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar(files: &[(&str, &str)]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (path, text) in files {
            let mut header = [0u8; 512];
            header[..path.len()].copy_from_slice(path.as_bytes());
            header[100..107].copy_from_slice(b"0000644");
            header[124..135].copy_from_slice(format!("{:011o}", text.len()).as_bytes());
            header[156] = b'0';
            header[257..262].copy_from_slice(b"ustar");
            header[148..156].copy_from_slice(b"        ");
            let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
            header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            tar.extend_from_slice(&header);
            tar.extend_from_slice(text.as_bytes());
            tar.resize(tar.len().div_ceil(512) * 512, 0);
        }
        tar.resize(tar.len() + 1024, 0);
        tar
    }

    fn content(
        media_type: &str,
        helm_chart: bool,
        layer: Vec<u8>,
    ) -> flotilla_source::oci::Content {
        flotilla_source::oci::Content {
            digest: "sha256:d".into(),
            media_type: media_type.into(),
            helm_chart,
            layer,
        }
    }

    /// Argo CD's extraction: a plain layer as it is, a Helm chart's top directory
    /// stripped and required alone (uncompressed layers here; the end-to-end tests
    /// push gzipped ones).
    #[test]
    fn content_layers_are_extracted_as_argo_cd_extracts_them() {
        let paths =
            |files: Vec<(String, Vec<u8>)>| files.into_iter().map(|(p, _)| p).collect::<Vec<_>>();
        let plain = tar(&[("./deploy/cm.yaml", "a"), ("top.yaml", "b")]);
        assert_eq!(
            paths(
                oci_content_files(&content(
                    "application/vnd.oci.image.layer.v1.tar",
                    false,
                    plain.clone()
                ))
                .unwrap()
            ),
            ["deploy/cm.yaml", "top.yaml"]
        );
        let chart = tar(&[("web/Chart.yaml", "c"), ("web/templates/cm.yaml", "d")]);
        assert_eq!(
            paths(
                oci_content_files(&content(
                    flotilla_source::oci::ARGO_DEFAULT_LAYER_MEDIA_TYPES[0],
                    true,
                    chart
                ))
                .unwrap()
            ),
            ["Chart.yaml", "templates/cm.yaml"]
        );
        let two = tar(&[("web/Chart.yaml", "c"), ("other/x.yaml", "d")]);
        assert_eq!(
            oci_content_files(&content(
                flotilla_source::oci::ARGO_DEFAULT_LAYER_MEDIA_TYPES[0],
                true,
                two
            ))
            .unwrap_err(),
            "expected 1 directory, found 2"
        );
        let escaping = tar(&[("../x.yaml", "c")]);
        assert!(
            oci_content_files(&content(
                "application/vnd.oci.image.layer.v1.tar",
                false,
                escaping
            ))
            .unwrap_err()
            .starts_with("could not decompress layer: "),
        );
    }
}
