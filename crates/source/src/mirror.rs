//! The shared mirror cache: one bare repository per (normalised URL, credentials) in a
//! cache directory, one remote check per URL per interval however many consumers ask,
//! one fetch per URL at a time, and a fetch only when the wanted commit is missing.
//!
//! # Guarantees
//! - Consumers asking for the same URL within `interval` of the last check share its
//!   result: the remote sees one `ls-remote` (one HTTP request) per interval.
//! - While one consumer checks or fetches a URL, the others wait for its result
//!   instead of starting their own (single flight).
//! - A mirror whose objects cannot be read is deleted and cloned again once.
//! - Credentials never appear in errors, logs or the mirror's configuration.
//!
//! # Garbage collection
//! [`MirrorCache::collect_garbage`] removes mirrors nobody used for longer than a
//! maximum age, and can run git's own housekeeping (`git gc --auto`) in the others.
//!
//! - *Use* is a checkout or a [`fresh_commit`](MirrorCache::fresh_commit) lookup. It
//!   is recorded in memory and on disk, as the modification time of a marker file in
//!   the mirror ([`LAST_USED_FILE`], written at most once a minute per mirror), so it
//!   survives restarts and is seen by other processes sharing the cache directory.
//!   A mirror without the marker (made by an older version) counts from the
//!   directory's own modification time.
//! - A mirror *in use right now* is never removed, whatever its age: one with a check
//!   or fetch in flight in this process, a checkout under way, a live [`Snapshot`]
//!   of it (or of a clone), or a git lock file (`*.lock`, `gc.pid`, a pack being
//!   received) younger than an hour, which is another process at work. An older lock
//!   file is left by a git that died and does not keep the mirror.
//! - Only mirrors are touched: directories directly in the cache directory whose name
//!   ends in `.git` and which hold a `HEAD` file. Files, other directories and
//!   symbolic links (even to a mirror) are left alone; nothing is followed.
//! - A mirror is first renamed into the cache's scratch directory, then deleted, so
//!   no process ever sees half of one; a consumer that asks for it again later gets a
//!   fresh clone.
//! - Other processes sharing the cache directory are seen through the marker and git's
//!   lock files only, so across processes keep the maximum age well above the longest
//!   git operation (the request timeout) plus a minute.
//! - Housekeeping is cheap when nothing is due (git's own `--auto` thresholds). It
//!   skips a mirror with a fetch in flight or a git lock file; mirrors with live
//!   snapshots are housekept too (git replaces packs, snapshots keep reading). It
//!   prunes what git prunes: unreachable objects older than two weeks
//!   (`gc.pruneExpire`), so a snapshot of a commit no ref has named for that long may
//!   stop reading.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::credentials::Credentials;
use crate::git::{self, GitError, Remote};
use crate::refs::{self, AdvertisedRef, RefError, Reference, Resolved};
use crate::snapshot::{ReadLimits, Snapshot, SnapshotError};
use crate::tls::Tls;
use crate::url::{GitUrl, Rewrite, UrlError, rewrite};

/// Settings of a [`MirrorCache`].
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Where the mirrors live.
    pub dir: PathBuf,
    /// `insteadOf` rules applied to every URL before anything else.
    pub rewrites: Vec<Rewrite>,
    /// Limits on reading snapshots.
    pub read_limits: ReadLimits,
    /// Largest mirror (bytes of objects on disk) accepted after a fetch.
    pub max_repo_bytes: u64,
    /// Fetch with `--depth=1` (only the wanted commits, no history).
    pub shallow: bool,
}

impl CacheOptions {
    /// Defaults for a cache in `dir`: shallow fetches, 1 GiB per mirror.
    pub fn new(dir: impl Into<PathBuf>) -> CacheOptions {
        CacheOptions {
            dir: dir.into(),
            rewrites: Vec::new(),
            read_limits: ReadLimits::default(),
            max_repo_bytes: 1024 * 1024 * 1024,
            shallow: true,
        }
    }
}

/// Why a checkout failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The URL does not parse.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The remote could not be read.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The reference names nothing (Flux's wording).
    #[error("unable to clone '{url}': {source}")]
    Ref {
        /// The URL, without secrets.
        url: String,
        /// What is missing.
        #[source]
        source: RefError,
    },
    /// The commit could not be fetched or read.
    #[error("unable to fetch commit {commit} from '{url}': {detail}")]
    MissingCommit {
        /// The URL, without secrets.
        url: String,
        /// The commit.
        commit: String,
        /// Why.
        detail: String,
    },
    /// The mirror is over the size limit; it was removed.
    #[error("repository '{url}' is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The URL, without secrets.
        url: String,
        /// Size of its objects.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The mirror stayed unreadable after being cloned again.
    #[error("mirror of '{url}' is corrupt: {detail}")]
    Corrupt {
        /// The URL, without secrets.
        url: String,
        /// What could not be read.
        detail: String,
    },
    /// Disk trouble in the cache directory.
    #[error("cache directory {path}: {detail}")]
    Cache {
        /// The path.
        path: String,
        /// Why.
        detail: String,
    },
}

impl Error {
    /// Whether the failure is about credentials.
    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Git(e) if e.is_auth())
    }

    /// A git failure, with a pack refused for its size told as the repository's size.
    fn from_git(e: GitError) -> Error {
        match e {
            GitError::PackTooLarge {
                url,
                received,
                limit,
            } => Error::TooLarge {
                url,
                size: received,
                limit,
            },
            e => Error::Git(e),
        }
    }
}

/// What a consumer asks for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The URL as the consumer wrote it (rewrites apply).
    pub url: String,
    /// What to resolve.
    pub reference: Reference,
    /// Credentials (from `secretRef`, or embedded in the URL).
    pub credentials: Credentials,
    /// Whom an HTTPS server must be, and the client certificate presented to it.
    pub tls: Tls,
    /// A remote check younger than this is reused.
    pub interval: Duration,
    /// Limit for each git operation.
    pub timeout: Duration,
}

