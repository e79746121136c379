//! The Flux controllers end to end against kubesim (TLS, RBAC, impersonation): the seed
//! `tenants` example of issue 9 with its repositories behind URL rewriting, a tenant
//! applied as its service account, a cluster-scoped escalation refused as Forbidden
//! without touching anything outside the tenant, a cross-namespace source refused, prune
//! after a file leaves Git; postBuild substitution, dependsOn and suspend.

mod support;

use std::path::Path;
use std::time::Duration;

use flotilla_hub::flux::{git_repository_resource, kustomization_resource};
use flotilla_source::{CacheOptions, MirrorCache, Rewrite};
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kubesim::Server;
use serde_json::{Value, json};
use support::{git, wait_for, write};

fn commit(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

fn new_repo(root: &Path, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, contents) in files {
        write(&dir, path, contents);
    }
    git(&dir, &["init", "-q", "-b", "main"]);
    commit(&dir, "first");
    dir
}

fn ready(status: &Value) -> Option<(&str, &str, &str)> {
    let c = status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_str()?,
        c["reason"].as_str()?,
        c["message"].as_str()?,
    ))
}

/// A hub with the Flux CRDs, the controllers running, and a URL rewrite of
/// `https://gitlab.internal/` to the local repositories under `repos`.
struct Hub {
    server: Server,
    client: Client,
    mirrors: MirrorCache,
}

async fn start_hub(repos: &Path, cache: &Path) -> Hub {
    start_hub_with(repos, cache, Duration::from_secs(1)).await
}

/// A hub whose missing artifacts and unready dependencies are retried after
/// `dependency_requeue`.
async fn start_hub_with(repos: &Path, cache: &Path, dependency_requeue: Duration) -> Hub {
    start_hub_with_options(
        repos,
        cache,
        flotilla_hub::flux::FluxOptions {
            dependency_requeue,
            ..Default::default()
        },
    )
    .await
}

/// A hub whose Flux controllers run with `options`, reading the repositories under
/// `repos` as `https://gitlab.internal/…`.
async fn start_hub_with_options(
    repos: &Path,
    cache: &Path,
    options: flotilla_hub::flux::FluxOptions,
) -> Hub {
    let mut cache_options = CacheOptions::new(cache);
    cache_options.rewrites = vec![Rewrite {
        base: format!("file://{}/", repos.display()),
        instead_of: "https://gitlab.internal/".into(),
    }];
    let mirrors = MirrorCache::new(cache_options).unwrap();
    let (server, client) = support::flux_hub_with(&mirrors, options).await;
    Hub {
        server,
        client,
        mirrors,
    }
}

fn push(hub: &Hub, url: &str) {
    let identity = flotilla_source::GitUrl::parse(url).unwrap().identity();
    hub.mirrors.trigger(&identity);
}

async fn create(client: &Client, yaml: &str) {
    let value: Value = serde_saphyr::from_str(yaml).unwrap();
    let namespace = value["metadata"]["namespace"].as_str().unwrap_or("");
    let resource = match value["kind"].as_str().unwrap() {
        "GitRepository" => git_repository_resource(),
        "Kustomization" => kustomization_resource(),
        other => panic!("unexpected kind {other}"),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let object: DynamicObject = serde_json::from_value(value).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

async fn ks_uid(client: &Client, (_, namespace, name): Object<'_>) -> Option<String> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &kustomization_resource());
    api.get(name).await.unwrap().metadata.uid
}

async fn status_of(client: &Client, namespace: &str, name: &str) -> Value {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &kustomization_resource());
    match api.get_opt(name).await {
        Ok(Some(o)) => serde_json::to_value(o).unwrap()["status"].clone(),
        _ => Value::Null,
    }
}

/// Waits until the Kustomization's Ready condition has `status` and `reason`.
/// Kind, namespace and name.
type Object<'a> = (&'a str, &'a str, &'a str);

/// The Events about the `kind` `namespace/name`, oldest first (their names end in the
/// time they were made, in hex).
async fn events_of(client: &Client, (kind, namespace, name): Object<'_>) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    let mut events = api
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items;
    events.sort_by_key(|e| e.metadata.name.clone());
    events
}

/// Waits for an Event about `object` with `type_` and `reason` whose message `matches`.
async fn wait_event(
    client: &Client,
    object: Object<'_>,
    type_: &str,
    reason: &str,
    matches: impl Fn(&str) -> bool,
) -> Event {
    wait_for(&format!("a {type_} {reason} event"), async || {
        events_of(client, object).await.into_iter().find(|e| {
            e.type_.as_deref() == Some(type_)
                && e.reason.as_deref() == Some(reason)
                && matches(e.message.as_deref().unwrap_or(""))
        })
    })
    .await
}

async fn wait_ready(
    client: &Client,
    namespace: &str,
    name: &str,
    status: &str,
    reason: &str,
) -> Value {
    wait_for(
        &format!("{namespace}/{name} Ready={status} {reason}"),
        async || {
            let s = status_of(client, namespace, name).await;
            let (st, re, _) = ready(&s)?;
            (st == status && re == reason).then_some(s.clone())
        },
    )
    .await
}

const PLATFORM_REPO: &str = r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: platform-config
  namespace: flux-system
spec:
  interval: 1m
  url: https://gitlab.internal/platform/platform-config
  ref:
    branch: main
"#;

// The seed manifest, unchanged.
const TENANTS: &str = r#"apiVersion: kustomize.toolkit.fluxcd.io/v1
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

const TENANT_NAMESPACE: &str =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-payments\n";
const TENANT_SA: &str = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: team-payments-sa\n  namespace: team-payments\n";
const TENANT_BINDING: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
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
"#;
const TENANT_REPO: &str = r#"apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: team-payments-repo
  namespace: team-payments
spec:
  interval: 1m
  url: https://gitlab.internal/team-payments/deploy
  ref:
    branch: main
"#;
// The seed manifest, unchanged.
const TENANT_KS: &str = r#"apiVersion: kustomize.toolkit.fluxcd.io/v1
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

const SETTINGS: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n";
const EXTRA: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  k: v\n";
const ESCALATION: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: team-payments-root
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- kind: ServiceAccount
  name: team-payments-sa
  namespace: team-payments
"#;

