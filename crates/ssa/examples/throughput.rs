//! Applies per second for a Deployment through the managedFields layer, single
//! threaded: `cargo run --release -p flotilla-ssa --example throughput`.
//!
//! Three loads: the same configuration again (the GitOps steady state), a changing
//! image and replica count, and a controller update between forced applies.

use std::time::Instant;

use flotilla_ssa::{FieldSet, OpenApiType, Resource, apply, update};
use serde_json::{Value, json};

const NOW: &str = "2024-05-01T10:00:00Z";

fn deployment(image: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default",
            "labels": {"app": "web", "team": "a"}, "annotations": {"x": "y"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"a": "b"}},
                "spec": {
                    "serviceAccountName": "web",
                    "containers": [
                        {"name": "web", "image": image,
                         "ports": [{"containerPort": 80, "name": "http"}],
                         "resources": {"limits": {"cpu": 1, "memory": "128Mi"}},
                         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                         "readinessProbe": {"httpGet": {"path": "/", "port": 80}}},
                        {"name": "sidecar", "image": "envoy:1", "args": ["--x"]}
                    ],
                    "volumes": [{"name": "v", "emptyDir": {}}]
                }
            }
        }
    })
}

fn report(name: &str, n: u32, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!("{name:>28}: {:>8.0} ops/s", f64::from(n) / secs);
}

fn main() -> Result<(), flotilla_ssa::Error> {
    let Some(kind) = flotilla_schema::builtin().kind("apps", "v1", "Deployment") else {
        eprintln!("no built-in Deployment schema");
        return Ok(());
    };
    let none = FieldSet::new();
    let res = Resource {
        schema: OpenApiType::resource(kind),
        api_version: "apps/v1",
        subresource: "",
        reset_fields: &none,
        empty: None,
    };
    let n = std::env::var("SSA_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let config = deployment("nginx:1", 2);
    let mut live = apply(&res, None, &config, "kubectl", false, NOW)?.object;

    let started = Instant::now();
    for _ in 0..n {
        live = apply(&res, Some(&live), &config, "kubectl", false, NOW)?.object;
    }
    report("same configuration", n, started);

    let configs: Vec<Value> = (0..16)
        .map(|i| deployment(&format!("nginx:{i}"), 2 + i % 3))
        .collect();
    let started = Instant::now();
    for i in 0..n as usize {
        live = apply(
            &res,
            Some(&live),
            &configs[i % configs.len()],
            "kubectl",
            false,
            NOW,
        )?
        .object;
    }
    report("changing configuration", n, started);

    let started = Instant::now();
    for i in 0..n / 2 {
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = json!(i % 7);
        live = update(&res, Some(&live), scaled, "hpa", NOW);
        live = apply(&res, Some(&live), &config, "kubectl", true, NOW)?.object;
    }
    report("update + forced apply", n, started);
    Ok(())
}
