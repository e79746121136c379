//! The Application controller end to end: kubesim (a hub and a managed cluster, over TLS),
//! a real git repository read through the mirror cache, an Application with automated
//! sync. It syncs, reports Synced/Healthy where Argo CD does, prunes what leaves Git after
//! a push, and reports a bad path as a ComparisonError without touching the cluster.

/// The smart-HTTP git server of the source crate's tests, with its HTTPS variant.
#[path = "../../source/tests/support/mod.rs"]
mod git_server;
mod support;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_hub::application::AppReconciler;
use flotilla_hub::clusters;
use flotilla_hub::controller::{self, ControllerOptions, application_resource};
use flotilla_hub::sources::Sources;
use flotilla_source::{CacheOptions, MirrorCache};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kubesim::Server;
use serde_json::{Value, json};
use support::{
    Served, client, git, package_chart, serve_counted, serve_files, serve_guarded, write,
};

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), check()).await {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(_) => eprintln!("{what}: a check took over 5 s"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A hub and a managed cluster `east` registered on it (an Argo CD cluster Secret), and an
/// Application reconciler reading repositories through `mirrors`.
struct East {
    fleet: Arc<kubesim::Fleet>,
    server: Server,
    hub: kube::Client,
    reconciler: Arc<AppReconciler>,
}

impl East {
    /// Starts the Application controller (two workers) and creates the Application `web`,
    /// deploying `deploy/` of `url` into namespace `web` of `east` with automated sync.
    async fn run_web_app(
        &self,
        url: &str,
        sync_options: &[&str],
    ) -> (tokio::task::JoinHandle<()>, Api<DynamicObject>) {
        self.run_web_app_with(url, sync_options, Vec::new()).await
    }

    /// [`East::run_web_app`] with `hooks` told of every Application change.
    async fn run_web_app_with(
        &self,
        url: &str,
        sync_options: &[&str],
        hooks: Vec<controller::ApplicationHook>,
    ) -> (tokio::task::JoinHandle<()>, Api<DynamicObject>) {
        self.run_web_app_retrying(url, sync_options, hooks, None)
            .await
    }

    /// [`East::run_web_app_with`] with `retry` as the app's `syncPolicy.retry`.
    async fn run_web_app_retrying(
        &self,
        url: &str,
        sync_options: &[&str],
        hooks: Vec<controller::ApplicationHook>,
        retry: Option<Value>,
    ) -> (tokio::task::JoinHandle<()>, Api<DynamicObject>) {
        let controller = tokio::spawn(controller::run_applications_with(
            self.reconciler.clone(),
            ControllerOptions {
                workers: 2,
                ..Default::default()
            },
            controller::Feeds {
                hooks,
                ..Default::default()
            },
        ));
        let apps: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), "argocd", &application_resource());
        let mut app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
                "destination": {"server": self.server.cluster_url("east"), "namespace": "web"},
                "syncPolicy": {"automated": {"prune": true, "selfHeal": true}, "syncOptions": sync_options},
            },
        });
        if let Some(retry) = retry {
            app["spec"]["syncPolicy"]["retry"] = retry;
        }
        let app: DynamicObject = serde_json::from_value(app).unwrap();
        apps.create(&PostParams::default(), &app).await.unwrap();
        (controller, apps)
    }
}

async fn hub_and_east(mirrors: &MirrorCache) -> East {
    hub_and_east_with(mirrors, kubesim::FleetConfig::default()).await
}

/// [`hub_and_east`] with the simulated fleet's settings (an audit log, say).
async fn hub_and_east_with(mirrors: &MirrorCache, config: kubesim::FleetConfig) -> East {
    let (fleet, server, hub) = support::simulated_hub_with(&["hub", "east"], config).await;
    support::register_cluster(&fleet, &server, &hub, "east").await;
    let (registry, errors) = clusters::load(&hub, "argocd").await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let reconciler = Arc::new(AppReconciler::new(
        hub.clone(),
        Arc::new(RwLock::new(registry)),
        Sources::new(mirrors.clone()),
        Duration::from_secs(60),
    ));
    East {
        fleet,
        server,
        hub,
        reconciler,
    }
}

/// Cuts `cluster` off (its connections and watches end), runs `meanwhile` on it, then
/// compacts its event log — so no watch can resume past what `meanwhile` did: it must
/// relist — and only then lets clients back in.
fn while_unreachable(cluster: &kubesim::Cluster, meanwhile: impl FnOnce(&kubesim::Cluster)) {
    use kubesim::faults::FaultChange;
    let reachable = |yes: bool| FaultChange {
        unreachable: Some(!yes),
        ..Default::default()
    };
    cluster.change_faults(&reachable(false)).unwrap();
    meanwhile(cluster);
    cluster
        .change_faults(&FaultChange {
            compact: true,
            ..Default::default()
        })
        .unwrap();
    cluster.change_faults(&reachable(true)).unwrap();
}

/// Creates AppProject `argocd/<name>` with `spec`.
async fn create_project(hub: &kube::Client, name: &str, spec: Value) {
    let projects: Api<DynamicObject> = Api::namespaced_with(
        hub.clone(),
        "argocd",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
            "appprojects",
        ),
    );
    let project = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": spec,
    }))
    .unwrap();
    projects
        .create(&PostParams::default(), &project)
        .await
        .unwrap();
}

/// Creates the namespace `name` on the cluster of `client`.
async fn create_namespace(client: &kube::Client, name: &str) {
    let namespace: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
}

/// The ServiceAccount `namespace/account`, bound to `cluster-admin` by a RoleBinding in
/// its namespace alone: all rights there, none elsewhere.
async fn admin_in_namespace(client: &kube::Client, namespace: &str, account: &str) {
    let service_account: k8s_openapi::api::core::v1::ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": account}})).unwrap();
    Api::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &service_account)
        .await
        .unwrap();
    let binding: k8s_openapi::api::rbac::v1::RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": account},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    }))
    .unwrap();
    Api::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

/// A repository whose `deploy/cm.yaml` is `manifest` (its work tree and URL) and a hub
/// with the cluster `east` reading it, the Application controller not started.
async fn repository_and_hub(
    dir: &std::path::Path,
    manifest: &str,
) -> (std::path::PathBuf, String, East) {
    let (work, url) = repository(dir, &[("deploy/cm.yaml", manifest)]);
    let mirrors = MirrorCache::new(CacheOptions::new(dir.join("cache"))).unwrap();
    (work, url, hub_and_east(&mirrors).await)
}

/// What most tests here start from: a repository whose `deploy/cm.yaml` is `manifest`,
/// a hub with the cluster `east`, and the Application controller running.
struct Deploying {
    url: String,
    east_setup: East,
    apps: Api<DynamicObject>,
    _controller: tokio::task::JoinHandle<()>,
}

async fn deploying(dir: &std::path::Path, manifest: &str) -> Deploying {
    let (_work, url, east_setup) = repository_and_hub(dir, manifest).await;
    let (_controller, apps) = east_setup.run_controller();
    Deploying {
        url,
        east_setup,
        apps,
        _controller,
    }
}

/// `argocd-cm`'s health scripts are process-wide: the tests that watch it take turns.
static ARGOCD_CM: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs the `argocd-cm` watch for `east`'s hub; the test holds the turn it returns.
async fn watch_argocd_cm(east: &East) -> tokio::sync::MutexGuard<'static, ()> {
    let turn = ARGOCD_CM.lock().await;
    tokio::spawn(flotilla_hub::argocd_cm::run(
        east.hub.clone(),
        "argocd".into(),
        east.reconciler.settings.clone(),
    ));
    turn
}

/// Creates `argocd-cm` with `data` on `east`'s hub; the ConfigMaps of its namespace.
async fn create_argocd_cm(east: &East, data: Value) -> Api<ConfigMap> {
    let config_maps = Api::<ConfigMap>::namespaced(east.hub.clone(), "argocd");
    let settings: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": data,
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &settings)
        .await
        .unwrap();
    config_maps
}

/// Creates the Application `argocd/<name>` with `spec`.
async fn create_app(apps: &Api<DynamicObject>, name: &str, spec: Value) {
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": spec,
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app).await.unwrap();
}

/// Asks for a refresh of Application `argocd/<name>` as `argocd app get --refresh` does
/// (`argocd.argoproj.io/refresh: <value>`; `hard` also bypasses caches).
async fn request_refresh(apps: &Api<DynamicObject>, name: &str, value: &str) {
    apps.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": value}}})),
    )
    .await
    .unwrap();
}

/// How `kubectl edit` writes: an update by manager `kubectl-edit`.
fn by_hand() -> PatchParams {
    PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    }
}

/// A git work tree `dir/work` with `files` committed on `main`, and its `file://` URL.
fn repository(dir: &std::path::Path, files: &[(&str, &str)]) -> (std::path::PathBuf, String) {
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    for (path, contents) in files {
        write(&work, path, contents);
    }
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "first"]);
    let url = format!("file://{}", work.join(".git").display());
    (work, url)
}

const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n";
const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: registry.local/web:1.0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_automated_application_syncs_prunes_and_reports_like_argo_cd() {
    let dir = tempfile::tempdir().unwrap();
    let (work, url) = repository(
        dir.path(),
        &[
            ("deploy/settings.yaml", CONFIG_MAP),
            ("deploy/web.yaml", DEPLOYMENT),
        ],
    );

    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let (server, hub, reconciler) = (&east_setup.server, &east_setup.hub, &east_setup.reconciler);
    let east = client(&east_setup.server, "east").await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;

    let status = wait_for("Synced and Healthy", async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced"
            && status.pointer("/health/status")? == "Healthy")
            .then_some(status)
    })
    .await;
    let first_commit = status
        .pointer("/sync/revision")
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    assert_eq!(first_commit.len(), 40);
    assert_eq!(status["sourceType"], "Directory");
    assert_eq!(status["operationState"]["phase"], "Succeeded");
    assert_eq!(
        status["summary"]["images"],
        json!(["registry.local/web:1.0"])
    );
    let resources = status["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 2, "{resources:?}");
    assert!(resources.iter().any(|r| r["kind"] == "Deployment"
        && r["group"] == "apps"
        && r["namespace"] == "web"
        && r["health"]["status"] == "Healthy"));
    let config_maps: Api<ConfigMap> = Api::namespaced(east.clone(), "web");
    assert_eq!(
        config_maps.get("settings").await.unwrap().data.unwrap()["color"],
        "blue"
    );

    // A hand edit (`kubectl edit` is an Update by manager `kubectl-edit`) is seen as drift
    // with its field and manager, and undone by selfHeal.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(east.clone(), "web");
    let edited = tokio::time::Instant::now();
    deployments
        .patch(
            "web",
            &by_hand(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    let event = wait_for("the drift event", async || {
        reconciler
            .drift_watches()?
            .events()
            .into_iter()
            .find(|e| e.managers.contains(&"kubectl-edit".to_string()))
    })
    .await;
    let detected = edited.elapsed();
    assert_eq!(event.app, "argocd/web");
    assert_eq!(event.object, "Deployment web/web");
    assert!(
        event.fields.contains(&".spec.replicas".to_string()),
        "{event:?}"
    );
    wait_for("selfHeal restores replicas", async || {
        let d = deployments.get("web").await.ok()?;
        (d.spec?.replicas == Some(2)).then_some(())
    })
    .await;
    eprintln!(
        "drift detected after {:?}, healed after {:?}",
        detected,
        edited.elapsed()
    );

    // A push that removes a file: after the webhook's trigger, the object is pruned.
    std::fs::remove_file(work.join("deploy/settings.yaml")).unwrap();
    git(&work, &["commit", "-q", "-am", "drop settings"]);
    let identity = flotilla_source::GitUrl::parse(&url).unwrap().identity();
    mirrors.trigger(&identity);
    wait_for("settings pruned", async || {
        config_maps
            .get_opt("settings")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let status = wait_for("the new revision reported", async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/revision")? != first_commit.as_str()).then_some(status)
    })
    .await;
    assert_eq!(status["resources"].as_array().unwrap().len(), 1);

    // A path that does not exist: a ComparisonError, and nothing is pruned.
    apps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"source": {"path": "nowhere"}}})),
    )
    .await
    .unwrap();
    let status = wait_for("a ComparisonError", async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/conditions/0/type")? == "ComparisonError").then_some(status)
    })
    .await;
    let message = status
        .pointer("/conditions/0/message")
        .and_then(Value::as_str)
        .unwrap();
    assert!(
        message.contains("nowhere: app path does not exist"),
        "{message}"
    );
    assert_eq!(status["sync"]["status"], "Unknown");
    assert!(
        deployments.get_opt("web").await.unwrap().is_some(),
        "nothing pruned on a failed render"
    );

    // A project that does not permit the destination: nothing is applied, the condition
    // says why in Argo CD's words.
    create_project(
        hub,
        "restricted",
        json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "allowed"}]}),
    )
    .await;
    let locked: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "locked", "namespace": "argocd"},
        "spec": {
            "project": "restricted",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": server.cluster_url("east"), "namespace": "forbidden"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        },
    }))
    .unwrap();
    apps.create(&PostParams::default(), &locked).await.unwrap();
    let status = wait_for("the project's refusal", async || {
        let app = apps.get("locked").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/conditions/0/type")? == "InvalidSpecError").then_some(status)
    })
    .await;
    let message = status
        .pointer("/conditions/0/message")
        .and_then(Value::as_str)
        .unwrap();
    assert!(
        message.contains("do not match any of the allowed destinations in project 'restricted'"),
        "{message}"
    );
    let forbidden: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(east.clone());
    assert!(
        forbidden.get_opt("forbidden").await.unwrap().is_none(),
        "nothing applied"
    );

    // Deleting an Application with Argo CD's resources finalizer deletes what it tracks
    // first, then the Application goes.
    apps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"finalizers": ["resources-finalizer.argocd.argoproj.io"]}}),
        ),
    )
    .await
    .unwrap();
    apps.delete("web", &Default::default()).await.unwrap();
    wait_for("the Application and its Deployment gone", async || {
        let app_gone = apps.get_opt("web").await.ok()?.is_none();
        let deployment_gone = deployments.get_opt("web").await.ok()?.is_none();
        (app_gone && deployment_gone).then_some(())
    })
    .await;
}

/// An Application deleted while the hub could not watch (the hub unreachable, its event log
/// compacted meanwhile, so the watch relists instead of resuming) is forgotten as client-go's
/// informer forgets what a relist no longer shows: the controller's hooks hear of the
/// deletion, and a hand edit of what it had deployed is no longer undone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_application_deleted_while_the_watch_was_down_is_forgotten_after_the_relist() {
    let dir = tempfile::tempdir().unwrap();
    let (_, url) = repository(dir.path(), &[("deploy/settings.yaml", CONFIG_MAP)]);

    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let setup = hub_and_east(&mirrors).await;
    let east = client(&setup.server, "east").await;
    let deletions = Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let heard = deletions.clone();
    let hook: controller::ApplicationHook = Arc::new(move |app: &Value, present: bool| {
        if !present {
            heard.lock().unwrap().push(app.clone());
        }
    });
    let (_controller, apps) = setup
        .run_web_app_with(&url, &["CreateNamespace=true"], vec![hook])
        .await;
    let config_maps: Api<ConfigMap> = Api::namespaced(east.clone(), "web");
    wait_for("the app's ConfigMap", async || {
        config_maps.get("settings").await.ok().map(|_| ())
    })
    .await;

    // The hub goes away; the Application is deleted behind the watch's back and the log
    // compacted, so the watch cannot resume where it was.
    let hub_cluster = setup.fleet.cluster("hub").unwrap();
    while_unreachable(&hub_cluster, |hub| {
        let application = hub
            .registry()
            .by_kind("argoproj.io", "v1alpha1", "Application")
            .unwrap();
        hub.delete(
            &application,
            Some("argocd"),
            "web",
            &kubesim::cluster::DeleteOptions::default(),
        )
        .unwrap();
    });
    assert!(deletions.lock().unwrap().is_empty(), "no event could tell");

    let last = wait_for("the relist to report the deletion", async || {
        deletions
            .lock()
            .unwrap()
            .iter()
            .find(|app| AppReconciler::key_of(app) == "argocd/web")
            .cloned()
    })
    .await;
    // The hooks hear of it as last seen (who owned it, what it deployed).
    assert_eq!(last["spec"]["destination"]["namespace"], "web", "{last}");
    assert!(apps.get_opt("web").await.unwrap().is_none());
    // Nothing reconciles the forgotten app: its ConfigMap keeps a hand edit.
    config_maps
        .patch(
            "settings",
            &by_hand(),
            &Patch::Merge(json!({"data": {"color": "green"}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        config_maps.get("settings").await.unwrap().data.unwrap()["color"],
        "green",
        "a deleted Application's resources are not synced again"
    );
}

/// Stopping the controller stops what it started: a reconcile waiting on a repository and
/// the prefetch of that repository used to run on, detached, until the fetch timed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_controller_stops_its_fetches() {
    use tokio::io::AsyncReadExt as _;
    let dir = tempfile::tempdir().unwrap();
    // A Git host that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/team/app", silent.local_addr().unwrap());
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = silent.accept().await {
            let _ = accepted_tx.send(stream);
        }
    });

    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east = hub_and_east(&mirrors).await;
    let (controller, _apps) = east.run_web_app(&url, &[]).await;

    let mut open = vec![
        tokio::time::timeout(Duration::from_secs(20), accepted.recv())
            .await
            .expect("the controller asked the Git host")
            .unwrap(),
    ];
    // Whatever else reached the host meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(stream) = accepted.try_recv() {
        open.push(stream);
    }
    controller.abort();
    let _ = controller.await;
    for mut stream in open {
        let mut buf = vec![0; 4096];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            // The request is read; the end of the stream is the client giving up.
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "a fetch of the stopped controller still holds its connection"
        );
    }
}

