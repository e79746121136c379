//! The Git repositories `flotilla demo` serves: an app registry, one repository per app
//! with a Helm chart in `deploy/` and a values file per region, the platform
//! configuration with the Flux tenants, and the payments team's repository. Pure data:
//! each repository is a list of (path, contents).

use std::fmt::Write as _;

/// The regions clusters are spread over, and the values file each one selects.
pub(crate) const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-southeast-1"];

/// The host the seed manifests name; the demo rewrites it to its own Git server.
pub(crate) const SEED_GIT_BASE: &str = "https://gitlab.internal/";

/// One Git repository: its path on the server (`platform/app-registry`) and its files.
pub(crate) struct Repository {
    pub(crate) path: String,
    pub(crate) files: Vec<(String, String)>,
}

/// The name of app number `i`.
pub(crate) fn app_name(i: usize) -> String {
    format!("app-{i:02}")
}

/// Every repository of a demo with `apps` applications.
pub(crate) fn repositories(apps: usize) -> Vec<Repository> {
    let mut repos = vec![app_registry(apps), platform_config(), team_payments()];
    repos.extend((0..apps).map(|i| app_repository(&app_name(i))));
    repos
}

/// `platform/app-registry`: `apps/<app>/config.yaml`, read by the ApplicationSet's git
/// files generator; `values` feeds the template (`{{.values.repo}}` …).
fn app_registry(apps: usize) -> Repository {
    let files = (0..apps)
        .map(|i| {
            let app = app_name(i);
            (
                format!("apps/{app}/config.yaml"),
                format!("values:\n  repo: platform/{app}\n  branch: main\n  namespace: {app}\n"),
            )
        })
        .collect();
    Repository {
        path: "platform/app-registry".into(),
        files,
    }
}

/// `platform/<app>`: a Helm chart in `deploy/` with a values file per region.
fn app_repository(app: &str) -> Repository {
    let mut files = vec![
        (
            "deploy/Chart.yaml".to_string(),
            format!(
                "apiVersion: v2\nname: {app}\ndescription: A demo service\ntype: application\nversion: 0.1.0\nappVersion: \"1.0.0\"\n"
            ),
        ),
        (
            "deploy/values.yaml".to_string(),
            "replicaCount: 1\nimage:\n  repository: registry.local/demo/web\n  tag: \"1.0.0\"\nregion: unset\nservice:\n  port: 80\nresources: {}\n".to_string(),
        ),
        ("deploy/templates/_helpers.tpl".to_string(), HELPERS_TPL.to_string()),
        ("deploy/templates/deployment.yaml".to_string(), DEPLOYMENT_TPL.to_string()),
        ("deploy/templates/service.yaml".to_string(), SERVICE_TPL.to_string()),
        ("deploy/templates/configmap.yaml".to_string(), CONFIGMAP_TPL.to_string()),
    ];
    for (i, region) in REGIONS.iter().enumerate() {
        let mut values = String::new();
        let _ = writeln!(values, "region: {region}");
        let _ = writeln!(values, "replicaCount: {}", 1 + i % 2);
        files.push((format!("deploy/values-{region}.yaml"), values));
    }
    Repository {
        path: format!("platform/{app}"),
        files,
    }
}

const HELPERS_TPL: &str = r#"{{- define "app.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "app.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
"#;

const DEPLOYMENT_TPL: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    spec:
      containers:
      - name: web
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        ports:
        - containerPort: 8080
        env:
        - name: REGION
          value: {{ .Values.region | quote }}
        {{- with .Values.resources }}
        resources:
          {{- toYaml . | nindent 10 }}
        {{- end }}
"#;

const SERVICE_TPL: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  selector:
    app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
  - port: {{ .Values.service.port }}
    targetPort: 8080
"#;

const CONFIGMAP_TPL: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "app.fullname" . }}-config
  labels:
    {{- include "app.labels" . | nindent 4 }}
data:
  region: {{ .Values.region | quote }}
  replicas: {{ .Values.replicaCount | quote }}
"#;

