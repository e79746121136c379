//! What a cluster's API discovery says it serves, and the two lists of API versions a
//! Helm chart may see of it in `.Capabilities.APIVersions`: Argo CD's (its cluster
//! cache's resources, [`Discovered::argo_api_versions`]) and Helm's own when it installs
//! into a live cluster, as helm-controller does ([`Discovered::helm_version_set`]).

use std::sync::Arc;

/// One resource discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredResource {
    /// Its group version (`v1` for the core group).
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Whether it can be listed and watched.
    pub list_and_watch: bool,
    /// The kinds its subresources answer with (`Scale` for `deployments/scale`).
    pub subresource_kinds: Vec<String>,
}

/// A cluster's discovery: every group version served (not only the preferred ones) and
/// every resource in them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// Group versions, `v1` for the core group.
    pub group_versions: Vec<String>,
    /// Resources, by group version.
    pub resources: Vec<DiscoveredResource>,
}

impl Discovered {
    /// Argo CD's `APIResourcesToStrings(…, true)` over what its cluster cache keeps of
    /// discovery: the resources that can be listed and watched.
    pub fn argo_api_versions(&self) -> ApiVersions {
        ApiVersions::of(
            self.resources
                .iter()
                .map(|r| (r.api_version.as_str(), r.kind.as_str(), r.list_and_watch)),
        )
    }

    /// Helm's `GetVersionSet`, what a chart installed into a live cluster sees (and no
    /// built-in list): every served group version, and `group/version/Kind` for every
    /// resource of it, subresources included, sorted. Empty when discovery found
    /// nothing (Helm then uses its built-in list).
    pub fn helm_version_set(&self) -> Vec<String> {
        let mut set = std::collections::BTreeSet::new();
        set.extend(self.group_versions.iter().cloned());
        for resource in &self.resources {
            for kind in std::iter::once(&resource.kind).chain(&resource.subresource_kinds) {
                set.insert(format!("{}/{kind}", resource.api_version));
            }
        }
        set.into_iter().collect()
    }
}

/// Runs the discovery of the cluster behind `client`: aggregated (two requests), or one
/// request per group version from a server without it (before Kubernetes 1.26, or
/// with it turned off).
pub async fn discover(client: &kube::Client) -> Result<Discovered, kube::Error> {
    let aggregated = kube::Discovery::new(client.clone())
        .run_aggregated()
        .await
        .ok()
        .filter(|d| d.has_group(""));
    let discovery = match aggregated {
        Some(found) => found,
        None => kube::Discovery::new(client.clone()).run().await?,
    };
    let mut found = Discovered::default();
    for group in discovery.groups() {
        for version in group.versions() {
            found.group_versions.push(if group.name().is_empty() {
                version.to_string()
            } else {
                format!("{}/{version}", group.name())
            });
            for (resource, caps) in group.versioned_resources(version) {
                let list_and_watch = caps.supports_operation(kube::discovery::verbs::LIST)
                    && caps.supports_operation(kube::discovery::verbs::WATCH);
                found.resources.push(DiscoveredResource {
                    // The parent's group version: a subresource's own (autoscaling/v1
                    // for a Scale) is not where Helm files it.
                    subresource_kinds: caps
                        .subresources
                        .iter()
                        .map(|(sub, _)| sub.kind.clone())
                        .filter(|kind| !kind.is_empty())
                        .collect(),
                    api_version: resource.api_version,
                    kind: resource.kind,
                    list_and_watch,
                });
            }
        }
    }
    Ok(found)
}

/// What `.Capabilities.APIVersions` gains from a cluster under Argo CD: its
/// `APIResourcesToStrings(resources, true)` — each `group/version` (`v1` for the core
/// group) and each `group/version/Kind` of the resources that can be listed and
/// watched, sorted. Cheap to clone; its `Debug` is a digest of the list, so that a
/// fingerprint of what a render reads stays small.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiVersions {
    list: Arc<[String]>,
    digest: u64,
}

impl ApiVersions {
    /// The API versions of `resources`: each one's API version and kind, and whether it
    /// can be listed and watched.
    pub fn of<'a>(resources: impl IntoIterator<Item = (&'a str, &'a str, bool)>) -> ApiVersions {
        let mut list = std::collections::BTreeSet::new();
        for (api_version, kind, list_and_watch) in resources {
            if list_and_watch {
                list.insert(api_version.to_string());
                list.insert(format!("{api_version}/{kind}"));
            }
        }
        let list: Arc<[String]> = list.into_iter().collect();
        let digest = {
            use std::hash::{Hash as _, Hasher as _};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            list.hash(&mut hasher);
            hasher.finish()
        };
        ApiVersions { list, digest }
    }

    /// The entries, sorted.
    pub fn as_slice(&self) -> &[String] {
        &self.list
    }
}

