//! `flotilla render helm [NAME] CHART [helm template's flags]`: native `helm template`.
//!
//! The chart is a local directory or `.tgz`; values files and `--set-file` paths are read
//! from disk here (the library itself never touches the disk outside the chart's tree).
//! Flags `helm template` has for talking to clusters, registries or other programs are
//! refused with a clear message rather than silently ignored when they would change the
//! output.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use flotilla_render::helm::{self, Flavor, RenderOptions, ValuesFile};
use flotilla_render::kustomize::DirTree;

/// Arguments of `flotilla render helm`, the same as `helm template`'s. As with Helm's
/// flag parser, a single-valued flag given twice takes the last value.
#[derive(Debug, clap::Args)]
#[command(args_override_self = true)]
pub(crate) struct HelmArgs {
    /// Release name (optional) and chart path, as `helm template` takes them.
    #[arg(required = true, num_args = 1..=2)]
    pub(crate) positional: Vec<String>,
    /// Values files (`-` reads stdin); later ones win. Comma-separated or repeated.
    #[arg(short = 'f', long = "values", value_delimiter = ',')]
    values: Vec<String>,
    /// Set values (`a.b=1,c[0]=x`).
    #[arg(long)]
    set: Vec<String>,
    /// Set STRING values.
    #[arg(long = "set-string")]
    set_string: Vec<String>,
    /// Set values from files (`key=path`).
    #[arg(long = "set-file")]
    set_file: Vec<String>,
    /// Set JSON values (`key=jsonval`, or a JSON object).
    #[arg(long = "set-json")]
    set_json: Vec<String>,
    /// Set a literal STRING value (no escaping, commas kept).
    #[arg(long = "set-literal")]
    set_literal: Vec<String>,
    /// Namespace of the release (`.Release.Namespace`).
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Only show manifests rendered from these templates (paths or globs).
    #[arg(short = 's', long = "show-only")]
    show_only: Vec<String>,
    /// Include CRDs from `crds/` in the output.
    #[arg(long = "include-crds")]
    include_crds: bool,
    /// Accepted for compatibility: only affects installation, not `helm template`'s output.
    #[arg(long = "skip-crds")]
    skip_crds: bool,
    /// Leave hooks out of the output.
    #[arg(long = "no-hooks")]
    no_hooks: bool,
    /// Leave test hooks out of the output.
    #[arg(long = "skip-tests")]
    skip_tests: bool,
    /// Kubernetes version for `.Capabilities.KubeVersion`.
    #[arg(long = "kube-version")]
    kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions` (comma-separated or repeated).
    #[arg(short = 'a', long = "api-versions", value_delimiter = ',')]
    api_versions: Vec<String>,
    /// Set `.Release.IsUpgrade` instead of `.Release.IsInstall`.
    #[arg(long = "is-upgrade")]
    is_upgrade: bool,
    /// Generate the release name (`<chart>-<unix time>`).
    #[arg(short = 'g', long = "generate-name")]
    generate_name: bool,
    /// Release name from a template (Sprig functions, no data).
    #[arg(long = "name-template")]
    name_template: Option<String>,
    /// Do not validate values against `values.schema.json`.
    #[arg(long = "skip-schema-validation")]
    skip_schema_validation: bool,
    /// Print Helm 3.21's output where it differs from Helm 4.2's.
    #[arg(long = "helm3-output")]
    helm3_output: bool,
    /// Accepted for compatibility (errors are always reported in full).
    #[arg(long)]
    debug: bool,
    /// Accepted for compatibility; only client-side rendering exists.
    #[arg(long = "dry-run", num_args = 0..=1, default_missing_value = "client")]
    dry_run: Option<String>,
    /// Refused: rendering never writes files.
    #[arg(long = "output-dir")]
    output_dir: Option<String>,
    /// Refused: rendering never runs other programs.
    #[arg(long = "post-renderer")]
    post_renderer: Option<String>,
    /// Refused: charts must be local (no repositories).
    #[arg(long)]
    repo: Option<String>,
    /// Refused: charts must be local (no version resolution).
    #[arg(long)]
    version: Option<String>,
    /// Refused: `charts/` must already hold the dependencies.
    #[arg(long = "dependency-update")]
    dependency_update: bool,
    /// Refused: `--validate` needs a cluster.
    #[arg(long)]
    validate: bool,
    /// Accepted for compatibility (DNS lookups always return "").
    #[arg(long = "enable-dns")]
    enable_dns: bool,
    /// Accepted for compatibility (nothing is created).
    #[arg(long = "create-namespace")]
    create_namespace: bool,
}

/// Renders the chart and prints the manifests like `helm template`.
pub(crate) fn run(args: HelmArgs) -> anyhow::Result<()> {
    refuse_unsupported(&args)?;
    let (name, chart) = match args.positional.as_slice() {
        [chart] => (None, chart.clone()),
        [name, chart] => (Some(name.clone()), chart.clone()),
        _ => bail!("expected [NAME] CHART"),
    };
    let mut opts = RenderOptions {
        release_name: release_name(name, &chart, &args)?,
        namespace: args.namespace.clone(),
        is_upgrade: args.is_upgrade,
        kube_version: args.kube_version.clone(),
        api_versions: args.api_versions.clone(),
        include_crds: args.include_crds,
        no_hooks: args.no_hooks,
        skip_tests: args.skip_tests,
        show_only: args.show_only.clone(),
        skip_schema_validation: args.skip_schema_validation,
        flavor: if args.helm3_output {
            Flavor::HelmV3
        } else {
            Flavor::HelmV4
        },
        ..RenderOptions::default()
    };
    for f in &args.values {
        let data = read_limited(f).with_context(|| format!("reading values file {f}"))?;
        opts.values.files.push(ValuesFile {
            name: f.clone(),
            data,
        });
    }
    opts.values.set = args.set.clone();
    opts.values.set_string = args.set_string.clone();
    opts.values.set_file = args.set_file.clone();
    opts.values.set_json = args.set_json.clone();
    opts.values.set_literal = args.set_literal.clone();
    opts.values.file_reader = Some(Arc::new(|p: &str| {
        read_limited(p).map_err(|e| format!("{p}: {e:#}"))
    }));

    let path = Path::new(&chart);
    let meta = std::fs::metadata(path).with_context(|| {
        format!("{chart}: no such chart directory or archive (charts must be local; repositories and OCI are not supported)")
    })?;
    let rendered = if meta.is_dir() {
        let tree = DirTree::new(path).with_context(|| format!("opening {chart}"))?;
        helm::render(&tree, "", &opts)?
    } else {
        if meta.len() > helm::MAX_ARCHIVE_BYTES {
            bail!(
                "{chart}: archive is larger than the limit of {} bytes",
                helm::MAX_ARCHIVE_BYTES
            );
        }
        let bytes = std::fs::read(path).with_context(|| format!("reading {chart}"))?;
        helm::render_chart(helm::load_archive(&chart, &bytes)?, &opts)?
    };
    let mut out = std::io::stdout().lock();
    match out
        .write_all(rendered.text.as_bytes())
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

fn refuse_unsupported(args: &HelmArgs) -> anyhow::Result<()> {
    let refused = [
        (
            args.output_dir.is_some(),
            "--output-dir: rendering never writes files; redirect stdout instead",
        ),
        (
            args.post_renderer.is_some(),
            "--post-renderer: rendering never runs other programs",
        ),
        (
            args.repo.is_some() || args.version.is_some(),
            "--repo/--version: charts must be local directories or .tgz files",
        ),
        (
            args.dependency_update,
            "--dependency-update: dependencies must already be in charts/",
        ),
        (
            args.validate,
            "--validate: needs a cluster; use `flotilla diff`",
        ),
        (
            args.dry_run
                .as_deref()
                .is_some_and(|d| d != "client" && d != "true" && d != "unset"),
            "--dry-run=server: needs a cluster; only client-side rendering exists",
        ),
    ];
    if let Some((_, why)) = refused.iter().find(|(on, _)| *on) {
        bail!("{why}");
    }
    Ok(())
}

/// The release name as `helm template` picks it: the positional NAME, `--name-template`,
/// `--generate-name`, or `release-name`.
fn release_name(name: Option<String>, chart: &str, args: &HelmArgs) -> anyhow::Result<String> {
    if let Some(n) = name {
        if args.generate_name {
            bail!("cannot set --generate-name and also specify a name");
        }
        return Ok(n);
    }
    if let Some(t) = &args.name_template {
        let tpl = flotilla_template::Template::new("name-template")
            .functions(flotilla_template::Functions::sprig())
            .parse(t)
            .context("--name-template")?;
        return tpl
            .execute(&flotilla_template::Value::Nil)
            .context("--name-template");
    }
    if args.generate_name {
        let base = Path::new(chart)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .filter(|b| !b.is_empty() && b != ".")
            .unwrap_or_else(|| "chart".into());
        let base = base.split('.').next().unwrap_or("chart").to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Ok(format!("{base}-{now}"));
    }
    Ok("release-name".into())
}

/// Reads a values file (or stdin for `-`), refusing anything over the library's values
/// limit before reading it whole.
fn read_limited(path: &str) -> anyhow::Result<Vec<u8>> {
    let limit = helm::MAX_VALUES_BYTES as u64;
    if path.contains("://") {
        bail!("{path}: remote values files are not supported (no network access while rendering)");
    }
    let mut data = Vec::new();
    if path == "-" {
        std::io::stdin()
            .lock()
            .take(limit + 1)
            .read_to_end(&mut data)?;
    } else {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len > limit {
            bail!("{path}: file is larger than the limit of {limit} bytes");
        }
        file.take(limit + 1).read_to_end(&mut data)?;
    }
    if data.len() as u64 > limit {
        bail!("{path}: file is larger than the limit of {limit} bytes");
    }
    Ok(data)
}
