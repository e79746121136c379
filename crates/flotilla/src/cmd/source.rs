//! `flotilla source get URL [--ref REF] [--path P] [--out DIR]` and
//! `flotilla source gc [--cache DIR] [--max-age 7d] [--housekeeping]`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use flotilla_source::{
    CacheOptions, Credentials, GcOptions, IgnoreRules, MirrorCache, Reference, Request,
};

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
    let cache_dir = cache_dir(args.cache.as_deref())?;
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
        // Decoding and writing are spread over a few threads (independent system
        // calls; git's checkout writes one file at a time).
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(2, 4);
        let written = snapshot.write_files(&args.path, &IgnoreRules::none(), out, threads)?;
        println!("files: {written}");
    }
    Ok(())
}

/// Arguments of `flotilla source gc`.
#[derive(Debug, clap::Args)]
pub(crate) struct GcArgs {
    /// Mirror cache directory (default: $FLOTILLA_CACHE_DIR, else ~/.cache/flotilla/git).
    #[arg(long)]
    pub(crate) cache: Option<PathBuf>,
    /// Remove mirrors unused for longer than this: days (`7d`) or a Go duration
    /// (`12h`, `90m`).
    #[arg(long, default_value = "7d", value_parser = parse_age)]
    pub(crate) max_age: Duration,
    /// Also run `git gc --auto` in the mirrors that are kept.
    #[arg(long)]
    pub(crate) housekeeping: bool,
}

/// Removes mirrors unused for longer than `--max-age` (never one in use) and prints
/// what went and what stayed. Fails when a mirror could not be removed or housekept.
pub(crate) fn run_gc(args: GcArgs) -> anyhow::Result<()> {
    let cache_dir = cache_dir(args.cache.as_deref())?;
    // Opening a cache creates its directory; a mistyped path should not.
    anyhow::ensure!(
        cache_dir.is_dir(),
        "no mirror cache at {}",
        cache_dir.display()
    );
    let cache = MirrorCache::new(CacheOptions::new(&cache_dir))
        .with_context(|| format!("opening the mirror cache {}", cache_dir.display()))?;
    let mut opts = GcOptions::new(args.max_age);
    opts.housekeeping = args.housekeeping;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(cache.collect_garbage(&opts))?;
    for path in &report.removed {
        println!("removed: {}", path.display());
    }
    println!(
        "kept: {} ({} in use)",
        report.kept.len(),
        report.in_use.len()
    );
    println!("freed: {} bytes", report.bytes_freed);
    for (path, why) in &report.failed {
        eprintln!("failed: {}: {why}", path.display());
    }
    anyhow::ensure!(
        report.failed.is_empty(),
        "{} mirror(s) could not be collected",
        report.failed.len()
    );
    Ok(())
}

/// `7d`, or a Go duration (`12h`, `90m`).
fn parse_age(text: &str) -> Result<Duration, String> {
    let days = text
        .strip_suffix('d')
        .and_then(|n| n.parse::<u64>().ok())
        .and_then(|n| n.checked_mul(24 * 3600));
    match days {
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => flotilla_source::parse_duration(text)
            .ok_or_else(|| format!("{text:?}: want a duration such as 7d, 12h or 90m")),
    }
}

/// The cache directory, absolute: git runs inside the mirror, so a relative one would
/// not resolve.
fn cache_dir(arg: Option<&std::path::Path>) -> anyhow::Result<PathBuf> {
    let dir = match arg {
        Some(dir) => dir.to_path_buf(),
        None => default_cache_dir()?,
    };
    std::path::absolute(&dir).with_context(|| format!("resolving {}", dir.display()))
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
