//! The seed ApplicationSet of issue 9 end to end (generation and the reconcile plan), sync
//! policies, and bad input with Argo CD's wording.

mod support;

use flotilla_fleet::Application;
use flotilla_fleet::appset::{
    ConditionStatus, DEFAULT_MAX_RESOURCES_STATUS_COUNT, Generated, MemoryRepos, Plan,
    ReconcileInput, generate_applications, limit_resource_statuses, plan_reconcile, requeue_after,
    resource_statuses, updated_status,
};
use flotilla_fleet::argocd::applicationset::{
    ApplicationSet, ApplicationsSyncPolicy, ControllerPolicy,
};
use flotilla_fleet::cluster::ClusterSecret;
use flotilla_fleet::seed::APPLICATION_SET as SEED;
use serde_json::{Value, json};
use support::*;

const REGISTRY: &str = "https://gitlab.internal/platform/app-registry";

fn registry(apps: &[&str]) -> MemoryRepos {
    let mut repos = MemoryRepos::new();
    for app in apps {
        repos.insert(
            REGISTRY,
            "HEAD",
            &format!("apps/{app}/config.yaml"),
            format!("values:\n  repo: teams/{app}\n  branch: main\n  namespace: {app}\n"),
        );
    }
    // Files the glob must not pick up.
    repos.insert(REGISTRY, "HEAD", "apps/README.md", "# registry");
    repos.insert(REGISTRY, "HEAD", "apps/web/values.yaml", "ignored: true");
    repos
}

fn fleet() -> Vec<ClusterSecret> {
    vec![
        cluster_secret(
            "prod-eu",
            "https://prod-eu.example:6443",
            &[("environment", "production"), ("region", "eu-west")],
            &[],
            None,
        ),
        cluster_secret(
            "prod-us",
            "https://prod-us.example:6443",
            &[("environment", "production"), ("region", "us-east")],
            &[],
            None,
        ),
        cluster_secret(
            "staging-eu",
            "https://staging-eu.example:6443",
            &[("environment", "staging"), ("region", "eu-west")],
            &[],
            None,
        ),
    ]
}

/// The Application Argo CD creates for one app on one cluster (checked by hand against
/// Argo CD's template rendering: every string rendered, the resources finalizer added, the
/// namespace forced to the ApplicationSet's).
fn expected_app(app: &str, cluster: &str, server: &str, region: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": format!("{app}-{cluster}"),
            "namespace": "argocd",
            "finalizers": ["resources-finalizer.argocd.argoproj.io"]
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": format!("https://gitlab.internal/teams/{app}"),
                "targetRevision": "main",
                "path": "deploy/",
                "helm": {"valueFiles": [format!("values-{region}.yaml")]}
            },
            "destination": {"server": server, "namespace": app},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}
        }
    })
}

fn generate(set: &ApplicationSet, repos: &MemoryRepos, clusters: &[ClusterSecret]) -> Generated {
    let generated = generate_applications(set, ctx(repos, clusters));
    assert_eq!(generated.error, None);
    generated
}

fn plan(
    set: &ApplicationSet,
    generated: &Generated,
    existing: &[Application],
    clusters: &[ClusterSecret],
) -> Plan {
    plan_reconcile(ReconcileInput {
        appset: set,
        generated,
        existing,
        controller: ControllerPolicy::default(),
        global_preserved: &Default::default(),
        projects: Some(&["default".to_string()]),
        clusters,
    })
}

fn names(apps: &[Application]) -> Vec<String> {
    apps.iter().map(|a| a.metadata.name.clone()).collect()
}

#[test]
fn seed_yields_the_applications_argo_cd_would() {
    let set = appset(SEED);
    let generated = generate(&set, &registry(&["web", "api"]), &fleet());
    let got: Vec<Value> = generated
        .applications
        .iter()
        .map(|a| serde_json::to_value(a).unwrap())
        .collect();
    // Matrix order: git files sorted by path, then clusters by name; staging is not selected
    // and, with a selector, there is no in-cluster entry.
    assert_eq!(
        got,
        vec![
            expected_app("api", "prod-eu", "https://prod-eu.example:6443", "eu-west"),
            expected_app("api", "prod-us", "https://prod-us.example:6443", "us-east"),
            expected_app("web", "prod-eu", "https://prod-eu.example:6443", "eu-west"),
            expected_app("web", "prod-us", "https://prod-us.example:6443", "us-east"),
        ]
    );
    let p = plan(&set, &generated, &[], &fleet());
    assert_eq!(
        names(&p.create),
        ["api-prod-eu", "api-prod-us", "web-prod-eu", "web-prod-us"]
    );
    assert!(p.update.is_empty() && p.delete.is_empty());
    assert_eq!(
        p.create[0].metadata.owner_references[0]["kind"],
        "ApplicationSet"
    );
    let up_to_date = p
        .conditions
        .iter()
        .find(|c| c.kind == "ResourcesUpToDate")
        .unwrap();
    assert_eq!(up_to_date.status, ConditionStatus::True);
    assert_eq!(
        up_to_date.message,
        "All applications have been generated successfully"
    );
}

