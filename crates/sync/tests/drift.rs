//! Drift against kubesim: a hand edit (through the API as another field manager, and
//! through the real `kubectl edit`) is reported within a second with the field path and
//! the manager, and self-heal puts the applied value back; fields left to another
//! manager by ignoreDifferences are not drift.

use std::time::{Duration, Instant};

use flotilla_sync::drift::{DriftEvent, DriftOptions, DriftWatch, WatchEvent, watch};
use flotilla_sync::ignore::IgnoreRule;
use flotilla_sync::{AppId, Cluster, Progress, SyncOptions, sync};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
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

fn quiet() -> impl Fn(Progress) + Send + Sync {
    |_| {}
}

fn cm(value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"},
        "data": {"key": value, "other": "x"}})
}

fn api(cluster: &Cluster, api_version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let ar = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(cluster.client().clone(), "default", &ar)
}

async fn next_drift(w: &mut DriftWatch, within: Duration) -> Option<DriftEvent> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, w.next()).await.ok()?? {
            WatchEvent::Drift(d) => return Some(d),
            _ => continue,
        }
    }
}

async fn next_healed(w: &mut DriftWatch, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return false;
        };
        match tokio::time::timeout(left, w.next()).await {
            Ok(Some(WatchEvent::Healed { .. })) => return true,
            Ok(Some(WatchEvent::HealFailed { message, .. })) => panic!("heal failed: {message}"),
            Ok(Some(_)) => continue,
            _ => return false,
        }
    }
}

#[tokio::test]
async fn a_hand_edit_is_reported_with_path_and_manager_and_self_healed() {
    let (_server, cluster) = start().await;
    let app = AppId::new("hub", "web");
    let report = sync(
        &cluster,
        &app,
        vec![cm("git")],
        &SyncOptions::default(),
        None,
        &quiet(),
    )
    .await
    .expect("sync");
    let opts = DriftOptions {
        self_heal: true,
        backoff: Duration::from_millis(200),
        ..Default::default()
    };
    let mut w = watch(&cluster, &app, &report, opts);
    tokio::time::sleep(Duration::from_millis(200)).await; // the watch's initial list
    let cms = api(&cluster, "v1", "ConfigMap", "configmaps");
    let edited_at = Instant::now();
    cms.patch(
        "conf",
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"data": {"key": "by-hand"}})),
    )
    .await
    .expect("edit");
    let d = next_drift(&mut w, Duration::from_secs(1))
        .await
        .expect("drift within 1 s");
    assert!(edited_at.elapsed() < Duration::from_secs(1));
    assert_eq!(d.key.name, "conf");
    assert_eq!(d.fields, [".data.key"]);
    assert_eq!(d.managers, ["kubectl-edit"]);
    assert!(
        next_healed(&mut w, Duration::from_secs(2)).await,
        "self-heal"
    );
    let live = cms.get("conf").await.expect("get");
    assert_eq!(live.data["data"]["key"], "git");

    // Deleting a managed object is drift too, and self-heal recreates it.
    cms.delete("conf", &Default::default())
        .await
        .expect("delete");
    let d = next_drift(&mut w, Duration::from_secs(1))
        .await
        .expect("deletion seen");
    assert!(d.deleted);
    assert!(next_healed(&mut w, Duration::from_secs(2)).await);
    assert!(cms.get_opt("conf").await.expect("get").is_some());
}

#[tokio::test]
async fn fields_left_to_another_manager_are_not_drift() {
    let (_server, cluster) = start().await;
    let app = AppId::new("hub", "scaled");
    let rule = IgnoreRule {
        group: Some("apps".into()),
        kind: "Deployment".into(),
        json_pointers: vec!["/spec/replicas".into()],
        ..Default::default()
    };
    let opts = SyncOptions {
        respect_ignore_differences: true,
        ignore_differences: vec![rule.clone()],
        ..SyncOptions::default()
    };
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}});
    let report = sync(&cluster, &app, vec![deploy], &opts, None, &quiet())
        .await
        .expect("sync");
    let mut w = watch(
        &cluster,
        &app,
        &report,
        DriftOptions {
            self_heal: true,
            ignore_differences: vec![rule],
            respect_ignore_differences: true,
            ..Default::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let deployments = api(&cluster, "apps/v1", "Deployment", "deployments");
    let pp = PatchParams {
        field_manager: Some("hpa-controller".into()),
        ..Default::default()
    };
    deployments
        .patch("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 7}})))
        .await
        .expect("scale");
    assert!(
        next_drift(&mut w, Duration::from_millis(700))
            .await
            .is_none(),
        "replicas are the HPA's"
    );
    // A field we own is still watched.
    deployments
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:hacked"}]}}}})),
        )
        .await
        .expect("edit image");
    let d = next_drift(&mut w, Duration::from_secs(1))
        .await
        .expect("image drift");
    assert_eq!(
        d.fields,
        [".spec.template.spec.containers[name=\"web\"].image"]
    );
    assert!(next_healed(&mut w, Duration::from_secs(2)).await);
    let live = deployments.get("web").await.expect("get");
    assert_eq!(live.data["spec"]["replicas"], 7);
    assert_eq!(
        live.data["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );
}

/// The real `kubectl edit`, through an editor script, as a user would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_edit_is_reported_as_drift() {
    let kubectl = std::path::Path::new("/usr/lib/google-cloud-sdk/bin/kubectl.1.32");
    assert!(
        kubectl.exists(),
        "{} is needed for this test",
        kubectl.display()
    );
    let (server, cluster) = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let editor = dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/key: git/key: edited/' \"$1\"\n",
    )
    .expect("editor");
    let mut perms = std::fs::metadata(&editor).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&editor, perms).expect("chmod");

    let app = AppId::new("hub", "edited");
    let report = sync(
        &cluster,
        &app,
        vec![cm("git")],
        &SyncOptions::default(),
        None,
        &quiet(),
    )
    .await
    .expect("sync");
    let mut w = watch(
        &cluster,
        &app,
        &report,
        DriftOptions {
            self_heal: true,
            backoff: Duration::from_millis(100),
            ..Default::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let home = dir.path().join("home");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(kubectl)
            .env("KUBECONFIG", &kubeconfig)
            .env("HOME", &home)
            .env("KUBE_EDITOR", &editor)
            .args(["--context", "cluster-000", "--cache-dir"])
            .arg(home.join("cache"))
            .args(["edit", "configmap", "conf"])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("kubectl runs")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let edited_at = Instant::now();
    let d = next_drift(&mut w, Duration::from_secs(1))
        .await
        .expect("drift within 1 s");
    assert!(edited_at.elapsed() < Duration::from_secs(1));
    assert_eq!(d.fields, [".data.key"]);
    assert_eq!(d.managers, ["kubectl-edit"]);
    assert!(next_healed(&mut w, Duration::from_secs(2)).await);
    let cms = api(&cluster, "v1", "ConfigMap", "configmaps");
    assert_eq!(
        cms.get("conf").await.expect("get").data["data"]["key"],
        "git"
    );
}
