//! YAML as sops's YAML store writes a decrypted tree (`stores/yaml` `EmitPlainFile`):
//! go-yaml v3 with four spaces per level, keys in file order, each value made a node by
//! `Node.Encode` (so a string's style is chosen as `encoder.stringv` chooses it and the
//! scalar is emitted and read back once before it is written), then written by
//! go-yaml's emitter (`emitterc.go`), whose quoting and indentation rules this module
//! follows. Checked against go-yaml v3.0.1 (`tests/sops_formats.rs`).
//!
//! Not reproduced: keys longer than 128 bytes (go-yaml writes them as `? key`), which
//! are written as simple keys.

use serde_json::{Map, Value};

use super::comments::{Comments, Step};

const INDENT: usize = 4;

/// The documents as sops writes a decrypted YAML file, with the first document's
/// comments where sops's YAML store puts them back.
pub(crate) fn documents(docs: &[Value], comments: &Comments) -> String {
    let mut writer = Writer {
        out: String::new(),
        comments,
        path: Vec::new(),
    };
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            writer.out.push_str("---\n");
        }
        match doc {
            Value::Object(map) if !map.is_empty() => writer.map(map, 0),
            _ => writer.out.push_str("{}\n"),
        }
    }
    writer.out
}

/// go-yaml's indentation for a collection nested in one at `parent`: two more inside a
/// sequence item (past its `- `), else the next multiple of the indent.
fn nested_indent(parent: usize, in_sequence_item: bool) -> usize {
    if in_sequence_item {
        parent + 2
    } else {
        INDENT * ((parent + INDENT) / INDENT)
    }
}

/// Ends the line, unless a literal block's last line break already did.
fn end_line(out: &mut String) {
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

struct Writer<'c> {
    out: String,
    comments: &'c Comments,
    path: Vec<Step>,
}

impl Writer<'_> {
    /// Head comments of item `index` of the collection at `self.path`, one line each.
    fn heads(&mut self, index: usize, indent: usize) {
        for placed in self.comments.of(&self.path) {
            if placed.before == index && !placed.inline {
                pad(&mut self.out, indent);
                self.out.push('#');
                self.out.push_str(&placed.text);
                self.out.push('\n');
            }
        }
    }

    /// A scalar item's line, with its inline comments (go-yaml's line comment).
    fn scalar_line(&mut self, index: usize, text: &str) {
        self.out.push_str(text);
        let inline: Vec<&str> = self
            .comments
            .of(&self.path)
            .iter()
            .filter(|p| p.before == index && p.inline)
            .map(|p| p.text.as_str())
            .collect();
        if !inline.is_empty() {
            self.out.push_str(" #");
            self.out.push_str(&inline.join("\n#"));
        }
        end_line(&mut self.out);
    }

    /// A mapping whose keys start at column `indent`; the first key continues the
    /// current line when that line already reaches the column (after a `- `).
    fn map(&mut self, map: &Map<String, Value>, indent: usize) {
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 || !self.out.ends_with("- ") {
                self.heads(i, indent);
                pad(&mut self.out, indent);
            }
            self.out.push_str(&scalar(&string_node(key), indent, true));
            self.out.push(':');
            self.path.push(Step::Key(key.clone()));
            match value {
                Value::Object(m) if !m.is_empty() => {
                    self.out.push('\n');
                    self.map(m, nested_indent(indent, false));
                    self.path.pop();
                }
                Value::Array(a) if !a.is_empty() => {
                    self.out.push('\n');
                    self.seq(a, nested_indent(indent, false));
                    self.path.pop();
                }
                other => {
                    self.path.pop();
                    self.out.push(' ');
                    let text = value_scalar(other, nested_indent(indent, false));
                    self.scalar_line(i, &text);
                }
            }
        }
        self.heads(map.len(), indent);
    }

    fn seq(&mut self, items: &[Value], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 || !self.out.ends_with("- ") {
                self.heads(i, indent);
                pad(&mut self.out, indent);
            }
            self.out.push_str("- ");
            self.path.push(Step::Index(i));
            match item {
                Value::Object(m) if !m.is_empty() => {
                    self.map(m, nested_indent(indent, true));
                    self.path.pop();
                }
                Value::Array(a) if !a.is_empty() => {
                    self.seq(a, nested_indent(indent, true));
                    self.path.pop();
                }
                other => {
                    self.path.pop();
                    let text = value_scalar(other, nested_indent(indent, true));
                    self.scalar_line(i, &text);
                }
            }
        }
        self.heads(items.len(), indent);
    }
}

