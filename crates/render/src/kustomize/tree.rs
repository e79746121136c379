//! The read-only file tree a build reads from, and the path arithmetic that keeps every
//! read inside it.
//!
//! Paths are relative to the tree's root, use `/` and are normalized by [`join`]: no
//! `.`, no `..`, no empty components; the root itself is `""`. A path that would climb
//! above the root is refused there, before any tree sees it, so an implementation of
//! [`Tree`] only has to guard against what the path syntax cannot show: symlinks.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest file a [`DirTree`] reads unless told otherwise. Kustomization inputs are
/// small; a bigger file is far more likely an accident or an attack than a manifest.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a tree could not answer.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// Nothing exists at the path.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// The path is a directory where a file was expected.
    #[error("{path}: is a directory, not a file")]
    IsDirectory {
        /// The path asked for.
        path: String,
    },
    /// The path climbs above the tree's root, is absolute, or a symlink on it leads out.
    #[error("{path}: escapes the root of the tree ({reason})")]
    Escapes {
        /// The path as written.
        path: String,
        /// What made it escape.
        reason: &'static str,
    },
    /// The file is larger than the tree allows.
    #[error("{path}: file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The path asked for.
        path: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The operating system refused.
    #[error("{path}: {source}")]
    Io {
        /// The path asked for.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What is at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// A regular file (or a symlink to one inside the tree).
    File,
    /// A directory (or a symlink to one inside the tree).
    Dir,
}

/// A read-only view of a file tree. Paths are normalized by [`join`] (relative, `/`
/// separated, `""` for the root).
pub trait Tree {
    /// What is at `path`, or `None` when nothing is.
    fn entry(&self, path: &str) -> Result<Option<EntryKind>, TreeError>;
    /// The bytes of the file at `path`.
    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError>;
    /// The names and kinds of the entries directly inside the directory `path`, sorted by
    /// name. A symlink that leads out of the tree is an error, not an entry.
    fn list(&self, path: &str) -> Result<Vec<(String, EntryKind)>, TreeError>;
}

/// `base` joined with `rel` and normalized. `rel` must be relative; `..` may climb
/// within the tree but never above its root.
pub fn join(base: &str, rel: &str) -> Result<String, TreeError> {
    if rel.starts_with('/') || rel.starts_with('\\') || rel.contains('\0') {
        return Err(TreeError::Escapes {
            path: rel.to_string(),
            reason: "absolute paths are not allowed",
        });
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(TreeError::Escapes {
                        path: display_join(base, rel),
                        reason: "`..` climbs above the root",
                    });
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn display_join(base: &str, rel: &str) -> String {
    if base.is_empty() {
        rel.to_string()
    } else {
        format!("{base}/{rel}")
    }
}

/// Whether normalized `path` is `dir` or lies below it.
pub(crate) fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || (path.starts_with(dir) && path[dir.len()..].starts_with('/'))
}

/// A directory on disk. Symlinks are followed only while they stay inside the root;
/// files above a size limit are refused.
#[derive(Debug, Clone)]
pub struct DirTree {
    root: PathBuf,
    max_file_bytes: u64,
}

impl DirTree {
    /// The tree rooted at `root`, which must be an existing directory.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, TreeError> {
        let shown = root.as_ref().display().to_string();
        let root = root
            .as_ref()
            .canonicalize()
            .map_err(|source| TreeError::Io {
                path: shown.clone(),
                source,
            })?;
        if !root.is_dir() {
            return Err(TreeError::NotFound { path: shown });
        }
        Ok(DirTree {
            root,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        })
    }

    /// The same tree with another file size limit.
    pub fn with_max_file_bytes(mut self, limit: u64) -> Self {
        self.max_file_bytes = limit;
        self
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The real location of `path`, with symlinks resolved, or `None` if it does not
    /// exist. Refuses a location outside the root.
    fn resolve(&self, path: &str) -> Result<Option<PathBuf>, TreeError> {
        let joined = self.root.join(path);
        let real = match joined.canonicalize() {
            Ok(real) => real,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(TreeError::Io {
                    path: path.to_string(),
                    source,
                });
            }
        };
        if !real.starts_with(&self.root) {
            return Err(TreeError::Escapes {
                path: path.to_string(),
                reason: "a symlink leads outside the tree",
            });
        }
        Ok(Some(real))
    }
}

