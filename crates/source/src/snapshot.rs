//! Reading a commit without checking it out: files under a path, the id of any path,
//! and the paths two commits differ in. Blocking (gix); async callers use
//! `spawn_blocking`.
//!
//! Symlinks are resolved lexically inside the git tree, never on a file system; a
//! link whose target leaves the exported directory is an error, never followed.

use gix::ObjectId;
use gix::objs::tree::EntryKind as GitKind;

use crate::ignore::{IGNORE_FILE, IgnoreRules};

/// Size limits on what a snapshot hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest single file (default 16 MiB, the render crate's limit).
    pub max_file_bytes: u64,
    /// Largest sum of file sizes in one export (default 256 MiB).
    pub max_total_bytes: u64,
    /// Most files in one export (default 100,000).
    pub max_files: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_file_bytes: 16 * 1024 * 1024,
            max_total_bytes: 256 * 1024 * 1024,
            max_files: 100_000,
        }
    }
}

/// Bytes of decoded objects a bulk reader keeps (per thread).
const BULK_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Most symlinks followed while resolving one path (Linux's MAXSYMLINKS).
const MAX_SYMLINK_HOPS: u32 = 40;

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An object could not be read: missing or corrupt repository data.
    #[error("commit {commit}: reading {what}: {detail}")]
    Object {
        /// The snapshot's commit.
        commit: String,
        /// What was being read.
        what: String,
        /// gix's reason.
        detail: String,
    },
    /// Nothing at the path.
    #[error("{path}: no such file or directory at commit {commit}")]
    NotFound {
        /// The path.
        path: String,
        /// The commit.
        commit: String,
    },
    /// A file where a directory was expected.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The path.
        path: String,
    },
    /// A directory where a file was expected.
    #[error("{path}: is a directory, not a file")]
    IsDirectory {
        /// The path.
        path: String,
    },
    /// The path is not a clean relative path.
    #[error("{path:?}: invalid path ({reason})")]
    BadPath {
        /// The path as given.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A symlink points outside the exported tree.
    #[error("{path}: symlink to {target:?} points outside {root:?}; it is not followed")]
    SymlinkEscapes {
        /// The link.
        path: String,
        /// Its target as stored.
        target: String,
        /// The directory it must stay in (`""` is the repository root).
        root: String,
    },
    /// Too many symlinks on one path.
    #[error("{path}: too many levels of symbolic links")]
    SymlinkLoop {
        /// The path.
        path: String,
    },
    /// A file is over the size limit.
    #[error("{path}: file of {size} bytes is over the limit of {limit} bytes")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The export holds too many files or bytes.
    #[error("{path}: export is over the limit of {limit} {unit}")]
    ExportTooLarge {
        /// The exported directory.
        path: String,
        /// The limit.
        limit: u64,
        /// `files` or `bytes`.
        unit: &'static str,
    },
    /// A `.sourceignore` does not parse.
    #[error(transparent)]
    Ignore(#[from] crate::ignore::IgnoreError),
    /// Writing an exported file or directory failed.
    #[error("writing {path}")]
    Write {
        /// The file or directory.
        path: String,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
}

type Result<T, E = SnapshotError> = std::result::Result<T, E>;

/// The kind of an entry in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// An executable file.
    Executable,
    /// A symbolic link (its blob is the target).
    Symlink,
    /// A directory.
    Dir,
    /// A submodule (a commit of another repository).
    Submodule,
}

impl From<GitKind> for EntryKind {
    fn from(k: GitKind) -> Self {
        match k {
            GitKind::Tree => EntryKind::Dir,
            GitKind::Blob => EntryKind::File,
            GitKind::BlobExecutable => EntryKind::Executable,
            GitKind::Link => EntryKind::Symlink,
            GitKind::Commit => EntryKind::Submodule,
        }
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the repository root.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Its object id (blob, tree or commit), 40 hex.
    pub id: String,
}

/// A file of an export, with its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Path relative to the exported directory.
    pub path: String,
    /// Contents (a symlink inside the export is replaced by its target's bytes).
    pub contents: Vec<u8>,
    /// Whether git records it as executable.
    pub executable: bool,
}

/// A file of an export, found and checked against the limits but not yet read.
struct Planned {
    /// Path relative to the exported directory.
    path: String,
    /// Path relative to the repository, for messages.
    shown: String,
    /// The blob (a symlink's target for a link).
    id: ObjectId,
    /// Whether git records it as executable.
    executable: bool,
}

/// One commit of a mirror, readable by path.
#[derive(Clone)]
pub struct Snapshot {
    repo: gix::ThreadSafeRepository,
    commit: ObjectId,
    limits: ReadLimits,
    /// Held while the snapshot (or a clone) lives, so the mirror's garbage collection
    /// knows the mirror is being read (`None` for a repository opened by path).
    lease: Option<std::sync::Arc<()>>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Snapshot({})", self.commit)
    }
}

