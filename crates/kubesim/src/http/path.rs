//! Kubernetes API paths, parsed once into what they address.

/// What a request path under a cluster's base URL addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiPath {
    /// `/version`
    Version,
    /// `/healthz`, `/readyz`, `/livez` (and their `/…/<check>` forms).
    Health,
    /// `/api`
    CoreRoot,
    /// `/apis`
    GroupsRoot,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/<group>/<version>`
    GroupVersion {
        /// Group ("" for core).
        group: String,
        /// Version.
        version: String,
    },
    /// A resource, collection or subresource.
    Resource(ResourcePath),
    /// `/openapi/v2`
    OpenApiV2,
    /// `/openapi/v3`
    OpenApiV3Root,
    /// `/openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<version>`
    OpenApiV3 {
        /// Group ("" for core).
        group: String,
        /// Version.
        version: String,
    },
    /// `/_kubesim/<action>`: the simulator's own controls.
    Admin(String),
}

/// The parts of a resource path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourcePath {
    /// Group ("" for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Namespace from `/namespaces/<ns>/…`, if any.
    pub namespace: Option<String>,
    /// Lowercase plural.
    pub resource: String,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource (`status`, `scale`, `finalize`), if any.
    pub subresource: Option<String>,
    /// The deprecated `/watch/` prefix was used.
    pub legacy_watch: bool,
}

/// Parse a path (without the cluster prefix). `None` means nothing is served there.
pub fn parse(path: &str) -> Option<ApiPath> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => Some(ApiPath::Version),
        ["healthz" | "readyz" | "livez", ..] => Some(ApiPath::Health),
        ["openapi", "v2"] => Some(ApiPath::OpenApiV2),
        ["openapi", "v3"] => Some(ApiPath::OpenApiV3Root),
        ["openapi", "v3", "api", v] => Some(ApiPath::OpenApiV3 {
            group: String::new(),
            version: v.to_string(),
        }),
        ["openapi", "v3", "apis", g, v] => Some(ApiPath::OpenApiV3 {
            group: g.to_string(),
            version: v.to_string(),
        }),
        ["_kubesim", action] => Some(ApiPath::Admin(action.to_string())),
        ["api"] => Some(ApiPath::CoreRoot),
        ["apis"] => Some(ApiPath::GroupsRoot),
        ["apis", g] => Some(ApiPath::Group(g.to_string())),
        ["api", v, rest @ ..] => resource_path("", v, rest),
        ["apis", g, v, rest @ ..] => resource_path(g, v, rest),
        _ => None,
    }
}

fn resource_path(group: &str, version: &str, rest: &[&str]) -> Option<ApiPath> {
    if rest.is_empty() {
        return Some(ApiPath::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        });
    }
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] if !tail.is_empty() => (true, tail),
        _ => (false, rest),
    };
    let mut p = ResourcePath {
        group: group.to_string(),
        version: version.to_string(),
        legacy_watch,
        ..Default::default()
    };
    let own = |s: &&str| s.to_string();
    match rest {
        // A namespace's own subresources: /api/v1/namespaces/<name>/{status,finalize}.
        ["namespaces", name, sub @ ("status" | "finalize")] if group.is_empty() => {
            p.resource = "namespaces".into();
            p.name = Some(name.to_string());
            p.subresource = Some(sub.to_string());
        }
        ["namespaces", ns, resource, tail @ ..] if tail.len() <= 2 => {
            p.namespace = Some(ns.to_string());
            p.resource = resource.to_string();
            p.name = tail.first().map(own);
            p.subresource = tail.get(1).map(own);
        }
        [resource, tail @ ..] if tail.len() <= 2 => {
            p.resource = resource.to_string();
            p.name = tail.first().map(own);
            p.subresource = tail.get(1).map(own);
        }
        _ => return None,
    }
    Some(ApiPath::Resource(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Some(ApiPath::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn namespaced_and_cluster_scoped_paths() {
        let r = res("/apis/apps/v1/namespaces/a/deployments/web/scale");
        assert_eq!(
            (
                r.group.as_str(),
                r.namespace.as_deref(),
                r.resource.as_str()
            ),
            ("apps", Some("a"), "deployments")
        );
        assert_eq!(
            (r.name.as_deref(), r.subresource.as_deref()),
            (Some("web"), Some("scale"))
        );
        let r = res("/api/v1/namespaces");
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref()),
            ("namespaces", None)
        );
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (
                r.resource.as_str(),
                r.name.as_deref(),
                r.namespace.as_deref()
            ),
            ("namespaces", Some("kube-system"), None)
        );
        let r = res("/api/v1/namespaces/t/finalize");
        assert_eq!(
            (r.name.as_deref(), r.subresource.as_deref()),
            (Some("t"), Some("finalize"))
        );
        let r = res("/api/v1/namespaces/t/configmaps");
        assert_eq!(
            (r.namespace.as_deref(), r.resource.as_str()),
            (Some("t"), "configmaps")
        );
        let r = res("/api/v1/watch/namespaces/t/configmaps");
        assert!(r.legacy_watch);
    }

    #[test]
    fn discovery_and_openapi_paths() {
        assert_eq!(parse("/api"), Some(ApiPath::CoreRoot));
        assert_eq!(parse("/apis/apps"), Some(ApiPath::Group("apps".into())));
        assert_eq!(
            parse("/apis/apps/v1"),
            Some(ApiPath::GroupVersion {
                group: "apps".into(),
                version: "v1".into()
            })
        );
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Some(ApiPath::OpenApiV3 {
                group: "apps".into(),
                version: "v1".into()
            })
        );
        assert_eq!(parse("/nothing"), None);
        assert_eq!(parse("/api/v1/namespaces/a/b/c/d/e"), None);
    }
}
