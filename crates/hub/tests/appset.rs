//! The ApplicationSet controller end to end on kubesim: the issue's seed ApplicationSet
//! (git files of an app registry × production clusters) read unchanged from
//! `https://gitlab.internal/…`, rewritten to local repositories. Applications are created
//! as Argo CD names and fills them, follow registry pushes and cluster registrations, and
//! are deleted with or without their resources finalizer. The Application controller does
//! not run: these tests look at the Applications on the hub only.

/// The smart-HTTP git server of the source crate's tests.
#[path = "../../source/tests/support/mod.rs"]
mod git_server;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_fleet::seed::APPLICATION_SET as SEED;
use flotilla_hub::application::AppReconciler;
use flotilla_hub::appset::{self, AppSetOptions};
use flotilla_hub::controller::{self, ControllerOptions, application_resource};
use flotilla_hub::sources::Sources;
use flotilla_source::{CacheOptions, GitUrl, MirrorCache, Rewrite};
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kubesim::{Fleet, Server};
use serde_json::{Value, json};
use support::{git, wait_for};

/// One hub at a time: four kubesim hubs with their controllers on a 2-core machine starve
/// each other past the waits' deadlines.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const REGISTRY: &str = "https://gitlab.internal/platform/app-registry";
const FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// `apps/<app>/config.yaml` as the demo's registry writes it.
fn add_app(registry: &Path, app: &str) {
    let dir = registry.join("apps").join(app);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!("values:\n  repo: platform/{app}\n  branch: main\n  namespace: {app}\n"),
    )
    .unwrap();
}

/// A hub with managed clusters, a registry repository and a running ApplicationSet
/// controller.
struct Hub {
    _dir: tempfile::TempDir,
    registry: std::path::PathBuf,
    server: Server,
    fleet: Arc<Fleet>,
    hub: Client,
    mirrors: MirrorCache,
    /// What the ApplicationSet controller reads repositories with.
    sources: Sources,
    /// The controllers' tasks; aborting them stops the controllers.
    controllers: Vec<tokio::task::JoinHandle<()>>,
}

impl Hub {
    async fn start(apps: &[&str]) -> Hub {
        Hub::start_with(apps, false).await
    }

    /// `fed`: the ApplicationSet controller hears of Applications from a running
    /// Application controller's watch (as `flotilla controller` runs them), not its own.
    async fn start_with(apps: &[&str], fed: bool) -> Hub {
        Hub::start_audited(apps, fed, None, AppSetOptions::default()).await
    }

    /// [`Hub::start_with`], kubesim writing its audit log to `audit_log`, the
    /// ApplicationSet controller with `appset_options` (its workers and page size the tests').
    async fn start_audited(
        apps: &[&str],
        fed: bool,
        audit_log: Option<&Path>,
        appset_options: AppSetOptions,
    ) -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("git/platform/app-registry");
        std::fs::create_dir_all(&registry).unwrap();
        for app in apps {
            add_app(&registry, app);
        }
        std::fs::write(registry.join("README.md"), "the app registry\n").unwrap();
        git(&registry, &["init", "-q", "-b", "main"]);
        git(&registry, &["add", "-A"]);
        git(&registry, &["commit", "-q", "-m", "first"]);

        let (fleet, server, hub) = support::simulated_hub_with(
            &["hub", "prod-eu", "prod-us", "prod-ap", "staging-eu"],
            kubesim::FleetConfig {
                audit_log: audit_log.map(Path::to_path_buf),
                ..Default::default()
            },
        )
        .await;

        let mut options = CacheOptions::new(dir.path().join("cache"));
        options.rewrites = vec![Rewrite {
            base: format!("file://{}/", dir.path().join("git").display()),
            instead_of: "https://gitlab.internal/".into(),
        }];
        let mirrors = MirrorCache::new(options).unwrap();
        let mut h = Hub {
            _dir: dir,
            registry,
            server,
            fleet,
            hub,
            sources: Sources::new(mirrors.clone()),
            mirrors,
            controllers: Vec::new(),
        };
        h.register("prod-eu", "production", "eu-west-1").await;
        h.register("prod-us", "production", "us-east-1").await;
        h.register("staging-eu", "staging", "eu-west-1").await;
        let clusters = Arc::new(RwLock::new(Default::default()));
        let appsets = appset::start_appsets(
            h.hub.clone(),
            "argocd".into(),
            clusters.clone(),
            h.sources.clone(),
            AppSetOptions {
                workers: 2,
                // One Application per list request: every test reads the sets'
                // Applications through many pages.
                list_page: 1,
                ..appset_options
            },
        );
        if fed {
            let (hook, store) = (appsets.application_hook(), appsets.application_store());
            h.controllers.push(tokio::spawn(appsets.run_fed()));
            let reconciler = Arc::new(AppReconciler::new(
                h.hub.clone(),
                clusters,
                Sources::new(h.mirrors.clone()),
                Duration::from_secs(60),
            ));
            h.controllers
                .push(tokio::spawn(controller::run_applications_with(
                    reconciler,
                    ControllerOptions::default(),
                    controller::Feeds {
                        hooks: vec![hook],
                        store,
                    },
                )));
        } else {
            h.controllers.push(tokio::spawn(appsets.run()));
        }
        h
    }

    /// An Argo CD cluster Secret with the demo's labels.
    async fn register(&self, name: &str, environment: &str, region: &str) {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "argocd",
                         "labels": {"argocd.argoproj.io/secret-type": "cluster",
                                    "environment": environment, "region": region}},
            "stringData": {"name": name, "server": self.server.cluster_url(name),
                           "config": json!({"bearerToken": self.fleet.admin_token(name).unwrap(),
                                            "tlsClientConfig": {"caData": self.fleet.tls().unwrap().ca_data()}}).to_string()},
        }))
        .unwrap();
        Api::<Secret>::namespaced(self.hub.clone(), "argocd")
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }

    /// A Secret `argocd/<name>` holding `token` under `token`, as a generator's `tokenRef`
    /// reads it.
    async fn token_secret(&self, name: &str, token: &str) {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "argocd"},
            "stringData": {"token": token},
        }))
        .unwrap();
        Api::<Secret>::namespaced(self.hub.clone(), "argocd")
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }

    async fn unregister(&self, name: &str) {
        Api::<Secret>::namespaced(self.hub.clone(), "argocd")
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    async fn apply_set(&self, set: Value) {
        self.apply_set_in("argocd", set).await;
    }

    async fn apply_set_in(&self, namespace: &str, mut set: Value) {
        set["metadata"]["namespace"] = json!(namespace);
        let set: DynamicObject = serde_json::from_value(set).unwrap();
        Api::<DynamicObject>::namespaced_with(
            self.hub.clone(),
            namespace,
            &appset::applicationset_resource(),
        )
        .create(&PostParams::default(), &set)
        .await
        .unwrap();
    }

    /// The names of the Applications in `namespace`.
    async fn application_names_in(&self, namespace: &str) -> Vec<String> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), namespace, &application_resource());
        let mut names: Vec<String> = api
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|a| a.metadata.name)
            .collect();
        names.sort();
        names
    }

    /// A commit in the registry and the webhook's trigger.
    fn push(&self, message: &str) {
        git(&self.registry, &["add", "-A"]);
        git(&self.registry, &["commit", "-q", "-m", message]);
        let identity = GitUrl::parse(REGISTRY).unwrap().identity();
        self.mirrors.trigger(&identity);
    }

    /// The Applications in `argocd` by name.
    async fn applications(&self) -> BTreeMap<String, Value> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), "argocd", &application_resource());
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|a| {
                let v = serde_json::to_value(&a).unwrap();
                (a.metadata.name.unwrap(), v)
            })
            .collect()
    }

    /// Waits until the Applications not being deleted are exactly `names`.
    async fn wait_for_live(&self, names: &[&str]) -> BTreeMap<String, Value> {
        let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        want.sort();
        wait_for(&format!("Applications {want:?}"), async || {
            let apps = self.applications().await;
            let live: Vec<String> = apps
                .iter()
                .filter(|(_, a)| a.pointer("/metadata/deletionTimestamp").is_none())
                .map(|(n, _)| n.clone())
                .collect();
            (live == want).then_some(apps)
        })
        .await
    }

    async fn set_status(&self, name: &str) -> Value {
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.hub.clone(),
            "argocd",
            &appset::applicationset_resource(),
        );
        serde_json::to_value(api.get(name).await.unwrap()).unwrap()["status"].clone()
    }

    /// The set's `ErrorOccurred` condition once it is True.
    async fn wait_for_error(&self, name: &str) -> Value {
        wait_for(&format!("{name}'s ErrorOccurred condition"), async || {
            let status = self.set_status(name).await;
            status["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "ErrorOccurred" && c["status"] == "True")
                .cloned()
        })
        .await
    }

    /// The message of the set's `ErrorOccurred` condition once it is True.
    async fn error_message(&self, name: &str) -> String {
        let error = self.wait_for_error(name).await;
        error["message"].as_str().unwrap_or_default().to_string()
    }
}

fn seed() -> Value {
    serde_saphyr::from_str(SEED).unwrap()
}