/// Splits a path into clean components; refuses `..`, absolute paths and NUL.
pub(crate) fn components(path: &str) -> Result<Vec<String>> {
    if path.starts_with('/') || path.contains('\0') || path.contains('\\') {
        return Err(SnapshotError::BadPath {
            path: path.to_string(),
            reason: "must be relative, with `/` separators",
        });
    }
    let mut out = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(SnapshotError::BadPath {
                    path: path.to_string(),
                    reason: "`..` is not allowed",
                });
            }
            p => out.push(p.to_string()),
        }
    }
    Ok(out)
}

impl Snapshot {
    /// A snapshot of `commit` in the repository at `git_dir`.
    pub fn open(git_dir: &std::path::Path, commit: &str, limits: ReadLimits) -> Result<Snapshot> {
        let repo = gix::open_opts(git_dir, gix::open::Options::isolated()).map_err(|e| {
            SnapshotError::Object {
                commit: commit.to_string(),
                what: format!("repository {}", git_dir.display()),
                detail: e.to_string(),
            }
        })?;
        Snapshot::from_repo(repo.into_sync(), commit, limits)
    }

    pub(crate) fn from_repo(
        repo: gix::ThreadSafeRepository,
        commit: &str,
        limits: ReadLimits,
    ) -> Result<Snapshot> {
        let id = ObjectId::from_hex(commit.as_bytes()).map_err(|e| SnapshotError::Object {
            commit: commit.to_string(),
            what: "commit id".into(),
            detail: e.to_string(),
        })?;
        let snap = Snapshot {
            repo,
            commit: id,
            limits,
            lease: None,
        };
        // Fail now, not on the first read, when the commit or its tree is unreadable.
        let repo = snap.repo.to_thread_local();
        let tree = snap.root_tree(&repo)?;
        snap.tree_entries(&repo, tree, "")?;
        Ok(snap)
    }

    /// The same snapshot, keeping `lease` alive as long as it (or a clone) lives.
    pub(crate) fn leased(mut self, lease: std::sync::Arc<()>) -> Snapshot {
        self.lease = Some(lease);
        self
    }

    /// The commit id (40 hex).
    pub fn commit(&self) -> String {
        self.commit.to_string()
    }

    /// The first line of the commit's message, cut to 50 characters and `...` as Flux's
    /// `Commit.ShortMessage` does (source-controller's "stored artifact for commit" event
    /// quotes it); `None` when the commit cannot be read.
    pub fn short_message(&self) -> Option<String> {
        let repo = self.repo.to_thread_local();
        let commit = repo.find_commit(self.commit).ok()?;
        let message = commit.message_raw().ok()?;
        let text = String::from_utf8_lossy(message.as_ref());
        let subject = text.split('\n').next().unwrap_or("");
        Some(if subject.chars().count() > 50 {
            format!("{}...", subject.chars().take(50).collect::<String>())
        } else {
            subject.to_string()
        })
    }

    /// The commit object as git stores it (headers, a blank line, the message): what a
    /// signature over the commit signs, once its `gpgsig` header is taken out.
    pub fn commit_object(&self) -> Result<Vec<u8>> {
        let repo = self.repo.to_thread_local();
        let object = repo
            .find_object(self.commit)
            .map_err(|e| self.err("commit object", e))?;
        Ok(object.data.clone())
    }

