//! `flotilla demo`: an embedded hub and N simulated clusters (kubesim, over TLS), the
//! seed's Git repositories served over smart HTTP, the clusters registered as Argo CD
//! cluster Secrets, the seed manifests applied unchanged (URLs rewritten to the local
//! server), then the hub's controllers converge the fleet while a progress line shows it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flotilla_hub::controller::application_resource;
use flotilla_hub::run::{self as hub_run, HubConfig};
use flotilla_source::Rewrite;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use super::super::app_state::{AppState, Converging};
use super::fixtures::{self, SEED_GIT_BASE};
use super::git_server::{GitServer, create_repository};

/// Arguments of `flotilla demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Simulated clusters besides the hub.
    #[arg(long, default_value_t = 100)]
    pub(crate) clusters: usize,
    /// Applications in the registry (each deployed to every production cluster).
    #[arg(long, default_value_t = 20)]
    pub(crate) apps: usize,
    /// Where the demo keeps its state; a second run with the same directory resumes.
    #[arg(long, default_value = "flotilla-demo")]
    pub(crate) data_dir: PathBuf,
    /// Stop once converged instead of serving until interrupted.
    #[arg(long)]
    pub(crate) exit_when_converged: bool,
    /// Serve the hub's `/metrics` and `/healthz` here, as `flotilla controller` does
    /// (for a Prometheus to scrape).
    #[arg(long)]
    pub(crate) metrics_addr: Option<SocketAddr>,
}

/// Where things are on disk, below the data directory.
struct Layout {
    root: PathBuf,
}

impl Layout {
    fn git(&self) -> PathBuf {
        self.root.join("git")
    }
    fn kubesim(&self) -> PathBuf {
        self.root.join("kubesim")
    }
    fn cache(&self) -> PathBuf {
        self.root.join("cache")
    }
    fn state(&self) -> PathBuf {
        self.root.join("demo.json")
    }
}

