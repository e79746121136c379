//! Bad input, one test each: unreachable and stalled hosts, wrong credentials,
//! missing refs, semver without a match, a corrupt mirror, size limits, symlinks
//! leading out, and secrets in errors and logs.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flotilla_source::{
    CacheOptions, Credentials, Error, GitError, IgnoreRules, MirrorCache, ReadLimits, RefError,
    Reference, SnapshotError,
};

use crate::support::{GitServer, WorkRepo, black_hole};
use crate::{cache, over_the_repo_limit, request};

fn file_repo(tmp: &std::path::Path, files: &[(&str, &str)]) -> (WorkRepo, String) {
    let work = WorkRepo::new(&tmp.join("work"));
    work.commit(files, "c");
    let bare = tmp.join("bare/r.git");
    work.publish(&bare);
    (work, format!("file://{}", bare.display()))
}

#[tokio::test]
async fn stalled_host_times_out_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let (addr, _hole) = black_hole().await;
    let url = format!("http://{addr}/team/app.git");
    let mut req = request(&url, Reference::Branch("main".into()));
    req.timeout = Duration::from_millis(800);
    let start = Instant::now();
    let err = cache(tmp.path()).checkout(&req).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        matches!(err, Error::Git(GitError::Timeout { .. })),
        "{err:?}"
    );
    // A new mirror's first contact with the remote is the fetch of the branch.
    assert_eq!(
        err.to_string(),
        format!("fetch '{url}': timed out after 800ms")
    );
}

#[tokio::test]
async fn refused_connection_is_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    // Bind then drop: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/r.git");
    let err = cache(tmp.path())
        .checkout(&request(&url, Reference::Head))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Git(GitError::Unreachable { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("host unreachable"), "{err}");
}

/// Collects every log line at debug level.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn wrong_credentials_fail_authentication_without_showing_the_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, _) = file_repo(tmp.path(), &[("a", "1")]);
    let served = tmp.path().join("served");
    work.publish(&served.join("app.git"));
    let server = GitServer::start(&served, Some(("flotilla", "right-password"))).await;
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let cache = cache(tmp.path());

    let url = server.url("app.git");
    let mut req = request(&url, Reference::Branch("main".into()));
    req.credentials = Credentials::Basic {
        username: "flotilla".into(),
        password: "wrong-password-42".into(),
    };
    let err = cache.checkout(&req).await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("fetch '{url}': authentication failed")
    );

    // A password written into the URL is taken out of it, and out of every message.
    let with_secret = url.replace("http://", "http://flotilla:url-secret-77@");
    let err = cache
        .checkout(&request(&with_secret, Reference::Branch("main".into())))
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("fetch '{url}': authentication failed")
    );

    // No credentials at all: the server's 401 is an authentication failure too.
    let err = cache
        .checkout(&request(&url, Reference::Head))
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err:?}");

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("git failed"),
        "debug logs were captured: {logs}"
    );
    for secret in [
        "wrong-password-42",
        "url-secret-77",
        "d3JvbmctcGFzc3dvcmQtNDI",
    ] {
        assert!(!logs.contains(secret), "secret {secret} in logs: {logs}");
        assert!(!format!("{err:?}").contains(secret));
    }
}

#[tokio::test]
async fn missing_branch_and_tag_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = file_repo(tmp.path(), &[("a", "1")]);
    let cache = cache(tmp.path());
    let err = cache
        .checkout(&request(&url, Reference::Branch("invalid".into())))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("unable to clone '{url}': couldn't find remote ref \"refs/heads/invalid\"")
    );
    let err = cache
        .checkout(&request(&url, Reference::Tag("v9.9.9".into())))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Ref { source: RefError::NotFound(r), .. } if r == "refs/tags/v9.9.9"),
        "{err:?}"
    );
    let err = cache
        .checkout(&request(
            &url,
            Reference::Commit {
                id: "0".repeat(40),
                branch: None,
            },
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&"0".repeat(40)), "{err}");
}

#[tokio::test]
async fn semver_range_without_a_matching_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, _) = file_repo(tmp.path(), &[("a", "1")]);
    crate::support::git(&work.work, &["tag", "v1.0.0"]);
    crate::support::git(&work.work, &["tag", "v2.0.0-rc.1"]);
    let bare = tmp.path().join("bare/r.git");
    work.publish(&bare);
    let url = format!("file://{}", bare.display());
    let err = cache(tmp.path())
        .checkout(&request(&url, Reference::Semver(">=2.0.0".into())))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("unable to clone '{url}': no match found for semver: >=2.0.0")
    );
}

#[tokio::test]
async fn corrupt_mirror_is_detected_and_cloned_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, url) = file_repo(tmp.path(), &[("a.yaml", "a: 1\n"), ("b/c.yaml", "c: 2\n")]);
    let req = request(&url, Reference::Branch("main".into()));
    let first = cache(tmp.path()).checkout(&req).await.unwrap();
    let mirror = cache(tmp.path())
        .mirror_dir(&url, &Credentials::None)
        .unwrap();
    // Zero every object file (loose and packed) but keep names and sizes.
    let mut damaged = 0;
    let mut stack = vec![mirror.join("objects")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else if !e.path().ends_with("info/packs") {
                let len = e.metadata().unwrap().len() as usize;
                std::fs::write(e.path(), vec![0u8; len]).unwrap();
                damaged += 1;
            }
        }
    }
    assert!(damaged > 0);
    // A new process (fresh cache state) over the same directory.
    let cache2 = cache(tmp.path());
    let again = cache2.checkout(&req).await.unwrap();
    assert_eq!(again.commit, first.commit);
    assert_eq!(again.snapshot.read("b/c.yaml").unwrap(), b"c: 2\n");
    assert_eq!(cache2.stats().reclones, 1);

    // A mirror directory that is not a repository at all.
    std::fs::remove_dir_all(&mirror).unwrap();
    std::fs::create_dir_all(&mirror).unwrap();
    std::fs::write(mirror.join("junk"), "not git").unwrap();
    let cache3 = cache(tmp.path());
    assert_eq!(cache3.checkout(&req).await.unwrap().commit, first.commit);
    assert_eq!(cache3.stats().reclones, 1);
}

