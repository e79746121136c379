//! Native `helm template`: charts from a directory or an archive, values, and Helm's
//! output order and format.
//!
//! * [`render`] — loads the chart at a path of a [`Tree`] and renders it with
//!   [`RenderOptions`] (values files, `--set` family, release, Kubernetes version and API
//!   versions, hooks/tests/CRDs/show-only), returning [`Rendered`]: the text `helm template`
//!   prints and the parsed objects in install order with hooks identified.
//! * [`render_chart`] — the same for an already loaded [`Chart`] ([`load`],
//!   [`load_archive`]).
//! * [`argo`] — Argo CD's `source.helm` mapped onto [`RenderOptions`].
//!
//! Nothing here touches the network, spawns a process or writes: charts come from a
//! [`Tree`] (a directory, or files held in memory such as git blobs) or archive bytes, and
//! dependencies must already be in `charts/`. Templates run under [`Limits`] so recursive
//! `include`s and runaway output stop with an error.
//!
//! ```
//! use flotilla_render::helm::{self, RenderOptions};
//! use flotilla_render::kustomize::MemTree;
//!
//! let tree = MemTree::from_files([
//!     ("deploy/Chart.yaml", "apiVersion: v2\nname: web\nversion: 1.0.0\n"),
//!     ("deploy/values.yaml", "replicas: 1\n"),
//!     ("deploy/templates/cm.yaml",
//!      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  replicas: \"{{ .Values.replicas }}\"\n"),
//! ]);
//! let mut opts = RenderOptions::default();
//! opts.values.set.push("replicas=3".into());
//! let out = helm::render(&tree, "deploy", &opts).unwrap();
//! assert_eq!(out.objects()[0]["data"]["replicas"], "3");
//! assert!(out.text.starts_with("---\n# Source: web/templates/cm.yaml\n"));
//! ```

mod archive;
pub mod argo;
mod chart;
mod deps;
mod engine;
mod error;
mod glob;
mod manifest;
mod schema;
mod semver;
pub mod storage;
mod strvals;
mod values;

pub use self::archive::{MAX_ARCHIVE_BYTES, MAX_FILE_BYTES};

/// The files of a packaged chart (`.tgz`), as paths and contents, with Helm's limits
/// and refusals (no escaping paths, links or devices).
pub fn unpack_archive(name: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    archive::read_tgz(name, bytes)
}

/// The files of a gzipped tarball artifact as Flux extracts one (paths kept, `tar.Untar`'s
/// refusals and its 100 MiB limit) — a Flux OCI artifact's layer.
pub fn unpack_artifact(name: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    archive::read_artifact(name, bytes)
}

/// [`unpack_artifact`] for a tarball that is not compressed (an OCI layer of media type
/// `application/vnd.oci.image.layer.v1.tar`).
pub fn unpack_tar_artifact(name: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Error> {
    archive::read_tar_artifact(name, bytes)
}
/// One `--set` (`as_string`: `--set-string`) assignment, `path=value`, applied to
/// `values` with Helm's `strvals` rules — how Flux places a `valuesFrom` entry at its
/// `targetPath`.
pub fn set_value(values: &mut Table, assignment: &str, as_string: bool) -> Result<(), String> {
    let kind = if as_string {
        strvals::Kind::String
    } else {
        strvals::Kind::Typed
    };
    strvals::parse_into(assignment, values, kind)
}

/// A values document read as Helm's `ReadValues` reads one (empty is an empty table).
pub fn read_values(text: &str) -> Result<Table, String> {
    values::parse_values(text)
}

/// Helm's `CoalesceTables`: what `src` has and `dst` lacks filled into `dst` (tables key
/// by key; a `null` in `dst` deletes the key).
pub fn coalesce_tables(mut dst: Table, src: &Table) -> Table {
    values::coalesce_tables(&mut dst, src, false);
    dst
}

/// Helm's `MergeMaps`: `b` over `a`, tables merged key by key, anything else replaced.
pub fn merge_values(a: Table, b: Table) -> Table {
    values::merge_maps(a, b)
}

pub use self::chart::{Chart, Dependency, File, Metadata, load, load_archive, load_dir};
pub use self::error::Error;
pub use self::manifest::{Hook, Manifest};
pub use self::values::Table;
pub use flotilla_template::Limits;

use crate::kustomize::Tree;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The Helm version whose `helm template` output is reproduced (`.Capabilities.HelmVersion`).
pub const HELM_VERSION: &str = "v4.2.4";

/// The Kubernetes version `helm template` assumes without `--kube-version`: Helm v4.2 takes
/// it from the client-go it is built with (v0.35 → v1.35.0).
pub const DEFAULT_KUBE_VERSION: &str = "v1.35.0";

/// The largest values file accepted (values are configuration; anything bigger is a
/// mistake or an attack). Checked before parsing.
pub const MAX_VALUES_BYTES: usize = 5 * 1024 * 1024;

/// Which Helm's output to reproduce where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// Helm 4.2: each document keeps its trailing newline (a blank line before `---`).
    #[default]
    HelmV4,
    /// Helm 3.21: documents trimmed.
    HelmV3,
}