/// A scalar or empty collection on the current line; `block_indent` is where a literal
/// block's lines start.
fn value_scalar(value: &Value, block_indent: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (_, Some(u)) => u.to_string(),
            _ => float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => scalar(&string_node(s), block_indent, false),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// go-yaml's float: `strconv.FormatFloat(f, 'g', -1, 64)`, infinities and NaN in YAML's
/// words.
fn float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.into()
    } else {
        flotilla_core::gofmt::sprint_float(f)
    }
}

/// The style `Node.Encode` gives a string.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Literal,
    DoubleQuoted,
}

/// A string as the node `Node.Encode` makes of it: its style and its value after the
/// round trip through go-yaml's text (a literal block loses a leading line break there:
/// the emitter writes it as the end of the `|` line).
struct StringNode {
    value: String,
    style: Style,
    merge: bool,
}

fn string_node(s: &str) -> StringNode {
    if s == "<<" {
        // Written plain, then read back as the merge key.
        return StringNode {
            value: s.into(),
            style: Style::Plain,
            merge: true,
        };
    }
    let can_use_plain = !resolves_to_other_type(s) && !is_base60_float(s) && !is_old_bool(s);
    let style = if s.contains('\n') {
        Style::Literal
    } else if can_use_plain {
        Style::Plain
    } else {
        Style::DoubleQuoted
    };
    let mut value = s.to_string();
    if style == Style::Literal && Analysis::of(s).block_allowed && s.starts_with('\n') {
        value.remove(0);
    }
    StringNode {
        value,
        style,
        merge: false,
    }
}

/// Writes the node as go-yaml's emitter does (`yaml_emitter_select_scalar_style`), in
/// block context, as a simple key or a value.
fn scalar(node: &StringNode, block_indent: usize, is_key: bool) -> String {
    if node.merge {
        return "!!merge <<".into();
    }
    let s = node.value.as_str();
    let a = Analysis::of(s);
    let mut style = node.style;
    if is_key && a.multiline {
        style = Style::DoubleQuoted;
    }
    match style {
        Style::Plain if a.block_plain_allowed && !(s.is_empty() && is_key) => s.to_string(),
        Style::Plain if a.single_quoted_allowed => single_quoted(s, block_indent),
        Style::Literal if a.block_allowed && !is_key => literal(s, block_indent),
        _ => double_quoted(s),
    }
}

/// `yaml_emitter_analyze_scalar`'s verdicts for block context.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

