//! SOPS decryption against the vectors in ../shared/conformance/sops (getsops/sops
//! v3.13.2 files, their data keys re-wrapped for an age test recipient): every JSON and
//! YAML file must decrypt to its expected tree with its MAC verified, and every tampered
//! file must fail for the expected reason. The failing set must equal `KNOWN_FAILURES`.
//!
//! dotenv files must decrypt to upstream's exact plaintext output; binary files and
//! INI files and the output formats are checked in `sops_formats.rs`.

use std::path::{Path, PathBuf};

use flotilla_render::sops::{self, Identities, PgpKeyring, Recipient, SopsError};
use serde_json::Value;

/// Cases that do not decrypt, with the reason.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/sops");
    assert!(
        dir.join("cases.jsonl").is_file(),
        "SOPS vectors missing at {} (expected ../shared/conformance/sops next to the workspace)",
        dir.display()
    );
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn document(path: &Path, format: &str) -> Value {
    let text = read(path);
    match format {
        "json" => serde_json::from_str(&text).expect("json"),
        _ => serde_saphyr::from_str(&text).expect("yaml"),
    }
}

fn identities(root: &Path, file: &str) -> Identities {
    Identities::parse([read(&root.join(file)).as_str()]).expect("identities")
}

fn lines(path: &Path) -> Vec<Value> {
    read(path)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("jsonl"))
        .collect()
}

#[test]
fn sops_conformance() {
    let root = corpus();
    let keys = identities(&root, "age/keys.txt");
    let (mut run, mut failed) = (0, Vec::new());
    for case in lines(&root.join("cases.jsonl")) {
        let format = case["format"].as_str().unwrap();
        if !["json", "yaml", "dotenv"].contains(&format) {
            continue;
        }
        run += 1;
        let name = case["name"].as_str().unwrap().to_string();
        let expected: Value =
            serde_json::from_str(&read(&root.join(case["expected"].as_str().unwrap()))).unwrap();
        if format == "dotenv" {
            let text = read(&root.join(case["file_age"].as_str().unwrap()));
            let want = expected["exact_plaintext_output"]
                .as_str()
                .expect("dotenv output");
            match sops::decrypt_dotenv(&text, &keys) {
                Ok(plain) if plain == want => {}
                other => {
                    println!("{name}: {other:?}");
                    failed.push(name);
                }
            }
            continue;
        }
        let mut doc = document(&root.join(case["file_age"].as_str().unwrap()), format);
        let result = sops::decrypt(&mut doc, &keys);
        let ok = if expected["requires_ignore_mac"] == true {
            // No MAC: decryption must fail unless MAC checking is disabled.
            result.is_err()
        } else {
            match result {
                Ok(()) => doc == expected["tree"],
                Err(e) => {
                    println!("{name}: {e}");
                    false
                }
            }
        };
        if !ok {
            failed.push(name);
        }
    }
    println!(
        "sops conformance: {}/{run} files decrypt as upstream",
        run - failed.len()
    );
    let known: Vec<&str> = KNOWN_FAILURES.iter().map(|(n, _)| *n).collect();
    failed.sort();
    let mut want = known.clone();
    want.sort();
    assert_eq!(failed, want, "the failing set changed");
    assert!(
        run >= 11,
        "the corpus shrank to {run} JSON/YAML/dotenv files"
    );
}

/// A keyring that opens exactly the PGP messages it was given, with the data keys the
/// vectors record (`data_key_hex`): GnuPG itself is exercised by the hub's tests; this
/// checks that the PGP entries of upstream's own files are found and used.
struct RecordedKeys(Vec<(String, Vec<u8>)>);

