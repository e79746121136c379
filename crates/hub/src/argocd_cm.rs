//! Argo CD's `argocd-cm` settings that change how Applications compare: the system-wide
//! `resource.customizations.ignoreDifferences.<group_kind>` (and `.all`) keys, read as
//! Argo CD's `appendResourceOverridesFromSplitKeys` reads them, kept current by a watch
//! and added to every Application's own `ignoreDifferences`; and the Lua health checks
//! (`resource.customizations.health.<group_kind>`, `.useOpenLibs.<group_kind>`), put in
//! force for every health assessment of the hub.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use flotilla_core::glob;
use flotilla_sync::health::lua::{HealthScript, HealthScripts};
use flotilla_sync::ignore::IgnoreRule;
use flotilla_sync::tracking::Tracking;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

/// The ConfigMap's name.
pub const ARGOCD_CM: &str = "argocd-cm";

const IGNORE_DIFFERENCES: &str = "resource.customizations.ignoreDifferences.";
const HEALTH: &str = "resource.customizations.health.";
const EXCLUSIONS: &str = "resource.exclusions";
const INCLUSIONS: &str = "resource.inclusions";

/// One `resource.exclusions`/`resource.inclusions` entry (Argo CD's `FilteredResource`):
/// every list empty matches everything; `apiGroups` and `clusters` are globs, `kinds`
/// exact names or `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FilteredResource {
    /// API groups (`""` the core group).
    pub api_groups: Vec<String>,
    /// Kinds.
    pub kinds: Vec<String>,
    /// Cluster server URLs.
    pub clusters: Vec<String>,
}

impl FilteredResource {
    fn match_cluster(&self, cluster: &str) -> bool {
        self.clusters.is_empty() || self.clusters.iter().any(|c| glob::matches(c, cluster))
    }

    fn matches(&self, group: &str, kind: &str, cluster: &str) -> bool {
        (self.api_groups.is_empty() || self.api_groups.iter().any(|g| glob::matches(g, group)))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == "*" || k == kind))
            && self.match_cluster(cluster)
    }
}

/// Argo CD's `ResourcesFilter`: which kinds Argo CD never manages on a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceFilter {
    /// `resource.exclusions`.
    pub exclusions: Vec<FilteredResource>,
    /// `resource.inclusions`.
    pub inclusions: Vec<FilteredResource>,
}

impl ResourceFilter {
    /// `IsExcludedResource`: Argo CD's core exclusions (Events, `events.k8s.io`,
    /// `metrics.k8s.io`, Leases) and `resource.exclusions` exclude; then `inclusions`
    /// include; a cluster some inclusion names excludes the rest.
    pub fn excludes(&self, group: &str, kind: &str, cluster: &str) -> bool {
        let core = [
            FilteredResource {
                api_groups: vec!["events.k8s.io".into(), "metrics.k8s.io".into()],
                ..FilteredResource::default()
            },
            FilteredResource {
                api_groups: vec![String::new()],
                kinds: vec!["Event".into()],
                ..FilteredResource::default()
            },
            FilteredResource {
                api_groups: vec!["coordination.k8s.io".into()],
                kinds: vec!["Lease".into()],
                ..FilteredResource::default()
            },
        ];
        if core
            .iter()
            .chain(&self.exclusions)
            .any(|r| r.matches(group, kind, cluster))
        {
            return true;
        }
        if self
            .inclusions
            .iter()
            .any(|r| r.matches(group, kind, cluster))
        {
            return false;
        }
        self.inclusions.iter().any(|r| r.match_cluster(cluster))
    }
}

/// `resource.exclusions` and `resource.inclusions` of `data`, and what could not be read.
pub fn resource_filter(data: &BTreeMap<String, String>) -> (ResourceFilter, Vec<String>) {
    let mut filter = ResourceFilter::default();
    let mut problems = Vec::new();
    for (key, list) in [
        (INCLUSIONS, &mut filter.inclusions),
        (EXCLUSIONS, &mut filter.exclusions),
    ] {
        if let Some(value) = data.get(key) {
            match serde_saphyr::from_str::<Vec<FilteredResource>>(value) {
                Ok(read) => *list = read,
                Err(e) => problems.push(format!("{ARGOCD_CM} key {key}: {e}")),
            }
        }
    }
    (filter, problems)
}

