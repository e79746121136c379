//! The egress policy on real connections: a tenant's URL aimed at the cloud metadata
//! address — directly, by a name, or through a redirect from an allowed server — is
//! refused before any connection, and a Git server denied by address gets no request.
//! Its own test binary, because the policy is the whole process's.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flotilla_source::egress::{self, Denied, EgressPolicy};
use flotilla_source::{CacheOptions, MirrorCache, Reference, Request};

use support::{GitServer, WorkRepo};

const METADATA_REFUSED: &str = "the egress policy refuses 169.254.169.254 (169.254.169.254:80: link-local addresses (cloud instance metadata) are never reached)";

/// A server on 127.0.0.1 that answers every request with a redirect to `location`,
/// counting them.
fn redirecting_to(location: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (base, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_urls_cannot_reach_metadata_or_denied_servers() {
    let limit = 1 << 20;
    let timeout = Duration::from_secs(10);

    // The metadata address itself, in its usual and its IPv4-mapped spelling.
    let error = flotilla_source::helm_repo::fetch(
        "http://169.254.169.254/latest/meta-data/iam/",
        None,
        &flotilla_source::Tls::default(),
        limit,
        timeout,
    )
    .await
    .unwrap_err();
    assert!(error.contains(METADATA_REFUSED), "{error}");
    let error = flotilla_source::helm_repo::fetch(
        "http://[::ffff:169.254.169.254]/latest/",
        None,
        &flotilla_source::Tls::default(),
        limit,
        timeout,
    )
    .await
    .unwrap_err();
    assert!(error.contains("the egress policy refuses"), "{error}");

    // An allowed server that redirects there: the redirect is not followed into it.
    let (base, asked) = redirecting_to("http://169.254.169.254/latest/meta-data/");
    let error = flotilla_source::helm_repo::fetch(
        &format!("{base}/index.yaml"),
        None,
        &flotilla_source::Tls::default(),
        limit,
        timeout,
    )
    .await
    .unwrap_err();
    assert!(error.contains(METADATA_REFUSED), "{error}");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the allowed server was asked"
    );

    // A Git server denied by address and port (as the hub's own API is): no request
    // reaches it; allowed again, the same checkout works.
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    let commit = work.commit(&[("app/cm.yaml", "v: 1\n")], "first");
    work.publish(&tmp.path().join("served/app.git"));
    let server = GitServer::start(&tmp.path().join("served"), None).await;
    let cache = MirrorCache::new(CacheOptions::new(tmp.path().join("cache"))).unwrap();
    let mut request = Request::new(server.url("app.git"), Reference::Branch("main".into()));
    request.timeout = Duration::from_secs(20);
    request.interval = Duration::ZERO;
    egress::set_policy(EgressPolicy::with([Denied::parse(
        &server.addr.to_string(),
    )
    .unwrap()]));
    let refused = cache.checkout(&request).await.unwrap_err().to_string();
    assert!(
        refused.contains(&format!(
            "the egress policy refuses 127.0.0.1 ({}: denied by --egress-deny {})",
            server.addr, server.addr
        )),
        "{refused}"
    );
    assert_eq!(
        server.counters.total(),
        0,
        "nothing reached the denied server"
    );
    egress::set_policy(EgressPolicy::default());
    let checkout = cache.checkout(&request).await.unwrap();
    assert_eq!(checkout.commit, commit);
}
