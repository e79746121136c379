//! A fast path for reading the plain block YAML that templates render (Helm's manifests):
//! [`parse`] returns exactly what `serde_saphyr::from_str::<serde_json::Value>` (default
//! options) returns for the same text, or `None` when the text is outside the small subset
//! it understands — the caller then parses with serde-saphyr as before, so errors and odd
//! inputs behave unchanged.
//!
//! The subset, line by line (`\n` only; a tab, `\r`, control character, BOM or Unicode line
//! separator anywhere gives `None`):
//!
//! * blank lines and `#` comment lines, a trailing ` # comment`, and one leading `---`;
//! * block mappings `key: value` / `key:` and block sequences `- item`, with compact
//!   mappings in items (`- name: web`) and indentless sequences under a key
//!   (`containers:` then `- name: web` at the key's column); `- - x` is not supported;
//! * keys: plain `[A-Za-z0-9_./$-]` words that are certainly strings, or quoted keys
//!   without escapes; a duplicate key gives `None`;
//! * values on the key's (or dash's) line: `{}`, `[]` (also alone on the next, deeper
//!   line, as Helm's `toYaml … | nindent` renders), one-line double-quoted (YAML 1.2
//!   escapes decoded) and single-quoted scalars, and one-line plain scalars whose type is
//!   certain: `null`/`~`, `true`/`false` (three spellings each), decimal integers that fit
//!   in `i64`, and strings that no YAML 1.1/1.2 rule could read as anything else.
//!
//! Everything else gives `None`: block scalars (`|`, `>`), multi-line scalars, non-empty
//! flow collections, anchors, aliases, tags, merge keys, directives, floats, other number
//! spellings (`0x1F`, `012`, `+1`, `1_000`, `1e3`), YAML 1.1 booleans other than
//! true/false (`yes`, `on`, `y`, …), odd-case `nULL`, and documents that are empty or whose
//! root is a scalar. Work is linear in the input; nesting deeper than [`MAX_DEPTH`] gives
//! `None`, as do very large documents (below serde-saphyr's default budgets).

use serde_json::map::Entry;
use serde_json::{Map, Value};

/// Deepest nesting of collections accepted (serde-saphyr's default budget allows 64).
pub const MAX_DEPTH: usize = 32;
/// Most lines accepted, keeping far below serde-saphyr's default node and event budgets.
const MAX_LINES: usize = 50_000;
/// Largest document accepted, in bytes.
const MAX_BYTES: usize = 8 << 20;
/// Longest run of comments accepted: serde-saphyr refuses more than 32 comments buffered
/// while it looks ahead (e.g. between `key:` and its nested value).
const MAX_COMMENT_RUN: usize = 16;
/// Longest key accepted (YAML caps implicit keys at 1024 characters).
const MAX_KEY_LEN: usize = 256;

/// Parses one YAML document in the common subset of rendered Kubernetes manifests.
///
/// `Some(v)` only when `v` is exactly what `serde_saphyr::from_str::<Value>(doc)` returns;
/// `None` when `doc` is outside the subset (whether or not it is valid YAML).
///
/// ```
/// let v = flotilla_render::yaml_fast::parse("kind: Service\nspec:\n  ports:\n  - port: 80\n");
/// assert_eq!(v, Some(serde_json::json!({"kind": "Service", "spec": {"ports": [{"port": 80}]}})));
/// assert_eq!(flotilla_render::yaml_fast::parse("a: &x 1\n"), None);
/// ```
pub fn parse(doc: &str) -> Option<Value> {
    if doc.len() > MAX_BYTES || !doc.chars().all(allowed) {
        return None;
    }
    let mut lines = Vec::new();
    let mut comments = 0;
    let mut marker_seen = false;
    for raw in doc.split('\n') {
        let text = raw.trim_matches(' ');
        if text.is_empty() {
            continue;
        }
        if text.starts_with('#') {
            comments += 1;
            if comments > MAX_COMMENT_RUN {
                return None;
            }
            continue;
        }
        // A ` #` may be a trailing comment, which starts a new run (counting it even
        // inside quotes only errs towards `None`).
        comments = usize::from(text.contains(" #"));
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        if indent == 0 && (text.starts_with("---") || text.starts_with("...")) {
            // Only a bare document start before any content; a second one would mean a
            // second document, which `from_str` refuses.
            if text == "---" && lines.is_empty() && !marker_seen {
                marker_seen = true;
                continue;
            }
            return None;
        }
        if lines.len() == MAX_LINES {
            return None;
        }
        lines.push(Line { indent, text });
    }
    let root = lines.first()?.indent;
    let mut parser = Parser {
        lines,
        pos: 0,
        depth: 0,
    };
    let value = parser.node(root)?;
    // Anything left is less indented than the root: not one YAML node.
    (parser.pos == parser.lines.len()).then_some(value)
}

