//! Which commit a reference names: Flux's `spec.ref` with its precedence, resolved
//! against the refs a remote advertises. Pure; the advertisement comes from the edge.

use serde::{Deserialize, Serialize};

use crate::semver::{Constraint, Version};

/// `spec.ref` of a Flux GitRepository. Precedence: commit > name > semver > tag >
/// branch; empty means the `master` branch (Flux's documented default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitRef {
    /// Branch to follow.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    /// Tag to check out; wins over `branch`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// Semver range over tags; wins over `tag`.
    #[serde(default, rename = "semver", skip_serializing_if = "String::is_empty")]
    pub semver: String,
    /// Full reference name (`refs/pull/1/head`); wins over `semver`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Commit id; wins over everything. With `branch`, the commit is fetched by id
    /// (Flux shallow-clones the branch and expects the commit in it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commit: String,
}

impl GitRef {
    /// The one reference this spec selects, by Flux's precedence.
    pub fn effective(&self) -> Reference {
        if !self.commit.is_empty() {
            return Reference::Commit {
                id: self.commit.to_ascii_lowercase(),
                branch: (!self.branch.is_empty()).then(|| self.branch.clone()),
            };
        }
        if !self.name.is_empty() {
            return Reference::Name(self.name.clone());
        }
        if !self.semver.is_empty() {
            return Reference::Semver(self.semver.clone());
        }
        if !self.tag.is_empty() {
            return Reference::Tag(self.tag.clone());
        }
        Reference::Branch(if self.branch.is_empty() {
            "master".to_string()
        } else {
            self.branch.clone()
        })
    }
}

/// What to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// The remote's `HEAD` (what `git clone` checks out). Not a Flux form; the CLI's
    /// default.
    Head,
    /// `refs/heads/<name>`.
    Branch(String),
    /// `refs/tags/<name>`, peeled to its commit.
    Tag(String),
    /// The highest tag that parses as a version and satisfies the range.
    Semver(String),
    /// A full reference name.
    Name(String),
    /// A commit id, optionally on a branch.
    Commit {
        /// Full 40-hex id.
        id: String,
        /// The branch it is expected on (only used in the revision string).
        branch: Option<String>,
    },
}

impl Reference {
    /// Parses the CLI's `--ref`: `branch:X`, `tag:X`, `semver:X`, `commit:X`, a full
    /// `refs/...` name, a 40-hex commit id, or a bare name (branch, else tag, at
    /// resolution time: see [`Reference::Name`] handling of bare names).
    pub fn parse_cli(s: &str) -> Reference {
        if let Some((kind, value)) = s.split_once(':') {
            match kind {
                "branch" => return Reference::Branch(value.to_string()),
                "tag" => return Reference::Tag(value.to_string()),
                "semver" => return Reference::Semver(value.to_string()),
                "commit" => {
                    return Reference::Commit {
                        id: value.to_ascii_lowercase(),
                        branch: None,
                    };
                }
                _ => {}
            }
        }
        if is_full_hex(s) {
            return Reference::Commit {
                id: s.to_ascii_lowercase(),
                branch: None,
            };
        }
        if s == "HEAD" {
            return Reference::Head;
        }
        Reference::Name(s.to_string())
    }
}

/// Whether `s` is a full object id (40 hex digits).
pub(crate) fn is_full_hex(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One advertised ref: name, the object it points at, and for annotated tags the
/// commit it peels to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedRef {
    /// Full name (`refs/heads/main`, `HEAD`).
    pub name: String,
    /// Object id (40 hex).
    pub id: String,
    /// Peeled id for annotated tags.
    pub peeled: Option<String>,
    /// For `HEAD`: the branch it points at, when the remote says.
    pub symref_target: Option<String>,
}

impl AdvertisedRef {
    /// The commit this ref ends at.
    pub fn commit(&self) -> &str {
        self.peeled.as_deref().unwrap_or(&self.id)
    }
}

