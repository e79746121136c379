//! Side-by-side benchmark of `flotilla source get` against
//! `git clone --depth 1 --single-branch`, whole processes, over a local smart-HTTP
//! server, on a generated repository (default 5,000 files, 500 commits).
//!
//! ```text
//! cargo build --release -p flotilla
//! cargo run --release -p flotilla-source --example bench_get -- [--flotilla PATH] [--runs N] [--files N] [--commits N] [--dir DIR]
//! ```
//! Prints one JSON object with the median and minimum times and their ratios
//! (flotilla / git), the median of the per-pair ratios, and every run's time; the
//! minimum is the steadier figure on a busy machine. Use an even `--runs`: the
//! order alternates, and the first of a pair pays more on a file system where
//! many files were just deleted (ext4 skips recently freed inodes one by one).
//! `--serve` builds and serves the repository, prints its URL and waits (for
//! profiling one side by hand).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn default_flotilla() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("release/flotilla")
}

/// Builds the repository with `git fast-import`: the first commit adds every file,
/// each later one changes ten of them.
fn build_repo(bare: &Path, files: usize, commits: usize) {
    std::fs::create_dir_all(bare).unwrap();
    support::git(bare, &["init", "-q", "--bare", "-b", "main"]);
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(bare)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = std::io::BufWriter::new(child.stdin.take().unwrap());
    let body = |i: usize, rev: usize| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: team-{}\ndata:\n  revision: \"{rev}\"\n  payload: \"{}\"\n",
            i % 50,
            "x".repeat(400)
        )
    };
    for c in 0..commits {
        let msg = format!("commit {c}");
        writeln!(w, "commit refs/heads/main").unwrap();
        writeln!(
            w,
            "committer Bench <bench@example.com> {} +0000",
            1_700_000_000 + c
        )
        .unwrap();
        writeln!(w, "data {}\n{msg}", msg.len()).unwrap();
        let changed: Vec<usize> = if c == 0 {
            (0..files).collect()
        } else {
            (0..10).map(|k| (c * 37 + k * 101) % files).collect()
        };
        for i in changed {
            let data = body(i, c);
            writeln!(w, "M 100644 inline apps/app-{:03}/cm-{i}.yaml", i % 100).unwrap();
            writeln!(w, "data {}\n{data}", data.len()).unwrap();
        }
        writeln!(w).unwrap();
    }
    drop(w);
    assert!(child.wait().unwrap().success(), "fast-import failed");
    support::git(bare, &["gc", "-q"]);
}

fn time(mut cmd: Command) -> f64 {
    let start = Instant::now();
    let out = cmd.stdout(Stdio::null()).output().unwrap();
    let elapsed = start.elapsed().as_secs_f64() * 1000.0;
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                if e.file_name() != ".git" {
                    stack.push(e.path());
                }
            } else {
                n += 1;
            }
        }
    }
    n
}

#[tokio::main]
async fn main() {
    let flotilla = arg("--flotilla")
        .map(PathBuf::from)
        .unwrap_or_else(default_flotilla);
    assert!(
        flotilla.exists(),
        "{} not found: run `cargo build --release -p flotilla` or pass --flotilla PATH",
        flotilla.display()
    );
    let runs: usize = arg("--runs").map(|r| r.parse().unwrap()).unwrap_or(5);
    let files: usize = arg("--files").map(|r| r.parse().unwrap()).unwrap_or(5000);
    let commits: usize = arg("--commits").map(|r| r.parse().unwrap()).unwrap_or(500);

    // `--dir` picks the file system: on a busy ext4 the cost of creating inodes swings
    // several-fold between directories (recently freed inodes are skipped one by one),
    // which drowns the difference between the two sides; a tmpfs shows the work itself.
    let tmp = match arg("--dir") {
        Some(dir) => tempfile::tempdir_in(dir).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let root = tmp.path().join("served");
    build_repo(&root.join("bench.git"), files, commits);
    let server = support::GitServer::start(&root, None).await;
    let url = server.url("bench.git");
    if std::env::args().any(|a| a == "--serve") {
        println!("{url}");
        std::future::pending::<()>().await;
    }

    let (mut ours, mut theirs, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let out = tmp.path().join(format!("out-{i}"));
        let cache = tmp.path().join(format!("cache-{i}"));
        let clone = tmp.path().join(format!("clone-{i}"));
        let mut ours_cmd = Command::new(&flotilla);
        ours_cmd
            .args(["source", "get", &url, "--out"])
            .arg(&out)
            .arg("--cache")
            .arg(&cache);
        let mut git_cmd = Command::new("git");
        git_cmd
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args(["clone", "-q", "--depth", "1", "--single-branch", &url])
            .arg(&clone);
        // Alternate which goes first so neither always meets a warm page cache.
        let url2 = url.clone();
        let run = tokio::task::spawn_blocking(move || {
            if i % 2 == 0 {
                let a = time(ours_cmd);
                let b = time(git_cmd);
                (a, b)
            } else {
                let b = time(git_cmd);
                let a = time(ours_cmd);
                (a, b)
            }
        });
        let (a, b) = run.await.unwrap();
        ours.push(a);
        theirs.push(b);
        assert_eq!(count_files(&out), files, "flotilla wrote every file");
        assert_eq!(count_files(&clone), files, "git checked out every file");
        // Warm mirror, nothing changed: one remote check, no fetch, no files written.
        let mut again = Command::new(&flotilla);
        again.args(["source", "get", &url2, "--cache"]).arg(&cache);
        warm.push(
            tokio::task::spawn_blocking(move || time(again))
                .await
                .unwrap(),
        );
    }
    let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    let rounded = |v: &[f64]| v.iter().map(|x| x.round()).collect::<Vec<_>>();
    let (ours_runs, git_runs) = (rounded(&ours), rounded(&theirs));
    // Each pair ran back to back under the same load: the median of the pairs'
    // ratios is the figure least moved by load changing between pairs.
    let pairs = median(ours.iter().zip(&theirs).map(|(a, b)| a / b).collect());
    let (ours_min, git_min) = (min(&ours), min(&theirs));
    let (ours_ms, git_ms) = (median(ours), median(theirs));
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "flotilla source get --out vs git clone --depth 1 --single-branch",
            "files": files,
            "commits": commits,
            "runs": runs,
            "flotilla_ms": (ours_ms * 10.0).round() / 10.0,
            "git_clone_ms": (git_ms * 10.0).round() / 10.0,
            "ratio": ((ours_ms / git_ms) * 1000.0).round() / 1000.0,
            "flotilla_min_ms": (ours_min * 10.0).round() / 10.0,
            "git_clone_min_ms": (git_min * 10.0).round() / 10.0,
            "ratio_of_minima": ((ours_min / git_min) * 1000.0).round() / 1000.0,
            "median_ratio_of_pairs": (pairs * 1000.0).round() / 1000.0,
            "flotilla_warm_unchanged_ms": (median(warm) * 10.0).round() / 10.0,
            "http_requests": server.counters.total(),
            "flotilla_runs_ms": ours_runs,
            "git_clone_runs_ms": git_runs,
        })
    );
}
