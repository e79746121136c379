//! Times `serde_saphyr::from_str::<Value>` against `yaml_fast::parse` on a realistic
//! `helm template` output (ConfigMap, Service, Deployment) and prints one JSON line.
//!
//! `cargo run --release -p flotilla-render --example bench_yaml_fast [iterations]`

use std::hint::black_box;
use std::time::Instant;

use flotilla_render::yaml_fast;
use serde_json::Value;

const LABELS: &str = r#"    helm.sh/chart: web-0.1.0
    app.kubernetes.io/name: web
    app.kubernetes.io/instance: release-name
    app.kubernetes.io/version: "1.16.0"
    app.kubernetes.io/managed-by: Helm
"#;

fn documents() -> Vec<String> {
    let config_map = format!(
        r#"# Source: web/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: release-name-web
  labels:
{LABELS}data:
  LOG_LEVEL: "info"
  FEATURE_FLAGS: "alpha,beta"
  nginx.conf: "server {{ listen 8080; }}\n"
"#
    );
    let service = format!(
        r#"# Source: web/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: release-name-web
  labels:
{LABELS}spec:
  type: ClusterIP
  ports:
    - port: 80
      targetPort: http
      protocol: TCP
      name: http
  selector:
    app.kubernetes.io/name: web
    app.kubernetes.io/instance: release-name
"#
    );
    let deployment = format!(
        r#"# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: release-name-web
  labels:
{LABELS}spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: web
      app.kubernetes.io/instance: release-name
  template:
    metadata:
      annotations:
        checksum/config: 3f1c2a9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f
      labels:
        app.kubernetes.io/name: web
        app.kubernetes.io/instance: release-name
    spec:
      serviceAccountName: release-name-web
      securityContext:
        {{}}
      containers:
        - name: web
          securityContext:
            {{}}
          image: "nginx:1.16.0"
          imagePullPolicy: IfNotPresent
          args:
            - --port=8080
            - --log-level=info
          env:
            - name: POD_IP
              valueFrom:
                fieldRef:
                  fieldPath: status.podIP
            - name: LOG_LEVEL
              value: "info"
            - name: WORKERS
              value: "4"
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            initialDelaySeconds: 10
          readinessProbe:
            httpGet:
              path: /ready
              port: http
          resources:
            {{}}
          volumeMounts:
            - name: config
              mountPath: /etc/nginx/conf.d
              readOnly: true
      volumes:
        - name: config
          configMap:
            name: release-name-web
      nodeSelector: {{}}
      tolerations: []
"#
    );
    vec![config_map, service, deployment]
}

/// Microseconds per document over `iterations` passes.
fn time(docs: &[String], iterations: usize, parse: impl Fn(&str) -> Value) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        for doc in docs {
            black_box(parse(black_box(doc)));
        }
    }
    start.elapsed().as_secs_f64() * 1e6 / (iterations * docs.len()) as f64
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("iterations: a number"))
        .unwrap_or(5_000);
    let docs = documents();
    for doc in &docs {
        let slow: Value = serde_saphyr::from_str(doc).expect("valid YAML");
        assert_eq!(
            yaml_fast::parse(doc).as_ref(),
            Some(&slow),
            "the fast path must take and agree on:\n{doc}"
        );
    }
    let saphyr = time(&docs, iterations, |d| serde_saphyr::from_str(d).unwrap());
    let fast = time(&docs, iterations, |d| yaml_fast::parse(d).unwrap());
    println!(
        "{{\"docs\":{},\"saphyr_us_per_doc\":{saphyr:.2},\"fast_us_per_doc\":{fast:.2},\"ratio\":{:.1}}}",
        docs.len(),
        saphyr / fast
    );
}