/// What Argo CD generates for one (app, cluster) pair of the seed ApplicationSet.
fn expected_spec(app: &str, server: &str, region: &str) -> Value {
    json!({
        "project": "default",
        "source": {
            "repoURL": format!("https://gitlab.internal/platform/{app}"),
            "targetRevision": "main",
            "path": "deploy/",
            "helm": {"valueFiles": [format!("values-{region}.yaml")]},
        },
        "destination": {"server": server, "namespace": app},
        "syncPolicy": {"automated": {"prune": true, "selfHeal": true}},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seed_applicationset_follows_the_registry_and_the_clusters() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&["app-00", "app-01"]).await;
    hub.apply_set(seed()).await;

    // Two apps × the two production clusters; staging-eu is not selected.
    let apps = hub
        .wait_for_live(&[
            "app-00-prod-eu",
            "app-00-prod-us",
            "app-01-prod-eu",
            "app-01-prod-us",
        ])
        .await;
    for (name, region, cluster) in [
        ("app-00-prod-eu", "eu-west-1", "prod-eu"),
        ("app-00-prod-us", "us-east-1", "prod-us"),
        ("app-01-prod-eu", "eu-west-1", "prod-eu"),
        ("app-01-prod-us", "us-east-1", "prod-us"),
    ] {
        let app = &apps[name];
        let app_name = &name[..6];
        assert_eq!(
            app["spec"],
            expected_spec(app_name, &hub.server.cluster_url(cluster), region),
            "{name}"
        );
        assert_eq!(app["metadata"]["finalizers"], json!([FINALIZER]), "{name}");
        let owner = &app["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ApplicationSet");
        assert_eq!(owner["name"], "microservices");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
    }
    let status = wait_for("ResourcesUpToDate", async || {
        let status = hub.set_status("microservices").await;
        (status.pointer("/health/status")? == "Healthy").then_some(status)
    })
    .await;
    let conditions: BTreeMap<&str, (&str, &str)> = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap(),
                (c["status"].as_str().unwrap(), c["reason"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        conditions,
        BTreeMap::from([
            ("ErrorOccurred", ("False", "ApplicationSetUpToDate")),
            ("ParametersGenerated", ("True", "ParametersGenerated")),
            ("ResourcesUpToDate", ("True", "ApplicationSetUpToDate")),
        ])
    );

    // A new app in the registry: a commit and the webhook's trigger.
    add_app(&hub.registry, "app-02");
    hub.push("add app-02");
    let apps = hub
        .wait_for_live(&[
            "app-00-prod-eu",
            "app-00-prod-us",
            "app-01-prod-eu",
            "app-01-prod-us",
            "app-02-prod-eu",
            "app-02-prod-us",
        ])
        .await;
    assert_eq!(
        apps["app-02-prod-us"]["spec"],
        expected_spec("app-02", &hub.server.cluster_url("prod-us"), "us-east-1")
    );

    // A new production cluster, and a staging one that is not selected.
    hub.register("prod-ap", "production", "ap-southeast-1")
        .await;
    let apps = hub
        .wait_for_live(&[
            "app-00-prod-ap",
            "app-00-prod-eu",
            "app-00-prod-us",
            "app-01-prod-ap",
            "app-01-prod-eu",
            "app-01-prod-us",
            "app-02-prod-ap",
            "app-02-prod-eu",
            "app-02-prod-us",
        ])
        .await;
    assert_eq!(
        apps["app-01-prod-ap"]["spec"]["source"]["helm"]["valueFiles"],
        json!(["values-ap-southeast-1.yaml"])
    );
    // status.resources: the Applications the set owned when it last listed them, sorted
    // by name (a reconcile's own creations appear at the next one, as in Argo CD).
    let resources = wait_for("status.resources", async || {
        let status = hub.set_status("microservices").await;
        let resources = status.get("resources")?.as_array()?.clone();
        let names: Vec<&str> = resources
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        let before: Vec<&str> = apps
            .keys()
            .map(String::as_str)
            .filter(|n| !n.ends_with("-prod-ap"))
            .collect();
        before
            .iter()
            .all(|n| names.contains(n))
            .then_some(resources)
    })
    .await;
    // With Argo CD's default limit (5,000) nothing is cut: the count is the list's length.
    let status = hub.set_status("microservices").await;
    assert_eq!(
        status["resourcesCount"],
        json!(status["resources"].as_array().unwrap().len()),
        "{status}"
    );
    let names: Vec<&str> = resources
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    for entry in &resources {
        assert_eq!(
            (
                &entry["group"],
                &entry["version"],
                &entry["kind"],
                &entry["namespace"]
            ),
            (
                &json!("argoproj.io"),
                &json!("v1alpha1"),
                &json!("Application"),
                &json!("argocd")
            ),
            "{entry}"
        );
        // No Application controller runs here: no sync status, an empty health.
        assert!(entry.get("status").is_none(), "{entry}");
        assert_eq!(entry["health"], json!({}), "{entry}");
    }

    // An app leaves the registry: its Applications are deleted with their resources (the
    // finalizer stays for the Application controller, which is not running here).
    std::fs::remove_dir_all(hub.registry.join("apps/app-00")).unwrap();
    hub.push("remove app-00");
    let apps = hub
        .wait_for_live(&[
            "app-01-prod-ap",
            "app-01-prod-eu",
            "app-01-prod-us",
            "app-02-prod-ap",
            "app-02-prod-eu",
            "app-02-prod-us",
        ])
        .await;
    for gone in ["app-00-prod-ap", "app-00-prod-eu", "app-00-prod-us"] {
        let app = &apps[gone];
        assert!(app["metadata"]["deletionTimestamp"].is_string(), "{gone}");
        assert_eq!(app["metadata"]["finalizers"], json!([FINALIZER]), "{gone}");
    }

    // A cluster is unregistered: its Applications go, their finalizer removed first since
    // nothing can reach the cluster any more (Argo CD's removeFinalizerOnInvalidDestination).
    hub.unregister("prod-us").await;
    wait_for("prod-us Applications gone", async || {
        let apps = hub.applications().await;
        (!apps.keys().any(|n| n.ends_with("-prod-us"))).then_some(())
    })
    .await;
    hub.wait_for_live(&[
        "app-01-prod-ap",
        "app-01-prod-eu",
        "app-02-prod-ap",
        "app-02-prod-eu",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preserve_resources_on_deletion_leaves_the_finalizer_off() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&["app-00", "app-01"]).await;
    let mut set = seed();
    set["spec"]["syncPolicy"] = json!({"preserveResourcesOnDeletion": true});
    hub.apply_set(set).await;
    let apps = hub
        .wait_for_live(&[
            "app-00-prod-eu",
            "app-00-prod-us",
            "app-01-prod-eu",
            "app-01-prod-us",
        ])
        .await;
    for (name, app) in &apps {
        assert!(app["metadata"].get("finalizers").is_none(), "{name}: {app}");
    }
    // Removed from the registry: deleted outright, the resources stay on the cluster.
    std::fs::remove_dir_all(hub.registry.join("apps/app-01")).unwrap();
    hub.push("remove app-01");
    wait_for("app-01 Applications gone", async || {
        let apps = hub.applications().await;
        let names: Vec<&str> = apps.keys().map(String::as_str).collect();
        (names == ["app-00-prod-eu", "app-00-prod-us"]).then_some(())
    })
    .await;
}

/// Argo CD's `--applicationset-namespaces`: a set outside the controller's namespace and
/// the allowed ones is not reconciled (no Applications, no status); an allowed one creates
/// its Applications in its own namespace, whatever its template says.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn applicationsets_are_reconciled_only_in_the_allowed_namespaces() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start_audited(
        &["app-00"],
        false,
        None,
        AppSetOptions {
            applicationset_namespaces: vec!["team-*".into()],
            ..Default::default()
        },
    )
    .await;
    for namespace in ["other", "team-a", "team-b"] {
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap();
        Api::all(hub.hub.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let mut set = seed();
    set["spec"]["template"]["metadata"]["namespace"] = json!("argocd");
    hub.apply_set_in("other", set.clone()).await;
    hub.apply_set_in("team-a", set.clone()).await;
    let generated = ["app-00-prod-eu", "app-00-prod-us"];
    wait_for("team-a's Applications", async || {
        (hub.application_names_in("team-a").await == generated).then_some(())
    })
    .await;
    // A later allowed set converging means the earlier one in `other` was seen too.
    hub.apply_set_in("team-b", set).await;
    wait_for("team-b's Applications", async || {
        (hub.application_names_in("team-b").await == generated).then_some(())
    })
    .await;
    assert!(hub.application_names_in("other").await.is_empty());
    assert!(
        hub.application_names_in("argocd").await.is_empty(),
        "the template's namespace is overridden by the set's"
    );
    let other: Api<DynamicObject> =
        Api::namespaced_with(hub.hub.clone(), "other", &appset::applicationset_resource());
    let untouched = other.get("microservices").await.unwrap();
    assert!(
        untouched.data.get("status").is_none(),
        "a set in a namespace not allowed gets no status: {:?}",
        untouched.data
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_generated_application_edited_by_hand_is_put_back() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&["app-00"]).await;
    edited_by_hand_and_put_back(&hub).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_fed_by_the_application_controllers_watch_puts_back_an_edit_too() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start_with(&["app-00"], true).await;
    edited_by_hand_and_put_back(&hub).await;
}

async fn edited_by_hand_and_put_back(hub: &Hub) {
    hub.apply_set(seed()).await;
    hub.wait_for_live(&["app-00-prod-eu", "app-00-prod-us"])
        .await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(hub.hub.clone(), "argocd", &application_resource());
    api.patch(
        "app-00-prod-eu",
        &Default::default(),
        &kube::api::Patch::Merge(json!({"spec": {"destination": {"namespace": "elsewhere"}}})),
    )
    .await
    .unwrap();
    wait_for("the namespace put back", async || {
        let app = serde_json::to_value(api.get("app-00-prod-eu").await.ok()?).ok()?;
        (app.pointer("/spec/destination/namespace")? == "app-00").then_some(())
    })
    .await;
    // Deleted by hand (no finalizer left to hold it): created again.
    api.patch(
        "app-00-prod-us",
        &Default::default(),
        &kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let uid = api.get("app-00-prod-us").await.unwrap().metadata.uid;
    api.delete("app-00-prod-us", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the Application recreated", async || {
        let app = api.get_opt("app-00-prod-us").await.ok()??;
        if app.metadata.uid == uid && app.metadata.deletion_timestamp.is_some() {
            // The set may have put its finalizer back between the patch and the delete;
            // no Application controller runs here to honour it, so do its part.
            let _ = api
                .patch(
                    "app-00-prod-us",
                    &Default::default(),
                    &kube::api::Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await;
        }
        (app.metadata.uid != uid).then_some(())
    })
    .await;
}

/// `ignoreApplicationDifferences`: a revision pinned by hand on a generated Application
/// stays while the set puts back everything else it generates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ignored_difference_made_by_hand_is_kept_while_the_rest_is_put_back() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&["app-00"]).await;
    let mut set = seed();
    set["spec"]["ignoreApplicationDifferences"] =
        json!([{"jsonPointers": ["/spec/source/targetRevision"]}]);
    hub.apply_set(set).await;
    hub.wait_for_live(&["app-00-prod-eu", "app-00-prod-us"])
        .await;
    let api: Api<DynamicObject> =
        Api::namespaced_with(hub.hub.clone(), "argocd", &application_resource());
    api.patch(
        "app-00-prod-eu",
        &Default::default(),
        &kube::api::Patch::Merge(json!({"spec": {
            "source": {"targetRevision": "hotfix-42"},
            "destination": {"namespace": "elsewhere"},
        }})),
    )
    .await
    .unwrap();
    let app = wait_for("the namespace put back", async || {
        let app = serde_json::to_value(api.get("app-00-prod-eu").await.ok()?).ok()?;
        (app.pointer("/spec/destination/namespace")? == "app-00").then_some(app)
    })
    .await;
    assert_eq!(
        app["spec"]["source"]["targetRevision"], "hotfix-42",
        "{app}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_registry_is_reported_and_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&["app-00"]).await;
    let mut set = seed();
    set["spec"]["generators"][0]["matrix"]["generators"][0]["git"]["repoURL"] =
        json!("https://gitlab.internal/platform/missing-registry");
    hub.apply_set(set).await;
    let status = wait_for("ErrorOccurred", async || {
        let status = hub.set_status("microservices").await;
        (status.pointer("/health/status")? == "Degraded").then_some(status)
    })
    .await;
    let error = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ErrorOccurred")
        .unwrap();
    assert_eq!(error["status"], "True");
    assert_eq!(error["reason"], "ApplicationGenerationFromParamsError");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("missing-registry"), "{message}");
    assert!(hub.applications().await.is_empty());
}

/// A stopped controller stops all of it: the cluster registry watch and the workers it
/// started end with the task that runs it, so a cluster registered afterwards yields no
/// Applications.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_controller_leaves_nothing_running() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&["app-00"]).await;
    hub.apply_set(seed()).await;
    hub.wait_for_live(&["app-00-prod-eu", "app-00-prod-us"])
        .await;
    for task in &hub.controllers {
        task.abort();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    hub.register("prod-ap", "production", "ap-southeast-1")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !hub.applications().await.contains_key("app-00-prod-ap"),
        "an Application was created after the controller stopped"
    );
}

/// The requests kubesim's audit log at `path` holds with this verb on Applications in
/// `argocd`.
fn audited_application_requests(path: &Path, verb: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| {
            e["verb"] == verb && e["resource"] == "applications" && e["namespace"] == "argocd"
        })
        .count()
}

/// Fed by the Application controller's watch, a set plans from what that watch keeps (as
/// Argo CD reads its informer) instead of listing its Applications at every reconcile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fed_set_plans_from_the_watch_without_listing_its_applications() {
    let _serial = SERIAL.lock().await;
    let audit = tempfile::NamedTempFile::new().unwrap();
    let hub = Hub::start_audited(
        &["app-00"],
        true,
        Some(audit.path()),
        AppSetOptions::default(),
    )
    .await;
    hub.apply_set(seed()).await;
    hub.wait_for_live(&["app-00-prod-eu", "app-00-prod-us"])
        .await;
    let lists_before = audited_application_requests(audit.path(), "list");

    // A registry push: the set reconciles and creates two more; seen with GETs only.
    add_app(&hub.registry, "app-01");
    hub.push("app-01");
    let api: Api<DynamicObject> =
        Api::namespaced_with(hub.hub.clone(), "argocd", &application_resource());
    wait_for("app-01's Applications", async || {
        for name in ["app-01-prod-eu", "app-01-prod-us"] {
            api.get_opt(name).await.ok()??;
        }
        Some(())
    })
    .await;
    assert_eq!(
        audited_application_requests(audit.path(), "list"),
        lists_before,
        "the reconcile after the push listed the Applications"
    );
    assert!(audited_application_requests(audit.path(), "create") >= 4);
}

