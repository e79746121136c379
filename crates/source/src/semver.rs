//! Semantic versions and range constraints as Masterminds/semver v3 reads them (the
//! library Flux uses for `spec.ref.semver`): lenient versions (`v1`, `1.2`), `||`
//! alternatives, `,`/space conjunctions, `= != > < >= <=`, `~`, `^`, wildcards
//! (`x`, `X`, `*`) and hyphen ranges. A pre-release version only satisfies a
//! constraint whose own version carries a pre-release.

use std::cmp::Ordering;

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<String>,
}

impl Version {
    /// Parses `[v]MAJOR[.MINOR[.PATCH]][-PRE][+BUILD]`.
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = s.split_once('+').map_or(s, |(v, _)| v);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let mut parts = core.split('.');
        let num = |p: Option<&str>| -> Option<Option<u64>> {
            match p {
                None => Some(None),
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().ok().map(Some)
                }
                Some(_) => None,
            }
        };
        let major = num(parts.next())??;
        let minor = num(parts.next())?.unwrap_or(0);
        let patch = num(parts.next())?.unwrap_or(0);
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            Some("") => return None,
            Some(p) => p.split('.').map(str::to_string).collect(),
            None => vec![],
        };
        if pre
            .iter()
            .any(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch,
            pre,
        })
    }

    fn triple(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            major,
            minor,
            patch,
            pre: vec![],
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => cmp_pre(&self.pre, &other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn cmp_pre(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// A constraint expression could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid semver constraint {expr:?}: {reason}")]
pub struct ConstraintError {
    /// The expression.
    pub expr: String,
    /// What is wrong.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    /// Below the version, or at or above the one held here.
    Outside(Version),
}

/// One comparison: `op` against `version`, where `pre_ok` says whether pre-releases
/// of this major.minor.patch may match (the constraint named a pre-release).
#[derive(Debug, Clone)]
struct Cmp {
    op: Op,
    version: Version,
    pre_ok: bool,
}

/// A parsed constraint: alternatives of conjunctions.
#[derive(Debug, Clone)]
pub struct Constraint {
    any_of: Vec<Vec<Cmp>>,
}

impl Constraint {
    /// Parses a Masterminds constraint expression.
    pub fn parse(expr: &str) -> Result<Constraint, ConstraintError> {
        let err = |reason: &str| ConstraintError {
            expr: expr.to_string(),
            reason: reason.to_string(),
        };
        let mut any_of = Vec::new();
        for alt in expr.split("||") {
            let alt = alt.trim();
            if alt.is_empty() {
                return Err(err("empty alternative"));
            }
            let tokens = tokenize(alt);
            let mut all = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                // Hyphen range: `a - b`.
                if i + 2 < tokens.len() && tokens[i + 1] == "-" {
                    let (lo, _) = partial(&tokens[i]).ok_or_else(|| err("bad version in range"))?;
                    let (hi, hi_dirty) =
                        partial(&tokens[i + 2]).ok_or_else(|| err("bad version in range"))?;
                    all.push(cmp(Op::Ge, lo.fill()));
                    all.push(upper_of(hi, hi_dirty, true));
                    i += 3;
                    continue;
                }
                all.extend(
                    primitive(&tokens[i])
                        .ok_or_else(|| err(&format!("cannot parse {:?}", tokens[i])))?,
                );
                i += 1;
            }
            if all.is_empty() {
                return Err(err("no comparison"));
            }
            any_of.push(all);
        }
        Ok(Constraint { any_of })
    }

    /// Whether `v` satisfies the constraint.
    pub fn matches(&self, v: &Version) -> bool {
        self.any_of.iter().any(|all| {
            // Masterminds: a pre-release version matches only when some comparison of
            // the conjunction names a pre-release of the same major.minor.patch.
            let pre_allowed = v.pre.is_empty()
                || all.iter().any(|c| {
                    c.pre_ok
                        && (c.version.major, c.version.minor, c.version.patch)
                            == (v.major, v.minor, v.patch)
                });
            pre_allowed && all.iter().all(|c| c.check(v))
        })
    }
}

impl Cmp {
    fn check(&self, v: &Version) -> bool {
        let ord = v.cmp(&self.version);
        match &self.op {
            Op::Outside(until) => ord == Ordering::Less || v >= until,
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Gt => ord == Ordering::Greater,
            Op::Lt => ord == Ordering::Less,
            Op::Ge => ord != Ordering::Less,
            Op::Le => ord != Ordering::Greater,
        }
    }
}

fn cmp(op: Op, version: Version) -> Cmp {
    let pre_ok = !version.pre.is_empty();
    Cmp {
        op,
        version,
        pre_ok,
    }
}

/// Splits a conjunction on commas and spaces, keeping an operator glued to the
/// version that follows it (`>= 1.2` is one comparison).
fn tokenize(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in s
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
    {
        match out.last_mut() {
            Some(last) if is_operator_only(last) => last.push_str(raw),
            _ => out.push(raw.to_string()),
        }
    }
    out
}

fn is_operator_only(t: &str) -> bool {
    matches!(
        t,
        "=" | "!=" | ">" | "<" | ">=" | "<=" | "=<" | "=>" | "~" | "~>" | "^"
    )
}

/// A version that may have wildcard or missing parts: which parts were given.
#[derive(Debug, Clone)]
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Vec<String>,
}

impl Partial {
    fn fill(&self) -> Version {
        Version {
            major: self.major.unwrap_or(0),
            minor: self.minor.unwrap_or(0),
            patch: self.patch.unwrap_or(0),
            pre: self.pre.clone(),
        }
    }
}

/// Parses a version with wildcards; the flag says whether any part was a wildcard or
/// missing.
fn partial(s: &str) -> Option<(Partial, bool)> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let s = s.split_once('+').map_or(s, |(v, _)| v);
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, p.split('.').map(str::to_string).collect()),
        None => (s, vec![]),
    };
    let mut parts = core.split('.');
    let field = |p: Option<&str>| -> Option<Option<u64>> {
        match p {
            None | Some("x") | Some("X") | Some("*") => Some(None),
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().ok().map(Some)
            }
            Some(_) => None,
        }
    };
    let major = field(parts.next())?;
    let minor = field(parts.next())?;
    let patch = field(parts.next())?;
    if parts.next().is_some() {
        return None;
    }
    let dirty = major.is_none() || minor.is_none() || patch.is_none();
    Some((
        Partial {
            major,
            minor,
            patch,
            pre,
        },
        dirty,
    ))
}

