//! HTTPS remotes signed by a repository's own CA: trusted through a Flux `secretRef`'s
//! `ca.crt` beside the platform's roots, or alone (Argo CD's `argocd-tls-certs-cm`);
//! refused otherwise, and never served from a mirror another trust filled. Servers that
//! demand a client certificate (mutual TLS) are shown the one the Secret holds.

use std::collections::BTreeMap;

use flotilla_source::{
    Access, ClientCertificate, Error, GitRef, GitRepository, GitRepositorySpec, Reference,
    ServerTrust, Tls,
};
use kubesim::tls::Authority;

use crate::support::{Clients, GitServer, WorkRepo, serve_tls, serve_tls_to};
use crate::{cache, request};

/// A bare repository `r.git` with one commit under `dir/served`; that root and the commit.
fn published_repository(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let work = WorkRepo::new(&dir.join("work"));
    let commit = work.commit(&[("deploy/a.yaml", "a: 1\n")], "c");
    let root = dir.join("served");
    work.publish(&root.join("r.git"));
    (root, commit)
}

/// [`published_repository`] served over HTTPS by a server whose certificate `authority`
/// signed; the server, its URL and the commit.
async fn https_repository(
    dir: &std::path::Path,
    authority: &Authority,
) -> (GitServer, String, String) {
    let (root, commit) = published_repository(dir);
    let server = GitServer::start_tls(&root, authority).await;
    let url = server.https_url("r.git");
    (server, url, commit)
}

/// `err` is a Git failure quoting `reason` from the handshake, not an unreachable host;
/// `context` names the case in the message.
#[track_caller]
fn assert_handshake_refused(err: &Error, reason: &str, context: &str) {
    let text = err.to_string();
    assert!(matches!(err, Error::Git(_)), "{context}: {text}");
    assert!(
        text.contains(reason) && !text.contains("unreachable"),
        "{context}: {text}"
    );
}

fn checkout_request(url: &str, tls: impl Into<Tls>) -> flotilla_source::Request {
    let mut r = request(url, Reference::Branch("main".into()));
    r.tls = tls.into();
    r
}

