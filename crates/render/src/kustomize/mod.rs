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
//! it includes may live elsewhere in the tree). Remote resources, plugins, KRM
//! functions and Helm charts are refused with an [`Error::Unsupported`].
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
pub use self::tree::{
    DEFAULT_MAX_FILE_BYTES, DirTree, EntryKind, MemTree, Tree, TreeError, WithFile, join,
};
pub(crate) use self::yaml::{parse_documents, parse_mapping};

use serde_json::Value;

/// Builds the kustomization in directory `dir` of `tree` (a path relative to the tree's
/// root; `""` or `"."` for the root itself).
pub fn build(tree: &dyn Tree, dir: &str) -> Result<Vec<Value>, Error> {
    Ok(target::build(tree, dir)?
        .into_iter()
        .map(|r| Value::Object(r.obj))
        .collect())
}

/// [`build`], printed as kustomize prints it.
pub fn build_yaml(tree: &dyn Tree, dir: &str) -> Result<String, Error> {
    Ok(to_yaml_stream(&build(tree, dir)?))
}
