//! The sync engine against kubesim: create, update, prune and its safety, waves and
//! hooks, CRDs with their custom resources, CreateNamespace, health, conflicts and
//! ignoreDifferences.

use std::time::Duration;

use flotilla_sync::health::HealthStatus;
use flotilla_sync::ignore::IgnoreRule;
use flotilla_sync::options::{Propagation, SyncOptions};
use flotilla_sync::order::Phase;
use flotilla_sync::tracking::{INSTANCE_LABEL, TRACKING_ANNOTATION};
use flotilla_sync::{
    Action, AppId, Cluster, Inventory, ObjectState, OperationPhase, Progress, SyncError,
    app_health, plan, sync, sync_rendered,
};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::{Client, Config};
use kubesim::{Fleet, Server};
use serde_json::{Value, json};

async fn start() -> (Server, Cluster) {
    let server = Server::start(
        Fleet::with_clusters(1),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("kubesim starts");
    let url = server.cluster_url("cluster-000").parse().expect("uri");
    let client = Client::try_from(Config::new(url)).expect("client");
    (server, Cluster::new(client))
}

fn app() -> AppId {
    AppId::new("hub", "web")
}

fn quiet() -> impl Fn(Progress) + Send + Sync {
    |_| {}
}

fn cm(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"key": value}})
}

fn deployment(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}})
}

fn opts() -> SyncOptions {
    SyncOptions {
        prune: true,
        health_timeout: Duration::from_secs(10),
        ..SyncOptions::default()
    }
}

fn api(
    cluster: &Cluster,
    api_version: &str,
    kind: &str,
    plural: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    match ns {
        Some(ns) => Api::namespaced_with(cluster.client().clone(), ns, &ar),
        None => Api::all_with(cluster.client().clone(), &ar),
    }
}

fn cms(cluster: &Cluster) -> Api<DynamicObject> {
    api(cluster, "v1", "ConfigMap", "configmaps", Some("default"))
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Option<Value> {
    api.get_opt(name)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).unwrap())
}

/// One sync of `app()` with the default options, after `inventory`.
async fn sync_app(
    cluster: &Cluster,
    objects: Vec<Value>,
    inventory: Option<&flotilla_sync::Inventory>,
) -> flotilla_sync::SyncReport {
    sync(cluster, &app(), objects, &opts(), inventory, &quiet())
        .await
        .expect("sync")
}

fn action_of(report: &flotilla_sync::SyncReport, kind: &str, name: &str) -> Action {
    report
        .results
        .iter()
        .find(|r| r.key.kind == kind && r.key.name == name)
        .unwrap_or_else(|| panic!("no result for {kind} {name}: {:#?}", report.results))
        .action
}