/// `platform/platform-config`: `tenants/`, one file per team — its namespace, the
/// ServiceAccount its Kustomization runs as (admin in its own namespace only), its
/// GitRepository and Kustomization.
fn platform_config() -> Repository {
    Repository {
        path: "platform/platform-config".into(),
        files: vec![(
            "tenants/team-payments.yaml".into(),
            TEAM_PAYMENTS_TENANT.into(),
        )],
    }
}

const TEAM_PAYMENTS_TENANT: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: team-payments
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: team-payments-sa
  namespace: team-payments
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: team-payments-admin
  namespace: team-payments
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: admin
subjects:
- kind: ServiceAccount
  name: team-payments-sa
  namespace: team-payments
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: team-payments-repo
  namespace: team-payments
spec:
  interval: 1m
  url: https://gitlab.internal/team-payments/deploy
  ref:
    branch: main
---
# lives in ./tenants of platform-config, one per team
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: team-payments
  namespace: team-payments
spec:
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: team-payments-repo
  path: ./deploy
  prune: true
  serviceAccountName: team-payments-sa
  targetNamespace: team-payments
"#;

/// `team-payments/deploy`: the team's own manifests, applied as its ServiceAccount.
fn team_payments() -> Repository {
    Repository {
        path: "team-payments/deploy".into(),
        files: vec![
            ("deploy/deployment.yaml".into(), PAYMENTS_DEPLOYMENT.into()),
            ("deploy/service.yaml".into(), PAYMENTS_SERVICE.into()),
        ],
    }
}

const PAYMENTS_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: payments-api
spec:
  replicas: 2
  selector:
    matchLabels:
      app: payments-api
  template:
    metadata:
      labels:
        app: payments-api
    spec:
      serviceAccountName: default
      containers:
      - name: api
        image: registry.local/payments/api:2.3.1
        ports:
        - containerPort: 8443
"#;

const PAYMENTS_SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: payments-api
spec:
  selector:
    app: payments-api
  ports:
  - port: 443
    targetPort: 8443
"#;

/// The seed manifests, unchanged: the ApplicationSet ([`flotilla_fleet::seed`]) and the
/// Flux `tenants` Kustomization, plus the GitRepository `platform-config` it names.
pub(crate) fn seed_manifests() -> String {
    format!("{}---\n{SEED_FLUX}", flotilla_fleet::seed::APPLICATION_SET)
}

/// The Flux half of the seed manifests.
const SEED_FLUX: &str = r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: platform-config
  namespace: flux-system
spec:
  interval: 1m
  url: https://gitlab.internal/platform/platform-config
  ref:
    branch: main
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: tenants
  namespace: flux-system
spec:
  interval: 10m
  sourceRef:
    kind: GitRepository
    name: platform-config
  path: ./tenants
  prune: true
"#;

/// The cluster's labels: three in four clusters are production, regions round-robin
/// (so every region has both environments).
pub(crate) fn cluster_labels(index: usize) -> [(&'static str, String); 2] {
    let environment = if index % 4 == 3 {
        "staging"
    } else {
        "production"
    };
    [
        ("environment", environment.to_string()),
        ("region", REGIONS[index % REGIONS.len()].to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_app_has_a_chart_and_a_values_file_per_region() {
        let repos = repositories(3);
        assert_eq!(repos.len(), 6);
        let app = repos.iter().find(|r| r.path == "platform/app-01").unwrap();
        for region in REGIONS {
            let file = format!("deploy/values-{region}.yaml");
            assert!(app.files.iter().any(|(p, _)| *p == file), "{file}");
        }
        let registry = &repos[0];
        assert_eq!(registry.files[1].0, "apps/app-01/config.yaml");
        assert!(registry.files[1].1.contains("repo: platform/app-01"));
    }

    #[test]
    fn clusters_cover_both_environments_and_all_regions() {
        let labels: Vec<_> = (0..12).map(cluster_labels).collect();
        for region in REGIONS {
            for environment in ["production", "staging"] {
                assert!(
                    labels
                        .iter()
                        .any(|l| l[0].1 == environment && l[1].1 == region),
                    "{environment} in {region}"
                );
            }
        }
    }
}
