//! Health conformance against ../shared/conformance/health: Argo CD's built-in checks
//! (the records current Argo CD asserts), the checks Argo CD bundles as Lua scripts, and
//! kstatus `Compute`. Prints pass counts and
//! requires the failures to be exactly KNOWN_FAILURES.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flotilla_sync::health::{argocd, bundled, kstatus};
use serde_json::Value;

/// Argo CD records that fail, with the reason.
const ARGOCD_KNOWN_FAILURES: &[&str] = &[];
/// kstatus records that fail, with the reason.
const KSTATUS_KNOWN_FAILURES: &[&str] = &[];
/// Bundled Lua records that fail: (record name, why).
const LUA_KNOWN_FAILURES: &[(&str, &str)] = &[];

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/health");
    assert!(d.is_dir(), "conformance vectors missing at {}", d.display());
    d
}

fn records(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir().join(file)).expect("read vectors");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("jsonl"))
        .collect()
}

fn report(name: &str, total: usize, failures: &BTreeSet<String>, known: &[&str]) {
    let passed = total - failures.len();
    println!(
        "{name}: {passed}/{total} passed ({:.1}%)",
        100.0 * passed as f64 / total as f64
    );
    for f in failures {
        println!("  FAIL {f}");
    }
    let known: BTreeSet<String> = known.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        failures, &known,
        "{name}: failures differ from KNOWN_FAILURES"
    );
    assert!(passed * 100 >= total * 95, "{name}: below 95%");
}

#[test]
fn argocd_builtin_health() {
    let recs = records("argocd-builtin.jsonl");
    let mut total = 0;
    let mut failures = BTreeSet::new();
    for r in &recs {
        let asserted_by_argo_cd = r["asserted_by"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "argoproj/argo-cd"));
        if !asserted_by_argo_cd || r["superseded_in_argo_cd"] == true {
            continue;
        }
        total += 1;
        let name = r["name"].as_str().unwrap().to_string();
        let got = argocd::resource_health(&r["object"]);
        let ok = match (&r["expected_status"], &got) {
            (Value::Null, None) => true,
            (Value::String(s), Some(h)) => {
                h.status.as_str() == s
                    && r["expected_message"]
                        .as_str()
                        .is_none_or(|m| m == h.message)
            }
            _ => false,
        };
        if !ok {
            failures.insert(format!("{name} (got {got:?})"));
        }
    }
    report("argocd-builtin", total, &failures, ARGOCD_KNOWN_FAILURES);
}

#[test]
fn kstatus_compute() {
    let recs = records("kstatus.jsonl");
    let mut failures = BTreeSet::new();
    for r in &recs {
        let name = r["name"].as_str().unwrap().to_string();
        let got = kstatus::compute(&r["object"]);
        let mut ok = format!("{:?}", got.status) == r["expected_status"].as_str().unwrap();
        for want in r["expected_conditions"].as_array().into_iter().flatten() {
            let t = want["type"].as_str().unwrap();
            let matching: Vec<_> = got.conditions.iter().filter(|c| c.kind == t).collect();
            ok &= !matching.is_empty()
                && matching.iter().all(|c| {
                    c.status == want["status"].as_str().unwrap()
                        && c.reason == want["reason"].as_str().unwrap()
                });
        }
        for absent in r["absent_condition_types"].as_array().into_iter().flatten() {
            ok &= !got
                .conditions
                .iter()
                .any(|c| Some(c.kind) == absent.as_str());
        }
        if !ok {
            failures.insert(format!("{name} (got {got:?})"));
        }
    }
    report("kstatus", recs.len(), &failures, KSTATUS_KNOWN_FAILURES);
}

/// Argo CD's bundled Lua health checks (argo-cd `resource_customizations/`), each record
/// run as upstream's `util/lua` harness runs the script: the check chosen by the object's
/// own group and kind, called directly (no deletion rule), status and message compared.
#[test]
fn argocd_lua_health() {
    let recs = records("argocd-lua.jsonl");
    let mut failures = BTreeSet::new();
    let mut detail = Vec::new();
    for r in &recs {
        let name = r["name"].as_str().unwrap().to_string();
        let got = bundled::bundled_health(&r["object"]);
        let ok = got.as_ref().is_some_and(|h| {
            h.status.as_str() == r["expected_status"]
                && r["expected_message"]
                    .as_str()
                    .is_none_or(|m| m == h.message)
        });
        if !ok {
            detail.push(format!(
                "{name}: want {} {:?}, got {got:?}",
                r["expected_status"], r["expected_message"]
            ));
            failures.insert(name);
        }
    }
    let total = recs.len();
    let passed = total - failures.len();
    println!(
        "argocd-lua: {passed}/{total} passed ({:.1}%)",
        100.0 * passed as f64 / total as f64
    );
    for d in &detail {
        println!("  FAIL {d}");
    }
    let known: BTreeSet<String> = LUA_KNOWN_FAILURES
        .iter()
        .map(|(name, _why)| name.to_string())
        .collect();
    assert_eq!(
        failures, known,
        "argocd-lua: failures differ from LUA_KNOWN_FAILURES"
    );
    assert!(passed * 100 >= total * 95, "argocd-lua: below 95%");
}
