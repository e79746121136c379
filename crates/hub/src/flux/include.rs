//! A GitRepository's `spec.include`: other GitRepositories' artifacts copied into its
//! own, as source-controller does before it archives — the included artifact (or the
//! path `fromPath` in it) moved to `toPath`, which must not exist yet unless both are
//! files — and then the whole tree filtered by the including repository's exclusions
//! (a `.sourceignore` that came with an include counts too). Pure: the trees are in
//! memory.

use flotilla_render::kustomize::{EntryKind, MemTree, Tree, TreeError};
use flotilla_source::{IGNORE_FILE, IgnoreError, IgnoreRules, Include};

/// One include with the artifact it names.
pub struct Included<'a> {
    /// The spec entry.
    pub include: &'a Include,
    /// The included GitRepository's artifact.
    pub tree: &'a MemTree,
}

/// Why the artifact could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum IncludeError {
    /// The copy source-controller makes would fail.
    #[error("failed to copy '{name}' include from {from} to {to}: {reason}")]
    Copy {
        /// The included GitRepository.
        name: String,
        /// `fromPath` as written.
        from: String,
        /// `toPath` as written (or its default, the repository's name).
        to: String,
        /// Why, in the words of the failing file operation.
        reason: &'static str,
    },
    /// The exclusions could not be read.
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    /// Reading the in-memory trees failed.
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// `path` made relative to the artifact root with `..` stopping at the root, as
/// securejoin resolves it (no path leaves the artifact); `""` is the root.
pub fn confined(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// `parent` with the includes copied in, in order, then filtered by `rules` (the
/// including repository's exclusions without its sparse checkout, which limits only
/// its own clone).
pub fn compose(
    parent: &MemTree,
    includes: &[Included<'_>],
    rules: &IgnoreRules,
) -> Result<MemTree, IncludeError> {
    let mut out = parent.clone();
    for included in includes {
        copy_into(&mut out, included)?;
    }
    keep_unignored(&out, rules)
}

/// What the file operations source-controller makes (`MkdirAll` of the parent, then
/// Go's `os.Rename`) report when `to` cannot take what `from` is.
fn destination_conflict(
    out: &MemTree,
    to: &str,
    from_kind: EntryKind,
) -> Result<Option<&'static str>, TreeError> {
    // Every directory above `to` is created, which fails on a file.
    let mut above = to;
    while let Some((parent, _)) = above.rsplit_once('/') {
        if out.entry(parent)? == Some(EntryKind::File) {
            return Ok(Some("not a directory"));
        }
        above = parent;
    }
    Ok(match (from_kind, out.entry(to)?) {
        (_, None) | (EntryKind::File, Some(EntryKind::File)) => None,
        // Go's os.Rename refuses any existing directory as the destination.
        (_, Some(EntryKind::Dir)) => Some("file exists"),
        (EntryKind::Dir, Some(EntryKind::File)) => Some("not a directory"),
    })
}

fn copy_into(out: &mut MemTree, included: &Included<'_>) -> Result<(), IncludeError> {
    let include = included.include;
    let failed = |reason| IncludeError::Copy {
        name: include.repository.name.clone(),
        from: include.from_path.clone(),
        to: include.destination().to_string(),
        reason,
    };
    let from = confined(&include.from_path);
    let to = confined(include.destination());
    let Some(from_kind) = included.tree.entry(&from)? else {
        return Err(failed("no such file or directory"));
    };
    if let Some(reason) = destination_conflict(out, &to, from_kind)? {
        return Err(failed(reason));
    }
    match from_kind {
        EntryKind::File => out.insert(&to, included.tree.read(&from)?)?,
        EntryKind::Dir => {
            for path in files_below(included.tree, &from)? {
                let relative = if from.is_empty() {
                    path.as_str()
                } else {
                    &path[from.len() + 1..]
                };
                let destination = if to.is_empty() {
                    relative.to_string()
                } else {
                    format!("{to}/{relative}")
                };
                out.insert(&destination, included.tree.read(&path)?)?;
            }
        }
    }
    Ok(())
}

/// Every file below directory `dir`, as paths from the root.
fn files_below(tree: &MemTree, dir: &str) -> Result<Vec<String>, TreeError> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_string()];
    while let Some(dir) = pending.pop() {
        for (name, kind) in tree.list(&dir)? {
            let path = join(&dir, &name);
            match kind {
                EntryKind::File => out.push(path),
                EntryKind::Dir => pending.push(path),
            }
        }
    }
    Ok(out)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The files `rules` keep, walked as an export walks a commit: a directory's own
/// `.sourceignore` applies to what is below it, and nothing below an excluded
/// directory is kept.
fn keep_unignored(tree: &MemTree, rules: &IgnoreRules) -> Result<MemTree, IncludeError> {
    let mut rules = rules.clone();
    let mut out = MemTree::new();
    walk(tree, "", &mut rules, &mut out)?;
    Ok(out)
}

