//! The HTTP side of [`crate::auth`]: turning a request into an identity and authorization
//! attributes, and serving the TokenRequest and review endpoints.

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::path::ApiPath;
use super::{json_response, request};
use crate::auth::rbac::{Attributes, ResourceAttributes, forbidden_message};
use crate::auth::{Identity, impersonate, reviews};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::fleet::Fleet;

/// What a request presents to be authenticated: its headers (a bearer token, impersonation)
/// and its connection's client certificate (the user it names, or why it is not taken).
pub(super) struct Presented<'a> {
    pub(super) headers: &'a HeaderMap,
    pub(super) certificate: Option<Result<&'a crate::auth::UserInfo, &'a str>>,
}

/// Authenticate, impersonate and authorize one request. Returns the identity (when the
/// credentials were good) and the error to answer instead of serving it, if any.
pub(super) fn admit(
    fleet: &Fleet,
    cluster: &Cluster,
    rest: &str,
    path: Option<&ApiPath>,
    method: &Method,
    presented: Presented<'_>,
    query: Option<&str>,
) -> (Option<Identity>, Option<ApiError>) {
    let headers = presented.headers;
    if matches!(path, Some(ApiPath::Admin(_))) {
        // The simulator's controls are for the test harness, not part of the API.
        return (None, None);
    }
    let Some(auth) = fleet.auth(cluster.name()) else {
        return (None, None);
    };
    let user = match auth.tokens().authenticate(
        cluster,
        headers,
        presented.certificate,
        fleet.plain_http(),
    ) {
        Ok(u) => u,
        Err(e) => return (None, Some(e)),
    };
    let impersonated = match impersonate::impersonate(auth, cluster, &user, headers) {
        Ok(i) => i,
        Err(e) => {
            let identity = Identity {
                authenticated: user,
                impersonated: None,
            };
            return (Some(identity), Some(e));
        }
    };
    let identity = Identity {
        authenticated: user,
        impersonated,
    };
    if identity
        .effective()
        .groups
        .iter()
        .any(|g| g == crate::auth::MASTERS)
    {
        // The privileged group needs no attributes: keep the admin's requests cheap.
        return (Some(identity), None);
    }
    let mut attrs = attributes(rest, path, method, query);
    let mut decision = auth.authorize(cluster, identity.effective(), &attrs);
    if decision.allowed
        && let Some(create) = create_on_apply(cluster, path, method, headers, &attrs)
    {
        // An apply that creates the object needs `create` as well (`withAuthorization` in
        // the patch handler), and is refused in those terms.
        decision = auth.authorize(cluster, identity.effective(), &create);
        attrs = create;
    }
    if decision.allowed {
        return (Some(identity), None);
    }
    let mut why = forbidden_message(&identity.effective().name, &attrs);
    if !decision.reason.is_empty() {
        why = format!("{why}: {}", decision.reason);
    }
    let err = match &attrs {
        Attributes::Resource(r) => ApiError::forbidden(&r.group, &r.resource, &r.name, &why),
        // `NewForbidden` with an empty GroupResource.
        Attributes::NonResource { .. } => ApiError {
            code: 403,
            reason: "Forbidden",
            message: format!("forbidden: {why}"),
            details: Some(serde_json::json!({})),
        },
    };
    (Some(identity), Some(err))
}

/// The `create` attributes of a server-side apply whose object does not exist yet.
fn create_on_apply(
    cluster: &Cluster,
    path: Option<&ApiPath>,
    method: &Method,
    headers: &HeaderMap,
    attrs: &Attributes,
) -> Option<Attributes> {
    let (Some(ApiPath::Resource(p)), Attributes::Resource(r)) = (path, attrs) else {
        return None;
    };
    if *method != Method::PATCH
        || !request::content_type(headers).starts_with("application/apply-patch")
        || r.name.is_empty()
    {
        return None;
    }
    let rt = cluster
        .registry()
        .lookup(&p.group, &p.version, &p.resource)?;
    let ns = p.namespace.as_deref();
    if cluster.get(&rt, ns, &r.name).is_ok() {
        return None;
    }
    Some(Attributes::Resource(ResourceAttributes {
        verb: "create".into(),
        ..r.clone()
    }))
}

