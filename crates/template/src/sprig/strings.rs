//! Sprig string functions.

use super::{strslice, strval, want_int, want_str};
use crate::funcs::{Arity, Functions};
use crate::value::Value;

fn s(v: impl Into<String>) -> Value {
    Value::string(v.into())
}

pub(super) fn register(f: &mut Functions) {
    use Arity::{AtLeast, Exact};
    f.register("trim", Exact(1), |a| Ok(s(want_str(&a[0], "trim")?.trim())));
    f.register("upper", Exact(1), |a| {
        Ok(s(want_str(&a[0], "upper")?.to_uppercase()))
    });
    f.register("lower", Exact(1), |a| {
        Ok(s(want_str(&a[0], "lower")?.to_lowercase()))
    });
    f.register("title", Exact(1), |a| {
        Ok(s(title(want_str(&a[0], "title")?)))
    });
    f.register("untitle", Exact(1), |a| {
        Ok(s(untitle(want_str(&a[0], "untitle")?)))
    });
    f.register("substr", Exact(3), |a| {
        let (start, end) = (want_int(&a[0], "substr")?, want_int(&a[1], "substr")?);
        let st = want_str(&a[2], "substr")?;
        let b = st.as_bytes();
        let out = if start < 0 {
            &b[..(end.max(0) as usize).min(b.len())]
        } else if end < 0 || end as usize > b.len() {
            &b[(start as usize).min(b.len())..]
        } else {
            &b[(start as usize).min(end as usize)..end as usize]
        };
        Ok(s(String::from_utf8_lossy(out)))
    });
    f.register("repeat", Exact(2), |a| {
        let n = want_int(&a[0], "repeat")?.max(0) as usize;
        Ok(s(want_str(&a[1], "repeat")?.repeat(n)))
    });
    let trim_all = |a: &[Value]| {
        let cut: Vec<char> = want_str(&a[0], "trimAll")?.chars().collect();
        Ok(s(want_str(&a[1], "trimAll")?.trim_matches(&cut[..])))
    };
    f.register("trimAll", Exact(2), trim_all);
    f.register("trimall", Exact(2), trim_all);
    f.register("trimSuffix", Exact(2), |a| {
        let suf = want_str(&a[0], "trimSuffix")?;
        let st = want_str(&a[1], "trimSuffix")?;
        Ok(s(st.strip_suffix(suf).unwrap_or(st)))
    });
    f.register("trimPrefix", Exact(2), |a| {
        let pre = want_str(&a[0], "trimPrefix")?;
        let st = want_str(&a[1], "trimPrefix")?;
        Ok(s(st.strip_prefix(pre).unwrap_or(st)))
    });
    f.register("nospace", Exact(1), |a| {
        Ok(s(want_str(&a[0], "nospace")?
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()))
    });
    f.register("initials", Exact(1), |a| {
        Ok(s(want_str(&a[0], "initials")?
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .collect::<String>()))
    });
    f.register("swapcase", Exact(1), |a| {
        Ok(s(want_str(&a[0], "swapcase")?
            .chars()
            .map(|c| {
                if c.is_uppercase() {
                    c.to_lowercase().collect::<String>()
                } else {
                    c.to_uppercase().collect::<String>()
                }
            })
            .collect::<String>()))
    });
    f.register("snakecase", Exact(1), |a| {
        Ok(s(delimited(want_str(&a[0], "snakecase")?, '_')))
    });
    f.register("kebabcase", Exact(1), |a| {
        Ok(s(delimited(want_str(&a[0], "kebabcase")?, '-')))
    });
    f.register("camelcase", Exact(1), |a| {
        Ok(s(camel(want_str(&a[0], "camelcase")?)))
    });
    f.register("abbrev", Exact(2), |a| {
        let w = want_int(&a[0], "abbrev")?;
        let st = want_str(&a[1], "abbrev")?;
        if w < 4 {
            return Ok(s(st));
        }
        Ok(s(abbreviate_full(st, 0, w as usize)))
    });
    f.register("abbrevboth", Exact(3), |a| {
        let (l, r) = (
            want_int(&a[0], "abbrevboth")?,
            want_int(&a[1], "abbrevboth")?,
        );
        let st = want_str(&a[2], "abbrevboth")?;
        if r < 4 || l > 0 && r < 7 {
            return Ok(s(st));
        }
        Ok(s(abbreviate_full(st, l.max(0) as usize, r as usize)))
    });
    f.register("trunc", Exact(2), |a| {
        let c = want_int(&a[0], "trunc")?;
        let st = want_str(&a[1], "trunc")?;
        let n = st.len() as i64;
        let out = if c < 0 && n + c > 0 {
            &st.as_bytes()[(n + c) as usize..]
        } else if c >= 0 && n > c {
            &st.as_bytes()[..c as usize]
        } else {
            st.as_bytes()
        };
        Ok(s(String::from_utf8_lossy(out)))
    });
    f.register("wrap", Exact(2), |a| {
        let w = want_int(&a[0], "wrap")?;
        Ok(s(wrap(want_str(&a[1], "wrap")?, w.max(1) as usize, "\n")))
    });
    f.register("wrapWith", Exact(3), |a| {
        let w = want_int(&a[0], "wrapWith")?;
        let nl = want_str(&a[1], "wrapWith")?;
        Ok(s(wrap(want_str(&a[2], "wrapWith")?, w.max(1) as usize, nl)))
    });
    f.register("contains", Exact(2), |a| {
        Ok(Value::Bool(
            want_str(&a[1], "contains")?.contains(want_str(&a[0], "contains")?),
        ))
    });
    f.register("hasPrefix", Exact(2), |a| {
        Ok(Value::Bool(
            want_str(&a[1], "hasPrefix")?.starts_with(want_str(&a[0], "hasPrefix")?),
        ))
    });
    f.register("hasSuffix", Exact(2), |a| {
        Ok(Value::Bool(
            want_str(&a[1], "hasSuffix")?.ends_with(want_str(&a[0], "hasSuffix")?),
        ))
    });
    f.register("quote", AtLeast(0), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| crate::gofmt::quote(&strval(v)))
            .collect();
        Ok(s(parts.join(" ")))
    });
    f.register("squote", AtLeast(0), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(|v| format!("'{}'", strval(v)))
            .collect();
        Ok(s(parts.join(" ")))
    });
    f.register("cat", AtLeast(0), |a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(strval)
            .collect();
        Ok(s(parts.join(" ")))
    });
    f.register("indent", Exact(2), |a| {
        let n = want_int(&a[0], "indent")?;
        Ok(s(indent(n, want_str(&a[1], "indent")?)))
    });
    f.register("nindent", Exact(2), |a| {
        let n = want_int(&a[0], "nindent")?;
        Ok(s(format!("\n{}", indent(n, want_str(&a[1], "nindent")?))))
    });
    f.register("replace", Exact(3), |a| {
        let old = want_str(&a[0], "replace")?;
        let new = want_str(&a[1], "replace")?;
        let src = want_str(&a[2], "replace")?;
        Ok(s(go_replace_all(src, old, new)))
    });
    f.register("plural", Exact(3), |a| {
        let one = want_str(&a[0], "plural")?;
        let many = want_str(&a[1], "plural")?;
        Ok(s(if want_int(&a[2], "plural")? == 1 {
            one
        } else {
            many
        }))
    });
    f.register("toString", Exact(1), |a| Ok(s(strval(&a[0]))));
    f.register("toStrings", Exact(1), |a| {
        Ok(Value::list(
            strslice(&a[0]).into_iter().map(Value::from).collect(),
        ))
    });
    f.register("join", Exact(2), |a| {
        let sep = want_str(&a[0], "join")?;
        Ok(s(strslice(&a[1]).join(sep)))
    });
    f.register("sortAlpha", Exact(1), |a| {
        let mut v = match &a[0] {
            Value::List(_) => strslice(&a[0]),
            other => vec![strval(other)],
        };
        v.sort();
        Ok(Value::list(v.into_iter().map(Value::from).collect()))
    });
    f.register("split", Exact(2), |a| {
        let sep = want_str(&a[0], "split")?;
        let st = want_str(&a[1], "split")?;
        Ok(indexed_dict(go_split(st, sep, -1)))
    });
    f.register("splitList", Exact(2), |a| {
        let sep = want_str(&a[0], "splitList")?;
        let st = want_str(&a[1], "splitList")?;
        Ok(Value::list(
            go_split(st, sep, -1).into_iter().map(Value::from).collect(),
        ))
    });
    f.register("splitn", Exact(3), |a| {
        let sep = want_str(&a[0], "splitn")?;
        let n = want_int(&a[1], "splitn")?;
        let st = want_str(&a[2], "splitn")?;
        Ok(indexed_dict(go_split(st, sep, n)))
    });
    f.register("atoi", Exact(1), |a| {
        Ok(Value::Int(want_str(&a[0], "atoi")?.parse().unwrap_or(0)))
    });
    f.register("toDecimal", Exact(1), |a| {
        Ok(Value::Int(
            i64::from_str_radix(&strval(&a[0]), 8).unwrap_or(0),
        ))
    });
}

