//! Argo CD `Application` (argoproj.io/v1alpha1), read from the YAML users write. Every struct
//! keeps the fields it does not name in `extra`, so an Application read and written back is
//! unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::meta::ObjectMeta;

/// Extra fields a struct does not interpret, kept for round-trips.
pub type Extra = serde_json::Map<String, Value>;

/// The finalizer that makes deleting an Application delete its resources (cascade).
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";

/// An Argo CD Application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// `argoproj.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Application`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// What to deploy where.
    #[serde(default)]
    pub spec: ApplicationSpec,
    /// A sync operation requested on the Application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Value>,
    /// Status as the application controller writes it (kept opaque here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// Other top-level fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec` of an Application.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// A single source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// Several sources (takes precedence over `source` when non-empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<ApplicationSource>,
    /// Where to deploy.
    #[serde(default)]
    pub destination: ApplicationDestination,
    /// The AppProject (`default` when empty).
    #[serde(default)]
    pub project: String,
    /// When and how to sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// Differences to ignore when comparing (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_differences: Option<Value>,
    /// `spec.revisionHistoryLimit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
    /// Other fields (`info`, `sourceHydrator`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ApplicationSpec {
    /// The sources to render: `sources` when non-empty, else `source`.
    pub fn effective_sources(&self) -> Vec<&ApplicationSource> {
        if self.sources.is_empty() {
            self.source.iter().collect()
        } else {
            self.sources.iter().collect()
        }
    }

    /// The project, `default` when empty (Argo CD's normalisation).
    pub fn project_or_default(&self) -> &str {
        if self.project.is_empty() {
            "default"
        } else {
            &self.project
        }
    }
}

/// One source of manifests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSource {
    /// Git or Helm repository URL.
    #[serde(rename = "repoURL", default)]
    pub repo_url: String,
    /// Directory within a Git repository.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Branch, tag, commit or chart version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_revision: String,
    /// Helm chart name (Helm repositories).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chart: String,
    /// Name other sources use to reference this one (`$ref/values.yaml`).
    #[serde(rename = "ref", default, skip_serializing_if = "String::is_empty")]
    pub reference: String,
    /// Display name of the source.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Helm options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSource>,
    /// Kustomize options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizeSource>,
    /// Plain-directory options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectorySource>,
    /// Config management plugin (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Value>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `--set name=value` Helm parameter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmParameter {
    /// Dotted value path.
    #[serde(default)]
    pub name: String,
    /// The value.
    #[serde(default)]
    pub value: String,
    /// `--set-string` instead of `--set`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_string: bool,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `--set-file name=path` Helm parameter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HelmFileParameter {
    /// Dotted value path.
    #[serde(default)]
    pub name: String,
    /// File within the source.
    #[serde(default)]
    pub path: String,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `source.helm`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmSource {
    /// Values files, relative to the chart (or `$ref/...`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// Values as a YAML string.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub values: String,
    /// Values as an object (wins over `values`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_object: Option<Value>,
    /// `--set` parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<HelmParameter>,
    /// `--set-file` parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_parameters: Vec<HelmFileParameter>,
    /// Release name (defaults to the Application name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_name: String,
    /// Skip the chart's `crds/`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_crds: bool,
    /// Skip schema validation of values.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_schema_validation: bool,
    /// Skip test hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_tests: bool,
    /// Ignore value files that do not exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_value_files: bool,
    /// Pass repository credentials to all domains.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_credentials: bool,
    /// `.Capabilities.KubeVersion` override.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_version: String,
    /// `.Capabilities.APIVersions` override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
    /// Namespace to render into (defaults to the destination namespace).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Helm version (`v3`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `source.kustomize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeSource {
    /// Prefix for resource names.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_prefix: String,
    /// Suffix for resource names.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_suffix: String,
    /// Image overrides (`name=newName:tag`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Labels added to every resource.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations added to every resource.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_annotations: BTreeMap<String, String>,
    /// Overwrite existing labels.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_common_labels: bool,
    /// Overwrite existing annotations.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_common_annotations: bool,
    /// Substitute `${VAR}` in common annotations.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub common_annotations_envsubst: bool,
    /// Namespace for every resource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Replica overrides (`[{name, count}]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Value>,
    /// Patches (kustomize's `patches`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Value>,
    /// Components to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Ignore components that do not exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_components: bool,
    /// Add labels without touching selectors.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub label_without_selector: bool,
    /// Also label pod templates.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub label_include_templates: bool,
    /// Kustomize version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// `.Capabilities.KubeVersion` for Helm charts inside kustomize.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kube_version: String,
    /// API versions for Helm charts inside kustomize.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `source.directory`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectorySource {
    /// Read subdirectories too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recurse: bool,
    /// Glob (or `{a,b}` list) of files to include.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub include: String,
    /// Glob (or `{a,b}` list) of files to exclude.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub exclude: String,
    /// Jsonnet options (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonnet: Option<Value>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.destination`: a cluster by `server` or `name`, and a namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplicationDestination {
    /// API server URL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server: String,
    /// Cluster name (alternative to `server`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Namespace for namespaced resources without one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.syncPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPolicy {
    /// Automated sync; absent means manual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<AutomatedSync>,
    /// `CreateNamespace=true`, `ServerSideApply=true`, `Prune=false`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Retry of failed syncs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// Labels and annotations of the namespace `CreateNamespace=true` manages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `syncPolicy.managedNamespaceMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedNamespaceMetadata {
    /// Labels set on the namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations set on the namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl SyncPolicy {
    /// The automated sync settings when automation is on: `automated` present and not
    /// `enabled: false` (Argo CD's `IsAutomatedSyncEnabled`).
    pub fn automation(&self) -> Option<&AutomatedSync> {
        self.automated.as_ref().filter(|a| a.enabled != Some(false))
    }

    /// Whether `option` (e.g. `CreateNamespace=true`) is among the sync options.
    pub fn has_option(&self, option: &str) -> bool {
        self.sync_options.iter().any(|o| o == option)
    }
}