#[tokio::test]
async fn create_update_and_prune_with_tracking() {
    let (_server, cluster) = start().await;
    let o = opts();
    let desired = vec![cm("a", "1"), cm("b", "1"), deployment("web", json!({}))];
    let report = sync(&cluster, &app(), desired, &o, None, &quiet())
        .await
        .expect("sync");
    assert_eq!(
        report.phase,
        OperationPhase::Succeeded,
        "{}",
        report.message
    );
    assert_eq!(action_of(&report, "ConfigMap", "a"), Action::Created);
    assert_eq!(report.inventory.entries.len(), 3);
    let a = get(&cms(&cluster), "a").await.expect("created");
    assert_eq!(
        a["metadata"]["annotations"][TRACKING_ANNOTATION],
        "hub_web:/ConfigMap:default/a"
    );
    assert_eq!(a["metadata"]["labels"][INSTANCE_LABEL], "hub_web");
    assert_eq!(a["metadata"]["managedFields"][0]["manager"], "flotilla");

    // Unchanged: in sync, and a second sync changes nothing.
    let desired = vec![cm("a", "1"), cm("b", "1"), deployment("web", json!({}))];
    let p = plan(
        &cluster,
        &app(),
        desired.clone(),
        &o,
        Some(&report.inventory),
    )
    .await
    .expect("plan");
    assert!(p.in_sync(), "{}", p.diff());
    let again = sync(
        &cluster,
        &app(),
        desired,
        &o,
        Some(&report.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(action_of(&again, "ConfigMap", "a"), Action::Unchanged);

    // Update a, drop b.
    let desired = vec![cm("a", "2"), deployment("web", json!({}))];
    let p = plan(
        &cluster,
        &app(),
        desired.clone(),
        &o,
        Some(&again.inventory),
    )
    .await
    .expect("plan");
    let a_item = p.items.iter().find(|i| i.key.name == "a").unwrap();
    assert_eq!(a_item.state, ObjectState::OutOfSync);
    assert!(
        a_item.diff.contains("-  key: '1'") || a_item.diff.contains("-  key: \"1\""),
        "{}",
        a_item.diff
    );
    let b_item = p.items.iter().find(|i| i.key.name == "b").unwrap();
    assert_eq!(b_item.state, ObjectState::Extra);
    let report = sync(
        &cluster,
        &app(),
        desired,
        &o,
        Some(&again.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(action_of(&report, "ConfigMap", "a"), Action::Configured);
    assert_eq!(action_of(&report, "ConfigMap", "b"), Action::Pruned);
    assert!(get(&cms(&cluster), "b").await.is_none());
    assert_eq!(report.inventory.entries.len(), 2);
}

#[tokio::test]
async fn prune_only_touches_objects_tracked_by_this_app() {
    let (_server, cluster) = start().await;
    let o = opts();
    sync(&cluster, &app(), vec![cm("ours", "1")], &o, None, &quiet())
        .await
        .expect("sync");
    // Same label, but the tracking id names another app; and a copy of ours under another name.
    let pp = PatchParams::apply("someone");
    let mut other = cm("theirs", "1");
    other["metadata"]["labels"] = json!({INSTANCE_LABEL: "hub_web"});
    other["metadata"]["annotations"] =
        json!({TRACKING_ANNOTATION: "hub_other:/ConfigMap:default/theirs"});
    cms(&cluster)
        .patch("theirs", &pp, &Patch::Apply(&other))
        .await
        .expect("apply");
    let mut copy = cm("copy", "1");
    copy["metadata"]["labels"] = json!({INSTANCE_LABEL: "hub_web"});
    copy["metadata"]["annotations"] =
        json!({TRACKING_ANNOTATION: "hub_web:/ConfigMap:default/ours"});
    cms(&cluster)
        .patch("copy", &pp, &Patch::Apply(&copy))
        .await
        .expect("apply");
    // Prune=false keeps an object.
    let mut keep = cm("keep", "1");
    keep["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-options": "Prune=false"});
    let r = sync(
        &cluster,
        &app(),
        vec![cm("ours", "1"), keep],
        &o,
        None,
        &quiet(),
    )
    .await
    .expect("sync");
    let r = sync(
        &cluster,
        &app(),
        vec![cm("new", "1")],
        &o,
        Some(&r.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(action_of(&r, "ConfigMap", "ours"), Action::Pruned);
    assert_eq!(action_of(&r, "ConfigMap", "keep"), Action::PruneSkipped);
    assert!(get(&cms(&cluster), "theirs").await.is_some());
    assert!(get(&cms(&cluster), "copy").await.is_some());
    assert!(get(&cms(&cluster), "keep").await.is_some());
    assert!(r.inventory.entries.iter().any(|e| e.name == "keep"));
}

#[tokio::test]
async fn failed_and_empty_renders_prune_nothing() {
    let (_server, cluster) = start().await;
    let o = opts();
    let first = sync(
        &cluster,
        &app(),
        vec![cm("a", "1"), cm("b", "1")],
        &o,
        None,
        &quiet(),
    )
    .await
    .expect("sync");
    let failed: Result<Vec<Value>, String> = Err("kustomization.yaml: bad".into());
    let err = sync_rendered(
        &cluster,
        &app(),
        failed,
        &o,
        Some(&first.inventory),
        &quiet(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SyncError::RenderFailed(_)), "{err}");
    let err = sync(
        &cluster,
        &app(),
        vec![],
        &o,
        Some(&first.inventory),
        &quiet(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SyncError::EmptyRender { tracked: 2, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the render is empty and would prune all 2 objects of app hub/web; refusing (set allowEmpty to allow it)"
    );
    assert!(get(&cms(&cluster), "a").await.is_some() && get(&cms(&cluster), "b").await.is_some());
    let allow = SyncOptions {
        allow_empty: true,
        ..opts()
    };
    let r = sync(
        &cluster,
        &app(),
        vec![],
        &allow,
        Some(&first.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(
        r.results
            .iter()
            .filter(|r| r.action == Action::Pruned)
            .count(),
        2
    );
    assert!(r.inventory.entries.is_empty());
}

#[tokio::test]
async fn invalid_objects_are_named() {
    let (_server, cluster) = start().await;
    let bad = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
    let err = sync(
        &cluster,
        &app(),
        vec![cm("a", "1"), bad],
        &opts(),
        None,
        &quiet(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "desired object #1 (ConfigMap ): metadata.name is missing"
    );
    let unknown =
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}});
    let err = sync(&cluster, &app(), vec![unknown], &opts(), None, &quiet())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the server has no resource for apiVersion \"example.com/v1\", kind \"Widget\""
    );
    let err = sync(
        &cluster,
        &app(),
        vec![cm("a", "1"), cm("a", "2")],
        &opts(),
        None,
        &quiet(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::Duplicate {
                first: 0,
                second: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn waves_and_hooks_run_in_argo_cd_order() {
    let (_server, cluster) = start().await;
    let job = |name: &str, hook: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "annotations": {
                "argocd.argoproj.io/hook": hook,
                "argocd.argoproj.io/hook-delete-policy": "HookSucceeded"}},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "x", "image": "busybox"}]}}}})
    };
    let mut late = cm("late", "1");
    late["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": "2"});
    let mut early = cm("early", "1");
    early["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": "-1"});
    let desired = vec![
        late,
        job("post", "PostSync"),
        deployment("web", json!({"argocd.argoproj.io/sync-wave": "1"})),
        job("pre", "PreSync"),
        early,
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    ];
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let progress = move |p: Progress| {
        if let Progress::Wave { phase, wave, .. } = p {
            sink.lock().unwrap().push((phase, wave));
        }
    };
    let r = sync(&cluster, &app(), desired, &opts(), None, &progress)
        .await
        .expect("sync");
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    let order: Vec<String> = r
        .results
        .iter()
        .map(|r| format!("{}/{}", r.key.kind, r.key.name))
        .collect();
    assert_eq!(
        order,
        [
            "Job/pre",
            "ConfigMap/early",
            "Service/web",
            "Deployment/web",
            "ConfigMap/late",
            "Job/post"
        ]
    );
    assert_eq!(
        *events.lock().unwrap(),
        [
            (Phase::PreSync, 0),
            (Phase::Sync, -1),
            (Phase::Sync, 0),
            (Phase::Sync, 1),
            (Phase::Sync, 2),
            (Phase::PostSync, 0)
        ]
    );
    assert_eq!(action_of(&r, "Job", "pre"), Action::HookSucceeded);
    assert_eq!(action_of(&r, "Job", "post"), Action::HookSucceeded);
    // The Deployment (wave 1) was healthy before wave 2 started.
    let d = r
        .results
        .iter()
        .find(|r| r.key.kind == "Deployment")
        .unwrap();
    assert_eq!(
        d.health.as_ref().map(|h| h.status),
        Some(HealthStatus::Healthy)
    );
    // HookSucceeded: the hooks are gone; hooks are not in the inventory.
    let jobs = api(&cluster, "batch/v1", "Job", "jobs", Some("default"));
    assert!(get(&jobs, "pre").await.is_none());
    assert!(r.inventory.entries.iter().all(|e| e.kind != "Job"));
}

