//! SOPS files decrypted into each output format as kustomize-controller writes them
//! (sops 3.13's stores): YAML checked against go-yaml v3.0.1 itself (the fixture
//! `data/sops_yaml_emit.json` is the output of `oracle/sops_yaml.go`, which builds nodes
//! as sops's YAML store does), JSON, binary and dotenv against upstream's exact
//! plaintext outputs and trees in ../shared/conformance/sops.

use std::path::{Path, PathBuf};

use flotilla_render::sops::{self, Format, Identities, Recipient, SopsError};
use serde_json::{Value, json};

const RECIPIENT: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";

/// Oracle cases we do not reproduce, with the reason.
const YAML_KNOWN_FAILURES: &[&str] = &[];

fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/sops");
    assert!(
        dir.join("cases.jsonl").is_file(),
        "SOPS vectors missing at {}",
        dir.display()
    );
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn keys() -> Identities {
    Identities::parse([read(&corpus().join("age/keys.txt")).as_str()]).unwrap()
}

/// `doc` encrypted for the test recipient, as a SOPS JSON file.
fn encrypted_json(doc: &Value) -> String {
    let mut doc = doc.clone();
    sops::encrypt(
        &mut doc,
        &[Recipient::Age(RECIPIENT)],
        None,
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    serde_json::to_string_pretty(&doc).unwrap()
}

fn decrypt(text: &str, input: Format, output: Format) -> Result<String, SopsError> {
    sops::decrypt_file(text, input, output, &keys(), false)
        .map(|bytes| String::from_utf8(bytes).unwrap())
}

#[test]
fn yaml_is_written_as_go_yaml_writes_sops_trees() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sops_yaml_emit.json");
    let cases: Vec<Value> = serde_json::from_str(&read(&fixture)).unwrap();
    let mut failed = Vec::new();
    for case in &cases {
        let text = encrypted_json(&case["input"]);
        let got = decrypt(&text, Format::Json, Format::Yaml).unwrap();
        if got != case["yaml"].as_str().unwrap() {
            println!(
                "FAIL {}\n  want {:?}\n  got  {got:?}",
                case["input"], case["yaml"]
            );
            failed.push(case["input"].to_string());
        }
    }
    println!(
        "sops YAML output: {}/{} as go-yaml v3",
        cases.len() - failed.len(),
        cases.len()
    );
    assert_eq!(failed, YAML_KNOWN_FAILURES, "the failing set changed");
    assert!(cases.len() >= 200, "the oracle fixture shrank");
}

fn conformance_cases() -> Vec<(Value, Value)> {
    let root = corpus();
    read(&root.join("cases.jsonl"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let case: Value = serde_json::from_str(l).unwrap();
            let expected =
                serde_json::from_str(&read(&root.join(case["expected"].as_str().unwrap())))
                    .unwrap();
            (case, expected)
        })
        .collect()
}

/// Every JSON, YAML and binary file decrypts, written as JSON, to its expected tree;
/// where upstream asserts the exact output of its own format, ours is that output.
#[test]
fn upstream_files_decrypt_into_their_own_and_other_formats() {
    let root = corpus();
    let (mut run, mut exact, mut commented) = (0, 0, 0);
    for (case, expected) in conformance_cases() {
        let format = match case["format"].as_str().unwrap() {
            "json" => Format::Json,
            "yaml" => Format::Yaml,
            "binary" => Format::Binary,
            "ini" => Format::Ini,
            _ => continue,
        };
        let name = case["name"].as_str().unwrap();
        let text = read(&root.join(case["file_age"].as_str().unwrap()));
        run += 1;
        let as_json =
            decrypt(&text, format, Format::Json).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut tree: Value = serde_json::from_str(&as_json).unwrap();
        if format == Format::Ini {
            // ini.v1's implicit first section, empty in these files; the vectors leave
            // it out.
            assert_eq!(
                tree.as_object_mut().unwrap().shift_remove("DEFAULT"),
                Some(json!({}))
            );
            // The MAC covers the sections' values in file order.
            sops::decrypt_file(&text, format, Format::Json, &keys(), true).unwrap();
        }
        // encoding/json writes a whole float as an integer (1234568000).
        assert_eq!(
            numbers_as_floats(tree),
            numbers_as_floats(expected["tree"].clone()),
            "{name}"
        );
        if format == Format::Binary {
            let raw = decrypt(&text, format, Format::Binary).unwrap();
            assert_eq!(raw, expected["tree"]["data"].as_str().unwrap(), "{name}");
        }
        // Comments come back decrypted, one line each, where the file had them.
        let comments = expected["comments"].as_array().into_iter().flatten();
        if format == Format::Yaml && comments.clone().count() > 0 {
            let yaml = decrypt(&text, format, Format::Yaml).unwrap();
            let written: Vec<&str> = yaml
                .lines()
                .filter_map(|l| l.trim_start().strip_prefix('#'))
                .collect();
            let want: Vec<&str> = comments.map(|c| c["plaintext"].as_str().unwrap()).collect();
            assert_eq!(written, want, "{name}");
            commented += 1;
        }
        if let Some(want) = expected["exact_plaintext_output"].as_str() {
            assert_eq!(decrypt(&text, format, format).unwrap(), want, "{name}");
            exact += 1;
        }
    }
    println!(
        "sops formats: {run} files decrypt into JSON, {exact} match upstream's exact output, \
         {commented} YAML files give back their comments"
    );
    assert_eq!((run, exact, commented), (14, 4, 3), "the corpus changed");
}