#[tokio::test]
async fn repository_and_files_over_the_size_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let noise = crate::support::incompressible(200_000);
    let (_, url) = file_repo(tmp.path(), &[("big.txt", &noise), ("small.txt", "s\n")]);
    let (limited, err) = over_the_repo_limit(tmp.path(), &url, 50_000).await;
    assert!(
        matches!(err, Error::TooLarge { limit: 50_000, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("over the limit of 50000 bytes"),
        "{err}"
    );
    assert!(
        !limited
            .mirror_dir(&url, &Credentials::None)
            .unwrap()
            .exists(),
        "oversized mirror removed"
    );

    let mut opts = CacheOptions::new(tmp.path().join("files"));
    opts.read_limits = ReadLimits {
        max_file_bytes: 100_000,
        max_total_bytes: 150_000,
        max_files: 1,
    };
    let cache = MirrorCache::new(opts).unwrap();
    let co = cache
        .checkout(&request(&url, Reference::Branch("main".into())))
        .await
        .unwrap();
    let err = co.snapshot.read("big.txt").unwrap_err();
    assert!(
        matches!(err, SnapshotError::FileTooLarge { size: 200_000, .. }),
        "{err:?}"
    );
    assert_eq!(co.snapshot.read("small.txt").unwrap(), b"s\n");
    let err = co.snapshot.files("", &IgnoreRules::none()).unwrap_err();
    assert!(matches!(err, SnapshotError::FileTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn symlinks_never_lead_out_of_the_exported_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    work.symlink("apps/web/passwd", "../../../../../../etc/passwd");
    work.symlink("apps/web/db", "../db/db.yaml");
    work.symlink("apps/web/same", "deploy.yaml");
    work.symlink("apps/loop/a", "b");
    work.symlink("apps/loop/b", "a");
    work.commit(
        &[
            ("apps/web/deploy.yaml", "d: 1\n"),
            ("apps/db/db.yaml", "db: 1\n"),
        ],
        "links",
    );
    let bare = tmp.path().join("r.git");
    work.publish(&bare);
    let co = cache(tmp.path())
        .checkout(&request(
            &format!("file://{}", bare.display()),
            Reference::Branch("main".into()),
        ))
        .await
        .unwrap();
    let snap = &co.snapshot;
    // Out of the repository: never followed, whatever is asked.
    let err = snap.read("apps/web/passwd").unwrap_err();
    assert!(
        matches!(err, SnapshotError::SymlinkEscapes { .. }),
        "{err:?}"
    );
    // Inside the repository: read follows it; an export of apps/web refuses it.
    assert_eq!(snap.read("apps/web/db").unwrap(), b"db: 1\n");
    assert_eq!(snap.read("apps/web/same").unwrap(), b"d: 1\n");
    let err = snap.files("apps/web", &IgnoreRules::none()).unwrap_err();
    assert!(
        matches!(&err, SnapshotError::SymlinkEscapes { path, root, .. } if path == "apps/web/db" && root == "apps/web"),
        "{err:?}"
    );
    let err = snap.read("apps/loop/a").unwrap_err();
    assert!(matches!(err, SnapshotError::SymlinkLoop { .. }), "{err:?}");
    // The id of the link itself is still available.
    assert!(snap.tree_id("apps/web/passwd").unwrap().is_some());
    // Paths that climb are refused before any lookup.
    assert!(matches!(
        snap.read("../x"),
        Err(SnapshotError::BadPath { .. })
    ));
}

#[tokio::test]
async fn in_tree_symlinks_are_exported_as_their_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    work.symlink("apps/web/alias.yaml", "deploy.yaml");
    work.commit(&[("apps/web/deploy.yaml", "d: 1\n")], "links");
    let bare = tmp.path().join("r.git");
    work.publish(&bare);
    let co = cache(tmp.path())
        .checkout(&request(
            &format!("file://{}", bare.display()),
            Reference::Branch("main".into()),
        ))
        .await
        .unwrap();
    let files = co.snapshot.files("apps/web", &IgnoreRules::none()).unwrap();
    let pairs: Vec<_> = files
        .iter()
        .map(|f| (f.path.as_str(), f.contents.as_slice()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("alias.yaml", b"d: 1\n".as_slice()),
            ("deploy.yaml", b"d: 1\n".as_slice())
        ]
    );
}

#[tokio::test]
async fn malformed_urls_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = cache(tmp.path());
    for (url, want) in [
        ("ftp://example.com/r.git", "unsupported URL scheme"),
        ("https://", "URL has no host"),
        ("https://example.com", "no repository path"),
        ("--upload-pack=touch /tmp/x", "forbidden character"),
    ] {
        let err = cache
            .checkout(&request(url, Reference::Head))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Url(_)), "{url}: {err:?}");
        assert!(err.to_string().contains(want), "{url}: {err}");
    }
}
