//! The build of one kustomization directory: accumulate resources (files, nested
//! kustomizations), run generators and components, then the built-in transformers in
//! kustomize's order. The top level then adds hash suffixes, rewires name references,
//! resolves vars, drops local config and sorts.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::fieldspec::{FieldSpec, TransformerConfig};
use super::generator::{self, Kind};
use super::kustomization::{self, Kustomization, PatchArgs, PatchOptions};
use super::openapi::{BuildScope, OpenApi};
use super::resource::{ResMap, Resource};
use super::tree::{EntryKind, Mounted, Tree, is_within, join};
use super::{BuildOptions, helm_chart, nameref, patch, replacement, sort, transform, vars, yaml};

/// What a kustomization hands to the one that includes it.
#[derive(Debug, Default)]
pub(crate) struct Accumulated {
    pub res: ResMap,
    pub config: TransformerConfig,
    pub vars: Vec<vars::Var>,
}

/// Builds directory `dir` of `tree` into its final list of resources.
pub(crate) fn build(tree: &dyn Tree, dir: &str, opts: &BuildOptions) -> Result<Vec<Resource>> {
    let dir = join("", dir)?;
    let _scope = BuildScope::enter();
    let mut b = Builder {
        tree,
        opts,
        stack: Vec::new(),
        root: dir.clone(),
        track_transformers: false,
        openapi: OpenApi::default(),
    };
    let (k, file) = b.load_kustomization(&dir, None)?;
    b.set_openapi(&dir, &file, &k, true)?;
    let transformations = k
        .build_metadata
        .iter()
        .any(|m| m == "transformerAnnotations");
    b.track_transformers = transformations;
    let mut acc = b.accumulate(&dir, &file, &k, Accumulated::default())?;

    for r in acc.res.list_mut() {
        if r.needs_hash {
            let h = generator::hash_suffix(&r.obj);
            r.store_previous_id();
            let name = format!("{}-{h}", r.name());
            r.set_name(&name);
        }
    }
    nameref::fix(&file, &mut acc.res, &acc.config.name_reference)?;
    vars::resolve(&file, &mut acc.res, &acc.vars, &acc.config.var_reference)?;
    acc.res.retain(|r| !r.is_local_config());

    let fifo = k.sort_options.as_ref().is_some_and(|s| s.order == "fifo");
    if !fifo {
        let legacy = k
            .sort_options
            .as_ref()
            .and_then(|s| s.legacy_sort_options.as_ref());
        sort::legacy(
            acc.res.list_mut(),
            legacy.map(|l| l.order_first.as_slice()),
            legacy.map(|l| l.order_last.as_slice()),
        );
    }
    let origins = k.build_metadata.iter().any(|m| m == "originAnnotations");
    for r in acc.res.list_mut() {
        // Upstream rewrites every object's annotations as a string map on the way out,
        // so a number or boolean written there (by a replacement, say) prints quoted.
        if let Some(Value::Object(a)) = r
            .obj
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
        {
            for v in a.values_mut() {
                if let Value::Number(_) | Value::Bool(_) = v {
                    *v = Value::String(v.to_string());
                }
            }
        }
        if transformations && !r.transformations.is_empty() {
            let text = transformations_text(&r.transformations);
            let meta = r.metadata_mut();
            let ann = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(a) = ann {
                a.insert(
                    "alpha.config.kubernetes.io/transformations".into(),
                    Value::String(text),
                );
            }
        }
        if origins && let Some(origin) = r.origin.take() {
            let text = origin_text(&origin);
            let meta = r.metadata_mut();
            let ann = meta
                .entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(a) = ann {
                a.insert("config.kubernetes.io/origin".into(), Value::String(text));
            }
        }
    }
    Ok(acc.res.into_list())
}

struct Builder<'t> {
    tree: &'t dyn Tree,
    /// The build's flags (`--enable-helm` and Helm's versions).
    opts: &'t BuildOptions,
    /// Directories being built, outermost first, to refuse cycles.
    stack: Vec<String>,
    /// The directory of the top kustomization: origin annotations are relative to it.
    root: String,
    /// Whether to record which built-in transformers ran over each resource (only when
    /// asked for: upstream records every patch on every resource).
    track_transformers: bool,
    /// The schema strategic merge patches read, as the `openapi` fields met so far set it.
    openapi: OpenApi,
}

