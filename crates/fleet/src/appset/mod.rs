//! The ApplicationSet engine: generators → parameter sets → Applications, computed as Argo
//! CD's ApplicationSet controller computes them (`applicationset/generators`,
//! `applicationset/utils`, `applicationset/controllers/template`), and the reconcile plan
//! that turns desired and existing Applications into creates, updates and deletes.
//!
//! Everything here is pure: Git comes in through [`RepoFiles`], clusters as decoded Secrets.

pub mod cluster_decision;
mod generators;
mod ignore;
pub mod params;
pub mod plugin;
pub mod progressive;
pub mod pull_request;
mod render;
mod repo;
pub mod scm_provider;
mod selector;
mod status;
mod sync;

use serde_json::Value;

pub use generators::{DEFAULT_REQUEUE_AFTER, GeneratorContext, MAX_MATRIX_PARAMS};
pub use render::{RenderError, RenderParams, Renderer};
pub use repo::{MemoryRepos, RepoError, RepoFiles};
pub use status::{
    DEFAULT_MAX_RESOURCES_STATUS_COUNT, limit_resource_statuses, resource_statuses, updated_status,
};
pub use sync::{
    Condition, ConditionStatus, Deletion, Plan, ReconcileInput, error_conditions, plan_reconcile,
};

use crate::argocd::application::{Application, RESOURCES_FINALIZER};
use crate::argocd::applicationset::ApplicationSet;
use generators::{Depth, Engine};
use params::Params;

/// Condition reasons Argo CD uses on ApplicationSets.
pub mod reason {
    /// A generator failed.
    pub const PARAMS_GENERATION_ERROR: &str = "ApplicationGenerationFromParamsError";
    /// Rendering the template (or templatePatch) failed.
    pub const RENDER_TEMPLATE_PARAMS_ERROR: &str = "RenderTemplateParamsError";
    /// A generated Application is invalid (no name, duplicate, unknown project/cluster).
    pub const APPLICATION_VALIDATION_ERROR: &str = "ApplicationValidationError";
    /// Creating an Application failed.
    pub const CREATE_APPLICATION_ERROR: &str = "CreateApplicationError";
    /// Creating or updating an Application failed.
    pub const UPDATE_APPLICATION_ERROR: &str = "UpdateApplicationError";
    /// Deleting an Application failed.
    pub const DELETE_APPLICATION_ERROR: &str = "DeleteApplicationError";
    /// Everything is generated and applied.
    pub const UP_TO_DATE: &str = "ApplicationSetUpToDate";
    /// Parameters were generated.
    pub const PARAMETERS_GENERATED: &str = "ParametersGenerated";
    /// Something failed.
    pub const ERROR_OCCURRED: &str = "ErrorOccurred";
}

/// Generation failed; no Application should be created, updated or deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct GenerateError {
    /// Argo CD's condition reason ([`reason::PARAMS_GENERATION_ERROR`] or
    /// [`reason::RENDER_TEMPLATE_PARAMS_ERROR`]).
    pub reason: &'static str,
    /// Argo CD's message.
    pub message: String,
}

/// The Applications an ApplicationSet generates, in generation order.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The Applications (incomplete when `error` is set).
    pub applications: Vec<Application>,
    /// The first error, as Argo CD keeps only the first.
    pub error: Option<GenerateError>,
}

/// Runs every generator of `appset` and renders its template once per parameter set.
pub fn generate_applications(appset: &ApplicationSet, ctx: GeneratorContext<'_>) -> Generated {
    let mut error: Option<GenerateError> = None;
    let fail = |reason: &'static str, message: String, error: &mut Option<GenerateError>| {
        if error.is_none() {
            *error = Some(GenerateError { reason, message });
        }
    };
    if let Some(message) = unrecognized_message(appset) {
        return Generated {
            applications: Vec::new(),
            error: Some(GenerateError {
                reason: reason::PARAMS_GENERATION_ERROR,
                message,
            }),
        };
    }
    let engine = Engine {
        ctx,
        renderer: Renderer::new(appset.spec.go_template, &appset.spec.go_template_options),
        project: template_project(appset),
        appset_name: appset.metadata.name.clone(),
    };
    let mut applications = Vec::new();
    for requested in &appset.spec.generators {
        let results =
            match engine.transform(requested, &appset.spec.template, &Params::new(), Depth::Top) {
                Ok(r) => r,
                Err(message) => {
                    fail(reason::PARAMS_GENERATION_ERROR, message, &mut error);
                    continue;
                }
            };
        for result in results {
            let template = template_application(&result.template);
            for params in &result.params {
                match render_application(&engine.renderer, &template, params, appset) {
                    Ok(app) => applications.push(app),
                    Err(message) => fail(reason::RENDER_TEMPLATE_PARAMS_ERROR, message, &mut error),
                }
            }
        }
    }
    Generated {
        applications,
        error,
    }
}

/// The parameter sets one `generators[]` entry yields (after its `selector`), as Argo CD's
/// `Transform` computes them; the error is Argo CD's message.
pub fn generate_params(
    generator: &Value,
    appset: &ApplicationSet,
    ctx: GeneratorContext<'_>,
) -> Result<Vec<Params>, String> {
    let engine = Engine {
        ctx,
        renderer: Renderer::new(appset.spec.go_template, &appset.spec.go_template_options),
        project: template_project(appset),
        appset_name: appset.metadata.name.clone(),
    };
    let results = engine.transform(generator, &appset.spec.template, &Params::new(), Depth::Top)?;
    Ok(results.into_iter().flat_map(|r| r.params).collect())
}

