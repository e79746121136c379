//! Argo CD `AppProject` and the permission check Argo CD runs before syncing: source
//! repositories, destinations, and cluster/namespace resource allow and deny lists. Violations
//! are worded as Argo CD words them; they become conditions and nothing is applied.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::application::{Application, ApplicationSource, Extra, FieldError};
use crate::cluster::ClusterSecret;
use crate::glob::{go_path_match, gobwas_match};
use crate::meta::ObjectMeta;

/// An AppProject.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProject {
    /// `argoproj.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `AppProject`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What the project's Applications may use.
    #[serde(default)]
    pub spec: AppProjectSpec,
    /// Other fields (`status`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec` of an AppProject.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProjectSpec {
    /// Repository URL globs; `!` denies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_repos: Vec<String>,
    /// Allowed destinations; `!` on a field denies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<ProjectDestination>,
    /// Cluster-scoped kinds allowed (none when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_whitelist: Vec<ResourceRef>,
    /// Cluster-scoped kinds denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_blacklist: Vec<ResourceRef>,
    /// Namespaced kinds allowed: absent allows all, an empty list none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_resource_whitelist: Option<Vec<ResourceRef>>,
    /// Namespaced kinds denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_blacklist: Vec<ResourceRef>,
    /// When automated syncs may run ([`super::sync_windows`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_windows: Vec<super::sync_windows::SyncWindow>,
    /// Namespaces besides Argo CD's own whose Applications may use the project (globs,
    /// or `/regular expressions/`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_namespaces: Vec<String>,
    /// Who syncs to which destination when `argocd-cm` enables sync impersonation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination_service_accounts: Vec<DestinationServiceAccount>,
    /// Only the clusters scoped to this project (cluster Secrets whose `project` names
    /// it) are destinations, whatever `destinations` match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub permit_only_project_scoped_clusters: bool,
    /// Whether the objects of an Application's destination namespace that no app manages
    /// are looked for ([`super::orphans`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orphaned_resources: Option<super::orphans::OrphanedResources>,
    /// Other fields (roles, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl AppProject {
    /// The sync windows that apply to `app` (Argo CD's `SyncWindows.Matches`).
    pub fn sync_windows_of(&self, app: &Application) -> Vec<&super::sync_windows::SyncWindow> {
        self.spec
            .sync_windows
            .iter()
            .filter(|w| w.matches(&app.metadata.name, &app.spec.destination))
            .collect()
    }
}

/// One `destinations[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectDestination {
    /// Server URL glob.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// Cluster name glob.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace glob.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// One `destinationServiceAccounts` entry: the service account syncs to matching
/// destinations impersonate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationServiceAccount {
    /// Server URL glob.
    #[serde(default)]
    pub server: String,
    /// Namespace glob.
    #[serde(default)]
    pub namespace: String,
    /// `name` (in the destination namespace) or `namespace:name`.
    #[serde(default)]
    pub default_service_account: String,
}

/// A `{group, kind}` (and, for cluster lists, optional `name`) pattern.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRef {
    /// API group glob (`""` is the core group).
    #[serde(default)]
    pub group: String,
    /// Kind glob.
    #[serde(default)]
    pub kind: String,
    /// Object name glob (cluster lists only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// Why an Application may not be synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The Application itself breaks the project (an `InvalidSpecError` condition).
    InvalidSpec(String),
    /// A rendered object is not allowed (a sync failure for that object).
    Resource(String),
}

impl Violation {
    /// Argo CD's message.
    pub fn message(&self) -> &str {
        match self {
            Violation::InvalidSpec(m) | Violation::Resource(m) => m,
        }
    }
}

impl AppProject {
    /// Reads an AppProject from YAML or JSON; errors name the field.
    pub fn from_yaml(text: &str) -> Result<Self, FieldError> {
        let value =
            crate::yaml::parse_yaml_or_json(text).map_err(|e| FieldError::new("<document>", e))?;
        let project: AppProject = crate::serde_path::from_value(&value)?;
        if project.metadata.name.is_empty() {
            return Err(FieldError::new("metadata.name", "is required"));
        }
        Ok(project)
    }

