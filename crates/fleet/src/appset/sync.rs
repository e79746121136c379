//! One ApplicationSet reconcile as a pure function: given what was generated and the
//! Applications the ApplicationSet owns, what to create, update and delete, and the status
//! conditions Argo CD would write (`ApplicationSetReconciler.Reconcile`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::{Generated, reason};
use crate::argocd::application::{Application, RESOURCES_FINALIZER};
use crate::argocd::applicationset::{ApplicationSet, ControllerPolicy, PreservedFields};
use crate::cluster::ClusterSecret;

/// Annotations the ApplicationSet controller never overwrites on a live Application.
const PRESERVED_ANNOTATIONS: [&str; 3] = [
    "notified.notifications.argoproj.io",
    "argocd.argoproj.io/refresh",
    "argocd.argoproj.io/hydrate",
];
/// Finalizer prefixes kept from the live Application (hooks run on deletion).
const PRESERVED_FINALIZERS: [&str; 2] = [
    "pre-delete-finalizer.argocd.argoproj.io",
    "post-delete-finalizer.argocd.argoproj.io",
];

/// `True` or `False`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// It does not.
    False,
}

/// An ApplicationSet status condition (`status.conditions[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// `ErrorOccurred`, `ParametersGenerated`, `ResourcesUpToDate`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`/`False`.
    pub status: ConditionStatus,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// An Application to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// Its name (in the ApplicationSet's namespace).
    pub name: String,
    /// Whether its resources go with it: it carries the resources finalizer and its
    /// destination still exists. Argo CD strips the finalizer of an Application whose cluster
    /// is gone before deleting it.
    pub cascade: bool,
    /// The resources finalizer must be removed first (the destination no longer exists).
    pub strip_resources_finalizer: bool,
}

/// What one reconcile does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Applications to create, sorted by name.
    pub create: Vec<Application>,
    /// Applications to update (the live object with the desired spec and metadata), sorted.
    pub update: Vec<Application>,
    /// Applications to delete, sorted by name.
    pub delete: Vec<Deletion>,
    /// Names of generated Applications left as they are (unchanged, or the policy forbids
    /// updating them).
    pub unchanged: Vec<String>,
    /// The conditions to write: `ParametersGenerated`, `ErrorOccurred`, `ResourcesUpToDate`.
    pub conditions: Vec<Condition>,
}

/// The inputs of a reconcile.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileInput<'a> {
    /// The ApplicationSet.
    pub appset: &'a ApplicationSet,
    /// What [`super::generate_applications`] produced.
    pub generated: &'a Generated,
    /// The live Applications this ApplicationSet controls.
    pub existing: &'a [Application],
    /// The controller's `--policy` / `--enable-policy-override`.
    pub controller: ControllerPolicy,
    /// The controller's `--preserved-annotations` / `--preserved-labels`: kept from
    /// every live Application as an ApplicationSet's `preservedFields` keeps them.
    pub global_preserved: &'a PreservedFields,
    /// Names of the AppProjects in the controller's namespace; `None` skips the check.
    pub projects: Option<&'a [String]>,
    /// The cluster Secrets (destinations are checked against them and the in-cluster entry).
    pub clusters: &'a [ClusterSecret],
}

