//! Over smart HTTP the mirror cache runs no git process: with `PATH` emptied, checks
//! and fetches still work, and the mirror they leave is one git itself accepts (fsck,
//! the shallow edge, refs, gc). Its own test binary, because it changes `PATH` for the
//! whole process.

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use flotilla_source::{CacheOptions, Credentials, MirrorCache, Reference, Request};

use support::{GitServer, WorkRepo};

fn request(url: &str, reference: Reference) -> Request {
    let mut r = Request::new(url, reference);
    r.timeout = Duration::from_secs(20);
    r.interval = Duration::ZERO;
    r
}

/// Runs git with a real `PATH` on the mirror (bare) at `dir`.
fn git_on(dir: &Path, path_env: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .env("PATH", path_env)
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("running git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_checks_and_fetches_run_no_git_process_and_leave_a_mirror_git_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    // A large file no later commit changes: later fetches must not bring it again.
    let big = support::incompressible(200_000);
    let first = work.commit(&[("app/cm.yaml", "v: 1\n"), ("big.txt", &big)], "first");
    let second = work.commit(&[("app/cm.yaml", "v: 2\n")], "second");
    let served = tmp.path().join("served");
    work.publish(&served.join("app.git"));
    let server = GitServer::start(&served, None).await;
    let url = server.url("app.git");
    let cache = MirrorCache::new(CacheOptions::new(tmp.path().join("cache"))).unwrap();
    let mirror = cache.mirror_dir(&url, &Credentials::None).unwrap();

    // From here on no `git` can be found: whatever works, works in process.
    let real_path = std::env::var("PATH").unwrap();
    let empty = tmp.path().join("no-programs");
    std::fs::create_dir_all(&empty).unwrap();
    // SAFETY: this binary holds this one test; nothing else reads the environment now.
    unsafe { std::env::set_var("PATH", &empty) };

    let co = cache
        .checkout(&request(&url, Reference::Branch("main".into())))
        .await
        .unwrap();
    assert_eq!(co.commit, second);
    assert_eq!(co.snapshot.read("app/cm.yaml").unwrap(), b"v: 2\n");

    // A new commit: the remote check (protocol v0 advertisement) sees it, the fetch
    // brings it. (The test's own repository work needs git.)
    // SAFETY: as above.
    unsafe { std::env::set_var("PATH", &real_path) };
    let third = work.commit(&[("app/cm.yaml", "v: 3\n")], "third");
    work.publish(&served.join("app.git"));
    // SAFETY: as above.
    unsafe { std::env::set_var("PATH", &empty) };
    let co = cache
        .checkout(&request(&url, Reference::Branch("main".into())))
        .await
        .unwrap();
    assert_eq!(co.commit, third);
    assert_eq!(co.snapshot.read("app/cm.yaml").unwrap(), b"v: 3\n");

    // An older commit by id, not any ref's tip.
    let co = cache
        .checkout(&request(
            &url,
            Reference::Commit {
                id: first.clone(),
                branch: None,
            },
        ))
        .await
        .unwrap();
    assert_eq!(co.snapshot.read("app/cm.yaml").unwrap(), b"v: 1\n");
    // SAFETY: as above.
    unsafe { std::env::set_var("PATH", &real_path) };

    // One pack per fetch; only the first carries the large file: the later ones told
    // the server what the mirror has (`have`, `shallow`).
    let mut packs: Vec<u64> = std::fs::read_dir(mirror.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        .map(|e| e.metadata().unwrap().len())
        .collect();
    packs.sort();
    assert_eq!(packs.len(), 3, "{packs:?}");
    assert!(packs[2] > 100_000, "{packs:?}");
    assert!(packs[1] < 5_000, "{packs:?}");

    // git reads what was written: refs, objects, and the shallow edge of each fetch.
    assert_eq!(
        git_on(&mirror, &real_path, &["rev-parse", "refs/heads/main"]),
        third
    );
    assert_eq!(
        git_on(
            &mirror,
            &real_path,
            &["rev-parse", &format!("refs/flotilla/commits/{first}")]
        ),
        first
    );
    let mut shallow: Vec<String> = std::fs::read_to_string(mirror.join("shallow"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    shallow.sort();
    let mut expected = vec![first.clone(), second.clone(), third.clone()];
    expected.sort();
    // Every commit fetched at depth 1 is a shallow edge, a root commit too: what
    // `git fetch --depth=1` records.
    assert_eq!(shallow, expected);
    assert_eq!(
        git_on(
            &mirror,
            &real_path,
            &["log", "--format=%H", "refs/heads/main"]
        ),
        third,
        "depth 1: the history ends at the fetched commit"
    );
    git_on(&mirror, &real_path, &["fsck", "--full", "--strict"]);
    git_on(&mirror, &real_path, &["gc", "--quiet"]);
    git_on(&mirror, &real_path, &["fsck", "--full"]);
    assert_eq!(
        git_on(
            &mirror,
            &real_path,
            &["show", "refs/heads/main:app/cm.yaml"]
        ),
        "v: 3"
    );
    assert!(
        std::fs::read_dir(mirror.join("objects/pack"))
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".keep")),
        "no pack is left kept"
    );
}