/// A hand edit and a deletion made while the hub could not watch the cluster (the cluster
/// unreachable, its event log compacted meanwhile, so the drift watch relists instead of
/// resuming) are drift as much as those a watch event shows: reported when the relist
/// shows them, and undone by selfHeal — not left until the next full sync minutes later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hand_changes_made_while_the_watch_was_away_are_seen_by_the_relist_and_healed() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  size: small\n";
    let (_, url) = repository(
        dir.path(),
        &[
            ("deploy/settings.yaml", CONFIG_MAP),
            ("deploy/extra.yaml", extra),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let setup = hub_and_east(&mirrors).await;
    let east = client(&setup.server, "east").await;
    let (_controller, _apps) = setup.run_web_app(&url, &["CreateNamespace=true"]).await;
    let config_maps: Api<ConfigMap> = Api::namespaced(east.clone(), "web");
    let color = async || {
        config_maps
            .get("settings")
            .await
            .ok()?
            .data?
            .get("color")
            .cloned()
    };
    wait_for("the app's ConfigMaps", async || {
        config_maps.get("extra").await.ok()?;
        (color().await? == "blue").then_some(())
    })
    .await;
    // The drift watch has listed both (a first listing shows state, not drift).
    let instance = config_maps
        .get("settings")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap()[flotilla_sync::tracking::INSTANCE_LABEL]
        .clone();
    let server = setup.server.cluster_url("east");
    let resource = ApiResource::erase::<ConfigMap>(&());
    wait_for("the drift cache to hold both ConfigMaps", async || {
        let seen = setup
            .reconciler
            .drift_watches()?
            .view(&server, &Default::default())
            .labelled(&resource, &instance)?;
        (seen.len() == 2).then_some(())
    })
    .await;

    let cluster = setup.fleet.cluster("east").unwrap();
    while_unreachable(&cluster, |cluster| {
        let config_map = cluster.registry().by_kind("", "v1", "ConfigMap").unwrap();
        cluster
            .modify(
                &config_map,
                Some("web"),
                "settings",
                kubesim::meta::Part::Main,
                kubesim::cluster::WriteOptions::by("kubectl-edit"),
                |current| {
                    let mut edited = current.clone();
                    edited["data"]["color"] = json!("green");
                    Ok(edited)
                },
            )
            .unwrap();
        cluster
            .delete(
                &config_map,
                Some("web"),
                "extra",
                &kubesim::cluster::DeleteOptions::default(),
            )
            .unwrap();
    });

    let event = wait_for("the drift event from the relist", async || {
        setup
            .reconciler
            .drift_watches()?
            .events()
            .into_iter()
            .find(|e| e.object == "ConfigMap web/settings")
    })
    .await;
    assert_eq!(event.app, "argocd/web");
    assert!(
        event.managers.contains(&"kubectl-edit".to_string()),
        "{event:?}"
    );
    let deleted = wait_for("the deletion's drift event", async || {
        setup
            .reconciler
            .drift_watches()?
            .events()
            .into_iter()
            .find(|e| e.object == "ConfigMap web/extra")
    })
    .await;
    assert!(deleted.deleted, "{deleted:?}");
    wait_for(
        "selfHeal restores the color and the deleted ConfigMap",
        async || {
            config_maps.get("extra").await.ok()?;
            (color().await? == "blue").then_some(())
        },
    )
    .await;
}

/// A status written while the hub could not watch the cluster is no drift, but the app's
/// health must follow it when the relist shows it, as it follows a watch event — not stay
/// what it was until the next full sync. Here the autoscaler stops being able to scale.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_health_change_made_while_the_watch_was_away_reaches_the_app_after_the_relist() {
    let dir = tempfile::tempdir().unwrap();
    let autoscaler = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: web\nspec:\n  scaleTargetRef:\n    apiVersion: apps/v1\n    kind: Deployment\n    name: web\n  minReplicas: 1\n  maxReplicas: 3\n";
    let (_, url) = repository(dir.path(), &[("deploy/hpa.yaml", autoscaler)]);
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let setup = hub_and_east(&mirrors).await;
    let east = client(&setup.server, "east").await;
    let (_controller, apps) = setup.run_web_app(&url, &["CreateNamespace=true"]).await;
    let health = async || {
        let app = apps.get("web").await.ok()?;
        Some(
            app.data
                .pointer("/status/health/status")?
                .as_str()?
                .to_string(),
        )
    };
    let autoscalers: Api<DynamicObject> = Api::namespaced_with(
        east,
        "web",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("autoscaling", "v2", "HorizontalPodAutoscaler"),
            "horizontalpodautoscalers",
        ),
    );
    let able_to_scale = |able: bool, reason: &str| {
        json!({"status": {"currentReplicas": 1, "desiredReplicas": 1, "conditions": [{
            "type": "AbleToScale", "status": if able { "True" } else { "False" },
            "reason": reason, "message": reason,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }]}})
    };
    wait_for("the autoscaler", async || autoscalers.get("web").await.ok()).await;
    // The autoscaling controller reports it can scale: the app settles Healthy.
    let controller_manager = PatchParams {
        field_manager: Some("kube-controller-manager".into()),
        ..Default::default()
    };
    autoscalers
        .patch_status(
            "web",
            &controller_manager,
            &Patch::Merge(able_to_scale(true, "SucceededGetScale")),
        )
        .await
        .unwrap();
    wait_for("the app Healthy", async || {
        (health().await? == "Healthy").then_some(())
    })
    .await;

    let cluster = setup.fleet.cluster("east").unwrap();
    while_unreachable(&cluster, |cluster| {
        let autoscaler = cluster
            .registry()
            .by_kind("autoscaling", "v2", "HorizontalPodAutoscaler")
            .unwrap();
        cluster
            .modify(
                &autoscaler,
                Some("web"),
                "web",
                kubesim::meta::Part::Status,
                kubesim::cluster::WriteOptions::by("kube-controller-manager"),
                |current| {
                    let mut changed = current.clone();
                    changed["status"] = able_to_scale(false, "FailedGetScale")["status"].clone();
                    Ok(changed)
                },
            )
            .unwrap();
    });

    wait_for("the app Degraded", async || {
        (health().await? == "Degraded").then_some(())
    })
    .await;
    let events = setup.reconciler.drift_watches().unwrap().events();
    assert!(
        events
            .iter()
            .all(|e| !e.object.contains("HorizontalPodAutoscaler")),
        "a status write is no drift: {events:?}"
    );
}

/// A sync the API server refuses is retried as `syncPolicy.retry` says (Argo CD's backoff
/// and messages), then left: the same revision is not synced again — selfHeal or not —
/// and the app carries a SyncError condition, until a new commit is synced at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_sync_is_retried_as_the_policy_says_then_left_until_a_new_commit() {
    let dir = tempfile::tempdir().unwrap();
    // Upper case is not a valid object name: the API server refuses the apply.
    let bad =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Settings\ndata:\n  color: blue\n";
    let (work, url) = repository(dir.path(), &[("deploy/settings.yaml", bad)]);
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let audit = dir.path().join("audit.log");
    let setup = hub_and_east_with(
        &mirrors,
        kubesim::FleetConfig {
            audit_log: Some(audit.clone()),
            ..Default::default()
        },
    )
    .await;
    let retry = json!({"limit": 2, "backoff": {"duration": "1s", "factor": 1}});
    let (_controller, apps) = setup
        .run_web_app_retrying(&url, &["CreateNamespace=true"], Vec::new(), Some(retry))
        .await;
    let operation = async || {
        let app = apps.get("web").await.ok()?;
        app.data.pointer("/status/operationState").cloned()
    };
    let attempts = || {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("\"verb\":\"patch\"")
                    && l.contains("\"name\":\"Settings\"")
                    && !l.contains("\"dryRun\":true")
            })
            .count()
    };

    let first = wait_for("the first retry scheduled", async || {
        operation().await.filter(|o| o["retryCount"] == 1)
    })
    .await;
    assert_eq!(first["phase"], "Running", "{first}");
    let message = first["message"].as_str().unwrap();
    assert!(
        message.starts_with(r#"one or more objects failed to apply, reason: ConfigMap "Settings" is invalid: metadata.name: Invalid value: "Settings""#)
            && message.contains(". Retrying attempt #1 at "),
        "{message}"
    );
    assert_eq!(first["operation"]["retry"]["limit"], 2);

    let last = wait_for("the retries spent", async || {
        operation().await.filter(|o| o["phase"] == "Failed")
    })
    .await;
    assert_eq!(last["retryCount"], 2, "{last}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .ends_with(" (retried 2 times)."),
        "{last}"
    );
    let revision = last["syncResult"]["revision"].as_str().unwrap().to_string();
    let condition = wait_for("the SyncError condition", async || {
        let app = apps.get("web").await.ok()?;
        app.data.pointer("/status/conditions/0").cloned()
    })
    .await;
    assert_eq!(condition["type"], "SyncError");
    assert_eq!(
        condition["message"],
        format!(
            "Failed last sync attempt to [{revision}]: {}",
            last["message"].as_str().unwrap()
        )
    );
    // The first attempt and two retries, and no more.
    let spent = attempts();
    assert_eq!(spent, 3);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        attempts(),
        spent,
        "no sync of the same revision after the retries"
    );

    // A new commit is a new operation: synced at once, the condition gone.
    write(
        &work,
        "deploy/settings.yaml",
        &bad.replace("name: Settings", "name: settings"),
    );
    git(&work, &["commit", "-qam", "a valid name"]);
    let identity = flotilla_source::GitUrl::parse(&url).unwrap().identity();
    mirrors.trigger(&identity);
    let fixed = wait_for("the new commit synced", async || {
        let app = apps.get("web").await.ok()?;
        let status = app.data.get("status")?.clone();
        (status.pointer("/operationState/phase")? == "Succeeded").then_some(status)
    })
    .await;
    assert!(fixed.get("conditions").is_none(), "{fixed}");
    assert!(
        fixed.pointer("/operationState/retryCount").is_none(),
        "{fixed}"
    );
}

impl East {
    /// Starts the Application controller (two workers) and returns it with the hub's
    /// Applications API.
    fn run_controller(&self) -> (tokio::task::JoinHandle<()>, Api<DynamicObject>) {
        let controller = tokio::spawn(controller::run_applications_with(
            self.reconciler.clone(),
            ControllerOptions {
                workers: 2,
                ..Default::default()
            },
            controller::Feeds::default(),
        ));
        let apps = Api::namespaced_with(self.hub.clone(), "argocd", &application_resource());
        (controller, apps)
    }
}

/// The first condition of Application `argocd/<name>`, as (type, message), once it
/// has one.
async fn first_condition(apps: &Api<DynamicObject>, name: &str) -> (String, String) {
    wait_for(&format!("{name}'s condition"), async || {
        let app = apps.get(name).await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        let c = status.pointer("/conditions/0")?.clone();
        Some((
            c["type"].as_str()?.to_string(),
            c["message"].as_str()?.to_string(),
        ))
    })
    .await
}

/// Argo CD's multi-source Application: a `ref` source lends its files to another
/// source's `$values/…` Helm value files and deploys nothing of its own (not even the
/// manifest at its root), a chart and a plain directory from two more repositories are
/// deployed together, the status carries one revision, source and source type per
/// source, and a push to the values repository alone reaches the cluster. An unknown
/// `$ref` is a ComparisonError in Argo CD's words; a `ref` used twice is an
/// InvalidSpecError.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_multi_source_application_takes_value_files_from_its_ref_source() {
    let dir = tempfile::tempdir().unwrap();
    let (values_work, values_url) = repository(
        &dir.path().join("values"),
        &[
            ("envs/prod.yaml", "color: red\n"),
            (
                "stray.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n",
            ),
        ],
    );
    let (_, chart_url) = repository(
        &dir.path().join("chart"),
        &[
            (
                "chart/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            ),
            ("chart/values.yaml", "color: default\nsize: small\n"),
            ("chart/values-web.yaml", "size: large\n"),
            (
                "chart/templates/color.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-color\ndata:\n  color: {{ .Values.color }}\n  size: {{ .Values.size }}\n  owner: {{ .Values.owner | quote }}\n",
            ),
        ],
    );
    let (_, extra_url) = repository(
        &dir.path().join("extra"),
        &[(
            "extra/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
        )],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let east = client(&east_setup.server, "east").await;
    let (_controller, apps) = east_setup.run_controller();
    let create = async |name: &str, sources: Value| {
        create_app(&apps, name, json!({
                "project": "default",
                "sources": sources,
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
                "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
            })).await;
    };
    // Argo CD's build environment is expanded in value file paths and parameters.
    let chart_source = |value_file: &str| {
        json!({"repoURL": chart_url, "targetRevision": "main", "path": "chart",
               "helm": {"valueFiles": [value_file, "values-$ARGOCD_APP_NAME.yaml"],
                        "parameters": [{"name": "owner",
                                        "value": "${ARGOCD_APP_NAME}@$ARGOCD_APP_REVISION_SHORT"}]}})
    };
    create(
        "web",
        json!([
            {"repoURL": values_url, "targetRevision": "main", "ref": "values"},
            chart_source("$values/envs/prod.yaml"),
            {"repoURL": extra_url, "targetRevision": "main", "path": "extra"},
        ]),
    )
    .await;
    let status = wait_for("Synced and Healthy", async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced"
            && status.pointer("/health/status")? == "Healthy")
            .then_some(status)
    })
    .await;
    let revisions = status["sync"]["revisions"].as_array().expect("revisions");
    assert_eq!(revisions.len(), 3, "{status}");
    assert!(revisions.iter().all(|r| r.as_str().unwrap().len() == 40));
    assert!(status["sync"].get("revision").is_none(), "{status}");
    assert_eq!(
        status["sync"]["comparedTo"]["sources"][0]["ref"], "values",
        "{status}"
    );
    assert_eq!(status["sourceTypes"], json!(["", "Helm", "Directory"]));
    assert_eq!(
        status["operationState"]["syncResult"]["revisions"],
        status["sync"]["revisions"]
    );
    let config_maps: Api<ConfigMap> = Api::namespaced(east.clone(), "web");
    let color = async || {
        config_maps
            .get_opt("web-color")
            .await
            .ok()
            .flatten()
            .and_then(|c| c.data)
            .and_then(|d| d.get("color").cloned())
    };
    assert_eq!(color().await.as_deref(), Some("red"));
    let data = config_maps.get("web-color").await.unwrap().data.unwrap();
    let chart_commit = revisions[1].as_str().unwrap();
    assert_eq!(data["size"], "large", "values-$ARGOCD_APP_NAME.yaml");
    assert_eq!(data["owner"], format!("web@{}", &chart_commit[..7]));
    assert!(config_maps.get_opt("extra").await.unwrap().is_some());
    assert!(
        config_maps.get_opt("stray").await.unwrap().is_none(),
        "a ref-only source deploys nothing"
    );

    // A push to the values repository alone.
    write(&values_work, "envs/prod.yaml", "color: green\n");
    git(&values_work, &["commit", "-q", "-am", "green"]);
    mirrors.trigger(
        &flotilla_source::GitUrl::parse(&values_url)
            .unwrap()
            .identity(),
    );
    wait_for("the new value applied", async || {
        (color().await.as_deref() == Some("green")).then_some(())
    })
    .await;

    let condition = async |name: &str| first_condition(&apps, name).await;
    create(
        "unknown-ref",
        json!([
            {"repoURL": values_url, "targetRevision": "main", "ref": "values"},
            chart_source("$nope/envs/prod.yaml"),
        ]),
    )
    .await;
    let (kind, message) = condition("unknown-ref").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.starts_with(
            "Failed to load target state: failed to generate manifest for source 2 of 2: "
        ) && message.ends_with(
            "source referenced \"$nope\", which is not one of the available sources ($values)"
        ),
        "{message}"
    );
    create(
        "twice",
        json!([
            {"repoURL": values_url, "targetRevision": "main", "ref": "values"},
            {"repoURL": extra_url, "targetRevision": "main", "ref": "values"},
        ]),
    )
    .await;
    assert_eq!(
        condition("twice").await,
        (
            "InvalidSpecError".to_string(),
            "invalid sources: multiple sources had the same `ref` key".to_string()
        )
    );
}

/// An Application whose source is a chart of a Helm repository (`chart` with a
/// version constraint): the index is read over HTTP, the highest matching version is
/// downloaded, checked against its digest and rendered with the chart's own value
/// files, and the version is the revision Argo CD reports. No matching version, and a
/// package whose digest differs from the index's, are ComparisonErrors.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chart_from_a_helm_repository_is_picked_by_version_and_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let charts = dir.path().join("site/charts");
    let chart = charts.join("web");
    write(&chart, "values.yaml", "color: blue\n");
    write(&chart, "values-prod.yaml", "color: red\n");
    write(
        &chart,
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-chart\ndata:\n  color: {{ .Values.color }}\n  version: {{ .Chart.Version | quote }}\n",
    );
    let mut entries = Vec::new();
    for version in ["1.1.0", "1.2.0", "2.0.0-rc.1"] {
        write(
            &chart,
            "Chart.yaml",
            &format!("apiVersion: v2\nname: web\nversion: {version}\n"),
        );
        let digest = package_chart(&charts, "web", version);
        entries.push(
            json!({"version": version, "urls": [format!("web-{version}.tgz")], "digest": digest}),
        );
    }
    let index = json!({"apiVersion": "v1", "entries": {
        "web": entries,
        "broken": [{"version": "1.0.0", "urls": ["web-1.1.0.tgz"], "digest": "00"}],
    }});
    write(&charts, "index.yaml", &index.to_string());
    let base = serve_files(dir.path().join("site")).await;
    let repo = format!("{base}/charts");

    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let east = client(&east_setup.server, "east").await;
    let (_controller, apps) = east_setup.run_controller();
    let create = async |name: &str, chart: &str, wanted: &str| {
        create_app(&apps, name, json!({
                "project": "default",
                "source": {"repoURL": repo, "chart": chart, "targetRevision": wanted,
                           "helm": {"valueFiles": ["values-prod.yaml"]}},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
            })).await;
    };
    create("web", "web", "1.*").await;
    let status = wait_for("Synced and Healthy", async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced"
            && status.pointer("/health/status")? == "Healthy")
            .then_some(status)
    })
    .await;
    assert_eq!(
        status["sync"]["revision"], "1.2.0",
        "the highest 1.x, not the rc"
    );
    assert_eq!(status["sourceType"], "Helm");
    let data = Api::<ConfigMap>::namespaced(east.clone(), "web")
        .get("web-chart")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["color"], "red", "the chart's own values-prod.yaml");
    assert_eq!(data["version"], "1.2.0");

    let condition = async |name: &str| first_condition(&apps, name).await;
    create("too-new", "web", "3.x").await;
    let (kind, message) = condition("too-new").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.ends_with(&format!(
            "no version of chart \"web\" in {repo} matches \"3.x\""
        )),
        "{message}"
    );
    create("tampered", "broken", "1.0.0").await;
    let (kind, message) = condition("tampered").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.contains("does not match the index's 00"),
        "{message}"
    );

    // A project that does not permit the repository: refused before anything is read
    // (a fetch would have failed first, the repository path not existing).
    create_project(
        &east_setup.hub,
        "git-only",
        json!({"sourceRepos": ["https://git.example.com/*"],
               "destinations": [{"server": "*", "namespace": "*"}]}),
    )
    .await;
    let elsewhere = format!("{base}/not-a-repository");
    create_app(
        &apps,
        "not-permitted",
        json!({
            "project": "git-only",
            "source": {"repoURL": elsewhere, "chart": "web", "targetRevision": "1.*"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
        }),
    )
    .await;
    assert_eq!(
        condition("not-permitted").await,
        (
            "InvalidSpecError".to_string(),
            format!("application repo {elsewhere} is not permitted in project 'git-only'")
        )
    );
}