/// YAML's printable characters, less those whose handling differs between YAML versions
/// or parsers (NEL, line and paragraph separators, BOM) and `\r` and tab.
fn allowed(c: char) -> bool {
    matches!(c, '\n' | ' '..='~')
        || (c >= '\u{a0}'
            && !matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
            ))
}

/// A line with content: its indentation and its text without surrounding spaces.
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
}

/// What a line's text starts with: a mapping key (its value and the text after the `:`),
/// or something else (a scalar, when in a sequence item).
enum Start<'a> {
    Key(String, &'a str),
    NotKey,
}

/// A sequence entry: `-` alone or followed by a space.
fn is_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.pos).copied()
    }

    /// The node whose first line is the current one, at `indent`: a block collection, or
    /// `{}` / `[]` alone on its line (as Helm's `toYaml … | nindent` writes empty ones).
    fn node(&mut self, indent: usize) -> Option<Value> {
        let line = self.peek()?;
        if line.text.starts_with(['{', '[']) {
            self.pos += 1;
            scalar(line.text)
        } else if is_entry(line.text) {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A block mapping whose keys sit at `indent`; ends at a less indented line.
    fn mapping(&mut self, indent: usize) -> Option<Value> {
        self.enter()?;
        let mut map = Map::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            // A deeper line here would continue the previous scalar; an entry here follows
            // a value that was not empty. Neither is in the subset.
            if line.indent > indent || is_entry(line.text) {
                return None;
            }
            let Start::Key(key, rest) = start(line.text)? else {
                return None;
            };
            self.pos += 1;
            let rest = rest.trim_start_matches(' ');
            let value = if rest.is_empty() || rest.starts_with('#') {
                match self.peek() {
                    Some(next) if next.indent > indent => self.node(next.indent)?,
                    // YAML lets a key's sequence sit at the key's own column.
                    Some(next) if next.indent == indent && is_entry(next.text) => {
                        self.sequence(indent)?
                    }
                    _ => Value::Null,
                }
            } else {
                scalar(rest)?
            };
            match map.entry(key) {
                Entry::Vacant(slot) => slot.insert(value),
                // serde-saphyr refuses duplicate keys by default.
                Entry::Occupied(_) => return None,
            };
        }
        self.depth -= 1;
        Some(Value::Object(map))
    }

    /// A block sequence whose dashes sit at `indent`; ends at a less indented line or, for
    /// an indentless sequence, at the next key of the enclosing mapping.
    fn sequence(&mut self, indent: usize) -> Option<Value> {
        self.enter()?;
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent || (line.indent == indent && !is_entry(line.text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let after = &line.text[1..];
            let content = after.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                self.pos += 1;
                items.push(match self.peek() {
                    Some(next) if next.indent > indent => self.node(next.indent)?,
                    _ => Value::Null,
                });
            } else if is_entry(content) {
                return None;
            } else if let Start::Key(..) = start(content)? {
                // A compact mapping: read it as if its first key started its own line at
                // the key's column, which is where its other keys must sit.
                let column = indent + 1 + (after.len() - content.len());
                self.lines[self.pos] = Line {
                    indent: column,
                    text: content,
                };
                items.push(self.mapping(column)?);
            } else {
                self.pos += 1;
                items.push(scalar(content)?);
            }
        }
        self.depth -= 1;
        Some(Value::Array(items))
    }
}

/// Whether `text` (a line's content, or a dash's item) starts with a key. `None` when it
/// does but the key is outside the subset.
fn start(text: &str) -> Option<Start<'_>> {
    let quoted = match text.as_bytes()[0] {
        b'"' => Some(double_quoted(text)?),
        b'\'' => Some(single_quoted(text)?),
        _ => None,
    };
    if let Some((key, escaped, rest)) = quoted {
        return match rest.strip_prefix(':') {
            Some(after) if after.is_empty() || after.starts_with(' ') => {
                (!escaped && key.len() <= MAX_KEY_LEN).then_some(Start::Key(key, after))
            }
            _ => Some(Start::NotKey),
        };
    }
    // A plain key ends at the first `: ` (or `:` at the end); a ` #` before that starts a
    // comment, so the text is a scalar.
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b':' if bytes.get(i + 1).is_none_or(|&n| n == b' ') => {
                let key = &text[..i];
                return plain_key(key).then(|| Start::Key(key.to_string(), &text[i + 1..]));
            }
            b'#' if i > 0 && bytes[i - 1] == b' ' => break,
            _ => {}
        }
    }
    Some(Start::NotKey)
}