impl Request {
    /// A request with Flux's default timeout (60 s) and a 1 minute interval.
    pub fn new(url: impl Into<String>, reference: Reference) -> Request {
        Request {
            url: url.into(),
            reference,
            credentials: Credentials::None,
            tls: Tls::default(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(60),
        }
    }
}

/// A resolved, fetched and readable commit.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The URL the consumer named, without secrets.
    pub url: String,
    /// Flux's revision string (`main@sha1:…`).
    pub revision: String,
    /// The commit id.
    pub commit: String,
    /// The full ref name, when a ref was resolved.
    pub refname: Option<String>,
    /// The commit's files.
    pub snapshot: Snapshot,
}

/// An annotated tag object: its id and its content as git stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagObject {
    /// The tag object's id.
    pub id: String,
    /// The object's content (headers, message, signature).
    pub raw: Vec<u8>,
}

/// The file in each mirror whose modification time is the mirror's last use.
pub const LAST_USED_FILE: &str = "flotilla-last-used";

/// How often a mirror in steady use rewrites its [`LAST_USED_FILE`].
const MARK_EVERY: Duration = Duration::from_secs(60);

/// A git lock file younger than this means a git process is at work in the mirror;
/// an older one was left by a process that died.
const STALE_LOCK: Duration = Duration::from_secs(3600);

/// Settings of [`MirrorCache::collect_garbage`].
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Mirrors unused for longer than this are removed.
    pub max_age: Duration,
    /// Also run `git gc --auto` in each kept mirror no git process is working in.
    pub housekeeping: bool,
    /// Limit for each housekeeping command.
    pub timeout: Duration,
}

impl GcOptions {
    /// Removal only (no housekeeping) of mirrors unused for longer than `max_age`.
    pub fn new(max_age: Duration) -> GcOptions {
        GcOptions {
            max_age,
            housekeeping: false,
            timeout: Duration::from_secs(600),
        }
    }
}

/// What a [`MirrorCache::collect_garbage`] run did. Paths are sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Mirrors removed (where they were).
    pub removed: Vec<PathBuf>,
    /// Bytes on disk the removed mirrors held.
    pub bytes_freed: u64,
    /// Mirrors still in the cache: used recently, in use right now, or not removable
    /// (see `failed`).
    pub kept: Vec<PathBuf>,
    /// The kept mirrors that were in use right now (a subset of `kept`).
    pub in_use: Vec<PathBuf>,
    /// Mirrors whose removal or housekeeping failed, and why.
    pub failed: Vec<(PathBuf, String)>,
}

/// Counters for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `ls-remote` runs.
    pub remote_checks: u64,
    /// `fetch` runs.
    pub fetches: u64,
    /// Mirrors deleted and cloned again.
    pub reclones: u64,
}

/// The cache. Cheap to clone; all clones share mirrors and state.
#[derive(Clone)]
pub struct MirrorCache {
    inner: Arc<Inner>,
}

struct Inner {
    opts: CacheOptions,
    repos: parking_lot::Mutex<HashMap<String, Arc<Repo>>>,
    remote_checks: AtomicU64,
    fetches: AtomicU64,
    reclones: AtomicU64,
    triggers: tokio::sync::broadcast::Sender<String>,
    /// Repositories whose pull requests a webhook said changed (whether mirrored or not:
    /// a pull request generator reads the forge's API, not a mirror).
    pull_requests: tokio::sync::broadcast::Sender<String>,
}

/// One mirror.
struct Repo {
    /// Where it is fetched from (after rewrites).
    fetch_url: GitUrl,
    /// How it is shown.
    shown: String,
    dir: PathBuf,
    /// Held while checking or fetching (single flight).
    flight: tokio::sync::Mutex<()>,
    /// Cloned by every checkout under way and every snapshot handed out: more than one
    /// reference means the mirror is in use (garbage collection keeps it).
    lease: Arc<()>,
    state: parking_lot::Mutex<RepoState>,
}

/// How long a trigger told to subscribers stands for those after it while no check has
/// begun: should the told ones never check (their reconciles failing before), a later
/// push is told again after this long.
const ANNOUNCED_FOR: Duration = Duration::from_secs(5);

#[derive(Default)]
struct RepoState {
    /// The last remote check: its result and when.
    check: Option<(Result<Vec<AdvertisedRef>, GitError>, Instant)>,
    /// Webhook triggers so far: while it differs from `checked_triggers`, the next
    /// request checks the remote whatever its interval.
    triggers: u64,
    /// `triggers` when the last remote check began: a trigger that arrives while a
    /// check is under way (the push may be newer than what it saw) leaves the mirror
    /// stale.
    checked_triggers: u64,
    /// When subscribers were told of a trigger that no check has begun to answer yet:
    /// a further one within [`ANNOUNCED_FOR`] adds nothing for them (a burst of
    /// deliveries, a replay).
    announced: Option<Instant>,
    /// Branches and tags fetched by name into a new mirror, with the commit each named
    /// and when: such a fetch asked the remote about that ref, so it stands for a check
    /// of it (and only of it) until the interval ends or a full check is made.
    fetched: HashMap<String, (String, Instant)>,
    /// Commits known present and readable.
    have: HashSet<String>,
    /// The open repository (gix), shared by snapshots.
    handle: Option<gix::ThreadSafeRepository>,
    /// The last use in this process.
    last_used: Option<Instant>,
    /// When [`LAST_USED_FILE`] was last written.
    marked: Option<Instant>,
}

impl RepoState {
    /// Whether a webhook asked for a check that has not begun yet.
    fn stale(&self) -> bool {
        self.triggers != self.checked_triggers
    }

    /// A remote check begins: what it will answer for.
    fn check_begins(&mut self) -> u64 {
        self.announced = None;
        self.triggers
    }

    /// Counts a trigger; whether subscribers are to be told of it.
    fn triggered(&mut self) -> bool {
        self.triggers = self.triggers.wrapping_add(1);
        let told = self
            .announced
            .is_some_and(|at| at.elapsed() < ANNOUNCED_FOR);
        if !told {
            self.announced = Some(Instant::now());
        }
        !told
    }
}

