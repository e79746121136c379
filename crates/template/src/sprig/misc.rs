//! Sprig defaults, type tests, JSON, encodings, paths, regular expressions, URLs and semver.

use super::{empty, strval, want_int, want_str};
use crate::error::FuncError;
use crate::funcs::{Arity, FuncResult, Functions};
use crate::gojson;
use crate::value::Value;
use base64::Engine as _;
use std::collections::BTreeMap;

pub(super) fn register(f: &mut Functions) {
    use Arity::{AtLeast, Exact};
    f.register("default", AtLeast(1), |a| {
        Ok(match a.get(1) {
            Some(given) if !empty(given) => given.clone(),
            _ => a[0].clone(),
        })
    });
    f.register("empty", Exact(1), |a| Ok(Value::Bool(empty(&a[0]))));
    f.register("coalesce", AtLeast(0), |a| {
        Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or_default())
    });
    f.register("all", AtLeast(0), |a| {
        Ok(Value::Bool(a.iter().all(|v| !empty(v))))
    });
    f.register("any", AtLeast(0), |a| {
        Ok(Value::Bool(a.iter().any(|v| !empty(v))))
    });
    f.register("ternary", Exact(3), |a| match &a[2] {
        Value::Bool(b) => Ok(if *b { a[0].clone() } else { a[1].clone() }),
        other => Err(FuncError::msg(format!(
            "wrong type for value; expected bool; got {}",
            other.go_type()
        ))),
    });
    f.register("fail", Exact(1), |a| {
        Err(FuncError::msg(want_str(&a[0], "fail")?))
    });

    f.register("typeOf", Exact(1), |a| Ok(Value::from(a[0].go_type())));
    f.register("typeIs", Exact(2), |a| {
        Ok(Value::Bool(want_str(&a[0], "typeIs")? == a[1].go_type()))
    });
    f.register("typeIsLike", Exact(2), |a| {
        let t = want_str(&a[0], "typeIsLike")?;
        Ok(Value::Bool(
            t == a[1].go_type() || t.strip_prefix('*') == Some(a[1].go_type()),
        ))
    });
    f.register("kindOf", Exact(1), |a| Ok(Value::from(a[0].go_kind())));
    f.register("kindIs", Exact(2), |a| {
        Ok(Value::Bool(want_str(&a[0], "kindIs")? == a[1].go_kind()))
    });
    f.register("deepEqual", Exact(2), |a| Ok(Value::Bool(a[0] == a[1])));

    f.register("fromJson", Exact(1), |a| {
        Ok(gojson::decode(want_str(&a[0], "fromJson")?).unwrap_or_default())
    });
    f.register("mustFromJson", Exact(1), |a| {
        gojson::decode(want_str(&a[0], "mustFromJson")?).map_err(FuncError::msg)
    });
    for name in ["toJson", "mustToJson"] {
        f.register(name, Exact(1), |a| {
            Ok(Value::from(gojson::encode(&a[0], true, None)))
        });
    }
    for name in ["toPrettyJson", "mustToPrettyJson"] {
        f.register(name, Exact(1), |a| {
            Ok(Value::from(gojson::encode(&a[0], true, Some("  "))))
        });
    }
    for name in ["toRawJson", "mustToRawJson"] {
        f.register(name, Exact(1), |a| {
            Ok(Value::from(gojson::encode(&a[0], false, None)))
        });
    }

    use base64::engine::general_purpose::STANDARD as B64;
    f.register("b64enc", Exact(1), |a| {
        Ok(Value::from(B64.encode(strval(&a[0]))))
    });
    f.register("b64dec", Exact(1), |a| {
        Ok(Value::from(match B64.decode(strval(&a[0])) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => e.to_string(),
        }))
    });
    f.register("b32enc", Exact(1), |a| {
        Ok(Value::from(base32_encode(strval(&a[0]).as_bytes())))
    });
    f.register("b32dec", Exact(1), |a| {
        Ok(Value::from(match base32_decode(&strval(&a[0])) {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => "illegal base32 data".to_string(),
        }))
    });

    for (name, func) in [
        ("base", path_base as fn(&str) -> String),
        ("dir", path_dir),
        ("clean", path_clean),
        ("ext", path_ext),
        ("osBase", path_base),
        ("osDir", path_dir),
        ("osClean", path_clean),
        ("osExt", path_ext),
    ] {
        f.register(name, Exact(1), move |a| {
            Ok(Value::from(func(&strval(&a[0]))))
        });
    }
    for name in ["isAbs", "osIsAbs"] {
        f.register(name, Exact(1), |a| {
            Ok(Value::Bool(strval(&a[0]).starts_with('/')))
        });
    }

    for name in ["regexMatch", "mustRegexMatch"] {
        f.register(name, Exact(2), |a| {
            let re = regex(&a[0])?;
            Ok(Value::Bool(re.is_match(want_str(&a[1], "regexMatch")?)))
        });
    }
    for name in ["regexFindAll", "mustRegexFindAll"] {
        f.register(name, Exact(3), |a| {
            let re = regex(&a[0])?;
            let s = want_str(&a[1], "regexFindAll")?;
            let n = want_int(&a[2], "regexFindAll")?;
            let limit = if n < 0 { usize::MAX } else { n as usize };
            Ok(Value::list(
                re.find_iter(s)
                    .take(limit)
                    .map(|m| Value::from(m.as_str()))
                    .collect(),
            ))
        });
    }
    for name in ["regexFind", "mustRegexFind"] {
        f.register(name, Exact(2), |a| {
            let re = regex(&a[0])?;
            let s = want_str(&a[1], "regexFind")?;
            Ok(Value::from(re.find(s).map_or("", |m| m.as_str())))
        });
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        f.register(name, Exact(3), |a| {
            let re = regex(&a[0])?;
            let s = want_str(&a[1], "regexReplaceAll")?;
            let repl = want_str(&a[2], "regexReplaceAll")?;
            Ok(Value::from(re.replace_all(s, repl).into_owned()))
        });
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        f.register(name, Exact(3), |a| {
            let re = regex(&a[0])?;
            let s = want_str(&a[1], "regexReplaceAllLiteral")?;
            let repl = want_str(&a[2], "regexReplaceAllLiteral")?;
            Ok(Value::from(
                re.replace_all(s, regex::NoExpand(repl)).into_owned(),
            ))
        });
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        f.register(name, Exact(3), |a| {
            let re = regex(&a[0])?;
            let s = want_str(&a[1], "regexSplit")?;
            let n = want_int(&a[2], "regexSplit")?;
            Ok(Value::list(
                regex_split(&re, s, n)
                    .into_iter()
                    .map(Value::from)
                    .collect(),
            ))
        });
    }
    f.register("regexQuoteMeta", Exact(1), |a| {
        let mut out = String::new();
        for c in want_str(&a[0], "regexQuoteMeta")?.chars() {
            if "\\.+*?()|[]{}^$".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
        Ok(Value::from(out))
    });

    f.register("urlParse", Exact(1), |a| {
        url_parse(want_str(&a[0], "urlParse")?)
    });
    f.register("urlJoin", Exact(1), |a| url_join(&a[0]));

    f.register("semver", Exact(1), |a| {
        let v = Version::parse(want_str(&a[0], "semver")?).map_err(FuncError::msg)?;
        Ok(v.to_value())
    });
    f.register("semverCompare", Exact(2), |a| {
        let c = want_str(&a[0], "semverCompare")?;
        let v = Version::parse(want_str(&a[1], "semverCompare")?).map_err(FuncError::msg)?;
        constraint_matches(c, &v)
            .map(Value::Bool)
            .map_err(FuncError::msg)
    });
}

