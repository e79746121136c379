//! The HTTP face of the fleet: every cluster under `/clusters/<name>/…`.
//!
//! One catch-all route per cluster prefix hands the rest of the path to
//! [`path::parse`]; the verbs map onto [`Cluster`] methods and every error
//! becomes a `kind: Status` body.

mod auth;
mod path;
mod request;
mod respond;
mod watch;

use crate::meta::Lookup as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use serde_json::{Value, json};

use crate::cluster::{Cluster, DeleteOptions, Deleted, Propagation, WriteOptions, Written};
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::fleet::Fleet;
use crate::listen::Connection;
use crate::meta::Part;
use crate::resources::ResourceType;
use crate::{discovery, openapi, patch};

pub use path::{ApiPath, ResourcePath, parse as parse_path};
pub use request::MAX_BODY_BYTES;

/// The media type of server-side apply patches.
const APPLY_PATCH: &str = "application/apply-patch+yaml";

/// The router serving every cluster of `fleet`.
pub fn router(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route("/readyz", any(|| async { "ok" }))
        .route("/healthz", any(|| async { "ok" }))
        .route("/livez", any(|| async { "ok" }))
        .route("/clusters/{cluster}", any(cluster_root))
        .route("/clusters/{cluster}/{*rest}", any(handle))
        .fallback(|| async { ApiError::no_route() })
        // Bodies are read (and limited) by `read_body`, which answers 413 as a Status.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(fleet)
}

#[allow(clippy::too_many_arguments)]
async fn cluster_root(
    State(fleet): State<Arc<Fleet>>,
    Path(cluster): Path<String>,
    conn: Option<Extension<Connection>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let conn = conn.map(|Extension(c)| c);
    dispatch(&fleet, &cluster, "", conn, method, headers, query, body).await
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    State(fleet): State<Arc<Fleet>>,
    Path((cluster, rest)): Path<(String, String)>,
    conn: Option<Extension<Connection>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let conn = conn.map(|Extension(c)| c);
    dispatch(&fleet, &cluster, &rest, conn, method, headers, query, body).await
}

