//! `flotilla kubeseal` as a user runs it: seal with a certificate file, unseal offline with
//! the controller's private key (`--recovery-unseal`), `--raw` values, and a SealedSecret of
//! the conformance corpus (../shared/conformance/sealed-secrets).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use flotilla_secrets::ControllerKey;
use serde_json::{Value, json};

fn flotilla(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        // No kubeconfig unless a test names one: the namespace is then `default`.
        .env("KUBECONFIG", "/nonexistent/flotilla-test-kubeconfig")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flotilla runs");
    child
        .stdin
        .take()
        .expect("stdin piped")
        .write_all(stdin)
        .expect("stdin written");
    child.wait_with_output().expect("flotilla finishes")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "flotilla failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "flotilla succeeded unexpectedly");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A fresh controller key written as the controller's files: tls.crt, tls.key, and a backup
/// of the key Secret.
fn controller_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let key = ControllerKey::generate(
        2048,
        "sealed-secrets-controller",
        now - 60,
        Duration::from_secs(3600),
    )
    .expect("key generates");
    let crt = dir.join("tls.crt");
    let pem = dir.join("tls.key");
    let backup = dir.join("main.key.yaml");
    std::fs::write(&crt, key.certificate_pem()).unwrap();
    std::fs::write(&pem, key.private_key_pem()).unwrap();
    let secret = json!({
        "apiVersion": "v1", "kind": "List", "items": [{
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "sealed-secrets-keyabc", "namespace": "kube-system",
                         "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"}},
            "data": {"tls.crt": b64(key.certificate_pem()), "tls.key": b64(key.private_key_pem())},
        }]
    });
    std::fs::write(&backup, serde_json::to_string(&secret).unwrap()).unwrap();
    (crt, pem, backup)
}

const SECRET: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: web
type: Opaque
data:
  password: aHVudGVyMg==
stringData:
  user: app
";

#[test]
fn a_sealed_secret_recovery_unseals_to_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, pem, backup) = controller_files(dir.path());
    let crt = crt.to_str().unwrap();

    let sealed = ok(&flotilla(
        &[
            "kubeseal",
            "--cert",
            crt,
            "--scope",
            "namespace-wide",
            "-o",
            "yaml",
        ],
        SECRET.as_bytes(),
    ));
    assert!(
        sealed.starts_with("---\napiVersion: bitnami.com/v1alpha1\n"),
        "{sealed}"
    );
    assert!(
        sealed.contains("sealedsecrets.bitnami.com/namespace-wide: \"true\""),
        "{sealed}"
    );
    assert!(!sealed.contains("aHVudGVyMg") && !sealed.contains("hunter2"));

    for key in [&pem, &backup] {
        let secret = ok(&flotilla(
            &[
                "kubeseal",
                "--recovery-unseal",
                "--recovery-private-key",
                key.to_str().unwrap(),
            ],
            sealed.as_bytes(),
        ));
        let secret: Value = serde_json::from_str(&secret).expect("JSON by default");
        assert_eq!(secret["kind"], "Secret");
        assert_eq!(secret["metadata"]["name"], "db");
        assert_eq!(secret["metadata"]["namespace"], "web");
        assert_eq!(secret["type"], "Opaque");
        assert_eq!(
            secret["data"],
            json!({"password": "aHVudGVyMg==", "user": b64("app")})
        );
    }
}

