//! An Argo CD Application source, rendered from a repository tree: the source type as
//! Argo CD decides it (explicit `helm`/`kustomize`/`directory`, else Chart.yaml or a
//! kustomization in the path, else plain manifests), then the native renderer.

use std::collections::BTreeMap;

use flotilla_fleet::argocd::application::{ApplicationSource, DirectorySource, KustomizeSource};
use flotilla_fleet::glob::gobwas_match;
use flotilla_render::helm;
use flotilla_render::kustomize::{self, EntryKind, Tree, TreeError};
use serde_json::{Map, Value, json};

/// How a source is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceType {
    /// A Helm chart.
    Helm,
    /// A kustomization.
    Kustomize,
    /// Plain YAML/JSON manifests.
    Directory,
}

/// Why a source could not be rendered. Messages name the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// More than one of helm/kustomize/directory/plugin is set (Argo CD's wording).
    #[error("multiple application sources defined: {0}")]
    MultipleSources(String),
    /// A config management plugin is asked for; Flotilla runs no plugins.
    #[error("config management plugins are not supported")]
    Plugin,
    /// A `$ref` file names a ref source that is a Helm chart (Argo CD's words).
    #[error(
        "source has a 'chart' field defined, but Helm charts are not yet not supported for 'ref' sources"
    )]
    ChartRef,
    /// A `$ref` file names a ref source that is not a Git repository (an OCI artifact):
    /// Argo CD resolves ref sources with a Git client, which fails so.
    #[error("failed to get git client for repo {0}")]
    RefNotGit(String),
    /// The source path climbs out of the repository or artifact (Argo CD's `Path`).
    #[error("{path}: app path outside root")]
    PathOutsideRoot {
        /// The path.
        path: String,
    },
    /// The source path does not exist in the revision.
    #[error("{path}: app path does not exist")]
    PathMissing {
        /// The path.
        path: String,
    },
    /// Reading the tree failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// Helm failed.
    #[error("helm: {0}")]
    Helm(#[from] helm::Error),
    /// Kustomize failed.
    #[error("kustomize: {0}")]
    Kustomize(#[from] kustomize::Error),
    /// A manifest file does not parse.
    #[error("Failed to unmarshal {file:?}: {reason}")]
    Manifest {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A Jsonnet file in a directory source; Flotilla does not evaluate Jsonnet.
    #[error("{0}: Jsonnet is not supported")]
    Jsonnet(String),
    /// `kustomize.buildOptions` in `argocd-cm` names a flag Flotilla's kustomize does
    /// not honour (never ignored: the build would differ from Argo CD's).
    #[error("argocd-cm kustomize.buildOptions {options:?}: {reason}")]
    KustomizeBuildOptions {
        /// The options as written.
        options: String,
        /// Which flag, and why.
        reason: String,
    },
    /// An edit Argo CD makes to the kustomization (`kustomize edit …`) fails.
    #[error("kustomize edit: {0}")]
    KustomizeEdit(String),
    /// A parameter override file (`.argocd-source.yaml`) does not apply.
    #[error("error while parsing source parameters: {file}: {reason}")]
    SourceParameters {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
}

/// What the renderer needs to know about the Application around its source.
#[derive(Debug, Clone, Default)]
pub struct AppContext {
    /// `metadata.name` (Helm's default release name).
    pub app_name: String,
    /// Argo CD's instance name: `metadata.name`, or `<namespace>_<name>` for an
    /// Application outside Argo CD's namespace — what `ARGOCD_APP_NAME` holds and
    /// `.argocd-source-<app>.yaml` is named with (empty: `app_name`).
    pub instance_name: String,
    /// `spec.destination.namespace`.
    pub namespace: String,
    /// The destination cluster's Kubernetes version, if known.
    pub kube_version: Option<String>,
    /// The destination cluster's API versions, as discovery found them (empty when
    /// unknown).
    pub api_versions: crate::cluster_versions::ApiVersions,
    /// Argo CD's build environment for the source being rendered (see
    /// [`build_env`]); `None` expands nothing.
    pub env: Option<Vec<(String, String)>>,
    /// `kustomize.buildOptions` of `argocd-cm`, as written (see
    /// [`kustomize_build_options`]).
    pub kustomize_build_options: String,
    /// Charts pulled for the kustomizations' `helmCharts` (see
    /// [`kustomize::BuildOptions::pulled_charts`]).
    pub kustomize_charts: kustomize::PulledCharts,
}

/// What an Application's source is rendered against, besides its files.
pub struct BuildEnvOf<'a> {
    /// Argo CD's instance name of the Application ([`AppContext::instance_name`]).
    pub app_name: &'a str,
    /// `spec.destination.namespace`.
    pub namespace: &'a str,
    /// `spec.project`.
    pub project: &'a str,
    /// The commit the source was read at.
    pub revision: &'a str,
    /// The source.
    pub source: &'a ApplicationSource,
}

/// Argo CD's build environment (`newEnv` in its repo-server), which it expands in Helm
/// value file paths, file parameter paths and parameter values.
pub fn build_env(of: &BuildEnvOf<'_>) -> Vec<(String, String)> {
    let short = |n: usize| of.revision.get(..n).unwrap_or(of.revision).to_string();
    [
        ("ARGOCD_APP_NAME", of.app_name.to_string()),
        ("ARGOCD_APP_NAMESPACE", of.namespace.to_string()),
        ("ARGOCD_APP_PROJECT_NAME", of.project.to_string()),
        ("ARGOCD_APP_REVISION", of.revision.to_string()),
        ("ARGOCD_APP_REVISION_SHORT", short(7)),
        ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
        ("ARGOCD_APP_SOURCE_REPO_URL", of.source.repo_url.clone()),
        ("ARGOCD_APP_SOURCE_PATH", of.source.path.clone()),
        (
            "ARGOCD_APP_SOURCE_TARGET_REVISION",
            of.source.target_revision.clone(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The source as Argo CD renders it (`mergeSourceParameters`): `.argocd-source.yaml` and
/// then `.argocd-source-<app>.yaml` in the source's path — what Argo CD Image Updater
/// writes back — merged into it as JSON merge patches; `repoURL`, `path`,
/// `targetRevision` and `chart` are kept as the Application says.
pub fn with_parameter_overrides<'a>(
    tree: &dyn Tree,
    source: &'a ApplicationSource,
    app_name: &str,
) -> Result<std::borrow::Cow<'a, ApplicationSource>, RenderError> {
    let path = app_path(source)?;
    let mut names = vec![".argocd-source.yaml".to_string()];
    if !app_name.is_empty() {
        names.push(format!(".argocd-source-{app_name}.yaml"));
    }
    // As Argo CD: after each file the merged JSON is read back as a source, which the
    // next file is merged into.
    let mut merged: Option<ApplicationSource> = None;
    for name in names {
        let file = kustomize::join(&path, &name)?;
        if tree.entry(&file)? != Some(EntryKind::File) {
            continue;
        }
        let failed = |reason: String| RenderError::SourceParameters {
            file: file.clone(),
            reason,
        };
        let patch: Value =
            serde_saphyr::from_slice(&tree.read(&file)?).map_err(|e| failed(e.to_string()))?;
        // An empty file is `null`, which leaves the source as it is (Go unmarshals
        // `null` into a struct as nothing).
        if patch.is_null() {
            continue;
        }
        let mut doc = serde_json::to_value(merged.as_ref().unwrap_or(source)).unwrap_or_default();
        json_patch::merge(&mut doc, &patch);
        merged = Some(serde_json::from_value(doc).map_err(|e| failed(e.to_string()))?);
    }
    let Some(mut merged) = merged else {
        return Ok(std::borrow::Cow::Borrowed(source));
    };
    merged.chart = source.chart.clone();
    merged.path = source.path.clone();
    merged.repo_url = source.repo_url.clone();
    merged.target_revision = source.target_revision.clone();
    Ok(std::borrow::Cow::Owned(merged))
}

/// The source's path in its tree, or Argo CD's refusal of a path that climbs out of it
/// (`<path>: app path outside root`). `.` and empty are the root.
pub fn app_path(source: &ApplicationSource) -> Result<String, RenderError> {
    kustomize::join("", source.path.trim_start_matches('/')).map_err(|e| match e {
        TreeError::Escapes { .. } => RenderError::PathOutsideRoot {
            path: source.path.clone(),
        },
        other => RenderError::Tree(other),
    })
}

/// Argo CD's choice of source type for `source` at `path` of `tree`.
pub fn source_type(
    tree: &dyn Tree,
    path: &str,
    source: &ApplicationSource,
) -> Result<SourceType, RenderError> {
    let mut explicit = Vec::new();
    if source.kustomize.is_some() {
        explicit.push(("Kustomize", SourceType::Kustomize));
    }
    if source.helm.is_some() {
        explicit.push(("Helm", SourceType::Helm));
    }
    if source.directory.is_some() {
        explicit.push(("Directory", SourceType::Directory));
    }
    if source.plugin.is_some() {
        if explicit.is_empty() {
            return Err(RenderError::Plugin);
        }
        explicit.push(("Plugin", SourceType::Directory));
    }
    match explicit.len() {
        0 => {}
        1 => return Ok(explicit[0].1),
        _ => {
            let names: Vec<&str> = explicit.iter().map(|(n, _)| *n).collect();
            return Err(RenderError::MultipleSources(names.join(",")));
        }
    }
    // Discovery looks at the files directly in the path; in walk (name) order a
    // kustomization found after a chart wins, as upstream's map assignment does.
    let mut found = SourceType::Directory;
    for (name, kind) in tree.list(path)? {
        if kind != EntryKind::File {
            continue;
        }
        if name.ends_with("Chart.yaml") {
            found = SourceType::Helm;
        }
        if matches!(
            name.as_str(),
            "kustomization.yaml" | "kustomization.yml" | "Kustomization"
        ) {
            found = SourceType::Kustomize;
        }
    }
    Ok(found)
}

/// Helm charts as loaded from a commit, by commit and path: a chart is read and parsed
/// once per commit, however many apps render it (each with its own release and values).
#[derive(Default)]
pub struct ChartCache {
    charts: std::sync::Mutex<std::collections::HashMap<(String, String), helm::Chart>>,
}

/// How many charts are kept (all are dropped when full: a new commit loads its own).
const MAX_CHARTS: usize = 256;

impl ChartCache {
    fn load(&self, tree: &dyn Tree, commit: &str, path: &str) -> Result<helm::Chart, helm::Error> {
        let key = (commit.to_string(), path.to_string());
        if let Some(chart) = self.lock().get(&key) {
            return Ok(chart.clone());
        }
        let chart = helm::load(tree, path)?;
        let mut charts = self.lock();
        if charts.len() >= MAX_CHARTS {
            charts.clear();
        }
        charts.insert(key, chart.clone());
        Ok(chart)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), helm::Chart>> {
        crate::lock(&self.charts)
    }
}

/// Renders the Application's source at its path of `tree` into objects.
pub fn render_source(
    tree: &dyn Tree,
    source: &ApplicationSource,
    app: &AppContext,
) -> Result<Vec<Value>, RenderError> {
    render_source_cached(tree, None, source, app, None)
}

/// [`render_source`], taking Helm charts of `tree` (the commit named) from a cache; a
/// source of a multi-source Application reads `$ref` value files from `refs`.
pub fn render_source_cached(
    tree: &dyn Tree,
    charts: Option<(&ChartCache, &str)>,
    source: &ApplicationSource,
    app: &AppContext,
    refs: helm::argo::RefTrees<'_>,
) -> Result<Vec<Value>, RenderError> {
    let path = app_path(source)?;
    if tree.entry(&path)? != Some(EntryKind::Dir) {
        return Err(RenderError::PathMissing {
            path: source.path.clone(),
        });
    }
    match source_type(tree, &path, source)? {
        SourceType::Helm => {
            let helm_json = source
                .helm
                .as_ref()
                .map(|h| serde_json::to_value(h).unwrap_or(Value::Null))
                .unwrap_or_else(|| json!({}));
            let helm_source = helm::argo::parse_source(&helm_json)?;
            let ctx = helm::argo::AppContext {
                app_name: app.app_name.clone(),
                namespace: app.namespace.clone(),
                kube_version: app.kube_version.clone(),
                api_versions: app.api_versions.as_slice().to_vec(),
                env: app.env.clone(),
            };
            let rendered = match charts {
                Some((cache, commit)) => {
                    let chart = cache.load(tree, commit, &path)?;
                    helm::argo::render_loaded(tree, &path, chart, &helm_source, &ctx, refs)?
                }
                None => {
                    let chart = helm::load(tree, &path)?;
                    helm::argo::render_loaded(tree, &path, chart, &helm_source, &ctx, refs)?
                }
            };
            Ok(rendered.into_objects())
        }
        SourceType::Kustomize => {
            let mut flags = kustomize_build_options(&app.kustomize_build_options)?;
            flags.pulled_charts = app.kustomize_charts.clone();
            // Argo CD adds the destination's versions when Helm is enabled
            // (`parseKustomizeBuildOptions`, kustomize v5.3 and later).
            if flags.enable_helm {
                if let Some(v) = app.kube_version.as_ref().filter(|v| !v.is_empty()) {
                    flags.helm_kube_version = Some(v.clone());
                }
                flags
                    .helm_api_versions
                    .extend(app.api_versions.as_slice().iter().cloned());
            }
            render_kustomize(
                tree,
                &path,
                source.kustomize.as_ref(),
                app.env.as_deref().unwrap_or_default(),
                &flags,
            )
        }
        SourceType::Directory => {
            let default = DirectorySource::default();
            render_directory(tree, &path, source.directory.as_ref().unwrap_or(&default))
        }
    }
}

/// `kustomize.buildOptions` (split on white space, as Argo CD splits it) as the build
/// flags Flotilla's kustomize honours: `--enable-helm`, `--load-restrictor
/// LoadRestrictionsRootOnly` (the default), `--helm-kube-version` and
/// `--helm-api-versions`. Any other flag — `--load-restrictor LoadRestrictionsNone`
/// among them — is refused by name.
pub fn kustomize_build_options(options: &str) -> Result<kustomize::BuildOptions, RenderError> {
    let mut flags = kustomize::BuildOptions::default();
    let refuse = |reason: String| RenderError::KustomizeBuildOptions {
        options: options.to_string(),
        reason,
    };
    let mut words = options.split_whitespace();
    while let Some(word) = words.next() {
        let (name, inline) = match word.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (word, None),
        };
        let mut value = |name: &str| {
            inline
                .map(str::to_string)
                .or_else(|| words.next().map(str::to_string))
                .ok_or_else(|| refuse(format!("flag needs an argument: {name}")))
        };
        match name {
            "--enable-helm" => {
                flags.enable_helm = match inline {
                    None | Some("true") => true,
                    Some("false") => false,
                    Some(other) => {
                        return Err(refuse(format!(
                            "invalid argument {other:?} for \"--enable-helm\" flag"
                        )));
                    }
                };
            }
            "--load-restrictor" => match value(name)?.as_str() {
                "LoadRestrictionsRootOnly" => {}
                other => {
                    return Err(refuse(format!(
                        "--load-restrictor {other} is not supported: Flotilla's kustomize reads only files in or below each kustomization (LoadRestrictionsRootOnly)"
                    )));
                }
            },
            "--helm-kube-version" => flags.helm_kube_version = Some(value(name)?),
            "--helm-api-versions" => flags.helm_api_versions.push(value(name)?),
            other => {
                return Err(refuse(format!(
                    "{other} is not supported by Flotilla's kustomize (it honours --enable-helm, --load-restrictor LoadRestrictionsRootOnly, --helm-kube-version and --helm-api-versions)"
                )));
            }
        }
    }
    Ok(flags)
}

fn render_kustomize(
    tree: &dyn Tree,
    path: &str,
    options: Option<&KustomizeSource>,
    env: &[(String, String)],
    flags: &kustomize::BuildOptions,
) -> Result<Vec<Value>, RenderError> {
    let Some(options) = options else {
        return Ok(kustomize::build_with(tree, path, flags)?);
    };
    // Argo CD edits the kustomization (`kustomize edit …`, and the patches written in)
    // before building: the same edits, in the same order, on an in-memory copy.
    let file = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| kustomize::join(path, n))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|p| matches!(tree.entry(p), Ok(Some(EntryKind::File))))
        .ok_or_else(|| RenderError::PathMissing {
            path: format!("{path}/kustomization.yaml"),
        })?;
    let text = tree.read(&file)?;
    let mut k: Map<String, Value> = match serde_saphyr::from_slice::<Value>(&text) {
        Ok(Value::Object(k)) => k,
        Ok(_) => Map::new(),
        Err(e) => {
            return Err(RenderError::Manifest {
                file,
                reason: e.to_string(),
            });
        }
    };
    let expand = |text: &str| helm::argo::envsubst(text, env);
    let edit_failed = |reason: String| RenderError::KustomizeEdit(reason);
    let mut set = |field: &str, value: &str| {
        if !value.is_empty() {
            k.insert(field.into(), json!(value));
        }
    };
    set("namePrefix", &options.name_prefix);
    set("nameSuffix", &options.name_suffix);
    if !options.images.is_empty() {
        let images = k.entry("images").or_insert_with(|| json!([]));
        if let Value::Array(images) = images {
            for spec in &options.images {
                // Argo CD expands `${ARGOCD_APP_REVISION}` and the like in images.
                let image = kustomize_image(&expand(spec));
                let name = image["name"].clone();
                images.retain(|i| i["name"] != name);
                images.push(image);
            }
        }
    }
    if !options.replicas.is_empty() {
        set_replicas(&mut k, &options.replicas).map_err(edit_failed)?;
    }
    if !options.common_labels.is_empty() {
        let labels: BTreeMap<String, String> = options
            .common_labels
            .iter()
            .map(|(key, value)| (key.clone(), expand(value)))
            .collect();
        add_labels(&mut k, &labels, options).map_err(edit_failed)?;
    }
    if !options.common_annotations.is_empty() {
        let annotations: BTreeMap<String, String> = options
            .common_annotations
            .iter()
            .map(|(key, value)| {
                let value = if options.common_annotations_envsubst {
                    expand(value)
                } else {
                    value.clone()
                };
                (key.clone(), value)
            })
            .collect();
        let map = k.entry("commonAnnotations").or_insert_with(|| json!({}));
        add_to_map(
            map,
            &annotations,
            "annotation",
            options.force_common_annotations,
        )
        .map_err(edit_failed)?;
    }
    if !options.namespace.is_empty() {
        k.insert("namespace".into(), json!(options.namespace));
    }
    if !options.patches.is_empty() {
        match k.entry("patches").or_insert_with(|| json!([])) {
            Value::Array(patches) => patches.extend(options.patches.iter().cloned()),
            other => {
                return Err(edit_failed(format!(
                    "expected 'patches' field in kustomization.yaml to be []any, but got {}",
                    go_type_name(other)
                )));
            }
        }
    }
    for component in &options.components {
        let target = kustomize::join(path, component)?;
        if tree.entry(&target)?.is_none() {
            if options.ignore_missing_components {
                continue;
            }
            return Err(edit_failed(format!(
                "{component} has no match: no such file or directory"
            )));
        }
        let components = k.entry("components").or_insert_with(|| json!([]));
        if let Value::Array(list) = components
            && !list.iter().any(|c| c == component)
        {
            list.push(json!(component));
        }
    }
    let edited = kustomize::to_yaml(&Value::Object(k)).into_bytes();
    let overlay = kustomize::WithFile::new(tree, file, edited);
    Ok(kustomize::build_with(&overlay, path, flags)?)
}

/// The Go type a YAML value unmarshals to, for Argo CD's messages.
fn go_type_name(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "map[string]interface {}",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::Null => "<nil>",
        Value::Array(_) => "[]interface {}",
    }
}