impl MirrorCache {
    /// A cache in `opts.dir` (created if missing).
    pub fn new(opts: CacheOptions) -> Result<MirrorCache, Error> {
        std::fs::create_dir_all(opts.dir.join("tmp")).map_err(|e| Error::Cache {
            path: opts.dir.display().to_string(),
            detail: e.to_string(),
        })?;
        let (triggers, _) = tokio::sync::broadcast::channel(1024);
        let (pull_requests, _) = tokio::sync::broadcast::channel(1024);
        Ok(MirrorCache {
            inner: Arc::new(Inner {
                opts,
                repos: Default::default(),
                remote_checks: AtomicU64::new(0),
                fetches: AtomicU64::new(0),
                reclones: AtomicU64::new(0),
                triggers,
                pull_requests,
            }),
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        Stats {
            remote_checks: self.inner.remote_checks.load(Ordering::Relaxed),
            fetches: self.inner.fetches.load(Ordering::Relaxed),
            reclones: self.inner.reclones.load(Ordering::Relaxed),
        }
    }

    /// The options.
    pub fn options(&self) -> &CacheOptions {
        &self.inner.opts
    }

    /// Marks every mirror of a repository stale so the next request checks the remote
    /// now, and tells subscribers. `identity` is [`GitUrl::identity`] (host/path), so
    /// a push seen for the https URL also refreshes the ssh one. Returns how many
    /// known mirrors matched.
    pub fn trigger(&self, identity: &str) -> usize {
        let mut n = 0;
        let mut announce = false;
        for repo in self.inner.repos.lock().values() {
            if repo_identity(repo) == identity {
                announce |= repo.state.lock().triggered();
                n += 1;
            }
        }
        if announce {
            let _ = self.inner.triggers.send(identity.to_string());
        }
        n
    }

    /// Marks every mirror of a repository stale, as [`trigger`](Self::trigger) does,
    /// without telling subscribers: for a caller about to check the remote itself (a Flux
    /// reconcile request). Returns how many known mirrors matched.
    pub fn refresh(&self, identity: &str) -> usize {
        let mut n = 0;
        for repo in self.inner.repos.lock().values() {
            if repo_identity(repo) == identity {
                let mut state = repo.state.lock();
                state.triggers = state.triggers.wrapping_add(1);
                n += 1;
            }
        }
        n
    }

    /// Whether any known mirror serves this repository identity.
    pub fn knows(&self, identity: &str) -> bool {
        self.inner
            .repos
            .lock()
            .values()
            .any(|r| repo_identity(r) == identity)
    }

    /// Identities of repositories that a webhook marked stale, as they happen.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.inner.triggers.subscribe()
    }

    /// Tells [`subscribe_pull_requests`](Self::subscribe_pull_requests) listeners that a
    /// pull request of the repository `identity` names was opened, updated or closed.
    /// Unlike [`trigger`](Self::trigger) it needs no mirror and marks none stale.
    pub fn announce_pull_requests(&self, identity: &str) {
        let _ = self.inner.pull_requests.send(identity.to_lowercase());
    }

    /// Identities of repositories whose pull requests changed, as webhooks say so: the
    /// [`GitUrl::identity`] of the repository, in lower case (forges match owner and
    /// repository names whatever their case).
    pub fn subscribe_pull_requests(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.inner.pull_requests.subscribe()
    }

    /// The mirror of `url` as reached with `creds` under `tls`: remotes reached as
    /// someone else, or under other TLS settings, never share what one fetched.
    fn repo_for(
        &self,
        url: &str,
        creds: &Credentials,
        tls: &Tls,
    ) -> Result<(Arc<Repo>, Credentials), Error> {
        let named = GitUrl::parse(url)?;
        let fetch_url = GitUrl::parse(&rewrite(url, &self.inner.opts.rewrites))?;
        let creds = match (
            creds,
            fetch_url
                .embedded_credentials()
                .or(named.embedded_credentials()),
        ) {
            (Credentials::None, Some(embedded)) => embedded,
            (c, _) => c.clone(),
        };
        let fingerprint = crate::credentials::access_fingerprint(&creds, tls);
        let key = format!("{}#{fingerprint}", fetch_url.key());
        let mut repos = self.inner.repos.lock();
        let repo = repos
            .entry(key)
            .or_insert_with(|| {
                let mut name = fetch_url.mirror_dir_name();
                if !fingerprint.is_empty() {
                    name = format!("{}-{fingerprint}.git", name.trim_end_matches(".git"));
                }
                Arc::new(Repo {
                    dir: self.inner.opts.dir.join(name),
                    shown: named.redacted(),
                    fetch_url,
                    flight: tokio::sync::Mutex::new(()),
                    lease: Arc::new(()),
                    state: Default::default(),
                })
            })
            .clone();
        Ok((repo, creds))
    }

    /// Resolves `req.reference`, fetches the commit if the mirror lacks it, and
    /// returns a readable snapshot of it.
    pub async fn checkout(&self, req: &Request) -> Result<Checkout, Error> {
        let (repo, creds) = self.repo_for(&req.url, &req.credentials, &req.tls)?;
        let _lease = self.note_use(&repo);
        if let Some(found) = self.cached_checkout(&repo, req)? {
            return Ok(found);
        }
        let _flight = repo.flight.lock().await;
        // Whoever held the flight may have done the work for us.
        if let Some(found) = self.cached_checkout(&repo, req)? {
            return Ok(found);
        }
        let remote = Remote {
            url: &repo.fetch_url,
            credentials: &creds,
            tls: &req.tls,
            timeout: req.timeout,
        };
        let resolved = match &req.reference {
            Reference::Commit { .. } => {
                refs::resolve(&req.reference, &[]).map_err(|source| Error::Ref {
                    url: repo.shown.clone(),
                    source,
                })?
            }
            reference => {
                if let Some(refname) = named_ref(reference).filter(|_| self.is_cold(&repo)) {
                    // A new mirror: the fetch of the ref is the check of it too.
                    if let Some(resolved) = self.fetch_named(&repo, &remote, &refname).await? {
                        return self.finish(&repo, &resolved);
                    }
                }
                let advertised = match direct_refspec(reference).filter(|_| self.is_cold(&repo)) {
                    // A new mirror needs a fetch whatever the check says: run both at
                    // once, so the check costs no extra round trip.
                    Some(refspec) => {
                        let (advertised, fetched) = tokio::join!(
                            self.advertisement(&repo, req, &creds),
                            self.prefetch(&repo, &remote, refspec)
                        );
                        fetched?;
                        advertised?
                    }
                    None => self.advertisement(&repo, req, &creds).await?,
                };
                refs::resolve(reference, &advertised).map_err(|source| Error::Ref {
                    url: repo.shown.clone(),
                    source,
                })?
            }
        };
        let by_commit = matches!(req.reference, Reference::Commit { .. });
        let commit = self
            .ensure_commit(&repo, &remote, &resolved, by_commit)
            .await?;
        let mut resolved = resolved;
        resolved.commit = commit;
        self.finish(&repo, &resolved)
    }

    /// The annotated tag object a checkout of a tag was made from, as its id and raw
    /// content; `None` when the tag is lightweight (or the checkout is not of a tag).
    /// The mirror's copy of the ref is read; when it is missing or does not lead to the
    /// checkout's commit, the tag is fetched by name first (a check by commit id does
    /// not bring the tag object).
    pub async fn tag_object(
        &self,
        req: &Request,
        checkout: &Checkout,
    ) -> Result<Option<TagObject>, Error> {
        let Some(refname) = checkout
            .refname
            .as_deref()
            .filter(|r| r.starts_with("refs/tags/"))
        else {
            return Ok(None);
        };
        let (repo, creds) = self.repo_for(&req.url, &req.credentials, &req.tls)?;
        let _lease = self.note_use(&repo);
        let _flight = repo.flight.lock().await;
        let current = |handle: &gix::ThreadSafeRepository| {
            read_tag_ref(handle, refname).filter(|(commit, _)| *commit == checkout.commit)
        };
        let handle = self.open_or_init(&repo).await.map_err(|e| match e {
            Attempt::Fatal(e) => e,
            Attempt::Corrupt(detail) => Error::Corrupt {
                url: repo.shown.clone(),
                detail,
            },
        })?;
        if let Some((_, tag)) = current(&handle) {
            return Ok(tag);
        }
        let remote = Remote {
            url: &repo.fetch_url,
            credentials: &creds,
            tls: &req.tls,
            timeout: req.timeout,
        };
        self.fetch_into(&repo, &remote, format!("+{refname}:{refname}"))
            .await?;
        let handle = self.reopen(&repo).unwrap_or(handle);
        match current(&handle) {
            Some((_, tag)) => Ok(tag),
            None => Err(Error::MissingCommit {
                url: repo.shown.clone(),
                commit: checkout.commit.clone(),
                detail: format!("{refname} no longer leads to this commit"),
            }),
        }
    }

    /// Fetches the branch or tag `refname` into a new mirror and resolves it from what
    /// arrived, counting the fetch as the remote check of that ref. A remote that cannot
    /// be reached or refuses us fails the check as `ls-remote` would; `None` when the
    /// fetch failed otherwise (a missing ref, say): the caller checks the remote as
    /// usual, which explains it in the usual words.
    async fn fetch_named(
        &self,
        repo: &Repo,
        remote: &Remote<'_>,
        refname: &str,
    ) -> Result<Option<Resolved>, Error> {
        let Ok(handle) = self.open_or_init(repo).await else {
            return Ok(None);
        };
        self.inner.remote_checks.fetch_add(1, Ordering::Relaxed);
        let began = repo.state.lock().check_begins();
        match self
            .fetch_into(repo, remote, format!("+{refname}:{refname}"))
            .await
        {
            Ok(()) => {}
            Err(e @ GitError::Failed { .. }) => {
                tracing::debug!(url = %repo.shown, error = %e, "first fetch failed");
                return Ok(None);
            }
            Err(e @ GitError::PackTooLarge { .. }) => return Err(Error::from_git(e)),
            Err(e) => {
                let mut state = repo.state.lock();
                state.check = Some((Err(e.clone()), Instant::now()));
                state.checked_triggers = began;
                return Err(Error::Git(e));
            }
        }
        self.check_size(repo)?;
        let handle = self.reopen(repo).unwrap_or(handle);
        let commit = {
            let local = handle.to_thread_local();
            let Ok(mut reference) = local.find_reference(refname) else {
                return Ok(None);
            };
            let Ok(commit) = reference.peel_to_commit() else {
                return Ok(None);
            };
            commit.id.to_string()
        };
        if Snapshot::from_repo(handle, &commit, self.inner.opts.read_limits).is_err() {
            return Ok(None);
        }
        let mut state = repo.state.lock();
        state.have.insert(commit.clone());
        state
            .fetched
            .insert(refname.to_string(), (commit.clone(), Instant::now()));
        Ok(Some(Resolved::named(refname, &commit)))
    }

    /// Fetches `refspec` into the mirror (shallow when so configured), counting it.
    async fn fetch_into(
        &self,
        repo: &Repo,
        remote: &Remote<'_>,
        refspec: String,
    ) -> Result<(), GitError> {
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let depth = self.inner.opts.shallow.then_some(1);
        let limit = self.inner.opts.max_repo_bytes;
        git::fetch(remote, &repo.dir, &self.scratch(), &[refspec], depth, limit).await
    }

    /// Whether the mirror has never been fetched in this process nor exists on disk.
    fn is_cold(&self, repo: &Repo) -> bool {
        repo.state.lock().handle.is_none() && !repo.dir.join("HEAD").exists()
    }

    /// Creates the mirror and fetches `refspec` into it. Only a size-limit breach is
    /// reported; other failures are left to the regular path (it fetches again when
    /// the commit is still missing, and says why).
    async fn prefetch(
        &self,
        repo: &Repo,
        remote: &Remote<'_>,
        refspec: String,
    ) -> Result<(), Error> {
        if self.open_or_init(repo).await.is_err() {
            return Ok(());
        }
        match self.fetch_into(repo, remote, refspec).await {
            Ok(()) => {}
            Err(e @ GitError::PackTooLarge { .. }) => return Err(Error::from_git(e)),
            Err(e) => {
                tracing::debug!(url = %repo.shown, error = %e, "first fetch failed");
                return Ok(());
            }
        }
        self.check_size(repo)?;
        let _ = self.reopen(repo);
        Ok(())
    }

    /// Removes the mirror and fails when its objects exceed the limit.
    fn check_size(&self, repo: &Repo) -> Result<(), Error> {
        let size = dir_size(&repo.dir.join("objects"));
        if size <= self.inner.opts.max_repo_bytes {
            return Ok(());
        }
        let _ = std::fs::remove_dir_all(&repo.dir);
        repo.state.lock().handle = None;
        Err(Error::TooLarge {
            url: repo.shown.clone(),
            size,
            limit: self.inner.opts.max_repo_bytes,
        })
    }

    /// The cached advertisement when fresh, else a new remote check (caller holds
    /// the flight).
    async fn advertisement(
        &self,
        repo: &Repo,
        req: &Request,
        creds: &Credentials,
    ) -> Result<Vec<AdvertisedRef>, Error> {
        {
            let state = repo.state.lock();
            if let Some((result, at)) = &state.check
                && !state.stale()
                && at.elapsed() < req.interval
            {
                return result.clone().map_err(Error::Git);
            }
        }
        let remote = Remote {
            url: &repo.fetch_url,
            credentials: creds,
            tls: &req.tls,
            timeout: req.timeout,
        };
        self.inner.remote_checks.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(url = %repo.shown, "remote check");
        let began = repo.state.lock().check_begins();
        let result = git::ls_remote(&remote, &self.scratch()).await;
        let mut state = repo.state.lock();
        state.check = Some((result.clone(), Instant::now()));
        state.checked_triggers = began;
        state.fetched.clear();
        result.map_err(Error::Git)
    }

    /// Answers from the last check and the commits already present, or `None` when
    /// the remote or a fetch is needed.
    /// The commit and Flux revision a [`checkout`](Self::checkout) of `req` would give
    /// right now without any I/O: when the last remote check is fresh (within the
    /// request's interval, not marked stale by a webhook) and the commit is in the mirror.
    /// Lets callers that keep their own per-commit views skip building a snapshot.
    pub fn fresh_commit(&self, req: &Request) -> Option<(String, String)> {
        let (repo, _) = self.repo_for(&req.url, &req.credentials, &req.tls).ok()?;
        let _lease = self.note_use(&repo);
        let resolved = self.resolve_cached(&repo, req).ok()??;
        Some((resolved.commit.clone(), resolved.revision()))
    }

    fn cached_checkout(&self, repo: &Repo, req: &Request) -> Result<Option<Checkout>, Error> {
        self.resolve_cached(repo, req)?
            .map(|r| self.finish(repo, &r))
            .transpose()
    }

    /// What `req` resolves to by the last remote check, when that check is fresh and the
    /// commit is in the mirror (`None`: a check or a fetch is needed). A failed fresh
    /// check is returned as its error: shared, so there is no retry storm.
    fn resolve_cached(&self, repo: &Repo, req: &Request) -> Result<Option<Resolved>, Error> {
        let state = repo.state.lock();
        Ok(match &req.reference {
            Reference::Commit { id, .. } if state.have.contains(id) => {
                refs::resolve(&req.reference, &[]).ok()
            }
            Reference::Commit { .. } => None,
            reference => match &state.check {
                Some((Ok(ads), at)) if !state.stale() && at.elapsed() < req.interval => {
                    let resolved = refs::resolve(reference, ads).map_err(|source| Error::Ref {
                        url: repo.shown.clone(),
                        source,
                    })?;
                    state.have.contains(&resolved.commit).then_some(resolved)
                }
                Some((Err(e), at)) if !state.stale() && at.elapsed() < req.interval => {
                    return Err(Error::Git(e.clone()));
                }
                _ if state.stale() => None,
                _ => named_ref(reference).and_then(|name| {
                    let (commit, at) = state.fetched.get(&name)?;
                    (at.elapsed() < req.interval && state.have.contains(commit))
                        .then(|| Resolved::named(&name, commit))
                }),
            },
        })
    }

    fn finish(&self, repo: &Repo, resolved: &Resolved) -> Result<Checkout, Error> {
        let handle = repo
            .state
            .lock()
            .handle
            .clone()
            .ok_or_else(|| Error::Corrupt {
                url: repo.shown.clone(),
                detail: "mirror is not open".into(),
            })?;
        let snapshot = Snapshot::from_repo(handle, &resolved.commit, self.inner.opts.read_limits)
            .map_err(|e| Error::Corrupt {
                url: repo.shown.clone(),
                detail: e.to_string(),
            })?
            .leased(repo.lease.clone());
        Ok(Checkout {
            url: repo.shown.clone(),
            revision: resolved.revision(),
            commit: resolved.commit.clone(),
            refname: resolved.refname.clone(),
            snapshot,
        })
    }

    /// Records a use of the mirror now and returns a lease that keeps it from garbage
    /// collection while held. The marker file is rewritten at most once a minute.
    fn note_use(&self, repo: &Repo) -> Arc<()> {
        let now = Instant::now();
        let (lease, due) = {
            let mut state = repo.state.lock();
            state.last_used = Some(now);
            let due = state.marked.is_none_or(|at| now - at >= MARK_EVERY)
                && repo.dir.join("HEAD").is_file();
            if due {
                state.marked = Some(now);
            }
            (repo.lease.clone(), due)
        };
        if due {
            mark_used(&repo.dir);
        }
        lease
    }

    fn scratch(&self) -> PathBuf {
        self.inner.opts.dir.join("tmp")
    }

    /// Makes `resolved.commit` present and readable; returns the commit actually
    /// obtained (the ref may have moved between the check and the fetch).
    async fn ensure_commit(
        &self,
        repo: &Repo,
        remote: &Remote<'_>,
        resolved: &Resolved,
        by_commit: bool,
    ) -> Result<String, Error> {
        if repo.state.lock().have.contains(&resolved.commit) {
            return Ok(resolved.commit.clone());
        }
        let mut recloned = false;
        loop {
            match self.try_ensure(repo, remote, resolved, by_commit).await {
                Ok(commit) => {
                    repo.state.lock().have.insert(commit.clone());
                    return Ok(commit);
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Corrupt(detail)) if recloned => {
                    return Err(Error::Corrupt {
                        url: repo.shown.clone(),
                        detail,
                    });
                }
                Err(Attempt::Corrupt(detail)) => {
                    tracing::warn!(url = %repo.shown, %detail, "mirror unreadable; cloning it again");
                    self.inner.reclones.fetch_add(1, Ordering::Relaxed);
                    self.wipe(repo)?;
                    recloned = true;
                }
            }
        }
    }

    async fn try_ensure(
        &self,
        repo: &Repo,
        remote: &Remote<'_>,
        resolved: &Resolved,
        by_commit: bool,
    ) -> Result<String, Attempt> {
        let handle = self.open_or_init(repo).await?;
        let limits = self.inner.opts.read_limits;
        // Present already (fetched by an earlier process, or another ref)?
        if Snapshot::from_repo(handle.clone(), &resolved.commit, limits).is_ok() {
            return Ok(resolved.commit.clone());
        }
        let (refspec, local) = match &resolved.refname {
            Some(name) if !by_commit => (format!("+{name}:{name}"), name.clone()),
            _ => {
                let local = format!("refs/flotilla/commits/{}", resolved.commit);
                (format!("{}:{local}", resolved.commit), local)
            }
        };
        tracing::debug!(url = %repo.shown, %refspec, "fetch");
        if let Err(e) = self.fetch_into(repo, remote, refspec).await {
            return Err(match e {
                // Local trouble (bad objects, broken refs) shows as a plain failure.
                GitError::Failed { ref detail, .. } if looks_corrupt(detail) => {
                    Attempt::Corrupt(e.to_string())
                }
                e => Attempt::Fatal(Error::from_git(e)),
            });
        }
        self.check_size(repo).map_err(Attempt::Fatal)?;
        // Reopen: the fetch added packs the open handle has not seen.
        let handle = self.reopen(repo)?;
        let got = {
            let local_repo = handle.to_thread_local();
            let mut reference = local_repo
                .find_reference(local.as_str())
                .map_err(|e| Attempt::Corrupt(format!("{local}: {e}")))?;
            let id = reference
                .peel_to_id()
                .map_err(|e| Attempt::Corrupt(format!("{local}: {e}")))?;
            id.detach().to_string()
        };
        if by_commit && got != resolved.commit {
            return Err(Attempt::Fatal(Error::MissingCommit {
                url: repo.shown.clone(),
                commit: resolved.commit.clone(),
                detail: format!("the remote sent {got}"),
            }));
        }
        match Snapshot::from_repo(handle, &got, limits) {
            Ok(_) => Ok(got),
            Err(e @ SnapshotError::Object { .. }) => Err(Attempt::Corrupt(e.to_string())),
            Err(e) => Err(Attempt::Fatal(Error::Corrupt {
                url: repo.shown.clone(),
                detail: e.to_string(),
            })),
        }
    }

    async fn open_or_init(&self, repo: &Repo) -> Result<gix::ThreadSafeRepository, Attempt> {
        if let Some(h) = repo.state.lock().handle.clone() {
            return Ok(h);
        }
        if !repo.dir.join("HEAD").exists() {
            if repo.dir.exists() {
                // Something that is not a repository: start over.
                self.inner.reclones.fetch_add(1, Ordering::Relaxed);
                std::fs::remove_dir_all(&repo.dir)
                    .map_err(|e| Attempt::Fatal(self.cache_err(&repo.dir, e)))?;
            }
            init_mirror(&repo.dir).map_err(|e| {
                Attempt::Fatal(Error::Cache {
                    path: repo.dir.display().to_string(),
                    detail: format!("creating the mirror: {e}"),
                })
            })?;
            mark_used(&repo.dir);
            repo.state.lock().marked = Some(Instant::now());
        }
        self.reopen(repo)
    }

    fn reopen(&self, repo: &Repo) -> Result<gix::ThreadSafeRepository, Attempt> {
        let handle = gix::open_opts(&repo.dir, gix::open::Options::isolated())
            .map_err(|e| Attempt::Corrupt(format!("opening mirror: {e}")))?
            .into_sync();
        repo.state.lock().handle = Some(handle.clone());
        Ok(handle)
    }

    fn wipe(&self, repo: &Repo) -> Result<(), Error> {
        {
            let mut state = repo.state.lock();
            state.handle = None;
            state.have.clear();
        }
        if repo.dir.exists() {
            std::fs::remove_dir_all(&repo.dir).map_err(|e| self.cache_err(&repo.dir, e))?;
        }
        Ok(())
    }

    fn cache_err(&self, path: &Path, e: std::io::Error) -> Error {
        Error::Cache {
            path: path.display().to_string(),
            detail: e.to_string(),
        }
    }

    /// The directory of the mirror that serves `url` (for tests and tools).
    pub fn mirror_dir(&self, url: &str, credentials: &Credentials) -> Result<PathBuf, Error> {
        Ok(self
            .repo_for(url, credentials, &Tls::default())?
            .0
            .dir
            .clone())
    }
}

/// What garbage collection decided about one mirror.
enum Verdict {
    /// Moved out of the cache into this scratch path, to be deleted.
    Removed(PathBuf),
    /// Used within the maximum age.
    Recent,
    /// In use right now.
    InUse,
    /// Gone already (another process removed it).
    Gone,
    /// Could not be moved out of the cache.
    Failed(String),
}

impl MirrorCache {
    /// Removes the mirrors in the cache directory that nobody used for longer than
    /// `opts.max_age` and that are not in use right now; with `opts.housekeeping`, runs
    /// `git gc --auto` in the kept mirrors that are idle. The module docs say what
    /// counts as use. A failure on one mirror is reported and does not stop the others;
    /// only an unreadable cache directory is an error.
    pub async fn collect_garbage(&self, opts: &GcOptions) -> Result<GcReport, Error> {
        let dir = self.inner.opts.dir.clone();
        let scratch = self.scratch();
        // Left by a run that did not finish (the process died while deleting).
        let trash = scratch.clone();
        let _ = tokio::task::spawn_blocking(move || empty_trash(&trash)).await;
        let mut mirrors: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| self.cache_err(&dir, e))?
            .flatten()
            .filter(is_mirror)
            .map(|e| e.path())
            .collect();
        mirrors.sort();
        let known: HashMap<PathBuf, Arc<Repo>> = self
            .inner
            .repos
            .lock()
            .values()
            .map(|r| (r.dir.clone(), r.clone()))
            .collect();
        let mut report = GcReport::default();
        for path in mirrors {
            let repo = known.get(&path).map(|r| &**r);
            match self.retire(&path, repo, opts.max_age, &scratch) {
                Verdict::Removed(trash) => {
                    tracing::info!(mirror = %path.display(), "removing unused mirror");
                    let deleted = tokio::task::spawn_blocking(move || {
                        let bytes = dir_size(&trash);
                        std::fs::remove_dir_all(&trash)
                            .map(|()| bytes)
                            .map_err(|e| format!("deleting {}: {e}", trash.display()))
                    })
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                    match deleted {
                        Ok(bytes) => report.bytes_freed += bytes,
                        Err(detail) => report.failed.push((path.clone(), detail)),
                    }
                    report.removed.push(path);
                }
                verdict @ (Verdict::Recent | Verdict::InUse) => {
                    if opts.housekeeping
                        && let Err(detail) = self.housekeep(&path, repo, opts.timeout).await
                    {
                        report.failed.push((path.clone(), detail));
                    }
                    if matches!(verdict, Verdict::InUse) {
                        report.in_use.push(path.clone());
                    }
                    report.kept.push(path);
                }
                Verdict::Gone => {}
                Verdict::Failed(detail) => {
                    report.failed.push((path.clone(), detail));
                    report.kept.push(path);
                }
            }
        }
        Ok(report)
    }