fn numbers_as_floats(value: Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_floats).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, numbers_as_floats(v)))
                .collect(),
        ),
        other => other,
    }
}

/// A `sops` block that opens with the test key and encrypts nothing: appended to a
/// plain YAML document it makes a SOPS file whose values and comments are all clear.
fn clear_sops_block() -> String {
    flotilla_render::kustomize::to_yaml(&json!({"sops": clear_metadata()}))
}

/// SOPS metadata for the test key whose `encrypted_regex` selects nothing.
fn clear_metadata() -> Value {
    let mut doc = json!({"x": 1});
    sops::encrypt(
        &mut doc,
        &[Recipient::Age(RECIPIENT)],
        Some("^never$"),
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    doc["sops"].take()
}

/// Comments where sops's YAML store puts them back (heads, inline, feet, in mappings
/// and sequences), checked against go-yaml v3.0.1 driven as sops drives it: the
/// fixture `data/sops_yaml_comments.json` is the output of `oracle/sops_yaml_comments.go`.
#[test]
fn comments_are_written_back_where_sops_writes_them() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sops_yaml_comments.json");
    let cases: Vec<Value> = serde_json::from_str(&read(&fixture)).unwrap();
    for case in &cases {
        let text = format!("{}{}", case["input"].as_str().unwrap(), clear_sops_block());
        let got = decrypt(&text, Format::Yaml, Format::Yaml)
            .unwrap_or_else(|e| panic!("{}: {e}", case["input"]));
        assert_eq!(got, case["yaml"].as_str().unwrap(), "{}", case["input"]);
    }
    println!(
        "sops YAML comments: {}/{} as go-yaml v3",
        cases.len(),
        cases.len()
    );
    assert!(cases.len() >= 9);
}

/// The `sops` metadata of [`clear_sops_block`] as an INI file's `[sops]` section
/// (flattened below the top, line breaks escaped).
fn clear_ini_sops_section() -> String {
    let metadata = clear_metadata();
    let sops = &metadata;
    let mut out = String::from("\n[sops]\n");
    for (k, v) in [
        (
            "age__list_0__map_enc",
            sops["age"][0]["enc"].as_str().unwrap(),
        ),
        (
            "age__list_0__map_recipient",
            sops["age"][0]["recipient"].as_str().unwrap(),
        ),
        ("encrypted_regex", sops["encrypted_regex"].as_str().unwrap()),
        ("lastmodified", sops["lastmodified"].as_str().unwrap()),
        ("mac", sops["mac"].as_str().unwrap()),
        ("version", sops["version"].as_str().unwrap()),
    ] {
        out.push_str(&format!("{k} = {}\n", v.replace('\n', "\\n")));
    }
    out
}

/// INI files read and written back as sops's INI store does through ini.v1 (sections,
/// quoting, alignment, comments before their header or key, inline comments moved
/// before their key); the fixture `data/sops_ini.json` is the output of
/// `oracle/sops_ini.go`.
#[test]
fn ini_is_written_as_ini_v1_writes_sops_trees() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sops_ini.json");
    let cases: Vec<Value> = serde_json::from_str(&read(&fixture)).unwrap();
    for case in &cases {
        let text = format!(
            "{}{}",
            case["input"].as_str().unwrap(),
            clear_ini_sops_section()
        );
        let got = decrypt(&text, Format::Ini, Format::Ini)
            .unwrap_or_else(|e| panic!("{}: {e}", case["input"]));
        assert_eq!(got, case["ini"].as_str().unwrap(), "{}", case["input"]);
    }
    println!("sops INI: {}/{} as ini.v1", cases.len(), cases.len());
    assert!(cases.len() >= 6);
    // Sections are mappings in other formats; comments do not go into dotenv or YAML.
    let text = format!("[db]\nuser = app\n{}", clear_ini_sops_section());
    assert_eq!(
        decrypt(&text, Format::Ini, Format::Yaml).unwrap(),
        "DEFAULT: {}\ndb:\n    user: app\n"
    );
    let commented = format!("[db]\n; who\nuser = app\n{}", clear_ini_sops_section());
    assert_eq!(
        decrypt(&commented, Format::Ini, Format::Yaml)
            .unwrap_err()
            .to_string(),
        "a SOPS INI file with comments is decrypted into INI, JSON or binary only, not YAML"
    );
}