/// The seed `tenants` example: platform-config holding team-payments (namespace, service
/// account, RoleBinding, GitRepository, Kustomization), the tenant's repository with
/// `tenant_files`, and a hub given the GitRepository and the `tenants` Kustomization.
/// Returns the hub and the tenant repository's work tree.
async fn seed_tenants(dir: &Path, tenant_files: &[(&str, &str)]) -> (Hub, std::path::PathBuf) {
    let repos = dir.join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[
            ("tenants/team-payments/namespace.yaml", TENANT_NAMESPACE),
            ("tenants/team-payments/service-account.yaml", TENANT_SA),
            ("tenants/team-payments/rbac.yaml", TENANT_BINDING),
            ("tenants/team-payments/source.yaml", TENANT_REPO),
            ("tenants/team-payments/sync.yaml", TENANT_KS),
        ],
    );
    let tenant = new_repo(&repos.join("team-payments"), "deploy", tenant_files);
    let hub = start_hub(&repos, &dir.join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    create(&hub.client, TENANTS).await;
    (hub, tenant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seed_tenants_reconcile_as_the_tenant_and_escalation_is_forbidden() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, tenant) = seed_tenants(
        dir.path(),
        &[
            ("deploy/settings.yaml", SETTINGS),
            ("deploy/extra.yaml", EXTRA),
        ],
    )
    .await;

    // The platform applies the tenant; the tenant applies its own repository.
    let tenants = wait_ready(
        &hub.client,
        "flux-system",
        "tenants",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let revision = tenants["lastAppliedRevision"].as_str().unwrap();
    assert!(
        revision.starts_with("main@sha1:") && revision.len() == 50,
        "{revision}"
    );
    assert_eq!(
        ready(&tenants).unwrap().2,
        format!("Applied revision: {revision}")
    );
    assert_eq!(tenants["lastAttemptedRevision"], revision);
    assert_eq!(tenants["observedGeneration"], 1);
    let ids: Vec<&str> = tenants["inventory"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "_team-payments__Namespace",
            "team-payments_team-payments-admin_rbac.authorization.k8s.io_RoleBinding",
            "team-payments_team-payments-repo_source.toolkit.fluxcd.io_GitRepository",
            "team-payments_team-payments-sa__ServiceAccount",
            "team-payments_team-payments_kustomize.toolkit.fluxcd.io_Kustomization",
        ]
    );
    let payments = wait_ready(
        &hub.client,
        "team-payments",
        "team-payments",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    assert!(
        payments["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] != "Reconciling" && c["type"] != "Healthy"),
        "{payments}"
    );
    // Its Events, as kustomize-controller records them: the change set mid-run, then the
    // time the run took, with the revision.
    let payments_ks = ("Kustomization", "team-payments", "team-payments");
    let payments_repo = ("GitRepository", "team-payments", "team-payments-repo");
    let stored = wait_event(&hub.client, payments_repo, "Normal", "NewArtifact", |m| {
        m == "stored artifact for commit 'first'"
    })
    .await;
    assert_eq!(
        stored.source.and_then(|s| s.component).as_deref(),
        Some("source-controller")
    );
    let applied = wait_event(&hub.client, payments_ks, "Normal", "Progressing", |m| {
        m.lines()
            .any(|l| l == "ConfigMap/team-payments/settings created")
    })
    .await;
    assert_eq!(
        applied.source.and_then(|s| s.component).as_deref(),
        Some("kustomize-controller")
    );
    let finished = wait_event(
        &hub.client,
        payments_ks,
        "Normal",
        "ReconciliationSucceeded",
        |m| m.starts_with("Reconciliation finished in ") && m.ends_with("s, next run in 5m0s"),
    )
    .await;
    let annotations = finished.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations["kustomize.toolkit.fluxcd.io/revision"],
        payments["lastAppliedRevision"].as_str().unwrap()
    );
    assert_eq!(
        annotations["kustomize.toolkit.fluxcd.io/commit_status"],
        "update"
    );
    assert_eq!(finished.count, Some(1));
    assert_eq!(
        finished.involved_object.uid,
        ks_uid(&hub.client, payments_ks).await
    );

    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "team-payments");
    let settings = config_maps.get("settings").await.unwrap();
    let labels = settings.metadata.labels.unwrap();
    assert_eq!(labels["kustomize.toolkit.fluxcd.io/name"], "team-payments");
    assert_eq!(
        labels["kustomize.toolkit.fluxcd.io/namespace"],
        "team-payments"
    );
    let managers: Vec<String> = settings
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"kustomize-controller".to_string()),
        "{managers:?}"
    );

    // Escalation: a ClusterRoleBinding granting the tenant cluster-admin, and a change
    // to a namespaced object in the same commit.
    write(&tenant, "deploy/escalate.yaml", ESCALATION);
    write(
        &tenant,
        "deploy/settings.yaml",
        &SETTINGS.replace("blue", "red"),
    );
    commit(&tenant, "escalate");
    push(&hub, "https://gitlab.internal/team-payments/deploy");
    let failed = wait_ready(
        &hub.client,
        "team-payments",
        "team-payments",
        "False",
        "ReconciliationFailed",
    )
    .await;
    let message = ready(&failed).unwrap().2;
    assert!(
        message.starts_with("ClusterRoleBinding/team-payments-root dry-run failed (Forbidden): "),
        "{message}"
    );
    assert!(
        message.contains("system:serviceaccount:team-payments:team-payments-sa"),
        "applied as the tenant's service account: {message}"
    );
    assert_ne!(
        failed["lastAttemptedRevision"],
        failed["lastAppliedRevision"]
    );
    wait_event(&hub.client, payments_repo, "Normal", "NewArtifact", |m| {
        m == "stored artifact for commit 'escalate'"
    })
    .await;
    // The failure is a Warning with the Ready reason and message.
    wait_event(
        &hub.client,
        payments_ks,
        "Warning",
        "ReconciliationFailed",
        |m| m == message,
    )
    .await;
    assert_eq!(failed["inventory"], payments["inventory"], "inventory kept");
    assert!(
        failed["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Reconciling" && c["reason"] == "ProgressingWithRetry"),
        "{failed}"
    );
    assert!(
        !failed["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Stalled"),
        "a Forbidden apply is retried, not stalled"
    );
    let bindings: Api<ClusterRoleBinding> = Api::all(hub.client.clone());
    assert!(
        bindings
            .get_opt("team-payments-root")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        config_maps.get("settings").await.unwrap().data.unwrap()["color"],
        "blue",
        "nothing of the failed stage was applied"
    );

    // The tenant removes the escalation and a file: it converges and prunes.
    std::fs::remove_file(tenant.join("deploy/escalate.yaml")).unwrap();
    std::fs::remove_file(tenant.join("deploy/extra.yaml")).unwrap();
    commit(&tenant, "behave");
    push(&hub, "https://gitlab.internal/team-payments/deploy");
    wait_for("extra pruned and settings red", async || {
        let extra = config_maps.get_opt("extra").await.ok()?;
        let color = config_maps.get("settings").await.ok()?.data?["color"].clone();
        (extra.is_none() && color == "red").then_some(())
    })
    .await;
    wait_event(&hub.client, payments_ks, "Normal", "Progressing", |m| {
        m.lines()
            .any(|l| l == "ConfigMap/team-payments/extra deleted")
    })
    .await;
    let healed = wait_ready(
        &hub.client,
        "team-payments",
        "team-payments",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    assert_eq!(healed["inventory"]["entries"].as_array().unwrap().len(), 1);

    // A tenant Kustomization reading the platform's repository is refused.
    create(
        &hub.client,
        &TENANT_KS
            .replace(
                "name: team-payments\n  namespace",
                "name: sneaky\n  namespace",
            )
            .replace(
                "name: team-payments-repo",
                "name: platform-config\n    namespace: flux-system",
            ),
    )
    .await;
    let denied = wait_ready(
        &hub.client,
        "team-payments",
        "sneaky",
        "False",
        "AccessDenied",
    )
    .await;
    assert_eq!(
        ready(&denied).unwrap().2,
        "can't access 'GitRepository/flux-system/platform-config', cross-namespace references have been blocked"
    );
    assert!(
        denied["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Stalled"
                && c["status"] == "True"
                && c["reason"] == "AccessDenied")
    );
}

const APP_KS: &str = r#"apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: app
  namespace: flux-system
spec:
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: platform-config
  path: ./app
  prune: true
  targetNamespace: apps
  dependsOn:
  - name: infra
  postBuild:
    substitute:
      region: eu-west-1
    substituteFrom:
    - kind: ConfigMap
      name: cluster-vars
"#;
const INFRA_KS: &str = r#"apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra
  namespace: flux-system
spec:
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: platform-config
  path: ./infra
  prune: true
  wait: true
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn substitution_dependencies_and_suspend() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    let platform = new_repo(
        &repos.join("platform"),
        "platform-config",
        &[
            (
                "infra/namespace.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n",
            ),
            (
                "app/settings.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  region: ${region}\n  env: ${env:=dev}\n  tier: ${tier}\n  literal: $${region}\n",
            ),
        ],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    create(&hub.client, APP_KS).await;

    // The dependency does not exist yet.
    let waiting = wait_ready(
        &hub.client,
        "flux-system",
        "app",
        "False",
        "DependencyNotReady",
    )
    .await;
    assert_eq!(
        ready(&waiting).unwrap().2,
        "unable to get 'flux-system/infra' dependency: kustomizations.kustomize.toolkit.fluxcd.io \"infra\" not found"
    );
    create(&hub.client, INFRA_KS).await;
    let infra = wait_ready(
        &hub.client,
        "flux-system",
        "infra",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    assert!(
        infra["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Healthy" && c["status"] == "True" && c["reason"] == "Succeeded"),
        "{infra}"
    );

    // substituteFrom names a ConfigMap that does not exist: a build failure.
    let failed = wait_ready(&hub.client, "flux-system", "app", "False", "BuildFailed").await;
    assert_eq!(
        ready(&failed).unwrap().2,
        "substitute from 'ConfigMap/cluster-vars' error: configmaps \"cluster-vars\" not found"
    );
    let vars: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cluster-vars", "namespace": "flux-system"},
        "data": {"tier": "gold", "region": "overridden-by-inline"},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(hub.client.clone(), "flux-system")
        .create(&PostParams::default(), &vars)
        .await
        .unwrap();
    // Touch the spec to trigger a run now (a generation change, as kubectl edit would).
    let ks_api: Api<DynamicObject> =
        Api::namespaced_with(hub.client.clone(), "flux-system", &kustomization_resource());
    ks_api
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"retryInterval": "1s"}})),
        )
        .await
        .unwrap();
    wait_ready(
        &hub.client,
        "flux-system",
        "app",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "apps");
    let data = config_maps.get("settings").await.unwrap().data.unwrap();
    assert_eq!(data["region"], "eu-west-1");
    assert_eq!(data["env"], "dev");
    assert_eq!(data["tier"], "gold");
    assert_eq!(data["literal"], "${region}");

    // Suspended: a new commit is not applied.
    ks_api
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": true}})),
        )
        .await
        .unwrap();
    write(
        &platform,
        "app/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  region: moved\n",
    );
    commit(&platform, "change");
    push(&hub, "https://gitlab.internal/platform/platform-config");
    // The source moves on…
    wait_for("the new artifact", async || {
        let api: Api<DynamicObject> = Api::namespaced_with(
            hub.client.clone(),
            "flux-system",
            &git_repository_resource(),
        );
        let repo = serde_json::to_value(api.get("platform-config").await.ok()?).ok()?;
        let revision = repo
            .pointer("/status/artifact/revision")?
            .as_str()?
            .to_string();
        let applied = status_of(&hub.client, "flux-system", "infra").await;
        (applied["lastAppliedRevision"] == revision.as_str()).then_some(())
    })
    .await;
    // …infra follows it, the suspended app does not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let data = config_maps.get("settings").await.unwrap().data.unwrap();
    assert_eq!(data["region"], "eu-west-1");

    // Resumed: applied.
    ks_api
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"suspend": false}})),
        )
        .await
        .unwrap();
    wait_for("the resumed app applied", async || {
        let data = config_maps.get("settings").await.ok()?.data?;
        (data.get("region")? == "moved" && !data.contains_key("tier")).then_some(())
    })
    .await;
}

