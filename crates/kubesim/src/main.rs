//! The `kubesim` binary: serve a simulated fleet, or benchmark one.

use std::net::SocketAddr;
use std::path::PathBuf;

mod bench;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use kubesim::{Fleet, FleetConfig, KubeVersion, Server, default_names};

/// A Kubernetes API server simulator: many isolated clusters in one process.
#[derive(Parser)]
#[command(name = "kubesim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve N clusters on one port and write a kubeconfig with a context per cluster.
    Serve(ServeArgs),
    /// Load an in-process fleet over HTTP and print throughput, latency and memory as JSON.
    Bench(bench::BenchArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// How many clusters (named cluster-000, cluster-001, … unless --names is given).
    #[arg(long, default_value_t = 1)]
    clusters: usize,
    /// Comma-separated cluster names (overrides the default names; sets the count).
    #[arg(long, value_delimiter = ',')]
    names: Vec<String>,
    /// Address to listen on; each cluster is served under /clusters/<name>.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Where to write the kubeconfig (one context per cluster).
    #[arg(long, default_value = "kubesim.kubeconfig")]
    kubeconfig: PathBuf,
    /// The Kubernetes version /version reports (decides which kubectl the dispatcher runs).
    #[arg(long, default_value = "1.32")]
    kube_version: KubeVersion,
    /// How long workloads take to get their status (Go-style duration: 100ms, 2s).
    #[arg(long, default_value = "100ms", value_parser = parse_delay)]
    status_delay: std::time::Duration,
}

fn parse_delay(s: &str) -> Result<std::time::Duration, String> {
    kubesim::workloads::parse_duration(s).ok_or_else(|| format!("invalid duration {s:?}: use e.g. 100ms, 2s, 1m"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let names = if args.names.is_empty() {
        default_names(args.clusters)
    } else {
        args.names.clone()
    };
    if names.is_empty() {
        bail!("--clusters must be at least 1");
    }
    for n in &names {
        let errors = kubesim::meta::dns_label_errors(n);
        if let Some(e) = errors.first() {
            bail!("--names: invalid cluster name {n:?}: {e}");
        }
    }
    let config = FleetConfig {
        kube_version: args.kube_version,
        cluster: kubesim::ClusterConfig {
            status_delay: args.status_delay,
            ..Default::default()
        },
    };
    let fleet = Fleet::new(&names, config);
    let server = Server::start(fleet, args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    server
        .write_kubeconfig(&args.kubeconfig)
        .with_context(|| format!("writing kubeconfig {}", args.kubeconfig.display()))?;
    println!(
        "kubesim: {} clusters at {}/clusters/<name>; kubeconfig written to {}",
        names.len(),
        server.base_url(),
        args.kubeconfig.display()
    );
    println!(
        "try: KUBECONFIG={} kubectl --context {} get ns",
        args.kubeconfig.display(),
        names[0]
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