#[test]
fn json_is_indented_with_tabs_in_file_order_and_html_escaped() {
    let doc = json!({"z": "<b>&", "a": {"n": 1, "f": 1.5, "big": 1e21, "t": true, "e": [], "m": {}}, "l": [1, "x"], "nil": null});
    let got = decrypt(&encrypted_json(&doc), Format::Json, Format::Json).unwrap();
    // encoding/json escapes HTML characters; json.Indent with a tab leaves empty
    // collections on one line.
    assert_eq!(
        got,
        "{\n\t\"z\": \"\\u003cb\\u003e\\u0026\",\n\t\"a\": {\n\t\t\"n\": 1,\n\t\t\"f\": 1.5,\n\t\t\"big\": 1e+21,\n\t\t\"t\": true,\n\t\t\"e\": [],\n\t\t\"m\": {}\n\t},\n\t\"l\": [\n\t\t1,\n\t\t\"x\"\n\t],\n\t\"nil\": null\n}\n"
    );
}

#[test]
fn dotenv_output_takes_flat_values_only() {
    let doc = json!({"TOKEN": "a\nb", "N": 3, "F": 2.0, "B": false});
    assert_eq!(
        decrypt(&encrypted_json(&doc), Format::Json, Format::Dotenv).unwrap(),
        "TOKEN=a\\nb\nN=3\nF=2.0\nB=false\n"
    );
    let nested = encrypted_json(&json!({"a": {"b": "c"}}));
    assert_eq!(
        decrypt(&nested, Format::Json, Format::Dotenv)
            .unwrap_err()
            .to_string(),
        "failed to emit encrypted JSON file as decrypted dotenv: cannot use complex value in dotenv file; offending key a"
    );
}

#[test]
fn binary_output_needs_a_string_data_value() {
    let file = encrypted_json(&json!({"data": "-----BEGIN KEY-----\nabc\n"}));
    assert_eq!(
        decrypt(&file, Format::Binary, Format::Binary).unwrap(),
        "-----BEGIN KEY-----\nabc\n"
    );
    let other = encrypted_json(&json!({"key": "v"}));
    assert_eq!(
        decrypt(&other, Format::Json, Format::Binary)
            .unwrap_err()
            .to_string(),
        "failed to emit encrypted JSON file as decrypted binary: error emitting binary store: no binary data found in tree"
    );
}

#[test]
fn bad_and_unsupported_files_are_refused_by_name() {
    let err = |text: &str, input| decrypt(text, input, Format::Json).unwrap_err().to_string();
    assert!(err("[1]", Format::Json).starts_with(
        "failed to load encrypted JSON data: SOPS only supports JSON files with a top-level object"
    ));
    assert!(
        err("{", Format::Json)
            .starts_with("failed to load encrypted JSON data: Could not unmarshal input data")
    );
    assert_eq!(
        err(
            "[a]\nk = 1\n[a]\nk = 2\n[sops]\nmac = ENC[x]\n",
            Format::Ini
        ),
        "a SOPS INI file with the section [a] twice is not decrypted by this hub"
    );
    assert_eq!(
        err("[a]\nk = \"\"\"two\n", Format::Ini),
        "failed to load encrypted INI data: line 2: multi-line values are not read by this hub"
    );
    assert_eq!(
        err("[a]\nnot a pair\n", Format::Ini),
        "failed to load encrypted INI data: line 2: key-value delimiter not found: not a pair"
    );
    // Comments in a layout sops would not write back the same are refused, not dropped.
    for (text, line) in [
        ("empty: {} # note\n", 1),
        ("list: [1, 2] # note\n", 1),
        (
            "a:\n    b:\n        c: 1\n        # deep\n    # mid\nd: 2\n",
            4,
        ),
    ] {
        let file = format!("{text}{}", clear_sops_block());
        let message = err(&file, Format::Yaml);
        assert!(
            message.contains(&format!("line {line} holds a comment")),
            "{text}: {message}"
        );
    }
    // A `#` inside quotes or a block scalar is not a comment.
    let quoted = "a: \"x #y\"\nb: |\n    # not a comment\nsops:\n    mac: ENC[x]\n";
    assert!(!err(quoted, Format::Yaml).contains("comment"));
    assert_eq!(
        err("a=b\nsops_mac=ENC[x]\n# note\n", Format::Dotenv),
        "a SOPS dotenv file with comments is decrypted into dotenv only"
    );
}

#[test]
fn formats_follow_kustomize_controllers_path_and_marker_rules() {
    assert_eq!(Format::for_path("secret.yml"), Format::Yaml);
    assert_eq!(Format::for_path(".dockerconfigjson"), Format::Json);
    assert_eq!(Format::for_path("app.env"), Format::Dotenv);
    assert_eq!(Format::for_path("tls.key"), Format::Binary);
    assert_eq!(
        Format::detect("x: 1\nsops:\n    mac: ENC[a]"),
        Some(Format::Yaml)
    );
    assert_eq!(
        Format::detect("{\"sops\": {\"mac\": \"ENC[a]\"}}"),
        Some(Format::Json)
    );
    assert_eq!(Format::detect("A=1\nsops_mac=ENC[a]"), Some(Format::Dotenv));
    assert_eq!(Format::detect("plain: text"), None);
}
