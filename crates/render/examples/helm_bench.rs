//! Benchmark: renders a chart of 20 templates with 2 subcharts 1,000 times in process and
//! prints JSON (per-render time, and the process's peak resident memory). No `helm` binary
//! is on this machine, so the reference figures are the targets from the issue (under 2 ms
//! per render) and Argo CD's per-render fork of `helm template`.
//!
//! ```sh
//! CARGO_TARGET_DIR=/tmp/target-helm cargo run --release -p flotilla-render --example helm_bench
//! ```

use std::time::Instant;

// The allocator of the `flotilla` binary, whose hub and `render helm` run these renders.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use flotilla_render::helm::{self, RenderOptions};
use flotilla_render::kustomize::MemTree;

const HELPERS: &str = r#"{{- define "app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "app.fullname" -}}
{{- printf "%s-%s" .Release.Name (include "app.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "app.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
"#;

fn template(kind: &str, i: usize) -> String {
    format!(
        r#"{{{{- if .Values.components.c{i}.enabled }}}}
apiVersion: v1
kind: {kind}
metadata:
  name: {{{{ include "app.fullname" . }}}}-c{i}
  labels:
    {{{{- include "app.labels" . | nindent 4 }}}}
  annotations:
    checksum/config: {{{{ .Values.components.c{i} | toYaml | sha256sum }}}}
data:
  region: {{{{ .Values.region | quote }}}}
  replicas: {{{{ .Values.components.c{i}.replicas | quote }}}}
  {{{{- range $k, $v := .Values.env }}}}
  {{{{ $k }}}}: {{{{ $v | quote }}}}
  {{{{- end }}}}
  config.yaml: |
    {{{{- toYaml .Values.components.c{i}.config | nindent 4 }}}}
{{{{- end }}}}
"#
    )
}

fn chart() -> MemTree {
    let mut files: Vec<(String, String)> = vec![
        (
            "app/Chart.yaml".into(),
            "apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: \"4.5\"\ndependencies:\n- name: redis\n  version: 1.x\n  condition: redis.enabled\n- name: worker\n  version: 1.x\n".into(),
        ),
        ("app/templates/_helpers.tpl".into(), HELPERS.into()),
    ];
    let mut values = String::from(
        "region: eu-west-1\nenv:\n  LOG_LEVEL: info\n  FEATURE_X: \"true\"\n  TIMEOUT: \"30\"\nredis:\n  enabled: true\nglobal:\n  registry: ghcr.io\ncomponents:\n",
    );
    let kinds = ["ConfigMap", "Secret", "Service", "ServiceAccount"];
    for i in 0..16 {
        files.push((
            format!("app/templates/c{i}.yaml"),
            template(kinds[i % kinds.len()], i),
        ));
        values.push_str(&format!(
            "  c{i}:\n    enabled: true\n    replicas: {}\n    config:\n      port: {}\n      paths: [/a, /b, /c]\n      limits: {{cpu: 100m, memory: 128Mi}}\n",
            i % 3 + 1,
            8000 + i
        ));
    }
    files.push(("app/values.yaml".into(), values));
    for sub in ["redis", "worker"] {
        files.push((
            format!("app/charts/{sub}/Chart.yaml"),
            format!("apiVersion: v2\nname: {sub}\nversion: 1.0.0\n"),
        ));
        files.push((
            format!("app/charts/{sub}/values.yaml"),
            "replicas: 1\nimage: {repository: x, tag: \"1\"}\n".into(),
        ));
        files.push((
            format!("app/charts/{sub}/templates/deployment.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\nspec:\n  replicas: {{ .Values.replicas }}\n  template:\n    spec:\n      containers:\n      - name: main\n        image: \"{{ .Values.global.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}\"\n".into(),
        ));
        files.push((
            format!("app/charts/{sub}/templates/service.yaml"),
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\nspec:\n  ports:\n  - port: 80\n".into(),
        ));
    }
    MemTree::from_files(files)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    const RUNS: usize = 1000;
    let tree = chart();
    let opts = RenderOptions::default();
    let first = helm::render(&tree, "app", &opts).expect("the benchmark chart renders");
    let objects = first.objects().len();
    let rss_before = peak_rss_kib();

    // Full path, as the sync engine calls it: load from the tree, render, sort, print.
    let mut full = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = helm::render(&tree, "app", &opts).expect("renders");
        std::hint::black_box(out);
        full.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // Render only, the chart already loaded (a cache keyed by git tree id).
    let loaded = helm::load(&tree, "app").expect("loads");
    let mut render_only = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = helm::render_chart(loaded.clone(), &opts).expect("renders");
        std::hint::black_box(out);
        render_only.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // Loading only (Chart.yaml, values.yaml, templates, subcharts from the tree).
    let mut load_only = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        std::hint::black_box(helm::load(&tree, "app").expect("loads"));
        load_only.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for v in [&mut full, &mut render_only, &mut load_only] {
        v.sort_by(|a, b| a.total_cmp(b));
    }
    let stats = |v: &[f64]| {
        serde_json::json!({
            "min": v[0],
            "p50": percentile(v, 0.5),
            "mean": v.iter().sum::<f64>() / v.len() as f64,
            "p99": percentile(v, 0.99),
        })
    };
    let report = serde_json::json!({
        "benchmark": "helm_render",
        "chart": {"templates": 20, "subcharts": 2, "objects": objects, "output_bytes": first.text.len()},
        "runs": RUNS,
        "load_and_render_ms": stats(&full),
        "render_only_ms": stats(&render_only),
        "load_only_ms": stats(&load_only),
        "load_average_1m": std::fs::read_to_string("/proc/loadavg").ok().and_then(|l| l.split_whitespace().next().map(str::to_string)),
        "peak_rss_kib": {"after_first_render": rss_before, "after_all_runs": peak_rss_kib()},
        "reference": {"target_ms_per_render": 2.0, "helm_binary": "not installed; Argo CD forks `helm template` per render"}
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("serializes")
    );
}
