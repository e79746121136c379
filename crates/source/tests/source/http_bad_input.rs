//! What the in-process smart-HTTP client does with servers that misbehave or are not
//! git servers: a pack over the size limit (refused while it streams), a plain web
//! server, a 404, redirects (followed for anonymous access as git does, refused with
//! credentials so they never travel to another host).

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use flotilla_source::{Credentials, Error, GitError, Reference};

use crate::support::{GitServer, WorkRepo};
use crate::{cache, over_the_repo_limit, request};

/// Serves `router` on a free local port; returns its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_http_pack_over_the_size_limit_is_refused_while_it_streams() {
    let tmp = tempfile::tempdir().unwrap();
    let noise = crate::support::incompressible(200_000);
    let work = WorkRepo::new(&tmp.path().join("work"));
    work.commit(&[("big.txt", &noise)], "c");
    let served = tmp.path().join("served");
    work.publish(&served.join("big.git"));
    let server = GitServer::start(&served, None).await;
    let url = server.url("big.git");
    let (limited, err) = over_the_repo_limit(tmp.path(), &url, 50_000).await;
    assert!(
        matches!(err, Error::TooLarge { limit: 50_000, size, .. } if size > 50_000 && size < 200_000),
        "stopped soon after the limit, not after the whole pack: {err:?}"
    );
    let pack_dir = limited
        .mirror_dir(&url, &Credentials::None)
        .unwrap()
        .join("objects/pack");
    let packs = std::fs::read_dir(&pack_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(packs, 0, "nothing of the pack was kept");
}

#[tokio::test]
async fn a_web_server_that_does_not_speak_smart_http_gets_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let router = axum::Router::new()
        .route(
            "/dumb.git/info/refs",
            axum::routing::get(|| async {
                ([(header::CONTENT_TYPE, "text/plain")], "1111\tHEAD\n")
            }),
        )
        .fallback(|| async { StatusCode::NOT_FOUND });
    let base = serve(router).await;
    let cache = cache(tmp.path());
    let err = cache
        .checkout(&request(
            &format!("{base}/dumb.git"),
            Reference::Branch("main".into()),
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not speak git's smart HTTP protocol"),
        "{err}"
    );
    let err = cache
        .checkout(&request(
            &format!("{base}/missing.git"),
            Reference::Branch("main".into()),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Git(GitError::RepositoryNotFound { .. })),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("fetch '{base}/missing.git': repository not found")
    );
}

#[tokio::test]
async fn redirects_are_followed_anonymously_and_refused_with_credentials() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    let commit = work.commit(&[("a.yaml", "a: 1\n")], "c");
    let served = tmp.path().join("served");
    work.publish(&served.join("new-name.git"));
    let server = GitServer::start(&served, None).await;
    let target = server.url("new-name.git");
    // A renamed project: the old path answers its first request with a redirect.
    let router = axum::Router::new().route(
        "/old-name.git/info/refs",
        axum::routing::get(move || {
            let target = target.clone();
            async move {
                (
                    StatusCode::MOVED_PERMANENTLY,
                    [(
                        header::LOCATION,
                        format!("{target}/info/refs?service=git-upload-pack"),
                    )],
                )
                    .into_response()
            }
        }),
    );
    let base = serve(router).await;
    let old = format!("{base}/old-name.git");
    let cache = cache(tmp.path());

    let co = cache
        .checkout(&request(&old, Reference::Branch("main".into())))
        .await
        .unwrap();
    assert_eq!(co.commit, commit);

    let mut req = request(&old, Reference::Branch("main".into()));
    req.credentials = Credentials::Bearer {
        token: "tok-secret-93".into(),
    };
    let err = cache.checkout(&req).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("redirects are not followed with credentials"),
        "{text}"
    );
    assert!(!text.contains("tok-secret-93"), "{text}");
}

#[tokio::test]
async fn a_mirror_missing_the_bases_of_a_thin_pack_is_cloned_again() {
    let tmp = tempfile::tempdir().unwrap();
    let big = crate::support::incompressible(100_000);
    let work = WorkRepo::new(&tmp.path().join("work"));
    work.commit(&[("big.txt", &big), ("v.txt", "1\n")], "first");
    let served = tmp.path().join("served");
    work.publish(&served.join("app.git"));
    let server = GitServer::start(&served, None).await;
    let url = server.url("app.git");
    let cache = cache(tmp.path());
    let mut req = request(&url, Reference::Branch("main".into()));
    req.interval = std::time::Duration::ZERO;
    cache.checkout(&req).await.unwrap();

    // The mirror loses its objects but keeps its refs: its `have`s now promise objects
    // a thin pack would lean on.
    let mirror = cache.mirror_dir(&url, &Credentials::None).unwrap();
    for entry in std::fs::read_dir(mirror.join("objects/pack")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let second = work.commit(&[("v.txt", "2\n")], "second");
    work.publish(&served.join("app.git"));
    let co = cache.checkout(&req).await.unwrap();
    assert_eq!(co.commit, second);
    assert_eq!(co.snapshot.read("big.txt").unwrap(), big.as_bytes());
    assert_eq!(co.snapshot.read("v.txt").unwrap(), b"2\n");
    assert_eq!(cache.stats().reclones, 1);
}