    /// The `default` project Argo CD creates: everything allowed.
    pub fn default_project(namespace: &str) -> Self {
        let all = ResourceRef {
            group: "*".into(),
            kind: "*".into(),
            name: String::new(),
        };
        AppProject {
            api_version: "argoproj.io/v1alpha1".into(),
            kind: "AppProject".into(),
            metadata: ObjectMeta {
                name: "default".into(),
                namespace: namespace.into(),
                ..ObjectMeta::default()
            },
            spec: AppProjectSpec {
                source_repos: vec!["*".into()],
                destinations: vec![ProjectDestination {
                    server: "*".into(),
                    name: String::new(),
                    namespace: "*".into(),
                }],
                cluster_resource_whitelist: vec![all],
                ..AppProjectSpec::default()
            },
            extra: Extra::new(),
        }
    }

    /// Argo CD's `IsAppNamespacePermitted`: an Application in the control plane's
    /// namespace (`control_plane`) always may use the project, one elsewhere only when
    /// `sourceNamespaces` names its namespace.
    pub fn is_app_namespace_permitted(&self, app_namespace: &str, control_plane: &str) -> bool {
        app_namespace.is_empty()
            || app_namespace == control_plane
            || crate::glob::match_string_in_list(&self.spec.source_namespaces, app_namespace)
    }

    /// `IsSourcePermitted`: URLs compared normalised, `/` separating glob segments.
    pub fn is_source_permitted(&self, source: &ApplicationSource) -> bool {
        let wanted = normalize_git_url(&source.repo_url);
        let mut any = false;
        for pattern in &self.spec.source_repos {
            let normalized = match pattern.strip_prefix('!') {
                Some(rest) => format!("!{}", normalize_git_url(rest)),
                None => normalize_git_url(pattern),
            };
            if glob_match(&normalized, &wanted, true, true) {
                any = true;
            } else if normalized.starts_with('!') {
                return false;
            }
        }
        any
    }

    /// `isDestinationMatched` for a resolved cluster (name, server) and namespace.
    pub fn is_destination_permitted(&self, name: &str, server: &str, namespace: &str) -> bool {
        let mut any = false;
        for item in &self.spec.destinations {
            let name_matched = !name.is_empty() && glob_match(&item.name, name, true, false);
            let server_matched =
                !server.is_empty() && glob_match(&item.server, server, true, false);
            let namespace_matched = glob_match(&item.namespace, namespace, true, false);
            if (server_matched || name_matched) && namespace_matched {
                any = true;
            } else if (!name_matched && item.name.starts_with('!'))
                || (!server_matched && item.server.starts_with('!')) && namespace_matched
                || !namespace_matched && item.namespace.starts_with('!') && server_matched
            {
                return false;
            }
        }
        any
    }

