//! Impersonation headers, checked and applied as `apiserver`'s impersonation filter does
//! (`pkg/endpoints/filters/impersonation`): every requested user, group, uid and extra is
//! authorized against the `impersonate` verb for the *authenticated* user, and a
//! ServiceAccount user name brings its groups along unless groups were given.

use axum::http::HeaderMap;

use super::rbac::{Attributes, ResourceAttributes, forbidden_message};
use super::{ANONYMOUS, AUTHENTICATED, ClusterAuth, UNAUTHENTICATED, UserInfo};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// The impersonated user, `None` when the request impersonates nobody, or the error to answer
/// (400 for groups without a user, 403 when an `impersonate` check fails).
pub fn impersonate(
    auth: &ClusterAuth,
    cluster: &Cluster,
    requestor: &UserInfo,
    headers: &HeaderMap,
) -> ApiResult<Option<UserInfo>> {
    let text = |v: &axum::http::HeaderValue| v.to_str().unwrap_or("").to_string();
    let user = headers.get(USER).map(text).filter(|u| !u.is_empty());
    let groups: Vec<String> = headers.get_all(GROUP).iter().map(text).collect();
    let uid = headers.get(UID).map(text).filter(|u| !u.is_empty());
    let mut extras: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        if let Some(key) = name.as_str().strip_prefix(EXTRA_PREFIX) {
            extras.push((unescape(key), text(value)));
        }
    }
    let Some(user) = user else {
        if groups.is_empty() && extras.is_empty() && uid.is_none() {
            return Ok(None);
        }
        return Err(ApiError::bad_request(
            "requested impersonation of groups, extras or a uid without impersonating a user",
        ));
    };

    let check = |group: &str, resource: &str, subresource: &str, namespace: &str, name: &str| {
        let attrs = Attributes::Resource(ResourceAttributes {
            verb: "impersonate".into(),
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: namespace.into(),
            name: name.into(),
        });
        let decision = auth.authorize(cluster, requestor, &attrs);
        if decision.allowed {
            return Ok(());
        }
        let mut why = forbidden_message(&requestor.name, &attrs);
        if !decision.reason.is_empty() {
            why = format!("{why}: {}", decision.reason);
        }
        Err(ApiError::forbidden(group, resource, name, &why))
    };

    let mut out = UserInfo {
        name: user.clone(),
        ..Default::default()
    };
    match super::split_service_account(&user) {
        Some((ns, name)) => {
            check("", "serviceaccounts", "", ns, name)?;
            if groups.is_empty() {
                out.groups = super::service_account_groups(ns);
            }
        }
        None => check("", "users", "", "", &user)?,
    }
    for g in &groups {
        check("", "groups", "", "", g)?;
        out.groups.push(g.clone());
    }
    for (key, value) in extras {
        check("authentication.k8s.io", "userextras", &key, "", &value)?;
        out.extra.entry(key).or_default().push(value);
    }
    if let Some(uid) = uid {
        check("authentication.k8s.io", "uids", "", "", &uid)?;
        out.uid = uid;
    }
    // A named user is authenticated unless the caller said otherwise; anonymous is not.
    if out.name != ANONYMOUS {
        if !out
            .groups
            .iter()
            .any(|g| g == AUTHENTICATED || g == UNAUTHENTICATED)
        {
            out.groups.push(AUTHENTICATED.into());
        }
    } else if !out.groups.iter().any(|g| g == UNAUTHENTICATED) {
        out.groups.push(UNAUTHENTICATED.into());
    }
    Ok(Some(out))
}

/// Extra keys arrive %-encoded in header names (`Impersonate-Extra-Scopes%2fx`).
fn unescape(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = key
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn cluster() -> (std::sync::Arc<Cluster>, ClusterAuth) {
        let c = Cluster::new("c", &Default::default());
        super::super::bootstrap::install(&c);
        (c, ClusterAuth::new())
    }

    #[test]
    fn service_account_users_get_their_groups() {
        let (c, auth) = cluster();
        let h = headers(&[("impersonate-user", "system:serviceaccount:t1:flux")]);
        let u = impersonate(&auth, &c, &UserInfo::admin(), &h)
            .expect("allowed")
            .expect("impersonating");
        assert_eq!(
            u.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:t1",
                "system:authenticated"
            ]
        );
        let h = headers(&[
            ("impersonate-user", "system:serviceaccount:t1:flux"),
            ("impersonate-group", "devs"),
        ]);
        let u = impersonate(&auth, &c, &UserInfo::admin(), &h)
            .expect("allowed")
            .expect("impersonating");
        assert_eq!(u.groups, ["devs", "system:authenticated"]);
    }

    #[test]
    fn impersonation_needs_the_verb_and_a_user() {
        let (c, auth) = cluster();
        let bob = UserInfo::user("bob", &[]);
        let h = headers(&[("impersonate-user", "alice")]);
        let e = impersonate(&auth, &c, &bob, &h).expect_err("forbidden");
        assert_eq!(
            e.message,
            "users \"alice\" is forbidden: User \"bob\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        );
        let h = headers(&[("impersonate-group", "devs")]);
        assert_eq!(
            impersonate(&auth, &c, &UserInfo::admin(), &h)
                .expect_err("bad request")
                .code,
            400
        );
        assert_eq!(
            impersonate(&auth, &c, &bob, &HeaderMap::new()).expect("nothing asked"),
            None
        );
    }
}