/// Applies a plan to a list of live Applications, as the API server would.
fn apply(live: &mut Vec<Application>, plan: &Plan) {
    live.retain(|a| !plan.delete.iter().any(|d| d.name == a.metadata.name));
    for updated in &plan.update {
        if let Some(slot) = live
            .iter_mut()
            .find(|a| a.metadata.name == updated.metadata.name)
        {
            *slot = updated.clone();
        }
    }
    live.extend(plan.create.iter().cloned());
    live.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
}

#[test]
fn adding_and_removing_apps_and_clusters() {
    let set = appset(SEED);
    let mut clusters = fleet();
    let mut live = Vec::new();
    let first = generate(&set, &registry(&["web"]), &clusters);
    let p0 = plan(&set, &first, &live, &clusters);
    apply(&mut live, &p0);
    assert_eq!(names(&live), ["web-prod-eu", "web-prod-us"]);

    // A second reconcile with nothing changed does nothing.
    let again = plan(&set, &first, &live, &clusters);
    assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty());
    assert_eq!(again.unchanged.len(), 2);

    // A new app in the registry and a new production cluster add Applications.
    clusters.push(cluster_secret(
        "prod-ap",
        "https://prod-ap.example:6443",
        &[("environment", "production"), ("region", "ap-south")],
        &[],
        None,
    ));
    let grown = generate(&set, &registry(&["web", "api"]), &clusters);
    let p = plan(&set, &grown, &live, &clusters);
    assert_eq!(
        names(&p.create),
        ["api-prod-ap", "api-prod-eu", "api-prod-us", "web-prod-ap"]
    );
    assert_eq!(
        p.create[0]
            .spec
            .source
            .as_ref()
            .unwrap()
            .helm
            .as_ref()
            .unwrap()
            .value_files,
        ["values-ap-south.yaml"]
    );
    apply(&mut live, &p);

    // Removing the app from the registry deletes its Applications with their resources.
    let shrunk = generate(&set, &registry(&["web"]), &clusters);
    let p = plan(&set, &shrunk, &live, &clusters);
    let deleted: Vec<(&str, bool)> = p
        .delete
        .iter()
        .map(|d| (d.name.as_str(), d.cascade))
        .collect();
    assert_eq!(
        deleted,
        [
            ("api-prod-ap", true),
            ("api-prod-eu", true),
            ("api-prod-us", true)
        ]
    );
    apply(&mut live, &p);

    // A cluster relabelled to staging loses its Applications (resources deleted: the
    // cluster still exists) ...
    clusters[1] = cluster_secret(
        "prod-us",
        "https://prod-us.example:6443",
        &[("environment", "staging"), ("region", "us-east")],
        &[],
        None,
    );
    let p = plan(
        &set,
        &generate(&set, &registry(&["web"]), &clusters),
        &live,
        &clusters,
    );
    assert_eq!(p.delete.len(), 1);
    assert_eq!(
        (
            p.delete[0].name.as_str(),
            p.delete[0].cascade,
            p.delete[0].strip_resources_finalizer
        ),
        ("web-prod-us", true, false)
    );
    apply(&mut live, &p);

    // ... while a cluster whose Secret is deleted has its Applications deleted without
    // cascading: Argo CD strips the finalizer when the destination no longer exists.
    clusters.retain(|c| c.name != "prod-ap");
    let p = plan(
        &set,
        &generate(&set, &registry(&["web"]), &clusters),
        &live,
        &clusters,
    );
    assert_eq!(p.delete.len(), 1);
    assert_eq!(
        (
            p.delete[0].name.as_str(),
            p.delete[0].cascade,
            p.delete[0].strip_resources_finalizer
        ),
        ("web-prod-ap", false, true)
    );
}

