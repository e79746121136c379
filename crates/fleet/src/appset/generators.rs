//! The generators and Argo CD's `Transform`, which runs the generators named in one
//! `generators[]` entry, interpolates a matrix sibling's parameters into them and applies the
//! post-generation `selector`.
//!
//! Error messages reproduce Argo CD's wrapping chains (`error generating params from git:
//! ...`), since users search for them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::params::{Params, flatten, go_sprint, merge_override, sanitize_name};
use super::render::{RenderParams, Renderer};
use super::repo::RepoFiles;
use super::selector::ParamSelector;
use crate::cluster::{ClusterSecret, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};
use crate::glob;

/// Generator keys in the order Argo CD's `ApplicationSetGenerator` struct declares them.
pub(crate) const GENERATOR_KEYS: [&str; 9] = [
    "list",
    "clusters",
    "git",
    "scmProvider",
    "clusterDecisionResource",
    "pullRequest",
    "matrix",
    "merge",
    "plugin",
];

const EMPTY_GENERATOR: &str = "ApplicationSet is empty";

/// Most parameter sets one matrix may yield. Argo CD has no bound; a matrix of two large
/// generators multiplies, so we stop before it exhausts memory.
pub const MAX_MATRIX_PARAMS: usize = 100_000;

/// The inputs generators read besides the ApplicationSet itself.
#[derive(Clone, Copy)]
pub struct GeneratorContext<'a> {
    /// Git repositories, for the git generator.
    pub repos: &'a dyn RepoFiles,
    /// Secrets labelled `argocd.argoproj.io/secret-type: cluster` in the controller's
    /// namespace, for the clusters generator.
    pub cluster_secrets: &'a [ClusterSecret],
    /// Argo CD's `applicationsetcontroller.enable.new.git.file.globbing`: doublestar globs
    /// instead of `git ls-files` pathspecs for git `files`.
    pub new_git_file_globbing: bool,
    /// Names of the AppProjects in the controller's namespace. The git generator refuses to
    /// run when the template's (untemplated) project is not among them, as Argo CD does;
    /// `None` skips the check.
    pub projects: Option<&'a [String]>,
    /// Open pull requests, for the pull request generator (none: it fails saying so).
    pub pull_requests: Option<&'a dyn super::pull_request::PullRequests>,
    /// Forges' organizations, for the SCM provider generator (none: it fails saying so).
    pub scm_providers: Option<&'a dyn super::scm_provider::ScmProviders>,
    /// ConfigMaps, Secrets and duck-typed resources of the controller's namespace, for the
    /// clusterDecisionResource and plugin generators (none: they fail saying so).
    pub controller_objects: Option<&'a dyn super::cluster_decision::ControllerObjects>,
    /// The HTTP call of the plugin generator (none: it fails saying so).
    pub plugins: Option<&'a dyn super::plugin::PluginServices>,
}

impl std::fmt::Debug for GeneratorContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratorContext")
            .field("cluster_secrets", &self.cluster_secrets.len())
            .field("new_git_file_globbing", &self.new_git_file_globbing)
            .finish_non_exhaustive()
    }
}

/// Which generators may appear at this depth: matrix and merge nest one level only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// A `spec.generators[]` entry.
    Top,
    /// A child of a top-level matrix or merge: may itself be a matrix or merge.
    Nested,
    /// A child of a nested matrix or merge: terminal generators only.
    Terminal,
}

/// The parameters of one generator and the template its Applications use.
pub(crate) struct TransformResult {
    pub(crate) params: Vec<Params>,
    pub(crate) template: Value,
}

pub(crate) struct Engine<'a> {
    pub(crate) ctx: GeneratorContext<'a>,
    pub(crate) renderer: Renderer,
    /// `spec.template.spec.project` of the ApplicationSet.
    pub(crate) project: String,
    /// `metadata.name` of the ApplicationSet (the plugin generator sends it).
    pub(crate) appset_name: String,
}

