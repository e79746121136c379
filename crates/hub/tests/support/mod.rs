//! What the hub's end-to-end tests share: git in a work tree, files, clients for a
//! kubesim context, and waiting for a condition.

#![allow(dead_code)] // each test binary uses its own subset

pub(crate) mod registry;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kubesim::{Fleet, FleetConfig, Server};

/// Runs git in `dir` with a fixed identity; panics with git's stderr when it fails.
pub(crate) fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `contents` to `dir/path`, creating directories.
pub(crate) fn write(dir: &Path, path: &str, contents: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, contents).unwrap();
}

/// The configuration of `context` in the kubesim server's kubeconfig.
pub(crate) async fn config(server: &Server, context: &str) -> Config {
    let kubeconfig = Kubeconfig::from_yaml(&server.kubeconfig()).unwrap();
    let options = KubeConfigOptions {
        context: Some(context.into()),
        ..Default::default()
    };
    Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .unwrap()
}

/// A client for `context` of the kubesim server.
pub(crate) async fn client(server: &Server, context: &str) -> Client {
    Client::try_from(config(server, context).await).unwrap()
}

/// A kubesim fleet of the clusters `names` (one of them `hub`) served over TLS, and a
/// client for the hub with the hub's CRDs installed.
pub(crate) async fn simulated_hub(names: &[&str]) -> (Arc<Fleet>, Server, Client) {
    simulated_hub_with(names, FleetConfig::default()).await
}

/// [`simulated_hub`] with the fleet's settings (an audit log, say).
pub(crate) async fn simulated_hub_with(
    names: &[&str],
    config: FleetConfig,
) -> (Arc<Fleet>, Server, Client) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let fleet = Fleet::try_new(&names, config).unwrap();
    let server = Server::start_tls(fleet.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let hub = client(&server, "hub").await;
    flotilla_hub::bootstrap::install(&hub, Duration::from_secs(10))
        .await
        .unwrap();
    (fleet, server, hub)
}

/// Registers the kubesim cluster `name` with the hub as Argo CD does: a cluster Secret in
/// `argocd` with its server, the admin's bearer token and the fleet's CA.
pub(crate) async fn register_cluster(fleet: &Fleet, server: &Server, hub: &Client, name: &str) {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, PostParams};
    use serde_json::json;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "argocd",
                     "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "stringData": {"name": name, "server": server.cluster_url(name),
                       "config": json!({"bearerToken": fleet.admin_token(name).unwrap(),
                                        "tlsClientConfig": {"caData": fleet.tls().unwrap().ca_data()}}).to_string()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(hub.clone(), "argocd")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
}

/// Polls `check` until it answers, failing after 20 s.
pub(crate) async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A repository Secret for `url` scoped to Argo CD project `project` (basic auth
/// `user`/`password`) created in the hub's `argocd`, read into `store` by the hub's
/// Secret watch, which this starts; returns once the project's repositories name it.
pub(crate) async fn scoped_repository_secret(
    hub: &Client,
    store: &std::sync::Arc<std::sync::RwLock<flotilla_hub::repo_creds::RepoCredentials>>,
    url: &str,
    project: &str,
    (user, password): (&str, &str),
) {
    tokio::spawn(flotilla_hub::repo_creds::run(
        hub.clone(),
        "argocd".into(),
        store.clone(),
    ));
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("{project}-git"), "namespace": "argocd",
                     "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {"url": url, "project": project,
                       "username": user, "password": password},
    }))
    .unwrap();
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(hub.clone(), "argocd")
        .create(&Default::default(), &secret)
        .await
        .unwrap();
    wait_for("the scoped Secret read", async || {
        (!store
            .read()
            .unwrap()
            .project_repositories(project)
            .is_empty())
        .then_some(())
    })
    .await;
}

/// Runs the real kubectl (1.33, from `KUBECTL_DIR` as the kubectl black-box suite finds
/// it) on the server's `context` with `args`, a kubeconfig written into `dir`; panics
/// with kubectl's output when it fails, else returns its stdout.
pub(crate) fn kubectl(server: &Server, dir: &Path, context: &str, args: &[&str]) -> String {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig()).unwrap();
    let bin_dir =
        std::env::var("KUBECTL_DIR").unwrap_or_else(|_| "/usr/lib/google-cloud-sdk/bin".into());
    let out = std::process::Command::new(Path::new(&bin_dir).join("kubectl.1.33"))
        .env("HOME", dir)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--context", context])
        .args(args)
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A kubesim hub (TLS) with the hub's CRDs and the Flux controllers running on it, reading
/// repositories through `mirrors`; missing artifacts and unready dependencies are retried
/// after `dependency_requeue`. Returns the server and a client for the hub.
pub(crate) async fn flux_hub(
    mirrors: &flotilla_source::MirrorCache,
    dependency_requeue: Duration,
) -> (Server, Client) {
    flux_hub_with(
        mirrors,
        flotilla_hub::flux::FluxOptions {
            dependency_requeue,
            ..Default::default()
        },
    )
    .await
}

