//! Starting every controller of the hub against one hub API: the CRDs, the cluster
//! registry, the repository cache, and the reconcilers.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_source::egress::{Denied, EgressPolicy};
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
    /// The pause after each sync wave but the last (Argo CD's `ARGOCD_SYNC_WAVE_DELAY`).
    pub wave_delay: Duration,
    /// How self-heal attempts are spaced (Argo CD's `--self-heal-*`).
    pub self_heal: crate::application::SelfHealPacing,
    /// Argo CD's opt-in app series (`argocd_app_labels`, `argocd_app_condition`).
    pub app_metrics: crate::metrics::AppMetricsOptions,
    /// Cluster Secret labels copied to `argocd_cluster_labels` (Argo CD's
    /// `--metrics-cluster-labels`; none: no such series).
    pub cluster_metric_labels: Vec<String>,
    /// ApplicationSet labels copied to `argocd_appset_labels` (Argo CD's
    /// `--metrics-applicationset-labels`; none: no such series).
    pub appset_metric_labels: Vec<String>,
    /// Removing mirrors no app has read for a while (`None`: keep every mirror).
    pub mirror_gc: Option<MirrorGc>,
    /// ApplicationSet controller settings.
    pub appsets: crate::appset::AppSetOptions,
    /// Flux controller settings.
    pub flux: crate::flux::FluxOptions,
    /// Destinations outbound HTTP (sources, forge APIs) may not reach besides link-local
    /// addresses and the hub's own API server, which never are.
    pub egress_deny: Vec<Denied>,
    /// The Sealed Secrets controller, for the hub and every registered cluster that
    /// serves SealedSecrets (`None`: not run).
    pub sealed_secrets: Option<crate::sealed_secrets::SealedSecretsOptions>,
}

/// When the hub removes unused mirrors from its cache.
#[derive(Debug, Clone, Copy)]
pub struct MirrorGc {
    /// A mirror unused for longer than this is removed (never one in use).
    pub max_age: Duration,
    /// How often the cache is looked through (the first time one period after start:
    /// the mirrors of a previous run are about to be read again).
    pub every: Duration,
}

impl Default for MirrorGc {
    fn default() -> Self {
        MirrorGc {
            max_age: Duration::from_secs(7 * 24 * 3600),
            every: Duration::from_secs(3600),
        }
    }
}