/// A plan made from a watch that has not shown an Application yet meets the API's
/// AlreadyExists; the set plans again from a listing instead of reporting an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_from_a_watch_behind_the_api_is_made_again_from_a_listing() {
    let _serial = SERIAL.lock().await;
    let mut hub = Hub::start(&["app-00"]).await;
    hub.apply_set(seed()).await;
    let created = hub
        .wait_for_live(&["app-00-prod-eu", "app-00-prod-us"])
        .await;
    for controller in hub.controllers.drain(..) {
        controller.abort();
    }
    let sets: Api<DynamicObject> = Api::namespaced_with(
        hub.hub.clone(),
        "argocd",
        &appset::applicationset_resource(),
    );
    let set = serde_json::to_value(sets.get("microservices").await.unwrap()).unwrap();

    // A watch that has listed but shows none of the two.
    let behind = Arc::new(flotilla_hub::known::Known::default());
    behind.mark_listed();
    let (registry, errors) = flotilla_hub::clusters::load(&hub.hub, "argocd")
        .await
        .unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let reconciler = appset::AppSetReconciler {
        hub: hub.hub.clone(),
        namespace: "argocd".into(),
        clusters: Arc::new(RwLock::new(registry)),
        sources: Sources::new(hub.mirrors.clone()),
        options: AppSetOptions::default(),
        echoes: Default::default(),
        applications: behind,
    };
    let outcome = reconciler.reconcile(&set, "2026-01-01T00:00:00Z").await;
    assert!(!outcome.failed, "{outcome:?}");
    let conditions = outcome.status.unwrap()["conditions"].clone();
    let error = conditions
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "ErrorOccurred")
        .unwrap()
        .clone();
    assert_eq!(error["status"], "False", "{conditions}");
    // The same two Applications, not replaced.
    let now = hub.applications().await;
    for (name, app) in &created {
        assert_eq!(now[name]["metadata"]["uid"], app["metadata"]["uid"]);
    }
    assert_eq!(now.len(), 2);
}

