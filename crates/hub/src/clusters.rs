//! The clusters the hub manages, read from Argo CD cluster Secrets (label
//! `argocd.argoproj.io/secret-type: cluster`), each with one kube client (one connection
//! pool) shared by every application that targets it.

use std::collections::BTreeMap;
use std::sync::Arc;

use flotilla_fleet::cluster::ClusterSecret;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};

/// The label that marks a Secret as a cluster registration.
pub const CLUSTER_SECRET_LABEL: &str = "argocd.argoproj.io/secret-type=cluster";

/// The address Argo CD gives the cluster it runs in.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// Whether a destination (`server`, else `name`; `name` empty for a bare server URL) is
/// Argo CD's in-cluster one: the hub's own address, or the name `in-cluster`.
pub fn is_in_cluster(server: &str, name: &str) -> bool {
    server.trim_end_matches('/') == IN_CLUSTER_SERVER
        || (server.is_empty() && name == flotilla_fleet::cluster::IN_CLUSTER_NAME)
}

/// Why a cluster cannot be used. Credentials never appear in the message.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The Secret is not a valid cluster registration.
    #[error(transparent)]
    Secret(#[from] flotilla_fleet::cluster::ClusterSecretError),
    /// The registration's connection settings are unusable.
    #[error("cluster {name} ({server}): {reason}")]
    Config {
        /// The cluster's name.
        name: String,
        /// Its server URL.
        server: String,
        /// Why.
        reason: String,
    },
    /// Listing the registrations on the hub failed.
    #[error("listing cluster Secrets in {namespace}: {source}")]
    List {
        /// Where.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// One registered cluster and its client.
#[derive(Clone)]
pub struct Cluster {
    /// The registration.
    pub secret: Arc<ClusterSecret>,
    /// The client for its API server.
    pub client: Client,
}

/// The clusters known to the hub, by server URL and by name.
#[derive(Clone, Default)]
pub struct ClusterRegistry {
    by_server: BTreeMap<String, Cluster>,
    names: BTreeMap<String, String>,
}

impl ClusterRegistry {
    /// The cluster whose server URL is `server`.
    pub fn by_server(&self, server: &str) -> Option<&Cluster> {
        self.by_server.get(server.trim_end_matches('/'))
    }

    /// The cluster named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Cluster> {
        self.names.get(name).and_then(|s| self.by_server.get(s))
    }

    /// Every cluster, ordered by server URL.
    pub fn clusters(&self) -> impl Iterator<Item = &Cluster> {
        self.by_server.values()
    }

    /// How many clusters there are.
    pub fn len(&self) -> usize {
        self.by_server.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_server.is_empty()
    }

    /// The registrations, as the ApplicationSet clusters generator reads them.
    pub fn secrets(&self) -> Vec<ClusterSecret> {
        self.by_server
            .values()
            .map(|c| (*c.secret).clone())
            .collect()
    }

    /// Whether both hold the same registrations (clients aside).
    pub fn same_registrations(&self, other: &ClusterRegistry) -> bool {
        self.by_server.len() == other.by_server.len()
            && self
                .by_server
                .iter()
                .zip(&other.by_server)
                .all(|((a, x), (b, y))| a == b && x.secret == y.secret)
    }

    /// The registered cluster of an Application's destination: by `server` when it is
    /// set, else by `name`.
    pub fn destination(&self, server: &str, name: &str) -> Option<&Cluster> {
        if server.is_empty() {
            self.by_name(name)
        } else {
            self.by_server(server)
        }
    }

    /// The server URL of an Application's destination (`server`, else `name`) as Argo
    /// CD's `GetDestinationCluster` finds it: a registered cluster, or the in-cluster
    /// default; `None` when no cluster answers to it.
    pub fn server_of(&self, server: &str, name: &str) -> Option<String> {
        match self.destination(server, name) {
            Some(cluster) => Some(cluster.secret.server.clone()),
            None => is_in_cluster(server, name).then(|| IN_CLUSTER_SERVER.to_string()),
        }
    }

    /// Adds (or replaces) a cluster.
    pub fn insert(&mut self, cluster: Cluster) {
        let server = cluster.secret.server.trim_end_matches('/').to_string();
        self.names
            .insert(cluster.secret.name.clone(), server.clone());
        self.by_server.insert(server, cluster);
    }
}

/// Reads every cluster Secret in `namespace` of the hub and connects to each. A Secret
/// that cannot be used is reported in the second list and skipped; the others still work.
pub async fn load(
    hub: &Client,
    namespace: &str,
) -> Result<(ClusterRegistry, Vec<ClusterError>), ClusterError> {
    reload(hub, namespace, &ClusterRegistry::default()).await
}

/// [`load`], keeping the client (and its open connections) of every cluster whose
/// registration is unchanged from `current`.
pub async fn reload(
    hub: &Client,
    namespace: &str,
    current: &ClusterRegistry,
) -> Result<(ClusterRegistry, Vec<ClusterError>), ClusterError> {
    let secrets: Api<Secret> = Api::namespaced(hub.clone(), namespace);
    let list = secrets
        .list(&ListParams::default().labels(CLUSTER_SECRET_LABEL))
        .await
        .map_err(|source| ClusterError::List {
            namespace: namespace.to_string(),
            source,
        })?;
    let mut registry = ClusterRegistry::default();
    let mut errors = Vec::new();
    for secret in list.items {
        let value = serde_json::to_value(&secret).unwrap_or(Value::Null);
        let parsed = match ClusterSecret::from_secret(&value) {
            Ok(parsed) => parsed,
            Err(e) => {
                errors.push(e.into());
                continue;
            }
        };
        if let Some(known) = current
            .by_server(&parsed.server)
            .filter(|c| *c.secret == parsed)
        {
            registry.insert(known.clone());
            continue;
        }
        match connect(&parsed).await {
            Ok(client) => registry.insert(Cluster {
                secret: Arc::new(parsed),
                client,
            }),
            Err(e) => errors.push(e),
        }
    }
    Ok((registry, errors))
}

/// A client for the cluster a registration describes: its server, bearer token or basic
/// auth, and TLS settings (CA, client certificate, server name, insecure); a
/// registration relying on what the hub cannot do (EKS IAM, exec credentials, a proxy)
/// is refused by name.
pub async fn connect(cluster: &ClusterSecret) -> Result<Client, ClusterError> {
    let config = config_of(cluster).await?;
    Client::try_from(config).map_err(|e| ClusterError::Config {
        name: cluster.name.clone(),
        server: cluster.server.clone(),
        reason: format!("cannot build a client: {e}"),
    })
}

/// The client configuration of `cluster`'s registration (see [`connect`]).
pub async fn config_of(cluster: &ClusterSecret) -> Result<Config, ClusterError> {
    let error = |reason: String| ClusterError::Config {
        name: cluster.name.clone(),
        server: cluster.server.clone(),
        reason,
    };
    if let Some((key, what)) = cluster.config.unsupported() {
        return Err(error(format!(
            "config.{key} ({what}) is not supported by this hub; register the cluster with a bearerToken or a client certificate"
        )));
    }
    let tls = &cluster.config.tls_client_config;
    let mut cluster_entry = json!({"server": cluster.server});
    if let Some(ca) = &tls.ca_data {
        cluster_entry["certificate-authority-data"] = json!(ca);
    }
    if tls.insecure {
        cluster_entry["insecure-skip-tls-verify"] = json!(true);
    }
    if let Some(name) = &tls.server_name {
        cluster_entry["tls-server-name"] = json!(name);
    }
    let mut user = json!({});
    if let Some(token) = &cluster.config.bearer_token {
        user["token"] = json!(token);
    }
    if let (Some(u), Some(p)) = (&cluster.config.username, &cluster.config.password) {
        user["username"] = json!(u);
        user["password"] = json!(p);
    }
    if let (Some(cert), Some(key)) = (&tls.cert_data, &tls.key_data) {
        user["client-certificate-data"] = json!(cert);
        user["client-key-data"] = json!(key);
    }
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster_entry}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    });
    let kubeconfig: Kubeconfig =
        serde_json::from_value(kubeconfig).map_err(|e| error(format!("invalid config: {e}")))?;
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| error(format!("invalid config: {e}")))
}
