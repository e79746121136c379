//! Shaping answers: an object, a list, a Table or metadata only, as the client asked.

use crate::meta::Lookup as _;
use std::io::Write;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::request::{Representation, representation};
use crate::cluster::ListPage;
use crate::error::{ApiError, ApiResult};
use crate::resources::{Origin, ResourceType};
use crate::table;

/// The printer columns of a type.
pub(crate) fn columns(rt: &ResourceType) -> table::Columns {
    match &rt.origin {
        Origin::Builtin => table::builtin_columns(&rt.group, &rt.kind),
        Origin::Crd {
            printer_columns, ..
        } => {
            // Like the server, columns before an unparsable JSONPath are still served.
            table::crd_columns(printer_columns).unwrap_or_else(|e| e.usable().clone())
        }
    }
}

/// A Table of `objects` for `rt`.
pub(crate) fn table_of(rt: &ResourceType, objects: &[&Value], list_meta: Value) -> Value {
    table::table(
        &columns(rt),
        objects,
        table::IncludeObject::Metadata,
        chrono::Utc::now(),
        list_meta,
    )
}

/// `PartialObjectMetadata` of an object, borrowing its metadata: written as is, never
/// copied (an object's managedFields alone can be most of it).
#[derive(serde::Serialize)]
pub(crate) struct PartialMetadata<'a> {
    kind: &'static str,
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    #[serde(serialize_with = "metadata_or_empty")]
    metadata: Option<&'a Value>,
}

fn metadata_or_empty<S: serde::Serializer>(
    metadata: &Option<&Value>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    match metadata {
        Some(m) => serde::Serialize::serialize(m, serializer),
        None => serializer.serialize_map(Some(0))?.end(),
    }
}

pub(crate) fn partial_metadata(obj: &Value) -> PartialMetadata<'_> {
    PartialMetadata {
        kind: "PartialObjectMetadata",
        api_version: "meta.k8s.io/v1",
        metadata: obj.get("metadata"),
    }
}

/// One object, in the representation the client asked for.
pub(crate) fn object(
    rt: &ResourceType,
    obj: &Value,
    headers: &HeaderMap,
    code: StatusCode,
    warnings: &[String],
) -> ApiResult<Response> {
    let mut resp = match representation(headers)? {
        Representation::Object => super::json_response(code, obj),
        Representation::Table => super::json_response(
            code,
            &table_of(
                rt,
                &[obj],
                json!({"resourceVersion": obj.at("/metadata/resourceVersion").cloned().unwrap_or(json!(""))}),
            ),
        ),
        Representation::Metadata => super::json_response(code, &partial_metadata(obj)),
    };
    add_warnings(&mut resp, warnings);
    Ok(resp)
}

/// Add `Warning: 299 - "<text>"` headers, as the API server does.
pub(crate) fn add_warnings(resp: &mut Response, warnings: &[String]) {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
}

/// A list page, written straight to bytes (lists are the hot path of every client).
pub(crate) fn list(rt: &ResourceType, page: ListPage, headers: &HeaderMap) -> ApiResult<Response> {
    let mut meta = json!({"resourceVersion": page.revision.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    match representation(headers)? {
        Representation::Table => {
            let objects: Vec<&Value> = page.items.iter().map(|o| o.as_ref()).collect();
            Ok(super::json_response(
                StatusCode::OK,
                &table_of(rt, &objects, meta),
            ))
        }
        Representation::Metadata => {
            let items: Vec<PartialMetadata> =
                page.items.iter().map(|o| partial_metadata(o)).collect();
            let body = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": items});
            Ok(super::json_response(StatusCode::OK, &body))
        }
        Representation::Object => {
            let mut out = Vec::with_capacity(256 + page.items.len() * 512);
            let head = json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": meta});
            let head =
                serde_json::to_string(&head).map_err(|e| ApiError::internal(e.to_string()))?;
            out.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
            out.extend_from_slice(b",\"items\":[");
            for (i, item) in page.items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, item.as_ref())
                    .map_err(|e| ApiError::internal(e.to_string()))?;
            }
            out.write_all(b"]}")
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok((StatusCode::OK, [("content-type", "application/json")], out).into_response())
        }
    }
}
