//! YAML as Helm's and Argo CD's `toYaml` write it (`sigs.k8s.io/yaml`, i.e. go-yaml v2 over
//! the JSON form): sorted keys, two-space indentation, sequences not indented under their
//! key, strings quoted only when a plain scalar would read back as something else.
//! Reading goes through JSON as `sigs.k8s.io/yaml` does, so every number is a float64.

use crate::gojson;
use crate::value::Value;

/// `yaml.Marshal(v)` without the final newline handling (the callers trim it).
pub(crate) fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    // Through JSON first: integral floats become ints, times become strings.
    let v = json_round_trip(v);
    match &v {
        Value::Map(m) if !m.is_empty() => write_map(&mut out, &v, 0),
        Value::List(l) if !l.is_empty() => write_list(&mut out, &v, 0),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn json_round_trip(v: &Value) -> Value {
    match v {
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => {
            // encoding/json writes 3.0 as "3", which YAML then reads as an int.
            Value::Int(*f as i64)
        }
        Value::Time(_) => Value::from(gojson::encode(v, false, None).trim_matches('"').to_string()),
        Value::List(l) => Value::list(l.iter().map(json_round_trip).collect()),
        Value::Map(m) => Value::map(
            m.read()
                .iter()
                .map(|(k, v)| (k.clone(), json_round_trip(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, v: &Value, indent: usize) {
    let Value::Map(m) = v else { return };
    for (i, (k, item)) in m.read().iter().enumerate() {
        if i > 0 {
            pad(out, indent);
        }
        out.push_str(&string(k, indent));
        out.push(':');
        write_child(out, item, indent, true);
    }
}

fn write_list(out: &mut String, v: &Value, indent: usize) {
    let Value::List(l) = v else { return };
    for (i, item) in l.iter().enumerate() {
        if i > 0 {
            pad(out, indent);
        }
        out.push('-');
        write_child(out, item, indent, false);
    }
}

/// Writes the value after `key:` or `-`.
fn write_child(out: &mut String, item: &Value, indent: usize, in_map: bool) {
    match item {
        Value::Map(m) if !m.is_empty() => {
            if in_map {
                out.push('\n');
                pad(out, indent + 2);
            } else {
                out.push(' ');
            }
            write_map(out, item, indent + 2);
        }
        Value::List(l) if !l.is_empty() => {
            if in_map {
                // go-yaml v2 does not indent a sequence under its mapping key.
                out.push('\n');
                pad(out, indent);
                write_list(out, item, indent);
            } else {
                out.push(' ');
                write_list(out, item, indent + 2);
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, indent + 2));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
        Value::Float(f) => crate::gofmt::format_float(*f, 'g', None),
        Value::String(s) => string(s, indent),
        Value::Map(_) => "{}".into(),
        Value::List(_) => "[]".into(),
        Value::Time(_) => string(gojson::encode(v, false, None).trim_matches('"'), indent),
    }
}

/// Whether a plain scalar `s` would be read by YAML 1.1 (go-yaml v2) as a non-string.
fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: [&str; 27] = [
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ];
    if SPECIAL.contains(&s)
        || matches!(
            s,
            ".inf" | ".Inf" | ".INF" | "+.inf" | "-.inf" | ".nan" | ".NaN" | ".NAN" | "<<"
        )
    {
        return true;
    }
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    let int_like = !clean.is_empty()
        && (clean.bytes().all(|b| b.is_ascii_digit())
            || clean
                .strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            || clean
                .strip_prefix("0b")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b == b'0' || b == b'1')));
    if int_like {
        return true;
    }
    // Floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let (mant, exp) = match clean.find(['e', 'E']) {
        Some(i) => (&clean[..i], Some(&clean[i + 1..])),
        None => (clean.as_str(), None),
    };
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => {
            (!a.is_empty() || !b.is_empty())
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
                && !(a.is_empty() && b.is_empty())
        }
        None => !mant.is_empty() && mant.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    if mant_ok && exp_ok && !(mant.starts_with('.') && mant.len() == 1) {
        return true;
    }
    // Sexagesimal numbers (1:20) and timestamps (2001-12-14…) also resolve to other types.
    let sexagesimal = s.contains(':')
        && s.split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit() || c == b'.'));
    let b = s.as_bytes();
    let timestamp = b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && s[5..].starts_with(|c: char| c.is_ascii_digit());
    sexagesimal || timestamp
}

fn plain_allowed(s: &str) -> bool {
    let first = s.chars().next();
    let Some(first) = first else { return false };
    let second_ws = s.chars().nth(1).is_none_or(|c| c == ' ' || c == '\t');
    if "#,[]{}&*!|>'\"%@`".contains(first) || ("-?:".contains(first) && second_ws) {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.contains(":\t") || s.contains("\t#") {
        return false;
    }
    s.chars().all(|c| !c.is_control() || c == '\t')
}

fn string(s: &str, indent: usize) -> String {
    let special = s
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{FEFF}');
    if s.contains('\n') && !special && !s.split('\n').any(|l| l.ends_with(' ')) {
        return literal(s, indent);
    }
    if !special && !resolves_to_non_string(s) && plain_allowed(s) {
        return s.to_string();
    }
    if special || s.contains('\n') || resolves_to_non_string(s) {
        return double_quoted(s);
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn literal(s: &str, indent: usize) -> String {
    let chomp = if !s.ends_with('\n') {
        "-"
    } else if s.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let indicator = if s.starts_with([' ', '\n']) { "2" } else { "" };
    let mut out = format!("|{indicator}{chomp}");
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', indent));
            out.push_str(line);
        }
    }
    out
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if c.is_control() || c == '\u{FEFF}' => {
                if (c as u32) <= 0xff {
                    out.push_str(&format!("\\x{:02X}", c as u32));
                } else {
                    out.push_str(&format!("\\u{:04X}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses YAML into a value the way `sigs.k8s.io/yaml.Unmarshal` into `interface{}` does
/// (through JSON: numbers are float64).
pub(crate) fn from_yaml(text: &str) -> Result<Value, String> {
    let json: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    gojson::decode(&json.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(j: serde_json::Value) -> String {
        to_yaml(&Value::from(&j))
    }

    #[test]
    fn go_yaml_v2_layout() {
        let j = serde_json::json!({"b": [1, {"x": "y", "a": true}], "a": {"c": "3", "d": ""}, "e": "two\nlines"});
        assert_eq!(
            y(j),
            // go-yaml v2 reads a plain `y` as a bool, so it quotes the string "y".
            "a:\n  c: \"3\"\n  d: \"\"\nb:\n- 1\n- a: true\n  x: \"y\"\ne: |-\n  two\n  lines\n"
        );
        assert_eq!(
            y(serde_json::json!({"k": "yes", "t": "a: b", "z": null, "f": 1.5})),
            "f: 1.5\nk: \"yes\"\nt: 'a: b'\nz: null\n"
        );
        assert_eq!(y(serde_json::json!([])), "[]\n");
    }
}
