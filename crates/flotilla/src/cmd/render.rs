//! `flotilla render kustomize DIR`: the native kustomize build, printed as YAML.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use flotilla_render::kustomize::{self, DirTree};

/// Arguments of `flotilla render kustomize`.
#[derive(Debug, clap::Args)]
pub(crate) struct KustomizeArgs {
    /// The kustomization directory to build.
    pub(crate) dir: PathBuf,
}

/// Builds `args.dir` and prints the multi-document YAML to stdout. The tree read is the
/// current directory when DIR lies inside it (so overlays may use `../base`), and DIR
/// itself otherwise; nothing outside that tree is read.
pub(crate) fn run_kustomize(args: KustomizeArgs) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("{}: no such directory", args.dir.display()))?;
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    let (root, rel) = match dir.strip_prefix(&cwd) {
        Ok(rel) => (cwd.clone(), rel.to_string_lossy().replace('\\', "/")),
        Err(_) => (dir.clone(), String::new()),
    };
    let tree = DirTree::new(&root).with_context(|| format!("opening {}", root.display()))?;
    let yaml = kustomize::build_yaml(&tree, &rel)?;
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    match out.write_all(yaml.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}
