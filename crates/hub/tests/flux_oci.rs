//! Flux `OCIRepository` end to end: artifacts pushed to the distribution project's real
//! `docker-registry` (htpasswd auth, the credentials in a `kubernetes.io/dockerconfigjson`
//! Secret), picked by semver range, tag or digest as source-controller picks them, built
//! and applied by a Kustomization whose `sourceRef` names the OCIRepository; a new tag
//! reaches the cluster; what cannot work is Ready=False or Stalled in source-controller's
//! words.

mod support;

use std::path::Path;
use std::time::Duration;

use flotilla_hub::flux::kustomization_resource;
use flotilla_hub::flux::oci_repository::oci_repository_resource;
use flotilla_source::{CacheOptions, MirrorCache};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::registry::{Registry, htpasswd};
use support::wait_for;

const FLUX_CONFIG: &str = "application/vnd.cncf.flux.config.v1+json";
const FLUX_CONTENT: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

/// A gzipped tarball of `files` as `flux push artifact` makes one (paths under `./`).
fn artifact(dir: &Path, files: &[(&str, &str)]) -> Vec<u8> {
    let root = tempfile::tempdir_in(dir).unwrap();
    for (path, contents) in files {
        support::write(root.path(), path, contents);
    }
    let out = dir.join("artifact.tgz");
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

fn config_map(color: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  color: {color}\n"
    )
}

async fn apply(client: &Client, resource: &kube::api::ApiResource, value: Value) {
    let namespace = value["metadata"]["namespace"].as_str().unwrap().to_string();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, resource);
    let object: DynamicObject = serde_json::from_value(value).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

async fn status_of(client: &Client, resource: &kube::api::ApiResource, name: &str) -> Value {
    support::object_of(client, resource, "flux-system", name)
        .await
        .map_or(Value::Null, |o| o["status"].clone())
}

/// `(status, reason, message)` of the Ready condition once it is `status` with `reason`.
async fn ready_when(
    client: &Client,
    resource: &kube::api::ApiResource,
    name: &str,
    status: &str,
    reason: &str,
) -> (Value, String) {
    support::condition_when(
        client,
        resource,
        ("flux-system", name),
        "Ready",
        status,
        reason,
    )
    .await
}

fn oci_repository(name: &str, url: &str, extra: Value) -> Value {
    let mut spec = json!({"interval": "1m", "url": url, "insecure": true});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
           "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oci_repository_feeds_a_kustomization_from_a_registry() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = htpasswd(dir.path(), "flux", "s3cret");
    let registry = Registry::start(
        dir.path(),
        &format!(
            "  htpasswd:\n    realm: test\n    path: {}\n",
            passwords.display()
        ),
    );
    let basic = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("flux:s3cret")
        )
    };
    let push = |tag: &str, color: &str| {
        let layer = artifact(dir.path(), &[("deploy/settings.yaml", &config_map(color))]);
        registry.push(
            "apps/manifests",
            tag,
            (FLUX_CONFIG, b"{}"),
            (FLUX_CONTENT, &layer),
            Some(&basic),
        );
    };
    push("1.0.0", "blue");
    push("1.1.0", "green");
    push("2.0.0", "red");

    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let (_server, client) = support::flux_hub(&mirrors, Duration::from_secs(1)).await;

    let docker_config =
        json!({"auths": {registry.host.clone(): {"username": "flux", "password": "s3cret"}}});
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "registry", "namespace": "flux-system"},
        "type": "kubernetes.io/dockerconfigjson",
        "stringData": {".dockerconfigjson": docker_config.to_string()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), "flux-system")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let url = format!("oci://{}/apps/manifests", registry.host);
    let oci = oci_repository_resource();
    apply(
        &client,
        &oci,
        oci_repository(
            "manifests",
            &url,
            json!({"ref": {"semver": ">=1.0.0 <2.0.0"}, "secretRef": {"name": "registry"}}),
        ),
    )
    .await;
    apply(
        &client,
        &kustomization_resource(),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "apps", "namespace": "flux-system"},
               "spec": {"interval": "1m", "path": "./deploy", "prune": true,
                        "sourceRef": {"kind": "OCIRepository", "name": "manifests"}}}),
    )
    .await;

    // The highest 1.x tag, by its manifest digest.
    let (status, message) = ready_when(&client, &oci, "manifests", "True", "Succeeded").await;
    let revision = status["artifact"]["revision"].as_str().unwrap().to_string();
    assert!(
        revision.starts_with("1.1.0@sha256:") && revision.len() == "1.1.0@sha256:".len() + 64,
        "{revision}"
    );
    assert_eq!(message, format!("stored artifact for digest '{revision}'"));
    assert!(
        status["artifact"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let (ks, _) = ready_when(
        &client,
        &kustomization_resource(),
        "apps",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    assert_eq!(ks["lastAppliedRevision"], json!(revision));
    let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let color = async || {
        config_maps
            .get_opt("settings")
            .await
            .unwrap()
            .and_then(|cm| cm.data)
            .and_then(|d| d.get("color").cloned())
    };
    assert_eq!(color().await.as_deref(), Some("green"));

    // A new tag in range, asked for at once (`flux reconcile source oci`).
    push("1.2.0", "yellow");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "flux-system", &oci);
    api.patch(
        "manifests",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}}),
        ),
    )
    .await
    .unwrap();
    wait_for("the new tag applied", async || {
        (color().await.as_deref() == Some("yellow")).then_some(())
    })
    .await;
    let status = status_of(&client, &oci, "manifests").await;
    assert!(
        status["artifact"]["revision"]
            .as_str()
            .unwrap()
            .starts_with("1.2.0@sha256:")
    );

    // By digest: the revision is the digest alone. Without `insecure`, as a registry on a
    // loopback address is still tried over plain HTTP after HTTPS (go-containerregistry's
    // `Registry.Scheme`), as kind's local registry is.
    assert!(registry.host.starts_with("127.0.0.1:"), "{}", registry.host);
    let digest = revision.split_once('@').unwrap().1.to_string();
    apply(
        &client,
        &oci,
        oci_repository(
            "pinned",
            &url,
            json!({"ref": {"digest": digest}, "secretRef": {"name": "registry"},
                   "insecure": false}),
        ),
    )
    .await;
    let (status, _) = ready_when(&client, &oci, "pinned", "True", "Succeeded").await;
    assert_eq!(status["artifact"]["revision"], json!(digest));

    // Without credentials the registry refuses; a tag in the URL and signature
    // verification stall with source-controller's words.
    apply(
        &client,
        &oci,
        oci_repository("anonymous", &url, json!({"ref": {"tag": "1.0.0"}})),
    )
    .await;
    let (_, message) = ready_when(&client, &oci, "anonymous", "False", "OCIPullFailed").await;
    assert!(
        message.starts_with(&format!("failed to pull artifact from '{url}': "))
            && message.contains("401"),
        "{message}"
    );
    apply(
        &client,
        &oci,
        oci_repository("tagged", &format!("{url}:v1"), json!({})),
    )
    .await;
    let (_, message) = ready_when(&client, &oci, "tagged", "False", "URLInvalid").await;
    assert_eq!(
        message,
        format!("URL validation failed for '{url}:v1': URL must not contain a tag; remove ':v1'")
    );
    apply(
        &client,
        &oci,
        oci_repository("verified", &url, json!({"verify": {"provider": "cosign"}})),
    )
    .await;
    let (status, message) =
        ready_when(&client, &oci, "verified", "False", "UnsupportedFeature").await;
    assert_eq!(
        message,
        "spec.verify (signature verification) is not supported by this hub"
    );
    assert!(
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Stalled")
    );
    apply(
        &client,
        &oci,
        oci_repository(
            "nothing",
            &url,
            json!({"ref": {"semver": ">=3.0.0"}, "secretRef": {"name": "registry"}}),
        ),
    )
    .await;
    let (_, message) = ready_when(&client, &oci, "nothing", "False", "ReadOperationFailed").await;
    assert_eq!(
        message,
        format!(
            "failed to determine the artifact tag for '{url}': no match found for semver: >=3.0.0"
        )
    );
}