#[test]
fn preserve_resources_on_deletion() {
    let text = SEED.replace(
        "  goTemplate: true\n",
        "  goTemplate: true\n  syncPolicy:\n    preserveResourcesOnDeletion: true\n",
    );
    let set = appset(&text);
    let clusters = fleet();
    let generated = generate(&set, &registry(&["web", "api"]), &clusters);
    assert!(
        generated
            .applications
            .iter()
            .all(|a| a.metadata.finalizers.is_empty())
    );
    let mut live = Vec::new();
    let p0 = plan(&set, &generated, &live, &clusters);
    apply(&mut live, &p0);
    let p = plan(
        &set,
        &generate(&set, &registry(&["web"]), &clusters),
        &live,
        &clusters,
    );
    assert_eq!(p.delete.len(), 2);
    assert!(p.delete.iter().all(|d| !d.cascade), "{:?}", p.delete);
}

#[test]
fn applications_sync_policies() {
    let clusters = fleet();
    for (policy, updates, deletes) in [
        ("create-only", false, false),
        ("create-update", true, false),
        ("create-delete", false, true),
        ("sync", true, true),
    ] {
        let text = SEED.replace(
            "  goTemplate: true\n",
            &format!("  goTemplate: true\n  syncPolicy:\n    applicationsSync: {policy}\n"),
        );
        let set = appset(&text);
        let mut live = Vec::new();
        let p0 = plan(
            &set,
            &generate(&set, &registry(&["web", "api"]), &clusters),
            &live,
            &clusters,
        );
        apply(&mut live, &p0);
        assert_eq!(live.len(), 4, "{policy}");
        // Change every Application (new branch) and drop one app.
        let mut repos = registry(&["web"]);
        repos.insert(
            REGISTRY,
            "HEAD",
            "apps/web/config.yaml",
            "values:\n  repo: teams/web\n  branch: release\n  namespace: web\n",
        );
        let p = plan(&set, &generate(&set, &repos, &clusters), &live, &clusters);
        assert_eq!(!p.update.is_empty(), updates, "{policy}: {p:?}");
        assert_eq!(!p.delete.is_empty(), deletes, "{policy}");
        if updates {
            assert_eq!(
                p.update[0].spec.source.as_ref().unwrap().target_revision,
                "release"
            );
        }
    }
    // A controller started with --policy and without override ignores the ApplicationSet's.
    let text = SEED.replace(
        "  goTemplate: true\n",
        "  goTemplate: true\n  syncPolicy:\n    applicationsSync: sync\n",
    );
    let set = appset(&text);
    let locked = ControllerPolicy {
        policy: ApplicationsSyncPolicy::CreateOnly,
        allow_override: false,
    };
    assert_eq!(
        set.effective_policy(locked),
        ApplicationsSyncPolicy::CreateOnly
    );
    assert_eq!(
        set.effective_policy(ControllerPolicy::default()),
        ApplicationsSyncPolicy::Sync
    );
}

#[test]
fn updates_keep_preserved_annotations_and_finalizers() {
    let set = appset(SEED);
    let clusters = fleet();
    let generated = generate(&set, &registry(&["web"]), &clusters);
    let mut live = Vec::new();
    let p0 = plan(&set, &generated, &live, &clusters);
    apply(&mut live, &p0);
    live[0]
        .metadata
        .annotations
        .insert("argocd.argoproj.io/refresh".into(), "hard".into());
    live[0]
        .metadata
        .annotations
        .insert("team".into(), "edited".into());
    live[0]
        .metadata
        .finalizers
        .push("post-delete-finalizer.argocd.argoproj.io/cleanup".into());
    live[0].spec.destination.namespace = "drifted".into();
    let status = json!({"sync": {"status": "OutOfSync"}, "resources": [{"kind": "Deployment"}]});
    live[0].status = Some(status.clone());
    let p = plan(&set, &generated, &live, &clusters);
    assert_eq!(p.update.len(), 1);
    let updated = &p.update[0];
    assert_eq!(updated.spec.destination.namespace, "web");
    // The update replaces the whole object (no status subresource): the status goes back
    // as it was.
    assert_eq!(updated.status, Some(status));
    assert_eq!(
        updated
            .metadata
            .annotations
            .get("argocd.argoproj.io/refresh")
            .map(String::as_str),
        Some("hard")
    );
    assert!(!updated.metadata.annotations.contains_key("team"));
    assert_eq!(
        updated.metadata.finalizers,
        [
            "resources-finalizer.argocd.argoproj.io",
            "post-delete-finalizer.argocd.argoproj.io/cleanup"
        ]
    );
}

