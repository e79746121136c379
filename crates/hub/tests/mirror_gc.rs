//! The hub's own removal of unused mirrors: the loop `run::start` runs, on a cache
//! holding an old mirror, a fresh one and something that is not a mirror.

use std::time::{Duration, SystemTime};

use flotilla_hub::run::{MirrorGc, collect_mirrors};
use flotilla_source::{CacheOptions, LAST_USED_FILE, MirrorCache};

/// A directory shaped like a bare mirror, last used `age` ago.
fn mirror(cache: &std::path::Path, name: &str, age: Duration) -> std::path::PathBuf {
    let dir = cache.join(name);
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    std::fs::write(dir.join("HEAD"), "ref: refs/heads/main\n").unwrap();
    let marker = dir.join(LAST_USED_FILE);
    std::fs::write(&marker, "").unwrap();
    let when = SystemTime::now() - age;
    std::fs::File::open(&marker)
        .unwrap()
        .set_modified(when)
        .unwrap();
    std::fs::File::open(&dir)
        .unwrap()
        .set_modified(when)
        .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_removes_mirrors_unused_for_longer_than_the_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("git");
    std::fs::create_dir_all(&cache).unwrap();
    let day = Duration::from_secs(24 * 3600);
    let old = mirror(&cache, "old.git", 10 * day);
    let fresh = mirror(&cache, "fresh.git", day);
    let other = cache.join("notes.git");
    std::fs::write(&other, "not a mirror").unwrap();

    let mirrors = MirrorCache::new(CacheOptions::new(&cache)).unwrap();
    let task = tokio::spawn(collect_mirrors(
        mirrors,
        MirrorGc {
            max_age: 7 * day,
            every: Duration::from_millis(50),
        },
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while old.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert!(!old.exists(), "the old mirror is still there");
    assert!(fresh.join("HEAD").exists());
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "not a mirror");
}