/// What [`run`] keeps current: the system-wide ignore rules and the resource filter.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `resource.customizations.ignoreDifferences.*`.
    pub ignore: Arc<RwLock<Vec<IgnoreRule>>>,
    /// `resource.exclusions` and `resource.inclusions`.
    pub filter: Arc<RwLock<ResourceFilter>>,
    /// `kustomize.buildOptions`: the flags Argo CD passes to `kustomize build`, as
    /// written (checked when a kustomize source is rendered, so that a bad option fails
    /// those Applications by name and nothing else).
    pub kustomize_build_options: Arc<RwLock<String>>,
    /// The kustomize versions `argocd-cm` registers (`kustomize.version.<v>` and
    /// `kustomize.path.<v>`), which `spec.source.kustomize.version` must name; an error
    /// when a version is registered twice (Argo CD then compares no app at all).
    pub kustomize_versions: Arc<RwLock<Result<BTreeSet<String>, String>>>,
    /// `application.sync.impersonation.enabled` (`"true"`) and `…enforced` (anything but
    /// `"false"`, the default on): syncs impersonate their project's
    /// `destinationServiceAccounts`.
    pub impersonation: Arc<RwLock<Impersonation>>,
    /// `cluster.inClusterEnabled` (anything but `"false"`): whether the hub itself,
    /// `https://kubernetes.default.svc` or `in-cluster`, is a destination.
    pub in_cluster_enabled: Arc<std::sync::atomic::AtomicBool>,
    /// `application.resourceTrackingMethod`, `application.instanceLabelKey` and
    /// `installationID`: how applied objects name their Application.
    pub tracking: Arc<RwLock<Tracking>>,
    /// `timeout.reconciliation`: how often every Application is compared again (Argo
    /// CD's install hands it to the controller as `ARGOCD_RECONCILIATION_TIMEOUT`);
    /// `None` when unset or unreadable.
    pub reconciliation_timeout: Arc<RwLock<Option<std::time::Duration>>>,
    /// Counts the changes of `argocd-cm`: an app judged settled under other settings is
    /// compared again.
    pub version: Arc<std::sync::atomic::AtomicU64>,
}