/// The controller's `--preserved-annotations` and `--preserved-labels` keep those keys from
/// every live Application as a set's own `preservedFields` would; other keys still go.
#[test]
fn globally_preserved_fields_are_kept_from_every_live_application() {
    let set = appset(SEED);
    let clusters = fleet();
    let generated = generate(&set, &registry(&["web"]), &clusters);
    let mut live = Vec::new();
    let first = plan(&set, &generated, &live, &clusters);
    apply(&mut live, &first);
    let metadata = &mut live[0].metadata;
    metadata
        .annotations
        .insert("oncall.example.com/pager".into(), "payments".into());
    metadata.annotations.insert("team".into(), "edited".into());
    metadata.labels.insert("cost-center".into(), "42".into());
    metadata.labels.insert("stray".into(), "x".into());
    let global = flotilla_fleet::argocd::applicationset::PreservedFields {
        annotations: vec!["oncall.example.com/pager".into()],
        labels: vec!["cost-center".into()],
    };
    let p = plan_reconcile(ReconcileInput {
        appset: &set,
        generated: &generated,
        existing: &live,
        controller: ControllerPolicy::default(),
        global_preserved: &global,
        projects: Some(&["default".to_string()]),
        clusters: &clusters,
    });
    assert_eq!(p.update.len(), 1, "{p:?}");
    let updated = &p.update[0].metadata;
    assert_eq!(updated.annotations["oncall.example.com/pager"], "payments");
    assert_eq!(updated.labels["cost-center"], "42");
    assert!(!updated.annotations.contains_key("team"));
    assert!(!updated.labels.contains_key("stray"));
    // Without them the keys go.
    let p = plan(&set, &generated, &live, &clusters);
    assert!(
        !p.update[0]
            .metadata
            .annotations
            .contains_key("oncall.example.com/pager")
    );
}

/// The seed ApplicationSet with `rules` (YAML list items) as its ignoreApplicationDifferences.
fn seed_ignoring(rules: &str) -> ApplicationSet {
    appset(&SEED.replace(
        "  goTemplate: true\n",
        &format!("  goTemplate: true\n  ignoreApplicationDifferences:\n{rules}"),
    ))
}

/// `ignoreApplicationDifferences`: a field a team changed on its live Application (here
/// the revision, pinned by hand during an incident) is neither reverted nor, alone, a reason
/// to update; other changes still are, with the ignored field kept as it is live.
#[test]
fn ignored_application_differences_are_kept_from_the_live_application() {
    let set = seed_ignoring(
        "  - jsonPointers:\n    - /spec/source/targetRevision\n  - name: web-prod-eu\n    jqPathExpressions:\n    - .spec.syncPolicy.automated\n",
    );
    let clusters = fleet();
    let generated = generate(&set, &registry(&["web"]), &clusters);
    let mut live = Vec::new();
    let first = plan(&set, &generated, &live, &clusters);
    apply(&mut live, &first);
    for app in &mut live {
        app.spec.source.as_mut().unwrap().target_revision = "hotfix-42".into();
    }
    let p = plan(&set, &generated, &live, &clusters);
    assert!(p.update.is_empty(), "{:?}", names(&p.update));
    assert_eq!(p.unchanged, ["web-prod-eu", "web-prod-us"]);

    // Auto-sync turned off on one Application (its own rule) and the namespace changed by
    // hand on both: both are updated, the revisions and the one automated policy kept.
    for app in &mut live {
        app.spec.destination.namespace = "drifted".into();
        app.spec.sync_policy = None;
    }
    let p = plan(&set, &generated, &live, &clusters);
    assert_eq!(names(&p.update), ["web-prod-eu", "web-prod-us"]);
    for updated in &p.update {
        assert_eq!(updated.spec.destination.namespace, "web");
        assert_eq!(
            updated.spec.source.as_ref().unwrap().target_revision,
            "hotfix-42"
        );
    }
    let automated = |app: &Application| {
        app.spec
            .sync_policy
            .as_ref()
            .and_then(|p| p.automated.as_ref())
            .is_some()
    };
    assert!(!automated(&p.update[0]), "web-prod-eu keeps auto-sync off");
    assert!(automated(&p.update[1]), "web-prod-us gets it back");
}