/// Reads a `--set-file` path (the CLI reads the disk; Argo CD's `fileParameters` read the
/// repository tree).
pub type FileReader = Arc<dyn Fn(&str) -> Result<Vec<u8>, String> + Send + Sync>;

/// A values file given by the user (`-f`), already read.
#[derive(Debug, Clone)]
pub struct ValuesFile {
    /// Its name, for error messages.
    pub name: String,
    /// Its contents.
    pub data: Vec<u8>,
}

/// User-supplied values, combined as Helm's `values.Options.MergeValues` does: values
/// files in order, then `--set-json`, `--set`, `--set-string`, `--set-file`,
/// `--set-literal` (each group in order).
#[derive(Clone, Default)]
pub struct ValueOptions {
    /// `-f/--values`.
    pub files: Vec<ValuesFile>,
    /// `--set-json`.
    pub set_json: Vec<String>,
    /// `--set`.
    pub set: Vec<String>,
    /// `--set-string`.
    pub set_string: Vec<String>,
    /// `--set-file` (`key=path`); paths are read with [`ValueOptions::file_reader`].
    pub set_file: Vec<String>,
    /// `--set-literal`.
    pub set_literal: Vec<String>,
    /// Reads `--set-file` paths; without one, `--set-file` is an error.
    pub file_reader: Option<FileReader>,
}

impl std::fmt::Debug for ValueOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueOptions")
            .field(
                "files",
                &self.files.iter().map(|v| &v.name).collect::<Vec<_>>(),
            )
            .field("set_json", &self.set_json.len())
            .field("set", &self.set.len())
            .field("set_string", &self.set_string.len())
            .field("set_file", &self.set_file)
            .field("set_literal", &self.set_literal.len())
            .finish()
    }
}

