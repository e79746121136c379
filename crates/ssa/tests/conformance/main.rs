//! Replays the server-side apply conformance corpus (`shared/conformance/ssa`, cases
//! extracted from structured-merge-diff's `merge/*_test.go`) through the library and
//! scores it. The corpus is read at run time from `../shared/conformance` next to the
//! workspace and is never copied into the repository.
//!
//! Every case checks the final object, every manager's set (version and
//! apply/update flag included) and the exact conflicts of non-forced applies.

mod apiserver;
mod scenarios;

use std::path::PathBuf;

use flotilla_ssa::{
    FieldSet, ManagedSet, Managers, Path, PathElement, SmdSchema, Updater, extract_items, merge,
    validate,
};
use serde_json::Value;

/// Cases that fail, by name, with the reason. A change that fixes or breaks a case
/// must update this list.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/ssa/cases.jsonl")
}

pub(crate) fn yaml(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| format!("bad YAML {text:?}: {e}"))
}

fn path(elements: &Value) -> Result<Path, String> {
    let list = elements.as_array().ok_or("path must be a list")?;
    let mut out = Vec::new();
    for e in list {
        let pe = if let Some(f) = e.get("field").and_then(Value::as_str) {
            PathElement::field(f)
        } else if let Some(Value::Object(k)) = e.get("key") {
            PathElement::key(k.clone())
        } else if let Some(v) = e.get("value") {
            PathElement::value(v.clone())
        } else if let Some(i) = e.get("index").and_then(Value::as_i64) {
            PathElement::Index(i)
        } else {
            return Err(format!("unknown path element {e}"));
        };
        out.push(pe);
    }
    Ok(Path(out))
}

fn text<'v>(v: &'v Value, key: &str) -> Result<&'v str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{key} must be a string"))
}

/// The state of one case while its operations run.
struct State {
    schema: SmdSchema,
    by_version: bool,
    root: String,
    /// `None` until an operation creates the object (smd's nil live object).
    live: Option<Value>,
    managers: Managers,
    updater: Updater,
}

impl State {
    fn type_name<'a>(&'a self, version: &'a str) -> &'a str {
        if self.by_version { version } else { &self.root }
    }

    fn node(&self, version: &str) -> Result<flotilla_ssa::SmdType<'_>, String> {
        let name = self.type_name(version);
        self.schema
            .type_named(name)
            .ok_or_else(|| format!("schema has no type {name}"))
    }

    fn parse(&self, version: &str, object: &str, allow_duplicates: bool) -> Result<Value, String> {
        let v = yaml(object)?;
        validate(self.node(version)?, &v, allow_duplicates).map_err(|e| e.to_string())?;
        Ok(v)
    }

    fn apply(
        &mut self,
        version: &str,
        manager: &str,
        config: &Value,
        force: bool,
    ) -> Result<Result<(), flotilla_ssa::Conflicts>, String> {
        use flotilla_ssa::ApplyError;
        let live = self.live.clone().unwrap_or(Value::Null);
        let node = self.node(version)?;
        match self
            .updater
            .apply(node, &live, config, version, &self.managers, manager, force)
        {
            Ok(applied) => {
                self.managers = applied.managers;
                self.live = Some(applied.object.unwrap_or(live));
                Ok(Ok(()))
            }
            Err(ApplyError::Conflicts(c)) => Ok(Err(c)),
            Err(ApplyError::Invalid(e)) => Err(e.to_string()),
        }
    }

    fn run(&mut self, op: &Value) -> Result<(), String> {
        let kind = text(op, "op")?;
        if kind == "change_parser" {
            let schema = yaml(text(op, "schema")?)?;
            self.schema = SmdSchema::from_value(&schema).map_err(|e| e.to_string())?;
            self.by_version = true;
            if let Some(live) = &self.live {
                let node = self
                    .schema
                    .type_named(&self.root)
                    .ok_or("new schema lacks the live object's type")?;
                validate(node, live, true)
                    .map_err(|e| format!("live object under new schema: {e}"))?;
            }
            return Ok(());
        }
        let manager = text(op, "manager")?;
        let version = text(op, "api_version")?;
        let object = text(op, "object")?;
        match kind {
            "apply" => {
                let config = self.parse(version, object, false)?;
                let expected = op.get("conflicts").filter(|c| !c.is_null());
                match (self.apply(version, manager, &config, false)?, expected) {
                    (Ok(()), None) => Ok(()),
                    (Err(c), None) => Err(format!("unexpected conflicts: {c}")),
                    (got, Some(expected)) => {
                        let got = got.err().map(|c| c.0).unwrap_or_default();
                        let mut got: Vec<(String, String)> = got
                            .into_iter()
                            .map(|c| (c.manager, c.path.to_string()))
                            .collect();
                        let mut want = Vec::new();
                        for pair in expected.as_array().ok_or("conflicts must be a list")? {
                            want.push((
                                pair[0]
                                    .as_str()
                                    .ok_or("conflict manager must be a string")?
                                    .to_owned(),
                                path(&pair[1])?.to_string(),
                            ));
                        }
                        got.sort();
                        want.sort();
                        if got == want {
                            Ok(())
                        } else {
                            Err(format!("conflicts: got {got:?}, want {want:?}"))
                        }
                    }
                }
            }
            "force_apply" => {
                let config = self.parse(version, object, false)?;
                self.apply(version, manager, &config, true)?
                    .map_err(|c| format!("forced apply conflicted: {c}"))
            }
            "update" => {
                let new = self.parse(version, object, true)?;
                let live = self.live.clone().unwrap_or(Value::Null);
                let node = self.node(version)?;
                self.managers =
                    self.updater
                        .update(node, &live, &new, version, &self.managers, manager);
                self.live = Some(new);
                Ok(())
            }
            "extract_apply" => {
                let config = self.parse(version, object, false)?;
                let Some(live) = self.live.clone() else {
                    return self
                        .apply(version, manager, &config, true)?
                        .map_err(|c| format!("forced apply conflicted: {c}"));
                };
                let set = match self.managers.get(manager) {
                    Some(m) if m.api_version != version => {
                        return Err(format!(
                            "existing managed fieldpath set APIVersion ({}) differs from desired ({version}), unable to extract",
                            m.api_version
                        ));
                    }
                    Some(m) => m.fields.leaves(),
                    None => FieldSet::new(),
                };
                let node = self.node(version)?;
                let extracted = extract_items(node, &live, &set, false);
                let merged = merge(node, Some(&extracted), Some(&config)).unwrap_or(Value::Null);
                self.apply(version, manager, &merged, true)?
                    .map_err(|c| format!("forced apply conflicted: {c}"))
            }
            other => Err(format!("unknown op {other}")),
        }
    }
}