/// `path` relative to directory `from` (both normalized tree paths), with `..` where
/// it climbs, as kustomize writes origin paths.
fn relative(from: &str, path: &str) -> String {
    let split = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (from, path) = (split(from), split(path));
    let common = from.iter().zip(&path).take_while(|(a, b)| a == b).count();
    let mut out: Vec<String> = vec!["..".to_string(); from.len() - common];
    out.extend(path[common..].iter().cloned());
    out.join("/")
}

/// The origin upstream records for a generator or transformer: where it was configured
/// (omitted when unknown) and by which object (`name` and `namespace` only when set).
fn configured_origin(
    configured_in: Option<&str>,
    api_version: &str,
    kind: &str,
    metadata: Option<&Value>,
) -> Arc<Value> {
    let mut by = Map::new();
    by.insert("apiVersion".into(), Value::String(api_version.to_string()));
    by.insert("kind".into(), Value::String(kind.to_string()));
    for key in ["name", "namespace"] {
        if let Some(v) = metadata
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
        {
            by.insert(key.into(), Value::String(v.to_string()));
        }
    }
    let mut origin = Map::new();
    if let Some(c) = configured_in.filter(|c| !c.is_empty()) {
        origin.insert("configuredIn".into(), Value::String(c.to_string()));
    }
    origin.insert("configuredBy".into(), Value::Object(by));
    Arc::new(Value::Object(origin))
}