/// `kustomize edit set replicas name=count …`: the given names replace the file's
/// entries of the same name, and the list is sorted by name. A count must be an
/// integer (Argo CD's `GetIntCount`).
fn set_replicas(k: &mut Map<String, Value>, replicas: &[Value]) -> Result<(), String> {
    let mut by_name = BTreeMap::new();
    for replica in replicas {
        let name = replica["name"].as_str().unwrap_or_default().to_string();
        let count = match &replica["count"] {
            Value::Number(n) if n.is_i64() => n.as_i64().unwrap_or_default(),
            Value::String(s) => s
                .parse::<i64>()
                .map_err(|_| format!("expected integer value for count. Received: {s}"))?,
            other => {
                return Err(format!(
                    "expected integer value for count. Received: {other}"
                ));
            }
        };
        by_name.insert(name.clone(), json!({"name": name, "count": count}));
    }
    if let Some(Value::Array(existing)) = k.get("replicas") {
        for entry in existing {
            if let Some(name) = entry["name"].as_str() {
                by_name
                    .entry(name.to_string())
                    .or_insert_with(|| entry.clone());
            }
        }
    }
    k.insert(
        "replicas".into(),
        Value::Array(by_name.into_values().collect()),
    );
    Ok(())
}

/// `kustomize edit add label`: into `commonLabels`, or — with `labelWithoutSelector` —
/// into the `labels` entry that selects nothing and includes templates as asked.
fn add_labels(
    k: &mut Map<String, Value>,
    labels: &BTreeMap<String, String>,
    options: &KustomizeSource,
) -> Result<(), String> {
    if !options.label_without_selector {
        if options.label_include_templates {
            return Err(
                "--without-selector flag must be specified for --include-templates to work".into(),
            );
        }
        let map = k.entry("commonLabels").or_insert_with(|| json!({}));
        return add_to_map(map, labels, "label", options.force_common_labels);
    }
    let templates = options.label_include_templates;
    let list = k.entry("labels").or_insert_with(|| json!([]));
    let Value::Array(list) = list else {
        return Err("labels: not a list".into());
    };
    let matches = |entry: &Value| {
        !entry["includeSelectors"].as_bool().unwrap_or(false)
            && entry["includeTemplates"].as_bool().unwrap_or(false) == templates
    };
    let index = match list.iter().position(matches) {
        Some(i) => i,
        None => {
            let mut entry = json!({"pairs": {}});
            if templates {
                entry["includeTemplates"] = json!(true);
            }
            list.push(entry);
            list.len() - 1
        }
    };
    let pairs = list[index]
        .as_object_mut()
        .map(|e| e.entry("pairs").or_insert_with(|| json!({})))
        .ok_or("labels: an entry is not a mapping")?;
    add_to_map(pairs, labels, "label", options.force_common_labels)
}

