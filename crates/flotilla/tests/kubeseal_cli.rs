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
