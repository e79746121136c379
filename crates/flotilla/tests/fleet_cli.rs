//! `flotilla demo` and `flotilla bench fleet` as a user runs them: whole processes, the
//! hub reconciling simulated clusters from local Git repositories.

use std::process::Command;

use serde_json::Value;

#[test]
fn the_demo_converges_a_small_fleet_and_leaves_its_kubeconfigs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "demo",
            "--clusters",
            "4",
            "--apps",
            "2",
            "--exit-when-converged",
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Clusters 0, 1 and 2 are production (every fourth is staging): 3 × 2 Applications.
    let total = stdout
        .lines()
        .find(|l| l.starts_with("total"))
        .unwrap_or_else(|| panic!("no total line in\n{stdout}"));
    let figures: Vec<&str> = total.split_whitespace().skip(1).collect();
    assert_eq!(figures, ["6", "6", "6"], "{stdout}");
    assert!(data.join("hub.kubeconfig").is_file());
    let clusters: Value =
        serde_json::from_slice(&std::fs::read(data.join("clusters.kubeconfig")).unwrap()).unwrap();
    let contexts: Vec<&str> = clusters["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        contexts,
        ["cluster-000", "cluster-001", "cluster-002", "cluster-003"]
    );
}

#[test]
fn the_fleet_benchmark_reports_every_figure() {
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "bench",
            "fleet",
            "--clusters",
            "4",
            "--apps",
            "2",
            "--drift",
            "2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["clusters"], 4);
    assert_eq!(report["apps"], 2);
    assert_eq!(report["applications"], 6);
    // Each app's chart renders a Deployment, a Service and a ConfigMap.
    assert_eq!(report["objects"], 18);
    assert_eq!(report["drift_clusters"], 2);
    let figure = |key: &str| {
        report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing in {report}"))
    };
    for key in [
        "cold_start_s",
        "commit_to_converged_s",
        "drift_detect_s",
        "drift_heal_s",
        "hub_cpu_s",
        "hub_peak_rss_mib",
        "floor_s",
        "overhead_ratio",
        "appset_resync_s",
        "hub_writes_s",
    ] {
        assert!(figure(key) > 0.0, "{key} = {} in {report}", figure(key));
    }
    // A drift is healed only after it was seen.
    assert!(
        figure("drift_detect_s") <= figure("drift_heal_s"),
        "{report}"
    );
    // The ratio is computed before the figures are rounded to milliseconds; a floor of a
    // few tens of milliseconds makes the rounded quotient differ by a few percent.
    let ratio = figure("cold_start_s") / figure("floor_s");
    assert!(
        (ratio - figure("overhead_ratio")).abs() <= 0.05 * ratio,
        "{report}"
    );
    let bound = (figure("floor_s") + figure("hub_writes_s")) / figure("floor_s");
    assert!(
        (bound - figure("write_bound_ratio")).abs() <= 0.05 * bound,
        "{report}"
    );
}

/// A child process killed when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of each sample of a Prometheus instant query, or `None` before the server
/// answers.
fn query(port: u16, promql: &str) -> Option<Vec<f64>> {
    use std::io::{Read as _, Write as _};
    let encoded: String = promql
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET /api/v1/query?query={encoded} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let body: Value = serde_json::from_str(answer.split_once("\r\n\r\n")?.1).ok()?;
    assert_eq!(body["status"], "success", "{promql}: {body}");
    body["data"]["result"]
        .as_array()?
        .iter()
        .map(|sample| sample["value"][1].as_str()?.parse().ok())
        .collect()
}

