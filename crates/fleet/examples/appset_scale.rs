//! Times the ApplicationSet engine on the seed ApplicationSet at fleet scale and
//! prints JSON: `cargo run --release -p flotilla-fleet --example appset_scale -- 100 50`.
//! (Argo CD's controller cannot run here, so there is no side-by-side reference; the figure
//! to compare with is Argo CD's own reconcile of the same ApplicationSet.)

use std::time::Instant;

use base64::Engine as _;
use flotilla_fleet::ApplicationSet;
use flotilla_fleet::appset::{
    GeneratorContext, MemoryRepos, ReconcileInput, generate_applications, plan_reconcile,
};
use flotilla_fleet::argocd::applicationset::ControllerPolicy;
use flotilla_fleet::cluster::ClusterSecret;
use flotilla_fleet::seed::APPLICATION_SET as SEED;
use serde_json::json;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clusters_n = args.first().copied().unwrap_or(100);
    let apps_n = args.get(1).copied().unwrap_or(50);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let regions = ["eu-west", "us-east", "ap-south"];
    let clusters: Vec<ClusterSecret> = (0..clusters_n)
        .map(|i| {
            let secret = json!({
                "metadata": {"name": format!("c{i}"), "namespace": "argocd", "labels": {
                    "argocd.argoproj.io/secret-type": "cluster", "environment": "production",
                    "region": regions[i % 3]}},
                "data": {"name": b64(&format!("cluster-{i}")), "server": b64(&format!("https://10.0.{}.{}:6443", i / 250, i % 250)), "config": b64("{}")}
            });
            ClusterSecret::from_secret(&secret).expect("secret")
        })
        .collect();
    let mut repos = MemoryRepos::new();
    for a in 0..apps_n {
        repos.insert(
            "https://gitlab.internal/platform/app-registry",
            "HEAD",
            &format!("apps/app-{a}/config.yaml"),
            format!("values:\n  repo: teams/app-{a}\n  branch: main\n  namespace: app-{a}\n"),
        );
    }
    let set = ApplicationSet::from_yaml(SEED).expect("appset");
    let ctx = GeneratorContext {
        repos: &repos,
        cluster_secrets: &clusters,
        new_git_file_globbing: false,
        projects: None,
        pull_requests: None,
        scm_providers: None,
        controller_objects: None,
        plugins: None,
    };
    let start = Instant::now();
    let generated = generate_applications(&set, ctx);
    let generate_s = start.elapsed().as_secs_f64();
    assert!(generated.error.is_none(), "{:?}", generated.error);
    let start = Instant::now();
    let plan = plan_reconcile(ReconcileInput {
        appset: &set,
        generated: &generated,
        existing: &[],
        controller: ControllerPolicy::default(),
        global_preserved: &Default::default(),
        projects: None,
        clusters: &clusters,
    });
    let cold_plan_s = start.elapsed().as_secs_f64();
    let existing = plan.create.clone();
    let start = Instant::now();
    let steady = plan_reconcile(ReconcileInput {
        appset: &set,
        generated: &generated,
        existing: &existing,
        controller: ControllerPolicy::default(),
        global_preserved: &Default::default(),
        projects: None,
        clusters: &clusters,
    });
    let steady_plan_s = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "clusters": clusters_n, "apps": apps_n, "applications": generated.applications.len(),
            "generate_s": generate_s, "cold_plan_s": cold_plan_s, "creates": plan.create.len(),
            "steady_plan_s": steady_plan_s, "steady_unchanged": steady.unchanged.len(),
        })
    );
}