#[test]
fn a_raw_value_opens_in_its_sealed_secret_only() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, pem, _) = controller_files(dir.path());
    let value = dir.path().join("value.txt");
    std::fs::write(&value, "s3cr3t").unwrap();
    let from_file = format!("token={}", value.display());
    let raw = ok(&flotilla(
        &[
            "kubeseal",
            "--raw",
            "--cert",
            crt.to_str().unwrap(),
            "--name",
            "api",
            "--namespace",
            "web",
            "--from-file",
            &from_file,
        ],
        b"",
    ));
    assert!(!raw.ends_with('\n'), "kubeseal prints the bare value");
    let sealed = |name: &str| {
        json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
               "metadata": {"name": name, "namespace": "web"},
               "spec": {"encryptedData": {"token": raw}, "template": {"type": "Opaque"}}})
        .to_string()
    };
    let key = pem.to_str().unwrap();
    let secret = ok(&flotilla(
        &[
            "kubeseal",
            "--recovery-unseal",
            "--recovery-private-key",
            key,
            "-o",
            "yaml",
        ],
        sealed("api").as_bytes(),
    ));
    assert!(
        secret.contains(&format!("token: {}", b64("s3cr3t"))),
        "{secret}"
    );
    let err = failed(&flotilla(
        &[
            "kubeseal",
            "--recovery-unseal",
            "--recovery-private-key",
            key,
        ],
        sealed("other").as_bytes(),
    ));
    assert!(
        err.contains("no key could decrypt secret (encryptedData.token)"),
        "{err}"
    );

    let err = failed(&flotilla(
        &[
            "kubeseal",
            "--raw",
            "--cert",
            crt.to_str().unwrap(),
            "--namespace",
            "web",
        ],
        b"x",
    ));
    assert!(
        err.contains("must provide the --name flag with --raw and --scope strict"),
        "{err}"
    );
}

#[test]
fn a_bad_certificate_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, pem, _) = controller_files(dir.path());
    let err = failed(&flotilla(
        &["kubeseal", "--cert", pem.to_str().unwrap()],
        SECRET.as_bytes(),
    ));
    assert!(err.contains(pem.to_str().unwrap()), "{err}");
    assert!(
        err.contains("data does not contain any valid RSA or ECDSA certificates"),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");

    let err = failed(&flotilla(
        &["kubeseal", "--cert", "/nonexistent/cert.pem"],
        SECRET.as_bytes(),
    ));
    assert!(err.contains("reading /nonexistent/cert.pem"), "{err}");
}

fn corpus() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let root = manifest.join("../../../shared/conformance/sealed-secrets");
    assert!(
        root.join("keys/tls.key").is_file(),
        "sealed-secrets conformance corpus missing at {} (expected ../shared/conformance next to the workspace)",
        root.display()
    );
    root
}

#[test]
fn a_conformance_manifest_recovery_unseals_with_the_controller_key_secret() {
    let root = corpus();
    let key = root.join("keys/sealed-secrets-key.yaml");
    let manifest = root.join("sealedsecrets/strict-template.yaml");
    let secret = ok(&flotilla(
        &[
            "kubeseal",
            "--recovery-unseal",
            "--recovery-private-key",
            key.to_str().unwrap(),
            "-f",
            manifest.to_str().unwrap(),
        ],
        b"",
    ));
    let secret: Value = serde_json::from_str(&secret).unwrap();
    assert_eq!(secret["metadata"]["namespace"], "my-namespace");
    assert_eq!(secret["data"]["db_password"], b64("my-password-for-dev-db"));
    assert_eq!(
        secret["data"]["dsn"],
        b64("postgres://app:my-password-for-dev-db@db:5432/app")
    );

    let moved = root.join("sealedsecrets/moved.yaml");
    let err = failed(&flotilla(
        &[
            "kubeseal",
            "--recovery-unseal",
            "--recovery-private-key",
            root.join("keys/tls.key").to_str().unwrap(),
            "-f",
            moved.to_str().unwrap(),
        ],
        b"",
    ));
    assert!(err.contains("no key could decrypt secret ("), "{err}");
    assert!(err.contains(moved.to_str().unwrap()), "{err}");
}