/// A jq expression that does not compile is refused with an error condition (Argo CD's
/// `BuildIgnoreDiffConfig` fails), and nothing is created or updated.
#[test]
fn an_ignore_rule_whose_jq_does_not_compile_is_an_error() {
    let set = seed_ignoring(
        "  - jqPathExpressions:\n    - '.spec.source.helm.parameters[] | select(.name == \"image.tag\"'\n",
    );
    let clusters = fleet();
    let generated = generate(&set, &registry(&["web"]), &clusters);
    let p = plan(&set, &generated, &[], &clusters);
    assert!(p.create.is_empty() && p.update.is_empty() && p.delete.is_empty());
    let occurred = p
        .conditions
        .iter()
        .find(|c| c.kind == "ErrorOccurred")
        .unwrap();
    assert_eq!(occurred.status, ConditionStatus::True);
    assert_eq!(occurred.reason, "UpdateApplicationError");
    assert!(
        occurred
            .message
            .contains("failed to build ignore diff config: jqPathExpressions \".spec.source.helm.parameters[] | select(.name == \\\"image.tag\\\"\": expected"),
        "{}",
        occurred.message
    );
}

fn error_of(
    set: &ApplicationSet,
    repos: &MemoryRepos,
    clusters: &[ClusterSecret],
) -> (String, String) {
    let generated = generate_applications(set, ctx(repos, clusters));
    let error = generated.error.clone().expect("an error");
    let p = plan(set, &generated, &[], clusters);
    assert!(p.create.is_empty() && p.delete.is_empty());
    let occurred = p
        .conditions
        .iter()
        .find(|c| c.kind == "ErrorOccurred")
        .unwrap();
    assert_eq!(occurred.status, ConditionStatus::True);
    assert_eq!(occurred.message, error.message);
    let params = p
        .conditions
        .iter()
        .find(|c| c.kind == "ParametersGenerated")
        .unwrap();
    assert_eq!(params.status, ConditionStatus::False);
    (error.reason.to_string(), error.message)
}

#[test]
fn unknown_generator_is_reported() {
    let set = appset(&SEED.replace("  - matrix:\n", "  - bogus: {}\n    matrixx:\n"));
    let (reason, message) = error_of(&set, &registry(&["web"]), &fleet());
    assert_eq!(reason, "ApplicationGenerationFromParamsError");
    assert_eq!(
        message,
        "ApplicationSet microservices contains unrecognized generators: bogus, matrixx"
    );
}

#[test]
fn more_than_two_matrix_children() {
    let text = SEED.replace(
        "      - clusters:\n",
        "      - list:\n          elements: [{a: b}]\n      - clusters:\n",
    );
    let (reason, message) = error_of(&appset(&text), &registry(&["web"]), &fleet());
    assert_eq!(reason, "ApplicationGenerationFromParamsError");
    assert_eq!(
        message,
        "found more than two generators, Matrix support only two"
    );
}

#[test]
fn missingkey_error_hits_a_missing_key() {
    let text = SEED
        .replace(
            "  goTemplate: true\n",
            "  goTemplate: true\n  goTemplateOptions: [\"missingkey=error\"]\n",
        )
        .replace("{{.values.branch}}", "{{.values.tag}}");
    let (reason, message) = error_of(&appset(&text), &registry(&["web"]), &fleet());
    assert_eq!(reason, "RenderTemplateParamsError");
    assert_eq!(
        message,
        "failed to execute go template {{.values.tag}}: template: base:1:9: executing \"base\" at <.values.tag>: map has no entry for key \"tag\""
    );
    // Without the option Go prints <no value>.
    let text = SEED.replace("{{.values.branch}}", "{{.values.tag}}");
    let generated = generate(&appset(&text), &registry(&["web"]), &fleet());
    assert_eq!(
        generated.applications[0]
            .spec
            .source
            .as_ref()
            .unwrap()
            .target_revision,
        "<no value>"
    );
}

