//! A fleet: many isolated clusters in one process, served on one port.
//!
//! Each cluster lives under its own path prefix, `http://HOST:PORT/clusters/<name>`,
//! which is the `server` of its kubeconfig context. kubectl and kube-rs both keep
//! a server URL's path as the prefix of every request.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use indexmap::IndexMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, ClusterConfig};

/// The Kubernetes version a fleet reports (and so which kubectl the dispatcher picks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeVersion {
    /// Major version, "1".
    pub major: u32,
    /// Minor version, e.g. 32.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl Default for KubeVersion {
    fn default() -> Self {
        KubeVersion {
            major: 1,
            minor: 32,
            patch: 0,
        }
    }
}

impl std::str::FromStr for KubeVersion {
    type Err = String;

    /// `1.32`, `v1.32.3`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("invalid Kubernetes version {s:?}: expected MAJOR.MINOR[.PATCH], e.g. 1.32");
        let parts: Vec<&str> = s.trim_start_matches('v').split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad());
        }
        let n = |i: usize| {
            parts
                .get(i)
                .map_or(Ok(0), |p| p.parse::<u32>().map_err(|_| bad()))
        };
        Ok(KubeVersion {
            major: n(0)?,
            minor: n(1)?,
            patch: n(2)?,
        })
    }
}

/// Settings of a fleet.
#[derive(Debug, Clone, Default)]
pub struct FleetConfig {
    /// What `/version` reports.
    pub kube_version: KubeVersion,
    /// Settings of every cluster.
    pub cluster: ClusterConfig,
    /// Where to append the audit log (one JSON line per API request), if anywhere.
    pub audit_log: Option<std::path::PathBuf>,
    /// Where to persist every cluster (see [`crate::persist`]); in memory only when unset.
    pub data_dir: Option<std::path::PathBuf>,
}

/// Many clusters, each an independent API server.
pub struct Fleet {
    clusters: IndexMap<String, Arc<Cluster>>,
    config: FleetConfig,
    address: OnceLock<SocketAddr>,
    audit: Option<crate::audit::AuditLog>,
    /// Tokens and RBAC cache of each cluster, by name.
    auth: std::collections::HashMap<String, Arc<crate::auth::ClusterAuth>>,
    /// Set when served over TLS; unset means plain-HTTP mode (see [`crate::auth`]).
    tls: OnceLock<Arc<crate::tls::Authority>>,
    /// The database, with a data directory.
    persistence: Option<crate::persist::Persistence>,
}

/// `cluster-000`, `cluster-001`, … (three digits at least).
pub fn default_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("cluster-{i:03}")).collect()
}

impl Fleet {
    /// A fleet with the named clusters.
    pub fn new(names: &[String], config: FleetConfig) -> Arc<Fleet> {
        Fleet::try_new(names, config).expect("a fleet without an audit log cannot fail to start")
    }

    /// A fleet with the named clusters, restored from the data directory when one is
    /// configured; fails when the audit log or the data directory cannot be opened.
    pub fn try_new(names: &[String], config: FleetConfig) -> std::io::Result<Arc<Fleet>> {
        let audit = config
            .audit_log
            .as_deref()
            .map(crate::audit::AuditLog::open)
            .transpose()?;
        let persistence = config
            .data_dir
            .as_deref()
            .map(|dir| crate::persist::Persistence::open(dir, names, config.cluster.log_window))
            .transpose()
            .map_err(std::io::Error::other)?;
        let mut clusters: IndexMap<String, Arc<Cluster>> = IndexMap::new();
        for n in names {
            let snapshot = persistence.as_ref().and_then(|p| p.take_snapshot(n));
            let fresh = snapshot.is_none();
            let sink = persistence.as_ref().and_then(|p| p.sink(n));
            let cluster = Cluster::with_storage(n, &config.cluster, snapshot, sink);
            if fresh {
                // A restored cluster has its default roles already (and maybe changed ones).
                crate::auth::bootstrap::install(&cluster);
            }
            clusters.insert(n.clone(), cluster);
        }
        let auth = names
            .iter()
            .map(|n| (n.clone(), Arc::new(crate::auth::ClusterAuth::new())))
            .collect();
        Ok(Arc::new(Fleet {
            clusters,
            config,
            address: OnceLock::new(),
            audit,
            auth,
            tls: OnceLock::new(),
            persistence,
        }))
    }

    /// Wait until every write so far is on disk (a no-op without a data directory).
    pub fn flush(&self) {
        if let Some(p) = &self.persistence {
            p.flush();
        }
    }

    /// Commit every write, mark the data directory clean and release it, so that another
    /// fleet may open it. Writes after this stay in memory.
    pub fn close(&self) {
        if let Some(p) = &self.persistence {
            p.close();
        }
    }

    /// Tokens and RBAC of one cluster.
    pub fn auth(&self, cluster: &str) -> Option<&Arc<crate::auth::ClusterAuth>> {
        self.auth.get(cluster)
    }

    /// The admin token of one cluster (also in the kubeconfig).
    pub fn admin_token(&self, cluster: &str) -> Option<&str> {
        self.auth.get(cluster).map(|a| a.tokens().admin())
    }