    /// The clusters scoped to this project: cluster Secrets whose `project` is its name
    /// (`GetProjectClusters`).
    fn project_clusters<'c>(&self, clusters: &'c [ClusterSecret]) -> Vec<&'c ClusterSecret> {
        clusters
            .iter()
            .filter(|c| c.project.as_deref() == Some(self.metadata.name.as_str()))
            .collect()
    }

    /// The project as Argo CD's controller reads it (`GetAppProjectByName`): each cluster
    /// scoped to it added to its destinations, for every namespace or for those the
    /// cluster lists.
    pub fn with_project_clusters(&self, clusters: &[ClusterSecret]) -> AppProject {
        let mut project = self.clone();
        for cluster in self.project_clusters(clusters) {
            let namespaces: Vec<&str> = if cluster.namespaces.is_empty() {
                vec!["*"]
            } else {
                cluster.namespaces.iter().map(String::as_str).collect()
            };
            for namespace in namespaces {
                project.spec.destinations.push(ProjectDestination {
                    server: cluster.server.clone(),
                    namespace: namespace.to_string(),
                    ..Default::default()
                });
            }
        }
        project
    }

    /// `IsDestinationPermitted` with the project's clusters (see
    /// [`with_project_clusters`](Self::with_project_clusters)): a destination its
    /// `destinations` then match, and with `permitOnlyProjectScopedClusters` one of the
    /// clusters scoped to it (by name or server).
    fn destination_check<'c>(
        &self,
        clusters: &'c [ClusterSecret],
    ) -> impl Fn(&str, &str, &str) -> bool + 'c {
        let scoped = self.with_project_clusters(clusters);
        let only: Option<Vec<&'c ClusterSecret>> = self
            .spec
            .permit_only_project_scoped_clusters
            .then(|| self.project_clusters(clusters));
        move |name: &str, server: &str, namespace: &str| {
            scoped.is_destination_permitted(name, server, namespace)
                && only
                    .as_ref()
                    .is_none_or(|own| own.iter().any(|c| c.name == name || c.server == server))
        }
    }

    /// The user a sync of `app` to the cluster at `server` impersonates, as Argo CD's
    /// `DeriveServiceAccountToImpersonate`: the first `destinationServiceAccounts` entry
    /// whose server and namespace globs match, as `system:serviceaccount:<ns>:<name>`
    /// (the namespace the destination's, else the app's, unless the entry names one);
    /// `None` when no entry matches; an error for a bad glob or account name.
    pub fn service_account_to_impersonate(
        &self,
        app: &Application,
        server: &str,
    ) -> Result<Option<String>, String> {
        let destination_namespace = app.spec.destination.namespace.as_str();
        let account_namespace = if destination_namespace.is_empty() {
            app.metadata.namespace.as_str()
        } else {
            destination_namespace
        };
        for item in &self.spec.destination_service_accounts {
            let server_matched = crate::glob::gobwas_try_match(&item.server, server, false)
                .map_err(|e| format!("invalid glob pattern for destination server: {e}"))?;
            let namespace_matched =
                crate::glob::gobwas_try_match(&item.namespace, destination_namespace, false)
                    .map_err(|e| format!("invalid glob pattern for destination namespace: {e}"))?;
            if !(server_matched && namespace_matched) {
                continue;
            }
            let account = &item.default_service_account;
            if account.trim_matches(' ').is_empty()
                || account.contains(['!', '*', '[', ']', '{', '}', '\\', '/'])
            {
                return Err(format!(
                    "default service account contains invalid chars '{account}'"
                ));
            }
            return Ok(Some(if account.contains(':') {
                format!("system:serviceaccount:{account}")
            } else {
                format!("system:serviceaccount:{account_namespace}:{account}")
            }));
        }
        Ok(None)
    }

    /// `IsGroupKindNamePermitted`.
    pub fn is_group_kind_permitted(
        &self,
        group: &str,
        kind: &str,
        name: &str,
        namespaced: bool,
    ) -> bool {
        let spec = &self.spec;
        if namespaced {
            let allowed = match &spec.namespace_resource_whitelist {
                None => true,
                Some(list) => !list.is_empty() && in_list(group, kind, None, list),
            };
            let denied = in_list(group, kind, None, &spec.namespace_resource_blacklist);
            return allowed && !denied;
        }
        let allowed = in_list(group, kind, Some(name), &spec.cluster_resource_whitelist);
        let denied = in_list(group, kind, Some(name), &spec.cluster_resource_blacklist);
        allowed && !denied
    }

    /// The Application's source repositories the project does not permit (checked before
    /// any of them is read).
    pub fn check_sources(&self, app: &Application) -> Vec<Violation> {
        let project = &self.metadata.name;
        app.spec
            .effective_sources()
            .into_iter()
            .filter(|source| !self.is_source_permitted(source))
            .map(|source| {
                Violation::InvalidSpec(format!(
                    "application repo {} is not permitted in project '{project}'",
                    source.repo_url
                ))
            })
            .collect()
    }

    /// Checks an Application and its rendered objects against the project, as Argo CD does
    /// before a sync (`ValidatePermissions`, then each object's permission). `namespaced`
    /// says whether a kind is namespaced (`None`: unknown). An empty result means permitted.
    pub fn check(
        &self,
        app: &Application,
        objects: &[Value],
        clusters: &[ClusterSecret],
        namespaced: &dyn Fn(&str, &str) -> Option<bool>,
    ) -> Vec<Violation> {
        let project = &self.metadata.name;
        let mut out = self.check_sources(app);
        let dest = &app.spec.destination;
        let destination_permitted = self.destination_check(clusters);
        let Some((cluster_name, cluster_server)) = resolve_cluster(dest, clusters) else {
            let message = if dest.name.is_empty() {
                format!(
                    "error getting cluster by server {:?}: rpc error: code = NotFound desc = cluster {:?} not found",
                    dest.server,
                    dest.server.trim_end_matches('/')
                )
            } else {
                format!("there are no clusters with this name: {}", dest.name)
            };
            out.push(Violation::InvalidSpec(message));
            return out;
        };
        if !destination_permitted(&cluster_name, &cluster_server, &dest.namespace) {
            let shown = if dest.name.is_empty() {
                &cluster_server
            } else {
                &cluster_name
            };
            out.push(Violation::InvalidSpec(format!(
                "application destination server '{shown}' and namespace '{}' do not match any of the allowed destinations in project '{project}'",
                dest.namespace
            )));
        }
        for object in objects {
            let api_version = object
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            let meta = object.get("metadata");
            let name = meta
                .and_then(|m| m.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let own_namespace = meta
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let is_namespaced = namespaced(api_version, kind).unwrap_or(!own_namespace.is_empty());
            if !self.is_group_kind_permitted(group, kind, name, is_namespaced) {
                out.push(Violation::Resource(format!(
                    "resource {group}:{kind} is not permitted in project {project}"
                )));
                continue;
            }
            if is_namespaced {
                let namespace = if own_namespace.is_empty() {
                    dest.namespace.as_str()
                } else {
                    own_namespace
                };
                if !destination_permitted(&cluster_name, &cluster_server, namespace) {
                    out.push(Violation::Resource(format!(
                        "namespace {namespace} is not permitted in project '{project}'"
                    )));
                }
            }
        }
        out
    }
}