#[test]
fn invalid_and_duplicate_names() {
    let clusters = fleet();
    // `_` is not allowed in a name: the create fails on the API server, nothing is deleted.
    let set = appset(&SEED.replace(
        "'{{.path.basename}}-{{.name}}'",
        "'{{.path.basename}}_{{.name}}'",
    ));
    let generated = generate(&set, &registry(&["web"]), &clusters);
    let existing = vec![Application::from_yaml(
        "metadata: {name: old, namespace: argocd}\nspec: {source: {repoURL: x}, destination: {server: 'https://prod-eu.example:6443'}}\n",
    ).unwrap()];
    let p = plan(&set, &generated, &existing, &clusters);
    assert!(p.create.is_empty() && p.delete.is_empty());
    let occurred = p
        .conditions
        .iter()
        .find(|c| c.kind == "ErrorOccurred")
        .unwrap();
    assert_eq!(occurred.reason, "UpdateApplicationError");
    assert!(occurred.message.starts_with("Application.argoproj.io \"web_prod-eu\" is invalid: metadata.name: Invalid value: \"web_prod-eu\": a lowercase RFC 1123 subdomain"), "{}", occurred.message);

    // Two parameter sets rendering one name: both copies are skipped, the rest proceeds.
    let set = appset(&SEED.replace("'{{.path.basename}}-{{.name}}'", "'{{.path.basename}}'"));
    let generated = generate(&set, &registry(&["web", "api"]), &clusters);
    let p = plan(&set, &generated, &[], &clusters);
    assert!(p.create.is_empty());
    let occurred = p
        .conditions
        .iter()
        .find(|c| c.kind == "ErrorOccurred")
        .unwrap();
    assert_eq!(occurred.reason, "ApplicationValidationError");
    assert_eq!(
        occurred.message,
        "ApplicationSet microservices contains applications with duplicate name: web (and 1 more)"
    );

    // An unknown project is a validation error too.
    let set = appset(&SEED.replace("project: default", "project: missing"));
    let generated = generate(&set, &registry(&["web"]), &clusters);
    let p = plan(&set, &generated, &[], &clusters);
    assert_eq!(
        p.conditions
            .iter()
            .find(|c| c.kind == "ErrorOccurred")
            .unwrap()
            .message,
        "application references project missing which does not exist (and 1 more)"
    );
}

#[test]
fn legacy_fasttemplate_mode() {
    let text = r#"
metadata: {name: legacy, namespace: argocd}
spec:
  generators:
  - matrix:
      generators:
      - git:
          repoURL: https://gitlab.internal/platform/app-registry
          revision: HEAD
          files: [{path: "apps/*/config.yaml"}]
      - clusters:
          selector: {matchLabels: {environment: production}}
  template:
    metadata:
      name: '{{path.basename}}-{{name}}'
      labels: {'{{path[0]}}': '{{ nameNormalized }}'}
    spec:
      project: default
      source:
        repoURL: https://gitlab.internal/{{values.repo}}
        targetRevision: '{{values.branch}}'
        helm: {valueFiles: ['values-{{metadata.labels.region}}.yaml', '{{unknown}}']}
      destination: {server: '{{server}}', namespace: '{{values.namespace}}'}
"#;
    let set = appset(text);
    let generated = generate(&set, &registry(&["web"]), &fleet());
    let app = &generated.applications[0];
    assert_eq!(app.metadata.name, "web-prod-eu");
    assert_eq!(
        app.metadata.labels.get("apps").map(String::as_str),
        Some("prod-eu")
    );
    let source = app.spec.source.as_ref().unwrap();
    assert_eq!(source.repo_url, "https://gitlab.internal/teams/web");
    assert_eq!(
        source.helm.as_ref().unwrap().value_files,
        ["values-eu-west.yaml", "{{unknown}}"]
    );
}

#[test]
fn template_patch_applies_and_cannot_change_project() {
    let text = SEED.replace(
        "  template:\n",
        "  templatePatch: |\n    spec:\n      project: hijacked\n      source:\n        helm:\n          releaseName: '{{ .path.basename }}'\n    metadata:\n      annotations:\n        region: '{{ .metadata.labels.region }}'\n  template:\n",
    );
    let generated = generate(&appset(&text), &registry(&["web"]), &fleet());
    let app = &generated.applications[0];
    assert_eq!(app.spec.project, "default");
    let helm = app.spec.source.as_ref().unwrap().helm.as_ref().unwrap();
    assert_eq!(helm.release_name, "web");
    assert_eq!(helm.value_files, ["values-eu-west.yaml"]);
    assert_eq!(
        app.metadata.annotations.get("region").map(String::as_str),
        Some("eu-west")
    );

    let bad = SEED.replace(
        "  template:\n",
        "  templatePatch: |\n    spec:\n      syncPolicy: [1]\n  template:\n",
    );
    let (reason, message) = error_of(&appset(&bad), &registry(&["web"]), &fleet());
    assert_eq!(reason, "RenderTemplateParamsError");
    assert!(message.starts_with("invalid templatePatch"), "{message}");
}

#[test]
fn git_generator_needs_the_project() {
    let set = appset(SEED);
    let projects = vec!["other".to_string()];
    let repos = registry(&["web"]);
    let clusters = fleet();
    let mut context = ctx(&repos, &clusters);
    context.projects = Some(&projects);
    let generated = generate_applications(&set, context);
    assert_eq!(
        generated.error.unwrap().message,
        "error failed to get params for first generator in matrix generator: child generator returned an error on parameter generation: error getting project default: appprojects.argoproj.io \"default\" not found"
    );
}

