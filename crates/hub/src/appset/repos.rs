//! The git generator's view of repositories ([`RepoFiles`]) over the hub's [`Sources`]:
//! each (repository, revision) is resolved and read once per reconcile, through the shared
//! mirror cache and per-commit trees, and the repositories read are remembered so a push
//! to one of them requeues the ApplicationSet.
//!
//! `RepoFiles` is synchronous, so generation runs on a blocking thread and this adapter
//! blocks on the async checkout there; it must never be called from an async task.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flotilla_fleet::appset::{RepoError, RepoFiles};
use flotilla_render::kustomize::{EntryKind, MemTree, Tree};
use flotilla_source::{GitUrl, Request};

use crate::sources::{Sources, argo_reference};

/// One revision's files.
struct Listing {
    tree: Arc<MemTree>,
    files: Vec<String>,
}

/// What reading one (repository URL, revision) gave.
type ReadResults = HashMap<(String, String), Result<Arc<Listing>, RepoError>>;

/// Repositories as the git generator reads them during one reconcile.
pub(crate) struct HubRepos {
    sources: Sources,
    runtime: tokio::runtime::Handle,
    interval: Duration,
    read: Mutex<ReadResults>,
    identities: Mutex<BTreeSet<String>>,
}

impl HubRepos {
    /// An adapter whose checkouts run on `runtime`; a remote younger than `interval` is
    /// not asked again (a push trigger overrides that).
    pub(crate) fn new(
        sources: Sources,
        runtime: tokio::runtime::Handle,
        interval: Duration,
    ) -> HubRepos {
        HubRepos {
            sources,
            runtime,
            interval,
            read: Mutex::default(),
            identities: Mutex::default(),
        }
    }

    /// Identities ([`GitUrl::identity`]) of every repository the generators asked for.
    pub(crate) fn identities(&self) -> BTreeSet<String> {
        crate::lock(&self.identities).clone()
    }

    fn listing(&self, repo_url: &str, revision: &str) -> Result<Arc<Listing>, RepoError> {
        if let Ok(url) = GitUrl::parse(repo_url) {
            crate::lock(&self.identities).insert(url.identity());
        }
        let key = (repo_url.to_string(), revision.to_string());
        if let Some(found) = crate::lock(&self.read).get(&key) {
            return found.clone();
        }
        let mut request = Request::new(repo_url, argo_reference(revision));
        request.interval = self.interval;
        let result = self
            .runtime
            .block_on(self.sources.tree(&request))
            .map_err(|e| RepoError::new(e.to_string()))
            .map(|source| {
                let mut files = Vec::new();
                walk(source.tree.as_ref(), "", &mut files);
                Arc::new(Listing {
                    tree: source.tree,
                    files,
                })
            });
        crate::lock(&self.read).insert(key, result.clone());
        result
    }
}

/// Every file under `dir`, depth first, as `/`-separated paths from the root.
fn walk(tree: &MemTree, dir: &str, out: &mut Vec<String>) {
    let Ok(entries) = tree.list(dir) else {
        return;
    };
    for (name, kind) in entries {
        let path = if dir.is_empty() {
            name
        } else {
            format!("{dir}/{name}")
        };
        match kind {
            EntryKind::Dir => walk(tree, &path, out),
            _ => out.push(path),
        }
    }
}

impl RepoFiles for HubRepos {
    fn list_files(&self, repo_url: &str, revision: &str) -> Result<Vec<String>, RepoError> {
        Ok(self.listing(repo_url, revision)?.files.clone())
    }

    fn read_file(&self, repo_url: &str, revision: &str, path: &str) -> Result<Vec<u8>, RepoError> {
        self.listing(repo_url, revision)?
            .tree
            .read(path)
            .map_err(|e| RepoError::new(format!("reading {path}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_every_file_with_full_paths() {
        let tree = MemTree::from_files([
            ("apps/a/config.yaml", "x"),
            ("apps/b/config.yaml", "y"),
            ("README.md", "z"),
            (".hidden/f", "h"),
        ]);
        let mut files = Vec::new();
        walk(&tree, "", &mut files);
        files.sort();
        assert_eq!(
            files,
            [
                ".hidden/f",
                "README.md",
                "apps/a/config.yaml",
                "apps/b/config.yaml"
            ]
        );
    }
}
