//! The hub against kubesim over TLS: its CRDs install and become Established, and cluster
//! Secrets written the way `argocd cluster add` writes them connect to their clusters with
//! the token and CA they carry.

mod support;

use std::time::Duration;

use flotilla_hub::{bootstrap, clusters};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, PostParams};
use kubesim::{Fleet, FleetConfig, Server};
use serde_json::json;
use support::client;

fn cluster_secret(name: &str, server: &str, config: serde_json::Value, env: &str) -> Secret {
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("cluster-{name}"),
            "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": "cluster", "environment": env},
        },
        "stringData": {"name": name, "server": server, "config": config.to_string()},
    }))
    .expect("secret")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_secrets_connect_with_their_own_credentials() {
    let names: Vec<String> = ["hub", "east", "west"].map(String::from).to_vec();
    let fleet = Fleet::new(&names, FleetConfig::default());
    let server = Server::start_tls(fleet.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("kubesim starts");
    let hub = client(&server, "hub").await;
    bootstrap::install(&hub, Duration::from_secs(10))
        .await
        .expect("hub CRDs install");
    // Installing twice is a no-op.
    bootstrap::install(&hub, Duration::from_secs(10))
        .await
        .expect("again");

    let ca = fleet.tls().expect("TLS").ca_data();
    let secrets: Api<Secret> = Api::namespaced(hub.clone(), "argocd");
    for (name, env) in [("east", "production"), ("west", "staging")] {
        let config = json!({
            "bearerToken": fleet.admin_token(name).expect("token"),
            "tlsClientConfig": {"caData": ca},
        });
        secrets
            .create(
                &PostParams::default(),
                &cluster_secret(name, &server.cluster_url(name), config, env),
            )
            .await
            .expect("cluster secret");
    }
    // A registration with a broken config is reported, without its text, and skipped.
    let mut broken = cluster_secret("broken", "https://example.invalid", json!({}), "x");
    broken
        .string_data
        .as_mut()
        .unwrap()
        .insert("config".into(), "{\"bearerToken\": \"s3cr3t-token\"".into());
    secrets
        .create(&PostParams::default(), &broken)
        .await
        .expect("broken secret");
    // A Secret without the label is not a cluster.
    let mut unlabelled = cluster_secret("other", "https://other.invalid", json!({}), "x");
    unlabelled.metadata.labels = None;
    secrets
        .create(&PostParams::default(), &unlabelled)
        .await
        .expect("plain secret");

    let (registry, errors) = clusters::load(&hub, "argocd").await.expect("load");
    assert_eq!(registry.len(), 2);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0].to_string();
    assert!(message.contains("data.config"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
    let east = registry.by_name("east").expect("east");
    assert_eq!(east.secret.labels["environment"], "production");
    assert!(registry.by_server(&server.cluster_url("west")).is_some());

    // Each client reaches its own cluster: a namespace made through east is not in west.
    let east_ns: Api<Namespace> = Api::all(east.client.clone());
    east_ns
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "only-in-east"}})).unwrap(),
        )
        .await
        .expect("namespace in east");
    let west = registry.by_name("west").expect("west");
    let west_ns: Api<Namespace> = Api::all(west.client.clone());
    assert!(west_ns.get_opt("only-in-east").await.unwrap().is_none());
    assert!(east_ns.get_opt("only-in-east").await.unwrap().is_some());

    // Reloading unchanged registrations keeps them (and their clients); a changed label is
    // a changed registration.
    let (again, _) = clusters::reload(&hub, "argocd", &registry)
        .await
        .expect("reload");
    assert!(again.same_registrations(&registry));
    let mut relabelled = secrets.get("cluster-west").await.expect("west secret");
    relabelled
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("environment".into(), "production".into());
    secrets
        .replace("cluster-west", &PostParams::default(), &relabelled)
        .await
        .expect("relabel");
    let (changed, _) = clusters::reload(&hub, "argocd", &registry)
        .await
        .expect("reload");
    assert!(!changed.same_registrations(&registry));
    assert_eq!(
        changed.by_name("west").unwrap().secret.labels["environment"],
        "production"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_by_the_cluster_not_accepted() {
    let names: Vec<String> = ["hub", "east"].map(String::from).to_vec();
    let fleet = Fleet::new(&names, FleetConfig::default());
    let server = Server::start_tls(fleet.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("kubesim starts");
    let ca = fleet.tls().expect("TLS").ca_data();
    let secret: serde_json::Value = serde_json::to_value(cluster_secret(
        "east",
        &server.cluster_url("east"),
        json!({"bearerToken": "not-the-token", "tlsClientConfig": {"caData": ca}}),
        "production",
    ))
    .unwrap();
    let parsed = flotilla_fleet::cluster::ClusterSecret::from_secret(&secret).expect("parses");
    let client = clusters::connect(&parsed).await.expect("a client");
    let err = Api::<Namespace>::all(client)
        .list(&Default::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("401") || err.to_string().contains("Unauthorized"),
        "{err}"
    );
}

/// A cluster Secret with a client certificate (`tlsClientConfig.certData`/`keyData`, as
/// `argocd cluster add` writes for a kubeconfig whose user has one — kind's do) connects
/// as the certificate's subject and is held to RBAC as that user: kubesim authenticates
/// client certificates its CA signed as kube-apiserver's x509 authenticator does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_connects_as_its_subject() {
    use base64::Engine as _;
    let names: Vec<String> = ["hub", "east"].map(String::from).to_vec();
    let fleet = Fleet::new(&names, FleetConfig::default());
    let server = Server::start_tls(fleet.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("kubesim starts");
    let authority = fleet.tls().expect("TLS");
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    let connect = async |common_name: &str, groups: &[&str]| {
        let (certificate, key) = authority
            .user_certificate(common_name, groups)
            .expect("certificate");
        let secret = serde_json::to_value(cluster_secret(
            "east",
            &server.cluster_url("east"),
            json!({"tlsClientConfig": {
                "caData": authority.ca_data(),
                "certData": b64(&certificate),
                "keyData": b64(&key),
            }}),
            "production",
        ))
        .unwrap();
        let parsed = flotilla_fleet::cluster::ClusterSecret::from_secret(&secret).expect("parses");
        assert!(
            !format!("{parsed:?}").contains("PRIVATE KEY"),
            "the key is never shown"
        );
        clusters::connect(&parsed).await.expect("a client")
    };
    let admin = connect("cluster-admin-user", &["system:masters"]).await;
    Api::<Namespace>::all(admin)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "by-certificate"}})).unwrap(),
        )
        .await
        .expect("system:masters may create namespaces");
    let viewer = connect("nobody", &[]).await;
    let err = Api::<Namespace>::all(viewer)
        .list(&Default::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("User \"nobody\" cannot list resource \"namespaces\""),
        "{err}"
    );
}
