//! Flux `HelmRelease` (helm.toolkit.fluxcd.io/v2): the spec as users write it, validated
//! as its CRD schema validates it, and the names helm-controller derives from it — the
//! release name, the namespaces it installs into and stores in, and the `HelmChart` it
//! creates from `spec.chart`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::argocd::application::{Extra, FieldError};
use crate::flux::{
    CrossNamespaceRef, DURATION_PATTERN, KubeConfigRef, check_enum, check_length, check_pattern,
    parse_duration, required,
};
use crate::meta::ObjectMeta;

/// The longest release name Helm accepts.
pub const MAX_RELEASE_NAME: usize = 53;

/// A Flux HelmRelease.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmRelease {
    /// `helm.toolkit.fluxcd.io/v2`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `HelmRelease`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(default)]
    pub spec: HelmReleaseSpec,
    /// Status (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// `spec` of a HelmRelease.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmReleaseSpec {
    /// The HelmChart to create from a source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<HelmChartTemplate>,
    /// An existing chart source (`OCIRepository` or `HelmChart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<CrossNamespaceRef>,
    /// Reconcile period (required).
    #[serde(default)]
    pub interval: String,
    /// Install into a remote cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfigRef>,
    /// Stop reconciling.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// The Helm release name (default: `[targetNamespace-]name`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_name: String,
    /// Where the release's objects go (default: the HelmRelease's namespace).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_namespace: String,
    /// Where Helm keeps the release records (default: the HelmRelease's namespace).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_namespace: String,
    /// HelmReleases that must be Ready first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<CrossNamespaceRef>,
    /// Timeout of each Helm action (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Release records kept (default 5; 0 is unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history: Option<i64>,
    /// Service account to impersonate.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// `install` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Install>,
    /// `upgrade` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Upgrade>,
    /// `rollback` settings (upgrade remediation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// `uninstall` settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstall: Option<Uninstall>,
    /// Values read from ConfigMaps and Secrets, merged in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesReference>,
    /// Inline values, merged last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Value>,
    /// Labels and annotations for every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<crate::flux::CommonMetadata>,
    /// Other fields (test, driftDetection, postRenderers, ...), checked by name.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.chart`: the HelmChart helm-controller creates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplate {
    /// Labels and annotations of the HelmChart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<crate::flux::CommonMetadata>,
    /// The HelmChart's spec.
    #[serde(default)]
    pub spec: HelmChartTemplateSpec,
}

/// `spec.chart.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartTemplateSpec {
    /// Chart name (in a repository) or path (in a Git or Bucket source).
    #[serde(default)]
    pub chart: String,
    /// Semver range (default `*`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The source.
    #[serde(default)]
    pub source_ref: CrossNamespaceRef,
    /// The HelmChart's interval (default: the HelmRelease's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// `ChartVersion` (default) or `Revision`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reconcile_strategy: String,
    /// Values files of the chart merged into its values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// A missing values file is not an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_values_files: bool,
    /// Signature verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Value>,
}

/// `spec.valuesFrom[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValuesReference {
    /// `Secret` or `ConfigMap`.
    #[serde(default)]
    pub kind: String,
    /// Its name (in the HelmRelease's namespace).
    #[serde(default)]
    pub name: String,
    /// The data key (default `values.yaml`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub values_key: String,
    /// Where the value goes (a `--set` path); empty merges the key as a values file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_path: String,
    /// A missing object or key is not an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl ValuesReference {
    /// The data key read.
    pub fn key(&self) -> &str {
        if self.values_key.is_empty() {
            "values.yaml"
        } else {
            &self.values_key
        }
    }
}

/// `spec.install.remediation` / `spec.upgrade.remediation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    /// Retries after a failure (negative: for ever).
    #[serde(default)]
    pub retries: i64,
    /// Remediate the failure that exhausts the retries too (default: false for install,
    /// `retries > 0` for upgrade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediate_last_failure: Option<bool>,
    /// `rollback` (default) or `uninstall`, for upgrades.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub strategy: String,
    /// Test failures do not fail the release (default: `test.ignoreFailures`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_test_failures: Option<bool>,
    /// Other fields, checked by name.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.install.strategy` / `spec.upgrade.strategy`: what follows a failed action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionStrategy {
    /// `RemediateOnFailure` (the `remediation` settings) or `RetryOnFailure` (no
    /// remediation: the release is upgraded again every `retryInterval`, for ever).
    #[serde(default)]
    pub name: String,
    /// How long `RetryOnFailure` waits between attempts (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
}