/// The upper bound of a partial version: `1.2` → `< 1.3.0`, `1` → `< 2.0.0`, exact
/// `1.2.3` → `<= 1.2.3` (when `inclusive`).
fn upper_of(p: Partial, dirty: bool, inclusive: bool) -> Cmp {
    if !dirty {
        return cmp(if inclusive { Op::Le } else { Op::Lt }, p.fill());
    }
    match (p.major, p.minor) {
        (None, _) => cmp(Op::Ge, Version::triple(0, 0, 0)),
        (Some(m), None) => cmp(Op::Lt, Version::triple(m + 1, 0, 0)),
        (Some(m), Some(n)) => cmp(Op::Lt, Version::triple(m, n + 1, 0)),
    }
}

fn primitive(token: &str) -> Option<Vec<Cmp>> {
    let ops = [
        ("!=", "!="),
        (">=", ">="),
        ("=>", ">="),
        ("<=", "<="),
        ("=<", "<="),
        ("~>", "~"),
        (">", ">"),
        ("<", "<"),
        ("=", "="),
        ("~", "~"),
        ("^", "^"),
    ];
    let (op, rest) = ops
        .iter()
        .find_map(|(prefix, op)| token.strip_prefix(prefix).map(|r| (*op, r.trim())))
        .unwrap_or(("=", token));
    let (p, dirty) = partial(rest)?;
    let lower = p.fill();
    Some(match op {
        "=" if dirty => match p.major {
            None => vec![cmp(Op::Ge, Version::triple(0, 0, 0))],
            Some(_) => vec![cmp(Op::Ge, lower), upper_of(p, true, false)],
        },
        "=" => vec![cmp(Op::Eq, lower)],
        "!=" if dirty => {
            // `!= 1.2.x`: outside [1.2.0, 1.3.0).
            let Cmp { version: until, .. } = upper_of(p, true, false);
            vec![cmp(Op::Outside(until), lower)]
        }
        "!=" => vec![cmp(Op::Ne, lower)],
        ">" if dirty => {
            // `> 1.2` means above every 1.2.x.
            let Cmp { version: upper, .. } = upper_of(p, true, false);
            vec![cmp(Op::Ge, upper)]
        }
        ">" => vec![cmp(Op::Gt, lower)],
        ">=" => vec![cmp(Op::Ge, lower)],
        "<" => vec![cmp(Op::Lt, lower)],
        "<=" if dirty => vec![upper_of(p, true, true)],
        "<=" => vec![cmp(Op::Le, lower)],
        "~" => {
            let upper = match (p.major, p.minor) {
                (None, _) => return Some(vec![cmp(Op::Ge, Version::triple(0, 0, 0))]),
                (Some(m), None) => Version::triple(m + 1, 0, 0),
                (Some(m), Some(n)) => Version::triple(m, n + 1, 0),
            };
            vec![cmp(Op::Ge, lower), cmp(Op::Lt, upper)]
        }
        "^" => {
            let upper = match (p.major, p.minor, p.patch) {
                (None, _, _) => return Some(vec![cmp(Op::Ge, Version::triple(0, 0, 0))]),
                (Some(m), _, _) if m > 0 => Version::triple(m + 1, 0, 0),
                (Some(0), None, _) => Version::triple(1, 0, 0),
                (Some(0), Some(n), _) if n > 0 => Version::triple(0, n + 1, 0),
                (Some(0), Some(0), None) => Version::triple(0, 1, 0),
                (Some(0), Some(0), Some(z)) => Version::triple(0, 0, z + 1),
                _ => unreachable!("all major/minor/patch shapes are covered above"),
            };
            vec![cmp(Op::Ge, lower), cmp(Op::Lt, upper)]
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        Constraint::parse(c)
            .unwrap()
            .matches(&Version::parse(v).unwrap())
    }

    // Expectations from Masterminds/semver v3's constraints_test.go (checked by hand
    // against its documented semantics).
    #[test]
    fn basic_comparisons() {
        assert!(ok("1.2.3", "1.2.3"));
        assert!(!ok("1.2.3", "1.2.4"));
        assert!(ok(">=1.2.3", "1.3.0"));
        assert!(ok("> 1.2.3", "1.2.4"));
        assert!(!ok(">1.2.3", "1.2.3"));
        assert!(ok("<2", "1.9.9"));
        assert!(ok("!=1.2.3", "1.2.4"));
        assert!(ok("!=1.2.x", "1.3.0"));
        assert!(!ok("!=1.2.x", "1.2.5"));
        assert!(ok(">= 1.2, < 2.0", "1.5.0"));
        assert!(!ok(">= 1.2, < 2.0", "2.0.0"));
        assert!(ok(">=1.2 <2.0", "1.5.0"));
        assert!(ok("1.x || >=3", "3.1.0"));
        assert!(ok("v1.2.x", "v1.2.9"));
    }

    #[test]
    fn tilde_caret_wildcards_and_hyphens() {
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("~1", "1.9.0"));
        assert!(ok("^1.2.3", "1.9.0"));
        assert!(!ok("^1.2.3", "2.0.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok("^0.0.3", "0.0.3"));
        assert!(!ok("^0.0.3", "0.0.4"));
        assert!(ok("1.2.x", "1.2.0"));
        assert!(!ok("1.2.x", "1.3.0"));
        assert!(ok("*", "5.0.0"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(ok("1.2 - 1.4", "1.4.9"));
        assert!(ok("<=1.2", "1.2.9"));
        assert!(ok(">1.2", "1.3.0"));
        assert!(!ok(">1.2", "1.2.9"));
    }

    #[test]
    fn prereleases_need_a_prerelease_constraint() {
        assert!(!ok(">=1.0.0", "1.2.0-rc.1"));
        assert!(ok(">=1.2.0-rc.0", "1.2.0-rc.1"));
        assert!(Version::parse("1.2.0-rc.10") > Version::parse("1.2.0-rc.2"));
        assert!(Version::parse("1.0.0") > Version::parse("1.0.0-alpha"));
    }

    #[test]
    fn lenient_versions_and_bad_input() {
        assert_eq!(Version::parse("v1"), Version::parse("1.0.0"));
        assert!(Version::parse("latest").is_none());
        assert!(Version::parse("1.2.3.4").is_none());
        assert!(Constraint::parse(">= one").is_err());
        assert!(Constraint::parse("").is_err());
        assert!(Constraint::parse("1 ||").is_err());
    }
}