fn regex(v: &Value) -> Result<regex::Regex, FuncError> {
    let pat = want_str(v, "regex")?;
    regex::Regex::new(pat).map_err(|e| FuncError::msg(format!("error parsing regexp: {e}")))
}

/// Go's `Regexp.Split`.
fn regex_split(re: &regex::Regex, s: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !re.as_str().is_empty() && s.is_empty() {
        return vec![String::new()];
    }
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in re.find_iter(s).take(limit) {
        if n > 0 && out.len() == limit - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            out.push(s[beg..end].to_string());
        }
        beg = m.end();
    }
    if end != s.len() {
        out.push(s[beg..].to_string());
    }
    out
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::new();
    let (mut buf, mut n) = (0u64, 0);
    for c in s.bytes() {
        let v = B32.iter().position(|b| *b == c)? as u64;
        buf = buf << 5 | v;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((buf >> n) as u8);
            buf &= (1 << n) - 1;
        }
    }
    Some(out)
}

/// Go's `path.Clean`.
pub(crate) fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

fn path_ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return p[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}

fn url_parse(s: &str) -> FuncResult {
    let mut m = BTreeMap::new();
    let (rest, fragment) = s.split_once('#').unwrap_or((s, ""));
    let mut rest = rest;
    let mut scheme = "";
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        if !cand.is_empty()
            && cand.starts_with(|c: char| c.is_ascii_alphabetic())
            && cand
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            scheme = cand;
            rest = &rest[i + 1..];
        }
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (mut host, mut userinfo, mut path, mut opaque) = ("", "", rest, "");
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        path = &after[end..];
        match authority.rsplit_once('@') {
            Some((u, h)) => {
                userinfo = u;
                host = h;
            }
            None => host = authority,
        }
    } else if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest;
        path = "";
    }
    let hostname = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    for (k, v) in [
        ("scheme", scheme),
        ("host", host),
        (
            "hostname",
            hostname.trim_start_matches('[').trim_end_matches(']'),
        ),
        ("path", path),
        ("query", query),
        ("opaque", opaque),
        ("fragment", fragment),
        ("userinfo", userinfo),
    ] {
        m.insert(k.to_string(), Value::from(v));
    }
    Ok(Value::map(m))
}