/// Without the lockdown (`--no-cross-namespace-refs=false`), a Kustomization in another
/// namespace may take its source from `flux-system`, as Flux allows by default; with it
/// (Flotilla's default) the same reference is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cross_namespace_sources_are_allowed_without_the_lockdown() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[("shared/settings.yaml", SETTINGS)],
    );
    let hub = start_hub_with_options(
        &repos,
        &dir.path().join("cache"),
        flotilla_hub::flux::FluxOptions {
            no_cross_namespace_refs: false,
            ..Default::default()
        },
    )
    .await;
    let client = hub.client.clone();
    create(&client, PLATFORM_REPO).await;
    let namespace: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": "apps"}})).unwrap();
    Api::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    create(
        &client,
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: shared\n  namespace: apps\nspec:\n  interval: 5m\n  sourceRef:\n    kind: GitRepository\n    name: platform-config\n    namespace: flux-system\n  path: ./shared\n  prune: true\n  targetNamespace: apps\n",
    )
    .await;
    wait_ready(&client, "apps", "shared", "True", "ReconciliationSucceeded").await;
    let settings = Api::<ConfigMap>::namespaced(client.clone(), "apps")
        .get("settings")
        .await
        .unwrap();
    assert_eq!(settings.data.unwrap()["color"], "blue");
}

/// A Kustomization applying `./<path>` of platform-config, with `prune` as given.
fn kustomization(name: &str, path: &str, prune: bool) -> String {
    format!(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 5m\n  sourceRef:\n    kind: GitRepository\n    name: platform-config\n  path: ./{path}\n  prune: {prune}\n  targetNamespace: default\n"
    )
}

/// Waits for kustomize-controller's finalizer on `name` (it is in place before anything
/// can be deleted) and returns the finalizers.
async fn wait_for_finalizer(ks_api: &Api<DynamicObject>, name: &str) -> Vec<String> {
    wait_for("the finalizer", async || {
        let ks = ks_api.get(name).await.ok()?;
        let f = ks.metadata.finalizers.unwrap_or_default();
        (!f.is_empty()).then_some(f)
    })
    .await
}

/// Deletes the Kustomization `name`, without waiting.
async fn delete_kustomization(ks_api: &Api<DynamicObject>, name: &str) {
    ks_api
        .delete(name, &kube::api::DeleteParams::default())
        .await
        .unwrap();
}

/// Waits until the Kustomization `name` is gone (its finalizer removed).
async fn wait_gone(ks_api: &Api<DynamicObject>, name: &str) {
    wait_for("the Kustomization gone", async || {
        ks_api
            .get_opt(name)
            .await
            .ok()
            .and_then(|k| k.is_none().then_some(()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deleted_kustomization_prunes_its_objects_only_when_it_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[
            (
                "pruned/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pruned\ndata:\n  k: v\n",
            ),
            (
                "kept/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\ndata:\n  k: v\n",
            ),
        ],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    create(&hub.client, &kustomization("pruned", "pruned", true)).await;
    create(&hub.client, &kustomization("kept", "kept", false)).await;
    for name in ["pruned", "kept"] {
        wait_ready(
            &hub.client,
            "flux-system",
            name,
            "True",
            "ReconciliationSucceeded",
        )
        .await;
    }
    // Flux's reconcile histogram has a series per Kustomization, gone with it.
    let timed = |name: &str| {
        let series = format!(
            "gotk_reconcile_duration_seconds_count{{kind=\"Kustomization\",name=\"{name}\",namespace=\"flux-system\"}} "
        );
        flotilla_hub::metrics::global().render().contains(&series)
    };
    assert!(timed("pruned") && timed("kept"));
    let ks_api: Api<DynamicObject> =
        Api::namespaced_with(hub.client.clone(), "flux-system", &kustomization_resource());
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "default");
    for name in ["pruned", "kept"] {
        assert_eq!(
            wait_for_finalizer(&ks_api, name).await,
            ["finalizers.fluxcd.io"]
        );
        assert!(config_maps.get_opt(name).await.unwrap().is_some());
        delete_kustomization(&ks_api, name).await;
        wait_gone(&ks_api, name).await;
    }
    // prune: true deleted what it applied; prune: false left it.
    assert!(config_maps.get_opt("pruned").await.unwrap().is_none());
    assert!(config_maps.get_opt("kept").await.unwrap().is_some());
    wait_for("the deleted Kustomizations' series gone", async || {
        (!timed("pruned") && !timed("kept")).then_some(())
    })
    .await;
}

/// `deletionPolicy: WaitForTermination` keeps the Kustomization (its finalizer) until what
/// it deleted is gone; `Delete` would let it go while its object is still terminating.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_for_termination_keeps_the_kustomization_until_its_objects_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[(
            "held/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers:\n  - example.com/hold\ndata:\n  k: v\n",
        )],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    let manifest = format!(
        "{}  deletionPolicy: WaitForTermination\n  timeout: 60s\n",
        kustomization("held", "held", false)
    );
    create(&hub.client, &manifest).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "held",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let ks_api: Api<DynamicObject> =
        Api::namespaced_with(hub.client.clone(), "flux-system", &kustomization_resource());
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "default");
    wait_for_finalizer(&ks_api, "held").await;
    delete_kustomization(&ks_api, "held").await;
    // The ConfigMap is deleted (prune: false, but the policy deletes) and held by its
    // own finalizer; the Kustomization waits for it.
    wait_for("the ConfigMap terminating", async || {
        let cm = config_maps.get_opt("held").await.ok()??;
        cm.metadata.deletion_timestamp.map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        ks_api.get_opt("held").await.unwrap().is_some(),
        "the Kustomization waits while its ConfigMap terminates"
    );
    config_maps
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    wait_gone(&ks_api, "held").await;
    assert!(config_maps.get_opt("held").await.unwrap().is_none());

    // Past the timeout the wait is only reported: the finalizer goes, the object stays
    // terminating.
    let manifest = format!(
        "{}  deletionPolicy: WaitForTermination\n  timeout: 1s\n",
        kustomization("held", "held", false)
    );
    create(&hub.client, &manifest).await;
    wait_for("the ConfigMap again", async || {
        let cm = config_maps.get_opt("held").await.ok()??;
        cm.metadata.deletion_timestamp.is_none().then_some(())
    })
    .await;
    wait_for_finalizer(&ks_api, "held").await;
    delete_kustomization(&ks_api, "held").await;
    wait_gone(&ks_api, "held").await;
    let cm = config_maps
        .get_opt("held")
        .await
        .unwrap()
        .expect("still there");
    assert!(cm.metadata.deletion_timestamp.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomization_waiting_for_its_source_is_requeued_when_the_artifact_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[(
            "tenants/settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: flux-system\n",
        )],
    );
    // Retrying a missing artifact only after a minute: Ready within the test's 20 s
    // means the GitRepository's run requeued its reader. (That it does so after writing
    // its status, which the reader reads, is not forced here: the race it closes did
    // not show in this small setup, only in `flotilla demo`.)
    let hub = start_hub_with(&repos, &dir.path().join("cache"), Duration::from_secs(60)).await;
    create(&hub.client, TENANTS).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "tenants",
        "False",
        "ArtifactFailed",
    )
    .await;
    create(&hub.client, PLATFORM_REPO).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "tenants",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
}