/// Computes the reconcile as Argo CD does it, including its quirks: a generation error
/// changes nothing; invalid Applications are skipped (both copies of a duplicate name); a
/// failed create or update stops before deleting anything.
pub fn plan_reconcile(input: ReconcileInput<'_>) -> Plan {
    let appset = input.appset;
    let mut plan = Plan::default();
    if let Some(error) = &input.generated.error {
        plan.conditions = error_conditions(false, error.reason, &error.message);
        return plan;
    }
    let generated = &input.generated.applications;
    let known = KnownClusters::new(input.clusters);
    let validation = validate(generated, appset, input.projects, &known);
    let mut final_conditions = None;
    if !validation.is_empty() {
        // Upstream keeps the message of the last failing Application (sorted by name).
        let last = validation.values().last().cloned().unwrap_or_default();
        let message = if validation.len() > 1 {
            format!("{last} (and {} more)", validation.len() - 1)
        } else {
            last
        };
        final_conditions = Some(error_conditions(
            true,
            reason::APPLICATION_VALIDATION_ERROR,
            &message,
        ));
    }
    let mut valid: Vec<&Application> = generated
        .iter()
        .filter(|a| !validation.contains_key(&a.metadata.name))
        .collect();
    valid.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));

    let policy = appset.effective_policy(input.controller);
    let ignored = match super::ignore::compile(&appset.spec.ignore_application_differences) {
        Ok(rules) => rules,
        Err(message) => {
            // Upstream fails building its diff config before creating or updating anything.
            plan.conditions = error_conditions(true, apply_error_reason(policy), &message);
            return plan;
        }
    };
    let existing: BTreeMap<&str, &Application> = input
        .existing
        .iter()
        .map(|a| (a.metadata.name.as_str(), a))
        .collect();
    let mut apply_errors: BTreeMap<String, String> = BTreeMap::new();
    for desired in valid {
        let name = desired.metadata.name.as_str();
        match existing.get(name) {
            Some(live) if policy.allow_update() => {
                let mut updated =
                    updated_application(live, desired, appset, input.global_preserved);
                if !ignored.is_empty() {
                    updated = with_ignored_fields_kept(&ignored, live, updated);
                }
                if applications_equal(live, &updated) {
                    plan.unchanged.push(name.to_string());
                } else {
                    // The whole object is replaced (the CRD has no status subresource):
                    // it goes back with the status it has.
                    updated.status = live.status.clone();
                    plan.update.push(updated);
                }
            }
            Some(_) => plan.unchanged.push(name.to_string()),
            None => {
                let errors = flotilla_core::labels::dns1123_subdomain_errors(name);
                if errors.is_empty() {
                    plan.create.push(created_application(desired, appset));
                } else {
                    apply_errors.insert(
                        name.to_string(),
                        format!(
                            "Application.argoproj.io {name:?} is invalid: metadata.name: Invalid value: {name:?}: {}",
                            errors.join("; ")
                        ),
                    );
                }
            }
        }
    }
    if let Some(first) = apply_errors.values().next() {
        plan.conditions = error_conditions(true, apply_error_reason(policy), first);
        return plan;
    }
    if policy.allow_delete() {
        let wanted: BTreeSet<&str> = generated.iter().map(|a| a.metadata.name.as_str()).collect();
        for live in input.existing {
            if wanted.contains(live.metadata.name.as_str()) {
                continue;
            }
            // `removeFinalizerOnInvalidDestination`: the destination must resolve to a cluster
            // Argo CD still knows.
            let strip = known.destination(live).is_err()
                && live
                    .metadata
                    .finalizers
                    .iter()
                    .any(|f| f == RESOURCES_FINALIZER);
            let mut deleted = (*live).clone();
            if strip {
                deleted
                    .metadata
                    .finalizers
                    .retain(|f| f != RESOURCES_FINALIZER);
            }
            plan.delete.push(Deletion {
                name: live.metadata.name.clone(),
                cascade: deleted.cascades_on_delete(),
                strip_resources_finalizer: strip,
            });
        }
        plan.delete.sort_by(|a, b| a.name.cmp(&b.name));
    }
    plan.conditions = final_conditions.unwrap_or_else(up_to_date_conditions);
    plan
}

/// `validateGeneratedApplications`: errors by Application name.
fn validate(
    generated: &[Application],
    appset: &ApplicationSet,
    projects: Option<&[String]>,
    known: &KnownClusters,
) -> BTreeMap<String, String> {
    let mut errors = BTreeMap::new();
    let mut names = BTreeSet::new();
    let set_name = &appset.metadata.name;
    for app in generated {
        let name = &app.metadata.name;
        if name.is_empty() {
            errors.insert(
                String::new(),
                format!(
                    "ApplicationSet {set_name} contains an application with no name; a name must be set in the template's metadata.name or via a templatePatch (generateName is not supported)"
                ),
            );
            continue;
        }
        if !names.insert(name.clone()) {
            errors.insert(
                name.clone(),
                format!(
                    "ApplicationSet {set_name} contains applications with duplicate name: {name}"
                ),
            );
            continue;
        }
        if let Some(projects) = projects
            && !projects.iter().any(|p| p == &app.spec.project)
        {
            errors.insert(
                name.clone(),
                format!(
                    "application references project {} which does not exist",
                    app.spec.project
                ),
            );
            continue;
        }
        if let Err(e) = known.destination(app) {
            errors.insert(
                name.clone(),
                format!("application destination spec is invalid: {e}"),
            );
        }
    }
    errors
}

