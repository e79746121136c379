//! Why a chart could not be rendered. Each variant names the file (or value) at fault.

use crate::kustomize::TreeError;

/// Errors from loading or rendering a chart.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the tree failed (missing file, escaping path, symlink out, file too large).
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A chart archive is corrupt, escapes its directory, holds links or is too large.
    #[error("{archive}: {reason}")]
    Archive {
        /// The archive's path or name.
        archive: String,
        /// What is wrong.
        reason: String,
    },
    /// `Chart.yaml`, `requirements.yaml` or a values file does not parse.
    #[error("{file}: {reason}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message.
        reason: String,
    },
    /// Chart metadata fails Helm's validation (`validation: chart.metadata.name is required`).
    #[error("validation: {0}")]
    Validation(String),
    /// The chart cannot be installed (a library chart rendered on its own).
    #[error("{0} charts are not installable")]
    NotInstallable(String),
    /// A dependency declared in Chart.yaml is not in `charts/`.
    #[error("found in Chart.yaml, but missing in charts/ directory: {0}")]
    MissingDependency(String),
    /// A `--set`-style value does not parse.
    #[error("failed parsing {flag} data: {reason}")]
    SetValue {
        /// `--set`, `--set-string`, `--set-json`, `--set-file` or `--set-literal`.
        flag: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The values break the chart's `values.schema.json`.
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    Schema(String),
    /// A template fails to parse or execute; the message carries file, line and column
    /// (`parse error at (chart/templates/x.yaml:3): ...`).
    #[error("{0}")]
    Template(String),
    /// A rendered manifest is not valid YAML (`YAML parse error on chart/templates/x.yaml`).
    #[error("YAML parse error on {file}: {reason}")]
    Yaml {
        /// The template that produced it.
        file: String,
        /// The parser's message.
        reason: String,
    },
    /// A post-renderer failed (Helm's wording).
    #[error("error while running post render on files: {0}")]
    PostRender(String),
    /// `--show-only` named a template the chart does not have.
    #[error("could not find template {0} in chart")]
    ShowOnly(String),
    /// The chart's `kubeVersion` constraint excludes the target cluster version.
    #[error(
        "chart requires kubeVersion: {constraint} which is incompatible with Kubernetes {version}"
    )]
    KubeVersion {
        /// The chart's constraint.
        constraint: String,
        /// The version rendered for.
        version: String,
    },
    /// An option is invalid (a bad `--kube-version`, an invalid release name).
    #[error("{0}")]
    Options(String),
}
