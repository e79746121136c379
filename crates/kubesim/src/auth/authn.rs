//! Bearer tokens: the admin token of a cluster and ServiceAccount tokens from TokenRequest.
//!
//! Tokens are opaque random strings, not JWTs: nothing in Flotilla or kubectl reads inside
//! them, and opaque tokens cannot be forged or replayed against another cluster.

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use parking_lot::RwLock;
use serde_json::{Value, json};

use super::UserInfo;
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};

/// The lifetime of a ServiceAccount token when the request names none (as kube-apiserver).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest lifetime the API server accepts.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The audience tokens carry when the request names none.
pub const DEFAULT_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// A ServiceAccount token's binding.
#[derive(Debug, Clone)]
struct ServiceAccountToken {
    namespace: String,
    name: String,
    uid: String,
    expires: DateTime<Utc>,
}

/// One cluster's tokens.
pub struct Tokens {
    admin: String,
    service_accounts: RwLock<HashMap<String, ServiceAccountToken>>,
}

/// A new unguessable token.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// 401 with the API server's body.
pub fn unauthorized() -> ApiError {
    ApiError {
        code: 401,
        reason: "Unauthorized",
        message: "Unauthorized".into(),
        details: None,
    }
}

impl Tokens {
    /// A new admin token and no ServiceAccount tokens.
    pub fn new() -> Tokens {
        Tokens {
            admin: random_token(),
            service_accounts: RwLock::new(HashMap::new()),
        }
    }

    /// The admin token (it goes into the kubeconfig).
    pub fn admin(&self) -> &str {
        &self.admin
    }

    /// Who `token` belongs to, or `None` for a token this cluster never issued, one that
    /// expired, or one whose ServiceAccount is gone (or was recreated with a new uid).
    pub fn lookup(&self, cluster: &Cluster, token: &str) -> Option<UserInfo> {
        if token == self.admin {
            return Some(UserInfo::admin());
        }
        let t = self.service_accounts.read().get(token).cloned()?;
        if t.expires <= Utc::now() {
            self.service_accounts.write().remove(token);
            return None;
        }
        let sa = service_account(cluster, &t.namespace, &t.name).ok()?;
        if sa.pointer("/metadata/uid").and_then(Value::as_str) != Some(t.uid.as_str()) {
            return None;
        }
        Some(UserInfo::service_account(&t.namespace, &t.name, &t.uid))
    }

    /// The user of a request's credentials: the client certificate's when the CA signed
    /// it (`certificate`; kube-apiserver's x509 authenticator comes before its token
    /// ones), else the bearer token's. A certificate the CA did not sign is an error the
    /// token may still make up for; without a token it is 401, never anonymous (the
    /// apiserver's `NewFailOnError` ahead of anonymous). `plain_http` makes a request
    /// without either the admin (kubesim's part-1 mode); otherwise it is
    /// `system:anonymous`.
    pub fn authenticate(
        &self,
        cluster: &Cluster,
        headers: &HeaderMap,
        certificate: Option<Result<&UserInfo, &str>>,
        plain_http: bool,
    ) -> ApiResult<UserInfo> {
        let refused = match certificate {
            Some(Ok(user)) => return Ok(user.clone()),
            Some(Err(why)) => {
                tracing::debug!("client certificate not taken: {why}");
                true
            }
            None => false,
        };
        let Some(value) = headers.get("authorization") else {
            if refused {
                return Err(unauthorized());
            }
            return Ok(if plain_http {
                UserInfo::admin()
            } else {
                UserInfo::anonymous()
            });
        };
        let value = value.to_str().map_err(|_| unauthorized())?;
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(unauthorized()),
        };
        self.lookup(cluster, token).ok_or_else(unauthorized)
    }

    /// `POST …/serviceaccounts/<name>/token`: issue a token for an existing ServiceAccount and
    /// answer the TokenRequest with it.
    pub fn request(
        &self,
        cluster: &Cluster,
        namespace: &str,
        name: &str,
        request: &Value,
    ) -> ApiResult<Value> {
        let sa = service_account(cluster, namespace, name)?;
        let uid = sa
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let seconds = request
            .pointer("/spec/expirationSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
        if seconds < MIN_EXPIRATION_SECONDS {
            return Err(ApiError::invalid(
                "authentication.k8s.io",
                "TokenRequest",
                name,
                vec![crate::error::Cause::invalid(
                    "spec.expirationSeconds",
                    &json!(seconds),
                    "may not specify a duration less than 10 minutes",
                )],
            ));
        }
        let audiences = match request.pointer("/spec/audiences").and_then(Value::as_array) {
            Some(a) if !a.is_empty() => json!(a),
            _ => json!([DEFAULT_AUDIENCE]),
        };
        let expires = Utc::now() + Duration::seconds(seconds);
        let token = random_token();
        self.service_accounts.write().insert(
            token.clone(),
            ServiceAccountToken {
                namespace: namespace.into(),
                name: name.into(),
                uid,
                expires,
            },
        );
        Ok(json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
            "spec": {
                "audiences": audiences,
                "expirationSeconds": seconds,
                "boundObjectRef": request.pointer("/spec/boundObjectRef").cloned().unwrap_or(Value::Null),
            },
            "status": {
                "token": token,
                "expirationTimestamp": expires.to_rfc3339_opts(SecondsFormat::Secs, true),
            },
        }))
    }
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens::new()
    }
}

