//! HTTPS remotes signed by a repository's own CA: trusted through a Flux `secretRef`'s
//! `ca.crt` beside the platform's roots, or alone (Argo CD's `argocd-tls-certs-cm`);
//! refused otherwise, and never served from a mirror another trust filled.

use std::collections::BTreeMap;

use flotilla_source::{
    Access, Error, GitRef, GitRepository, GitRepositorySpec, Reference, ServerTrust,
};
use kubesim::tls::Authority;

use crate::support::{GitServer, WorkRepo, serve_tls};
use crate::{cache, request};

/// A repository `r.git` with one commit, served over HTTPS by a server whose certificate
/// `authority` signed; the server, its URL and the commit.
async fn https_repository(
    dir: &std::path::Path,
    authority: &Authority,
) -> (GitServer, String, String) {
    let work = WorkRepo::new(&dir.join("work"));
    let commit = work.commit(&[("deploy/a.yaml", "a: 1\n")], "c");
    let root = dir.join("served");
    work.publish(&root.join("r.git"));
    let server = GitServer::start_tls(&root, authority).await;
    let url = server.https_url("r.git");
    (server, url, commit)
}

fn checkout_request(url: &str, trust: ServerTrust) -> flotilla_source::Request {
    let mut r = request(url, Reference::Branch("main".into()));
    r.trust = trust;
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
    assert!(matches!(access.trust, ServerTrust::PlatformAnd(_)));
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
    assert_eq!(deprecated.trust, ServerTrust::PlatformAnd(pem.clone()));
    let both = Access::from_flux_secret(
        "ns/s",
        &data(&[("ca.crt", &pem), ("caFile", b"ignored: ca.crt wins")]),
    )
    .unwrap();
    assert_eq!(both.trust, ServerTrust::PlatformAnd(pem.clone()));
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
            .trust,
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
    assert_eq!(
        err,
        "secret ns/s: field \"tls.key\": TLS client certificates are not supported by this hub"
    );
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
    assert!(matches!(err, Error::Git(_)), "{err}");
    assert!(
        err.to_string()
            .contains("invalid peer certificate: BadSignature")
            && !err.to_string().contains("unreachable"),
        "{err}"
    );

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

    let err = helm_repo::index(&repo, None, &ServerTrust::Platform, timeout)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    let trust = ServerTrust::Only(authority.ca_pem().as_bytes().to_vec());
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
    let work = WorkRepo::new(&tmp.path().join("work"));
    let commit = work.commit(&[("deploy/a.yaml", "a: 1\n")], "c");
    let root = tmp.path().join("served");
    work.publish(&root.join("r.git"));
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
