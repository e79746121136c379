//! Benchmark: sync N objects (default 1,000) into an empty kubesim cluster with Flotilla,
//! and `kubectl apply --server-side -f DIR` of the same files into another, side by side
//! in one run; then both again with nothing to change. Prints JSON.
//!
//! `cargo run --release -p flotilla-sync --example bench_sync [-- OBJECTS [KUBECTL]]`
//! (KUBECTL defaults to /usr/lib/google-cloud-sdk/bin/kubectl.1.32).

use std::path::Path;
use std::time::Instant;

use flotilla_sync::{AppId, Cluster, Inventory, OperationPhase, SyncOptions, sync};
use kube::{Client, Config};
use kubesim::{Fleet, FleetConfig, Server};
use serde_json::{Value, json};

fn objects(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| match i % 10 {
            0 => json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": format!("svc-{i}")},
                "spec": {"selector": {"app": format!("app-{i}")}, "ports": [{"port": 80, "targetPort": 8080}]}}),
            1 => json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("secret-{i}")},
                "stringData": {"password": format!("pw-{i}")}}),
            2 if i % 20 == 2 => json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": format!("web-{i}"), "labels": {"app": format!("web-{i}")}},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": format!("web-{i}")}},
                    "template": {"metadata": {"labels": {"app": format!("web-{i}")}},
                        "spec": {"containers": [{"name": "web", "image": "nginx:1.25",
                            "ports": [{"containerPort": 8080}]}]}}}}),
            _ => json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i}"),
                "labels": {"tier": "bench"}}, "data": {"index": i.to_string(), "payload": "x".repeat(200)}}),
        })
        .collect()
}

fn kubectl(bin: &str, kubeconfig: &Path, home: &Path, dir: &Path) -> f64 {
    let start = Instant::now();
    let out = std::process::Command::new(bin)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .args(["--context", "kubectl", "--cache-dir"])
        .arg(home.join("cache"))
        .args(["apply", "--server-side", "-n", "default", "-f"])
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map(|a| a.parse().expect("OBJECTS"))
        .unwrap_or(1000);
    let bin = args
        .next()
        .unwrap_or_else(|| "/usr/lib/google-cloud-sdk/bin/kubectl.1.32".into());
    let names = vec!["kubectl".to_string(), "flotilla".to_string()];
    let server = Server::start(
        Fleet::new(&names, FleetConfig::default()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("kubesim");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let desired = objects(n);
    for (i, o) in desired.iter().enumerate() {
        std::fs::write(
            manifests.join(format!("{i:05}.yaml")),
            serde_saphyr::to_string(o).unwrap(),
        )
        .unwrap();
    }
    let home = dir.path().join("home");

    let (kubeconfig2, home2, manifests2, bin2) = (
        kubeconfig.clone(),
        home.clone(),
        manifests.clone(),
        bin.clone(),
    );
    let kubectl_create =
        tokio::task::spawn_blocking(move || kubectl(&bin2, &kubeconfig2, &home2, &manifests2))
            .await
            .unwrap();

    let url = server.cluster_url("flotilla").parse().unwrap();
    let app = AppId::new("bench", "bench");
    let opts = SyncOptions::default();
    let start = Instant::now();
    let cluster = Cluster::new(Client::try_from(Config::new(url)).unwrap());
    let report = sync(
        &cluster,
        &app,
        desired.clone(),
        &opts,
        Some(&Inventory::default()),
        &|_| {},
    )
    .await
    .expect("sync");
    let flotilla_create = start.elapsed().as_secs_f64();
    assert_eq!(
        report.phase,
        OperationPhase::Succeeded,
        "{}",
        report.message
    );

    let (kubeconfig2, home2, manifests2, bin2) = (
        kubeconfig.clone(),
        home.clone(),
        manifests.clone(),
        bin.clone(),
    );
    let kubectl_noop =
        tokio::task::spawn_blocking(move || kubectl(&bin2, &kubeconfig2, &home2, &manifests2))
            .await
            .unwrap();
    let start = Instant::now();
    let again = sync(
        &cluster,
        &app,
        desired,
        &opts,
        Some(&report.inventory),
        &|_| {},
    )
    .await
    .expect("sync");
    let flotilla_noop = start.elapsed().as_secs_f64();
    assert_eq!(again.phase, OperationPhase::Succeeded);

    let result = json!({
        "benchmark": "sync",
        "objects": n,
        "kubectl": bin,
        "create": {"kubectl_s": kubectl_create, "flotilla_s": flotilla_create,
            "ratio": flotilla_create / kubectl_create},
        "resync_unchanged": {"kubectl_s": kubectl_noop, "flotilla_s": flotilla_noop,
            "ratio": flotilla_noop / kubectl_noop},
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
}