/// Whether a kind is namespaced according to the built-in Kubernetes catalog.
pub fn builtin_namespaced(api_version: &str, kind: &str) -> Option<bool> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    flotilla_schema::builtin()
        .scope(group, version, kind)
        .map(|s| s == flotilla_schema::Scope::Namespaced)
}

fn resolve_cluster(
    dest: &super::application::ApplicationDestination,
    clusters: &[ClusterSecret],
) -> Option<(String, String)> {
    let known = crate::cluster::known_clusters(clusters);
    if !dest.name.is_empty() {
        let mut matching = known.into_iter().filter(|(n, _)| *n == dest.name);
        let first = matching.next()?;
        return if matching.next().is_some() {
            None
        } else {
            Some(first)
        };
    }
    let server = dest.server.trim_end_matches('/');
    known
        .into_iter()
        .find(|(_, s)| s.trim_end_matches('/') == server)
}

/// `globMatch`: `!` negates, `*` alone matches everything.
fn glob_match(pattern: &str, value: &str, allow_negation: bool, slash_separates: bool) -> bool {
    if allow_negation && let Some(rest) = pattern.strip_prefix('!') {
        return !gobwas_match(rest, value, slash_separates);
    }
    pattern == "*" || gobwas_match(pattern, value, slash_separates)
}

fn in_list(group: &str, kind: &str, name: Option<&str>, list: &[ResourceRef]) -> bool {
    list.iter().any(|item| {
        go_path_match(&item.kind, kind) == Ok(true)
            && go_path_match(&item.group, group) == Ok(true)
            && match name {
                Some(name) if !item.name.is_empty() => go_path_match(&item.name, name) == Ok(true),
                _ => true,
            }
    })
}

