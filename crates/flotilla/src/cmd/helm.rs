//! `flotilla render helm [NAME] CHART [helm template's flags]`: native `helm template`.

/// Arguments of `flotilla render helm`, the same as `helm template`'s.
#[derive(Debug, clap::Args)]
pub(crate) struct HelmArgs {
    /// Release name (optional) and chart path, as `helm template` takes them.
    #[arg(required = true, num_args = 1..=2)]
    pub(crate) positional: Vec<String>,
}

/// Renders the chart and prints the manifests like `helm template`.
pub(crate) fn run(_args: HelmArgs) -> anyhow::Result<()> {
    anyhow::bail!("flotilla render helm: not implemented yet")
}
