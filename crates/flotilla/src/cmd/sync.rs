//! `flotilla diff PATH` and `flotilla sync PATH` against one kubeconfig context.

/// Arguments of `flotilla diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    /// A kustomization, Helm chart or plain YAML directory.
    pub(crate) path: std::path::PathBuf,
}

/// Arguments of `flotilla sync`.
#[derive(Debug, clap::Args)]
pub(crate) struct SyncArgs {
    /// A kustomization, Helm chart or plain YAML directory.
    pub(crate) path: std::path::PathBuf,
}

/// Renders PATH and prints how the cluster differs; exit status 1 when it does.
pub(crate) fn run_diff(_args: DiffArgs) -> anyhow::Result<()> {
    anyhow::bail!("flotilla diff: not implemented yet")
}

/// Renders PATH and applies it to the cluster.
pub(crate) fn run_sync(_args: SyncArgs) -> anyhow::Result<()> {
    anyhow::bail!("flotilla sync: not implemented yet")
}