/// helm-controller's `RetryOnFailure` strategy name.
pub const RETRY_ON_FAILURE: &str = "RetryOnFailure";

impl ActionStrategy {
    /// `RetryOnFailure`'s interval (default 5m); `None` for `RemediateOnFailure`
    /// (helm-controller's `GetRetry` and `GetRetryInterval`).
    pub fn retry_interval(&self) -> Option<Duration> {
        if self.name != RETRY_ON_FAILURE {
            return None;
        }
        Some(
            self.retry_interval
                .as_deref()
                .and_then(|i| parse_duration(i, true))
                .unwrap_or(Duration::from_secs(300)),
        )
    }

    /// The CRD's checks: the name is one of the two; `retryInterval` a duration, and
    /// only with `RetryOnFailure` (install: not with `RemediateOnFailure`, upgrade: only
    /// with `RetryOnFailure`, as the two CEL rules are worded).
    fn validate(&self, field: &str, upgrade: bool) -> Result<(), FieldError> {
        if self.name.is_empty() {
            return Err(required(&format!("{field}.name")));
        }
        check_enum(
            &format!("{field}.name"),
            &self.name,
            &["RemediateOnFailure", RETRY_ON_FAILURE],
        )?;
        let Some(interval) = &self.retry_interval else {
            return Ok(());
        };
        check_duration(&format!("{field}.retryInterval"), interval)?;
        let rule = if upgrade {
            (self.name != RETRY_ON_FAILURE)
                .then_some(".retryInterval can only be set when .name is 'RetryOnFailure'")
        } else {
            (self.name == "RemediateOnFailure")
                .then_some(".retryInterval cannot be set when .name is 'RemediateOnFailure'")
        };
        match rule {
            Some(message) => Err(FieldError::new(
                field,
                format!("Invalid value: \"object\": {message}"),
            )),
            None => Ok(()),
        }
    }
}

/// `spec.install`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Install {
    /// Timeout of the install (default: `spec.timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Failure handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    /// Remediate (the default) or retry after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ActionStrategy>,
    /// Do not wait for the objects to be ready.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    /// Do not run the chart's hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Refuse objects that exist without this release's ownership metadata.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_take_ownership: bool,
    /// Do not validate the values against the chart's `values.schema.json`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_schema_validation: bool,
    /// `Skip`, `Create` (default) or `CreateReplace`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub crds: String,
    /// Create the target namespace.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_namespace: bool,
    /// Other fields, checked by name.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.upgrade`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    /// Timeout of the upgrade (default: `spec.timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Failure handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<Remediation>,
    /// Remediate (the default) or retry after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<ActionStrategy>,
    /// Do not wait for the objects to be ready.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    /// Do not run the chart's hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Refuse objects new to the release that exist without its ownership metadata.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_take_ownership: bool,
    /// Do not validate the values against the chart's `values.schema.json`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_schema_validation: bool,
    /// `Skip`, `Create` (the default, as helm-controller's code has it) or
    /// `CreateReplace`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub crds: String,
    /// Recreate objects whose immutable fields changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Delete the objects a failed upgrade created.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_on_fail: bool,
    /// Reuse the last release's values under the new ones (Helm's `--reuse-values`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preserve_values: bool,
    /// Other fields, checked by name.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.rollback`: how a failed upgrade is rolled back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// Timeout of the rollback (default: `spec.timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Do not wait for the objects to be ready.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    /// Do not run the chart's pre- and post-rollback hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Delete the objects a failed rollback created.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_on_fail: bool,
    /// Other fields, checked by name.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.uninstall`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Uninstall {
    /// Timeout of the uninstall (default: `spec.timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Keep the release records (marked uninstalled).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_history: bool,
    /// Do not wait for the objects to be gone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    /// Do not run the chart's pre- and post-delete hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// `background` (default), `foreground` or `orphan`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deletion_propagation: String,
    /// Other fields, checked by name.
    #[serde(flatten)]
    pub extra: Extra,
}

