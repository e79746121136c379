//! Flux's exclusion rules for artifacts: gitignore-syntax patterns from the defaults,
//! from `.sourceignore` files (each scoped to its directory), and from `spec.ignore`.
//! Later layers overrule earlier ones; within a layer the last matching pattern wins
//! (git's rule), and a negation re-includes.

use std::path::PathBuf;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

/// The name of the per-directory ignore file.
pub const IGNORE_FILE: &str = ".sourceignore";

/// Always excluded (Flux's `ExcludeVCS`).
const EXCLUDE_VCS: &str = ".git/,.gitignore,.gitmodules,.gitattributes";
/// Excluded unless `spec.ignore` is set (Flux's `ExcludeExt`, `ExcludeCI`, `ExcludeExtra`).
const EXCLUDE_DEFAULT: &str = "*.jpg,*.jpeg,*.gif,*.png,*.wmv,*.flv,*.tar.gz,*.zip,\
.github/,.circleci/,.travis.yml,.gitlab-ci.yml,appveyor.yml,.drone.yml,cloudbuild.yaml,\
codeship-services.yml,codeship-steps.yml,**/.goreleaser.yml,**/.sops.yaml,**/.flux.yaml";

/// A pattern list could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: invalid ignore pattern: {reason}")]
pub struct IgnoreError {
    /// Where the pattern came from (`spec.ignore`, `apps/.sourceignore`).
    pub origin: String,
    /// The parser's reason.
    pub reason: String,
}

/// The rules in force for one export. Paths are relative to the repository root.
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    layers: Vec<Gitignore>,
    spec: Option<Gitignore>,
    /// With a sparse checkout, the only directories exported (repository-relative,
    /// without `./` or a trailing `/`).
    sparse: Option<Vec<String>>,
}

fn root() -> PathBuf {
    PathBuf::from("/")
}

fn layer(
    domain: &str,
    origin: &str,
    lines: impl IntoIterator<Item = String>,
) -> Result<Gitignore, IgnoreError> {
    let base = if domain.is_empty() {
        root()
    } else {
        root().join(domain)
    };
    let mut b = GitignoreBuilder::new(&base);
    for line in lines {
        b.add_line(None, &line).map_err(|e| IgnoreError {
            origin: origin.to_string(),
            reason: e.to_string(),
        })?;
    }
    b.build().map_err(|e| IgnoreError {
        origin: origin.to_string(),
        reason: e.to_string(),
    })
}

fn split_list(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',').map(str::to_string)
}

impl IgnoreRules {
    /// Flux's rules for a GitRepository: the VCS exclusions always, the default list
    /// unless `spec_ignore` is given (it overrides the defaults), then `spec_ignore`
    /// above any `.sourceignore` added later.
    pub fn flux(spec_ignore: Option<&str>) -> Result<IgnoreRules, IgnoreError> {
        let mut layers = vec![layer("", "default exclusions", split_list(EXCLUDE_VCS))?];
        if spec_ignore.is_none() {
            layers.push(layer(
                "",
                "default exclusions",
                split_list(EXCLUDE_DEFAULT),
            )?);
        }
        let spec = spec_ignore
            .map(|text| layer("", "spec.ignore", text.lines().map(str::to_string)))
            .transpose()?;
        Ok(IgnoreRules {
            layers,
            spec,
            sparse: None,
        })
    }

    /// No exclusions at all (the CLI's `source get` exports what git has).
    pub fn none() -> IgnoreRules {
        IgnoreRules {
            layers: vec![],
            spec: None,
            sparse: None,
        }
    }

    /// Adds the patterns of the `.sourceignore` in directory `dir` (relative to the
    /// repository root, `""` for the root).
    pub fn add_sourceignore(&mut self, dir: &str, text: &str) -> Result<(), IgnoreError> {
        let origin = if dir.is_empty() {
            IGNORE_FILE.to_string()
        } else {
            format!("{dir}/{IGNORE_FILE}")
        };
        self.layers
            .push(layer(dir, &origin, text.lines().map(str::to_string))?);
        Ok(())
    }