/// kustomize-controller's finalize: when the service account a Kustomization impersonates
/// is gone, nothing is pruned (it could not be done as the tenant) and the finalizer
/// still goes, so the Kustomization does not hang in deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kustomization_whose_service_account_is_gone_is_deleted_without_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, _) = seed_tenants(dir.path(), &[("deploy/settings.yaml", SETTINGS)]).await;
    wait_ready(
        &hub.client,
        "team-payments",
        "team-payments",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let ks_api: Api<DynamicObject> = Api::namespaced_with(
        hub.client.clone(),
        "team-payments",
        &kustomization_resource(),
    );
    wait_for_finalizer(&ks_api, "team-payments").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "team-payments");
    assert!(config_maps.get_opt("settings").await.unwrap().is_some());

    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(hub.client.clone(), "team-payments");
    accounts
        .delete("team-payments-sa", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    delete_kustomization(&ks_api, "team-payments").await;
    wait_gone(&ks_api, "team-payments").await;
    // Its RoleBinding would still have let the tenant delete it: only the missing
    // account kept it.
    assert!(
        config_maps.get_opt("settings").await.unwrap().is_some(),
        "not pruned"
    );
}

/// An immutable Secret changed in Git: the dry run fails with the API server's Invalid
/// error, the Kustomization is not Ready and the Secret stays as it was; with
/// `spec.force: true` it is deleted and created again with the new data (fluxcd/pkg's
/// "force applies immutable secret").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn force_recreates_an_immutable_secret_changed_in_git() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    let secret = |value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: frozen\nimmutable: true\nstringData:\n  key: {value}\n"
        )
    };
    let work = new_repo(
        &repos.join("platform"),
        "platform-config",
        &[("frozen/secret.yaml", &secret("v1"))],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    create(&hub.client, &kustomization("frozen", "frozen", true)).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "frozen",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(hub.client.clone(), "default");
    let value = async || {
        let s = secrets.get("frozen").await.ok()?;
        let bytes = s.data?.get("key")?.0.clone();
        Some((String::from_utf8(bytes).ok()?, s.metadata.uid?))
    };
    let (first, uid) = value().await.expect("the Secret");
    assert_eq!(first, "v1");

    write(&work, "frozen/secret.yaml", &secret("v2"));
    commit(&work, "v2");
    push(&hub, "https://gitlab.internal/platform/platform-config");
    let status = wait_ready(
        &hub.client,
        "flux-system",
        "frozen",
        "False",
        "ReconciliationFailed",
    )
    .await;
    let (_, _, message) = ready(&status).unwrap();
    assert!(
        message.contains(r#"Secret/default/frozen dry-run failed (Invalid): Secret "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set"#),
        "{message}"
    );
    assert!(
        !message.contains("v2"),
        "no secret value in the status: {message}"
    );
    assert_eq!(value().await, Some(("v1".to_string(), uid.clone())));

    let ks_api: Api<DynamicObject> =
        Api::namespaced_with(hub.client.clone(), "flux-system", &kustomization_resource());
    ks_api
        .patch(
            "frozen",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"force": true}})),
        )
        .await
        .unwrap();
    let (second, new_uid) = wait_for("the Secret created again with v2", async || {
        value().await.filter(|(v, _)| v == "v2")
    })
    .await;
    assert_eq!(second, "v2");
    assert_ne!(new_uid, uid, "deleted and created again");
    wait_ready(
        &hub.client,
        "flux-system",
        "frozen",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
}

/// A GitRepository's artifact is what Flux would store: `spec.ignore` and
/// `sparseCheckout` leave files out of what its Kustomizations build (a generated
/// kustomization at the root would otherwise apply them); a missing sparse directory
/// fails the fetch; `verify` without its Secret stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_artifact_leaves_out_ignored_and_sparse_paths_and_is_never_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[
            ("deploy/app.yaml", &config_map("app")),
            ("deploy/local.yaml", &config_map("local")),
            ("tools/tool.yaml", &config_map("tool")),
        ],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    let repository = |name: &str, extra: &str| {
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: https://gitlab.internal/platform/platform-config\n  ref:\n    branch: main\n{extra}"
        )
    };
    create(
        &hub.client,
        &repository(
            "platform-config",
            "  ignore: |\n    /deploy/local.yaml\n  sparseCheckout:\n  - ./deploy\n",
        ),
    )
    .await;
    let status = wait_repository(&hub.client, "platform-config", "True", "Succeeded").await;
    assert_eq!(status["observedSparseCheckout"], json!(["./deploy"]));
    create(&hub.client, &kustomization("root", "", false)).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "root",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "default");
    let names: Vec<String> = config_maps
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| ["app", "local", "tool"].contains(&n.as_str()))
        .collect();
    assert_eq!(
        names,
        ["app"],
        "ignored and sparse-excluded files are not applied"
    );

    let refused = async |name: &str, extra: &str, reason: &str| {
        create(&hub.client, &repository(name, extra)).await;
        let status = wait_repository(&hub.client, name, "False", reason).await;
        assert!(status.get("artifact").is_none(), "{status}");
        ready(&status).unwrap().2.to_string()
    };
    assert_eq!(
        refused(
            "missing-dir",
            "  sparseCheckout:\n  - charts\n",
            "GitOperationFailed"
        )
        .await,
        "failed to sparse checkout directories : sparse checkout dir 'charts' does not exist in repository"
    );

    // Verification needs its Secret: without it nothing unverified is stored.
    assert_eq!(
        refused(
            "verified",
            "  verify:\n    mode: HEAD\n    secretRef:\n      name: keys\n",
            "VerificationError"
        )
        .await,
        "public keys secret error: failed to get secret 'flux-system/keys': secrets \"keys\" not found"
    );

    // With the Secret, a commit signed by a key it holds is verified and stored.
    let key = dir.path().join("signer");
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let signed = repos.join("platform").join("signed-config");
    std::fs::create_dir_all(&signed).unwrap();
    write(&signed, "app.yaml", &config_map("signed"));
    git(&signed, &["init", "-q", "-b", "main"]);
    git(&signed, &["add", "-A"]);
    git(
        &signed,
        &[
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("user.signingkey={}", key.display()),
            "commit",
            "-q",
            "-S",
            "-m",
            "signed",
        ],
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    create_secret(&hub.client, "signers", json!({"author.sshpub": public})).await;
    create(
        &hub.client,
        &repository(
            "signed",
            "  verify:\n    mode: HEAD\n    secretRef:\n      name: signers\n",
        )
        .replace("platform-config\n  ref", "signed-config\n  ref"),
    )
    .await;
    let status = wait_repository(&hub.client, "signed", "True", "Succeeded").await;
    assert_eq!(status["sourceVerificationMode"], "HEAD");
    let verified = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "SourceVerified")
        .expect("SourceVerified");
    assert_eq!(verified["status"], "True");
    assert!(
        verified["message"]
            .as_str()
            .unwrap()
            .starts_with("verified signature of\n\t- commit '"),
        "{verified}"
    );
}