fn walk(
    tree: &MemTree,
    dir: &str,
    rules: &mut IgnoreRules,
    out: &mut MemTree,
) -> Result<(), IncludeError> {
    let entries = tree.list(dir)?;
    if entries
        .iter()
        .any(|(name, kind)| name == IGNORE_FILE && *kind == EntryKind::File)
    {
        let text = tree.read(&join(dir, IGNORE_FILE))?;
        rules.add_sourceignore(dir, &String::from_utf8_lossy(&text))?;
    }
    for (name, kind) in entries {
        let path = join(dir, &name);
        if rules.is_ignored(&path, kind == EntryKind::Dir) {
            continue;
        }
        match kind {
            EntryKind::Dir => walk(tree, &path, rules, out)?,
            EntryKind::File => out.insert(&path, tree.read(&path)?)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_source::LocalReference;

    fn tree(files: &[(&str, &str)]) -> MemTree {
        MemTree::from_files(files.iter().map(|(p, c)| (*p, c.as_bytes())))
    }

    fn include(name: &str, from: &str, to: &str) -> Include {
        Include {
            repository: LocalReference { name: name.into() },
            from_path: from.into(),
            to_path: to.into(),
        }
    }

    fn paths(tree: &MemTree) -> Vec<String> {
        files_below(tree, "")
            .unwrap()
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn compose_one(parent: &MemTree, spec: &Include, other: &MemTree) -> Result<MemTree, String> {
        compose(
            parent,
            &[Included {
                include: spec,
                tree: other,
            }],
            &IgnoreRules::flux(None).unwrap(),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn an_include_lands_under_its_name_or_to_path() {
        let parent = tree(&[("apps/kustomization.yaml", "resources: []\n")]);
        let shared = tree(&[("base/cm.yaml", "a"), ("README.md", "r")]);
        let whole = compose_one(&parent, &include("shared", "", ""), &shared).unwrap();
        assert_eq!(
            paths(&whole),
            [
                "apps/kustomization.yaml",
                "shared/README.md",
                "shared/base/cm.yaml"
            ]
        );
        let part =
            compose_one(&parent, &include("shared", "./base", "apps/base"), &shared).unwrap();
        assert_eq!(
            paths(&part),
            ["apps/base/cm.yaml", "apps/kustomization.yaml"]
        );
        assert_eq!(part.read("apps/base/cm.yaml").unwrap(), b"a");
        let file = compose_one(
            &parent,
            &include("shared", "README.md", "docs/x.md"),
            &shared,
        )
        .unwrap();
        assert_eq!(file.read("docs/x.md").unwrap(), b"r");
    }

    #[test]
    fn paths_never_leave_the_artifact() {
        assert_eq!(confined("../../etc"), "etc");
        assert_eq!(confined("/a/./b/../c/"), "a/c");
        assert_eq!(confined(".."), "");
        let parent = tree(&[("k.yaml", "k")]);
        let shared = tree(&[("x.yaml", "x")]);
        let out =
            compose_one(&parent, &include("shared", "../..", "../../../up"), &shared).unwrap();
        assert_eq!(paths(&out), ["k.yaml", "up/x.yaml"]);
    }

    #[test]
    fn a_copy_that_would_fail_is_an_error_naming_the_include() {
        let parent = tree(&[("shared/own.yaml", "o"), ("file", "f")]);
        let shared = tree(&[("x.yaml", "x"), ("d/y.yaml", "y")]);
        let cases = [
            (include("shared", "", ""), "from  to shared: file exists"),
            (include("shared", "", "/"), "from  to /: file exists"),
            (
                include("shared", "missing", "m"),
                "from missing to m: no such file or directory",
            ),
            (
                include("shared", "d", "file"),
                "from d to file: not a directory",
            ),
            (
                include("shared", "d", "file/below"),
                "from d to file/below: not a directory",
            ),
            (
                include("shared", "x.yaml", "shared"),
                "from x.yaml to shared: file exists",
            ),
        ];
        for (spec, expected) in cases {
            let message = compose_one(&parent, &spec, &shared).unwrap_err();
            assert_eq!(
                message,
                format!("failed to copy 'shared' include {expected}")
            );
        }
        // A file onto a file replaces it, as a rename does.
        let out = compose_one(&parent, &include("shared", "x.yaml", "file"), &shared).unwrap();
        assert_eq!(out.read("file").unwrap(), b"x");
    }

    #[test]
    fn the_including_repositorys_exclusions_apply_to_what_was_included() {
        let parent = tree(&[
            ("deploy/.sourceignore", "*.tmp\n"),
            ("deploy/app.yaml", "a"),
        ]);
        let shared = tree(&[
            ("cm.yaml", "c"),
            ("cm.tmp", "t"),
            ("logo.png", "p"),
            (".sourceignore", "private/\n"),
            ("private/key.yaml", "k"),
        ]);
        let out = compose_one(&parent, &include("shared", "", "deploy/shared"), &shared).unwrap();
        assert_eq!(
            paths(&out),
            [
                "deploy/.sourceignore",
                "deploy/app.yaml",
                "deploy/shared/.sourceignore",
                "deploy/shared/cm.yaml"
            ]
        );
    }
}
