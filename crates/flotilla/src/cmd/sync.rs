//! `flotilla diff PATH` and `flotilla sync PATH` against one kubeconfig context.
//!
//! PATH is rendered as Argo CD detects sources: a kustomization (kustomization.yaml,
//! .yml or Kustomization), a Helm chart (Chart.yaml), else a directory of plain
//! manifests (every *.yaml, *.yml and *.json below it, multi-document, `kind: List`
//! expanded). The kubeconfig and context are found as kubectl finds them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use flotilla_sync::options::SyncOptions;
use flotilla_sync::{Action, AppId, Cluster, OperationPhase, Progress};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

/// Where and as whom: the cluster options both commands share.
#[derive(Debug, clap::Args)]
pub(crate) struct Target {
    /// A kustomization, Helm chart or plain YAML directory.
    pub(crate) path: PathBuf,
    /// Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long)]
    pub(crate) context: Option<String>,
    /// Namespace for objects that name none (default: the context's, else "default").
    #[arg(long, short = 'n')]
    pub(crate) namespace: Option<String>,
    /// App name for tracking (default: the directory name).
    #[arg(long)]
    pub(crate) app: Option<String>,
    /// Namespace of the app's identity (part of the tracking id, as Argo CD's
    /// `<namespace>_<app>`; `argocd` leaves it out).
    #[arg(long, default_value = "flotilla")]
    pub(crate) app_namespace: String,
    /// Argo CD sync option, e.g. `CreateNamespace=true` (repeatable).
    #[arg(long = "sync-option", value_name = "KEY=VALUE")]
    pub(crate) sync_options: Vec<String>,
}

/// Arguments of `flotilla diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct DiffArgs {
    #[command(flatten)]
    pub(crate) target: Target,
}

/// Arguments of `flotilla sync`.
#[derive(Debug, clap::Args)]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// Delete objects this app applied before but no longer renders.
    #[arg(long)]
    pub(crate) prune: bool,
    /// Server-side dry run: validate and report, change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Allow an empty render to prune everything the app has.
    #[arg(long)]
    pub(crate) allow_empty: bool,
    /// How long a wave may take to become healthy.
    #[arg(long, default_value = "300")]
    pub(crate) timeout_seconds: u64,
}

/// Renders PATH and prints how the cluster differs; exit status 1 when it does, 2 on
/// error (as `kubectl diff`).
pub(crate) fn run_diff(args: DiffArgs) -> anyhow::Result<()> {
    match diff(args) {
        Ok(true) => Ok(()),
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

fn diff(args: DiffArgs) -> anyhow::Result<bool> {
    let desired = render(&args.target.path)?;
    runtime()?.block_on(async {
        let (cluster, app, opts) = connect(&args.target).await?;
        let plan = flotilla_sync::plan(&cluster, &app, desired, &opts, None).await?;
        let mut out = std::io::stdout().lock();
        write_ignoring_pipe(&mut out, plan.diff().as_bytes())?;
        for item in plan.items.iter().filter(|i| i.message.is_some()) {
            eprintln!(
                "warning: {}: {}",
                item.key,
                item.message.as_deref().unwrap_or("")
            );
        }
        Ok(plan.in_sync())
    })
}

/// Renders PATH and applies it to the cluster.
pub(crate) fn run_sync(args: SyncArgs) -> anyhow::Result<()> {
    let desired = render(&args.target.path)?;
    let report = runtime()?.block_on(async {
        let (cluster, app, mut opts) = connect(&args.target).await?;
        opts.prune = args.prune;
        opts.dry_run = args.dry_run;
        opts.allow_empty = args.allow_empty;
        opts.health_timeout = Duration::from_secs(args.timeout_seconds);
        let progress = |p: Progress| match p {
            Progress::Wave {
                phase,
                wave,
                objects,
            } => {
                eprintln!("{phase:?} wave {wave}: {objects} objects")
            }
            Progress::Object(r) => eprintln!("  {} {}", label(&r.key), action_word(r.action)),
            Progress::Waiting { pending } => {
                eprintln!("  waiting for {} objects to become healthy", pending.len())
            }
        };
        // Without a stored inventory, extras are found by scanning the cluster for objects
        // carrying this app's label and tracking id.
        anyhow::Ok(flotilla_sync::sync(&cluster, &app, desired, &opts, None, &progress).await?)
    })?;
    let mut out = std::io::stdout().lock();
    let mut table = String::from("KIND\tNAMESPACE\tNAME\tRESULT\tHEALTH\tMESSAGE\n");
    for r in &report.results {
        table.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            r.key.kind,
            r.key.namespace,
            r.key.name,
            action_word(r.action),
            r.health.as_ref().map(|h| h.status.as_str()).unwrap_or(""),
            r.message.lines().next().unwrap_or("")
        ));
    }
    write_ignoring_pipe(&mut out, align(&table).as_bytes())?;
    let suffix = if report.dry_run { " (dry run)" } else { "" };
    eprintln!(
        "sync {:?}{suffix}, app health {}",
        report.phase, report.health
    );
    if report.phase == OperationPhase::Failed {
        bail!("sync failed: {}", report.message);
    }
    Ok(())
}

