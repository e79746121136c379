//! `kubesim bench`: load a fleet over real HTTP and print what it sustained, as JSON.
//!
//! Phases: concurrent creates of small ConfigMaps across every cluster (writes/s,
//! latency percentiles), full lists of each cluster's namespace, then one watch per
//! cluster while every cluster receives updates (events delivered per second).
//! Client and server share this process and its cores, as they would share a CI box.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kubesim::{Fleet, Server};
use serde_json::json;

type Http = Client<HttpConnector, Full<Bytes>>;

/// What to measure.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// Creates of small ConfigMaps across the fleet, then lists and watches.
    Configmaps,
    /// Server-side apply of Deployments into one cluster.
    Ssa,
}

/// Benchmark settings.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value = "configmaps")]
    pub scenario: Scenario,
    /// Deployments applied in the `ssa` scenario.
    #[arg(long, default_value_t = 10_000)]
    pub deployments: usize,
    /// Clusters in the fleet.
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    /// ConfigMaps created per cluster.
    #[arg(long, default_value_t = 1000)]
    pub objects: usize,
    /// Concurrent client requests.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Updates per cluster during the watch phase.
    #[arg(long, default_value_t = 100)]
    pub watch_updates: usize,
    /// `configmaps` only: run the scenario twice, in memory and with a fresh `--data-dir`
    /// (under the system temp directory), and report both side by side.
    #[arg(long)]
    pub compare_data_dir: bool,
    /// `ssa` only: run the scenario twice, with every update holding the store lock
    /// throughout (the reference) and with optimistic updates, and report both side by side.
    #[arg(long)]
    pub compare_locked: bool,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// CPU time this process has used (user + system), in seconds: on a shared, overloaded
/// machine, work per CPU-second compares variants more fairly than wall-clock rates.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command; utime and stime are the 12th and 13th.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