/// Adds `entries` to the mapping `map`; a key already there is an error unless `force`
/// (`kustomize edit add`'s rule).
fn add_to_map(
    map: &mut Value,
    entries: &BTreeMap<String, String>,
    kind: &str,
    force: bool,
) -> Result<(), String> {
    if map.is_null() {
        *map = json!({});
    }
    let Value::Object(map) = map else {
        return Err(format!("{kind}s: not a mapping"));
    };
    for (key, value) in entries {
        if map.contains_key(key) && !force {
            return Err(format!(
                "{kind} {key} already in kustomization file. Use --force to override."
            ));
        }
        map.insert(key.clone(), json!(value));
    }
    Ok(())
}

/// `kustomize edit set image` syntax: `name=newName:tag`, `name:tag`, `name@digest`,
/// `name=newName@digest`.
fn kustomize_image(spec: &str) -> Value {
    let (name, target) = match spec.split_once('=') {
        Some((name, target)) => (name.to_string(), Some(target)),
        None => {
            let name_end = spec
                .rfind('@')
                .or_else(|| spec.rfind(':').filter(|&i| !spec[i..].contains('/')))
                .unwrap_or(spec.len());
            (spec[..name_end].to_string(), Some(spec))
        }
    };
    let mut image = Map::new();
    image.insert("name".into(), json!(name));
    if let Some(target) = target {
        let (rest, digest) = match target.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (target, None),
        };
        let (new_name, tag) = match rest.rfind(':').filter(|&i| !rest[i..].contains('/')) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if !new_name.is_empty() && new_name != name {
            image.insert("newName".into(), json!(new_name));
        }
        if let Some(tag) = tag {
            image.insert("newTag".into(), json!(tag));
        }
        if let Some(digest) = digest {
            image.insert("digest".into(), json!(digest));
        }
    }
    Value::Object(image)
}

