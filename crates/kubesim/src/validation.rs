//! `fieldValidation`: unknown fields in a body are an error (Strict), a warning
//! (Warn, the default) or silently dropped (Ignore); in every case they are not stored.

use std::collections::HashMap;
use std::sync::Arc;

use flotilla_schema::{Schema, builtin, prune_unknown};
use parking_lot::Mutex;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::resources::{Origin, ResourceType};

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop them and answer with a `Warning` header per field (the server's default).
    #[default]
    Warn,
    /// Reject the request with 400 `strict decoding error`.
    Strict,
}

impl FieldValidation {
    /// Parse the query value (`Strict`, `Warn`, `Ignore`; empty means the default).
    pub fn parse(s: Option<&str>) -> Result<Self, String> {
        match s.unwrap_or("") {
            "" | "Warn" => Ok(FieldValidation::Warn),
            "Strict" => Ok(FieldValidation::Strict),
            "Ignore" => Ok(FieldValidation::Ignore),
            other => Err(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            )),
        }
    }
}

/// Compiled schemas of a cluster's custom resources, by CRD name and version; built-in
/// kinds use the embedded catalog.
#[derive(Default)]
pub struct Schemas {
    crds: Mutex<HashMap<CrdVersion, Compiled>>,
}

/// A CRD's name and one of its versions.
type CrdVersion = (String, String);

/// A schema document and what it compiled to.
type Compiled = (Arc<Value>, Arc<Schema>);

impl Schemas {
    /// The compiled schema of a custom resource type, if it declares one.
    pub fn compiled(&self, rt: &ResourceType) -> Option<Arc<Schema>> {
        match &rt.origin {
            Origin::Crd {
                crd_name,
                schema: Some(doc),
                ..
            } => self.crd(crd_name, &rt.version, doc),
            _ => None,
        }
    }

    /// The compiled schema of a CRD version (compiled once per distinct schema document).
    fn crd(&self, crd_name: &str, version: &str, doc: &Arc<Value>) -> Option<Arc<Schema>> {
        let key = (crd_name.to_string(), version.to_string());
        let mut cache = self.crds.lock();
        if let Some((source, compiled)) = cache.get(&key)
            && Arc::ptr_eq(source, doc)
        {
            return Some(compiled.clone());
        }
        let compiled = Arc::new(Schema::from_openapi_v3(doc).ok()?);
        cache.insert(key, (doc.clone(), compiled.clone()));
        Some(compiled)
    }
}

/// Check `obj` against `rt`'s schema and drop what it does not know: with Strict an unknown
/// field is a 400 worded like the API server's decoder; with Warn each one becomes a warning.
pub fn admit(
    schemas: &Schemas,
    rt: &ResourceType,
    obj: &mut Value,
    mode: FieldValidation,
) -> ApiResult<Vec<String>> {
    let unknown = match &rt.origin {
        Origin::Builtin => match builtin().kind(&rt.group, &rt.version, &rt.kind) {
            Some(schema) => prune_unknown(&schema, obj),
            None => vec![],
        },
        Origin::Crd {
            crd_name,
            schema: Some(doc),
            ..
        } => match schemas.crd(crd_name, &rt.version, doc) {
            Some(schema) => prune_unknown(&schema.root(), obj),
            None => vec![],
        },
        Origin::Crd { schema: None, .. } => vec![],
    };
    if unknown.is_empty() {
        return Ok(vec![]);
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    match mode {
        FieldValidation::Ignore => Ok(vec![]),
        FieldValidation::Warn => Ok(messages),
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: strict decoding error: {}",
            messages.join(", "),
            kind = rt.kind,
            version = rt.version,
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_type as rt;
    use serde_json::json;

    #[test]
    fn strict_rejects_warn_warns_and_both_drop_unknown_fields() {
        let schemas = Schemas::default();
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}, "spec": {"x": 1}});
        let err = admit(
            &schemas,
            &rt("ConfigMap"),
            &mut body.clone(),
            FieldValidation::Strict,
        )
        .expect_err("strict");
        assert_eq!(
            err.message,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"spec\""
        );
        let mut warned = body.clone();
        let warnings = admit(
            &schemas,
            &rt("ConfigMap"),
            &mut warned,
            FieldValidation::Warn,
        )
        .expect("warn");
        assert_eq!(warnings, ["unknown field \"spec\""]);
        assert!(warned.get("spec").is_none());
        let mut ignored = body;
        assert!(
            admit(
                &schemas,
                &rt("ConfigMap"),
                &mut ignored,
                FieldValidation::Ignore
            )
            .expect("ignore")
            .is_empty()
        );
        assert!(ignored.get("spec").is_none());
    }
}