async fn send(
    http: &Http,
    method: &str,
    url: &str,
    body: Option<Vec<u8>>,
    content_type: &str,
) -> anyhow::Result<(u16, Bytes)> {
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let resp = http.request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Run the benchmark and print one JSON document.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.scenario == Scenario::Ssa {
        return run_ssa(args).await;
    }
    let report = if args.compare_data_dir {
        let dir = std::env::temp_dir().join(format!("kubesim-bench-{}", std::process::id()));
        let memory = configmaps(&args, None).await?;
        let persisted = configmaps(&args, Some(&dir)).await;
        let _ = std::fs::remove_dir_all(&dir);
        json!({"memory": memory, "data_dir": persisted?})
    } else {
        configmaps(&args, None).await?
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The `configmaps` scenario, optionally persisting into `data_dir`.
async fn configmaps(
    args: &BenchArgs,
    data_dir: Option<&std::path::Path>,
) -> anyhow::Result<serde_json::Value> {
    let config = kubesim::FleetConfig {
        data_dir: data_dir.map(std::path::Path::to_path_buf),
        ..Default::default()
    };
    let fleet = Fleet::try_new(&kubesim::default_names(args.clusters), config)
        .context("opening the bench fleet")?;
    let names: Vec<String> = fleet.names().map(String::from).collect();
    let server = Server::start(fleet.clone(), "127.0.0.1:0".parse()?)
        .await
        .context("starting kubesim")?;
    let base = server.base_url();
    let http: Http = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.concurrency)
        .build_http();
    let rss_before = rss_bytes();

    // Phase 1: creates.
    let total = args.clusters * args.objects;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let cpu_started = cpu_seconds();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, next, names, base) = (http.clone(), next.clone(), names.clone(), base.clone());
        let objects = args.objects;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let cluster = &names[i % names.len()];
                let n = i / names.len();
                let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("cm-{n:05}"), "labels": {"bench": "yes", "shard": (n % 10).to_string()}},
                    "data": {"index": n.to_string(), "payload": "x".repeat(64)}});
                let url = format!("{base}/clusters/{cluster}/api/v1/namespaces/default/configmaps");
                let t = Instant::now();
                let (status, resp) = send(&http, "POST", &url, Some(serde_json::to_vec(&body)?), "application/json").await?;
                latencies.push(t.elapsed().as_micros() as u64);
                if status != 201 {
                    bail!("create {cluster}/{n} answered {status}: {}", String::from_utf8_lossy(&resp));
                }
                let _ = objects;
            }
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for w in workers {
        latencies.extend(w.await??);
    }
    let create_secs = started.elapsed().as_secs_f64();
    let create_cpu = cpu_seconds() - cpu_started;
    latencies.sort_unstable();
    let rss_after_create = rss_bytes();
    // How far the disk was behind when the last create was answered.
    let flush_started = Instant::now();
    fleet.flush();
    let flush_ms = flush_started.elapsed().as_secs_f64() * 1000.0;

    // Phase 2: full lists of every cluster's namespace.
    let started = Instant::now();
    let mut list_latencies = Vec::new();
    let mut listed = 0usize;
    for cluster in &names {
        let url = format!(
            "{base}/clusters/{cluster}/api/v1/namespaces/default/configmaps?labelSelector=bench%3Dyes"
        );
        let t = Instant::now();
        let (status, body) = send(&http, "GET", &url, None, "application/json").await?;
        list_latencies.push(t.elapsed().as_micros() as u64);
        if status != 200 {
            bail!("list {cluster} answered {status}");
        }
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        listed += v["items"].as_array().map_or(0, Vec::len);
    }
    let list_secs = started.elapsed().as_secs_f64();
    list_latencies.sort_unstable();
    if listed != total {
        bail!("lists returned {listed} objects, expected {total}");
    }

    // Phase 3: a watch per cluster, then updates; time until every event arrived.
    let expected = args.clusters * args.watch_updates;
    let received = Arc::new(AtomicUsize::new(0));
    let mut watchers = Vec::new();
    for cluster in &names {
        let url = format!(
            "{base}/clusters/{cluster}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={}&labelSelector=bench%3Dyes",
            server.fleet().cluster(cluster).map_or(0, |c| c.revision())
        );
        let req = hyper::Request::get(url).body(Full::new(Bytes::new()))?;
        let resp = http.request(req).await?;
        let received = received.clone();
        let updates = args.watch_updates;
        watchers.push(tokio::spawn(async move {
            let mut body = resp.into_body();
            let mut seen = 0;
            while seen < updates {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Some(data) = frame.data_ref() {
                            let n = data.iter().filter(|b| **b == b'\n').count();
                            seen += n;
                            received.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                    _ => break,
                }
            }
        }));
    }
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, next, names, base) = (http.clone(), next.clone(), names.clone(), base.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= expected {
                    return Ok::<_, anyhow::Error>(());
                }
                let cluster = &names[i % names.len()];
                let n = i / names.len();
                let url = format!(
                    "{base}/clusters/{cluster}/api/v1/namespaces/default/configmaps/cm-{n:05}"
                );
                let patch = json!({"data": {"update": i.to_string()}});
                let (status, resp) = send(
                    &http,
                    "PATCH",
                    &url,
                    Some(serde_json::to_vec(&patch)?),
                    "application/merge-patch+json",
                )
                .await?;
                if status != 200 {
                    bail!(
                        "patch answered {status}: {}",
                        String::from_utf8_lossy(&resp)
                    );
                }
            }
        }));
    }
    for w in writers {
        w.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let watch_secs = started.elapsed().as_secs_f64();
    let delivered = received.load(Ordering::Relaxed);
    for w in watchers {
        w.abort();
    }

    let report = json!({
        "clusters": args.clusters,
        "objects_per_cluster": args.objects,
        "concurrency": args.concurrency,
        "create": {
            "writes": total,
            "seconds": create_secs,
            "writes_per_second": total as f64 / create_secs,
            "cpu_seconds": create_cpu,
            "writes_per_cpu_second": total as f64 / create_cpu.max(0.01),
            "latency_ms": {"p50": percentile(&latencies, 0.50), "p99": percentile(&latencies, 0.99), "max": percentile(&latencies, 1.0)},
        },
        "list": {
            "lists": names.len(),
            "objects": listed,
            "seconds": list_secs,
            "objects_per_second": listed as f64 / list_secs,
            "latency_ms": {"p50": percentile(&list_latencies, 0.50), "p99": percentile(&list_latencies, 0.99)},
        },
        "watch": {
            "watches": names.len(),
            "updates": expected,
            "events_delivered": delivered,
            "seconds": watch_secs,
            "events_per_second": delivered as f64 / watch_secs,
        },
        "rss_bytes": {"before": rss_before, "after_create": rss_after_create, "end": rss_bytes()},
        "rss_mib_after_create": rss_after_create as f64 / (1024.0 * 1024.0),
        "data_dir": data_dir.map(|d| d.display().to_string()),
        "flush_after_create_ms": flush_ms,
    });
    drop(server);
    fleet.close();
    Ok(report)
}