fn check_duration(field: &str, value: &str) -> Result<(), FieldError> {
    check_pattern(
        field,
        value,
        DURATION_PATTERN,
        parse_duration(value, true).is_some(),
    )
}

fn check_max_length(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    check_length(field, value, 0, max)
}

/// An enum field that may be left out.
fn check_optional_enum(field: &str, value: &str, allowed: &[&str]) -> Result<(), FieldError> {
    if value.is_empty() {
        return Ok(());
    }
    check_enum(field, value, allowed)
}

impl HelmRelease {
    /// Reads a HelmRelease from YAML or JSON and validates it.
    pub fn from_yaml(text: &str) -> Result<Self, FieldError> {
        let value =
            crate::yaml::parse_yaml_or_json(text).map_err(|e| FieldError::new("<document>", e))?;
        let release: HelmRelease = crate::serde_path::from_value(&value)?;
        release.validate()?;
        Ok(release)
    }

    /// The checks the CRD's OpenAPI schema and CEL rules make.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.metadata.name.is_empty() {
            return Err(required("metadata.name"));
        }
        let spec = &self.spec;
        if spec.interval.is_empty() {
            return Err(required("spec.interval"));
        }
        check_duration("spec.interval", &spec.interval)?;
        if let Some(timeout) = &spec.timeout {
            check_duration("spec.timeout", timeout)?;
        }
        match (&spec.chart, &spec.chart_ref) {
            (None, None) | (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "spec",
                    "Invalid value: \"object\": either chart or chartRef must be set",
                ));
            }
            (Some(chart), None) => {
                let chart = &chart.spec;
                if chart.chart.is_empty() {
                    return Err(required("spec.chart.spec.chart"));
                }
                check_max_length("spec.chart.spec.chart", &chart.chart, 2048)?;
                if chart.source_ref.name.is_empty() {
                    return Err(required("spec.chart.spec.sourceRef.name"));
                }
                check_optional_enum(
                    "spec.chart.spec.sourceRef.kind",
                    &chart.source_ref.kind,
                    &["HelmRepository", "GitRepository", "Bucket"],
                )?;
                if chart.source_ref.kind.is_empty() {
                    return Err(required("spec.chart.spec.sourceRef.kind"));
                }
                check_optional_enum(
                    "spec.chart.spec.reconcileStrategy",
                    &chart.reconcile_strategy,
                    &["ChartVersion", "Revision"],
                )?;
                if let Some(interval) = &chart.interval {
                    check_duration("spec.chart.spec.interval", interval)?;
                }
            }
            (None, Some(chart_ref)) => {
                if chart_ref.kind.is_empty() {
                    return Err(required("spec.chartRef.kind"));
                }
                check_optional_enum(
                    "spec.chartRef.kind",
                    &chart_ref.kind,
                    &["OCIRepository", "HelmChart", "ExternalArtifact"],
                )?;
                if chart_ref.name.is_empty() {
                    return Err(required("spec.chartRef.name"));
                }
            }
        }
        check_max_length("spec.releaseName", &spec.release_name, MAX_RELEASE_NAME)?;
        check_max_length("spec.targetNamespace", &spec.target_namespace, 63)?;
        check_max_length("spec.storageNamespace", &spec.storage_namespace, 63)?;
        for (i, dep) in spec.depends_on.iter().enumerate() {
            if dep.name.is_empty() {
                return Err(required(&format!("spec.dependsOn[{i}].name")));
            }
        }
        for (i, from) in spec.values_from.iter().enumerate() {
            let field = |f: &str| format!("spec.valuesFrom[{i}].{f}");
            if from.kind.is_empty() {
                return Err(required(&field("kind")));
            }
            check_optional_enum(&field("kind"), &from.kind, &["Secret", "ConfigMap"])?;
            if from.name.is_empty() {
                return Err(required(&field("name")));
            }
            check_max_length(&field("valuesKey"), &from.values_key, 253)?;
            check_max_length(&field("targetPath"), &from.target_path, 250)?;
        }
        if let Some(install) = &spec.install {
            check_optional_enum(
                "spec.install.crds",
                &install.crds,
                &["Skip", "Create", "CreateReplace"],
            )?;
            if let Some(timeout) = &install.timeout {
                check_duration("spec.install.timeout", timeout)?;
            }
            if let Some(strategy) = &install.strategy {
                strategy.validate("spec.install.strategy", false)?;
            }
        }
        if let Some(remediation) = spec.upgrade.as_ref().and_then(|u| u.remediation.as_ref()) {
            check_optional_enum(
                "spec.upgrade.remediation.strategy",
                &remediation.strategy,
                &["rollback", "uninstall"],
            )?;
        }
        if let Some(upgrade) = &spec.upgrade {
            check_optional_enum(
                "spec.upgrade.crds",
                &upgrade.crds,
                &["Skip", "Create", "CreateReplace"],
            )?;
            if let Some(timeout) = &upgrade.timeout {
                check_duration("spec.upgrade.timeout", timeout)?;
            }
            if let Some(strategy) = &upgrade.strategy {
                strategy.validate("spec.upgrade.strategy", true)?;
            }
        }
        if let Some(timeout) = spec.rollback.as_ref().and_then(|r| r.timeout.as_ref()) {
            check_duration("spec.rollback.timeout", timeout)?;
        }
        if let Some(uninstall) = &spec.uninstall {
            if let Some(timeout) = &uninstall.timeout {
                check_duration("spec.uninstall.timeout", timeout)?;
            }
            check_optional_enum(
                "spec.uninstall.deletionPropagation",
                &uninstall.deletion_propagation,
                &["background", "foreground", "orphan"],
            )?;
        }
        if let Some(values) = &spec.values
            && !values.is_object()
            && !values.is_null()
        {
            return Err(FieldError::new(
                "spec.values",
                "Invalid value: the values must be a map",
            ));
        }
        Ok(())
    }

    /// helm-controller's `GetReleaseName`: `spec.releaseName`, else
    /// `<targetNamespace>-<name>` with a target namespace, else the name. Messages use it
    /// as it is; Helm is given [`short_release_name`].
    pub fn release_name(&self) -> String {
        if !self.spec.release_name.is_empty() {
            self.spec.release_name.clone()
        } else if !self.spec.target_namespace.is_empty() {
            format!("{}-{}", self.spec.target_namespace, self.metadata.name)
        } else {
            self.metadata.name.clone()
        }
    }

    /// The name of the HelmChart made from `spec.chart`: `<namespace>-<name>`.
    pub fn helm_chart_name(&self) -> String {
        format!("{}-{}", self.metadata.namespace, self.metadata.name)
    }

    /// The namespace of that HelmChart: the chart source's.
    pub fn helm_chart_namespace(&self) -> &str {
        match &self.spec.chart {
            Some(chart) if !chart.spec.source_ref.namespace.is_empty() => {
                &chart.spec.source_ref.namespace
            }
            _ => &self.metadata.namespace,
        }
    }

    /// The namespace the release's objects go to.
    pub fn release_namespace(&self) -> &str {
        if self.spec.target_namespace.is_empty() {
            &self.metadata.namespace
        } else {
            &self.spec.target_namespace
        }
    }

    /// The namespace holding the release records (default: the HelmRelease's, as v2 has
    /// it — v2beta1 defaulted to the target namespace).
    pub fn storage_namespace(&self) -> &str {
        if self.spec.storage_namespace.is_empty() {
            &self.metadata.namespace
        } else {
            &self.spec.storage_namespace
        }
    }

    /// The reconcile interval.
    pub fn interval(&self) -> Option<Duration> {
        parse_duration(&self.spec.interval, true)
    }

    /// The settings of the install (`upgrade` false) or upgrade action, with
    /// helm-controller's defaults: the action's timeout else `spec.timeout`, its
    /// remediation, whether it waits and runs hooks, its CRD policy (`Create`).
    pub fn action_settings(&self, upgrade: bool) -> ActionSettings<'_> {
        let (timeout, remediation, crds) = if upgrade {
            let u = self.spec.upgrade.as_ref();
            (
                u.and_then(|u| u.timeout.as_deref()),
                u.and_then(|u| u.remediation.as_ref()),
                u.map_or("", |u| u.crds.as_str()),
            )
        } else {
            let i = self.spec.install.as_ref();
            (
                i.and_then(|i| i.timeout.as_deref()),
                i.and_then(|i| i.remediation.as_ref()),
                i.map_or("", |i| i.crds.as_str()),
            )
        };
        // (disableWait, disableWaitForJobs, disableHooks, disableTakeOwnership,
        // disableSchemaValidation)
        let flags = match (upgrade, &self.spec.upgrade, &self.spec.install) {
            (true, Some(u), _) => (
                u.disable_wait,
                u.disable_wait_for_jobs,
                u.disable_hooks,
                u.disable_take_ownership,
                u.disable_schema_validation,
            ),
            (false, _, Some(i)) => (
                i.disable_wait,
                i.disable_wait_for_jobs,
                i.disable_hooks,
                i.disable_take_ownership,
                i.disable_schema_validation,
            ),
            _ => (false, false, false, false, false),
        };
        let (
            disable_wait,
            disable_wait_for_jobs,
            disable_hooks,
            disable_take_ownership,
            disable_schema_validation,
        ) = flags;
        ActionSettings {
            timeout: self.timeout_or_default(timeout),
            remediation,
            wait: !disable_wait,
            wait_for_jobs: !disable_wait_for_jobs,
            hooks: !disable_hooks,
            take_ownership: !disable_take_ownership,
            validate_schema: !disable_schema_validation,
            crds: if crds.is_empty() { "Create" } else { crds },
            // Helm's install has no cleanup: a failed install is remediated by uninstalling.
            cleanup_on_fail: upgrade
                && self
                    .spec
                    .upgrade
                    .as_ref()
                    .is_some_and(|u| u.cleanup_on_fail),
            reuse_values: upgrade
                && self
                    .spec
                    .upgrade
                    .as_ref()
                    .is_some_and(|u| u.preserve_values),
            retry: if upgrade {
                self.spec.upgrade.as_ref().and_then(|u| u.strategy.as_ref())
            } else {
                self.spec.install.as_ref().and_then(|i| i.strategy.as_ref())
            }
            .and_then(ActionStrategy::retry_interval),
        }
    }

    /// The settings of a rollback (an upgrade's remediation): `spec.rollback`'s timeout
    /// else `spec.timeout`, its waits, hooks and `cleanupOnFail`.
    pub fn rollback_settings(&self) -> ActionSettings<'_> {
        let r = self.spec.rollback.clone().unwrap_or_default();
        ActionSettings {
            timeout: self.timeout_or_default(r.timeout.as_deref()),
            remediation: None,
            wait: !r.disable_wait,
            wait_for_jobs: !r.disable_wait_for_jobs,
            hooks: !r.disable_hooks,
            take_ownership: true,
            validate_schema: true,
            crds: "Skip",
            cleanup_on_fail: r.cleanup_on_fail,
            reuse_values: false,
            retry: None,
        }
    }

    /// The settings of every uninstall helm-controller runs (deletion, remediation, a
    /// release target change): `spec.uninstall`'s timeout else `spec.timeout`, hooks,
    /// history, wait and deletion propagation.
    pub fn uninstall_settings(&self) -> UninstallSettings {
        let u = self.spec.uninstall.clone().unwrap_or_default();
        UninstallSettings {
            timeout: self.timeout_or_default(u.timeout.as_deref()),
            hooks: !u.disable_hooks,
            keep_history: u.keep_history,
            wait: !u.disable_wait,
            propagation: match u.deletion_propagation.as_str() {
                "foreground" => Propagation::Foreground,
                "orphan" => Propagation::Orphan,
                _ => Propagation::Background,
            },
        }
    }

    /// Whether failed Helm tests leave the release alone: the active remediation's
    /// `ignoreTestFailures` (of the install or the upgrade, `action`), else
    /// `test.ignoreFailures` — helm-controller's `MustIgnoreTestFailures`.
    pub fn ignores_test_failures(&self, action: Option<&str>, test_ignore_failures: bool) -> bool {
        let remediation = match action {
            Some("install") => self
                .spec
                .install
                .as_ref()
                .and_then(|i| i.remediation.as_ref()),
            Some("upgrade") => self
                .spec
                .upgrade
                .as_ref()
                .and_then(|u| u.remediation.as_ref()),
            _ => None,
        };
        remediation
            .and_then(|r| r.ignore_test_failures)
            .unwrap_or(test_ignore_failures)
    }

    fn timeout_or_default(&self, timeout: Option<&str>) -> Duration {
        timeout
            .and_then(|t| parse_duration(t, true))
            .unwrap_or(self.timeout())
    }

    /// The timeout of Helm actions (default 5m).
    pub fn timeout(&self) -> Duration {
        self.spec
            .timeout
            .as_deref()
            .and_then(|t| parse_duration(t, true))
            .unwrap_or(Duration::from_secs(300))
    }

    /// The release records kept (`None`: every one).
    pub fn max_history(&self) -> Option<usize> {
        match self.spec.max_history {
            None => Some(5),
            Some(n) if n <= 0 => None,
            Some(n) => Some(n as usize),
        }
    }

    /// The HelmReleases this one depends on, as `(namespace, name)`.
    pub fn dependencies(&self) -> Vec<(String, String)> {
        self.spec
            .depends_on
            .iter()
            .map(|d| {
                let namespace = if d.namespace.is_empty() {
                    self.metadata.namespace.clone()
                } else {
                    d.namespace.clone()
                };
                (namespace, d.name.clone())
            })
            .collect()
    }
}