/// Parses `git ls-remote --symref` output.
pub fn parse_ls_remote(out: &str) -> Vec<AdvertisedRef> {
    let mut listing = Listing::default();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("ref: ") {
            if let Some((target, name)) = rest.split_once('\t') {
                listing.symref(name, target);
            }
            continue;
        }
        let Some((id, name)) = line.split_once('\t') else {
            continue;
        };
        if is_full_hex(id) {
            listing.entry(id, name);
        }
    }
    listing.finish()
}

/// Refs as a remote lists them, one line at a time: a `name^{}` line peels the
/// annotated tag before it, symrefs are attached at the end (they may come first).
#[derive(Default)]
pub(crate) struct Listing {
    refs: Vec<AdvertisedRef>,
    symrefs: Vec<(String, String)>,
}

impl Listing {
    pub(crate) fn entry(&mut self, id: &str, name: &str) {
        if let Some(base) = name.strip_suffix("^{}") {
            if let Some(r) = self.refs.iter_mut().find(|r| r.name == base) {
                r.peeled = Some(id.to_string());
            }
            return;
        }
        self.refs.push(AdvertisedRef {
            name: name.to_string(),
            id: id.to_string(),
            peeled: None,
            symref_target: None,
        });
    }

    pub(crate) fn symref(&mut self, name: &str, target: &str) {
        self.symrefs.push((name.to_string(), target.to_string()));
    }

    pub(crate) fn finish(mut self) -> Vec<AdvertisedRef> {
        for (name, target) in self.symrefs {
            if let Some(r) = self.refs.iter_mut().find(|r| r.name == name) {
                r.symref_target = Some(target);
            }
        }
        self.refs
    }
}

/// A reference resolved against an advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The full ref name that was chosen (`None` for a bare commit).
    pub refname: Option<String>,
    /// The commit (40 hex) the remote says it points to; for a bare commit, the id
    /// asked for.
    pub commit: String,
    /// Whether the revision string uses the full ref name (Flux does for `name`).
    absolute: bool,
}

impl Resolved {
    /// A resolution of a bare commit id, no remote needed.
    pub fn commit(id: &str, branch: Option<&str>) -> Resolved {
        Resolved {
            refname: branch.map(|b| format!("refs/heads/{b}")),
            commit: id.to_string(),
            absolute: false,
        }
    }

    /// A resolution of a branch or tag `refname` (full name) to `commit`, learnt other
    /// than from an advertisement (a fetch of that ref).
    pub fn named(refname: &str, commit: &str) -> Resolved {
        Resolved {
            refname: Some(refname.to_string()),
            commit: commit.to_string(),
            absolute: false,
        }
    }

    /// Flux's artifact revision: `<short ref>@sha1:<commit>` (`main@sha1:…`,
    /// `v1.2.0@sha1:…`), `<full ref>@sha1:…` for `spec.ref.name`, `sha1:…` for a
    /// bare commit.
    pub fn revision(&self) -> String {
        revision(self.refname.as_deref(), &self.commit, self.absolute)
    }
}

/// Formats a Flux revision for `commit` reached through `refname`.
pub fn revision(refname: Option<&str>, commit: &str, absolute: bool) -> String {
    match refname {
        Some(r) if absolute => format!("{r}@sha1:{commit}"),
        Some(r) => {
            // Flux drops the first two path segments (`refs/heads/`, `refs/tags/`).
            let short = r.splitn(3, '/').nth(2).unwrap_or(r);
            format!("{short}@sha1:{commit}")
        }
        None => format!("sha1:{commit}"),
    }
}

/// A reference that names nothing on the remote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// The ref is not advertised (wording as Flux's go-git error).
    #[error("couldn't find remote ref {0:?}")]
    NotFound(String),
    /// No tag satisfies the range.
    #[error("no match found for semver: {0}")]
    NoSemverMatch(String),
    /// The range does not parse.
    #[error("semver parse error: {0}")]
    BadSemver(String),
    /// The commit id is not 40 hex digits.
    #[error("invalid commit id {0:?}: want 40 hexadecimal digits")]
    BadCommit(String),
}