/// A Helm repository in `dir`: for each (chart, version, ConfigMap name), a chart whose
/// one template is that ConfigMap, packaged, and an `index.yaml` listing them.
/// A chart renders with its destination's Kubernetes version as
/// `.Capabilities.KubeVersion` and the API versions it serves in
/// `.Capabilities.APIVersions`, as Argo CD sends the cluster's version (the `gitVersion`
/// read as `ParseGeneric`) and its discovered resources (`APIResourcesToStrings`) to its
/// repo server, so a chart's version gates and `Has` checks pick what that cluster serves.
/// A definition the app itself applies counts from the next comparison on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chart_renders_with_its_destinations_kubernetes_and_api_versions() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd = |group: &str, kind: &str, plural: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {plural}.{group}\nspec:\n  group: {group}\n  names: {{kind: {kind}, plural: {plural}, singular: {singular}, listKind: {kind}List}}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
            singular = kind.to_lowercase(),
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: capabilities\ndata:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  policy: {{ if semverCompare \">=1.30-0\" .Capabilities.KubeVersion.Version }}new{{ else }}old{{ end }}\n  monitors: {{ .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1/ServiceMonitor\" | quote }}\n  monitoring: {{ .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\" | quote }}\n  widgets: {{ .Capabilities.APIVersions.Has \"example.com/v1/Widget\" | quote }}\n  deployments: {{ .Capabilities.APIVersions.Has \"apps/v1/Deployment\" | quote }}\n";
    let (work, url) = repository(
        dir.path(),
        &[
            (
                "deploy/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            ),
            ("deploy/templates/cm.yaml", template),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let setup = hub_and_east_with(
        &mirrors,
        kubesim::FleetConfig {
            kube_version: kubesim::KubeVersion {
                major: 1,
                minor: 29,
                patch: 7,
            },
            ..Default::default()
        },
    )
    .await;
    let east = client(&setup.server, "east").await;
    let monitors: CustomResourceDefinition = serde_saphyr::from_str(&crd(
        "monitoring.coreos.com",
        "ServiceMonitor",
        "servicemonitors",
    ))
    .unwrap();
    Api::<CustomResourceDefinition>::all(east.clone())
        .create(&PostParams::default(), &monitors)
        .await
        .unwrap();
    let (_controller, apps) = setup.run_web_app(&url, &["CreateNamespace=true"]).await;
    let config_maps = Api::<ConfigMap>::namespaced(east.clone(), "web");
    let data = wait_for("the chart rendered and applied", async || {
        config_maps.get_opt("capabilities").await.ok()??.data
    })
    .await;
    assert_eq!(data["kube"], "v1.29.7");
    assert_eq!(data["policy"], "old");
    assert_eq!(data["monitors"], "true");
    assert_eq!(data["monitoring"], "true");
    assert_eq!(data["widgets"], "false");
    assert_eq!(data["deployments"], "true");

    // The app brings the Widget definition along (Helm's `crds/`): once applied, the
    // next comparison renders with it.
    write(
        &work,
        "deploy/crds/widgets.yaml",
        &crd("example.com", "Widget", "widgets"),
    );
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "widgets"]);
    request_refresh(&apps, "web", "hard").await;
    let crds = Api::<CustomResourceDefinition>::all(east.clone());
    wait_for("the app applied its definition", async || {
        crds.get_opt("widgets.example.com").await.ok()?
    })
    .await;
    wait_for("the definition seen by the chart", async || {
        request_refresh(&apps, "web", "normal").await;
        let data = config_maps.get_opt("capabilities").await.ok()??.data?;
        (data["widgets"] == "true").then_some(())
    })
    .await;
}

fn publish_charts(dir: &std::path::Path, charts: &[(&str, &str, &str)]) {
    let mut entries = serde_json::Map::new();
    for (name, version, config_map) in charts {
        let chart = dir.join(name);
        write(
            &chart,
            "Chart.yaml",
            &format!("apiVersion: v2\nname: {name}\nversion: {version}\n"),
        );
        write(
            &chart,
            "templates/cm.yaml",
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {config_map}\n"),
        );
        let digest = package_chart(dir, name, version);
        entries.insert(
            name.to_string(),
            json!([{"version": version, "urls": [format!("{name}-{version}.tgz")], "digest": digest}]),
        );
    }
    let index = json!({"apiVersion": "v1", "entries": entries});
    write(dir, "index.yaml", &index.to_string());
}

/// Many Applications of two charts of one repository asking at once (a fleet's cold
/// start) make one index request and one download per package between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_askers_of_one_chart_share_one_index_request_and_one_download() {
    let dir = tempfile::tempdir().unwrap();
    publish_charts(
        &dir.path().join("site/charts"),
        &[("web", "1.0.0", "c"), ("api", "2.0.0", "a")],
    );
    let served = Served::default();
    let base = serve_counted(dir.path().join("site"), served.clone()).await;
    let repo = format!("{base}/charts");
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let sources = Sources::new(mirrors);
    let mut askers = tokio::task::JoinSet::new();
    for i in 0..32 {
        let (sources, repo) = (sources.clone(), repo.clone());
        let chart = if i % 2 == 0 { "web" } else { "api" };
        askers.spawn(async move {
            sources
                .chart(&repo, chart, "*", Duration::from_secs(60))
                .await
                .map(|tree| (chart, tree.revision))
        });
    }
    while let Some(done) = askers.join_next().await {
        let (chart, revision) = done.unwrap().unwrap();
        assert_eq!(revision, if chart == "web" { "1.0.0" } else { "2.0.0" });
    }
    let served = served.lock().unwrap().clone();
    assert_eq!(served.get("/charts/index.yaml"), Some(&1), "{served:?}");
    assert_eq!(served.get("/charts/web-1.0.0.tgz"), Some(&1), "{served:?}");
    assert_eq!(served.get("/charts/api-2.0.0.tgz"), Some(&1), "{served:?}");
}

/// A private Helm repository: without credentials the source fails (HTTP 401); with an
/// Argo CD repository Secret for its URL (found by the hub's watch of those Secrets)
/// the chart is fetched with basic auth and deployed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_helm_repository_is_read_with_its_repository_secret() {
    let dir = tempfile::tempdir().unwrap();
    publish_charts(
        &dir.path().join("site/charts"),
        &[("web", "1.0.0", "private-chart")],
    );
    // `helm:s3cr3t`, base64.
    let base = serve_guarded(
        dir.path().join("site"),
        Served::default(),
        Some("Basic aGVsbTpzM2NyM3Q="),
    )
    .await;
    let repo = format!("{base}/charts");
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let store = east_setup.reconciler.sources.repo_credentials().clone();
    tokio::spawn(flotilla_hub::repo_creds::run(
        east_setup.hub.clone(),
        "argocd".into(),
        store.clone(),
    ));
    let (_controller, apps) = east_setup.run_controller();
    let create = async |name: &str| {
        create_app(&apps, name, json!({
                "project": "default",
                "source": {"repoURL": repo, "chart": "web", "targetRevision": "1.0.0"},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
            })).await;
    };
    let status_of = async |name: &str| -> Option<Value> {
        let app = apps.get(name).await.ok()?;
        serde_json::to_value(&app).ok()?.get("status").cloned()
    };
    create("anonymous").await;
    let message = wait_for("the refusal", async || {
        let status = status_of("anonymous").await?;
        status
            .pointer("/conditions/0/message")?
            .as_str()
            .map(str::to_string)
    })
    .await;
    assert!(message.contains("HTTP 401"), "{message}");

    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "private-charts", "namespace": "argocd",
                     "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {"type": "helm", "url": repo, "username": "helm", "password": "s3cr3t"},
    }))
    .unwrap();
    Api::<Secret>::namespaced(east_setup.hub.clone(), "argocd")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    wait_for("the Secret seen", async || {
        let found = store.read().unwrap().lookup(&repo);
        (!matches!(found, flotilla_source::Credentials::None)).then_some(())
    })
    .await;
    create("private").await;
    wait_for("Synced", async || {
        let status = status_of("private").await?;
        (status.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    let east = client(&east_setup.server, "east").await;
    assert!(
        Api::<ConfigMap>::namespaced(east, "web")
            .get_opt("private-chart")
            .await
            .unwrap()
            .is_some()
    );
}

/// Charts in a real OCI registry (`docker-registry`, Basic authentication by htpasswd),
/// pushed as `helm push` pushes them. The client alone: anonymous and wrong
/// credentials are refused with the registry's own error, the tags list every version
/// (`_` read back as `+`), an artifact that is not a chart and a missing tag are
/// refused in Helm's words. Then Applications whose repoURL names the registry (no
/// scheme) with a repository Secret (`enableOCI`, `insecureOCIForceHttp`, credentials):
/// a constraint picks the highest matching tag, a version is pulled by its tag, and a
/// constraint no tag meets is a ComparisonError.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chart_from_an_oci_registry_is_pulled_by_tag_and_rendered() {
    use flotilla_source::oci;
    use support::registry::{Registry, htpasswd};
    let dir = tempfile::tempdir().unwrap();
    let password_file = htpasswd(dir.path(), "robot", "s3cr3t");
    let registry = Registry::start(
        dir.path(),
        &format!(
            "  htpasswd:\n    realm: charts\n    path: {}\n",
            password_file.display()
        ),
    );
    // `robot:s3cr3t`, base64.
    let basic = "Basic cm9ib3Q6czNjcjN0";
    let chart = dir.path().join("charts/web");
    write(
        &chart,
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: oci-chart\ndata:\n  version: {{ .Chart.Version | quote }}\n",
    );
    for version in ["1.0.0", "1.1.0", "1.2.0+build.1", "2.0.0"] {
        write(
            &chart,
            "Chart.yaml",
            &format!("apiVersion: v2\nname: web\nversion: {version}\n"),
        );
        package_chart(&dir.path().join("charts"), "web", version);
        let package = std::fs::read(dir.path().join(format!("charts/web-{version}.tgz"))).unwrap();
        registry.push_chart("charts/web", version, &package, Some(basic));
    }
    registry.push(
        "charts/image",
        "1.0.0",
        ("application/vnd.oci.image.config.v1+json", b"{}"),
        ("application/vnd.oci.image.layer.v1.tar+gzip", b"layer"),
        Some(basic),
    );

    let repo = format!("{}/charts", registry.host);
    let web = oci::RepositoryReference::new(&repo, "web").unwrap();
    let timeout = Duration::from_secs(20);
    let with = |credentials| oci::Access {
        credentials,
        plain_http: true,
        http_fallback: false,
        tls: flotilla_source::Tls::default(),
    };
    let robot = with(flotilla_source::Credentials::Basic {
        username: "robot".into(),
        password: "s3cr3t".into(),
    });
    for access in [
        with(flotilla_source::Credentials::None),
        with(flotilla_source::Credentials::Basic {
            username: "robot".into(),
            password: "wrong".into(),
        }),
    ] {
        let refused = oci::versions(&web, &access, timeout)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.ends_with(
                "the registry answered HTTP 401 Unauthorized: UNAUTHORIZED: authentication required"
            ),
            "{refused}"
        );
        assert!(
            !refused.contains("s3cr3t") && !refused.contains("wrong"),
            "{refused}"
        );
    }
    let mut versions = oci::versions(&web, &robot, timeout).await.unwrap();
    versions.sort();
    assert_eq!(versions, ["1.0.0", "1.1.0", "1.2.0+build.1", "2.0.0"]);
    let image = oci::RepositoryReference::new(&repo, "image").unwrap();
    let refused = oci::pull_chart(&image, "1.0.0", &robot, 1 << 20, timeout)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, oci::OciError::NotAChart { detail, .. }
            if detail.starts_with("could not load config with mediatype application/vnd.cncf.helm.config.v1+json")),
        "{refused}"
    );
    let missing = oci::pull_chart(&web, "9.9.9", &robot, 1 << 20, timeout)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with(&format!(
            "oci://{}/charts/web:9.9.9: the registry answered HTTP 404 Not Found: MANIFEST_UNKNOWN",
            registry.host
        )),
        "{missing}"
    );

    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let store = east_setup.reconciler.sources.repo_credentials().clone();
    tokio::spawn(flotilla_hub::repo_creds::run(
        east_setup.hub.clone(),
        "argocd".into(),
        store.clone(),
    ));
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "registry", "namespace": "argocd",
                     "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {"type": "helm", "url": repo, "username": "robot", "password": "s3cr3t",
                       "enableOCI": "true", "insecureOCIForceHttp": "true"},
    }))
    .unwrap();
    Api::<Secret>::namespaced(east_setup.hub.clone(), "argocd")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    wait_for("the Secret seen", async || {
        store.read().unwrap().access(&repo).enable_oci.then_some(())
    })
    .await;
    let (_controller, apps) = east_setup.run_controller();
    let create = async |name: &str, namespace: &str, wanted: &str| {
        create_app(&apps, name, json!({
                "project": "default",
                "source": {"repoURL": repo, "chart": "web", "targetRevision": wanted},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": namespace},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
            })).await;
    };
    let east = client(&east_setup.server, "east").await;
    for (name, wanted, expected) in [
        ("latest-1", "1.*", "1.2.0+build.1"),
        ("pinned", "1.0.0", "1.0.0"),
    ] {
        create(name, name, wanted).await;
        let status = wait_for("Synced", async || {
            let app = apps.get(name).await.ok()?;
            let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
            (status.pointer("/sync/status")? == "Synced").then_some(status)
        })
        .await;
        assert_eq!(status["sync"]["revision"], expected, "{name}");
        assert_eq!(status["sourceType"], "Helm");
        let data = Api::<ConfigMap>::namespaced(east.clone(), name)
            .get("oci-chart")
            .await
            .unwrap()
            .data
            .unwrap();
        assert_eq!(data["version"], expected, "{name}");
    }
    create("too-new", "too-new", "3.x").await;
    let (kind, message) = first_condition(&apps, "too-new").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.ends_with(&format!(
            "no version of chart \"web\" in {repo} matches \"3.x\""
        )),
        "{message}"
    );
}

/// An AppProject's sync windows (Argo CD's `syncWindows`): while a deny window that
/// matches the app is open, its automated sync waits — the app is compared (OutOfSync)
/// and nothing is applied. A project change refreshes the project's apps at once: an
/// invalid schedule blocks and says why, and an open allow window lets the sync run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_windows_hold_automated_syncs_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: windowed\ndata:\n  v: \"1\"\n",
    )
    .await;
    let windows = |windows: Value| {
        json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
               "syncWindows": windows})
    };
    // Open all the time: each minute it opens for an hour.
    create_project(
        &east_setup.hub,
        "default",
        windows(
            json!([{"kind": "deny", "schedule": "* * * * *", "duration": "1h",
                        "applications": ["web"]}]),
        ),
    )
    .await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;
    let status_of = async || -> Option<Value> {
        let app = apps.get("web").await.ok()?;
        serde_json::to_value(&app).ok()?.get("status").cloned()
    };
    let status = wait_for("compared", async || {
        let status = status_of().await?;
        (status.pointer("/sync/status")? == "OutOfSync").then_some(status)
    })
    .await;
    assert!(status.get("operationState").is_none(), "{status}");
    assert!(status.get("conditions").is_none(), "{status}");
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "web");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(config_maps.get_opt("windowed").await.unwrap().is_none());

    let projects: Api<DynamicObject> = Api::namespaced_with(
        east_setup.hub.clone(),
        "argocd",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
            "appprojects",
        ),
    );
    let set_windows = async |list: Value| {
        projects
            .patch(
                "default",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"syncWindows": list}})),
            )
            .await
            .unwrap();
    };
    set_windows(
        json!([{"kind": "deny", "schedule": "0 25 * * *", "duration": "1h",
                        "applications": ["*"]}]),
    )
    .await;
    assert_eq!(
        first_condition(&apps, "web").await,
        (
            "SyncError".to_string(),
            "Sync operation blocked by sync window: invalid sync windows: cannot parse schedule '0 25 * * *': end of range (25) above maximum (23): 25".to_string()
        )
    );
    assert!(config_maps.get_opt("windowed").await.unwrap().is_none());

    set_windows(
        json!([{"kind": "allow", "schedule": "* * * * *", "duration": "1h",
                        "namespaces": ["web"]}]),
    )
    .await;
    wait_for("Synced", async || {
        let status = status_of().await?;
        (status.pointer("/sync/status")? == "Synced" && status.get("conditions").is_none())
            .then_some(())
    })
    .await;
    assert!(config_maps.get_opt("windowed").await.unwrap().is_some());
}

/// An AppProject without cluster resources (a tenant's): a namespaced object written
/// without a namespace is namespaced because the cluster's discovery says so (as Argo
/// CD asks the API), and is applied; a ClusterRole is refused with Argo CD's words and
/// never reaches the cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_project_admits_namespaced_objects_and_refuses_cluster_scoped_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tenant-config\n";
    let (_work, url) = repository(
        dir.path(),
        &[
            ("ok/cm.yaml", config_map),
            ("escalating/cm.yaml", config_map),
            (
                "escalating/role.yaml",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: escalate\nrules: []\n",
            ),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    create_project(
        &east_setup.hub,
        "tenant",
        json!({"sourceRepos": ["*"],
               "destinations": [{"server": "*", "namespace": "tenant-*"}]}),
    )
    .await;
    let (_controller, apps) = east_setup.run_controller();
    for (name, path) in [("ok", "ok"), ("escalating", "escalating")] {
        create_app(
            &apps,
            name,
            json!({
                "project": "tenant",
                "source": {"repoURL": url, "targetRevision": "main", "path": path},
                "destination": {"server": east_setup.server.cluster_url("east"),
                                "namespace": format!("tenant-{name}")},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
            }),
        )
        .await;
    }
    assert_eq!(
        first_condition(&apps, "escalating").await,
        (
            "InvalidSpecError".to_string(),
            "resource rbac.authorization.k8s.io:ClusterRole is not permitted in project tenant"
                .to_string()
        )
    );
    wait_for("ok Synced", async || {
        let app = apps.get("ok").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    let east = client(&east_setup.server, "east").await;
    assert!(
        Api::<ConfigMap>::namespaced(east.clone(), "tenant-ok")
            .get_opt("tenant-config")
            .await
            .unwrap()
            .is_some()
    );
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(east.clone());
    assert!(roles.get_opt("escalate").await.unwrap().is_none());
    assert!(
        Api::<ConfigMap>::namespaced(east, "tenant-escalating")
            .get_opt("tenant-config")
            .await
            .unwrap()
            .is_none(),
        "nothing of a refused app is applied"
    );
}

/// `managedNamespaceMetadata` with `CreateNamespace=true` (Argo CD's managed namespace):
/// the namespace, existing already, is applied with the labels and annotations on every
/// sync (server-side, so a label someone else set stays), marked for server-side apply;
/// a label taken out of the app's spec leaves the namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_managed_namespace_carries_the_apps_labels_and_annotations() {
    use k8s_openapi::api::core::v1::Namespace;
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: managed\n",
    )
    .await;
    let east = client(&east_setup.server, "east").await;
    let namespaces: Api<Namespace> = Api::all(east.clone());
    let existing: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "payments", "labels": {"keep": "me"}}}))
            .unwrap();
    namespaces
        .create(&PostParams::default(), &existing)
        .await
        .unwrap();
    let (_controller, apps) = east_setup.run_controller();
    create_app(&apps, "payments", json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "payments"},
            "syncPolicy": {
                "automated": {"selfHeal": true},
                "syncOptions": ["CreateNamespace=true"],
                "managedNamespaceMetadata": {
                    "labels": {"team": "payments", "tier": "silver"},
                    "annotations": {"owner": "platform"},
                },
            },
        })).await;
    let metadata_of = async || {
        let namespace = namespaces.get("payments").await.unwrap();
        (
            namespace.metadata.labels.unwrap_or_default(),
            namespace.metadata.annotations.unwrap_or_default(),
        )
    };
    wait_for("the namespace labelled", async || {
        let (labels, _) = metadata_of().await;
        labels.contains_key("team").then_some(())
    })
    .await;
    let (labels, annotations) = metadata_of().await;
    assert_eq!(labels["team"], "payments");
    assert_eq!(labels["tier"], "silver");
    assert_eq!(labels["keep"], "me", "another writer's label stays");
    assert_eq!(annotations["owner"], "platform");
    assert_eq!(
        annotations["argocd.argoproj.io/sync-options"],
        "ServerSideApply=true"
    );

    apps.patch(
        "payments",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"syncPolicy": {"managedNamespaceMetadata": {
            "labels": {"team": null, "tier": "gold"}}}}})),
    )
    .await
    .unwrap();
    wait_for("the labels changed", async || {
        let (labels, _) = metadata_of().await;
        (labels.get("tier").map(String::as_str) == Some("gold")).then_some(())
    })
    .await;
    let (labels, _) = metadata_of().await;
    assert!(!labels.contains_key("team"), "{labels:?}");
    assert_eq!(labels["keep"], "me");
}