/// What [`HelmRelease::action_settings`] gives.
#[derive(Debug, Clone, Copy)]
pub struct ActionSettings<'a> {
    /// How long the action may take.
    pub timeout: Duration,
    /// `remediation`, if set.
    pub remediation: Option<&'a Remediation>,
    /// Wait for the objects to be ready (`disableWait` off).
    pub wait: bool,
    /// Run the chart's hooks (`disableHooks` off).
    pub hooks: bool,
    /// Adopt existing objects new to the release (`disableTakeOwnership` off).
    pub take_ownership: bool,
    /// Validate the values against the chart's schema (`disableSchemaValidation` off).
    pub validate_schema: bool,
    /// `Skip`, `Create` or `CreateReplace`.
    pub crds: &'a str,
    /// The wait holds until Jobs complete (`disableWaitForJobs` off).
    pub wait_for_jobs: bool,
    /// A failure deletes the objects the action created (`cleanupOnFail`).
    pub cleanup_on_fail: bool,
    /// The last release's values fill in what the new ones lack (`preserveValues`).
    pub reuse_values: bool,
    /// `strategy: RetryOnFailure`: a failure is not remediated, the release is upgraded
    /// again after this long.
    pub retry: Option<Duration>,
}

/// How an uninstall runs ([`HelmRelease::uninstall_settings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UninstallSettings {
    /// How long it may take.
    pub timeout: Duration,
    /// Run the pre- and post-delete hooks (`disableHooks` off).
    pub hooks: bool,
    /// Keep the records, marked `uninstalled`.
    pub keep_history: bool,
    /// Wait until the objects are gone (`disableWait` off).
    pub wait: bool,
    /// `deletionPropagation`.
    pub propagation: Propagation,
}

