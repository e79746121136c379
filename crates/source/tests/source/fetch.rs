//! Fetching and reading over smart HTTP with basic auth, and over file://. Expected
//! ids and changed paths come from git itself (`rev-parse`, `diff --name-only`).

use std::time::Duration;

use flotilla_source::{Credentials, EntryKind, IgnoreRules, Reference};

use crate::support::{GitServer, WorkRepo, git};
use crate::{cache, request};

fn basic() -> Credentials {
    Credentials::Basic {
        username: "flotilla".into(),
        password: "s3cret-pass".into(),
    }
}

fn sample(work: &WorkRepo) -> String {
    work.commit(
        &[
            ("README.md", "# app\n"),
            ("apps/web/deploy.yaml", "kind: Deployment\n"),
            ("apps/web/kustomization.yaml", "resources: [deploy.yaml]\n"),
            ("apps/db/db.yaml", "kind: StatefulSet\n"),
        ],
        "first",
    )
}

#[tokio::test]
async fn http_basic_auth_branch_files_tree_ids_and_changed_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    let first = sample(&work);
    let served = tmp.path().join("served");
    work.publish(&served.join("team/app.git"));
    let server = GitServer::start(&served, Some(("flotilla", "s3cret-pass"))).await;
    let cache = cache(tmp.path());

    let mut req = request(
        &server.url("team/app.git"),
        Reference::Branch("main".into()),
    );
    req.credentials = basic();
    let co = cache.checkout(&req).await.unwrap();
    assert_eq!(co.revision, format!("main@sha1:{first}"));
    assert_eq!(co.commit, first);
    assert_eq!(co.refname.as_deref(), Some("refs/heads/main"));
    assert_eq!(
        server
            .counters
            .unauthorized
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    let snap = co.snapshot.clone();
    assert_eq!(
        snap.tree_id("apps/web").unwrap().unwrap(),
        git(&work.work, &["rev-parse", "HEAD:apps/web"])
    );
    assert_eq!(
        snap.tree_id("").unwrap().unwrap(),
        git(&work.work, &["rev-parse", "HEAD^{tree}"])
    );
    assert_eq!(
        snap.tree_id("README.md").unwrap().unwrap(),
        git(&work.work, &["rev-parse", "HEAD:README.md"])
    );
    assert_eq!(snap.tree_id("apps/none").unwrap(), None);
    assert_eq!(
        snap.read("apps/web/deploy.yaml").unwrap(),
        b"kind: Deployment\n"
    );
    assert_eq!(snap.entry("apps").unwrap(), Some(EntryKind::Dir));
    let files = snap.files("apps/web", &IgnoreRules::none()).unwrap();
    let names: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names, ["deploy.yaml", "kustomization.yaml"]);
    let listed: Vec<_> = snap
        .list("apps")
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        listed,
        [
            "apps/db",
            "apps/db/db.yaml",
            "apps/web",
            "apps/web/deploy.yaml",
            "apps/web/kustomization.yaml"
        ]
    );

    // Second commit: change web, add new, remove db.
    std::fs::remove_dir_all(work.work.join("apps/db")).unwrap();
    let second = work.commit(
        &[
            ("apps/web/deploy.yaml", "kind: Deployment\nspec: {}\n"),
            ("apps/new/a.yaml", "a: 1\n"),
        ],
        "second",
    );
    work.publish(&served.join("team/app.git"));
    req.interval = Duration::ZERO;
    let co2 = cache.checkout(&req).await.unwrap();
    assert_eq!(co2.revision, format!("main@sha1:{second}"));
    let changed = co2.snapshot.changed_paths(&first).unwrap();
    let expected: Vec<String> = git(&work.work, &["diff", "--name-only", &first, &second])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(changed, expected);
    assert_eq!(
        co2.snapshot.tree_id("apps/new").unwrap().unwrap(),
        git(&work.work, &["rev-parse", "HEAD:apps/new"])
    );
    // The old snapshot still reads the old commit.
    assert_eq!(
        snap.read("apps/db/db.yaml").unwrap(),
        b"kind: StatefulSet\n"
    );
    // No secret on disk in the mirror's configuration.
    let mirror = cache.mirror_dir(&req.url, &req.credentials).unwrap();
    let config = std::fs::read_to_string(mirror.join("config")).unwrap();
    assert!(!config.contains("s3cret"), "{config}");
}