fn service_account(cluster: &Cluster, namespace: &str, name: &str) -> ApiResult<Value> {
    let rt = cluster
        .registry()
        .lookup("", "v1", "serviceaccounts")
        .ok_or_else(ApiError::no_route)?;
    cluster.get(&rt, Some(namespace), name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{DeleteOptions, WriteOptions};
    use axum::http::HeaderValue;

    fn cluster_with_flux() -> std::sync::Arc<Cluster> {
        let c = Cluster::new("c", &Default::default());
        let sa = c
            .registry()
            .lookup("", "v1", "serviceaccounts")
            .expect("served");
        c.create(
            &sa,
            Some("default"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "flux"}}),
            WriteOptions::default(),
        )
        .expect("created");
        c
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        );
        h
    }

    #[test]
    fn anonymous_only_over_tls() {
        let c = cluster_with_flux();
        let t = Tokens::new();
        let none = HeaderMap::new();
        assert_eq!(
            t.authenticate(&c, &none, None, true).expect("ok"),
            UserInfo::admin()
        );
        assert_eq!(
            t.authenticate(&c, &none, None, false).expect("ok"),
            UserInfo::anonymous()
        );
        assert_eq!(
            t.authenticate(&c, &bearer(t.admin()), None, false)
                .expect("ok"),
            UserInfo::admin()
        );
        assert_eq!(
            t.authenticate(&c, &bearer("forged"), None, true)
                .expect_err("401")
                .code,
            401
        );
    }

    #[test]
    fn service_account_tokens_end_with_their_service_account() {
        let c = cluster_with_flux();
        let t = Tokens::new();
        assert_eq!(
            t.request(&c, "default", "ghost", &json!({}))
                .expect_err("no such SA")
                .code,
            404
        );
        let answer = t.request(&c, "default", "flux", &json!({})).expect("token");
        assert_eq!(answer["spec"]["expirationSeconds"], 3600);
        let token = answer["status"]["token"].as_str().expect("token");
        let user = t.lookup(&c, token).expect("valid");
        assert_eq!(user.name, "system:serviceaccount:default:flux");
        assert!(!user.uid.is_empty());

        let sa = c
            .registry()
            .lookup("", "v1", "serviceaccounts")
            .expect("served");
        c.delete(&sa, Some("default"), "flux", &DeleteOptions::default())
            .expect("deleted");
        assert_eq!(t.lookup(&c, token), None);

        let short = json!({"spec": {"expirationSeconds": 60}});
        assert_eq!(
            t.request(&cluster_with_flux(), "default", "flux", &short)
                .expect_err("too short")
                .code,
            422
        );
    }
}