impl Settings {
    /// Which `argocd-cm` the settings come from (see [`Settings::version`]).
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `timeout.reconciliation` as last read (`None`: unset or unreadable).
    pub fn reconciliation_timeout(&self) -> Option<std::time::Duration> {
        *self
            .reconciliation_timeout
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sync impersonation as last read.
    pub fn impersonation(&self) -> Impersonation {
        *self.impersonation.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The resource tracking settings, as last read.
    pub fn tracking(&self) -> Tracking {
        self.tracking
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether the in-cluster destination is enabled, as last read.
    pub fn in_cluster_enabled(&self) -> bool {
        self.in_cluster_enabled
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `kustomize.buildOptions` as last read.
    pub fn kustomize_build_options(&self) -> String {
        self.kustomize_build_options
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The registered kustomize versions as last read (see [`Settings::kustomize_versions`]).
    pub fn kustomize_versions(&self) -> Result<BTreeSet<String>, String> {
        self.kustomize_versions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            ignore: Arc::default(),
            filter: Arc::default(),
            kustomize_build_options: Arc::default(),
            kustomize_versions: Arc::new(RwLock::new(Ok(BTreeSet::new()))),
            in_cluster_enabled: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            impersonation: Arc::default(),
            tracking: Arc::default(),
            reconciliation_timeout: Arc::default(),
            version: Arc::default(),
        }
    }
}

/// The `argocd-cm` key prefixes that register a kustomize version by its binary
/// (`kustomize.version.<v>`, and the older `kustomize.path.<v>`).
const KUSTOMIZE_VERSION_PREFIXES: [&str; 2] = ["kustomize.version", "kustomize.path"];

/// The kustomize versions `data` registers, read as Argo CD's `GetKustomizeSettings`
/// reads them: any key starting with a prefix (the version is what follows the prefix and
/// one more character), a version registered twice an error. Flotilla builds with its own
/// kustomize whatever binary is named; the registration only decides which
/// `spec.source.kustomize.version` values are accepted.
pub fn kustomize_versions(data: &BTreeMap<String, String>) -> Result<BTreeSet<String>, String> {
    let mut versions = BTreeSet::new();
    for key in data.keys() {
        for prefix in KUSTOMIZE_VERSION_PREFIXES {
            if !key.starts_with(prefix) {
                continue;
            }
            // Argo CD slices past the prefix and its dot (and panics on the bare prefix).
            let Some(version) = key.get(prefix.len() + 1..) else {
                continue;
            };
            if !versions.insert(version.to_string()) {
                return Err(format!(
                    "failed to add kustomize version from {key:?}: found duplicate kustomize version: {version}"
                ));
            }
        }
    }
    Ok(versions)
}

/// The `argocd-cm` key holding `kustomize build`'s extra flags.
pub const KUSTOMIZE_BUILD_OPTIONS: &str = "kustomize.buildOptions";
const USE_OPEN_LIBS: &str = "resource.customizations.useOpenLibs.";

/// The Lua health checks of `data`, keyed as Argo CD keys them (`group/Kind`, `Kind` for
/// the core group, globs kept), and what could not be read.
pub fn health_scripts(data: &BTreeMap<String, String>) -> (HealthScripts, Vec<String>) {
    let mut scripts = HealthScripts::default();
    let mut problems = Vec::new();
    for (key, value) in data {
        let Some(group_kind) = key.strip_prefix(HEALTH) else {
            continue;
        };
        let (group, kind) = match override_key(group_kind) {
            Ok(found) => found,
            Err(reason) => {
                problems.push(format!("{ARGOCD_CM} key {key}: {reason}"));
                continue;
            }
        };
        let open_libs_key = format!("{USE_OPEN_LIBS}{group_kind}");
        let use_open_libs = match data.get(&open_libs_key).map(|v| v.trim()) {
            None => false,
            Some(flag) => match flag.parse::<bool>() {
                Ok(on) => on,
                Err(_) => {
                    problems.push(format!(
                        "{ARGOCD_CM} key {open_libs_key}: {flag:?} is not true or false"
                    ));
                    false
                }
            },
        };
        let key = if group.is_empty() {
            kind
        } else {
            format!("{group}/{kind}")
        };
        scripts.insert(
            key,
            HealthScript {
                script: value.clone(),
                use_open_libs,
            },
        );
    }
    (scripts, problems)
}

/// The system-wide ignore rules of `data` (the ConfigMap's data), and what could not be
/// read, naming the key and the reason.
pub fn ignore_rules(data: &BTreeMap<String, String>) -> (Vec<IgnoreRule>, Vec<String>) {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    if data.contains_key("resource.customizations") {
        problems.push(format!(
            "{ARGOCD_CM}: the single `resource.customizations` key is not read; write one \
             `resource.customizations.ignoreDifferences.<group_kind>` key per kind"
        ));
    }
    for (key, value) in data {
        let Some(group_kind) = key.strip_prefix(IGNORE_DIFFERENCES) else {
            continue;
        };
        let (group, kind) = match override_key(group_kind) {
            Ok(found) => found,
            Err(reason) => {
                problems.push(format!("{ARGOCD_CM} key {key}: {reason}"));
                continue;
            }
        };
        let parsed: Result<IgnoreRule, _> = serde_saphyr::from_str(value);
        match parsed {
            Ok(mut rule) => {
                rule.group = Some(group);
                rule.kind = kind;
                rule.name = None;
                rule.namespace = None;
                match rule.validate() {
                    Ok(()) => rules.push(rule),
                    Err(e) => problems.push(format!("{ARGOCD_CM} key {key}: {e}")),
                }
            }
            Err(e) => problems.push(format!("{ARGOCD_CM} key {key}: {e}")),
        }
    }
    (rules, problems)
}

/// `(group, kind)` of a key's `<group_kind>` part, as Argo CD's `convertToOverrideKey`
/// reads it: `apps_Deployment`, `Service` (the core group), `all` (every kind).
fn override_key(group_kind: &str) -> Result<(String, String), String> {
    if group_kind == "all" {
        return Ok(("*".into(), "*".into()));
    }
    let parts: Vec<&str> = group_kind.split('_').collect();
    match parts.as_slice() {
        [group, kind] => Ok((group.to_string(), kind.to_string())),
        [kind] if !kind.is_empty() => Ok((String::new(), kind.to_string())),
        _ => Err(format!(
            "group kind should be in format `resource.customizations.<type>.<group_kind>` or \
             `resource.customizations.<type>.<kind>`, got group kind: '{group_kind}'"
        )),
    }
}

/// Argo CD's sync impersonation settings (`IsImpersonationEnabled`,
/// `IsImpersonationEnforced`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Impersonation {
    /// Syncs impersonate the service account their project names for the destination.
    pub enabled: bool,
    /// Without such an account a sync fails (else it runs as the hub).
    pub enforced: bool,
}

impl Impersonation {
    /// The settings of `argocd-cm`'s `data`: enabled only by `"true"`, enforced unless
    /// `"false"`.
    pub fn of(data: &BTreeMap<String, String>) -> Impersonation {
        Impersonation {
            enabled: data
                .get("application.sync.impersonation.enabled")
                .is_some_and(|v| v == "true"),
            enforced: data
                .get("application.sync.impersonation.enforced")
                .is_none_or(|v| v != "false"),
        }
    }
}

/// Argo CD's resource tracking settings (`GetTrackingMethod`, `GetAppInstanceLabelKey`,
/// `GetInstallationID`).
pub fn tracking(data: &BTreeMap<String, String>) -> Tracking {
    let get = |key: &str| data.get(key).map(String::as_str);
    Tracking::from_settings(
        get("application.resourceTrackingMethod"),
        get("application.instanceLabelKey"),
        get("installationID"),
    )
}

/// `cluster.inClusterEnabled`: Argo CD's `IsInClusterEnabled` — only `"false"` disables.
pub fn in_cluster_enabled(data: &BTreeMap<String, String>) -> bool {
    data.get("cluster.inClusterEnabled").map(String::as_str) != Some("false")
}

/// `resource.compareoptions`: how Argo CD's diff treats some fields everywhere. Its
/// `ignoreResourceStatusField` and `ignoreDifferencesOnResourceUpdates` are read and
/// need nothing: Flotilla's comparison is a server-side dry run of the fields the app
/// applies, so no `status` is ever compared, and its drift watches never count a change
/// of ignored fields alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompareOptions {
    /// The `rules` of a ClusterRole with an `aggregationRule` are the aggregation
    /// controller's: no difference, no drift.
    pub ignore_aggregated_roles: bool,
}

impl CompareOptions {
    /// The system-wide ignore rules these options amount to.
    pub fn ignore_rules(&self) -> Vec<IgnoreRule> {
        if !self.ignore_aggregated_roles {
            return Vec::new();
        }
        vec![IgnoreRule {
            group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            jq_path_expressions: vec![AGGREGATED_ROLE_RULES.into()],
            ..Default::default()
        }]
    }
}

/// The `rules` of an aggregated ClusterRole, as a jq path expression.
const AGGREGATED_ROLE_RULES: &str = "select(.aggregationRule != null) | .rules";

/// `resource.compareoptions` (YAML); unset is Argo CD's defaults. YAML that does not
/// read is a problem and leaves the defaults, as Argo CD's settings then fail to load.
pub fn compare_options(data: &BTreeMap<String, String>) -> Result<CompareOptions, String> {
    let Some(text) = data.get(COMPARE_OPTIONS) else {
        return Ok(CompareOptions::default());
    };
    let value: serde_json::Value = serde_saphyr::from_str(text)
        .map_err(|e| format!("{ARGOCD_CM} key {COMPARE_OPTIONS}: {e}"))?;
    let flag = |name: &str| match value.get(name) {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!(
            "{ARGOCD_CM} key {COMPARE_OPTIONS}: {name}: {other} is not a boolean"
        )),
    };
    Ok(CompareOptions {
        ignore_aggregated_roles: flag("ignoreAggregatedRoles")?,
    })
}

/// The `argocd-cm` key of the diff's options.
pub const COMPARE_OPTIONS: &str = "resource.compareoptions";

/// `timeout.reconciliation` read as Go's `time.ParseDuration` (`180s`, `5m`, `0`); an
/// unreadable value is logged and left out, as Argo CD falls back to its default.
pub fn reconciliation_timeout(data: &BTreeMap<String, String>) -> Option<std::time::Duration> {
    let text = data.get(RECONCILIATION_TIMEOUT)?.trim();
    let parsed = match text {
        "0" => Some(std::time::Duration::ZERO),
        _ => flotilla_fleet::flux::parse_duration(text, true),
    };
    if parsed.is_none() {
        tracing::warn!(value = %text, "argocd-cm: {RECONCILIATION_TIMEOUT} is not a duration; the default applies");
    }
    parsed
}

/// The `argocd-cm` key of the periodic comparison's period.
pub const RECONCILIATION_TIMEOUT: &str = "timeout.reconciliation";

/// Keeps `settings` (and the health checks) equal to `argocd-cm`'s in `namespace` (none
/// when it is missing).
pub async fn run(hub: kube::Client, namespace: String, settings: Settings) {
    let api: Api<ConfigMap> = Api::namespaced(hub, &namespace);
    let mut events = std::pin::pin!(crate::controller::watch_named(api, ARGOCD_CM));
    while let Some(seen) = events.next().await {
        let data = seen.and_then(|cm| cm.data).unwrap_or_default();
        let (mut read, mut problems) = ignore_rules(&data);
        match compare_options(&data) {
            Ok(options) => read.extend(options.ignore_rules()),
            Err(problem) => problems.push(problem),
        }
        let (scripts, script_problems) = health_scripts(&data);
        problems.extend(script_problems);
        let (filter, filter_problems) = resource_filter(&data);
        problems.extend(filter_problems);
        *settings.filter.write().unwrap_or_else(|e| e.into_inner()) = filter;
        *settings
            .kustomize_build_options
            .write()
            .unwrap_or_else(|e| e.into_inner()) = data
            .get(KUSTOMIZE_BUILD_OPTIONS)
            .cloned()
            .unwrap_or_default();
        let versions = kustomize_versions(&data);
        if let Err(problem) = &versions {
            problems.push(problem.clone());
        }
        *settings
            .kustomize_versions
            .write()
            .unwrap_or_else(|e| e.into_inner()) = versions;
        for problem in problems {
            tracing::warn!(%problem, "argocd-cm");
        }
        *settings
            .impersonation
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Impersonation::of(&data);
        *settings.tracking.write().unwrap_or_else(|e| e.into_inner()) = tracking(&data);
        *settings
            .reconciliation_timeout
            .write()
            .unwrap_or_else(|e| e.into_inner()) = reconciliation_timeout(&data);
        settings.in_cluster_enabled.store(
            in_cluster_enabled(&data),
            std::sync::atomic::Ordering::Relaxed,
        );
        *settings.ignore.write().unwrap_or_else(|e| e.into_inner()) = read;
        flotilla_sync::health::set_health_scripts(scripts);
        // Apps judged settled under the old settings are compared again.
        settings
            .version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `resource.compareoptions`' `ignoreAggregatedRoles`: the `rules` of a ClusterRole
    /// with an `aggregationRule` are left out of the comparison; a plain one's are
    /// compared; the other options read without changing anything; bad YAML is named.
    #[test]
    fn aggregated_roles_rules_are_ignored_when_asked() {
        let options = |text: &str| {
            compare_options(&BTreeMap::from([(
                COMPARE_OPTIONS.to_string(),
                text.to_string(),
            )]))
        };
        assert_eq!(
            compare_options(&BTreeMap::new()),
            Ok(CompareOptions::default())
        );
        let on = options("ignoreAggregatedRoles: true\nignoreResourceStatusField: off\n").unwrap();
        assert!(on.ignore_aggregated_roles);
        assert!(
            !options("ignoreResourceStatusField: crd\n")
                .unwrap()
                .ignore_aggregated_roles
        );
        assert!(
            options("ignoreAggregatedRoles: [")
                .unwrap_err()
                .contains(COMPARE_OPTIONS)
        );
        assert!(
            options("ignoreAggregatedRoles: sometimes")
                .unwrap_err()
                .contains("not a boolean")
        );

        let rules = on.ignore_rules();
        let role = |aggregated: bool| {
            let mut role = serde_json::json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "monitoring"},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
            });
            if aggregated {
                role["aggregationRule"] = serde_json::json!({"clusterRoleSelectors": [
                    {"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]});
            }
            role
        };
        for (aggregated, ignored) in [(true, 1), (false, 0)] {
            let object = role(aggregated);
            let key = flotilla_sync::ObjectKey::of(&object);
            let paths = flotilla_sync::ignore::ignored_paths(&object, &key, &rules, None);
            assert_eq!(paths.len(), ignored, "aggregated: {aggregated}: {paths:?}");
        }
        assert!(CompareOptions::default().ignore_rules().is_empty());
    }

    /// `timeout.reconciliation` as Go's `time.ParseDuration` reads it; unset or
    /// unreadable leaves the default to the controller.
    #[test]
    fn the_reconciliation_timeout_reads_as_a_go_duration() {
        use std::time::Duration;
        let read = |value: &str| {
            reconciliation_timeout(&BTreeMap::from([(
                RECONCILIATION_TIMEOUT.to_string(),
                value.to_string(),
            )]))
        };
        assert_eq!(read("300s"), Some(Duration::from_secs(300)));
        assert_eq!(read("5m"), Some(Duration::from_secs(300)));
        assert_eq!(read("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(read("0"), Some(Duration::ZERO));
        assert_eq!(read("0s"), Some(Duration::ZERO));
        assert_eq!(read("soon"), None);
        assert_eq!(read("300"), None, "Go wants a unit");
        assert_eq!(reconciliation_timeout(&BTreeMap::new()), None);
    }

    /// `IsImpersonationEnabled` (only `"true"`) and `IsImpersonationEnforced` (unless
    /// `"false"`).
    #[test]
    fn impersonation_is_enabled_by_true_and_enforced_unless_false() {
        let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (format!("application.sync.impersonation.{k}"), v.to_string()))
                .collect()
        };
        assert_eq!(
            Impersonation::of(&data(&[])),
            Impersonation {
                enabled: false,
                enforced: true
            }
        );
        let on = Impersonation::of(&data(&[("enabled", "true")]));
        assert!(on.enabled && on.enforced);
        assert!(!Impersonation::of(&data(&[("enabled", "True")])).enabled);
        assert!(!Impersonation::of(&data(&[("enforced", "false")])).enforced);
        assert!(Impersonation::of(&data(&[("enforced", "no")])).enforced);
    }

    /// `IsInClusterEnabled`: on unless the value is exactly `"false"`.
    #[test]
    fn only_false_disables_the_in_cluster_destination() {
        let data = |value: Option<&str>| -> BTreeMap<String, String> {
            value
                .map(|v| ("cluster.inClusterEnabled".to_string(), v.to_string()))
                .into_iter()
                .collect()
        };
        assert!(in_cluster_enabled(&data(None)));
        assert!(in_cluster_enabled(&data(Some("true"))));
        assert!(in_cluster_enabled(&data(Some("False"))));
        assert!(!in_cluster_enabled(&data(Some("false"))));
    }

    /// Versions as Argo CD's `GetKustomizeSettings` reads them from both prefixes; the
    /// same version under both is an error naming the key (keys in sorted order here, Go
    /// map order there); build options per version register nothing.
    #[test]
    fn kustomize_versions_are_registered_by_either_prefix_and_only_once() {
        let data = |keys: &[&str]| -> BTreeMap<String, String> {
            keys.iter()
                .map(|k| (k.to_string(), "/usr/local/bin/kustomize".to_string()))
                .collect()
        };
        let versions = kustomize_versions(&data(&[
            "kustomize.version.v5.4.3",
            "kustomize.path.v4.5.7",
            "kustomize.buildOptions.v4.5.7",
            "kustomize.buildOptions",
            "kustomize.path",
        ]))
        .unwrap();
        assert_eq!(
            versions.into_iter().collect::<Vec<_>>(),
            ["v4.5.7", "v5.4.3"]
        );
        let err =
            kustomize_versions(&data(&["kustomize.path.v5", "kustomize.version.v5"])).unwrap_err();
        assert_eq!(
            err,
            "failed to add kustomize version from \"kustomize.version.v5\": found duplicate kustomize version: v5"
        );
    }

    /// Keys as Argo CD's documentation writes them (diffing.md: a webhook's caBundle by
    /// jq, every kind's fields owned by a manager), a core kind, and bad keys named.
    #[test]
    fn split_keys_become_rules_for_their_group_and_kind() {
        let data: BTreeMap<String, String> = [
            (
                "resource.customizations.ignoreDifferences.admissionregistration.k8s.io_MutatingWebhookConfiguration",
                "jqPathExpressions:\n- '.webhooks[]?.clientConfig.caBundle'\n",
            ),
            (
                "resource.customizations.ignoreDifferences.all",
                "managedFieldsManagers:\n- kube-controller-manager\njsonPointers:\n- /spec/replicas\n",
            ),
            ("resource.customizations.ignoreDifferences.Service", "jsonPointers: [/spec/clusterIP]\n"),
            ("resource.customizations.ignoreDifferences.a_b_c", "jsonPointers: [/x]\n"),
            ("resource.customizations.ignoreDifferences.ConfigMap", "jqPathExpressions: ['.data[']\n"),
            ("resource.customizations.health.apps_Deployment", "return {}"),
            ("url", "https://argocd.example.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (rules, problems) = ignore_rules(&data);
        let by_kind = |kind: &str| rules.iter().find(|r| r.kind == kind).unwrap();
        let webhook = by_kind("MutatingWebhookConfiguration");
        assert_eq!(
            webhook.group.as_deref(),
            Some("admissionregistration.k8s.io")
        );
        assert_eq!(
            webhook.jq_path_expressions,
            [".webhooks[]?.clientConfig.caBundle"]
        );
        let all = by_kind("*");
        assert_eq!(all.group.as_deref(), Some("*"));
        assert_eq!(all.managed_fields_managers, ["kube-controller-manager"]);
        assert_eq!(all.json_pointers, ["/spec/replicas"]);
        assert_eq!(by_kind("Service").group.as_deref(), Some(""));
        assert_eq!(rules.len(), 3);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("got group kind: 'a_b_c'")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("jqPathExpression \".data[\"")),
            "{problems:?}"
        );
    }

    /// Health keys as Argo CD's documentation writes them (health.md: a group's kind, a
    /// core kind, a glob over a group's kinds) with their `useOpenLibs` flags.
    #[test]
    fn health_keys_become_scripts_for_their_group_and_kind() {
        let data: BTreeMap<String, String> = [
            (
                "resource.customizations.health.cert-manager.io_Certificate",
                "return {status = \"Healthy\"}",
            ),
            (
                "resource.customizations.useOpenLibs.cert-manager.io_Certificate",
                "true",
            ),
            ("resource.customizations.health.ConfigMap", "return nil"),
            (
                "resource.customizations.health.ec2.aws.crossplane.io_*",
                "return {}",
            ),
            (
                "resource.customizations.useOpenLibs.ec2.aws.crossplane.io_*",
                "yes",
            ),
            ("resource.customizations.health.a_b_c", "return nil"),
            (
                "resource.customizations.ignoreDifferences.ConfigMap",
                "jsonPointers: [/data]\n",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (scripts, problems) = health_scripts(&data);
        let certificate = scripts
            .script_for("cert-manager.io", "Certificate")
            .unwrap();
        assert!(certificate.use_open_libs);
        assert_eq!(certificate.script, "return {status = \"Healthy\"}");
        let config_map = scripts.script_for("", "ConfigMap").unwrap();
        assert!(!config_map.use_open_libs);
        let instance = scripts
            .script_for("ec2.aws.crossplane.io", "Instance")
            .unwrap();
        assert_eq!(instance.script, "return {}");
        assert!(
            !instance.use_open_libs,
            "a flag that is not a boolean is off"
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("\"yes\" is not true or false")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("got group kind: 'a_b_c'")),
            "{problems:?}"
        );
    }

    fn filtered(groups: &[&str], kinds: &[&str], clusters: &[&str]) -> FilteredResource {
        let own = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        FilteredResource {
            api_groups: own(groups),
            kinds: own(kinds),
            clusters: own(clusters),
        }
    }

    // Argo CD's resources_filter_test.go, case by case.
    #[test]
    fn resource_filters_decide_as_argo_cds() {
        let none = ResourceFilter::default();
        assert!(none.excludes("events.k8s.io", "", ""));
        assert!(none.excludes("metrics.k8s.io", "", ""));
        assert!(!none.excludes("rubbish.io", "", ""));
        assert!(none.excludes("", "Event", ""), "a core exclusion");
        assert!(
            none.excludes("coordination.k8s.io", "Lease", ""),
            "a core exclusion"
        );

        let inclusions = ResourceFilter {
            inclusions: vec![filtered(&["whitelisted-resource"], &[], &[])],
            ..ResourceFilter::default()
        };
        assert!(inclusions.excludes("non-whitelisted-resource", "", ""));
        assert!(!inclusions.excludes("whitelisted-resource", "", ""));

        let both = ResourceFilter {
            inclusions: vec![filtered(&["whitelisted-resource"], &[], &[])],
            exclusions: vec![filtered(
                &["whitelisted-resource"],
                &["blacklisted-kind"],
                &[],
            )],
        };
        assert!(both.excludes("whitelisted-resource", "blacklisted-kind", ""));
        assert!(!both.excludes("whitelisted-resource", "", ""));
        assert!(!both.excludes("whitelisted-resource", "non-blacklisted-kind", ""));
        let both = ResourceFilter {
            inclusions: vec![filtered(
                &["whitelisted-resource"],
                &["whitelisted-kind"],
                &[],
            )],
            exclusions: vec![filtered(&["whitelisted-resource"], &[], &[])],
        };
        assert!(both.excludes("whitelisted-resource", "whitelisted-kind", ""));
        assert!(both.excludes("whitelisted-resource", "", ""));
        assert!(both.excludes("whitelisted-resource", "non-whitelisted-kind", ""));
        let both = ResourceFilter {
            inclusions: vec![filtered(&["foo-bar"], &["whitelisted-kind"], &[])],
            exclusions: vec![filtered(&["whitelisted-resource"], &[], &[])],
        };
        assert!(both.excludes("not-whitelisted-resource", "whitelisted-kind", ""));
        assert!(both.excludes("not-whitelisted-resource", "", ""));

        let clusters = ResourceFilter {
            inclusions: vec![filtered(&["whitelisted-resource"], &[], &["cluster-one"])],
            exclusions: vec![filtered(&["whitelisted-resource"], &[], &["cluster-two"])],
        };
        assert!(!clusters.excludes("whitelisted-resource", "", "cluster-one"));
        assert!(clusters.excludes("whitelisted-resource", "", "cluster-two"));
        assert!(!clusters.excludes("whitelisted-resource", "", "cluster-three"));

        let globs = ResourceFilter {
            exclusions: vec![filtered(
                &["*.example.com"],
                &["*"],
                &["https://*.internal"],
            )],
            ..ResourceFilter::default()
        };
        assert!(globs.excludes("widgets.example.com", "Widget", "https://east.internal"));
        assert!(!globs.excludes("widgets.example.com", "Widget", "https://east.example"));
        assert!(!globs.excludes("example.com", "Widget", "https://east.internal"));
    }

    #[test]
    fn filters_are_read_from_their_keys() {
        let data: BTreeMap<String, String> = [
            (
                "resource.exclusions",
                "- apiGroups: [\"\"]\n  kinds: [Secret]\n  clusters: [\"*\"]\n",
            ),
            ("resource.inclusions", "not: a list\n"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (filter, problems) = resource_filter(&data);
        assert_eq!(
            filter.exclusions,
            vec![filtered(&[""], &["Secret"], &["*"])]
        );
        assert!(filter.inclusions.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("argocd-cm key resource.inclusions: "),
            "{problems:?}"
        );
    }
}