/// gitops-engine's prune order: the distinct waves of the objects to prune are mirrored
/// (created first, deleted last), and one marked `PruneLast=true` goes after every wave.
#[tokio::test]
async fn prunes_run_in_mirrored_waves_and_prune_last_after_all() {
    let (_server, cluster) = start().await;
    let in_wave = |name: &str, wave: &str, options: Option<&str>| {
        let mut object = cm(name, "1");
        object["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": wave});
        if let Some(options) = options {
            object["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] = json!(options);
        }
        object
    };
    let first = sync_app(
        &cluster,
        vec![
            in_wave("a", "-1", None),
            in_wave("b", "0", None),
            in_wave("c", "2", None),
            in_wave("d", "0", Some("Validate=false, PruneLast=true")),
            in_wave("keep", "1", None),
        ],
        None,
    )
    .await;
    assert_eq!(first.phase, OperationPhase::Succeeded, "{}", first.message);
    let second = sync_app(
        &cluster,
        vec![in_wave("keep", "1", None)],
        Some(&first.inventory),
    )
    .await;
    assert_eq!(
        second.phase,
        OperationPhase::Succeeded,
        "{}",
        second.message
    );
    let order: Vec<String> = second
        .results
        .iter()
        .map(|r| format!("{}:{:?}", r.key.name, r.action))
        .collect();
    // Prune waves -1, 0, 2 become 2, 0, -1; PruneLast after wave 2: 3.
    assert_eq!(
        order,
        [
            "c:Pruned",
            "b:Pruned",
            "keep:Unchanged",
            "a:Pruned",
            "d:Pruned"
        ]
    );
}

