//! kube-rs over TLS with the kubeconfig kubesim writes: the CA verifies, the admin token
//! authenticates, TokenRequest tokens act as their ServiceAccount, and RBAC answers 403.

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kubesim::{Fleet, Server};
use serde_json::json;

async fn client_for(server: &Server, token: Option<&str>) -> Client {
    client_as(server, token, None).await
}

/// A client with the kubeconfig's credentials (or `token`), impersonating `user` if given,
/// the way Flotilla acts for a tenant.
async fn client_as(server: &Server, token: Option<&str>, user: Option<&str>) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&server.kubeconfig()).expect("kubeconfig parses");
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    if let Some(token) = token {
        config.auth_info.token = Some(token.to_string().into());
    }
    config.auth_info.impersonate = user.map(String::from);
    Client::try_from(config).expect("client")
}

fn object<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("object")
}

#[tokio::test]
async fn service_account_tokens_are_held_to_rbac() {
    let server = Server::start_tls(
        Fleet::with_clusters(1),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("kubesim starts");
    assert!(server.base_url().starts_with("https://"));
    let admin = client_for(&server, None).await;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for ns in ["t1", "t2"] {
        namespaces
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": ns}})),
            )
            .await
            .expect("namespace");
    }
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "t1");
    sas.create(
        &PostParams::default(),
        &object(json!({"metadata": {"name": "flux"}})),
    )
    .await
    .expect("service account");
    let request: TokenRequest = object(json!({"spec": {"audiences": []}}));
    let issued = sas
        .create_token_request("flux", &PostParams::default(), &request)
        .await
        .expect("token");
    let token = issued.status.expect("status").token;

    let flux = client_for(&server, Some(&token)).await;
    let cms: Api<ConfigMap> = Api::namespaced(flux.clone(), "t2");
    let err = cms.list(&Default::default()).await.expect_err("forbidden");
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403);
            assert_eq!(
                status.message,
                "configmaps is forbidden: User \"system:serviceaccount:t1:flux\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"t2\""
            );
        }
        other => panic!("expected a 403, got {other:?}"),
    }

    let reviews: Api<SelfSubjectAccessReview> = Api::all(flux);
    let review: SelfSubjectAccessReview = object(json!({"spec": {"resourceAttributes": {
        "namespace": "t2", "verb": "list", "resource": "configmaps"}}}));
    let answer = reviews
        .create(&PostParams::default(), &review)
        .await
        .expect("review");
    assert!(!answer.status.expect("status").allowed);
}

#[tokio::test]
async fn impersonating_a_service_account_is_held_to_its_bindings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let config = kubesim::FleetConfig {
        audit_log: Some(audit.clone()),
        ..Default::default()
    };
    let fleet = Fleet::new(&kubesim::default_names(1), config);
    let server = Server::start_tls(fleet, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("kubesim starts");
    let admin = client_for(&server, None).await;
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for ns in ["t1", "t2"] {
        namespaces
            .create(
                &PostParams::default(),
                &object(json!({"metadata": {"name": ns}})),
            )
            .await
            .expect("namespace");
    }
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> = Api::namespaced(admin, "t1");
    bindings
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "flux-edit"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
                "subjects": [{"kind": "ServiceAccount", "name": "flux", "namespace": "t1"}],
            })),
        )
        .await
        .expect("binding");

    let flux = client_as(&server, None, Some("system:serviceaccount:t1:flux")).await;
    let mine: Api<ConfigMap> = Api::namespaced(flux.clone(), "t1");
    mine.create(
        &PostParams::default(),
        &object(json!({"metadata": {"name": "ok"}})),
    )
    .await
    .expect("edit allows configmaps in t1");
    let theirs: Api<ConfigMap> = Api::namespaced(flux, "t2");
    let err = theirs
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": "no"}})),
        )
        .await
        .expect_err("t2 is another tenant's");
    match err {
        kube::Error::Api(status) => assert_eq!(
            status.message,
            "configmaps is forbidden: User \"system:serviceaccount:t1:flux\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"t2\""
        ),
        other => panic!("expected a 403, got {other:?}"),
    }
    // The audit log proves who did what: the admin's credentials, acting as the tenant.
    let log = std::fs::read_to_string(&audit).expect("audit log");
    let denied: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|e: &serde_json::Value| e["code"] == 403)
        .expect("the denied create is logged");
    assert_eq!(denied["user"], "kubesim-admin");
    assert_eq!(denied["impersonatedUser"], "system:serviceaccount:t1:flux");
    assert_eq!(
        denied["impersonatedGroups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:t1",
            "system:authenticated"
        ])
    );
    assert_eq!(
        (&denied["verb"], &denied["namespace"], &denied["resource"]),
        (&json!("create"), &json!("t2"), &json!("configmaps"))
    );
}