/// Serves `body` with `status` to every request on a loopback port, in a thread; the URL.
fn serve(status: &'static str, body: Vec<u8>) -> String {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/x-pem-file\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

/// `--cert <URL>` (the hub serves each cluster's certificate) seals as the file does; a
/// URL that does not answer 200 is refused with kubeseal's words.
#[test]
fn the_certificate_can_be_fetched_from_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, pem, _) = controller_files(dir.path());
    let url = serve("200 OK", std::fs::read(&crt).unwrap());
    let sealed = ok(&flotilla(
        &[
            "kubeseal",
            "--cert",
            &format!("{url}/sealed-secrets/east/v1/cert.pem"),
        ],
        SECRET.as_bytes(),
    ));
    let secret = ok(&flotilla(
        &[
            "kubeseal",
            "--recovery-unseal",
            "--recovery-private-key",
            pem.to_str().unwrap(),
        ],
        sealed.as_bytes(),
    ));
    let secret: Value = serde_json::from_str(&secret).unwrap();
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");

    let file_url = format!("file://{}", crt.display());
    ok(&flotilla(
        &["kubeseal", "--cert", &file_url],
        SECRET.as_bytes(),
    ));

    let missing = serve("404 Not Found", b"no Sealed Secrets key\n".to_vec());
    let error = failed(&flotilla(
        &[
            "kubeseal",
            "--cert",
            &format!("{missing}/sealed-secrets/west/v1/cert.pem"),
        ],
        SECRET.as_bytes(),
    ));
    assert!(
        error.contains(&format!(
            "cannot fetch \"{missing}/sealed-secrets/west/v1/cert.pem\": 404"
        )),
        "{error}"
    );
}

const MORE: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: web
  labels:
    tier: backend
stringData:
  token: t0k3n
";

/// `--merge-into`: the new Secret's items sealed into the existing file, which keeps its
/// items, its format and its other fields; recovery-unseal then shows them all.
#[test]
fn merged_items_join_the_sealed_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let (crt, pem, _) = controller_files(dir.path());
    let crt = crt.to_str().unwrap();
    let file = dir.path().join("db.yaml");
    let file_arg = file.to_str().unwrap();
    ok(&flotilla(
        &["kubeseal", "--cert", crt, "-w", file_arg],
        SECRET.as_bytes(),
    ));
    let before = std::fs::read_to_string(&file).unwrap();
    let password_before = yaml_field(&before, "password");

    let printed = ok(&flotilla(
        &["kubeseal", "--cert", crt, "--merge-into", file_arg],
        MORE.as_bytes(),
    ));
    assert_eq!(printed, "", "the file is written, nothing printed");
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(after.starts_with("---\n"), "still YAML: {after}");
    assert_eq!(
        yaml_field(&after, "password"),
        password_before,
        "kept as it was"
    );
    assert!(!after.contains("t0k3n"));

    let secret = ok(&flotilla(
        &[
            "kubeseal",
            "--recovery-unseal",
            "--recovery-private-key",
            pem.to_str().unwrap(),
            "-f",
            file_arg,
        ],
        b"",
    ));
    let secret: Value = serde_json::from_str(&secret).unwrap();
    assert_eq!(
        secret["data"],
        json!({"password": "aHVudGVyMg==", "user": b64("app"), "token": b64("t0k3n")})
    );
    assert_eq!(secret["metadata"]["labels"]["tier"], "backend");

    let not_sealed = dir.path().join("secret.yaml");
    std::fs::write(&not_sealed, SECRET).unwrap();
    let err = failed(&flotilla(
        &[
            "kubeseal",
            "--cert",
            crt,
            "--merge-into",
            not_sealed.to_str().unwrap(),
        ],
        MORE.as_bytes(),
    ));
    assert!(err.contains("not a SealedSecret"), "{err}");
    assert_eq!(std::fs::read_to_string(&not_sealed).unwrap(), SECRET);
}

/// The value of `key:` in a YAML text (the first such line).
fn yaml_field(yaml: &str, key: &str) -> String {
    let prefix = format!("{key}: ");
    yaml.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key} in {yaml}"))
        .to_string()
}

/// A controller key with its certificate valid from `not_before` for a day, and its
/// private key written to `dir/<name>.key`.
fn key_at(dir: &Path, name: &str, not_before: i64) -> (ControllerKey, PathBuf) {
    let key = ControllerKey::generate(2048, name, not_before, Duration::from_secs(86_400))
        .expect("key generates");
    let path = dir.join(format!("{name}.key"));
    std::fs::write(&path, key.private_key_pem()).unwrap();
    (key, path)
}

/// The hub's Sealed Secrets endpoints serving cluster `east` with `keys`, on a loopback
/// port in a thread of their own; east's controller URL.
fn serve_controller(keys: Vec<ControllerKey>) -> String {
    use flotilla_hub::sealed_secrets::{ClusterKeys, RateQuota, router};
    let served = ClusterKeys::default();
    served.set("east", keys);
    let quota = RateQuota {
        per_second: 100,
        burst: 100,
    };
    let app = router(served, quota);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    format!("http://{address}/sealed-secrets/east")
}