/// `ignoreDifferences` on a selfHeal app: a hand edit of an ignored field is neither
/// drift nor a difference (the app stays Synced, the edit stays), while an edit of a
/// field that is not ignored is healed — and with `RespectIgnoreDifferences=true` that
/// heal leaves the ignored field as the cluster has it. A jq expression that may not end
/// (`repeat`) is a ComparisonError naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ignored_differences_are_neither_drift_nor_healed() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(dir.path(), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuned\ndata:\n  a: \"1\"\n  c: \"3\"\n").await;
    let create = async |name: &str, namespace: &str, ignore: Value| {
        create_app(&apps, name, json!({
                "project": "default",
                "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": namespace},
                "syncPolicy": {"automated": {"selfHeal": true},
                               "syncOptions": ["CreateNamespace=true", "RespectIgnoreDifferences=true"]},
                "ignoreDifferences": ignore,
            })).await;
    };
    create(
        "tuned",
        "tuned",
        json!([{"kind": "ConfigMap", "jsonPointers": ["/data/a"]}]),
    )
    .await;
    let synced = async || {
        wait_for("Synced", async || {
            let app = apps.get("tuned").await.ok()?;
            let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
            (status.pointer("/sync/status")? == "Synced").then_some(())
        })
        .await
    };
    synced().await;
    let last_sync_started = async || {
        let app = apps.get("tuned").await.unwrap();
        serde_json::to_value(&app).unwrap()["status"]["operationState"]["startedAt"].clone()
    };
    let first_sync = last_sync_started().await;
    assert!(first_sync.is_string(), "{first_sync}");
    // A second later, so that another sync's start differs.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "tuned");
    let data = async || config_maps.get("tuned").await.unwrap().data.unwrap();
    config_maps
        .patch(
            "tuned",
            &by_hand(),
            &Patch::Merge(json!({"data": {"a": "2"}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(data().await["a"], "2", "an ignored field is not healed");
    synced().await;
    assert_eq!(
        last_sync_started().await,
        first_sync,
        "no sync for a change of ignored fields only"
    );

    config_maps
        .patch(
            "tuned",
            &by_hand(),
            &Patch::Merge(json!({"data": {"c": "9"}})),
        )
        .await
        .unwrap();
    wait_for("c healed", async || {
        (data().await["c"] == "3").then_some(())
    })
    .await;
    // The heal was Argo CD's self-heal sync: selective, of the OutOfSync resource only
    // (`Kind`, group and name, as `autoSync` lists them), counted, and as a selective
    // sync it is not in the history.
    let operation = wait_for("the heal recorded", async || {
        let app = serde_json::to_value(apps.get("tuned").await.ok()?).ok()?;
        let state = app["status"]["operationState"].clone();
        (state["phase"] == "Succeeded" && state["startedAt"] != first_sync).then_some(state)
    })
    .await;
    assert_eq!(
        operation["operation"]["sync"]["resources"],
        json!([{"kind": "ConfigMap", "name": "tuned"}])
    );
    assert_eq!(operation["operation"]["sync"]["selfHealAttemptsCount"], 1);
    assert_eq!(operation["operation"]["initiatedBy"]["automated"], true);
    let app = serde_json::to_value(apps.get("tuned").await.unwrap()).unwrap();
    let history = app["status"]["history"].as_array().unwrap();
    assert_eq!(
        history.len(),
        1,
        "a selective sync is not in the history: {history:?}"
    );
    assert_eq!(app["status"]["sync"]["status"], "Synced");
    assert_eq!(
        data().await["a"],
        "2",
        "RespectIgnoreDifferences: the heal leaves the ignored field"
    );

    create(
        "unsupported",
        "unsupported",
        json!([{"kind": "ConfigMap", "jqPathExpressions": [".data | repeat(.)"]}]),
    )
    .await;
    let (kind, message) = first_condition(&apps, "unsupported").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.starts_with("spec.ignoreDifferences jqPathExpression \".data | repeat(.)\""),
        "{message}"
    );
    assert!(message.contains("\"repeat\" is not allowed"), "{message}");
}

/// Argo CD's self-heal of a revision that already synced (`autoSync` after
/// `alreadyAttemptedSync`): only the OutOfSync resources are synced, hooks do not run
/// again, nothing is added to the history, and the attempts are counted
/// (`selfHealAttemptsCount`) and held back 2 s × 3^(n−1) after the last one ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn self_heal_syncs_only_what_drifted_without_hooks_and_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  size: m\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: migrate\n  annotations:\n    argocd.argoproj.io/hook: PreSync\ndata:\n  step: \"1\"\n",
    )
    .await;
    create_app(&apps, "healed", json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "healed"},
            "syncPolicy": {"automated": {"selfHeal": true}, "syncOptions": ["CreateNamespace=true"]},
        })).await;
    let status =
        async || serde_json::to_value(apps.get("healed").await.unwrap()).unwrap()["status"].clone();
    wait_for("Synced", async || {
        let status = status().await;
        (status.pointer("/sync/status")? == "Synced"
            && status.pointer("/operationState/phase")? == "Succeeded")
            .then_some(())
    })
    .await;
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "healed");
    let uid = async |name: &str| config_maps.get(name).await.unwrap().metadata.uid.unwrap();
    let hook = uid("migrate").await;
    let other = config_maps
        .get("other")
        .await
        .unwrap()
        .metadata
        .resource_version;

    let drift = async |color: &str| {
        config_maps
            .patch(
                "settings",
                &by_hand(),
                &Patch::Merge(json!({"data": {"color": color}})),
            )
            .await
            .unwrap();
    };
    // The n-th heal, by its count (timestamps have whole seconds).
    let healed = async |n: i64| {
        wait_for(&format!("heal #{n} recorded"), async || {
            let status = status().await;
            let state = status.get("operationState")?;
            (state["phase"] == "Succeeded"
                && state.pointer("/operation/sync/selfHealAttemptsCount")? == n)
                .then_some(status)
        })
        .await
    };
    drift("red").await;
    let once = healed(1).await;
    let sync = &once["operationState"]["operation"]["sync"];
    assert_eq!(
        sync["resources"],
        json!([{"kind": "ConfigMap", "name": "settings"}])
    );
    assert_eq!(sync["selfHealAttemptsCount"], 1);
    assert_eq!(
        config_maps.get("settings").await.unwrap().data.unwrap()["color"],
        "blue"
    );
    assert_eq!(
        uid("migrate").await,
        hook,
        "the PreSync hook did not run again"
    );
    assert_eq!(
        config_maps
            .get("other")
            .await
            .unwrap()
            .metadata
            .resource_version,
        other,
        "what did not drift was not applied"
    );
    assert_eq!(once["history"].as_array().unwrap().len(), 1);
    assert_eq!(once["sync"]["status"], "Synced");

    // The second attempt waits 2 s after the first one ended.
    drift("green").await;
    let twice = healed(2).await;
    assert_eq!(
        twice["operationState"]["operation"]["sync"]["selfHealAttemptsCount"],
        2
    );
    let at = |status: &Value, field: &str| {
        status["operationState"][field]
            .as_str()
            .unwrap()
            .parse::<k8s_openapi::jiff::Timestamp>()
            .unwrap()
    };
    let waited = at(&twice, "startedAt").duration_since(at(&once, "finishedAt"));
    assert!(waited.as_secs() >= 2, "healed again after {waited:?}");
    assert_eq!(
        config_maps.get("settings").await.unwrap().data.unwrap()["color"],
        "blue"
    );
    assert_eq!(uid("migrate").await, hook);
}

/// Applications in any namespace as Argo CD allows them: only Argo CD's own namespace
/// and those `--application-namespaces` names are reconciled (another's Application is
/// left alone, no status written), and an Application outside Argo CD's namespace may
/// use only a project whose `sourceNamespaces` name its namespace — the default project
/// names none — else nothing is synced and the condition says why in Argo CD's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn applications_outside_argocd_need_their_namespace_allowed_twice() {
    use k8s_openapi::api::core::v1::Namespace;
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tenant\n",
    )
    .await;
    let hub = east_setup.hub.clone();
    for name in ["team-a", "other"] {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        Api::<Namespace>::all(hub.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
    }
    let _controller = tokio::spawn(controller::run_applications_with(
        east_setup.reconciler.clone(),
        ControllerOptions {
            workers: 2,
            application_namespaces: vec!["team-*".into()],
            ..Default::default()
        },
        controller::Feeds::default(),
    ));
    create_project(
        &hub,
        "tenants",
        json!({"sourceRepos": ["*"], "sourceNamespaces": ["/^team-[a-z]$/"],
               "destinations": [{"server": "*", "namespace": "*"}]}),
    )
    .await;
    let apps_in = |namespace: &str| {
        Api::<DynamicObject>::namespaced_with(hub.clone(), namespace, &application_resource())
    };
    let spec = |project: &str, namespace: &str| {
        json!({"project": project,
               "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
               "destination": {"server": east_setup.server.cluster_url("east"), "namespace": namespace},
               "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]}})
    };
    let create_in = async |namespace: &str, name: &str, spec: Value| {
        let app: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec,
        }))
        .unwrap();
        apps_in(namespace)
            .create(&PostParams::default(), &app)
            .await
            .unwrap();
    };
    create_in("other", "stray", spec("tenants", "stray")).await;
    create_in("team-a", "defaulted", spec("default", "defaulted")).await;
    create_in("team-a", "web", spec("tenants", "web")).await;

    let status_of = async |namespace: &str, name: &str| {
        let app = apps_in(namespace).get(name).await.unwrap();
        serde_json::to_value(app).unwrap()["status"].clone()
    };
    wait_for("team-a/web Synced", async || {
        (status_of("team-a", "web").await.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    let (kind, message) = first_condition(&apps_in("team-a"), "defaulted").await;
    assert_eq!(kind, "InvalidSpecError");
    assert_eq!(
        message,
        "application 'defaulted' in namespace 'team-a' is not permitted to use project 'default'"
    );
    let east = client(&east_setup.server, "east").await;
    let namespaces = Api::<Namespace>::all(east);
    assert!(namespaces.get_opt("defaulted").await.unwrap().is_none());
    assert!(
        status_of("other", "stray").await.is_null(),
        "an Application in a namespace not reconciled is left alone"
    );
    assert!(namespaces.get_opt("stray").await.unwrap().is_none());
}

/// One object rendered by two Applications (Argo CD's SharedResourceWarning): the second
/// app with `FailOnSharedResource=true` fails its sync with Argo CD's message and leaves
/// the object to the first; a third without the option syncs and warns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_object_of_two_applications_is_a_shared_resource() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: common\n",
    )
    .await;
    let create = async |name: &str, options: &[&str]| {
        create_app(&apps, name, json!({
                "project": "default",
                "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "common"},
                "syncPolicy": {"automated": {}, "syncOptions": options},
            })).await;
    };
    let status_of = async |name: &str| -> Option<Value> {
        let app = apps.get(name).await.ok()?;
        serde_json::to_value(&app).ok()?.get("status").cloned()
    };
    create("first", &["CreateNamespace=true"]).await;
    wait_for("first Synced", async || {
        (status_of("first").await?.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    // The hub's watch of the cluster's ConfigMaps (started by that sync) lists them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "common");
    let tracked_by = async || {
        let object = config_maps.get("shared").await.unwrap();
        object.metadata.annotations.unwrap_or_default()
            [flotilla_sync::tracking::TRACKING_ANNOTATION]
            .clone()
    };
    let first_tracking = tracked_by().await;

    create("second", &["FailOnSharedResource=true"]).await;
    let message = "ConfigMap/shared is part of applications argocd/second and first";
    // Failed before anything is applied, then retried as automated syncs are.
    let status = wait_for("second refused", async || {
        let status = status_of("second").await?;
        let said = status.pointer("/operationState/message")?.as_str()?;
        said.starts_with("Shared resource found: ")
            .then_some(status)
    })
    .await;
    let said = status["operationState"]["message"].as_str().unwrap();
    assert!(
        said.starts_with(&format!("Shared resource found: {message}")),
        "{said}"
    );
    assert_eq!(status["conditions"][0]["type"], "SharedResourceWarning");
    assert_eq!(status["conditions"][0]["message"], message);
    assert_eq!(tracked_by().await, first_tracking, "left to the first app");

    create("third", &[]).await;
    let status = wait_for("third synced", async || {
        let status = status_of("third").await?;
        (status.pointer("/operationState/phase")? == "Succeeded").then_some(status)
    })
    .await;
    assert_eq!(
        status["conditions"][0]["message"],
        "ConfigMap/shared is part of applications argocd/third and first"
    );
}

/// An aggregated ClusterRole's `rules` belong to the cluster's aggregation controller:
/// with `argocd-cm`'s `resource.compareoptions` `ignoreAggregatedRoles: true` the app
/// that ships the role (with rules of its own, which the controller replaces) compares
/// Synced and never writes them back
/// (without it, each comparison finds the rules changed and self-heal empties them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aggregated_cluster_role_rules_are_left_to_the_aggregation_controller() {
    use k8s_openapi::api::rbac::v1::ClusterRole;
    let dir = tempfile::tempdir().unwrap();
    let roles = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: monitoring\naggregationRule:\n  clusterRoleSelectors:\n  - matchLabels:\n      rbac.example.com/aggregate-to-monitoring: \"true\"\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: monitoring-pods\n  labels:\n    rbac.example.com/aggregate-to-monitoring: \"true\"\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get, list]\n";
    let (_work, url, east_setup) = repository_and_hub(dir.path(), roles).await;
    create_argocd_cm(
        &east_setup,
        json!({"resource.compareoptions": "ignoreAggregatedRoles: true\n"}),
    )
    .await;
    let rules = east_setup.reconciler.settings.ignore.clone();
    let _turn = watch_argocd_cm(&east_setup).await;
    wait_for("argocd-cm read", async || {
        (!rules.read().unwrap().is_empty()).then_some(())
    })
    .await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;
    let east = client(&east_setup.server, "east").await;
    let cluster_roles = Api::<ClusterRole>::all(east);
    wait_for("the rules aggregated", async || {
        let role = cluster_roles.get_opt("monitoring").await.ok()??;
        (!role.rules?.is_empty()).then_some(())
    })
    .await;
    let synced = async || {
        let app = apps.get("web").await.ok()?;
        let status = app.data.get("status")?;
        (status.pointer("/sync/status")? == "Synced")
            .then(|| status.pointer("/operationState/startedAt").cloned())
            .flatten()
    };
    let started = wait_for("the app synced", synced).await;
    // A comparison with what is live now (a settled app would otherwise not look).
    request_refresh(&apps, "web", "normal").await;
    wait_for("the refresh done", async || {
        let app = apps.get("web").await.ok()?;
        app.metadata
            .annotations
            .is_none_or(|a| !a.contains_key("argocd.argoproj.io/refresh"))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(synced().await, Some(started), "Synced, no other sync");
    let role = cluster_roles.get("monitoring").await.unwrap();
    assert_eq!(role.rules.unwrap().len(), 1, "the aggregated rules stay");
}

/// `argocd-cm`'s `timeout.reconciliation` sets how often a settled app is compared again
/// (its `reconciledAt` moves on with nothing new), as Argo CD's install hands it to the
/// controller; `0` stops the periodic comparison.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reconciliation_timeout_comes_from_argocd_cm() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(dir.path(), CONFIG_MAP).await;
    let config_maps = create_argocd_cm(&east_setup, json!({"timeout.reconciliation": "1s"})).await;
    let read = east_setup.reconciler.settings.clone();
    let _turn = watch_argocd_cm(&east_setup).await;
    wait_for("argocd-cm read", async || {
        (read.reconciliation_timeout() == Some(Duration::from_secs(1))).then_some(())
    })
    .await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;
    let reconciled_at = async || {
        let app = apps.get("web").await.ok()?;
        let status = app.data.get("status")?;
        (status.pointer("/sync/status")? == "Synced"
            && status.pointer("/health/status")? == "Healthy")
            .then(|| status["reconciledAt"].as_str().map(str::to_string))
            .flatten()
    };
    let first = wait_for("the app synced", reconciled_at).await;
    wait_for("compared again with nothing new", async || {
        let now = reconciled_at().await?;
        (now != first).then_some(())
    })
    .await;

    config_maps
        .patch(
            "argocd-cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"timeout.reconciliation": "0"}})),
        )
        .await
        .unwrap();
    wait_for("argocd-cm read again", async || {
        (read.reconciliation_timeout() == Some(Duration::ZERO)).then_some(())
    })
    .await;
    // What was already scheduled runs once more.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let settled = reconciled_at().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        reconciled_at().await.unwrap(),
        settled,
        "no periodic comparison"
    );
}

/// `argocd-cm`'s `resource.customizations.ignoreDifferences.<kind>`: a system-wide rule
/// applies to an app that has none of its own — a hand edit of the ignored field is no
/// drift and no difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn system_wide_ignore_differences_come_from_argocd_cm() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuned\ndata:\n  a: \"1\"\n",
    )
    .await;
    create_argocd_cm(&east_setup, json!({"resource.customizations.ignoreDifferences.ConfigMap": "jsonPointers:\n- /data/a\n"})).await;
    let rules = east_setup.reconciler.settings.ignore.clone();
    let _turn = watch_argocd_cm(&east_setup).await;
    wait_for("argocd-cm read", async || {
        (!rules.read().unwrap().is_empty()).then_some(())
    })
    .await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;
    let started = async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced")
            .then(|| status["operationState"]["startedAt"].clone())
    };
    let first = wait_for("Synced", started).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "web");
    config_maps
        .patch(
            "tuned",
            &by_hand(),
            &Patch::Merge(json!({"data": {"a": "2"}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(wait_for("still Synced", started).await, first, "no sync");
    assert_eq!(
        config_maps.get("tuned").await.unwrap().data.unwrap()["a"],
        "2"
    );
}

/// `argocd-cm`'s Lua health checks (`resource.customizations.health.<kind>`, Argo CD's
/// custom health checks, with `useOpenLibs`): the kind's health is what the script
/// returns — here read from an annotation a hand edit adds, which is no drift, so only
/// the watch tells — and a script that fails makes the object `Unknown` with its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lua_health_checks_from_argocd_cm_judge_their_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuned\ndata:\n  a: \"1\"\n",
    )
    .await;
    let script = r#"
hs = {}
local verdict = nil
if obj.metadata.annotations ~= nil then
  verdict = obj.metadata.annotations["example.com/verdict"]
end
if verdict == "broken" then
  hs.status = "Degraded"
  hs.message = "told " .. string.upper(verdict)
  return hs
end
if verdict == "crash" then
  error("script failed on purpose")
end
hs.status = "Healthy"
hs.message = "fine"
return hs
"#;
    create_argocd_cm(
        &east_setup,
        json!({
            "resource.customizations.health.ConfigMap": script,
            "resource.customizations.useOpenLibs.ConfigMap": "true",
        }),
    )
    .await;
    let _turn = watch_argocd_cm(&east_setup).await;
    wait_for("argocd-cm read", async || {
        (flotilla_sync::health::health_scripts_generation() > 0).then_some(())
    })
    .await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;
    let health = async |wanted: &'static str| {
        wait_for(wanted, async || {
            let app = apps.get("web").await.ok()?;
            let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
            let resource = status["resources"]
                .as_array()?
                .iter()
                .find(|r| r["kind"] == "ConfigMap" && r["name"] == "tuned")?
                .clone();
            (status.pointer("/health/status")? == wanted
                && resource.pointer("/health/status")? == wanted)
                .then(|| {
                    resource["health"]["message"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
        })
        .await
    };
    assert_eq!(health("Healthy").await, "fine");

    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "web");
    let verdict = async |text: &str| {
        config_maps
            .patch(
                "tuned",
                &by_hand(),
                &Patch::Merge(json!({"metadata": {"annotations": {"example.com/verdict": text}}})),
            )
            .await
            .unwrap();
    };
    verdict("broken").await;
    assert_eq!(health("Degraded").await, "told BROKEN");
    verdict("crash").await;
    let message = health("Unknown").await;
    assert!(message.contains("script failed on purpose"), "{message}");
    assert!(!message.contains("stack traceback"), "{message}");
}

/// `argocd-cm`'s `resource.exclusions` and Argo CD's core exclusions (Leases, Events): an
/// excluded object in Git is left out with an ExcludedResourceWarning, and one the app
/// synced before it was excluded is no longer managed — not pruned, not in the status.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn excluded_resources_are_neither_applied_nor_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuned\ndata:\n  a: \"1\"\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: hidden\nstringData:\n  k: v\n---\napiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: lock\nspec:\n  holderIdentity: someone\n",
    )
    .await;
    let settings = east_setup.reconciler.settings.clone();
    let _turn = watch_argocd_cm(&east_setup).await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;
    let state = async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        let mut kinds: Vec<String> = status["resources"]
            .as_array()?
            .iter()
            .map(|r| r["kind"].as_str().unwrap_or("").to_string())
            .collect();
        kinds.sort();
        let warnings: Vec<String> = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["type"] == "ExcludedResourceWarning")
            .map(|c| c["message"].as_str().unwrap_or("").to_string())
            .collect();
        Some((
            status.pointer("/sync/status")?.as_str()?.to_string(),
            kinds,
            warnings,
        ))
    };
    let (sync, kinds, warnings) = wait_for("synced without the Lease", async || {
        state().await.filter(|(sync, _, _)| sync == "Synced")
    })
    .await;
    assert_eq!(sync, "Synced");
    assert_eq!(kinds, ["ConfigMap", "Secret"]);
    assert_eq!(
        warnings,
        ["Resource coordination.k8s.io/Lease lock is excluded in the settings"]
    );
    let east = client(&east_setup.server, "east").await;
    let leases = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(east.clone(), "web");
    assert!(
        leases.get_opt("lock").await.unwrap().is_none(),
        "never applied"
    );

    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"resource.exclusions": "- apiGroups: [\"\"]\n  kinds: [Secret]\n"},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(east_setup.hub.clone(), "argocd")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    wait_for("argocd-cm read", async || {
        (!settings.filter.read().unwrap().exclusions.is_empty()).then_some(())
    })
    .await;
    request_refresh(&apps, "web", "normal").await;
    let (_, _, warnings) = wait_for("the Secret excluded", async || {
        state()
            .await
            .filter(|(_, kinds, _)| kinds == &["ConfigMap"])
    })
    .await;
    assert!(
        warnings.contains(&"Resource /Secret hidden is excluded in the settings".to_string()),
        "{warnings:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(east, "web");
    assert!(
        secrets.get_opt("hidden").await.unwrap().is_some(),
        "an object no longer managed is not pruned"
    );
}

/// `automated.enabled: false` (Argo CD 3) pauses automation and keeps its settings: the
/// app is only compared; turning it back on syncs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn automation_paused_with_enabled_false_only_compares() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: paused\n",
    )
    .await;
    create_app(
        &apps,
        "paused",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "paused"},
            "syncPolicy": {"automated": {"enabled": false, "selfHeal": true, "prune": true},
                           "syncOptions": ["CreateNamespace=true"]},
        }),
    )
    .await;
    let sync_status = async || {
        let app = apps.get("paused").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        status.pointer("/sync/status")?.as_str().map(str::to_string)
    };
    wait_for("compared", async || {
        (sync_status().await? == "OutOfSync").then_some(())
    })
    .await;
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "paused");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(config_maps.get_opt("paused").await.unwrap().is_none());
    apps.patch(
        "paused",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"syncPolicy": {"automated": {"enabled": true}}}})),
    )
    .await
    .unwrap();
    wait_for("Synced", async || {
        (sync_status().await? == "Synced").then_some(())
    })
    .await;
    assert!(config_maps.get_opt("paused").await.unwrap().is_some());
}