fn label(key: &flotilla_sync::ObjectKey) -> String {
    let kind = key.kind.to_ascii_lowercase();
    match key.namespace.as_str() {
        "" => format!("{kind}/{}", key.name),
        ns => format!("{kind}/{} -n {ns}", key.name),
    }
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Created => "created",
        Action::Configured => "configured",
        Action::Unchanged => "unchanged",
        Action::Replaced => "replaced",
        Action::Pruned => "pruned",
        Action::PruneSkipped => "prune skipped",
        Action::Skipped => "skipped",
        Action::HookSucceeded => "hook succeeded",
        Action::HookFailed => "hook failed",
        Action::Failed => "failed",
    }
}

/// Pads tab-separated columns like kubectl's tables.
fn align(table: &str) -> String {
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split('\t').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("   ").trim_end());
        out.push('\n');
    }
    out
}

fn write_ignoring_pipe(out: &mut impl Write, bytes: &[u8]) -> anyhow::Result<()> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The cluster of the chosen kubeconfig context, the app identity and the options.
async fn connect(t: &Target) -> anyhow::Result<(Cluster, AppId, SyncOptions)> {
    let kubeconfig = match &t.kubeconfig {
        Some(path) => Kubeconfig::read_from(path)
            .with_context(|| format!("reading kubeconfig {}", path.display()))?,
        None => {
            Kubeconfig::read().context("reading the kubeconfig ($KUBECONFIG or ~/.kube/config)")?
        }
    };
    let options = KubeConfigOptions {
        context: t.context.clone(),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .with_context(|| match &t.context {
            Some(c) => format!("kubeconfig context {c:?}"),
            None => "the kubeconfig's current context".to_string(),
        })?;
    let namespace = t
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    let name = match &t.app {
        Some(n) => n.clone(),
        None => t
            .path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "app".into()),
    };
    let mut opts = SyncOptions {
        destination_namespace: namespace,
        ..SyncOptions::default()
    };
    let entries: Vec<&str> = t.sync_options.iter().map(String::as_str).collect();
    opts.apply_argo(&entries)?;
    Ok((
        Cluster::new(client),
        // Named as the hub names an Application of that namespace, so that `--app-namespace
        // argocd --app web` tracks its objects as the hub's `argocd/web` does.
        AppId::argo(
            t.app_namespace.as_str(),
            name,
            flotilla_hub::application::PROJECT_NAMESPACE,
            Default::default(),
        ),
        opts,
    ))
}

/// Renders PATH as Argo CD would detect its type.
pub(crate) fn render(path: &Path) -> anyhow::Result<Vec<Value>> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if meta.is_file() {
        return read_manifest_file(path);
    }
    if ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|f| path.join(f).is_file())
    {
        // As `flotilla render kustomize`: the tree is the current directory when PATH lies
        // inside it (so overlays may use `../base`), else PATH itself.
        let dir = path
            .canonicalize()
            .with_context(|| format!("{}: no such directory", path.display()))?;
        let cwd = std::env::current_dir()
            .and_then(|c| c.canonicalize())
            .context("reading the current directory")?;
        let (root, rel) = match dir.strip_prefix(&cwd) {
            Ok(rel) => (cwd.clone(), rel.to_string_lossy().replace('\\', "/")),
            Err(_) => (dir.clone(), String::new()),
        };
        let tree = flotilla_render::kustomize::DirTree::new(&root)
            .with_context(|| format!("opening {}", root.display()))?;
        return flotilla_render::kustomize::build(&tree, &rel)
            .with_context(|| format!("kustomize build {}", path.display()));
    }
    if path.join("Chart.yaml").is_file() {
        return render_helm_chart(path);
    }
    read_plain_directory(path)
}

/// A Helm chart, rendered as Argo CD renders a Helm source without parameters: the
/// release is named after the chart's directory, CRDs are included, the chart's own
/// values apply.
pub(crate) fn render_helm_chart(path: &Path) -> anyhow::Result<Vec<Value>> {
    let dir = path
        .canonicalize()
        .with_context(|| format!("{}: no such directory", path.display()))?;
    let release = dir
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
                .trim_matches('-')
                .chars()
                .take(53)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "release-name".into());
    let tree = flotilla_render::kustomize::DirTree::new(&dir)
        .with_context(|| format!("opening {}", dir.display()))?;
    let source = flotilla_render::helm::argo::HelmSource::default();
    let app = flotilla_render::helm::argo::AppContext {
        app_name: release,
        ..Default::default()
    };
    let rendered = flotilla_render::helm::argo::render(&tree, "", &source, &app)
        .with_context(|| format!("helm template {}", path.display()))?;
    Ok(rendered.objects().into_iter().cloned().collect())
}

