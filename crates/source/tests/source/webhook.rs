//! Webhooks: a valid push makes the next request check the remote at once; a bad
//! signature gets 401 and changes nothing.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use flotilla_source::webhook::{Provider, Receiver, router};
use flotilla_source::{MirrorCache, Reference, Request};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt as _;
use sha2::Sha256;
use tower::ServiceExt as _;

use crate::support::{GitServer, WorkRepo};
use crate::{cache, request};

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn receiver(provider: Provider, repositories: Vec<String>) -> Receiver {
    Receiver {
        name: "push".into(),
        provider,
        secret: "hook-secret".into(),
        repositories,
    }
}

async fn post(
    app: &axum::Router,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String) {
    let mut req = HttpRequest::post(path).header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

type Headers<'a> = Vec<(&'a str, String)>;

struct Fixture {
    _tmp: tempfile::TempDir,
    work: WorkRepo,
    bare: std::path::PathBuf,
    server: GitServer,
    cache: MirrorCache,
    req: Request,
}

async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    work.commit(&[("a.yaml", "a: 1\n")], "one");
    let served = tmp.path().join("served");
    let bare = served.join("team/app.git");
    work.publish(&bare);
    let server = GitServer::start(&served, None).await;
    let cache = cache(tmp.path());
    let mut req = request(
        &server.url("team/app.git"),
        Reference::Branch("main".into()),
    );
    req.interval = Duration::from_secs(3600);
    cache.checkout(&req).await.unwrap();
    Fixture {
        _tmp: tmp,
        work,
        bare,
        server,
        cache,
        req,
    }
}

