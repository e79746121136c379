//! `flotilla source get` and `flotilla source gc` as a user runs them, against local
//! repositories over file://.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

fn flotilla(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .env_remove("FLOTILLA_CACHE_DIR")
        .output()
        .expect("flotilla runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

/// A repository with one commit, as a file:// URL.
fn repository(root: &Path, name: &str) -> String {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README"), name).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    format!("file://{}", dir.display())
}

/// The mirror directories in the cache.
fn mirrors(cache: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "git"))
        .collect();
    out.sort();
    out
}

#[test]
fn gc_removes_the_mirrors_unused_for_longer_than_the_max_age_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    for name in ["old", "fresh"] {
        let url = repository(dir.path(), name);
        let out = flotilla(&["source", "get", &url, "--cache", cache_arg]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("main@sha1:"),
            "{}",
            text(&out.stdout)
        );
    }
    let found = mirrors(&cache);
    assert_eq!(found.len(), 2, "{found:?}");
    // The mirror of `old` was last used ten days ago.
    let old = found
        .iter()
        .find(|p| p.to_string_lossy().contains("old"))
        .unwrap()
        .clone();
    let ten_days_ago = SystemTime::now() - Duration::from_secs(10 * 24 * 3600);
    for path in [old.join(flotilla_source::LAST_USED_FILE), old.clone()] {
        if let Ok(file) = std::fs::File::open(&path) {
            file.set_modified(ten_days_ago).unwrap();
        }
    }

    let out = flotilla(&["source", "gc", "--cache", cache_arg, "--max-age", "7d"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("removed: {}", old.display())),
        "{stdout}"
    );
    assert!(stdout.contains("kept: 1 (0 in use)"), "{stdout}");
    assert!(!old.exists());
    assert_eq!(mirrors(&cache).len(), 1);

    // Bad input: an age that is not one, a cache that does not exist (not created).
    let out = flotilla(&["source", "gc", "--cache", cache_arg, "--max-age", "soon"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("\"soon\""),
        "{}",
        text(&out.stderr)
    );
    let missing = dir.path().join("no-such-cache");
    let out = flotilla(&["source", "gc", "--cache", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no mirror cache"),
        "{}",
        text(&out.stderr)
    );
    assert!(!missing.exists());
}

#[test]
fn logs_reach_stderr_as_rust_log_asks() {
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path(), "logged");
    let get = |cache: &str, rust_log: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flotilla"));
        cmd.args(["source", "get", &url, "--cache"])
            .arg(dir.path().join(cache))
            .env_remove("FLOTILLA_CACHE_DIR")
            .env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        let out = cmd.output().expect("flotilla runs");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    // Asked for: the source crate's debug events, plain text (stderr is not a terminal).
    let stderr = get("asked", Some("flotilla_source=debug"));
    assert!(
        stderr.contains("DEBUG flotilla_source::mirror: remote check"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes in a file: {stderr:?}"
    );
    // By default a command other than the controller shows warnings only.
    let stderr = get("quiet", None);
    assert!(
        !stderr.contains("DEBUG") && !stderr.contains("INFO"),
        "{stderr}"
    );
}
