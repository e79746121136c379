//! Argo CD's OCI source type end to end (`repoURL: oci://registry/repository`, Argo CD
//! 3.1+): artifacts pushed to the distribution project's real `docker-registry` (htpasswd
//! auth), read with the credentials of `type: oci` repository Secrets, picked by tag or
//! semver constraint, their single content layer extracted and `path` rendered; the
//! revision reported is the manifest digest. What Argo CD refuses (two content layers, a
//! media type not allowed, a path out of the artifact) is a ComparisonError in its words
//! and prunes nothing.

mod support;

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_hub::application::AppReconciler;
use flotilla_hub::clusters;
use flotilla_hub::controller::{self, ControllerOptions, application_resource};
use flotilla_hub::sources::Sources;
use flotilla_source::{CacheOptions, MirrorCache};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::registry::{Registry, htpasswd};
use support::{client, package_chart, wait_for, write};

const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A gzipped tarball of `files` as `tar -czf … -C dir .` makes one (what Argo CD's guide
/// pushes with ORAS).
fn tarball(dir: &Path, files: &[(&str, &str)]) -> Vec<u8> {
    let root = tempfile::tempdir_in(dir).unwrap();
    for (path, contents) in files {
        write(root.path(), path, contents);
    }
    let out = root.path().with_extension("tgz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(root.path())
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

fn config_map(name: &str, color: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  color: {color}\n")
}

/// The status of Application `argocd/<name>` once `ready` accepts it.
async fn status_when(
    apps: &Api<DynamicObject>,
    name: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = Value::Null;
    loop {
        if let Ok(app) = apps.get(name).await {
            last = serde_json::to_value(&app).unwrap()["status"].clone();
            if ready(&last) {
                return last;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {name}: {what}; the status is {last:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn synced_at(revision: &str) -> impl Fn(&Value) -> bool {
    move |status: &Value| {
        status.pointer("/sync/status") == Some(&json!("Synced"))
            && status.pointer("/sync/revision") == Some(&json!(revision))
            && status.pointer("/operationState/phase") == Some(&json!("Succeeded"))
    }
}

fn condition_containing(text: &str) -> impl Fn(&Value) -> bool {
    move |status: &Value| {
        status["conditions"].as_array().is_some_and(|conditions| {
            conditions.iter().any(|c| {
                c["type"] == "ComparisonError"
                    && c["message"].as_str().is_some_and(|m| m.contains(text))
            })
        })
    }
}

/// `"spec"` fields merged into Application `argocd/<name>`.
async fn patch_spec(apps: &Api<DynamicObject>, name: &str, spec: Value) {
    apps.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": spec})),
    )
    .await
    .unwrap();
}

async fn create_secret(hub: &kube::Client, secret: Value) {
    let secret: Secret = serde_json::from_value(secret).unwrap();
    Api::<Secret>::namespaced(hub.clone(), "argocd")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// (1) tag then constraint, digest as the revision; (2) `path` selects a directory and
/// a path out of the artifact fails; (3) two content layers and a media type not
/// allowed fail in Argo CD's words, pruning nothing; (4) the credentials of a
/// `type: oci` repository Secret and of a repo-creds template; and a Helm chart
/// artifact at `path: .` rendered as a chart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oci_artifact_is_pulled_rendered_and_reported_by_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = htpasswd(dir.path(), "robot", "s3cr3t");
    let registry = Registry::start(
        dir.path(),
        &format!(
            "  htpasswd:\n    realm: test\n    path: {}\n",
            passwords.display()
        ),
    );
    // `robot:s3cr3t`, base64.
    let basic = Some("Basic cm9ib3Q6czNjcjN0");
    let push = |tag: &str, color: &str| {
        let layer = tarball(
            dir.path(),
            &[
                ("deploy/settings.yaml", &config_map("settings", color)),
                ("other/extra.yaml", &config_map("extra", color)),
            ],
        );
        registry.push(
            "apps/manifests",
            tag,
            (IMAGE_CONFIG, b"{}"),
            (LAYER, &layer),
            basic,
        )
    };
    let first = push("1.0.0", "blue");

    // The hub, the cluster `east`, and the Application controller.
    let (fleet, server, hub) = support::simulated_hub(&["hub", "east"]).await;
    support::register_cluster(&fleet, &server, &hub, "east").await;
    let (clusters, errors) = clusters::load(&hub, "argocd").await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let reconciler = Arc::new(AppReconciler::new(
        hub.clone(),
        Arc::new(RwLock::new(clusters)),
        Sources::new(mirrors),
        Duration::from_secs(60),
    ));
    let store = reconciler.sources.repo_credentials().clone();
    tokio::spawn(flotilla_hub::repo_creds::run(
        hub.clone(),
        "argocd".into(),
        store.clone(),
    ));
    let _controller = tokio::spawn(controller::run_applications_with(
        reconciler.clone(),
        ControllerOptions {
            workers: 2,
            ..Default::default()
        },
        controller::Feeds::default(),
    ));
    let apps: Api<DynamicObject> =
        Api::namespaced_with(hub.clone(), "argocd", &application_resource());
    let east = client(&server, "east").await;
    let repo_url = format!("oci://{}/apps/manifests", registry.host);
    let create = async |name: &str, source: Value| {
        let app: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": source,
                "destination": {"server": server.cluster_url("east"), "namespace": name},
                "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
            },
        }))
        .unwrap();
        apps.create(&PostParams::default(), &app).await.unwrap();
    };

    // Without its Secret the registry is spoken to over HTTPS, which it does not speak.
    create(
        "web",
        json!({"repoURL": repo_url, "targetRevision": "1.0.0", "path": "deploy"}),
    )
    .await;
    status_when(
        &apps,
        "web",
        "refused without its Secret",
        condition_containing(
            "failed to resolve revision \"1.0.0\": cannot get digest for revision 1.0.0: ",
        ),
    )
    .await;

    // (4) A `type: oci` repository Secret: plain HTTP, Basic credentials.
    create_secret(
        &hub,
        json!({
            "metadata": {"name": "manifests", "namespace": "argocd",
                         "labels": {"argocd.argoproj.io/secret-type": "repository"}},
            "stringData": {"type": "oci", "url": repo_url, "username": "robot",
                           "password": "s3cr3t", "insecureOCIForceHttp": "true"},
        }),
    )
    .await;
    wait_for("the Secret seen", async || {
        store
            .read()
            .unwrap()
            .access(&repo_url)
            .insecure_oci_force_http
            .then_some(())
    })
    .await;
    // Any change makes the controller look again.
    apps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"touched": "1"}}})),
    )
    .await
    .unwrap();

    // (1) By tag: the manifest digest is the revision everywhere Argo CD writes one.
    let status = status_when(&apps, "web", "synced at 1.0.0", synced_at(&first)).await;
    assert_eq!(status["sourceType"], "Directory", "{status}");
    assert_eq!(
        status.pointer("/operationState/syncResult/revision"),
        Some(&json!(first)),
        "{status}"
    );
    assert_eq!(
        status.pointer("/history/0/revision"),
        Some(&json!(first)),
        "{status}"
    );
    let config_maps = Api::<ConfigMap>::namespaced(east.clone(), "web");
    let color = async || {
        config_maps
            .get("settings")
            .await
            .ok()?
            .data?
            .get("color")
            .cloned()
    };
    assert_eq!(color().await.as_deref(), Some("blue"));
    // (2) Only `deploy/` is rendered.
    assert!(config_maps.get_opt("extra").await.unwrap().is_none());

    // A newer tag, picked by a constraint.
    let second = push("1.1.0", "green");
    patch_spec(
        &apps,
        "web",
        json!({"source": {"repoURL": repo_url, "targetRevision": "^1.0.0", "path": "deploy"}}),
    )
    .await;
    status_when(&apps, "web", "synced at 1.1.0", synced_at(&second)).await;
    assert_eq!(color().await.as_deref(), Some("green"));

    // (3) Two content layers, then a content layer of a media type not allowed: Argo
    // CD's words, and nothing pruned.
    let layer = tarball(dir.path(), &[("deploy/a.yaml", &config_map("a", "red"))]);
    registry.push_layers(
        "apps/manifests",
        "2.0.0",
        (IMAGE_CONFIG, b"{}"),
        &[(LAYER, &layer), (LAYER, &layer)],
        basic,
    );
    patch_spec(
        &apps,
        "web",
        json!({"source": {"repoURL": repo_url, "targetRevision": "2.0.0", "path": "deploy"}}),
    )
    .await;
    status_when(
        &apps,
        "web",
        "two layers refused",
        condition_containing("expected only a single oci content layer, got 2"),
    )
    .await;
    assert_eq!(color().await.as_deref(), Some("green"));
    let custom = "application/vnd.example.manifests.v1.tar+gzip";
    registry.push(
        "apps/manifests",
        "3.0.0",
        (IMAGE_CONFIG, b"{}"),
        (custom, &layer),
        basic,
    );
    patch_spec(
        &apps,
        "web",
        json!({"source": {"repoURL": repo_url, "targetRevision": "3.0.0", "path": "deploy"}}),
    )
    .await;
    status_when(
        &apps,
        "web",
        "a media type refused",
        condition_containing(&format!(
            "oci layer media type {custom} is not in the list of allowed media types"
        )),
    )
    .await;
    assert_eq!(color().await.as_deref(), Some("green"));

    // (2) A path out of the artifact.
    patch_spec(
        &apps,
        "web",
        json!({"source": {"repoURL": repo_url, "targetRevision": "1.1.0", "path": "../deploy"}}),
    )
    .await;
    status_when(
        &apps,
        "web",
        "a path out of the artifact refused",
        condition_containing("../deploy: app path outside root"),
    )
    .await;
    assert_eq!(color().await.as_deref(), Some("green"));
    // A tag that does not exist, in Argo CD's words.
    patch_spec(
        &apps,
        "web",
        json!({"source": {"repoURL": repo_url, "targetRevision": "9.9.9", "path": "deploy"}}),
    )
    .await;
    status_when(
        &apps,
        "web",
        "an unknown tag refused",
        condition_containing(
            "failed to resolve revision \"9.9.9\": cannot get digest for revision 9.9.9: ",
        ),
    )
    .await;
    // Back to a good revision by digest.
    patch_spec(
        &apps,
        "web",
        json!({"source": {"repoURL": repo_url, "targetRevision": first, "path": "deploy"}}),
    )
    .await;
    let status = status_when(&apps, "web", "synced by digest", synced_at(&first)).await;
    assert!(status.get("conditions").is_none(), "{status}");
    assert_eq!(color().await.as_deref(), Some("blue"));

    // (4) A Helm chart artifact, read with a repo-creds template's credentials: its top
    // directory is the artifact's root, so `path: .` is the chart.
    let charts = dir.path().join("charts");
    write(
        &charts.join("web"),
        "Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.3.0\n",
    );
    write(
        &charts.join("web"),
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: chart\ndata:\n  release: {{ .Release.Name | quote }}\n  version: {{ .Chart.Version | quote }}\n",
    );
    package_chart(&charts, "web", "0.3.0");
    let package = std::fs::read(charts.join("web-0.3.0.tgz")).unwrap();
    let chart_digest = registry.push_chart("charts/web", "0.3.0", &package, basic);
    create_secret(
        &hub,
        json!({
            "metadata": {"name": "charts", "namespace": "argocd",
                         "labels": {"argocd.argoproj.io/secret-type": "repo-creds"}},
            "stringData": {"type": "oci", "url": format!("oci://{}/charts", registry.host),
                           "username": "robot", "password": "s3cr3t",
                           "insecureOCIForceHttp": "true"},
        }),
    )
    .await;
    let chart_url = format!("oci://{}/charts/web", registry.host);
    wait_for("the template seen", async || {
        store
            .read()
            .unwrap()
            .access(&chart_url)
            .insecure_oci_force_http
            .then_some(())
    })
    .await;
    create(
        "chart",
        json!({"repoURL": chart_url, "targetRevision": "0.x", "path": "."}),
    )
    .await;
    let status = status_when(&apps, "chart", "the chart synced", synced_at(&chart_digest)).await;
    assert_eq!(status["sourceType"], "Helm", "{status}");
    let data = Api::<ConfigMap>::namespaced(east.clone(), "chart")
        .get("chart")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(data["release"], "chart");
    assert_eq!(data["version"], "0.3.0");
}
