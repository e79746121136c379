//! The Helm conformance corpus (../shared/conformance/helm/{v4,v3}: golden outputs of
//! `helm template` from Helm's own CLI tests). Success cases must equal the golden file
//! byte for byte; error cases must fail. The v4 failures must equal `KNOWN_FAILURES`
//! exactly (a fix shows up as a diff to the list); v3's count is printed.

use std::path::{Path, PathBuf};

use flotilla_render::helm::{self, Flavor, RenderOptions, ValuesFile};
use flotilla_render::kustomize::DirTree;

/// v4 cases that do not pass yet, with the reason.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

fn corpus(version: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let root = manifest
        .join("../../../shared/conformance/helm")
        .join(version);
    assert!(
        root.join("cases.jsonl").is_file(),
        "helm conformance corpus missing at {} (expected ../shared/conformance/helm next to the workspace)",
        root.display()
    );
    root
}

/// The `helm template` flags the corpus uses, onto options.
fn options(root: &Path, args: &[String], flavor: Flavor) -> Result<RenderOptions, String> {
    let mut o = RenderOptions {
        flavor,
        kube_version: Some("v1.20.0".into()),
        ..RenderOptions::default()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a}: missing value"));
        match a.as_str() {
            "--values" | "-f" => {
                let name = val()?;
                let data = std::fs::read(root.join(&name)).map_err(|e| format!("{name}: {e}"))?;
                o.values.files.push(ValuesFile { name, data });
            }
            "--set" => o.values.set.push(val()?),
            "--set-string" => o.values.set_string.push(val()?),
            "--show-only" | "-s" => o.show_only.push(val()?),
            "--kube-version" => o.kube_version = Some(val()?),
            "--api-versions" | "-a" => o.api_versions.push(val()?),
            "--include-crds" => o.include_crds = true,
            "--skip-tests" => o.skip_tests = true,
            "--no-hooks" => o.no_hooks = true,
            "--debug" => {}
            other => return Err(format!("flag {other} not handled by the test")),
        }
    }
    Ok(o)
}

/// Runs one case; `Err` says why it failed.
fn run_case(root: &Path, case: &serde_json::Value, flavor: Flavor) -> Result<(), String> {
    let args: Vec<String> = case["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let opts = options(root, &args, flavor)?;
    let tree = DirTree::new(root).map_err(|e| e.to_string())?;
    let chart = case["chart"].as_str().unwrap_or_default();
    let got = helm::render(&tree, chart, &opts);
    let expected =
        std::fs::read_to_string(root.join(case["expected_file"].as_str().unwrap_or_default()))
            .map_err(|e| format!("expected file: {e}"))?;
    match (got, case["expect_error"].as_bool().unwrap_or(false)) {
        (Ok(_), true) => Err(format!("rendered, but helm fails with: {expected}")),
        (Err(_), true) => Ok(()),
        (Err(e), false) => Err(format!("error: {e}")),
        (Ok(r), false) if r.text == expected => Ok(()),
        (Ok(r), false) => Err(format!(
            "output differs\n--- got:\n{}\n--- want:\n{expected}",
            r.text
        )),
    }
}

fn run_corpus(version: &str, flavor: Flavor) -> (usize, Vec<(String, String)>) {
    let root = corpus(version);
    let cases = std::fs::read_to_string(root.join("cases.jsonl")).expect("cases.jsonl");
    let mut total = 0;
    let mut failures = Vec::new();
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        let case: serde_json::Value = serde_json::from_str(line).expect("case line is JSON");
        total += 1;
        let name = case["name"].as_str().unwrap_or_default().to_string();
        if let Err(why) = run_case(&root, &case, flavor) {
            failures.push((name, why));
        }
    }
    (total, failures)
}

#[test]
fn helm_v4_conformance() {
    let (total, failures) = run_corpus("v4", Flavor::HelmV4);
    println!(
        "helm v4 conformance: {}/{} cases pass",
        total - failures.len(),
        total
    );
    for (name, why) in &failures {
        println!("FAIL {name}: {why}");
    }
    let mut failed: Vec<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
    failed.sort_unstable();
    let mut known: Vec<&str> = KNOWN_FAILURES.iter().map(|(n, _)| *n).collect();
    known.sort_unstable();
    assert_eq!(failed, known, "the set of failing v4 cases changed");
}

#[test]
fn helm_v3_conformance() {
    let (total, failures) = run_corpus("v3", Flavor::HelmV3);
    println!(
        "helm v3 conformance: {}/{} cases pass",
        total - failures.len(),
        total
    );
    for (name, why) in &failures {
        println!("FAIL {name}: {why}");
    }
}