/// A plain key that serde-saphyr certainly reads as this very string. It reads any plain key
/// as its text (null-like ones are errors), but to stay obvious the subset only takes words
/// that would be strings as values too, plus dotted names like `.dockerconfigjson`.
fn plain_key(key: &str) -> bool {
    let ok_chars = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-' | b'$'));
    let dotted = key.len() > 1 && key.starts_with('.') && key.as_bytes()[1].is_ascii_alphanumeric();
    ok_chars && key.len() <= MAX_KEY_LEN && (dotted || certain_string(key))
}

/// A value on a key's or dash's line: `text` starts with neither a space nor `#`.
fn scalar(text: &str) -> Option<Value> {
    let (value, rest) = match text.as_bytes()[0] {
        b'"' => {
            let (s, _, rest) = double_quoted(text)?;
            (Value::String(s), rest)
        }
        b'\'' => {
            let (s, _, rest) = single_quoted(text)?;
            (Value::String(s), rest)
        }
        b'{' | b'[' => {
            let value = match text.get(..2)? {
                "{}" => Value::Object(Map::new()),
                "[]" => Value::Array(Vec::new()),
                _ => return None,
            };
            (value, &text[2..])
        }
        _ => {
            // A plain scalar ends at ` #`; `: ` inside (or `:` at the end) would be a
            // nested mapping, which YAML refuses on the same line.
            let end = text.find(" #").unwrap_or(text.len());
            let plain = text[..end].trim_end_matches(' ');
            if plain.contains(": ") || plain.ends_with(':') {
                return None;
            }
            return typed(plain);
        }
    };
    // After a quoted scalar or flow collection, only a comment (after a space) may follow.
    let tail = rest.trim_start_matches(' ');
    (rest.is_empty() || (tail.starts_with('#') && tail.len() < rest.len())).then_some(value)
}

/// The value of a plain scalar, when its type is certain.
fn typed(s: &str) -> Option<Value> {
    match s {
        "null" | "Null" | "NULL" | "~" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty() {
        // `0`, or no leading zero (`012` is a float to serde-saphyr, `-0` is 0).
        if digits.len() > 1 && digits.starts_with('0') {
            return None;
        }
        return s.parse::<i64>().ok().map(Value::from);
    }
    certain_string(s).then(|| Value::String(s.to_string()))
}

/// Whether a plain scalar is a string under every rule serde-saphyr applies (YAML 1.1
/// booleans in any case, null spellings, YAML 1.2 and legacy numbers, `.inf`/`.nan`).
fn certain_string(s: &str) -> bool {
    const WORDS: &[&str] = &["null", "true", "false", "yes", "no", "on", "off", "y", "n"];
    let bytes = s.as_bytes();
    let Some(&first) = bytes.first() else {
        return false;
    };
    if WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) || s.starts_with("---") {
        return false;
    }
    match first {
        // No number starts with a letter (Rust's `inf`/`nan` parse to non-finite values,
        // which serde-saphyr keeps as strings), nor with these.
        b'a'..=b'z' | b'A'..=b'Z' | b'/' | b'_' | b'$' => true,
        // Relative paths; a number or `.inf`/`.nan` has no `/`.
        b'.' => s.starts_with("./") || s.starts_with("../"),
        // `-` must not be an entry indicator or a number's sign.
        b'-' => bytes
            .get(1)
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'-'),
        // A radix prefix (`0x`, `0o`, `0b`, any case) may make letters digits: not certain.
        b'0' if matches!(bytes.get(1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')) => false,
        // Otherwise a number is made of decimal digits, `_`, `.`, an exponent and signs: a
        // string has some other character (as a hash's `f`), or two dots (`1.2.3`).
        b'0'..=b'9' => {
            bytes
                .iter()
                .any(|b| !matches!(b, b'0'..=b'9' | b'.' | b'_' | b'+' | b'-' | b'e' | b'E'))
                || bytes.iter().filter(|&&b| b == b'.').count() > 1
        }
        _ => false,
    }
}

/// A double-quoted scalar on one line: its value, whether it had escapes, and the text
/// after the closing quote. `None` if it does not close on this line or has a bad escape.
fn double_quoted(text: &str) -> Option<(String, bool, &str)> {
    let body = &text[1..];
    let mut out = String::new();
    let mut escaped = false;
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, escaped, &body[i + 1..])),
            '\\' => {
                escaped = true;
                let (_, e) = chars.next()?;
                out.push(match e {
                    '0' => '\0',
                    'a' => '\x07',
                    'b' => '\x08',
                    't' => '\t',
                    'n' => '\n',
                    'v' => '\x0b',
                    'f' => '\x0c',
                    'r' => '\r',
                    'e' => '\x1b',
                    ' ' => ' ',
                    '"' => '"',
                    '/' => '/',
                    '\\' => '\\',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' => hex(&mut chars, 2)?,
                    'u' => hex(&mut chars, 4)?,
                    'U' => hex(&mut chars, 8)?,
                    _ => return None,
                });
            }
            c => out.push(c),
        }
    }
    None
}