fn template_project(appset: &ApplicationSet) -> String {
    appset
        .spec
        .template
        .pointer("/spec/project")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The project whose repository Secrets the git generator reads with, as Argo CD's
/// `resolveProjectName`: the template's `spec.project`, or none when it is templated
/// (`{{`), unknown until generation, or empty.
pub fn repository_project(appset: &ApplicationSet) -> Option<String> {
    let project = template_project(appset);
    (!project.is_empty() && !project.contains("{{")).then_some(project)
}

/// `getMinRequeueAfter`: how long until Argo CD would reconcile this ApplicationSet again
/// without an event — the shortest period of its polling generators (git: 3 minutes or
/// `requeueAfterSeconds`); `None` when only event-driven generators are used.
pub fn requeue_after(appset: &ApplicationSet) -> Option<std::time::Duration> {
    appset
        .spec
        .generators
        .iter()
        .map(|g| generators::entry_requeue_after(g, Depth::Top))
        .filter(|d| !d.is_zero())
        .min()
}

/// `CheckInvalidGenerators`: an entry naming no generator Argo CD knows.
fn unrecognized_message(appset: &ApplicationSet) -> Option<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut any = false;
    for requested in &appset.spec.generators {
        let known = generators::GENERATOR_KEYS
            .iter()
            .any(|k| requested.get(*k).is_some_and(|v| !v.is_null()));
        if !known {
            any = true;
            // Upstream names the first key it finds; we name them all.
            names.extend(generators::unrecognized_generators(requested));
        }
    }
    let name = &appset.metadata.name;
    match (any, names.is_empty()) {
        (false, _) => None,
        (true, true) => Some(format!(
            "ApplicationSet {name} contains unrecognized generators"
        )),
        (true, false) => Some(format!(
            "ApplicationSet {name} contains unrecognized generators: {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        )),
    }
}

/// `GetTempApplication`: the template's name, namespace, labels, annotations, finalizers and
/// spec; other metadata fields are not carried over.
fn template_application(template: &Value) -> Value {
    let mut metadata = serde_json::Map::new();
    if let Some(Value::Object(meta)) = template.get("metadata") {
        for key in ["name", "namespace", "labels", "annotations", "finalizers"] {
            if let Some(v) = meta.get(key)
                && !v.is_null()
            {
                metadata.insert(key.to_string(), v.clone());
            }
        }
    }
    let mut app = serde_json::Map::new();
    app.insert("metadata".into(), Value::Object(metadata));
    app.insert(
        "spec".into(),
        template
            .get("spec")
            .cloned()
            .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
    );
    Value::Object(app)
}

/// `RenderTemplateParams` + templatePatch + the namespace rule, for one parameter set.
fn render_application(
    renderer: &Renderer,
    template: &Value,
    params: &Params,
    appset: &ApplicationSet,
) -> Result<Application, String> {
    let render_params = RenderParams::new(params);
    // Upstream returns the template untouched (and without finalizer) for empty parameters.
    let mut app = if params.is_empty() {
        template.clone()
    } else {
        let mut rendered = renderer
            .render_value(template, &render_params)
            .map_err(|e| e.to_string())?;
        let has_finalizers = rendered
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if !appset.preserve_resources_on_deletion() && !has_finalizers {
            rendered["metadata"]["finalizers"] = serde_json::json!([RESOURCES_FINALIZER]);
        }
        rendered
    };
    if let Some(patch) = &appset.spec.template_patch {
        let text = renderer
            .replace(patch, &render_params)
            .map_err(|e| format!("error replacing values in templatePatch: {e}"))?;
        app = apply_template_patch(app, &text)?;
    }
    app["metadata"]["namespace"] = Value::String(appset.metadata.namespace.clone());
    if let Value::Object(map) = &mut app {
        map.insert(
            "apiVersion".into(),
            Value::String("argoproj.io/v1alpha1".into()),
        );
        map.insert("kind".into(), Value::String("Application".into()));
    }
    crate::serde_path::from_value::<Application>(&app)
        .map_err(|e| format!("generated Application is invalid: {e}"))
}

/// `applyTemplatePatch`: a strategic merge patch on the Application (whose lists have no
/// merge keys, so they are replaced); the project cannot be patched.
fn apply_template_patch(app: Value, patch_text: &str) -> Result<Value, String> {
    let patch = crate::yaml::parse_yaml_or_json(patch_text)
        .map_err(|e| format!("error while converting template to json {patch_text:?}: {e}"))?;
    if let Err(e) = crate::serde_path::from_value::<Application>(&patch) {
        return Err(format!("invalid templatePatch {patch_text:?}: {e}"));
    }
    let project = app.pointer("/spec/project").cloned();
    let mut patched =
        flotilla_schema::strategic_merge_patch_owned(app, patch, None).map_err(|e| {
            format!("error while applying templatePatch template to json {patch_text:?}: {e}")
        })?;
    match project {
        Some(project) => patched["spec"]["project"] = project,
        None => {
            if let Some(Value::Object(spec)) = patched.get_mut("spec") {
                spec.remove("project");
            }
        }
    }
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_project(project: Value) -> ApplicationSet {
        serde_json::from_value(json!({
            "metadata": {"name": "s", "namespace": "argocd"},
            "spec": {"generators": [], "template": {"metadata": {}, "spec": {"project": project}}},
        }))
        .unwrap()
    }

    /// Argo CD's `resolveProjectName`: a templated project is unknown before generation.
    #[test]
    fn the_git_generator_reads_with_a_literal_template_project_only() {
        assert_eq!(
            repository_project(&with_project(json!("team-a"))).as_deref(),
            Some("team-a")
        );
        assert_eq!(repository_project(&with_project(json!("{{.team}}"))), None);
        assert_eq!(
            repository_project(&with_project(json!("team-{{.values.team}}"))),
            None
        );
        assert_eq!(repository_project(&with_project(json!(""))), None);
    }
}