/// `NormalizeGitURL`: lower-case, `git@host:org/repo` as `git@host/org/repo`, no `.git`.
pub fn normalize_git_url(url: &str) -> String {
    let mut repo = url.trim().to_lowercase();
    let is_ssh = {
        let body = repo.strip_prefix("ssh://").unwrap_or(&repo);
        body.split_once('@').is_some_and(|(user, rest)| {
            !user.contains('/') && !user.contains(':') && !rest.contains('@')
        })
    };
    if is_ssh && !repo.starts_with("ssh://") {
        repo = format!("ssh://{}", repo.replacen(':', "/", 1));
    }
    let repo = repo.strip_suffix(".git").unwrap_or(&repo).to_string();
    repo.strip_prefix("ssh://")
        .map(str::to_string)
        .unwrap_or(repo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project(spec: Value) -> AppProject {
        serde_json::from_value(json!({"metadata": {"name": "team"}, "spec": spec})).unwrap()
    }

    fn app(repo: &str, server: &str, namespace: &str) -> Application {
        serde_json::from_value(json!({
            "metadata": {"name": "a"},
            "spec": {"project": "team", "source": {"repoURL": repo},
                     "destination": {"server": server, "namespace": namespace}}
        }))
        .unwrap()
    }

    fn kube_scope(api_version: &str, kind: &str) -> Option<bool> {
        builtin_namespaced(api_version, kind)
    }

    #[test]
    fn source_repos_with_globs_and_negation() {
        let p = project(
            json!({"sourceRepos": ["https://github.com/org/*", "!https://github.com/org/secret"]}),
        );
        let src = |u: &str| ApplicationSource {
            repo_url: u.into(),
            ..Default::default()
        };
        assert!(p.is_source_permitted(&src("https://github.com/org/app.git")));
        assert!(p.is_source_permitted(&src("https://GitHub.com/org/app")));
        assert!(!p.is_source_permitted(&src("https://github.com/org/secret")));
        // Upstream counts a deny pattern that does not match as a match, so a list with a
        // deny entry permits every other repository.
        assert!(p.is_source_permitted(&src("https://github.com/other/app")));
        let allow_only = project(json!({"sourceRepos": ["https://github.com/org/*"]}));
        assert!(!allow_only.is_source_permitted(&src("https://github.com/other/app")));
        assert!(!allow_only.is_source_permitted(&src("https://github.com/org/a/b")));
        assert_eq!(
            normalize_git_url("git@github.com:org/repo.git"),
            "git@github.com/org/repo"
        );
    }

    #[test]
    fn destinations_and_resources_worded_like_argo() {
        let p = project(json!({
            "sourceRepos": ["*"],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "team-*"}],
            "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}]
        }));
        let ok = app("https://git/x", "https://kubernetes.default.svc", "team-a");
        let objects = vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "admin"}}),
            json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "kube-system"}}),
        ];
        let violations: Vec<String> = p
            .check(&ok, &objects, &[], &kube_scope)
            .iter()
            .map(|v| v.message().to_string())
            .collect();
        assert_eq!(
            violations,
            [
                "resource rbac.authorization.k8s.io:ClusterRoleBinding is not permitted in project team",
                "resource :ResourceQuota is not permitted in project team",
                "namespace kube-system is not permitted in project 'team'",
            ]
        );
        let bad = app("https://git/x", "https://kubernetes.default.svc", "default");
        assert_eq!(
            p.check(&bad, &[], &[], &kube_scope),
            [Violation::InvalidSpec(
                "application destination server 'https://kubernetes.default.svc' and namespace 'default' do not match any of the allowed destinations in project 'team'".into()
            )]
        );
        let unknown = app("https://git/x", "https://nowhere", "team-a");
        assert_eq!(
            p.check(&unknown, &[], &[], &kube_scope)[0].message(),
            "error getting cluster by server \"https://nowhere\": rpc error: code = NotFound desc = cluster \"https://nowhere\" not found"
        );
    }

    /// Project-scoped clusters (`GetAppProjectByName`, `IsDestinationPermitted`): a
    /// cluster Secret naming the project is one of its destinations — in every namespace,
    /// or in those it lists — and `permitOnlyProjectScopedClusters` leaves only those.
    #[test]
    fn clusters_scoped_to_the_project_are_its_destinations() {
        let cluster = |name: &str, project: Option<&str>, namespaces: Option<&str>| {
            let mut data = json!({"name": name, "server": format!("https://{name}")});
            if let Some(p) = project {
                data["project"] = json!(p);
            }
            if let Some(n) = namespaces {
                data["namespaces"] = json!(n);
            }
            ClusterSecret::from_secret(&json!({"metadata": {"name": name}, "stringData": data}))
                .unwrap()
        };
        let clusters = vec![
            cluster("east", Some("team"), None),
            cluster("west", Some("team"), Some("web,api")),
            cluster("shared", None, None),
            cluster("other", Some("elsewhere"), None),
        ];
        let denied = |p: &AppProject, server: &str, namespace: &str| {
            let a = app("https://git/x", server, namespace);
            !p.check(&a, &[], &clusters, &kube_scope).is_empty()
        };
        let bare = project(json!({"sourceRepos": ["*"]}));
        assert!(!denied(&bare, "https://east", "anything"));
        assert!(!denied(&bare, "https://west", "api"));
        assert!(
            denied(&bare, "https://west", "db"),
            "only the namespaces it lists"
        );
        assert!(denied(&bare, "https://shared", "web"));
        assert!(
            denied(&bare, "https://other", "web"),
            "another project's cluster"
        );

        let open = project(json!({"sourceRepos": ["*"],
                                  "destinations": [{"server": "*", "namespace": "*"}]}));
        assert!(!denied(&open, "https://shared", "web"));
        let mut only = open.clone();
        only.spec.permit_only_project_scoped_clusters = true;
        assert!(!denied(&only, "https://east", "web"));
        assert!(denied(&only, "https://shared", "web"));
        assert!(denied(&only, "https://other", "web"));
        let objects = [json!({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "c", "namespace": "db"}})];
        assert_eq!(
            bare.check(
                &app("https://git/x", "https://west", "web"),
                &objects,
                &clusters,
                &kube_scope
            )
            .iter()
            .map(|v| v.message().to_string())
            .collect::<Vec<_>>(),
            ["namespace db is not permitted in project 'team'"],
            "an object's own namespace is checked the same way"
        );
    }

    /// `DeriveServiceAccountToImpersonate`'s cases: first match wins, the account's
    /// namespace, invalid names and globs.
    #[test]
    fn the_service_account_a_sync_impersonates() {
        let p = project(json!({"destinationServiceAccounts": [
            {"server": "https://east", "namespace": "team-*", "defaultServiceAccount": "deployer"},
            {"server": "https://east", "namespace": "ops", "defaultServiceAccount": "infra:admin"},
            {"server": "*", "namespace": "*", "defaultServiceAccount": "fallback"},
        ]}));
        let derive = |p: &AppProject, server: &str, namespace: &str| {
            p.service_account_to_impersonate(&app("https://git/x", server, namespace), server)
        };
        assert_eq!(
            derive(&p, "https://east", "team-a"),
            Ok(Some("system:serviceaccount:team-a:deployer".into()))
        );
        assert_eq!(
            derive(&p, "https://east", "ops"),
            Ok(Some("system:serviceaccount:infra:admin".into()))
        );
        assert_eq!(
            derive(&p, "https://west", "web"),
            Ok(Some("system:serviceaccount:web:fallback".into()))
        );
        let none = project(json!({"destinationServiceAccounts": [
            {"server": "https://east", "namespace": "team-*", "defaultServiceAccount": "deployer"}]}));
        assert_eq!(derive(&none, "https://west", "web"), Ok(None));
        let bad = project(json!({"destinationServiceAccounts": [
            {"server": "*", "namespace": "*", "defaultServiceAccount": "a/b"}]}));
        assert_eq!(
            derive(&bad, "https://east", "web"),
            Err("default service account contains invalid chars 'a/b'".into())
        );
        let bad_glob = project(json!({"destinationServiceAccounts": [
            {"server": "[", "namespace": "*", "defaultServiceAccount": "a"}]}));
        assert!(
            derive(&bad_glob, "https://east", "web")
                .unwrap_err()
                .starts_with("invalid glob pattern for destination server")
        );
    }

    #[test]
    fn repo_not_permitted() {
        let p = project(json!({"sourceRepos": ["https://github.com/org/*"],
                               "destinations": [{"server": "*", "namespace": "*"}]}));
        let a = app(
            "https://gitlab.com/x/y",
            "https://kubernetes.default.svc",
            "a",
        );
        assert_eq!(
            p.check(&a, &[], &[], &kube_scope)[0].message(),
            "application repo https://gitlab.com/x/y is not permitted in project 'team'"
        );
    }

    #[test]
    fn default_project_allows_cluster_scoped() {
        let p = AppProject::default_project("argocd");
        assert!(p.is_group_kind_permitted("rbac.authorization.k8s.io", "ClusterRole", "x", false));
        let empty = project(json!({}));
        assert!(!empty.is_group_kind_permitted(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "x",
            false
        ));
        assert!(empty.is_group_kind_permitted("", "ConfigMap", "x", true));
        let none = project(json!({"namespaceResourceWhitelist": []}));
        assert!(!none.is_group_kind_permitted("", "ConfigMap", "x", true));
    }
}
