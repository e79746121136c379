//! `flotilla bench fleet`: the hub measured end to end on a simulated fleet.
//!
//! The bench process hosts what the hub talks to — kubesim (the hub API and N clusters,
//! over TLS) and the demo's Git repositories over smart HTTP — and runs the hub itself
//! as a child process (`flotilla controller`), so the hub's CPU time and peak RSS are
//! its own. Phases:
//!
//! 1. cold start: the seed manifests applied, the controller started, until every
//!    expected Application is Synced and Healthy;
//! 2. one commit changing one app's values, announced by a GitLab push webhook, until
//!    every affected cluster runs the new image;
//! 3. a `kubectl edit`-style change (manager `kubectl-edit`) of one object on K
//!    clusters, until the hub reports the drift (its `/metrics`) and until it is healed;
//! 4. one more reconcile of the seed ApplicationSet (a label added to it), which plans
//!    against every Application it owns and changes none: the time it took (the hub's
//!    own `flotilla_reconcile_duration_seconds`) and the hub CPU meanwhile;
//! 5. the floor: a minimal client server-side applies the same objects (read back
//!    from the clusters, renamed) into the same kubesim with the same concurrency as
//!    the controller's workers. The hub's overhead is its cold start over that time.
//! 6. with the hub stopped, the writes any hub makes besides those applies: each
//!    Application created (a renamed copy) and its status written once, by the same
//!    minimal client — so the floor plus this is what a hub that spent no CPU of its
//!    own could at best reach (`write_bound_ratio`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use flotilla_hub::controller::application_resource;
use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::app_state::{AppState, Converging};
use super::demo::fixtures::{self, SEED_GIT_BASE};
use super::demo::git_server::{GitServer, commit_change, create_repository};
use super::demo::run as demo;

/// Arguments of `flotilla bench fleet`.
#[derive(Debug, clap::Args)]
pub(crate) struct FleetArgs {
    /// Simulated clusters besides the hub (three in four are `environment: production`).
    #[arg(long, default_value_t = 100)]
    pub(crate) clusters: usize,
    /// Applications in the registry (each deployed to every production cluster).
    #[arg(long, default_value_t = 50)]
    pub(crate) apps: usize,
    /// Clusters whose copy of one object is edited in the drift phase.
    #[arg(long, default_value_t = 10)]
    pub(crate) drift: usize,
    /// Applications the controller reconciles at once (also the floor's concurrency).
    #[arg(long, default_value_t = 32)]
    pub(crate) workers: usize,
    /// Give up on a phase after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub(crate) timeout: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// What `flotilla bench fleet` measured.
#[derive(Debug, Default)]
struct Report {
    clusters: usize,
    apps: usize,
    applications: usize,
    objects: usize,
    cold_start_s: f64,
    commit_to_converged_s: f64,
    drift_clusters: usize,
    drift_detect_s: f64,
    drift_heal_s: f64,
    hub_cpu_s: f64,
    /// CPU of this process (kubesim, the Git server, the watch) during the cold start.
    fleet_cpu_s: f64,
    hub_peak_rss_mib: f64,
    /// One reconcile of the seed ApplicationSet with every Application in place.
    appset_resync_s: f64,
    /// The hub's CPU from that reconcile's trigger until the hub counted it.
    appset_resync_cpu_s: f64,
    floor_s: f64,
    /// The Application creates and status writes alone (phase 6).
    hub_writes_s: f64,
}

impl Report {
    fn overhead_ratio(&self) -> f64 {
        if self.floor_s > 0.0 {
            self.cold_start_s / self.floor_s
        } else {
            0.0
        }
    }

    /// (floor + the hub's own writes) ÷ floor: the ratio a hub with no CPU of its own,
    /// rendering and watching nothing, would still have.
    fn write_bound_ratio(&self) -> f64 {
        if self.floor_s > 0.0 {
            (self.floor_s + self.hub_writes_s) / self.floor_s
        } else {
            0.0
        }
    }