impl Tree for DirTree {
    fn entry(&self, path: &str) -> Result<Option<EntryKind>, TreeError> {
        let Some(real) = self.resolve(path)? else {
            return Ok(None);
        };
        let meta = std::fs::metadata(&real).map_err(|source| TreeError::Io {
            path: path.to_string(),
            source,
        })?;
        Ok(Some(if meta.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        }))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        let io = |source| TreeError::Io {
            path: path.to_string(),
            source,
        };
        let real = self.resolve(path)?.ok_or_else(|| TreeError::NotFound {
            path: path.to_string(),
        })?;
        let file = std::fs::File::open(&real).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(TreeError::IsDirectory {
                path: path.to_string(),
            });
        }
        let too_large = || TreeError::TooLarge {
            path: path.to_string(),
            limit: self.max_file_bytes,
        };
        if meta.len() > self.max_file_bytes {
            return Err(too_large());
        }
        // The size may change between the check and the read (a growing file, a fifo):
        // read at most one byte past the limit to notice.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(self.max_file_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(too_large());
        }
        Ok(bytes)
    }

    fn list(&self, path: &str) -> Result<Vec<(String, EntryKind)>, TreeError> {
        let io = |source| TreeError::Io {
            path: path.to_string(),
            source,
        };
        let real = self.resolve(path)?.ok_or_else(|| TreeError::NotFound {
            path: path.to_string(),
        })?;
        let mut entries = Vec::new();
        for dirent in std::fs::read_dir(&real).map_err(io)? {
            let name = dirent.map_err(io)?.file_name();
            let Some(name) = name.to_str() else {
                continue; // not addressable by a `/`-separated UTF-8 path
            };
            let child = join(path, name)?;
            // `entry` follows symlinks and refuses those leading out; a dangling one is
            // nothing.
            if let Some(kind) = self.entry(&child)? {
                entries.push((name.to_string(), kind));
            }
        }
        entries.sort();
        Ok(entries)
    }
}

/// Files held in memory (for example a git tree's blobs). Directories exist implicitly
/// as the parents of files.
#[derive(Debug, Clone, Default)]
pub struct MemTree {
    files: BTreeMap<String, Vec<u8>>,
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree holding `files` (path, contents); paths are normalized, and a path that
    /// would escape the root is dropped.
    pub fn from_files<P: AsRef<str>, C: AsRef<[u8]>>(
        files: impl IntoIterator<Item = (P, C)>,
    ) -> Self {
        let mut tree = Self::new();
        for (path, contents) in files {
            // An unrepresentable path cannot be read back either; dropping it is the
            // same as never having been given it.
            let _ = tree.insert(path.as_ref(), contents.as_ref().to_vec());
        }
        tree
    }

    /// Adds or replaces the file at `path`.
    pub fn insert(&mut self, path: &str, contents: Vec<u8>) -> Result<(), TreeError> {
        let path = join("", path)?;
        self.files.insert(path, contents);
        Ok(())
    }
}

impl Tree for MemTree {
    fn entry(&self, path: &str) -> Result<Option<EntryKind>, TreeError> {
        if self.files.contains_key(path) {
            return Ok(Some(EntryKind::File));
        }
        if path.is_empty() {
            return Ok(Some(EntryKind::Dir));
        }
        let prefix = format!("{path}/");
        let is_dir = self
            .files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix));
        Ok(is_dir.then_some(EntryKind::Dir))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        match self.files.get(path) {
            Some(bytes) => Ok(bytes.clone()),
            None if self.entry(path)?.is_some() => Err(TreeError::IsDirectory {
                path: path.to_string(),
            }),
            None => Err(TreeError::NotFound {
                path: path.to_string(),
            }),
        }
    }

    fn list(&self, path: &str) -> Result<Vec<(String, EntryKind)>, TreeError> {
        match self.entry(path)? {
            Some(EntryKind::Dir) => {}
            Some(EntryKind::File) => {
                return Err(TreeError::Io {
                    path: path.to_string(),
                    source: std::io::Error::other("not a directory"),
                });
            }
            None => {
                return Err(TreeError::NotFound {
                    path: path.to_string(),
                });
            }
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        // `a-b` sorts between `a` and `a/x`: gather by name, not by adjacency.
        let mut entries: BTreeMap<String, EntryKind> = BTreeMap::new();
        for key in self.files.range(prefix.clone()..).map(|(k, _)| k) {
            let Some(rest) = key.strip_prefix(&prefix) else {
                break;
            };
            let (name, kind) = match rest.split_once('/') {
                Some((dir, _)) => (dir, EntryKind::Dir),
                None => (rest, EntryKind::File),
            };
            entries.entry(name.to_string()).or_insert(kind);
        }
        Ok(entries.into_iter().collect())
    }
}

