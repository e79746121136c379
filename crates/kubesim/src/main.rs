//! The `kubesim` binary: serve a simulated fleet, or benchmark one.

use std::net::SocketAddr;
use std::path::PathBuf;

mod admin_client;
mod bench;

// The simulator allocates and frees JSON trees on every request from many threads; glibc's
// allocator spent a third of a server-side apply benchmark in malloc/free (perf).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Change the faults of one cluster of a running kubesim.
    Fault(FaultArgs),
}

#[derive(clap::Args)]
struct FaultArgs {
    /// The cluster to change.
    cluster: String,
    /// Base URL of the running kubesim (http://… when it was started with --insecure-http).
    #[arg(long, default_value = "https://127.0.0.1:6443")]
    server: String,
    /// The kubeconfig `kubesim serve` wrote; over https its CA is the one trusted.
    #[arg(long, default_value = "kubesim.kubeconfig")]
    kubeconfig: PathBuf,
    /// Latency added to every request (e.g. 200ms, 1s).
    #[arg(long, value_parser = parse_delay)]
    latency: Option<std::time::Duration>,
    /// Share of requests (0–1) that fail with --error-code.
    #[arg(long)]
    error_rate: Option<f64>,
    /// 500, 429 or 503.
    #[arg(long)]
    error_code: Option<u16>,
    /// Make the cluster unreachable: its connections close without an answer, and with
    /// --cluster-ports its own port refuses connections.
    #[arg(long, conflicts_with = "reachable")]
    unreachable: bool,
    /// Make it reachable again.
    #[arg(long)]
    reachable: bool,
    /// End every open watch now.
    #[arg(long)]
    drop_watches: bool,
    /// The next watch fails with 410 Expired.
    #[arg(long)]
    expire_next_watch: bool,
    /// Drop the event log: watches from older resourceVersions get 410.
    #[arg(long)]
    compact: bool,
    /// Clear every fault first.
    #[arg(long)]
    clear: bool,
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
    /// Append one JSON line per API request to this file.
    #[arg(long)]
    audit_log: Option<PathBuf>,
    /// Serve plain HTTP instead of TLS; requests without a token then act as the admin.
    #[arg(long)]
    insecure_http: bool,
    /// Give every cluster its own port too (cluster i on FIRST+i; 0 picks free ports) and
    /// point the kubeconfig at them, so an unreachable cluster refuses connections. The
    /// --listen port keeps serving every cluster and the fault controls.
    #[arg(long, value_name = "FIRST")]
    cluster_ports: Option<u16>,
    /// Keep every cluster in DIR/kubesim.redb: a restart with the same DIR restores objects,
    /// CRDs and resourceVersions. Without it everything lives in memory.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

fn parse_delay(s: &str) -> Result<std::time::Duration, String> {
    kubesim::workloads::parse_duration(s)
        .ok_or_else(|| format!("invalid duration {s:?}: use e.g. 100ms, 2s, 1m"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Fault(args) => fault(args).await,
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
        audit_log: args.audit_log.clone(),
        data_dir: args.data_dir.clone(),
    };
    let fleet = Fleet::try_new(&names, config).with_context(|| {
        let mut what = Vec::new();
        if let Some(log) = &args.audit_log {
            what.push(format!("the audit log {}", log.display()));
        }
        if let Some(dir) = &args.data_dir {
            what.push(format!("the data directory {}", dir.display()));
        }
        format!("opening {}", what.join(" and "))
    })?;
    let options = kubesim::ServeOptions {
        tls: !args.insecure_http,
        cluster_ports: args.cluster_ports,
    };
    let server = Server::start_with(fleet.clone(), args.listen, options)
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
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    // Stop serving, then commit what is queued and mark the data directory clean.
    drop(server);
    fleet.close();
    Ok(())
}

async fn fault(args: FaultArgs) -> anyhow::Result<()> {
    let change = kubesim::faults::FaultChange {
        latency_ms: args.latency.map(|d| d.as_millis() as u64),
        error_rate: args.error_rate,
        error_code: args.error_code,
        unreachable: if args.unreachable {
            Some(true)
        } else if args.reachable {
            Some(false)
        } else {
            None
        },
        drop_watches: args.drop_watches,
        expire_next_watch: args.expire_next_watch,
        compact: args.compact,
        clear: args.clear,
    };
    let url = format!(
        "{}/clusters/{}/_kubesim/faults",
        args.server.trim_end_matches('/'),
        args.cluster
    );
    let (status, body) =
        admin_client::post_json(&url, serde_json::to_vec(&change)?, &args.kubeconfig)
            .await
            .with_context(|| format!("POST {url}"))?;
    if !status.is_success() {
        bail!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    println!("{}", String::from_utf8_lossy(&body));
    Ok(())
}