/// Read a request body, refusing more than the API server's limit without buffering it all.
async fn read_body(body: Body) -> ApiResult<Bytes> {
    use http_body_util::{BodyExt, Limited};
    match Limited::new(body, MAX_BODY_BYTES + 1).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::too_large(MAX_BODY_BYTES))
        }
        Err(e) => Err(ApiError::bad_request(format!(
            "reading the request body: {e}"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
async fn dispatch(
    fleet: &Arc<Fleet>,
    cluster: &str,
    rest: &str,
    conn: Option<Connection>,
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
    body: Body,
) -> Response {
    let Some(cluster) = fleet
        .cluster(cluster)
        .filter(|_| conn.as_ref().is_none_or(|c| c.serves(cluster)))
    else {
        return ApiError::no_route().into_response();
    };
    let path = path::parse(rest);
    if let Some(conn) = &conn {
        cluster.track_connection(conn);
    }
    if !matches!(path, Some(ApiPath::Admin(_)))
        && let Some(injected) = inject_faults(&cluster, conn.as_ref()).await
    {
        return injected.into_response();
    }
    let audit_info = match (&path, fleet.audit()) {
        (Some(ApiPath::Resource(p)), Some(_)) => Some(p.clone()),
        _ => None,
    };
    let watch = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb_method = method.clone();
    let dry_run = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|kv| kv == "dryRun=All"));
    let (identity, denied) = auth::admit(
        fleet,
        &cluster,
        rest,
        path.as_ref(),
        &method,
        auth::Presented {
            headers: &headers,
            certificate: conn.as_ref().and_then(Connection::client_certificate),
        },
        query.as_deref(),
    );
    let result = async {
        if let Some(denied) = denied {
            return Err(denied);
        }
        let body = read_body(body).await?;
        let query = request::Query::parse(query.as_deref())?;
        let path = path.ok_or_else(ApiError::no_route)?;
        if let Some(served) = auth::serve(
            fleet,
            &cluster,
            identity.as_ref(),
            &path,
            &method,
            &headers,
            &body,
        ) {
            return served;
        }
        route(fleet, &cluster, path, method, &headers, &query, body).await
    }
    .await;
    let response = result.unwrap_or_else(IntoResponse::into_response);
    if let (Some(p), Some(log)) = (audit_info, fleet.audit()) {
        log.record(&crate::audit::Entry {
            time: crate::meta::now(),
            cluster: cluster.name().to_string(),
            user: identity
                .as_ref()
                .map(|i| i.authenticated.name.clone())
                .unwrap_or_default(),
            groups: identity
                .as_ref()
                .map(|i| i.authenticated.groups.clone())
                .unwrap_or_default(),
            impersonated_user: identity
                .as_ref()
                .and_then(|i| i.impersonated.as_ref())
                .map(|u| u.name.clone()),
            impersonated_groups: identity
                .as_ref()
                .and_then(|i| i.impersonated.as_ref())
                .map(|u| u.groups.clone())
                .unwrap_or_default(),
            verb: crate::audit::verb(
                verb_method.as_str(),
                p.name.is_some(),
                watch || p.legacy_watch,
            )
            .into(),
            group: p.group,
            resource: p.resource,
            subresource: p.subresource.unwrap_or_default(),
            namespace: p.namespace.unwrap_or_default(),
            name: p.name.unwrap_or_default(),
            code: response.status().as_u16(),
            dry_run,
        });
    }
    response
}

/// Apply the cluster's injected faults: cut the connection while unreachable, add latency,
/// fail a share.
async fn inject_faults(cluster: &Cluster, conn: Option<&Connection>) -> Option<ApiError> {
    let mut faults = cluster.faults();
    if faults.unreachable
        && let Some(conn) = conn
    {
        // The peer vanished: the connection closes with no answer (see `crate::listen`).
        conn.cut();
        return std::future::pending().await;
    }
    while faults.unreachable {
        // Served in process, without a connection to cut: the request goes nowhere until the
        // cluster is reachable again (or the caller gives up and drops it).
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        faults = cluster.faults();
    }
    if faults.latency_ms > 0 {
        tokio::time::sleep(faults.latency()).await;
    }
    if faults.fails(rand::random::<f64>()) {
        return Some(match faults.error_code {
            429 => ApiError::too_many_requests(),
            503 => ApiError::service_unavailable(),
            _ => ApiError::internal("kubesim: injected fault"),
        });
    }
    None
}

async fn route(
    fleet: &Arc<Fleet>,
    cluster: &Arc<Cluster>,
    path: ApiPath,
    method: Method,
    headers: &HeaderMap,
    query: &request::Query,
    body: Bytes,
) -> ApiResult<Response> {
    let registry = cluster.registry();
    match path {
        ApiPath::Version => Ok(json_response(StatusCode::OK, &fleet.version_info())),
        ApiPath::Health => Ok("ok".into_response()),
        ApiPath::CoreRoot | ApiPath::GroupsRoot => {
            let core = matches!(path, ApiPath::CoreRoot);
            let accept = headers
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let format = discovery::negotiate(accept)
                .ok_or_else(|| ApiError::not_acceptable(&["application/json"]))?;
            let body = match format {
                discovery::DiscoveryFormat::Aggregated(v) => {
                    discovery::aggregated(&registry, core, v)
                }
                discovery::DiscoveryFormat::Legacy if core => {
                    discovery::api_versions(&fleet.server_address())
                }
                discovery::DiscoveryFormat::Legacy => discovery::api_group_list(&registry),
            };
            let mut resp = json_response(StatusCode::OK, &body);
            if let Ok(ct) = HeaderValue::from_str(format.content_type()) {
                resp.headers_mut().insert("content-type", ct);
            }
            Ok(resp)
        }
        ApiPath::Group(group) => discovery::api_group(&registry, &group)
            .map(|v| json_response(StatusCode::OK, &v))
            .ok_or_else(ApiError::no_route),
        ApiPath::GroupVersion { group, version } => {
            discovery::api_resource_list(&registry, &group, &version)
                .map(|v| json_response(StatusCode::OK, &v))
                .ok_or_else(ApiError::no_route)
        }
        ApiPath::OpenApiV2 => {
            let published = openapi::published(&registry);
            let wants_proto = headers
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("protobuf"));
            Ok(if wants_proto {
                (
                    StatusCode::OK,
                    [("content-type", openapi::V2_PROTOBUF_CONTENT_TYPE)],
                    published.v2_protobuf(),
                )
                    .into_response()
            } else {
                (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    published.v2_json(),
                )
                    .into_response()
            })
        }
        ApiPath::OpenApiV3Root => {
            let published = openapi::published(&registry);
            Ok((
                StatusCode::OK,
                [("content-type", "application/json")],
                published.root(),
            )
                .into_response())
        }
        ApiPath::OpenApiV3 { group, version } => {
            let published = openapi::published(&registry);
            let (hash, body) = published
                .group_version(&openapi::v3_path_key(&group, &version))
                .ok_or_else(ApiError::no_route)?;
            // A hashed URL names immutable content: let clients cache it (as the apiserver does).
            let cache = if query.get("hash") == Some(hash) {
                "public, immutable"
            } else {
                "no-cache, private"
            };
            Ok((
                StatusCode::OK,
                [
                    ("content-type", "application/json"),
                    ("cache-control", cache),
                    ("etag", &format!("\"{hash}\"")),
                ],
                body,
            )
                .into_response())
        }
        ApiPath::Admin(action) => admin(cluster, &action, &method, &body),
        ApiPath::Resource(p) => resource(cluster, p, method, headers, query, body).await,
    }
}

