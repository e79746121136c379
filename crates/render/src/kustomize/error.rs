//! The one error type of a kustomize build. Every variant names the file (a path in the
//! tree) it concerns, so the message alone tells the user where to look.

use super::helm_chart::ChartPull;
use super::tree::TreeError;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading from the tree failed (missing file, path escaping the root, file too large).
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A file is not valid YAML, or is YAML of the wrong shape.
    #[error("{file}: invalid YAML: {reason}")]
    Yaml {
        /// The file.
        file: String,
        /// The parser's explanation.
        reason: String,
    },
    /// A field of a kustomization (or of a file it names) has an invalid value.
    #[error("{file}: field {field}: {reason}")]
    Field {
        /// The file.
        file: String,
        /// The field, as a dotted path.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The kustomization asks for something Flotilla refuses to do while rendering
    /// (remote resources, plugins, Helm charts, KRM functions).
    #[error("{file}: {what} is not supported: {detail}")]
    Unsupported {
        /// The file.
        file: String,
        /// What was asked for.
        what: &'static str,
        /// The offending value.
        detail: String,
    },
    /// A `helmCharts` entry names a chart that is not in chartHome and is not among
    /// [`BuildOptions::pulled_charts`](super::BuildOptions::pulled_charts): where
    /// kustomize would run `helm pull`, the caller pulls it and builds again. (Boxed:
    /// every `Result` of a build carries this enum.)
    #[error("{0}: not in chartHome and not pulled")]
    ChartNotPulled(Box<ChartPull>),
    /// Building the resources failed (conflicting ids, a patch without target, …).
    #[error("{file}: {reason}")]
    Build {
        /// The kustomization (or file) being built.
        file: String,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn field(file: &str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Field {
            file: file.to_string(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn build(file: &str, reason: impl Into<String>) -> Self {
        Error::Build {
            file: file.to_string(),
            reason: reason.into(),
        }
    }
}

/// Module-local result.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