/// The character of an `\x`, `\u` or `\U` escape's `n` hex digits (no surrogates).
fn hex(chars: &mut std::str::CharIndices<'_>, n: usize) -> Option<char> {
    let mut code = 0u32;
    for _ in 0..n {
        code = code * 16 + chars.next()?.1.to_digit(16)?;
    }
    char::from_u32(code)
}

/// A single-quoted scalar on one line (`''` is a quote), as [`double_quoted`].
fn single_quoted(text: &str) -> Option<(String, bool, &str)> {
    let body = &text[1..];
    let mut out = String::new();
    let mut escaped = false;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            out.push(c);
        } else if chars.next_if(|&(_, n)| n == '\'').is_some() {
            escaped = true;
            out.push('\'');
        } else {
            return Some((out, escaped, &body[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Inputs with the value the YAML spec (and serde-saphyr's typing rules) give them.
    fn accepted() -> Vec<(&'static str, Value)> {
        vec![
            ("a: b\n", json!({"a": "b"})),
            ("b: 1\na: 2\n", json!({"b": 1, "a": 2})),
            ("---\na: b\n", json!({"a": "b"})),
            ("# Source: c/templates/x.yaml\na: b", json!({"a": "b"})),
            ("  a: 1\n  b: 2\n", json!({"a": 1, "b": 2})),
            ("a:\n", json!({"a": null})),
            ("a:   # nothing\nb: x\n", json!({"a": null, "b": "x"})),
            ("a:\n  b:\nc: 1\n", json!({"a": {"b": null}, "c": 1})),
            (
                "metadata:\n  labels:\n    app.kubernetes.io/name: web\n    helm.sh/chart: web-0.1.0\n  annotations:\n    checksum/config: abc123\n",
                json!({"metadata": {"labels": {"app.kubernetes.io/name": "web", "helm.sh/chart": "web-0.1.0"}, "annotations": {"checksum/config": "abc123"}}}),
            ),
            ("a:\n- x\n- y1\nb: 2\n", json!({"a": ["x", "y1"], "b": 2})),
            ("a:\n  - x\n  - z\n", json!({"a": ["x", "z"]})),
            (
                "containers:\n- name: web\n  image: \"nginx:1.25\"\n  ports:\n  - containerPort: 80\n    name: http\n- name: side\n",
                json!({"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80, "name": "http"}]}, {"name": "side"}]}),
            ),
            ("-   a: 1\n    b: 2\n- c\n", json!([{"a": 1, "b": 2}, "c"])),
            ("- a:\n    b: 1\n", json!([{"a": {"b": 1}}])),
            ("- a:\n  - x\n  b: 1\n", json!([{"a": ["x"], "b": 1}])),
            ("-\n  a: 1\n-\n- # empty\n", json!([{"a": 1}, null, null])),
            ("-\n  - x\n", json!([["x"]])),
            ("a: {}\nb: []  # empty\n", json!({"a": {}, "b": []})),
            (
                "resources:\n  {}\nb:\n    [] # c\n",
                json!({"resources": {}, "b": []}),
            ),
            ("-\n  {}\n- x\n", json!([{}, "x"])),
            ("{} # empty\n", json!({})),
            ("a: b # comment\nc: d#e\n", json!({"a": "b", "c": "d#e"})),
            (
                "a: x:y\nb: http://h:80/p?q=1&r=2\n",
                json!({"a": "x:y", "b": "http://h:80/p?q=1&r=2"}),
            ),
            (
                "a: it's\nb: a,b [c] {d}\n",
                json!({"a": "it's", "b": "a,b [c] {d}"}),
            ),
            (
                "a: null\nb: ~\nc: NULL\nd: Null\n",
                json!({"a": null, "b": null, "c": null, "d": null}),
            ),
            (
                "a: true\nb: False\nc: TRUE\n",
                json!({"a": true, "b": false, "c": true}),
            ),
            (
                "a: 0\nb: -0\nc: -12\nd: 9223372036854775807\ne: -9223372036854775808\n",
                json!({"a": 0, "b": 0, "c": -12, "d": i64::MAX, "e": i64::MIN}),
            ),
            (
                "a: 100m\nb: 128Mi\nc: 1.2.3\nd: 10.0.0.0/8\ne: 2001-12-14T10:00:00Z\n",
                json!({"a": "100m", "b": "128Mi", "c": "1.2.3", "d": "10.0.0.0/8", "e": "2001-12-14T10:00:00Z"}),
            ),
            (
                "a: /bin/sh\nb: _x\nc: $(POD_IP)\nd: --port=80\ne: -Xmx1g\nf: inf\ng: NaN\n",
                json!({"a": "/bin/sh", "b": "_x", "c": "$(POD_IP)", "d": "--port=80", "e": "-Xmx1g", "f": "inf", "g": "NaN"}),
            ),
            ("a: café ü\n", json!({"a": "café ü"})),
            (
                "a: \"\"\nb: ''\nc: \"x # y\"  # z\n",
                json!({"a": "", "b": "", "c": "x # y"}),
            ),
            (
                "a: 'it''s'\nb: \"yes\"\nc: '1'\n",
                json!({"a": "it's", "b": "yes", "c": "1"}),
            ),
            (
                r#"a: "q\"b\\s\/\n\t\r\0\a\b\e\f\v\N\_\L\P\ \x41\u00e9\U0001F600""#,
                json!({"a": "q\"b\\s/\n\t\r\0\u{7}\u{8}\u{1b}\u{c}\u{b}\u{85}\u{a0}\u{2028}\u{2029} A\u{e9}\u{1F600}"}),
            ),
            (
                "\"a b\": 1\n'c:d': 2\n\"\": 3\n",
                json!({"a b": 1, "c:d": 2, "": 3}),
            ),
            (
                "- \"x\"\n- 'y' # c\n- \"k\": v\n",
                json!(["x", "y", {"k": "v"}]),
            ),
            (
                ".dockerconfigjson: e30=\n.inf: 1\n",
                json!({".dockerconfigjson": "e30=", ".inf": 1}),
            ),
            ("a: --\nb: -x-\n", json!({"a": "--", "b": "-x-"})),
            (
                "resources:\n- ../base\n- ./app.yaml\n",
                json!({"resources": ["../base", "./app.yaml"]}),
            ),
            ("$patch: delete\n", json!({"$patch": "delete"})),
            (
                "a: 3f1c2a9d\nb: 1x2\nc: 00x1\nd: 12:30\ne: 1 2\n",
                json!({"a": "3f1c2a9d", "b": "1x2", "c": "00x1", "d": "12:30", "e": "1 2"}),
            ),
        ]
    }

    /// Inputs outside the subset (valid YAML or not).
    const REJECTED: &[&str] = &[
        "",
        "# only a comment\n",
        "---\n",
        "a: 1\r\n",
        "a:\t1\n",
        "\u{feff}a: 1\n",
        "a: x\u{85}y\n",
        "a: x\u{2028}y\n",
        "a: 1\n---\nb: 2\n",
        "---\n---\na: 1\n",
        "--- a: 1\n",
        "a: 1\n...\n",
        "%YAML 1.2\n---\na: 1\n",
        "plain\n",
        "\"quoted\"\n",
        "a: b\n  c\n",
        "a:\n  b\n",
        "a: b: c\n",
        "a: b:\n",
        "a: 1\na: 2\n",
        "a: 1\n\"a\": 2\n",
        "a: 1\n  b: 2\n",
        "a:\n  b: 1\n c: 2\n",
        "  a: 1\nb: 2\n",
        "a: 1\n- x\n",
        "a:\n  - x\n  b: 1\n",
        "- - x\n",
        "- x\n  y\n",
        "- a: 1\n - b\n",
        "a: |\n  text\n",
        "a: >-\n  text\n",
        "a: {b: 1}\n",
        "a: [1, 2]\n",
        "a: { }\n",
        "a: {}x\n",
        "a: {}#x\n",
        "a:\n{}\n",
        "a:\n  {}\n  b: 1\n",
        "a:\n  {}\n   x\n",
        "a:\n  {a: 1}\n",
        "a: &x 1\n",
        "a: *x\n",
        "&x a: 1\n",
        "a: !!str 1\n",
        "a: !t\n  b: 1\n",
        "<<: {}\n",
        "? a\n: 1\n",
        "a: \"x\ny\"\n",
        "a: 'x\ny'\n",
        "a: \"x\\\ny\"\n",
        "a: \"x\"y\n",
        "a: \"x\"#y\n",
        "a: \"\\q\"\n",
        "a: \"\\ud800\"\n",
        "a: \"\\x4\"\n",
        "\"a\\tb\": 1\n",
        "'it''s': 1\n",
        "\"a\" : 1\n",
        "true: 1\n",
        "1: a\n",
        "null: 1\n",
        "~: 1\n",
        "yes: 1\n",
        "a b: 1\n",
        "a: yes\n",
        "a: No\n",
        "a: on\n",
        "a: y\n",
        "a: nULL\n",
        "a: tRUE\n",
        "a: 1.5\n",
        "a: 1e3\n",
        "a: .5\n",
        "a: .inf\n",
        "a: -.inf\n",
        "a: .nan\n",
        "a: 0x1F\n",
        "a: 0o17\n",
        "a: 0b1f\n",
        "a: 0x1g\n",
        "a: 1e5\n",
        "a: 1E-5\n",
        "a: 012\n",
        "a: +1\n",
        "a: 1_000\n",
        "a: 9223372036854775808\n",
        "a: 2001-12-14\n",
        "a: -\n",
        "a: - x\n",
        "a: =\n",
        "a: ?x\n",
        "a: :x\n",
        "a: %x\n",
        "a: @x\n",
        "a: `x\n",
        "a: ,x\n",
        "a: ]\n",
        "a: ---\n",
        "a: ~x\n",
        "a: ..\n",
        "a: .x\n",
        "a: .5\n",
    ];

    #[test]
    fn accepted_inputs_give_the_spec_value_and_saphyrs() {
        for (input, expected) in accepted() {
            assert_eq!(
                parse(input).as_ref(),
                Some(&expected),
                "fast path on {input:?}"
            );
            let saphyr: Value = serde_saphyr::from_str(input).unwrap();
            assert_eq!(saphyr, expected, "serde-saphyr on {input:?}");
        }
    }

    #[test]
    fn key_order_is_document_order() {
        let v = parse("z: 1\na: 2\nm: 3\n").unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn rejected_inputs_give_none() {
        for input in REJECTED {
            assert_eq!(parse(input), None, "{input:?}");
        }
    }

    #[test]
    fn limits_give_none() {
        let nest =
            |n: usize| -> String { (0..n).map(|i| format!("{}k:\n", "  ".repeat(i))).collect() };
        let deepest = nest(MAX_DEPTH);
        assert_eq!(parse(&deepest), serde_saphyr::from_str(&deepest).ok());
        assert!(parse(&deepest).is_some());
        assert_eq!(parse(&nest(MAX_DEPTH + 1)), None);
        // serde-saphyr refuses long runs of comments while it looks ahead.
        let comments = "# c\n".repeat(40);
        assert_eq!(parse(&format!("a:\n{comments}  b: 1\n")), None);
        assert!(serde_saphyr::from_str::<Value>(&format!("a:\n{comments}  b: 1\n")).is_err());
        assert!(parse(&format!("a:\n{}  b: 1\n", "# c\n".repeat(MAX_COMMENT_RUN))).is_some());
        let long_key = "k".repeat(MAX_KEY_LEN + 1);
        assert_eq!(parse(&format!("{long_key}: 1\n")), None);
    }

    #[test]
    fn deep_nesting_is_linear_and_bounded() {
        // A pathological input: very deep, very long; must return quickly.
        let deep: String = (0..10_000)
            .map(|i| format!("{}- a:\n", "  ".repeat(i)))
            .collect();
        assert_eq!(parse(&deep), None);
        let wide = |n: usize| -> String { (0..n).map(|i| format!("k{i}: v\n")).collect() };
        assert_eq!(parse(&wide(MAX_LINES + 1)), None);
        assert!(parse(&wide(MAX_LINES)).is_some());
    }
}