    /// Decides about one mirror and, when it is unused and old, moves it out of the
    /// cache. `repo` is this process's state for it, if any.
    fn retire(
        &self,
        path: &Path,
        repo: Option<&Repo>,
        max_age: Duration,
        scratch: &Path,
    ) -> Verdict {
        if git_at_work(path) {
            return Verdict::InUse;
        }
        let disk_age = last_used_on_disk(path)
            .map(|at| SystemTime::now().duration_since(at).unwrap_or_default())
            .unwrap_or_default();
        let trash = trash_path(scratch, path);
        let moved = match repo {
            Some(repo) => {
                // Held until the mirror is gone: a consumer that needs a fetch waits,
                // then clones afresh.
                let Ok(_flight) = repo.flight.try_lock() else {
                    return Verdict::InUse;
                };
                {
                    // Same lock as the use check of a checkout: either that checkout
                    // is seen here (kept), or it sees the mirror retired (and fetches).
                    let mut state = repo.state.lock();
                    if Arc::strong_count(&repo.lease) > 1 {
                        return Verdict::InUse;
                    }
                    let age = state
                        .last_used
                        .map_or(disk_age, |at| at.elapsed().min(disk_age));
                    if age <= max_age {
                        return Verdict::Recent;
                    }
                    state.handle = None;
                    state.have.clear();
                    state.marked = None;
                }
                std::fs::rename(path, &trash)
            }
            None => {
                if disk_age <= max_age {
                    return Verdict::Recent;
                }
                // Renamed under the lock that creates mirrors' state, so a consumer
                // of this mirror arriving now finds it gone and clones.
                let repos = self.inner.repos.lock();
                if repos.values().any(|r| r.dir == path) {
                    return Verdict::InUse;
                }
                std::fs::rename(path, &trash)
            }
        };
        match moved {
            Ok(()) => Verdict::Removed(trash),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Verdict::Gone,
            Err(e) => Verdict::Failed(format!("moving to {}: {e}", trash.display())),
        }
    }