/// Removes unused mirrors every `gc.every`, until the task is dropped.
pub async fn collect_mirrors(mirrors: MirrorCache, gc: MirrorGc) {
    let options = flotilla_source::GcOptions::new(gc.max_age);
    loop {
        tokio::time::sleep(gc.every).await;
        match mirrors.collect_garbage(&options).await {
            Ok(report) => {
                for (path, why) in &report.failed {
                    tracing::warn!(mirror = %path.display(), %why, "removing an unused mirror");
                }
                if !report.removed.is_empty() {
                    tracing::info!(
                        removed = report.removed.len(),
                        bytes = report.bytes_freed,
                        kept = report.kept.len(),
                        "removed unused mirrors"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "looking for unused mirrors"),
        }
    }
}

impl HubConfig {
    /// Defaults with mirrors in `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> HubConfig {
        HubConfig {
            cache_dir: cache_dir.into(),
            rewrites: Vec::new(),
            source_interval: Duration::from_secs(60),
            controller: ControllerOptions::default(),
            wave_delay: crate::application::DEFAULT_WAVE_DELAY,
            self_heal: Default::default(),
            app_metrics: Default::default(),
            cluster_metric_labels: Vec::new(),
            appset_metric_labels: Vec::new(),
            mirror_gc: Some(MirrorGc::default()),
            appsets: crate::appset::AppSetOptions::default(),
            flux: crate::flux::FluxOptions::default(),
            egress_deny: Vec::new(),
            sealed_secrets: None,
        }
    }
}

/// The hub's egress policy: the default (link-local refused), every address of the
/// hub's API server (a tenant's source URL must not make the hub call its own API), and
/// `extra`.
async fn egress_policy(hub_api: &http::Uri, extra: &[Denied]) -> EgressPolicy {
    let mut denied = extra.to_vec();
    match flotilla_source::egress::addresses_of(hub_api).await {
        Ok(addresses) => denied.extend(addresses.into_iter().map(|address| Denied::Socket {
            address,
            reason: "the hub's own API server is never a source".into(),
        })),
        Err(e) => {
            tracing::warn!(%hub_api, error = %e, "resolving the hub API for the egress policy")
        }
    }
    EgressPolicy::with(denied)
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
    /// Each Application's sync and health status (the `flotilla_applications` gauge).
    pub applications: Arc<crate::metrics::ApplicationStates>,
    /// The Application controller's reconciler: the clusters' versions and drift
    /// watches, for the cluster metrics.
    pub reconciler: Arc<AppReconciler>,
    /// The Flux Receivers' webhook server (`/hook/<digest>`), to serve on the hub's
    /// webhook address.
    pub flux_receivers: axum::Router,
    /// The Sealed Secrets controller's endpoints of every cluster
    /// (`/sealed-secrets/<cluster>/v1/{cert.pem,verify,rotate}`), to serve on the hub's
    /// webhook address; no routes when the controller is off.
    pub sealed_secrets: axum::Router,
    /// Cluster Secret labels copied to `argocd_cluster_labels`.
    pub cluster_metric_labels: Vec<String>,
    /// The ApplicationSets the controller reconciles, for Argo CD's ApplicationSet
    /// metrics.
    pub applicationsets: crate::appset::AppSetsView,
    /// ApplicationSet labels copied to `argocd_appset_labels`.
    pub appset_metric_labels: Vec<String>,
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
/// which also keep the cluster registry current —, Argo CD's notifications, and Flux's
/// GitRepositories and Kustomizations); they run until the returned [`Hub`] is dropped.
pub async fn start(hub_config: kube::Config, config: HubConfig) -> Result<Hub, StartError> {
    let hub = kube::Client::try_from(hub_config.clone()).map_err(StartError::Client)?;
    flotilla_source::egress::set_policy(
        egress_policy(&hub_config.cluster_url, &config.egress_deny).await,
    );
    crate::bootstrap::install(&hub, Duration::from_secs(30)).await?;
    let mut options = CacheOptions::new(&config.cache_dir);
    options.rewrites = config.rewrites.clone();
    let sources = Sources::new(MirrorCache::new(options)?);
    let namespace = config.controller.cluster_namespace.clone();
    // Argo CD's repository credentials, before any source is read.
    match crate::repo_creds::load(&hub, &namespace).await {
        Ok(loaded) => {
            *sources
                .repo_credentials()
                .write()
                .unwrap_or_else(|e| e.into_inner()) = loaded
        }
        Err(e) => tracing::warn!(error = %e, "reading repository Secrets"),
    }
    let (registry, errors) = clusters::load(&hub, &namespace).await?;
    for e in errors {
        tracing::warn!(error = %e, "unusable cluster Secret");
    }
    let registry = Arc::new(RwLock::new(registry));
    let mut tasks = vec![tokio::spawn(crate::repo_creds::run(
        hub.clone(),
        namespace.clone(),
        sources.repo_credentials().clone(),
    ))];
    if let Some(gc) = config.mirror_gc {
        tasks.push(tokio::spawn(collect_mirrors(sources.mirrors().clone(), gc)));
    }
    // The ApplicationSet controller hears of Applications from the Application
    // controller's watch: one watch of the hub's most numerous objects.
    let appsets = crate::appset::start_appsets(
        hub.clone(),
        namespace,
        registry.clone(),
        sources.clone(),
        config.appsets.clone(),
    );
    let (appset_hook, appset_store) = (appsets.application_hook(), appsets.application_store());
    let applicationsets = appsets.applicationsets();
    tasks.push(tokio::spawn(appsets.run_fed()));
    let mut reconciler = AppReconciler::new(
        hub.clone(),
        registry.clone(),
        sources.clone(),
        config.source_interval,
    );
    reconciler.hub_config = Some(hub_config.clone());
    reconciler.wave_delay = config.wave_delay;
    reconciler.self_heal = config.self_heal;
    let reconciler = Arc::new(reconciler);
    // The destinations' versions asked again every 10 s: their connection status.
    tasks.push(tokio::spawn(
        reconciler
            .versions
            .clone()
            .keep_asking(registry.clone(), Duration::from_secs(10)),
    ));
    tasks.push(tokio::spawn(
        reconciler
            .clone()
            .keep_forgetting_unregistered(Duration::from_secs(10)),
    ));
    tasks.push(tokio::spawn(crate::tls_certs::run(
        hub.clone(),
        config.controller.cluster_namespace.clone(),
        sources.tls_certs().clone(),
    )));
    tasks.push(tokio::spawn(crate::argocd_cm::run(
        hub.clone(),
        config.controller.cluster_namespace.clone(),
        reconciler.settings.clone(),
    )));
    // Argo CD's notifications controller: told of Applications by the same watch, reading
    // the same store.
    let notifier = crate::notifications::Notifier::new(
        hub.clone(),
        config.controller.cluster_namespace.clone(),
        appset_store.clone(),
        reconciler.clone(),
    );
    let notifier_hook = notifier.hook();
    tasks.push(tokio::spawn(notifier.run()));
    let applications = Arc::new(crate::metrics::ApplicationStates::new(
        config.app_metrics.clone(),
    ));
    tasks.push(tokio::spawn(controller::run_applications_with(
        reconciler.clone(),
        config.controller.clone(),
        controller::Feeds {
            hooks: vec![appset_hook, applications.hook(), notifier_hook],
            store: appset_store,
        },
    )));
    let flux_receivers =
        crate::flux::notify::receiver::router(hub.clone(), config.flux.no_cross_namespace_refs);
    let flux = crate::flux::FluxReconciler::new(hub_config, sources.clone(), config.flux.clone())
        .map_err(StartError::Client)?;
    tasks.push(tokio::spawn(crate::flux::run_flux(Arc::new(flux))));
    let mut sealed_secrets = axum::Router::new();
    if let Some(options) = config.sealed_secrets.clone() {
        let served = crate::sealed_secrets::ClusterKeys::default();
        sealed_secrets = crate::sealed_secrets::router(served.clone(), options.verify_rate_quota);
        tasks.push(tokio::spawn(crate::sealed_secrets::run(
            hub.clone(),
            registry.clone(),
            options,
            served,
        )));
    }
    Ok(Hub {
        clusters: registry,
        sources,
        applications,
        reconciler,
        flux_receivers,
        sealed_secrets,
        cluster_metric_labels: config.cluster_metric_labels.clone(),
        applicationsets,
        appset_metric_labels: config.appset_metric_labels.clone(),
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_hub_api_and_metadata_are_out_of_reach_of_sources() {
        let extra = [Denied::parse("10.0.0.0/8").unwrap()];
        let policy = egress_policy(&"https://127.0.0.1:6443".parse().unwrap(), &extra).await;
        let refused = |target: &str| policy.refuses(target.parse().unwrap()).map(str::to_string);
        assert_eq!(
            refused("127.0.0.1:6443").as_deref(),
            Some("the hub's own API server is never a source")
        );
        assert_eq!(refused("127.0.0.1:8080"), None, "a Git server beside it");
        assert!(refused("169.254.169.254:80").is_some());
        assert!(refused("10.2.3.4:443").is_some());
        let named = egress_policy(&"https://localhost".parse().unwrap(), &[]).await;
        assert!(
            named.refuses("127.0.0.1:443".parse().unwrap()).is_some(),
            "a named hub API is refused at every address it resolves to"
        );
    }
}
