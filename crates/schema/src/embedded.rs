//! The embedded Kubernetes definitions: v1.21.2's OpenAPI document, completed by a
//! supplement of what later versions (up to 1.33) added to the kinds kubesim serves.
//!
//! The supplement (`data/kubernetes-supplement-v1.33.json.gz`) is generated from the
//! k8s-openapi crate by `examples/gen_supplement`; see docs/decisions.md. It holds
//! whole definitions 1.21.2 lacks (autoscaling/v2, `PodOS`, `PodFailurePolicy`, …) and,
//! for definitions 1.21.2 has, only the properties it lacks. The merge is additive:
//! nothing 1.21.2 says is replaced, so its patch strategies and merge keys stay
//! authoritative.
//!
//! The merge is done twice from the same code (`src/merge.rs`): at build time, where
//! `build.rs` turns the merged definitions without descriptions into the
//! [`DEFINITIONS`] and [`RESOURCES`] tables that [`builtin`](crate::builtin) reads
//! cheaply, and at run time for [`builtin_definitions_json`], which needs the full
//! documents.

use std::io::Read;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::model::SchemaError;

/// Kubernetes v1.21.2's swagger definitions plus the list of served resources, gzipped.
static BASE: &[u8] = include_bytes!("../data/kubernetes-openapi-v1.21.2.json.gz");

/// What Kubernetes 1.33 adds to [`BASE`] for the kinds kubesim serves, gzipped.
static SUPPLEMENT: &[u8] = include_bytes!("../data/kubernetes-supplement-v1.33.json.gz");

/// One definition of [`BASE`] and [`SUPPLEMENT`] merged by `build.rs`, descriptions
/// left out: what [`builtin`](crate::builtin) reads, parsed only when first reached.
pub(crate) struct CompactDefinition {
    /// E.g. `io.k8s.api.apps.v1.Deployment`.
    pub(crate) name: &'static str,
    /// The definition's JSON.
    pub(crate) json: &'static str,
    /// Its `x-kubernetes-group-version-kind`, as (group, version, kind).
    pub(crate) gvks: &'static [(&'static str, &'static str, &'static str)],
}

/// One entry of the merged `resources` list; see [`CompactDefinition`].
pub(crate) struct CompactResource {
    pub(crate) api_version: &'static str,
    pub(crate) kind: &'static str,
    /// `None` also where the entry's value is not a string, as the JSON path reads it.
    pub(crate) definition: Option<&'static str>,
    pub(crate) scope: Option<&'static str>,
}

// `DEFINITIONS: &[CompactDefinition]` and `RESOURCES: &[CompactResource]`, in document
// order.
include!(concat!(env!("OUT_DIR"), "/builtin_catalog.rs"));

/// The supplement format this code merges.
const SUPPLEMENT_FORMAT: u64 = 1;

/// The merged swagger `definitions` of Kubernetes' built-in kinds, by name (e.g.
/// `io.k8s.api.core.v1.PodSpec`), with `$ref: "#/definitions/<name>"` references and
/// descriptions: v1.21.2's definitions plus what the embedded supplement adds (fields
/// up to 1.33, and `autoscaling/v2` in its own shape). Decoded on first use.
///
/// This is the document [`builtin`](crate::builtin) is built from, for consumers that
/// need the JSON itself (e.g. to publish OpenAPI documents).
pub fn builtin_definitions_json() -> &'static Map<String, Value> {
    static DEFINITIONS: OnceLock<Map<String, Value>> = OnceLock::new();
    DEFINITIONS.get_or_init(|| match document() {
        Ok(doc) => doc.definitions,
        Err(e) => unusable(&e),
    })
}

/// The panic for unusable embedded data. Both files are compiled into the binary and
/// decoded by this crate's tests, so failing here means the build itself is broken.
pub(crate) fn unusable(e: &SchemaError) -> ! {
    panic!("the embedded Kubernetes OpenAPI definitions are unusable: {e}")
}

/// A definitions document split into the two parts a [`Catalog`](crate::Catalog) reads.
#[derive(Debug, Default)]
pub(crate) struct Document {
    /// Swagger `definitions`, by name.
    pub(crate) definitions: Map<String, Value>,
    /// `[{apiVersion, kind, definition?, scope?}]`.
    pub(crate) resources: Vec<Value>,
}

