//! Flux `Kustomization` (kustomize.toolkit.fluxcd.io/v1) and `GitRepository`
//! (source.toolkit.fluxcd.io/v1) specs, read unchanged from users' YAML and validated as their
//! CRD schemas validate them (errors worded like the API server's, naming the field), plus
//! Flux's no-cross-namespace-references lockdown.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::argocd::application::{Extra, FieldError};
use crate::meta::ObjectMeta;

pub(crate) const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";
const GIT_TIMEOUT_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$";

/// A reference to an object in another namespace (`sourceRef`, `dependsOn[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceRef {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name of the referent.
    #[serde(default)]
    pub name: String,
    /// Namespace (defaults to the referrer's).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// A `dependsOn[]` entry's CEL readiness check (`self` and `dep`), which replaces the
    /// built-in one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ready_expr: String,
}

/// A `{name}` (and optional `key`) reference to a Secret or ConfigMap.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalRef {
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Key within the object.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

/// `spec.kubeConfig`: apply to a remote cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeConfigRef {
    /// Secret holding the kubeconfig (`value` or `value.yaml` key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalRef>,
    /// ConfigMap holding provider settings (workload identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<LocalRef>,
}

/// `postBuild.substituteFrom[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubstituteReference {
    /// `Secret` or `ConfigMap`.
    #[serde(default)]
    pub kind: String,
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Missing object is not an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// `spec.postBuild`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables for `${var}` substitution.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// Objects whose data adds variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
}

/// `spec.commonMetadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommonMetadata {
    /// Labels added to every object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to every object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec.images[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Image name to match.
    #[serde(default)]
    pub name: String,
    /// Replacement name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub new_name: String,
    /// Replacement tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub new_tag: String,
    /// Replacement digest.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
}

/// `spec.patches[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    /// A strategic merge or JSON 6902 patch, as YAML.
    #[serde(default)]
    pub patch: String,
    /// Which objects to patch (kustomize selector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Value>,
}

/// A Flux Kustomization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kustomization {
    /// `kustomize.toolkit.fluxcd.io/v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `Kustomization`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(default)]
    pub spec: KustomizationSpec,
    /// Status (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// `spec` of a Flux Kustomization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    /// The source holding the manifests.
    #[serde(default)]
    pub source_ref: CrossNamespaceRef,
    /// Directory within the source (default: root).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// Reconcile period (required).
    #[serde(default)]
    pub interval: String,
    /// Retry period after a failure (default: `interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
    /// Delete objects that left the source (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Kustomizations that must be Ready first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<CrossNamespaceRef>,
    /// Objects whose health gates readiness.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<CrossNamespaceRef>,
    /// Wait for every applied object to be healthy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
    /// Timeout of apply and health checks (default: `interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Namespace set on every namespaced object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Service account to impersonate when applying.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// Apply to a remote cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfigRef>,
    /// Variable substitution after the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
    /// Patches applied on top.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    /// Image overrides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Kustomize components to include.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Prefix for object names.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_prefix: String,
    /// Suffix for object names.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name_suffix: String,
    /// Labels and annotations for every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// Recreate objects whose immutable fields changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Stop reconciling.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Other fields (decryption, healthCheckExprs, deletionPolicy, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.ref` of a GitRepository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GitRepositoryRef {
    /// Branch.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    /// Tag.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// Semver range over tags.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub semver: String,
    /// Full reference name (`refs/heads/main`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Commit SHA.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commit: String,
}

/// A Flux GitRepository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepository {
    /// `source.toolkit.fluxcd.io/v1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `GitRepository`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The spec.
    #[serde(default)]
    pub spec: GitRepositorySpec,
    /// Status (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// `spec` of a GitRepository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositorySpec {
    /// `http(s)://` or `ssh://` URL (required).
    #[serde(default)]
    pub url: String,
    /// Credentials Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalRef>,
    /// Fetch period (required).
    #[serde(default)]
    pub interval: String,
    /// Git operation timeout (default `60s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// What to check out (default: the `master` branch).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,
    /// `.sourceignore`-style patterns to leave out of the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Stop reconciling.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Directories to check out (sparse checkout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sparse_checkout: Vec<String>,
    /// Other fields (verify, include, provider, proxySecretRef, recurseSubmodules, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

pub(crate) fn required(field: &str) -> FieldError {
    FieldError::new(field, "Required value")
}

pub(crate) fn check_pattern(
    field: &str,
    value: &str,
    pattern: &str,
    matches: bool,
) -> Result<(), FieldError> {
    if matches {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("Invalid value: {value:?}: {field} in body should match '{pattern}'"),
        ))
    }
}