/// `argocd.argoproj.io/compare-options: IgnoreExtraneous` on an extra object (one that
/// carries the app's tracking, as an operator's copies do, but is not in Git): it leaves
/// the app Synced; an extra object without it makes the app OutOfSync.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn extraneous_objects_marked_to_be_ignored_leave_the_app_synced() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: desired\n",
    )
    .await;
    create_app(
        &apps,
        "web",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        }),
    )
    .await;
    let sync_status = async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        status.pointer("/sync/status")?.as_str().map(str::to_string)
    };
    wait_for("Synced", async || {
        (sync_status().await? == "Synced").then_some(())
    })
    .await;
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "web");
    let app_id = flotilla_sync::AppId::argo("argocd", "web", "argocd", Default::default());
    let extra = async |name: &str, options: Option<&str>| {
        let key = flotilla_sync::ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "web".into(),
            name: name.into(),
        };
        let mut annotations = json!({
            flotilla_sync::tracking::TRACKING_ANNOTATION:
                flotilla_sync::tracking::tracking_id(&app_id, &key, "web"),
        });
        if let Some(options) = options {
            annotations["argocd.argoproj.io/compare-options"] = json!(options);
        }
        let object: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations,
                         "labels": {flotilla_sync::tracking::INSTANCE_LABEL: app_id.label_value()}},
        }))
        .unwrap();
        config_maps
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    };
    let refresh = async |n: u32| {
        request_refresh(&apps, "web", &format!("normal-{n}")).await;
    };
    // A refresh compares the synced object: the same, whatever order the live copy's
    // and the dry run's keys come in.
    refresh(0).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sync_status().await.as_deref(), Some("Synced"));
    extra("generated", Some("ServerSideDiff=true, IgnoreExtraneous")).await;
    refresh(1).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(sync_status().await.as_deref(), Some("Synced"));
    extra("stray", None).await;
    refresh(2).await;
    wait_for("OutOfSync", async || {
        (sync_status().await? == "OutOfSync").then_some(())
    })
    .await;
}

/// `argocd.argoproj.io/refresh` is consumed once the refresh is done (Argo CD's
/// `persistReconciliationStatus` removes it), so asking again with the same value is a
/// new request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_request_is_consumed_so_it_can_be_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: refreshed\n",
    )
    .await;
    create_app(
        &apps,
        "web",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        }),
    )
    .await;
    let read = async || serde_json::to_value(apps.get("web").await.ok()?).ok();
    wait_for("Synced", async || {
        (read().await?.pointer("/status/sync/status")? == "Synced").then_some(())
    })
    .await;
    for round in 0..2 {
        let before = read().await.unwrap()["status"]["reconciledAt"].clone();
        // reconciledAt has whole seconds.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        request_refresh(&apps, "web", "normal").await;
        wait_for(&format!("refresh {round} done and consumed"), async || {
            let app = read().await?;
            let consumed = app
                .pointer("/metadata/annotations/argocd.argoproj.io~1refresh")
                .is_none();
            (consumed && app["status"]["reconciledAt"] != before).then_some(())
        })
        .await;
    }
}

/// A `hard` refresh asks the remote again at once (Argo CD bypasses its caches): a push
/// without a webhook is not seen by a normal refresh within the source interval (60 s
/// here), and is by a hard one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hard_refresh_sees_a_push_the_source_interval_would_hide() {
    let dir = tempfile::tempdir().unwrap();
    let (work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\ndata:\n  v: \"1\"\n",
    )
    .await;
    let (_controller, apps) = east_setup.run_controller();
    create_app(
        &apps,
        "web",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        }),
    )
    .await;
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "web");
    let value = async || {
        let cm = config_maps.get_opt("pushed").await.ok()??;
        cm.data?.get("v").cloned()
    };
    wait_for("v1 applied", async || (value().await? == "1").then_some(())).await;
    write(
        &work,
        "deploy/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed\ndata:\n  v: \"2\"\n",
    );
    git(&work, &["commit", "-qam", "v2"]);
    let refresh = async |kind: &str| {
        request_refresh(&apps, "web", kind).await;
        wait_for("the refresh consumed", async || {
            let app = serde_json::to_value(apps.get("web").await.ok()?).ok()?;
            app.pointer("/metadata/annotations/argocd.argoproj.io~1refresh")
                .is_none()
                .then_some(())
        })
        .await;
    };
    refresh("normal").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(value().await.as_deref(), Some("1"), "within the interval");
    refresh("hard").await;
    wait_for("v2 applied", async || (value().await? == "2").then_some(())).await;
}

/// An Application with Argo CD's `sourceHydrator` and no `source` is refused with a
/// message that says why, rather than deploying a branch nothing hydrates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_hydrator_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dry\n",
    )
    .await;
    create_app(
        &apps,
        "hydrated",
        json!({
            "project": "default",
            "sourceHydrator": {
                "drySource": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
                "syncSource": {"targetBranch": "environments/dev", "path": "dev"},
            },
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
            "syncPolicy": {"automated": {}},
        }),
    )
    .await;
    let (kind, message) = first_condition(&apps, "hydrated").await;
    assert_eq!(kind, "InvalidSpecError");
    assert!(
        message.starts_with("spec.sourceHydrator is not supported"),
        "{message}"
    );
}

/// The documented way to sync an Application with kubectl (Argo CD's "Sync via kubectl"):
/// an `operation` patched onto it. The app has no automated policy, so nothing else syncs
/// it. The operation's own flags decide — a selection syncs only what it names, no prune
/// leaves what left Git, a dry run changes nothing — its state is `status.operationState`
/// with the operation as asked, and the operation is removed once it completed; full
/// syncs are recorded in `status.history` with who asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operation_patched_on_with_kubectl_syncs_as_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let (work, url) = repository(
        dir.path(),
        &[
            (
                "deploy/a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  color: blue\n",
            ),
            (
                "deploy/b.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
            ),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let (_controller, apps) = east_setup.run_controller();
    create_app(
        &apps,
        "manual",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "manual"},
            "syncPolicy": {"syncOptions": ["CreateNamespace=true"]},
        }),
    )
    .await;
    let status_of = async || -> Option<Value> {
        let app = apps.get("manual").await.ok()?;
        serde_json::to_value(&app).ok()?.get("status").cloned()
    };
    wait_for("compared", async || {
        (status_of().await?.pointer("/sync/status")? == "OutOfSync").then_some(())
    })
    .await;
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "manual");
    let color = async |name: &str| {
        let cm = config_maps.get_opt(name).await.unwrap()?;
        Some(
            cm.data
                .unwrap_or_default()
                .get("color")
                .cloned()
                .unwrap_or_default(),
        )
    };
    assert_eq!(color("a").await, None);

    // kubectl patch, as Argo CD's documentation writes it.
    let ask = |operation: Value| {
        let patch = json!({ "operation": operation }).to_string();
        let args = [
            "-n",
            "argocd",
            "patch",
            "application",
            "manual",
            "--type",
            "merge",
            "-p",
            &patch,
        ];
        support::kubectl(&east_setup.server, dir.path(), "hub", &args);
    };
    // Waits for the operation to be gone and returns its state.
    let done = async || -> Value {
        wait_for("the operation to complete", async || {
            let app = serde_json::to_value(apps.get("manual").await.ok()?).ok()?;
            if app.get("operation").is_some() {
                return None;
            }
            let state = app.pointer("/status/operationState")?.clone();
            (state["phase"] != "Running").then_some(state)
        })
        .await
    };
    let history = async || {
        status_of()
            .await
            .and_then(|s| s.get("history").cloned())
            .map_or(0, |h| h.as_array().map_or(0, Vec::len))
    };

    // A selective sync: only `a`, though `b` is missing too.
    let selective = json!({"initiatedBy": {"username": "ana"}, "sync": {
        "syncOptions": ["CreateNamespace=true"],
        "resources": [{"kind": "ConfigMap", "name": "a"}]}});
    ask(selective.clone());
    let state = done().await;
    assert_eq!(state["phase"], "Succeeded", "{state}");
    assert_eq!(state["message"], "successfully synced (all tasks run)");
    assert_eq!(state["operation"], selective);
    let synced: Vec<&str> = state["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(synced, ["a"]);
    assert!(
        state["syncResult"]["revision"].as_str().unwrap().len() == 40,
        "{state}"
    );
    assert!(state["finishedAt"].is_string() && state["startedAt"].is_string());
    assert_eq!(color("a").await.as_deref(), Some("blue"));
    assert!(config_maps.get_opt("b").await.unwrap().is_none());
    assert_eq!(history().await, 0, "a selective sync is not history");
    // Compared again after the operation: `b` is still missing.
    wait_for("OutOfSync after the selective sync", async || {
        let status = status_of().await?;
        let b = status["resources"]
            .as_array()?
            .iter()
            .find(|r| r["name"] == "b")?
            .clone();
        (status.pointer("/sync/status")? == "OutOfSync" && b["status"] == "OutOfSync").then_some(())
    })
    .await;

    // A full sync; then `b` leaves Git and a sync without prune keeps it, one with prune
    // removes it.
    let full = |prune: bool, dry_run: bool| {
        json!({"initiatedBy": {"username": "ana"}, "sync": {
            "prune": prune, "dryRun": dry_run, "syncOptions": ["CreateNamespace=true"]}})
    };
    ask(full(false, false));
    assert_eq!(done().await["phase"], "Succeeded");
    assert!(config_maps.get_opt("b").await.unwrap().is_some());
    let status = wait_for("Synced", async || {
        let status = status_of().await?;
        (status.pointer("/sync/status")? == "Synced").then_some(status)
    })
    .await;
    assert_eq!(
        status["history"][0]["initiatedBy"],
        json!({"username": "ana"})
    );
    std::fs::remove_file(work.join("deploy/b.yaml")).unwrap();
    write(
        &work,
        "deploy/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  color: green\n",
    );
    git(&work, &["commit", "-qam", "green, no b"]);

    // A dry run: Succeeded, nothing changed, no history.
    ask(full(true, true));
    let state = done().await;
    assert_eq!(state["phase"], "Succeeded", "{state}");
    assert_eq!(color("a").await.as_deref(), Some("blue"));
    assert!(config_maps.get_opt("b").await.unwrap().is_some());
    assert_eq!(history().await, 1);

    // The new commit is synced at once (the operation asks the repository afresh),
    // without prune: `b` stays, reported as skipped.
    ask(full(false, false));
    let state = done().await;
    assert_eq!(state["phase"], "Succeeded", "{state}");
    assert_eq!(color("a").await.as_deref(), Some("green"));
    assert!(config_maps.get_opt("b").await.unwrap().is_some());
    let b = state["syncResult"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "b")
        .cloned()
        .unwrap();
    assert_eq!(b["status"], "PruneSkipped", "{state}");
    ask(full(true, false));
    assert_eq!(done().await["phase"], "Succeeded");
    assert!(config_maps.get_opt("b").await.unwrap().is_none());
    assert_eq!(
        history().await,
        3,
        "{:#}",
        status_of().await.unwrap()["history"]
    );
}

/// What an operation cannot do ends it, in Argo CD's words: a revision that does not
/// exist fails the attempt — retried as the operation's `retry` says, Running meanwhile,
/// then Error with the retries counted — and an operation without a sync is refused.
/// A sync window without `manualSync` holds a manual sync back (Running, the operation
/// kept) until `argocd app terminate-op` — `status.operationState.phase: Terminating` —
/// ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_that_cannot_sync_end_in_error_or_wait_for_a_window_until_terminated() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n",
    )
    .await;
    // A window that denies all the time, manual syncs included, for `held` only.
    create_project(
        &east_setup.hub,
        "default",
        json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
               "syncWindows": [{"kind": "deny", "schedule": "* * * * *", "duration": "1h",
                                "applications": ["held"], "manualSync": false}]}),
    )
    .await;
    for name in ["manual", "held"] {
        create_app(
            &apps,
            name,
            json!({
                "project": "default",
                "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "default"},
            }),
        )
        .await;
    }
    let app_of = async |name: &str| serde_json::to_value(apps.get(name).await.unwrap()).unwrap();
    let ask = async |name: &str, operation: Value| {
        apps.patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "operation": operation })),
        )
        .await
        .unwrap();
    };
    let operation_gone = async |name: &str| {
        wait_for("the operation removed", async || {
            app_of(name).await.get("operation").is_none().then_some(())
        })
        .await;
    };
    let state_when = async |name: &str, what: &str, phase: &str| -> Value {
        wait_for(what, async || {
            let state = app_of(name)
                .await
                .pointer("/status/operationState")?
                .clone();
            (state["phase"] == phase).then_some(state)
        })
        .await
    };

    ask(
        "manual",
        json!({"initiatedBy": {"username": "ana"}, "sync": {"revision": "no-such-branch"},
               "retry": {"limit": 1, "backoff": {"duration": "1s", "factor": 1}}}),
    )
    .await;
    let retrying = state_when("manual", "the retry", "Running").await;
    assert_eq!(retrying["retryCount"], 1, "{retrying}");
    let message = retrying["message"].as_str().unwrap();
    assert!(
        message.starts_with("ComparisonError: Failed to load target state: ")
            && message.contains("no-such-branch")
            && message.contains(". Retrying attempt #1 at "),
        "{message}"
    );
    assert!(app_of("manual").await.get("operation").is_some());
    let failed = state_when("manual", "the error", "Error").await;
    let message = failed["message"].as_str().unwrap();
    assert!(message.ends_with(" (retried 1 times)."), "{message}");
    operation_gone("manual").await;

    ask("manual", json!({"initiatedBy": {"username": "ana"}})).await;
    wait_for("the refusal", async || {
        let state = app_of("manual")
            .await
            .pointer("/status/operationState")?
            .clone();
        (state["phase"] == "Error"
            && state["message"] == "Invalid operation request: no operation specified")
            .then_some(())
    })
    .await;

    // The window holds `held` back.
    ask(
        "held",
        json!({"initiatedBy": {"username": "ana"}, "sync": {}}),
    )
    .await;
    let held = wait_for("held back", async || {
        let state = app_of("held")
            .await
            .pointer("/status/operationState")?
            .clone();
        (state["message"] == "Sync operation blocked by sync window").then_some(state)
    })
    .await;
    assert_eq!(held["phase"], "Running");
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "default");
    assert!(config_maps.get_opt("held").await.unwrap().is_none());
    // `argocd app terminate-op`.
    apps.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"operationState": {"phase": "Terminating"}}})),
    )
    .await
    .unwrap();
    let terminated = state_when("held", "terminated", "Failed").await;
    assert_eq!(terminated["message"], "Operation terminated");
    operation_gone("held").await;
    assert!(config_maps.get_opt("held").await.unwrap().is_none());
}

/// Argo CD's `Delete=confirm` (here the app's sync option, which Flotilla used to refuse as
/// unknown): deleting the Application deletes nothing and holds its resources finalizer
/// until `argocd.argoproj.io/deletion-approved` carries a time at or after the deletion
/// (`argocd app confirm-deletion`); then its objects go, and it goes once they are gone
/// (one held by a finalizer of its own keeps it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deletion_that_needs_confirmation_waits_for_its_approval() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: precious\n",
    )
    .await;
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "careful", "namespace": "argocd",
                     "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
        "spec": {
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "careful"},
            "syncPolicy": {"automated": {"prune": true},
                           "syncOptions": ["CreateNamespace=true", "Delete=confirm"]},
        },
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app).await.unwrap();
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "careful");
    wait_for("synced", async || {
        config_maps.get_opt("precious").await.ok()?.map(|_| ())
    })
    .await;
    // A finalizer of its own keeps the object terminating once deleted.
    config_maps
        .patch(
            "precious",
            &by_hand(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
        )
        .await
        .unwrap();
    apps.delete("careful", &Default::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let precious = config_maps.get_opt("precious").await.unwrap().unwrap();
    assert!(
        precious.metadata.deletion_timestamp.is_none(),
        "deleted before approval"
    );
    let held = serde_json::to_value(apps.get("careful").await.unwrap()).unwrap();
    let deleted_at = held["metadata"]["deletionTimestamp"]
        .as_str()
        .unwrap()
        .to_string();
    apps.patch(
        "careful",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"argocd.argoproj.io/deletion-approved": deleted_at}}})),
    )
    .await
    .unwrap();
    // Approved: the object is deleted, and the Application waits while it terminates.
    wait_for("the object terminating", async || {
        config_maps
            .get_opt("precious")
            .await
            .ok()??
            .metadata
            .deletion_timestamp
            .map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        apps.get_opt("careful").await.unwrap().is_some(),
        "gone before its object"
    );
    config_maps
        .patch(
            "precious",
            &by_hand(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    wait_for(
        "approved: the object and the Application gone",
        async || {
            let app_gone = apps.get_opt("careful").await.ok()?.is_none();
            let object_gone = config_maps.get_opt("precious").await.ok()?.is_none();
            (app_gone && object_gone).then_some(())
        },
    )
    .await;
}

/// A Deployment `slow` ready only after `ready_after`, then a ConfigMap `after` in wave 1:
/// a sync waits on the first wave's health for that long.
fn two_waves(ready_after: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: slow\n  annotations:\n    kubesim.flotilla.dev/ready-after: {ready_after}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: slow}}\n  template:\n    metadata:\n      labels: {{app: slow}}\n    spec:\n      containers:\n      - name: slow\n        image: registry.local/slow:1.0\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: after\n  annotations:\n    argocd.argoproj.io/sync-wave: \"1\"\n"
    )
}

/// [`deploying`] `manifest` with Application `name` (no automated sync) deploying it into
/// `default` of `east`, once compared (OutOfSync).
async fn manual_app(dir: &std::path::Path, manifest: &str, name: &str) -> Deploying {
    let deployed = deploying(dir, manifest).await;
    create_app(
        &deployed.apps,
        name,
        json!({
            "project": "default",
            "source": {"repoURL": deployed.url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": deployed.east_setup.server.cluster_url("east"), "namespace": "default"},
        }),
    )
    .await;
    wait_for("compared", async || {
        let app = serde_json::to_value(deployed.apps.get(name).await.ok()?).ok()?;
        (app.pointer("/status/sync/status")? == "OutOfSync").then_some(())
    })
    .await;
    deployed
}

/// An operation is `Running` while its sync waits on a wave's health (Argo CD writes that
/// state first), with the operation just asked — never the last operation's finished
/// state, which a script polling the phase would take for this one's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operation_is_running_while_its_waves_wait() {
    let dir = tempfile::tempdir().unwrap();
    // The setup is kept: it holds the simulated fleet.
    let Deploying {
        apps,
        east_setup: _fleet,
        ..
    } = manual_app(dir.path(), &two_waves("2s"), "waves").await;
    let app_of = async || serde_json::to_value(apps.get("waves").await.unwrap()).unwrap();
    let operation = json!({"initiatedBy": {"username": "ana"}, "sync": {}});
    apps.patch(
        "waves",
        &PatchParams::default(),
        &Patch::Merge(json!({ "operation": operation })),
    )
    .await
    .unwrap();
    let running = wait_for("Running", async || {
        let state = app_of().await.pointer("/status/operationState")?.clone();
        (state["phase"] == "Running").then_some(state)
    })
    .await;
    assert_eq!(running["operation"], operation);
    assert!(running.get("finishedAt").is_none() && running.get("syncResult").is_none());
    let done = wait_for("Succeeded", async || {
        let app = app_of().await;
        let state = app.pointer("/status/operationState")?.clone();
        (state["phase"] == "Succeeded" && app.get("operation").is_none()).then_some(state)
    })
    .await;
    assert!(done["finishedAt"].is_string());
    assert_eq!(done["syncResult"]["resources"].as_array().unwrap().len(), 2);
}

/// `argocd app terminate-op` (`status.operationState.phase: Terminating`) stops an
/// operation whose sync waits on a wave's health: it ends Failed "Operation terminated",
/// is not retried, and the waves after it are never applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_operation_is_terminated_between_waves() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        east_setup, apps, ..
    } = manual_app(dir.path(), &two_waves("20s"), "stopped").await;
    let app_of = async || serde_json::to_value(apps.get("stopped").await.unwrap()).unwrap();
    apps.patch(
        "stopped",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"operation": {"initiatedBy": {"username": "ana"}, "sync": {},
                                           "retry": {"limit": 3}}}),
        ),
    )
    .await
    .unwrap();
    wait_for("Running", async || {
        (app_of().await.pointer("/status/operationState/phase")? == "Running").then_some(())
    })
    .await;
    apps.patch(
        "stopped",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"operationState": {"phase": "Terminating"}}})),
    )
    .await
    .unwrap();
    let ended = wait_for("terminated", async || {
        let app = app_of().await;
        let state = app.pointer("/status/operationState")?.clone();
        (state["phase"] == "Failed" && app.get("operation").is_none()).then_some(state)
    })
    .await;
    assert_eq!(ended["message"], "Operation terminated");
    assert!(ended.get("retryCount").is_none(), "{ended}");
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "default");
    assert!(config_maps.get_opt("after").await.unwrap().is_none());
}