/// Argo CD's progressive syncs (`--enable-progressive-syncs`): a `RollingSync` set turns
/// its Applications' automated sync off and syncs them itself, step by step. The `prod`
/// step waits while the `dev` Application is not Healthy (its Deployment never becomes
/// ready); a commit that fixes it moves `dev` to Healthy, and then the `prod` Applications
/// are synced, one at a time (`maxUpdate: 1`), each by an operation the ApplicationSet
/// controller asks for. `status.applicationStatus` and the `RolloutProgressing` condition
/// follow the rollout in Argo CD's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_sync_holds_each_step_until_the_steps_before_are_healthy() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start_audited(
        &[],
        true,
        None,
        AppSetOptions {
            enable_progressive_syncs: true,
            ..Default::default()
        },
    )
    .await;
    let repo = hub.registry.parent().unwrap().join("rollout");
    let deployment = |simulate: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    kubesim.flotilla.dev/simulate: {simulate}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: registry.local/web:1.0\n"
        )
    };
    support::write(&repo, "dev/web.yaml", &deployment("never-ready"));
    support::write(
        &repo,
        "prod/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n",
    );
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);

    let element = |name: &str, cluster: &str, env: &str| json!({"name": name, "cluster": cluster, "env": env, "path": if env == "dev" { "dev" } else { "prod" }});
    hub.apply_set(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "rollout", "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "generators": [{"list": {"elements": [
                element("dev", "staging-eu", "dev"),
                element("eu", "prod-eu", "prod"),
                element("us", "prod-us", "prod"),
            ]}}],
            "strategy": {"type": "RollingSync", "rollingSync": {"steps": [
                {"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]},
                {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}], "maxUpdate": 1},
            ]}},
            "template": {
                "metadata": {"name": "web-{{.name}}", "labels": {"env": "{{.env}}"}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://gitlab.internal/platform/rollout",
                               "targetRevision": "main", "path": "{{.path}}"},
                    "destination": {"name": "{{.cluster}}", "namespace": "web"},
                    "syncPolicy": {"automated": {"prune": true, "selfHeal": true},
                                   "syncOptions": ["CreateNamespace=true"]},
                },
            },
        },
    }))
    .await;
    let rollout_of = async || -> Option<(BTreeMap<String, String>, Value)> {
        let status = hub.set_status("rollout").await;
        let entries = status["applicationStatus"]
            .as_array()?
            .iter()
            .map(|e| {
                (
                    e["application"].as_str().unwrap_or_default().to_string(),
                    format!(
                        "{} {}",
                        e["step"].as_str().unwrap_or_default(),
                        e["status"].as_str().unwrap_or_default()
                    ),
                )
            })
            .collect();
        let progressing = status["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "RolloutProgressing")?
            .clone();
        Some((entries, progressing))
    };
    let step = |entries: &[(&str, &str)]| -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(a, s)| (a.to_string(), s.to_string()))
            .collect()
    };

    // Step 1 synced, its Deployment never ready: step 2 waits.
    let (_, progressing) = wait_for("step 1 progressing", async || {
        let (entries, progressing) = rollout_of().await?;
        (entries
            == step(&[
                ("web-dev", "1 Progressing"),
                ("web-eu", "2 Waiting"),
                ("web-us", "2 Waiting"),
            ]))
        .then_some((entries, progressing))
    })
    .await;
    assert_eq!(
        (
            progressing["status"].as_str(),
            progressing["message"].as_str()
        ),
        (
            Some("True"),
            Some("ApplicationSet is performing rollout of step 1")
        )
    );
    let apps = hub.applications().await;
    for (name, app) in &apps {
        assert_eq!(
            app.pointer("/spec/syncPolicy/automated"),
            Some(&json!({"prune": true, "selfHeal": true, "enabled": false})),
            "{name}: the set syncs it, not its own policy"
        );
    }
    assert_eq!(
        apps["web-dev"].pointer("/status/operationState/operation/initiatedBy"),
        Some(&json!({"username": "applicationset-controller", "automated": true}))
    );
    // The set calls a step Progressing once it asked for the sync; the Application's own
    // health follows when that sync has applied the Deployment.
    wait_for("web-dev Progressing after its sync", async || {
        let apps = hub.applications().await;
        (apps["web-dev"].pointer("/status/health/status") == Some(&json!("Progressing")))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let prod_settings = async |cluster: &str| {
        let client = support::client(&hub.server, cluster).await;
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client, "web")
            .get_opt("settings")
            .await
            .unwrap()
    };
    for (name, cluster) in [("web-eu", "prod-eu"), ("web-us", "prod-us")] {
        let app = &hub.applications().await[name];
        assert!(
            app.pointer("/status/operationState").is_none(),
            "{name}: {app}"
        );
        assert!(prod_settings(cluster).await.is_none(), "{name} was synced");
    }

    // The fix: dev becomes Healthy, then prod rolls out.
    support::write(&repo, "dev/web.yaml", &deployment("none"));
    git(&repo, &["commit", "-qam", "dev ready"]);
    hub.mirrors.trigger(
        &GitUrl::parse("https://gitlab.internal/platform/rollout")
            .unwrap()
            .identity(),
    );
    let (_, progressing) = wait_for("the rollout to complete", async || {
        let (entries, progressing) = rollout_of().await?;
        // Never both prod Applications syncing at once (`maxUpdate: 1`).
        let syncing = ["web-eu", "web-us"]
            .iter()
            .filter(|a| {
                entries
                    .get(**a)
                    .is_some_and(|s| s.ends_with("Pending") || s.ends_with("Progressing"))
            })
            .count();
        assert!(syncing < 2, "{entries:?}");
        (entries
            == step(&[
                ("web-dev", "1 Healthy"),
                ("web-eu", "2 Healthy"),
                ("web-us", "2 Healthy"),
            ]))
        .then_some((entries, progressing))
    })
    .await;
    assert_eq!(
        (
            progressing["status"].as_str(),
            progressing["reason"].as_str(),
            progressing["message"].as_str()
        ),
        (
            Some("False"),
            Some("ApplicationSetRolloutComplete"),
            Some("ApplicationSet Rollout has completed")
        )
    );
    let apps = hub.applications().await;
    for (name, cluster) in [("web-eu", "prod-eu"), ("web-us", "prod-us")] {
        assert!(
            prod_settings(cluster).await.is_some(),
            "{name} was not synced"
        );
        assert_eq!(
            apps[name].pointer("/status/operationState/operation/initiatedBy/username"),
            Some(&json!("applicationset-controller"))
        );
    }

    // `deletionOrder: Reverse`: the set gets the resources finalizer, and its deletion
    // takes the prod Applications first, then dev.
    let sets: Api<DynamicObject> = Api::namespaced_with(
        hub.hub.clone(),
        "argocd",
        &appset::applicationset_resource(),
    );
    sets.patch(
        "rollout",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"strategy": {"deletionOrder": "Reverse"}}})),
    )
    .await
    .unwrap();
    wait_for("the resources finalizer", async || {
        let set = serde_json::to_value(sets.get("rollout").await.ok()?).ok()?;
        (set.pointer("/metadata/finalizers")? == &json!([FINALIZER])).then_some(())
    })
    .await;
    sets.delete("rollout", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the Applications deleted in reverse order", async || {
        let apps = hub.applications().await;
        let prod_left = apps.contains_key("web-eu") || apps.contains_key("web-us");
        assert!(
            apps.contains_key("web-dev") || !prod_left,
            "dev went before prod: {:?}",
            apps.keys().collect::<Vec<_>>()
        );
        (apps.is_empty() && sets.get_opt("rollout").await.ok()?.is_none()).then_some(())
    })
    .await;

    // A RollingSync without steps is an error, in Argo CD's words, and creates nothing.
    hub.apply_set(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "stepless", "namespace": "argocd"},
        "spec": {
            "generators": [{"list": {"elements": [{"name": "x"}]}}],
            "strategy": {"type": "RollingSync", "rollingSync": {"steps": []}},
            "template": {"metadata": {"name": "stepless-{{name}}"},
                         "spec": {"project": "default", "source": {"repoURL": "https://gitlab.internal/platform/rollout", "path": "prod"},
                                  "destination": {"name": "prod-eu", "namespace": "web"}}},
        },
    }))
    .await;
    let error = hub.wait_for_error("stepless").await;
    assert_eq!(
        (error["reason"].as_str(), error["message"].as_str()),
        (
            Some("ApplicationSetRolloutError"),
            Some("No steps defined for rollout")
        )
    );
    assert!(!hub.applications().await.contains_key("stepless-x"));
}

/// A plain HTTP API stand-in on a loopback port: each request's path and whether it
/// carried `Bearer <token>` go to `answer`, which gives the status line, the body and
/// extra header lines. Returns the base URL.
fn serve_api(
    token: &'static str,
    answer: impl Fn(&str, bool) -> (&'static str, String, String) + Send + 'static,
) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut authorized = false;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if line.to_ascii_lowercase().starts_with("authorization:") {
                    authorized = line.trim_end().ends_with(&format!("Bearer {token}"));
                }
            }
            let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
            let (status, body, headers) = answer(&path, authorized);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// A GitHub stand-in's path below `/api/v3`, where GitHub Enterprise serves its REST API
/// and go-github sends a custom `api` (anything else is a path no route matches).
fn under_api_v3(path: &str) -> &str {
    path.strip_prefix("/api/v3").unwrap_or("/outside-api-v3")
}

/// A stand-in for GitHub's REST API (`GET /repos/{owner}/{repo}/pulls`, its documented
/// JSON and `Link` paging): `pulls` are served 1 per page to `Bearer <token>` only;
/// other repositories are 404. Every request is counted in `requests`.
fn github_api(
    pulls: Arc<std::sync::Mutex<Vec<Value>>>,
    token: &'static str,
    requests: Arc<AtomicUsize>,
) -> String {
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let served = base.clone();
    let url = serve_api(token, move |path, authorized| {
        requests.fetch_add(1, Ordering::SeqCst);
        // GitHub's App API (`POST /app/installations/{id}/access_tokens`): installation
        // 42's token is the one the pulls are served to.
        if path == "/app/installations/42/access_tokens" {
            let body = json!({"token": token, "expires_at": "2099-01-01T00:00:00Z"});
            return ("201 Created", body.to_string(), String::new());
        }
        let path = under_api_v3(path);
        // `?per_page=100`, then `&page=N` from the `Link` header.
        let page: usize = path
            .split("&page=")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        if !authorized {
            return (
                "401 Unauthorized",
                "{\"message\":\"Bad credentials\"}".into(),
                String::new(),
            );
        }
        if !path.starts_with("/repos/org/app/pulls?") {
            return (
                "404 Not Found",
                "{\"message\":\"Not Found\"}".into(),
                String::new(),
            );
        }
        let all = pulls.lock().unwrap().clone();
        let this: Vec<Value> = all.get(page - 1).cloned().into_iter().collect();
        let link = if page < all.len() {
            format!(
                "Link: <{}/repos/org/app/pulls?per_page=100&page={}>; rel=\"next\"\r\n",
                served.get().unwrap(),
                page + 1
            )
        } else {
            String::new()
        };
        ("200 OK", Value::Array(this).to_string(), link)
    });
    // `Link`s name the API's own base; the generator is given the bare origin, as the
    // documented `api: https://git.example.com/`.
    base.set(format!("{url}/api/v3")).unwrap();
    url
}

/// An ApplicationSet `name` (Go templates) whose pull request generator reads GitHub as
/// `github` says every second, each pull request an Application with `metadata`
/// deploying its head commit into `namespace` of the hub.
fn pull_request_set(name: &str, github: Value, metadata: Value, namespace: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "generators": [{"pullRequest": {"github": github, "requeueAfterSeconds": 1}}],
            "template": {
                "metadata": metadata,
                "spec": {"project": "default",
                         "source": {"repoURL": "https://gitlab.internal/platform/app",
                                    "targetRevision": "{{.head_sha}}", "path": "deploy"},
                         "destination": {"server": "https://kubernetes.default.svc",
                                         "namespace": namespace}},
            },
        },
    })
}

fn github_pull(number: i64, branch: &str, labels: &[&str]) -> Value {
    json!({"number": number, "title": format!("PR {number}"), "state": "open",
           "head": {"ref": branch, "sha": format!("{number:0>40}")},
           "base": {"ref": "main", "sha": "0".repeat(40)},
           "user": {"login": "ana"},
           "labels": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>()})
}

