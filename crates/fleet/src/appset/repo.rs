//! The Git input of the git generator, behind a trait so that the source crate can serve it
//! from its mirrors and tests from memory.

use std::collections::BTreeMap;

/// Reading a repository at a revision failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RepoError {
    /// What failed, for the ApplicationSet's status (never credentials).
    pub message: String,
}

impl RepoError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        RepoError {
            message: message.into(),
        }
    }
}

/// A Git repository's tree at a revision, as the git generator sees it.
///
/// Paths are relative to the repository root, `/`-separated, without a leading `./`.
/// Implementations must not follow symbolic links out of the repository (Argo CD's repo
/// server reads through them; we do not): a symlink is listed as a file whose content is the
/// link target, or not at all.
pub trait RepoFiles: Sync {
    /// Every file (blob) in the tree at `revision`.
    fn list_files(&self, repo_url: &str, revision: &str) -> Result<Vec<String>, RepoError>;

    /// The content of one file listed by [`RepoFiles::list_files`].
    fn read_file(&self, repo_url: &str, revision: &str, path: &str) -> Result<Vec<u8>, RepoError>;

    /// Every directory in the tree, hidden ones (a component starting with `.`) and the
    /// root excluded. The default derives them from the files, as Git has no empty
    /// directories.
    fn list_directories(&self, repo_url: &str, revision: &str) -> Result<Vec<String>, RepoError> {
        let mut directories = std::collections::BTreeSet::new();
        for file in self.list_files(repo_url, revision)? {
            let mut dir = file.as_str();
            while let Some((parent, _)) = dir.rsplit_once('/') {
                directories.insert(parent.to_string());
                dir = parent;
            }
        }
        Ok(directories
            .into_iter()
            .filter(|d| !d.split('/').any(|c| c.starts_with('.')))
            .collect())
    }
}

/// Repositories held in memory: `repo URL → revision → path → content`. For tests and for
/// callers that already have the files.
#[derive(Debug, Clone, Default)]
pub struct MemoryRepos {
    repos: BTreeMap<String, BTreeMap<String, BTreeMap<String, Vec<u8>>>>,
}

impl MemoryRepos {
    /// No repositories.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(
        &mut self,
        repo_url: &str,
        revision: &str,
        path: &str,
        content: impl Into<Vec<u8>>,
    ) {
        self.repos
            .entry(repo_url.to_string())
            .or_default()
            .entry(revision.to_string())
            .or_default()
            .insert(path.to_string(), content.into());
    }

    /// Removes a file; returns whether it existed.
    pub fn remove(&mut self, repo_url: &str, revision: &str, path: &str) -> bool {
        self.repos
            .get_mut(repo_url)
            .and_then(|revs| revs.get_mut(revision))
            .and_then(|files| files.remove(path))
            .is_some()
    }

    fn tree(
        &self,
        repo_url: &str,
        revision: &str,
    ) -> Result<&BTreeMap<String, Vec<u8>>, RepoError> {
        let revisions = self
            .repos
            .get(repo_url)
            .ok_or_else(|| RepoError::new(format!("repository not found: {repo_url}")))?;
        revisions.get(revision).ok_or_else(|| {
            RepoError::new(format!(
                "unable to resolve git revision {revision}: revision not found"
            ))
        })
    }
}

impl RepoFiles for MemoryRepos {
    fn list_files(&self, repo_url: &str, revision: &str) -> Result<Vec<String>, RepoError> {
        Ok(self.tree(repo_url, revision)?.keys().cloned().collect())
    }

    fn read_file(&self, repo_url: &str, revision: &str, path: &str) -> Result<Vec<u8>, RepoError> {
        self.tree(repo_url, revision)?
            .get(path)
            .cloned()
            .ok_or_else(|| RepoError::new(format!("file not found: {path}")))
    }
}