/// `--validate` and `--re-encrypt` against the hub's own endpoints: a SealedSecret of an
/// older key is valid and comes back sealed with the newest one (the file rewritten in
/// place); one of a key the cluster does not have is named; both need `--controller-url`.
#[test]
fn the_controller_validates_and_re_encrypts_sealed_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (old, old_key) = key_at(dir.path(), "old", now - 120);
    let (newest, newest_key) = key_at(dir.path(), "newest", now - 60);
    let (foreign, _) = key_at(dir.path(), "foreign", now - 60);
    let url = serve_controller(vec![newest.clone(), old.clone()]);

    let seal_with = |key: &ControllerKey, file: &str| {
        let crt = dir.path().join(format!("{file}.crt"));
        std::fs::write(&crt, key.certificate_pem()).unwrap();
        let out = dir.path().join(file);
        ok(&flotilla(
            &[
                "kubeseal",
                "--cert",
                crt.to_str().unwrap(),
                "-w",
                out.to_str().unwrap(),
            ],
            SECRET.as_bytes(),
        ));
        out.to_str().unwrap().to_string()
    };
    let sealed = seal_with(&old, "db.json");
    let stranger = seal_with(&foreign, "stranger.json");

    let valid = ok(&flotilla(
        &[
            "kubeseal",
            "--validate",
            "--controller-url",
            &url,
            "-f",
            &sealed,
        ],
        b"",
    ));
    assert_eq!(valid, "");
    let err = failed(&flotilla(
        &[
            "kubeseal",
            "--validate",
            "--controller-url",
            &url,
            "-f",
            &stranger,
        ],
        b"",
    ));
    assert!(err.contains("unable to decrypt sealed secret: db"), "{err}");
    let west = url.replace("/east", "/west");
    let err = failed(&flotilla(
        &[
            "kubeseal",
            "--validate",
            "--controller-url",
            &west,
            "-f",
            &sealed,
        ],
        b"",
    ));
    assert!(err.contains("cannot validate sealed secret: 404"), "{err}");

    // In place: -f without -w.
    let before = std::fs::read_to_string(&sealed).unwrap();
    let printed = ok(&flotilla(
        &[
            "kubeseal",
            "--re-encrypt",
            "--controller-url",
            &url,
            "-f",
            &sealed,
        ],
        b"",
    ));
    assert_eq!(printed, "");
    let after = std::fs::read_to_string(&sealed).unwrap();
    assert_ne!(after, before);
    let rewritten: Value = serde_json::from_str(&after).expect("still JSON");
    assert_eq!(rewritten["kind"], "SealedSecret");
    assert_eq!(rewritten["metadata"]["creationTimestamp"], Value::Null);
    let unseal_with = |key: &Path| {
        flotilla(
            &[
                "kubeseal",
                "--recovery-unseal",
                "--recovery-private-key",
                key.to_str().unwrap(),
                "-f",
                &sealed,
            ],
            b"",
        )
    };
    let secret: Value = serde_json::from_str(&ok(&unseal_with(&newest_key))).unwrap();
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    let err = failed(&unseal_with(&old_key));
    assert!(err.contains("no key could decrypt secret"), "{err}");

    let yaml = ok(&flotilla(
        &[
            "kubeseal",
            "--re-encrypt",
            "--controller-url",
            &url,
            "-o",
            "yaml",
        ],
        after.as_bytes(),
    ));
    assert!(
        yaml.starts_with("---\napiVersion: bitnami.com/v1alpha1\n"),
        "{yaml}"
    );
    let err = failed(&flotilla(
        &[
            "kubeseal",
            "--re-encrypt",
            "--controller-url",
            &url,
            "-f",
            &stranger,
        ],
        b"",
    ));
    assert!(err.contains("cannot re-encrypt secret: 500"), "{err}");

    for mode in ["--validate", "--re-encrypt"] {
        let err = failed(&flotilla(&["kubeseal", mode, "-f", &sealed], b""));
        assert!(
            err.contains(&format!("{mode} needs --controller-url")),
            "{err}"
        );
    }
}

