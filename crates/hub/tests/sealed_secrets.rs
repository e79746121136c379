//! The hub's Sealed Secrets controller against kubesim: a managed cluster that serves
//! SealedSecrets (the upstream CRD's schema, read from ../shared/conformance) gets a key
//! in kube-system, SealedSecrets sealed with its certificate become Secrets owned by
//! them, edits and deleted Secrets are followed, and what upstream refuses — a Secret
//! someone else made, a strict SealedSecret moved to another namespace — is refused with
//! its Synced condition and a Warning event. A cluster without the CRD is left alone.

mod support;

use std::path::Path;
use std::time::Duration;

use flotilla_hub::run::{self, HubConfig};
use flotilla_hub::sealed_secrets::{
    KEY_LABEL, MAX_BODY_BYTES, RateQuota, SealedSecretsOptions, sealed_secret_resource,
};
use flotilla_secrets::{ControllerKey, Scope, SealingKey, UnsealError};
use k8s_openapi::api::core::v1::{Event, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kubesim::{Fleet, Server};
use serde_json::{Value, json};
use std::sync::Arc;
use support::wait_for;

/// Calls the hub's Sealed Secrets endpoints: status, headers, body.
async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    use tower::ServiceExt as _;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .body(axum::body::Body::from(body))
        .unwrap();
    let answer = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = answer.into_parts();
    let body = axum::body::to_bytes(body, 4 << 20).await.unwrap();
    (parts.status.as_u16(), parts.headers, body.to_vec())
}

/// The SealedSecret CRD with upstream's schema (bitnami-labs/sealed-secrets, as the
/// conformance folder keeps it) and its status subresource.
fn sealed_secret_crd() -> CustomResourceDefinition {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/sealed-secrets/schema-v1alpha1.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the Sealed Secrets conformance folder is missing ({}): {e}",
            path.display()
        )
    });
    let schema: Value = serde_saphyr::from_str(&text).unwrap();
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "sealedsecrets.bitnami.com"},
        "spec": {
            "group": "bitnami.com",
            "names": {"kind": "SealedSecret", "listKind": "SealedSecretList",
                      "plural": "sealedsecrets", "singular": "sealedsecret"},
            "scope": "Namespaced",
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                          "schema": schema, "subresources": {"status": {}}}],
        },
    }))
    .unwrap()
}

async fn namespace(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

fn secret(namespace: &str, name: &str, data: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": namespace, "labels": {"app": "db"}},
           "type": "Opaque", "stringData": data})
}

fn decoded(secret: &Secret, key: &str) -> String {
    let bytes = &secret.data.as_ref().unwrap()[key].0;
    String::from_utf8(bytes.clone()).unwrap()
}

async fn synced(api: &Api<DynamicObject>, name: &str) -> Option<(String, String)> {
    let object = api.get_opt(name).await.ok()??;
    let condition = object.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Synced")?
        .clone();
    Some((
        condition["status"].as_str()?.to_string(),
        condition["message"].as_str().unwrap_or("").to_string(),
    ))
}

async fn keys(client: &Client) -> Vec<Secret> {
    Api::<Secret>::namespaced(client.clone(), "kube-system")
        .list(&ListParams::default().labels(&format!("{KEY_LABEL}=active")))
        .await
        .unwrap()
        .items
}

/// A simulated hub and cluster `east`, registered with the hub and serving upstream's
/// SealedSecret CRD: the fleet, its server and east's client.
async fn east_with_sealed_secrets() -> (Arc<Fleet>, Server, Client) {
    let (fleet, server, hub) = support::simulated_hub(&["hub", "east"]).await;
    let east = support::client(&server, "east").await;
    support::register_cluster(&fleet, &server, &hub, "east").await;
    Api::<CustomResourceDefinition>::all(east.clone())
        .create(&PostParams::default(), &sealed_secret_crd())
        .await
        .unwrap();
    (fleet, server, east)
}