/// `syncPolicy.automated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomatedSync {
    /// Delete resources that left Git.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    /// Undo changes made in the cluster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub self_heal: bool,
    /// Allow syncing to zero resources.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
    /// `enabled: false` turns automation off while keeping the settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `syncPolicy.retry`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryStrategy {
    /// Attempts (negative: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Backoff between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl RetryStrategy {
    /// The strategy of an automated sync: the Application's `syncPolicy.retry`, else Argo
    /// CD's five retries (`autoSync`).
    pub fn automated(spec: Option<&RetryStrategy>) -> RetryStrategy {
        spec.cloned().unwrap_or(RetryStrategy {
            limit: Some(5),
            ..RetryStrategy::default()
        })
    }

    /// Whether an operation already retried `retries` times is retried again (a negative
    /// limit retries for ever; no limit, none).
    pub fn allows(&self, retries: i64) -> bool {
        let limit = self.limit.unwrap_or(0);
        limit < 0 || retries < limit
    }

    /// `NextRetryAt`'s wait after `retries` retries: duration × factor^retries, at most
    /// maxDuration (when above zero); defaults 5 s, 2 and 3 min. A duration is Go's
    /// (`30s`, `1m30s`) or a number of seconds.
    pub fn wait(&self, retries: i64) -> Result<std::time::Duration, String> {
        let backoff = self.backoff.as_ref();
        let duration = argo_duration(backoff.and_then(|b| b.duration.as_deref()), 5)?;
        let max = argo_duration(backoff.and_then(|b| b.max_duration.as_deref()), 180)?;
        let factor = backoff.and_then(|b| b.factor).unwrap_or(2);
        let mut seconds = duration.as_secs_f64() * (factor as f64).powf(retries as f64);
        if !max.is_zero() {
            seconds = seconds.min(max.as_secs_f64());
        }
        // Past what a Duration holds (no maxDuration, a large factor): a year is as good.
        Ok(std::time::Duration::try_from_secs_f64(seconds.max(0.0))
            .unwrap_or(std::time::Duration::from_secs(365 * 24 * 3600)))
    }
}

/// Argo CD's `parseStringToDuration` of a backoff field: whole seconds without a unit,
/// else a Go duration; `default_seconds` when unset or empty.
fn argo_duration(text: Option<&str>, default_seconds: u64) -> Result<std::time::Duration, String> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(std::time::Duration::from_secs(default_seconds));
    };
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(std::time::Duration::from_secs(seconds.max(0) as u64));
    }
    crate::flux::parse_duration(text, true)
        .ok_or_else(|| format!("unable to parse {text} as a duration"))
}