impl Document {
    fn from_json(doc: Value, path: &str) -> Result<Document, SchemaError> {
        let Value::Object(mut doc) = doc else {
            return Err(invalid(path, "not an object"));
        };
        let Some(Value::Object(definitions)) = doc.remove("definitions") else {
            return Err(invalid(
                &format!("{path}.definitions"),
                "missing or not an object",
            ));
        };
        let resources = match doc.remove("resources") {
            None => Vec::new(),
            Some(Value::Array(resources)) => resources,
            Some(_) => return Err(invalid(&format!("{path}.resources"), "not a list")),
        };
        Ok(Document {
            definitions,
            resources,
        })
    }
}

/// The merged document, decoded afresh on each call; callers keep what they need.
pub(crate) fn document() -> Result<Document, SchemaError> {
    let mut base = Document::from_json(decode(BASE)?, "base")?;
    let supplement = decode(SUPPLEMENT)?;
    match supplement.get("formatVersion").and_then(Value::as_u64) {
        Some(SUPPLEMENT_FORMAT) => {}
        _ => return Err(invalid("supplement.formatVersion", "unsupported format")),
    }
    merge(&mut base, Document::from_json(supplement, "supplement")?)?;
    Ok(base)
}

fn decode(gz: &[u8]) -> Result<Value, SchemaError> {
    let mut json = Vec::with_capacity(gz.len() * 16);
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut json)
        .map_err(SchemaError::Decompress)?;
    serde_json::from_slice(&json).map_err(SchemaError::Json)
}

fn invalid(path: &str, reason: &str) -> SchemaError {
    SchemaError::Invalid {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Adds `supplement`'s definitions and resources to `base` without replacing anything
/// (see [`merge_definitions`](crate::merge::merge_definitions)); a resource entry is
/// added unless `base` has one for the same apiVersion and kind.
pub(crate) fn merge(base: &mut Document, supplement: Document) -> Result<(), SchemaError> {
    crate::merge::merge_definitions(&mut base.definitions, supplement.definitions)
        .map_err(|(path, reason)| invalid(&path, reason))?;
    crate::merge::merge_resources(&mut base.resources, supplement.resources);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Document {
        Document::from_json(v, "test").unwrap()
    }

    #[test]
    fn merge_adds_and_never_replaces() {
        let mut base = doc(json!({
            "definitions": {
                "A": {"properties": {
                    "list": {"type": "array", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"}
                }}
            },
            "resources": [{"apiVersion": "v1", "kind": "A", "definition": "A", "scope": "Namespaced"}]
        }));
        let supplement = doc(json!({
            "definitions": {
                "A": {
                    "properties": {
                        "list": {"type": "array", "x-kubernetes-list-type": "atomic"},
                        "new": {"type": "string"}
                    },
                    "x-kubernetes-map-type": "atomic"
                },
                "B": {"type": "object"}
            },
            "resources": [
                {"apiVersion": "v1", "kind": "A", "definition": "B"},
                {"apiVersion": "v2", "kind": "B", "definition": "B", "scope": "Cluster"}
            ]
        }));
        merge(&mut base, supplement).unwrap();
        let a = &base.definitions["A"];
        assert_eq!(
            a["properties"]["list"],
            json!({"type": "array", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"})
        );
        assert_eq!(a["properties"]["new"], json!({"type": "string"}));
        assert_eq!(a["x-kubernetes-map-type"], "atomic");
        assert_eq!(base.definitions["B"], json!({"type": "object"}));
        assert_eq!(base.resources.len(), 2);
        assert_eq!(base.resources[0]["definition"], "A");
        assert_eq!(base.resources[1]["apiVersion"], "v2");
    }

    #[test]
    fn documents_must_have_definitions() {
        let err = Document::from_json(json!({"resources": []}), "supplement").unwrap_err();
        assert_eq!(
            err.to_string(),
            "supplement.definitions: missing or not an object"
        );
    }

    #[test]
    fn embedded_documents_merge() {
        let doc = document().unwrap();
        assert!(doc.definitions.contains_key("io.k8s.api.core.v1.PodOS"));
        assert!(doc.definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["os"].is_object());
    }
}