/// The clusters Argo CD knows, indexed for destination lookups.
struct KnownClusters {
    /// Cluster name → servers with that name.
    by_name: HashMap<String, Vec<String>>,
    /// Server URL (trailing `/` trimmed) → cluster name.
    by_server: HashMap<String, String>,
}

impl KnownClusters {
    fn new(clusters: &[ClusterSecret]) -> Self {
        let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
        let mut by_server = HashMap::new();
        for (name, server) in crate::cluster::known_clusters(clusters) {
            by_name
                .entry(name.clone())
                .or_default()
                .push(server.clone());
            by_server.insert(server.trim_end_matches('/').to_string(), name);
        }
        KnownClusters { by_name, by_server }
    }

    /// `GetDestinationCluster`: the cluster (name, server) an Application's destination
    /// names, or Argo CD's error.
    fn destination(&self, app: &Application) -> Result<(String, String), String> {
        let dest = &app.spec.destination;
        if !dest.name.is_empty() && !dest.server.is_empty() {
            return Err(format!(
                "application destination can't have both name and server defined: {} {}",
                dest.name, dest.server
            ));
        }
        if !dest.name.is_empty() {
            let servers = self
                .by_name
                .get(&dest.name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            return match servers {
                [] => Err(format!(
                    "there are no clusters with this name: {}",
                    dest.name
                )),
                [one] => Ok((dest.name.clone(), one.clone())),
                _ => Err(format!(
                    "there are {} clusters with the same name: [{}]",
                    servers.len(),
                    servers.join(" ")
                )),
            };
        }
        if dest.server.is_empty() {
            return Err("Destination server missing from app spec".to_string());
        }
        let server = dest.server.trim_end_matches('/');
        self.by_server
            .get(server)
            .map(|name| (name.clone(), server.to_string()))
            .ok_or_else(|| {
                format!(
                    "error getting cluster by server {:?}: rpc error: code = NotFound desc = cluster {server:?} not found",
                    dest.server
                )
            })
    }
}

/// A new Application as created: the desired one, owned by the ApplicationSet.
fn created_application(desired: &Application, appset: &ApplicationSet) -> Application {
    let mut app = desired.clone();
    normalize_spec(&mut app);
    set_owner(&mut app, appset);
    app
}

/// `createOrUpdateInCluster`'s mutate function: the live object with the desired spec,
/// labels, annotations and finalizers, keeping preserved annotations, labels and finalizers.
fn updated_application(
    live: &Application,
    desired: &Application,
    appset: &ApplicationSet,
    global_preserved: &PreservedFields,
) -> Application {
    let mut desired = desired.clone();
    normalize_spec(&mut desired);
    // Without its status, which the comparison does not read (copied only for an update).
    let mut found = Application {
        api_version: live.api_version.clone(),
        kind: live.kind.clone(),
        metadata: live.metadata.clone(),
        spec: desired.spec.clone(),
        operation: live.operation.clone(),
        status: None,
        extra: live.extra.clone(),
    };
    if desired.operation.is_some() {
        found.operation = desired.operation.clone();
    }
    let mut annotation_keys: Vec<&str> = PRESERVED_ANNOTATIONS.to_vec();
    let mut label_keys: Vec<&str> = Vec::new();
    for preserved in appset
        .spec
        .preserved_fields
        .iter()
        .chain([global_preserved])
    {
        annotation_keys.extend(preserved.annotations.iter().map(String::as_str));
        label_keys.extend(preserved.labels.iter().map(String::as_str));
    }
    for key in annotation_keys {
        if let Some(v) = live.metadata.annotations.get(key) {
            desired
                .metadata
                .annotations
                .insert(key.to_string(), v.clone());
        }
    }
    for key in label_keys {
        if let Some(v) = live.metadata.labels.get(key) {
            desired.metadata.labels.insert(key.to_string(), v.clone());
        }
    }
    for prefix in PRESERVED_FINALIZERS {
        for f in &live.metadata.finalizers {
            if f.starts_with(prefix) {
                desired.metadata.finalizers.push(f.clone());
            }
        }
    }
    found.metadata.annotations = desired.metadata.annotations;
    found.metadata.labels = desired.metadata.labels;
    found.metadata.finalizers = desired.metadata.finalizers;
    set_owner(&mut found, appset);
    found
}

/// The reason of a failed create-or-update: the update's when the policy updates.
fn apply_error_reason(
    policy: crate::argocd::applicationset::ApplicationsSyncPolicy,
) -> &'static str {
    if policy.allow_update() {
        reason::UPDATE_APPLICATION_ERROR
    } else {
        reason::CREATE_APPLICATION_ERROR
    }
}