    /// `git gc --auto` in a kept mirror, unless git is at work in it already (a fetch
    /// in flight here, or a lock file). Live snapshots keep reading: git replaces packs
    /// without removing any object still reachable or younger than two weeks.
    async fn housekeep(
        &self,
        path: &Path,
        repo: Option<&Repo>,
        timeout: Duration,
    ) -> Result<(), String> {
        if git_at_work(path) {
            return Ok(());
        }
        let _flight = match repo {
            Some(repo) => match repo.flight.try_lock() {
                Ok(guard) => Some(guard),
                Err(_) => return Ok(()),
            },
            None => None,
        };
        let result = git::housekeeping(path, timeout).await;
        if let Some(repo) = repo {
            // Commits no ref names any more may have been pruned: check each again
            // when next wanted (a fetch only if it is gone).
            let open = {
                let mut state = repo.state.lock();
                state.have.clear();
                state.handle.is_some()
            };
            // Packs were replaced: new snapshots read through a fresh handle. (The
            // handle is replaced, never taken away: a checkout under way uses it.)
            if open && let Err(e) = self.reopen(repo) {
                return Err(match e {
                    Attempt::Corrupt(detail) => detail,
                    Attempt::Fatal(e) => e.to_string(),
                });
            }
        }
        result.map_err(|e| e.to_string())
    }
}

