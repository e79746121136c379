//! The review APIs: SubjectAccessReview, SelfSubjectAccessReview (`kubectl auth can-i`),
//! SelfSubjectRulesReview (`kubectl auth can-i --list`), SelfSubjectReview
//! (`kubectl auth whoami`) and TokenReview. All are create-only and store nothing: the answer is the request
//! with a `status`.

use serde_json::{Value, json};

use super::UserInfo;
use super::rbac::{Attributes, Policy, ResourceAttributes};
use crate::error::{ApiError, ApiResult};

/// The review kinds kubesim serves, as (group, plural, kind).
pub const KINDS: &[(&str, &str, &str)] = &[
    (
        "authorization.k8s.io",
        "subjectaccessreviews",
        "SubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
    ),
    (
        "authorization.k8s.io",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
    ),
    (
        "authentication.k8s.io",
        "selfsubjectreviews",
        "SelfSubjectReview",
    ),
    ("authentication.k8s.io", "tokenreviews", "TokenReview"),
];

/// Whether `group`/`resource` is one of the review kinds.
pub fn is_review(group: &str, resource: &str) -> bool {
    KINDS.iter().any(|(g, r, _)| *g == group && *r == resource)
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The answer: the request with `metadata.creationTimestamp: null` and `status`.
fn answer(mut request: Value, status: Value) -> Value {
    if let Some(obj) = request.as_object_mut() {
        let meta = obj.entry("metadata").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            m.insert("creationTimestamp".into(), Value::Null);
        }
        obj.insert("status".into(), status);
    }
    request
}

/// The attributes an access review's spec asks about. `namespace` overrides the spec's for
/// LocalSubjectAccessReview (it is the URL's).
fn spec_attributes(spec: &Value, namespace: Option<&str>) -> ApiResult<Attributes> {
    if let Some(r) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        let f = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Ok(Attributes::Resource(ResourceAttributes {
            verb: f("verb"),
            group: f("group"),
            resource: f("resource"),
            subresource: f("subresource"),
            namespace: namespace
                .map(String::from)
                .unwrap_or_else(|| f("namespace")),
            name: f("name"),
        }));
    }
    if let Some(n) = spec.get("nonResourceAttributes").filter(|v| v.is_object()) {
        let f = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        return Ok(Attributes::NonResource {
            verb: f("verb"),
            path: f("path"),
        });
    }
    Err(ApiError::invalid(
        "authorization.k8s.io",
        "SelfSubjectAccessReview",
        "",
        vec![crate::error::Cause::required(
            "spec.resourceAttributes",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )],
    ))
}

fn access_status(policy: &Policy, user: &UserInfo, attrs: &Attributes) -> Value {
    let d = policy.authorize(user, attrs);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    status
}

/// SelfSubjectAccessReview: may the caller do this?
pub fn self_subject_access(policy: &Policy, user: &UserInfo, request: Value) -> ApiResult<Value> {
    let attrs = spec_attributes(request.get("spec").unwrap_or(&Value::Null), None)?;
    let status = access_status(policy, user, &attrs);
    Ok(answer(request, status))
}

/// SubjectAccessReview (and LocalSubjectAccessReview, with `namespace` from the URL): may the
/// user in the spec do this?
pub fn subject_access(
    policy: &Policy,
    request: Value,
    namespace: Option<&str>,
) -> ApiResult<Value> {
    let spec = request.get("spec").cloned().unwrap_or(Value::Null);
    let user = UserInfo {
        name: text(&spec, "/user").into(),
        uid: text(&spec, "/uid").into(),
        groups: spec
            .get("groups")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        extra: Default::default(),
    };
    if user.name.is_empty() && user.groups.is_empty() {
        return Err(ApiError::invalid(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "",
            vec![crate::error::Cause::invalid(
                "spec.user",
                &json!(""),
                "at least one of user or group must be specified",
            )],
        ));
    }
    let attrs = spec_attributes(&spec, namespace)?;
    let status = access_status(policy, &user, &attrs);
    Ok(answer(request, status))
}

/// SelfSubjectRulesReview: everything the caller may do in `spec.namespace`.
pub fn self_subject_rules(policy: &Policy, user: &UserInfo, request: Value) -> ApiResult<Value> {
    let namespace = text(&request, "/spec/namespace").to_string();
    // Only RBAC lists rules: `system:masters` shows what the `cluster-admin` binding gives
    // it, as on a real server, whose privileged-group authorizer lists nothing.
    let (rules, errors) = policy.rules_for(user, &namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for r in rules {
        if !r.non_resource_urls.is_empty() {
            non_resource_rules
                .push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
        if !r.resources.is_empty() {
            let mut rule =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                rule["resourceNames"] = json!(r.resource_names);
            }
            resource_rules.push(rule);
        }
    }
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    Ok(answer(request, status))
}

/// SelfSubjectReview: who the caller is.
pub fn self_subject(user: &UserInfo, request: Value) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    answer(request, json!({"userInfo": info}))
}

/// TokenReview: whom a token authenticates as (`user` is `None` for a bad token).
pub fn token(user: Option<UserInfo>, request: Value) -> Value {
    let audiences = request
        .pointer("/spec/audiences")
        .cloned()
        .unwrap_or_else(|| json!([super::authn::DEFAULT_AUDIENCE]));
    let status = match user {
        Some(u) => {
            let mut info = json!({"username": u.name, "groups": u.groups});
            if !u.uid.is_empty() {
                info["uid"] = json!(u.uid);
            }
            json!({"authenticated": true, "user": info, "audiences": audiences})
        }
        None => json!({"user": {}, "error": "invalid bearer token"}),
    };
    answer(request, status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::from_objects(
            &[] as &[Value],
            &super::super::bootstrap::cluster_roles(),
            &[],
            &super::super::bootstrap::cluster_role_bindings(),
        )
    }

    #[test]
    fn access_review_answers_no_for_a_bare_service_account() {
        let user = UserInfo::service_account("t1", "flux", "");
        let req = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "metadata": {}, "spec": {"resourceAttributes": {"namespace": "t2", "verb": "create", "group": "apps", "resource": "deployments"}}});
        let out = self_subject_access(&policy(), &user, req).expect("review");
        assert_eq!(out["status"], json!({"allowed": false}));
        assert_eq!(out["metadata"]["creationTimestamp"], Value::Null);
    }

    #[test]
    fn rules_review_lists_the_basic_user_rules() {
        let user = UserInfo::service_account("t1", "flux", "");
        let req = json!({"kind": "SelfSubjectRulesReview", "spec": {"namespace": "t1"}});
        let out = self_subject_rules(&policy(), &user, req).expect("review");
        let rules = out["status"]["resourceRules"].as_array().expect("rules");
        assert!(rules.iter().any(|r| {
            r["resources"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "selfsubjectaccessreviews"))
        }));
        assert_eq!(out["status"]["incomplete"], false);
    }

    #[test]
    fn whoami_reports_the_user() {
        let out = self_subject(&UserInfo::admin(), json!({"kind": "SelfSubjectReview"}));
        assert_eq!(
            out["status"]["userInfo"],
            json!({"username": "kubesim-admin", "groups": ["system:masters", "system:authenticated"]})
        );
    }
}