impl std::fmt::Debug for ApiVersions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ApiVersions({} entries, {:016x})",
            self.list.len(),
            self.digest
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server without aggregated discovery (before Kubernetes 1.26, or with it turned
    /// off) answers the legacy documents, one per group version: every version of a
    /// group counts, not only the preferred one; Argo CD's list leaves out what cannot
    /// be listed and watched, Helm's keeps every kind, subresources' included.
    #[tokio::test]
    async fn a_server_without_aggregated_discovery_is_read_group_version_by_group_version() {
        use axum::{Json, routing::get};
        use serde_json::json;
        let resources = |group_version: &str, list: serde_json::Value| json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list});
        let watchable = json!([
            "create", "delete", "get", "list", "patch", "update", "watch"
        ]);
        let core = resources(
            "v1",
            json!([
                {"name": "pods", "namespaced": true, "kind": "Pod", "verbs": watchable},
                {"name": "pods/eviction", "namespaced": true, "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]},
                {"name": "bindings", "namespaced": true, "kind": "Binding", "verbs": ["create"]},
            ]),
        );
        let autoscaling = |version: &str| {
            resources(
                &format!("autoscaling/{version}"),
                json!([{"name": "horizontalpodautoscalers", "namespaced": true, "kind": "HorizontalPodAutoscaler", "verbs": watchable}]),
            )
        };
        let (v1, v2) = (autoscaling("v1"), autoscaling("v2"));
        let router = axum::Router::new()
            .route(
                "/api",
                get(|| async {
                    Json(
                        json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
                    )
                }),
            )
            .route("/api/v1", get(|| async move { Json(core) }))
            .route(
                "/apis",
                get(|| async {
                    Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                        "name": "autoscaling",
                        "versions": [
                            {"groupVersion": "autoscaling/v2", "version": "v2"},
                            {"groupVersion": "autoscaling/v1", "version": "v1"},
                        ],
                        "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"},
                    }]}))
                }),
            )
            .route("/apis/autoscaling/v1", get(|| async move { Json(v1) }))
            .route("/apis/autoscaling/v2", get(|| async move { Json(v2) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let found = discover(&client).await.unwrap();
        assert_eq!(
            found.argo_api_versions().as_slice(),
            [
                "autoscaling/v1",
                "autoscaling/v1/HorizontalPodAutoscaler",
                "autoscaling/v2",
                "autoscaling/v2/HorizontalPodAutoscaler",
                "v1",
                "v1/Pod",
            ]
        );
        assert_eq!(
            found.helm_version_set(),
            [
                "autoscaling/v1",
                "autoscaling/v1/HorizontalPodAutoscaler",
                "autoscaling/v2",
                "autoscaling/v2/HorizontalPodAutoscaler",
                "v1",
                "v1/Binding",
                "v1/Eviction",
                "v1/Pod",
            ]
        );
    }

    /// Argo CD's `APIResourcesToStrings(…, true)`: each group version and each kind in
    /// it, once, sorted; what cannot be listed and watched (a write-only API) left out,
    /// its group version too when nothing else of it counts.
    #[test]
    fn argo_api_versions_are_group_versions_and_their_kinds() {
        let apis = ApiVersions::of([
            ("apps/v1", "Deployment", true),
            ("v1", "Pod", true),
            ("apps/v1", "StatefulSet", true),
            ("monitoring.coreos.com/v1", "ServiceMonitor", true),
            ("authorization.k8s.io/v1", "SelfSubjectAccessReview", false),
            ("v1", "Pod", true),
        ]);
        assert_eq!(
            apis.as_slice(),
            [
                "apps/v1",
                "apps/v1/Deployment",
                "apps/v1/StatefulSet",
                "monitoring.coreos.com/v1",
                "monitoring.coreos.com/v1/ServiceMonitor",
                "v1",
                "v1/Pod",
            ]
        );
        let other = ApiVersions::of([("v1", "Pod", true)]);
        assert_ne!(format!("{apis:?}"), format!("{other:?}"));
        assert_eq!(
            format!("{other:?}"),
            format!("{:?}", ApiVersions::of([("v1", "Pod", true)]))
        );
    }

    /// Helm's `GetVersionSet`: the group versions of the group list (a version with no
    /// resource still counts) and every kind, subresources' under their parent's group
    /// version.
    #[test]
    fn helms_version_set_keeps_every_group_version_and_kind() {
        let found = Discovered {
            group_versions: vec!["apps/v1".into(), "v1".into(), "example.com/v1".into()],
            resources: vec![DiscoveredResource {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                list_and_watch: true,
                subresource_kinds: vec!["Scale".into(), "Deployment".into()],
            }],
        };
        assert_eq!(
            found.helm_version_set(),
            [
                "apps/v1",
                "apps/v1/Deployment",
                "apps/v1/Scale",
                "example.com/v1",
                "v1"
            ]
        );
        assert!(Discovered::default().helm_version_set().is_empty());
    }
}