/// The simulator's controls, for tests: faults, compaction, forced expiry, dropped watches.
fn admin(cluster: &Cluster, action: &str, method: &Method, body: &[u8]) -> ApiResult<Response> {
    if action == "faults" {
        if method == Method::GET {
            return Ok(json_response(
                StatusCode::OK,
                &serde_json::to_value(cluster.faults()).unwrap_or_default(),
            ));
        }
        let change: crate::faults::FaultChange = if body.iter().all(u8::is_ascii_whitespace) {
            Default::default()
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("fault change: {e}")))?
        };
        let faults = cluster
            .change_faults(&change)
            .map_err(ApiError::bad_request)?;
        return Ok(json_response(
            StatusCode::OK,
            &serde_json::to_value(faults).unwrap_or_default(),
        ));
    }
    if method != Method::POST {
        return Err(ApiError::method_not_allowed("kubesim controls take POST"));
    }
    match action {
        "compact" => cluster.compact(),
        "expire-next-watch" => cluster.expire_next_watch(),
        "drop-watches" => cluster.drop_watches(),
        _ => return Err(ApiError::no_route()),
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"revision": cluster.revision()}),
    ))
}

async fn resource(
    cluster: &Arc<Cluster>,
    p: ResourcePath,
    method: Method,
    headers: &HeaderMap,
    query: &request::Query,
    body: Bytes,
) -> ApiResult<Response> {
    let registry = cluster.registry();
    let rt = registry
        .lookup(&p.group, &p.version, &p.resource)
        .ok_or_else(ApiError::no_route)?;
    // A namespaced type needs its namespace for single objects; a cluster-scoped one never has one.
    if (!rt.namespaced && p.namespace.is_some())
        || (rt.namespaced && p.name.is_some() && p.namespace.is_none())
    {
        return Err(ApiError::no_route());
    }
    let ns = p.namespace.as_deref();
    if rt.is_custom() && request::content_type(headers) == crate::protobuf::MEDIA_TYPE {
        // Custom resources have no protobuf encoding; the real server refuses it the same way.
        return Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/yaml",
        ]));
    }
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok());
    let write = || -> ApiResult<WriteOptions> {
        Ok(WriteOptions {
            dry_run: query.dry_run()?,
            validation: query.field_validation()?,
            manager: Some(flotilla_ssa::manager_name(
                query.get("fieldManager"),
                user_agent,
            )),
        })
    };
    let part = match p.subresource.as_deref() {
        None => Part::Main,
        Some("status") if rt.status_subresource => Part::Status,
        Some("finalize") if rt.kind == "Namespace" && rt.group.is_empty() => Part::Finalize,
        Some("scale") if rt.scale.is_some() => {
            return scale(cluster, &rt, ns, &p, method, headers, query, body);
        }
        Some(_) => return Err(ApiError::no_route()),
    };
    match (method, p.name.as_deref()) {
        (Method::GET, Some(name)) => {
            if p.legacy_watch || query.flag("watch") {
                let filter = Filter::parse(&rt, None, Some(&format!("metadata.name={name}")))?;
                return watch::serve(
                    cluster.clone(),
                    rt,
                    ns.map(String::from),
                    filter,
                    query,
                    headers,
                );
            }
            let obj = cluster.get(&rt, ns, name)?;
            respond::object(&rt, &obj, headers, StatusCode::OK, &[])
        }
        (Method::GET, None) => {
            let filter =
                Filter::parse(&rt, query.get("labelSelector"), query.get("fieldSelector"))?;
            if p.legacy_watch || query.flag("watch") {
                return watch::serve(
                    cluster.clone(),
                    rt,
                    ns.map(String::from),
                    filter,
                    query,
                    headers,
                );
            }
            let limit = query
                .number("limit")?
                .filter(|l| *l > 0)
                .map(|l| l as usize);
            let page = cluster.list(&rt, ns, &filter, limit, query.get("continue"))?;
            respond::list(&rt, page, headers)
        }
        (Method::POST, None) => {
            if rt.namespaced && ns.is_none() {
                return Err(ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource",
                ));
            }
            let obj = request::decode_object(headers, &body)?;
            let written = cluster.create(&rt, ns, obj, write()?)?;
            written_response(&rt, written, headers, StatusCode::CREATED)
        }
        (Method::PUT, Some(name)) => {
            let obj = request::decode_object(headers, &body)?;
            let written = cluster.update(&rt, ns, name, obj, part, write()?)?;
            written_response(&rt, written, headers, StatusCode::OK)
        }
        (Method::PATCH, Some(name)) if request::content_type(headers) == APPLY_PATCH => {
            let Some(manager) = query.get("fieldManager").filter(|m| !m.is_empty()) else {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "PatchOptions",
                    "",
                    vec![crate::error::Cause::required(
                        "fieldManager",
                        "is required for apply patch",
                    )],
                ));
            };
            let force = match query.get("force") {
                None | Some("" | "false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "invalid value for force: {other:?}"
                    )));
                }
            };
            let patch = request::parse_yaml(&body)?;
            let written = cluster.apply(&rt, ns, name, patch, manager, force, part, write()?)?;
            written_response(&rt, written, headers, StatusCode::CREATED)
        }
        (Method::PATCH, Some(name)) => {
            if query.get("force").is_some_and(|f| !f.is_empty()) {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "PatchOptions",
                    "",
                    vec![crate::error::Cause::forbidden(
                        "force",
                        "may not be specified for non-apply patch",
                    )],
                ));
            }
            let kind = patch::PatchKind::from_content_type(
                &request::content_type(headers),
                rt.is_custom(),
            )?;
            if body.len() > MAX_BODY_BYTES {
                return Err(ApiError::too_large(MAX_BODY_BYTES));
            }
            let patch_body = body.clone();
            let rtc = rt.clone();
            let written =
                cluster.modify_retrying(&rt, ns, name, part, write()?, move |current| {
                    patch::apply(&rtc, kind, current, &patch_body)
                })?;
            written_response(&rt, written, headers, StatusCode::OK)
        }
        (Method::DELETE, Some(name)) => {
            let opts = delete_options(query, &body)?;
            match cluster.delete(&rt, ns, name, &opts)? {
                Deleted::Pending(obj) => respond::object(&rt, &obj, headers, StatusCode::OK, &[]),
                Deleted::Gone(obj) => {
                    if rt.is_custom() {
                        return respond::object(&rt, &obj, headers, StatusCode::OK, &[]);
                    }
                    let mut details = json!({"name": name, "kind": rt.plural, "uid": obj.at("/metadata/uid").cloned().unwrap_or(Value::Null)});
                    if !rt.group.is_empty() {
                        details["group"] = json!(rt.group);
                    }
                    Ok(json_response(
                        StatusCode::OK,
                        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
                    ))
                }
            }
        }
        (Method::DELETE, None) => {
            if rt.namespaced && ns.is_none() && rt.kind != "Namespace" {
                // deletecollection across namespaces is allowed by the real server, too.
            }
            let opts = delete_options(query, &body)?;
            let filter =
                Filter::parse(&rt, query.get("labelSelector"), query.get("fieldSelector"))?;
            let page = cluster.list(&rt, ns, &filter, None, None)?;
            let mut deleted = Vec::new();
            for obj in page.items {
                let name = obj
                    .at("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let obj_ns = obj
                    .at("/metadata/namespace")
                    .and_then(Value::as_str)
                    .map(String::from);
                match cluster.delete(&rt, obj_ns.as_deref(), &name, &opts) {
                    Ok(Deleted::Gone(o) | Deleted::Pending(o)) => deleted.push(o),
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            let list = json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": cluster.revision().to_string()}, "items": deleted});
            Ok(json_response(StatusCode::OK, &list))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// The `/scale` subresource: an autoscaling/v1 Scale view of the replicas.
#[allow(clippy::too_many_arguments)]
fn scale(
    cluster: &Arc<Cluster>,
    rt: &Arc<ResourceType>,
    ns: Option<&str>,
    p: &ResourcePath,
    method: Method,
    headers: &HeaderMap,
    query: &request::Query,
    body: Bytes,
) -> ApiResult<Response> {
    let name = p.name.as_deref().ok_or_else(ApiError::no_route)?;
    let paths = rt.scale.clone().ok_or_else(ApiError::no_route)?;
    match method {
        Method::GET => {
            let obj = cluster.get(rt, ns, name)?;
            Ok(json_response(
                StatusCode::OK,
                &patch::scale_of(&obj, &paths),
            ))
        }
        Method::PUT | Method::PATCH => {
            let opts = WriteOptions {
                dry_run: query.dry_run()?,
                validation: query.field_validation()?,
                manager: Some(flotilla_ssa::manager_name(
                    query.get("fieldManager"),
                    headers.get("user-agent").and_then(|v| v.to_str().ok()),
                )),
            };
            let kind = if method == Method::PUT {
                None
            } else {
                Some(patch::PatchKind::from_content_type(
                    &request::content_type(headers),
                    false,
                )?)
            };
            let rtc = rt.clone();
            let written = cluster.modify(rt, ns, name, Part::Main, opts, move |current| {
                let scale = patch::scale_of(current, &paths);
                let new_scale = match kind {
                    None => request::parse_json(&body)?,
                    Some(k) => patch::apply_to_scale(k, &scale, &body)?,
                };
                patch::with_replicas(&rtc, current, &paths, &scale, &new_scale)
            })?;
            Ok(json_response(
                StatusCode::OK,
                &patch::scale_of(
                    &written.object,
                    &rt.scale.clone().unwrap_or(paths_default()),
                ),
            ))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn paths_default() -> crate::resources::ScalePaths {
    crate::resources::ScalePaths {
        spec_replicas: ".spec.replicas".into(),
        status_replicas: ".status.replicas".into(),
        label_selector: None,
    }
}

fn delete_options(query: &request::Query, body: &[u8]) -> ApiResult<DeleteOptions> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        request::parse_json(body)?
    };
    let policy = query
        .get("propagationPolicy")
        .map(String::from)
        .or_else(|| {
            body.get("propagationPolicy")
                .and_then(Value::as_str)
                .map(String::from)
        });
    let orphan = query
        .get("orphanDependents")
        .map(|v| v == "true")
        .or_else(|| body.get("orphanDependents").and_then(Value::as_bool));
    let propagation = match (policy.as_deref(), orphan) {
        (Some("Foreground"), _) => Some(Propagation::Foreground),
        (Some("Background"), _) => Some(Propagation::Background),
        (Some("Orphan"), _) => Some(Propagation::Orphan),
        (Some(other), _) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        (None, Some(true)) => Some(Propagation::Orphan),
        (None, _) => None,
    };
    let dry_run = query.dry_run()?
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        precondition_rv: body
            .at("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from),
        precondition_uid: body
            .at("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from),
        dry_run,
    })
}

fn written_response(
    rt: &ResourceType,
    written: Written,
    headers: &HeaderMap,
    created: StatusCode,
) -> ApiResult<Response> {
    let code = if written.created {
        created
    } else {
        StatusCode::OK
    };
    respond::object(rt, &written.object, headers, code, &written.warnings)
}

/// A JSON body with a status code.
pub(crate) fn json_response<T: serde::Serialize + ?Sized>(code: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (code, [("content-type", "application/json")], bytes).into_response()
}
