//! Each destination cluster's Kubernetes version and API versions as Argo CD's cluster
//! cache keeps them: the version as `GetServerVersion` reads it (the API server's
//! `gitVersion` read by apimachinery's `version.ParseGeneric`, written
//! `v<major>.<minor>[.<patch>]`, a vendor suffix such as `-gke.100` or `+k3s1` dropped),
//! the API versions as `APIResourcesToStrings(…, true)` writes what discovery found (see
//! [`ApiVersions`]). Applications' Helm charts render with them as
//! `.Capabilities.KubeVersion` and `.Capabilities.APIVersions`, as Argo CD sends them to
//! its repo server, and the cluster metrics name the version.
//!
//! Each cluster is asked when an Application first needs it, and again after [`MAX_AGE`]
//! (after [`RETRY_AFTER`] when it did not answer); one question at a time per cluster,
//! the others waiting for its answer. A cluster that stops answering keeps what it last
//! gave. [`ClusterVersions::keep_asking`] asks every known cluster its version again every
//! few seconds: whether it answered is the cluster's connection status in the metrics.
//! Discovery is run again sooner when the hub itself applied a CustomResourceDefinition
//! there ([`ClusterVersions::rediscover`]), where Argo CD's watch of CRDs updates its list
//! at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::api_discovery::ApiVersions;

/// How long an answer is used before the cluster is asked again.
pub const MAX_AGE: Duration = Duration::from_secs(300);

/// How soon a cluster that did not answer is asked again.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// How long the hub waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the last question to one cluster found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The version, the last one known when this question went unanswered.
    pub version: Option<String>,
    /// Whether the cluster answered.
    pub reachable: bool,
    /// When to ask again.
    pub expires: Instant,
}

/// One cluster: how it is reached, and its last answers.
struct Slot {
    /// Held while the cluster is being asked (one question at a time), with the client
    /// of its current registration.
    asking: tokio::sync::Mutex<kube::Client>,
    /// The last answer.
    last: Mutex<Option<Probe>>,
    /// Held while the cluster's discovery runs (one at a time).
    discovering: tokio::sync::Mutex<()>,
    /// The last discovery's API versions, and when to run it again.
    apis: Mutex<Option<(ApiVersions, Instant)>>,
}

impl Slot {
    fn new(client: &kube::Client) -> Slot {
        Slot {
            asking: tokio::sync::Mutex::new(client.clone()),
            last: Mutex::new(None),
            discovering: tokio::sync::Mutex::new(()),
            apis: Mutex::new(None),
        }
    }
}

/// The versions of the clusters asked so far, by server URL.
#[derive(Default)]
pub struct ClusterVersions {
    by_server: Mutex<HashMap<String, Arc<Slot>>>,
}

impl std::fmt::Debug for ClusterVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterVersions").finish_non_exhaustive()
    }
}

impl ClusterVersions {
    /// The version of the cluster at `server`, reached through `client`: known, or asked
    /// now; `None` when it never answered. While the cluster is being asked again, its
    /// last version serves at once: a cluster that hangs holds no reconcile that already
    /// knows it.
    pub async fn version(&self, server: &str, client: &kube::Client) -> Option<String> {
        let slot = self.slot(server, client);
        let fresh = |slot: &Slot| {
            crate::lock(&slot.last)
                .clone()
                .filter(|p| p.expires > Instant::now())
        };
        if let Some(known) = fresh(&slot) {
            return known.version;
        }
        let last_version = crate::lock(&slot.last)
            .as_ref()
            .and_then(|p| p.version.clone());
        let mut asking = match slot.asking.try_lock() {
            Ok(asking) => asking,
            Err(_) if last_version.is_some() => return last_version,
            Err(_) => slot.asking.lock().await,
        };
        // The registration may have changed (new credentials): ask with the current one.
        *asking = client.clone();
        if let Some(known) = fresh(&slot) {
            return known.version;
        }
        ask(server, &asking, &slot.last).await
    }

    /// The API versions the cluster at `server` serves, reached through `client`: known,
    /// or discovered now; empty when discovery never answered (then a chart sees Helm's
    /// built-in list alone). As for the version, a discovery under way holds no reconcile
    /// that already has an answer.
    pub async fn api_versions(&self, server: &str, client: &kube::Client) -> ApiVersions {
        let slot = self.slot(server, client);
        let known = |slot: &Slot| crate::lock(&slot.apis).clone();
        let fresh = |slot: &Slot| {
            known(slot)
                .filter(|(_, expires)| *expires > Instant::now())
                .map(|(apis, _)| apis)
        };
        if let Some(fresh) = fresh(&slot) {
            return fresh;
        }
        let _discovering = match (slot.discovering.try_lock(), known(&slot)) {
            (Ok(discovering), _) => discovering,
            (Err(_), Some((last, _))) => return last,
            (Err(_), None) => slot.discovering.lock().await,
        };
        if let Some(fresh) = fresh(&slot) {
            return fresh;
        }
        discover(server, client, &slot.apis).await
    }

