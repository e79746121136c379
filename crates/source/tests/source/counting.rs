//! 1,000 consumers of 10 repositories: exactly 10 remote checks per interval, counted
//! at the server (a new mirror's first fetch is its check); an unchanged remote costs
//! one request and no fetch.

use std::time::{Duration, Instant};

use flotilla_source::Reference;

use crate::support::{GitServer, WorkRepo, git};
use crate::{cache, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_consumers_of_ten_repositories_cost_ten_checks_per_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    let mut commits = Vec::new();
    for r in 0..10 {
        let work = WorkRepo::new(&tmp.path().join(format!("work-{r}")));
        commits.push(work.commit(&[("app/cm.yaml", &format!("repo: {r}\n"))], "c"));
        work.publish(&served.join(format!("r{r}.git")));
    }
    let server = GitServer::start(&served, None).await;
    let cache = cache(tmp.path());
    let round = |cache: flotilla_source::MirrorCache, interval: Duration| {
        let urls: Vec<String> = (0..10).map(|r| server.url(&format!("r{r}.git"))).collect();
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for consumer in 0..1000 {
                let mut req = request(&urls[consumer % 10], Reference::Branch("main".into()));
                req.interval = interval;
                let cache = cache.clone();
                tasks.spawn(async move { cache.checkout(&req).await.map(|c| c.commit) });
            }
            let mut got = Vec::new();
            while let Some(r) = tasks.join_next().await {
                got.push(r.unwrap().unwrap());
            }
            got
        }
    };

    let long = Duration::from_secs(3600);
    let got = round(cache.clone(), long).await;
    let checked = Instant::now();
    assert_eq!(got.len(), 1000);
    assert!(got.iter().all(|c| commits.contains(c)));
    // A new mirror's fetch of the branch is its check too: no separate `ls-remote`.
    assert_eq!(
        server.counters.kind("info/refs-v2"),
        10,
        "one remote check (a fetch) per repository"
    );
    assert_eq!(server.counters.kind("info/refs"), 0);
    assert_eq!(cache.stats().remote_checks, 10);
    assert_eq!(cache.stats().fetches, 10, "one fetch per repository");
    for r in 0..10 {
        assert_eq!(
            server.counters.get(&format!("/r{r}.git"), "info/refs-v2"),
            1
        );
    }

    // Same interval: nothing reaches the server.
    let before = server.counters.total();
    let start = Instant::now();
    round(cache.clone(), long).await;
    assert_eq!(server.counters.total(), before);

    // Next interval, unchanged remotes: one request per repository, no fetch. The
    // interval is longer than a round takes (so each repository is checked once in
    // it) and shorter than the age of the first checks (so they are due).
    let interval = (start.elapsed() * 3).max(Duration::from_millis(300));
    tokio::time::sleep((interval + Duration::from_millis(50)).saturating_sub(checked.elapsed()))
        .await;
    let before = server.counters.total();
    round(cache.clone(), interval).await;
    assert_eq!(
        server.counters.total() - before,
        10,
        "one request per repository"
    );
    assert_eq!(server.counters.kind("info/refs"), 10);
    assert_eq!(server.counters.kind("info/refs-v2"), 10, "no fetch");
    assert_eq!(
        cache.stats().fetches,
        10,
        "unchanged remotes are not fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_check_answers_the_commit_without_io_until_a_push_marks_it_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    let work = WorkRepo::new(&tmp.path().join("work"));
    let first = work.commit(&[("app/cm.yaml", "v: 1\n")], "c1");
    work.publish(&served.join("r.git"));
    let server = GitServer::start(&served, None).await;
    let cache = cache(tmp.path());
    let mut req = request(&server.url("r.git"), Reference::Branch("main".into()));
    req.interval = Duration::from_secs(3600);
    // Nothing known yet: no answer without a check.
    assert_eq!(cache.fresh_commit(&req), None);
    let checkout = cache.checkout(&req).await.unwrap();
    assert_eq!(checkout.commit, first);
    let before = server.counters.total();
    let (commit, revision) = cache.fresh_commit(&req).unwrap();
    assert_eq!(commit, first);
    assert_eq!(revision, format!("main@sha1:{first}"));
    assert_eq!(
        server.counters.total(),
        before,
        "answered without a request"
    );
    // A push marks the mirror stale: the next answer needs a check.
    let identity = flotilla_source::GitUrl::parse(&req.url).unwrap().identity();
    assert_eq!(cache.trigger(&identity), 1);
    assert_eq!(cache.fresh_commit(&req), None);
    // A zero interval never counts as fresh.
    req.interval = Duration::ZERO;
    assert_eq!(cache.fresh_commit(&req), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_mirrors_first_fetch_stands_for_a_check_of_that_ref_only() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    let work = WorkRepo::new(&tmp.path().join("work"));
    let on_main = work.commit(&[("app/cm.yaml", "v: 1\n")], "c1");
    git(&work.work, &["tag", "-a", "v1", "-m", "release 1"]);
    git(&work.work, &["checkout", "-q", "-b", "dev"]);
    let on_dev = work.commit(&[("app/cm.yaml", "v: 2\n")], "c2");
    work.publish(&served.join("r.git"));
    let server = GitServer::start(&served, None).await;
    let cache = cache(tmp.path());
    let url = server.url("r.git");
    let long = |reference| {
        let mut req = request(&url, reference);
        req.interval = Duration::from_secs(3600);
        req
    };

    let main = cache
        .checkout(&long(Reference::Branch("main".into())))
        .await
        .unwrap();
    assert_eq!(main.commit, on_main);
    assert_eq!(main.revision, format!("main@sha1:{on_main}"));
    assert_eq!(server.counters.kind("info/refs"), 0, "no ls-remote");
    assert_eq!(server.counters.kind("info/refs-v2"), 1, "one fetch");

    // Another branch of the same repository is not answered from that fetch: the
    // remote is checked (and dev fetched), within the same interval.
    let dev = cache
        .checkout(&long(Reference::Branch("dev".into())))
        .await
        .unwrap();
    assert_eq!(dev.commit, on_dev);
    assert_eq!(server.counters.kind("info/refs"), 1);

    // An annotated tag resolves to the commit it tags, from that full check.
    let before = server.counters.total();
    let tag = cache
        .checkout(&long(Reference::Tag("v1".into())))
        .await
        .unwrap();
    assert_eq!(tag.commit, on_main);
    assert_eq!(tag.revision, format!("v1@sha1:{on_main}"));
    let main_again = cache
        .checkout(&long(Reference::Branch("main".into())))
        .await
        .unwrap();
    assert_eq!(main_again.commit, on_main);
    assert_eq!(
        server.counters.kind("info/refs"),
        1,
        "answered from the full check"
    );
    assert!(
        server.counters.total() - before <= 3,
        "at most the tag's fetch"
    );

    // A new mirror fetching an annotated tag by name: the tag's commit, one fetch.
    let other = tempfile::tempdir().unwrap();
    let fresh = crate::cache(other.path());
    let before = server.counters.kind("info/refs");
    let tag = fresh
        .checkout(&long(Reference::Tag("v1".into())))
        .await
        .unwrap();
    assert_eq!(tag.commit, on_main);
    assert_eq!(tag.revision, format!("v1@sha1:{on_main}"));
    assert_eq!(server.counters.kind("info/refs"), before, "no ls-remote");

    // A branch the remote lacks is still explained as before (the check says so).
    let err = fresh
        .checkout(&long(Reference::Branch("nope".into())))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("couldn't find remote ref \"refs/heads/nope\""),
        "{err}"
    );

    // A bare name (Argo CD's targetRevision) is fetched as the branch when there is one,
    // and found among the tags by the usual check when there is not.
    let third = tempfile::tempdir().unwrap();
    let before = server.counters.kind("info/refs");
    let dev = crate::cache(third.path())
        .checkout(&long(Reference::Name("dev".into())))
        .await
        .unwrap();
    assert_eq!(dev.commit, on_dev);
    assert_eq!(dev.revision, format!("dev@sha1:{on_dev}"));
    assert_eq!(server.counters.kind("info/refs"), before, "no ls-remote");
    let fourth = tempfile::tempdir().unwrap();
    let tag = crate::cache(fourth.path())
        .checkout(&long(Reference::Name("v1".into())))
        .await
        .unwrap();
    assert_eq!(tag.commit, on_main);
    assert_eq!(tag.revision, format!("v1@sha1:{on_main}"));
}
