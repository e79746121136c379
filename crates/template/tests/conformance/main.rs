//! Scores the engine against the Go text/template and Sprig vectors in
//! `../shared/conformance/gotemplate` (read at run time, never copied here), prints the pass
//! counts, and fails when the set of failing cases differs from the known-failures lists
//! below — in either direction, so a fix must also shrink the list.

use flotilla_template::{Arity, FuncError, Functions, Template, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/gotemplate"
    ));
    assert!(
        dir.join("README.md").exists(),
        "conformance vectors missing at {} (expected ../shared/conformance/gotemplate next to the workspace)",
        dir.display()
    );
    dir
}

fn cases(file: &str) -> Vec<serde_json::Value> {
    let path = corpus_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{file}: {e}: {l}")))
        .collect()
}

/// The helper functions Go's exec_test.go installs, with their Go argument checks.
fn harness_functions() -> Functions {
    fn want_string(v: &Value) -> Result<&str, FuncError> {
        v.as_str().ok_or_else(|| {
            FuncError::msg(format!(
                "wrong type for value; expected string; got {}",
                v.go_type()
            ))
        })
    }
    let mut f = Functions::builtins();
    f.register("add", Arity::AtLeast(0), |a| {
        let mut sum = 0;
        for v in a {
            match v {
                Value::Int(i) => sum += i,
                other => {
                    return Err(FuncError::msg(format!(
                        "wrong type for value; expected int; got {}",
                        other.go_type()
                    )));
                }
            }
        }
        Ok(Value::Int(sum))
    });
    f.register("echo", Arity::Exact(1), |a| Ok(a[0].clone()));
    f.register("makemap", Arity::AtLeast(0), |a| {
        let mut m = std::collections::BTreeMap::new();
        for pair in a.chunks(2) {
            let k = want_string(&pair[0])?.to_string();
            let v = pair
                .get(1)
                .map(|v| want_string(v).map(Value::from))
                .transpose()?;
            m.insert(k, v.unwrap_or_else(|| Value::from("")));
        }
        Ok(Value::map(m))
    });
    f.register("mapOfThree", Arity::Exact(0), |_| {
        Ok(Value::from(&serde_json::json!({"three": 3})))
    });
    f.register("zeroArgs", Arity::Exact(0), |_| Ok(Value::from("zeroArgs")));
    f.register("oneArg", Arity::Exact(1), |a| {
        Ok(Value::from(format!("oneArg={}", want_string(&a[0])?)))
    });
    f.register("twoArgs", Arity::Exact(2), |a| {
        Ok(Value::from(format!(
            "twoArgs={}{}",
            want_string(&a[0])?,
            want_string(&a[1])?
        )))
    });
    f.register("dddArg", Arity::AtLeast(1), |a| {
        let Value::Int(first) = a[0] else {
            return Err(FuncError::msg("wrong type for value; expected int"));
        };
        let rest: Vec<&str> = a[1..].iter().map(want_string).collect::<Result<_, _>>()?;
        Ok(Value::from(format!("{first} [{}]\n", rest.join(" "))))
    });
    f.register("returnInt", Arity::Exact(0), |_| Ok(Value::Int(7)));
    f.register("valueString", Arity::Exact(1), |a| {
        want_string(&a[0])?;
        Ok(Value::from("value is ignored"))
    });
    f.register("die", Arity::Exact(0), |_| Err(FuncError::msg("die")));
    f
}

/// Runs one case; `Ok(())` when the outcome matches Go's.
fn run_case(case: &serde_json::Value, funcs: &Functions) -> Result<(), String> {
    let template = case["template"].as_str().ok_or("no template")?;
    let data = Value::from(&case["data"]);
    let expect_error = case["expect_error"].as_bool().unwrap_or(false);
    let mut set = Template::new("test").functions(funcs.clone());
    if let Some(defines) = case["defines"].as_array() {
        for (i, d) in defines.iter().enumerate() {
            let name = if i == 0 {
                "root".to_string()
            } else {
                format!("define{i}")
            };
            set = set
                .parse_named(&name, d.as_str().unwrap_or_default())
                .map_err(|e| format!("parsing defines: {e}"))?;
        }
    }
    let result = set
        .parse_named("test", template)
        .and_then(|t| t.execute(&data));
    match (result, expect_error) {
        (Ok(out), false) => {
            let want = case["expected"].as_str().unwrap_or_default();
            if out == want {
                Ok(())
            } else {
                Err(format!("got {out:?}, want {want:?}"))
            }
        }
        (Err(_), true) => Ok(()),
        (Ok(out), true) => Err(format!("expected an error, got {out:?}")),
        (Err(e), false) => Err(format!("error: {e}")),
    }
}

fn score(file: &str, funcs: &Functions, known: &[&str]) {
    let cases = cases(file);
    let mut failed = BTreeSet::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?").to_string();
        if let Err(why) = run_case(case, funcs) {
            if !known.contains(&name.as_str()) {
                eprintln!("FAIL {name}: {why}\n     template: {}", case["template"]);
            }
            failed.insert(name);
        }
    }
    let passed = cases.len() - failed.len();
    println!("{file}: {passed}/{}", cases.len());
    let known: BTreeSet<String> = known.iter().map(|s| s.to_string()).collect();
    let new: Vec<_> = failed.difference(&known).collect();
    let fixed: Vec<_> = known.difference(&failed).collect();
    assert!(
        new.is_empty() && fixed.is_empty(),
        "{file}: {passed}/{} pass; newly failing: {new:?}; now passing (remove from the known list): {fixed:?}",
        cases.len()
    );
}

/// Cases we knowingly fail: all use Go complex-number constants (`1.5i`, `1+2i`), which the
/// value model deliberately lacks (no Kubernetes manifest has complex numbers).
const TEXT_TEMPLATE_KNOWN: &[&str] = &[
    "cmpTests#17:ne 1+2i 1+2i",
    "cmpTests#3:eq 1+2i 1+2i",
    "execTests#112:if 1.5i",
    "execTests#136:printf complex",
    "execTests#342:bug16j",
];

/// Cases we knowingly fail: both call a method (`Compare`) on the value `semver` returns.
/// Values have no methods here; `semver` returns a dict with `Major`, `Minor`, `Patch`,
/// `Prerelease`, `Metadata` and `Original`, so field access works.
const SPRIG_KNOWN: &[&str] = &["TestSemver#4", "TestSemver#5"];

#[test]
fn text_template_vectors() {
    let mut funcs = harness_functions();
    // exec_test.go runs with only its harness functions on top of the builtins.
    funcs.remove("nothing");
    score("text_template.jsonl", &funcs, TEXT_TEMPLATE_KNOWN);
}

#[test]
fn sprig_vectors() {
    score("sprig.jsonl", &Functions::sprig(), SPRIG_KNOWN);
}