/// `spec.include` as source-controller: the includer waits for the included repository
/// (and is requeued when its artifact arrives, well before the dependency period), its
/// artifact holds the included path at `toPath` and Kustomizations build it; a push to
/// the included repository alone reaches what they applied; a destination that exists
/// is a copy failure, and an include back to the includer is refused — nothing of
/// either is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn included_repositories_are_copied_into_the_artifact_and_followed() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[("deploy/app.yaml", &config_map("app"))],
    );
    let shared = new_repo(
        &repos.join("platform"),
        "shared",
        &[
            ("base/common.yaml", &config_map("common")),
            ("unrelated/other.yaml", &config_map("other")),
        ],
    );
    // A missing artifact is retried after a minute only: the includer being Ready
    // within the wait below means the included repository's run requeued it.
    let hub = start_hub_with(&repos, &dir.path().join("cache"), Duration::from_secs(60)).await;
    let repository = |name: &str, url: &str, extra: &str| {
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  interval: 1h\n  url: https://gitlab.internal/platform/{url}\n  ref:\n    branch: main\n{extra}"
        )
    };
    let include = |to: &str| {
        format!(
            "  include:\n  - repository:\n      name: shared\n    fromPath: base\n    toPath: {to}\n"
        )
    };
    create(
        &hub.client,
        &repository(
            "platform-config",
            "platform-config",
            &include("deploy/shared"),
        ),
    )
    .await;
    let status = wait_repository(&hub.client, "platform-config", "False", "NotFound").await;
    assert_eq!(
        ready(&status).unwrap().2,
        "could not get resource for include 'shared': gitrepositories.source.toolkit.fluxcd.io \"shared\" not found"
    );
    assert!(status.get("artifact").is_none(), "{status}");

    create(&hub.client, &repository("shared", "shared", "")).await;
    let included = wait_repository(&hub.client, "shared", "True", "Succeeded").await;
    let status = wait_repository(&hub.client, "platform-config", "True", "Succeeded").await;
    let condition = |status: &Value, type_: &str| {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == type_)
            .cloned()
    };
    assert_eq!(condition(&status, "IncludeUnavailable"), None);
    assert_eq!(
        status["includedArtifacts"][0]["revision"],
        included["artifact"]["revision"]
    );
    assert_eq!(
        status["observedInclude"],
        json!([{"repository": {"name": "shared"}, "fromPath": "base", "toPath": "deploy/shared"}])
    );

    create(&hub.client, &kustomization("root", "deploy", true)).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "root",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "default");
    let names = async || -> Vec<String> {
        let mut names: Vec<String> = config_maps
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .filter(|n| !n.starts_with("kube-"))
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names().await,
        ["app", "common"],
        "only fromPath is included"
    );

    // A change to the included repository alone: its push reaches the Kustomization
    // (whose own interval is minutes away) through the includer.
    write(&shared, "base/extra.yaml", &config_map("extra"));
    commit(&shared, "extra");
    push(&hub, "https://gitlab.internal/platform/shared");
    wait_for("the included change applied", async || {
        (names().await == ["app", "common", "extra"]).then_some(())
    })
    .await;

    create(
        &hub.client,
        &repository("clash", "platform-config", &include("deploy")),
    )
    .await;
    let status = wait_repository(&hub.client, "clash", "False", "CopyFailure").await;
    assert_eq!(
        ready(&status).unwrap().2,
        "failed to copy 'shared' include from base to deploy: file exists"
    );
    assert!(status.get("artifact").is_none(), "{status}");

    let repos_api: Api<DynamicObject> = Api::namespaced_with(
        hub.client.clone(),
        "flux-system",
        &git_repository_resource(),
    );
    let before = serde_json::to_value(repos_api.get("shared").await.unwrap()).unwrap();
    repos_api
        .patch(
            "shared",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"include": [{"repository": {"name": "platform-config"}}]}}),
            ),
        )
        .await
        .unwrap();
    let status = wait_repository(&hub.client, "shared", "False", "IncludeCycle").await;
    assert_eq!(
        ready(&status).unwrap().2,
        "include 'platform-config' includes flux-system/shared back: the artifacts would nest without end"
    );
    assert_eq!(
        status["artifact"], before["status"]["artifact"],
        "the last artifact is kept"
    );
}

/// A ConfigMap manifest named `name`.
fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n")
}

/// A Kustomization of `./secrets` decrypting with the SOPS keys of Secret `secret`.
fn decrypting(name: &str, secret: &str) -> String {
    kustomization(name, "secrets", false).replace(
        "  prune: false\n",
        &format!(
            "  prune: false\n  decryption:\n    provider: sops\n    secretRef:\n      name: {secret}\n"
        ),
    )
}

/// Creates Secret `flux-system/<name>` with `string_data`.
async fn create_secret(client: &Client, name: &str, string_data: Value) {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "flux-system");
    let secret: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": string_data}))
            .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// Waits until GitRepository `flux-system/<name>` is Ready=`status` for `reason`.
async fn wait_repository(client: &Client, name: &str, status: &str, reason: &str) -> Value {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &git_repository_resource());
    wait_for(
        &format!("GitRepository {name} Ready={status} {reason}"),
        async || {
            let object = api.get_opt(name).await.ok()??;
            let s = serde_json::to_value(object).ok()?["status"].clone();
            let (st, re, _) = ready(&s)?;
            (st == status && re == reason).then_some(s.clone())
        },
    )
    .await
}

/// kustomize-controller never applies a Secret still encrypted with SOPS: the whole
/// apply fails with its message, and nothing of the revision is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sops_encrypted_secret_fails_the_apply_without_decryption() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[
            (
                "secrets/creds.yaml",
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  token: ENC[AES256_GCM,data:c2VjcmV0,iv:aXY=,tag:dGFn,type:str]\nsops:\n  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]\n  version: 3.9.0\n",
            ),
            (
                "secrets/plain.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: beside-the-secret\ndata:\n  k: v\n",
            ),
        ],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    create(&hub.client, &kustomization("secrets", "secrets", false)).await;
    let status = wait_ready(
        &hub.client,
        "flux-system",
        "secrets",
        "False",
        "ReconciliationFailed",
    )
    .await;
    assert_eq!(
        ready(&status).unwrap().2,
        "Secret/default/creds is SOPS encrypted, configuring decryption is required for this secret to be reconciled"
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "default");
    assert!(
        config_maps
            .get_opt("beside-the-secret")
            .await
            .unwrap()
            .is_none(),
        "nothing of the revision is applied"
    );
}

/// Secret `creds` (`token: t0p`) encrypted with SOPS for `identity`'s recipient.
fn sealed_creds(identity: &age::x25519::Identity) -> Value {
    let mut sealed = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"token": "t0p"}
    });
    flotilla_render::sops::encrypt(
        &mut sealed,
        &[flotilla_render::sops::Recipient::Age(
            identity.to_public().to_string().as_str(),
        )],
        Some("^(data|stringData)$"),
        "2026-11-27T00:00:00Z",
    )
    .unwrap();
    sealed
}

/// `spec.decryption`: a Secret encrypted with SOPS for an age recipient is decrypted
/// with the `*.agekey` of the Kustomization's decryption Secret and applied in clear;
/// without that Secret the build fails in Flux's words and nothing is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sops_encrypted_secret_is_decrypted_with_the_kustomizations_age_key() {
    use age::secrecy::ExposeSecret as _;
    let identity = age::x25519::Identity::generate();
    let sealed = sealed_creds(&identity);
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[("secrets/creds.yaml", &sealed.to_string())],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    create(&hub.client, &decrypting("without-key", "sops-missing")).await;
    let status = wait_ready(
        &hub.client,
        "flux-system",
        "without-key",
        "False",
        "BuildFailed",
    )
    .await;
    assert_eq!(
        ready(&status).unwrap().2,
        "cannot get sops decryption Secret 'flux-system/sops-missing': secrets \"sops-missing\" not found"
    );
    let identity_text = identity.to_string().expose_secret().to_string();
    create_secret(
        &hub.client,
        "sops-age",
        json!({"identity.agekey": identity_text}),
    )
    .await;
    create(&hub.client, &decrypting("secrets", "sops-age")).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "secrets",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let applied: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(hub.client.clone(), "default");
    let creds = applied.get("creds").await.unwrap();
    assert_eq!(creds.data.unwrap()["token"].0, b"t0p");
}