#[test]
fn generators_without_their_inputs_say_so() {
    let set = appset(&SEED.replace(
        "      - clusters:\n",
        "      - plugin: {}\n        clusters:\n",
    ));
    let (_, message) = error_of(&set, &registry(&["web"]), &fleet());
    assert_eq!(
        message,
        "failed to get params for second generator in the matrix generator: child generator returned an error on parameter generation: error getting plugin from generator: no plugin service is configured"
    );
}

#[test]
fn applications_round_trip_unknown_fields() {
    let text = r#"
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd, resourceVersion: "7"}
spec:
  project: default
  sources:
  - repoURL: https://github.com/argoproj/argocd-example-apps
    targetRevision: HEAD
    path: helm-guestbook
    helm:
      valueFiles: [values.yaml, $values/prod.yaml]
      parameters: [{name: image.tag, value: v2, forceString: true}]
      fileParameters: [{name: cfg, path: files/cfg.json}]
      valuesObject: {replicas: 2, nested: {a: [1, 2]}}
      releaseName: gb
      skipCrds: true
      kubeVersion: "1.30"
      apiVersions: [monitoring.coreos.com/v1]
      namespace: gb
      futureHelmField: kept
  - repoURL: https://github.com/org/values
    ref: values
  - repoURL: https://github.com/org/kust
    kustomize: {namePrefix: p-, images: ["nginx=nginx:1.27"], commonLabels: {team: a}}
  - repoURL: https://github.com/org/dir
    directory: {recurse: true, include: '*.yaml', exclude: '{secret.yaml,tmp/*}'}
  destination: {name: prod-eu, namespace: guestbook}
  syncPolicy:
    automated: {prune: true, selfHeal: true, allowEmpty: true}
    syncOptions: [CreateNamespace=true, ServerSideApply=true]
    retry: {limit: 5, backoff: {duration: 5s, factor: 2, maxDuration: 3m}}
    managedNamespaceMetadata: {labels: {a: b}}
  info: [{name: url, value: https://x}]
"#;
    let app = Application::from_yaml(text).unwrap();
    assert_eq!(app.spec.effective_sources().len(), 4);
    let helm = app.spec.sources[0].helm.as_ref().unwrap();
    assert!(helm.skip_crds && helm.parameters[0].force_string);
    assert_eq!(helm.extra["futureHelmField"], "kept");
    assert!(
        app.spec
            .sync_policy
            .as_ref()
            .unwrap()
            .has_option("CreateNamespace=true")
    );
    let original = flotilla_fleet::yaml::parse_first(text).unwrap();
    assert_eq!(serde_json::to_value(&app).unwrap(), original);

    let err = Application::from_yaml("metadata: {name: a}\nspec: {source: {repoURL: x}, destination: {server: s, name: other}}\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.destination: application destination can't have both name and server defined"
    );
    let err = Application::from_yaml(
        "metadata: {name: a}\nspec: {source: {repoURL: x}, destination: {server: 1}}\n",
    )
    .unwrap_err();
    assert_eq!(err.field, "spec.destination.server");
}

#[test]
fn status_conditions_keep_transition_times_and_derive_health() {
    let set = appset(SEED);
    let clusters = fleet();
    let generated = generate(&set, &registry(&["web"]), &clusters);
    let p = plan(&set, &generated, &[], &clusters);
    let previous = json!({"conditions": [
        {"type": "ParametersGenerated", "status": "True", "reason": "ParametersGenerated",
         "message": "Successfully generated parameters for all Applications", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "ErrorOccurred", "status": "True", "reason": "ApplicationValidationError", "message": "old", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "SomethingElse", "status": "True", "reason": "X", "message": "kept", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    ]});
    let (conditions, health) = updated_status(
        Some(&previous),
        &p.conditions,
        false,
        "2026-11-26T16:00:00Z",
    );
    let summary: Vec<(String, String, String)> = conditions
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().into(),
                c["status"].as_str().unwrap().into(),
                c["lastTransitionTime"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "ErrorOccurred".into(),
                "False".into(),
                "2026-11-26T16:00:00Z".into()
            ),
            (
                "ParametersGenerated".into(),
                "True".into(),
                "2026-01-01T00:00:00Z".into()
            ),
            (
                "ResourcesUpToDate".into(),
                "True".into(),
                "2026-11-26T16:00:00Z".into()
            ),
            (
                "SomethingElse".into(),
                "True".into(),
                "2026-01-01T00:00:00Z".into()
            ),
        ]
    );
    assert_eq!(
        health,
        json!({"status": "Healthy", "message": "All applications have been generated successfully"})
    );
}