/// `--fetch-cert` prints the controller's newest certificate as it came, and without
/// `--cert` a Secret is sealed with that certificate, as kubeseal seals with its cluster's
/// controller; with neither flag the error names both.
#[test]
fn the_controllers_certificate_is_fetched_and_seals_without_cert() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (old, _) = key_at(dir.path(), "old", now - 120);
    let (newest, newest_key) = key_at(dir.path(), "newest", now - 60);
    let url = serve_controller(vec![old.clone(), newest.clone()]);

    let pem = ok(&flotilla(
        &["kubeseal", "--fetch-cert", "--controller-url", &url],
        b"",
    ));
    assert_eq!(pem, newest.certificate_pem());
    // A --cert wins over the controller, as kubeseal's OpenCert.
    let crt = dir.path().join("old.crt");
    std::fs::write(&crt, old.certificate_pem()).unwrap();
    let pem = ok(&flotilla(
        &[
            "kubeseal",
            "--fetch-cert",
            "--cert",
            crt.to_str().unwrap(),
            "--controller-url",
            &url,
        ],
        b"",
    ));
    assert_eq!(pem, old.certificate_pem());

    let sealed = dir.path().join("sealed.json");
    ok(&flotilla(
        &[
            "kubeseal",
            "--controller-url",
            &url,
            "-w",
            sealed.to_str().unwrap(),
        ],
        SECRET.as_bytes(),
    ));
    let secret: Value = serde_json::from_str(&ok(&flotilla(
        &[
            "kubeseal",
            "--recovery-unseal",
            "--recovery-private-key",
            newest_key.to_str().unwrap(),
            "-f",
            sealed.to_str().unwrap(),
        ],
        b"",
    )))
    .unwrap();
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");

    let err = failed(&flotilla(&["kubeseal", "--fetch-cert"], b""));
    assert!(
        err.contains("--cert or --controller-url is required"),
        "{err}"
    );
    let west = url.replace("/east", "/west");
    let err = failed(&flotilla(
        &["kubeseal", "--fetch-cert", "--controller-url", &west],
        b"",
    ));
    assert!(err.contains("cannot fetch") && err.contains("404"), "{err}");
}

/// A Secret without a namespace is sealed into `-n`'s, else the kubeconfig context's
/// (`--context`, else the current one), else `default` — as kubeseal takes client-go's
/// namespace; a context the kubeconfig lacks is an error.
#[test]
fn a_secret_without_a_namespace_takes_the_kubeconfig_contexts() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (key, _) = key_at(dir.path(), "controller", now - 60);
    let crt = dir.path().join("tls.crt");
    std::fs::write(&crt, key.certificate_pem()).unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: payments\nclusters:\n- name: east\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: me\n  user: {}\ncontexts:\n- name: payments\n  context:\n    cluster: east\n    user: me\n    namespace: team-payments\n- name: bare\n  context:\n    cluster: east\n    user: me\n",
    )
    .unwrap();
    let secret = SECRET.replace("  namespace: web\n", "");
    let sealed_namespace = |extra: &[&str]| {
        let mut args = vec!["kubeseal", "--cert", crt.to_str().unwrap()];
        args.extend_from_slice(extra);
        let sealed: Value = serde_json::from_str(&ok(&flotilla(&args, secret.as_bytes()))).unwrap();
        sealed["metadata"]["namespace"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let file = kubeconfig.to_str().unwrap();
    assert_eq!(sealed_namespace(&[]), "default");
    assert_eq!(sealed_namespace(&["--kubeconfig", file]), "team-payments");
    assert_eq!(
        sealed_namespace(&["--kubeconfig", file, "--context", "bare"]),
        "default"
    );
    assert_eq!(
        sealed_namespace(&["--kubeconfig", file, "-n", "team-b"]),
        "team-b"
    );
    let err = failed(&flotilla(
        &[
            "kubeseal",
            "--cert",
            crt.to_str().unwrap(),
            "--kubeconfig",
            file,
            "--context",
            "nowhere",
        ],
        secret.as_bytes(),
    ));
    assert!(err.contains("context \"nowhere\" does not exist"), "{err}");
}