impl PgpKeyring for RecordedKeys {
    fn decrypt(&self, armored: &str) -> Option<Vec<u8>> {
        self.0
            .iter()
            .find(|(message, _)| message == armored)
            .map(|(_, key)| key.clone())
    }
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The upstream files as sops wrote them, their data keys wrapped with PGP only: each
/// must decrypt through its first `pgp` entry, MAC verified, to the expected tree; a
/// keyring that opens nothing names both kinds of key in its error.
#[test]
fn upstream_files_decrypt_through_their_pgp_entries() {
    let root = corpus();
    let mut run = 0;
    for case in lines(&root.join("cases.jsonl")) {
        let format = case["format"].as_str().unwrap();
        let expected: Value =
            serde_json::from_str(&read(&root.join(case["expected"].as_str().unwrap()))).unwrap();
        if !["json", "yaml", "dotenv"].contains(&format) || expected["requires_ignore_mac"] == true
        {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let path = root.join(case["file"].as_str().unwrap());
        let data_key = hex(expected["data_key_hex"].as_str().unwrap());
        let keyring = |message: &str| {
            let keys = RecordedKeys(vec![(message.to_string(), data_key.clone())]);
            Identities::none().with_pgp(std::sync::Arc::new(keys))
        };
        if format == "dotenv" {
            let text = read(&path);
            let message = text
                .lines()
                .find_map(|l| l.strip_prefix("sops_pgp__list_0__map_enc="))
                .expect("a pgp entry")
                .replace("\\n", "\n");
            let plain = sops::decrypt_dotenv(&text, &keyring(&message))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(plain, expected["exact_plaintext_output"], "{name}");
        } else {
            let mut doc = document(&path, format);
            assert!(
                doc["sops"]["age"].as_array().is_none_or(Vec::is_empty),
                "{name}: PGP only"
            );
            let message = doc["sops"]["pgp"][0]["enc"].as_str().expect("a pgp entry");
            let identities = keyring(message);
            sops::decrypt(&mut doc, &identities).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(doc, expected["tree"], "{name}");
        }
        run += 1;
    }
    println!("sops pgp entries: {run} upstream files decrypt");
    assert!(run >= 10, "the corpus shrank to {run} files");
    let mut doc = document(&root.join("files/example.json"), "json");
    let nobody = Identities::none().with_pgp(std::sync::Arc::new(RecordedKeys(Vec::new())));
    let error = sops::decrypt(&mut doc, &nobody).unwrap_err();
    assert_eq!(
        error.to_string(),
        "failed to get the data key: none of the 0 age identities nor the PGP keys opens the file's recipients"
    );
}

#[test]
fn tampered_files_fail_for_the_reason_upstream_gives() {
    let root = corpus();
    let negative = lines(&root.join("negative/cases.jsonl"));
    assert!(!negative.is_empty());
    for case in negative {
        let file = case["file"].as_str().unwrap();
        let format = if file.ends_with(".json") {
            "json"
        } else {
            "yaml"
        };
        let mut doc = document(&root.join(file), format);
        let before = doc.clone();
        let keys = identities(&root, case["identity"].as_str().unwrap());
        let error = sops::decrypt(&mut doc, &keys).expect_err(file);
        let kind = match error {
            SopsError::MacMismatch => "mac_mismatch",
            SopsError::MacDecrypt(_) => "mac_decrypt_failure",
            SopsError::Value { .. } => "value_decrypt_failure",
            other => panic!("{file}: {other}"),
        };
        assert_eq!(kind, case["expected_error"], "{file}");
        assert_eq!(doc, before, "{file}: nothing decrypted is left behind");
    }
}

#[test]
fn another_identity_opens_nothing() {
    let root = corpus();
    let other = identities(&root, "age/other-identity.txt");
    let mut doc = document(&root.join("files-age/example.json"), "json");
    let error = sops::decrypt(&mut doc, &other).expect_err("wrong identity");
    assert!(
        matches!(error, SopsError::NoIdentity { age: 1, pgp: false }),
        "{error}"
    );
    assert!(
        Identities::parse(["AGE-SECRET-KEY-1NOTAKEY\n"]).is_err(),
        "a line that is not an identity"
    );
}

/// A Secret encrypted as `sops --encrypt --age R --encrypted-regex '^(data|stringData)$'`.
fn encrypted_secret(recipient: &str, string_data: Value) -> Value {
    let mut secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": string_data
    });
    sops::encrypt(
        &mut secret,
        &[Recipient::Age(recipient)],
        Some("^(data|stringData)$"),
        "2026-11-27T00:00:00Z",
    )
    .expect("encrypt");
    secret
}

