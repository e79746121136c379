//! ApplicationSet-style rendering: one parsed template, 100,000 parameter sets (clusters ×
//! apps), as a matrix generator produces them. `cargo bench -p flotilla-template` reports
//! the time per render.

use flotilla_template::{Functions, Template, Value};
use serde_json::json;

/// The template fields an ApplicationSet renders per parameter set: metadata.name,
/// source.repoURL, helm.valueFiles and destination (goTemplate, missingkey=error).
const APPSET_TEMPLATE: &str = r#"metadata:
  name: '{{ .cluster.name | normalize }}-{{ .app.name }}'
  labels:
    env: '{{ index .cluster.metadata.labels "env" }}'
spec:
  source:
    repoURL: '{{ .app.repoURL }}'
    targetRevision: '{{ default "HEAD" .app.revision }}'
    path: 'apps/{{ .app.name }}'
    helm:
      valueFiles:
      - 'values.yaml'
      - 'values-{{ index .cluster.metadata.labels "env" }}.yaml'
      - 'clusters/{{ .cluster.name }}.yaml'
  destination:
    server: '{{ .cluster.server }}'
    namespace: '{{ .app.name }}-{{ index .cluster.metadata.labels "env" }}'
"#;

fn params(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let (c, a) = (i / 100, i % 100);
            Value::from(&json!({
                "cluster": {
                    "name": format!("Cluster_{c:04}"),
                    "server": format!("https://10.0.{}.{}:6443", c / 250, c % 250),
                    "metadata": {"labels": {"env": if c % 3 == 0 { "prod" } else { "staging" }}}
                },
                "app": {
                    "name": format!("app-{a:02}"),
                    "repoURL": "https://git.example.com/platform/apps.git",
                    "revision": if a % 2 == 0 { json!("main") } else { json!(null) }
                }
            }))
        })
        .collect()
}

fn template() -> Template {
    Template::new("appset")
        .functions(Functions::argocd())
        .option("missingkey=error")
        .expect("a known option")
        .parse(APPSET_TEMPLATE)
        .expect("the bench template parses")
}

/// Nanoseconds this thread has spent on a CPU (Linux), so that a busy shared machine
/// does not inflate the figure with time spent waiting for a core.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

fn main() {
    // A plain 100,000-render pass first, so the figure the issue asks for is printed as is.
    let t = template();
    let sets = params(100_000);
    let mut out = String::with_capacity(1024);
    let cpu_start = thread_cpu_ns();
    let start = std::time::Instant::now();
    for p in &sets {
        out.clear();
        t.execute_into(p, &mut out).expect("renders");
    }
    let elapsed = start.elapsed();
    let per = |total_s: f64| total_s * 1e6 / 100_000.0;
    println!(
        "appset template: 100000 renders in {:.1} ms wall, {:.2} µs per render",
        elapsed.as_secs_f64() * 1e3,
        per(elapsed.as_secs_f64())
    );
    if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
        println!(
            "appset template: {:.2} µs of CPU time per render",
            per((b - a) as f64 / 1e9)
        );
    }
    divan::main();
}

#[divan::bench(sample_count = 20, sample_size = 1000)]
fn appset_render(bencher: divan::Bencher<'_, '_>) {
    let t = template();
    let sets = params(1_000);
    let mut i = 0;
    let mut out = String::with_capacity(1024);
    bencher.bench_local(|| {
        i = (i + 1) % sets.len();
        out.clear();
        t.execute_into(&sets[i], &mut out).expect("renders");
        out.len()
    });
}
