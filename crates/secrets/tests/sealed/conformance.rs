//! The Sealed Secrets conformance corpus (../shared/conformance/sealed-secrets): values sealed
//! by `kubeseal` with a published controller key, generated values for the other scopes,
//! SealedSecret manifests and negative cases. Every row must pass; a failure not listed in
//! the known-failures lists fails the test, and so does a listed row that passes.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use flotilla_secrets::{ControllerKey, hybrid_decrypt, unseal};
use serde_json::Value;

/// Rows of raw.jsonl that do not pass yet, with the reason.
const KNOWN_RAW_FAILURES: &[(&str, &str)] = &[];
/// Rows of sealedsecrets/cases.jsonl that do not pass yet, with the reason.
const KNOWN_MANIFEST_FAILURES: &[(&str, &str)] = &[];

fn corpus() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let root = manifest.join("../../../shared/conformance/sealed-secrets");
    assert!(
        root.join("raw.jsonl").is_file() && root.join("sealedsecrets/cases.jsonl").is_file(),
        "sealed-secrets conformance corpus missing at {} (expected ../shared/conformance next to the workspace)",
        root.display()
    );
    root
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rows(path: &Path) -> Vec<Value> {
    String::from_utf8(read(path))
        .expect("jsonl is UTF-8")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

fn controller_key(root: &Path, private_key: &str) -> ControllerKey {
    ControllerKey::from_pem(
        &read(&root.join("keys/tls.crt")),
        &read(&root.join(private_key)),
    )
    .expect("the corpus key reads")
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("corpus base64")
}

/// Compares `failed` with the known list and prints the score.
fn score(what: &str, total: usize, failed: &[(String, String)], known: &[(&str, &str)]) {
    println!("sealed-secrets {what}: {}/{total}", total - failed.len());
    for (name, why) in failed {
        println!("  FAIL {name}: {why}");
    }
    let failed_names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    let known_names: Vec<&str> = known.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        failed_names,
        known_names,
        "sealed-secrets {what}: {}/{total} pass; failures differ from the known list",
        total - failed.len()
    );
}

#[test]
fn raw_values_decrypt_with_the_controller_key() {
    let root = corpus();
    let keys = [controller_key(&root, "keys/tls.key")];
    let cases = rows(&root.join("raw.jsonl"));
    assert!(cases.len() >= 18, "raw.jsonl has {} rows", cases.len());
    let mut failed = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name").to_string();
        let label = case["label"].as_str().expect("label");
        let ciphertext = b64(case["ciphertext_b64"].as_str().expect("ciphertext"));
        let got = hybrid_decrypt(&keys, label.as_bytes(), &ciphertext);
        let expect_error = case["expect_error"].as_bool().unwrap_or(false);
        let expected = match (&case["expected_plaintext_b64"], &case["expected_plaintext"]) {
            (Value::String(b), _) => Some(b64(b)),
            (_, Value::String(t)) => Some(t.as_bytes().to_vec()),
            _ => None,
        };
        let outcome = match (expect_error, got) {
            (true, Err(_)) => Ok(()),
            (true, Ok(_)) => Err("decrypted, expected an error".to_string()),
            (false, Err(e)) => Err(format!("failed: {e}")),
            (false, Ok(plain)) if Some(&plain) == expected.as_ref() => Ok(()),
            (false, Ok(_)) => Err("plaintext differs".to_string()),
        };
        if let Err(why) = outcome {
            failed.push((name, why));
        }
    }
    score("raw", cases.len(), &failed, KNOWN_RAW_FAILURES);
}

#[test]
fn manifests_unseal_to_the_expected_secrets() {
    let root = corpus();
    let cases = rows(&root.join("sealedsecrets/cases.jsonl"));
    assert!(cases.len() >= 7, "cases.jsonl has {} rows", cases.len());
    let mut failed = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().expect("name").to_string();
        let keys = [controller_key(
            &root,
            case["private_key"].as_str().expect("private_key"),
        )];
        let file = root.join(case["file"].as_str().expect("file"));
        let text = String::from_utf8(read(&file)).expect("UTF-8 manifest");
        let manifest: Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let got = unseal(&manifest, &keys);
        let expect_error = case["expect_error"].as_bool().unwrap_or(false);
        let outcome = match (expect_error, got) {
            (true, Err(_)) => Ok(()),
            (true, Ok(_)) => Err("unsealed, expected an error".to_string()),
            (false, Err(e)) => Err(format!("failed: {e}")),
            (false, Ok(secret)) => compare(&secret, &case["expected_secret"]),
        };
        if let Err(why) = outcome {
            failed.push((name, why));
        }
    }
    score("manifests", cases.len(), &failed, KNOWN_MANIFEST_FAILURES);
}

fn compare(secret: &Value, expected: &Value) -> Result<(), String> {
    let checks = [
        (
            "namespace",
            &secret["metadata"]["namespace"],
            &expected["namespace"],
        ),
        ("name", &secret["metadata"]["name"], &expected["name"]),
        ("type", &secret["type"], &expected["type"]),
        ("data", &secret["data"], &expected["data"]),
    ];
    for (what, got, want) in checks {
        if got != want {
            return Err(format!("{what}: got {got}, want {want}"));
        }
    }
    Ok(())
}

/// The key Secret as the controller stores it (kubernetes.io/tls, base64 PEM) reads into the
/// same key: its certificate's NotBefore, PKCS#1 private key and public half agree.
#[test]
fn the_key_secret_reads_as_the_controller_reads_it() {
    let root = corpus();
    let text = String::from_utf8(read(&root.join("keys/sealed-secrets-key.yaml"))).expect("UTF-8");
    let secret: Value = serde_saphyr::from_str(&text).expect("key Secret parses");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let crt = b64(secret["data"]["tls.crt"].as_str().expect("tls.crt"));
    let key = b64(secret["data"]["tls.key"].as_str().expect("tls.key"));
    let from_secret = ControllerKey::from_pem(&crt, &key).expect("reads");
    let from_files = controller_key(&root, "keys/tls.key");
    assert_eq!(from_secret.fingerprint(), from_files.fingerprint());
    assert_eq!(from_secret.not_before(), from_files.not_before());
    assert!(from_secret.not_before() > 1_600_000_000);
    assert!(
        from_secret
            .private_key_pem()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
    );
    // The PKCS#1 PEM we write reads back as the same key.
    let again = ControllerKey::from_pem(&crt, from_secret.private_key_pem().as_bytes())
        .expect("our PEM reads back");
    assert_eq!(again.fingerprint(), from_secret.fingerprint());
    assert_eq!(again.private_key_pem(), from_secret.private_key_pem());
    // The certificate's public key is the private key's public half.
    let sealing = flotilla_secrets::SealingKey::from_certificate_pem(&crt).expect("cert reads");
    assert_eq!(sealing.fingerprint(), from_secret.fingerprint());
    assert_eq!(sealing.bits(), 4096);
}