#[test]
fn what_encrypt_seals_decrypt_opens_with_the_right_identity_only() {
    let (identity, secret_key) = new_identity();
    let recipient = identity.to_public().to_string();
    let sealed = encrypted_secret(
        &recipient,
        serde_json::json!({"token": "t0p-s3cret", "port": 5432, "debug": false}),
    );
    let text = sealed.to_string();
    assert!(!text.contains("t0p-s3cret"), "{text}");
    assert!(
        text.contains("\"name\":\"creds\""),
        "metadata stays readable: {text}"
    );
    let mut opened = sealed.clone();
    sops::decrypt(
        &mut opened,
        &Identities::parse([secret_key.as_str()]).unwrap(),
    )
    .expect("decrypt");
    assert_eq!(
        opened,
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"token": "t0p-s3cret", "port": 5432, "debug": false}
        })
    );
    let (_, stranger_key) = new_identity();
    let mut closed = sealed.clone();
    assert!(
        sops::decrypt(
            &mut closed,
            &Identities::parse([stranger_key.as_str()]).unwrap()
        )
        .is_err()
    );
    assert_eq!(closed, sealed);
}

#[test]
fn a_flux_build_decrypts_encrypted_objects_before_substitution() {
    use flotilla_render::flux::{self, BuildSpec, Owner, Strictness};
    use flotilla_render::kustomize::MemTree;
    let (identity, secret_key) = new_identity();
    let sealed = encrypted_secret(
        &identity.to_public().to_string(),
        serde_json::json!({"token": "t0p-s3cret"}),
    );
    let mut disabled = sealed.clone();
    disabled["metadata"]["name"] = "left-alone".into();
    disabled["metadata"]["annotations"] =
        serde_json::json!({"kustomize.toolkit.fluxcd.io/decrypt": "disabled"});
    let tree = MemTree::from_files([
        ("app/secret.yaml", sealed.to_string()),
        ("app/other.yaml", disabled.to_string()),
    ]);
    let spec: BuildSpec = serde_json::from_value(serde_json::json!({
        "path": "./app",
        "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}}
    }))
    .unwrap();
    let owner = Owner {
        name: "apps".into(),
        namespace: "flux-system".into(),
    };
    let keys = Identities::parse([secret_key.as_str()]).unwrap();
    let vars = Default::default();
    let objects = flux::build_with_keys(&tree, &spec, &owner, &vars, Strictness::Strict, &keys)
        .expect("build");
    let by_name = |n: &str| objects.iter().find(|o| o["metadata"]["name"] == n).unwrap();
    let creds = by_name("creds");
    assert!(creds.get("sops").is_none());
    // Normalised as Flux does: stringData applied as data.
    assert_eq!(creds["data"]["token"], "dDBwLXMzY3JldA==");
    assert!(by_name("left-alone").get("sops").is_some());
    // Without the key: the build fails naming the object, and holds no value.
    let error = flux::build_with_keys(
        &tree,
        &spec,
        &owner,
        &vars,
        Strictness::Strict,
        &Identities::none(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.starts_with("decryption failed for '"), "{error}");
    assert!(
        error.contains("/creds': failed to get the data key"),
        "{error}"
    );
}

/// A SOPS dotenv file for `recipient` holding `pairs`, written as `sops` writes one
/// (metadata flattened into `sops_` keys, line breaks as `\n`).
fn encrypted_dotenv(recipient: &str, pairs: &[(&str, &str)]) -> String {
    let mut doc = Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    );
    sops::encrypt(
        &mut doc,
        &[Recipient::Age(recipient)],
        None,
        "2026-11-27T00:00:00Z",
    )
    .unwrap();
    let metadata = doc.as_object_mut().unwrap().remove("sops").unwrap();
    let mut out = String::new();
    for (k, v) in doc.as_object().unwrap() {
        out.push_str(&format!("{k}={}\n", v.as_str().unwrap()));
    }
    let age = &metadata["age"][0];
    for (k, v) in [
        ("sops_age__list_0__map_enc", age["enc"].as_str().unwrap()),
        (
            "sops_age__list_0__map_recipient",
            age["recipient"].as_str().unwrap(),
        ),
        (
            "sops_lastmodified",
            metadata["lastmodified"].as_str().unwrap(),
        ),
        ("sops_mac", metadata["mac"].as_str().unwrap()),
        ("sops_version", metadata["version"].as_str().unwrap()),
    ] {
        out.push_str(&format!("{k}={}\n", v.replace('\n', "\\n")));
    }
    out
}