    /// Whether the fleet is in plain-HTTP mode, where a request without a token is the admin.
    pub fn plain_http(&self) -> bool {
        self.tls.get().is_none()
    }

    /// The CA, when the fleet is served over TLS.
    pub fn tls(&self) -> Option<&Arc<crate::tls::Authority>> {
        self.tls.get()
    }

    /// The audit log, when one is kept.
    pub fn audit(&self) -> Option<&crate::audit::AuditLog> {
        self.audit.as_ref()
    }

    /// A fleet of `n` clusters named `cluster-000` … with default settings.
    pub fn with_clusters(n: usize) -> Arc<Fleet> {
        Fleet::new(&default_names(n), FleetConfig::default())
    }

    /// One cluster by name.
    pub fn cluster(&self, name: &str) -> Option<Arc<Cluster>> {
        self.clusters.get(name).cloned()
    }

    /// Cluster names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.clusters.keys().map(String::as_str)
    }

    /// Every cluster, in order.
    pub fn clusters(&self) -> impl Iterator<Item = &Arc<Cluster>> {
        self.clusters.values()
    }

    /// The `/version` document.
    pub fn version_info(&self) -> Value {
        let v = &self.config.kube_version;
        json!({
            "major": v.major.to_string(),
            "minor": v.minor.to_string(),
            "emulationMajor": v.major.to_string(),
            "emulationMinor": v.minor.to_string(),
            "gitVersion": format!("v{}.{}.{}", v.major, v.minor, v.patch),
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.23.4",
            "compiler": "gc",
            "platform": "linux/amd64",
        })
    }

    /// `host:port` the fleet is served on (for legacy discovery), once bound.
    pub fn server_address(&self) -> String {
        self.address
            .get()
            .map(ToString::to_string)
            .unwrap_or_else(|| "127.0.0.1:0".into())
    }

    /// A kubeconfig with one context per cluster, `base_url` being `http(s)://host:port`.
    /// Each context's user carries that cluster's admin token; over TLS each cluster carries
    /// the CA. The first cluster is the current context.
    pub fn kubeconfig(&self, base_url: &str) -> String {
        self.kubeconfig_with(|name| format!("{base_url}/clusters/{name}"))
    }

    /// Like [`Fleet::kubeconfig`], with each cluster's server URL given by `server_of`.
    pub fn kubeconfig_with(&self, server_of: impl Fn(&str) -> String) -> String {
        let mut out = String::from("apiVersion: v1\nkind: Config\npreferences: {}\nclusters:\n");
        let ca = self
            .tls
            .get()
            .map(|t| format!("    certificate-authority-data: {}\n", t.ca_data()))
            .unwrap_or_default();
        for name in self.names() {
            out.push_str(&format!(
                "- name: {name}\n  cluster:\n{ca}    server: {}\n",
                server_of(name)
            ));
        }
        out.push_str("users:\n");
        for name in self.names() {
            match self.admin_token(name) {
                Some(token) => {
                    out.push_str(&format!("- name: {name}\n  user:\n    token: {token}\n"))
                }
                None => out.push_str(&format!("- name: {name}\n  user: {{}}\n")),
            }
        }
        out.push_str("contexts:\n");
        for name in self.names() {
            out.push_str(&format!(
                "- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
            ));
        }
        if let Some(first) = self.names().next() {
            out.push_str(&format!("current-context: {first}\n"));
        }
        out
    }
}

/// How to serve a fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeOptions {
    /// TLS with a CA generated for this server (otherwise plain HTTP, where requests
    /// without a token act as the admin; see [`crate::auth`]).
    pub tls: bool,
    /// Also give every cluster a listener of its own, the `server` of its kubeconfig
    /// context: cluster *i* on this port + *i*, or free ports when it is 0. While a cluster
    /// is unreachable its listener is closed, so connecting to it is refused as with a
    /// stopped API server. The shared listener keeps serving every cluster (and the
    /// `/_kubesim` controls, which is how such a cluster is made reachable again).
    pub cluster_ports: Option<u16>,
}

/// A fleet served over HTTP or HTTPS, with its controllers running.
pub struct Server {
    fleet: Arc<Fleet>,
    addr: SocketAddr,
    /// Each cluster's own listener, in per-cluster-port mode.
    cluster_addrs: std::collections::HashMap<String, SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    tls: bool,
}

impl Server {
    /// Bind `listen` (port 0 picks a free one), start the controllers and serve plain HTTP.
    /// Requests without a token act as the admin (see [`crate::auth`]).
    pub async fn start(fleet: Arc<Fleet>, listen: SocketAddr) -> std::io::Result<Server> {
        Server::start_with(fleet, listen, ServeOptions::default()).await
    }

    /// Like [`Server::start`], but over TLS with a CA generated for this server (written into
    /// the kubeconfig); requests need a token or are `system:anonymous`. A fleet can be
    /// served over TLS once.
    pub async fn start_tls(fleet: Arc<Fleet>, listen: SocketAddr) -> std::io::Result<Server> {
        let options = ServeOptions {
            tls: true,
            ..Default::default()
        };
        Server::start_with(fleet, listen, options).await
    }

