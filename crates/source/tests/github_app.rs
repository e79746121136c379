//! GitHub App credentials: the JWT is what `openssl` verifies with the App's public key
//! (RS256 over `header.claims`, the claims ghinstallation sets), and an installation
//! token is bought from a stand-in of GitHub's documented App API — the installation
//! found from the organization when the credentials do not name it — and kept until
//! it nears its expiry.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use flotilla_source::github_app::{self, GitHubApp};
use serde_json::{Value, json};

/// A fresh RSA key from openssl, as PKCS#1 PEM (what GitHub hands out), and its public
/// half's file.
fn app_key(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let private = dir.join("app.pem");
    let public = dir.join("app.pub.pem");
    let status = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(&private)
        .arg("2048")
        .output()
        .expect("openssl");
    assert!(status.status.success(), "{status:?}");
    let status = Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    (std::fs::read_to_string(&private).unwrap(), public)
}

fn app(private_key: String, installation_id: i64) -> GitHubApp {
    GitHubApp::from_secret_data([
        ("githubAppID", b"12345".as_slice()),
        (
            "githubAppInstallationID",
            installation_id.to_string().as_bytes(),
        ),
        ("githubAppPrivateKey", private_key.as_bytes()),
    ])
    .unwrap()
    .unwrap()
}

#[test]
fn the_jwt_is_signed_with_the_apps_key_as_openssl_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (private_key, public) = app_key(dir.path());
    let jwt = app(private_key, 7).jwt(1_700_000_000).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |p: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap()
    };
    let header: Value = serde_json::from_slice(&decode(parts[0])).unwrap();
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT"}));
    let claims: Value = serde_json::from_slice(&decode(parts[1])).unwrap();
    assert_eq!(
        claims,
        json!({"iat": 1_699_999_970, "exp": 1_700_000_090, "iss": "12345"})
    );
    let signed = dir.path().join("signed");
    let signature = dir.path().join("signature");
    std::fs::write(&signed, format!("{}.{}", parts[0], parts[1])).unwrap();
    std::fs::write(&signature, decode(parts[2])).unwrap();
    let verified = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(&signature)
        .arg(&signed)
        .output()
        .unwrap();
    assert!(verified.status.success(), "{verified:?}");
    // A key that is not a PEM RSA key is refused without being echoed.
    let error = app(
        "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n".into(),
        7,
    )
    .jwt(1)
    .unwrap_err();
    assert_eq!(
        error,
        "could not parse private key: Invalid Key: Key must be a PEM encoded PKCS1 or PKCS8 key"
    );
}

#[test]
fn secrets_without_a_private_key_name_no_app_and_bad_ids_are_named() {
    assert!(
        GitHubApp::from_secret_data([("githubAppID", b"1".as_slice())])
            .unwrap()
            .is_none()
    );
    let error = GitHubApp::from_secret_data([
        ("githubAppID", b"one".as_slice()),
        ("githubAppPrivateKey", b"k".as_slice()),
    ])
    .unwrap_err();
    assert_eq!(error, "failed to parse githubAppID \"one\": not an integer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installation_tokens_come_from_the_app_api_and_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (private_key, _) = app_key(dir.path());
    let minted = Arc::new(AtomicUsize::new(0));
    let counted = minted.clone();
    let bearer_jwt = |headers: &axum::http::HeaderMap| {
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|jwt| jwt.split('.').count() == 3)
    };
    let router = axum::Router::new()
        .route(
            "/orgs/acme/installation",
            axum::routing::get(move |headers: axum::http::HeaderMap| async move {
                assert!(bearer_jwt(&headers), "the App's JWT");
                axum::Json(json!({"id": 99, "app_id": 12345}))
            }),
        )
        .route(
            "/app/installations/99/access_tokens",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let counted = counted.clone();
                async move {
                    assert!(bearer_jwt(&headers), "the App's JWT");
                    counted.fetch_add(1, Ordering::SeqCst);
                    (
                        axum::http::StatusCode::CREATED,
                        axum::Json(json!({"token": "ghs_installation", "expires_at": "2099-01-01T00:00:00Z"})),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let discovered = app(private_key.clone(), 0);
    let timeout = Duration::from_secs(10);
    for _ in 0..2 {
        let token = github_app::installation_token(&discovered, &api, "acme", timeout)
            .await
            .unwrap();
        assert_eq!(token, "ghs_installation");
    }
    assert_eq!(
        minted.load(Ordering::SeqCst),
        1,
        "the token is kept until it nears expiry"
    );
    // An installation the App API does not know fails in ghinstallation's words.
    let unknown = app(private_key, 5);
    let error = github_app::installation_token(&unknown, &api, "acme", timeout)
        .await
        .unwrap_err();
    assert!(
        error.starts_with(
            "could not refresh installation id 5's token: received non 2xx response status 404"
        ),
        "{error}"
    );
}