fn git_repository(url: &str) -> GitRepository {
    GitRepository {
        name: "flux-system/internal".into(),
        generation: 1,
        spec: GitRepositorySpec {
            url: url.into(),
            interval: "1m".into(),
            timeout: Some("20s".into()),
            reference: Some(GitRef {
                branch: "main".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        status: Default::default(),
    }
}

#[tokio::test]
async fn a_flux_secrets_ca_is_trusted_beside_the_platforms_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let authority = Authority::generate(None).unwrap();
    let (_server, url, commit) = https_repository(tmp.path(), &authority).await;
    let cache = cache(tmp.path());

    // No CA: the platform's roots do not know the server.
    let mut untrusted = git_repository(&url);
    let (_, checkout) = untrusted.reconcile(&cache, Access::default()).await;
    assert!(checkout.is_none());
    let ready = untrusted.ready().unwrap();
    assert_eq!(ready.status, "False");
    assert!(
        ready.message.contains("UnknownIssuer"),
        "the certificate is refused by name: {}",
        ready.message
    );

    let data = BTreeMap::from([("ca.crt".to_string(), authority.ca_pem().as_bytes().to_vec())]);
    let access = Access::from_flux_secret("flux-system/internal-ca", &data).unwrap();
    assert!(matches!(access.tls.server, ServerTrust::PlatformAnd(_)));
    let mut trusted = git_repository(&url);
    let (_, checkout) = trusted.reconcile(&cache, access).await;
    assert_eq!(checkout.expect("fetched over HTTPS").commit, commit);
    assert_eq!(trusted.ready().unwrap().status, "True");
}

#[test]
fn a_flux_secret_takes_ca_crt_before_ca_file_and_refuses_what_is_not_a_certificate() {
    let authority = Authority::generate(None).unwrap();
    let pem = authority.ca_pem().as_bytes().to_vec();
    let data = |pairs: &[(&str, &[u8])]| -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect()
    };
    let deprecated = Access::from_flux_secret("ns/s", &data(&[("caFile", &pem)])).unwrap();
    assert_eq!(deprecated.tls.server, ServerTrust::PlatformAnd(pem.clone()));
    let both = Access::from_flux_secret(
        "ns/s",
        &data(&[("ca.crt", &pem), ("caFile", b"ignored: ca.crt wins")]),
    )
    .unwrap();
    assert_eq!(both.tls.server, ServerTrust::PlatformAnd(pem.clone()));
    let with_basic = Access::from_flux_secret(
        "ns/s",
        &data(&[
            ("username", b"git"),
            ("password", b"token"),
            ("ca.crt", &pem),
        ]),
    )
    .unwrap();
    assert_eq!(
        with_basic.credentials.http_authorization().as_deref(),
        Some("Basic Z2l0OnRva2Vu"),
        "credentials are read beside the bundle"
    );
    assert_eq!(
        Access::from_flux_secret("ns/s", &data(&[("ca.crt", b"")]))
            .unwrap()
            .tls
            .server,
        ServerTrust::Platform,
        "an empty key is no bundle, as Flux reads it"
    );
    let err =
        Access::from_flux_secret("ns/s", &data(&[("ca.crt", b"-----BEGIN nonsense")])).unwrap_err();
    assert_eq!(
        err,
        "secret ns/s: field \"ca.crt\": invalid certificate: a PEM BEGIN line is malformed"
    );
    let err = Access::from_flux_secret("ns/s", &data(&[("ca.crt", b"just text\n")])).unwrap_err();
    assert_eq!(
        err,
        "secret ns/s: field \"ca.crt\": no PEM certificate found"
    );
    let err = Access::from_flux_secret("ns/s", &data(&[("ca.crt", &pem), ("tls.key", b"k")]))
        .unwrap_err();
    assert_eq!(err, "secret ns/s contains 'tls.key' but missing 'tls.crt'");
    let ssh = Access::from_flux_secret(
        "ns/s",
        &data(&[
            ("identity", b"key"),
            ("known_hosts", b"h"),
            ("tls.crt", b"ignored"),
        ]),
    );
    assert!(
        ssh.is_ok(),
        "an SSH secret's TLS keys are Flux's to ignore: {ssh:?}"
    );
}

#[tokio::test]
async fn only_the_named_certificates_are_trusted_when_they_stand_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let authority = Authority::generate(None).unwrap();
    let other = Authority::generate(None).unwrap();
    let (_server, url, commit) = https_repository(tmp.path(), &authority).await;
    let cache = cache(tmp.path());

    let err = cache
        .checkout(&checkout_request(
            &url,
            ServerTrust::Only(other.ca_pem().as_bytes().to_vec()),
        ))
        .await
        .unwrap_err();
    // Both CAs bear the same name, so the signature is what fails.
    assert_handshake_refused(&err, "invalid peer certificate: BadSignature", "");

    let found = cache
        .checkout(&checkout_request(
            &url,
            ServerTrust::Only(authority.ca_pem().as_bytes().to_vec()),
        ))
        .await
        .unwrap();
    assert_eq!(found.commit, commit);
}

/// A mirror filled under one trust is not read under another within the interval: a
/// tenant whose CA let a server in cannot hand what it fetched to one who would refuse
/// that server.
#[tokio::test]
async fn what_one_trust_fetched_is_not_served_under_another() {
    let tmp = tempfile::tempdir().unwrap();
    let authority = Authority::generate(None).unwrap();
    let (server, url, _) = https_repository(tmp.path(), &authority).await;
    let cache = cache(tmp.path());
    let trusted = ServerTrust::Only(authority.ca_pem().as_bytes().to_vec());
    cache
        .checkout(&checkout_request(&url, trusted.clone()))
        .await
        .unwrap();
    let served = server.counters.total();

    let err = cache
        .checkout(&checkout_request(&url, ServerTrust::Platform))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert!(
        server.counters.total() == served,
        "the refused handshake never reached the server"
    );
    // The trusted one still reads its own mirror without asking again.
    cache
        .checkout(&checkout_request(&url, trusted))
        .await
        .unwrap();
    assert_eq!(server.counters.total(), served);
}