#[tokio::test]
async fn file_url_tags_semver_names_commits_and_head() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    let c1 = work.commit(&[("a.txt", "1\n")], "one");
    git(&work.work, &["tag", "-a", "-m", "release", "v1.0.0"]);
    let c2 = work.commit(&[("a.txt", "2\n")], "two");
    git(&work.work, &["tag", "v1.1.0"]);
    let c3 = work.commit(
        &[("a.txt", "3\n")],
        "three: a subject longer than fifty characters, ending here\n\nand a body",
    );
    git(&work.work, &["tag", "v2.0.0-rc.1"]);
    let bare = tmp.path().join("bare/r.git");
    work.publish(&bare);
    let url = format!("file://{}", bare.display());
    let cache = cache(tmp.path());

    let co = cache
        .checkout(&request(&url, Reference::Semver("~1".into())))
        .await
        .unwrap();
    assert_eq!(co.revision, format!("v1.1.0@sha1:{c2}"));
    let co = cache
        .checkout(&request(&url, Reference::Tag("v1.0.0".into())))
        .await
        .unwrap();
    // An annotated tag resolves to its commit.
    assert_eq!(co.revision, format!("v1.0.0@sha1:{c1}"));
    assert_eq!(co.snapshot.read("a.txt").unwrap(), b"1\n");
    assert_eq!(co.snapshot.short_message().as_deref(), Some("one"));
    let co = cache
        .checkout(&request(&url, Reference::Name("refs/tags/v1.0.0".into())))
        .await
        .unwrap();
    assert_eq!(co.revision, format!("refs/tags/v1.0.0@sha1:{c1}"));
    let co = cache
        .checkout(&request(
            &url,
            Reference::Commit {
                id: c2.clone(),
                branch: None,
            },
        ))
        .await
        .unwrap();
    assert_eq!(co.revision, format!("sha1:{c2}"));
    assert_eq!(co.snapshot.read("a.txt").unwrap(), b"2\n");
    let co = cache
        .checkout(&request(
            &url,
            Reference::Commit {
                id: c1.clone(),
                branch: Some("main".into()),
            },
        ))
        .await
        .unwrap();
    assert_eq!(co.revision, format!("main@sha1:{c1}"));
    let co = cache
        .checkout(&request(&url, Reference::Head))
        .await
        .unwrap();
    assert_eq!(co.revision, format!("main@sha1:{c3}"));
    // Flux's short message: the first line, cut at 50 characters.
    assert_eq!(
        co.snapshot.short_message().as_deref(),
        Some("three: a subject longer than fifty characters, end...")
    );
    // Plain local paths name the same repository.
    let co = cache
        .checkout(&request(
            &bare.display().to_string(),
            Reference::Branch("main".into()),
        ))
        .await
        .unwrap();
    assert_eq!(co.commit, c3);
}

#[tokio::test]
async fn exports_apply_flux_ignore_rules_and_sourceignore() {
    let tmp = tempfile::tempdir().unwrap();
    let work = WorkRepo::new(&tmp.path().join("work"));
    work.commit(
        &[
            (".sourceignore", "*.md\n"),
            ("deploy/app.yaml", "a: 1\n"),
            ("deploy/notes.md", "n\n"),
            ("deploy/logo.png", "png"),
            ("deploy/sub/.sourceignore", "secret.yaml\n"),
            ("deploy/sub/secret.yaml", "s\n"),
            ("deploy/sub/ok.yaml", "o\n"),
            (".github/workflows/ci.yaml", "x\n"),
        ],
        "c",
    );
    let bare = tmp.path().join("r.git");
    work.publish(&bare);
    let cache = cache(tmp.path());
    let co = cache
        .checkout(&request(
            &format!("file://{}", bare.display()),
            Reference::Branch("main".into()),
        ))
        .await
        .unwrap();
    let names =
        |files: Vec<flotilla_source::File>| files.into_iter().map(|f| f.path).collect::<Vec<_>>();
    let rules = IgnoreRules::flux(None).unwrap();
    assert_eq!(
        names(co.snapshot.files("deploy", &rules).unwrap()),
        ["app.yaml", "sub/.sourceignore", "sub/ok.yaml"]
    );
    assert_eq!(
        names(co.snapshot.files("", &rules).unwrap()),
        [
            ".sourceignore",
            "deploy/app.yaml",
            "deploy/sub/.sourceignore",
            "deploy/sub/ok.yaml"
        ]
    );
    // spec.ignore replaces the default list (the png comes back).
    let rules = IgnoreRules::flux(Some("/.github/\n")).unwrap();
    assert!(names(co.snapshot.files("deploy", &rules).unwrap()).contains(&"logo.png".to_string()));
}