impl Analysis {
    fn of(s: &str) -> Analysis {
        if s.is_empty() {
            return Analysis {
                multiline: false,
                block_plain_allowed: true,
                single_quoted_allowed: true,
                block_allowed: false,
            };
        }
        let chars: Vec<char> = s.chars().collect();
        let mut block_indicators = s.starts_with("---") || s.starts_with("...");
        let (mut line_breaks, mut special, mut tabs) = (false, false, false);
        let (mut leading_space, mut leading_break) = (false, false);
        let (mut trailing_space, mut trailing_break) = (false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let mut preceded_by_whitespace = true;
        for (i, &c) in chars.iter().enumerate() {
            let followed_by_whitespace = chars.get(i + 1).is_none_or(|&n| is_blank(n));
            let last = i + 1 == chars.len();
            if i == 0 {
                match c {
                    '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\''
                    | '"' | '%' | '@' | '`' => block_indicators = true,
                    '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                    _ => {}
                }
            } else {
                match c {
                    ':' if followed_by_whitespace => block_indicators = true,
                    '#' if preceded_by_whitespace => block_indicators = true,
                    _ => {}
                }
            }
            if c == '\t' {
                tabs = true;
            } else if !is_printable(c) {
                special = true;
            }
            if c == ' ' {
                leading_space |= i == 0;
                trailing_space |= last;
                break_space |= previous_break;
                (previous_space, previous_break) = (true, false);
            } else if is_break(c) {
                line_breaks = true;
                leading_break |= i == 0;
                trailing_break |= last;
                space_break |= previous_space;
                (previous_space, previous_break) = (false, true);
            } else {
                (previous_space, previous_break) = (false, false);
            }
            preceded_by_whitespace = is_blank(c) || is_break(c);
        }
        let mut a = Analysis {
            multiline: line_breaks,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
        };
        if leading_space || leading_break || trailing_space || trailing_break || line_breaks {
            a.block_plain_allowed = false;
        }
        if trailing_space {
            a.block_allowed = false;
        }
        if break_space || space_break || tabs || special {
            a.block_plain_allowed = false;
            a.single_quoted_allowed = false;
        }
        if space_break || special {
            a.block_allowed = false;
        }
        if block_indicators {
            a.block_plain_allowed = false;
        }
        a
    }
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// go-yaml's `is_printable`: line feed, printable ASCII, and the Basic Multilingual
/// Plane from U+00A0 but for surrogates, the BOM and U+FFFE/U+FFFF (nothing beyond it).
fn is_printable(c: char) -> bool {
    match c as u32 {
        0x0A | 0x20..=0x7E => true,
        0xA0..=0xD7FF => true,
        0xE000..=0xFFFD => c != '\u{feff}',
        _ => false,
    }
}

fn single_quoted(s: &str, indent: usize) -> String {
    let mut out = String::from("'");
    let mut breaks = false;
    for c in s.chars() {
        if is_break(c) {
            out.push(c);
            breaks = true;
            continue;
        }
        if breaks {
            pad(&mut out, indent);
            breaks = false;
        }
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn double_quoted(s: &str) -> String {
    // go-yaml's `is_bom` looks at the start of the value, not at the character, so a
    // value that starts with a BOM has every character escaped.
    let escape_all = s.starts_with('\u{feff}');
    let mut out = String::from("\"");
    for c in s.chars() {
        if !(escape_all || !is_printable(c) || is_break(c) || c == '"' || c == '\\') {
            out.push(c);
            continue;
        }
        out.push('\\');
        match c {
            '\0' => out.push('0'),
            '\u{7}' => out.push('a'),
            '\u{8}' => out.push('b'),
            '\t' => out.push('t'),
            '\n' => out.push('n'),
            '\u{b}' => out.push('v'),
            '\u{c}' => out.push('f'),
            '\r' => out.push('r'),
            '\u{1b}' => out.push('e'),
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '\u{85}' => out.push('N'),
            '\u{a0}' => out.push('_'),
            '\u{2028}' => out.push('L'),
            '\u{2029}' => out.push('P'),
            c if (c as u32) <= 0xFF => out.push_str(&format!("x{:02X}", c as u32)),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("u{:04X}", c as u32)),
            c => out.push_str(&format!("U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// A literal block: `|`, an indentation indicator when the value starts with a space or
/// a break, a chomping indicator, then the lines at `indent`. The value's first line
/// break, if it starts with one, ends the `|` line.
fn literal(s: &str, indent: usize) -> String {
    let mut out = String::from("|");
    let first = s.chars().next();
    if first.is_some_and(|c| c == ' ' || is_break(c)) {
        out.push_str(&INDENT.to_string());
    }
    let mut rev = s.chars().rev();
    match (rev.next(), rev.next()) {
        (Some(last), _) if !is_break(last) => out.push('-'),
        (Some(_), None) => out.push('+'),
        (Some(_), Some(before)) if is_break(before) => out.push('+'),
        _ => {}
    }
    let mut breaks = true;
    let mut at_line_start = false;
    for c in s.chars() {
        if is_break(c) {
            out.push(if c == '\n' { '\n' } else { c });
            breaks = true;
            at_line_start = true;
        } else {
            if breaks {
                if !at_line_start {
                    out.push('\n');
                }
                pad(&mut out, indent);
            }
            out.push(c);
            breaks = false;
            at_line_start = false;
        }
    }
    out
}

/// Whether go-yaml's `resolve` reads the plain scalar `s` as something other than a
/// string (null, bool, int, float, timestamp or merge key).
fn resolves_to_other_type(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "true", "True", "TRUE", "false", "False", "FALSE", "", "~", "null", "Null", "NULL", ".nan",
        ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
        "-.INF",
    ];
    let Some(first) = s.bytes().next() else {
        return true;
    };
    let hinted =
        matches!(first, b'+' | b'-' | b'0'..=b'9' | b'.') || b"yYnNtTfFoO~".contains(&first);
    if !hinted {
        return false;
    }
    if WORDS.contains(&s) {
        return true;
    }
    match first {
        b'.' => go_parse_float(s),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return true;
            }
            let plain = s.replace('_', "");
            go_parse_int(&plain)
                || (yaml_style_float(&plain) && go_parse_float(&plain))
                || prefixed_int(&plain, "0b", 2)
                || prefixed_int(&plain, "0o", 8)
        }
        _ => false,
    }
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint` succeeding.
fn go_parse_int(s: &str) -> bool {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (digits, radix) = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(o) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (o, 8)
    } else if let Some(b) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (b, 2)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return false;
    }
    match u128::from_str_radix(digits, radix) {
        Ok(v) if negative => v <= 1 << 63,
        Ok(v) => v <= u64::MAX as u128,
        Err(_) => false,
    }
}

/// `-?0b…`/`-?0o…` after the other forms failed (go-yaml's own prefixes).
fn prefixed_int(s: &str, prefix: &str, radix: u32) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    body.strip_prefix(prefix).is_some_and(|d| {
        !d.is_empty()
            && d.chars().all(|c| c.is_digit(radix))
            && u64::from_str_radix(d, radix).is_ok()
    })
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// `strconv.ParseFloat(s, 64)` succeeding for the decimal forms go-yaml lets reach it
/// (overflow is an error in Go).
fn go_parse_float(s: &str) -> bool {
    yaml_style_float(s) && s.parse::<f64>().is_ok_and(f64::is_finite)
}

/// go-yaml's `parseTimestamp`: four digits and `-`, then one of `2006-1-2`,
/// `2006-1-2 15:4:5.999999999` or `2006-1-2T15:4:5.999999999Z07:00` (`t` too).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let number = |t: &str, max: u32| -> Option<u32> {
        (!t.is_empty() && t.len() <= 2 && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(i) => (&rest[..i], Some((&rest[i..i + 1], &rest[i + 1..]))),
        None => (rest, None),
    };
    let Some((month, day)) = date.split_once('-') else {
        return false;
    };
    let (Some(m), Some(d)) = (number(month, 12), number(day, 31)) else {
        return false;
    };
    if m == 0 || d == 0 {
        return false;
    }
    let Some((separator, time)) = time else {
        return true;
    };
    let (clock, zone) = if separator == " " {
        (time, None)
    } else {
        match time.find(['Z', '+', '-']) {
            Some(i) => (&time[..i], Some(&time[i..])),
            None => return false,
        }
    };
    let (clock, fraction) = match clock.split_once('.') {
        Some((c, f)) => (c, Some(f)),
        None => (clock, None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let clock_ok = parts.len() == 3
        && number(parts[0], 23).is_some()
        && number(parts[1], 59).is_some()
        && number(parts[2], 59).is_some();
    let fraction_ok =
        fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()));
    let zone_ok = zone.is_none_or(|z| {
        z == "Z" || {
            let t = &z[1..];
            t.len() == 5
                && t.as_bytes()[2] == b':'
                && number(&t[..2], 23).is_some()
                && number(&t[3..], 59).is_some()
        }
    });
    clock_ok && fraction_ok && zone_ok
}

/// go-yaml's `isBase60Float`.
fn is_base60_float(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !body.starts_with(|c: char| c.is_ascii_digit()) || !body.contains(':') {
        return false;
    }
    let (main, fraction) = match body.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (body, None),
    };
    let mut groups = main.split(':');
    let head = groups.next().unwrap_or("");
    let head_ok = head.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let tail_ok = groups.all(|g| {
        (1..=2).contains(&g.len())
            && g.bytes().all(|b| b.is_ascii_digit())
            && (g.len() == 1 || g.as_bytes()[0] <= b'5')
    });
    head_ok
        && tail_ok
        && fraction.is_none_or(|f| f.bytes().all(|b| b.is_ascii_digit() || b == b'_'))
}

/// YAML 1.1's booleans, which go-yaml still quotes.
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}