/// A tree with one file added or replaced (an edited kustomization, for example); every
/// other path reads through to the base tree.
pub struct WithFile<'t> {
    base: &'t dyn Tree,
    path: String,
    bytes: Vec<u8>,
}

impl<'t> WithFile<'t> {
    /// `base` with the file at `path` (a normalized tree path) holding `bytes`.
    pub fn new(base: &'t dyn Tree, path: String, bytes: Vec<u8>) -> Self {
        WithFile { base, path, bytes }
    }
}

impl Tree for WithFile<'_> {
    fn entry(&self, path: &str) -> Result<Option<EntryKind>, TreeError> {
        if path == self.path {
            return Ok(Some(EntryKind::File));
        }
        self.base.entry(path)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        if path == self.path {
            return Ok(self.bytes.clone());
        }
        self.base.read(path)
    }

    fn list(&self, path: &str) -> Result<Vec<(String, EntryKind)>, TreeError> {
        let mut entries = self.base.list(path)?;
        let (dir, name) = self.path.rsplit_once('/').unwrap_or(("", &self.path));
        if dir == path && !entries.iter().any(|(n, _)| n == name) {
            entries.push((name.to_string(), EntryKind::File));
            entries.sort();
        }
        Ok(entries)
    }
}

/// A tree with a second tree mounted at directory `at` (a pulled chart, where `helm pull
/// --untar` would have unpacked it): paths at or below `at` read from the mounted tree,
/// `at`'s ancestors are directories, everything else reads through to the base.
pub(crate) struct Mounted<'t> {
    base: &'t dyn Tree,
    at: String,
    mounted: &'t dyn Tree,
}

impl<'t> Mounted<'t> {
    /// `base` with `mounted` at `at`, a normalized path other than the root.
    pub(crate) fn new(base: &'t dyn Tree, at: String, mounted: &'t dyn Tree) -> Self {
        debug_assert!(!at.is_empty(), "the root cannot be a mount point");
        Mounted { base, at, mounted }
    }

    /// `path` in the mounted tree, when it lies at or below the mount point.
    fn inner<'p>(&self, path: &'p str) -> Option<&'p str> {
        if path == self.at {
            return Some("");
        }
        path.strip_prefix(&self.at)?.strip_prefix('/')
    }

    /// The mount point's child directly inside `path`, when `path` is one of its
    /// ancestors.
    fn child_towards_mount(&self, path: &str) -> Option<&str> {
        let rest = if path.is_empty() {
            self.at.as_str()
        } else {
            self.at.strip_prefix(path)?.strip_prefix('/')?
        };
        rest.split('/').next()
    }

    /// An error of the mounted tree with its path as the build knows it.
    fn outer_error(&self, e: TreeError) -> TreeError {
        let outer = |path: String| display_join(&self.at, &path);
        match e {
            TreeError::NotFound { path } => TreeError::NotFound { path: outer(path) },
            TreeError::IsDirectory { path } => TreeError::IsDirectory { path: outer(path) },
            TreeError::Escapes { path, reason } => TreeError::Escapes {
                path: outer(path),
                reason,
            },
            TreeError::TooLarge { path, limit } => TreeError::TooLarge {
                path: outer(path),
                limit,
            },
            TreeError::Io { path, source } => TreeError::Io {
                path: outer(path),
                source,
            },
        }
    }
}