/// Argo CD's selective sync (`operation.sync.resources`, `HasIdentity`): only the named
/// objects are applied or pruned — the others stay as the cluster has them, out of sync
/// or not, and stay tracked — and no hook runs.
#[tokio::test]
async fn a_selective_sync_applies_and_prunes_only_the_objects_it_names() {
    let (_server, cluster) = start().await;
    let first = sync_app(
        &cluster,
        vec![cm("a", "1"), cm("b", "1"), cm("gone", "1"), cm("kept", "1")],
        None,
    )
    .await;
    let pre = json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pre", "annotations": {"argocd.argoproj.io/hook": "PreSync"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "x", "image": "busybox"}]}}}});
    let select = |kind: &str, name: &str, namespace: &str| flotilla_sync::SelectedResource {
        group: String::new(),
        kind: kind.into(),
        name: name.into(),
        namespace: namespace.into(),
    };
    let o = SyncOptions {
        // `a` in any namespace, `gone` in `default`; `b` in another namespace is not `b`.
        resources: vec![
            select("ConfigMap", "a", ""),
            select("ConfigMap", "gone", "default"),
            select("ConfigMap", "b", "elsewhere"),
        ],
        skip_hooks: true,
        ..opts()
    };
    // Git now has a=2, b=2, no `gone`, no `kept`.
    let report = sync(
        &cluster,
        &app(),
        vec![cm("a", "2"), cm("b", "2"), pre],
        &o,
        Some(&first.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(
        report.phase,
        OperationPhase::Succeeded,
        "{}",
        report.message
    );
    let names: Vec<(&str, Action)> = report
        .results
        .iter()
        .map(|r| (r.key.name.as_str(), r.action))
        .collect();
    assert_eq!(names, [("gone", Action::Pruned), ("a", Action::Configured)]);
    let data = |o: Option<Value>| o.map(|o| o["data"]["key"].clone());
    assert_eq!(data(get(&cms(&cluster), "a").await), Some(json!("2")));
    assert_eq!(data(get(&cms(&cluster), "b").await), Some(json!("1")));
    assert_eq!(data(get(&cms(&cluster), "kept").await), Some(json!("1")));
    assert!(get(&cms(&cluster), "gone").await.is_none());
    let jobs = api(&cluster, "batch/v1", "Job", "jobs", Some("default"));
    assert!(get(&jobs, "pre").await.is_none(), "a hook ran");
    // `b` and `kept` were left out, not forgotten: a later full sync still prunes `kept`.
    let mut tracked: Vec<&str> = report
        .inventory
        .entries
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    tracked.sort();
    assert_eq!(tracked, ["a", "b", "kept"]);
    let full = sync_app(
        &cluster,
        vec![cm("a", "2"), cm("b", "2")],
        Some(&report.inventory),
    )
    .await;
    assert_eq!(action_of(&full, "ConfigMap", "kept"), Action::Pruned);
    assert_eq!(action_of(&full, "ConfigMap", "b"), Action::Configured);
}

/// Argo CD's cascading deletion of an Application (`shouldBeDeleted`): CRDs stay (their
/// custom resources would go with them), and so do objects with `Delete=false` or Helm's
/// `helm.sh/resource-policy: keep`; `Prune=false` does not keep an object then. With
/// `Delete=confirm` (the app's here) nothing is deleted until the deletion is approved.
#[tokio::test]
async fn an_applications_deletion_keeps_crds_and_what_says_delete_false() {
    let (_server, cluster) = start().await;
    let annotated = |name: &str, annotations: Value| {
        let mut c = cm(name, "1");
        c["metadata"]["annotations"] = annotations;
        c
    };
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let desired = vec![
        cm("plain", "1"),
        annotated(
            "unpruned",
            json!({"argocd.argoproj.io/sync-options": "Prune=false"}),
        ),
        annotated(
            "kept",
            json!({"argocd.argoproj.io/sync-options": "Delete=false"}),
        ),
        annotated("helm-kept", json!({"helm.sh/resource-policy": "keep"})),
        crd,
    ];
    let first = sync_app(&cluster, desired, None).await;
    assert_eq!(first.phase, OperationPhase::Succeeded, "{}", first.message);
    let crds = api(
        &cluster,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        None,
    );
    let deleting = |approved: bool, app_option: &str| {
        let mut o = SyncOptions {
            allow_empty: true,
            app_deletion: Some(approved),
            ..opts()
        };
        o.apply_argo(&[app_option]).unwrap();
        o
    };

    // The app says Delete=confirm: not approved, nothing goes.
    let waiting = sync(
        &cluster,
        &app(),
        Vec::new(),
        &deleting(false, "Delete=confirm"),
        Some(&first.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(waiting.results.len(), 1);
    assert_eq!(
        waiting.results[0].message,
        flotilla_sync::DELETION_NEEDS_CONFIRMATION
    );
    assert!(get(&cms(&cluster), "plain").await.is_some());

    // Approved.
    let deleted = sync(
        &cluster,
        &app(),
        Vec::new(),
        &deleting(true, "Delete=confirm"),
        Some(&first.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(
        deleted.phase,
        OperationPhase::Succeeded,
        "{}",
        deleted.message
    );
    assert!(get(&cms(&cluster), "plain").await.is_none());
    assert!(
        get(&cms(&cluster), "unpruned").await.is_none(),
        "Prune=false is not Delete=false"
    );
    assert!(get(&cms(&cluster), "kept").await.is_some());
    assert!(get(&cms(&cluster), "helm-kept").await.is_some());
    assert!(get(&crds, "gadgets.example.com").await.is_some());
    assert_eq!(
        action_of(&deleted, "ConfigMap", "kept"),
        Action::PruneSkipped
    );

    // The app's Delete=false keeps what does not say otherwise.
    let second = sync_app(
        &cluster,
        vec![
            cm("plain", "1"),
            annotated(
                "goes",
                json!({"argocd.argoproj.io/sync-options": "Delete=true"}),
            ),
        ],
        None,
    )
    .await;
    sync(
        &cluster,
        &app(),
        Vec::new(),
        &deleting(false, "Delete=false"),
        Some(&second.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert!(get(&cms(&cluster), "plain").await.is_some());
    assert!(get(&cms(&cluster), "goes").await.is_none());
}

#[tokio::test]
async fn a_failing_wave_stops_the_sync_and_runs_sync_fail_hooks() {
    let (_server, cluster) = start().await;
    let fail_hook = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "on-fail", "annotations": {"argocd.argoproj.io/hook": "SyncFail"}},
        "data": {"k": "v"}});
    let mut after = cm("after", "1");
    after["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": "5"});
    let desired = vec![
        deployment(
            "broken",
            json!({"kubesim.flotilla.dev/simulate": "progress-deadline-exceeded"}),
        ),
        after,
        fail_hook,
    ];
    let r = sync_app(&cluster, desired, None).await;
    assert_eq!(r.phase, OperationPhase::Failed);
    assert!(
        r.message
            .contains("apps/Deployment default/broken is Degraded"),
        "{}",
        r.message
    );
    assert!(
        r.results.iter().all(|x| x.key.name != "after"),
        "wave 5 must not run"
    );
    assert_eq!(action_of(&r, "ConfigMap", "on-fail"), Action::HookSucceeded);
}

#[tokio::test]
async fn crd_and_custom_resource_in_one_sync_and_create_namespace() {
    let (_server, cluster) = start().await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object",
                    "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": 3}});
    let o = SyncOptions {
        create_namespace: true,
        destination_namespace: "team-a".into(),
        ..opts()
    };
    // The custom resource comes first in the input; the CRD must still go first.
    let r = sync(
        &cluster,
        &app(),
        vec![widget, crd, cm("conf", "1")],
        &o,
        None,
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    let order: Vec<&str> = r.results.iter().map(|r| r.key.kind.as_str()).collect();
    assert_eq!(order, ["ConfigMap", "CustomResourceDefinition", "Widget"]);
    let widgets = api(
        &cluster,
        "example.com/v1",
        "Widget",
        "widgets",
        Some("team-a"),
    );
    let w = get(&widgets, "w").await.expect("widget");
    assert_eq!(w["spec"]["size"], 3);
    let ns = api(&cluster, "v1", "Namespace", "namespaces", None);
    assert!(get(&ns, "team-a").await.is_some());
    let p = plan(&cluster, &app(), vec![], &o, Some(&r.inventory))
        .await
        .expect("plan");
    assert_eq!(
        p.items
            .iter()
            .filter(|i| i.state == ObjectState::Extra)
            .count(),
        3
    );
}

#[tokio::test]
async fn health_moves_from_progressing_to_healthy_or_degraded() {
    let (_server, cluster) = start().await;
    let desired = vec![deployment(
        "slow",
        json!({"kubesim.flotilla.dev/ready-after": "400ms"}),
    )];
    let r = sync_app(&cluster, desired, None).await;
    assert_eq!(r.health, HealthStatus::Progressing);
    let mut seen = r.health;
    for _ in 0..40 {
        seen = app_health(&cluster, &r.inventory).await.expect("health").0;
        if seen == HealthStatus::Healthy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, HealthStatus::Healthy);

    let desired = vec![deployment(
        "bad",
        json!({"kubesim.flotilla.dev/simulate": "progress-deadline-exceeded"}),
    )];
    let app2 = AppId::new("hub", "bad");
    let r = sync(&cluster, &app2, desired, &opts(), None, &quiet())
        .await
        .expect("sync");
    let mut seen = r.health;
    for _ in 0..40 {
        seen = app_health(&cluster, &r.inventory).await.expect("health").0;
        if seen == HealthStatus::Degraded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, HealthStatus::Degraded);
    let missing = Inventory {
        entries: [flotilla_sync::InventoryEntry {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "default".into(),
            name: "nope".into(),
        }]
        .into(),
    };
    assert_eq!(
        app_health(&cluster, &missing).await.unwrap().0,
        HealthStatus::Missing
    );
}

#[tokio::test]
async fn conflicts_name_the_other_manager_unless_forced() {
    let (_server, cluster) = start().await;
    let r = sync_app(&cluster, vec![cm("a", "1")], None).await;
    // A hand edit through another manager takes the field over.
    cms(&cluster)
        .patch(
            "a",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"key": "hand"}})),
        )
        .await
        .expect("edit");
    let no_force = SyncOptions {
        force_conflicts: false,
        ..opts()
    };
    let r2 = sync(
        &cluster,
        &app(),
        vec![cm("a", "2")],
        &no_force,
        Some(&r.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(r2.phase, OperationPhase::Failed);
    let a = r2.results.iter().find(|x| x.key.name == "a").unwrap();
    assert_eq!(a.action, Action::Failed);
    assert!(
        a.message.contains("conflict with \"kubectl-edit\""),
        "{}",
        a.message
    );
    assert!(a.message.contains(".data.key"), "{}", a.message);
    // Default: force, Git wins.
    let r3 = sync_app(&cluster, vec![cm("a", "2")], Some(&r.inventory)).await;
    assert_eq!(action_of(&r3, "ConfigMap", "a"), Action::Configured);
    assert_eq!(get(&cms(&cluster), "a").await.unwrap()["data"]["key"], "2");
}

#[tokio::test]
async fn ignored_fields_owned_by_another_manager_are_left_alone() {
    let (_server, cluster) = start().await;
    let o = SyncOptions {
        respect_ignore_differences: true,
        ignore_differences: vec![IgnoreRule {
            group: Some("apps".into()),
            kind: "Deployment".into(),
            json_pointers: vec!["/spec/replicas".into()],
            ..Default::default()
        }],
        ..opts()
    };
    let r = sync(
        &cluster,
        &app(),
        vec![deployment("web", json!({}))],
        &o,
        None,
        &quiet(),
    )
    .await
    .expect("sync");
    // An autoscaler scales through /scale.
    let deployments = api(
        &cluster,
        "apps/v1",
        "Deployment",
        "deployments",
        Some("default"),
    );
    deployments
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("hpa-controller".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .expect("scale");
    let p = plan(
        &cluster,
        &app(),
        vec![deployment("web", json!({}))],
        &o,
        Some(&r.inventory),
    )
    .await
    .expect("plan");
    assert!(p.in_sync(), "{}", p.diff());
    let r2 = sync(
        &cluster,
        &app(),
        vec![deployment("web", json!({}))],
        &o,
        Some(&r.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(r2.phase, OperationPhase::Succeeded, "{}", r2.message);
    assert_eq!(
        get(&deployments, "web").await.unwrap()["spec"]["replicas"],
        5
    );
    // Without the rule, Git wins.
    let r3 = sync_app(
        &cluster,
        vec![deployment("web", json!({}))],
        Some(&r.inventory),
    )
    .await;
    assert_eq!(action_of(&r3, "Deployment", "web"), Action::Configured);
    assert_eq!(
        get(&deployments, "web").await.unwrap()["spec"]["replicas"],
        2
    );
}

#[tokio::test]
async fn secret_values_never_appear_in_diffs() {
    let (_server, cluster) = start().await;
    let secret = |v: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"password": v}})
    };
    let r = sync_app(&cluster, vec![secret("hunter2")], None).await;
    let p = plan(
        &cluster,
        &app(),
        vec![secret("swordfish")],
        &opts(),
        Some(&r.inventory),
    )
    .await
    .expect("plan");
    let diff = p.diff();
    assert_eq!(p.items[0].state, ObjectState::OutOfSync, "{diff}");
    for needle in ["hunter2", "swordfish", "aHVudGVyMg", "c3dvcmRmaXNo"] {
        assert!(!diff.contains(needle), "{needle} leaked:\n{diff}");
    }
    assert!(diff.contains("++++++++"), "{diff}");
    let _ = Propagation::Background;
}

