//! Mirror garbage collection: what is removed, what is kept (recently used, in use
//! right now, not a mirror at all), and that nothing outside the cache is reached
//! through a symbolic link. Ages are set by moving modification times into the past.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use flotilla_source::{Credentials, GcOptions, LAST_USED_FILE, MirrorCache, Reference};

use crate::support::{WorkRepo, black_hole, git};
use crate::{cache, request};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A bare repository with one commit, served by file://; returns its URL and commit.
fn served(tmp: &Path) -> (WorkRepo, PathBuf, String, String) {
    let work = WorkRepo::new(&tmp.join("work"));
    let commit = work.commit(&[("deploy/app.yaml", "a: 1\n")], "first");
    let bare = tmp.join("served/app.git");
    work.publish(&bare);
    let url = format!("file://{}", bare.display());
    (work, bare, url, commit)
}

/// The mirror serving `url` anonymously, fetched once (the checkout is dropped).
async fn fetched(cache: &MirrorCache, url: &str) -> PathBuf {
    cache
        .checkout(&request(url, Reference::Branch("main".into())))
        .await
        .unwrap();
    let dir = cache.mirror_dir(url, &Credentials::None).unwrap();
    assert!(dir.join("HEAD").is_file());
    dir
}

/// Moves the modification time of `path` (a file or a directory; opening follows a
/// link, so never call it on one) `ago` into the past.
fn set_mtime(path: &Path, ago: Duration) {
    std::fs::File::open(path)
        .unwrap()
        .set_modified(SystemTime::now() - ago)
        .unwrap();
}

/// Makes a mirror look last used `ago` (its marker and the directory itself).
fn age(mirror: &Path, ago: Duration) {
    let marker = mirror.join(LAST_USED_FILE);
    assert!(marker.is_file(), "no use marker in {}", mirror.display());
    set_mtime(&marker, ago);
    set_mtime(mirror, ago);
}

fn week() -> GcOptions {
    GcOptions::new(7 * DAY)
}

#[tokio::test]
async fn unused_mirror_older_than_max_age_is_removed_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, _bare, url, commit) = served(tmp.path());
    let mirror = fetched(&cache(tmp.path()), &url).await;
    age(&mirror, 30 * DAY);

    // A new process: all it knows is on disk.
    let restarted = cache(tmp.path());
    let report = restarted.collect_garbage(&week()).await.unwrap();
    assert_eq!(report.removed, std::slice::from_ref(&mirror));
    assert!(
        report.kept.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert!(report.bytes_freed > 0);
    assert!(!mirror.exists());
    // Nothing left behind in the scratch directory either.
    assert_eq!(scratch_entries(&restarted), Vec::<String>::new());

    // Asked for again, it is cloned afresh.
    let co = restarted
        .checkout(&request(&url, Reference::Branch("main".into())))
        .await
        .unwrap();
    assert_eq!(co.commit, commit);
    assert!(mirror.join(LAST_USED_FILE).is_file());
}

#[tokio::test]
async fn removal_in_process_resets_the_mirror_state() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, _bare, url, commit) = served(tmp.path());
    let cache = cache(tmp.path());
    let mirror = fetched(&cache, &url).await;
    let fetches = cache.stats().fetches;

    // A zero maximum age removes every mirror not in use right now.
    age(&mirror, 30 * DAY);
    let report = cache.collect_garbage(&GcOptions::new(Duration::ZERO)).await;
    assert_eq!(report.unwrap().removed, std::slice::from_ref(&mirror));
    assert!(!mirror.exists());

    // The last check is still fresh, but the commit is gone with the mirror: it is
    // fetched again rather than read from a deleted directory.
    let co = cache
        .checkout(&request(&url, Reference::Branch("main".into())))
        .await
        .unwrap();
    assert_eq!(co.commit, commit);
    assert_eq!(co.snapshot.read("deploy/app.yaml").unwrap(), b"a: 1\n");
    assert_eq!(cache.stats().fetches, fetches + 1);
}

