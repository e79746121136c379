//! The `flotilla` binary. Until the hub exists it only describes itself; the
//! simulated fleet it will manage is served by `kubesim`.

use clap::Parser;

/// GitOps for fleets: keeps many Kubernetes clusters in the state Git describes.
#[derive(Parser)]
#[command(name = "flotilla", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    println!("flotilla: nothing to do yet; run `flotilla --help` or start a fleet with `kubesim serve`");
    Ok(())
}