/// The transformations annotation's text: a list of origins.
fn transformations_text(records: &[Arc<Value>]) -> String {
    let mut out = String::new();
    for origin in records {
        for (i, line) in origin_text(origin).lines().enumerate() {
            out.push_str(if i == 0 { "- " } else { "  " });
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The origin annotation's text. Keys keep upstream's field order (path, configuredIn,
/// configuredBy), not the sorted order the rest of the output has.
fn origin_text(origin: &Value) -> String {
    let Value::Object(fields) = origin else {
        return super::emit::to_yaml(origin);
    };
    fields
        .iter()
        .map(|(k, v)| {
            let mut one = Map::new();
            one.insert(k.clone(), v.clone());
            super::emit::to_yaml(&Value::Object(one))
        })
        .collect()
}

fn is_remote(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.contains("://")
        || lower.starts_with("git@")
        || lower.starts_with("github.com/")
        || lower.starts_with("gitlab.com/")
        || lower.starts_with("bitbucket.org/")
        || lower.contains("?ref=")
}

impl Builder<'_> {
    fn load_kustomization(
        &mut self,
        dir: &str,
        from: Option<&str>,
    ) -> Result<(Kustomization, String)> {
        let Some(file) = kustomization::find(self.tree, dir)? else {
            let shown = if dir.is_empty() { "." } else { dir };
            return Err(Error::build(
                from.unwrap_or(shown),
                format!(
                    "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{shown}'"
                ),
            ));
        };
        let k = kustomization::load(self.tree, &file)?;
        refuse_unsupported(&file, &k)?;
        Ok((k, file))
    }

    /// Applies the `openapi` field of kustomization `file` in directory `dir` (`top` for
    /// the one the build started from), reading the schema file it names.
    fn set_openapi(&mut self, dir: &str, file: &str, k: &Kustomization, top: bool) -> Result<()> {
        let loaded = k.openapi.as_ref().and_then(|f| f.get("path")).map(|rel| {
            self.load_file(dir, file, rel)
                .and_then(|bytes| Ok((join(dir, rel)?, bytes)))
        });
        self.openapi.set(file, k.openapi.as_ref(), top, loaded)
    }

    /// Reads a file named in kustomization `file` (in directory `dir`); like kustomize's
    /// default load restrictor, only files in or below `dir` may be read.
    fn load_file(&self, dir: &str, file: &str, rel: &str) -> Result<Vec<u8>> {
        load_within(self.tree, dir, file, rel)
    }

    fn accumulate(
        &mut self,
        dir: &str,
        file: &str,
        k: &Kustomization,
        mut acc: Accumulated,
    ) -> Result<Accumulated> {
        if self.stack.iter().any(|d| d == dir) {
            return Err(Error::build(
                file,
                format!("cycle detected: '{}' includes itself", show_dir(dir)),
            ));
        }
        self.stack.push(dir.to_string());
        let result = self.accumulate_inner(dir, file, k, &mut acc);
        self.stack.pop();
        result.map(|()| acc)
    }

    fn accumulate_inner(
        &mut self,
        dir: &str,
        file: &str,
        k: &Kustomization,
        acc: &mut Accumulated,
    ) -> Result<()> {
        for entry in &k.resources {
            self.accumulate_resource(dir, file, entry, acc)?;
        }
        // As kustomize: the configurations files merged, then into the defaults, then that
        // into what the resources brought, each merge keeping the first of overlapping specs.
        let mut custom = TransformerConfig::default();
        for c in &k.configurations {
            let bytes = self.load_file(dir, file, c)?;
            let path = join(dir, c)?;
            let m = yaml::parse_mapping(&path, &bytes)?;
            custom
                .merge(&TransformerConfig::from_map(&m))
                .map_err(|e| Error::build(file, format!("configurations: {path}: {e}")))?;
        }
        let mut own = TransformerConfig::defaults();
        own.merge(&custom)
            .map_err(|e| Error::build(file, format!("configurations: {e}")))?;
        acc.config
            .merge(&own)
            .map_err(|e| Error::build(file, format!("merging config: {e}")))?;
        for c in &k.crds {
            let bytes = self.load_file(dir, file, c)?;
            let path = join(dir, c)?;
            let definitions = yaml::parse_mapping(&path, &bytes).map_err(|e| {
                Error::build(
                    file,
                    format!("unable to parse open API definition from '{c}': {e}"),
                )
            })?;
            let crd_config = super::crd_config::config_of(&definitions)
                .map_err(|e| Error::build(file, format!("loading CRDs {c}: {e}")))?;
            acc.config
                .merge(&crd_config)
                .map_err(|e| Error::build(file, format!("merging CRDs {c}: {e}")))?;
        }
        self.run_generators(dir, file, k, acc)?;
        for c in &k.components {
            if is_remote(c) {
                return Err(Error::Unsupported {
                    file: file.to_string(),
                    what: "remote component",
                    detail: c.clone(),
                });
            }
            let sub = join(dir, c).map_err(|e| Error::build(file, e.to_string()))?;
            let (ck, cfile) = self.load_kustomization(&sub, Some(file))?;
            self.set_openapi(&sub, &cfile, &ck, false)?;
            if ck.kind != "Component" {
                return Err(Error::build(
                    file,
                    format!(
                        "expected kind 'Component' for path '{sub}' but got '{}'",
                        ck.kind
                    ),
                ));
            }
            let taken = std::mem::take(acc);
            *acc = self.accumulate(&sub, &cfile, &ck, taken)?;
        }
        self.run_transformers(dir, file, k, acc)?;
        for v in &k.vars {
            let var = vars::Var::from_value(file, v)?;
            if acc.vars.iter().any(|x| x.name == var.name) {
                return Err(Error::field(
                    file,
                    "vars",
                    format!("var '{}' already encountered", var.name),
                ));
            }
            vars::bind(&mut acc.res, &var)?;
            acc.vars.push(var);
        }
        Ok(())
    }

    fn accumulate_resource(
        &mut self,
        dir: &str,
        file: &str,
        entry: &str,
        acc: &mut Accumulated,
    ) -> Result<()> {
        if is_remote(entry) {
            return Err(Error::Unsupported {
                file: file.to_string(),
                what: "remote resource",
                detail: entry.to_string(),
            });
        }
        let path = join(dir, entry).map_err(|e| Error::build(file, e.to_string()))?;
        match self.tree.entry(&path)? {
            Some(EntryKind::File) => {
                if !is_within(&path, dir) {
                    return Err(Error::build(
                        file,
                        format!(
                            "security; file '{path}' is not in or below '{}'",
                            show_dir(dir)
                        ),
                    ));
                }
                let bytes = self.tree.read(&path)?;
                let res = resources_from(&path, &bytes)?;
                for mut r in res {
                    self.openapi.saw(r.str_field("apiVersion"), r.kind())?;
                    r.origin = Some(serde_json::json!({"path": relative(&self.root, &path)}));
                    acc.res.append(r).map_err(|e| {
                        Error::build(file, format!("merging resources from '{entry}': {e}"))
                    })?;
                }
                Ok(())
            }
            Some(EntryKind::Dir) => {
                let (k, sub_file) = self.load_kustomization(&path, Some(file))?;
                self.set_openapi(&path, &sub_file, &k, false)?;
                if k.kind == "Component" {
                    return Err(Error::build(
                        file,
                        format!("expected kind != 'Component' for path '{path}'"),
                    ));
                }
                let sub = self.accumulate(&path, &sub_file, &k, Accumulated::default())?;
                acc.res.append_all(sub.res).map_err(|e| {
                    Error::build(file, format!("recursed merging from path '{path}': {e}"))
                })?;
                acc.config.merge(&sub.config).map_err(|e| {
                    Error::build(file, format!("recursed merging from path '{path}': {e}"))
                })?;
                for v in sub.vars {
                    if acc.vars.iter().any(|x| x.name == v.name) {
                        return Err(Error::build(
                            file,
                            format!(
                                "recursed merging from path '{path}': var '{}' already encountered",
                                v.name
                            ),
                        ));
                    }
                    acc.vars.push(v);
                }
                Ok(())
            }
            None => Err(Error::build(
                file,
                format!("accumulating resources: '{path}' does not exist"),
            )),
        }
    }

    fn run_generators(
        &mut self,
        dir: &str,
        file: &str,
        k: &Kustomization,
        acc: &mut Accumulated,
    ) -> Result<()> {
        // As kustomize: the built-in generators are configured (Helm charts checked, their
        // additional values files read) before the generator plugins are, and all of them
        // before anything is generated.
        let (globals, charts) = helm_chart::charts_of(self.tree, file, k)?;
        let flags = helm_chart::Flags {
            enable_helm: self.opts.enable_helm,
            kube_version: self.opts.helm_kube_version.as_deref(),
            api_versions: &self.opts.helm_api_versions,
        };
        let mut configured_charts = Vec::new();
        // The kinds the charts rendered, which kyaml reads as it reads any resource.
        let mut seen: Vec<(String, String)> = Vec::new();
        for chart in &charts {
            let additional =
                helm_chart::configure(file, chart, flags, &|rel| self.load_file(dir, file, rel))?;
            configured_charts.push((chart, additional));
        }
        let mut plugin_configs = Vec::new();
        for g in &k.generators {
            plugin_configs.push((g, self.plugin_configs(dir, file, g, "generators")?));
        }
        let load = |rel: &str| self.load_file(dir, file, rel);
        let global = k.generator_options.as_ref();
        let configured_in = relative(&self.root, file);
        let mut generated = Vec::new();
        for (kind, list, by) in [
            (
                Kind::ConfigMap,
                &k.config_map_generator,
                "ConfigMapGenerator",
            ),
            (Kind::Secret, &k.secret_generator, "SecretGenerator"),
        ] {
            for args in list {
                let mut r = generator::generate(file, kind, args, global, &load)?;
                r.origin = Some(serde_json::json!({
                    "configuredIn": configured_in,
                    "configuredBy": {"apiVersion": "builtin", "kind": by},
                }));
                generated.push(r);
            }
        }
        for (chart, additional) in configured_charts {
            let resources = match helm_chart::locate(self.tree, dir, file, &globals, chart)? {
                helm_chart::Located::Local(chart_dir) => helm_chart::inflate(
                    self.tree, file, chart, &chart_dir, flags, additional, &load,
                )?,
                helm_chart::Located::Remote { chart_dir, .. } => {
                    let pull = helm_chart::pull_of(file, chart)?;
                    let Some(pulled) =
                        self.opts
                            .pulled_charts
                            .get(&pull.repo, &pull.name, &pull.version)
                    else {
                        return Err(Error::ChartNotPulled(Box::new(pull)));
                    };
                    // Read as kustomize reads the chart `helm pull --untar` left in
                    // chartHome: its values.yaml and a valuesFile pointing into it too.
                    let tree = Mounted::new(self.tree, chart_dir.clone(), pulled);
                    let load = |rel: &str| load_within(&tree, dir, file, rel);
                    helm_chart::inflate(&tree, file, chart, &chart_dir, flags, additional, &load)?
                }
            };
            for mut r in resources {
                seen.push((r.str_field("apiVersion").to_string(), r.kind().to_string()));
                r.origin = Some(serde_json::json!({
                    "configuredIn": configured_in,
                    "configuredBy": {"apiVersion": "builtin", "kind": "HelmChartInflationGenerator"},
                }));
                generated.push(r);
            }
        }
        for (g, configs) in plugin_configs {
            for (config, configured_in) in configs {
                let kind = config
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let configured_by = |kind: &str| {
                    Value::clone(&configured_origin(
                        configured_in.as_deref(),
                        "builtin",
                        kind,
                        config.get("metadata"),
                    ))
                };
                let gen_kind = match kind.as_str() {
                    "ConfigMapGenerator" => Kind::ConfigMap,
                    "SecretGenerator" => Kind::Secret,
                    "IAMPolicyGenerator" => {
                        let mut r = generator::iam_policy(file, &config)?;
                        r.origin = Some(configured_by(&kind));
                        generated.push(r);
                        continue;
                    }
                    _ => {
                        return Err(Error::Unsupported {
                            file: file.to_string(),
                            what: "generator plugin",
                            detail: format!(
                                "{} {kind}",
                                config
                                    .get("apiVersion")
                                    .and_then(Value::as_str)
                                    .unwrap_or("")
                            ),
                        });
                    }
                };
                let mut args_value = Value::Object(config.clone());
                // The configuration's own name and namespace win over its metadata's.
                if let Some(meta) = config.get("metadata") {
                    for key in ["name", "namespace"] {
                        if let (Some(v), Value::Object(a)) = (meta.get(key), &mut args_value) {
                            let unset =
                                a.get(key).and_then(Value::as_str).is_none_or(str::is_empty);
                            if unset {
                                a.insert(key.to_string(), v.clone());
                            }
                        }
                    }
                }
                if let Value::Object(a) = &mut args_value {
                    for key in ["apiVersion", "kind", "metadata"] {
                        a.remove(key);
                    }
                }
                let args: kustomization::GeneratorArgs = serde_json::from_value(args_value)
                    .map_err(|e| Error::field(file, "generators", format!("{g}: {e}")))?;
                let mut r = generator::generate(file, gen_kind, &args, None, &load)?;
                r.origin = Some(configured_by(&kind));
                generated.push(r);
            }
        }
        for (api_version, kind) in &seen {
            self.openapi.saw(api_version, kind)?;
        }
        for r in generated {
            acc.res
                .absorb(r)
                .map_err(|e| Error::build(file, format!("merging from generator: {e}")))?;
        }
        Ok(())
    }

    /// The builtin plugin configurations an entry of `generators`/`transformers` names:
    /// inline YAML, a file, or a kustomization directory producing them; each with the
    /// file it came from, relative to the top kustomization (the origin upstream gives
    /// it: the kustomization for inline YAML, none for one a generator made).
    fn plugin_configs(
        &mut self,
        dir: &str,
        file: &str,
        entry: &str,
        field: &str,
    ) -> Result<Vec<PluginConfig>> {
        let docs: Vec<(Value, Option<String>)> = if entry.contains('\n') {
            let here = relative(&self.root, file);
            yaml::parse_documents(file, entry.as_bytes())?
                .into_iter()
                .map(|d| (d, Some(here.clone())))
                .collect()
        } else {
            if is_remote(entry) {
                return Err(Error::Unsupported {
                    file: file.to_string(),
                    what: "remote plugin configuration",
                    detail: entry.to_string(),
                });
            }
            let path = join(dir, entry).map_err(|e| Error::build(file, e.to_string()))?;
            match self.tree.entry(&path)? {
                Some(EntryKind::Dir) => {
                    let (k, sub_file) = self.load_kustomization(&path, Some(file))?;
                    self.set_openapi(&path, &sub_file, &k, false)?;
                    let sub = self.accumulate(&path, &sub_file, &k, Accumulated::default())?;
                    sub.res
                        .into_list()
                        .into_iter()
                        .map(|r| {
                            let from = r
                                .origin
                                .as_ref()
                                .and_then(|o| o.get("path"))
                                .and_then(Value::as_str)
                                .map(str::to_string);
                            (Value::Object(r.obj), from)
                        })
                        .collect()
                }
                _ => {
                    let bytes = self.load_file(dir, file, entry)?;
                    let here = relative(&self.root, &path);
                    yaml::parse_documents(&path, &bytes)?
                        .into_iter()
                        .map(|d| (d, Some(here.clone())))
                        .collect()
                }
            }
        };
        docs.into_iter()
            .map(|(d, from)| match d {
                Value::Object(m) => {
                    let api = m.get("apiVersion").and_then(Value::as_str).unwrap_or("");
                    if api != "builtin" {
                        return Err(Error::Unsupported {
                            file: file.to_string(),
                            what: "plugin (only builtin configurations are)",
                            detail: format!("{field} entry with apiVersion {api:?}"),
                        });
                    }
                    // Upstream reads every configuration as a resource of its own kind.
                    let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
                    self.openapi.saw(api, kind)?;
                    Ok((m, from))
                }
                _ => Err(Error::field(
                    file,
                    field,
                    format!("{entry}: expected a mapping"),
                )),
            })
            .collect()
    }

    fn run_transformers(
        &mut self,
        dir: &str,
        file: &str,
        k: &Kustomization,
        acc: &mut Accumulated,
    ) -> Result<()> {
        // Upstream configures every transformer before running any: the configurations
        // `transformers` names are read (and a directory among them built, its `openapi`
        // applied) before the kustomization's own patches run.
        let mut configured = Vec::new();
        for t in &k.transformers {
            configured.extend(self.plugin_configs(dir, file, t, "transformers")?);
        }
        let res = &mut acc.res;
        let tc = &acc.config;
        let configured_in = relative(&self.root, file);
        let track = self.track_transformers;
        let record_origin = |res: &mut ResMap, origin: Arc<Value>| {
            if track {
                for r in res.list_mut() {
                    r.transformations.push(origin.clone());
                }
            }
        };
        let record = |res: &mut ResMap, kind: &'static str| {
            if track {
                record_origin(
                    res,
                    configured_origin(Some(&configured_in), "builtin", kind, None),
                );
            }
        };
        for entry in &k.patches_strategic_merge {
            self.apply_strategic_merge_file(dir, file, entry, res)?;
        }
        if !k.patches_strategic_merge.is_empty() {
            record(res, "PatchStrategicMergeTransformer");
        }
        for args in &k.patches {
            let (source, text) = self.patch_text(dir, file, args, false)?;
            let p = patch::parse(file, &source, &text)?;
            patch::apply(
                file,
                &source,
                res,
                &p,
                args.target.as_ref(),
                &args.options,
                &mut self.openapi,
            )?;
            record(res, "PatchTransformer");
        }
        if !k.namespace.is_empty() {
            transform::namespace(file, res, &k.namespace, &tc.namespace)?;
            record(res, "NamespaceTransformer");
        }
        if !k.name_prefix.is_empty() {
            transform::prefix_suffix(res, &k.name_prefix, true, &tc.name_prefix)?;
            record(res, "PrefixTransformer");
        }
        if !k.name_suffix.is_empty() {
            transform::prefix_suffix(res, &k.name_suffix, false, &tc.name_suffix)?;
            record(res, "SuffixTransformer");
        }
        for l in &k.labels {
            let mut specs: Vec<FieldSpec> = l
                .field_specs
                .iter()
                .filter_map(FieldSpec::from_value)
                .collect();
            extend_unique(&mut specs, &tc.labels);
            if l.include_selectors {
                extend_unique(&mut specs, &tc.common_labels);
            } else {
                if l.include_templates {
                    extend_unique(&mut specs, &tc.template_labels);
                }
                extend_unique(
                    &mut specs,
                    &[FieldSpec::new("", "", "", "metadata/labels", true)],
                );
            }
            transform::set_map_entries(file, "labels", res, &l.pairs, &specs)?;
            record(res, "LabelTransformer");
        }
        if !k.common_labels.is_empty() {
            record(res, "LabelTransformer");
        }
        transform::set_map_entries(
            file,
            "commonLabels",
            res,
            &k.common_labels,
            &tc.common_labels,
        )?;
        transform::set_map_entries(
            file,
            "commonAnnotations",
            res,
            &k.common_annotations,
            &tc.common_annotations,
        )?;
        if !k.common_annotations.is_empty() {
            record(res, "AnnotationsTransformer");
        }
        for args in &k.patches_json6902 {
            let (source, text) = self.patch_text(dir, file, args, false)?;
            let p = patch::parse(file, &source, &text)?;
            patch::apply(
                file,
                &source,
                res,
                &p,
                args.target.as_ref(),
                &args.options,
                &mut self.openapi,
            )?;
            record(res, "PatchJson6902Transformer");
        }
        for r in &k.replicas {
            transform::replicas(file, res, r, &tc.replicas)?;
            record(res, "ReplicaCountTransformer");
        }
        transform::images(res, &k.images, &tc.images)?;
        for _ in &k.images {
            record(res, "ImageTagTransformer");
        }
        if !k.replacements.is_empty() {
            let list = self.load_replacements(dir, file, &k.replacements)?;
            replacement::apply(file, res, &list)?;
            record(res, "ReplacementTransformer");
        }
        for (config, configured_in) in configured {
            self.run_builtin_transformer(dir, file, &config, acc_parts(res, tc))?;
            // Upstream records a configured transformer by the configuration object and
            // the file it came from (`OriginFromCustomPlugin`).
            let s = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or("");
            record_origin(
                res,
                configured_origin(
                    configured_in.as_deref(),
                    s("apiVersion"),
                    s("kind"),
                    config.get("metadata"),
                ),
            );
        }
        Ok(())
    }

    fn run_builtin_transformer(
        &mut self,
        dir: &str,
        file: &str,
        c: &Map<String, Value>,
        (res, tc): (&mut ResMap, &TransformerConfig),
    ) -> Result<()> {
        let kind = c.get("kind").and_then(Value::as_str).unwrap_or("");
        let specs = |key: &str, default: &[FieldSpec]| -> Vec<FieldSpec> {
            match c.get(key).and_then(Value::as_array) {
                Some(a) => a.iter().filter_map(FieldSpec::from_value).collect(),
                None => default.to_vec(),
            }
        };
        let strings = |key: &str| -> std::collections::BTreeMap<String, String> {
            c.get(key)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let s = |key: &str| c.get(key).and_then(Value::as_str).unwrap_or("").to_string();
        match kind {
            "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
                let fs = specs("fieldSpecs", &tc.name_prefix);
                if !s("prefix").is_empty() {
                    transform::prefix_suffix(res, &s("prefix"), true, &fs)?;
                }
                if !s("suffix").is_empty() {
                    transform::prefix_suffix(res, &s("suffix"), false, &fs)?;
                }
                Ok(())
            }
            "NamespaceTransformer" => {
                let ns = c
                    .get("metadata")
                    .and_then(|m| m.get("namespace"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                transform::namespace(file, res, ns, &specs("fieldSpecs", &tc.namespace))
            }
            "LabelTransformer" => transform::set_map_entries(
                file,
                "labels",
                res,
                &strings("labels"),
                &specs("fieldSpecs", &tc.common_labels),
            ),
            "AnnotationsTransformer" => transform::set_map_entries(
                file,
                "annotations",
                res,
                &strings("annotations"),
                &specs("fieldSpecs", &tc.common_annotations),
            ),
            "ImageTagTransformer" => {
                let image: kustomization::Image =
                    serde_json::from_value(c.get("imageTag").cloned().unwrap_or(Value::Null))
                        .map_err(|e| Error::field(file, "transformers", e.to_string()))?;
                transform::images(res, &[image], &specs("fieldSpecs", &tc.images))
            }
            "ReplicaCountTransformer" => {
                let replica: kustomization::Replica =
                    serde_json::from_value(c.get("replica").cloned().unwrap_or(Value::Null))
                        .map_err(|e| Error::field(file, "transformers", e.to_string()))?;
                transform::replicas(file, res, &replica, &specs("fieldSpecs", &tc.replicas))
            }
            "ReplacementTransformer" => {
                let entries = c
                    .get("replacements")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let list = self.load_replacements(dir, file, &entries)?;
                replacement::apply(file, res, &list)
            }
            "PatchTransformer" | "PatchJson6902Transformer" => {
                let args: PatchArgs = serde_json::from_value(Value::Object(c.clone()))
                    .map_err(|e| Error::field(file, "transformers", e.to_string()))?;
                let args = PatchArgs {
                    patch: if args.patch.is_empty() {
                        s("jsonOp")
                    } else {
                        args.patch
                    },
                    ..args
                };
                let (source, text) = self.patch_text(dir, file, &args, false)?;
                let p = patch::parse(file, &source, &text)?;
                patch::apply(
                    file,
                    &source,
                    res,
                    &p,
                    args.target.as_ref(),
                    &args.options,
                    &mut self.openapi,
                )
            }
            "PatchStrategicMergeTransformer" => {
                let mut entries: Vec<String> = c
                    .get("paths")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(p) = c.get("patches").and_then(Value::as_str) {
                    entries.push(p.to_string());
                }
                for entry in &entries {
                    self.apply_strategic_merge_file(dir, file, entry, res)?;
                }
                Ok(())
            }
            other => Err(Error::Unsupported {
                file: file.to_string(),
                what: "transformer plugin",
                detail: other.to_string(),
            }),
        }
    }

    /// The entries of `replacements`: inline, or `path` naming a file that holds one
    /// replacement or a list of them.
    fn load_replacements(
        &self,
        dir: &str,
        file: &str,
        entries: &[Value],
    ) -> Result<Vec<replacement::Replacement>> {
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.get("path").and_then(Value::as_str).unwrap_or("");
            if path.is_empty() {
                out.push(replacement::parse(file, "replacements", entry)?);
                continue;
            }
            if entry.get("source").is_some() || entry.get("targets").is_some() {
                return Err(Error::field(
                    file,
                    "replacements",
                    "cannot specify both path and inline replacement",
                ));
            }
            let bytes = self.load_file(dir, file, path)?;
            let full = join(dir, path)?;
            // Upstream decodes one YAML document: later ones are ignored.
            let doc = yaml::parse_documents(&full, &bytes)?
                .into_iter()
                .next()
                .unwrap_or(Value::Null);
            out.extend(replacement::parse_file(file, path, &doc)?);
        }
        Ok(out)
    }

    /// The text of a patch and a name for it in messages. With `guess`, `path` may hold
    /// the patch itself (as in `patchesStrategicMerge`).
    /// Applies the strategic merge patch file `entry` (a `patchesStrategicMerge` entry or
    /// a PatchStrategicMergeTransformer path) to every resource it targets.
    fn apply_strategic_merge_file(
        &mut self,
        dir: &str,
        file: &str,
        entry: &str,
        res: &mut ResMap,
    ) -> Result<()> {
        let args = PatchArgs {
            path: entry.to_string(),
            ..PatchArgs::default()
        };
        let (source, text) = self.patch_text(dir, file, &args, true)?;
        let p = patch::parse(file, &source, &text)?;
        patch::apply(
            file,
            &source,
            res,
            &p,
            None,
            &PatchOptions::default(),
            &mut self.openapi,
        )
    }

    fn patch_text(
        &self,
        dir: &str,
        file: &str,
        args: &PatchArgs,
        guess: bool,
    ) -> Result<(String, String)> {
        let inline = args.patch.trim();
        if !inline.is_empty() && !args.path.is_empty() {
            return Err(Error::field(
                file,
                "patches",
                "patch and path can't be set at the same time",
            ));
        }
        if !inline.is_empty() {
            return Ok(("(inline patch)".to_string(), inline.to_string()));
        }
        if args.path.is_empty() {
            return Err(Error::field(
                file,
                "patches",
                "must specify one of patch and path",
            ));
        }
        if guess
            && (args.path.contains('\n') || self.load_file(dir, file, &args.path).is_err())
            && (args.path.contains('\n') || args.path.contains(':'))
        {
            return Ok(("(inline patch)".to_string(), args.path.clone()));
        }
        let bytes = self.load_file(dir, file, &args.path)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::field(file, "patches", format!("{}: not UTF-8", args.path)))?;
        Ok((join(dir, &args.path)?, text))
    }
}

/// A builtin plugin configuration and the file it came from, relative to the top
/// kustomization (none for one a generator made).
type PluginConfig = (Map<String, Value>, Option<String>);

fn acc_parts<'a>(
    res: &'a mut ResMap,
    tc: &'a TransformerConfig,
) -> (&'a mut ResMap, &'a TransformerConfig) {
    (res, tc)
}

fn extend_unique(into: &mut Vec<FieldSpec>, from: &[FieldSpec]) {
    for fs in from {
        if !into.contains(fs) {
            into.push(fs.clone());
        }
    }
}

fn show_dir(dir: &str) -> &str {
    if dir.is_empty() { "." } else { dir }
}

/// Refuses what rendering must never do: run plugins or KRM functions.
fn refuse_unsupported(file: &str, k: &Kustomization) -> Result<()> {
    let unsupported = |what: &'static str, detail: &str| Error::Unsupported {
        file: file.to_string(),
        what,
        detail: detail.to_string(),
    };
    if !k.validators.is_empty() {
        return Err(unsupported(
            "validators (KRM functions)",
            &k.validators.join(", "),
        ));
    }
    Ok(())
}