/// The server keeps stringData as data; applied as stringData, a key dropped from Git
/// would stay (server-side apply owns stringData keys that are never stored). Applied as
/// data — Flux's conversion — it goes, and the plan reads the Secret as in sync.
#[tokio::test]
async fn a_key_dropped_from_string_data_leaves_the_secret() {
    let (_server, cluster) = start().await;
    let secrets = api(&cluster, "v1", "Secret", "secrets", Some("default"));
    let secret = |strings: Value| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "stringData": strings})
    };
    let first = sync_app(
        &cluster,
        vec![secret(json!({"username": "admin", "token": "t0p"}))],
        None,
    )
    .await;
    assert_eq!(first.phase, OperationPhase::Succeeded, "{}", first.message);
    let renamed = vec![secret(json!({"user": "admin", "token": "t0p"}))];
    let second = sync_app(&cluster, renamed.clone(), Some(&first.inventory)).await;
    assert_eq!(
        second.phase,
        OperationPhase::Succeeded,
        "{}",
        second.message
    );
    let live = get(&secrets, "creds").await.expect("the Secret");
    // "admin" and "t0p" in base64.
    assert_eq!(live["data"], json!({"token": "dDBw", "user": "YWRtaW4="}));
    assert!(live.get("stringData").is_none());
    let p = plan(&cluster, &app(), renamed, &opts(), Some(&second.inventory))
        .await
        .expect("plan");
    assert!(p.in_sync(), "{}", p.diff());
}

