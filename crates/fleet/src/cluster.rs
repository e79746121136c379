//! Argo CD cluster Secrets (`argocd.argoproj.io/secret-type: cluster`): the clusters an
//! Application may deploy to, and the clusters generator's input.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Label that marks a Secret as an Argo CD cluster (or repository) credential.
pub const SECRET_TYPE_LABEL: &str = "argocd.argoproj.io/secret-type";
/// The label's value for clusters.
pub const SECRET_TYPE_CLUSTER: &str = "cluster";
/// Argo CD's name for the cluster it runs in.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// Argo CD's address of the cluster it runs in.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// A cluster Secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cluster secret {secret}: {field}: {reason}")]
pub struct ClusterSecretError {
    /// `namespace/name` of the Secret.
    pub secret: String,
    /// The offending field, e.g. `data.config`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// TLS settings of a cluster connection (`config.tlsClientConfig`).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsClientConfig {
    /// Skip server certificate verification.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Server name for SNI and verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Base64 PEM client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_data: Option<String>,
    /// Base64 PEM client key (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_data: Option<String>,
    /// Base64 PEM CA bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_data: Option<String>,
    /// Fields we do not interpret, kept for round-trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl std::fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClientConfig")
            .field("insecure", &self.insecure)
            .field("server_name", &self.server_name)
            .field("cert_data", &self.cert_data.as_ref().map(|_| "<set>"))
            .field("key_data", &self.key_data.as_ref().map(|_| "<redacted>"))
            .field("ca_data", &self.ca_data.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

/// The `config` JSON of a cluster Secret: how to authenticate.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    /// Bearer token (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// Basic-auth user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic-auth password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// TLS settings.
    #[serde(default)]
    pub tls_client_config: TlsClientConfig,
    /// Fields not read here: those the hub cannot honour are refused
    /// ([`ClusterConfig::unsupported`]), others (`disableCompression`) ignored.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

impl ClusterConfig {
    /// The first setting of Argo CD's cluster config this hub cannot honour, and why:
    /// `awsAuthConfig` and `execProviderConfig` (which Argo CD prefers to a bearer
    /// token) and `proxyUrl`. Connecting without them would reach the cluster as
    /// someone else, or by another route, so the registration is refused by name.
    pub fn unsupported(&self) -> Option<(&'static str, &'static str)> {
        [
            ("awsAuthConfig", "EKS IAM authentication"),
            ("execProviderConfig", "credentials from a command"),
            ("proxyUrl", "a proxy"),
        ]
        .into_iter()
        .find(|(key, _)| {
            self.extra
                .get(*key)
                .is_some_and(|v| !v.is_null() && v != "")
        })
    }
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls_client_config", &self.tls_client_config)
            .field("extra_keys", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// One cluster Secret, decoded. `Debug` never prints credentials.
#[derive(Clone, PartialEq)]
pub struct ClusterSecret {
    /// The Secret's `metadata.namespace`/`metadata.name`.
    pub secret_name: String,
    /// `data.name`: the cluster's name in Argo CD.
    pub name: String,
    /// `data.server`: the API server URL.
    pub server: String,
    /// `data.project`: the project the cluster is scoped to, if any.
    pub project: Option<String>,
    /// `data.namespaces`: comma-separated namespaces the cluster credential is limited to
    /// (Argo CD's namespaced mode: no object elsewhere is managed).
    pub namespaces: Vec<String>,
    /// `data.clusterResources` is `"true"`: in namespaced mode, cluster-scoped objects are
    /// managed too.
    pub cluster_resources: bool,
    /// `data.config`: credentials.
    pub config: ClusterConfig,
    /// The Secret's labels (the clusters generator matches and exposes them).
    pub labels: BTreeMap<String, String>,
    /// The Secret's annotations.
    pub annotations: BTreeMap<String, String>,
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSecret")
            .field("secret_name", &self.secret_name)
            .field("name", &self.name)
            .field("server", &self.server)
            .field("project", &self.project)
            .field("config", &self.config)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl ClusterSecret {
    /// Decodes a Secret object (`data` base64, `stringData` taking precedence, as the API
    /// server merges them). Errors name the field.
    pub fn from_secret(secret: &Value) -> Result<Self, ClusterSecretError> {
        let meta = secret.get("metadata");
        let ns = meta
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let name = meta
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let secret_name = if ns.is_empty() {
            name.to_string()
        } else {
            format!("{ns}/{name}")
        };
        let err = |field: &str, reason: String| ClusterSecretError {
            secret: secret_name.clone(),
            field: field.to_string(),
            reason,
        };
        let mut data: BTreeMap<String, String> = BTreeMap::new();
        if let Some(encoded) = secret.get("data") {
            let Value::Object(encoded) = encoded else {
                return Err(err("data", "expected a map of base64 strings".into()));
            };
            for (key, value) in encoded {
                let text = value.as_str().ok_or_else(|| {
                    err(&format!("data.{key}"), "expected a base64 string".into())
                })?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| {
                        err(&format!("data.{key}"), format!("illegal base64 data: {e}"))
                    })?;
                data.insert(key.clone(), String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        if let Some(Value::Object(plain)) = secret.get("stringData") {
            for (key, value) in plain {
                if let Some(text) = value.as_str() {
                    data.insert(key.clone(), text.to_string());
                }
            }
        }
        let config = match data.get("config") {
            None => ClusterConfig::default(),
            Some(text) if text.trim().is_empty() => ClusterConfig::default(),
            // The error text never quotes the config: it holds credentials.
            Some(text) => serde_json::from_str(text).map_err(|e| {
                err(
                    "data.config",
                    format!("invalid JSON at line {} column {}", e.line(), e.column()),
                )
            })?,
        };
        let string_map = |key: &str| -> BTreeMap<String, String> {
            meta.and_then(|m| m.get(key))
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(ClusterSecret {
            name: data.get("name").cloned().unwrap_or_default(),
            server: data.get("server").cloned().unwrap_or_default(),
            project: data.get("project").cloned(),
            namespaces: data
                .get("namespaces")
                .map(|n| {
                    n.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            cluster_resources: data.get("clusterResources").map(String::as_str) == Some("true"),
            config,
            labels: string_map("labels"),
            annotations: string_map("annotations"),
            secret_name,
        })
    }

    /// In namespaced mode (`namespaces` set), the first of `objects` the cluster does not
    /// manage, with gitops-engine's message: a cluster-scoped object unless
    /// `clusterResources`, a namespaced one outside the listed namespaces. `namespaced`
    /// says whether a kind is namespaced by `(apiVersion, kind)` (`None`: unknown, then an
    /// object with a namespace is taken as namespaced); a namespaced object without one
    /// goes to `default_namespace`, the app's destination.
    pub fn unmanaged_object(
        &self,
        objects: &[Value],
        namespaced: &dyn Fn(&str, &str) -> Option<bool>,
        default_namespace: &str,
    ) -> Option<String> {
        if self.namespaces.is_empty() {
            return None;
        }
        objects.iter().find_map(|object| {
            let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
            let kind = text("/kind").unwrap_or_default();
            let name = text("/metadata/name").unwrap_or_default();
            let own_namespace = text("/metadata/namespace").filter(|n| !n.is_empty());
            let is_namespaced = namespaced(text("/apiVersion").unwrap_or_default(), kind)
                .unwrap_or(own_namespace.is_some());
            if !is_namespaced {
                return (!self.cluster_resources).then(|| {
                    format!(
                        "cluster level {kind} {name:?} can not be managed when in namespaced mode"
                    )
                });
            }
            let namespace = own_namespace.unwrap_or(default_namespace);
            (!self.namespaces.iter().any(|n| n == namespace))
                .then(|| format!("namespace {namespace:?} for {kind} {name:?} is not managed"))
        })
    }

    /// Whether `other` reaches the cluster the same way: the same server, credentials and
    /// namespaces (its labels, annotations or name may differ).
    pub fn same_connection(&self, other: &ClusterSecret) -> bool {
        self.server == other.server
            && self.config == other.config
            && self.namespaces == other.namespaces
            && self.cluster_resources == other.cluster_resources
    }

    /// Whether the Secret carries the cluster secret-type label.
    pub fn is_cluster_secret(&self) -> bool {
        self.labels.get(SECRET_TYPE_LABEL).map(String::as_str) == Some(SECRET_TYPE_CLUSTER)
    }
}

/// The clusters Argo CD knows: those of the Secrets plus the in-cluster entry when no Secret
/// has its address (as Argo CD's cluster informer lists them).
pub fn known_clusters(secrets: &[ClusterSecret]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = secrets
        .iter()
        .map(|s| (s.name.clone(), s.server.clone()))
        .collect();
    if !secrets.iter().any(|s| s.server == IN_CLUSTER_SERVER) {
        out.push((IN_CLUSTER_NAME.to_string(), IN_CLUSTER_SERVER.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    /// What Argo CD would authenticate with but this hub cannot is named, not skipped.
    #[test]
    fn unsupported_authentication_is_named() {
        let config = |extra: &str| -> ClusterConfig {
            serde_json::from_str(&format!(r#"{{"bearerToken":"t"{extra}}}"#)).unwrap()
        };
        assert_eq!(config("").unsupported(), None);
        assert_eq!(
            config(r#","awsAuthConfig":{"clusterName":"prod","roleARN":"arn:aws:iam::1:role/x"}"#)
                .unsupported()
                .map(|(key, _)| key),
            Some("awsAuthConfig")
        );
        assert_eq!(
            config(r#","execProviderConfig":{"command":"argocd-k8s-auth","apiVersion":"client.authentication.k8s.io/v1beta1"}"#)
                .unsupported()
                .map(|(key, _)| key),
            Some("execProviderConfig")
        );
        assert_eq!(
            config(r#","proxyUrl":"http://proxy:3128""#)
                .unsupported()
                .map(|(key, _)| key),
            Some("proxyUrl")
        );
        assert_eq!(
            config(r#","proxyUrl":"","disableCompression":true"#).unsupported(),
            None
        );
    }

    #[test]
    fn decodes_data_and_redacts_in_debug() {
        let secret = json!({
            "metadata": {"name": "prod-eu", "namespace": "argocd",
                          "labels": {"argocd.argoproj.io/secret-type": "cluster", "region": "eu"}},
            "data": {
                "name": b64("prod-eu"),
                "server": b64("https://10.0.0.1:6443"),
                "config": b64(r#"{"bearerToken":"s3cr3t","tlsClientConfig":{"insecure":false,"caData":"Q0E="}}"#)
            }
        });
        let cluster = ClusterSecret::from_secret(&secret).unwrap();
        assert_eq!(cluster.name, "prod-eu");
        assert_eq!(cluster.server, "https://10.0.0.1:6443");
        assert_eq!(cluster.config.bearer_token.as_deref(), Some("s3cr3t"));
        assert_eq!(
            cluster.config.tls_client_config.ca_data.as_deref(),
            Some("Q0E=")
        );
        assert!(cluster.is_cluster_secret());
        let debug = format!("{cluster:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }

    /// gitops-engine's `GetManagedLiveObjs` in namespaced mode: messages as upstream's.
    #[test]
    fn a_namespaced_cluster_manages_only_its_namespaces() {
        let secret = |extra: Value| {
            let mut data = json!({"name": "c", "server": "https://c"});
            data.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            ClusterSecret::from_secret(&json!({"metadata": {"name": "c"}, "stringData": data}))
                .unwrap()
        };
        let scope = |_: &str, kind: &str| match kind {
            "ClusterRole" => Some(false),
            "ConfigMap" => Some(true),
            _ => None,
        };
        let object = |kind: &str, name: &str, namespace: Option<&str>| {
            let mut o = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}});
            if let Some(ns) = namespace {
                o["metadata"]["namespace"] = json!(ns);
            }
            o
        };
        let role = object("ClusterRole", "admin", None);
        let in_a = object("ConfigMap", "a", Some("team-a"));
        let defaulted = object("ConfigMap", "d", None);
        let elsewhere = object("ConfigMap", "x", Some("kube-system"));

        let open = secret(json!({}));
        assert!(!open.cluster_resources);
        assert_eq!(
            open.unmanaged_object(&[role.clone(), elsewhere.clone()], &scope, "team-a"),
            None,
            "without namespaces everything is managed"
        );
        let limited = secret(json!({"namespaces": " team-a, team-b ,"}));
        assert_eq!(limited.namespaces, ["team-a", "team-b"]);
        assert_eq!(
            limited.unmanaged_object(&[in_a.clone(), defaulted.clone()], &scope, "team-b"),
            None
        );
        assert_eq!(
            limited.unmanaged_object(&[in_a.clone(), role.clone()], &scope, "team-a"),
            Some(
                r#"cluster level ClusterRole "admin" can not be managed when in namespaced mode"#
                    .into()
            )
        );
        assert_eq!(
            limited.unmanaged_object(std::slice::from_ref(&elsewhere), &scope, "team-a"),
            Some(r#"namespace "kube-system" for ConfigMap "x" is not managed"#.into())
        );
        assert_eq!(
            limited.unmanaged_object(std::slice::from_ref(&defaulted), &scope, "web"),
            Some(r#"namespace "web" for ConfigMap "d" is not managed"#.into()),
            "a namespaced object without a namespace goes to the destination's"
        );
        let with_cluster = secret(json!({"namespaces": "team-a", "clusterResources": "true"}));
        assert!(with_cluster.cluster_resources);
        assert_eq!(
            with_cluster.unmanaged_object(&[role, in_a], &scope, "team-a"),
            None
        );
        let unknown_kind = object("Widget", "w", None);
        assert_eq!(
            limited.unmanaged_object(&[unknown_kind], &scope, "team-a"),
            Some(r#"cluster level Widget "w" can not be managed when in namespaced mode"#.into()),
            "a kind discovery does not know, written without a namespace, is cluster level"
        );
    }

    /// A label or annotation change keeps the connection (and the hub's watches over it);
    /// a rotated token or other namespaces do not.
    #[test]
    fn only_the_server_credentials_and_namespaces_make_a_connection() {
        let secret = |labels: Value, token: &str, namespaces: &str| {
            ClusterSecret::from_secret(&json!({
                "metadata": {"name": "c", "labels": labels},
                "stringData": {"name": "c", "server": "https://c", "namespaces": namespaces,
                               "config": format!(r#"{{"bearerToken":"{token}"}}"#)},
            }))
            .unwrap()
        };
        let base = secret(json!({"region": "eu"}), "t1", "");
        assert!(base.same_connection(&secret(json!({"region": "us"}), "t1", "")));
        assert!(!base.same_connection(&secret(json!({"region": "eu"}), "t2", "")));
        assert!(!base.same_connection(&secret(json!({"region": "eu"}), "t1", "web")));
    }

    #[test]
    fn bad_config_names_the_field_without_leaking() {
        let secret = json!({"metadata": {"name": "c", "namespace": "argocd"},
                            "stringData": {"name": "c", "server": "https://c", "config": "{\"bearerToken\": \"s3cr3t\""}});
        let err = ClusterSecret::from_secret(&secret).unwrap_err();
        assert_eq!(err.field, "data.config");
        assert!(!err.to_string().contains("s3cr3t"));
        let secret = json!({"metadata": {"name": "c"}, "data": {"server": "%%%"}});
        assert_eq!(
            ClusterSecret::from_secret(&secret).unwrap_err().field,
            "data.server"
        );
    }
}