/// Picks the commit `reference` names among `advertised`.
pub fn resolve(reference: &Reference, advertised: &[AdvertisedRef]) -> Result<Resolved, RefError> {
    let find = |name: &str| advertised.iter().find(|r| r.name == name);
    let found = |r: &AdvertisedRef, absolute: bool| Resolved {
        refname: Some(r.name.clone()),
        commit: r.commit().to_string(),
        absolute,
    };
    match reference {
        Reference::Head => {
            let head = find("HEAD").ok_or_else(|| RefError::NotFound("HEAD".into()))?;
            match &head.symref_target {
                Some(target) => Ok(Resolved {
                    refname: Some(target.clone()),
                    commit: head.id.clone(),
                    absolute: false,
                }),
                None => Ok(Resolved {
                    refname: None,
                    commit: head.id.clone(),
                    absolute: false,
                }),
            }
        }
        Reference::Branch(b) => {
            let name = format!("refs/heads/{b}");
            find(&name)
                .map(|r| found(r, false))
                .ok_or(RefError::NotFound(name))
        }
        Reference::Tag(t) => {
            let name = format!("refs/tags/{t}");
            find(&name)
                .map(|r| found(r, false))
                .ok_or(RefError::NotFound(name))
        }
        Reference::Name(n) if n.starts_with("refs/") || n == "HEAD" => find(n)
            .map(|r| found(r, true))
            .ok_or_else(|| RefError::NotFound(n.clone())),
        // A bare name from the CLI: a branch, else a tag (git's own order).
        Reference::Name(n) => find(&format!("refs/heads/{n}"))
            .or_else(|| find(&format!("refs/tags/{n}")))
            .map(|r| found(r, false))
            .ok_or_else(|| RefError::NotFound(n.clone())),
        Reference::Semver(range) => {
            let constraint =
                Constraint::parse(range).map_err(|e| RefError::BadSemver(e.to_string()))?;
            advertised
                .iter()
                .filter_map(|r| {
                    let tag = r.name.strip_prefix("refs/tags/")?;
                    let v = Version::parse(tag)?;
                    constraint.matches(&v).then_some((v, r))
                })
                // Highest version; equal versions (`v1.0.0` and `1.0.0`): the later
                // name, so the choice does not depend on advertisement order.
                .max_by(|(va, ra), (vb, rb)| va.cmp(vb).then_with(|| ra.name.cmp(&rb.name)))
                .map(|(_, r)| found(r, false))
                .ok_or_else(|| RefError::NoSemverMatch(range.clone()))
        }
        Reference::Commit { id, branch } => {
            if !is_full_hex(id) {
                return Err(RefError::BadCommit(id.clone()));
            }
            Ok(Resolved::commit(id, branch.as_deref()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const C: &str = "3333333333333333333333333333333333333333";
    const T: &str = "4444444444444444444444444444444444444444";

    fn ads() -> Vec<AdvertisedRef> {
        parse_ls_remote(&format!(
            "ref: refs/heads/main\tHEAD\n{A}\tHEAD\n{A}\trefs/heads/main\n{B}\trefs/heads/dev\n\
             {T}\trefs/tags/v1.2.0\n{C}\trefs/tags/v1.2.0^{{}}\n{B}\trefs/tags/v1.10.0\n\
             {A}\trefs/tags/v2.0.0-rc.1\n{A}\trefs/pull/7/head\n"
        ))
    }

    #[test]
    fn flux_precedence_commit_name_semver_tag_branch() {
        let all = GitRef {
            branch: "dev".into(),
            tag: "v1.2.0".into(),
            semver: ">=1.0.0".into(),
            name: "refs/pull/7/head".into(),
            commit: C.into(),
        };
        assert!(matches!(all.effective(), Reference::Commit { .. }));
        let no_commit = GitRef {
            commit: String::new(),
            ..all.clone()
        };
        assert_eq!(
            no_commit.effective(),
            Reference::Name("refs/pull/7/head".into())
        );
        let no_name = GitRef {
            name: String::new(),
            ..no_commit.clone()
        };
        assert_eq!(no_name.effective(), Reference::Semver(">=1.0.0".into()));
        let no_semver = GitRef {
            semver: String::new(),
            ..no_name
        };
        assert_eq!(no_semver.effective(), Reference::Tag("v1.2.0".into()));
        assert_eq!(
            GitRef::default().effective(),
            Reference::Branch("master".into())
        );
    }

    #[test]
    fn revisions_read_like_flux() {
        let ads = ads();
        let r = resolve(&Reference::Branch("main".into()), &ads).unwrap();
        assert_eq!(r.revision(), format!("main@sha1:{A}"));
        // Annotated tags resolve to the commit they peel to.
        let r = resolve(&Reference::Tag("v1.2.0".into()), &ads).unwrap();
        assert_eq!(r.revision(), format!("v1.2.0@sha1:{C}"));
        let r = resolve(&Reference::Name("refs/pull/7/head".into()), &ads).unwrap();
        assert_eq!(r.revision(), format!("refs/pull/7/head@sha1:{A}"));
        let r = resolve(
            &Reference::Commit {
                id: B.into(),
                branch: None,
            },
            &ads,
        )
        .unwrap();
        assert_eq!(r.revision(), format!("sha1:{B}"));
        let r = resolve(&Reference::Head, &ads).unwrap();
        assert_eq!(r.revision(), format!("main@sha1:{A}"));
        assert_eq!(
            revision(Some("refs/heads/feature/x"), A, false),
            format!("feature/x@sha1:{A}")
        );
    }

    #[test]
    fn semver_picks_the_highest_match_and_skips_prereleases() {
        let ads = ads();
        let r = resolve(&Reference::Semver(">=1.0.0".into()), &ads).unwrap();
        assert_eq!(r.refname.as_deref(), Some("refs/tags/v1.10.0"));
        let r = resolve(&Reference::Semver("~1.2".into()), &ads).unwrap();
        assert_eq!(r.commit, C);
        assert_eq!(
            resolve(&Reference::Semver(">=3".into()), &ads),
            Err(RefError::NoSemverMatch(">=3".into()))
        );
        assert!(matches!(
            resolve(&Reference::Semver("not a range".into()), &ads),
            Err(RefError::BadSemver(_))
        ));
    }

    #[test]
    fn missing_refs_are_named() {
        let ads = ads();
        let err = resolve(&Reference::Branch("invalid".into()), &ads).unwrap_err();
        assert_eq!(
            err.to_string(),
            "couldn't find remote ref \"refs/heads/invalid\""
        );
        assert_eq!(
            resolve(&Reference::Tag("v9".into()), &ads),
            Err(RefError::NotFound("refs/tags/v9".into()))
        );
        assert!(matches!(
            resolve(
                &Reference::Commit {
                    id: "abc".into(),
                    branch: None
                },
                &ads
            ),
            Err(RefError::BadCommit(_))
        ));
    }

    #[test]
    fn cli_ref_forms() {
        assert_eq!(
            Reference::parse_cli("semver:^1"),
            Reference::Semver("^1".into())
        );
        assert_eq!(Reference::parse_cli("dev"), Reference::Name("dev".into()));
        assert!(matches!(Reference::parse_cli(A), Reference::Commit { .. }));
        let ads = ads();
        let r = resolve(&Reference::parse_cli("dev"), &ads).unwrap();
        assert_eq!(r.revision(), format!("dev@sha1:{B}"));
        let r = resolve(&Reference::parse_cli("v1.2.0"), &ads).unwrap();
        assert_eq!(r.revision(), format!("v1.2.0@sha1:{C}"));
    }
}