impl ValueOptions {
    /// The merged user values (Helm's `MergeValues`).
    pub fn merge(&self) -> Result<Table, Error> {
        let mut base = Table::new();
        for f in &self.files {
            if f.data.len() > MAX_VALUES_BYTES {
                return Err(Error::Parse {
                    file: f.name.clone(),
                    reason: format!(
                        "values file is larger than the limit of {MAX_VALUES_BYTES} bytes"
                    ),
                });
            }
            let text = String::from_utf8_lossy(&f.data);
            let m = values::parse_values_remembered(&text).map_err(|reason| Error::Parse {
                file: f.name.clone(),
                reason: format!("failed to parse {}: {reason}", f.name),
            })?;
            base = values::merge_maps(base, m);
        }
        for v in &self.set_json {
            let t = v.trim();
            if t.starts_with('{') {
                let m: Table = serde_json::from_str(t).map_err(|_| Error::SetValue {
                    flag: "--set-json",
                    reason: format!("JSON: {v}"),
                })?;
                base = values::merge_maps(base, m);
            } else {
                strvals::parse_into(v, &mut base, strvals::Kind::Json).map_err(|_| {
                    Error::SetValue {
                        flag: "--set-json",
                        reason: v.clone(),
                    }
                })?;
            }
        }
        let set =
            |list: &[String], kind: strvals::Kind<'_>, flag: &'static str, base: &mut Table| {
                for v in list {
                    strvals::parse_into(v, base, kind)
                        .map_err(|reason| Error::SetValue { flag, reason })?;
                }
                Ok::<(), Error>(())
            };
        set(&self.set, strvals::Kind::Typed, "--set", &mut base)?;
        set(
            &self.set_string,
            strvals::Kind::String,
            "--set-string",
            &mut base,
        )?;
        if !self.set_file.is_empty() {
            let reader = self.file_reader.clone().ok_or_else(|| Error::SetValue {
                flag: "--set-file",
                reason: "no file reader configured".into(),
            })?;
            let read = move |p: &str| -> Result<String, String> {
                let bytes = reader(p)?;
                if bytes.len() > MAX_VALUES_BYTES {
                    return Err(format!(
                        "{p}: larger than the limit of {MAX_VALUES_BYTES} bytes"
                    ));
                }
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            };
            set(
                &self.set_file,
                strvals::Kind::File(&read),
                "--set-file",
                &mut base,
            )?;
        }
        set(
            &self.set_literal,
            strvals::Kind::Literal,
            "--set-literal",
            &mut base,
        )?;
        Ok(base)
    }
}

/// `.Capabilities` as Helm's `getCapabilities` reads them from a live cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterCapabilities {
    /// The server's `gitVersion` as it wrote it (`v1.29.3-gke.1093000`): Helm keeps it
    /// whole, and checks a chart's `kubeVersion` against it.
    pub git_version: String,
    /// The server's `major`, as written.
    pub major: String,
    /// The server's `minor`, as written (`29+` on some providers).
    pub minor: String,
    /// Helm's `GetVersionSet` of the cluster's discovery; empty: the built-in set, as
    /// Helm falls back when discovery found nothing.
    pub api_versions: Vec<String>,
}

/// Everything `helm template` takes besides the chart.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// `.Release.Name` (`release-name` when `helm template` is given none).
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// `--is-upgrade`: `.Release.IsUpgrade` instead of `.Release.IsInstall`.
    pub is_upgrade: bool,
    /// User values.
    pub values: ValueOptions,
    /// `--kube-version` (default [`DEFAULT_KUBE_VERSION`]).
    pub kube_version: Option<String>,
    /// `--api-versions`, added to the built-in set.
    pub api_versions: Vec<String>,
    /// What Helm reads from the cluster it installs into or upgrades (as
    /// helm-controller's actions do), in place of `kube_version` and the built-in API
    /// versions; `None`: `helm template`'s.
    pub cluster: Option<ClusterCapabilities>,
    /// `--include-crds`: print `crds/` files first.
    pub include_crds: bool,
    /// `--no-hooks`: leave hooks out of the output.
    pub no_hooks: bool,
    /// `--skip-tests`: leave `test` hooks out of the output.
    pub skip_tests: bool,
    /// `--show-only`: only the manifests from templates matching these paths/globs.
    pub show_only: Vec<String>,
    /// `--skip-schema-validation`.
    pub skip_schema_validation: bool,
    /// Which Helm's output format.
    pub flavor: Flavor,
    /// Template safety limits.
    pub limits: Limits,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            is_upgrade: false,
            values: ValueOptions::default(),
            kube_version: None,
            api_versions: Vec::new(),
            cluster: None,
            include_crds: false,
            no_hooks: false,
            skip_tests: false,
            show_only: Vec::new(),
            skip_schema_validation: false,
            flavor: Flavor::HelmV4,
            limits: Limits::default(),
        }
    }
}