pub(crate) fn check_enum(field: &str, value: &str, allowed: &[&str]) -> Result<(), FieldError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    let list: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    Err(FieldError::new(
        field,
        format!(
            "Unsupported value: {value:?}: supported values: {}",
            list.join(", ")
        ),
    ))
}

pub(crate) fn check_length(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), FieldError> {
    if value.len() < min {
        return Err(FieldError::new(
            field,
            format!(
                "Invalid value: {value:?}: {field} in body should be at least {min} chars long"
            ),
        ));
    }
    if value.len() > max {
        return Err(FieldError::new(
            field,
            format!("Too long: may not be more than {max} bytes"),
        ));
    }
    Ok(())
}

/// Parses a Flux duration (`1h30m`, `10m`, `500ms`, `1.5s`) as the CRD pattern accepts it.
pub fn parse_duration(text: &str, allow_hours: bool) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        if number.is_empty()
            || number.starts_with('.')
            || number.ends_with('.')
            || number.matches('.').count() > 1
        {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let (unit, next) = if let Some(t) = tail.strip_prefix("ms") {
            (0.001, t)
        } else if let Some(t) = tail.strip_prefix('s') {
            (1.0, t)
        } else if let Some(t) = tail.strip_prefix('m') {
            (60.0, t)
        } else if let Some(t) = tail.strip_prefix('h').filter(|_| allow_hours) {
            (3600.0, t)
        } else {
            return None;
        };
        total += value * unit;
        rest = next;
    }
    Duration::try_from_secs_f64(total).ok()
}

impl Kustomization {
    /// Reads a Kustomization from YAML or JSON and validates it.
    pub fn from_yaml(text: &str) -> Result<Self, FieldError> {
        let value =
            crate::yaml::parse_yaml_or_json(text).map_err(|e| FieldError::new("<document>", e))?;
        let k: Kustomization = crate::serde_path::from_value(&value)?;
        k.validate()?;
        Ok(k)
    }

    /// The checks the CRD's OpenAPI schema makes.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.metadata.name.is_empty() {
            return Err(required("metadata.name"));
        }
        let spec = &self.spec;
        if spec.interval.is_empty() {
            return Err(required("spec.interval"));
        }
        for (field, value) in [
            ("spec.interval", Some(&spec.interval)),
            ("spec.retryInterval", spec.retry_interval.as_ref()),
            ("spec.timeout", spec.timeout.as_ref()),
        ] {
            if let Some(value) = value {
                check_pattern(
                    field,
                    value,
                    DURATION_PATTERN,
                    parse_duration(value, true).is_some(),
                )?;
            }
        }
        if spec.prune.is_none() {
            return Err(required("spec.prune"));
        }
        if spec.source_ref.kind.is_empty() {
            return Err(required("spec.sourceRef.kind"));
        }
        check_enum(
            "spec.sourceRef.kind",
            &spec.source_ref.kind,
            &[
                "OCIRepository",
                "GitRepository",
                "Bucket",
                "ExternalArtifact",
            ],
        )?;
        if spec.source_ref.name.is_empty() {
            return Err(required("spec.sourceRef.name"));
        }
        check_length("spec.sourceRef.name", &spec.source_ref.name, 1, 253)?;
        if !spec.source_ref.namespace.is_empty() {
            check_length(
                "spec.sourceRef.namespace",
                &spec.source_ref.namespace,
                1,
                63,
            )?;
        }
        if let Some(ns) = &spec.target_namespace {
            check_length("spec.targetNamespace", ns, 1, 63)?;
        }
        check_length("spec.namePrefix", &spec.name_prefix, 0, 200)?;
        check_length("spec.nameSuffix", &spec.name_suffix, 0, 200)?;
        for (i, dep) in spec.depends_on.iter().enumerate() {
            if dep.name.is_empty() {
                return Err(required(&format!("spec.dependsOn[{i}].name")));
            }
        }
        for (i, check) in spec.health_checks.iter().enumerate() {
            if check.kind.is_empty() {
                return Err(required(&format!("spec.healthChecks[{i}].kind")));
            }
            if check.name.is_empty() {
                return Err(required(&format!("spec.healthChecks[{i}].name")));
            }
        }
        if let Some(post) = &spec.post_build {
            for (i, from) in post.substitute_from.iter().enumerate() {
                check_enum(
                    &format!("spec.postBuild.substituteFrom[{i}].kind"),
                    &from.kind,
                    &["Secret", "ConfigMap"],
                )?;
                if from.name.is_empty() {
                    return Err(required(&format!(
                        "spec.postBuild.substituteFrom[{i}].name"
                    )));
                }
            }
            for key in post.substitute.keys() {
                let valid = !key.is_empty()
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    && !key.starts_with(|c: char| c.is_ascii_digit());
                if !valid {
                    return Err(FieldError::new(
                        format!("spec.postBuild.substitute.{key}"),
                        "variable names must match ^[_[:alpha:]][_[:alpha:][:digit:]]*$",
                    ));
                }
            }
        }
        if let Some(kube) = &spec.kube_config
            && kube.secret_ref.is_none()
            && kube.config_map_ref.is_none()
        {
            return Err(FieldError::new(
                "spec.kubeConfig",
                "one of secretRef or configMapRef is required",
            ));
        }
        for (i, patch) in spec.patches.iter().enumerate() {
            if patch.patch.is_empty() {
                return Err(required(&format!("spec.patches[{i}].patch")));
            }
        }
        Ok(())
    }

    /// The namespace of the source: `sourceRef.namespace` or the Kustomization's own.
    pub fn source_namespace(&self) -> &str {
        if self.spec.source_ref.namespace.is_empty() {
            &self.metadata.namespace
        } else {
            &self.spec.source_ref.namespace
        }
    }

    /// Flux's `--no-cross-namespace-refs` lockdown (on by default here): a source in another
    /// namespace is refused with Flux's `AccessDenied` message.
    pub fn check_source_access(&self, no_cross_namespace_refs: bool) -> Result<(), String> {
        let namespace = self.source_namespace();
        if no_cross_namespace_refs && namespace != self.metadata.namespace {
            return Err(format!(
                "can't access '{}/{}/{}', cross-namespace references have been blocked",
                self.spec.source_ref.kind, namespace, self.spec.source_ref.name
            ));
        }
        Ok(())
    }

    /// The Kustomizations this one depends on, as `(namespace, name)`; an empty namespace
    /// means this Kustomization's own.
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

    /// The reconcile interval.
    pub fn interval(&self) -> Option<Duration> {
        parse_duration(&self.spec.interval, true)
    }
}

