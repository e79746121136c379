//! The `flotilla` binary: a thin CLI over the library crates. Each subcommand
//! parses its arguments, then hands off to one library entry point.

mod cmd;
mod huge_pages;

// The hub turns JSON trees over on every reconcile and watch event from many threads;
// with glibc's allocator malloc/free were ~40% of the hub's CPU in `flotilla bench
// fleet` (perf), and its per-thread arenas inflated the peak RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Seal Secrets with a Sealed Secrets certificate, or unseal with the controller's keys
    /// (kubeseal's offline subset, same flags).
    Kubeseal(Box<cmd::kubeseal::Args>),
    /// Fetch and read Git sources through the shared mirror cache.
    #[command(subcommand)]
    Source(Source),
    /// Render PATH and show how one cluster differs from it (exit status 1 when it does).
    Diff(cmd::sync::DiffArgs),
    /// Render PATH and make one cluster match it (server-side apply, optional prune).
    Sync(cmd::sync::SyncArgs),
    /// Run the hub's controllers (Applications) against a hub Kubernetes API.
    Controller(Box<cmd::controller::ControllerArgs>),
    /// Start an embedded hub, simulated clusters and Git repositories, and converge them.
    Demo(cmd::demo::run::DemoArgs),
    /// Measure the hub end to end and print its figures.
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Subcommand)]
enum Bench {
    /// Cold start, commit to converged, drift and the floor on a simulated fleet.
    Fleet(cmd::bench::FleetArgs),
}

#[derive(Subcommand)]
enum Source {
    /// Fetch URL at a ref; print the revision and the tree id of a path.
    Get(cmd::source::GetArgs),
    /// Remove mirrors unused for longer than --max-age (never one in use).
    Gc(cmd::source::GcArgs),
}

#[derive(Subcommand)]
enum Render {
    /// Build a kustomization directory and print the multi-document YAML (like `kustomize build`).
    Kustomize(cmd::render::KustomizeArgs),
    /// Render a Helm chart and print the manifests (like `helm template`, same flags).
    Helm(Box<cmd::helm::HelmArgs>),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Controller(_)) {
        huge_pages::disable();
    }
    init_logging(&cli.command);
    match cli.command {
        Command::Render(Render::Kustomize(args)) => cmd::render::run_kustomize(args),
        Command::Render(Render::Helm(args)) => cmd::helm::run(*args),
        Command::Template(args) => cmd::template::run(args),
        Command::Kubeseal(args) => cmd::kubeseal::run(*args),
        Command::Source(Source::Get(args)) => cmd::source::run_get(args),
        Command::Source(Source::Gc(args)) => cmd::source::run_gc(args),
        Command::Diff(args) => cmd::sync::run_diff(args),
        Command::Sync(args) => cmd::sync::run_sync(args),
        Command::Controller(args) => cmd::controller::run(*args),
        Command::Demo(args) => cmd::demo::run::run(args),
        Command::Bench(Bench::Fleet(args)) => cmd::bench::run_fleet(args),
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (e.g. `RUST_LOG=flotilla_hub=debug`). Without
/// it the controller logs at `info`, as Argo CD's and Flux's controllers do; the other
/// commands, which print their own output, only warnings and errors.
fn init_logging(command: &Command) {
    let default = match command {
        Command::Controller(_) => "info",
        // kube's client warns when a connection ends without TLS close_notify, which is
        // how the demo's and the benchmark's embedded servers stop.
        _ => "warn,kube_client=error",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
