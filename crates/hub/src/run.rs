//! Starting every controller of the hub against one hub API: the CRDs, the cluster
//! registry, the repository cache, and the reconcilers.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_source::{CacheOptions, MirrorCache, Rewrite};

use crate::application::AppReconciler;
use crate::clusters::{self, ClusterRegistry};
use crate::controller::{self, ControllerOptions};
use crate::sources::Sources;

/// Settings of a hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Where repository mirrors are kept.
    pub cache_dir: PathBuf,
    /// `insteadOf` rules: manifests name one URL, the mirror fetches another.
    pub rewrites: Vec<Rewrite>,
    /// How long a remote check of a repository is reused (webhooks refresh at once).
    pub source_interval: Duration,
    /// Reconciler settings.
    pub controller: ControllerOptions,
}

impl HubConfig {
    /// Defaults with mirrors in `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> HubConfig {
        HubConfig {
            cache_dir: cache_dir.into(),
            rewrites: Vec::new(),
            source_interval: Duration::from_secs(60),
            controller: ControllerOptions::default(),
        }
    }
}

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Installing the CRDs failed.
    #[error(transparent)]
    Bootstrap(#[from] crate::bootstrap::BootstrapError),
    /// The mirror cache could not be opened.
    #[error(transparent)]
    Source(#[from] flotilla_source::Error),
    /// The cluster Secrets could not be read.
    #[error(transparent)]
    Clusters(#[from] clusters::ClusterError),
    /// A client for the hub could not be built.
    #[error("hub client: {0}")]
    Client(#[source] kube::Error),
}

/// A running hub.
pub struct Hub {
    /// The registered clusters (kept current from the cluster Secrets).
    pub clusters: Arc<RwLock<ClusterRegistry>>,
    /// The repository cache (webhooks call its `trigger`).
    pub sources: Sources,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Installs the hub's CRDs and starts the controllers (Applications, ApplicationSets —
/// which also keep the cluster registry current — and Flux's GitRepositories and
/// Kustomizations); they run until the returned [`Hub`] is dropped.
pub async fn start(hub_config: kube::Config, config: HubConfig) -> Result<Hub, StartError> {
    let hub = kube::Client::try_from(hub_config.clone()).map_err(StartError::Client)?;
    crate::bootstrap::install(&hub, Duration::from_secs(30)).await?;
    let mut options = CacheOptions::new(&config.cache_dir);
    options.rewrites = config.rewrites.clone();
    let sources = Sources::new(MirrorCache::new(options)?);
    let namespace = config.controller.cluster_namespace.clone();
    let (registry, errors) = clusters::load(&hub, &namespace).await?;
    for e in errors {
        tracing::warn!(error = %e, "unusable cluster Secret");
    }
    let registry = Arc::new(RwLock::new(registry));
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(crate::appset::run_appsets(
        hub.clone(),
        namespace,
        registry.clone(),
        sources.clone(),
        crate::appset::AppSetOptions::default(),
    )));
    let reconciler = Arc::new(AppReconciler::new(
        hub.clone(),
        registry.clone(),
        sources.clone(),
        config.source_interval,
    ));
    tasks.push(tokio::spawn(controller::run_applications(
        reconciler,
        config.controller.clone(),
    )));
    let flux = crate::flux::FluxReconciler::new(
        hub_config,
        sources.clone(),
        crate::flux::FluxOptions::default(),
    )
    .map_err(StartError::Client)?;
    tasks.push(tokio::spawn(crate::flux::run_flux(Arc::new(flux))));
    Ok(Hub {
        clusters: registry,
        sources,
        tasks,
    })
}
