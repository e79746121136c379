//! The seed ApplicationSet: the manifest a platform team writes for Argo CD to deploy every
//! app of a registry to every production cluster, with the region's values. `flotilla
//! demo` applies it unchanged (URLs rewritten to local repositories), and the tests use it
//! as the reference input.

/// The seed ApplicationSet, as Argo CD users write it.
pub const APPLICATION_SET: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: microservices
  namespace: argocd
spec:
  goTemplate: true
  generators:
  - matrix:
      generators:
      - git:
          repoURL: https://gitlab.internal/platform/app-registry
          revision: HEAD
          files:
          - path: "apps/*/config.yaml"
      - clusters:
          selector:
            matchLabels:
              environment: production
  template:
    metadata:
      name: '{{.path.basename}}-{{.name}}'
    spec:
      project: default
      source:
        repoURL: https://gitlab.internal/{{.values.repo}}
        targetRevision: '{{.values.branch}}'
        path: deploy/
        helm:
          valueFiles:
          - values-{{.metadata.labels.region}}.yaml
      destination:
        server: '{{.server}}'
        namespace: '{{.values.namespace}}'
      syncPolicy:
        automated:
          prune: true
          selfHeal: true
"#;