    /// The limits in force.
    pub fn limits(&self) -> ReadLimits {
        self.limits
    }

    fn err(&self, what: impl Into<String>, e: impl std::fmt::Display) -> SnapshotError {
        SnapshotError::Object {
            commit: self.commit.to_string(),
            what: what.into(),
            detail: e.to_string(),
        }
    }

    fn root_tree(&self, repo: &gix::Repository) -> Result<ObjectId> {
        let commit = repo
            .find_commit(self.commit)
            .map_err(|e| self.err("commit", e))?;
        commit
            .tree_id()
            .map(|id| id.detach())
            .map_err(|e| self.err("commit", e))
    }

    /// Entries of the tree `id` (name, kind, id).
    fn tree_entries(
        &self,
        repo: &gix::Repository,
        id: ObjectId,
        path: &str,
    ) -> Result<Vec<(String, GitKind, ObjectId)>> {
        let what = || format!("tree of {:?}", if path.is_empty() { "/" } else { path });
        let tree = repo.find_tree(id).map_err(|e| self.err(what(), e))?;
        let decoded = tree.decode().map_err(|e| self.err(what(), e))?;
        decoded
            .entries
            .iter()
            .map(|e| {
                let name = e.filename.to_string();
                // git itself refuses such names; a crafted tree object may not.
                if name.is_empty()
                    || name == "."
                    || name == ".."
                    || name.contains(['/', '\\', '\0'])
                {
                    return Err(SnapshotError::BadPath {
                        path: join(path, &name),
                        reason: "tree entry name is not a plain file name",
                    });
                }
                Ok((name, e.mode.kind(), e.oid.to_owned()))
            })
            .collect()
    }

    /// The size of blob `id`, refused when over the file limit.
    fn blob_size(&self, repo: &gix::Repository, id: ObjectId, path: &str) -> Result<u64> {
        let header = repo.find_header(id).map_err(|e| self.err(path, e))?;
        if header.size() > self.limits.max_file_bytes {
            return Err(SnapshotError::FileTooLarge {
                path: path.to_string(),
                size: header.size(),
                limit: self.limits.max_file_bytes,
            });
        }
        Ok(header.size())
    }

    fn blob(&self, repo: &gix::Repository, id: ObjectId, path: &str) -> Result<Vec<u8>> {
        self.blob_size(repo, id, path)?;
        let mut blob = repo.find_blob(id).map_err(|e| self.err(path, e))?;
        Ok(blob.take_data())
    }

