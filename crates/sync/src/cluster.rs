//! One target cluster: a kube client and a cache of the resources its API serves, found
//! through discovery one group-version at a time (cheap enough to do per app and per
//! kind, and refreshed when a kind is missing, e.g. right after its CRD was applied).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject};
use kube::discovery::Scope;
use kube::{Client, core::GroupVersionKind};
use serde_json::Value;
use std::sync::Mutex;

use crate::options::Retry;

/// What a write asks to be answered with: `PartialObjectMetadata`, which the API server
/// returns for writes too, else the object. A writer that learns the rest from a watch
/// (or sent it) spares the server the encoding and itself the decoding of spec and status.
pub const METADATA_ANSWER: &str =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

/// `request`, asking for a [`METADATA_ANSWER`].
pub fn metadata_answer(mut request: http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    request.headers_mut().insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static(METADATA_ANSWER),
    );
    request
}

/// A resource as the cluster serves it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

/// Group, version and kind.
type GvkKey = (String, String, String);

/// Where objects of a cluster are read: everywhere, or — Argo CD's namespaced mode, for a
/// credential that may only act in some namespaces — in the listed namespaces, and at
/// cluster scope only with `cluster_resources`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterScope {
    /// The namespaces managed (empty: all of them, and cluster-scoped objects).
    pub namespaces: Vec<String>,
    /// In namespaced mode, cluster-scoped objects are managed too.
    pub cluster_resources: bool,
}

impl ClusterScope {
    /// Where objects of a kind are listed or watched: `None` for all namespaces (or
    /// cluster scope), else one namespace each; empty when the kind is out of scope.
    pub fn namespaces_of(&self, namespaced: bool) -> Vec<Option<&str>> {
        if self.namespaces.is_empty() {
            vec![None]
        } else if namespaced {
            self.namespaces.iter().map(|n| Some(n.as_str())).collect()
        } else if self.cluster_resources {
            vec![None]
        } else {
            Vec::new()
        }
    }

    /// Whether an object in `namespace` (empty: cluster-scoped) is read here.
    pub fn covers(&self, namespace: &str) -> bool {
        if self.namespaces.is_empty() {
            true
        } else if namespace.is_empty() {
            self.cluster_resources
        } else {
            self.namespaces.iter().any(|n| n == namespace)
        }
    }
}

/// A cluster to sync into. Cheap to clone; clones share the discovery cache.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    /// Who reads the live state when another identity writes (see
    /// [`with_writer`](Self::with_writer)); `None`: `client` does both.
    reader: Option<Client>,
    cache: Arc<Mutex<HashMap<GvkKey, Resolved>>>,
    live: Option<Arc<dyn LiveCache>>,
    scope: Arc<ClusterScope>,
    /// Every listable kind the cluster serves, and when discovery said so.
    served: Arc<Mutex<Option<ServedKinds>>>,
}

/// The kinds a discovery found, and when.
type ServedKinds = (std::time::Instant, Arc<Vec<Resolved>>);

/// Live objects kept current by watches (a controller's cluster cache). The engine reads
/// an app's objects from it instead of listing them; a kind the cache does not hold
/// completely (not watched, or its first listing not finished) is listed as usual.
///
/// The cache may lag the API by one watch event. The engine tolerates that: every desired
/// object is applied whatever the cache says, an object the app's inventory names that
/// the cache lacks is read from the cluster, and pruning an object that is already gone
/// counts as pruned.
pub trait LiveCache: Send + Sync {
    /// Every object of `resource` whose [`crate::tracking::INSTANCE_LABEL`] is
    /// `label_value`, or `None` when the cache cannot tell.
    fn labelled(&self, resource: &ApiResource, label_value: &str) -> Option<Vec<Value>>;

    /// The health of the labelled object `namespace/name` of `resource` (namespace empty
    /// when cluster-scoped): `Some(None)` when the cache holds the kind and not that
    /// object, `None` when the cache cannot tell. (A settled app's health check reads it.)
    fn health(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
    ) -> Option<Option<crate::health::Health>>;

    /// Another app whose tracking the object `namespace/name` of `resource` carries under
    /// `app`'s tracking settings, as Argo CD's SharedResourceWarning names it (its
    /// instance with `_` read as `/`): `Some(None)` when the cache holds the kind and the
    /// object is no other app's, `None` when the cache cannot tell.
    fn claimed_by_other(
        &self,
        resource: &ApiResource,
        namespace: &str,
        name: &str,
        app: &crate::tracking::AppId,
    ) -> Option<Option<String>>;
}

