//! Writing objects as YAML the way kustomize (kyaml, on go-yaml v3) prints them: two
//! spaces per level, sequences flush with their key, keys sorted, literal blocks for
//! multi-line strings, and quotes only where a plain scalar would read back as
//! something else.
//!
//! Known deviation: go-yaml folds plain scalars longer than 80 columns onto several
//! lines; this emitter never folds (the value read back is the same).

use serde_json::{Map, Value};

/// A multi-document stream: each object as one document, separated by `---`.
pub fn to_yaml_stream(objects: &[Value]) -> String {
    let mut out = String::new();
    for (i, obj) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(obj));
    }
    out
}

/// One document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar_inline(other, 0));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Keys in byte order: kustomize's output passes through Go maps, which print sorted.
fn sorted(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = m.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

fn write_map(out: &mut String, m: &Map<String, Value>, level: usize) {
    for (k, v) in sorted(m) {
        indent(out, level);
        out.push_str(&scalar_string(k, level, true));
        out.push(':');
        write_value_after_key(out, v, level);
    }
}

/// Writes `v` after `key:`; nested collections go on the next lines.
fn write_value_after_key(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2);
        }
        // kyaml keeps a sequence flush with its parent key.
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, level);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar_inline(other, level + 2));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], level: usize) {
    for item in a {
        indent(out, level);
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key shares the line with the dash.
                out.push(' ');
                let mut first = true;
                for (k, v) in sorted(m) {
                    if !first {
                        indent(out, level + 2);
                    }
                    first = false;
                    out.push_str(&scalar_string(k, level + 2, true));
                    out.push(':');
                    write_value_after_key(out, v, level + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push(' ');
                // A nested sequence starts on the dash's line, its items indented.
                let mut nested = String::new();
                write_seq(&mut nested, inner, level + 2);
                out.push_str(nested.trim_start());
            }
            other => {
                out.push(' ');
                out.push_str(&scalar_inline(other, level + 2));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or empty collection) written on the current line; `level` is the indent of
/// a block scalar's content.
fn scalar_inline(v: &Value, level: usize) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_string(s, level, false),
        Value::Array(_) => "[]".to_string(),
        Value::Object(_) => "{}".to_string(),
    }
}

fn scalar_string(s: &str, level: usize, is_key: bool) -> String {
    if s.is_empty() {
        return "\"\"".to_string();
    }
    if !is_key && s.contains('\n') && literal_ok(s) {
        return literal_block(s, level);
    }
    if resolves_to_non_string(s) {
        return double_quoted(s);
    }
    if plain_ok(s) {
        return s.to_string();
    }
    if s.chars()
        .all(|c| c == ' ' || (!c.is_control() && c != '\u{feff}'))
    {
        return format!("'{}'", s.replace('\'', "''"));
    }
    double_quoted(s)
}

/// Whether a literal block can carry `s` exactly: printable, no trailing spaces on a
/// line, no leading space on the first line (that would need an indentation indicator).
fn literal_ok(s: &str) -> bool {
    !s.starts_with(' ')
        && !s
            .chars()
            .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
        && s.split('\n').all(|line| !line.ends_with(' '))
}

fn literal_block(s: &str, level: usize) -> String {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("|{chomp}");
    let lines: Vec<&str> = if trailing > 1 {
        // Keep chomping: the extra newlines are content, written as empty lines.
        s[..s.len() - 1].split('\n').collect()
    } else {
        body.split('\n').collect()
    };
    for line in lines {
        out.push('\n');
        if !line.is_empty() {
            indent(&mut out, level);
            out.push_str(line);
        }
    }
    out
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a plain scalar `s` would be read back as a string by a YAML 1.1 or 1.2
/// reader. go-yaml v3 quotes YAML 1.1's booleans too, for older readers.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No", "NO",
        "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N", "null", "Null", "NULL", "~",
        ".inf", ".Inf", ".INF", "-.inf", "-.Inf", "-.INF", "+.inf", ".nan", ".NaN", ".NAN",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    looks_numeric(s) || looks_like_timestamp(s)
}

fn looks_numeric(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    if t.is_empty() {
        return false;
    }
    if let Some(hex) = t.strip_prefix("0x") {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit() || c == '_');
    }
    if let Some(oct) = t.strip_prefix("0o") {
        return !oct.is_empty() && oct.chars().all(|c| c.is_ascii_digit());
    }
    if let Some(bin) = t.strip_prefix("0b") {
        return !bin.is_empty() && bin.chars().all(|c| c == '0' || c == '1' || c == '_');
    }
    // Integers and floats, YAML 1.1 style (underscores, sexagesimal) included.
    let mut digits = 0;
    let mut seen_e = false;
    let mut prev = ' ';
    for c in t.chars() {
        match c {
            '0'..='9' => digits += 1,
            '_' | ':' | '.' => {}
            'e' | 'E' if !seen_e && digits > 0 => seen_e = true,
            '-' | '+' if matches!(prev, 'e' | 'E') => {}
            _ => return false,
        }
        prev = c;
    }
    digits > 0 || t == "."
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
}

/// Whether `s` can be written as a plain scalar (flow context rules left aside: block
/// context only).
fn plain_ok(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
            | ' '
            | '\t'
    ) {
        // `-x`, `?x` and `:x` are allowed plain by the spec when followed by a
        // non-space, but go-yaml quotes only the bare indicator forms.
        let second = s.chars().nth(1);
        let indicator_ok = matches!(first, '-' | '?' | ':')
            && second.is_some_and(|c| c != ' ' && c != '\t')
            && s != "---";
        if !indicator_ok {
            return false;
        }
    }
    if s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.contains('\t') {
        return false;
    }
    !s.chars()
        .any(|c| c.is_control() || c == '\u{feff}' || c == '\u{85}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kyaml_layout() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"a": "true", "b": "1"}},
            "data": {"script": "a\nb\n", "empty": "", "colon": "a: b"},
            "list": [{"name": "c", "ports": [80, 443]}, "plain"],
            "none": {}
        });
        assert_eq!(
            to_yaml(&v),
            "apiVersion: v1\ndata:\n  colon: 'a: b'\n  empty: \"\"\n  script: |\n    a\n    b\nkind: ConfigMap\nlist:\n- name: c\n  ports:\n  - 80\n  - 443\n- plain\nmetadata:\n  labels:\n    a: \"true\"\n    b: \"1\"\n  name: x\nnone: {}\n"
        );
    }
}
