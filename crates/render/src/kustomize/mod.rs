//! Native kustomize (v5): build a kustomization directory into Kubernetes objects, with
//! the output `kustomize build` gives, from a read-only [`Tree`].
//!
//! * [`build`] — the objects, in kustomize's output order; [`build_yaml`] — the same as
//!   the multi-document YAML stream `kustomize build` prints ([`to_yaml_stream`]).
//! * [`Tree`] — what a build reads from: [`DirTree`] (a directory, refusing symlinks
//!   out of it and oversized files) or [`MemTree`] (files in memory, e.g. git blobs).
//!
//! Like kustomize's default load restrictions, nothing outside the tree is read, and a
//! kustomization reads files only in or below its own directory (other kustomizations
//! it includes may live elsewhere in the tree). Remote resources, plugins and KRM
//! functions are refused with an [`Error::Unsupported`]. `helmCharts` are inflated by
//! Flotilla's own Helm renderer when [`BuildOptions::enable_helm`] is set (kustomize's
//! `--enable-helm`), from charts in the kustomization's chartHome or, for an entry with a
//! `repo`, pulled by the caller ([`BuildOptions::pulled_charts`], asked for with
//! [`Error::ChartNotPulled`]).
//!
//! # Not yet supported
//! Reference annotations in `crds`, and builtin generator plugins other than
//! ConfigMapGenerator, SecretGenerator and IAMPolicyGenerator. `openapi` custom
//! schemas merge lists keyed by several `x-kubernetes-list-map-keys` by one key.
//! `replacements` follow kustomize v5.5.0, so target selectors match ids exactly (no
//! regular expressions) and values are not written into structured text inside a
//! scalar field.

mod crd_config;
mod emit;
mod error;
mod fieldspec;
mod generator;
mod helm_chart;
mod kustomization;
mod nameref;
mod openapi;
mod patch;
mod replacement;
mod resource;
mod sha256;
mod sort;
mod target;
mod transform;
mod tree;
mod vars;
mod yaml;

pub use self::emit::{to_yaml, to_yaml_stream};
pub use self::error::Error;
pub use self::helm_chart::{ChartPull, PulledCharts};
pub use self::tree::{
    DEFAULT_MAX_FILE_BYTES, DirTree, EntryKind, MemTree, Tree, TreeError, WithFile, join,
};
pub(crate) use self::yaml::{parse_documents, parse_mapping};

use serde_json::Value;

/// The flags of `kustomize build` a build honours. The default is kustomize's: Helm
/// off.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `--enable-helm`: inflate `helmCharts` (kustomize's HelmChartInflationGenerator)
    /// with Flotilla's Helm renderer. Without it a kustomization with charts fails with
    /// kustomize's `must specify --enable-helm`.
    pub enable_helm: bool,
    /// `--helm-kube-version`: `.Capabilities.KubeVersion` for every chart, over the
    /// charts' own `kubeVersion` (Argo CD passes the destination cluster's).
    pub helm_kube_version: Option<String>,
    /// `--helm-api-versions`: `.Capabilities.APIVersions` additions for every chart,
    /// instead of the charts' own `apiVersions` when not empty.
    pub helm_api_versions: Vec<String>,
    /// Charts pulled for `helmCharts` entries whose chart is not in chartHome: a build
    /// that needs one it is not given fails with [`Error::ChartNotPulled`] naming it
    /// (kustomize runs `helm pull`; a build here does no I/O).
    pub pulled_charts: PulledCharts,
}

/// Builds the kustomization in directory `dir` of `tree` (a path relative to the tree's
/// root; `""` or `"."` for the root itself), with kustomize's default flags.
pub fn build(tree: &dyn Tree, dir: &str) -> Result<Vec<Value>, Error> {
    build_with(tree, dir, &BuildOptions::default())
}

/// [`build`] with the flags in `opts`.
pub fn build_with(tree: &dyn Tree, dir: &str, opts: &BuildOptions) -> Result<Vec<Value>, Error> {
    Ok(target::build(tree, dir, opts)?
        .into_iter()
        .map(|r| Value::Object(r.obj))
        .collect())
}

/// [`build`], printed as kustomize prints it.
pub fn build_yaml(tree: &dyn Tree, dir: &str) -> Result<String, Error> {
    Ok(to_yaml_stream(&build(tree, dir)?))
}

/// [`build_with`], printed as kustomize prints it.
pub fn build_yaml_with(tree: &dyn Tree, dir: &str, opts: &BuildOptions) -> Result<String, Error> {
    Ok(to_yaml_stream(&build_with(tree, dir, opts)?))
}