/// Argo CD's pull request generator over GitHub: a preview Application per open pull
/// request carrying the `preview` label (the API's pages followed, the token from the
/// Secret `tokenRef` names), named and labelled from Argo CD's parameters; a closed pull
/// request's Application goes at the next poll (`requeueAfterSeconds`). A repository the
/// API does not know fails the set, unless `continueOnRepoNotFoundError`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pull_request_generator_follows_a_repositorys_open_pull_requests() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&[]).await;
    let pulls = Arc::new(std::sync::Mutex::new(vec![
        github_pull(7, "feature/New_Login", &["preview"]),
        github_pull(8, "fix/typo", &["preview", "small"]),
        github_pull(9, "chore/deps", &[]),
    ]));
    let api = github_api(pulls.clone(), "gh-token", Default::default());
    hub.token_secret("github-token", "gh-token").await;
    let set = |name: &str, repo: &str, continue_on_missing: bool| {
        let mut set = pull_request_set(
            name,
            json!({"owner": "org", "repo": repo, "api": api,
                   "tokenRef": {"secretName": "github-token", "key": "token"},
                   "labels": ["preview"]}),
            json!({"name": "preview-{{.number}}",
                   "labels": {"branch": "{{.branch_slug}}", "sha": "{{.head_short_sha}}"}}),
            "preview-{{.number}}",
        );
        set["spec"]["generators"][0]["pullRequest"]["continueOnRepoNotFoundError"] =
            json!(continue_on_missing);
        set
    };
    hub.apply_set(set("previews", "app", false)).await;
    let apps = hub.wait_for_live(&["preview-7", "preview-8"]).await;
    assert_eq!(
        apps["preview-7"]["metadata"]["labels"],
        json!({"branch": "feature-new-login", "sha": "00000000"})
    );
    assert_eq!(
        apps["preview-8"]["spec"]["source"]["targetRevision"],
        json!(format!("{:0>40}", 8))
    );

    // Pull request 7 is merged: its preview goes at the next poll.
    pulls.lock().unwrap().remove(0);
    hub.wait_for_live(&["preview-8"]).await;

    // A repository GitHub does not know.
    hub.apply_set(set("missing", "gone", false)).await;
    let status = hub.error_message("missing").await;
    assert!(
        status.starts_with("error listing repos: error listing pull requests for org/gone: ")
            && status.contains("404"),
        "{status}"
    );
    hub.apply_set(set("tolerant", "gone", true)).await;
    wait_for("an empty set, no error", async || {
        let status = hub.set_status("tolerant").await;
        let up_to_date = status["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "ResourcesUpToDate" && c["status"] == "True");
        up_to_date.then_some(())
    })
    .await;
}

/// `appSecretName`: the pull request generator lists GitHub with an installation token
/// of the GitHub App whose credentials a repo-creds Secret in Argo CD's namespace holds
/// (bought from the App API with the App's JWT); a Secret without App credentials fails
/// the set in Argo CD's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pull_request_generator_lists_with_a_github_app_installation_token() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&[]).await;
    let pulls = Arc::new(std::sync::Mutex::new(vec![github_pull(
        7,
        "feature/app",
        &["preview"],
    )]));
    let api = github_api(pulls, "ghs-installation", Default::default());
    let key = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .output()
        .expect("openssl");
    assert!(key.status.success(), "{key:?}");
    let app_secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "github-app", "namespace": "argocd",
                     "labels": {"argocd.argoproj.io/secret-type": "repo-creds"}},
        "stringData": {"url": "https://github.com/org", "githubAppID": "1",
                       "githubAppInstallationID": "42",
                       "githubAppPrivateKey": String::from_utf8(key.stdout).unwrap()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(hub.hub.clone(), "argocd")
        .create(&PostParams::default(), &app_secret)
        .await
        .unwrap();
    hub.token_secret("not-an-app", "t").await;
    let set = |name: &str, secret: &str| {
        pull_request_set(
            name,
            json!({"owner": "org", "repo": "app", "api": api, "appSecretName": secret}),
            json!({"name": format!("{name}-{{{{.number}}}}")}),
            "previews",
        )
    };
    hub.apply_set(set("with-app", "github-app")).await;
    hub.wait_for_live(&["with-app-7"]).await;
    hub.apply_set(set("without-app", "not-an-app")).await;
    let status = hub.error_message("without-app").await;
    assert!(
        status.contains("error fetching Github app secret: no github app found for not-an-app"),
        "{status}"
    );
}

/// A signed delivery to a GitHub webhook receiver, as the hub serves them; its answer.
async fn deliver(
    hooks: &axum::Router,
    receiver: &flotilla_source::webhook::Receiver,
    event: &str,
    payload: Value,
) -> String {
    use hmac::Mac as _;
    use tower::ServiceExt as _;
    let body = payload.to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(receiver.secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let request = axum::http::Request::post(receiver.path())
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-hub-signature-256", format!("sha256={signature}"))
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = hooks.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), axum::http::StatusCode::OK);
    let answer = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(answer.to_vec()).unwrap()
}

/// Argo CD's ApplicationSet webhook: a GitHub `pull_request` delivery (`opened`) naming
/// the repository a pull request generator lists makes the set list it again at once,
/// though its `requeueAfterSeconds` is an hour away — no mirror of that repository
/// needed. A pull request of another repository, an action Argo CD ignores, or a push
/// lists nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_request_webhook_lists_the_repositorys_pull_requests_at_once() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&[]).await;
    let requests = Arc::new(AtomicUsize::new(0));
    let pulls = Arc::new(std::sync::Mutex::new(vec![github_pull(7, "feat/a", &[])]));
    let api = github_api(pulls.clone(), "gh-token", requests.clone());
    hub.token_secret("github-token", "gh-token").await;
    let mut set = pull_request_set(
        "previews",
        json!({"owner": "org", "repo": "app", "api": api,
               "tokenRef": {"secretName": "github-token", "key": "token"}}),
        json!({"name": "preview-{{.number}}"}),
        "preview",
    );
    set["spec"]["generators"][0]["pullRequest"]["requeueAfterSeconds"] = json!(3600);
    hub.apply_set(set).await;
    hub.wait_for_live(&["preview-7"]).await;
    // Settled: no listing is on its way.
    let mut listed = requests.load(Ordering::SeqCst);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = requests.load(Ordering::SeqCst);
        if now == listed {
            break;
        }
        listed = now;
    }

    let receiver = flotilla_source::webhook::Receiver {
        name: "github".into(),
        provider: flotilla_source::webhook::Provider::GitHub,
        secret: "hook-secret".into(),
        repositories: vec![],
    };
    let hooks = flotilla_source::webhook::router(hub.mirrors.clone(), vec![receiver.clone()]);
    pulls.lock().unwrap().push(github_pull(8, "feat/b", &[]));
    // GitHub names the repository by its clone URL on the API's host (owner and name in
    // any case).
    let repository = |name: &str| json!({"clone_url": format!("{api}/Org/{name}.git")});
    let pull_request = |action: &str, name: &str| json!({"action": action, "number": 8, "repository": repository(name)});
    for (event, payload) in [
        ("pull_request", pull_request("opened", "other")),
        ("pull_request", pull_request("edited", "app")),
        (
            "push",
            json!({"ref": "refs/heads/main", "repository": repository("app")}),
        ),
    ] {
        let answer = deliver(&hooks, &receiver, event, payload).await;
        assert_eq!(answer, r#"{"triggered":[]}"#, "no mirror was marked stale");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        requests.load(Ordering::SeqCst),
        listed,
        "nothing listed again"
    );
    hub.wait_for_live(&["preview-7"]).await;

    let asked = std::time::Instant::now();
    deliver(
        &hooks,
        &receiver,
        "pull_request",
        pull_request("opened", "app"),
    )
    .await;
    hub.wait_for_live(&["preview-7", "preview-8"]).await;
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    assert!(requests.load(Ordering::SeqCst) > listed);
}

/// The controller's SCM policy (Argo CD's `--allowed-scm-providers` and
/// `--token-ref-strict-mode`): a pull request generator naming an API URL off the list
/// fails without a request; one on the list reads its token only from a Secret labelled
/// `scm-creds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scm_policy_decides_which_apis_and_secrets_generators_use() {
    let _serial = SERIAL.lock().await;
    let requests = Arc::new(AtomicUsize::new(0));
    let pulls = Arc::new(std::sync::Mutex::new(vec![github_pull(
        3,
        "feat/a",
        &["preview"],
    )]));
    let api = github_api(pulls, "gh-token", requests.clone());
    let hub = Hub::start_audited(
        &[],
        false,
        None,
        AppSetOptions {
            scm: appset::ScmPolicy {
                allowed: vec![api.clone()],
                token_ref_strict: true,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    hub.token_secret("github-token", "gh-token").await;
    let set = |name: &str, api: &str| {
        pull_request_set(
            name,
            json!({"owner": "org", "repo": "app", "api": api,
                   "tokenRef": {"secretName": "github-token", "key": "token"}}),
            json!({"name": format!("{name}-{{{{.number}}}}")}),
            "preview",
        )
    };
    let elsewhere = "http://169.254.169.254/latest";
    hub.apply_set(set("elsewhere", elsewhere)).await;
    let message = hub.error_message("elsewhere").await;
    assert!(
        message.ends_with(&format!(
            "failed to select pull request service provider: scm provider not allowed: scm provider {elsewhere:?} not allowed, must use one of the following: {api}"
        )),
        "{message}"
    );
    hub.apply_set(set("unlabelled", &api)).await;
    let message = hub.error_message("unlabelled").await;
    assert!(
        message.ends_with("secret argocd/github-token is not a valid SCM creds secret: secret must have label \"argocd.argoproj.io/secret-type\"=\"scm-creds\""),
        "{message}"
    );
    assert_eq!(
        requests.load(Ordering::SeqCst),
        0,
        "no request left the hub"
    );

    Api::<Secret>::namespaced(hub.hub.clone(), "argocd")
        .patch(
            "github-token",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"argocd.argoproj.io/secret-type": "scm-creds"}}}),
            ),
        )
        .await
        .unwrap();
    hub.apply_set(set("labelled", &api)).await;
    wait_for("the labelled set's Application", async || {
        Api::<DynamicObject>::namespaced_with(hub.hub.clone(), "argocd", &application_resource())
            .get_opt("labelled-3")
            .await
            .ok()
            .flatten()
    })
    .await;
    assert!(requests.load(Ordering::SeqCst) > 0);
}

/// A stand-in for GitLab's REST API (`GET /api/v4/projects/{id}/merge_requests`, its
/// documented JSON and `X-Next-Page` paging, one merge request per page), answering only
/// `Bearer <token>` and only the query the generator must send.
fn gitlab_api(merge_requests: Vec<Value>, token: &'static str) -> String {
    let expected = "/api/v4/projects/platform%2Fweb/merge_requests?per_page=100&labels=preview&state=opened&page=";
    serve_api(token, move |path, authorized| {
        if !authorized {
            return ("401 Unauthorized", "{}".into(), String::new());
        }
        let Some(page) = path.strip_prefix(expected) else {
            return (
                "404 Not Found",
                format!("{{\"message\":\"404 Project Not Found {path}\"}}"),
                String::new(),
            );
        };
        let page: usize = page.parse().unwrap_or(1);
        let this: Vec<Value> = merge_requests.get(page - 1).cloned().into_iter().collect();
        let next = if page < merge_requests.len() {
            format!("X-Next-Page: {}\r\n", page + 1)
        } else {
            String::new()
        };
        ("200 OK", Value::Array(this).to_string(), next)
    })
}