#[tokio::test]
async fn base64_in_lines_is_in_sync_with_the_stored_bytes_and_bad_base64_applies_nothing() {
    let (_server, cluster) = start().await;
    let secrets = api(&cluster, "v1", "Secret", "secrets", Some("default"));
    // kustomize's secretGenerator writes data in lines of 70 characters.
    let lined = vec![
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls"},
        "data": {"key": "YWJj\nZGVm\n"}}),
    ];
    let first = sync_app(&cluster, lined.clone(), None).await;
    assert_eq!(first.phase, OperationPhase::Succeeded, "{}", first.message);
    let live = get(&secrets, "tls").await.expect("the Secret");
    assert_eq!(live["data"]["key"], "YWJjZGVm");
    let p = plan(
        &cluster,
        &app(),
        lined.clone(),
        &opts(),
        Some(&first.inventory),
    )
    .await
    .expect("plan");
    assert!(p.in_sync(), "{}", p.diff());
    let again = sync_app(&cluster, lined, Some(&first.inventory)).await;
    let after = get(&secrets, "tls").await.expect("the Secret");
    assert_eq!(
        after["metadata"]["resourceVersion"], live["metadata"]["resourceVersion"],
        "{}",
        again.message
    );

    let bad = vec![
        cm("beside", "1"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"},
            "data": {"key": "abc!"}}),
    ];
    let error = sync(&cluster, &app(), bad, &opts(), None, &quiet())
        .await
        .expect_err("not base64");
    assert!(
        error
            .to_string()
            .contains("data[key]: illegal base64 data at input byte 3"),
        "{error}"
    );
    assert!(
        get(&cms(&cluster), "beside").await.is_none(),
        "nothing applied"
    );
}

#[tokio::test]
async fn dry_run_changes_nothing_and_apply_out_of_sync_only_skips_synced_objects() {
    let (_server, cluster) = start().await;
    let dry = SyncOptions {
        dry_run: true,
        ..opts()
    };
    let r = sync(&cluster, &app(), vec![cm("a", "1")], &dry, None, &quiet())
        .await
        .expect("sync");
    assert!(r.dry_run);
    assert_eq!(action_of(&r, "ConfigMap", "a"), Action::Created);
    assert_eq!(
        r.plan.as_ref().unwrap().items[0].state,
        ObjectState::Missing
    );
    assert!(
        get(&cms(&cluster), "a").await.is_none(),
        "a dry run creates nothing"
    );

    let first = sync_app(&cluster, vec![cm("a", "1"), cm("b", "1")], None).await;
    let only = SyncOptions {
        apply_out_of_sync_only: true,
        ..opts()
    };
    let r = sync(
        &cluster,
        &app(),
        vec![cm("a", "1"), cm("b", "2")],
        &only,
        Some(&first.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(action_of(&r, "ConfigMap", "a"), Action::Skipped);
    assert_eq!(action_of(&r, "ConfigMap", "b"), Action::Configured);
    assert_eq!(get(&cms(&cluster), "b").await.unwrap()["data"]["key"], "2");
}

/// A cache that answers for ConfigMaps only, from a fixed list.
struct FixedCache(Vec<Value>);

impl flotilla_sync::cluster::LiveCache for FixedCache {
    fn labelled(&self, resource: &ApiResource, label_value: &str) -> Option<Vec<Value>> {
        (resource.kind == "ConfigMap").then(|| {
            self.0
                .iter()
                .filter(|o| o["metadata"]["labels"][INSTANCE_LABEL] == label_value)
                .cloned()
                .collect()
        })
    }

    fn health(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Option<Option<flotilla_sync::health::Health>> {
        (resource.kind == "ConfigMap").then(|| {
            self.0
                .iter()
                .find(|o| o["metadata"]["namespace"] == namespace && o["metadata"]["name"] == name)
                .map(flotilla_sync::health::assess)
        })
    }

    fn claimed_by_other(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        app: &AppId,
    ) -> Option<Option<String>> {
        (resource.kind == "ConfigMap").then(|| {
            self.0
                .iter()
                .find(|o| o["metadata"]["namespace"] == namespace && o["metadata"]["name"] == name)
                .filter(|o| o["metadata"]["labels"][INSTANCE_LABEL] != app.label_value())
                .and_then(|o| o["metadata"]["labels"][INSTANCE_LABEL].as_str())
                .map(|other| other.replacen('_', "/", 1))
        })
    }
}

#[tokio::test]
async fn a_live_cache_replaces_the_listing_of_the_kinds_it_holds() {
    let (_server, cluster) = start().await;
    let o = opts();
    let first = sync(
        &cluster,
        &app(),
        vec![cm("a", "1"), cm("b", "1"), deployment("web", json!({}))],
        &o,
        None,
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(first.phase, OperationPhase::Succeeded, "{}", first.message);

    // `c` carries the app's label and tracking but is in neither the cache (one event
    // behind) nor the inventory: the cache replaced the listing, so it is not seen and
    // not pruned. `b`, also missing from the cache, is named by the inventory: read from
    // the cluster, it is pruned with `a`, which the cache holds.
    let c: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default",
            "labels": {INSTANCE_LABEL: "hub_web"},
            "annotations": {TRACKING_ANNOTATION: "hub_web:/ConfigMap:default/c"}}}))
    .unwrap();
    cms(&cluster)
        .create(&kube::api::PostParams::default(), &c)
        .await
        .unwrap();
    let a = get(&cms(&cluster), "a").await.expect("a");
    let cached = cluster
        .clone()
        .with_live_cache(std::sync::Arc::new(FixedCache(vec![a])));
    let report = sync(
        &cached,
        &app(),
        vec![deployment("web", json!({}))],
        &o,
        Some(&first.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(action_of(&report, "ConfigMap", "a"), Action::Pruned);
    assert_eq!(action_of(&report, "ConfigMap", "b"), Action::Pruned);
    assert!(report.results.iter().all(|r| r.key.name != "c"));
    assert!(get(&cms(&cluster), "a").await.is_none());
    assert!(get(&cms(&cluster), "b").await.is_none());
    assert!(get(&cms(&cluster), "c").await.is_some());

    // An object the cache still holds after it went counts as pruned, not failed.
    let gone = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "gone", "namespace": "default",
            "labels": {INSTANCE_LABEL: "hub_web"},
            "annotations": {TRACKING_ANNOTATION: "hub_web:/ConfigMap:default/gone"}}});
    let stale = cluster
        .clone()
        .with_live_cache(std::sync::Arc::new(FixedCache(vec![gone])));
    let report = sync(
        &stale,
        &app(),
        vec![cm("b", "1"), deployment("web", json!({}))],
        &o,
        Some(&report.inventory),
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(
        report.phase,
        OperationPhase::Succeeded,
        "{}",
        report.message
    );
    assert_eq!(action_of(&report, "ConfigMap", "gone"), Action::Pruned);
}

