//! `flotilla controller --hub-kubeconfig K [--context C]`: the hub's controllers against
//! any Kubernetes API, with `/healthz` and `/metrics`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::extract::State;
use axum::routing::get;
use flotilla_hub::controller::application_resource;
use flotilla_hub::run::{self, Hub, HubConfig};
use flotilla_source::Rewrite;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Arguments of `flotilla controller`.
#[derive(Debug, clap::Args)]
pub(crate) struct ControllerArgs {
    /// Kubeconfig of the hub (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    pub(crate) hub_kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig (default: its current context).
    #[arg(long)]
    pub(crate) context: Option<String>,
    /// Where repository mirrors are kept.
    #[arg(long, default_value = ".flotilla/cache")]
    pub(crate) cache_dir: PathBuf,
    /// Fetch URLs starting with PREFIX from BASE instead, as git's
    /// `url.<BASE>.insteadOf PREFIX` (repeatable), e.g.
    /// `--rewrite http://127.0.0.1:8080/=https://gitlab.internal/`.
    #[arg(long = "rewrite", value_name = "BASE=PREFIX")]
    pub(crate) rewrites: Vec<String>,
    /// Address of `/metrics` and `/healthz`.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub(crate) metrics_addr: SocketAddr,
    /// Applications reconciled at once.
    #[arg(long, default_value_t = 16)]
    pub(crate) workers: usize,
}

/// Parses `BASE=PREFIX`.
pub(crate) fn parse_rewrite(text: &str) -> anyhow::Result<Rewrite> {
    let Some((base, instead_of)) = text.split_once('=') else {
        bail!("--rewrite {text:?}: expected BASE=PREFIX");
    };
    if base.is_empty() || instead_of.is_empty() {
        bail!("--rewrite {text:?}: BASE and PREFIX must not be empty");
    }
    Ok(Rewrite {
        base: base.to_string(),
        instead_of: instead_of.to_string(),
    })
}

/// The configuration for `context` of the kubeconfig at `path` (or the default kubeconfig).
pub(crate) async fn config_from(
    path: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Config> {
    let options = KubeConfigOptions {
        context: context.map(String::from),
        ..Default::default()
    };
    match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        None => kube::Config::from_kubeconfig(&options).await,
    }
    .context("loading the kubeconfig")
}

/// A client for `context` of the kubeconfig at `path` (or the default kubeconfig).
pub(crate) async fn client_from(
    path: Option<&std::path::Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Client> {
    let config = config_from(path, context).await?;
    kube::Client::try_from(config).context("building the client")
}

/// Runs the controllers until interrupted.
pub(crate) fn run(args: ControllerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let rewrites = args
            .rewrites
            .iter()
            .map(|r| parse_rewrite(r))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let hub_config =
            config_from(args.hub_kubeconfig.as_deref(), args.context.as_deref()).await?;
        let hub = kube::Client::try_from(hub_config.clone()).context("building the hub client")?;
        let mut config = HubConfig::new(&args.cache_dir);
        config.rewrites = rewrites;
        config.controller.workers = args.workers;
        let running = run::start(hub_config, config)
            .await
            .context("starting the hub controllers")?;
        let listener = tokio::net::TcpListener::bind(args.metrics_addr)
            .await
            .with_context(|| format!("binding {}", args.metrics_addr))?;
        eprintln!(
            "flotilla controller: reconciling; metrics at http://{}/metrics",
            listener.local_addr()?
        );
        let app = metrics_router(hub, Arc::new(running));
        tokio::select! {
            served = axum::serve(listener, app) => served.context("serving /metrics")?,
            _ = tokio::signal::ctrl_c() => eprintln!("flotilla controller: interrupted"),
        }
        anyhow::Ok(())
    })?;
    // Reconciles may still be running on blocking threads; see `flotilla demo`.
    std::process::exit(0)
}

/// `/healthz` and `/metrics` (Prometheus text format).
pub(crate) fn metrics_router(hub: kube::Client, running: Arc<Hub>) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state((hub, running))
}

async fn metrics(State((hub, running)): State<(kube::Client, Arc<Hub>)>) -> String {
    let mut out = String::new();
    let apps: Api<DynamicObject> = Api::all_with(hub, &application_resource());
    let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    if let Ok(list) = apps.list(&ListParams::default()).await {
        for app in list.items {
            let status = app.data.get("status");
            let field = |p: &str| {
                status
                    .and_then(|s| s.pointer(p))
                    .and_then(|v| v.as_str())
                    .unwrap_or("Unknown")
                    .to_string()
            };
            *counts
                .entry((field("/sync/status"), field("/health/status")))
                .or_default() += 1;
        }
    }
    out.push_str("# HELP flotilla_applications Applications by sync and health status.\n");
    out.push_str("# TYPE flotilla_applications gauge\n");
    for ((sync, health), n) in counts {
        out.push_str(&format!(
            "flotilla_applications{{sync=\"{sync}\",health=\"{health}\"}} {n}\n"
        ));
    }
    let clusters = running.clusters.read().map(|r| r.len()).unwrap_or_default();
    out.push_str("# HELP flotilla_clusters Registered clusters.\n# TYPE flotilla_clusters gauge\n");
    out.push_str(&format!("flotilla_clusters {clusters}\n"));
    let stats = running.sources.mirrors().stats();
    out.push_str("# HELP flotilla_git_remote_checks_total Remote ref checks (ls-remote).\n");
    out.push_str("# TYPE flotilla_git_remote_checks_total counter\n");
    out.push_str(&format!(
        "flotilla_git_remote_checks_total {}\n",
        stats.remote_checks
    ));
    out.push_str("# HELP flotilla_git_fetches_total Fetches into mirrors.\n");
    out.push_str("# TYPE flotilla_git_fetches_total counter\n");
    out.push_str(&format!("flotilla_git_fetches_total {}\n", stats.fetches));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_parse_like_git_config() {
        let r = parse_rewrite("http://127.0.0.1:8080/=https://gitlab.internal/").unwrap();
        assert_eq!(r.base, "http://127.0.0.1:8080/");
        assert_eq!(r.instead_of, "https://gitlab.internal/");
        assert!(parse_rewrite("no-equals").is_err());
        assert!(parse_rewrite("=x").is_err());
    }
}