/// The pull request generator over GitLab: the merge requests of a project (its path
/// escaped), the labels and state passed to the API as go-gitlab passes them, `iid` as the
/// number, the source branch, the author's username.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pull_request_generator_reads_gitlab_merge_requests() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&[]).await;
    let merge_request = |iid: i64, branch: &str| {
        json!({"id": 1000 + iid, "iid": iid, "title": format!("MR {iid}"), "state": "opened",
               "source_branch": branch, "target_branch": "main",
               "sha": format!("{iid:0>40}"), "author": {"username": "bo"},
               "labels": ["preview"]})
    };
    let api = gitlab_api(
        vec![merge_request(5, "feat/x"), merge_request(6, "fix_y")],
        "gl-token",
    );
    hub.token_secret("gitlab-token", "gl-token").await;
    hub.apply_set(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "merge-requests", "namespace": "argocd"},
        "spec": {
            "generators": [{"pullRequest": {"gitlab": {
                "api": api, "project": "platform/web", "labels": ["preview"],
                "pullRequestState": "opened",
                "tokenRef": {"secretName": "gitlab-token", "key": "token"}}}}],
            "template": {
                "metadata": {"name": "mr-{{number}}", "labels": {"branch": "{{branch_slug}}", "author": "{{author}}"}},
                "spec": {"project": "default",
                         "source": {"repoURL": "https://gitlab.internal/platform/web",
                                    "targetRevision": "{{head_sha}}", "path": "deploy"},
                         "destination": {"server": "https://kubernetes.default.svc", "namespace": "mr-{{number}}"}},
            },
        },
    }))
    .await;
    let apps = hub.wait_for_live(&["mr-5", "mr-6"]).await;
    assert_eq!(
        apps["mr-6"]["metadata"]["labels"],
        json!({"branch": "fix-y", "author": "bo"})
    );
}

/// The pull request generator over Gitea: `GET /api/v1/repos/{owner}/{repo}/pulls` with
/// `state=open`, pages of 50 followed until a short one (Gitea's documented `page` and
/// `limit`), the required labels applied by the generator.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pull_request_generator_reads_gitea_pull_requests() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&[]).await;
    // 51 open pull requests: two pages; only #3 and #51 carry `preview`.
    let all: Vec<Value> = (1..=51)
        .map(|n| {
            let labels: &[&str] = if n == 3 || n == 51 { &["preview"] } else { &[] };
            github_pull(n, &format!("topic-{n}"), labels)
        })
        .collect();
    let api = serve_api("gt-token", move |path, authorized| {
        let prefix = "/api/v1/repos/org/app/pulls?state=open&limit=50&page=";
        match path.strip_prefix(prefix) {
            _ if !authorized => ("401 Unauthorized", "{}".into(), String::new()),
            Some(page) => {
                let page: usize = page.parse().unwrap_or(1);
                let this: Vec<Value> = all.iter().skip((page - 1) * 50).take(50).cloned().collect();
                ("200 OK", Value::Array(this).to_string(), String::new())
            }
            None => ("404 Not Found", "{}".into(), String::new()),
        }
    });
    hub.token_secret("gitea-token", "gt-token").await;
    hub.apply_set(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "gitea", "namespace": "argocd"},
        "spec": {
            "generators": [{"pullRequest": {"gitea": {
                "api": api, "owner": "org", "repo": "app", "labels": ["preview"],
                "tokenRef": {"secretName": "gitea-token", "key": "token"}}}}],
            "template": {
                "metadata": {"name": "gitea-{{number}}"},
                "spec": {"project": "default",
                         "source": {"repoURL": "https://gitlab.internal/platform/web",
                                    "targetRevision": "{{head_sha}}", "path": "deploy"},
                         "destination": {"server": "https://kubernetes.default.svc", "namespace": "pr-{{number}}"}},
            },
        },
    }))
    .await;
    hub.wait_for_live(&["gitea-3", "gitea-51"]).await;
}

/// A stand-in for GitHub's REST API as the SCM provider generator reads it, serving
/// organization `org` to `Bearer <token>` only: `GET /orgs/org/repos` (the documented
/// repository JSON, one repository per page, `Link` paging), `GET
/// /repos/org/{repo}/branches/main` and `GET /repos/org/{repo}/contents/{path}?ref=main`
/// (a 404 for a missing path). `repos` are (name, topics, files); every path asked is
/// logged in `asked`.
fn github_org_api(
    repos: Vec<(&'static str, Vec<&'static str>, Vec<&'static str>)>,
    token: &'static str,
    asked: Arc<std::sync::Mutex<Vec<String>>>,
) -> String {
    let base = Arc::new(std::sync::OnceLock::<String>::new());
    let served = base.clone();
    let url = serve_api(token, move |path, authorized| {
        let path = under_api_v3(path);
        asked.lock().unwrap().push(path.to_string());
        let not_found = || {
            (
                "404 Not Found",
                "{\"message\":\"Not Found\"}".to_string(),
                String::new(),
            )
        };
        if !authorized {
            return (
                "401 Unauthorized",
                "{\"message\":\"Bad credentials\"}".into(),
                String::new(),
            );
        }
        if let Some(rest) = path.strip_prefix("/orgs/org/repos?per_page=100") {
            let page: usize = rest
                .strip_prefix("&page=")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let this: Vec<Value> = repos
                .iter()
                .enumerate()
                .skip(page - 1)
                .take(1)
                .map(|(i, (name, topics, _))| {
                    json!({"id": 1000 + i, "name": name, "full_name": format!("org/{name}"),
                           "owner": {"login": "org"}, "default_branch": "main",
                           "ssh_url": format!("git@github.com:org/{name}.git"),
                           "clone_url": format!("https://github.com/org/{name}.git"),
                           "topics": topics, "archived": false})
                })
                .collect();
            let link = if page < repos.len() {
                format!(
                    "Link: <{}/orgs/org/repos?per_page=100&page={}>; rel=\"next\"\r\n",
                    served.get().unwrap(),
                    page + 1
                )
            } else {
                String::new()
            };
            return ("200 OK", Value::Array(this).to_string(), link);
        }
        let Some(rest) = path.strip_prefix("/repos/org/") else {
            return not_found();
        };
        let Some((name, rest)) = rest.split_once('/') else {
            return not_found();
        };
        let Some((index, (_, _, files))) = repos
            .iter()
            .enumerate()
            .find(|(_, (repo, _, _))| *repo == name)
        else {
            return not_found();
        };
        if rest == "branches/main" {
            let sha = format!("{:0>40}", index + 1);
            let branch = json!({"name": "main", "commit": {"sha": sha}});
            return ("200 OK", branch.to_string(), String::new());
        }
        match rest
            .strip_prefix("contents/")
            .and_then(|r| r.strip_suffix("?ref=main"))
        {
            Some(file) if files.contains(&file) => {
                ("200 OK", json!({"type": "file"}).to_string(), String::new())
            }
            _ => not_found(),
        }
    });
    // `Link`s name the API's own base; the generator is given the bare origin, as the
    // documented `api: https://git.example.com/`.
    base.set(format!("{url}/api/v3")).unwrap();
    url
}

/// Argo CD's SCM provider generator over GitHub: the organization's repositories (every
/// page), each at its default branch, kept when one filter holds — `web` because it has
/// `deploy/kustomization.yaml` (`pathsExist`), `api` by its name (`repositoryMatch`, with
/// a `branchMatch` so that both filters are branch-level: upstream applies a filter of
/// repository conditions only *before* the branch-level ones, so alone it would have to
/// hold as well) — and `docs` dropped. The Applications carry Argo CD's parameters
/// (`cloneProtocol: https`, `branchNormalized`, `short_sha`, `labels` joined). Then an
/// invalid `repositoryMatch` fails the set in Argo CD's words before any request, and
/// nothing is created or deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scm_provider_generator_follows_an_organizations_repositories() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&[]).await;
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let api = github_org_api(
        vec![
            (
                "web",
                vec!["team-a", "prod"],
                vec!["deploy/kustomization.yaml"],
            ),
            ("api", vec![], vec!["README.md"]),
            ("docs", vec!["team-a"], vec![]),
        ],
        "gh-token",
        asked.clone(),
    );
    hub.token_secret("github-token", "gh-token").await;
    hub.apply_set(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "org-repos", "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"scmProvider": {
                "github": {"organization": "org", "api": api,
                           "tokenRef": {"secretName": "github-token", "key": "token"}},
                "cloneProtocol": "https",
                "requeueAfterSeconds": 1,
                "filters": [
                    {"pathsExist": ["deploy/kustomization.yaml"]},
                    {"repositoryMatch": "^api$", "branchMatch": "^main$"},
                ],
                "values": {"team": "{{.organization}}-{{.repository}}"},
            }}],
            "template": {
                "metadata": {"name": "{{.repository}}-{{.branchNormalized}}",
                             "annotations": {"topics": "{{.labels}}", "team": "{{.values.team}}"},
                             "labels": {"sha": "{{.short_sha}}", "sha7": "{{.short_sha_7}}"}},
                "spec": {"project": "default",
                         "source": {"repoURL": "{{.url}}", "targetRevision": "{{.sha}}",
                                    "path": "deploy"},
                         "destination": {"server": "https://kubernetes.default.svc",
                                         "namespace": "{{.repository}}"}},
            },
        },
    }))
    .await;
    let apps = hub.wait_for_live(&["api-main", "web-main"]).await;
    let web = &apps["web-main"];
    assert_eq!(
        web["spec"]["source"],
        json!({"repoURL": "https://github.com/org/web.git",
               "targetRevision": format!("{:0>40}", 1), "path": "deploy"})
    );
    assert_eq!(
        web["metadata"]["labels"],
        json!({"sha": "00000000", "sha7": "0000000"})
    );
    assert_eq!(web["metadata"]["annotations"]["topics"], "team-a,prod");
    assert_eq!(web["metadata"]["annotations"]["team"], "org-web");
    assert_eq!(apps["api-main"]["spec"]["destination"]["namespace"], "api");
    {
        let asked = asked.lock().unwrap();
        assert!(
            asked.contains(
                &"/repos/org/docs/contents/deploy/kustomization.yaml?ref=main".to_string()
            )
        );
        assert!(asked.contains(&"/orgs/org/repos?per_page=100&page=3".to_string()));
    }

    // An invalid regular expression: Argo CD's error, no request made, nothing changed.
    Api::<DynamicObject>::namespaced_with(
        hub.hub.clone(),
        "argocd",
        &appset::applicationset_resource(),
    )
    .patch(
        "org-repos",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"generators": [{"scmProvider": {
            "github": {"organization": "org", "api": api,
                       "tokenRef": {"secretName": "github-token", "key": "token"}},
            "requeueAfterSeconds": 1,
            "filters": [{"repositoryMatch": "("}],
        }}]}})),
    )
    .await
    .unwrap();
    let message = hub.error_message("org-repos").await;
    assert!(
        message.starts_with("error listing repos: error compiling RepositoryMatch regexp \"(\": "),
        "{message}"
    );
    let requests = asked.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        asked.lock().unwrap().len(),
        requests,
        "no request after the error"
    );
    let apps = hub.wait_for_live(&["api-main", "web-main"]).await;
    assert_eq!(
        apps["web-main"]["metadata"]["annotations"]["team"],
        "org-web"
    );
}