/// The propagation policy of an uninstall's deletions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents deleted in the background (the default).
    Background,
    /// The owner waits for its dependents.
    Foreground,
    /// Dependents left behind.
    Orphan,
}

/// helm-controller's `ShortenName`: a name longer than Helm allows becomes its first 40
/// characters, `-` and the first 12 hex digits of its sha256.
pub fn short_release_name(name: &str) -> String {
    if name.len() <= MAX_RELEASE_NAME {
        return name.to_string();
    }
    let digest = hex(&Sha256::digest(name.as_bytes()));
    let head: String = name.chars().take(40).collect();
    format!("{head}-{}", &digest[..12])
}

/// Labels and annotations as a map, for templates.
pub type StringMap = BTreeMap<String, String>;

/// sha256 of `data` as `sha256:<hex>`, the digest form Flux writes in statuses.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(data)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// helm-controller `internal/release/name_test.go`, its expected names.
    #[test]
    fn long_release_names_are_shortened_as_helm_controller_does() {
        for (name, expected) in [
            ("release-name", "release-name"),
            (
                "release-name-with-very-long-name-which-is-longer-than-53-characters",
                "release-name-with-very-long-name-which-i-788ca0d0d7b0",
            ),
            (
                "another-release-name-with-very-long-name-which-is-longer-than-53-characters",
                "another-release-name-with-very-long-name-7e72150d5a36",
            ),
            ("", ""),
        ] {
            assert_eq!(short_release_name(name), expected);
        }
    }

    const PODINFO: &str = r#"
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: team-a
spec:
  interval: 10m
  targetNamespace: web
  chart:
    spec:
      chart: podinfo
      version: "6.x"
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: flux-system
  values:
    replicaCount: 2