/// Creates an empty bare repository at `dir` with only what git needs to recognise one
/// (`objects/`, `refs/`, `config`, `HEAD`), in process. `git init` and `gix::init_bare`
/// also write a dozen sample hooks and a description: on a busy disk, creating files is
/// most of a new mirror's cost. `HEAD` comes last, so a crash leaves no half mirror
/// that passes for one (a directory without `HEAD` is started over).
fn init_mirror(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("objects"))?;
    std::fs::create_dir_all(dir.join("refs"))?;
    std::fs::write(
        dir.join("config"),
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n",
    )?;
    std::fs::write(dir.join("HEAD"), "ref: refs/heads/main\n")
}

/// A mirror: a directory (not a link to one) whose name ends in `.git` and which
/// holds a `HEAD` file.
fn is_mirror(entry: &std::fs::DirEntry) -> bool {
    // `DirEntry::file_type` does not follow symbolic links.
    entry.file_type().is_ok_and(|t| t.is_dir())
        && entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(".git"))
        && std::fs::symlink_metadata(entry.path().join("HEAD")).is_ok_and(|m| m.is_file())
}

/// When the mirror at `dir` was last used, as far as the disk knows.
fn last_used_on_disk(dir: &Path) -> Option<SystemTime> {
    std::fs::symlink_metadata(dir.join(LAST_USED_FILE))
        .or_else(|_| std::fs::symlink_metadata(dir))
        .and_then(|m| m.modified())
        .ok()
}