/// A changed Deployment selector is refused by the API server (422, field is immutable):
/// the sync fails naming the field and leaves the object as it was, with `Replace=true`
/// too (kubectl replace is refused the same); `Force=true` deletes it and creates it
/// again, as kubectl `apply --force` does for Argo CD, and only when refused;
/// `Force=true,Replace=true` recreates it at every sync (kubectl `replace --force`).
#[tokio::test]
async fn an_immutable_field_fails_the_sync_unless_force_recreates_the_object() {
    let (_server, cluster) = start().await;
    let deployments = api(
        &cluster,
        "apps/v1",
        "Deployment",
        "deployments",
        Some("default"),
    );
    let first = sync_app(&cluster, vec![deployment("web", json!({}))], None).await;
    assert_eq!(first.phase, OperationPhase::Succeeded, "{}", first.message);
    let uid = |d: &Value| d["metadata"]["uid"].as_str().map(str::to_string);
    let created = get(&deployments, "web").await.expect("created");

    let relabelled = |annotations: Value| {
        let mut d = deployment("web", annotations);
        d["spec"]["selector"]["matchLabels"]["track"] = json!("stable");
        d["spec"]["template"]["metadata"]["labels"]["track"] = json!("stable");
        d
    };
    let refused = sync_app(
        &cluster,
        vec![relabelled(json!({}))],
        Some(&first.inventory),
    )
    .await;
    assert_eq!(refused.phase, OperationPhase::Failed);
    // As Argo CD's operation message: the server's words as the reason.
    assert_eq!(
        refused.message,
        r#"one or more objects failed to apply, reason: Deployment.apps "web" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "track":"stable"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#
    );
    let result = refused
        .results
        .iter()
        .find(|r| r.key.kind == "Deployment")
        .expect("the Deployment's result");
    assert_eq!(result.action, Action::Failed);
    assert!(
        result.message.contains(r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "track":"stable"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#),
        "{}",
        result.message
    );
    let kept = get(&deployments, "web").await.expect("still there");
    assert_eq!(uid(&kept), uid(&created));
    assert!(kept.pointer("/spec/selector/matchLabels/track").is_none());

    // One sync of the relabelled Deployment annotated with `options`, with `opts`.
    let sync_with = async |options: &str, opts: &SyncOptions| {
        let annotated = relabelled(json!({"argocd.argoproj.io/sync-options": options}));
        let report = sync(
            &cluster,
            &app(),
            vec![annotated],
            opts,
            Some(&first.inventory),
            &quiet(),
        )
        .await
        .expect("sync");
        let action = action_of(&report, "Deployment", "web");
        let live = get(&deployments, "web").await.expect("the Deployment");
        (report, action, live)
    };
    let sync_annotated = async |options: &str| sync_with(options, &opts()).await;
    let (replaced, action, live) = sync_annotated("Replace=true").await;
    assert_eq!(replaced.phase, OperationPhase::Failed, "Replace=true alone");
    assert_eq!((action, uid(&live)), (Action::Failed, uid(&created)));

    let (forced, action, recreated) = sync_annotated("Force=true").await;
    assert_eq!(
        forced.phase,
        OperationPhase::Succeeded,
        "{}",
        forced.message
    );
    assert_eq!(action, Action::Replaced);
    assert_ne!(uid(&recreated), uid(&created), "a new object");
    assert_eq!(
        recreated["spec"]["selector"]["matchLabels"]["track"],
        "stable"
    );
    // Accepted as it is now: applied, not recreated.
    let (again, action, kept) = sync_annotated("Force=true").await;
    assert_eq!(again.phase, OperationPhase::Succeeded, "{}", again.message);
    assert_ne!(action, Action::Replaced);
    assert_eq!(uid(&kept), uid(&recreated));

    let (every_time, action, renewed) = sync_annotated("Force=true,Replace=true").await;
    assert_eq!(
        every_time.phase,
        OperationPhase::Succeeded,
        "{}",
        every_time.message
    );
    assert_eq!(
        action,
        Action::Replaced,
        "nothing changed, recreated all the same"
    );
    assert_ne!(uid(&renewed), uid(&recreated));

    // A periodic re-apply (nothing new) applies it in place: Argo CD would not sync.
    let periodic = SyncOptions {
        periodic: true,
        ..opts()
    };
    let (backstop, action, kept) = sync_with("Force=true,Replace=true", &periodic).await;
    assert_eq!(
        backstop.phase,
        OperationPhase::Succeeded,
        "{}",
        backstop.message
    );
    assert_ne!(action, Action::Replaced);
    assert_eq!(uid(&kept), uid(&renewed));
}

/// A StatefulSet's volume claim template cannot grow in place: the server's refusal
/// names the fields it may change; `Force=true` deletes and creates the StatefulSet.
#[tokio::test]
async fn a_grown_volume_claim_template_needs_force_to_recreate_the_statefulset() {
    let (_server, cluster) = start().await;
    let sets = api(
        &cluster,
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        Some("default"),
    );
    let statefulset = |storage: &str, options: &str| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db",
                "annotations": {"argocd.argoproj.io/sync-options": options}},
            "spec": {"serviceName": "db", "replicas": 1,
                "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": storage}}}}]}})
    };
    let first = sync_app(&cluster, vec![statefulset("1Gi", "")], None).await;
    assert_eq!(first.phase, OperationPhase::Succeeded, "{}", first.message);
    let created = get(&sets, "db").await.expect("created");
    let grown = sync_app(
        &cluster,
        vec![statefulset("2Gi", "")],
        Some(&first.inventory),
    )
    .await;
    assert_eq!(grown.phase, OperationPhase::Failed);
    assert_eq!(
        grown.message,
        r#"one or more objects failed to apply, reason: StatefulSet.apps "db" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"#
    );
    let forced = sync_app(
        &cluster,
        vec![statefulset("2Gi", "Force=true")],
        Some(&first.inventory),
    )
    .await;
    assert_eq!(
        forced.phase,
        OperationPhase::Succeeded,
        "{}",
        forced.message
    );
    assert_eq!(action_of(&forced, "StatefulSet", "db"), Action::Replaced);
    let recreated = get(&sets, "db").await.expect("created again");
    assert_ne!(recreated["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        recreated["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "2Gi"
    );
}

