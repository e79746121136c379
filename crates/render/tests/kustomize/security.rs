//! Inputs a build must refuse, each with an error that names the file and the cause.

use std::path::Path;

use flotilla_render::kustomize::{self, DirTree, Error, MemTree, TreeError};

/// A fresh directory in the temp area, removed when the guard drops.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("creating scratch dir")
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("creating dirs");
    }
    std::fs::write(p, text).expect("writing file");
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n";

#[test]
fn resource_path_escaping_the_root_is_refused() {
    let tree =
        MemTree::from_files([("app/kustomization.yaml", "resources:\n- ../../etc/passwd\n")]);
    let err = kustomize::build(&tree, "app").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("app/kustomization.yaml:"), "{msg}");
    assert!(msg.contains("escapes the root"), "{msg}");
}

#[test]
fn file_outside_the_kustomization_directory_is_refused() {
    let tree = MemTree::from_files([
        (
            "app/kustomization.yaml",
            "resources:\n- ../shared/cm.yaml\n",
        ),
        ("shared/cm.yaml", CM),
    ]);
    let msg = kustomize::build(&tree, "app").unwrap_err().to_string();
    assert!(
        msg.contains("app/kustomization.yaml") && msg.contains("is not in or below 'app'"),
        "{msg}"
    );
}

#[cfg(unix)]
#[test]
fn symlink_escaping_the_repository_is_refused() {
    let outside_guard = scratch();
    let outside = outside_guard.path();
    write(outside, "secret.yaml", CM);
    let repo_guard = scratch();
    let repo = repo_guard.path();
    write(
        repo,
        "app/kustomization.yaml",
        "resources:\n- secret.yaml\n",
    );
    std::os::unix::fs::symlink(outside.join("secret.yaml"), repo.join("app/secret.yaml"))
        .expect("symlink");
    let tree = DirTree::new(repo).expect("tree");
    let err = kustomize::build(&tree, "app").unwrap_err();
    assert!(
        matches!(err, Error::Tree(TreeError::Escapes { ref path, .. }) if path == "app/secret.yaml"),
        "{err}"
    );
    assert!(
        err.to_string().contains("a symlink leads outside the tree"),
        "{err}"
    );
}

#[test]
fn remote_resources_are_refused() {
    for url in [
        "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.5.0",
        "github.com/org/repo/deploy?ref=main",
        "git@github.com:org/repo.git",
    ] {
        let tree = MemTree::from_files([("kustomization.yaml", format!("resources:\n- {url}\n"))]);
        let err = kustomize::build(&tree, "").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Unsupported {
                    what: "remote resource",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("kustomization.yaml: remote resource is not supported"),
            "{err}"
        );
    }
}

#[test]
fn yaml_alias_bomb_is_refused() {
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..15 {
        let p = i - 1;
        let refs = vec![format!("*a{p}"); 10].join(", ");
        bomb.push_str(&format!("  a{i}: &a{i} [{refs}]\n"));
    }
    let tree = MemTree::from_files([
        ("kustomization.yaml", "resources:\n- bomb.yaml\n"),
        ("bomb.yaml", bomb.as_str()),
    ]);
    let err = kustomize::build(&tree, "").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("bomb.yaml: invalid YAML"), "{msg}");
}

#[test]
fn file_of_100_mib_is_refused() {
    let repo_guard = scratch();
    let repo = repo_guard.path();
    write(repo, "kustomization.yaml", "resources:\n- big.yaml\n");
    let f = std::fs::File::create(repo.join("big.yaml")).expect("create");
    // Sparse: no 100 MiB written to disk.
    f.set_len(100 * 1024 * 1024).expect("set_len");
    let tree = DirTree::new(repo).expect("tree");
    let err = kustomize::build(&tree, "").unwrap_err();
    assert!(
        matches!(err, Error::Tree(TreeError::TooLarge { ref path, .. }) if path == "big.yaml"),
        "{err}"
    );
}

#[test]
fn plugins_and_unpulled_helm_charts_are_refused() {
    // Without --enable-helm, as kustomize; with it, a chart not vendored is not pulled here.
    let tree = MemTree::from_files([(
        "kustomization.yaml",
        "helmCharts:\n- name: redis\n  repo: https://charts.example\n",
    )]);
    let err = kustomize::build(&tree, "").unwrap_err();
    assert!(
        err.to_string().contains("must specify --enable-helm"),
        "{err}"
    );
    let enabled = kustomize::BuildOptions {
        enable_helm: true,
        ..Default::default()
    };
    // The build itself never pulls: it names the chart for its caller to pull.
    let err = kustomize::build_with(&tree, "", &enabled).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ChartNotPulled(ref pull) if pull.repo == "https://charts.example" && pull.name == "redis"
        ),
        "{err}"
    );
    let tree = MemTree::from_files([
        ("kustomization.yaml", "transformers:\n- plugin.yaml\n"),
        (
            "plugin.yaml",
            "apiVersion: example.com/v1\nkind: MyTransformer\nmetadata:\n  name: x\n",
        ),
    ]);
    let err = kustomize::build(&tree, "").unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
}