/// What `flux push artifact --source --revision` records travels as Flux carries it: the
/// OCIRepository keeps the manifest's annotations as `status.artifact.metadata` and names
/// the origin in its NewArtifact event; a Kustomization applying it reports
/// `lastAppliedOriginRevision`, puts `originRevision` on its events (what the
/// notification-controller's commit status providers read) and in its history.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_artifacts_origin_revision_reaches_the_kustomization() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(dir.path(), "");
    let origin = "main@sha1:0123456789abcdef0123456789abcdef01234567";
    let layer = artifact(dir.path(), &[("deploy/settings.yaml", &config_map("teal"))]);
    registry.push_annotated(
        "apps/origin",
        "latest",
        (FLUX_CONFIG, b"{}"),
        &[(FLUX_CONTENT, &layer)],
        Some(
            json!({"org.opencontainers.image.source": "https://github.com/org/app",
                    "org.opencontainers.image.revision": origin,
                    "org.opencontainers.image.created": "2026-11-29T10:00:00Z"}),
        ),
        None,
    );
    let mirrors = MirrorCache::new(CacheOptions::new(dir.path().join("cache"))).unwrap();
    let (_server, client) = support::flux_hub(&mirrors, Duration::from_secs(1)).await;
    let url = format!("oci://{}/apps/origin", registry.host);
    let oci = oci_repository_resource();
    apply(&client, &oci, oci_repository("origin", &url, json!({}))).await;
    apply(
        &client,
        &kustomization_resource(),
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"name": "origin", "namespace": "flux-system"},
               "spec": {"interval": "1m", "path": "./deploy", "prune": true,
                        "sourceRef": {"kind": "OCIRepository", "name": "origin"}}}),
    )
    .await;
    let (status, _) = ready_when(&client, &oci, "origin", "True", "Succeeded").await;
    assert_eq!(
        status["artifact"]["metadata"]["org.opencontainers.image.revision"],
        origin
    );
    let (ks, _) = ready_when(
        &client,
        &kustomization_resource(),
        "origin",
        "True",
        "ReconciliationSucceeded",
    )
    .await;
    assert_eq!(ks["lastAppliedOriginRevision"], origin);
    assert_eq!(ks["history"][0]["metadata"]["originRevision"], origin);

    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(client.clone(), "flux-system");
    let listed = wait_for("the events", async || {
        let listed = events.list(&Default::default()).await.ok()?.items;
        let kustomization_event = listed.iter().any(|e| {
            e.involved_object.kind.as_deref() == Some("Kustomization")
                && e.metadata.annotations.as_ref().is_some_and(|a| {
                    a.get("kustomize.toolkit.fluxcd.io/originRevision")
                        .is_some_and(|r| r == origin)
                })
        });
        kustomization_event.then_some(listed)
    })
    .await;
    let new_artifact = listed
        .iter()
        .find(|e| e.reason.as_deref() == Some("NewArtifact"))
        .expect("a NewArtifact event");
    let message = new_artifact.message.as_deref().unwrap_or_default();
    assert!(
        message.ends_with(&format!(
            ", origin source 'https://github.com/org/app', origin revision '{origin}'"
        )),
        "{message}"
    );
}
