//! The kustomize conformance corpus (../shared/conformance/kustomize, cases from
//! kustomize's own krusty tests with kustomize v5.5.0's output), compared as its README
//! says: success cases must build and equal `expected.yaml` as a list of documents
//! (structure, in order; key order, quoting and indentation ignored), error cases must
//! fail. The set of failing cases must equal `KNOWN_FAILURES` exactly, so a fix shows
//! up as a diff to this list and a regression fails the test.

mod configurations;
mod helm_charts;
mod openapi;
mod oracle;
mod replacements;
mod security;
mod strategic_merge;
mod transformer_annotations;

use std::path::{Path, PathBuf};

use flotilla_render::kustomize::{self, DirTree};
use serde_json::Value;

/// Cases that do not pass yet, with the reason.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

fn corpus() -> PathBuf {
    // The workspace root is two levels up; the shared material sits beside it.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let root = manifest.join("../../../shared/conformance/kustomize/cases");
    assert!(
        root.is_dir(),
        "conformance corpus missing at {} (expected ../shared/conformance/kustomize next to the workspace)",
        root.display()
    );
    root
}

fn parse_stream(text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Runs one case; `Err` says why it failed.
fn run_case(dir: &Path) -> Result<(), String> {
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("case.json")).map_err(|e| format!("case.json: {e}"))?,
    )
    .map_err(|e| format!("case.json: {e}"))?;
    let root = meta["root"].as_str().unwrap_or(".");
    let expect_error = meta["expect_error"].as_bool().unwrap_or(false);
    let tree = DirTree::new(dir.join("input")).map_err(|e| e.to_string())?;
    let built = std::panic::catch_unwind(|| kustomize::build_yaml(&tree, root))
        .map_err(|_| "panicked".to_string())?;
    match (built, expect_error) {
        (Ok(_), true) => Err("built, but kustomize fails".to_string()),
        (Err(_), true) => Ok(()),
        (Err(e), false) => Err(format!("error: {e}")),
        (Ok(yaml), false) => {
            let got = parse_stream(&yaml).map_err(|e| format!("own output does not parse: {e}"))?;
            let expected = std::fs::read_to_string(dir.join("expected.yaml"))
                .map_err(|e| format!("expected.yaml: {e}"))?;
            let want = parse_stream(&expected).map_err(|e| format!("expected.yaml: {e}"))?;
            if got == want {
                Ok(())
            } else {
                Err(format!("output differs\n--- got:\n{yaml}"))
            }
        }
    }
}

#[test]
fn kustomize_conformance() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("reading the corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.json").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in the corpus");

    let verbose = std::env::var_os("KUSTOMIZE_CONFORMANCE_VERBOSE").is_some();
    let mut failed = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Err(why) = run_case(case) {
            if verbose {
                println!("FAIL {name}: {why}");
            }
            failed.push(name);
        }
    }
    let passed = cases.len() - failed.len();
    println!(
        "kustomize conformance: {passed}/{} cases pass ({:.1}%)",
        cases.len(),
        100.0 * passed as f64 / cases.len() as f64
    );
    let known: Vec<&str> = KNOWN_FAILURES.iter().map(|(n, _)| *n).collect();
    let newly_failing: Vec<&String> = failed
        .iter()
        .filter(|f| !known.contains(&f.as_str()))
        .collect();
    let now_passing: Vec<&&str> = known
        .iter()
        .filter(|k| !failed.iter().any(|f| f == *k))
        .collect();
    assert!(
        newly_failing.is_empty() && now_passing.is_empty(),
        "{passed}/{} pass; failing but not in KNOWN_FAILURES: {newly_failing:?}; in KNOWN_FAILURES but passing: {now_passing:?}",
        cases.len()
    );
}