/// The authorization attributes of a request, as `RequestInfoFactory` derives them.
fn attributes(
    rest: &str,
    path: Option<&ApiPath>,
    method: &Method,
    query: Option<&str>,
) -> Attributes {
    let Some(ApiPath::Resource(p)) = path else {
        return Attributes::NonResource {
            verb: method.as_str().to_ascii_lowercase(),
            path: format!("/{}", rest.trim_start_matches('/')),
        };
    };
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let param = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let watch = matches!(param("watch"), Some("true" | "1")) || p.legacy_watch;
    let verb = crate::audit::verb(method.as_str(), p.name.is_some(), watch);
    let mut name = p.name.clone().unwrap_or_default();
    if name.is_empty() && matches!(verb, "list" | "watch" | "deletecollection") {
        // A list pinned to one name by field selector is authorized as that name.
        if let Some(pinned) = param("fieldSelector").and_then(|s| {
            s.split(',')
                .find_map(|t| t.trim().strip_prefix("metadata.name="))
        }) {
            name = pinned.to_string();
        }
    }
    let mut namespace = p.namespace.clone().unwrap_or_default();
    if p.group.is_empty() && p.resource == "namespaces" && namespace.is_empty() {
        // A namespace is its own namespace for authorization.
        namespace = p.name.clone().unwrap_or_default();
    }
    Attributes::Resource(ResourceAttributes {
        verb: verb.into(),
        group: p.group.clone(),
        resource: p.resource.clone(),
        subresource: p.subresource.clone().unwrap_or_default(),
        namespace,
        name,
    })
}

/// Serve the endpoints that belong to authentication and authorization (TokenRequest and
/// the reviews); `None` for every other path.
pub(super) fn serve(
    fleet: &Arc<Fleet>,
    cluster: &Cluster,
    identity: Option<&Identity>,
    path: &ApiPath,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<ApiResult<Response>> {
    let ApiPath::Resource(p) = path else {
        return None;
    };
    let token = p.group.is_empty()
        && p.resource == "serviceaccounts"
        && p.subresource.as_deref() == Some("token");
    let review = reviews::is_review(&p.group, &p.resource) && p.subresource.is_none();
    if !token && !review {
        return None;
    }
    Some((|| {
        let auth = fleet.auth(cluster.name()).ok_or_else(ApiError::no_route)?;
        if *method != Method::POST || (review && p.name.is_some()) {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
        let object: Value = request::decode_object(headers, body)?;
        let admin = crate::auth::UserInfo::admin();
        let user = identity.map(Identity::effective).unwrap_or(&admin);
        let answer = if token {
            let (ns, name) = match (&p.namespace, &p.name) {
                (Some(ns), Some(name)) => (ns.as_str(), name.as_str()),
                _ => return Err(ApiError::no_route()),
            };
            auth.tokens().request(cluster, ns, name, &object)?
        } else {
            let policy = auth.policy(cluster);
            match p.resource.as_str() {
                "selfsubjectaccessreviews" => reviews::self_subject_access(&policy, user, object)?,
                "subjectaccessreviews" => reviews::subject_access(&policy, object, None)?,
                "localsubjectaccessreviews" => {
                    reviews::subject_access(&policy, object, p.namespace.as_deref())?
                }
                "selfsubjectrulesreviews" => reviews::self_subject_rules(&policy, user, object)?,
                "tokenreviews" => {
                    let token = object
                        .pointer("/spec/token")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    reviews::token(auth.tokens().lookup(cluster, token), object)
                }
                _ => reviews::self_subject(user, object),
            }
        };
        Ok(json_response(StatusCode::CREATED, &answer))
    })())
}