/// `updated` with the live Application's values of the fields `spec.ignoreApplicationDifferences`
/// ignores. Its identity and operation stay the generated ones, as upstream restores them.
pub(super) fn with_ignored_fields_kept(
    rules: &[super::ignore::IgnoreRule],
    live: &Application,
    updated: Application,
) -> Application {
    let (Ok(live_json), Ok(mut json)) =
        (serde_json::to_value(live), serde_json::to_value(&updated))
    else {
        return updated;
    };
    super::ignore::keep_ignored(rules, &updated.metadata.name, &live_json, &mut json);
    match serde_json::from_value::<Application>(json) {
        Ok(mut kept) => {
            kept.api_version = updated.api_version;
            kept.kind = updated.kind;
            kept.metadata.name = updated.metadata.name;
            kept.metadata.namespace = updated.metadata.namespace;
            kept.operation = updated.operation;
            kept
        }
        Err(_) => updated,
    }
}

/// `NormalizeApplicationSpec`: an empty project means `default`.
pub(super) fn normalize_spec(app: &mut Application) {
    if app.spec.project.is_empty() {
        app.spec.project = "default".to_string();
    }
}

fn set_owner(app: &mut Application, appset: &ApplicationSet) {
    let owner = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "name": appset.metadata.name,
        "uid": appset.metadata.uid.clone().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    });
    app.metadata
        .owner_references
        .retain(|r| r.get("controller").and_then(serde_json::Value::as_bool) != Some(true));
    app.metadata.owner_references.push(owner);
}

/// Whether an update would change anything the controller manages.
fn applications_equal(live: &Application, updated: &Application) -> bool {
    live.spec == updated.spec
        && live.metadata.labels == updated.metadata.labels
        && live.metadata.annotations == updated.metadata.annotations
        && live.metadata.finalizers == updated.metadata.finalizers
        && live.metadata.owner_references == updated.metadata.owner_references
        && live.operation == updated.operation
}

fn condition(kind: &str, status: ConditionStatus, reason: &str, message: &str) -> Condition {
    Condition {
        kind: kind.to_string(),
        status,
        reason: reason.to_string(),
        message: message.to_string(),
    }
}

/// `setApplicationSetStatusCondition` with one `ErrorOccurred=True` condition (and what
/// it implies for `ParametersGenerated` and `ResourcesUpToDate`).
pub fn error_conditions(parameters_generated: bool, reason: &str, message: &str) -> Vec<Condition> {
    let parameters = if parameters_generated {
        condition(
            "ParametersGenerated",
            ConditionStatus::True,
            reason::PARAMETERS_GENERATED,
            "Successfully generated parameters for all Applications",
        )
    } else {
        condition(
            "ParametersGenerated",
            ConditionStatus::False,
            reason::ERROR_OCCURRED,
            message,
        )
    };
    vec![
        parameters,
        condition("ErrorOccurred", ConditionStatus::True, reason, message),
        condition(
            "ResourcesUpToDate",
            ConditionStatus::False,
            reason::ERROR_OCCURRED,
            message,
        ),
    ]
}

/// `setApplicationSetStatusCondition` with `ResourcesUpToDate=True`.
fn up_to_date_conditions() -> Vec<Condition> {
    let message = "All applications have been generated successfully";
    vec![
        condition(
            "ParametersGenerated",
            ConditionStatus::True,
            reason::PARAMETERS_GENERATED,
            "Successfully generated parameters for all Applications",
        ),
        condition(
            "ResourcesUpToDate",
            ConditionStatus::True,
            reason::UP_TO_DATE,
            message,
        ),
        condition(
            "ErrorOccurred",
            ConditionStatus::False,
            reason::UP_TO_DATE,
            message,
        ),
    ]
}