/// A stand-in for HashiCorp Vault's transit engine, from its documented API:
/// `POST /v1/sops/decrypt/flux-key` with `{"ciphertext"}` answers `{"data":
/// {"plaintext": base64}}` for the token `s.right`, and Vault's 403 otherwise.
async fn vault_stand_in(data_key: Vec<u8>) -> String {
    use axum::http::{HeaderMap, StatusCode};
    use base64::Engine as _;
    let router = axum::Router::new().route(
        "/v1/sops/decrypt/flux-key",
        axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
            let data_key = data_key.clone();
            async move {
                let token = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                if token != "Bearer s.right" {
                    return (
                        StatusCode::FORBIDDEN,
                        axum::Json(json!({"errors": ["permission denied"]})),
                    );
                }
                if body["ciphertext"] != "vault:v1:wrapped-data-key" {
                    return (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({"errors": ["invalid ciphertext"]})),
                    );
                }
                let plaintext = base64::engine::general_purpose::STANDARD.encode(&data_key);
                (
                    StatusCode::OK,
                    axum::Json(json!({"data": {"plaintext": plaintext}})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

/// `hc_vault` entries: the data key comes from Vault's transit engine with the
/// decryption Secret's `sops.vault-token`, and the Secret is applied in clear; a token
/// Vault refuses fails the build with Vault's answer and without the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sops_secret_wrapped_by_vault_transit_is_decrypted_with_the_vault_token() {
    use std::io::Read as _;
    let identity = age::x25519::Identity::generate();
    let mut sealed = sealed_creds(&identity);
    // The data key, then its age entry replaced by a Vault one (as `sops --hc-vault-
    // transit` writes it).
    let armored = sealed["sops"]["age"][0]["enc"]
        .as_str()
        .unwrap()
        .to_string();
    let decryptor =
        age::Decryptor::new(age::armor::ArmoredReader::new(armored.as_bytes())).unwrap();
    let mut data_key = Vec::new();
    decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut data_key)
        .unwrap();
    let vault = vault_stand_in(data_key).await;
    let metadata = sealed["sops"].as_object_mut().unwrap();
    metadata.remove("age");
    metadata.insert(
        "hc_vault".into(),
        json!([{
            "vault_address": vault,
            "engine_path": "sops",
            "key_name": "flux-key",
            "created_at": "2026-11-27T00:00:00Z",
            "enc": "vault:v1:wrapped-data-key"
        }]),
    );
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[("secrets/creds.yaml", &sealed.to_string())],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    create_secret(
        &hub.client,
        "vault-wrong",
        json!({"sops.vault-token": "s.wrong"}),
    )
    .await;
    create(&hub.client, &decrypting("refused", "vault-wrong")).await;
    let status = wait_ready(
        &hub.client,
        "flux-system",
        "refused",
        "False",
        "BuildFailed",
    )
    .await;
    let message = ready(&status).unwrap().2;
    assert!(
        message.contains(
            "failed to decrypt sops data key from Vault transit backend 'sops/decrypt/flux-key'"
        ) && message.contains("Code: 403")
            && message.contains("permission denied"),
        "{message}"
    );
    assert!(!message.contains("s.wrong"), "the token leaked: {message}");
    create_secret(
        &hub.client,
        "vault-right",
        json!({"sops.vault-token": "s.right\n"}),
    )
    .await;
    create(&hub.client, &decrypting("secrets", "vault-right")).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "secrets",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let applied: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(hub.client.clone(), "default");
    let creds = applied.get("creds").await.unwrap();
    assert_eq!(creds.data.unwrap()["token"].0, b"t0p");
}

/// Runs gpg on the GnuPG home `home` with `input` on stdin.
fn gpg(home: &Path, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    let mut child = std::process::Command::new("gpg")
        .args(["--batch", "--no-tty", "--quiet", "--homedir"])
        .arg(home)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gpg");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "gpg {args:?}: {out:?}");
    out
}

/// The PGP path of kustomize-controller's decryption: the `*.asc` entry of the
/// decryption Secret is imported into a GnuPG home whose key opens the data key of a
/// Secret encrypted to it (the key pair made with gpg, the data key wrapped by
/// `gpg --encrypt` as sops does); key data gpg cannot import fails the build naming
/// the entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sops_secret_for_a_pgp_key_is_decrypted_with_the_secrets_asc_key() {
    let dir = tempfile::tempdir().unwrap();
    let gnupg = dir.path().join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    gpg(
        &gnupg,
        &[
            "--passphrase",
            "",
            "--quick-gen-key",
            "flux@example.com",
            "rsa2048",
            "encr",
            "never",
        ],
        b"",
    );
    let listing = gpg(&gnupg, &["--with-colons", "--list-secret-keys"], b"");
    let fingerprint = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .map(|f| f.trim_end_matches(':').to_string())
        .expect("fingerprint");
    let secret_key = gpg(
        &gnupg,
        &["--armor", "--export-secret-keys", &fingerprint],
        b"",
    )
    .stdout;
    let wrap = |data_key: &[u8]| -> Result<String, String> {
        let out = gpg(
            &gnupg,
            &[
                "--armor",
                "--trust-model",
                "always",
                "--encrypt",
                "-r",
                &fingerprint,
            ],
            data_key,
        );
        String::from_utf8(out.stdout).map_err(|e| e.to_string())
    };
    let mut sealed = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "pgp-creds"},
        "stringData": {"token": "s3cr3t"}
    });
    flotilla_render::sops::encrypt(
        &mut sealed,
        &[flotilla_render::sops::Recipient::Pgp {
            fingerprint: &fingerprint,
            wrap: &wrap,
        }],
        Some("^(data|stringData)$"),
        "2026-11-28T00:00:00Z",
    )
    .unwrap();
    assert!(
        sealed["sops"]["pgp"][0]["enc"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PGP MESSAGE-----")
    );
    let _ = std::process::Command::new("gpgconf")
        .arg("--homedir")
        .arg(&gnupg)
        .args(["--kill", "gpg-agent"])
        .status();

    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[("secrets/creds.yaml", &sealed.to_string())],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    for (name, key) in [
        ("sops-gpg", String::from_utf8(secret_key).unwrap()),
        ("sops-bad", "not a key".to_string()),
    ] {
        create_secret(&hub.client, name, json!({"sops.asc": key})).await;
    }
    create(&hub.client, &decrypting("bad-key", "sops-bad")).await;
    let status = wait_ready(
        &hub.client,
        "flux-system",
        "bad-key",
        "False",
        "BuildFailed",
    )
    .await;
    let message = ready(&status).unwrap().2;
    assert!(
        message.starts_with(
            "failed to import 'sops.asc' data from sops decryption Secret 'flux-system/sops-bad': "
        ) && message.contains("no valid OpenPGP data found"),
        "{message}"
    );
    create(&hub.client, &decrypting("pgp", "sops-gpg")).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "pgp",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let applied: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(hub.client.clone(), "default");
    let creds = applied.get("pgp-creds").await.unwrap();
    assert_eq!(creds.data.unwrap()["token"].0, b"s3cr3t");
}

/// A Kustomization `name` of `./remote` applying through the kubeconfig in Secret `secret`.
fn through_kubeconfig(name: &str, secret: &str) -> String {
    kustomization(name, "remote", false).replace(
        "  targetNamespace: default\n",
        &format!(
            "  targetNamespace: default\n  kubeConfig:\n    secretRef:\n      name: {secret}\n"
        ),
    )
}

/// The message of the flux-system Kustomization `name` once it is not Ready with a
/// message containing `needle`.
async fn refused_with(client: &Client, name: &str, needle: &str) -> String {
    wait_for(&format!("{name}'s refusal"), async || {
        let status = status_of(client, "flux-system", name).await;
        let (ready, _, message) = ready(&status)?;
        (ready == "False" && message.contains(needle)).then(|| message.to_string())
    })
    .await
}