/// The result of a render.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// What `helm template` prints.
    pub text: String,
    /// CRDs from `crds/` (printed only with `include_crds`).
    pub crds: Vec<Manifest>,
    /// Manifests in Helm's install order.
    pub manifests: Vec<Manifest>,
    /// Hooks in Helm's order (all of them, whatever `no_hooks`/`skip_tests` say).
    pub hooks: Vec<Hook>,
    /// The rendered NOTES.txt of the top chart.
    pub notes: String,
}

impl Rendered {
    /// The objects `helm template` prints, in its order: CRDs (when included), manifests,
    /// then hooks (unless left out). Comment-only documents are skipped.
    pub fn objects(&self) -> Vec<&serde_json::Value> {
        self.printed().filter(|o| !o.is_null()).collect()
    }

    /// [`objects`](Self::objects), moved out.
    pub fn into_objects(self) -> Vec<serde_json::Value> {
        self.crds
            .into_iter()
            .chain(self.manifests)
            .map(|m| m.object)
            .chain(self.hooks.into_iter().map(|h| h.manifest.object))
            .filter(|o| !o.is_null())
            .collect()
    }

    fn printed(&self) -> impl Iterator<Item = &serde_json::Value> {
        self.crds
            .iter()
            .chain(self.manifests.iter())
            .map(|m| &m.object)
            .chain(self.hooks.iter().map(|h| &h.manifest.object))
    }
}

/// The annotation Helm 4 marks each document with while post-renderers run, to sort
/// their output back into the templates it came from.
const POSTRENDER_FILENAME: &str = "postrenderer.helm.sh/postrender-filename";

/// Runs a post-renderer over a render as Helm 4's default (`combined`) strategy does:
/// manifests and hooks go to `transform` in one stream, each marked with the template it
/// came from; what comes back is sorted again into manifests and hooks (an object that
/// lost its mark is filed under `post-renderer`) and the printed text is rebuilt.
pub fn post_render(
    rendered: &mut Rendered,
    transform: impl FnOnce(Vec<serde_json::Value>) -> Result<Vec<serde_json::Value>, String>,
) -> Result<(), Error> {
    let marked: Vec<serde_json::Value> = rendered
        .manifests
        .iter()
        .map(|m| (m.source.as_str(), &m.object))
        .chain(
            rendered
                .hooks
                .iter()
                .map(|h| (h.manifest.source.as_str(), &h.manifest.object)),
        )
        .filter(|(_, object)| object.is_object())
        .map(|(source, object)| {
            let mut object = object.clone();
            if let Some(metadata) = object
                .as_object_mut()
                .map(|o| o.entry("metadata").or_insert_with(|| serde_json::json!({})))
                .and_then(serde_json::Value::as_object_mut)
            {
                let annotations = metadata
                    .entry("annotations")
                    .or_insert_with(|| serde_json::json!({}));
                if let Some(annotations) = annotations.as_object_mut() {
                    annotations.insert(POSTRENDER_FILENAME.into(), source.into());
                }
            }
            object
        })
        .collect();
    let transformed = transform(marked).map_err(Error::PostRender)?;
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for mut object in transformed {
        let source = object
            .pointer_mut("/metadata/annotations")
            .and_then(serde_json::Value::as_object_mut)
            .and_then(|a| {
                let source = a.remove(POSTRENDER_FILENAME);
                source.and_then(|s| s.as_str().map(str::to_string))
            })
            .unwrap_or_else(|| "post-renderer".to_string());
        if object
            .pointer("/metadata/annotations")
            .and_then(serde_json::Value::as_object)
            .is_some_and(serde_json::Map::is_empty)
            && let Some(metadata) = object
                .get_mut("metadata")
                .and_then(serde_json::Value::as_object_mut)
        {
            metadata.remove("annotations");
        }
        let text = files.entry(source).or_default();
        if !text.is_empty() {
            text.push_str("---\n");
        }
        text.push_str(&crate::kustomize::to_yaml(&object));
    }
    let (hooks, manifests) = manifest::sort(&files, rendered_trims(rendered))?;
    rendered.hooks = hooks;
    rendered.manifests = manifests;
    rendered.text = print(rendered);
    Ok(())
}