/// `strings.Replace(s, old, new, -1)`, including Go's behaviour for an empty `old`
/// (insert `new` around every rune).
pub(crate) fn go_replace_all(src: &str, old: &str, new: &str) -> String {
    if old.is_empty() {
        let mut out = String::from(new);
        for c in src.chars() {
            out.push(c);
            out.push_str(new);
        }
        return out;
    }
    src.replace(old, new)
}

/// `strings.SplitN` (n < 0: all); an empty separator splits into runes.
pub(crate) fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n > 0 && chars.len() > n as usize {
            let head: Vec<String> = chars[..n as usize - 1].to_vec();
            let tail: String = chars[n as usize - 1..].concat();
            return head.into_iter().chain(std::iter::once(tail)).collect();
        }
        return chars;
    }
    if n < 0 {
        s.split(sep).map(String::from).collect()
    } else {
        s.splitn(n as usize, sep).map(String::from).collect()
    }
}

fn indexed_dict(parts: Vec<String>) -> Value {
    Value::map(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), Value::from(p)))
            .collect(),
    )
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// Go's deprecated `strings.Title`: upper-cases letters that follow a separator.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        let sep = if c.is_ascii() && prev.is_ascii() {
            !(prev.is_ascii_alphanumeric() || prev == '_')
        } else {
            prev.is_whitespace() || !(prev.is_alphanumeric() || prev == '_')
        };
        if sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// goutils `Uncapitalize`: lower-cases the first letter of each whitespace-separated word.