/// Argo CD's directory source: `*.yaml`, `*.yml`, `*.json` files in the path (and below it
/// with `recurse`), filtered by `include`/`exclude` (gobwas globs over the path relative
/// to the source path, `*` crossing `/`), each file's documents in order; `kind: List`
/// items are expanded.
pub fn render_directory(
    tree: &dyn Tree,
    path: &str,
    directory: &DirectorySource,
) -> Result<Vec<Value>, RenderError> {
    let mut files = Vec::new();
    collect_files(tree, path, "", directory.recurse, &mut files)?;
    let mut objects = Vec::new();
    for relative in files {
        let name = relative.rsplit('/').next().unwrap_or(&relative);
        if name.ends_with(".jsonnet") {
            // Argo CD evaluates these; silently leaving them out would deploy half an app.
            return Err(RenderError::Jsonnet(kustomize::join(path, &relative)?));
        }
        let is_manifest = [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if !is_manifest {
            continue;
        }
        if !directory.exclude.is_empty() && gobwas_match(&directory.exclude, &relative, false) {
            continue;
        }
        if !directory.include.is_empty() && !gobwas_match(&directory.include, &relative, false) {
            continue;
        }
        let full = kustomize::join(path, &relative)?;
        let bytes = tree.read(&full)?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&String::from_utf8_lossy(&bytes))
            .map_err(|e| RenderError::Manifest {
                file: full.clone(),
                reason: e.to_string(),
            })?;
        for doc in docs {
            match doc {
                Value::Null => {}
                Value::Object(ref o) if is_list(o) => {
                    if let Some(Value::Array(items)) = o.get("items") {
                        objects.extend(items.iter().cloned());
                    }
                }
                Value::Object(_) => objects.push(doc),
                _ => {
                    return Err(RenderError::Manifest {
                        file: full.clone(),
                        reason: "a document is not an object".into(),
                    });
                }
            }
        }
    }
    Ok(objects)
}