#[tokio::test]
async fn recently_used_mirror_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, _bare, url, _) = served(tmp.path());
    let cache = cache(tmp.path());
    let mirror = fetched(&cache, &url).await;
    age(&mirror, 3 * DAY);

    for gc in [&cache, &crate::cache(tmp.path())] {
        let report = gc.collect_garbage(&week()).await.unwrap();
        assert_eq!(report.kept, std::slice::from_ref(&mirror));
        assert!(report.removed.is_empty() && report.in_use.is_empty());
    }
    // A use in this process counts even before the marker is rewritten.
    age(&mirror, 30 * DAY);
    let report = cache.collect_garbage(&week()).await.unwrap();
    assert_eq!(report.kept, std::slice::from_ref(&mirror));
    assert!(mirror.join("HEAD").is_file());
}

#[tokio::test]
async fn mirror_with_a_fetch_in_flight_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (addr, _server) = black_hole().await;
    let url = format!("http://{addr}/stalled.git");
    let cache = cache(tmp.path());
    let mirror = cache.mirror_dir(&url, &Credentials::None).unwrap();
    let mut req = request(&url, Reference::Branch("main".into()));
    req.timeout = Duration::from_secs(30);
    let in_flight = tokio::spawn({
        let cache = cache.clone();
        async move { cache.checkout(&req).await }
    });
    // The first fetch creates the mirror, then waits on the server forever.
    let started = std::time::Instant::now();
    while !mirror.join("HEAD").is_file() {
        assert!(started.elapsed() < Duration::from_secs(10), "no mirror yet");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    age(&mirror, 30 * DAY);

    let report = cache
        .collect_garbage(&GcOptions::new(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(report.in_use, std::slice::from_ref(&mirror));
    assert_eq!(report.kept, std::slice::from_ref(&mirror));
    assert!(report.removed.is_empty());
    assert!(mirror.join("HEAD").is_file());

    in_flight.abort();
    assert!(in_flight.await.unwrap_err().is_cancelled());
    let report = cache
        .collect_garbage(&GcOptions::new(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(report.removed, std::slice::from_ref(&mirror));
}

#[tokio::test]
async fn live_snapshot_keeps_its_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, _bare, url, _) = served(tmp.path());
    let cache = cache(tmp.path());
    let co = cache
        .checkout(&request(&url, Reference::Branch("main".into())))
        .await
        .unwrap();
    let mirror = cache.mirror_dir(&url, &Credentials::None).unwrap();
    let snapshot = co.snapshot.clone();
    drop(co);

    age(&mirror, 30 * DAY);
    let zero = GcOptions::new(Duration::ZERO);
    let report = cache.collect_garbage(&zero).await.unwrap();
    assert_eq!(report.in_use, std::slice::from_ref(&mirror));
    assert_eq!(snapshot.read("deploy/app.yaml").unwrap(), b"a: 1\n");

    drop(snapshot);
    let report = cache.collect_garbage(&zero).await.unwrap();
    assert_eq!(report.removed, [mirror]);
}

#[tokio::test]
async fn fresh_git_lock_file_means_another_process_is_at_work() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, _bare, url, _) = served(tmp.path());
    let mirror = fetched(&cache(tmp.path()), &url).await;
    age(&mirror, 30 * DAY);
    let lock = mirror.join("shallow.lock");
    std::fs::write(&lock, "").unwrap();

    let other = cache(tmp.path());
    let report = other.collect_garbage(&week()).await.unwrap();
    assert_eq!(report.in_use, std::slice::from_ref(&mirror));

    // Left by a git that died long ago: no longer a reason to keep it.
    set_mtime(&lock, 2 * DAY);
    let report = other.collect_garbage(&week()).await.unwrap();
    assert_eq!(report.removed, [mirror]);
}