/// kustomize-controller's built-in readiness of one dependency: it has observed its
/// generation and is Ready.
pub fn dependency_ready(namespace: &str, name: &str, dependency: &Value) -> Result<(), String> {
    let conditions = dependency
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let int_at = |path: &str| {
        dependency
            .pointer(path)
            .and_then(Value::as_i64)
            .unwrap_or(0)
    };
    let ready = conditions.iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("Ready")
            && c.get("status").and_then(Value::as_str) == Some("True")
    });
    if conditions.is_empty()
        || int_at("/metadata/generation") != int_at("/status/observedGeneration")
        || !ready
    {
        return Err(format!("dependency '{namespace}/{name}' is not ready"));
    }
    Ok(())
}

impl GitRepository {
    /// Reads a GitRepository from YAML or JSON and validates it.
    pub fn from_yaml(text: &str) -> Result<Self, FieldError> {
        let value =
            crate::yaml::parse_yaml_or_json(text).map_err(|e| FieldError::new("<document>", e))?;
        let g: GitRepository = crate::serde_path::from_value(&value)?;
        g.validate()?;
        Ok(g)
    }

    /// The checks the CRD's OpenAPI schema makes.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.metadata.name.is_empty() {
            return Err(required("metadata.name"));
        }
        let spec = &self.spec;
        if spec.url.is_empty() {
            return Err(required("spec.url"));
        }
        let url_ok = ["http://", "https://", "ssh://"]
            .iter()
            .any(|p| spec.url.starts_with(p));
        check_pattern("spec.url", &spec.url, "^(http|https|ssh)://.*$", url_ok)?;
        if spec.interval.is_empty() {
            return Err(required("spec.interval"));
        }
        check_pattern(
            "spec.interval",
            &spec.interval,
            DURATION_PATTERN,
            parse_duration(&spec.interval, true).is_some(),
        )?;
        if let Some(timeout) = &spec.timeout {
            check_pattern(
                "spec.timeout",
                timeout,
                GIT_TIMEOUT_PATTERN,
                parse_duration(timeout, false).is_some(),
            )?;
        }
        if let Some(secret) = &spec.secret_ref
            && secret.name.is_empty()
        {
            return Err(required("spec.secretRef.name"));
        }
        Ok(())
    }

    /// The revision to check out, as Flux picks it: commit, then name, semver, tag, branch;
    /// `master` when `ref` is absent.
    pub fn revision(&self) -> String {
        match &self.spec.reference {
            None => "master".to_string(),
            Some(r) => [&r.commit, &r.name, &r.semver, &r.tag, &r.branch]
                .into_iter()
                .find(|s| !s.is_empty())
                .cloned()
                .unwrap_or_else(|| "master".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANTS: &str = r#"
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: team-payments
  namespace: team-payments
spec:
  interval: 5m
  sourceRef:
    kind: GitRepository
    name: team-payments-repo
  path: ./deploy
  prune: true
  serviceAccountName: team-payments-sa
  targetNamespace: team-payments
"#;

    #[test]
    fn seed_tenant_reads_and_round_trips() {
        let k = Kustomization::from_yaml(TENANTS).unwrap();
        assert_eq!(k.spec.service_account_name, "team-payments-sa");
        assert_eq!(k.interval(), Some(Duration::from_secs(300)));
        assert_eq!(k.check_source_access(true), Ok(()));
        let back = serde_json::to_value(&k).unwrap();
        let again: Kustomization = serde_json::from_value(back).unwrap();
        assert_eq!(again, k);
    }

    #[test]
    fn cross_namespace_source_is_refused() {
        let text = TENANTS.replace(
            "name: team-payments-repo",
            "name: platform\n    namespace: flux-system",
        );
        let k = Kustomization::from_yaml(&text).unwrap();
        assert_eq!(
            k.check_source_access(true).unwrap_err(),
            "can't access 'GitRepository/flux-system/platform', cross-namespace references have been blocked"
        );
        assert_eq!(k.check_source_access(false), Ok(()));
    }

    #[test]
    fn bad_fields_are_named() {
        let err = Kustomization::from_yaml(&TENANTS.replace("interval: 5m", "interval: 5 minutes"))
            .unwrap_err();
        assert_eq!(err.field, "spec.interval");
        assert!(err.reason.contains("should match"), "{err}");
        let err = Kustomization::from_yaml(&TENANTS.replace("  prune: true\n", "")).unwrap_err();
        assert_eq!(err.to_string(), "spec.prune: Required value");
        let err = Kustomization::from_yaml(
            &TENANTS.replace("kind: GitRepository", "kind: HelmRepository"),
        )
        .unwrap_err();
        assert_eq!(err.field, "spec.sourceRef.kind");
        let err =
            Kustomization::from_yaml(&TENANTS.replace("prune: true", "prune: maybe")).unwrap_err();
        assert_eq!(err.field, "spec.prune");
    }

    #[test]
    fn git_repository_validation() {
        let ok = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: r, namespace: ns}\nspec: {url: 'https://git/x', interval: 1m, ref: {branch: main}}\n";
        let repo = GitRepository::from_yaml(ok).unwrap();
        assert_eq!(repo.revision(), "main");
        let err = GitRepository::from_yaml(&ok.replace("https://git/x", "git@host:x")).unwrap_err();
        assert_eq!(err.field, "spec.url");
        let err =
            GitRepository::from_yaml(&ok.replace("interval: 1m, ", "timeout: 1h, interval: 1m, "))
                .unwrap_err();
        assert_eq!(err.field, "spec.timeout");
    }

    #[test]
    fn dependencies_must_be_ready() {
        let text = TENANTS.replace("  prune: true\n", "  prune: true\n  dependsOn:\n  - name: infra\n    namespace: flux-system\n  - name: crds\n");
        let k = Kustomization::from_yaml(&text).unwrap();
        assert_eq!(
            k.dependencies(),
            [
                ("flux-system".to_string(), "infra".to_string()),
                ("team-payments".to_string(), "crds".to_string())
            ]
        );
        let ready = serde_json::json!({"metadata": {"generation": 2},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}});
        let stale = serde_json::json!({"metadata": {"generation": 3},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(dependency_ready("flux-system", "infra", &ready), Ok(()));
        assert_eq!(
            dependency_ready("team-payments", "crds", &stale),
            Err("dependency 'team-payments/crds' is not ready".to_string())
        );
        let unready = serde_json::json!({"metadata": {"generation": 2},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(dependency_ready("ns", "x", &unready).is_err());
        assert!(
            dependency_ready("ns", "x", &serde_json::json!({})).is_err(),
            "no conditions"
        );
        let with_expr = TENANTS.replace(
            "  prune: true\n",
            "  prune: true\n  dependsOn:\n  - name: infra\n    readyExpr: dep.status.ready == true\n",
        );
        let k = Kustomization::from_yaml(&with_expr).unwrap();
        assert_eq!(k.spec.depends_on[0].ready_expr, "dep.status.ready == true");
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("1h30m", true),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("500ms", true),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration("1.5s", true),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_duration("10", true), None);
        assert_eq!(parse_duration("1h", false), None);
    }
}