/// Discovery failures.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The cluster does not serve this apiVersion and kind.
    #[error("the server has no resource for apiVersion {api_version:?}, kind {kind:?}")]
    UnknownKind {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// Discovery itself failed.
    #[error("discovering apiVersion {api_version:?}: {source}")]
    Failed {
        /// The apiVersion asked for.
        api_version: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

impl Cluster {
    /// A cluster reached through `client`.
    pub fn new(client: Client) -> Cluster {
        Cluster {
            client,
            reader: None,
            cache: Arc::new(Mutex::new(HashMap::new())),
            live: None,
            scope: Arc::default(),
            served: Arc::default(),
        }
    }

    /// Every kind the cluster serves that can be listed and deleted (Events left out), as
    /// a full discovery found it at most `max_age` ago.
    pub async fn served_kinds(&self, max_age: Duration) -> Result<Arc<Vec<Resolved>>, kube::Error> {
        if let Some((at, kinds)) = &*self.served.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < max_age
        {
            return Ok(kinds.clone());
        }
        let discovery = kube::Discovery::new(self.reader().clone()).run().await?;
        let mut kinds = Vec::new();
        for group in discovery.groups() {
            for (resource, caps) in group.recommended_resources() {
                if !caps.supports_operation(kube::discovery::verbs::LIST)
                    || !caps.supports_operation(kube::discovery::verbs::DELETE)
                    || (resource.group.is_empty() && resource.kind == "Event")
                    || resource.group == "events.k8s.io"
                {
                    continue;
                }
                kinds.push(Resolved {
                    namespaced: caps.scope == Scope::Namespaced,
                    resource,
                });
            }
        }
        let kinds = Arc::new(kinds);
        *self.served.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), kinds.clone()));
        Ok(kinds)
    }

    /// The same cluster (its discovery, live cache and scope) written to through
    /// `writer` — another identity's applies, prunes and hooks — while the live state is
    /// still read as before (Argo CD's sync impersonation reads its cache as the
    /// controller).
    pub fn with_writer(&self, writer: Client) -> Cluster {
        Cluster {
            reader: Some(self.reader.clone().unwrap_or_else(|| self.client.clone())),
            client: writer,
            ..self.clone()
        }
    }

    /// The same cluster, its objects read only where `scope` says.
    pub fn with_scope(mut self, scope: ClusterScope) -> Cluster {
        self.scope = Arc::new(scope);
        self
    }

    /// Where its objects are read.
    pub fn scope(&self) -> &ClusterScope {
        &self.scope
    }

    /// The same cluster, reading live objects from `cache` where it can.
    pub fn with_live_cache(mut self, cache: Arc<dyn LiveCache>) -> Cluster {
        self.live = Some(cache);
        self
    }

    /// The watch-kept cache, if any.
    pub fn live_cache(&self) -> Option<&dyn LiveCache> {
        self.live.as_deref()
    }

    /// The client (the writer's, when another identity writes).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client that reads the live state: the hub's own, also when another identity
    /// writes (see [`with_writer`](Self::with_writer)).
    pub fn reader(&self) -> &Client {
        self.reader.as_ref().unwrap_or(&self.client)
    }

    /// The resource serving `api_version` and `kind`, from the cache or discovery.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<Resolved, DiscoveryError> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        let key = (group.clone(), version.clone(), kind.to_string());
        if let Some(r) = lock(&self.cache).get(&key) {
            return Ok(r.clone());
        }
        let gvk = GroupVersionKind::gvk(&group, &version, kind);
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok((resource, caps)) => {
                let r = Resolved {
                    resource,
                    namespaced: caps.scope == Scope::Namespaced,
                };
                lock(&self.cache).insert(key, r.clone());
                Ok(r)
            }
            Err(kube::Error::Api(e)) if e.code == 404 => Err(DiscoveryError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            }),
            Err(kube::Error::Discovery(_)) => Err(DiscoveryError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            }),
            Err(source) => Err(DiscoveryError::Failed {
                api_version: api_version.to_string(),
                source,
            }),
        }
    }

    /// The API for objects of `r` in `namespace` (all namespaces / cluster scope if `None`).
    pub fn api(&self, r: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
        api_of(&self.client, r, namespace)
    }

    /// [`api`](Self::api) for reading the live state (the reader's, when another identity
    /// writes).
    pub fn read_api(&self, r: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
        api_of(self.reader(), r, namespace)
    }
}

fn api_of(client: &Client, r: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if r.namespaced && !ns.is_empty() => {
            Api::namespaced_with(client.clone(), ns, &r.resource)
        }
        _ => Api::all_with(client.clone(), &r.resource),
    }
}

/// Whether a client error is worth retrying (server trouble, throttling, the network).
pub(crate) fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `call` again after an exponential backoff while it fails transiently.
pub(crate) async fn with_retry<T, F, Fut>(retry: &Retry, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut delay = retry.initial;
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if transient(&e) && attempt < retry.limit => {
                attempt += 1;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(retry.max);
            }
            other => return other,
        }
    }
}

/// A `DynamicObject` as JSON.
pub(crate) fn to_value(obj: DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// The HTTP status and message of an API error.
pub(crate) fn api_status(e: &kube::Error) -> Option<(u16, &str)> {
    match e {
        kube::Error::Api(s) => Some((s.code, s.message.as_str())),
        _ => None,
    }
}

/// Waits up to `timeout` for `cond` on the object, polling every `every`.
pub(crate) async fn poll_until<F>(
    api: &Api<DynamicObject>,
    name: &str,
    every: Duration,
    timeout: Duration,
    mut cond: F,
) -> Result<Option<Value>, kube::Error>
where
    F: FnMut(Option<&Value>) -> bool,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let current = api.get_opt(name).await?.map(to_value);
        if cond(current.as_ref()) || tokio::time::Instant::now() >= deadline {
            return Ok(current);
        }
        tokio::time::sleep(every).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::ClusterScope;

    #[test]
    fn a_namespaced_scope_covers_its_namespaces_and_cluster_objects_only_when_asked() {
        let everywhere = ClusterScope::default();
        assert!(everywhere.covers("web") && everywhere.covers(""));
        let mut some = ClusterScope {
            namespaces: vec!["web".into(), "db".into()],
            cluster_resources: false,
        };
        assert!(some.covers("db"));
        assert!(!some.covers("kube-system"));
        assert!(
            !some.covers(""),
            "cluster-scoped objects need clusterResources"
        );
        some.cluster_resources = true;
        assert!(some.covers(""));
    }

    #[test]
    fn writes_ask_for_metadata_only_with_the_object_as_fallback() {
        let request = super::metadata_answer(http::Request::new(Vec::new()));
        assert_eq!(
            request.headers()[http::header::ACCEPT],
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
        );
    }
}