fn url_join(v: &Value) -> FuncResult {
    let Value::Map(m) = v else {
        return Err(FuncError::msg(format!(
            "urlJoin: expected a dict, got {}",
            v.go_type()
        )));
    };
    let get = |k: &str| m.get(k).map(|v| strval(&v)).unwrap_or_default();
    let (scheme, host, path, query, opaque, fragment, user) = (
        get("scheme"),
        get("host"),
        get("path"),
        get("query"),
        get("opaque"),
        get("fragment"),
        get("userinfo"),
    );
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !user.is_empty() {
            out.push_str("//");
            if !user.is_empty() {
                out.push_str(&user);
                out.push('@');
            }
            out.push_str(&host);
        }
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&path);
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&fragment);
    }
    Ok(Value::from(out))
}

/// A Masterminds semver version (lenient: `v` prefix and missing minor/patch allowed).
#[derive(Debug, Clone, PartialEq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    meta: String,
    original: String,
}

impl Version {
    fn parse(s: &str) -> Result<Self, String> {
        let invalid = || "Invalid Semantic Version".to_string();
        let t = s.strip_prefix('v').unwrap_or(s);
        let (t, meta) = t.split_once('+').unwrap_or((t, ""));
        let (core, pre) = t.split_once('-').unwrap_or((t, ""));
        let nums: Vec<&str> = core.split('.').collect();
        if nums.is_empty() || nums.len() > 3 || nums.iter().any(|n| n.is_empty()) {
            return Err(invalid());
        }
        let num = |i: usize| -> Result<u64, String> {
            nums.get(i)
                .map_or(Ok(0), |n| n.parse().map_err(|_| invalid()))
        };
        Ok(Version {
            major: num(0)?,
            minor: num(1)?,
            patch: num(2)?,
            pre: pre.to_string(),
            meta: meta.to_string(),
            original: s.to_string(),
        })
    }

    fn to_value(&self) -> Value {
        let mut m = BTreeMap::new();
        m.insert("Major".into(), Value::Int(self.major as i64));
        m.insert("Minor".into(), Value::Int(self.minor as i64));
        m.insert("Patch".into(), Value::Int(self.patch as i64));
        m.insert("Prerelease".into(), Value::from(self.pre.as_str()));
        m.insert("Metadata".into(), Value::from(self.meta.as_str()));
        m.insert("Original".into(), Value::from(self.original.as_str()));
        Value::map(m)
    }

    fn cmp(&self, o: &Version) -> std::cmp::Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

fn cmp_pre(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Equal,
        (true, false) => return Greater,
        (false, true) => return Less,
        _ => {}
    }
    for (x, y) in a.split('.').zip(b.split('.')) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            (Ok(_), Err(_)) => Less,
            (Err(_), Ok(_)) => Greater,
            _ => x.cmp(y),
        };
        if o != Equal {
            return o;
        }
    }
    a.split('.').count().cmp(&b.split('.').count())
}

