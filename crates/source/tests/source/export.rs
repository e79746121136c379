//! `Snapshot::write_files`: what it writes is what `Snapshot::files` returns (paths,
//! bytes, executable bits), on one thread or several; refusals write nothing.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use flotilla_source::{
    CacheOptions, IgnoreRules, MirrorCache, ReadLimits, Reference, SnapshotError,
};

use crate::support::{WorkRepo, git};
use crate::{cache, request};

/// Every file below `dir`: (relative path, contents, executable), sorted.
fn on_disk(dir: &Path) -> Vec<(String, Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            assert!(!meta.file_type().is_symlink(), "{:?} is a link", e.path());
            if meta.is_dir() {
                stack.push(e.path());
                continue;
            }
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let exec = meta.permissions().mode() & 0o111 != 0;
            out.push((rel, std::fs::read(e.path()).unwrap(), exec));
        }
    }
    out.sort();
    out
}

/// 300 similar files in nested directories (so the pack holds delta chains), an
/// executable, an in-tree link to a file and a link to a directory.
fn sample(work: &WorkRepo) -> String {
    let bodies: Vec<(String, String)> = (0..300)
        .map(|i| {
            (
                format!("apps/app-{:02}/cm-{i}.yaml", i % 20),
                format!(
                    "kind: ConfigMap\nname: cm-{i}\npayload: {}\n",
                    "x".repeat(300)
                ),
            )
        })
        .collect();
    let mut files: Vec<(&str, &str)> = bodies
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_str()))
        .collect();
    files.push(("README.md", "# fleet\n"));
    files.push(("bin/run.sh", "#!/bin/sh\necho run\n"));
    work.symlink("apps/alias.yaml", "app-01/cm-1.yaml");
    work.symlink("apps/all", "app-02");
    for (path, contents) in &files {
        let p = work.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
    let run = work.work.join("bin/run.sh");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    work.commit(&[], "sample")
}

#[tokio::test]
async fn written_files_are_the_snapshots_files() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    sample(&work);
    let bare = tmp.path().join("r.git");
    work.publish(&bare);
    let co = cache(tmp.path())
        .checkout(&request(
            &format!("file://{}", bare.display()),
            Reference::Head,
        ))
        .await
        .unwrap();
    let snap = &co.snapshot;
    for (path, threads) in [("", 1), ("", 3), ("apps", 4), ("bin", 2)] {
        let expected: Vec<_> = snap
            .files(path, &IgnoreRules::none())
            .unwrap()
            .into_iter()
            .map(|f| (f.path, f.contents, f.executable))
            .collect();
        let dest = tmp
            .path()
            .join(format!("out-{}-{threads}", path.replace('/', "_")));
        let n = snap
            .write_files(path, &IgnoreRules::none(), &dest, threads)
            .unwrap();
        assert_eq!(n, expected.len());
        assert_eq!(
            on_disk(&dest),
            expected,
            "export of {path:?} on {threads} threads"
        );
    }
    // The oracle for the whole tree: git's own checkout (the link to a directory is
    // the one thing left out, and the in-tree link becomes its target's bytes).
    let dest = tmp.path().join("whole");
    snap.write_files("", &IgnoreRules::none(), &dest, 2)
        .unwrap();
    let listed = git(&work.work, &["ls-files"]);
    let mut want: Vec<&str> = listed.lines().filter(|p| *p != "apps/all").collect();
    want.sort();
    let got = on_disk(&dest);
    assert_eq!(
        got.iter().map(|(p, _, _)| p.as_str()).collect::<Vec<_>>(),
        want
    );
    for (path, contents, exec) in &got {
        assert_eq!(
            contents,
            &std::fs::read(work.work.join(path)).unwrap(),
            "{path}"
        );
        assert_eq!(*exec, path == "bin/run.sh", "{path}");
    }
}

#[tokio::test]
async fn refusals_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    sample(&work);
    work.symlink("apps/app-03/out.yaml", "../../README.md");
    work.commit(&[], "a link out of apps/app-03");
    let bare = tmp.path().join("r.git");
    work.publish(&bare);
    let url = format!("file://{}", bare.display());
    let co = cache(tmp.path())
        .checkout(&request(&url, Reference::Head))
        .await
        .unwrap();
    let none = IgnoreRules::none();

    let dest = tmp.path().join("escape");
    let err = co
        .snapshot
        .write_files("apps/app-03", &none, &dest, 2)
        .unwrap_err();
    assert!(
        matches!(err, SnapshotError::SymlinkEscapes { .. }),
        "{err:?}"
    );
    assert!(!dest.exists());

    let dest = tmp.path().join("busy");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("keep"), "mine").unwrap();
    let err = co.snapshot.write_files("bin", &none, &dest, 2).unwrap_err();
    assert!(matches!(err, SnapshotError::Write { .. }), "{err:?}");
    assert_eq!(std::fs::read(dest.join("keep")).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1);

    let mut opts = CacheOptions::new(tmp.path().join("limited"));
    opts.read_limits = ReadLimits {
        max_files: 100,
        ..ReadLimits::default()
    };
    let co = MirrorCache::new(opts)
        .unwrap()
        .checkout(&request(&url, Reference::Head))
        .await
        .unwrap();
    let dest = tmp.path().join("too-many");
    let err = co.snapshot.write_files("", &none, &dest, 2).unwrap_err();
    assert!(
        matches!(err, SnapshotError::ExportTooLarge { .. }),
        "{err:?}"
    );
    assert!(!dest.exists());
}
