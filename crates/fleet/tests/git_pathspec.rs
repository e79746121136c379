//! The git files generator's default globbing is `git ls-files -- <pattern>`: this test asks
//! the real `git` which files each pattern selects and compares with `git_pathspec_match`.

use std::path::PathBuf;
use std::process::Command;

use flotilla_fleet::glob::git_pathspec_match;

const FILES: [&str; 12] = [
    "apps/a/config.yaml",
    "apps/b/config.yaml",
    "apps/team/c/config.yaml",
    "apps/config.yaml",
    "apps/a/values.yaml",
    "appsx/config.yaml",
    "x/config.json",
    "x/y/config.json",
    "README.md",
    ".hidden/config.yaml",
    "a-c/f",
    "a[b]/f",
];

const PATTERNS: [&str; 18] = [
    "apps/*/config.yaml",
    "apps/**/config.yaml",
    "**/config.json",
    "*.yaml",
    "*/config.yaml",
    "apps",
    "apps/",
    "apps/a",
    "apps/[ab]/config.yaml",
    "apps/[!a]/config.yaml",
    "apps/?/config.yaml",
    "a*",
    "x/*",
    "README.md",
    "**",
    "a[b]/f",
    "apps/*/c*",
    "nothing/*",
];

fn scratch_repo() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fleet-pathspec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for file in FILES {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
        std::fs::write(&path, "x").expect("write");
    }
    let status = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&dir)
        .status()
        .expect("git must be installed to check pathspec semantics against it");
    assert!(status.success());
    let status = Command::new("git")
        .args(["add", "-A"])
        .current_dir(&dir)
        .status()
        .expect("git add");
    assert!(status.success());
    dir
}

#[test]
fn pathspecs_select_what_git_ls_files_selects() {
    let dir = scratch_repo();
    let mut failures = Vec::new();
    for pattern in PATTERNS {
        let out = Command::new("git")
            .args(["ls-files", "--full-name", "-z", "--", pattern])
            .current_dir(&dir)
            .output()
            .expect("git ls-files");
        assert!(out.status.success(), "git ls-files failed for {pattern}");
        let mut want: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        want.sort();
        let mut got: Vec<String> = FILES
            .iter()
            .filter(|f| git_pathspec_match(pattern, f))
            .map(|f| f.to_string())
            .collect();
        got.sort();
        if got != want {
            failures.push(format!("{pattern}: git {want:?}, ours {got:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{}/{} pathspecs agree with git",
        PATTERNS.len() - failures.len(),
        PATTERNS.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