/// Argo CD's PreDelete and PostDelete hooks: never applied by a sync; the Application
/// carries each kind's finalizer and its `/cleanup` twin while its render holds such
/// hooks; deleted, it runs the PreDelete hooks (created as the app's, waited for), then
/// deletes its resources, then runs the PostDelete hooks, then deletes the hooks by
/// policy (`HookSucceeded` on healthy hooks: deleted; `HookFailed`: kept, which shows
/// they ran).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_hooks_run_before_and_after_the_resources_go() {
    let dir = tempfile::tempdir().unwrap();
    let hook = |name: &str, kind: &str, policy: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    argocd.argoproj.io/hook: {kind}\n{policy}data:\n  ran: \"yes\"\n"
        )
    };
    let kept = "    argocd.argoproj.io/hook-delete-policy: HookFailed\n";
    let manifest = [
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\n".to_string(),
        hook("pre-mark", "PreDelete", kept),
        hook("post-mark", "PostDelete", kept),
        // Waited for: ready only after a while; HookSucceeded, so deleted at the end.
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pre-cleanup\n  annotations:\n    argocd.argoproj.io/hook: PreDelete\n    argocd.argoproj.io/hook-delete-policy: HookSucceeded\n    kubesim.flotilla.dev/ready-after: 500ms\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: cleanup\n        image: busybox\n".to_string(),
    ]
    .join("---\n");
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(dir.path(), &manifest).await;
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "hooked", "namespace": "argocd",
                     "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
        "spec": {
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "hooked"},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
        },
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app).await.unwrap();
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east.clone(), "hooked");
    let jobs = Api::<k8s_openapi::api::batch::v1::Job>::namespaced(east, "hooked");
    let finalizers = wait_for("the deletion hooks' finalizers", async || {
        let app = serde_json::to_value(apps.get("hooked").await.ok()?).ok()?;
        let finalizers: Vec<String> =
            serde_json::from_value(app["metadata"]["finalizers"].clone()).ok()?;
        (finalizers.len() == 5).then_some(finalizers)
    })
    .await;
    assert_eq!(
        finalizers,
        [
            "resources-finalizer.argocd.argoproj.io",
            "pre-delete-finalizer.argocd.argoproj.io",
            "pre-delete-finalizer.argocd.argoproj.io/cleanup",
            "post-delete-finalizer.argocd.argoproj.io",
            "post-delete-finalizer.argocd.argoproj.io/cleanup",
        ]
    );
    wait_for("synced", async || {
        config_maps.get_opt("app-config").await.ok()?.map(|_| ())
    })
    .await;
    for hook in ["pre-mark", "post-mark"] {
        assert!(
            config_maps.get_opt(hook).await.unwrap().is_none(),
            "a sync never applies {hook}"
        );
    }
    assert!(jobs.get_opt("pre-cleanup").await.unwrap().is_none());

    apps.delete("hooked", &Default::default()).await.unwrap();
    // The PreDelete hooks run while the resources are still there.
    wait_for("the PreDelete hooks", async || {
        let job = jobs.get_opt("pre-cleanup").await.ok()??;
        job.metadata
            .labels?
            .get(flotilla_sync::tracking::INSTANCE_LABEL)?;
        config_maps.get_opt("pre-mark").await.ok()??;
        Some(())
    })
    .await;
    assert!(
        config_maps.get_opt("app-config").await.unwrap().is_some(),
        "the resources wait for the PreDelete hooks"
    );
    assert!(config_maps.get_opt("post-mark").await.unwrap().is_none());
    wait_for("the Application gone", async || {
        apps.get_opt("hooked").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(config_maps.get_opt("app-config").await.unwrap().is_none());
    assert!(
        config_maps.get_opt("post-mark").await.unwrap().is_some(),
        "the PostDelete hook ran"
    );
    assert!(
        config_maps.get_opt("pre-mark").await.unwrap().is_some(),
        "HookFailed keeps a healthy hook"
    );
    assert!(
        jobs.get_opt("pre-cleanup").await.unwrap().is_none(),
        "HookSucceeded deletes a healthy hook at the end"
    );
}

/// Argo CD runs `kustomize build` with `argocd-cm`'s `kustomize.buildOptions`: without
/// `--enable-helm` a kustomization's `helmCharts` fail as kustomize fails (the
/// Application's ComparisonError carries kustomize's words); with it the chart is
/// inflated by Flotilla's Helm renderer, transformed by the kustomization and synced;
/// a flag Flotilla's kustomize does not honour is refused by name, never ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kustomize_helm_charts_follow_argocd_cm_build_options() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url) = repository(
        dir.path(),
        &[
            (
                "deploy/kustomization.yaml",
                "namePrefix: k-\nhelmCharts:\n- name: web\n  releaseName: shop\n  valuesInline:\n    color: green\n",
            ),
            (
                "deploy/charts/web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            ),
            ("deploy/charts/web/values.yaml", "color: blue\nsize: 3\n"),
            (
                "deploy/charts/web/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  color: {{ .Values.color }}\n  size: {{ .Values.size | quote }}\n  namespace: {{ .Release.Namespace }}\n",
            ),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let settings = east_setup.reconciler.settings.clone();
    let _turn = watch_argocd_cm(&east_setup).await;
    let (_controller, apps) = east_setup.run_controller();
    let spec = |namespace: &str| {
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": namespace},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        })
    };

    create_app(&apps, "without", spec("one")).await;
    let (kind, message) = first_condition(&apps, "without").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.contains(
            "deploy/kustomization.yaml: field helmCharts[0]: chart \"web\": must specify --enable-helm"
        ),
        "{message}"
    );

    let config_maps = Api::<ConfigMap>::namespaced(east_setup.hub.clone(), "argocd");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"kustomize.buildOptions": "--enable-helm --load-restrictor LoadRestrictionsRootOnly"},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    wait_for("argocd-cm read", async || {
        settings
            .kustomize_build_options()
            .starts_with("--enable-helm")
            .then_some(())
    })
    .await;
    create_app(&apps, "with", spec("two")).await;
    wait_for("with Synced", async || {
        let app = apps.get("with").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    let east = client(&east_setup.server, "east").await;
    let synced = Api::<ConfigMap>::namespaced(east, "two")
        .get("k-shop-settings")
        .await
        .unwrap();
    let data = synced.data.unwrap();
    // valuesInline over the chart's values; `.Release.Namespace` is what kustomize gives
    // Helm without a chart `namespace` (Argo CD's destination namespace is set on the
    // objects afterwards, not passed to the chart).
    assert_eq!(data["color"], "green");
    assert_eq!(data["size"], "3");
    assert_eq!(data["namespace"], "default");

    config_maps
        .patch(
            "argocd-cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"kustomize.buildOptions": "--enable-helm --load-restrictor LoadRestrictionsNone"}})),
        )
        .await
        .unwrap();
    wait_for("argocd-cm read again", async || {
        settings
            .kustomize_build_options()
            .ends_with("LoadRestrictionsNone")
            .then_some(())
    })
    .await;
    create_app(&apps, "refused", spec("three")).await;
    let (kind, message) = first_condition(&apps, "refused").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.contains("--load-restrictor LoadRestrictionsNone is not supported"),
        "{message}"
    );
}

/// `spec.source.kustomize.version` must name a version `argocd-cm` registers, as Argo
/// CD's `GetKustomizeBinaryPath` requires (Flotilla then builds with its own kustomize);
/// an unregistered one fails the app by name and applies nothing; a version registered
/// twice fails every app, kustomize or not (`GetKustomizeSettings`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kustomize_version_must_be_registered_in_argocd_cm() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url) = repository(
        dir.path(),
        &[
            ("deploy/kustomization.yaml", "resources:\n- cm.yaml\n"),
            (
                "deploy/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n",
            ),
            (
                "plain/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\ndata:\n  color: red\n",
            ),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let settings = east_setup.reconciler.settings.clone();
    let config_maps = Api::<ConfigMap>::namespaced(east_setup.hub.clone(), "argocd");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"kustomize.path.v4.5.7": "/custom-tools/kustomize_4_5_7"},
    }))
    .unwrap();
    config_maps
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let _turn = watch_argocd_cm(&east_setup).await;
    wait_for("argocd-cm read", async || {
        settings
            .kustomize_versions()
            .ok()?
            .contains("v4.5.7")
            .then_some(())
    })
    .await;
    let (_controller, apps) = east_setup.run_controller();
    let spec = |path: &str, version: Option<&str>, namespace: &str| {
        let mut source = json!({"repoURL": url, "targetRevision": "main", "path": path});
        if let Some(version) = version {
            source["kustomize"] = json!({"version": version});
        }
        json!({
            "project": "default",
            "source": source,
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": namespace},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        })
    };
    let east = client(&east_setup.server, "east").await;

    create_app(&apps, "unregistered", spec("deploy", Some("v5.0.0"), "one")).await;
    let (kind, message) = first_condition(&apps, "unregistered").await;
    assert_eq!(kind, "ComparisonError");
    assert_eq!(
        message,
        "Failed to load target state: failed to generate manifest for source 1 of 1: error getting kustomize binary path: kustomize version v5.0.0 is not registered"
    );
    assert!(
        Api::<ConfigMap>::namespaced(east.clone(), "one")
            .get_opt("settings")
            .await
            .unwrap()
            .is_none()
    );

    create_app(&apps, "registered", spec("deploy", Some("v4.5.7"), "two")).await;
    wait_for("registered Synced", async || {
        let app = apps.get("registered").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    let synced = Api::<ConfigMap>::namespaced(east.clone(), "two")
        .get("settings")
        .await
        .unwrap();
    assert_eq!(synced.data.unwrap()["color"], "blue");

    config_maps
        .patch(
            "argocd-cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"kustomize.version.v4.5.7": "/other/kustomize"}})),
        )
        .await
        .unwrap();
    wait_for("argocd-cm read again", async || {
        settings.kustomize_versions().is_err().then_some(())
    })
    .await;
    create_app(&apps, "plain", spec("plain", None, "three")).await;
    let (kind, message) = first_condition(&apps, "plain").await;
    assert_eq!(kind, "ComparisonError");
    assert_eq!(
        message,
        "Failed to load target state: failed to get Kustomize settings: failed to add kustomize version from \"kustomize.version.v4.5.7\": found duplicate kustomize version: v4.5.7"
    );
}

/// kustomize's `helmCharts` with a `repo:` (Argo CD's `kustomize.buildOptions:
/// --enable-helm`): a chart that is not in the kustomization's chartHome is pulled from
/// its Helm repository — a version as written, none the latest — anonymously (as Argo CD's
/// kustomize runs `helm pull`), each index and package fetched once, inflated and
/// synced. A chart the repository does not have, and a repository URL Helm cannot pull
/// from, are ComparisonErrors naming the kustomization, the chart and the repository,
/// and nothing of that Application is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kustomize_helm_charts_are_pulled_from_their_helm_repository() {
    let dir = tempfile::tempdir().unwrap();
    let charts = dir.path().join("site/charts");
    // kustomize reads each chart's values.yaml (and fails without one), as Helm charts
    // have.
    for chart in ["web", "api"] {
        write(&charts.join(chart), "values.yaml", "{}\n");
    }
    publish_charts(
        &charts,
        &[
            ("web", "1.0.0", "pulled-web"),
            ("api", "2.0.0", "pulled-api"),
        ],
    );
    let served = Served::default();
    let base = serve_counted(dir.path().join("site"), served.clone()).await;
    let repo = format!("{base}/charts");
    let (_work, url) = repository(
        dir.path(),
        &[
            (
                "deploy/kustomization.yaml",
                &format!(
                    "namePrefix: k-\nhelmCharts:\n- name: web\n  repo: {repo}\n  version: 1.0.0\n- name: api\n  repo: {repo}\n"
                ),
            ),
            (
                "missing/kustomization.yaml",
                &format!(
                    "resources:\n- cm.yaml\nhelmCharts:\n- name: web\n  repo: {repo}\n  version: 9.9.9\n"
                ),
            ),
            ("missing/cm.yaml", CONFIG_MAP),
            (
                "bad-repo/kustomization.yaml",
                "resources:\n- cm.yaml\nhelmCharts:\n- name: web\n  repo: ftp://charts.example.com\n",
            ),
            ("bad-repo/cm.yaml", CONFIG_MAP),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let settings = east_setup.reconciler.settings.clone();
    let _turn = watch_argocd_cm(&east_setup).await;
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"kustomize.buildOptions": "--enable-helm"},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(east_setup.hub.clone(), "argocd")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    wait_for("argocd-cm read", async || {
        (settings.kustomize_build_options() == "--enable-helm").then_some(())
    })
    .await;
    let (_controller, apps) = east_setup.run_controller();
    let create =
        async |name: &str, path: &str| {
            create_app(&apps, name, json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": path},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": name},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        }))
        .await;
        };

    create("pulled", "deploy").await;
    wait_for("pulled Synced", async || {
        let app = apps.get("pulled").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    let east = client(&east_setup.server, "east").await;
    let pulled = Api::<ConfigMap>::namespaced(east.clone(), "pulled");
    for name in ["k-pulled-web", "k-pulled-api"] {
        assert!(
            pulled.get_opt(name).await.unwrap().is_some(),
            "{name} applied"
        );
    }
    {
        let served = served.lock().unwrap();
        assert_eq!(served.get("/charts/index.yaml"), Some(&1), "{served:?}");
        assert_eq!(served.get("/charts/web-1.0.0.tgz"), Some(&1), "{served:?}");
        assert_eq!(served.get("/charts/api-2.0.0.tgz"), Some(&1), "{served:?}");
    }

    create("missing", "missing").await;
    let (kind, message) = first_condition(&apps, "missing").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.contains(&format!(
            "missing/kustomization.yaml: field helmCharts[0]: chart \"web\" version 9.9.9 of repository {repo}: helm pull: "
        )) && message.contains("no version of chart \"web\""),
        "{message}"
    );
    create("bad-repo", "bad-repo").await;
    let (kind, message) = first_condition(&apps, "bad-repo").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.contains(
            "bad-repo/kustomization.yaml: field helmCharts[0].repo: chart \"web\": \"ftp://charts.example.com\" is not a Helm repository URL"
        ),
        "{message}"
    );
    for namespace in ["missing", "bad-repo"] {
        let objects = Api::<ConfigMap>::namespaced(east.clone(), namespace);
        assert!(
            objects.get_opt("settings").await.unwrap().is_none(),
            "nothing of {namespace} is applied"
        );
    }
}

/// A bare repository `served/r.git` under `dir` whose `deploy/settings.yaml` is
/// [`CONFIG_MAP`], for a server of its own (HTTPS); the `served` directory.
fn bare_settings_repository(dir: &std::path::Path) -> std::path::PathBuf {
    let (work, _) = repository(dir, &[("deploy/settings.yaml", CONFIG_MAP)]);
    let served = dir.join("served");
    std::fs::create_dir_all(&served).unwrap();
    git(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            served.join("r.git").to_str().unwrap(),
        ],
    );
    served
}

/// Argo CD's `argocd-tls-certs-cm`: a repository served over HTTPS with a certificate a
/// private CA signed cannot be read until the ConfigMap names the server's host (the
/// sync fails, naming the certificate, and nothing is applied); once it does, the app
/// syncs — the host's certificates trusted alone, as Argo CD's repo-server trusts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_https_repository_is_read_once_argocd_tls_certs_cm_names_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let authority = kubesim::tls::Authority::generate(None).unwrap();
    let served = bare_settings_repository(dir.path());
    let server = git_server::GitServer::start_tls(&served, &authority).await;
    let url = server.https_url("r.git");
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    tokio::spawn(flotilla_hub::tls_certs::run(
        east_setup.hub.clone(),
        "argocd".into(),
        east_setup.reconciler.sources.tls_certs().clone(),
    ));
    let (_controller, apps) = east_setup.run_controller();
    create_app(
        &apps,
        "internal",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "internal"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        }),
    )
    .await;
    let (kind, message) = first_condition(&apps, "internal").await;
    assert_eq!(kind, "ComparisonError");
    assert!(
        message.contains("invalid peer certificate: UnknownIssuer"),
        "{message}"
    );
    let east = client(&east_setup.server, "east").await;
    let settings = Api::<ConfigMap>::namespaced(east.clone(), "internal");
    assert!(settings.get_opt("settings").await.unwrap().is_none());

    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "argocd-tls-certs-cm", "namespace": "argocd"},
        "data": {"127.0.0.1": authority.ca_pem()},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(east_setup.hub.clone(), "argocd")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    wait_for("the app synced from the HTTPS repository", async || {
        let app = apps.get("internal").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    assert!(settings.get_opt("settings").await.unwrap().is_some());
}

/// A Git server that demands a client certificate (mutual TLS) and whose certificate no
/// trust knows, read as Argo CD reads it through a repository Secret: `insecure: "true"`
/// stops verifying the server, `tlsClientCertData`/`tlsClientCertKey` are presented
/// when it asks. Each step is a new app, so no retry timing is involved.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repository_secrets_insecure_and_client_certificate_reach_a_mutual_tls_server() {
    let dir = tempfile::tempdir().unwrap();
    let authority = kubesim::tls::Authority::generate(None).unwrap();
    let served = bare_settings_repository(dir.path());
    let server = git_server::GitServer::start_mutual_tls(&served, &authority, true).await;
    let url = server.https_url("r.git");
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let store = east_setup.reconciler.sources.repo_credentials().clone();
    tokio::spawn(flotilla_hub::repo_creds::run(
        east_setup.hub.clone(),
        "argocd".into(),
        store.clone(),
    ));
    let (_controller, apps) = east_setup.run_controller();
    let create = async |name: &str| {
        create_app(
            &apps,
            name,
            json!({
                "project": "default",
                "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": name},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
            }),
        )
        .await;
    };
    create("verified").await;
    let (kind, message) = first_condition(&apps, "verified").await;
    assert_eq!(kind, "ComparisonError");
    assert!(message.contains("UnknownIssuer"), "{message}");

    let secrets = Api::<Secret>::namespaced(east_setup.hub.clone(), "argocd");
    let mut secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "internal-git", "namespace": "argocd",
                     "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {"url": url, "insecure": "true"},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    wait_for("insecure seen", async || {
        store.read().unwrap().access(&url).insecure.then_some(())
    })
    .await;
    create("insecure").await;
    let (kind, message) = first_condition(&apps, "insecure").await;
    assert_eq!(kind, "ComparisonError");
    // TLS 1.3: the refusal arrives as the alert or as the connection being closed.
    assert!(
        message.contains("CertificateRequired") || message.contains("connection was not ready"),
        "the server is no longer verified but wants a certificate: {message}"
    );

    let (certificate, key) = authority.client_certificate("argocd").unwrap();
    secret.string_data = Some(
        [
            ("url".to_string(), url.clone()),
            ("insecure".into(), "true".into()),
            ("tlsClientCertData".into(), certificate),
            ("tlsClientCertKey".into(), key),
        ]
        .into(),
    );
    secrets
        .replace("internal-git", &PostParams::default(), &secret)
        .await
        .unwrap();
    wait_for("the certificate seen", async || {
        store
            .read()
            .unwrap()
            .access(&url)
            .client_certificate
            .is_some()
            .then_some(())
    })
    .await;
    create("mutual").await;
    wait_for("the app synced over mutual TLS", async || {
        let app = apps.get("mutual").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    let east = client(&east_setup.server, "east").await;
    assert!(
        Api::<ConfigMap>::namespaced(east, "mutual")
            .get_opt("settings")
            .await
            .unwrap()
            .is_some()
    );
}

/// Argo CD's namespaced mode: the cluster Secret names `namespaces`, and its credential
/// (a ServiceAccount bound to cluster-admin by a RoleBinding in `web` alone) may act
/// nowhere else. An app deploying into `web` syncs and is watched there (a hand edit is
/// healed: the drift watches are namespace-scoped, a cluster-wide one would be refused);
/// an app with an object in another namespace, or a cluster-scoped one, cannot be managed
/// — gitops-engine's message, nothing applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_registered_for_some_namespaces_manages_only_them() {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    use k8s_openapi::api::rbac::v1::ClusterRole;
    let dir = tempfile::tempdir().unwrap();
    let config_map = |name: &str, namespace: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  color: blue\n"
        )
    };
    let (_work, url) = repository(
        dir.path(),
        &[
            ("web/cm.yaml", &config_map("settings", "web")),
            ("elsewhere/cm.yaml", &config_map("settings", "web")),
            ("elsewhere/other.yaml", &config_map("stray", "kube-system")),
            (
                "cluster/role.yaml",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: escalate\nrules: []\n",
            ),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let east = client(&east_setup.server, "east").await;
    create_namespace(&east, "web").await;
    admin_in_namespace(&east, "web", "argocd-manager").await;
    let token = Api::<ServiceAccount>::namespaced(east.clone(), "web")
        .create_token_request(
            "argocd-manager",
            &PostParams::default(),
            &serde_json::from_value::<TokenRequest>(json!({"spec": {"audiences": []}})).unwrap(),
        )
        .await
        .unwrap()
        .status
        .unwrap()
        .token;

    // The registration limited to `web`, with that credential.
    let secrets = Api::<Secret>::namespaced(east_setup.hub.clone(), "argocd");
    let config = json!({"bearerToken": token,
                        "tlsClientConfig": {"caData": east_setup.fleet.tls().unwrap().ca_data()}});
    secrets
        .patch(
            "east",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"stringData": {"config": config.to_string(), "namespaces": "web"}}),
            ),
        )
        .await
        .unwrap();
    let (registry, errors) = clusters::load(&east_setup.hub, "argocd").await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    *east_setup.reconciler.clusters.write().unwrap() = registry;

    let (_controller, apps) = east_setup.run_controller();
    for name in ["web", "elsewhere", "cluster"] {
        create_app(
            &apps,
            name,
            json!({
                "project": "default",
                "source": {"repoURL": url, "targetRevision": "main", "path": name},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
                "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
            }),
        )
        .await;
    }
    assert_eq!(
        first_condition(&apps, "elsewhere").await,
        (
            "ComparisonError".to_string(),
            r#"Failed to load live state: namespace "kube-system" for ConfigMap "stray" is not managed"#
                .to_string()
        )
    );
    assert_eq!(
        first_condition(&apps, "cluster").await,
        (
            "ComparisonError".to_string(),
            r#"Failed to load live state: cluster level ClusterRole "escalate" can not be managed when in namespaced mode"#
                .to_string()
        )
    );
    let status = async |name: &str| {
        serde_json::to_value(apps.get(name).await.unwrap()).unwrap()["status"].clone()
    };
    wait_for("web Synced and Healthy", async || {
        let status = status("web").await;
        (status.pointer("/sync/status")? == "Synced"
            && status.pointer("/health/status")? == "Healthy")
            .then_some(())
    })
    .await;
    assert_eq!(status("elsewhere").await["sync"]["status"], "Unknown");
    let config_maps = Api::<ConfigMap>::namespaced(east.clone(), "web");
    assert!(
        config_maps.get_opt("settings").await.unwrap().is_some(),
        "web's ConfigMap applied"
    );
    assert!(
        Api::<ConfigMap>::namespaced(east.clone(), "kube-system")
            .get_opt("stray")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        Api::<ClusterRole>::all(east.clone())
            .get_opt("escalate")
            .await
            .unwrap()
            .is_none()
    );

    // A hand edit in `web` is seen by the namespace's watch and healed.
    config_maps
        .patch(
            "settings",
            &by_hand(),
            &Patch::Merge(json!({"data": {"color": "red"}})),
        )
        .await
        .unwrap();
    wait_for("the edit healed", async || {
        let data = config_maps.get("settings").await.ok()?.data?;
        (data.get("color")? == "blue").then_some(())
    })
    .await;

    // The credential rotated (here: to one the cluster does not know): the next sync
    // uses it at once, not a client made from the registration before.
    let config = json!({"bearerToken": "revoked",
                        "tlsClientConfig": {"caData": east_setup.fleet.tls().unwrap().ca_data()}});
    secrets
        .patch(
            "east",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"config": config.to_string()}})),
        )
        .await
        .unwrap();
    let (registry, _) = clusters::load(&east_setup.hub, "argocd").await.unwrap();
    *east_setup.reconciler.clusters.write().unwrap() = registry;
    config_maps
        .patch(
            "settings",
            &by_hand(),
            &Patch::Merge(json!({"data": {"color": "green"}})),
        )
        .await
        .unwrap();
    request_refresh(&apps, "web", "normal").await;
    wait_for("the rotated credential refused", async || {
        let status = status("web").await;
        status.to_string().contains("Unauthorized").then_some(())
    })
    .await;
    let data = config_maps.get("settings").await.unwrap().data.unwrap();
    assert_eq!(
        data["color"], "green",
        "nothing healed with the old credential"
    );
}