    /// Finds `path`, following symlinks on the way (and the last component when
    /// `follow_last`), refusing any that leave `within`.
    fn lookup(
        &self,
        repo: &gix::Repository,
        path: &[String],
        within: &[String],
        follow_last: bool,
        hops: &mut u32,
    ) -> Result<Option<(GitKind, ObjectId, Vec<String>)>> {
        let mut tree = self.root_tree(repo)?;
        let mut here: Vec<String> = Vec::new();
        for (i, name) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            let shown = here.join("/");
            let Some((_, kind, id)) = self
                .tree_entries(repo, tree, &shown)?
                .into_iter()
                .find(|(n, _, _)| n == name)
            else {
                return Ok(None);
            };
            here.push(name.clone());
            match kind {
                GitKind::Link if !last || follow_last => {
                    let link = here.join("/");
                    *hops += 1;
                    if *hops > MAX_SYMLINK_HOPS {
                        return Err(SnapshotError::SymlinkLoop { path: link });
                    }
                    let target = String::from_utf8_lossy(&self.blob(repo, id, &link)?).into_owned();
                    let resolved = resolve_link(&here[..here.len() - 1], &target)
                        .filter(|p| p.starts_with(within))
                        .ok_or_else(|| SnapshotError::SymlinkEscapes {
                            path: link.clone(),
                            target: target.clone(),
                            root: within.join("/"),
                        })?;
                    let mut rest = resolved;
                    rest.extend_from_slice(&path[i + 1..]);
                    return self.lookup(repo, &rest, within, follow_last, hops);
                }
                GitKind::Tree => tree = id,
                _ if last => {}
                _ => return Ok(None),
            }
            if last {
                return Ok(Some((kind, id, here)));
            }
        }
        Ok(Some((GitKind::Tree, tree, here)))
    }

    /// The object id of what is at `path` (a tree for a directory, `""` for the root),
    /// without following a final symlink. `None` when nothing is there. An unchanged
    /// id means unchanged content.
    pub fn tree_id(&self, path: &str) -> Result<Option<String>> {
        let parts = components(path)?;
        let repo = self.repo.to_thread_local();
        let mut hops = 0;
        Ok(self
            .lookup(&repo, &parts, &[], false, &mut hops)?
            .map(|(_, id, _)| id.to_string()))
    }

    /// What is at `path`, following symlinks that stay in the repository.
    pub fn entry(&self, path: &str) -> Result<Option<EntryKind>> {
        let parts = components(path)?;
        let repo = self.repo.to_thread_local();
        let mut hops = 0;
        Ok(self
            .lookup(&repo, &parts, &[], true, &mut hops)?
            .map(|(k, _, _)| k.into()))
    }

    /// The contents of the file at `path`; symlinks are followed while they stay in
    /// the repository.
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        let parts = components(path)?;
        let repo = self.repo.to_thread_local();
        let mut hops = 0;
        match self.lookup(&repo, &parts, &[], true, &mut hops)? {
            None => Err(SnapshotError::NotFound {
                path: path.to_string(),
                commit: self.commit(),
            }),
            Some((GitKind::Tree, _, _)) => Err(SnapshotError::IsDirectory {
                path: path.to_string(),
            }),
            Some((GitKind::Commit, _, _)) => Err(SnapshotError::NotFound {
                path: format!("{path} (a submodule)"),
                commit: self.commit(),
            }),
            Some((_, id, _)) => self.blob(&repo, id, path),
        }
    }

    /// Every entry below `path`, recursively, in tree order; symlinks are listed as
    /// such, not followed.
    pub fn list(&self, path: &str) -> Result<Vec<Entry>> {
        let parts = components(path)?;
        let repo = self.repo.to_thread_local();
        let tree = self.dir_tree(&repo, &parts, path)?;
        let mut out = Vec::new();
        let mut stack = vec![(tree, parts.join("/"))];
        while let Some((tree, dir)) = stack.pop() {
            for (name, kind, id) in self.tree_entries(&repo, tree, &dir)? {
                let p = join(&dir, &name);
                if out.len() >= self.limits.max_files {
                    return Err(SnapshotError::ExportTooLarge {
                        path: path.to_string(),
                        limit: self.limits.max_files as u64,
                        unit: "files",
                    });
                }
                if kind == GitKind::Tree {
                    stack.push((id, p.clone()));
                }
                out.push(Entry {
                    path: p,
                    kind: kind.into(),
                    id: id.to_string(),
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    fn dir_tree(&self, repo: &gix::Repository, parts: &[String], path: &str) -> Result<ObjectId> {
        let mut hops = 0;
        match self.lookup(repo, parts, &[], true, &mut hops)? {
            None => Err(SnapshotError::NotFound {
                path: path.to_string(),
                commit: self.commit(),
            }),
            Some((GitKind::Tree, id, _)) => Ok(id),
            Some(_) => Err(SnapshotError::NotADirectory {
                path: path.to_string(),
            }),
        }
    }

    /// The files under directory `path`, with paths relative to it, minus what
    /// `ignore` excludes (matched on repository-relative paths; `.sourceignore` files
    /// in `path` and its parents are read as Flux does). A symlink is replaced by the
    /// file it points to when that stays under `path`; one that leaves is an error;
    /// links to directories, dangling links and submodules are left out.
    pub fn files(&self, path: &str, ignore: &IgnoreRules) -> Result<Vec<File>> {
        let repo = self.bulk_reader();
        let plan = self.plan(&repo, path, ignore)?;
        let mut contents: Vec<Option<Vec<u8>>> = vec![None; plan.len()];
        for i in self.pack_order(&repo, &plan) {
            contents[i] = Some(self.read_planned(&repo, &plan[i])?);
        }
        let mut out: Vec<File> = plan
            .into_iter()
            .zip(contents)
            .map(|(p, c)| File {
                path: p.path,
                contents: c.unwrap_or_default(),
                executable: p.executable,
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Writes the files that [`Snapshot::files`] returns below `dest`, which must be
    /// missing or empty, without holding them all in memory: blobs are decoded and
    /// written by up to `threads` threads. Everything that can fail on the snapshot's
    /// side (symlinks out, size limits, bad names) fails before anything is written.
    /// Executables get mode 0777, other files 0666, both less the umask (as git
    /// checks out). Returns how many files were written.
    pub fn write_files(
        &self,
        path: &str,
        ignore: &IgnoreRules,
        dest: &std::path::Path,
        threads: usize,
    ) -> Result<usize> {
        let repo = self.repo.to_thread_local();
        let plan = self.plan(&repo, path, ignore)?;
        let write_err = |p: &std::path::Path, e: std::io::Error| SnapshotError::Write {
            path: p.display().to_string(),
            source: e,
        };
        if dest.exists() {
            let mut entries = std::fs::read_dir(dest).map_err(|e| write_err(dest, e))?;
            if entries.next().is_some() {
                return Err(SnapshotError::Write {
                    path: dest.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::DirectoryNotEmpty,
                        "output directory is not empty",
                    ),
                });
            }
        }
        std::fs::create_dir_all(dest).map_err(|e| write_err(dest, e))?;
        // Every directory once, parents first (the set is sorted, and a parent sorts
        // before its children); `dest` is empty, so none exists yet.
        let mut dirs = std::collections::BTreeSet::new();
        for file in &plan {
            let mut p = file.path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                if !dirs.insert(parent) {
                    break;
                }
                p = parent;
            }
        }
        for dir in dirs {
            let p = dest.join(dir);
            std::fs::create_dir(&p).map_err(|e| write_err(&p, e))?;
        }
        // Pack order, cut into one contiguous run per thread: a delta's base is
        // mostly decoded just before it, by the same thread, from its cache.
        let order = self.pack_order(&repo, &plan);
        let threads = threads.clamp(1, 16).min(plan.len().max(1));
        let chunk = order.len().div_ceil(threads).max(1);
        let write_run = |run: &[usize]| -> Result<()> {
            let repo = self.bulk_reader();
            for &i in run {
                let file = &plan[i];
                let data = self.read_planned(&repo, file)?;
                let target = dest.join(&file.path);
                write_new(&target, &data, file.executable).map_err(|e| write_err(&target, e))?;
            }
            Ok(())
        };
        std::thread::scope(|scope| {
            let mut runs = order.chunks(chunk);
            let first = runs.next().unwrap_or(&[]);
            let workers: Vec<_> = runs
                .map(|run| scope.spawn(move || write_run(run)))
                .collect();
            // This thread takes the first run itself.
            let mine = write_run(first);
            workers
                .into_iter()
                .map(|w| w.join().expect("a writer thread panicked"))
                .fold(mine, Result::and)
        })?;
        Ok(plan.len())
    }

    /// The files an export consists of, checked against the limits, not yet read.
    fn plan(
        &self,
        repo: &gix::Repository,
        path: &str,
        ignore: &IgnoreRules,
    ) -> Result<Vec<Planned>> {
        let parts = components(path)?;
        let root_tree = self.dir_tree(repo, &parts, path)?;
        let mut ignore = ignore.clone();
        // `.sourceignore` files of the parent directories apply too.
        for depth in 0..parts.len() {
            let dir = parts[..depth].join("/");
            let mut hops = 0;
            let file: Vec<String> = components(&join(&dir, IGNORE_FILE))?;
            if let Some((GitKind::Blob | GitKind::BlobExecutable, id, _)) =
                self.lookup(repo, &file, &[], false, &mut hops)?
            {
                let text = self.blob(repo, id, &file.join("/"))?;
                ignore.add_sourceignore(&dir, &String::from_utf8_lossy(&text))?;
            }
        }
        let base = parts.join("/");
        let mut out = Vec::new();
        let mut total = 0u64;
        self.plan_dir(
            repo,
            root_tree,
            &base,
            &parts,
            &mut ignore,
            &mut out,
            &mut total,
        )?;
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn plan_dir(
        &self,
        repo: &gix::Repository,
        tree: ObjectId,
        dir: &str,
        root: &[String],
        ignore: &mut IgnoreRules,
        out: &mut Vec<Planned>,
        total: &mut u64,
    ) -> Result<()> {
        let entries = self.tree_entries(repo, tree, dir)?;
        // This directory's own `.sourceignore` applies to its contents.
        if let Some((_, _, id)) = entries.iter().find(|(n, k, _)| {
            n == IGNORE_FILE && matches!(k, GitKind::Blob | GitKind::BlobExecutable)
        }) {
            let text = self.blob(repo, *id, &join(dir, IGNORE_FILE))?;
            ignore.add_sourceignore(dir, &String::from_utf8_lossy(&text))?;
        }
        let base = root.join("/");
        let relative = |p: &str| -> String {
            if base.is_empty() {
                p.to_string()
            } else {
                p[base.len() + 1..].to_string()
            }
        };
        for (name, kind, id) in entries {
            let p = join(dir, &name);
            let is_dir = kind == GitKind::Tree;
            if ignore.is_ignored(&p, is_dir) {
                continue;
            }
            let (id, executable) = match kind {
                GitKind::Tree => {
                    self.plan_dir(repo, id, &p, root, ignore, out, total)?;
                    continue;
                }
                GitKind::Commit => continue,
                GitKind::Blob | GitKind::BlobExecutable => (id, kind == GitKind::BlobExecutable),
                GitKind::Link => {
                    let mut hops = 0;
                    let link = components(&p)?;
                    match self.lookup(repo, &link, root, true, &mut hops)? {
                        Some((k @ (GitKind::Blob | GitKind::BlobExecutable), target, _)) => {
                            (target, k == GitKind::BlobExecutable)
                        }
                        // Directories behind links are not expanded (no cycles), and
                        // dangling links have nothing to export.
                        _ => continue,
                    }
                }
            };
            *total += self.blob_size(repo, id, &p)?;
            if *total > self.limits.max_total_bytes {
                return Err(SnapshotError::ExportTooLarge {
                    path: base.clone(),
                    limit: self.limits.max_total_bytes,
                    unit: "bytes",
                });
            }
            if out.len() >= self.limits.max_files {
                return Err(SnapshotError::ExportTooLarge {
                    path: base.clone(),
                    limit: self.limits.max_files as u64,
                    unit: "files",
                });
            }
            out.push(Planned {
                path: relative(&p),
                shown: p,
                id,
                executable,
            });
        }
        Ok(())
    }

    /// A handle for reading many blobs: it keeps decoded objects, so a delta whose
    /// base was read just before is applied to that base instead of to its whole
    /// chain.
    fn bulk_reader(&self) -> gix::Repository {
        let mut repo = self.repo.to_thread_local();
        repo.objects.set_pack_cache(|| {
            Box::new(gix::odb::pack::cache::lru::MemoryCappedHashmap::new(
                BULK_CACHE_BYTES,
            ))
        });
        repo
    }

    /// The blob of a planned file (its size was checked when planning).
    fn read_planned(&self, repo: &gix::Repository, file: &Planned) -> Result<Vec<u8>> {
        let mut blob = repo
            .find_blob(file.id)
            .map_err(|e| self.err(&file.shown, e))?;
        Ok(blob.take_data())
    }

    /// The indices of `plan` in the order its blobs sit in the packs, loose objects
    /// last. A delta follows its base in a pack, so reading in this order with a
    /// cache of decoded objects resolves each delta once instead of walking its
    /// chain (up to 50 deep) from the start; see [`Snapshot::bulk_reader`].
    fn pack_order(&self, repo: &gix::Repository, plan: &[Planned]) -> Vec<usize> {
        let pack_dir = repo.objects.store_ref().path().join("pack");
        let indices: Vec<gix::odb::pack::index::File> = std::fs::read_dir(&pack_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .filter_map(|p| gix::odb::pack::index::File::at(p, gix::hash::Kind::Sha1).ok())
            .collect();
        let mut keyed: Vec<((usize, u64), usize)> = plan
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let at = indices
                    .iter()
                    .enumerate()
                    .find_map(|(n, idx)| {
                        idx.lookup(f.id.as_ref())
                            .map(|e| (n, idx.pack_offset_at_index(e)))
                    })
                    .unwrap_or((usize::MAX, 0));
                (at, i)
            })
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, i)| i).collect()
    }

    /// The paths (files, links and submodules, repository-relative) whose content
    /// differs between commit `base` and this snapshot: added, removed or changed.
    /// Subtrees with equal ids are skipped without being read.
    pub fn changed_paths(&self, base: &str) -> Result<Vec<String>> {
        let repo = self.repo.to_thread_local();
        let other = Snapshot {
            repo: self.repo.clone(),
            commit: ObjectId::from_hex(base.as_bytes())
                .map_err(|e| self.err("base commit id", e))?,
            limits: self.limits,
            lease: None,
        };
        let a = other.root_tree(&repo)?;
        let b = self.root_tree(&repo)?;
        let mut out = Vec::new();
        self.diff_trees(&repo, Some(a), Some(b), "", &mut out)?;
        out.sort();
        Ok(out)
    }

    fn diff_trees(
        &self,
        repo: &gix::Repository,
        a: Option<ObjectId>,
        b: Option<ObjectId>,
        dir: &str,
        out: &mut Vec<String>,
    ) -> Result<()> {
        if a == b {
            return Ok(());
        }
        let load = |t: Option<ObjectId>| -> Result<Vec<(String, GitKind, ObjectId)>> {
            t.map(|t| self.tree_entries(repo, t, dir))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let (ea, eb) = (load(a)?, load(b)?);
        let mut names: Vec<&String> = ea.iter().chain(eb.iter()).map(|(n, _, _)| n).collect();
        names.sort();
        names.dedup();
        for name in names {
            let p = join(dir, name);
            let x = ea
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, k, i)| (*k, *i));
            let y = eb
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, k, i)| (*k, *i));
            if x == y {
                continue;
            }
            let tree = |e: Option<(GitKind, ObjectId)>| {
                e.filter(|(k, _)| *k == GitKind::Tree).map(|(_, i)| i)
            };
            let (ta, tb) = (tree(x), tree(y));
            if ta.is_some() || tb.is_some() {
                self.diff_trees(repo, ta, tb, &p, out)?;
            }
            // A non-tree on either side is itself a changed path.
            let blobish = |e: Option<(GitKind, ObjectId)>| e.filter(|(k, _)| *k != GitKind::Tree);
            if blobish(x) != blobish(y) {
                out.push(p);
            }
        }
        Ok(())
    }
}

/// Creates `path`, which must not exist, holding `data`: one open, one write, one
/// close, with the mode set at creation.
fn write_new(path: &std::path::Path, data: &[u8], executable: bool) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if executable { 0o777 } else { 0o666 })
        .open(path)?
        .write_all(data)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Where a link in directory `dir` with `target` points, lexically; `None` when it
/// is absolute or climbs above the repository root.
fn resolve_link(dir: &[String], target: &str) -> Option<Vec<String>> {
    if target.starts_with('/') || target.contains('\0') {
        return None;
    }
    let mut parts = dir.to_vec();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c.to_string()),
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_resolution_is_lexical_and_bounded() {
        let dir = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            resolve_link(&dir, "../c"),
            Some(vec!["a".into(), "c".into()])
        );
        assert_eq!(resolve_link(&dir, "../../../etc/passwd"), None);
        assert_eq!(resolve_link(&dir, "/etc/passwd"), None);
    }

    #[test]
    fn paths_must_be_clean() {
        assert!(components("../x").is_err());
        assert!(components("/x").is_err());
        assert_eq!(components("./a//b/").unwrap(), vec!["a", "b"]);
    }
}
