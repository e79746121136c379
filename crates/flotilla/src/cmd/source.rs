//! `flotilla source get URL [--ref REF] [--path P] [--out DIR]`.

/// Arguments of `flotilla source get`.
#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// Repository URL (https, http, ssh, file, or scp-like `git@host:path`).
    pub(crate) url: String,
}

/// Fetches the repository and prints the revision and the path's tree id.
pub(crate) fn run_get(_args: GetArgs) -> anyhow::Result<()> {
    anyhow::bail!("flotilla source get: not implemented yet")
}