/// The resources in one file: every document, `List`s expanded.
pub(crate) fn resources_from(path: &str, bytes: &[u8]) -> Result<Vec<Resource>> {
    let mut out = Vec::new();
    for doc in yaml::parse_documents(path, bytes)? {
        let Value::Object(obj) = doc else {
            return Err(Error::Yaml {
                file: path.to_string(),
                reason: "a resource must be a mapping".to_string(),
            });
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind.ends_with("List") && obj.get("items").is_some_and(Value::is_array) {
            if let Some(Value::Array(items)) = obj.get("items") {
                for item in items {
                    if let Value::Object(o) = item {
                        out.push(Resource::new(o.clone()));
                    }
                }
            }
            continue;
        }
        if kind.is_empty() {
            return Err(Error::field(path, "kind", "missing kind in resource"));
        }
        out.push(Resource::new(obj));
    }
    Ok(out)
}

/// File `rel` of the kustomization `file` in `dir`, read from `tree` with kustomize's
/// default load restrictions: no remote files, nothing outside `dir`.
fn load_within(tree: &dyn Tree, dir: &str, file: &str, rel: &str) -> Result<Vec<u8>> {
    if is_remote(rel) {
        return Err(Error::Unsupported {
            file: file.to_string(),
            what: "remote file",
            detail: rel.to_string(),
        });
    }
    let path = join(dir, rel).map_err(|e| Error::build(file, e.to_string()))?;
    if !is_within(&path, dir) {
        return Err(Error::build(
            file,
            format!(
                "security; file '{path}' is not in or below '{}'",
                show_dir(dir)
            ),
        ));
    }
    Ok(tree.read(&path)?)
}