/// Helm repositories and OCI registries are read under a trust too (Argo CD hands Helm
/// the host's `argocd-tls-certs-cm` certificates as its CA file).
#[tokio::test]
async fn a_helm_repository_over_https_is_read_under_its_trust() {
    use flotilla_source::helm_repo;
    let authority = Authority::generate(None).unwrap();
    let index = "apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 1.2.0\n    urls: [web-1.2.0.tgz]\n";
    let app = axum::Router::new().route(
        "/charts/index.yaml",
        axum::routing::get(move || async move { index }),
    );
    let (addr, _task) = serve_tls(app, &authority).await;
    let repo = format!("https://{addr}/charts");
    let timeout = std::time::Duration::from_secs(10);

    let err = helm_repo::index(&repo, None, &Tls::default(), timeout)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    let trust = ServerTrust::Only(authority.ca_pem().as_bytes().to_vec()).into();
    let charts = helm_repo::index(&repo, None, &trust, timeout)
        .await
        .unwrap();
    assert_eq!(charts["web"][0].version, "1.2.0");
}

/// A server without protocol v2 is fetched with the git CLI, which is handed the same
/// trust as a CA file: the platform's certificates and the bundle, or the bundle alone.
#[tokio::test]
async fn the_git_cli_is_handed_the_trust_as_its_ca_file() {
    let tmp = tempfile::tempdir().unwrap();
    let authority = Authority::generate(None).unwrap();
    let (root, commit) = published_repository(tmp.path());
    let server = GitServer::start_tls_v0(&root, &authority).await;
    let url = server.https_url("r.git");
    let pem = authority.ca_pem().as_bytes().to_vec();
    for (name, trust) in [
        ("only", ServerTrust::Only(pem.clone())),
        ("platform-and", ServerTrust::PlatformAnd(pem.clone())),
    ] {
        let cache = cache(&tmp.path().join(name));
        let found = cache
            .checkout(&checkout_request(&url, trust))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(found.commit, commit, "{name}");
    }
    let other = Authority::generate(None).unwrap();
    let err = cache(&tmp.path().join("other"))
        .checkout(&checkout_request(
            &url,
            ServerTrust::Only(other.ca_pem().as_bytes().to_vec()),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Git(_)), "{err}");
}

/// A Flux Secret's `tls.crt`, `tls.key` and `ca.crt` for a client `authority` signed.
fn mutual_secret(authority: &Authority, client: &str) -> BTreeMap<String, Vec<u8>> {
    let (certificate, key) = authority.client_certificate(client).unwrap();
    BTreeMap::from([
        ("ca.crt".to_string(), authority.ca_pem().as_bytes().to_vec()),
        ("tls.crt".to_string(), certificate.into_bytes()),
        ("tls.key".to_string(), key.into_bytes()),
    ])
}

/// A server that demands a client certificate refuses the handshake without one (a
/// failure naming the alert, not an unreachable host) and serves the repository to the
/// holder of the Secret's, over smart HTTP (protocol v2) and through the git CLI
/// (protocol v0), which is handed the pair as `GIT_SSL_CERT` and `GIT_SSL_KEY`.
#[tokio::test]
async fn a_server_demanding_a_client_certificate_is_shown_the_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let authority = Authority::generate(None).unwrap();
    let (root, commit) = published_repository(tmp.path());
    let access =
        Access::from_flux_secret("flux-system/mtls", &mutual_secret(&authority, "flux")).unwrap();
    assert!(access.tls.client.is_some());
    let ca_only = Tls::from(ServerTrust::PlatformAnd(
        authority.ca_pem().as_bytes().to_vec(),
    ));
    for (name, v2) in [("smart-http", true), ("git-cli", false)] {
        let server = GitServer::start_mutual_tls(&root, &authority, v2).await;
        let url = server.https_url("r.git");
        let err = cache(&tmp.path().join(format!("{name}-without")))
            .checkout(&checkout_request(&url, ca_only.clone()))
            .await
            .unwrap_err();
        // TLS 1.3: the refusal arrives as the alert or as the connection being closed.
        let text = err.to_string();
        let reason = if text.contains("connection was not ready") {
            "connection was not ready"
        } else {
            "received fatal alert: CertificateRequired"
        };
        assert_handshake_refused(&err, reason, name);
        let found = cache(&tmp.path().join(name))
            .checkout(&checkout_request(&url, access.tls.clone()))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(found.commit, commit, "{name}");
    }
}