/// gitops-engine's prune confirmation: an object annotated `Prune=confirm` that leaves Git
/// holds the automated sync back, Running with `waiting for pruning confirmation of
/// /ConfigMap/precious`, nothing of the new revision applied, until the app's
/// `argocd.argoproj.io/deletion-approved` names a time no earlier than the operation's
/// start; then the sync runs, the object is pruned, and the operation succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prune_that_needs_confirmation_waits_for_its_approval() {
    let dir = tempfile::tempdir().unwrap();
    let precious = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: precious\n  annotations:\n    argocd.argoproj.io/sync-options: Prune=confirm\n";
    let (work, url) = repository(
        dir.path(),
        &[
            ("deploy/settings.yaml", CONFIG_MAP),
            ("deploy/precious.yaml", precious),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let (_controller, apps) = east_setup.run_controller();
    create_app(
        &apps,
        "careful",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "careful"},
            "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
        }),
    )
    .await;
    let status = async || {
        serde_json::to_value(apps.get("careful").await.unwrap()).unwrap()["status"].clone()
    };
    wait_for("Synced", async || {
        (status().await.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    // Argo CD's `ResourceStatus` says whose deletion waits for an approval.
    let confirming: Vec<Value> = status().await["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["name"], r.get("requiresDeletionConfirmation")]))
        .collect();
    assert!(
        confirming.contains(&json!(["precious", true]))
            && confirming.contains(&json!(["settings", null])),
        "{confirming:?}"
    );
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east, "careful");

    // The confirmed object leaves Git with another change.
    std::fs::remove_file(work.join("deploy/precious.yaml")).unwrap();
    write(
        &work,
        "deploy/settings.yaml",
        &CONFIG_MAP.replace("color: blue", "color: green"),
    );
    git(&work, &["commit", "-q", "-am", "drop precious"]);
    mirrors.trigger(&flotilla_source::GitUrl::parse(&url).unwrap().identity());
    let waiting = wait_for("the sync waiting", async || {
        let state = status().await["operationState"].clone();
        (state["phase"] == "Running").then_some(state)
    })
    .await;
    assert_eq!(
        waiting["message"],
        "waiting for pruning confirmation of /ConfigMap/precious"
    );
    assert_eq!(
        waiting["operation"]["initiatedBy"],
        json!({"automated": true})
    );
    assert!(waiting.get("finishedAt").is_none(), "{waiting}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(config_maps.get_opt("precious").await.unwrap().is_some());
    let color = async || config_maps.get("settings").await.unwrap().data.unwrap()["color"].clone();
    assert_eq!(color().await, "blue", "nothing of the revision applied");
    let held = status().await["operationState"].clone();
    assert_eq!(
        held["startedAt"], waiting["startedAt"],
        "the same operation"
    );

    // An approval older than the operation does not count; one at its start does.
    apps.patch(
        "careful",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"argocd.argoproj.io/deletion-approved": "2020-01-01T00:00:00Z"}}})),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(config_maps.get_opt("precious").await.unwrap().is_some());
    apps.patch(
        "careful",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"argocd.argoproj.io/deletion-approved": waiting["startedAt"]}}})),
    )
    .await
    .unwrap();
    wait_for("precious pruned", async || {
        config_maps
            .get_opt("precious")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let done = wait_for("the sync succeeded", async || {
        let state = status().await["operationState"].clone();
        (state["phase"] == "Succeeded").then_some(state)
    })
    .await;
    assert_eq!(color().await, "green");
    assert_eq!(done["startedAt"], waiting["startedAt"]);
}

/// Argo CD's `argocd.argoproj.io/ignore-healthcheck: "true"`: a Deployment stuck past its
/// progress deadline degrades the app it belongs to, unless it carries the annotation —
/// then the app stays Healthy and its entry in `status.resources` has no health.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_object_whose_health_is_ignored_does_not_degrade_its_app() {
    let dir = tempfile::tempdir().unwrap();
    let stuck = |ignored: bool| {
        let ignore = if ignored {
            "    argocd.argoproj.io/ignore-healthcheck: \"true\"\n"
        } else {
            ""
        };
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: stuck\n  annotations:\n    kubesim.flotilla.dev/simulate: progress-deadline-exceeded\n{ignore}spec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: stuck}}\n  template:\n    metadata:\n      labels: {{app: stuck}}\n    spec:\n      containers:\n      - name: stuck\n        image: registry.local/stuck:1.0\n"
        )
    };
    let (_work, url) = repository(
        dir.path(),
        &[
            ("ignored/cm.yaml", CONFIG_MAP),
            ("ignored/stuck.yaml", &stuck(true)),
            ("counted/cm.yaml", CONFIG_MAP),
            ("counted/stuck.yaml", &stuck(false)),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    let (_controller, apps) = east_setup.run_controller();
    for name in ["ignored", "counted"] {
        create_app(
            &apps,
            name,
            json!({
                "project": "default",
                "source": {"repoURL": url, "targetRevision": "main", "path": name},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": name},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
            }),
        )
        .await;
    }
    let status = async |name: &str| {
        serde_json::to_value(apps.get(name).await.unwrap()).unwrap()["status"].clone()
    };
    let stuck_entry = |status: &Value| {
        status["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["kind"] == "Deployment").cloned())
    };
    let counted = wait_for("the counted app Degraded", async || {
        let status = status("counted").await;
        (status.pointer("/health/status")? == "Degraded").then_some(status)
    })
    .await;
    assert_eq!(
        stuck_entry(&counted).unwrap()["health"]["status"],
        "Degraded"
    );
    // The same Deployment, stuck as long, in the app that ignores its health.
    let east = client(&east_setup.server, "east").await;
    let deployments = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(east, "ignored");
    wait_for("the ignored Deployment stuck too", async || {
        let conditions = deployments.get("stuck").await.ok()?.status?.conditions?;
        conditions
            .iter()
            .any(|c| c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
            .then_some(())
    })
    .await;
    wait_for("the ignored app Synced", async || {
        (status("ignored").await.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    // Its health change reaches the app as the counted one's did.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ignored = status("ignored").await;
    assert_eq!(ignored["health"]["status"], "Healthy", "{ignored:#}");
    let entry = stuck_entry(&ignored).unwrap();
    assert!(entry.get("health").is_none(), "{entry}");
}

/// `argocd-cm`'s `cluster.inClusterEnabled: "false"`: the hub itself is no destination —
/// an app aimed at `https://kubernetes.default.svc` is an InvalidSpecError in Argo CD's
/// words and nothing is applied to the hub; enabled again, the app syncs there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_in_cluster_destination_can_be_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(dir.path(), CONFIG_MAP).await;
    let config_maps =
        create_argocd_cm(&east_setup, json!({"cluster.inClusterEnabled": "false"})).await;
    let version = east_setup.reconciler.settings.version.clone();
    let _turn = watch_argocd_cm(&east_setup).await;
    wait_for("argocd-cm read", async || {
        (version.load(std::sync::atomic::Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    let (_controller, apps) = east_setup.run_controller();
    create_app(
        &apps,
        "local",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "local"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        }),
    )
    .await;
    assert_eq!(
        first_condition(&apps, "local").await,
        (
            "InvalidSpecError".to_string(),
            r#"error getting cluster by server "https://kubernetes.default.svc": rpc error: code = NotFound desc = cluster "https://kubernetes.default.svc" is disabled"#
                .to_string()
        )
    );
    let on_hub = Api::<ConfigMap>::namespaced(east_setup.hub.clone(), "local");
    assert!(on_hub.get_opt("settings").await.unwrap().is_none());

    config_maps
        .patch(
            "argocd-cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"cluster.inClusterEnabled": "true"}})),
        )
        .await
        .unwrap();
    // A refresh asks again (Argo CD re-evaluates on its next look too).
    wait_for("settings read again", async || {
        (version.load(std::sync::atomic::Ordering::Relaxed) > 1).then_some(())
    })
    .await;
    request_refresh(&apps, "local", "normal").await;
    wait_for("synced to the hub", async || {
        on_hub.get_opt("settings").await.ok()?.map(|_| ())
    })
    .await;
}

/// Argo CD's sync impersonation (`application.sync.impersonation.enabled` in `argocd-cm`):
/// a sync runs as the service account its project's `destinationServiceAccounts` names for
/// the destination, so the cluster's RBAC — not the hub's rights — bounds what a tenant's
/// manifests do: what the account may write syncs, an object in `kube-system` is refused
/// by the cluster in the account's name, and a destination with no account matching
/// fails with Argo CD's message (enforced by default). Comparisons dry-run as the account
/// too, and read the live state as the hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn syncs_impersonate_the_projects_service_account() {
    let dir = tempfile::tempdir().unwrap();
    let stray =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stray\n  namespace: kube-system\n";
    let (_work, url) = repository(
        dir.path(),
        &[
            ("tenant/cm.yaml", CONFIG_MAP),
            ("escape/cm.yaml", CONFIG_MAP),
            ("escape/stray.yaml", stray),
        ],
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let audit = dir.path().join("audit.log");
    let east_setup = hub_and_east_with(
        &mirrors,
        kubesim::FleetConfig {
            audit_log: Some(audit.clone()),
            ..Default::default()
        },
    )
    .await;
    let east = client(&east_setup.server, "east").await;
    for namespace in ["team-a", "team-b", "team-c", "other"] {
        create_namespace(&east, namespace).await;
    }
    for namespace in ["team-a", "team-b", "team-c"] {
        admin_in_namespace(&east, namespace, "deployer").await;
    }
    let server = east_setup.server.cluster_url("east");
    create_project(
        &east_setup.hub,
        "tenant",
        json!({"sourceRepos": ["*"],
               "destinations": [{"server": "*", "namespace": "*"}],
               "destinationServiceAccounts": [
                   {"server": server, "namespace": "team-*", "defaultServiceAccount": "deployer"}]}),
    )
    .await;
    create_argocd_cm(
        &east_setup,
        json!({"application.sync.impersonation.enabled": "true"}),
    )
    .await;
    let version = east_setup.reconciler.settings.version.clone();
    let _turn = watch_argocd_cm(&east_setup).await;
    wait_for("argocd-cm read", async || {
        (version.load(std::sync::atomic::Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    let (_controller, apps) = east_setup.run_controller();
    for (name, path, namespace) in [
        ("allowed", "tenant", "team-a"),
        ("escaping", "escape", "team-b"),
        ("unmatched", "tenant", "other"),
    ] {
        create_app(
            &apps,
            name,
            json!({
                "project": "tenant",
                "source": {"repoURL": url, "targetRevision": "main", "path": path},
                "destination": {"server": server, "namespace": namespace},
                "syncPolicy": {"automated": {"selfHeal": true}},
            }),
        )
        .await;
    }
    let status = async |name: &str| {
        serde_json::to_value(apps.get(name).await.unwrap()).unwrap()["status"].clone()
    };
    wait_for("the allowed app Synced", async || {
        (status("allowed").await.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    assert!(
        Api::<ConfigMap>::namespaced(east.clone(), "team-a")
            .get_opt("settings")
            .await
            .unwrap()
            .is_some(),
        "what the account may write is applied"
    );
    // The drift watches read as the hub (a cluster-wide watch as the account would be
    // refused): a hand edit is seen and healed, as the account.
    let team_a = Api::<ConfigMap>::namespaced(east.clone(), "team-a");
    team_a
        .patch(
            "settings",
            &by_hand(),
            &Patch::Merge(json!({"data": {"color": "red"}})),
        )
        .await
        .unwrap();
    wait_for("the edit healed", async || {
        let data = team_a.get("settings").await.ok()?.data?;
        (data.get("color")? == "blue").then_some(())
    })
    .await;

    let refused = wait_for("the escaping app's refusal", async || {
        let message = status("escaping")
            .await
            .pointer("/operationState/message")?
            .as_str()?
            .to_string();
        message.contains("forbidden").then_some(message)
    })
    .await;
    assert!(
        refused.contains("system:serviceaccount:team-b:deployer"),
        "refused in the account's name: {refused}"
    );
    assert!(
        Api::<ConfigMap>::namespaced(east.clone(), "kube-system")
            .get_opt("stray")
            .await
            .unwrap()
            .is_none()
    );

    let unmatched = wait_for("the unmatched app's error", async || {
        let status = status("unmatched").await;
        let conditions = status["conditions"].as_array()?.clone();
        conditions
            .iter()
            .find(|c| c["type"] == "SyncError")
            .map(|c| c["message"].as_str().unwrap_or_default().to_string())
    })
    .await;
    assert_eq!(
        unmatched,
        format!(
            "no matching service account found for destination server {server} and namespace other"
        )
    );
    assert!(
        Api::<ConfigMap>::namespaced(east, "other")
            .get_opt("settings")
            .await
            .unwrap()
            .is_none()
    );

    // Apps only compared dry-run as the account too (Argo CD's server-side diff): the
    // account may not write the live object in kube-system, and no account means an
    // UnknownError and no dry run at all.
    let live_stray: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "stray", "namespace": "kube-system"}, "data": {"by": "hand"}}))
    .unwrap();
    Api::<ConfigMap>::namespaced(client(&east_setup.server, "east").await, "kube-system")
        .create(&PostParams::default(), &live_stray)
        .await
        .unwrap();
    for (name, path, namespace) in [
        ("compared-escaping", "escape", "team-c"),
        ("compared-unmatched", "tenant", "other"),
    ] {
        create_app(
            &apps,
            name,
            json!({
                "project": "tenant",
                "source": {"repoURL": url, "targetRevision": "main", "path": path},
                "destination": {"server": server, "namespace": namespace},
            }),
        )
        .await;
    }
    // The dry run of the live object in kube-system went as the account, and was refused.
    wait_for("the comparison's dry run as the account", async || {
        std::fs::read_to_string(&audit)
            .ok()?
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .any(|e| {
                e["verb"] == "patch"
                    && e["namespace"] == "kube-system"
                    && e["name"] == "stray"
                    && e["dryRun"] == true
                    && e["impersonatedUser"] == "system:serviceaccount:team-c:deployer"
                    && e["code"] == 403
            })
            .then_some(())
    })
    .await;
    let (kind, message) = first_condition(&apps, "compared-unmatched").await;
    assert_eq!(kind, "UnknownError");
    assert_eq!(
        message,
        format!(
            "no matching service account found for destination server {server} and namespace other"
        )
    );
    assert_eq!(
        status("compared-unmatched").await["sync"]["status"],
        "Unknown"
    );
    // Never dry-run as the hub in the account's place.
    let as_the_hub = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .any(|e| e["dryRun"] == true && e["namespace"] == "other");
    assert!(!as_the_hub, "a dry run in the unmatched namespace");
}

/// Argo CD's project-scoped repositories: a repository Secret naming `project: team-a`
/// serves team-a's Applications alone — its URL counts as one of team-a's source
/// repositories and its credentials open the private repository — while team-b's
/// Application of the same URL (its project permits every repository) reads it without
/// credentials and is refused by the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_project_scoped_repository_serves_only_its_projects_applications() {
    let dir = tempfile::tempdir().unwrap();
    let served = bare_settings_repository(dir.path());
    let server = git_server::GitServer::start(&served, Some(("team-a-bot", "s3cret"))).await;
    let url = server.url("r.git");
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let east_setup = hub_and_east(&mirrors).await;
    support::scoped_repository_secret(
        &east_setup.hub,
        east_setup.reconciler.sources.repo_credentials(),
        &url,
        "team-a",
        ("team-a-bot", "s3cret"),
    )
    .await;
    create_project(
        &east_setup.hub,
        "team-a",
        json!({"destinations": [{"server": "*", "namespace": "*"}]}),
    )
    .await;
    create_project(
        &east_setup.hub,
        "team-b",
        json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}),
    )
    .await;
    let (_controller, apps) = east_setup.run_controller();
    for project in ["team-a", "team-b"] {
        create_app(
            &apps,
            project,
            json!({
                "project": project,
                "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
                "destination": {"server": east_setup.server.cluster_url("east"), "namespace": project},
                "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
            }),
        )
        .await;
    }
    wait_for("team-a's app Synced", async || {
        let app = apps.get("team-a").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced").then_some(())
    })
    .await;
    let (kind, message) = first_condition(&apps, "team-b").await;
    assert_eq!(kind, "ComparisonError", "{message}");
    assert!(
        !message.contains("s3cret"),
        "no credential in the message: {message}"
    );
    let east = client(&east_setup.server, "east").await;
    assert!(
        Api::<ConfigMap>::namespaced(east.clone(), "team-a")
            .get_opt("settings")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        Api::<ConfigMap>::namespaced(east, "team-b")
            .get_opt("settings")
            .await
            .unwrap()
            .is_none(),
        "team-b never read team-a's repository"
    );
}

/// `argocd-cm`'s resource tracking (`application.resourceTrackingMethod`,
/// `application.instanceLabelKey`, `installationID`): objects carry Argo CD's tracking id
/// (a cluster-scoped one naming the destination namespace), the installation's id and,
/// with `annotation+label`, the instance label; an object of another installation is not
/// the app's to prune even when it names the app, one of this installation is; `label`
/// tracking then puts the app's name under the configured key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_are_tracked_as_argocd_cm_says() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tracked\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: web-reader\nrules: []\n",
    )
    .await;
    let settings = east_setup.reconciler.settings.clone();
    let _turn = watch_argocd_cm(&east_setup).await;
    let argocd_cm = Api::<ConfigMap>::namespaced(east_setup.hub.clone(), "argocd");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"application.resourceTrackingMethod": "annotation+label",
                 "installationID": "hub-a"},
    }))
    .unwrap();
    argocd_cm.create(&PostParams::default(), &cm).await.unwrap();
    wait_for("argocd-cm read", async || {
        (settings.tracking().installation_id == "hub-a").then_some(())
    })
    .await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;
    let east = client(&east_setup.server, "east").await;
    let config_maps = Api::<ConfigMap>::namespaced(east.clone(), "web");
    let tracked = wait_for("the ConfigMap applied", async || {
        config_maps.get_opt("tracked").await.ok()?
    })
    .await;
    let annotations = tracked.metadata.annotations.unwrap();
    assert_eq!(
        annotations["argocd.argoproj.io/tracking-id"],
        "web:/ConfigMap:web/tracked"
    );
    assert_eq!(annotations["argocd.argoproj.io/installation-id"], "hub-a");
    assert_eq!(
        tracked.metadata.labels.unwrap()["app.kubernetes.io/instance"],
        "web"
    );
    let roles = Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(east.clone());
    let role = roles.get("web-reader").await.unwrap();
    assert_eq!(
        role.metadata.annotations.unwrap()["argocd.argoproj.io/tracking-id"],
        "web:rbac.authorization.k8s.io/ClusterRole:web/web-reader"
    );

    // Two objects that left Git, both naming the app: one of this installation, one of
    // another.
    let left_behind = async |name: &str, installation: &str| {
        let object: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name,
                "labels": {flotilla_sync::tracking::INSTANCE_LABEL: "web"},
                "annotations": {
                    "argocd.argoproj.io/tracking-id": format!("web:/ConfigMap:web/{name}"),
                    "argocd.argoproj.io/installation-id": installation}},
        }))
        .unwrap();
        config_maps
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    };
    left_behind("theirs", "hub-b").await;
    left_behind("ours", "hub-a").await;
    let refresh = async |n: u32| {
        request_refresh(&apps, "web", &format!("hard-{n}")).await;
    };
    refresh(0).await;
    wait_for("this installation's object pruned", async || {
        config_maps
            .get_opt("ours")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        config_maps.get_opt("theirs").await.unwrap().is_some(),
        "another installation's object is not this app's"
    );

    argocd_cm
        .patch(
            "argocd-cm",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {
                "application.resourceTrackingMethod": "label",
                "application.instanceLabelKey": "example.com/app",
                "installationID": null}})),
        )
        .await
        .unwrap();
    wait_for("argocd-cm read again", async || {
        (settings.tracking().label_key == "example.com/app").then_some(())
    })
    .await;
    refresh(1).await;
    wait_for("the app's name under the configured label", async || {
        let labels = config_maps.get("tracked").await.ok()?.metadata.labels?;
        (labels.get("example.com/app")? == "web").then_some(())
    })
    .await;
}