/// Whether the render trimmed document ends (Helm 3's flavour): read from its text.
fn rendered_trims(rendered: &Rendered) -> bool {
    rendered
        .manifests
        .first()
        .is_some_and(|m| !m.content.ends_with('\n'))
}

/// Helm's release-name rule (DNS-1123 subdomain, at most 53 characters).
fn validate_release_name(name: &str) -> Result<(), Error> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > 53 || !name.split('.').all(label_ok) {
        return Err(Error::Options(format!(
            "release name {name:?}: invalid release name, must match regex ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ and the length must not be longer than 53"
        )));
    }
    Ok(())
}

/// Loads the chart at `chart_path` of `tree` (a directory or a `.tgz`) and renders it.
pub fn render(tree: &dyn Tree, chart_path: &str, opts: &RenderOptions) -> Result<Rendered, Error> {
    let chart = load(tree, chart_path)?;
    render_chart(chart, opts)
}

/// The chart as it is installed with the values of `opts`: subcharts whose conditions
/// or tags turn them off left out (Helm's `ProcessDependencies`), and the user values.
fn with_dependencies(mut chart: Chart, opts: &RenderOptions) -> Result<(Chart, Table), Error> {
    validate_release_name(&opts.release_name)?;
    if !matches!(chart.metadata.chart_type.as_str(), "" | "application") {
        return Err(Error::NotInstallable(chart.metadata.chart_type.clone()));
    }
    deps::check(&chart)?;
    let user = opts.values.merge()?;
    deps::process(&mut chart, &user)?;
    Ok((chart, user))
}

/// The `crds/` files of the chart and of the subcharts the values of `opts` keep, as
/// Helm's install applies them before it asks the cluster its capabilities and renders.
pub fn chart_crds(chart: Chart, opts: &RenderOptions) -> Result<Vec<Manifest>, Error> {
    let (chart, _) = with_dependencies(chart, opts)?;
    crd_manifests(&chart)
}

/// Renders a loaded chart as `helm template` does.
pub fn render_chart(chart: Chart, opts: &RenderOptions) -> Result<Rendered, Error> {
    let (chart, user) = with_dependencies(chart, opts)?;
    let defaults = || DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect();
    let (kube, mut apis): (_, Vec<String>) = match &opts.cluster {
        None => (
            engine::KubeVersion::parse(
                opts.kube_version.as_deref().unwrap_or(DEFAULT_KUBE_VERSION),
            )
            .map_err(Error::Options)?,
            defaults(),
        ),
        Some(cluster) => (
            engine::KubeVersion {
                version: cluster.git_version.clone(),
                normalized: cluster.git_version.clone(),
                major: cluster.major.clone(),
                minor: cluster.minor.clone(),
            },
            if cluster.api_versions.is_empty() {
                defaults()
            } else {
                cluster.api_versions.clone()
            },
        ),
    };
    if !chart.metadata.kube_version.is_empty()
        && !semver::satisfies(&chart.metadata.kube_version, &kube.normalized)
    {
        return Err(Error::KubeVersion {
            constraint: chart.metadata.kube_version.clone(),
            version: kube.version.clone(),
        });
    }
    let vals = deps::coalesce_as(&chart, &user, false, opts.flavor == Flavor::HelmV3)?;
    if !opts.skip_schema_validation {
        schema::validate_chart(&chart, &vals)?;
    }
    apis.extend(
        opts.api_versions
            .iter()
            .flat_map(|a| a.split(','))
            .map(str::to_string),
    );
    let top = engine::Top {
        release: release_object(opts),
        capabilities: engine::capabilities(&kube, &apis),
    };
    let mut files = engine::render(&chart, &vals, &top, opts.limits)?;
    let notes_key = format!("{}/templates/NOTES.txt", chart.name());
    let notes = files.get(&notes_key).cloned().unwrap_or_default();
    files.retain(|k, _| !k.ends_with("NOTES.txt"));
    let trim_end = opts.flavor == Flavor::HelmV3;
    let (hooks, manifests) = manifest::sort(&files, trim_end)?;
    let crds = crd_manifests(&chart)?;
    let mut rendered = Rendered {
        text: String::new(),
        crds: if opts.include_crds { crds } else { Vec::new() },
        manifests,
        hooks,
        notes,
    };
    if opts.no_hooks {
        rendered.hooks.clear();
    } else if opts.skip_tests {
        rendered.hooks.retain(|h| !h.is_test());
    }
    rendered.text = print(&rendered);
    if !opts.show_only.is_empty() {
        rendered.text = show_only(&rendered.text, &opts.show_only, trim_end)?;
        let keep = |source: &str| {
            let path = source.split_once('/').map_or(source, |(_, p)| p);
            opts.show_only.iter().any(|f| glob::path_match(f, path))
        };
        rendered.crds.retain(|m| keep(&m.source));
        rendered.manifests.retain(|m| keep(&m.source));
        rendered.hooks.retain(|h| keep(&h.manifest.source));
    }
    Ok(rendered)
}