    /// Has the next [`api_versions`](Self::api_versions) of `server` run discovery again
    /// (the hub applied a CustomResourceDefinition there); the list known so far serves
    /// meanwhile.
    pub fn rediscover(&self, server: &str) {
        let slot = crate::lock(&self.by_server).get(server).cloned();
        if let Some(slot) = slot
            && let Some((_, expires)) = crate::lock(&slot.apis).as_mut()
        {
            *expires = Instant::now();
        }
    }

    /// The slot of `server`, made on first use.
    fn slot(&self, server: &str, client: &kube::Client) -> Arc<Slot> {
        crate::lock(&self.by_server)
            .entry(server.to_string())
            .or_insert_with(|| Arc::new(Slot::new(client)))
            .clone()
    }

    /// Asks every cluster asked before again, every `every`, until dropped: their answers
    /// keep the connection status current between Applications' reconciles. A cluster
    /// `registry` no longer holds (its Secret deleted; the hub itself stays) is forgotten.
    pub async fn keep_asking(
        self: Arc<Self>,
        registry: Arc<std::sync::RwLock<crate::clusters::ClusterRegistry>>,
        every: Duration,
    ) {
        use futures::StreamExt as _;
        loop {
            tokio::time::sleep(every).await;
            let slots: Vec<(String, Arc<Slot>)> = {
                let registry = registry.read().unwrap_or_else(|e| e.into_inner());
                let mut by_server = crate::lock(&self.by_server);
                by_server.retain(|server, _| {
                    registry.by_server(server).is_some()
                        || crate::clusters::is_in_cluster(server, "")
                });
                by_server
                    .iter()
                    .map(|(server, slot)| (server.clone(), slot.clone()))
                    .collect()
            };
            futures::stream::iter(slots)
                .for_each_concurrent(16, |(server, slot)| async move {
                    let client = slot.asking.lock().await;
                    ask(&server, &client, &slot.last).await;
                })
                .await;
        }
    }