#[tokio::test]
async fn entries_that_are_not_mirrors_are_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = cache(tmp.path());
    let dir = cache.options().dir.clone();
    let file = dir.join("notes.txt");
    std::fs::write(&file, "mine\n").unwrap();
    let named_like_one = dir.join("file.git");
    std::fs::write(&named_like_one, "not a directory\n").unwrap();
    let other_dir = dir.join("other");
    std::fs::create_dir(&other_dir).unwrap();
    std::fs::write(other_dir.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    let no_head = dir.join("half.git");
    std::fs::create_dir_all(no_head.join("objects")).unwrap();
    for path in [&file, &named_like_one, &other_dir, &no_head] {
        set_mtime(path, 365 * DAY);
    }

    let report = cache
        .collect_garbage(&GcOptions::new(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(report, Default::default());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine\n");
    assert!(named_like_one.is_file() && other_dir.join("HEAD").is_file());
    assert!(no_head.join("objects").is_dir());
    assert!(dir.join("tmp").is_dir());
}

#[tokio::test]
async fn symbolic_links_are_never_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let (_work, _bare, url, _) = served(tmp.path());
    let mirror = fetched(&cache(tmp.path()), &url).await;

    // Outside the cache: a repository that looks exactly like an old mirror, and a
    // directory of precious files.
    let outside = tmp.path().join("outside");
    let victim = outside.join("victim.git");
    std::fs::create_dir_all(&victim).unwrap();
    git(&victim, &["init", "-q", "--bare"]);
    std::fs::write(victim.join(LAST_USED_FILE), "").unwrap();
    age(&victim, 365 * DAY);
    let precious = outside.join("precious");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("keep.txt"), "keep\n").unwrap();

    let dir = mirror.parent().unwrap().to_path_buf();
    let link = dir.join("link.git");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    // Inside a mirror that will be removed: links out to a directory and a file.
    std::os::unix::fs::symlink(&precious, mirror.join("escape")).unwrap();
    std::os::unix::fs::symlink(precious.join("keep.txt"), mirror.join("escape.txt")).unwrap();
    age(&mirror, 30 * DAY);

    let report = cache(tmp.path()).collect_garbage(&week()).await.unwrap();
    assert_eq!(report.removed, std::slice::from_ref(&mirror));
    assert!(report.kept.is_empty(), "{report:?}");
    assert!(!mirror.exists());
    // Not followed, not emptied.
    assert!(victim.join("HEAD").is_file() && victim.join("objects").is_dir());
    assert_eq!(
        std::fs::read_to_string(precious.join("keep.txt")).unwrap(),
        "keep\n"
    );
    // The link itself is not a mirror either: left as it was.
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
}

#[tokio::test]
async fn housekeeping_repacks_kept_mirrors_and_snapshots_keep_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let (work, bare, url, _) = served(tmp.path());
    let cache = cache(tmp.path());
    let mirror = fetched(&cache, &url).await;
    // Every fetch keeps its pack (the mirror's fetches never explode small ones into
    // loose objects); consolidate as soon as there are two (git's default is 50 packs).
    git(&mirror, &["config", "gc.autoPackLimit", "1"]);
    let mut req = request(&url, Reference::Branch("main".into()));
    req.interval = Duration::ZERO;
    let mut last = None;
    for n in 2..=3 {
        work.commit(&[("deploy/app.yaml", &format!("a: {n}\n"))], "next");
        work.publish(&bare);
        last = Some(cache.checkout(&req).await.unwrap());
    }
    let last = last.unwrap();
    assert_eq!(packs(&mirror), 3, "the first fetch's and the two since");
    let fetches = cache.stats().fetches;

    let mut opts = week();
    opts.housekeeping = true;
    let report = cache.collect_garbage(&opts).await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.kept, std::slice::from_ref(&mirror));
    assert_eq!(packs(&mirror), 1);

    // A snapshot taken before the repack still reads, and so does a new checkout,
    // without fetching again.
    assert_eq!(last.snapshot.read("deploy/app.yaml").unwrap(), b"a: 3\n");
    req.interval = Duration::from_secs(3600);
    let co = cache.checkout(&req).await.unwrap();
    assert_eq!(co.commit, last.commit);
    assert_eq!(co.snapshot.read("deploy/app.yaml").unwrap(), b"a: 3\n");
    assert_eq!(cache.stats().fetches, fetches);
}

/// Packs of reachable objects (a cruft pack, with its `.mtimes`, holds the unreachable
/// ones until they expire).
fn packs(mirror: &Path) -> usize {
    std::fs::read_dir(mirror.join("objects/pack"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pack"))
        .filter(|p| !p.with_extension("mtimes").exists())
        .count()
}

fn scratch_entries(cache: &MirrorCache) -> Vec<String> {
    std::fs::read_dir(cache.options().dir.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}