/// [`flux_hub`] with the Flux controllers' `options` (four workers and a 200 ms health
/// poll whatever they say).
pub(crate) async fn flux_hub_with(
    mirrors: &flotilla_source::MirrorCache,
    options: flotilla_hub::flux::FluxOptions,
) -> (Server, Client) {
    let fleet = Fleet::new(&["hub".to_string()], FleetConfig::default());
    let server = Server::start_tls(fleet, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let config = config(&server, "hub").await;
    let client = Client::try_from(config.clone()).unwrap();
    flotilla_hub::bootstrap::install(&client, Duration::from_secs(10))
        .await
        .unwrap();
    let reconciler = flotilla_hub::flux::FluxReconciler::new(
        config,
        flotilla_hub::sources::Sources::new(mirrors.clone()),
        flotilla_hub::flux::FluxOptions {
            workers: 4,
            health_poll: Duration::from_millis(200),
            ..options
        },
    )
    .unwrap();
    tokio::spawn(flotilla_hub::flux::run_flux(Arc::new(reconciler)));
    (server, client)
}

/// How many times each path was asked for.
pub(crate) type Served = Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>;

/// Serves the files of `root` over plain HTTP/1.1 (GET only, one request per
/// connection): a Helm chart repository is static files. Returns its base URL.
pub(crate) async fn serve_files(root: std::path::PathBuf) -> String {
    serve_counted(root, Served::default()).await
}

/// [`serve_files`], counting the requests per path in `served`.
pub(crate) async fn serve_counted(root: std::path::PathBuf, served: Served) -> String {
    serve_guarded(root, served, None).await
}

/// [`serve_counted`]; with `authorization`, a request without that exact header value
/// is answered 401.
pub(crate) async fn serve_guarded(
    root: std::path::PathBuf,
    served: Served,
    authorization: Option<&'static str>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer_file(
                stream,
                root.clone(),
                served.clone(),
                authorization,
            ));
        }
    });
    format!("http://{address}")
}

/// [`serve_files`] over HTTPS with `authority`'s server certificate (for `127.0.0.1`).
pub(crate) async fn serve_files_tls(
    root: std::path::PathBuf,
    authority: &kubesim::tls::Authority,
) -> String {
    serve_files_over(root, authority.acceptor()).await
}

/// [`serve_files_tls`] for clients presenting a certificate `authority` signed (mutual
/// TLS); others are refused in the handshake.
#[allow(dead_code)]
pub(crate) async fn serve_files_mutual_tls(
    root: std::path::PathBuf,
    authority: &kubesim::tls::Authority,
) -> String {
    serve_files_over(root, authority.mutual_acceptor().unwrap()).await
}

async fn serve_files_over(root: std::path::PathBuf, acceptor: kubesim::tls::TlsAcceptor) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, root) = (acceptor.clone(), root.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake.
                if let Ok(tls) = acceptor.accept(stream).await {
                    answer_file(tls, root, Served::default(), None).await;
                }
            });
        }
    });
    format!("https://{address}")
}

/// Answers one request on `stream` with the file of `root` its path names.
async fn answer_file<S>(
    mut stream: S,
    root: std::path::PathBuf,
    served: Served,
    authorization: Option<&'static str>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&request);
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    *served.lock().unwrap().entry(path.clone()).or_default() += 1;
    let file = root.join(path.trim_start_matches('/'));
    let allowed = authorization.is_none_or(|wanted| {
        line.lines()
            .any(|l| l.eq_ignore_ascii_case(&format!("authorization: {wanted}")))
    });
    let (status, body) = match std::fs::read(&file) {
        _ if !allowed => ("401 Unauthorized", b"who are you".to_vec()),
        Ok(body) if !path.contains("..") => ("200 OK", body),
        _ => ("404 Not Found", b"not found".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

/// Packages the chart directory `dir/<name>` as `dir/<name>-<version>.tgz` with `tar`,
/// returning the package's sha256 (what `helm repo index` writes as its digest).
pub(crate) fn package_chart(dir: &std::path::Path, name: &str, version: &str) -> String {
    let file = format!("{name}-{version}.tgz");
    let out = std::process::Command::new("tar")
        .current_dir(dir)
        .args(["czf", &file, name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    registry::sha256_hex(&std::fs::read(dir.join(&file)).unwrap())
}

/// The object `namespace/name` of `resource` on the hub, as JSON, if it exists.
pub(crate) async fn object_of(
    client: &Client,
    resource: &kube::api::ApiResource,
    namespace: &str,
    name: &str,
) -> Option<serde_json::Value> {
    let api: kube::Api<kube::api::DynamicObject> =
        kube::Api::namespaced_with(client.clone(), namespace, resource);
    api.get_opt(name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

/// A Flux object's status and the message of its `type_` condition, once that condition
/// has `status` and `reason`.
pub(crate) async fn condition_when(
    client: &Client,
    resource: &kube::api::ApiResource,
    (namespace, name): (&str, &str),
    type_: &str,
    status: &str,
    reason: &str,
) -> (serde_json::Value, String) {
    wait_for(&format!("{name} {type_}={status} {reason}"), async || {
        let s = object_of(client, resource, namespace, name).await?["status"].clone();
        let c = s["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)?
            .clone();
        (c["status"] == status && c["reason"] == reason).then(|| {
            (
                s.clone(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
    })
    .await
}
