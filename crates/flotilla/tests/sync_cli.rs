//! `flotilla diff` and `flotilla sync` against kubesim through a kubeconfig, as a user
//! runs them: exit statuses like `kubectl diff`, the per-object table, prune.

use std::path::Path;
use std::process::{Command, Output};

use kubesim::{Fleet, Server};

fn flotilla(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--context", "cluster-001", "--app", "demo"])
        .env_remove("KUBECONFIG")
        .output()
        .expect("flotilla runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn diff_then_sync_then_prune_on_a_kubeconfig_context() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime
        .block_on(Server::start(
            Fleet::with_clusters(2),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .expect("kubesim");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).expect("kubeconfig");
    let app = dir.path().join("app");
    std::fs::create_dir_all(app.join("nested")).unwrap();
    std::fs::write(
        app.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  color: blue\n",
    )
    .unwrap();
    std::fs::write(
        app.join("nested/extra.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  a: b\n",
    )
    .unwrap();
    let path = app.to_str().unwrap();

    let out = flotilla(&kubeconfig, &["diff", path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let diff = text(&out.stdout);
    assert!(
        diff.contains("+++ desired/v1.ConfigMap.default.settings"),
        "{diff}"
    );
    assert!(diff.contains("+  color: blue"), "{diff}");

    let out = flotilla(&kubeconfig, &["sync", path]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.starts_with("KIND"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ConfigMap") && l.contains("settings") && l.contains("created")),
        "{table}"
    );

    let out = flotilla(&kubeconfig, &["diff", path]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "");

    std::fs::remove_file(app.join("nested/extra.yaml")).unwrap();
    let out = flotilla(&kubeconfig, &["diff", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("--- live/v1.ConfigMap.default.extra"));
    let out = flotilla(&kubeconfig, &["sync", path, "--prune"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.contains("extra") && l.contains("pruned")),
        "{}",
        text(&out.stdout)
    );

    // The other context is another cluster: nothing there.
    let other = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["diff", path, "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--context", "cluster-000", "--app", "demo"])
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(1));

    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["diff", path, "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--context", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope"), "{}", text(&out.stderr));
    // A kustomize overlay over a base next to it, run from their parent directory.
    std::fs::create_dir_all(dir.path().join("kust/base")).unwrap();
    std::fs::create_dir_all(dir.path().join("kust/prod")).unwrap();
    std::fs::write(
        dir.path().join("kust/base/kustomization.yaml"),
        "resources: [cm.yaml]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kust/base/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("kust/prod/kustomization.yaml"),
        "namePrefix: prod-\nresources: [../base]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .current_dir(dir.path().join("kust"))
        .args(["sync", "prod", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--context", "cluster-001"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.contains("prod-conf") && l.contains("created")),
        "{}",
        text(&out.stdout)
    );
    let _guard = runtime.enter();
    drop(server);
}