fn release_object(opts: &RenderOptions) -> flotilla_template::Value {
    use flotilla_template::Value;
    let mut m = std::collections::BTreeMap::new();
    m.insert("Name".to_string(), Value::from(opts.release_name.as_str()));
    m.insert(
        "Namespace".to_string(),
        Value::from(opts.namespace.as_str()),
    );
    m.insert("IsUpgrade".to_string(), Value::Bool(opts.is_upgrade));
    m.insert("IsInstall".to_string(), Value::Bool(!opts.is_upgrade));
    m.insert("Revision".to_string(), Value::Int(1));
    m.insert("Service".to_string(), Value::from("Helm"));
    Value::map(m)
}

fn crd_manifests(chart: &Chart) -> Result<Vec<Manifest>, Error> {
    let name = chart.name().to_string();
    chart
        .crd_files(&name)
        .into_iter()
        .map(|(source, f)| {
            let content = String::from_utf8_lossy(&f.data).into_owned();
            let object = serde_saphyr::from_multiple::<serde_json::Value>(&content)
                .ok()
                .and_then(|docs| docs.into_iter().find(|d| !d.is_null()))
                .unwrap_or(serde_json::Value::Null);
            let kind = object
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or("")
                .to_string();
            Ok(Manifest {
                source,
                content,
                object,
                kind,
            })
        })
        .collect()
}

/// `helm template`'s text: CRDs and manifests (trimmed as a whole), then hooks.
fn print(r: &Rendered) -> String {
    let mut body = String::new();
    for m in r.crds.iter().chain(r.manifests.iter()) {
        body.push_str(&format!("---\n# Source: {}\n{}\n", m.source, m.content));
    }
    let mut out = String::with_capacity(body.len() + 64);
    out.push_str(body.trim());
    out.push('\n');
    for h in &r.hooks {
        out.push_str(&format!(
            "---\n# Source: {}\n{}\n",
            h.manifest.source, h.manifest.content
        ));
    }
    out
}

/// `--show-only`: the documents whose `# Source:` path (without the chart name) matches
/// one of the patterns, pattern by pattern.
fn show_only(text: &str, patterns: &[String], trim_end: bool) -> Result<String, Error> {
    let docs = manifest::split(text, trim_end);
    let mut out = String::new();
    for f in patterns {
        let f = f.replace('\\', "/");
        let mut found = false;
        for d in &docs {
            let Some(path) = source_path(d) else { continue };
            if glob::path_match(&f, path) {
                out.push_str(&format!("---\n{d}\n"));
                found = true;
            }
        }
        if !found {
            return Err(Error::ShowOnly(f));
        }
    }
    Ok(out)
}