/// The hub on `server` with the Sealed Secrets controller: 2048-bit keys (quick to make),
/// clusters asked for the CRD twice a second, verify limited by `verify_rate_quota`.
async fn start_hub(server: &Server, cache: &Path, verify_rate_quota: RateQuota) -> run::Hub {
    let mut config = HubConfig::new(cache.to_path_buf());
    config.mirror_gc = None;
    config.sealed_secrets = Some(SealedSecretsOptions {
        key_bits: 2048,
        discovery_interval: Duration::from_millis(500),
        verify_rate_quota,
        ..Default::default()
    });
    run::start(support::config(server, "hub").await, config)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealed_secrets_become_secrets_only_where_upstream_would_unseal_them() {
    let dir = tempfile::tempdir().unwrap();
    let (_fleet, server, east) = east_with_sealed_secrets().await;
    let hub = support::client(&server, "hub").await;
    for ns in ["team-a", "team-b"] {
        namespace(&east, ns).await;
    }

    let cache = dir.path().join("cache");
    let start = async || start_hub(&server, &cache, RateQuota::default()).await;
    let running = start().await;

    // A key in east's kube-system, as the upstream controller writes it.
    let key_secret = wait_for("east's Sealed Secrets key", async || {
        keys(&east).await.into_iter().next()
    })
    .await;
    assert_eq!(key_secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert!(
        key_secret
            .metadata
            .name
            .as_deref()
            .unwrap()
            .starts_with("sealed-secrets-key")
    );
    let certificate = &key_secret.data.as_ref().unwrap()["tls.crt"].0;
    let sealing = SealingKey::from_certificate_pem(certificate).unwrap();

    // `kubeseal --cert <URL>`: the hub serves each cluster's certificate.
    let get = async |path: &str| {
        let (status, _, body) = call(&running.sealed_secrets, "GET", path, Vec::new()).await;
        (status, body)
    };
    assert_eq!(
        get("/sealed-secrets/east/v1/cert.pem").await,
        (200, certificate.clone())
    );
    assert_eq!(get("/sealed-secrets/in-cluster/v1/cert.pem").await.0, 404);

    let sealed_api = |ns: &str| {
        Api::<DynamicObject>::namespaced_with(east.clone(), ns, &sealed_secret_resource())
    };
    let create = async |ns: &str, sealed: &Value| {
        let object: DynamicObject = serde_json::from_value(sealed.clone()).unwrap();
        sealed_api(ns)
            .create(&PostParams::default(), &object)
            .await
            .unwrap()
    };
    let secrets = Api::<Secret>::namespaced(east.clone(), "team-a");

    // Sealed for team-a/db: unsealed into a Secret the SealedSecret controls.
    let sealed = flotilla_secrets::seal(
        &secret("team-a", "db", &[("password", "s3cr3t")]),
        &sealing,
        Scope::Strict,
    )
    .unwrap();
    let created = create("team-a", &sealed).await;
    let unsealed = wait_for("team-a/db unsealed", async || {
        secrets.get_opt("db").await.ok().flatten()
    })
    .await;
    assert_eq!(decoded(&unsealed, "password"), "s3cr3t");
    let owner = &unsealed.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("SealedSecret", "db", Some(true))
    );
    assert_eq!(Some(&owner.uid), created.metadata.uid.as_ref());
    assert_eq!(
        unsealed.metadata.labels.as_ref().unwrap()["app"],
        "db",
        "the template's labels"
    );
    let condition = wait_for("db Synced", async || {
        synced(&sealed_api("team-a"), "db").await
    })
    .await;
    assert_eq!(condition, ("True".to_string(), String::new()));
    let events = Api::<Event>::namespaced(east.clone(), "team-a");
    wait_for("the Unsealed event", async || {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("Unsealed")
                    && e.message.as_deref() == Some("SealedSecret unsealed successfully")
            })
    })
    .await;

    // A new value sealed over the old: the Secret follows.
    let resealed = flotilla_secrets::seal(
        &secret("team-a", "db", &[("password", "n3w")]),
        &sealing,
        Scope::Strict,
    )
    .unwrap();
    let mut current = sealed_api("team-a").get("db").await.unwrap();
    current.data["spec"] = resealed["spec"].clone();
    sealed_api("team-a")
        .replace("db", &PostParams::default(), &current)
        .await
        .unwrap();
    wait_for("the new value", async || {
        let s = secrets.get_opt("db").await.ok().flatten()?;
        (decoded(&s, "password") == "n3w").then_some(())
    })
    .await;

    // The Secret deleted by hand is made again.
    secrets
        .delete("db", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("team-a/db made again", async || {
        let s = secrets.get_opt("db").await.ok().flatten()?;
        (decoded(&s, "password") == "n3w").then_some(())
    })
    .await;

    // A Secret someone else made is not overwritten.
    let theirs: Secret = serde_json::from_value(json!({
        "metadata": {"name": "theirs", "namespace": "team-a"},
        "stringData": {"password": "keep-me"},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    let over_theirs = flotilla_secrets::seal(
        &secret("team-a", "theirs", &[("password", "mine")]),
        &sealing,
        Scope::Strict,
    )
    .unwrap();
    create("team-a", &over_theirs).await;
    let refused = wait_for("theirs refused", async || {
        synced(&sealed_api("team-a"), "theirs")
            .await
            .filter(|(s, _)| s == "False")
    })
    .await;
    assert_eq!(
        refused.1,
        r#"failed update: Resource "theirs" already exists and is not managed by SealedSecret"#
    );
    assert_eq!(
        decoded(&secrets.get("theirs").await.unwrap(), "password"),
        "keep-me"
    );

    // A strict SealedSecret copied into another namespace does not open there.
    let mut moved = sealed.clone();
    moved["metadata"]["namespace"] = json!("team-b");
    create("team-b", &moved).await;
    let (status, message) = wait_for("the moved copy refused", async || {
        synced(&sealed_api("team-b"), "db")
            .await
            .filter(|(s, _)| s == "False")
    })
    .await;
    assert_eq!(status, "False");
    assert!(message.contains("password"), "names the item: {message}");
    assert!(!message.contains("s3cr3t"));
    assert!(
        Api::<Secret>::namespaced(east.clone(), "team-b")
            .get_opt("db")
            .await
            .unwrap()
            .is_none()
    );

    // The hub does not serve SealedSecrets: no key was made there.
    assert!(keys(&hub).await.is_empty());

    // A restart keeps the key: values sealed before still open, and no second key.
    drop(running);
    let _running = start().await;
    let later = flotilla_secrets::seal(
        &secret("team-a", "later", &[("token", "t0k3n")]),
        &sealing,
        Scope::Strict,
    )
    .unwrap();
    create("team-a", &later).await;
    let opened = wait_for("team-a/later unsealed", async || {
        secrets.get_opt("later").await.ok().flatten()
    })
    .await;
    assert_eq!(decoded(&opened, "token"), "t0k3n");
    assert_eq!(keys(&east).await.len(), 1);
}

fn unix_now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    since.as_secs() as i64
}

/// The key Secret written as the upstream controller writes one (a renewal elsewhere, or a
/// restored backup).
fn key_secret(key: &ControllerKey) -> Secret {
    serde_json::from_value(json!({
        "metadata": {"name": "sealed-secrets-key-renewed", "namespace": "kube-system",
                     "labels": {KEY_LABEL: "active"}},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": key.certificate_pem(), "tls.key": key.private_key_pem()},
    }))
    .unwrap()
}

/// `/v1/verify` and `/v1/rotate` as kubeseal `--validate` and `--re-encrypt` call them: a
/// SealedSecret the cluster's keys open is valid (200), another is not (409); rotating
/// after a key renewal answers a SealedSecret only the newest key opens; bodies over the
/// cap are refused before they are read whole, and verify is rate limited per cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_controller_endpoints_verify_and_rotate_with_the_clusters_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (_fleet, server, east) = east_with_sealed_secrets().await;
    let cache = dir.path().join("cache");
    // One a second: the burst's three pass, a fourth within the second does not.
    let quota = RateQuota {
        per_second: 1,
        burst: 2,
    };
    let start = async || start_hub(&server, &cache, quota).await;
    let running = start().await;
    let first = wait_for("east's Sealed Secrets key", async || {
        let secret = keys(&east).await.into_iter().next()?;
        let data = secret.data?;
        ControllerKey::from_pem(&data["tls.crt"].0, &data["tls.key"].0).ok()
    })
    .await;
    let endpoints = running.sealed_secrets.clone();
    wait_for("east's certificate served", async || {
        let (status, _, _) = call(
            &endpoints,
            "GET",
            "/sealed-secrets/east/v1/cert.pem",
            vec![],
        )
        .await;
        (status == 200).then_some(())
    })
    .await;

    let plain = secret("team-a", "db", &[("password", "s3cr3t")]);
    let sealed = flotilla_secrets::seal(&plain, &first.sealing_key(), Scope::Strict).unwrap();
    let elsewhere =
        ControllerKey::generate(2048, "elsewhere", unix_now(), Duration::from_secs(3600)).unwrap();
    let foreign = flotilla_secrets::seal(&plain, &elsewhere.sealing_key(), Scope::Strict).unwrap();
    let body = |v: &Value| serde_json::to_vec(v).unwrap();
    let verify = "/sealed-secrets/east/v1/verify";
    let rotate = "/sealed-secrets/east/v1/rotate";

    // Upstream's answers: status only, no body.
    let (status, headers, answer) = call(&endpoints, "POST", verify, body(&sealed)).await;
    assert_eq!((status, answer.as_slice()), (200, &b""[..]));
    assert_eq!(headers["x-ratelimit-limit"], "3");
    let (status, _, answer) = call(&endpoints, "POST", verify, body(&foreign)).await;
    assert_eq!((status, answer.as_slice()), (409, &b""[..]));
    let (status, _, answer) = call(&endpoints, "POST", verify, body(&plain)).await;
    assert_eq!(
        (status, answer.as_slice()),
        (500, &b""[..]),
        "not a SealedSecret"
    );
    // Past the burst: refused as throttled refuses (a second passing under load lets
    // one more through, never more than one a second).
    let mut refused = None;
    for _ in 0..5 {
        let answer = call(&endpoints, "POST", verify, body(&sealed)).await;
        if answer.0 != 200 {
            refused = Some(answer);
            break;
        }
    }
    let (status, headers, answer) = refused.expect("verify is rate limited");
    assert_eq!((status, answer.as_slice()), (429, &b"limit exceeded\n"[..]));
    assert_eq!(headers["retry-after"], "1");
    let elsewhere_path = "/sealed-secrets/west/v1/verify";
    assert_eq!(
        call(&endpoints, "POST", elsewhere_path, body(&sealed))
            .await
            .0,
        404
    );

    // Over the cap: 413 before the body is parsed.
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(call(&endpoints, "POST", rotate, huge).await.0, 413);

    // A key renewed elsewhere (a backup restored, another controller): after a restart the
    // hub seals with it, and rotating moves old SealedSecrets onto it.
    let renewed =
        ControllerKey::generate(2048, "", first.not_before() + 1, Duration::from_secs(3600))
            .unwrap();
    Api::<Secret>::namespaced(east.clone(), "kube-system")
        .create(&PostParams::default(), &key_secret(&renewed))
        .await
        .unwrap();
    drop(running);
    let running = start().await;
    let endpoints = running.sealed_secrets.clone();
    wait_for("the renewed certificate served", async || {
        let (_, _, pem) = call(
            &endpoints,
            "GET",
            "/sealed-secrets/east/v1/cert.pem",
            vec![],
        )
        .await;
        (pem == renewed.certificate_pem().as_bytes()).then_some(())
    })
    .await;
    let (status, headers, answer) = call(&endpoints, "POST", rotate, body(&sealed)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(headers["content-type"], "application/json");
    assert!(!String::from_utf8_lossy(&answer).contains("s3cr3t"));
    let rotated: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(rotated["spec"]["template"], sealed["spec"]["template"]);
    let opened = flotilla_secrets::unseal(&rotated, &[renewed]).expect("the newest key opens it");
    assert_eq!(opened["data"]["password"], "czNjcjN0");
    assert!(matches!(
        flotilla_secrets::unseal(&rotated, &[first]),
        Err(UnsealError::Decrypt(_))
    ));
    assert_eq!(
        call(&endpoints, "POST", verify, body(&rotated)).await.0,
        200
    );

    // What the keys do not open, or is no SealedSecret: 500 with no body, as upstream.
    for refused in [&foreign, &plain] {
        let (status, _, answer) = call(&endpoints, "POST", rotate, body(refused)).await;
        assert_eq!((status, answer.as_slice()), (500, &b""[..]));
    }
}
