//! `flotilla source get URL [--ref REF] [--path P] [--out DIR]`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use flotilla_source::{CacheOptions, Credentials, IgnoreRules, MirrorCache, Reference, Request};

/// Arguments of `flotilla source get`.
#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// Repository URL (https, http, ssh, file, or scp-like `git@host:path`).
    pub(crate) url: String,
    /// What to check out: a branch or tag name, `refs/...`, a 40-hex commit, or
    /// `branch:X`, `tag:X`, `semver:RANGE`, `commit:SHA`. Default: the remote's HEAD.
    #[arg(long = "ref")]
    pub(crate) reference: Option<String>,
    /// Directory inside the repository whose tree id is printed and whose files are
    /// written.
    #[arg(long, default_value = "")]
    pub(crate) path: String,
    /// Write the files under --path into this directory (created; must be empty).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Mirror cache directory (default: $FLOTILLA_CACHE_DIR, else ~/.cache/flotilla/git).
    #[arg(long)]
    pub(crate) cache: Option<PathBuf>,
    /// Limit for each git operation, in seconds.
    #[arg(long, default_value_t = 60)]
    pub(crate) timeout: u64,
}

/// Fetches the repository and prints the revision and the path's tree id. Credentials
/// come from the environment (`FLOTILLA_GIT_USERNAME` + `FLOTILLA_GIT_PASSWORD`,
/// `FLOTILLA_GIT_BEARER_TOKEN`, or `FLOTILLA_GIT_SSH_KEY` + `FLOTILLA_GIT_KNOWN_HOSTS`
/// naming files) or from the URL; they are never printed.
pub(crate) fn run_get(args: GetArgs) -> anyhow::Result<()> {
    let cache_dir = match &args.cache {
        Some(dir) => dir.clone(),
        None => default_cache_dir()?,
    };
    let cache = MirrorCache::new(CacheOptions::new(&cache_dir))
        .with_context(|| format!("opening the mirror cache {}", cache_dir.display()))?;
    let mut request = Request::new(
        &args.url,
        args.reference
            .as_deref()
            .map(Reference::parse_cli)
            .unwrap_or(Reference::Head),
    );
    request.credentials = credentials_from_env()?;
    request.timeout = Duration::from_secs(args.timeout.max(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let checkout = runtime.block_on(cache.checkout(&request))?;
    let snapshot = &checkout.snapshot;
    let tree = snapshot
        .tree_id(&args.path)?
        .with_context(|| format!("{}: no such path at {}", args.path, checkout.revision))?;
    println!("revision: {}", checkout.revision);
    println!(
        "path: {}",
        if args.path.is_empty() {
            "/"
        } else {
            &args.path
        }
    );
    println!("tree: {tree}");
    if let Some(out) = &args.out {
        let files = snapshot.files(&args.path, &IgnoreRules::none())?;
        write_files(out, &files)?;
        println!("files: {}", files.len());
    }
    Ok(())
}

fn default_cache_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FLOTILLA_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("flotilla/git"));
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --cache DIR")?;
    Ok(PathBuf::from(home).join(".cache/flotilla/git"))
}

fn credentials_from_env() -> anyhow::Result<Credentials> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(token) = var("FLOTILLA_GIT_BEARER_TOKEN") {
        return Ok(Credentials::Bearer { token });
    }
    if let Some(username) = var("FLOTILLA_GIT_USERNAME") {
        let password = var("FLOTILLA_GIT_PASSWORD")
            .context("FLOTILLA_GIT_USERNAME is set but FLOTILLA_GIT_PASSWORD is not")?;
        return Ok(Credentials::Basic { username, password });
    }
    if let Some(key) = var("FLOTILLA_GIT_SSH_KEY") {
        let hosts = var("FLOTILLA_GIT_KNOWN_HOSTS")
            .context("FLOTILLA_GIT_SSH_KEY is set but FLOTILLA_GIT_KNOWN_HOSTS is not")?;
        let read = |p: &str| std::fs::read_to_string(p).with_context(|| format!("reading {p}"));
        return Ok(Credentials::Ssh {
            identity: read(&key)?,
            known_hosts: read(&hosts)?,
        });
    }
    Ok(Credentials::None)
}

/// Writes the exported files below `out`, which must be missing or empty. File paths
/// come from git trees through the snapshot, which refuses `..` and absolute names.
fn write_files(out: &Path, files: &[flotilla_source::File]) -> anyhow::Result<()> {
    if out.exists() {
        let mut entries =
            std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?;
        if entries.next().is_some() {
            bail!("{}: output directory is not empty", out.display());
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Directories first, once each; then the files, spread over a few threads (the
    // writes are independent system calls).
    let dirs: std::collections::BTreeSet<&Path> = files
        .iter()
        .filter_map(|f| Path::new(&f.path).parent())
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    for dir in dirs {
        let path = out.join(dir);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let chunk = files.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().try_for_each(|file| write_one(out, file))))
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?
        })
    })
}

fn write_one(out: &Path, file: &flotilla_source::File) -> anyhow::Result<()> {
    let path = out.join(&file.path);
    std::fs::write(&path, &file.contents).with_context(|| format!("writing {}", path.display()))?;
    if file.executable {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    Ok(())
}
