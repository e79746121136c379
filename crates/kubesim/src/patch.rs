//! PATCH bodies: JSON patch (RFC 6902), merge patch (RFC 7386) and strategic
//! merge patch (built-in kinds only), plus the `/scale` view of replicas.

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::http::MAX_BODY_BYTES;
use crate::meta;
use crate::resources::{ResourceType, ScalePaths};

/// The patch formats, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json`
    Json,
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    Strategic,
}

const CUSTOM_ACCEPTS: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];
const BUILTIN_ACCEPTS: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

impl PatchKind {
    /// The patch kind for a Content-Type; custom resources refuse strategic merge (415),
    /// and server-side apply is not served yet (415).
    pub fn from_content_type(ct: &str, custom: bool) -> ApiResult<PatchKind> {
        let accepts = if custom {
            CUSTOM_ACCEPTS
        } else {
            BUILTIN_ACCEPTS
        };
        match ct {
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/strategic-merge-patch+json" if !custom => Ok(PatchKind::Strategic),
            _ => Err(ApiError::unsupported_media_type(accepts)),
        }
    }
}

/// Apply a patch body to the current object.
pub fn apply(rt: &ResourceType, kind: PatchKind, current: &Value, body: &[u8]) -> ApiResult<Value> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    match kind {
        PatchKind::Json => json_patch_apply(current, body),
        PatchKind::Merge => {
            let patch = parse_patch(body)?;
            let mut doc = current.clone();
            json_patch::merge(&mut doc, &patch);
            Ok(doc)
        }
        PatchKind::Strategic => {
            let patch = parse_patch(body)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "the body of the request was in an unknown format",
                ));
            }
            let schema = flotilla_schema::builtin().kind(&rt.group, &rt.version, &rt.kind);
            flotilla_schema::strategic_merge_patch(current, &patch, schema.as_ref())
                .map_err(|e| ApiError::bad_request(e.to_string()))
        }
    }
}

fn parse_patch(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

fn json_patch_apply(current: &Value, body: &[u8]) -> ApiResult<Value> {
    let patch: json_patch::Patch =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut doc = current.clone();
    json_patch::patch(&mut doc, &patch).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    Ok(doc)
}

/// Read a `.a.b` path.
fn get_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let pointer = path.replace('.', "/");
    obj.pointer(&pointer)
}

/// The autoscaling/v1 Scale view of an object.
pub fn scale_of(obj: &Value, paths: &ScalePaths) -> Value {
    let replicas = get_path(obj, &paths.spec_replicas)
        .cloned()
        .unwrap_or(json!(0));
    let mut status =
        json!({"replicas": get_path(obj, &paths.status_replicas).cloned().unwrap_or(json!(0))});
    if let Some(sel) = paths
        .label_selector
        .as_deref()
        .and_then(|p| get_path(obj, p))
    {
        status["selector"] = sel.clone();
    } else if let Some(sel) = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
    {
        // Built-in workloads report their selector as a string.
        let s = sel
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(",");
        status["selector"] = json!(s);
    }
    let m = |f: &str| {
        obj.pointer(&format!("/metadata/{f}"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let mut metadata = json!({
        "name": m("name"), "namespace": m("namespace"), "uid": m("uid"),
        "resourceVersion": m("resourceVersion"), "creationTimestamp": m("creationTimestamp"),
    });
    if metadata["namespace"].is_null() {
        metadata.as_object_mut().map(|o| o.remove("namespace"));
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": replicas},
        "status": status,
    })
}

/// Apply a patch to a Scale (strategic merge on Scale is a plain merge: it has no lists).
pub fn apply_to_scale(kind: PatchKind, scale: &Value, body: &[u8]) -> ApiResult<Value> {
    match kind {
        PatchKind::Json => json_patch_apply(scale, body),
        PatchKind::Merge | PatchKind::Strategic => {
            let patch = parse_patch(body)?;
            let mut doc = scale.clone();
            json_patch::merge(&mut doc, &patch);
            Ok(doc)
        }
    }
}

/// The object with the replicas of a written Scale (checking its resourceVersion precondition).
pub fn with_replicas(
    rt: &ResourceType,
    current: &Value,
    paths: &ScalePaths,
    old_scale: &Value,
    new_scale: &Value,
) -> ApiResult<Value> {
    let rv = new_scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !rv.is_empty()
        && Some(rv)
            != old_scale
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
    {
        return Err(ApiError::stale(
            &rt.group,
            &rt.plural,
            meta::meta_str(current, "name"),
        ));
    }
    let replicas = new_scale
        .pointer("/spec/replicas")
        .cloned()
        .unwrap_or(json!(0));
    if !replicas.is_i64() || replicas.as_i64().is_some_and(|r| r < 0) {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            meta::meta_str(current, "name"),
            vec![crate::error::Cause::invalid(
                "spec.replicas",
                &replicas,
                "must be greater than or equal to 0",
            )],
        ));
    }
    let mut obj = current.clone();
    let pointer = paths.spec_replicas.replace('.', "/");
    meta::set_pointer(&mut obj, &pointer, replicas);
    // The write must not trip the main resource's own precondition check.
    meta::set_pointer(
        &mut obj,
        "/metadata/resourceVersion",
        json!(meta::meta_str(current, "resourceVersion")),
    );
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_types;

    fn deployment() -> ResourceType {
        builtin_types()
            .into_iter()
            .find(|t| t.kind == "Deployment")
            .map(|t| (*t).clone())
            .expect("builtin")
    }

    #[test]
    fn json_patch_test_operation_guards_the_change() {
        let cur = json!({"data": {"a": "1"}});
        let ok = br#"[{"op":"test","path":"/data/a","value":"1"},{"op":"replace","path":"/data/a","value":"2"}]"#;
        assert_eq!(
            apply(&deployment(), PatchKind::Json, &cur, ok).expect("ok")["data"]["a"],
            "2"
        );
        let bad = br#"[{"op":"test","path":"/data/a","value":"9"},{"op":"replace","path":"/data/a","value":"2"}]"#;
        assert_eq!(
            apply(&deployment(), PatchKind::Json, &cur, bad)
                .expect_err("test fails")
                .code,
            422
        );
    }

    #[test]
    fn merge_patch_null_deletes() {
        let cur = json!({"data": {"a": "1", "b": "2"}});
        let out = apply(
            &deployment(),
            PatchKind::Merge,
            &cur,
            br#"{"data":{"a":null}}"#,
        )
        .expect("ok");
        assert_eq!(out, json!({"data": {"b": "2"}}));
    }

    #[test]
    fn strategic_merge_is_refused_for_custom_resources() {
        let err = PatchKind::from_content_type("application/strategic-merge-patch+json", true)
            .expect_err("415");
        assert_eq!(err.code, 415);
        assert!(err.message.ends_with("application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"));
    }

    #[test]
    fn scale_reads_and_writes_spec_replicas() {
        let paths = deployment().scale.expect("scale");
        let d = json!({"metadata": {"name": "web", "namespace": "a", "resourceVersion": "5"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}}, "status": {"replicas": 2}});
        let s = scale_of(&d, &paths);
        assert_eq!(s["spec"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web");
        let new = apply_to_scale(PatchKind::Merge, &s, br#"{"spec":{"replicas":5}}"#).expect("ok");
        let out = with_replicas(&deployment(), &d, &paths, &s, &new).expect("ok");
        assert_eq!(out["spec"]["replicas"], 5);
    }
}