/// Masterminds constraint check: `||` of comma/space separated ANDs; operators `= != > < >= <=
/// ~ ^`, wildcards `x`/`*`, and hyphen ranges.
fn constraint_matches(c: &str, v: &Version) -> Result<bool, String> {
    for alt in c.split("||") {
        let alt = alt.trim();
        // Hyphen range "a - b".
        if let Some((lo, hi)) = alt.split_once(" - ") {
            let ok =
                single(&format!(">={}", lo.trim()), v)? && single(&format!("<={}", hi.trim()), v)?;
            if ok {
                return Ok(true);
            }
            continue;
        }
        let mut all = true;
        let mut any = false;
        let mut pending_op = String::new();
        for part in alt.split([',', ' ']).filter(|p| !p.is_empty()) {
            if part.chars().all(|c| "<>=!~^".contains(c)) {
                pending_op = part.to_string();
                continue;
            }
            any = true;
            let term = format!("{pending_op}{part}");
            pending_op.clear();
            if !single(&term, v)? {
                all = false;
            }
        }
        if !any {
            return Err(format!("improper constraint: {c}"));
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

fn single(term: &str, v: &Version) -> Result<bool, String> {
    use std::cmp::Ordering::*;
    let op_len = term
        .find(|c: char| !"<>=!~^".contains(c))
        .unwrap_or(term.len());
    let (op, ver) = term.split_at(op_len);
    let ver = ver.trim();
    let parts: Vec<&str> = ver
        .trim_start_matches('v')
        .split(['-', '+'])
        .next()
        .unwrap_or("")
        .split('.')
        .collect();
    let wild = |i: usize| parts.get(i).is_none_or(|p| matches!(*p, "x" | "X" | "*"));
    let clean: Vec<String> = (0..3)
        .map(|i| {
            if wild(i) {
                "0".to_string()
            } else {
                parts[i].to_string()
            }
        })
        .collect();
    let rest = ver.find(['-', '+']).map_or("", |i| &ver[i..]);
    let cv = Version::parse(&format!("{}{rest}", clean.join(".")))
        .map_err(|_| format!("improper constraint: {term}"))?;
    // A version with a prerelease only satisfies constraints that name a prerelease.
    if !v.pre.is_empty() && cv.pre.is_empty() && op != "!=" {
        return Ok(false);
    }
    let (minor_wild, patch_wild) = (wild(1), wild(2));
    let major_wild = wild(0) && !ver.is_empty();
    let o = v.cmp(&cv);
    Ok(match op {
        "" | "=" => {
            if major_wild {
                true
            } else if minor_wild {
                v.major == cv.major
            } else if patch_wild {
                v.major == cv.major && v.minor == cv.minor
            } else {
                o == Equal
            }
        }
        "!=" => o != Equal,
        ">" => {
            if minor_wild {
                v.major > cv.major
            } else if patch_wild {
                (v.major, v.minor) > (cv.major, cv.minor)
            } else {
                o == Greater
            }
        }
        "<" => o == Less,
        ">=" | "=>" => o != Less,
        "<=" | "=<" => {
            if minor_wild {
                v.major <= cv.major
            } else if patch_wild {
                (v.major, v.minor) <= (cv.major, cv.minor)
            } else {
                o != Greater
            }
        }
        "~" | "~>" => o != Less && v.major == cv.major && (minor_wild || v.minor == cv.minor),
        "^" => {
            if o == Less {
                false
            } else if cv.major > 0 || minor_wild {
                v.major == cv.major
            } else if v.major > 0 {
                false
            } else if cv.minor > 0 || patch_wild {
                v.minor == cv.minor
            } else if v.minor > 0 {
                false
            } else {
                v.patch == cv.patch
            }
        }
        _ => return Err(format!("improper constraint: {term}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(c: &str, v: &str) -> bool {
        constraint_matches(c, &Version::parse(v).expect("version")).expect("constraint")
    }

    #[test]
    fn semver_constraints() {
        assert!(check("^1.2.0", "1.2.3"));
        assert!(!check("^1.2.0", "2.0.0"));
        assert!(check("~1.2.0", "1.2.9"));
        assert!(!check("~1.2.0", "1.3.0"));
        assert!(check(">=1.2, <2", "1.9.0"));
        assert!(check("1.x", "1.5.0"));
        assert!(check("1.0 - 2.0", "1.5.0"));
        assert!(!check(">1.0", "1.1.0-beta"));
        assert!(check("<1 || >=3", "3.1.0"));
    }

    #[test]
    fn paths_like_go() {
        assert_eq!(path_clean("a/../../b/./c/"), "../b/c");
        assert_eq!(path_dir("foo/bar/baz"), "foo/bar");
        assert_eq!(path_base("/a/b/"), "b");
        assert_eq!(path_ext("/foo/bar/baz.txt"), ".txt");
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI======");
        assert_eq!(
            base32_decode("MZXW6YTBOI======").as_deref(),
            Some(&b"foobar"[..])
        );
    }
}