/// A certificate from another CA is refused by the server as no certificate is.
#[tokio::test]
async fn a_client_certificate_the_server_does_not_know_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let authority = Authority::generate(None).unwrap();
    let (root, _) = published_repository(tmp.path());
    let server = GitServer::start_mutual_tls(&root, &authority, true).await;
    let url = server.https_url("r.git");
    let stranger = Authority::generate(None).unwrap();
    let (certificate, key) = stranger.client_certificate("stranger").unwrap();
    let tls = Tls {
        server: ServerTrust::Only(authority.ca_pem().as_bytes().to_vec()),
        client: Some(ClientCertificate::new(certificate.into(), key.into(), "pair").unwrap()),
    };
    let err = cache(tmp.path())
        .checkout(&checkout_request(&url, tls))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Git(_)), "{err}");
}

/// A mirror filled with one client certificate is not read without it, as a mirror
/// filled under one trust is not read under another.
#[tokio::test]
async fn what_one_client_certificate_fetched_is_not_served_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let authority = Authority::generate(None).unwrap();
    let (root, _) = published_repository(tmp.path());
    let server = GitServer::start_mutual_tls(&root, &authority, true).await;
    let url = server.https_url("r.git");
    let cache = cache(tmp.path());
    let access =
        Access::from_flux_secret("ns/mtls", &mutual_secret(&authority, "tenant-a")).unwrap();
    cache
        .checkout(&checkout_request(&url, access.tls.clone()))
        .await
        .unwrap();
    let without = Tls::from(access.tls.server.clone());
    assert!(
        cache
            .checkout(&checkout_request(&url, without))
            .await
            .is_err()
    );
    let other =
        Access::from_flux_secret("ns/mtls", &mutual_secret(&authority, "tenant-b")).unwrap();
    assert_ne!(other.tls.fingerprint(), access.tls.fingerprint());
}