fn is_list(o: &Map<String, Value>) -> bool {
    o.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && o.contains_key("items")
        && !o.contains_key("spec")
}

/// Files under `dir` (relative to it), in walk order: a directory's entries by name,
/// descending into subdirectories only with `recurse`.
fn collect_files(
    tree: &dyn Tree,
    root: &str,
    relative: &str,
    recurse: bool,
    out: &mut Vec<String>,
) -> Result<(), RenderError> {
    let dir = kustomize::join(root, relative)?;
    for (name, kind) in tree.list(&dir)? {
        let child = if relative.is_empty() {
            name.clone()
        } else {
            format!("{relative}/{name}")
        };
        match kind {
            EntryKind::File => out.push(child),
            EntryKind::Dir if recurse => collect_files(tree, root, &child, recurse, out)?,
            EntryKind::Dir => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_render::kustomize::MemTree;

    fn source(value: Value) -> ApplicationSource {
        serde_json::from_value(value).expect("source")
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";

    #[test]
    fn source_type_follows_argo_cd() {
        let tree = MemTree::from_files([
            ("chart/Chart.yaml", "name: c\nversion: 1.0.0\n"),
            ("both/Chart.yaml", ""),
            ("both/kustomization.yaml", ""),
            ("plain/a.yaml", CM),
            ("plain/sub/Chart.yaml", ""),
        ]);
        let t = |p: &str, s: Value| source_type(&tree, p, &source(s)).unwrap();
        assert_eq!(t("chart", json!({})), SourceType::Helm);
        assert_eq!(t("both", json!({})), SourceType::Kustomize);
        assert_eq!(
            t("plain", json!({})),
            SourceType::Directory,
            "only the path itself counts"
        );
        assert_eq!(t("plain", json!({"helm": {}})), SourceType::Helm);
        let err = source_type(
            &tree,
            "plain",
            &source(json!({"helm": {}, "directory": {}})),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "multiple application sources defined: Helm,Directory"
        );
    }

    #[test]
    fn directories_filter_recurse_and_expand_lists() {
        let tree = MemTree::from_files([
            ("d/a.yaml", CM),
            (
                "d/b.json",
                r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"}}"#,
            ),
            ("d/notes.txt", "ignored"),
            (
                "d/list.yml",
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ServiceAccount\n  metadata: {name: c}\n",
            ),
            (
                "d/sub/deep.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\n",
            ),
        ]);
        let names = |dir: Value| -> Vec<String> {
            let dir: DirectorySource = serde_json::from_value(dir).unwrap();
            render_directory(&tree, "d", &dir)
                .unwrap()
                .iter()
                .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(json!({})), ["a", "b", "c"]);
        assert_eq!(names(json!({"recurse": true})), ["a", "b", "c", "deep"]);
        assert_eq!(
            names(json!({"recurse": true, "exclude": "sub/*"})),
            ["a", "b", "c"]
        );
        assert_eq!(
            names(json!({"recurse": true, "include": "{a.yaml,sub/*}"})),
            ["a", "deep"]
        );
        let broken = MemTree::from_files([("d/x.yaml", "kind: [\n")]);
        let err = render_directory(&broken, "d", &DirectorySource::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Failed to unmarshal \"d/x.yaml\""),
            "{err}"
        );
    }

    #[test]
    fn kustomize_options_edit_the_kustomization() {
        let tree = MemTree::from_files([
            ("k/kustomization.yaml", "resources: [d.yaml]\n"),
            (
                "k/d.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: w\n        image: nginx:1.0\n",
            ),
        ]);
        let s = source(json!({
            "path": "k",
            "kustomize": {"namePrefix": "p-", "namespace": "ns", "images": ["nginx=registry.local/nginx:1.27"], "commonLabels": {"team": "a"}}
        }));
        let objects = render_source(&tree, &s, &AppContext::default()).unwrap();
        let d = &objects[0];
        assert_eq!(d["metadata"]["name"], "p-web");
        assert_eq!(d["metadata"]["namespace"], "ns");
        assert_eq!(d["metadata"]["labels"]["team"], "a");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.local/nginx:1.27"
        );
        assert_eq!(kustomize_image("nginx:1.2")["newTag"], "1.2");
        assert_eq!(kustomize_image("nginx@sha256:ab")["digest"], "sha256:ab");
        assert!(kustomize_image("nginx:1.2").get("newName").is_none());
    }

    #[test]
    fn parameter_override_files_merge_into_the_source_as_argo_cd_does() {
        let chart = [
            (
                "deploy/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            ),
            ("deploy/values.yaml", "tag: \"1.0\"\nsize: s\n"),
            (
                "deploy/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  tag: {{ .Values.tag | quote }}\n  size: {{ .Values.size | quote }}\n",
            ),
            // For every app of the path, then for app `web` only (Image Updater's file).
            (
                "deploy/.argocd-source.yaml",
                "helm:\n  parameters:\n  - name: size\n    value: m\n",
            ),
            (
                "deploy/.argocd-source-web.yaml",
                "helm:\n  parameters:\n  - name: tag\n    value: \"2.0\"\n    forceString: true\npath: elsewhere\nrepoURL: https://evil.example/\n",
            ),
        ];
        let tree = MemTree::from_files(chart);
        let s = source(json!({"repoURL": "https://git.local/r", "path": "deploy"}));
        let render = |name: &str| {
            let merged = with_parameter_overrides(&tree, &s, name).unwrap();
            let app = AppContext {
                app_name: name.into(),
                ..Default::default()
            };
            (
                render_source(&tree, &merged, &app).unwrap(),
                merged.into_owned(),
            )
        };
        let (objects, merged) = render("web");
        // A merge patch replaces the list: the app's file wins over the path's.
        assert_eq!(objects[0]["data"], json!({"tag": "2.0", "size": "s"}));
        assert_eq!(merged.path, "deploy", "kept as the Application says");
        assert_eq!(merged.repo_url, "https://git.local/r");
        let (objects, _) = render("api");
        assert_eq!(objects[0]["data"], json!({"tag": "1.0", "size": "m"}));

        let none = MemTree::from_files([("deploy/x.yaml", CM)]);
        assert!(matches!(
            with_parameter_overrides(&none, &s, "web").unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
        let bad = MemTree::from_files([
            ("deploy/x.yaml", CM),
            ("deploy/.argocd-source.yaml", "helm: [unclosed\n"),
        ]);
        let err = with_parameter_overrides(&bad, &s, "web").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("error while parsing source parameters: deploy/.argocd-source.yaml: "),
            "{err}"
        );
    }

    /// The other edits Argo CD makes before `kustomize build`, in its order: replicas
    /// (`edit set replicas`: by name, sorted), labels (`edit add label`, an existing key
    /// refused without force; `labelWithoutSelector` into a `labels` entry), patches
    /// appended, components added (missing ones skipped when asked).
    #[test]
    fn replicas_labels_patches_and_components_edit_the_kustomization_as_argo_cd_does() {
        let tree = MemTree::from_files([
            (
                "k/kustomization.yaml",
                "resources: [d.yaml, api.yaml]\ncommonLabels:\n  team: a\nreplicas:\n- name: web\n  count: 1\n- name: api\n  count: 3\n",
            ),
            (
                "k/api.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 1\n",
            ),
            (
                "k/d.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: w\n        image: nginx:1.0\n",
            ),
            (
                "components/extra/kustomization.yaml",
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
            ),
            ("components/extra/cm.yaml", CM),
        ]);
        let options = |extra: Value| {
            let mut kustomize = json!({
                "replicas": [{"name": "web", "count": "4"}],
                "commonLabels": {"team": "b"},
                "patches": [{"target": {"kind": "Deployment"},
                             "patch": "- op: add\n  path: /metadata/annotations\n  value: {patched: 'yes'}\n"}],
                "components": ["../components/extra", "../components/missing"],
                "ignoreMissingComponents": true,
            });
            for (k, v) in extra.as_object().unwrap() {
                kustomize[k] = v.clone();
            }
            source(json!({"path": "k", "kustomize": kustomize}))
        };
        let refused = render_source(&tree, &options(json!({})), &AppContext::default())
            .unwrap_err()
            .to_string();
        assert_eq!(
            refused,
            "kustomize edit: label team already in kustomization file. Use --force to override."
        );
        let objects = render_source(
            &tree,
            &options(json!({"forceCommonLabels": true})),
            &AppContext::default(),
        )
        .unwrap();
        let deployment = |name: &str| {
            objects
                .iter()
                .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == name)
                .unwrap()
        };
        let d = deployment("web");
        assert_eq!(d["spec"]["replicas"], 4);
        assert_eq!(
            deployment("api")["spec"]["replicas"],
            3,
            "kept from the file"
        );
        assert_eq!(d["metadata"]["labels"]["team"], "b");
        assert_eq!(d["metadata"]["annotations"]["patched"], "yes");
        assert!(
            objects.iter().any(|o| o["kind"] == "ConfigMap"),
            "the component's ConfigMap"
        );
        let missing = render_source(
            &tree,
            &options(json!({"forceCommonLabels": true, "ignoreMissingComponents": false})),
            &AppContext::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            missing.contains("../components/missing has no match"),
            "{missing}"
        );

        // Without the selector: the label is on the objects, not in their selectors.
        let plain = MemTree::from_files([
            ("k/kustomization.yaml", "resources: [d.yaml]\n"),
            (
                "k/d.yaml",
                std::str::from_utf8(&tree.read("k/d.yaml").unwrap()).unwrap(),
            ),
        ]);
        let s = source(json!({"path": "k", "kustomize": {
            "commonLabels": {"tier": "web"}, "labelWithoutSelector": true}}));
        let objects = render_source(&plain, &s, &AppContext::default()).unwrap();
        assert_eq!(objects[0]["metadata"]["labels"]["tier"], "web");
        assert!(
            objects[0]["spec"]["selector"]["matchLabels"]
                .get("tier")
                .is_none()
        );
        let bad = source(json!({"path": "k", "kustomize": {
            "replicas": [{"name": "web", "count": "many"}]}}));
        assert_eq!(
            render_source(&plain, &bad, &AppContext::default())
                .unwrap_err()
                .to_string(),
            "kustomize edit: expected integer value for count. Received: many"
        );
    }

    #[test]
    fn a_missing_path_is_reported() {
        let tree = MemTree::from_files([("a/x.yaml", CM)]);
        let err = render_source(
            &tree,
            &source(json!({"path": "nope"})),
            &AppContext::default(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "nope: app path does not exist");
    }

    #[test]
    fn helm_charts_render_with_the_value_files_argo_cd_names() {
        let tree = MemTree::from_files([
            (
                "deploy/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 0.1.0\n",
            ),
            ("deploy/values.yaml", "region: unset\n"),
            ("deploy/values-eu-west-1.yaml", "region: eu-west-1\n"),
            (
                "deploy/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n  namespace: {{ .Release.Namespace }}\ndata:\n  region: {{ .Values.region }}\n",
            ),
        ]);
        let s =
            source(json!({"path": "deploy/", "helm": {"valueFiles": ["values-eu-west-1.yaml"]}}));
        let app = AppContext {
            app_name: "web-cluster-000".into(),
            namespace: "web".into(),
            ..Default::default()
        };
        let objects = render_source(&tree, &s, &app).unwrap();
        assert_eq!(objects[0]["metadata"]["name"], "web-cluster-000");
        assert_eq!(objects[0]["metadata"]["namespace"], "web");
        assert_eq!(objects[0]["data"]["region"], "eu-west-1");

        // A chart loaded once per commit renders every app as loading it afresh would,
        // each with its own release name and value files.
        let charts = ChartCache::default();
        let cached = render_source_cached(&tree, Some((&charts, "c1")), &s, &app, None).unwrap();
        assert_eq!(cached, objects);
        let other = AppContext {
            app_name: "web-cluster-001".into(),
            ..app.clone()
        };
        let plain = source(json!({"path": "deploy/"}));
        let again =
            render_source_cached(&tree, Some((&charts, "c1")), &plain, &other, None).unwrap();
        assert_eq!(again, render_source(&tree, &plain, &other).unwrap());
        assert_eq!(again[0]["metadata"]["name"], "web-cluster-001");
        assert_eq!(again[0]["data"]["region"], "unset");
        assert_eq!(charts.lock().len(), 1);
    }

    #[test]
    fn kustomize_build_options_are_read_or_refused_by_name() {
        let flags = kustomize_build_options(
            "--enable-helm --load-restrictor=LoadRestrictionsRootOnly --helm-kube-version 1.30.0 --helm-api-versions x/v1",
        )
        .unwrap();
        assert!(flags.enable_helm);
        assert_eq!(flags.helm_kube_version.as_deref(), Some("1.30.0"));
        assert_eq!(flags.helm_api_versions, ["x/v1"]);
        assert!(!kustomize_build_options("").unwrap().enable_helm);
        assert!(
            !kustomize_build_options("--enable-helm=false")
                .unwrap()
                .enable_helm
        );
        for (options, named) in [
            (
                "--enable-helm --enable-alpha-plugins",
                "--enable-alpha-plugins is not supported",
            ),
            (
                "--load-restrictor LoadRestrictionsNone",
                "--load-restrictor LoadRestrictionsNone is not supported",
            ),
            (
                "--load-restrictor",
                "flag needs an argument: --load-restrictor",
            ),
            (
                "--enable-helm=maybe",
                "invalid argument \"maybe\" for \"--enable-helm\" flag",
            ),
        ] {
            let err = kustomize_build_options(options).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("argocd-cm kustomize.buildOptions {options:?}: ")),
                "{err}"
            );
            assert!(err.contains(named), "{err}");
        }
    }
}