/// The path after `# Source: <chart>/` in a document, as Helm's regex
/// `# Source: [^/]+/(.+)` finds it.
fn source_path(doc: &str) -> Option<&str> {
    let mut rest = doc;
    while let Some(i) = rest.find("# Source: ") {
        let after = &rest[i + "# Source: ".len()..];
        let line = after.split('\n').next().unwrap_or(after);
        if let Some(slash) = line.find('/')
            && slash > 0
            && slash + 1 < line.len()
        {
            return Some(&line[slash + 1..]);
        }
        rest = after;
    }
    None
}

/// The API versions `helm template` reports without a cluster: those of client-go's
/// scheme (Kubernetes 1.35) plus apiextensions, as Helm's `DefaultVersionSet`.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1alpha1",
    "certificates.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1alpha1",
    "rbac.authorization.k8s.io/v1beta1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1alpha3",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1beta2",
    "scheduling.k8s.io/v1",
    "scheduling.k8s.io/v1alpha1",
    "scheduling.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storage.k8s.io/v1beta1",
    "storagemigration.k8s.io/v1alpha1",
    "apiextensions.k8s.io/v1",
    "apiextensions.k8s.io/v1beta1",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::MemTree;
    use serde_json::{Value, json};

    fn rendered() -> Rendered {
        let tree = MemTree::from_files([
            (
                "web/Chart.yaml",
                "apiVersion: v2\nname: web\nversion: 1.0.0\n",
            ),
            (
                "web/templates/job.yaml",
                "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    helm.sh/hook: pre-install\n",
            ),
            (
                "web/templates/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
            ),
            (
                "web/templates/sa.yaml",
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: web\n",
            ),
        ]);
        render(&tree, "web", &RenderOptions::default()).unwrap()
    }

    /// Helm 4's `combined` post-render: hooks pass through too, stay hooks, and every
    /// object keeps the template it came from; the marking annotation does not leak.
    #[test]
    fn post_renderers_see_manifests_and_hooks_and_keep_their_sources() {
        let mut rendered = rendered();
        let mut seen = 0;
        post_render(&mut rendered, |objects| {
            seen = objects.len();
            Ok(objects
                .into_iter()
                .map(|mut o| {
                    o["metadata"]["labels"] = json!({"post": "rendered"});
                    o
                })
                .collect())
        })
        .unwrap();
        assert_eq!(seen, 3);
        assert_eq!(rendered.hooks.len(), 1);
        assert_eq!(rendered.hooks[0].manifest.source, "web/templates/job.yaml");
        assert_eq!(rendered.hooks[0].events, vec!["pre-install".to_string()]);
        let kinds: Vec<&str> = rendered.manifests.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["ServiceAccount", "ConfigMap"],
            "Helm's install order again"
        );
        for object in rendered.objects() {
            assert_eq!(object["metadata"]["labels"]["post"], "rendered");
            let annotations = object.pointer("/metadata/annotations");
            assert!(
                annotations.is_none_or(|a| a.get(POSTRENDER_FILENAME).is_none()),
                "{object}"
            );
        }
        assert!(rendered.text.contains("# Source: web/templates/cm.yaml"));
        assert!(!rendered.text.contains(POSTRENDER_FILENAME));
        assert_eq!(
            rendered.manifests[1].object["metadata"].get("annotations"),
            None::<&Value>,
            "an annotation map emptied by the unmarking is dropped"
        );
    }

    #[test]
    fn a_failing_post_renderer_is_helms_error() {
        let mut rendered = rendered();
        let err = post_render(&mut rendered, |_| Err("patch failed".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "error while running post render on files: patch failed"
        );
    }
}