/// Runs the demo.
pub(crate) fn run(args: DemoArgs) -> anyhow::Result<()> {
    if args.clusters == 0 || args.apps == 0 {
        bail!("--clusters and --apps must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(demo(args))?;
    // Reconciles may still be running on blocking threads; ending the process now spares
    // them from meeting a runtime that is shutting down.
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let layout = Layout {
        root: args.data_dir.canonicalize()?,
    };
    let saved: Value = std::fs::read(layout.state())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let resuming = saved.is_object();
    if resuming && saved["clusters"] != json!(args.clusters) {
        bail!(
            "{} holds a demo of {} clusters; use the same --clusters or another --data-dir",
            layout.root.display(),
            saved["clusters"]
        );
    }

    // Git repositories.
    if !layout.git().join("platform/app-registry").exists() {
        for repo in fixtures::repositories(args.apps) {
            create_repository(&layout.git(), &repo.path, &repo.files, "initial import")?;
        }
    }
    let git_addr: SocketAddr = saved["git"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:0".parse().expect("address"));
    let git = match GitServer::start(&layout.git(), git_addr).await {
        Ok(git) => git,
        Err(_) => GitServer::start(&layout.git(), "127.0.0.1:0".parse()?).await?,
    };

    // The hub and the clusters, persisted in the data directory.
    let mut names = vec!["hub".to_string()];
    names.extend(kubesim::default_names(args.clusters));
    let fleet = kubesim::Fleet::try_new(
        &names,
        kubesim::FleetConfig {
            data_dir: Some(layout.kubesim()),
            ..Default::default()
        },
    )
    .context("opening the simulated fleet's data directory")?;
    let sim_addr: SocketAddr = saved["kubesim"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:0".parse().expect("address"));
    let server = match kubesim::Server::start_tls(fleet.clone(), sim_addr).await {
        Ok(s) => s,
        Err(_) => kubesim::Server::start_tls(fleet.clone(), "127.0.0.1:0".parse()?).await?,
    };
    let state = json!({
        "clusters": args.clusters,
        "git": git.base_url().trim_start_matches("http://").trim_end_matches('/'),
        "kubesim": server.addr().to_string(),
    });
    std::fs::write(layout.state(), serde_json::to_vec_pretty(&state)?)?;
    let (hub_kubeconfig, clusters_kubeconfig) =
        write_kubeconfigs(&server.kubeconfig(), &layout.root)?;

    let hub_config =
        super::super::controller::config_from(Some(&hub_kubeconfig), Some("hub")).await?;
    let hub = kube::Client::try_from(hub_config.clone()).context("building the hub client")?;
    flotilla_hub::bootstrap::install(&hub, Duration::from_secs(30)).await?;
    register_clusters(&hub, &server, &fleet, args.clusters).await?;
    create_app_namespaces(&clusters_kubeconfig, args.clusters, args.apps).await?;
    apply_seed(&hub).await?;

    let mut config = HubConfig::new(layout.cache());
    config.rewrites = vec![Rewrite {
        base: git.base_url(),
        instead_of: SEED_GIT_BASE.to_string(),
    }];
    config.controller.workers = 32;
    let running = std::sync::Arc::new(hub_run::start(hub_config, config).await?);
    let metrics = match args.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr} for /metrics"))?;
            let router = super::super::controller::metrics_router(running.clone());
            eprintln!("  metrics:             http://{addr}/metrics");
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    eprintln!("flotilla demo: serving /metrics: {e}");
                }
            }))
        }
        None => None,
    };

    let production = (0..args.clusters)
        .filter(|&i| fixtures::cluster_labels(i)[0].1 == "production")
        .count();
    let expected = production * args.apps;
    eprintln!(
        "flotilla demo: {} clusters ({} production) + hub, {} apps → {} Applications expected{}",
        args.clusters,
        production,
        args.apps,
        expected,
        if resuming { " (resumed)" } else { "" }
    );
    eprintln!("  hub kubeconfig:      {}", hub_kubeconfig.display());
    eprintln!("  clusters kubeconfig: {}", clusters_kubeconfig.display());
    let summary = watch_progress(&hub, expected, started).await?;
    print_summary(&summary, started.elapsed());
    print_flux(&hub).await;
    println!("git requests served: {}", git.requests());
    println!(
        "\nThe fleet keeps running. Try:\n  KUBECONFIG={} kubectl get applications -A\n  KUBECONFIG={} kubectl --context cluster-000 get deployments -A\nPress Ctrl-C to stop.",
        hub_kubeconfig.display(),
        clusters_kubeconfig.display()
    );
    if !args.exit_when_converged {
        tokio::signal::ctrl_c().await.ok();
    }
    // The hub stops first: closing the fleet under a running hub fails its requests,
    // and every failure would be logged on the way out. The metrics server holds the
    // hub too, so it goes before.
    if let Some(metrics) = metrics {
        metrics.abort();
        let _ = metrics.await;
    }
    drop(running);
    tokio::task::yield_now().await;
    fleet.close();
    drop((git, server));
    Ok(())
}

/// Splits kubesim's kubeconfig into the hub's and the managed clusters'.
pub(crate) fn write_kubeconfigs(
    kubeconfig: &str,
    dir: &Path,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let all: Value = serde_saphyr::from_str(kubeconfig).context("parsing kubesim's kubeconfig")?;
    let split = |keep: &dyn Fn(&str) -> bool, current: &str| -> Value {
        let mut out = all.clone();
        for list in ["clusters", "contexts", "users"] {
            if let Some(Value::Array(items)) = out.get_mut(list) {
                items.retain(|i| {
                    let name = i["name"].as_str().unwrap_or("");
                    // Users and clusters are named after their cluster in kubesim's file.
                    keep(name.trim_end_matches("-admin"))
                });
            }
        }
        out["current-context"] = json!(current);
        out
    };
    let hub = split(&|n| n == "hub", "hub");
    let clusters = split(&|n| n != "hub", "cluster-000");
    let hub_path = dir.join("hub.kubeconfig");
    let clusters_path = dir.join("clusters.kubeconfig");
    std::fs::write(&hub_path, serde_json::to_vec_pretty(&hub)?)?;
    std::fs::write(&clusters_path, serde_json::to_vec_pretty(&clusters)?)?;
    Ok((hub_path, clusters_path))
}