    fn to_json(&self) -> Value {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        json!({
            "clusters": self.clusters,
            "apps": self.apps,
            "applications": self.applications,
            "objects": self.objects,
            "cold_start_s": round(self.cold_start_s),
            "commit_to_converged_s": round(self.commit_to_converged_s),
            "drift_clusters": self.drift_clusters,
            "drift_detect_s": round(self.drift_detect_s),
            "drift_heal_s": round(self.drift_heal_s),
            "hub_cpu_s": round(self.hub_cpu_s),
            "fleet_cpu_s": round(self.fleet_cpu_s),
            "hub_peak_rss_mib": round(self.hub_peak_rss_mib),
            "appset_resync_s": round(self.appset_resync_s),
            "appset_resync_cpu_s": round(self.appset_resync_cpu_s),
            "floor_s": round(self.floor_s),
            "overhead_ratio": round(self.overhead_ratio()),
            "hub_writes_s": round(self.hub_writes_s),
            "write_bound_ratio": round(self.write_bound_ratio()),
        })
    }

    fn print_table(&self) {
        println!(
            "fleet: {} clusters, {} apps → {} Applications, {} objects",
            self.clusters, self.apps, self.applications, self.objects
        );
        println!(
            "  cold start to Synced+Healthy  {:>8.2} s",
            self.cold_start_s
        );
        println!(
            "  one-app commit to converged   {:>8.2} s",
            self.commit_to_converged_s
        );
        println!(
            "  drift on {:>3} clusters: seen  {:>8.2} s, healed {:.2} s",
            self.drift_clusters, self.drift_detect_s, self.drift_heal_s
        );
        println!("  hub CPU                       {:>8.2} s", self.hub_cpu_s);
        println!(
            "  simulated fleet CPU (cold)    {:>8.2} s",
            self.fleet_cpu_s
        );
        println!(
            "  hub peak RSS                  {:>8.1} MiB",
            self.hub_peak_rss_mib
        );
        println!(
            "  ApplicationSet resync         {:>8.3} s, hub CPU {:.3} s",
            self.appset_resync_s, self.appset_resync_cpu_s
        );
        println!(
            "  floor (plain SSA of the same) {:>8.2} s  → overhead ×{:.2}",
            self.floor_s,
            self.overhead_ratio()
        );
        println!(
            "  + the hub's own writes        {:>8.2} s  → bound ×{:.2}",
            self.hub_writes_s,
            self.write_bound_ratio()
        );
    }
}

/// Runs the benchmark and prints its figures.
pub(crate) fn run_fleet(args: FleetArgs) -> anyhow::Result<()> {
    if args.clusters == 0 || args.apps == 0 {
        bail!("--clusters and --apps must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let json = args.json;
    let report = runtime.block_on(fleet(args))?;
    if json {
        println!("{}", report.to_json());
    } else {
        report.print_table();
    }
    let _ = std::io::stdout().flush();
    // kubesim's and the Git server's tasks need no orderly shutdown.
    std::process::exit(0)
}

/// One simulated cluster as the bench uses it.
struct SimCluster {
    name: String,
    client: kube::Client,
    production: bool,
    /// Its `region` label, which its apps' ConfigMaps hold once rendered.
    region: String,
}

/// The hub child process; killed when dropped.
struct HubProcess {
    child: Child,
    log: PathBuf,
}

impl HubProcess {
    /// User + system CPU seconds and peak RSS (MiB), from /proc.
    fn usage(&self) -> anyhow::Result<(f64, f64)> {
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .context("reading the hub's /proc/PID/stat")?;
        // Fields after the command name (which may hold spaces) start at ") ".
        let rest = stat
            .rsplit_once(") ")
            .map(|(_, r)| r)
            .context("parsing /proc/PID/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat(5): 12 and 13 after the name.
        let ticks: f64 = fields
            .get(11..13)
            .context("short /proc/PID/stat")?
            .iter()
            .map(|f| f.parse::<f64>().unwrap_or(0.0))
            .sum();
        let cpu = ticks / clock_ticks_per_second();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let hwm_kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmHWM in /proc/PID/status")?;
        Ok((cpu, hwm_kib / 1024.0))
    }

    /// The end of the hub's log, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU seconds of this process so far.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let ticks: f64 = stat
        .rsplit_once(") ")
        .map(|(_, rest)| {
            rest.split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(0.0);
    ticks / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux architecture this runs on (getconf CLK_TCK).
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

async fn fleet(args: FleetArgs) -> anyhow::Result<Report> {
    let timeout = Duration::from_secs(args.timeout);
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    let root = dir.path();
    let note = |what: &str| {
        if !args.json {
            eprintln!("bench fleet: {what}");
        }
    };

    note("creating the Git repositories");
    let git_root = root.join("git");
    for repo in fixtures::repositories(args.apps) {
        create_repository(&git_root, &repo.path, &repo.files, "initial import")?;
    }
    let git = GitServer::start(&git_root, "127.0.0.1:0".parse()?).await?;

    note("starting the simulated fleet");
    let mut names = vec!["hub".to_string()];
    names.extend(kubesim::default_names(args.clusters));
    let sim = kubesim::Fleet::new(&names, kubesim::FleetConfig::default());
    let server = kubesim::Server::start_tls(sim.clone(), "127.0.0.1:0".parse()?).await?;
    let (hub_kubeconfig, clusters_kubeconfig) =
        demo::write_kubeconfigs(&server.kubeconfig(), root)?;
    let hub = super::controller::client_from(Some(&hub_kubeconfig), Some("hub")).await?;
    flotilla_hub::bootstrap::install(&hub, Duration::from_secs(30)).await?;
    demo::register_clusters(&hub, &server, &sim, args.clusters).await?;
    demo::create_app_namespaces(&clusters_kubeconfig, args.clusters, args.apps).await?;
    let mut clusters = Vec::new();
    for (i, name) in kubesim::default_names(args.clusters)
        .into_iter()
        .enumerate()
    {
        let client =
            super::controller::client_from(Some(&clusters_kubeconfig), Some(&name)).await?;
        let [(_, environment), (_, region)] = fixtures::cluster_labels(i);
        clusters.push(SimCluster {
            name,
            client,
            production: environment == "production",
            region,
        });
    }
    let production: Vec<&SimCluster> = clusters.iter().filter(|c| c.production).collect();
    let expected = production.len() * args.apps;

    // 1. Cold start.
    let secret_file = root.join("webhook-secret");
    std::fs::write(&secret_file, "bench-webhook-secret\n")?;
    let metrics_addr = free_address()?;
    demo::apply_seed(&hub).await?;
    note(&format!(
        "cold start: {expected} Applications on {} production clusters",
        production.len()
    ));
    let started = Instant::now();
    let fleet_cpu_before = own_cpu_seconds();
    let hub_process = spawn_hub(
        root,
        &hub_kubeconfig,
        &git.base_url(),
        metrics_addr,
        &secret_file,
        args.workers,
    )?;
    let applications = wait_converged(
        &hub,
        expected,
        timeout,
        &hub_process,
        (!args.json).then_some(started),
    )
    .await?;
    let cold_start = started.elapsed();
    let fleet_cpu = own_cpu_seconds() - fleet_cpu_before;
    // The hub's own gauge follows what the API says (once the last status write's echo
    // reached its watch).
    wait_for(
        "the hub's flotilla_applications gauge to count every Application Synced and Healthy",
        timeout,
        &hub_process,
        async || {
            let text = metrics_text(metrics_addr).await.ok()?;
            let synced_healthy = text
                .lines()
                .find_map(|l| {
                    l.strip_prefix("flotilla_applications{sync=\"Synced\",health=\"Healthy\"} ")
                })
                .and_then(|n| n.parse::<usize>().ok());
            (synced_healthy == Some(expected)).then_some(())
        },
    )
    .await?;
    if !args.json {
        // How often each controller ran, and where the hub's reconciles spent their
        // (wall) time, summed over workers.
        let text = metrics_text(metrics_addr).await?;
        for line in text.lines().filter(|l| {
            l.starts_with("flotilla_reconciles_total{")
                || l.starts_with("flotilla_reconcile_phase_seconds_sum{")
                || l.starts_with("flotilla_reconcile_phase_seconds_count{")
        }) {
            eprintln!("  {line}");
        }
    }

    // 2. One commit to one app's values.
    let app = fixtures::app_name(0);
    note(&format!("commit: a new image tag for {app}"));
    let values = fixtures::repositories(args.apps)
        .into_iter()
        .find(|r| r.path == format!("platform/{app}"))
        .and_then(|r| r.files.into_iter().find(|(p, _)| p == "deploy/values.yaml"))
        .map(|(_, v)| v)
        .context("the app's values.yaml")?;
    let new_values = values.replace("tag: \"1.0.0\"", "tag: \"1.0.1\"");
    if new_values == values {
        bail!("the fixture's values.yaml no longer holds tag \"1.0.0\"");
    }
    let committed = Instant::now();
    commit_change(
        &git_root,
        &format!("platform/{app}"),
        &[("deploy/values.yaml".to_string(), new_values)],
        "web 1.0.1",
    )?;
    push_webhook(
        metrics_addr,
        &secret_file,
        &format!("{SEED_GIT_BASE}platform/{app}"),
    )
    .await?;
    wait_for(
        &format!("{app}'s new image on every production cluster"),
        timeout,
        &hub_process,
        async || {
            let checks = production.iter().map(|SimCluster { client, .. }| {
                // The release (and so the Deployment) is named after the Application.
                let deployments: Api<Deployment> = Api::namespaced(client.clone(), &app);
                async move {
                    let Ok(list) = deployments.list(&ListParams::default()).await else {
                        return false;
                    };
                    !list.items.is_empty()
                        && list.items.into_iter().all(|d| {
                            d.spec
                                .and_then(|s| s.template.spec)
                                .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
                                .is_some_and(|image| image.ends_with(":1.0.1"))
                        })
                }
            });
            let done = futures::stream::iter(checks)
                .buffer_unordered(16)
                .all(|ok| async move { ok })
                .await;
            done.then_some(())
        },
    )
    .await?;
    let commit_to_converged = committed.elapsed();

    // 3. Drift on K clusters.
    let drifted: Vec<&SimCluster> = production.iter().copied().take(args.drift).collect();
    note(&format!(
        "drift: editing {app}'s ConfigMap on {} clusters",
        drifted.len()
    ));
    // The seed names each Application (and so its release) `<app>-<cluster>`.
    let config_name = |cluster: &str| format!("{app}-{cluster}-config");
    let drift_before = drift_events(metrics_addr).await?;
    let edited = Instant::now();
    let edits = drifted.iter().map(|SimCluster { name, client, .. }| {
        let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &app);
        let config_name = config_name(name);
        async move {
            maps.patch(
                &config_name,
                &PatchParams {
                    field_manager: Some("kubectl-edit".into()),
                    ..Default::default()
                },
                &Patch::Merge(json!({"data": {"region": "edited-by-hand"}})),
            )
            .await
            .with_context(|| format!("editing {config_name} on {name}"))
        }
    });
    for result in futures::future::join_all(edits).await {
        result?;
    }
    let k = drifted.len() as u64;
    let mut detected = None;
    let heal_deadline = Instant::now() + timeout;
    let healed = loop {
        if detected.is_none() && drift_events(metrics_addr).await? >= drift_before + k {
            detected = Some(edited.elapsed());
        }
        let mut all_healed = true;
        for cluster in &drifted {
            let maps: Api<ConfigMap> = Api::namespaced(cluster.client.clone(), &app);
            let region = maps
                .get(&config_name(&cluster.name))
                .await
                .ok()
                .and_then(|c| c.data)
                .and_then(|d| d.get("region").cloned());
            // Healed: back to the region's value the chart renders.
            if region.as_ref() != Some(&cluster.region) {
                all_healed = false;
                break;
            }
        }
        if all_healed && detected.is_some() {
            break edited.elapsed();
        }
        if Instant::now() > heal_deadline {
            bail!(
                "drift not {} within {}s; hub log:\n{}",
                if all_healed { "reported" } else { "healed" },
                timeout.as_secs(),
                hub_process.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (hub_cpu, hub_rss) = hub_process.usage()?;

    // 4. One more reconcile of the set, nothing to change.
    note("appset resync: one reconcile of the seed ApplicationSet");
    let (appset_resync, appset_resync_cpu) =
        appset_resync(&hub, metrics_addr, &hub_process, timeout).await?;

    // 5. The floor.
    note("floor: applying the same objects with a minimal client");
    let objects = managed_objects(&production).await?;
    let floor = floor(&objects, args.workers).await?;
    drop(hub_process);

    // 6. The hub's own writes, the hub stopped (it would reconcile the copies).
    note("hub writes: each Application created and its status written, with a minimal client");
    let hub_writes = hub_writes(&hub, args.workers).await?;

    Ok(Report {
        clusters: args.clusters,
        apps: args.apps,
        applications,
        objects: objects.len(),
        cold_start_s: cold_start.as_secs_f64(),
        commit_to_converged_s: commit_to_converged.as_secs_f64(),
        drift_clusters: drifted.len(),
        drift_detect_s: detected.unwrap_or_default().as_secs_f64(),
        drift_heal_s: healed.as_secs_f64(),
        hub_cpu_s: hub_cpu,
        fleet_cpu_s: fleet_cpu,
        hub_peak_rss_mib: hub_rss,
        appset_resync_s: appset_resync,
        appset_resync_cpu_s: appset_resync_cpu,
        floor_s: floor.as_secs_f64(),
        hub_writes_s: hub_writes.as_secs_f64(),
    })
}

/// A free local address for the hub's `/metrics` (bound, then released).
fn free_address() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

fn spawn_hub(
    root: &Path,
    hub_kubeconfig: &Path,
    git_base: &str,
    metrics_addr: SocketAddr,
    secret_file: &Path,
    workers: usize,
) -> anyhow::Result<HubProcess> {
    let log = root.join("controller.log");
    let log_file = std::fs::File::create(&log)?;
    let exe = std::env::current_exe().context("locating the flotilla binary")?;
    let child = std::process::Command::new(exe)
        .arg("controller")
        .arg("--hub-kubeconfig")
        .arg(hub_kubeconfig)
        .args(["--context", "hub"])
        .arg("--cache-dir")
        .arg(root.join("cache"))
        .arg("--rewrite")
        .arg(format!("{git_base}={SEED_GIT_BASE}"))
        .arg("--metrics-addr")
        .arg(metrics_addr.to_string())
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--webhook")
        .arg(format!("gitlab={}", secret_file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .context("starting `flotilla controller`")?;
    Ok(HubProcess { child, log })
}

/// Waits until `check` answers, failing after `timeout` with the hub's last log lines.
async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    hub: &HubProcess,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {}s waiting for {what}; hub log:\n{}",
                timeout.as_secs(),
                hub.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until `expected` Applications exist and are all Synced and Healthy, following
/// them with a watch (listing thousands of Applications in a loop would load kubesim
/// more than the hub does).
async fn wait_converged(
    hub: &kube::Client,
    expected: usize,
    timeout: Duration,
    process: &HubProcess,
    progress_since: Option<Instant>,
) -> anyhow::Result<usize> {
    use kube::runtime::watcher;
    let apps: Api<AppState> = Api::all_with(hub.clone(), &application_resource());
    let mut events = watcher(apps, watcher::Config::default()).boxed();
    let mut apps = Converging::default();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut shown = Instant::now();
    loop {
        let done = apps.converged();
        if apps.done(expected) {
            return Ok(apps.len());
        }
        if let Some(since) = progress_since
            && shown.elapsed() >= Duration::from_secs(1)
        {
            shown = Instant::now();
            eprintln!(
                "  {:>6.1}s  Applications {}/{expected}, Synced and Healthy {done}",
                since.elapsed().as_secs_f64(),
                apps.len()
            );
        }
        let event = match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(event)) => event,
            Ok(None) => bail!("the Application watch ended"),
            Err(_) => bail!(
                "timed out after {}s: {} of {expected} Applications existed, {done} converged; hub log:\n{}",
                timeout.as_secs(),
                apps.len(),
                process.log_tail()
            ),
        };
        match event {
            Ok(event) => apps.observe(event),
            Err(e) => bail!("watching Applications: {e}"),
        }
    }
}

/// A GitLab push hook for `url`, as GitLab sends it (`X-Gitlab-Token`).
async fn push_webhook(addr: SocketAddr, secret_file: &Path, url: &str) -> anyhow::Result<()> {
    let secret = std::fs::read_to_string(secret_file)?.trim().to_string();
    let receiver = flotilla_source::webhook::Receiver {
        name: "gitlab".into(),
        provider: flotilla_source::webhook::Provider::GitLab,
        secret: secret.clone(),
        repositories: Vec::new(),
    };
    let body = json!({
        "object_kind": "push",
        "ref": "refs/heads/main",
        "project": {"git_http_url": format!("{url}.git"), "web_url": url},
    })
    .to_string();
    let (status, answer) = http(
        addr,
        "POST",
        &receiver.path(),
        &[
            ("X-Gitlab-Token", secret.as_str()),
            ("X-Gitlab-Event", "Push Hook"),
            ("Content-Type", "application/json"),
        ],
        &body,
    )
    .await?;
    if status != 200 {
        bail!("the webhook answered {status}: {answer}");
    }
    let triggered: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    if triggered["triggered"].as_array().is_none_or(Vec::is_empty) {
        bail!("the webhook for {url} refreshed no repository: {answer}");
    }
    Ok(())
}

/// The hub's `/metrics` page.
async fn metrics_text(addr: SocketAddr) -> anyhow::Result<String> {
    let (status, text) = http(addr, "GET", "/metrics", &[], "").await?;
    if status != 200 {
        bail!("/metrics answered {status}");
    }
    Ok(text)
}

/// A label added to the seed ApplicationSet (which reconciles it), until the hub has
/// counted one more ApplicationSet reconcile: that reconcile's duration as the hub
/// measured it, and the hub's CPU meanwhile.
async fn appset_resync(
    hub: &kube::Client,
    metrics: SocketAddr,
    hub_process: &HubProcess,
    timeout: Duration,
) -> anyhow::Result<(f64, f64)> {
    let sample = async || -> anyhow::Result<(u64, f64)> {
        let text = metrics_text(metrics).await?;
        Ok((
            metric_sum(
                &text,
                "flotilla_reconciles_total{controller=\"applicationset\"",
            ) as u64,
            metric_sum(
                &text,
                "flotilla_reconcile_duration_seconds_sum{controller=\"applicationset\"}",
            ),
        ))
    };
    let (count, seconds) = sample().await?;
    let (cpu, _) = hub_process.usage()?;
    let sets: Api<DynamicObject> = Api::namespaced_with(
        hub.clone(),
        "argocd",
        &flotilla_hub::appset::applicationset_resource(),
    );
    sets.patch(
        "microservices",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"flotilla.dev/bench": "resync"}}})),
    )
    .await
    .context("labelling the seed ApplicationSet")?;
    let seconds_after = wait_for(
        "the ApplicationSet's reconcile",
        timeout,
        hub_process,
        async || {
            let (n, s) = sample().await.ok()?;
            (n > count).then_some(s)
        },
    )
    .await?;
    let (cpu_after, _) = hub_process.usage()?;
    Ok((seconds_after - seconds, cpu_after - cpu))
}

/// The hub's `flotilla_drift_events_total`, summed over clusters.
async fn drift_events(addr: SocketAddr) -> anyhow::Result<u64> {
    let text = metrics_text(addr).await?;
    Ok(metric_sum(&text, "flotilla_drift_events_total{") as u64)
}

/// The sum of the samples on the `/metrics` lines that start with `prefix`.
fn metric_sum(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// One HTTP/1.1 request on a fresh connection (the hub's own small endpoints).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to the hub at {addr}"))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no HTTP status line")?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Phase 6: every Application on the hub copied (renamed `-write`, with its spec) and
/// created, then its status written with a merge patch (the Application CRD has no status
/// subresource), with `concurrency` in flight — the requests the hub makes per
/// Application besides its applies.
async fn hub_writes(hub: &kube::Client, concurrency: usize) -> anyhow::Result<Duration> {
    let resource = application_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(hub.clone(), "argocd", &resource);
    let listed = api
        .list(&ListParams::default())
        .await
        .context("listing the Applications")?;
    // Built before the clock starts, as the floor's bodies are.
    let copies: Vec<(DynamicObject, Value)> = listed
        .items
        .into_iter()
        .map(|app| {
            let name = format!("{}-write", app.metadata.name.unwrap_or_default());
            let body = json!({
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": name, "namespace": "argocd"},
                "spec": app.data.get("spec").cloned().unwrap_or_default(),
            });
            let status = json!({"status": app.data.get("status").cloned().unwrap_or_default()});
            Ok((serde_json::from_value(body)?, status))
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let writes = copies.iter().map(|(app, status)| {
        let api = api.clone();
        async move {
            let name = app.metadata.name.as_deref().unwrap_or_default();
            api.create(&kube::api::PostParams::default(), app)
                .await
                .with_context(|| format!("creating Application {name}"))?;
            api.patch(name, &PatchParams::default(), &Patch::Merge(status))
                .await
                .with_context(|| format!("writing the status of Application {name}"))?;
            anyhow::Ok(())
        }
    });
    all_of(writes, concurrency).await?;
    Ok(started.elapsed())
}

/// Runs `requests` with `concurrency` of them in flight, every one to its end; the first
/// failure, if any.
async fn all_of<T>(
    requests: impl Iterator<Item = impl std::future::Future<Output = anyhow::Result<T>>>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<T>> = futures::stream::iter(requests)
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().try_for_each(|r| r.map(drop))
}

/// One object to apply in the floor: its cluster client, resource and body.
struct FloorObject {
    client: kube::Client,
    resource: ApiResource,
    body: Value,
}

/// The objects the hub applied, read back from the production clusters and renamed
/// (`-floor`), with only what a manifest holds; taken from the clusters in turn
/// ([`round_robin`]).
async fn managed_objects(production: &[&SimCluster]) -> anyhow::Result<Vec<FloorObject>> {
    let kinds = [
        ("apps", "v1", "Deployment", "deployments"),
        ("", "v1", "Service", "services"),
        ("", "v1", "ConfigMap", "configmaps"),
    ];
    let params = ListParams::default().labels(flotilla_sync::tracking::INSTANCE_LABEL);
    let mut by_cluster = Vec::new();
    for SimCluster { client, .. } in production {
        let mut out = Vec::new();
        for (group, version, kind, plural) in kinds {
            let resource = ApiResource::from_gvk_with_plural(
                &kube::core::GroupVersionKind::gvk(group, version, kind),
                plural,
            );
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            for object in api.list(&params).await?.items {
                let mut body = json!({
                    "apiVersion": resource.api_version,
                    "kind": kind,
                    "metadata": {
                        "name": format!("{}-floor", object.metadata.name.clone().unwrap_or_default()),
                        "namespace": object.metadata.namespace.clone().unwrap_or_default(),
                        "labels": object.metadata.labels.clone().unwrap_or_default(),
                    },
                });
                if let Some(labels) = body["metadata"]["labels"].as_object_mut() {
                    labels.remove(flotilla_sync::tracking::INSTANCE_LABEL);
                }
                for (key, value) in object.data.as_object().into_iter().flatten() {
                    if key != "status" {
                        body[key] = value.clone();
                    }
                }
                // Server-assigned fields a manifest does not carry.
                if let Some(spec) = body.get_mut("spec").and_then(Value::as_object_mut) {
                    for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                        spec.remove(field);
                    }
                }
                out.push(FloorObject {
                    client: client.clone(),
                    resource: resource.clone(),
                    body,
                });
            }
        }
        by_cluster.push(out);
    }
    Ok(round_robin(by_cluster))
}

/// The items of every group, one group after the other in turn (the first of each, then
/// the second of each, …). The floor applies in this order, as the hub's queue spreads
/// its work over the clusters: applied cluster by cluster, its 32 requests in flight all
/// went to one cluster, which took a TLS connection each (up to 32 per cluster instead of
/// one); the handshakes were 28% of the floor's CPU and made it 1.6× as long.
fn round_robin<T>(groups: Vec<Vec<T>>) -> Vec<T> {
    let total = groups.iter().map(Vec::len).sum();
    let mut iters: Vec<_> = groups.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        out.extend(iters.iter_mut().filter_map(Iterator::next));
    }
    out
}

/// Server-side applies every object, `concurrency` at a time; the time it took.
async fn floor(objects: &[FloorObject], concurrency: usize) -> anyhow::Result<Duration> {
    let params = PatchParams::apply("floor").force();
    let started = Instant::now();
    let applies = objects.iter().map(|o| {
        let api: Api<DynamicObject> = Api::namespaced_with(
            o.client.clone(),
            o.body["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default"),
            &o.resource,
        );
        let params = params.clone();
        async move {
            let name = o.body["metadata"]["name"].as_str().unwrap_or_default();
            api.patch(name, &params, &Patch::Apply(&o.body))
                .await
                .with_context(|| format!("floor apply of {name}"))
        }
    });
    all_of(applies, concurrency).await?;
    Ok(started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_takes_the_clusters_in_turn() {
        let groups = vec![vec!["a1", "a2", "a3"], vec![], vec!["b1"], vec!["c1", "c2"]];
        assert_eq!(
            round_robin(groups),
            ["a1", "b1", "c1", "a2", "c2", "a3"],
            "every item once, one cluster after the other"
        );
        assert!(round_robin::<u8>(Vec::new()).is_empty());
    }
}
