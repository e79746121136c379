//! `flotilla render kustomize` as a user runs it: helmCharts whose chart is pulled from a
//! Helm repository (a loopback HTTP server of files), as `kustomize build --enable-helm`
//! pulls it with `helm pull`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output};

fn flotilla(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("flotilla runs")
}

fn write(dir: &Path, path: &str, text: &str) {
    let file = dir.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

/// Serves the files under `root` on a loopback port (GET only, 404 otherwise); the base
/// URL.
fn serve_files(root: &Path) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            let file = root.join(path.trim_start_matches('/'));
            let answer = match std::fs::read(&file) {
                Ok(body) if !path.contains("..") => {
                    let mut answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    answer.extend(body);
                    answer
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&answer);
        }
    });
    base
}

/// A Helm repository holding chart `web` 0.1.0 (a ConfigMap named by the release).
fn helm_repository(dir: &Path) -> String {
    write(
        dir,
        "web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    write(dir, "web/values.yaml", "color: blue\n");
    write(
        dir,
        "web/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  color: {{ .Values.color }}\n",
    );
    let out = Command::new("tar")
        .current_dir(dir)
        .args(["czf", "web-0.1.0.tgz", "web"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    write(
        dir,
        "index.yaml",
        "apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 0.1.0\n    urls:\n    - web-0.1.0.tgz\n",
    );
    serve_files(dir)
}

#[test]
fn enable_helm_pulls_a_chart_missing_from_chart_home() {
    let repo_dir = tempfile::tempdir().unwrap();
    let repo = helm_repository(repo_dir.path());
    let work = tempfile::tempdir().unwrap();
    let kustomization = |version: &str| {
        format!(
            "namePrefix: k-\nhelmCharts:\n- name: web\n  repo: {repo}\n  version: {version}\n  releaseName: shop\n  valuesInline:\n    color: green\n"
        )
    };
    write(
        work.path(),
        "deploy/kustomization.yaml",
        &kustomization("0.1.0"),
    );

    let out = flotilla(
        &["render", "kustomize", "--enable-helm", "deploy"],
        work.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("name: k-shop-settings"), "{yaml}");
    assert!(yaml.contains("color: green"), "{yaml}");
    // Nothing is written where helm pull would untar it.
    assert!(!work.path().join("deploy/charts").exists());

    let out = flotilla(&["render", "kustomize", "deploy"], work.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must specify --enable-helm"), "{err}");

    write(
        work.path(),
        "deploy/kustomization.yaml",
        &kustomization("9.9.9"),
    );
    let out = flotilla(
        &["render", "kustomize", "--enable-helm", "deploy"],
        work.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("chart \"web\" version 9.9.9 of repository") && err.contains(&repo),
        "{err}"
    );
}
