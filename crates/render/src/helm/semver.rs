//! Just enough of Masterminds semver v3 for charts: lenient versions (`1`, `v1.2`,
//! `1.2.3-rc.1+meta`) and constraints (`>=1.2 <2`, `~1.2`, `^1`, `1.x`, `1.2 - 1.4`, `||`)
//! to check dependency versions and a chart's `kubeVersion`.

use std::cmp::Ordering;

/// A semantic version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
}

impl Version {
    /// Parses leniently as Masterminds' `NewVersion`: optional `v`, missing minor/patch
    /// are 0.
    pub(crate) fn parse(s: &str) -> Option<Version> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = s.split_once('+').map_or(s, |(v, _)| v);
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) if !p.is_empty() => (c, p.to_string()),
            Some(_) => return None,
            None => (s, String::new()),
        };
        let mut parts = core.split('.');
        let num = |p: Option<&str>| -> Option<u64> {
            match p {
                None => Some(0),
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
                Some(_) => None,
            }
        };
        let major = num(Some(parts.next()?))?;
        let minor = num(parts.next())?;
        let patch = num(parts.next())?;
        if parts.next().is_some() {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch,
            pre,
        })
    }

    fn cmp(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => cmp_pre(&self.pre, &o.pre),
            })
    }
}

fn cmp_pre(a: &str, b: &str) -> Ordering {
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    _ => x.cmp(y),
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Whether `version` satisfies `constraint`; an unparsable version or constraint does not.
pub(crate) fn satisfies(constraint: &str, version: &str) -> bool {
    let Some(v) = Version::parse(version) else {
        return false;
    };
    constraint.split("||").any(|alt| {
        let alt = normalize_hyphen(alt.trim());
        // `>= 1.2` is one term: an operator alone joins the next word.
        let mut terms: Vec<String> = Vec::new();
        let mut pending = String::new();
        for w in alt.split([',', ' ']).filter(|t| !t.is_empty()) {
            if w.chars().all(|c| "<>=!~^".contains(c)) {
                pending.push_str(w);
            } else {
                terms.push(format!("{pending}{w}"));
                pending.clear();
            }
        }
        !terms.is_empty() && terms.iter().all(|t| term(t, &v).unwrap_or(false))
    })
}

/// `1.2 - 1.4` becomes `>=1.2 <=1.4`.
fn normalize_hyphen(s: &str) -> String {
    match s.split_once(" - ") {
        Some((a, b)) => format!(">={} <={}", a.trim(), b.trim()),
        None => s.to_string(),
    }
}

fn term(t: &str, v: &Version) -> Option<bool> {
    let ops = [">=", "<=", "!=", "=>", "=<", ">", "<", "=", "~>", "~", "^"];
    let (op, rest) = ops
        .iter()
        .find_map(|op| t.strip_prefix(op).map(|r| (*op, r.trim())))
        .unwrap_or(("", t));
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    let parts: Vec<&str> = rest.split(['-', '+']).next()?.split('.').collect();
    let wild = |p: Option<&&str>| p.is_none_or(|p| matches!(*p, "x" | "X" | "*"));
    let c = Version::parse(&rest.replace(['x', 'X', '*'], "0"))?;
    // A prerelease version only satisfies constraints that mention a prerelease.
    if !v.pre.is_empty() && c.pre.is_empty() {
        return Some(false);
    }
    let n = parts.len();
    let ord = v.cmp(&c);
    Some(match op {
        "" | "=" => {
            if wild(parts.first()) {
                true
            } else if n < 2 || wild(parts.get(1)) {
                v.major == c.major
            } else if n < 3 || wild(parts.get(2)) {
                v.major == c.major && v.minor == c.minor
            } else {
                ord == Ordering::Equal
            }
        }
        "!=" => ord != Ordering::Equal,
        ">" => {
            if n < 2 || wild(parts.get(1)) {
                v.major > c.major
            } else if n < 3 || wild(parts.get(2)) {
                (v.major, v.minor) > (c.major, c.minor)
            } else {
                ord == Ordering::Greater
            }
        }
        ">=" | "=>" => ord != Ordering::Less,
        "<" => ord == Ordering::Less,
        "<=" | "=<" => {
            if n < 2 || wild(parts.get(1)) {
                v.major <= c.major
            } else if n < 3 || wild(parts.get(2)) {
                (v.major, v.minor) <= (c.major, c.minor)
            } else {
                ord != Ordering::Greater
            }
        }
        "~" | "~>" => {
            ord != Ordering::Less
                && if n < 2 || wild(parts.get(1)) {
                    v.major == c.major
                } else {
                    v.major == c.major && v.minor == c.minor
                }
        }
        "^" => {
            ord != Ordering::Less
                && if c.major > 0 || n < 2 {
                    v.major == c.major
                } else if c.minor > 0 || n < 3 {
                    v.major == 0 && v.minor == c.minor
                } else {
                    ord == Ordering::Equal
                }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_as_masterminds() {
        assert!(satisfies(">=1.2.3", "1.3.0"));
        assert!(!satisfies(">=1.2.3", "1.2.2"));
        assert!(satisfies("~1.2", "1.2.9"));
        assert!(!satisfies("~1.2", "1.3.0"));
        assert!(satisfies("^1.2", "1.9.0"));
        assert!(!satisfies("^1.2", "2.0.0"));
        assert!(satisfies("1.x", "1.4.0"));
        assert!(satisfies("*", "3.0.0"));
        assert!(satisfies(">=1.0 <2.0 || >=3", "3.1.0"));
        assert!(satisfies("1.2 - 1.4", "1.3.0"));
        assert!(satisfies(">= 1.19-0", "1.20.0"));
        assert!(!satisfies(">=1.19", "1.20.0-rc.1"));
        assert!(satisfies("0.1.0", "0.1.0"));
        assert!(Version::parse("v1.20").is_some());
        assert!(Version::parse("abc").is_none());
    }
}
