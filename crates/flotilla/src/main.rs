//! The `flotilla` binary: a thin CLI over the library crates. Each subcommand
//! parses its arguments, then hands off to one library entry point.

mod cmd;

use clap::{Parser, Subcommand};

/// GitOps for fleets: keeps many Kubernetes clusters in the state Git describes.
#[derive(Parser)]
#[command(name = "flotilla", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render manifests the way the upstream tools do, natively.
    #[command(subcommand)]
    Render(Render),
    /// Execute a Go text/template (with Sprig, Helm and Argo CD functions) and print the result.
    Template(cmd::template::Args),
}

#[derive(Subcommand)]
enum Render {
    /// Build a kustomization directory and print the multi-document YAML (like `kustomize build`).
    Kustomize(cmd::render::KustomizeArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Render(Render::Kustomize(args)) => cmd::render::run_kustomize(args),
        Command::Template(args) => cmd::template::run(args),
    }
}