/// The `ssa` scenario, or both variants of it with `--compare-locked`.
async fn run_ssa(args: BenchArgs) -> anyhow::Result<()> {
    let report = if args.compare_locked {
        let locked = ssa(&args, false).await?;
        let optimistic = ssa(&args, true).await?;
        json!({"locked": locked, "optimistic": optimistic})
    } else {
        ssa(&args, true).await?
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Server-side apply of `args.deployments` Deployments into one cluster (each applied twice:
/// a create, then a changed image), with the concurrency of `args.concurrency`.
async fn ssa(args: &BenchArgs, optimistic_writes: bool) -> anyhow::Result<serde_json::Value> {
    let config = kubesim::FleetConfig {
        cluster: kubesim::ClusterConfig {
            optimistic_writes,
            ..Default::default()
        },
        ..Default::default()
    };
    let fleet = Fleet::new(&kubesim::default_names(1), config);
    let server = Server::start(fleet, "127.0.0.1:0".parse()?)
        .await
        .context("starting kubesim")?;
    let base = format!(
        "{}/clusters/cluster-000/apis/apps/v1/namespaces/default/deployments",
        server.base_url()
    );
    let http: Http = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.concurrency)
        .build_http();
    let rss_before = rss_bytes();
    let mut report = serde_json::Map::new();
    for (round, image) in [("create", "nginx:1.27"), ("change", "nginx:1.28")] {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let cpu_started = cpu_seconds();
        let mut workers = Vec::new();
        for _ in 0..args.concurrency {
            let (http, next, base) = (http.clone(), next.clone(), base.clone());
            let total = args.deployments;
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let name = format!("app-{i:05}");
                    let body = apply_config::deployment(&name, image);
                    let url = format!("{base}/{name}?fieldManager=bench&force=true");
                    let t = Instant::now();
                    let (status, resp) = send(
                        &http,
                        "PATCH",
                        &url,
                        Some(serde_json::to_vec(&body)?),
                        "application/apply-patch+yaml",
                    )
                    .await?;
                    latencies.push(t.elapsed().as_micros() as u64);
                    if status != 200 && status != 201 {
                        bail!(
                            "apply {name} answered {status}: {}",
                            String::from_utf8_lossy(&resp)
                        );
                    }
                }
            }));
        }
        let mut latencies = Vec::with_capacity(args.deployments);
        for w in workers {
            latencies.extend(w.await??);
        }
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_started;
        latencies.sort_unstable();
        report.insert(round.into(), json!({
            "applies": args.deployments,
            "seconds": secs,
            "applies_per_second": args.deployments as f64 / secs,
            "cpu_seconds": cpu,
            "applies_per_cpu_second": args.deployments as f64 / cpu.max(0.01),
            "latency_ms": {"p50": percentile(&latencies, 0.50), "p99": percentile(&latencies, 0.99)},
        }));
    }
    report.insert("concurrency".into(), json!(args.concurrency));
    report.insert(
        "rss_bytes".into(),
        json!({"before": rss_before, "end": rss_bytes()}),
    );
    report.insert(
        "rss_mib_end".into(),
        json!(rss_bytes() as f64 / (1024.0 * 1024.0)),
    );
    report.insert("optimistic_writes".into(), json!(optimistic_writes));
    Ok(serde_json::Value::Object(report))
}

/// The Deployment the `ssa` scenario applies, as a typed client (kube-rs with
/// k8s-openapi types, client-go's apply configurations) builds it: typed structs
/// serialised straight to JSON, not a JSON tree assembled first.
mod apply_config {
    use serde::Serialize;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Deployment<'a> {
        api_version: &'a str,
        kind: &'a str,
        metadata: Metadata<'a>,
        spec: Spec<'a>,
    }

    #[derive(Serialize)]
    pub(super) struct Metadata<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        labels: Labels<'a>,
    }

    #[derive(Serialize)]
    pub(super) struct Labels<'a> {
        app: &'a str,
    }

    #[derive(Serialize)]
    pub(super) struct Spec<'a> {
        replicas: i32,
        selector: Selector<'a>,
        template: Template<'a>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Selector<'a> {
        match_labels: Labels<'a>,
    }

    #[derive(Serialize)]
    pub(super) struct Template<'a> {
        metadata: Metadata<'a>,
        spec: PodSpec<'a>,
    }

    #[derive(Serialize)]
    pub(super) struct PodSpec<'a> {
        containers: [Container<'a>; 1],
    }

    #[derive(Serialize)]
    pub(super) struct Container<'a> {
        name: &'a str,
        image: &'a str,
        ports: [Port; 1],
        env: [Env<'a>; 1],
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Port {
        container_port: i32,
    }

    #[derive(Serialize)]
    pub(super) struct Env<'a> {
        name: &'a str,
        value: &'a str,
    }

    /// `name` running `image`: two replicas, one container with a port and a variable.
    pub(super) fn deployment<'a>(name: &'a str, image: &'a str) -> Deployment<'a> {
        let labels = || Labels { app: name };
        Deployment {
            api_version: "apps/v1",
            kind: "Deployment",
            metadata: Metadata {
                name: Some(name),
                labels: labels(),
            },
            spec: Spec {
                replicas: 2,
                selector: Selector {
                    match_labels: labels(),
                },
                template: Template {
                    metadata: Metadata {
                        name: None,
                        labels: labels(),
                    },
                    spec: PodSpec {
                        containers: [Container {
                            name: "web",
                            image,
                            ports: [Port { container_port: 80 }],
                            env: [Env {
                                name: "MODE",
                                value: "bench",
                            }],
                        }],
                    },
                },
            },
        }
    }

    #[cfg(test)]
    mod tests {
        use serde_json::json;

        #[test]
        fn the_same_document_as_before() {
            let name = "app-00001";
            let expected = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "labels": {"app": name}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "env": [{"name": "MODE", "value": "bench"}]}]}}}});
            let typed =
                serde_json::to_value(super::deployment(name, "nginx:1.27")).expect("serialisable");
            assert_eq!(typed, expected);
        }
    }
}
