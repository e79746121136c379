//! Merges the embedded Kubernetes definitions once, at build time, into the tables
//! `builtin()` reads (`$OUT_DIR/builtin_catalog.rs`, included by `src/embedded.rs`).
//!
//! A short-lived process (`flotilla render kustomize`) used to spend ~12 ms on its first
//! `builtin()` gunzipping and parsing ~1 MB of JSON, most of it descriptions, and merging
//! the supplement. Here the merge is done once, the descriptions (which the catalog
//! drops anyway) are left out, and each definition becomes its own string constant next
//! to the kinds it is served as, so the run time parses a definition only when it is
//! first reached. The committed `data/*.json.gz` stay the only source, so nothing
//! generated can go stale. `builtin_definitions_json()` still decodes the full
//! documents, descriptions included.

#[path = "src/merge.rs"]
mod merge;

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use serde_json::{Map, Value};

const BASE: &str = "data/kubernetes-openapi-v1.21.2.json.gz";
const SUPPLEMENT: &str = "data/kubernetes-supplement-v1.33.json.gz";
/// The supplement format `merge` understands; `src/embedded.rs` checks the same.
const SUPPLEMENT_FORMAT: u64 = 1;

fn main() {
    for path in [BASE, SUPPLEMENT, "src/merge.rs"] {
        println!("cargo::rerun-if-changed={path}");
    }
    let (mut definitions, mut resources) = parts(read_gz_json(BASE), BASE);
    let supplement = read_gz_json(SUPPLEMENT);
    if supplement.get("formatVersion").and_then(Value::as_u64) != Some(SUPPLEMENT_FORMAT) {
        panic!("{SUPPLEMENT}: unsupported formatVersion");
    }
    let (more_definitions, more_resources) = parts(supplement, SUPPLEMENT);
    if let Err((path, reason)) = merge::merge_definitions(&mut definitions, more_definitions) {
        panic!("merging {SUPPLEMENT}: {path}: {reason}");
    }
    merge::merge_resources(&mut resources, more_resources);

    // `{:?}` of a `str` is a Rust string literal.
    let mut out = String::from("pub(crate) static DEFINITIONS: &[CompactDefinition] = &[\n");
    for (name, definition) in &mut definitions {
        strip_descriptions(definition);
        let gvks = gvks(definition, name);
        let json = serde_json::to_string(definition).expect("serializing JSON values");
        writeln!(
            out,
            "CompactDefinition {{ name: {name:?}, json: {json:?}, gvks: &{gvks:?} }},"
        )
        .expect("writing to a String");
    }
    out.push_str("];\npub(crate) static RESOURCES: &[CompactResource] = &[\n");
    for (i, r) in resources.iter().enumerate() {
        let field = |k: &str| r.get(k).and_then(Value::as_str);
        let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
            panic!("resources[{i}]: apiVersion and kind must be strings");
        };
        let (definition, scope) = (field("definition"), field("scope"));
        writeln!(
            out,
            "CompactResource {{ api_version: {api_version:?}, kind: {kind:?}, \
             definition: {definition:?}, scope: {scope:?} }},"
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");

    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let path = Path::new(&out_dir).join("builtin_catalog.rs");
    std::fs::write(&path, out).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A definition's `x-kubernetes-group-version-kind`, as (group, version, kind).
fn gvks(definition: &Value, name: &str) -> Vec<(String, String, String)> {
    let Some(list) = definition.get("x-kubernetes-group-version-kind") else {
        return Vec::new();
    };
    let bad = || {
        panic!(
            "definitions.{name}.x-kubernetes-group-version-kind: \
             must be a list of {{group, version, kind}} strings"
        )
    };
    let Some(list) = list.as_array() else { bad() };
    list.iter()
        .map(|g| {
            let s = |k: &str| g.get(k).and_then(Value::as_str).map(str::to_owned);
            match (s("group"), s("version"), s("kind")) {
                (Some(group), Some(version), Some(kind)) => (group, version, kind),
                _ => bad(),
            }
        })
        .collect()
}

fn read_gz_json(path: &str) -> Value {
    let gz = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut json)
        .unwrap_or_else(|e| panic!("decompressing {path}: {e}"));
    serde_json::from_slice(&json).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// The `definitions` and `resources` of a document, checked as `Document::from_json`
/// checks them at run time.
fn parts(doc: Value, path: &str) -> (Map<String, Value>, Vec<Value>) {
    let Value::Object(mut doc) = doc else {
        panic!("{path}: not an object");
    };
    let Some(Value::Object(definitions)) = doc.remove("definitions") else {
        panic!("{path}: definitions missing or not an object");
    };
    let resources = match doc.remove("resources") {
        None => Vec::new(),
        Some(Value::Array(resources)) => resources,
        Some(_) => panic!("{path}: resources is not a list"),
    };
    (definitions, resources)
}

/// Removes `description` from a schema node and the nodes below it. Only schema
/// positions are walked (not e.g. the keys of `properties`), so a property named
/// `description`, as on `JSONSchemaProps`, is kept.
fn strip_descriptions(node: &mut Value) {
    let Value::Object(node) = node else { return };
    node.shift_remove("description");
    if let Some(Value::Object(props)) = node.get_mut("properties") {
        props.values_mut().for_each(strip_descriptions);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = node.get_mut(key) {
            strip_descriptions(child);
        }
    }
}
