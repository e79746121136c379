//! `flotilla render kustomize DIR`: the native kustomize build, printed as YAML.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use flotilla_render::kustomize::{self, ChartPull, DirTree, MemTree};
use flotilla_source::{Tls, helm_repo, oci};

/// Arguments of `flotilla render kustomize`.
#[derive(Debug, clap::Args)]
pub(crate) struct KustomizeArgs {
    /// The kustomization directory to build.
    pub(crate) dir: PathBuf,
    /// Inflate `helmCharts` (kustomize's `--enable-helm`): charts in chartHome, and
    /// charts not there pulled anonymously from their `repo`, as `helm pull` would.
    #[arg(long)]
    pub(crate) enable_helm: bool,
}

/// How many distinct charts one build may pull (a bound on the build-and-pull rounds).
const MAX_CHART_PULLS: usize = 32;

/// How long one request to a chart repository may take.
const PULL_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds `args.dir` and prints the multi-document YAML to stdout. The tree read is the
/// current directory when DIR lies inside it (so overlays may use `../base`), and DIR
/// itself otherwise; nothing outside that tree is read. With `--enable-helm`, a chart the
/// build asks for ([`kustomize::Error::ChartNotPulled`]) is pulled and the build run
/// again; nothing is written to chartHome.
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
    let mut opts = kustomize::BuildOptions {
        enable_helm: args.enable_helm,
        ..kustomize::BuildOptions::default()
    };
    let mut runtime = None;
    let objects = loop {
        match kustomize::build_with(&tree, &rel, &opts) {
            Err(kustomize::Error::ChartNotPulled(pull))
                if opts.pulled_charts.len() < MAX_CHART_PULLS =>
            {
                let runtime = match &mut runtime {
                    Some(runtime) => runtime,
                    None => runtime.insert(
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .context("starting the async runtime")?,
                    ),
                };
                let chart = runtime
                    .block_on(pull_chart(&pull))
                    .with_context(|| format!("{pull}: helm pull"))?;
                opts.pulled_charts.insert(&pull, Arc::new(chart));
            }
            built => break built?,
        }
    };
    let yaml = kustomize::to_yaml_stream(&objects);
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    match out.write_all(yaml.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

/// The chart `pull` names, as kustomize's `helm pull` gets it (anonymously, Helm run with
/// an empty configuration): `oci://` from its registry, others from the Helm
/// repository's index; no version is the highest release.
async fn pull_chart(pull: &ChartPull) -> anyhow::Result<MemTree> {
    let bytes = if pull.repo.starts_with("oci://") {
        let reference = oci::RepositoryReference::new(&pull.repo, &pull.name)?;
        let access = oci::Access::default();
        let version = if flotilla_source::Version::parse(pull.version.trim()).is_some() {
            pull.version.trim().to_string()
        } else {
            let tags =
                helm_repo::tag_versions(oci::versions(&reference, &access, PULL_TIMEOUT).await?);
            helm_repo::choose_tag(&tags, &pull.version)?.ok_or_else(|| no_version(pull))?
        };
        oci::pull_chart(
            &reference,
            &version,
            &access,
            helm_repo::MAX_CHART_BYTES,
            PULL_TIMEOUT,
        )
        .await?
    } else {
        let index = helm_repo::index(&pull.repo, None, &Tls::default(), PULL_TIMEOUT).await?;
        let versions = index
            .get(&pull.name)
            .ok_or_else(|| helm_repo::HelmRepoError::NoChart {
                repo: pull.repo.clone(),
                chart: pull.name.clone(),
            })?;
        let version =
            helm_repo::choose(versions, &pull.version)?.ok_or_else(|| no_version(pull))?;
        helm_repo::package(&pull.repo, version, None, &Tls::default(), PULL_TIMEOUT).await?
    };
    let files = flotilla_render::helm::unpack_archive(&pull.name, &bytes)?;
    Ok(MemTree::from_files(files))
}

fn no_version(pull: &ChartPull) -> helm_repo::HelmRepoError {
    helm_repo::HelmRepoError::NoVersion {
        repo: pull.repo.clone(),
        chart: pull.name.clone(),
        wanted: pull.version.clone(),
    }
}