/// One Argo CD cluster Secret per managed cluster (its URL, token and CA are rewritten
/// on every start: a restarted kubesim has a new CA and new tokens).
pub(crate) async fn register_clusters(
    hub: &kube::Client,
    server: &kubesim::Server,
    fleet: &kubesim::Fleet,
    count: usize,
) -> anyhow::Result<()> {
    let secrets: Api<Secret> = Api::namespaced(hub.clone(), "argocd");
    let ca = fleet.tls().map(|t| t.ca_data()).unwrap_or_default();
    let params = PatchParams::apply("flotilla-demo").force();
    for (i, name) in kubesim::default_names(count).into_iter().enumerate() {
        let [(_, environment), (_, region)] = fixtures::cluster_labels(i);
        let token = fleet.admin_token(&name).unwrap_or_default();
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": format!("cluster-{name}"),
                "namespace": "argocd",
                "labels": {
                    "argocd.argoproj.io/secret-type": "cluster",
                    "environment": environment,
                    "region": region,
                },
            },
            "stringData": {
                "name": name,
                "server": server.cluster_url(&name),
                "config": json!({"bearerToken": token, "tlsClientConfig": {"caData": ca}}).to_string(),
            },
        });
        secrets
            .patch(&format!("cluster-{name}"), &params, &Patch::Apply(&secret))
            .await
            .with_context(|| format!("registering cluster {name}"))?;
    }
    Ok(())
}

/// The namespace of every app on every cluster: the seed's Applications deploy into
/// `{{.values.namespace}}` without `CreateNamespace=true`, so, as with Argo CD, the
/// platform team provides the namespaces.
pub(crate) async fn create_app_namespaces(
    kubeconfig: &Path,
    clusters: usize,
    apps: usize,
) -> anyhow::Result<()> {
    let params = PatchParams::apply("flotilla-demo").force();
    let mut tasks = Vec::new();
    for name in kubesim::default_names(clusters) {
        let kubeconfig = kubeconfig.to_path_buf();
        let params = params.clone();
        tasks.push(tokio::spawn(async move {
            let client =
                super::super::controller::client_from(Some(&kubeconfig), Some(&name)).await?;
            let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
            for i in 0..apps {
                let ns = fixtures::app_name(i);
                let body =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                namespaces
                    .patch(&ns, &params, &Patch::Apply(&body))
                    .await
                    .with_context(|| format!("creating namespace {ns} on {name}"))?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("namespace task")??;
    }
    Ok(())
}

/// The seed manifests, server-side applied unchanged.
pub(crate) async fn apply_seed(hub: &kube::Client) -> anyhow::Result<()> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&fixtures::seed_manifests()).context("parsing the seed")?;
    let params = PatchParams::apply("flotilla-demo").force();
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let api_version = doc["apiVersion"].as_str().unwrap_or("");
        let kind = doc["kind"].as_str().unwrap_or("");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let plural = match kind {
            "ApplicationSet" => "applicationsets",
            "GitRepository" => "gitrepositories",
            "Kustomization" => "kustomizations",
            other => bail!("the seed holds an unexpected kind {other}"),
        };
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let namespace = doc["metadata"]["namespace"].as_str().unwrap_or("default");
        let name = doc["metadata"]["name"].as_str().unwrap_or("");
        let api: Api<DynamicObject> = Api::namespaced_with(hub.clone(), namespace, &resource);
        api.patch(name, &params, &Patch::Apply(&doc))
            .await
            .with_context(|| format!("applying {kind} {namespace}/{name}"))?;
    }
    Ok(())
}

/// Applications by region: (total, synced, healthy).
type Summary = BTreeMap<String, (usize, usize, usize)>;

/// Prints a progress line (at most every 500 ms) until every expected Application is
/// Synced and Healthy, following them with a watch.
async fn watch_progress(
    hub: &kube::Client,
    expected: usize,
    started: Instant,
) -> anyhow::Result<Summary> {
    use futures::StreamExt as _;
    use kube::runtime::watcher;
    let apps: Api<AppState> = Api::all_with(hub.clone(), &application_resource());
    let mut events = watcher(apps, watcher::Config::default()).boxed();
    let mut apps = Converging::default();
    let mut stderr = std::io::stderr();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        // A line per tick, and the last one.
        let line_due = tokio::select! {
            event = events.next() => {
                match event {
                    Some(Ok(event)) => apps.observe(event),
                    Some(Err(e)) => bail!("watching Applications: {e}"),
                    None => bail!("the Application watch ended"),
                }
                false
            }
            _ = tick.tick() => true,
        };
        let total = apps.len();
        let done = apps.done(expected);
        if !line_due && !done {
            continue;
        }
        let (summary, synced, healthy) = summarize(apps.apps());
        let width = 30;
        let filled = (healthy.min(expected) * width)
            .checked_div(expected)
            .unwrap_or(width);
        let _ = write!(
            stderr,
            "\r[{}{}] {:>5.1}s  Applications {total}/{expected}  synced {synced}  healthy {healthy}   ",
            "#".repeat(filled),
            " ".repeat(width - filled),
            started.elapsed().as_secs_f64()
        );
        let _ = stderr.flush();
        if done {
            let _ = writeln!(stderr);
            return Ok(summary);
        }
    }
}