"#;

    #[test]
    fn names_and_namespaces_follow_the_spec() {
        let release = HelmRelease::from_yaml(PODINFO).unwrap();
        assert_eq!(release.release_name(), "web-podinfo");
        assert_eq!(release.release_namespace(), "web");
        assert_eq!(release.storage_namespace(), "team-a");
        assert_eq!(release.helm_chart_name(), "team-a-podinfo");
        assert_eq!(release.helm_chart_namespace(), "flux-system");
        assert_eq!(release.timeout(), Duration::from_secs(300));
        assert_eq!(release.max_history(), Some(5));
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let without_chart = PODINFO.replace("  chart:\n", "  notChart:\n");
        let err = HelmRelease::from_yaml(&without_chart).unwrap_err();
        assert_eq!(err.field, "spec");
        assert!(err.reason.contains("either chart or chartRef must be set"));
        let bad_kind = PODINFO.replace("kind: HelmRepository", "kind: Helm");
        let err = HelmRelease::from_yaml(&bad_kind).unwrap_err();
        assert_eq!(err.field, "spec.chart.spec.sourceRef.kind");
        let bad_interval = PODINFO.replace("interval: 10m", "interval: soon");
        let err = HelmRelease::from_yaml(&bad_interval).unwrap_err();
        assert_eq!(err.field, "spec.interval");
        let long_name = PODINFO.replace(
            "  targetNamespace: web",
            &format!("  releaseName: {}", "x".repeat(54)),
        );
        let err = HelmRelease::from_yaml(&long_name).unwrap_err();
        assert_eq!(err.field, "spec.releaseName");
    }

    /// helm-controller's `GetRetry`/`GetRetryInterval` (5m by default, none for
    /// `RemediateOnFailure`) and the CRD's two CEL rules on `retryInterval`.
    #[test]
    fn retry_on_failure_has_an_interval_and_the_crds_rules() {
        let with = |block: &str| HelmRelease::from_yaml(&format!("{PODINFO}{block}"));
        let release = with("  install:\n    strategy:\n      name: RetryOnFailure\n").unwrap();
        assert_eq!(
            release.action_settings(false).retry,
            Some(Duration::from_secs(300))
        );
        assert_eq!(release.action_settings(true).retry, None);
        let release = with(
            "  upgrade:\n    strategy:\n      name: RetryOnFailure\n      retryInterval: 30s\n",
        )
        .unwrap();
        assert_eq!(
            release.action_settings(true).retry,
            Some(Duration::from_secs(30))
        );
        let release = with("  upgrade:\n    strategy:\n      name: RemediateOnFailure\n").unwrap();
        assert_eq!(release.action_settings(true).retry, None);

        let err = with("  upgrade:\n    strategy:\n      name: Retry\n").unwrap_err();
        assert_eq!(err.field, "spec.upgrade.strategy.name");
        let err = with("  install:\n    strategy:\n      retryInterval: 1m\n").unwrap_err();
        assert_eq!(err.field, "spec.install.strategy.name");
        let err = with(
            "  upgrade:\n    strategy:\n      name: RemediateOnFailure\n      retryInterval: 1m\n",
        )
        .unwrap_err();
        assert_eq!(err.field, "spec.upgrade.strategy");
        assert!(
            err.reason
                .contains(".retryInterval can only be set when .name is 'RetryOnFailure'")
        );
        let err = with(
            "  install:\n    strategy:\n      name: RetryOnFailure\n      retryInterval: soon\n",
        )
        .unwrap_err();
        assert_eq!(err.field, "spec.install.strategy.retryInterval");
    }

    #[test]
    fn every_uninstall_and_rollback_takes_its_own_timeout_else_the_specs() {
        // helm-controller: `GetUninstall().GetTimeout(obj.GetTimeout())`, the same for
        // rollback; both default to spec.timeout (5m when unset).
        let release = HelmRelease::from_yaml(PODINFO).unwrap();
        let uninstall = release.uninstall_settings();
        assert_eq!(uninstall.timeout, Duration::from_secs(300));
        assert_eq!(uninstall.propagation, Propagation::Background);
        assert!(uninstall.hooks && uninstall.wait && !uninstall.keep_history);
        let rollback = release.rollback_settings();
        assert_eq!(rollback.timeout, Duration::from_secs(300));
        assert!(rollback.wait && rollback.wait_for_jobs && rollback.hooks);
        assert!(!rollback.cleanup_on_fail);

        let set = PODINFO.replace(
            "  values:\n",
            "  timeout: 2m\n  uninstall:\n    timeout: 30s\n    disableHooks: true\n    disableWait: true\n    keepHistory: true\n    deletionPropagation: orphan\n  rollback:\n    disableWaitForJobs: true\n    disableHooks: true\n    cleanupOnFail: true\n  upgrade:\n    cleanupOnFail: true\n    disableWaitForJobs: true\n  values:\n",
        );
        let release = HelmRelease::from_yaml(&set).unwrap();
        let uninstall = release.uninstall_settings();
        assert_eq!(uninstall.timeout, Duration::from_secs(30));
        assert_eq!(uninstall.propagation, Propagation::Orphan);
        assert!(!uninstall.hooks && !uninstall.wait && uninstall.keep_history);
        let rollback = release.rollback_settings();
        assert_eq!(rollback.timeout, Duration::from_secs(120), "spec.timeout");
        assert!(rollback.wait && !rollback.wait_for_jobs && !rollback.hooks);
        assert!(rollback.cleanup_on_fail);
        let upgrade = release.action_settings(true);
        assert!(upgrade.cleanup_on_fail && !upgrade.wait_for_jobs);
        let install = release.action_settings(false);
        assert!(
            !install.cleanup_on_fail,
            "Helm's install has no cleanupOnFail"
        );
        assert!(install.wait_for_jobs);
    }

    #[test]
    fn test_failures_are_ignored_as_the_active_remediation_says() {
        let set = PODINFO.replace(
            "  values:\n",
            "  install:\n    remediation:\n      ignoreTestFailures: true\n  upgrade:\n    remediation:\n      retries: 1\n  values:\n",
        );
        let release = HelmRelease::from_yaml(&set).unwrap();
        assert!(release.ignores_test_failures(Some("install"), false));
        // The upgrade's remediation names none: test.ignoreFailures decides.
        assert!(!release.ignores_test_failures(Some("upgrade"), false));
        assert!(release.ignores_test_failures(Some("upgrade"), true));
        assert!(!release.ignores_test_failures(None, false));
    }

    #[test]
    fn uninstall_settings_are_validated() {
        let bad = PODINFO.replace(
            "  values:\n",
            "  uninstall:\n    deletionPropagation: cascade\n  values:\n",
        );
        let err = HelmRelease::from_yaml(&bad).unwrap_err();
        assert_eq!(err.field, "spec.uninstall.deletionPropagation");
        let bad = PODINFO.replace(
            "  values:\n",
            "  rollback:\n    timeout: later\n  values:\n",
        );
        let err = HelmRelease::from_yaml(&bad).unwrap_err();
        assert_eq!(err.field, "spec.rollback.timeout");
    }
}