/// `spec.kubeConfig`: a Kustomization applies through the kubeconfig of its Secret (here
/// the hub's own API, named by URL); one whose kubeconfig names the cloud metadata
/// address is refused by the egress policy before any request, and one with an exec
/// credential plugin is refused before anything runs, each with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kubeconfig_secret_reaches_its_cluster_but_not_metadata_or_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[("remote/cm.yaml", &config_map("through-kubeconfig"))],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    let kubeconfig = hub.server.kubeconfig();
    create_secret(&hub.client, "remote", json!({"value": kubeconfig})).await;
    let metadata = kubeconfig
        .lines()
        .map(|line| match line.trim_start().strip_prefix("server: ") {
            Some(_) => "    server: https://169.254.169.254".to_string(),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    create_secret(&hub.client, "metadata", json!({"value": metadata})).await;
    // A credential plugin that would leave a mark on the hub if it ran.
    let marker = dir.path().join("plugin-ran");
    let plugin = kubeconfig.replace(
        "  user:\n    token:",
        &format!(
            "  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: touch\n      args: [{}]\n    token:",
            marker.display()
        ),
    );
    assert_ne!(plugin, kubeconfig);
    create_secret(&hub.client, "plugin", json!({"value": plugin})).await;
    for (name, secret) in [
        ("remote", "remote"),
        ("stolen", "metadata"),
        ("executed", "plugin"),
    ] {
        create(&hub.client, &through_kubeconfig(name, secret)).await;
    }
    wait_ready(
        &hub.client,
        "flux-system",
        "remote",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "default");
    assert!(
        config_maps
            .get_opt("through-kubeconfig")
            .await
            .unwrap()
            .is_some()
    );
    let status = refused_with(&hub.client, "stolen", "egress").await;
    assert!(
        status.contains(
            "KubeConfig secret 'metadata': the egress policy refuses 169.254.169.254 (169.254.169.254:443: link-local addresses (cloud instance metadata) are never reached)"
        ),
        "{status}"
    );
    let refused = refused_with(&hub.client, "executed", "exec").await;
    assert!(
        refused.contains("KubeConfig secret 'plugin': user.exec is not allowed: an exec plugin would run a program on the hub (flotilla controller --insecure-kubeconfig-exec allows it)"),
        "{refused}"
    );
    assert!(!marker.exists(), "the plugin never ran");
}

/// `spec.kubeConfig` with a client certificate in place of a token (as kind's kubeconfigs
/// carry): the Kustomization applies as the certificate's subject and is held to RBAC as
/// that user — a subject in `system:masters` applies, one without a role is Forbidden by
/// its own name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kubeconfig_with_a_client_certificate_applies_as_its_subject() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[("remote/cm.yaml", &config_map("through-certificate"))],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    let authority = hub.server.fleet().tls().expect("served over TLS");
    let kubeconfig = hub.server.kubeconfig();
    let certified = |user: &str, groups: &[&str]| {
        let (certificate, key) = authority.user_certificate(user, groups).unwrap();
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let replaced = kubeconfig
            .lines()
            .map(|line| match line.trim_start().strip_prefix("token: ") {
                Some(_) => format!(
                    "    client-certificate-data: {}\n    client-key-data: {}",
                    b64(&certificate),
                    b64(&key)
                ),
                None => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!replaced.contains("token:"), "{replaced}");
        replaced
    };
    create_secret(
        &hub.client,
        "admin-certificate",
        json!({"value": certified("platform-admin", &["system:masters"])}),
    )
    .await;
    create_secret(
        &hub.client,
        "bare-certificate",
        json!({"value": certified("nobody-in-particular", &[])}),
    )
    .await;
    for (name, secret) in [
        ("by-certificate", "admin-certificate"),
        ("unbound", "bare-certificate"),
    ] {
        create(&hub.client, &through_kubeconfig(name, secret)).await;
    }
    wait_ready(
        &hub.client,
        "flux-system",
        "by-certificate",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "default");
    assert!(
        config_maps
            .get_opt("through-certificate")
            .await
            .unwrap()
            .is_some()
    );
    let refused = refused_with(&hub.client, "unbound", "forbidden").await;
    assert!(
        refused.contains("User \"nobody-in-particular\""),
        "{refused}"
    );
}

/// `--default-service-account` (Flux's multi-tenancy lockdown): a Kustomization that
/// names no service account impersonates its namespace's default one, not the hub — so
/// without RBAC of its own it can apply nothing — while one naming a bound service
/// account applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kustomization_naming_no_service_account_applies_as_the_default_one() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[("plain/cm.yaml", &config_map("from-git"))],
    );
    let hub = start_hub_with_options(
        &repos,
        &dir.path().join("cache"),
        flotilla_hub::flux::FluxOptions {
            default_service_account: "default".into(),
            dependency_requeue: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .await;
    let client = hub.client.clone();
    let parse = |yaml: &str| -> Value { serde_saphyr::from_str(yaml).unwrap() };
    let admin_sa = parse(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: flux-admin\n  namespace: flux-system\n",
    );
    let admin_binding = parse(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: flux-admin\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: cluster-admin\nsubjects:\n- kind: ServiceAccount\n  name: flux-admin\n  namespace: flux-system\n",
    );
    for (object, api_version, plural, kind) in [
        (admin_sa, "v1", "serviceaccounts", "ServiceAccount"),
        (
            admin_binding,
            "rbac.authorization.k8s.io/v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
        ),
    ] {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let resource = kube::api::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk(group, version, kind),
            plural,
        );
        let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        api.create(
            &PostParams::default(),
            &serde_json::from_value(object).unwrap(),
        )
        .await
        .unwrap();
    }
    create(&client, PLATFORM_REPO).await;
    create(&client, &kustomization("unnamed", "plain", false)).await;
    let named = kustomization("named", "plain", false).replace(
        "  targetNamespace: default\n",
        "  targetNamespace: kube-public\n  serviceAccountName: flux-admin\n",
    );
    create(&client, &named).await;

    wait_ready(
        &client,
        "flux-system",
        "named",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let in_public: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-public");
    assert!(in_public.get_opt("from-git").await.unwrap().is_some());
    let message = wait_for("the unnamed Kustomization's refusal", async || {
        let status = status_of(&client, "flux-system", "unnamed").await;
        let (ready, _, message) = ready(&status)?;
        (ready == "False" && message.contains("Forbidden")).then(|| message.to_string())
    })
    .await;
    assert!(
        message.contains("system:serviceaccount:flux-system:default"),
        "applied as the default service account: {message}"
    );
    let in_default: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert!(in_default.get_opt("from-git").await.unwrap().is_none());
}

/// A Kustomization with `wait` and `healthCheckExprs` (Flux's custom health checks in
/// CEL): its kind is healthy when `current` says so, fails fast when `failed` does, and a
/// check without `current` stalls it with kustomize-controller's terminal error before
/// anything is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_check_expressions_judge_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    let config_map = |state: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {state}\ndata:\n  state: {state}\n"
        )
    };
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[
            ("ready/cm.yaml", &config_map("ready")),
            ("broken/cm.yaml", &config_map("broken")),
            ("invalid/cm.yaml", &config_map("invalid")),
            ("starting/cm.yaml", &config_map("starting")),
        ],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    let checked = |name: &str, checks: &str| {
        format!(
            "{}  wait: true\n  timeout: 30s\n  healthCheckExprs:\n{checks}",
            kustomization(name, name, true)
        )
    };
    let by_state = "  - apiVersion: v1\n    kind: ConfigMap\n    current: data.state == 'ready'\n    failed: data.state == 'broken'\n";
    create(&hub.client, &checked("ready", by_state)).await;
    create(&hub.client, &checked("broken", by_state)).await;
    // Neither expression holds: InProgress until the timeout, where kstatus alone would
    // take a ConfigMap for Current at once.
    create(
        &hub.client,
        &checked("starting", by_state).replace("timeout: 30s", "timeout: 2s"),
    )
    .await;
    create(
        &hub.client,
        &checked(
            "invalid",
            "  - apiVersion: v1\n    kind: ConfigMap\n    failed: data.state == 'broken'\n",
        ),
    )
    .await;

    let ready = wait_ready(
        &hub.client,
        "flux-system",
        "ready",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let healthy = ready["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Healthy")
        .unwrap();
    assert_eq!(healthy["status"], "True", "{ready}");

    let broken = wait_ready(
        &hub.client,
        "flux-system",
        "broken",
        "False",
        "HealthCheckFailed",
    )
    .await;
    let (_, _, message) = ready_of(&broken);
    assert!(
        message.contains(
            "failed early due to stalled resources: [ConfigMap/default/broken status: 'Failed']"
        ),
        "{message}"
    );

    let starting = wait_ready(
        &hub.client,
        "flux-system",
        "starting",
        "False",
        "HealthCheckFailed",
    )
    .await;
    let (_, _, message) = ready_of(&starting);
    assert!(
        message.contains("timeout waiting for: [ConfigMap/default/starting status: 'InProgress']"),
        "{message}"
    );

    let invalid = wait_ready(
        &hub.client,
        "flux-system",
        "invalid",
        "False",
        "InvalidCELExpression",
    )
    .await;
    let (_, _, message) = ready_of(&invalid);
    assert_eq!(
        message,
        "Reconciliation failed terminally due to configuration error: failed to create custom status evaluator for healthchecks[0]: expression Current not specified"
    );
    let stalled = invalid["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Stalled")
        .unwrap();
    assert_eq!(stalled["reason"], "InvalidCELExpression");
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "default");
    assert!(
        config_maps.get_opt("invalid").await.unwrap().is_none(),
        "nothing is applied"
    );
}

fn ready_of(status: &Value) -> (String, String, String) {
    let (s, r, m) = ready(status).expect("a Ready condition");
    (s.to_string(), r.to_string(), m.to_string())
}