/// Argo CD's delay between sync waves (`ARGOCD_SYNC_WAVE_DELAY`): each wave but the last
/// is followed by the delay before the next starts; nothing waits after the last, and a
/// wave with nothing to apply (ApplyOutOfSyncOnly, all in sync) adds no delay.
#[tokio::test]
async fn waves_are_separated_by_the_wave_delay_and_the_last_is_not_followed_by_it() {
    let (_server, cluster) = start().await;
    let delay = Duration::from_millis(1500);
    let o = SyncOptions {
        wave_delay: delay,
        ..opts()
    };
    let waved = |name: &str, wave: &str| {
        let mut object = cm(name, "1");
        object["metadata"]["annotations"] = json!({"argocd.argoproj.io/sync-wave": wave});
        object
    };
    let starts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = starts.clone();
    let progress = move |p: Progress| {
        if let Progress::Wave { wave, .. } = p {
            sink.lock().unwrap().push((wave, std::time::Instant::now()));
        }
    };
    let desired = || vec![waved("first", "0"), waved("second", "1")];
    let r = sync(&cluster, &app(), desired(), &o, None, &progress)
        .await
        .expect("sync");
    let ended = std::time::Instant::now();
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    let starts = std::mem::take(&mut *starts.lock().unwrap());
    assert_eq!(starts.iter().map(|(w, _)| *w).collect::<Vec<_>>(), [0, 1]);
    assert!(
        starts[1].1 - starts[0].1 >= delay,
        "the delay separates the waves"
    );
    // The last wave is a ConfigMap applied on a local server: far less than the delay.
    assert!(
        ended - starts[1].1 < delay,
        "nothing waits after the last wave"
    );

    // Everything in sync and only out-of-sync objects applied: no wave does anything.
    let only_out_of_sync = SyncOptions {
        apply_out_of_sync_only: true,
        ..o.clone()
    };
    let began = std::time::Instant::now();
    let r = sync(
        &cluster,
        &app(),
        desired(),
        &only_out_of_sync,
        None,
        &quiet(),
    )
    .await
    .expect("sync");
    assert_eq!(r.phase, OperationPhase::Succeeded, "{}", r.message);
    assert!(
        began.elapsed() < delay,
        "no delay after a wave that skipped all"
    );
}