impl Engine<'_> {
    fn go_template(&self) -> bool {
        self.renderer.is_go_template()
    }

    /// Argo CD's `Transform`.
    pub(crate) fn transform(
        &self,
        requested: &Value,
        base_template: &Value,
        gen_params: &Params,
        depth: Depth,
    ) -> Result<Vec<TransformResult>, String> {
        let selector = match requested.get("selector") {
            None | Some(Value::Null) => None,
            Some(s) => Some(
                ParamSelector::parse(s)
                    .map_err(|e| format!("error parsing label selector: {e}"))?,
            ),
        };
        let mut results = Vec::new();
        let mut first_error: Option<String> = None;
        for kind in relevant_generators(requested, depth) {
            let spec = &requested[kind];
            let template = merged_template(spec.get("template"), base_template);
            let interpolated;
            let spec = if gen_params.is_empty() {
                spec
            } else {
                match self.interpolate(requested, gen_params) {
                    Ok(v) => {
                        interpolated = v;
                        &interpolated[kind]
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                        continue;
                    }
                }
            };
            let params = match self.generate(kind, spec, depth) {
                Ok(p) => p,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            let params = match &selector {
                None => params,
                Some(selector) => params
                    .into_iter()
                    .filter(|p| selector.matches(&super::params::flatten_to_labels(p)))
                    .collect(),
            };
            results.push(TransformResult { params, template });
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(results),
        }
    }

    fn generate(&self, kind: &str, spec: &Value, depth: Depth) -> Result<Vec<Params>, String> {
        match kind {
            "list" => self.list(spec),
            "clusters" => self.clusters(spec),
            "git" => self.git(spec),
            "scmProvider" => self.scm_provider(spec),
            "pullRequest" => self.pull_request(spec),
            "clusterDecisionResource" => self.cluster_decision_resource(spec),
            "plugin" => self.plugin(spec),
            "matrix" => self.matrix(spec, depth),
            "merge" => self.merge(spec, depth),
            other => Err(format!(
                "the {other} generator is not supported by flotilla yet"
            )),
        }
    }

    /// `RenderGeneratorParams`: a matrix's second child sees the first child's parameters in
    /// every string. A generator's own `values` are pre-resolved with `missingkey=error`, and a
    /// value naming a key the sibling lacks stays as written, for the generator to resolve.
    fn interpolate(&self, requested: &Value, params: &Params) -> Result<Value, String> {
        let render_params = RenderParams::new(params);
        let mut out = serde_json::Map::new();
        let Value::Object(fields) = requested else {
            return Ok(requested.clone());
        };
        let values_renderer = if self.go_template() {
            let mut options: Vec<String> = self
                .renderer
                .options()
                .iter()
                .filter(|o| !o.starts_with("missingkey="))
                .cloned()
                .collect();
            options.push("missingkey=error".to_string());
            self.renderer.with_options(options)
        } else {
            self.renderer.clone()
        };
        for (key, spec) in fields {
            let has_values = matches!(
                key.as_str(),
                "clusters"
                    | "git"
                    | "scmProvider"
                    | "pullRequest"
                    | "clusterDecisionResource"
                    | "plugin"
            );
            let rendered = match (has_values, spec) {
                (true, Value::Object(generator)) => {
                    let mut generator_out = serde_json::Map::new();
                    for (field, value) in generator {
                        if field == "values"
                            && let Value::Object(values) = value
                        {
                            let mut resolved = serde_json::Map::new();
                            for (k, v) in values {
                                let text = v.as_str().unwrap_or_default();
                                match values_renderer.replace(text, &render_params) {
                                    Ok(r) => resolved.insert(k.clone(), Value::String(r)),
                                    Err(e) if e.is_missing_key() => {
                                        resolved.insert(k.clone(), v.clone())
                                    }
                                    Err(e) => {
                                        return Err(format!(
                                            "failed to replace parameters in generator: failed to pre-resolve Values key {k:?}: {e}"
                                        ));
                                    }
                                };
                            }
                            generator_out.insert(field.clone(), Value::Object(resolved));
                            continue;
                        }
                        if value.is_null() {
                            continue;
                        }
                        let rendered =
                            self.renderer
                                .render_value(value, &render_params)
                                .map_err(|e| {
                                    format!("failed to replace parameters in generator: {e}")
                                })?;
                        generator_out.insert(field.clone(), rendered);
                    }
                    Value::Object(generator_out)
                }
                _ => self
                    .renderer
                    .render_value(spec, &render_params)
                    .map_err(|e| format!("failed to replace parameters in generator: {e}"))?,
            };
            out.insert(key.clone(), rendered);
        }
        Ok(Value::Object(out))
    }

    /// `appendTemplatedValues`: a generator's `values`, rendered against its own parameters.
    fn append_values(&self, values: Option<&Value>, params: &mut Params) -> Result<(), String> {
        let Some(Value::Object(values)) = values else {
            return Ok(());
        };
        let mut rendered = serde_json::Map::new();
        {
            let render_params = RenderParams::new(params);
            for (key, value) in values {
                let text = match value {
                    Value::String(s) => s.as_str(),
                    _ => return Err(format!("values.{key}: expected a string")),
                };
                let result = self.renderer.replace(text, &render_params).map_err(|e| {
                    format!("failed to replace templated string: failed to replace templated string with rendered values: {e}")
                })?;
                rendered.insert(key.clone(), Value::String(result));
            }
        }
        if self.go_template() {
            params.insert("values".to_string(), Value::Object(rendered));
        } else {
            for (key, value) in rendered {
                params.insert(format!("values.{key}"), value);
            }
        }
        Ok(())
    }

    /// `PullRequestGenerator.GenerateParams`.
    fn pull_request(&self, spec: &Value) -> Result<Vec<Params>, String> {
        use super::pull_request::{PullRequestError, filtered, params_of};
        let Some(provider) = self.ctx.pull_requests else {
            return Err("failed to select pull request service provider: no pull request provider is configured".into());
        };
        let pulls = match provider.list(spec) {
            Ok(pulls) => pulls,
            Err(PullRequestError::RepositoryNotFound(_))
                if spec
                    .get("continueOnRepoNotFoundError")
                    .and_then(Value::as_bool)
                    == Some(true) =>
            {
                Vec::new()
            }
            Err(e) => return Err(format!("error listing repos: {e}")),
        };
        let pulls = filtered(pulls, spec.get("filters"))?;
        let values = spec.get("values");
        pulls
            .iter()
            .map(|pull| {
                let mut params = params_of(pull, self.go_template());
                self.append_values(values, &mut params)
                    .map_err(|e| format!("failed to append templated values: {e}"))?;
                Ok(params)
            })
            .collect()
    }

    /// `DuckTypeGenerator.GenerateParams`.
    fn cluster_decision_resource(&self, spec: &Value) -> Result<Vec<Params>, String> {
        let Some(objects) = self.ctx.controller_objects else {
            return Err("error reading configMapRef: no controller namespace is configured".into());
        };
        super::cluster_decision::generate(
            objects,
            self.ctx.cluster_secrets,
            spec,
            self.go_template(),
        )
    }

    /// `PluginGenerator.GenerateParams`.
    fn plugin(&self, spec: &Value) -> Result<Vec<Params>, String> {
        let (Some(objects), Some(plugins)) = (self.ctx.controller_objects, self.ctx.plugins) else {
            return Err(
                "error getting plugin from generator: no plugin service is configured".into(),
            );
        };
        let generated = super::plugin::generate(
            objects,
            plugins,
            &self.appset_name,
            spec,
            self.go_template(),
        )?;
        let values = spec.get("values");
        generated
            .params
            .into_iter()
            .map(|mut params| {
                self.append_values(values, &mut params).map_err(|e| {
                    super::plugin::scrubbed(
                        format!("error generating params: {e}"),
                        &generated.token,
                    )
                })?;
                Ok(params)
            })
            .collect()
    }

    /// `SCMProviderGenerator.GenerateParams`.
    fn scm_provider(&self, spec: &Value) -> Result<Vec<Params>, String> {
        use super::scm_provider::{list_repos, params_of};
        let Some(providers) = self.ctx.scm_providers else {
            return Err("no SCM provider implementation configured".into());
        };
        let provider = providers.provider(spec).map_err(|e| e.0)?;
        let repos =
            list_repos(provider.as_ref(), spec).map_err(|e| format!("error listing repos: {e}"))?;
        let values = spec.get("values");
        repos
            .iter()
            .map(|repo| {
                let mut params = params_of(repo, self.go_template());
                self.append_values(values, &mut params)
                    .map_err(|e| format!("failed to append templated values: {e}"))?;
                Ok(params)
            })
            .collect()
    }

    fn list(&self, spec: &Value) -> Result<Vec<Params>, String> {
        let mut out = Vec::new();
        let elements = match spec.get("elements") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(items)) => items.as_slice(),
            Some(_) => return Err("list.elements: expected a list".to_string()),
        };
        for element in elements {
            let element = match element {
                Value::Object(map) => map.clone(),
                Value::Null => Params::new(),
                other => {
                    return Err(format!(
                        "error unmarshling list element json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                        go_json_kind(other)
                    ));
                }
            };
            if self.go_template() {
                out.push(element);
                continue;
            }
            let mut params = Params::new();
            for (key, value) in element {
                if key == "values" {
                    let Value::Object(values) = value else {
                        return Err("error parsing values map".to_string());
                    };
                    for (k, v) in values {
                        let Value::String(v) = v else {
                            return Err("error parsing value as string %!w(<nil>)".to_string());
                        };
                        params.insert(format!("values.{k}"), Value::String(v));
                    }
                } else {
                    let Value::String(v) = value else {
                        return Err("error parsing value as string %!w(<nil>)".to_string());
                    };
                    params.insert(key, Value::String(v));
                }
            }
            out.push(params);
        }
        if let Some(Value::String(text)) = spec.get("elementsYaml")
            && !text.is_empty()
        {
            let parsed = crate::yaml::parse_first(text)
                .map_err(|e| format!("error unmarshling decoded ElementsYaml {e}"))?;
            match parsed {
                Value::Null => {}
                Value::Array(items) => {
                    for item in items {
                        match item {
                            Value::Object(map) => out.push(map),
                            Value::Null => out.push(Params::new()),
                            other => {
                                return Err(format!(
                                    "error unmarshling decoded ElementsYaml error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                                    go_json_kind(&other)
                                ));
                            }
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "error unmarshling decoded ElementsYaml error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []map[string]interface {{}}",
                        go_json_kind(&other)
                    ));
                }
            }
        }
        Ok(out)
    }

    fn clusters(&self, spec: &Value) -> Result<Vec<Params>, String> {
        let selector_json = spec.get("selector").cloned().unwrap_or(Value::Null);
        let has_requirements =
            ["matchLabels", "matchExpressions"]
                .iter()
                .any(|k| match selector_json.get(*k) {
                    Some(Value::Object(m)) => !m.is_empty(),
                    Some(Value::Array(a)) => !a.is_empty(),
                    _ => false,
                });
        // metav1.AddLabelToSelector: the secret-type label is always required.
        let mut with_type = match &selector_json {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let match_labels = with_type
            .entry("matchLabels")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !match_labels.is_object() {
            *match_labels = Value::Object(serde_json::Map::new());
        }
        if let Value::Object(labels) = match_labels {
            labels.insert(
                crate::cluster::SECRET_TYPE_LABEL.to_string(),
                Value::String(crate::cluster::SECRET_TYPE_CLUSTER.to_string()),
            );
        }
        let selector =
            flotilla_core::labels::Selector::from_label_selector(&Value::Object(with_type))
                .map_err(|e| {
                    format!("error getting cluster secrets: error converting label selector: {e}")
                })?;

        // Keyed by cluster name, later secrets replacing earlier ones, as upstream's map does;
        // iterated in name order (Go's map order is random).
        let mut by_name: BTreeMap<&str, &ClusterSecret> = BTreeMap::new();
        for secret in self.ctx.cluster_secrets {
            if selector.matches(&secret.labels) {
                by_name.insert(secret.name.as_str(), secret);
            }
        }
        let values = spec.get("values");
        let mut out = Vec::new();
        for secret in by_name.values() {
            let mut params = Params::new();
            params.insert("name".into(), Value::String(secret.name.clone()));
            params.insert(
                "nameNormalized".into(),
                Value::String(sanitize_name(&secret.name)),
            );
            params.insert("server".into(), Value::String(secret.server.clone()));
            params.insert(
                "project".into(),
                Value::String(secret.project.clone().unwrap_or_default()),
            );
            if self.go_template() {
                let mut meta = serde_json::Map::new();
                if !secret.annotations.is_empty() {
                    meta.insert("annotations".into(), string_map(&secret.annotations));
                }
                if !secret.labels.is_empty() {
                    meta.insert("labels".into(), string_map(&secret.labels));
                }
                params.insert("metadata".into(), Value::Object(meta));
            } else {
                for (k, v) in &secret.annotations {
                    params.insert(
                        format!("metadata.annotations.{k}"),
                        Value::String(v.clone()),
                    );
                }
                for (k, v) in &secret.labels {
                    params.insert(format!("metadata.labels.{k}"), Value::String(v.clone()));
                }
            }
            self.append_values(values, &mut params)
                .map_err(|e| format!("error appending templated values for cluster: {e}"))?;
            out.push(params);
        }
        let has_local = by_name.values().any(|s| s.server == IN_CLUSTER_SERVER);
        if !has_requirements && !has_local {
            let mut params = Params::new();
            params.insert("name".into(), Value::String(IN_CLUSTER_NAME.into()));
            params.insert(
                "nameNormalized".into(),
                Value::String(IN_CLUSTER_NAME.into()),
            );
            params.insert("server".into(), Value::String(IN_CLUSTER_SERVER.into()));
            params.insert("project".into(), Value::String(String::new()));
            self.append_values(values, &mut params)
                .map_err(|e| format!("error appending templated values for local cluster: {e}"))?;
            out.push(params);
        }
        if spec.get("flatList").and_then(Value::as_bool) == Some(true) {
            let mut flat = Params::new();
            flat.insert(
                "clusters".into(),
                Value::Array(out.into_iter().map(Value::Object).collect()),
            );
            return Ok(vec![flat]);
        }
        Ok(out)
    }

    fn git(&self, spec: &Value) -> Result<Vec<Params>, String> {
        if !self.project.contains("{{")
            && let Some(projects) = self.ctx.projects
            && !projects.contains(&self.project)
        {
            let project = &self.project;
            return Err(format!(
                "error getting project {project}: appprojects.argoproj.io {project:?} not found"
            ));
        }
        let repo_url = spec
            .get("repoURL")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let revision = spec
            .get("revision")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let prefix = spec
            .get("pathParamPrefix")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let items = |key: &str| -> Vec<(String, bool)> {
            spec.get(key)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|i| {
                            (
                                i.get("path")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                                i.get("exclude").and_then(Value::as_bool).unwrap_or(false),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let directories = items("directories");
        let files = items("files");
        let result = if !directories.is_empty() {
            self.git_directories(repo_url, revision, &directories, spec.get("values"), prefix)
        } else if !files.is_empty() {
            self.git_files(repo_url, revision, &files, spec.get("values"), prefix)
        } else {
            return Err(EMPTY_GENERATOR.to_string());
        };
        result.map_err(|e| format!("error generating params from git: {e}"))
    }

    fn git_directories(
        &self,
        repo_url: &str,
        revision: &str,
        requested: &[(String, bool)],
        values: Option<&Value>,
        prefix: &str,
    ) -> Result<Vec<Params>, String> {
        let mut all = self
            .ctx
            .repos
            .list_directories(repo_url, revision)
            .map_err(|e| format!("error getting directories from repo: {e}"))?;
        // The repo server walks the checkout depth first in lexical order.
        all.sort_by(|a, b| a.split('/').cmp(b.split('/')));
        let mut out = Vec::new();
        for app_path in all {
            let mut include = false;
            let mut exclude = false;
            for (pattern, is_exclude) in requested {
                // A malformed pattern is logged and skipped upstream.
                if glob::go_path_match(pattern, &app_path) == Ok(true) {
                    if *is_exclude {
                        exclude = true;
                    } else {
                        include = true;
                    }
                }
            }
            if !include || exclude {
                continue;
            }
            let mut params = Params::new();
            let base = go_path_base(&app_path);
            if self.go_template() {
                let mut path = serde_json::Map::new();
                path.insert("path".into(), Value::String(app_path.clone()));
                path.insert("basename".into(), Value::String(base.clone()));
                path.insert(
                    "basenameNormalized".into(),
                    Value::String(sanitize_name(&base)),
                );
                path.insert("segments".into(), segments(&app_path));
                insert_path(&mut params, prefix, path);
            } else {
                let name = legacy_path_name(prefix);
                params.insert(name.clone(), Value::String(app_path.clone()));
                params.insert(format!("{name}.basename"), Value::String(base.clone()));
                params.insert(
                    format!("{name}.basenameNormalized"),
                    Value::String(sanitize_name(&base)),
                );
                insert_legacy_segments(&mut params, &name, &app_path);
            }
            self.append_values(values, &mut params).map_err(|e| {
                format!("error generating params from apps: failed to append templated values: {e}")
            })?;
            out.push(params);
        }
        Ok(out)
    }

    fn git_files(
        &self,
        repo_url: &str,
        revision: &str,
        requested: &[(String, bool)],
        values: Option<&Value>,
        prefix: &str,
    ) -> Result<Vec<Params>, String> {
        let all = self
            .ctx
            .repos
            .list_files(repo_url, revision)
            .map_err(|e| e.to_string())?;
        let matches = |pattern: &str, path: &str| {
            if self.ctx.new_git_file_globbing {
                glob::doublestar_match(pattern, path)
            } else {
                glob::git_pathspec_match(pattern, path)
            }
        };
        let mut selected: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        for (pattern, _) in requested.iter().filter(|(_, exclude)| !exclude) {
            selected.extend(
                all.iter()
                    .filter(|p| matches(pattern, p))
                    .map(String::as_str),
            );
        }
        for (pattern, _) in requested.iter().filter(|(_, exclude)| *exclude) {
            selected.retain(|p| !matches(pattern, p));
        }
        let mut out = Vec::new();
        for file in selected {
            let content = self
                .ctx
                .repos
                .read_file(repo_url, revision, file)
                .map_err(|e| e.to_string())?;
            let found = self
                .params_from_file(file, &content, values, prefix)
                .map_err(|e| {
                    format!("unable to process file '{file}' from repository '{repo_url}': {e}")
                })?;
            out.extend(found);
        }
        Ok(out)
    }

    fn params_from_file(
        &self,
        file: &str,
        content: &[u8],
        values: Option<&Value>,
        prefix: &str,
    ) -> Result<Vec<Params>, String> {
        let text = String::from_utf8_lossy(content);
        let parsed =
            crate::yaml::parse_first(&text).map_err(|e| format!("unable to parse file: {e}"))?;
        let objects: Vec<Params> = match parsed {
            Value::Null => vec![Params::new()],
            Value::Object(map) => vec![map],
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(map),
                    Value::Null => Ok(Params::new()),
                    other => Err(format!(
                        "unable to parse file: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                        go_json_kind(&other)
                    )),
                })
                .collect::<Result<_, _>>()?,
            other => {
                return Err(format!(
                    "unable to parse file: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []map[string]interface {{}}",
                    go_json_kind(&other)
                ));
            }
        };
        let dir = go_path_dir(file);
        let base = go_path_base(&dir);
        let filename = go_path_base(file);
        let mut out = Vec::new();
        for object in objects {
            let mut params = Params::new();
            if self.go_template() {
                params.extend(object);
                let mut path = serde_json::Map::new();
                path.insert("path".into(), Value::String(dir.clone()));
                path.insert("basename".into(), Value::String(base.clone()));
                path.insert("filename".into(), Value::String(filename.clone()));
                path.insert(
                    "basenameNormalized".into(),
                    Value::String(sanitize_name(&base)),
                );
                path.insert(
                    "filenameNormalized".into(),
                    Value::String(sanitize_name(&filename)),
                );
                path.insert("segments".into(), segments(&dir));
                insert_path(&mut params, prefix, path);
            } else {
                for (key, value) in flatten(&object) {
                    params.insert(key, Value::String(go_sprint(&value)));
                }
                let name = legacy_path_name(prefix);
                params.insert(name.clone(), Value::String(dir.clone()));
                params.insert(format!("{name}.basename"), Value::String(base.clone()));
                params.insert(format!("{name}.filename"), Value::String(filename.clone()));
                params.insert(
                    format!("{name}.basenameNormalized"),
                    Value::String(sanitize_name(&base)),
                );
                params.insert(
                    format!("{name}.filenameNormalized"),
                    Value::String(sanitize_name(&filename)),
                );
                insert_legacy_segments(&mut params, &name, &dir);
            }
            self.append_values(values, &mut params)
                .map_err(|e| format!("failed to append templated values: {e}"))?;
            out.push(params);
        }
        Ok(out)
    }

    /// One child of a matrix or merge, as Argo CD's `getParams`: exactly one generator.
    fn child_params(
        &self,
        child: &Value,
        gen_params: &Params,
        depth: Depth,
    ) -> Result<Vec<Params>, String> {
        let child_depth = match depth {
            Depth::Top => Depth::Nested,
            Depth::Nested | Depth::Terminal => Depth::Terminal,
        };
        let results = self
            .transform(child, &Value::Null, gen_params, child_depth)
            .map_err(|e| {
                format!("child generator returned an error on parameter generation: {e}")
            })?;
        match results.len() {
            0 => Err("child generator generated no parameters".to_string()),
            1 => Ok(results
                .into_iter()
                .next()
                .map(|r| r.params)
                .unwrap_or_default()),
            _ => Err("found more than one generator in matrix.Generators".to_string()),
        }
    }

    fn matrix(&self, spec: &Value, depth: Depth) -> Result<Vec<Params>, String> {
        let children = spec
            .get("generators")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if children.len() < 2 {
            return Err("found less than two generators, Matrix support only two".to_string());
        }
        if children.len() > 2 {
            return Err("found more than two generators, Matrix support only two".to_string());
        }
        let first = self
            .child_params(&children[0], &Params::new(), depth)
            .map_err(|e| {
                format!("error failed to get params for first generator in matrix generator: {e}")
            })?;
        let mut out = Vec::new();
        for a in &first {
            let second = self.child_params(&children[1], a, depth).map_err(|e| {
                format!("failed to get params for second generator in the matrix generator: {e}")
            })?;
            if out.len() + second.len() > MAX_MATRIX_PARAMS {
                return Err(format!(
                    "the matrix generator yields more than {MAX_MATRIX_PARAMS} parameter sets"
                ));
            }
            for b in second {
                if self.go_template() {
                    let mut combined = Params::new();
                    merge_override(&mut combined, &b);
                    merge_override(&mut combined, a);
                    out.push(combined);
                } else {
                    out.push(combine_string_maps(a, &b).map_err(|e| {
                        format!("failed to combine string maps with merging params for the matrix generator: {e}")
                    })?);
                }
            }
        }
        Ok(out)
    }

    fn merge(&self, spec: &Value, depth: Depth) -> Result<Vec<Params>, String> {
        let children = spec
            .get("generators")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if children.len() < 2 {
            return Err("found less than two generators, Merge requires two or more".to_string());
        }
        let merge_keys: Vec<String> = spec
            .get("mergeKeys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut sets = Vec::new();
        for (index, child) in children.iter().enumerate() {
            let params = self.child_params(child, &Params::new(), depth).map_err(|e| {
                format!(
                    "error getting param sets from generators: error getting params from generator {} of {}: {e}",
                    index + 1,
                    children.len()
                )
            })?;
            sets.push(params);
        }
        let by_key = |params: Vec<Params>| -> Result<Vec<(String, Params)>, String> {
            by_merge_key(&merge_keys, params)
                .map_err(|e| format!("error getting param sets by merge key: {e}"))
        };
        let mut base = by_key(sets.remove(0))?;
        for others in sets {
            let others: BTreeMap<String, Params> = by_key(others)?.into_iter().collect();
            for (key, base_params) in &mut base {
                if let Some(overrides) = others.get(key) {
                    if self.go_template() {
                        merge_override(base_params, overrides);
                    } else {
                        for (k, v) in overrides {
                            base_params.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
        }
        Ok(base.into_iter().map(|(_, p)| p).collect())
    }
}

/// The generator keys of one `generators[]` entry that Argo CD would run, in struct order.
fn relevant_generators(requested: &Value, depth: Depth) -> Vec<&'static str> {
    GENERATOR_KEYS
        .iter()
        .copied()
        .filter(|key| !(depth == Depth::Terminal && matches!(*key, "matrix" | "merge")))
        .filter(|key| requested.get(*key).is_some_and(|v| !v.is_null()))
        .collect()
}

/// Argo CD's default requeue period for generators that poll (git):
/// `ARGOCD_APPLICATIONSET_CONTROLLER_REQUEUE_AFTER`, 3 minutes.
pub const DEFAULT_REQUEUE_AFTER: std::time::Duration = std::time::Duration::from_secs(180);

/// `GetRequeueAfter` of the generators in one entry: the shortest non-zero period, or zero.
pub(crate) fn entry_requeue_after(requested: &Value, depth: Depth) -> std::time::Duration {
    let zero = std::time::Duration::ZERO;
    let mut shortest: Option<std::time::Duration> = None;
    for kind in relevant_generators(requested, depth) {
        let spec = &requested[kind];
        let period = match kind {
            "git" => match spec.get("requeueAfterSeconds").and_then(Value::as_u64) {
                Some(seconds) => std::time::Duration::from_secs(seconds),
                None => DEFAULT_REQUEUE_AFTER,
            },
            // `DefaultSCMProviderRequeueAfter` and `DefaultPullRequestRequeueAfterSeconds`:
            // half an hour each.
            "scmProvider" | "pullRequest" => {
                match spec.get("requeueAfterSeconds").and_then(Value::as_u64) {
                    Some(seconds) => std::time::Duration::from_secs(seconds),
                    None => std::time::Duration::from_secs(30 * 60),
                }
            }
            // `getDefaultRequeueAfter()`, as the git generator.
            "clusterDecisionResource" => {
                match spec.get("requeueAfterSeconds").and_then(Value::as_u64) {
                    Some(seconds) => std::time::Duration::from_secs(seconds),
                    None => DEFAULT_REQUEUE_AFTER,
                }
            }
            "plugin" => match spec.get("requeueAfterSeconds").and_then(Value::as_u64) {
                Some(seconds) => std::time::Duration::from_secs(seconds),
                None => super::plugin::DEFAULT_PLUGIN_REQUEUE_AFTER,
            },
            "matrix" | "merge" => {
                let child_depth = if depth == Depth::Top {
                    Depth::Nested
                } else {
                    Depth::Terminal
                };
                spec.get("generators")
                    .and_then(Value::as_array)
                    .map(|children| {
                        children
                            .iter()
                            .map(|c| entry_requeue_after(c, child_depth))
                            .filter(|d| *d != zero)
                            .min()
                            .unwrap_or(zero)
                    })
                    .unwrap_or(zero)
            }
            _ => zero,
        };
        if period != zero {
            shortest = Some(shortest.map_or(period, |s| s.min(period)));
        }
    }
    shortest.unwrap_or(zero)
}

/// Keys of a `generators[]` entry that name no generator Argo CD knows.
pub(crate) fn unrecognized_generators(requested: &Value) -> Vec<String> {
    match requested {
        Value::Object(map) => map
            .keys()
            .filter(|k| !GENERATOR_KEYS.contains(&k.as_str()) && k.as_str() != "selector")
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// mergo's `Merge(dst, src)` without override: `dst`'s empty fields are filled from `src`.
fn merged_template(own: Option<&Value>, base: &Value) -> Value {
    let mut dst = own.cloned().unwrap_or(Value::Null);
    fill_empty(&mut dst, base);
    dst
}

fn fill_empty(dst: &mut Value, src: &Value) {
    if is_empty_value(dst) {
        *dst = src.clone();
        return;
    }
    if let (Value::Object(d), Value::Object(s)) = (dst, src) {
        for (key, value) in s {
            match d.get_mut(key) {
                Some(existing) => fill_empty(existing, value),
                None => {
                    d.insert(key.clone(), value.clone());
                }
            }
        }
    }
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// `CombineStringMaps`: both sides printed with `%v`; a key on both sides must agree.
fn combine_string_maps(a: &Params, b: &Params) -> Result<Params, String> {
    let mut out = Params::new();
    for (k, v) in a {
        out.insert(k.clone(), Value::String(go_sprint(v)));
    }
    for (k, v) in b {
        let v = go_sprint(v);
        if let Some(Value::String(current)) = out.get(k)
            && *current != v
        {
            return Err(format!(
                "found duplicate key {k} with different value, a: {current} ,b: {v}"
            ));
        }
        out.insert(k.clone(), Value::String(v));
    }
    Ok(out)
}

/// `getParamSetsByMergeKey`: each set keyed by the JSON of its merge-key values.
fn by_merge_key(
    merge_keys: &[String],
    params: Vec<Params>,
) -> Result<Vec<(String, Params)>, String> {
    if merge_keys.is_empty() {
        return Err("no merge keys were specified, Merge requires at least one".to_string());
    }
    let keys: std::collections::BTreeSet<&String> = merge_keys.iter().collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(params.len());
    for set in params {
        let key_object: serde_json::Map<String, Value> = keys
            .iter()
            .map(|k| ((*k).clone(), set.get(*k).cloned().unwrap_or(Value::Null)))
            .collect();
        let key = flotilla_core::gofmt::marshal(&Value::Object(key_object));
        if !seen.insert(key.clone()) {
            return Err(format!(
                "the parameters from a generator were not unique by the given mergeKeys, Merge requires all param sets to be unique. Duplicate key was {key}"
            ));
        }
        out.push((key, set));
    }
    Ok(out)
}

fn string_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn insert_path(params: &mut Params, prefix: &str, path: serde_json::Map<String, Value>) {
    if prefix.is_empty() {
        params.insert("path".into(), Value::Object(path));
    } else {
        let mut wrapper = serde_json::Map::new();
        wrapper.insert("path".into(), Value::Object(path));
        params.insert(prefix.to_string(), Value::Object(wrapper));
    }
}

fn legacy_path_name(prefix: &str) -> String {
    if prefix.is_empty() {
        "path".to_string()
    } else {
        format!("{prefix}.path")
    }
}

fn segments(path: &str) -> Value {
    Value::Array(
        path.split('/')
            .map(|s| Value::String(s.to_string()))
            .collect(),
    )
}

fn insert_legacy_segments(params: &mut Params, name: &str, path: &str) {
    for (index, segment) in path.split('/').enumerate() {
        if !segment.is_empty() {
            params.insert(
                format!("{name}[{index}]"),
                Value::String(segment.to_string()),
            );
        }
    }
}

/// Go's `path.Dir` for the clean relative paths Git lists.
fn go_path_dir(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((dir, _)) => dir.to_string(),
        None => ".".to_string(),
    }
}

/// Go's `path.Base`.
fn go_path_base(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() {
            ".".into()
        } else {
            "/".into()
        };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// The Go type name `encoding/json` uses for a JSON value in unmarshal errors.
pub(crate) fn go_json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