/// The demo's `/metrics` scraped by a real Prometheus (the Debian package's): the page
/// parses (the target is up), and Argo CD's and Flux's own series arrive with what the
/// fleet did — every Application synced and healthy in `argocd_app_info`, their syncs
/// in `argocd_app_sync_total`, both seed Kustomizations timed, both destination clusters
/// known and connected in `argocd_cluster_*`.
#[test]
fn a_real_prometheus_scrapes_the_hubs_metrics() {
    use std::io::BufRead as _;
    let prometheus = std::path::Path::new("/usr/bin/prometheus");
    assert!(
        prometheus.is_file(),
        "{} is missing: ./scripts/test installs the prometheus package",
        prometheus.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["demo", "--clusters", "2", "--apps", "1", "--metrics-addr"])
        .arg(format!("127.0.0.1:{metrics_port}"))
        .arg("--data-dir")
        .arg(dir.path().join("demo"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let _demo = Killed(demo);
    let (converged, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if line.is_ok_and(|l| l.starts_with("The fleet keeps running")) {
                let _ = converged.send(());
            }
        }
    });
    wait.recv_timeout(std::time::Duration::from_secs(180))
        .expect("the demo converges");

    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: flotilla\n  static_configs:\n  - targets: ['127.0.0.1:{metrics_port}']\n"
        ),
    )
    .unwrap();
    let prometheus_port = free_port();
    let _prometheus = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Clusters 0 and 1 are production: one Application each.
    let expectations = [
        ("up{job=\"flotilla\"}", 1.0),
        (
            "count(argocd_app_info{sync_status=\"Synced\",health_status=\"Healthy\",autosync_enabled=\"true\"})",
            2.0,
        ),
        (
            "sum(argocd_app_sync_total{phase=\"Succeeded\",dry_run=\"false\"})",
            2.0,
        ),
        (
            "count(gotk_reconcile_duration_seconds_count{kind=\"Kustomization\"})",
            2.0,
        ),
        (
            "sum(flotilla_applications{sync=\"Synced\",health=\"Healthy\"})",
            2.0,
        ),
        // Both destinations, their version asked, connected, three kinds watched on each
        // (the chart's Deployment, Service and ConfigMap).
        (
            "count(argocd_cluster_info{k8s_version=~\"v1[.][0-9]+[.][0-9]+\"})",
            2.0,
        ),
        ("sum(argocd_cluster_connection_status)", 2.0),
        ("sum(argocd_cluster_api_resources)", 6.0),
        ("count(argocd_app_sync_duration_seconds_total)", 2.0),
        // The seed ApplicationSet, up to date, owning both Applications, reconciled.
        (
            "sum(argocd_appset_info{namespace=\"argocd\",name=\"microservices\",resource_update_status=\"ApplicationSetUpToDate\"})",
            1.0,
        ),
        (
            "sum(argocd_appset_owned_applications{name=\"microservices\"})",
            2.0,
        ),
        (
            "count(argocd_appset_reconcile_count{name=\"microservices\"} > 0)",
            1.0,
        ),
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let last: Vec<Option<Vec<f64>>> = expectations
            .iter()
            .map(|(promql, _)| query(prometheus_port, promql))
            .collect();
        let met = last
            .iter()
            .zip(&expectations)
            .all(|(got, (_, want))| got.as_deref() == Some(&[*want][..]));
        if met {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus answered {last:?} for {expectations:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// `flotilla controller` takes what the hub's `argocd-cmd-params-cm` sets, as Argo CD's
/// install hands those keys to its controllers, for the flags not given otherwise; a
/// value a flag refuses stops it, naming the ConfigMap.
#[test]
fn the_controller_reads_argocd_cmd_params_cm() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let kubeconfig = dir.path().join("hub.kubeconfig");
    let (_server, hub) = runtime.block_on(async {
        let fleet = kubesim::Fleet::new(&["hub".to_string()], kubesim::FleetConfig::default());
        let server = kubesim::Server::start_tls(fleet, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        server.write_kubeconfig(&kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
            &kube::config::KubeConfigOptions {
                context: Some("hub".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        (server, kube::Client::try_from(config).unwrap())
    });
    let set_params = |data: Value| {
        runtime.block_on(async {
            use kube::api::{Api, Patch, PatchParams, PostParams};
            let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(hub.clone());
            let argocd =
                serde_json::from_value(serde_json::json!({"metadata": {"name": "argocd"}}))
                    .unwrap();
            let _ = namespaces.create(&PostParams::default(), &argocd).await;
            let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
                Api::namespaced(hub.clone(), "argocd");
            let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "argocd-cmd-params-cm", "namespace": "argocd"}, "data": data});
            config_maps
                .patch(
                    "argocd-cmd-params-cm",
                    &PatchParams::apply("test").force(),
                    &Patch::Apply(cm),
                )
                .await
                .unwrap();
        })
    };
    let controller = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_flotilla"))
            .arg("controller")
            .arg("--hub-kubeconfig")
            .arg(&kubeconfig)
            .args(["--context", "hub", "--metrics-addr"])
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };

    set_params(serde_json::json!({
        "applicationsetcontroller.policy": "create-only",
        "controller.metrics.cluster.labels": "env",
        "controller.sync.wave.delay.seconds": "9",
    }));
    let mut child = controller(&["--sync-wave-delay", "1"]);
    let stderr = child.stderr.take().unwrap();
    let _child = Killed(child);
    let (found, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let line = std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("settings from argocd-cmd-params-cm"));
        let _ = found.send(line);
    });
    let applied = said
        .recv_timeout(std::time::Duration::from_secs(30))
        .ok()
        .flatten()
        .expect("the controller says what it took");
    assert!(applied.contains("--policy=create-only"), "{applied}");
    assert!(
        applied.contains("--metrics-cluster-labels=env"),
        "{applied}"
    );
    assert!(
        !applied.contains("--sync-wave-delay"),
        "the command line wins: {applied}"
    );

    set_params(serde_json::json!({"applicationsetcontroller.enable.scm.providers": "maybe"}));
    let out = controller(&[]).wait_with_output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("argocd-cmd-params-cm") && stderr.contains("--enable-scm-providers"),
        "{stderr}"
    );
}