    /// Serve `fleet` on `listen` as `options` say, with its controllers running.
    pub async fn start_with(
        fleet: Arc<Fleet>,
        listen: SocketAddr,
        options: ServeOptions,
    ) -> std::io::Result<Server> {
        let acceptor = if options.tls {
            let authority = Arc::new(
                crate::tls::Authority::generate(Some(listen.ip()))
                    .map_err(std::io::Error::other)?,
            );
            if fleet.tls.set(authority.clone()).is_err() {
                return Err(std::io::Error::other(
                    "this fleet is already served over TLS",
                ));
            }
            Some(authority)
        } else {
            None
        };
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let _ = fleet.address.set(addr);
        let app = crate::http::router(fleet.clone());
        let mut cluster_listeners = Vec::new();
        if let Some(first) = options.cluster_ports {
            for (i, cluster) in fleet.clusters().enumerate() {
                let port = if first == 0 {
                    0
                } else {
                    u16::try_from(usize::from(first) + i).map_err(|_| {
                        std::io::Error::other(format!("cluster port {first} + {i} is beyond 65535"))
                    })?
                };
                let l = TcpListener::bind(SocketAddr::new(listen.ip(), port)).await?;
                cluster_listeners.push((cluster.clone(), l));
            }
        }
        let mut cluster_addrs = std::collections::HashMap::new();
        let mut tasks = Server::controllers(&fleet);
        for (cluster, l) in cluster_listeners {
            cluster_addrs.insert(cluster.name().to_string(), l.local_addr()?);
            tasks.push(tokio::spawn(serve_cluster_port(
                cluster,
                l,
                acceptor.clone(),
                app.clone(),
            )));
        }
        tasks.push(tokio::spawn(async move {
            crate::listen::accept(
                &listener,
                acceptor.as_ref(),
                &app,
                None,
                std::future::pending(),
            )
            .await;
        }));
        Ok(Server {
            fleet,
            addr,
            cluster_addrs,
            tasks,
            tls: options.tls,
        })
    }

    fn controllers(fleet: &Fleet) -> Vec<JoinHandle<()>> {
        fleet
            .clusters()
            .flat_map(|c| {
                [
                    tokio::spawn(crate::controllers::run(c.clone())),
                    tokio::spawn(crate::auth::aggregation::run(c.clone())),
                ]
            })
            .collect()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`, or `https://…` over TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The server URL of one cluster (on its own port in per-cluster-port mode).
    pub fn cluster_url(&self, name: &str) -> String {
        match self.cluster_addrs.get(name) {
            Some(addr) => {
                let scheme = if self.tls { "https" } else { "http" };
                format!("{scheme}://{addr}/clusters/{name}")
            }
            None => format!("{}/clusters/{name}", self.base_url()),
        }
    }

    /// The fleet being served.
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// The kubeconfig for this server.
    pub fn kubeconfig(&self) -> String {
        self.fleet.kubeconfig_with(|name| self.cluster_url(name))
    }

    /// Write the kubeconfig to `path`.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }
}

/// A cluster's own listener: closed while the cluster is unreachable, bound again (same port)
/// when it is back. Closing it drops every connection it accepted.
async fn serve_cluster_port(
    cluster: Arc<Cluster>,
    listener: TcpListener,
    tls: Option<Arc<crate::tls::Authority>>,
    app: axum::Router,
) {
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let mut unreachable = cluster.unreachable_changes();
    let name = cluster.name().to_string();
    drop(cluster);
    let mut listener = Some(listener);
    loop {
        match listener.take() {
            Some(l) => {
                let down = async {
                    let _ = unreachable.wait_for(|u| *u).await;
                };
                crate::listen::accept(&l, tls.as_ref(), &app, Some(&name), down).await;
                tracing::info!("cluster {name}: unreachable, {addr} closed");
            }
            None => {
                if unreachable.wait_for(|u| !*u).await.is_err() {
                    return;
                }
                match crate::listen::rebind(addr).await {
                    Ok(l) => listener = Some(l),
                    Err(e) => {
                        tracing::error!("cluster {name}: binding {addr} again: {e}");
                        return;
                    }
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_or_without_v_and_patch() {
        assert_eq!(
            "1.29".parse::<KubeVersion>(),
            Ok(KubeVersion {
                major: 1,
                minor: 29,
                patch: 0
            })
        );
        assert_eq!(
            "v1.33.2".parse::<KubeVersion>(),
            Ok(KubeVersion {
                major: 1,
                minor: 33,
                patch: 2
            })
        );
        assert!("1".parse::<KubeVersion>().is_err());
    }

    #[test]
    fn kubeconfig_has_a_context_per_cluster() {
        let fleet = Fleet::new(&["a".into(), "b".into()], FleetConfig::default());
        let k = fleet.kubeconfig("http://127.0.0.1:1");
        assert!(k.contains("server: http://127.0.0.1:1/clusters/b"));
        assert!(k.contains("- name: b\n  context:\n    cluster: b\n"));
        assert!(k.contains("current-context: a"));
    }
}