/// Records a use of the mirror at `dir` on disk (best effort).
fn mark_used(dir: &Path) {
    let path = dir.join(LAST_USED_FILE);
    let written = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(SystemTime::now()));
    if let Err(e) = written {
        tracing::debug!(path = %path.display(), error = %e, "recording mirror use");
    }
}

/// Whether a git process (of any process) is at work in the mirror: a lock file or a
/// pack being written, younger than [`STALE_LOCK`].
fn git_at_work(dir: &Path) -> bool {
    let fresh = |entry: &std::fs::DirEntry| {
        entry.metadata().and_then(|m| m.modified()).is_ok_and(|at| {
            SystemTime::now()
                .duration_since(at)
                .map_or(true, |age| age < STALE_LOCK)
        })
    };
    let any = |dir: &Path, pick: fn(&str) -> bool| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_str().is_some_and(pick) && fresh(&e))
        })
    };
    any(dir, |n| n.ends_with(".lock") || n == "gc.pid")
        || any(&dir.join("objects/pack"), |n| {
            n.starts_with("tmp_") || n.starts_with(".tmp-")
        })
}

/// Where a retired mirror waits for deletion: the scratch directory (same file
/// system, so the move is one atomic rename).
fn trash_path(scratch: &Path, mirror: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = mirror
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    scratch.join(format!(
        "gc-{}-{}-{name}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Deletes retired mirrors a previous run left in the scratch directory.
fn empty_trash(scratch: &Path) {
    let Ok(entries) = std::fs::read_dir(scratch) else {
        return;
    };
    for e in entries.flatten() {
        let ours = e.file_name().to_str().is_some_and(|n| n.starts_with("gc-"));
        if ours && e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The mirror's ref `refname`: the commit it leads to, and the annotated tag object it
/// names (id and raw content) if it names one.
fn read_tag_ref(
    handle: &gix::ThreadSafeRepository,
    refname: &str,
) -> Option<(String, Option<TagObject>)> {
    let local = handle.to_thread_local();
    let mut reference = local.find_reference(refname).ok()?;
    let target = reference.target().try_id()?.to_owned();
    let object = local.find_object(target).ok()?;
    let tag = (object.kind == gix::object::Kind::Tag).then(|| TagObject {
        id: target.to_string(),
        raw: object.data.clone(),
    });
    let commit = reference.peel_to_commit().ok()?.id.to_string();
    Some((commit, tag))
}

/// The full name of a branch or tag reference: what a fetch by name resolves without
/// the remote's other refs (`HEAD` needs the advertised symref, ranges every tag). A
/// bare name is tried as the branch, which wins over a tag of that name; when there is
/// no such branch the fetch fails and the remote's refs are checked as usual.
fn named_ref(reference: &Reference) -> Option<String> {
    match reference {
        Reference::Branch(b) => Some(format!("refs/heads/{b}")),
        Reference::Tag(t) => Some(format!("refs/tags/{t}")),
        Reference::Name(n) if !n.starts_with("refs/") && n != "HEAD" => {
            Some(format!("refs/heads/{n}"))
        }
        _ => None,
    }
}

/// The refspec that fetches `reference` by name without knowing the remote's refs.
fn direct_refspec(reference: &Reference) -> Option<String> {
    let name = match reference {
        Reference::Head => return Some("+HEAD:refs/flotilla/head".to_string()),
        Reference::Branch(b) => format!("refs/heads/{b}"),
        Reference::Tag(t) => format!("refs/tags/{t}"),
        Reference::Name(n) if n.starts_with("refs/") => n.clone(),
        _ => return None,
    };
    Some(format!("+{name}:{name}"))
}

enum Attempt {
    /// Worth one re-clone.
    Corrupt(String),
    /// Not helped by re-cloning.
    Fatal(Error),
}

fn repo_identity(repo: &Repo) -> String {
    GitUrl::parse(&repo.shown)
        .map(|u| u.identity())
        .unwrap_or_default()
}

fn looks_corrupt(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    [
        "bad object",
        "corrupt",
        "unable to read",
        "did not send all necessary objects",
        "invalid",
        "not a git repository",
        "packfile",
        "loose object",
        "fatal: bad",
    ]
    .iter()
    .any(|n| d.contains(n))
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    visit_files(dir, |_, metadata| total += metadata.len());
    total
}

/// Calls `visit` with every entry under `dir` that is not a directory, and its metadata
/// (links are not followed); what cannot be read is skipped.
pub(crate) fn visit_files(
    dir: &Path,
    mut visit: impl FnMut(&std::fs::DirEntry, &std::fs::Metadata),
) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => visit(&e, &m),
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_mirror_is_a_bare_repository_git_accepts_and_nothing_more() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("m");
        init_mirror(&dir).unwrap();
        let out = std::process::Command::new("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .arg("--git-dir")
            .arg(&dir)
            .args(["rev-parse", "--is-bare-repository"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
        assert!(gix::open_opts(&dir, gix::open::Options::isolated()).is_ok());
        let mut entries: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        entries.sort();
        assert_eq!(entries, ["HEAD", "config", "objects", "refs"]);
    }
}