/// Taking an app over from Argo CD: the objects it applied carry its tracking annotation
/// but not Flotilla's selector label, and its `status.resources` names them. One that
/// left Git is the app's to prune — reported `requiresPruning` while pruning is off,
/// deleted once it is on — while entries naming an object another app tracks, or a copy
/// whose tracking names another object, prune nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_argo_cd_applied_are_pruned_once_they_leave_git() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\ndata:\n  color: blue\n",
    )
    .await;
    let east = client(&east_setup.server, "east").await;
    create_namespace(&east, "web").await;
    let config_maps = Api::<ConfigMap>::namespaced(east.clone(), "web");
    // As Argo CD applied them: its annotation, no Flotilla label.
    for (name, tracking) in [
        ("kept", "web:/ConfigMap:web/kept"),
        ("retired", "web:/ConfigMap:web/retired"),
        ("foreign", "other:/ConfigMap:web/foreign"),
        ("copied", "web:/ConfigMap:web/original"),
    ] {
        let object: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name,
                "annotations": {"argocd.argoproj.io/tracking-id": tracking}},
            "data": {"color": "red"},
        }))
        .unwrap();
        config_maps
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }
    let (_controller, apps) = east_setup.run_controller();
    let entry = |name: &str| {
        json!({"version": "v1", "kind": "ConfigMap", "namespace": "web",
                                    "name": name, "status": "Synced"})
    };
    let app: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
            "syncPolicy": {"automated": {"prune": false, "selfHeal": true}},
        },
        "status": {"resources": [entry("kept"), entry("retired"), entry("foreign"), entry("copied")]},
    }))
    .unwrap();
    apps.create(&PostParams::default(), &app).await.unwrap();

    let resources = async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        status.get("operationState")?;
        let names: Vec<(String, bool)> = status["resources"]
            .as_array()?
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or("").to_string(),
                    r["requiresPruning"] == true,
                )
            })
            .collect();
        Some((status["sync"]["status"].as_str()?.to_string(), names))
    };
    let (sync, mut names) = wait_for("the first sync", async || {
        resources()
            .await
            .filter(|(_, n)| n.iter().all(|(n, _)| n != "foreign"))
    })
    .await;
    names.sort();
    assert_eq!(
        names,
        [("kept".to_string(), false), ("retired".to_string(), true)],
        "the object Argo CD applied is the app's, the others are not"
    );
    assert_eq!(sync, "OutOfSync", "an unpruned object is out of sync");
    assert_eq!(
        config_maps.get("kept").await.unwrap().data.unwrap()["color"],
        "blue"
    );

    apps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"syncPolicy": {"automated": {"prune": true}}}})),
    )
    .await
    .unwrap();
    wait_for("the retired object pruned", async || {
        config_maps
            .get_opt("retired")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    wait_for("the app synced", async || {
        resources()
            .await
            .filter(|(sync, names)| sync == "Synced" && names.len() == 1)
    })
    .await;
    for name in ["foreign", "copied"] {
        assert!(
            config_maps.get_opt(name).await.unwrap().is_some(),
            "{name}: not the app's to prune"
        );
    }
}

/// Fields an earlier writer set are handed to Flotilla's manager, so what Git no longer
/// has goes: a client-side `kubectl apply` (Argo CD 3's ClientSideApplyMigration, by the
/// real kubectl) and Argo CD's own server-side manager (a fleet moved from Argo CD), while
/// a third manager's field (`kubectl edit`) stays its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fields_an_earlier_apply_set_go_when_git_no_longer_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuned\ndata:\n  level: \"1\"\n",
    )
    .await;
    let east = client(&east_setup.server, "east").await;
    create_namespace(&east, "web").await;
    let before = dir.path().join("before.yaml");
    std::fs::write(
        &before,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: web\ndata:\n  color: blue\n  size: large\n",
    )
    .unwrap();
    support::kubectl(
        &east_setup.server,
        dir.path(),
        "east",
        &["apply", "-f", before.to_str().unwrap()],
    );
    let config_maps = Api::<ConfigMap>::namespaced(east.clone(), "web");
    config_maps
        .patch(
            "settings",
            &by_hand(),
            &Patch::Merge(json!({"data": {"note": "by hand"}})),
        )
        .await
        .unwrap();
    config_maps
        .patch(
            "tuned",
            &PatchParams::apply("argocd-controller").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "tuned", "namespace": "web"},
                "data": {"level": "1", "retired": "yes"}})),
        )
        .await
        .unwrap();

    let (_controller, apps) = east_setup.run_controller();
    create_app(
        &apps,
        "web",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
            "syncPolicy": {"automated": {"prune": true}},
        }),
    )
    .await;
    let data = async |name: &str| {
        let cm = config_maps.get(name).await.ok()?;
        serde_json::to_value(cm.data?).ok()
    };
    wait_for("both objects as Git has them", async || {
        let settings = data("settings").await?;
        let tuned = data("tuned").await?;
        (settings == json!({"color": "blue", "note": "by hand"}) && tuned == json!({"level": "1"}))
            .then_some(())
    })
    .await;
    let settings = config_maps.get("settings").await.unwrap();
    let managers: Vec<(String, String)> = settings
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            (
                e.manager.unwrap_or_default(),
                e.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("flotilla".into(), "Apply".into()))
            && managers.contains(&("kubectl-edit".into(), "Update".into()))
            && !managers
                .iter()
                .any(|(m, _)| m == "kubectl-client-side-apply"),
        "{managers:?}"
    );
    assert!(
        !settings
            .metadata
            .annotations
            .unwrap_or_default()
            .contains_key("kubectl.kubernetes.io/last-applied-configuration"),
        "the client-side record went with its owner's fields"
    );
    let tuned = config_maps.get("tuned").await.unwrap();
    assert!(
        !tuned
            .metadata
            .managed_fields
            .unwrap_or_default()
            .iter()
            .any(|e| e.manager.as_deref() == Some("argocd-controller")),
        "Argo CD's entry is Flotilla's now"
    );
}

/// Argo CD's cluster series for a destination: its version, what the drift watches hold,
/// and its connection going down while the cluster cannot be reached (the version asked
/// again and again gets no answer) and up again once it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_destinations_connection_status_follows_its_answers() {
    use kubesim::faults::FaultChange;
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(dir.path(), CONFIG_MAP).await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;
    let (registry, _) = clusters::load(&east_setup.hub, "argocd").await.unwrap();
    tokio::spawn(
        east_setup
            .reconciler
            .versions
            .clone()
            .keep_asking(Arc::new(RwLock::new(registry)), Duration::from_millis(500)),
    );
    let east = east_setup.server.cluster_url("east");
    let series = || {
        let registered = std::collections::BTreeMap::from([(
            east.clone(),
            flotilla_hub::metrics::RegisteredCluster {
                name: "east".into(),
                labels: Default::default(),
            },
        )]);
        let watches = east_setup.reconciler.drift_watches();
        let caches = watches
            .as_ref()
            .map(|w| w.cluster_stats())
            .unwrap_or_default();
        let events = watches.map(|w| w.event_counts()).unwrap_or_default();
        flotilla_hub::metrics::render_argocd_clusters(flotilla_hub::metrics::ClusterSeriesInput {
            registered: &registered,
            probes: &east_setup.reconciler.versions.probes(),
            caches: &caches,
            events: &events,
            label_keys: &[],
            now: std::time::Instant::now(),
        })
    };
    let connected = |up: u8| {
        format!(
            "argocd_cluster_connection_status{{k8s_version=\"v1.32.0\",server=\"{east}\"}} {up}"
        )
    };
    wait_for("the app synced", async || {
        let app = apps.get("web").await.ok()?;
        (app.data.pointer("/status/sync/status")? == "Synced").then_some(())
    })
    .await;
    let text = wait_for("east's series", async || {
        let text = series();
        text.lines().any(|l| l == connected(1)).then_some(text)
    })
    .await;
    for line in [
        format!("argocd_cluster_info{{k8s_version=\"v1.32.0\",name=\"east\",server=\"{east}\"}} 1"),
        format!("argocd_cluster_api_resources{{server=\"{east}\"}} 1"),
        format!("argocd_cluster_api_resource_objects{{server=\"{east}\"}} 1"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    // A hand edit is a watch event of its kind (and so is the heal).
    let config_maps = Api::<ConfigMap>::namespaced(client(&east_setup.server, "east").await, "web");
    config_maps
        .patch(
            "settings",
            &by_hand(),
            &Patch::Merge(json!({"data": {"color": "red"}})),
        )
        .await
        .unwrap();
    let counted =
        format!("argocd_cluster_events_total{{group=\"\",kind=\"ConfigMap\",server=\"{east}\"}} ");
    wait_for("the edit counted", async || {
        series()
            .lines()
            .find_map(|l| l.strip_prefix(&counted)?.parse::<u64>().ok())
            .filter(|n| *n >= 1)
    })
    .await;

    let cluster = east_setup.fleet.cluster("east").unwrap();
    let reachable = |yes: bool| FaultChange {
        unreachable: Some(!yes),
        ..Default::default()
    };
    cluster.change_faults(&reachable(false)).unwrap();
    wait_for("the connection down", async || {
        series().lines().any(|l| l == connected(0)).then_some(())
    })
    .await;
    cluster.change_faults(&reachable(true)).unwrap();
    wait_for("the connection up again", async || {
        series().lines().any(|l| l == connected(1)).then_some(())
    })
    .await;
}

/// A destination whose registration is gone (its cluster Secret deleted) is let go: the
/// drift watches on it stop — they would go on watching, and reconnecting to, a cluster
/// nothing deploys to any more — while a registered one keeps its watches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unregistered_destinations_watches_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(dir.path(), CONFIG_MAP).await;
    let (_controller, apps) = east_setup
        .run_web_app(&url, &["CreateNamespace=true"])
        .await;
    wait_for("the app synced", async || {
        let app = apps.get("web").await.ok()?;
        (app.data.pointer("/status/sync/status")? == "Synced").then_some(())
    })
    .await;
    let east = east_setup.server.cluster_url("east");
    let reconciler = &east_setup.reconciler;
    let watched = || {
        reconciler
            .drift_watches()
            .map(|w| w.cluster_stats())
            .unwrap_or_default()
            .contains_key(&east)
    };
    assert!(watched(), "the synced app's objects are watched");
    reconciler.forget_unregistered();
    assert!(watched(), "a registered cluster keeps its watches");

    *reconciler.clusters.write().unwrap() = clusters::ClusterRegistry::default();
    reconciler.forget_unregistered();
    assert!(!watched(), "the unregistered cluster's watches stopped");
}

/// Argo CD's app metrics from a running controller, for the dashboards and alerts
/// written against them: `argocd_app_info` follows the Application from the watch,
/// `argocd_app_sync_total` counts its automated sync once, `argocd_app_reconcile` times
/// its reconciles — each labelled with the destination's server URL, found by name here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn argo_cds_app_metrics_follow_the_application() {
    let dir = tempfile::tempdir().unwrap();
    let (_work, url, east_setup) = repository_and_hub(dir.path(), CONFIG_MAP).await;
    let states = Arc::new(flotilla_hub::metrics::ApplicationStates::default());
    let _controller = tokio::spawn(controller::run_applications_with(
        east_setup.reconciler.clone(),
        ControllerOptions {
            workers: 2,
            ..Default::default()
        },
        controller::Feeds {
            hooks: vec![states.hook()],
            ..Default::default()
        },
    ));
    let apps = Api::namespaced_with(east_setup.hub.clone(), "argocd", &application_resource());
    create_app(
        &apps,
        "metered",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"name": "east", "namespace": "web"},
            "syncPolicy": {"automated": {}, "syncOptions": ["CreateNamespace=true"]},
        }),
    )
    .await;
    let (registry, _) = clusters::load(&east_setup.hub, "argocd").await.unwrap();
    let east = east_setup.server.cluster_url("east");
    let info = wait_for("the app's info synced and healthy", async || {
        let text = states.render_argocd_info(&|server, name| registry.server_of(server, name));
        text.lines()
            .find(|l| l.contains("name=\"metered\"") && l.contains("sync_status=\"Synced\""))
            .map(str::to_string)
    })
    .await;
    assert_eq!(
        info,
        format!(
            "argocd_app_info{{autosync_enabled=\"true\",dest_namespace=\"web\",dest_server=\"{east}\",health_status=\"Healthy\",name=\"metered\",namespace=\"argocd\",operation=\"\",project=\"default\",repo=\"{}\",sync_status=\"Synced\"}} 1",
            url.to_lowercase().trim_end_matches(".git")
        )
    );
    let text = flotilla_hub::metrics::global().render();
    let syncs = format!(
        "argocd_app_sync_total{{dest_server=\"{east}\",dry_run=\"false\",name=\"metered\",namespace=\"argocd\",phase=\"Succeeded\",project=\"default\"}} 1\n"
    );
    assert!(text.contains(&syncs), "{syncs} in\n{text}");
    let reconciles =
        format!("argocd_app_reconcile_count{{dest_server=\"{east}\",namespace=\"argocd\"}} ");
    assert!(text.contains(&reconciles), "{reconciles} in\n{text}");
}

/// An AppProject's `orphanedResources` (Argo CD's `getResourceTree`): what lives in an
/// Application's destination namespace that no app manages is an
/// OrphanedResourceWarning counting it and what it owns — not the namespace's own
/// ServiceAccount and `kube-root-ca.crt`, not what `ignore` names, not what another
/// existing app's tracking names (a deleted app's leftovers are orphans); `warn: false`
/// keeps quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orphaned_resources_in_the_destination_namespace_are_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let Deploying {
        url,
        east_setup,
        apps,
        ..
    } = deploying(
        dir.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: tuned\n",
    )
    .await;
    create_project(
        &east_setup.hub,
        "team",
        json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
               "orphanedResources": {"ignore": [{"group": "", "kind": "Secret"}]}}),
    )
    .await;
    let east = client(&east_setup.server, "east").await;
    create_namespace(&east, "web").await;
    let config_maps = Api::<ConfigMap>::namespaced(east.clone(), "web");
    let create = async |object: Value| {
        let object: ConfigMap = serde_json::from_value(object).unwrap();
        config_maps
            .create(&PostParams::default(), &object)
            .await
            .unwrap()
    };
    let stray = create(json!({"metadata": {"name": "stray"}})).await;
    create(
        json!({"metadata": {"name": "stray-part", "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "stray",
        "uid": stray.metadata.uid.unwrap()}]}}),
    )
    .await;
    create(json!({"metadata": {"name": "theirs", "annotations": {
        "argocd.argoproj.io/tracking-id": "other:/ConfigMap:web/theirs"}}}))
    .await;
    // Tracked by an Application that no longer exists: an orphan.
    create(json!({"metadata": {"name": "left-behind", "annotations": {
        "argocd.argoproj.io/tracking-id": "gone:/ConfigMap:web/left-behind"}}}))
    .await;
    // The other app exists (and the controller has seen it) before `web` looks.
    create_app(
        &apps,
        "other",
        json!({
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "elsewhere"},
        }),
    )
    .await;
    wait_for("the other app seen", async || {
        let app = apps.get("other").await.ok()?;
        serde_json::to_value(&app).ok()?.get("status").map(|_| ())
    })
    .await;
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "token"}, "stringData": {"k": "v"}}))
            .unwrap();
    Api::<Secret>::namespaced(east.clone(), "web")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    create_app(
        &apps,
        "web",
        json!({
            "project": "team",
            "source": {"repoURL": url, "targetRevision": "main", "path": "deploy"},
            "destination": {"server": east_setup.server.cluster_url("east"), "namespace": "web"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
        }),
    )
    .await;
    let warnings = async || {
        let app = apps.get("web").await.ok()?;
        let status = serde_json::to_value(&app).ok()?.get("status")?.clone();
        (status.pointer("/sync/status")? == "Synced").then(|| {
            status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] == "OrphanedResourceWarning")
                .map(|c| c["message"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        })
    };
    let found = wait_for("the orphans counted", async || {
        warnings().await.filter(|w| !w.is_empty())
    })
    .await;
    assert_eq!(found, ["Application has 3 orphaned resources"]);
    assert!(
        config_maps.get_opt("stray").await.unwrap().is_some(),
        "an orphan is only reported"
    );
    // Argo CD's gauge counts them too, warning or not.
    let gauge = "argocd_app_orphaned_resources_count{name=\"web\",namespace=\"argocd\",project=\"team\"} 3\n";
    let text = flotilla_hub::metrics::global().render();
    assert!(text.contains(gauge), "{gauge} in\n{text}");

    let projects: Api<DynamicObject> = Api::namespaced_with(
        east_setup.hub.clone(),
        "argocd",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
            "appprojects",
        ),
    );
    projects
        .patch(
            "team",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"orphanedResources": {"warn": false}}})),
        )
        .await
        .unwrap();
    wait_for("the warning gone", async || {
        warnings().await.filter(|w| w.is_empty())
    })
    .await;
    assert!(flotilla_hub::metrics::global().render().contains(gauge));
}