#[test]
fn unknown_destination_is_a_validation_error() {
    let set = appset(&SEED.replace("server: '{{.server}}'", "server: 'https://gone.example'"));
    let clusters = fleet();
    let generated = generate(&set, &registry(&["web"]), &clusters);
    let p = plan(&set, &generated, &[], &clusters);
    assert!(p.create.is_empty());
    assert_eq!(
        p.conditions
            .iter()
            .find(|c| c.kind == "ErrorOccurred")
            .unwrap()
            .message,
        "application destination spec is invalid: error getting cluster by server \"https://gone.example\": rpc error: code = NotFound desc = cluster \"https://gone.example\" not found (and 1 more)"
    );
}

// matrix_test.go TestMatrixGetRequeueAfter and getMinRequeueAfter: git polls every 3 minutes
// unless requeueAfterSeconds says otherwise; list and clusters do not poll.
#[test]
fn requeue_periods() {
    use std::time::Duration;
    assert_eq!(requeue_after(&appset(SEED)), Some(Duration::from_secs(180)));
    let faster = SEED.replace(
        "          revision: HEAD\n",
        "          revision: HEAD\n          requeueAfterSeconds: 30\n",
    );
    assert_eq!(
        requeue_after(&appset(&faster)),
        Some(Duration::from_secs(30))
    );
    let mut set = shell(false);
    set.spec.generators = vec![json!({"list": {"elements": []}}), json!({"clusters": {}})];
    assert_eq!(requeue_after(&set), None);
}

#[test]
fn status_resources_list_the_owned_applications_by_name_as_argo_cd_3_does() {
    let app = |name: &str, status: Option<Value>| {
        let mut value = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                               "metadata": {"name": name, "namespace": "argocd"},
                               "spec": {"project": "default",
                                        "source": {"repoURL": "https://gitlab.internal/web", "path": "deploy"},
                                        "destination": {"server": "https://kubernetes.default.svc",
                                                        "namespace": "web"}}});
        if let Some(status) = status {
            value["status"] = status;
        }
        Application::from_value(&value).unwrap()
    };
    let synced = app(
        "web-prod",
        Some(json!({"sync": {"status": "Synced"},
                    "health": {"status": "Healthy", "message": "not copied"}})),
    );
    let fresh = app("api-prod", None);
    let entries = resource_statuses(&[&synced, &fresh]);
    // Sorted by name; an Application not yet reconciled has no sync status and an empty
    // health (Go's omitempty on its fields).
    assert_eq!(
        Value::Array(entries),
        json!([
            {"group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
             "namespace": "argocd", "name": "api-prod", "health": {}},
            {"group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
             "namespace": "argocd", "name": "web-prod", "status": "Synced",
             "health": {"status": "Healthy"}},
        ])
    );
    assert!(resource_statuses(&[]).is_empty());
}

/// `TestUpdateResourceStatus`'s "truncates resources status list to" case: two
/// Applications, a limit of one: the first by name is kept, and the count says two.
#[test]
fn resource_statuses_beyond_the_limit_are_cut_and_counted() {
    let app = |name: &str| {
        Application::from_value(&json!({"metadata": {"name": name, "namespace": "argocd"},
            "spec": {"source": {"repoURL": "https://git.example/x", "path": "."},
                     "destination": {"server": "https://kubernetes.default.svc"}},
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}}))
        .unwrap()
    };
    let (app2, app1) = (app("app2"), app("app1"));
    let (kept, count) = limit_resource_statuses(resource_statuses(&[&app2, &app1]), 1);
    assert_eq!(count, 2);
    assert_eq!(
        Value::Array(kept),
        json!([{"group": "argoproj.io", "version": "v1alpha1", "kind": "Application",
                "namespace": "argocd", "name": "app1", "status": "Synced",
                "health": {"status": "Healthy"}}])
    );
    // 0: no limit (`--max-resources-status-count=0`); the default is Argo CD's 5000.
    let (kept, count) = limit_resource_statuses(resource_statuses(&[&app2, &app1]), 0);
    assert_eq!((kept.len(), count), (2, 2));
    assert_eq!(DEFAULT_MAX_RESOURCES_STATUS_COUNT, 5000);
}