#[tokio::test]
async fn github_push_triggers_an_immediate_check_and_bad_signatures_get_401() {
    let f = fixture().await;
    let second = f.work.commit(&[("a.yaml", "a: 2\n")], "two");
    f.work.publish(&f.bare);
    let mut events = f.cache.subscribe();
    let hook = receiver(Provider::GitHub, vec![]);
    let app = router(f.cache.clone(), vec![hook.clone()]);
    let payload = serde_json::json!({
        "ref": "refs/heads/main",
        "repository": {"clone_url": f.req.url, "ssh_url": "git@127.0.0.1:team/app.git"}
    })
    .to_string();
    let checks = f.cache.stats().remote_checks;

    // Bad signature, missing signature, unknown receiver: nothing happens.
    let bad = format!("sha256={}", sign("wrong", payload.as_bytes()));
    let (status, _) = post(
        &app,
        &hook.path(),
        &[("x-hub-signature-256", &bad), ("x-github-event", "push")],
        &payload,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&app, &hook.path(), &[("x-github-event", "push")], &payload).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&app, "/hook/0000", &[], &payload).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let co = f.cache.checkout(&f.req).await.unwrap();
    assert_ne!(co.commit, second, "still the cached commit");
    assert_eq!(f.cache.stats().remote_checks, checks);

    // Valid: the next request checks the remote and sees the push.
    let good = format!("sha256={}", sign("hook-secret", payload.as_bytes()));
    let (status, body) = post(
        &app,
        &hook.path(),
        &[("x-hub-signature-256", &good), ("x-github-event", "push")],
        &payload,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("127.0.0.1/team/app"), "{body}");
    assert_eq!(events.try_recv().unwrap(), "127.0.0.1/team/app");
    let co = f.cache.checkout(&f.req).await.unwrap();
    assert_eq!(co.commit, second);
    assert_eq!(f.cache.stats().remote_checks, checks + 1);
    let requests = f.server.counters.total();
    f.cache.checkout(&f.req).await.unwrap();
    assert_eq!(f.server.counters.total(), requests, "back to the interval");

    // A GitHub ping is answered and triggers nothing.
    let (status, body) = post(
        &app,
        &hook.path(),
        &[("x-hub-signature-256", &good), ("x-github-event", "ping")],
        &payload,
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "pong\n"));

    // A big push (a monorepo's many files: GitHub sends up to 25 MB) is read.
    let big = serde_json::json!({
        "ref": "refs/heads/main",
        "repository": {"clone_url": f.req.url},
        "commits": [{"modified": vec!["deploy/values.yaml"; 150_000]}],
    })
    .to_string();
    assert!(big.len() > 3 << 20, "{}", big.len());
    let signed = format!("sha256={}", sign("hook-secret", big.as_bytes()));
    let (status, body) = post(
        &app,
        &hook.path(),
        &[("x-hub-signature-256", &signed), ("x-github-event", "push")],
        &big,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(events.try_recv().unwrap(), "127.0.0.1/team/app");

    // An oversized delivery is refused before its signature is even computed.
    let huge = "x".repeat(flotilla_source::webhook::MAX_PAYLOAD_BYTES + 1);
    let signed = format!("sha256={}", sign("hook-secret", huge.as_bytes()));
    let checks = f.cache.stats().remote_checks;
    let (status, _) = post(
        &app,
        &hook.path(),
        &[("x-hub-signature-256", &signed), ("x-github-event", "push")],
        &huge,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(events.try_recv().is_err(), "nothing triggered");
    assert_eq!(f.cache.stats().remote_checks, checks);
}

#[tokio::test]
async fn gitlab_gitea_bitbucket_and_generic_receivers() {
    let f = fixture().await;
    let gitlab_payload = serde_json::json!({"project": {"git_http_url": f.req.url}}).to_string();
    let gitea_payload = serde_json::json!({"repository": {"clone_url": f.req.url}}).to_string();
    let bb_payload =
        serde_json::json!({"repository": {"links": {"clone": [{"href": f.req.url}]}}}).to_string();
    let generic = receiver(Provider::Generic, vec![f.req.url.clone()]);
    let generic_hmac = Receiver {
        name: "hmac".into(),
        ..receiver(Provider::GenericHmac, vec![f.req.url.clone()])
    };
    let gitlab = Receiver {
        name: "gl".into(),
        ..receiver(Provider::GitLab, vec![])
    };
    let gitea = Receiver {
        name: "gt".into(),
        ..receiver(Provider::Gitea, vec![])
    };
    let bitbucket = Receiver {
        name: "bb".into(),
        ..receiver(Provider::Bitbucket, vec![])
    };
    let app = router(
        f.cache.clone(),
        vec![
            generic.clone(),
            generic_hmac.clone(),
            gitlab.clone(),
            gitea.clone(),
            bitbucket.clone(),
        ],
    );
    /// Receiver, good headers, bad headers, body.
    type Case<'a> = (&'a Receiver, Headers<'a>, Headers<'a>, &'a str);
    let cases: Vec<Case> = vec![
        (
            &gitlab,
            vec![("x-gitlab-token", "hook-secret".into())],
            vec![("x-gitlab-token", "nope".into())],
            &gitlab_payload,
        ),
        (
            &gitea,
            vec![(
                "x-gitea-signature",
                sign("hook-secret", gitea_payload.as_bytes()),
            )],
            vec![("x-gitea-signature", sign("nope", gitea_payload.as_bytes()))],
            &gitea_payload,
        ),
        (
            &bitbucket,
            vec![(
                "x-hub-signature",
                format!("sha256={}", sign("hook-secret", bb_payload.as_bytes())),
            )],
            vec![("x-hub-signature", "sha256=zz".into())],
            &bb_payload,
        ),
        (
            &generic_hmac,
            vec![(
                "x-signature",
                format!("sha256={}", sign("hook-secret", b"{}")),
            )],
            vec![(
                "x-signature",
                format!("sha256={}", sign("hook-secret", b"{ }")),
            )],
            "{}",
        ),
    ];
    for (hook, good, bad, body) in cases {
        let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _) = post(&app, &hook.path(), &bad, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{hook:?}");
        let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, text) = post(&app, &hook.path(), &good, body).await;
        assert_eq!(status, StatusCode::OK, "{hook:?}: {text}");
        assert!(text.contains("127.0.0.1/team/app"), "{hook:?}: {text}");
    }
    // The generic receiver's proof is its path.
    let (status, text) = post(&app, &generic.path(), &[], "").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("127.0.0.1/team/app"), "{text}");
}