/// Applications by region (from the value file `values-<region>.yaml`), and how many are
/// Synced and Healthy.
fn summarize<'a>(apps: impl Iterator<Item = &'a AppState>) -> (Summary, usize, usize) {
    let mut summary = Summary::new();
    let (mut synced, mut healthy) = (0, 0);
    for app in apps {
        let region = app
            .value_file
            .as_deref()
            .map(|f| {
                f.trim_start_matches("values-")
                    .trim_end_matches(".yaml")
                    .to_string()
            })
            .unwrap_or_else(|| "-".into());
        let entry = summary.entry(region).or_default();
        entry.0 += 1;
        entry.1 += usize::from(app.synced);
        entry.2 += usize::from(app.healthy);
        synced += usize::from(app.synced);
        healthy += usize::from(app.healthy);
    }
    (summary, synced, healthy)
}

/// The Flux Kustomizations and their Ready condition, as `kubectl get ks -A` shows them.
async fn print_flux(hub: &kube::Client) {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        "kustomizations",
    );
    let api: Api<DynamicObject> = Api::all_with(hub.clone(), &resource);
    // The tenants' Kustomizations appear once `tenants` has applied them: give Flux a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = api
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let ready = |k: &DynamicObject| {
            k.data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready")
                .map(|c| {
                    (
                        c["status"].as_str().unwrap_or("Unknown").to_string(),
                        c["message"].as_str().unwrap_or("").to_string(),
                    )
                })
        };
        let all_ready =
            list.len() >= 2 && list.iter().all(|k| ready(k).is_some_and(|r| r.0 == "True"));
        if all_ready || Instant::now() >= deadline {
            println!("\n{:<32} {:<6} STATUS", "FLUX KUSTOMIZATION", "READY");
            for k in &list {
                let name = format!(
                    "{}/{}",
                    k.metadata.namespace.clone().unwrap_or_default(),
                    k.metadata.name.clone().unwrap_or_default()
                );
                let (status, message) = ready(k).unwrap_or(("Unknown".into(), String::new()));
                println!("{name:<32} {status:<6} {message}");
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_summary(summary: &Summary, elapsed: Duration) {
    println!(
        "\n{:<16} {:>12} {:>8} {:>8}",
        "REGION", "APPLICATIONS", "SYNCED", "HEALTHY"
    );
    let mut totals = (0, 0, 0);
    for (region, (total, synced, healthy)) in summary {
        println!("{region:<16} {total:>12} {synced:>8} {healthy:>8}");
        totals.0 += total;
        totals.1 += synced;
        totals.2 += healthy;
    }
    println!(
        "{:<16} {:>12} {:>8} {:>8}",
        "total", totals.0, totals.1, totals.2
    );
    println!("converged in {:.1}s", elapsed.as_secs_f64());
}