impl Tree for Mounted<'_> {
    fn entry(&self, path: &str) -> Result<Option<EntryKind>, TreeError> {
        if let Some(inner) = self.inner(path) {
            return match self.mounted.entry(inner) {
                Ok(_) if inner.is_empty() => Ok(Some(EntryKind::Dir)),
                other => other.map_err(|e| self.outer_error(e)),
            };
        }
        if self.child_towards_mount(path).is_some() {
            return Ok(Some(EntryKind::Dir));
        }
        self.base.entry(path)
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, TreeError> {
        match self.inner(path) {
            Some(inner) => self.mounted.read(inner).map_err(|e| self.outer_error(e)),
            None if self.child_towards_mount(path).is_some() => Err(TreeError::IsDirectory {
                path: path.to_string(),
            }),
            None => self.base.read(path),
        }
    }

    fn list(&self, path: &str) -> Result<Vec<(String, EntryKind)>, TreeError> {
        if let Some(inner) = self.inner(path) {
            return self.mounted.list(inner).map_err(|e| self.outer_error(e));
        }
        let Some(child) = self.child_towards_mount(path) else {
            return self.base.list(path);
        };
        // The base may not have the directory at all (chartHome before the first pull).
        let mut entries = match self.base.list(path) {
            Ok(entries) => entries,
            Err(TreeError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        entries.retain(|(name, _)| name != child);
        entries.push((child.to_string(), EntryKind::Dir));
        entries.sort();
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalizes_and_refuses_climbing_out() {
        assert_eq!(join("a/b", "../c/./d").unwrap(), "a/c/d");
        assert_eq!(join("", "x/").unwrap(), "x");
        assert!(join("a", "../../x").is_err());
        assert!(join("a", "/etc/passwd").is_err());
    }

    #[test]
    fn mem_tree_has_implicit_directories() {
        let t = MemTree::from_files([("a/b/c.yaml", "x")]);
        assert_eq!(t.entry("a").unwrap(), Some(EntryKind::Dir));
        assert_eq!(t.entry("a/b/c.yaml").unwrap(), Some(EntryKind::File));
        assert_eq!(t.entry("a/bc").unwrap(), None);
        assert!(matches!(t.read("a"), Err(TreeError::IsDirectory { .. })));
    }

    #[test]
    fn mem_tree_lists_direct_children() {
        let tree = MemTree::from_files([
            ("a/x.yaml", ""),
            ("a/b/y.yaml", ""),
            ("a/b/z.yaml", ""),
            ("a-b", ""),
            ("top", ""),
        ]);
        let names = |p| tree.list(p).unwrap();
        assert_eq!(
            names(""),
            [
                ("a".to_string(), EntryKind::Dir),
                ("a-b".to_string(), EntryKind::File),
                ("top".to_string(), EntryKind::File)
            ]
        );
        assert_eq!(
            names("a"),
            [
                ("b".to_string(), EntryKind::Dir),
                ("x.yaml".to_string(), EntryKind::File)
            ]
        );
        assert!(matches!(tree.list("nope"), Err(TreeError::NotFound { .. })));
        assert!(tree.list("top").is_err());
    }

    #[test]
    fn dir_tree_lists_and_refuses_symlinks_out() {
        let dir = std::env::temp_dir().join(format!("flotilla-tree-list-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/sub")).unwrap();
        std::fs::write(dir.join("root/f.yaml"), "").unwrap();
        std::fs::write(dir.join("outside"), "secret").unwrap();
        let tree = DirTree::new(dir.join("root")).unwrap();
        assert_eq!(
            tree.list("").unwrap(),
            [
                ("f.yaml".to_string(), EntryKind::File),
                ("sub".to_string(), EntryKind::Dir)
            ]
        );
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join("outside"), dir.join("root/sub/link")).unwrap();
            assert!(matches!(tree.list("sub"), Err(TreeError::Escapes { .. })));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_mounted_tree_shows_at_its_mount_point() {
        let base = MemTree::from_files([("app/kustomization.yaml", "x"), ("app/charts/a", "")]);
        let chart = MemTree::from_files([("Chart.yaml", "c"), ("templates/t.yaml", "t")]);
        let t = Mounted::new(&base, "app/charts/web-1/web".into(), &chart);
        assert_eq!(t.entry("app/charts/web-1").unwrap(), Some(EntryKind::Dir));
        assert_eq!(
            t.entry("app/charts/web-1/web").unwrap(),
            Some(EntryKind::Dir)
        );
        assert_eq!(t.read("app/charts/web-1/web/Chart.yaml").unwrap(), b"c");
        assert_eq!(t.read("app/kustomization.yaml").unwrap(), b"x");
        assert_eq!(
            t.list("app/charts").unwrap(),
            [
                ("a".to_string(), EntryKind::File),
                ("web-1".to_string(), EntryKind::Dir)
            ]
        );
        assert_eq!(
            t.list("app/charts/web-1/web").unwrap(),
            [
                ("Chart.yaml".to_string(), EntryKind::File),
                ("templates".to_string(), EntryKind::Dir)
            ]
        );
        match t.read("app/charts/web-1/web/values.yaml") {
            Err(TreeError::NotFound { path }) => {
                assert_eq!(path, "app/charts/web-1/web/values.yaml")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.entry("app/charts/web-10").unwrap(), None);
    }

    #[test]
    fn within() {
        assert!(is_within("a/b", "a"));
        assert!(!is_within("ab", "a"));
        assert!(is_within("x", ""));
    }
}