fn check_managed(managers: &Managers, expected: &Value) -> Result<(), String> {
    let expected = expected
        .as_object()
        .ok_or("expected_managed must be a map")?;
    let mut want: Managers = Managers::new();
    for (name, m) in expected {
        let mut paths = Vec::new();
        for p in m["fields"].as_array().ok_or("fields must be a list")? {
            paths.push(path(p)?);
        }
        let set = FieldSet::from_paths(&paths);
        if set.is_empty() {
            continue;
        }
        want.insert(
            name.clone(),
            ManagedSet {
                fields: set,
                api_version: text(m, "api_version")?.to_owned(),
                applied: m["applied_derived"]
                    .as_bool()
                    .ok_or("applied_derived must be a bool")?,
            },
        );
    }
    if let Some((name, _)) = managers.iter().find(|(_, m)| m.fields.is_empty()) {
        return Err(format!("manager {name} has an empty set"));
    }
    if *managers == want {
        return Ok(());
    }
    let show = |m: &Managers| -> String {
        m.iter()
            .map(|(n, s)| {
                let paths: Vec<String> = s.fields.paths().iter().map(ToString::to_string).collect();
                format!(
                    "{n}@{}{}: {}",
                    s.api_version,
                    if s.applied { "(apply)" } else { "" },
                    paths.join(" ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    Err(format!(
        "managers: got [{}], want [{}]",
        show(managers),
        show(&want)
    ))
}

fn run_case(case: &Value) -> Result<(), String> {
    let schema = SmdSchema::from_value(&yaml(text(case, "schema")?)?).map_err(|e| e.to_string())?;
    let mut updater = Updater::new();
    if let Some(Value::Object(ignored)) = case.get("ignored_fields") {
        for (version, paths) in ignored {
            let mut list = Vec::new();
            for p in paths.as_array().ok_or("ignored paths must be a list")? {
                list.push(path(p)?);
            }
            updater = updater.ignore(version.clone(), FieldSet::from_paths(&list));
        }
    }
    let mut state = State {
        schema,
        by_version: case["type_from_api_version"].as_bool().unwrap_or(false),
        root: text(case, "type")?.to_owned(),
        live: None,
        managers: Managers::new(),
        updater,
    };
    let expect_error = case["expect_error"].as_bool().unwrap_or(false);
    for (i, op) in case["ops"]
        .as_array()
        .ok_or("ops must be a list")?
        .iter()
        .enumerate()
    {
        if let Err(e) = state.run(op) {
            return if expect_error {
                Ok(())
            } else {
                Err(format!("op {i} ({}): {e}", op["op"]))
            };
        }
    }
    if expect_error {
        return Err("expected an error, every op succeeded".into());
    }
    if let Some(expected) = case.get("expected_object").and_then(Value::as_str) {
        let want = yaml(expected)?;
        let got = state.live.clone().unwrap_or(Value::Null);
        let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|m| m.is_empty());
        if !(got == want || (empty(&got) && empty(&want))) {
            return Err(format!("object: got {got}, want {want}"));
        }
    }
    if let Some(expected) = case.get("expected_managed").filter(|m| !m.is_null()) {
        check_managed(&state.managers, expected)?;
    }
    Ok(())
}

#[test]
fn ssa_conformance() {
    let file = corpus();
    let data = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "the SSA conformance corpus must be at {} (shared/conformance next to the workspace): {e}",
            file.display()
        )
    });
    let mut total = 0;
    let mut failed: Vec<String> = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("every corpus line is JSON");
        let name = case["name"].as_str().unwrap_or("?").to_owned();
        total += 1;
        if let Err(e) = run_case(&case) {
            println!("FAIL {name}: {e}");
            failed.push(name);
        }
    }
    let passed = total - failed.len();
    println!("{passed}/{total} ssa conformance cases pass");
    let known: Vec<&str> = KNOWN_FAILURES.iter().map(|(n, _)| *n).collect();
    assert!(total >= 57, "the corpus shrank to {total} cases");
    assert!(passed * 10 >= total * 9, "{passed}/{total} is below 90%");
    assert_eq!(
        failed, known,
        "the failing cases differ from KNOWN_FAILURES"
    );
}