/// `dependsOn[].readyExpr` (CEL over `self` and `dep`) decides alone whether a dependency
/// is ready: here a label on it, whatever its own readiness; an expression that does not
/// parse stalls the dependent Kustomization with kustomize-controller's terminal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ready_expression_decides_whether_a_dependency_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[
            ("infra/cm.yaml", &config_map("infra")),
            ("app/cm.yaml", &config_map("app")),
            ("bad/cm.yaml", &config_map("bad")),
        ],
    );
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    create(&hub.client, PLATFORM_REPO).await;
    create(
        &hub.client,
        &kustomization("infra", "infra", true).replace(
            "  namespace: flux-system\n",
            "  namespace: flux-system\n  labels:\n    released: \"no\"\n",
        ),
    )
    .await;
    let depending = |name: &str, expr: &str| {
        format!(
            "{}  dependsOn:\n  - name: infra\n    readyExpr: {expr}\n",
            kustomization(name, name, true)
        )
    };
    create(
        &hub.client,
        &depending(
            "app",
            "\"dep.metadata.labels.released == 'yes' && self.spec.prune\"",
        ),
    )
    .await;
    create(&hub.client, &depending("bad", "\"dep.status ==\"")).await;

    let held = wait_ready(
        &hub.client,
        "flux-system",
        "app",
        "False",
        "DependencyNotReady",
    )
    .await;
    assert_eq!(
        ready_of(&held).2,
        "dependency 'flux-system/infra' is not ready according to readyExpr eval"
    );
    let bad = wait_ready(
        &hub.client,
        "flux-system",
        "bad",
        "False",
        "InvalidCELExpression",
    )
    .await;
    assert_eq!(
        ready_of(&bad).2,
        "Reconciliation failed terminally due to configuration error: failed to evaluate dependency infra: failed to parse the CEL expression 'dep.status ==': the expression is malformed"
    );

    let ks_api: Api<DynamicObject> =
        Api::namespaced_with(hub.client.clone(), "flux-system", &kustomization_resource());
    ks_api
        .patch(
            "infra",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"released": "yes"}}})),
        )
        .await
        .unwrap();
    wait_ready(
        &hub.client,
        "flux-system",
        "app",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(hub.client.clone(), "default");
    assert!(config_maps.get_opt("app").await.unwrap().is_some());
    assert!(config_maps.get_opt("bad").await.unwrap().is_none());
}

/// kustomize-controller's cleanup before an apply: a ConfigMap first made by the real
/// `kubectl apply` (client-side: its last-applied annotation and the
/// `kubectl-client-side-apply` manager) and then edited with `kubectl edit`'s manager is
/// taken over when a Kustomization applies it — the annotation goes, the kubectl managers'
/// fields become kustomize-controller's — so a key that Git no longer has is removed from
/// the cluster instead of staying with kubectl. A `kustomize.toolkit.fluxcd.io/ssa: Merge`
/// object keeps its other owners, and their fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_applied_with_kubectl_are_taken_over_and_merge_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    let manifest = |name: &str, extra: &str, merge: bool| {
        let annotations = if merge {
            "  annotations:\n    kustomize.toolkit.fluxcd.io/ssa: Merge\n"
        } else {
            ""
        };
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n{annotations}data:\n  color: blue\n{extra}"
        )
    };
    // By hand first: both keys, with kubectl.
    let by_hand = dir.path().join("by-hand.yaml");
    std::fs::write(
        &by_hand,
        format!(
            "{}---\n{}",
            manifest("adopted", "  size: m\n", false),
            manifest("shared", "  size: m\n", true)
        ),
    )
    .unwrap();
    let hub = start_hub(&repos, &dir.path().join("cache")).await;
    support::kubectl(
        &hub.server,
        dir.path(),
        "hub",
        &["apply", "-f", by_hand.to_str().unwrap()],
    );
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(hub.client.clone(), "default");
    config_maps
        .patch(
            "adopted",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"shape": "round"}})),
        )
        .await
        .unwrap();

    // Git has only `color`.
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[
            ("apps/adopted.yaml", &manifest("adopted", "", false)),
            ("apps/shared.yaml", &manifest("shared", "", true)),
        ],
    );
    create(&hub.client, PLATFORM_REPO).await;
    create(&hub.client, &kustomization("apps", "apps", true)).await;
    wait_ready(
        &hub.client,
        "flux-system",
        "apps",
        "True",
        "ReconciliationSucceeded",
    )
    .await;

    let adopted = config_maps.get("adopted").await.unwrap();
    let data = adopted.data.clone().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["color"],
        "kubectl's keys removed with its ownership: {data:?}"
    );
    assert!(
        !adopted
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration")
    );
    let managers: Vec<(String, String)> = adopted
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        managers,
        [("kustomize-controller".to_string(), "Apply".to_string())]
    );

    let shared = config_maps.get("shared").await.unwrap();
    assert_eq!(
        shared.data.unwrap().get("size").map(String::as_str),
        Some("m"),
        "a Merge object keeps what kubectl owns"
    );
    assert!(
        shared
            .metadata
            .managed_fields
            .unwrap_or_default()
            .iter()
            .any(|m| m.manager.as_deref() == Some("kubectl-client-side-apply"))
    );
}

/// Flux's config watchers: a ConfigMap labelled `reconcile.fluxcd.io/watch: Enabled`
/// that a Kustomization substitutes from runs it again as soon as it changes (its
/// interval is five minutes); an unlabelled one waits for the interval, as upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watched_config_map_reconciles_its_kustomizations_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let repos = dir.path().join("repos");
    let settings = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  color: ${{color}}\n"
        )
    };
    new_repo(
        &repos.join("platform"),
        "platform-config",
        &[
            ("watched/cm.yaml", &settings("watched")),
            ("plain/cm.yaml", &settings("plain")),
        ],
    );
    // No retry within the test: only the watch can make a Kustomization run again.
    let hub = start_hub_with(&repos, &dir.path().join("cache"), Duration::from_secs(300)).await;
    let config_maps = Api::<ConfigMap>::namespaced(hub.client.clone(), "flux-system");
    for (name, watched) in [("watched-vars", true), ("plain-vars", false)] {
        let mut vars = json!({"metadata": {"name": name, "namespace": "flux-system"},
                              "data": {"color": "blue"}});
        if watched {
            vars["metadata"]["labels"] = json!({"reconcile.fluxcd.io/watch": "Enabled"});
        }
        config_maps
            .create(
                &PostParams::default(),
                &serde_json::from_value(vars).unwrap(),
            )
            .await
            .unwrap();
    }
    create(&hub.client, PLATFORM_REPO).await;
    for name in ["watched", "plain"] {
        let with_vars = format!(
            "{}  postBuild:\n    substituteFrom:\n    - kind: ConfigMap\n      name: {name}-vars\n",
            kustomization(name, name, true)
        );
        create(&hub.client, &with_vars).await;
        wait_ready(
            &hub.client,
            "flux-system",
            name,
            "True",
            "ReconciliationSucceeded",
        )
        .await;
    }
    let applied = Api::<ConfigMap>::namespaced(hub.client.clone(), "default");
    let color = async |name: &str| applied.get(name).await.ok()?.data?.get("color").cloned();
    assert_eq!(color("watched").await.as_deref(), Some("blue"));

    for name in ["plain-vars", "watched-vars"] {
        config_maps
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"color": "red"}})),
            )
            .await
            .unwrap();
    }
    wait_for("the watched variables applied", async || {
        (color("watched").await? == "red").then_some(())
    })
    .await;
    assert_eq!(
        color("plain").await.as_deref(),
        Some("blue"),
        "an unlabelled ConfigMap waits for the interval"
    );

    // `status.history`: one snapshot per distinct build and outcome, newest first.
    let watched = wait_for("two snapshots", async || {
        let status = status_of(&hub.client, "flux-system", "watched").await;
        (status["history"].as_array()?.len() == 2).then_some(status)
    })
    .await;
    let history = watched["history"].as_array().unwrap();
    assert_ne!(history[0]["digest"], history[1]["digest"], "{history:?}");
    for snapshot in history {
        assert_eq!(snapshot["lastReconciledStatus"], "ReconciliationSucceeded");
        assert_eq!(snapshot["totalReconciliations"], 1);
        assert_eq!(
            snapshot["metadata"]["revision"],
            watched["lastAppliedRevision"]
        );
        assert!(snapshot["digest"].as_str().unwrap().starts_with("sha256:"));
    }
    let plain = status_of(&hub.client, "flux-system", "plain").await;
    assert_eq!(plain["history"].as_array().map(Vec::len), Some(1));
}
