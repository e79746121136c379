//! Argo CD `ApplicationSet` (argoproj.io/v1alpha1). Generators and the template stay JSON:
//! the engine substitutes parameters into every string of them, as Argo CD does by reflection.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::application::{Extra, FieldError};
use crate::meta::ObjectMeta;

/// An ApplicationSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSet {
    /// `argoproj.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `ApplicationSet`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The generators, the template and the policies.
    #[serde(default)]
    pub spec: ApplicationSetSpec,
    /// Status (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec` of an ApplicationSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSpec {
    /// Go templates (`{{.path.basename}}`) instead of fasttemplate (`{{path.basename}}`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub go_template: bool,
    /// Go template options, e.g. `missingkey=error`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub go_template_options: Vec<String>,
    /// The generators (each a JSON object with one generator key and an optional `selector`).
    #[serde(default)]
    pub generators: Vec<Value>,
    /// The Application template: `metadata` (name, namespace, labels, annotations,
    /// finalizers) and `spec`.
    #[serde(default)]
    pub template: Value,
    /// A YAML/JSON strategic merge patch rendered per parameter set and applied on top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_patch: Option<String>,
    /// How generated Applications relate to the ApplicationSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<ApplicationSetSyncPolicy>,
    /// Annotations and labels of generated Applications that users may change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserved_fields: Option<PreservedFields>,
    /// Fields of generated Applications left as they are on the live Applications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_application_differences: Vec<ApplicationIgnoreDifferences>,
    /// How generated Applications are synced: all at once, or step by step
    /// (`RollingSync`, a progressive sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.strategy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Strategy {
    /// `AllAtOnce` (the default) or `RollingSync`.
    #[serde(rename = "type", default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The steps of a `RollingSync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_sync: Option<RollingSync>,
    /// `AllAtOnce` or `Reverse` (deleting Applications step by step, last step first).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deletion_order: String,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.strategy.rollingSync`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollingSync {
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<RolloutStep>,
}

/// One step of a `RollingSync`: the Applications its expressions select on their labels,
/// at most `maxUpdate` of them syncing at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStep {
    /// Label expressions, all of which must hold (`In` or `NotIn`).
    #[serde(default)]
    pub match_expressions: Vec<MatchExpression>,
    /// An integer or a percentage (`"25%"`) of the step's Applications; unset: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_update: Option<IntOrString>,
}

/// A label expression of a rollout step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchExpression {
    /// The label.
    #[serde(default)]
    pub key: String,
    /// `In` or `NotIn`.
    #[serde(default)]
    pub operator: String,
    /// The values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// Kubernetes' `IntOrString`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A number.
    Int(i64),
    /// A string (a percentage, `"25%"`).
    String(String),
}

/// One `spec.ignoreApplicationDifferences` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIgnoreDifferences {
    /// The Application it applies to; every one when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// RFC 6901 pointers into the Application (`/spec/source/targetRevision`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// jq paths (`.spec.syncPolicy.automated`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
}

/// `spec.syncPolicy` of an ApplicationSet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSetSyncPolicy {
    /// Generated Applications carry no resources finalizer, so deleting them leaves their
    /// resources in the clusters.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preserve_resources_on_deletion: bool,
    /// `create-only`, `create-update`, `create-delete` or `sync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications_sync: Option<ApplicationsSyncPolicy>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `spec.preservedFields`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreservedFields {
    /// Annotation keys kept from the live Application.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
    /// Label keys kept from the live Application.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// What the ApplicationSet controller may do to generated Applications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ApplicationsSyncPolicy {
    /// Create only.
    #[serde(rename = "create-only")]
    CreateOnly,
    /// Create and update, never delete.
    #[serde(rename = "create-update")]
    CreateUpdate,
    /// Create and delete, never update.
    #[serde(rename = "create-delete")]
    CreateDelete,
    /// Create, update and delete (the default).
    #[default]
    #[serde(rename = "sync")]
    Sync,
}

impl ApplicationsSyncPolicy {
    /// Whether existing Applications are updated.
    pub fn allow_update(self) -> bool {
        matches!(self, Self::CreateUpdate | Self::Sync)
    }

    /// Whether Applications no longer generated are deleted.
    pub fn allow_delete(self) -> bool {
        matches!(self, Self::CreateDelete | Self::Sync)
    }
}

impl ApplicationSet {
    /// Reads an ApplicationSet from YAML or JSON; errors name the field.
    pub fn from_yaml(text: &str) -> Result<Self, FieldError> {
        let value =
            crate::yaml::parse_yaml_or_json(text).map_err(|e| FieldError::new("<document>", e))?;
        Self::from_value(&value)
    }

    /// Reads an ApplicationSet from a JSON value; errors name the field.
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        let set: ApplicationSet = crate::serde_path::from_value(value)?;
        if set.metadata.name.is_empty() {
            return Err(FieldError::new("metadata.name", "is required"));
        }
        for (i, generator) in set.spec.generators.iter().enumerate() {
            if !generator.is_object() {
                return Err(FieldError::new(
                    format!("spec.generators[{i}]"),
                    "expected an object",
                ));
            }
        }
        if !(set.spec.template.is_object() || set.spec.template.is_null()) {
            return Err(FieldError::new("spec.template", "expected an object"));
        }
        Ok(set)
    }

    /// The applicationsSync policy in force: the controller's unless the ApplicationSet
    /// overrides it and the controller allows overrides (Argo CD's `DefaultPolicy`).
    pub fn effective_policy(&self, controller: ControllerPolicy) -> ApplicationsSyncPolicy {
        match self
            .spec
            .sync_policy
            .as_ref()
            .and_then(|p| p.applications_sync)
        {
            Some(own) if controller.allow_override => own,
            _ => controller.policy,
        }
    }

    /// Whether generated Applications keep their resources when deleted.
    pub fn preserve_resources_on_deletion(&self) -> bool {
        self.spec
            .sync_policy
            .as_ref()
            .is_some_and(|p| p.preserve_resources_on_deletion)
    }
}

/// The controller's `--policy` and `--enable-policy-override`. The default (no `--policy`)
/// is `sync` with overrides allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerPolicy {
    /// The controller-wide policy.
    pub policy: ApplicationsSyncPolicy,
    /// Whether an ApplicationSet's own `applicationsSync` is honoured.
    pub allow_override: bool,
}

impl Default for ControllerPolicy {
    fn default() -> Self {
        ControllerPolicy {
            policy: ApplicationsSyncPolicy::Sync,
            allow_override: true,
        }
    }
}