/// The SCM provider generator over GitLab, legacy templates: a group's projects (asked
/// with Argo CD's `include_subgroups`/`with_shared`/`topic`), every branch with
/// `allBranches`, a branch kept when it matches `branchMatch` and has the `charts`
/// directory (the repository files API's 404, then the tree API). A provider flotilla does
/// not read is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_scm_provider_generator_reads_a_gitlab_groups_branches() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&[]).await;
    let api = serve_api("gl-token", move |path, authorized| {
        let json_ok = |v: Value| ("200 OK", v.to_string(), String::new());
        match path {
            _ if !authorized => ("401 Unauthorized", "{}".into(), String::new()),
            "/api/v4/groups/platform/projects?per_page=100&include_subgroups=true&with_shared=true&topic=&page=1" => {
                json_ok(
                    json!([{"id": 11, "path": "web", "namespace": {"full_path": "platform/apps"},
                                "ssh_url_to_repo": "git@gitlab.com:platform/apps/web.git",
                                "http_url_to_repo": "https://gitlab.com/platform/apps/web.git",
                                "default_branch": "main", "topics": ["frontend"]}]),
                )
            }
            "/api/v4/projects/11/repository/branches?per_page=100&page=1" => json_ok(json!([
                {"name": "main", "commit": {"id": "a".repeat(40)}},
                {"name": "feature/X_1", "commit": {"id": "b".repeat(40)}},
                {"name": "feature/empty", "commit": {"id": "c".repeat(40)}}])),
            "/api/v4/projects/11/repository/tree?path=charts&ref=feature%2FX_1" => {
                json_ok(json!([]))
            }
            _ => (
                "404 Not Found",
                "{\"message\":\"404 Not Found\"}".into(),
                String::new(),
            ),
        }
    });
    hub.token_secret("gitlab-token", "gl-token").await;
    let set = |name: &str, provider: Value| {
        let mut generator = json!({
            "requeueAfterSeconds": 1,
            "filters": [{"branchMatch": "^feature/", "pathsExist": ["charts/"]}],
        });
        for (key, value) in provider.as_object().unwrap() {
            generator[key] = value.clone();
        }
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "generators": [{"scmProvider": generator}],
                "template": {
                    "metadata": {"name": "{{repository}}-{{branchNormalized}}",
                                 "labels": {"sha": "{{short_sha}}", "topics": "{{labels}}"}},
                    "spec": {"project": "default",
                             "source": {"repoURL": "{{url}}", "targetRevision": "{{branch}}",
                                        "path": "charts"},
                             "destination": {"server": "https://kubernetes.default.svc",
                                             "namespace": "{{repository}}"}},
                },
            },
        })
    };
    hub.apply_set(set(
        "group",
        json!({"gitlab": {"group": "platform", "api": api, "allBranches": true,
                          "includeSubgroups": true,
                          "tokenRef": {"secretName": "gitlab-token", "key": "token"}}}),
    ))
    .await;
    let apps = hub.wait_for_live(&["web-feature-x-1"]).await;
    let app = &apps["web-feature-x-1"];
    assert_eq!(
        app["metadata"]["labels"],
        json!({"sha": "bbbbbbbb", "topics": "frontend"})
    );
    assert_eq!(
        app["spec"]["source"]["repoURL"],
        "git@gitlab.com:platform/apps/web.git"
    );
    assert_eq!(app["spec"]["source"]["targetRevision"], "feature/X_1");

    hub.apply_set(set(
        "bitbucket",
        json!({"bitbucketServer": {"project": "p", "api": "https://bitbucket.example"}}),
    ))
    .await;
    let message = hub.error_message("bitbucket").await;
    assert_eq!(
        message,
        "the bitbucketServer scm provider is not supported by flotilla yet (github, gitlab and gitea are)"
    );
}

/// Creates the `ducks.mallard.io` CustomResourceDefinition (no status subresource: a
/// patch of the object sets its status, as a placement controller would) and waits until
/// the hub serves it.
async fn create_duck_crd(hub: &Hub) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crd: CustomResourceDefinition = serde_saphyr::from_str(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: ducks.mallard.io\nspec:\n  group: mallard.io\n  names: {kind: Duck, plural: ducks, singular: duck, listKind: DuckList}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n",
    )
    .unwrap();
    Api::<CustomResourceDefinition>::all(hub.hub.clone())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let ducks = ducks(hub);
    wait_for("the ducks API", async || {
        ducks.list(&Default::default()).await.ok()
    })
    .await;
}

fn ducks(hub: &Hub) -> Api<DynamicObject> {
    let resource = kube::api::ApiResource {
        group: "mallard.io".into(),
        version: "v1".into(),
        api_version: "mallard.io/v1".into(),
        kind: "Duck".into(),
        plural: "ducks".into(),
    };
    Api::namespaced_with(hub.hub.clone(), "argocd", &resource)
}

async fn config_map(hub: &Hub, name: &str, data: Value) {
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(hub.hub.clone(), "argocd");
    let config_map = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "argocd"}, "data": data,
    }))
    .unwrap();
    api.create(&PostParams::default(), &config_map)
        .await
        .unwrap();
}

/// Argo CD's clusterDecisionResource generator: the ConfigMap `my-configmap` (in the
/// controller's namespace) names `mallard.io/v1` `ducks`; the Duck `quak`'s
/// `status.decisions` choose the clusters by `clusterName`, an unknown cluster is
/// skipped; every Application carries the cluster's name and server and the decision's
/// own keys. A new decision list is followed after `requeueAfterSeconds` (no watch on the
/// Duck, as upstream). A ConfigMap without `kind`, then a status list that is not a
/// list, fail the set in Argo CD's words (or ours where it panics) and delete nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cluster_decision_resource_generator_follows_a_ducks_decisions() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&[]).await;
    create_duck_crd(&hub).await;
    config_map(
        &hub,
        "my-configmap",
        json!({"apiVersion": "mallard.io/v1", "kind": "ducks",
               "statusListKey": "decisions", "matchKey": "clusterName"}),
    )
    .await;
    let duck: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "mallard.io/v1", "kind": "Duck",
        "metadata": {"name": "quak", "namespace": "argocd", "labels": {"duck": "spotted"}},
        "spec": {},
        "status": {"decisions": [
            {"clusterName": "prod-eu", "score": 7},
            {"clusterName": "staging-eu", "score": 3},
            {"clusterName": "nowhere", "score": 1},
        ]},
    }))
    .unwrap();
    ducks(&hub)
        .create(&PostParams::default(), &duck)
        .await
        .unwrap();
    hub.apply_set(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"clusterDecisionResource": {
                "configMapRef": "my-configmap",
                "labelSelector": {"matchLabels": {"duck": "spotted"}},
                "requeueAfterSeconds": 1,
                "values": {"note": "{{.name}} is not templated"},
            }}],
            "template": {
                "metadata": {"name": "{{.name}}-guestbook",
                             "annotations": {"score": "{{.score}}", "note": "{{.values.note}}",
                                             "decided": "{{.clusterName}}"}},
                "spec": {"project": "default",
                         "source": {"repoURL": "https://github.com/argoproj/argocd-example-apps/",
                                    "targetRevision": "HEAD", "path": "guestbook"},
                         "destination": {"server": "{{.server}}", "namespace": "guestbook"}},
            },
        },
    }))
    .await;
    let apps = hub
        .wait_for_live(&["prod-eu-guestbook", "staging-eu-guestbook"])
        .await;
    let prod = &apps["prod-eu-guestbook"];
    assert_eq!(
        prod["spec"]["destination"]["server"],
        hub.server.cluster_url("prod-eu")
    );
    assert_eq!(
        prod["metadata"]["annotations"],
        json!({"score": "7", "note": "{{.name}} is not templated", "decided": "prod-eu"})
    );

    // The placement moves: prod-us replaces both.
    ducks(&hub)
        .patch(
            "quak",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"decisions": [{"clusterName": "prod-us", "score": 9}]}}),
            ),
        )
        .await
        .unwrap();
    let apps = hub.wait_for_live(&["prod-us-guestbook"]).await;
    assert_eq!(
        apps["prod-us-guestbook"]["spec"]["destination"]["server"],
        hub.server.cluster_url("prod-us")
    );
    let uid = apps["prod-us-guestbook"]["metadata"]["uid"].clone();

    // A ConfigMap without `kind`: Argo CD's error, the Application kept.
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(hub.hub.clone(), "argocd")
        .patch(
            "my-configmap",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"kind": null}})),
        )
        .await
        .unwrap();
    assert_eq!(
        hub.error_message("guestbook").await,
        "there is a problem with the apiVersion, kind or resourceName provided"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let apps = hub.wait_for_live(&["prod-us-guestbook"]).await;
    assert_eq!(apps["prod-us-guestbook"]["metadata"]["uid"], uid);

    // `kind` back, but the status list is not a list (upstream panics): an error, kept.
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(hub.hub.clone(), "argocd")
        .patch(
            "my-configmap",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"kind": "ducks"}})),
        )
        .await
        .unwrap();
    ducks(&hub)
        .patch(
            "quak",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"decisions": "prod-eu"}})),
        )
        .await
        .unwrap();
    wait_for("the status list error", async || {
        let status = hub.set_status("guestbook").await;
        status["conditions"].as_array()?.iter().find(|c| {
            c["type"] == "ErrorOccurred"
                && c["message"]
                    == "clusterDecisionResource quak: status.decisions is a string, not a list"
        })?;
        Some(())
    })
    .await;
    let apps = hub.wait_for_live(&["prod-us-guestbook"]).await;
    assert_eq!(apps["prod-us-guestbook"]["metadata"]["uid"], uid);
}