/// Largest manifest file read.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Deepest directory nesting followed.
const MAX_DEPTH: usize = 32;

/// Every *.yaml, *.yml and *.json below `root` (sorted by path, as Argo CD reads a
/// directory source); symlinks that leave `root` are refused, hidden entries skipped.
fn read_plain_directory(root: &Path) -> anyhow::Result<Vec<Value>> {
    let root = root
        .canonicalize()
        .with_context(|| format!("{}: cannot resolve", root.display()))?;
    let mut files = Vec::new();
    collect(&root, &root, 0, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for f in files {
        out.extend(read_manifest_file(&f)?);
    }
    Ok(out)
}

fn collect(root: &Path, dir: &Path, depth: usize, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if depth > MAX_DEPTH {
        bail!(
            "{}: directories nested deeper than {MAX_DEPTH}",
            dir.display()
        );
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let real = path
            .canonicalize()
            .with_context(|| format!("{}: cannot resolve", path.display()))?;
        if !real.starts_with(root) {
            bail!(
                "{}: symlink points outside {}",
                path.display(),
                root.display()
            );
        }
        let meta = std::fs::metadata(&real)?;
        if meta.is_dir() {
            collect(root, &real, depth + 1, files)?;
        } else if [".yaml", ".yml", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            files.push(real);
        }
    }
    Ok(())
}

fn read_manifest_file(path: &Path) -> anyhow::Result<Vec<Value>> {
    let shown = path.display();
    let len = std::fs::metadata(path)?.len();
    if len > MAX_FILE_BYTES {
        bail!("{shown}: {len} bytes is over the {MAX_FILE_BYTES}-byte limit");
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("{shown}: not readable UTF-8"))?;
    let docs: Vec<Value> = if path.extension().is_some_and(|e| e == "json") {
        vec![serde_json::from_str(&text).with_context(|| format!("{shown}: invalid JSON"))?]
    } else {
        let mut budget = serde_saphyr::Budget::default();
        budget.max_documents = 100_000;
        let options = serde_saphyr::options! { budget: Some(budget) };
        serde_saphyr::from_multiple_with_options(&text, options).map_err(|e| {
            anyhow::anyhow!(
                "{shown}: invalid YAML: {}",
                e.to_string().lines().next().unwrap_or("")
            )
        })?
    };
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        match doc {
            Value::Null => {}
            Value::Object(ref m) if m.get("kind").and_then(Value::as_str) == Some("List") => {
                let items = m
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                out.extend(items);
            }
            Value::Object(ref m) => {
                if !m.contains_key("apiVersion") || !m.contains_key("kind") {
                    bail!(
                        "{shown}: document {}: apiVersion and kind are required",
                        i + 1
                    );
                }
                out.push(doc);
            }
            _ => bail!("{shown}: document {} is not a mapping", i + 1),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_directories_are_read_recursively_and_lists_expanded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sub/list.json"),
            r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("README.md"), "not yaml").unwrap();
        let objs = render(dir.path()).unwrap();
        let names: Vec<&str> = objs
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "s"]);
    }

    #[test]
    fn bad_input_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.yaml"), "kind: ConfigMap\n").unwrap();
        let e = render(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("x.yaml: document 1: apiVersion and kind are required"),
            "{e}"
        );
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("o.yaml"),
            "apiVersion: v1\nkind: ConfigMap\n",
        )
        .unwrap();
        std::fs::remove_file(dir.path().join("x.yaml")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let e = render(dir.path()).unwrap_err().to_string();
        assert!(e.contains("symlink points outside"), "{e}");
        let chart = tempfile::tempdir().unwrap();
        std::fs::write(chart.path().join("Chart.yaml"), "name: x\n").unwrap();
        // Chart.yaml without a version: Helm's own validation error, named with the chart.
        let e = format!("{:#}", render(chart.path()).unwrap_err());
        assert!(e.starts_with("helm template "), "{e}");
        assert!(e.contains("version"), "{e}");
        std::fs::write(
            chart.path().join("Chart.yaml"),
            "apiVersion: v2\nname: x\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::create_dir(chart.path().join("templates")).unwrap();
        std::fs::write(
            chart.path().join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n",
        )
        .unwrap();
        let objects = render(chart.path()).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0]["kind"], "ConfigMap");
    }
}