/// A captured delivery replayed a thousand times triggers once (its delivery id was
/// accepted before), and a burst of distinct pushes arriving before any check began
/// tells subscribers once: one remote check answers them all. A push arriving after
/// that check is told again and checked again.
#[tokio::test]
async fn replayed_and_piled_up_deliveries_make_one_check() {
    let f = fixture().await;
    let second = f.work.commit(&[("a.yaml", "a: 2\n")], "two");
    f.work.publish(&f.bare);
    let mut events = f.cache.subscribe();
    let hook = receiver(Provider::GitHub, vec![]);
    let app = router(f.cache.clone(), vec![hook.clone()]);
    let payload = serde_json::json!({
        "ref": "refs/heads/main",
        "repository": {"clone_url": f.req.url}
    })
    .to_string();
    let signature = format!("sha256={}", sign("hook-secret", payload.as_bytes()));
    let deliver = async |id: &str| {
        post(
            &app,
            &hook.path(),
            &[
                ("x-hub-signature-256", &signature),
                ("x-github-event", "push"),
                ("x-github-delivery", id),
            ],
            &payload,
        )
        .await
    };
    let checks = f.cache.stats().remote_checks;
    let (status, body) = deliver("delivery-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("127.0.0.1/team/app"), "{body}");
    for _ in 0..1000 {
        let (status, body) = deliver("delivery-1").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"duplicate\":\"delivery-1\""), "{body}");
    }
    for i in 2..50 {
        let (status, _) = deliver(&format!("delivery-{i}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(events.try_recv().unwrap(), "127.0.0.1/team/app");
    assert!(events.try_recv().is_err(), "told once");
    let co = f.cache.checkout(&f.req).await.unwrap();
    assert_eq!(co.commit, second);
    f.cache.checkout(&f.req).await.unwrap();
    assert_eq!(
        f.cache.stats().remote_checks,
        checks + 1,
        "one check for all"
    );

    let third = f.work.commit(&[("a.yaml", "a: 3\n")], "three");
    f.work.publish(&f.bare);
    let (status, _) = deliver("delivery-50").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events.try_recv().unwrap(), "127.0.0.1/team/app");
    let co = f.cache.checkout(&f.req).await.unwrap();
    assert_eq!(co.commit, third);
    assert_eq!(f.cache.stats().remote_checks, checks + 2);
}

/// Paths no receiver here serves go to the router given for them (the hub's Flux
/// Receivers), method, path, query, headers and body intact; a receiver's own path stays
/// its own.
#[tokio::test]
async fn unknown_paths_are_handed_to_the_other_router() {
    use axum::extract::OriginalUri;
    use axum::http::{HeaderMap, Method};
    let f = fixture().await;
    let hook = receiver(Provider::Generic, vec![]);
    let others =
        axum::Router::new().route(
            "/hook/{digest}",
            axum::routing::any(
                |method: Method,
                 OriginalUri(uri): OriginalUri,
                 headers: HeaderMap,
                 body: String| async move {
                    format!(
                        "{method} {uri} {} {body}",
                        headers
                            .get("x-gitlab-token")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                    )
                },
            ),
        );
    let app =
        flotilla_source::webhook::router_with(f.cache.clone(), vec![hook.clone()], Some(others));
    let (status, body) = post(&app, "/hook/0000?x=1", &[("x-gitlab-token", "t")], "{}").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "POST /hook/0000?x=1 t {}");
    let (status, body) = post(&app, &hook.path(), &[], "{}").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("triggered"), "{body}");
    let (status, _) = post(
        &router(f.cache.clone(), vec![hook]),
        "/hook/0000",
        &[],
        "{}",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