    /// The last answer of each cluster asked.
    pub fn probes(&self) -> Vec<(String, Probe)> {
        let mut out: Vec<(String, Probe)> = crate::lock(&self.by_server)
            .iter()
            .filter_map(|(server, slot)| Some((server.clone(), crate::lock(&slot.last).clone()?)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// Asks the cluster at `server` its version through `client` and keeps the answer in
/// `last`; the version known now.
async fn ask(server: &str, client: &kube::Client, last: &Mutex<Option<Probe>>) -> Option<String> {
    let found = match tokio::time::timeout(TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(info)) => parse_generic(&info.git_version),
        Ok(Err(e)) => {
            tracing::debug!(%server, error = %e, "asking the cluster's version");
            None
        }
        Err(_) => None,
    };
    let now = Instant::now();
    let mut last = crate::lock(last);
    let asked = match found {
        Some(version) => Probe {
            version: Some(version),
            reachable: true,
            expires: now + MAX_AGE,
        },
        None => Probe {
            version: last.as_ref().and_then(|p| p.version.clone()),
            reachable: false,
            expires: now + RETRY_AFTER,
        },
    };
    let version = asked.version.clone();
    *last = Some(asked);
    version
}

/// Runs the discovery of the cluster at `server` through `client` and keeps its API
/// versions in `apis`; the list known now (the last one when this discovery failed).
async fn discover(
    server: &str,
    client: &kube::Client,
    apis: &Mutex<Option<(ApiVersions, Instant)>>,
) -> ApiVersions {
    let found = match tokio::time::timeout(TIMEOUT, crate::api_discovery::discover(client)).await {
        Ok(Ok(found)) => Some(found.argo_api_versions()),
        Ok(Err(e)) => {
            tracing::debug!(%server, error = %e, "discovering the cluster's API versions");
            None
        }
        Err(_) => None,
    };
    let now = Instant::now();
    let mut apis = crate::lock(apis);
    let (known, expires) = match found {
        Some(found) => (found, now + MAX_AGE),
        None => (
            apis.as_ref()
                .map(|(last, _)| last.clone())
                .unwrap_or_default(),
            now + RETRY_AFTER,
        ),
    };
    *apis = Some((known.clone(), expires));
    known
}

/// apimachinery's `version.ParseGeneric` as Argo CD writes its result: the leading
/// numbers (at least two; the first without a leading zero) of a `gitVersion`, with a
/// `v`; `None` when it is not a version.
pub fn parse_generic(git_version: &str) -> Option<String> {
    let text = git_version.trim_start();
    let text = text.strip_prefix('v').unwrap_or(text);
    // The numeric part is the longest `N(.N)*` at the start; what follows is ignored.
    let mut components: Vec<&str> = Vec::new();
    let mut rest = text;
    loop {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            break;
        }
        components.push(&rest[..digits]);
        match rest[digits..].strip_prefix('.') {
            Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) => rest = after,
            _ => break,
        }
    }
    if components.len() < 2 {
        return None;
    }
    if components[0].len() > 1 && components[0].starts_with('0') {
        return None;
    }
    let parsed: Vec<u64> = components
        .iter()
        .map(|c| c.parse().ok())
        .collect::<Option<_>>()?;
    let joined: Vec<String> = parsed.iter().map(u64::to_string).collect();
    Some(format!("v{}", joined.join(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While a cluster that hangs is being asked again, its last version serves at once
    /// instead of waiting for the question's timeout.
    #[tokio::test]
    async fn a_question_under_way_does_not_hold_those_that_know_the_version() {
        // Accepts connections and never answers.
        let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", hanging.local_addr().unwrap());
        let _keep = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = hanging.accept().await {
                open.push(stream);
            }
        });
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let versions = Arc::new(ClusterVersions::default());
        versions.by_server.lock().unwrap().insert(
            url.clone(),
            Arc::new(Slot {
                last: Mutex::new(Some(Probe {
                    version: Some("v1.30.2".into()),
                    reachable: true,
                    expires: Instant::now(),
                })),
                ..Slot::new(&client)
            }),
        );
        let first = tokio::spawn({
            let (versions, url, client) = (versions.clone(), url.clone(), client.clone());
            async move { versions.version(&url, &client).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = tokio::time::timeout(Duration::from_secs(1), versions.version(&url, &client))
            .await
            .expect("answered without waiting for the hanging question");
        assert_eq!(second.as_deref(), Some("v1.30.2"));
        first.abort();
    }

    /// A cluster that does not answer is unreachable, with no version; once its
    /// registration is gone it is forgotten, while the hub itself is kept.
    #[tokio::test]
    async fn an_unregistered_cluster_is_forgotten_and_the_hub_kept() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let versions = Arc::new(ClusterVersions::default());
        for server in [url.as_str(), crate::clusters::IN_CLUSTER_SERVER] {
            assert_eq!(versions.version(server, &client).await, None);
        }
        let probes = versions.probes();
        assert_eq!(probes.len(), 2);
        assert!(
            probes
                .iter()
                .all(|(_, p)| !p.reachable && p.version.is_none())
        );
        let asking = tokio::spawn(
            versions
                .clone()
                .keep_asking(Arc::default(), Duration::from_millis(10)),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        asking.abort();
        let _ = asking.await;
        let servers: Vec<String> = versions.probes().into_iter().map(|(s, _)| s).collect();
        assert_eq!(servers, [crate::clusters::IN_CLUSTER_SERVER]);
    }

    /// Argo CD's `GetServerVersion` cases (gitops-engine's ctl_test.go) and
    /// apimachinery's generic parsing.
    #[test]
    fn versions_read_as_argo_cd_reads_them() {
        assert_eq!(parse_generic("v1.34.0").as_deref(), Some("v1.34.0"));
        assert_eq!(parse_generic("v1.30.11+IKS").as_deref(), Some("v1.30.11"));
        assert_eq!(
            parse_generic("v1.29.3-gke.1093000").as_deref(),
            Some("v1.29.3")
        );
        assert_eq!(parse_generic("v1.31.2+k3s1").as_deref(), Some("v1.31.2"));
        assert_eq!(parse_generic("1.28").as_deref(), Some("v1.28"));
        assert_eq!(parse_generic("  v1.27.4").as_deref(), Some("v1.27.4"));
        assert_eq!(parse_generic("v1.2.").as_deref(), Some("v1.2"));
        for bad in ["", "v1", "garbage", "v01.2.3", "v1..2", "v1.x"] {
            assert_eq!(parse_generic(bad), None, "{bad:?}");
        }
    }
}