    /// Exports only `dirs` and what is below them (Flux's `spec.sparseCheckout`; a
    /// leading `./` and a trailing `/` are dropped). An empty list changes nothing.
    pub fn with_sparse_checkout(mut self, dirs: &[String]) -> IgnoreRules {
        let dirs: Vec<String> = dirs
            .iter()
            .map(|d| sparse_dir(d).to_string())
            .filter(|d| !d.is_empty())
            .collect();
        self.sparse = (!dirs.is_empty()).then_some(dirs);
        self
    }

    /// Whether `path` (relative to the repository root) is excluded. Callers check
    /// each directory before descending into it, so a file below an excluded
    /// directory is never asked about.
    pub fn is_ignored(&self, path: &str, is_dir: bool) -> bool {
        if let Some(dirs) = &self.sparse {
            let below = |d: &String| {
                path == d
                    || path
                        .strip_prefix(d.as_str())
                        .is_some_and(|r| r.starts_with('/'))
            };
            // A directory on the way to a sparse one is walked; nothing else outside is.
            let above =
                |d: &String| is_dir && d.strip_prefix(path).is_some_and(|r| r.starts_with('/'));
            if !dirs.iter().any(|d| below(d) || above(d)) {
                return true;
            }
        }
        let full = root().join(path);
        for gi in self.spec.iter().chain(self.layers.iter().rev()) {
            // A layer scoped to another directory does not apply.
            if !full.starts_with(gi.path()) {
                continue;
            }
            match gi.matched(&full, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}

/// A `spec.sparseCheckout` entry as a repository-relative directory.
pub(crate) fn sparse_dir(dir: &str) -> &str {
    let dir = dir.trim();
    let dir = dir.strip_prefix("./").unwrap_or(dir);
    dir.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_checkout_exports_only_its_directories() {
        let r = IgnoreRules::flux(None)
            .unwrap()
            .with_sparse_checkout(&["./deploy/".to_string(), "charts/web".to_string()]);
        assert!(!r.is_ignored("deploy", true));
        assert!(!r.is_ignored("deploy/app.yaml", false));
        assert!(!r.is_ignored("charts", true), "on the way to charts/web");
        assert!(!r.is_ignored("charts/web/Chart.yaml", false));
        assert!(r.is_ignored("charts/api", true));
        assert!(r.is_ignored("charts/index.yaml", false));
        assert!(
            r.is_ignored("deployments", true),
            "a prefix is not the directory"
        );
        assert!(r.is_ignored("README.md", false), "root files are left out");
        assert!(
            r.is_ignored("deploy/logo.png", false),
            "the other rules still apply"
        );
        let all = IgnoreRules::none().with_sparse_checkout(&[]);
        assert!(!all.is_ignored("anything", false));
    }

    #[test]
    fn flux_default_exclusions() {
        let r = IgnoreRules::flux(None).unwrap();
        assert!(r.is_ignored(".git", true));
        assert!(r.is_ignored(".github", true));
        assert!(r.is_ignored("apps/logo.png", false));
        assert!(r.is_ignored("apps/.sops.yaml", false));
        assert!(r.is_ignored("release.tar.gz", false));
        assert!(!r.is_ignored("apps/deploy.yaml", false));
        assert!(!r.is_ignored("apps", true));
    }

    #[test]
    fn spec_ignore_overrides_the_defaults_but_not_vcs() {
        let r = IgnoreRules::flux(Some("/*\n!/deploy\n")).unwrap();
        assert!(r.is_ignored("README.md", false));
        assert!(!r.is_ignored("deploy", true));
        assert!(!r.is_ignored("deploy/logo.png", false));
        assert!(r.is_ignored(".gitignore", false));
    }

    #[test]
    fn sourceignore_is_scoped_to_its_directory_and_may_reinclude() {
        let mut r = IgnoreRules::flux(None).unwrap();
        r.add_sourceignore("apps", "*.txt\n!keep.png\n").unwrap();
        assert!(r.is_ignored("apps/notes.txt", false));
        assert!(r.is_ignored("apps/sub/notes.txt", false));
        assert!(!r.is_ignored("notes.txt", false));
        assert!(!r.is_ignored("apps/keep.png", false));
        assert!(r.is_ignored("other/keep.png", false));
    }
}