fn untitle(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        at_start = c.is_whitespace();
    }
    out
}

/// xstrings `ToCamelCase`: `_` separates words; leading underscores stay; doubled
/// underscores collapse to one.
fn camel(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while chars.peek() == Some(&'_') {
        out.push('_');
        chars.next();
    }
    let Some(first) = chars.next() else {
        return out;
    };
    let mut r0 = first.to_uppercase().next().unwrap_or(first);
    for c in chars {
        let r1 = r0;
        r0 = c;
        if r1 == '_' && r0 == '_' {
            out.push('_');
            continue;
        }
        if r1 == '_' {
            r0 = r0.to_uppercase().next().unwrap_or(r0);
        } else {
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

/// xstrings `ToSnakeCase`/`ToKebabCase`: words split at case changes, digits-to-letters,
/// spaces, `_`, `-` and `.`; lower-cased and joined with `delim`.
fn delimited(s: &str, delim: char) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_whitespace() || c == '_' || c == '-' || c == '.' {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|j| chars.get(j)) {
            let next = chars.get(i + 1).copied();
            let boundary = (c.is_uppercase() && (prev.is_lowercase() || prev.is_ascii_digit()))
                || (c.is_uppercase()
                    && prev.is_uppercase()
                    && next.is_some_and(char::is_lowercase));
            if boundary && !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words.join(&delim.to_string())
}

/// goutils `AbbreviateFull` (byte offsets, as Go's string slicing).
fn abbreviate_full(s: &str, offset: usize, max_width: usize) -> String {
    let n = s.len();
    if s.is_empty() || max_width < 4 {
        return String::new();
    }
    if n <= max_width {
        return s.to_string();
    }
    let slice = |a: usize, b: usize| String::from_utf8_lossy(&s.as_bytes()[a..b]).into_owned();
    let mut offset = offset.min(n);
    if n - offset < max_width - 3 {
        offset = n - (max_width - 3);
    }
    if offset <= 4 {
        return format!("{}...", slice(0, max_width - 3));
    }
    if max_width < 7 {
        return String::new();
    }
    if offset + max_width - 3 < n {
        let rest = slice(offset, n);
        return format!("...{}", abbreviate_full(&rest, 0, max_width - 3));
    }
    format!("...{}", slice(n - (max_width - 3), n))
}

/// goutils `WrapCustom` with long words wrapped: greedy, breaking at spaces.
fn wrap(s: &str, width: usize, newline: &str) -> String {
    let mut out = String::new();
    for (li, line) in s.split('\n').enumerate() {
        if li > 0 {
            out.push_str(newline);
        }
        let mut len = 0;
        for (wi, word) in line.split(' ').filter(|w| !w.is_empty()).enumerate() {
            let wl = word.chars().count();
            if wi > 0 {
                if len + 1 + wl > width {
                    out.push_str(newline);
                    len = 0;
                } else {
                    out.push(' ');
                    len += 1;
                }
            }
            out.push_str(word);
            len += wl;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversions() {
        assert_eq!(camel("_complex__case_"), "_Complex_Case_");
        assert_eq!(camel("http_server"), "HttpServer");
        assert_eq!(delimited("FirstName", '_'), "first_name");
        assert_eq!(delimited("HTTPServer", '_'), "http_server");
        assert_eq!(delimited("NoHTTPS", '-'), "no-https");
        assert_eq!(title("hello world-foo"), "Hello World-Foo");
        assert_eq!(abbreviate_full("hello world", 0, 5), "he...");
    }
}