#[test]
fn a_flux_secrets_client_certificate_is_read_whole_or_refused_by_name() {
    let authority = Authority::generate(None).unwrap();
    let data = mutual_secret(&authority, "flux");
    let only = |keys: &[&str]| -> BTreeMap<String, Vec<u8>> {
        data.iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let read = |data: &BTreeMap<String, Vec<u8>>| Access::from_flux_secret("ns/s", data);
    assert!(
        read(&only(&["tls.crt", "tls.key"]))
            .unwrap()
            .tls
            .client
            .is_some()
    );
    assert_eq!(
        read(&only(&["tls.crt", "ca.crt"])).unwrap_err(),
        "secret ns/s contains 'tls.crt' but missing 'tls.key'"
    );
    let (_, other_key) = authority.client_certificate("other").unwrap();
    let mut mismatched = only(&["tls.crt"]);
    mismatched.insert("tls.key".into(), other_key.into_bytes());
    assert_eq!(
        read(&mismatched).unwrap_err(),
        "secret ns/s: fields \"tls.crt\" and \"tls.key\": the private key does not match the certificate's public key"
    );
    let mut garbled = only(&["tls.crt"]);
    garbled.insert("tls.key".into(), b"not a key\n".to_vec());
    let err = read(&garbled).unwrap_err();
    assert_eq!(
        err,
        "secret ns/s: fields \"tls.crt\" and \"tls.key\": invalid private key: no PEM private key found"
    );
    // A GitRepository Secret has no legacy names: `certFile`/`keyFile` are not read.
    let mut legacy = BTreeMap::new();
    legacy.insert("certFile".to_string(), data["tls.crt"].clone());
    legacy.insert("keyFile".to_string(), data["tls.key"].clone());
    assert!(read(&legacy).unwrap().tls.client.is_none());
    assert!(
        ClientCertificate::flux(&legacy, "ns/s", true)
            .unwrap()
            .is_some(),
        "a certSecretRef reads them"
    );
    let shown = format!("{:?}", read(&data).unwrap());
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

/// Argo CD's `insecure: "true"`: a server no trust knows is read without verifying its
/// certificate, under its own mirror.
#[tokio::test]
async fn an_unverified_trust_reads_any_server() {
    let tmp = tempfile::tempdir().unwrap();
    let authority = Authority::generate(None).unwrap();
    let (_server, url, commit) = https_repository(tmp.path(), &authority).await;
    let cache = cache(tmp.path());
    let found = cache
        .checkout(&checkout_request(&url, ServerTrust::Unverified))
        .await
        .unwrap();
    assert_eq!(found.commit, commit);
    assert_ne!(ServerTrust::Unverified.fingerprint(), "");
    let err = cache
        .checkout(&checkout_request(&url, ServerTrust::Platform))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

/// A Helm repository that demands a client certificate is read with one.
#[tokio::test]
async fn a_helm_repository_demanding_a_client_certificate_is_read_with_one() {
    use flotilla_source::helm_repo;
    let authority = Authority::generate(None).unwrap();
    let index = "apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 1.2.0\n    urls: [web-1.2.0.tgz]\n";
    let app = axum::Router::new().route(
        "/charts/index.yaml",
        axum::routing::get(move || async move { index }),
    );
    let (addr, _task) = serve_tls_to(app, &authority, Clients::Certified).await;
    let repo = format!("https://{addr}/charts");
    let timeout = std::time::Duration::from_secs(10);
    let server = ServerTrust::Only(authority.ca_pem().as_bytes().to_vec());
    let err = helm_repo::index(&repo, None, &Tls::from(server.clone()), timeout)
        .await
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    let (certificate, key) = authority.client_certificate("helm").unwrap();
    let tls = Tls {
        server,
        client: Some(ClientCertificate::new(certificate.into(), key.into(), "pair").unwrap()),
    };
    let charts = helm_repo::index(&repo, None, &tls, timeout).await.unwrap();
    assert_eq!(charts["web"][0].version, "1.2.0");
}

/// Flux OCIRepository's `insecure` (go-containerregistry's `name.Insecure`): a registry is
/// tried over HTTPS without verifying its certificate, then over plain HTTP; without the
/// fallback a plain HTTP registry is not reached over HTTPS.
#[tokio::test]
async fn an_insecure_registry_is_tried_over_https_then_http() {
    use flotilla_source::oci;
    let registry = || {
        axum::Router::new().route(
            "/v2/charts/web/tags/list",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({"name": "charts/web", "tags": ["1.0.0"]}))
            }),
        )
    };
    let authority = Authority::generate(None).unwrap();
    let (https, _https_task) = serve_tls(registry(), &authority).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    let _http_task = tokio::spawn(async move { axum::serve(listener, registry()).await });
    let timeout = std::time::Duration::from_secs(10);
    let insecure = oci::Access {
        http_fallback: true,
        tls: ServerTrust::Unverified.into(),
        ..Default::default()
    };
    for addr in [https, http] {
        let reference =
            oci::RepositoryReference::from_oci_url(&format!("oci://{addr}/charts/web")).unwrap();
        let tags = oci::tags(&reference, &insecure, timeout).await.unwrap();
        assert_eq!(tags, ["1.0.0"], "{addr}");
    }
    let reference =
        oci::RepositoryReference::from_oci_url(&format!("oci://{http}/charts/web")).unwrap();
    let err = oci::tags(&reference, &oci::Access::default(), timeout)
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("over HTTP"), "{err}");
}