/// `retry.backoff`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backoff {
    /// First delay (`5s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// Multiplier per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    /// Longest delay (`3m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A field of a resource is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.destination`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl Application {
    /// Reads an Application from YAML or JSON, checking what Argo CD checks before it
    /// reconciles (errors name the field).
    pub fn from_yaml(text: &str) -> Result<Self, FieldError> {
        let value =
            crate::yaml::parse_yaml_or_json(text).map_err(|e| FieldError::new("<document>", e))?;
        Self::from_value(&value)
    }

    /// Reads an Application from a JSON value (see [`Application::from_yaml`]).
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        let app: Application = crate::serde_path::from_value(value)?;
        app.validate()?;
        Ok(app)
    }

    /// Argo CD's spec validation: a source, a destination with exactly one of server/name.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.metadata.name.is_empty() {
            return Err(FieldError::new("metadata.name", "is required"));
        }
        if self.spec.source.is_none() && self.spec.sources.is_empty() {
            return Err(FieldError::new(
                "spec.source",
                "spec.source or spec.sources is required",
            ));
        }
        for (i, source) in self.spec.effective_sources().iter().enumerate() {
            let field = if self.spec.sources.is_empty() {
                "spec.source".to_string()
            } else {
                format!("spec.sources[{i}]")
            };
            if source.repo_url.is_empty() {
                return Err(FieldError::new(format!("{field}.repoURL"), "is required"));
            }
        }
        let dest = &self.spec.destination;
        if dest.server.is_empty() && dest.name.is_empty() {
            return Err(FieldError::new(
                "spec.destination",
                "Destination server missing from app spec",
            ));
        }
        if !dest.server.is_empty() && !dest.name.is_empty() {
            return Err(FieldError::new(
                "spec.destination",
                "application destination can't have both name and server defined",
            ));
        }
        Ok(())
    }

    /// Whether deleting this Application deletes its resources (the resources finalizer).
    pub fn cascades_on_delete(&self) -> bool {
        self.metadata
            .finalizers
            .iter()
            .any(|f| f == RESOURCES_FINALIZER || f.starts_with(&format!("{RESOURCES_FINALIZER}/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Argo CD's `TestRetryStrategy_NextRetryAtDefaultBackoff` and `…CustomBackoff`.
    #[test]
    fn retries_wait_as_argo_cd_backs_off() {
        let default = RetryStrategy::default();
        for (retries, seconds) in [
            (0, 5),
            (1, 10),
            (2, 20),
            (3, 40),
            (4, 80),
            (80, 180),
            (100, 180),
        ] {
            assert_eq!(
                default.wait(retries),
                Ok(Duration::from_secs(seconds)),
                "{retries}"
            );
        }
        let custom = RetryStrategy {
            backoff: Some(Backoff {
                duration: Some("2s".into()),
                factor: Some(3),
                max_duration: Some("1m".into()),
                ..Backoff::default()
            }),
            ..RetryStrategy::default()
        };
        for (retries, seconds) in [(0, 2), (1, 6), (2, 18), (3, 54), (4, 60)] {
            assert_eq!(
                custom.wait(retries),
                Ok(Duration::from_secs(seconds)),
                "{retries}"
            );
        }
        // Whole seconds without a unit; a bad duration is an error naming it.
        let seconds = RetryStrategy {
            backoff: Some(Backoff {
                duration: Some("7".into()),
                ..Backoff::default()
            }),
            ..RetryStrategy::default()
        };
        assert_eq!(seconds.wait(0), Ok(Duration::from_secs(7)));
        let bad = RetryStrategy {
            backoff: Some(Backoff {
                duration: Some("soon".into()),
                ..Backoff::default()
            }),
            ..RetryStrategy::default()
        };
        assert_eq!(
            bad.wait(0),
            Err("unable to parse soon as a duration".into())
        );
    }

    #[test]
    fn an_automated_sync_retries_five_times_unless_the_app_says_otherwise() {
        let automated = RetryStrategy::automated(None);
        assert!(automated.allows(4) && !automated.allows(5));
        let unlimited = RetryStrategy {
            limit: Some(-1),
            ..RetryStrategy::default()
        };
        assert!(RetryStrategy::automated(Some(&unlimited)).allows(1_000));
        // A retry block without a limit retries nothing.
        assert!(!RetryStrategy::automated(Some(&RetryStrategy::default())).allows(0));
    }
}