#[test]
fn encrypted_dotenv_sources_are_decrypted_before_the_generator_reads_them() {
    use flotilla_render::flux::{self, BuildSpec, Owner, Strictness};
    use flotilla_render::kustomize::MemTree;
    let (identity, secret_key) = new_identity();
    let env = encrypted_dotenv(&identity.to_public().to_string(), &[("TOKEN", "t0p")]);
    let keys = Identities::parse([secret_key.as_str()]).unwrap();
    assert_eq!(sops::decrypt_dotenv(&env, &keys).unwrap(), "TOKEN=t0p\n");
    let tree = MemTree::from_files([
        (
            "app/kustomization.yaml",
            "resources: [base]\nsecretGenerator:\n- name: creds\n  envs: [creds.env]\n".to_string(),
        ),
        ("app/creds.env", env.clone()),
        (
            "app/base/kustomization.yaml",
            "secretGenerator:\n- name: base-creds\n  files: [token.env]\n".to_string(),
        ),
        ("app/base/token.env", env),
    ]);
    let owner = Owner {
        name: "apps".into(),
        namespace: "flux-system".into(),
    };
    let vars = Default::default();
    let spec = |decryption: bool| -> BuildSpec {
        let mut s = serde_json::json!({"path": "./app"});
        if decryption {
            s["decryption"] = serde_json::json!({"provider": "sops"});
        }
        serde_json::from_value(s).unwrap()
    };
    let build = |tree: &MemTree, decryption: bool| {
        flux::build_with_keys(
            tree,
            &spec(decryption),
            &owner,
            &vars,
            Strictness::Strict,
            &keys,
        )
    };
    let objects = build(&tree, true).expect("build");
    let secret = |prefix: &str| {
        objects
            .iter()
            .find(|o| {
                o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix) && n.len() == prefix.len() + 10)
            })
            .unwrap_or_else(|| panic!("{prefix}: {objects:#?}"))
    };
    // "t0p" in base64; the generated names hash the plaintext.
    assert_eq!(secret("creds-")["data"]["TOKEN"], "dDBw");
    assert_eq!(
        secret("base-creds-")["data"]["token.env"],
        "VE9LRU49dDBwCg=="
    );
    // Without spec.decryption the generator reads the ciphertext, as kustomize would.
    let plain = build(&tree, false).expect("build");
    let creds = plain
        .iter()
        .find(|o| {
            o["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("creds-")
        })
        .unwrap();
    assert_ne!(creds["data"]["TOKEN"], "dDBw");
    // A Secret whose data holds an encrypted dotenv file is decrypted field by field.
    let encoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(encrypted_dotenv(
            &identity.to_public().to_string(),
            &[("TOKEN", "t0p")],
        ))
    };
    let data_tree = MemTree::from_files([(
        "app/secret.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: files\ndata:\n  creds.env: {encoded}\n"
        ),
    )]);
    let objects = build(&data_tree, true).expect("build");
    // "TOKEN=t0p\n" in base64.
    assert_eq!(objects[0]["data"]["creds.env"], "VE9LRU49dDBwCg==");

    // Encrypted YAML, JSON and binary sources are decrypted into their own format
    // (sops's stores: go-yaml v3 with four spaces, tab-indented JSON, raw bytes).
    let recipient = identity.to_public().to_string();
    let encrypt = |doc: Value| {
        let mut doc = doc;
        sops::encrypt(
            &mut doc,
            &[Recipient::Age(&recipient)],
            None,
            "2026-11-27T00:00:00Z",
        )
        .unwrap();
        doc
    };
    let yaml_source = {
        let doc = encrypt(serde_json::json!({"db": {"user": "app", "ports": [5432]}}));
        // A YAML SOPS file, as sops writes it (four spaces, metadata last).
        let json = serde_json::to_string(&doc).unwrap();
        let plain =
            sops::decrypt_file(&json, sops::Format::Json, sops::Format::Json, &keys, true).unwrap();
        assert!(
            String::from_utf8(plain)
                .unwrap()
                .contains("\"user\": \"app\"")
        );
        flotilla_render::kustomize::to_yaml(&doc)
    };
    let json_source =
        serde_json::to_string_pretty(&encrypt(serde_json::json!({"token": "t0p"}))).unwrap();
    let binary_source = serde_json::to_string_pretty(&encrypt(
        serde_json::json!({"data": "-----BEGIN KEY-----\nk\n"}),
    ))
    .unwrap();
    let sources_tree = MemTree::from_files([
        (
            "app/kustomization.yaml",
            "secretGenerator:\n- name: creds\n  files: [db.yaml, api.json, tls.key]\n".to_string(),
        ),
        ("app/db.yaml", yaml_source),
        ("app/api.json", json_source.clone()),
        ("app/tls.key", binary_source),
    ]);
    let objects = build(&sources_tree, true).expect("build");
    let decoded = |key: &str| {
        use base64::Engine as _;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(objects[0]["data"][key].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    // The file lists `ports` first (written with sorted keys); sops keeps file order.
    assert_eq!(
        decoded("db.yaml"),
        "db:\n    ports:\n        - 5432\n    user: app\n"
    );
    assert_eq!(decoded("api.json"), "{\n\t\"token\": \"t0p\"\n}\n");
    assert_eq!(decoded("tls.key"), "-----BEGIN KEY-----\nk\n");

    // A Secret field holding an encrypted JSON file is written in the format its key
    // names: YAML for `config.yaml`.
    let encoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&json_source)
    };
    let field_tree = MemTree::from_files([(
        "app/secret.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: files\ndata:\n  config.yaml: {encoded}\n"
        ),
    )]);
    let objects = build(&field_tree, true).expect("build");
    // "token: t0p\n" in base64.
    assert_eq!(objects[0]["data"]["config.yaml"], "dG9rZW46IHQwcAo=");

    // A source whose values do not open fails the build naming the file.
    let broken_tree = MemTree::from_files([
        (
            "app/kustomization.yaml",
            "secretGenerator:\n- name: creds\n  files: [creds.yaml]\n",
        ),
        (
            "app/creds.yaml",
            "token: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops:\n    mac: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\n",
        ),
    ]);
    let error = build(&broken_tree, true).unwrap_err().to_string();
    assert!(
        error.starts_with("error decrypting sources: app/creds.yaml: "),
        "{error}"
    );
}

/// A fresh age identity and its `AGE-SECRET-KEY-1…` text.
fn new_identity() -> (age::x25519::Identity, String) {
    use age::secrecy::ExposeSecret as _;
    let identity = age::x25519::Identity::generate();
    let text = identity.to_string().expose_secret().to_string();
    (identity, text)
}