/// What the test plugin does with a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PluginMode {
    /// Answers with one parameter set per `input.parameters.apps` entry.
    Serve,
    /// Answers 500 with the bearer token it was sent in the message.
    Fail,
}

/// A generator plugin as Argo CD's documentation describes one: `POST
/// /api/v1/getparams.execute`, 403 unless `Authorization: Bearer strong-password`. It
/// records the bodies it is sent.
async fn plugin_server(
    mode: Arc<std::sync::Mutex<PluginMode>>,
    bodies: Arc<std::sync::Mutex<Vec<Value>>>,
) -> String {
    use axum::http::{HeaderMap, StatusCode};
    let route = axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
        let (mode, bodies) = (mode.clone(), bodies.clone());
        async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            bodies.lock().unwrap().push(request.clone());
            if *mode.lock().unwrap() == PluginMode::Fail {
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": format!("cannot serve {auth}")}).to_string(),
                );
            }
            if auth != "Bearer strong-password" {
                return (StatusCode::FORBIDDEN, String::new());
            }
            let parameters: Vec<Value> = request["input"]["parameters"]["apps"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, app)| json!({"app": app, "replicas": i + 2, "image": {"tag": "v1"}}))
                .collect();
            (
                StatusCode::OK,
                json!({"output": {"parameters": parameters}}).to_string(),
            )
        }
    });
    let router = axum::Router::new().route("/api/v1/getparams.execute", route);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// Argo CD's plugin generator against a real HTTP plugin: the ConfigMap `my-plugin` gives
/// its `baseUrl` and the token reference `$plugin.myplugin.token` (a key of
/// `argocd-secret`); the plugin is sent the set's name and `input.parameters` with the
/// bearer token, and its `output.parameters` become Applications with
/// `generator.input.parameters` and the templated `values`. A failing plugin (500, its
/// message quoting the token) and a wrong token (403) fail the set in Argo CD's words
/// without the token, and the Applications stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_plugin_generator_calls_a_plugin_and_keeps_its_token_out_of_conditions() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&[]).await;
    let mode = Arc::new(std::sync::Mutex::new(PluginMode::Serve));
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let url = plugin_server(mode.clone(), bodies.clone()).await;
    config_map(
        &hub,
        "my-plugin",
        json!({"token": "$plugin.myplugin.token", "baseUrl": url, "requestTimeout": "10"}),
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(hub.hub.clone(), "argocd");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "argocd-secret", "namespace": "argocd",
                     "labels": {"app.kubernetes.io/part-of": "argocd"}},
        "stringData": {"plugin.myplugin.token": "strong-password\n"},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    hub.apply_set(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "myplugin", "namespace": "argocd"},
        "spec": {
            "goTemplate": true,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"plugin": {
                "configMapRef": {"name": "my-plugin"},
                "input": {"parameters": {"apps": ["web", "api"], "map": {"key1": "value1"}}},
                "values": {"team": "team-{{.app}}"},
                "requeueAfterSeconds": 1,
            }}],
            "template": {
                "metadata": {"name": "{{.app}}-plugin",
                             "annotations": {
                                 "from.input": "{{ index .generator.input.parameters.map \"key1\" }}",
                                 "from.values": "{{.values.team}}",
                                 "from.plugin": "{{.replicas}}/{{.image.tag}}"}},
                "spec": {"project": "default",
                         "source": {"repoURL": "https://github.com/org/{{.app}}", "path": "deploy",
                                    "targetRevision": "HEAD"},
                         "destination": {"server": "https://kubernetes.default.svc",
                                         "namespace": "{{.app}}"}},
            },
        },
    }))
    .await;
    let apps = hub.wait_for_live(&["api-plugin", "web-plugin"]).await;
    assert_eq!(
        apps["web-plugin"]["metadata"]["annotations"],
        json!({"from.input": "value1", "from.values": "team-web", "from.plugin": "2/v1"})
    );
    assert_eq!(
        apps["api-plugin"]["metadata"]["annotations"]["from.plugin"],
        "3/v1"
    );
    assert_eq!(
        bodies.lock().unwrap()[0],
        json!({"applicationSetName": "myplugin",
               "input": {"parameters": {"apps": ["web", "api"], "map": {"key1": "value1"}}}})
    );
    let uids: Vec<Value> = ["api-plugin", "web-plugin"]
        .iter()
        .map(|n| apps[*n]["metadata"]["uid"].clone())
        .collect();

    // The plugin fails, quoting the token: Argo CD's error without it.
    *mode.lock().unwrap() = PluginMode::Fail;
    let message = hub.error_message("myplugin").await;
    assert_eq!(
        message,
        "error listing params: error get api 'myplugin': API error with status code 500: cannot serve Bearer ******"
    );
    let apps = hub.wait_for_live(&["api-plugin", "web-plugin"]).await;
    assert_eq!(apps["api-plugin"]["metadata"]["uid"], uids[0]);
    assert_eq!(apps["web-plugin"]["metadata"]["uid"], uids[1]);

    // Recovered, then a wrong token: 403, no token in the condition, nothing deleted.
    *mode.lock().unwrap() = PluginMode::Serve;
    wait_for("the error cleared", async || {
        let status = hub.set_status("myplugin").await;
        status["conditions"]
            .as_array()?
            .iter()
            .any(|c| c["type"] == "ErrorOccurred" && c["status"] == "False")
            .then_some(())
    })
    .await;
    secrets
        .patch(
            "argocd-secret",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"plugin.myplugin.token": "wrong-token"}})),
        )
        .await
        .unwrap();
    let message = hub.error_message("myplugin").await;
    assert_eq!(
        message,
        "error listing params: error get api 'myplugin': API error with status code 403: "
    );
    for text in [&message, &hub.set_status("myplugin").await.to_string()] {
        assert!(!text.contains("strong-password") && !text.contains("wrong-token"));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let apps = hub.wait_for_live(&["api-plugin", "web-plugin"]).await;
    assert_eq!(apps["web-plugin"]["metadata"]["uid"], uids[1]);
}

/// Argo CD's git generator reads its repository with the repository Secrets of the
/// template's project (`resolveProjectName`): a registry that only a Secret scoped to
/// `team-a` opens generates for a set whose template names `team-a`; a set whose project
/// is templated reads it without them and is refused by the server, credentials kept out
/// of its condition.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_git_generator_reads_with_the_template_projects_repository_secrets() {
    let _serial = SERIAL.lock().await;
    let hub = Hub::start(&["payments"]).await;
    let served = hub._dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    git(
        &served,
        &[
            "clone",
            "-q",
            "--bare",
            hub.registry.to_str().unwrap(),
            "registry.git",
        ],
    );
    let server = git_server::GitServer::start(&served, Some(("team-a-bot", "s3cret"))).await;
    let url = server.url("registry.git");
    support::scoped_repository_secret(
        &hub.hub,
        hub.sources.repo_credentials(),
        &url,
        "team-a",
        ("team-a-bot", "s3cret"),
    )
    .await;
    let project: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "team-a", "namespace": "argocd"},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]},
    }))
    .unwrap();
    Api::<DynamicObject>::namespaced_with(
        hub.hub.clone(),
        "argocd",
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"),
            "appprojects",
        ),
    )
    .create(&PostParams::default(), &project)
    .await
    .unwrap();
    let set = |name: &str, project: &str| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name},
            "spec": {
                "goTemplate": true,
                "generators": [{"git": {"repoURL": url, "revision": "HEAD",
                                        "files": [{"path": "apps/*/config.yaml"}]}}],
                "template": {
                    "metadata": {"name": format!("{{{{.path.basename}}}}-{name}")},
                    "spec": {
                        "project": project,
                        "source": {"repoURL": "https://gitlab.internal/platform/payments",
                                   "targetRevision": "main", "path": "deploy/"},
                        "destination": {"server": "https://kubernetes.default.svc",
                                        "namespace": "{{.values.namespace}}"},
                    },
                },
            },
        })
    };
    hub.apply_set(set("scoped", "team-a")).await;
    hub.apply_set(set("templated", "team-{{.values.branch}}"))
        .await;
    let apps = hub.wait_for_live(&["payments-scoped"]).await;
    assert_eq!(apps["payments-scoped"]["spec"]["project"], "team-a");
    let message = hub.error_message("templated").await;
    assert!(message.contains("registry.git"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    assert_eq!(
        hub.application_names_in("argocd").await,
        ["payments-scoped"]
    );
}
