//! Go's formatting of JSON values, where it differs from Rust's defaults: `fmt.Fprint` of a
//! float64 and `encoding/json`'s `Marshal` (sorted keys, HTML-safe escaping). Kubernetes
//! prints table cells this way and kustomize hashes generated objects this way.

use serde_json::Value;

/// Shortest round-trip digits of `|f|` and the decimal exponent of the
/// first digit (`1.5e-7` → `("15", -7)`).
fn digits(f: f64) -> (String, i32) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    (mantissa.replace('.', ""), exp.parse().unwrap_or(0))
}

/// `strconv.FormatFloat(f, 'e', -1, 64)`: `1.5e-07`, `1e+21`.
fn exponent_form(f: f64) -> String {
    let (digits, exp) = digits(f);
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (first, rest) = digits.split_at(1.min(digits.len()));
    let mantissa = if rest.is_empty() {
        first.to_string()
    } else {
        format!("{first}.{rest}")
    };
    let exp_sign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
}

/// `fmt.Sprint(f)` for a float64: `%g` with shortest digits, which
/// switches to exponent form below 1e-4 and from 1e+06.
pub fn sprint_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let (_, exp) = digits(f);
    if !(-4..6).contains(&exp) {
        exponent_form(f)
    } else {
        format!("{f}")
    }
}

/// `encoding/json` of a float64: plain below 1e21 and from 1e-6,
/// exponent form otherwise with `e-07` shortened to `e-7`.
fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = exponent_form(f);
        match s.split_once("e-0") {
            Some((m, d)) if d.len() == 1 => format!("{m}e-{d}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// `json.Marshal` of a decoded JSON value: map keys sorted, HTML-safe
/// string escaping, whole numbers as int64 and others as float64.
pub fn marshal(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, Keys::Sorted, &mut out);
    out
}

/// `json.Marshal` with keys in the value's own order: a Go struct's fields in declaration
/// order (objects must be given in that order, and any map inside already sorted).
pub fn marshal_in_order(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, Keys::InOrder, &mut out);
    out
}

/// Whether object keys are written sorted (a Go map) or as given (a Go struct).
#[derive(Clone, Copy)]
enum Keys {
    Sorted,
    InOrder,
}

/// `json.Marshal` then `json.Indent` with `indent`, keys in the value's own order (how
/// sops writes a JSON file: its encoder keeps the tree's order).
pub fn marshal_indent_in_order(value: &Value, indent: &str) -> String {
    let mut out = String::new();
    write_indented(value, indent, 0, &mut out);
    out
}

fn write_indented(value: &Value, indent: &str, level: usize, out: &mut String) {
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        for _ in 0..level {
            out.push_str(indent);
        }
    };
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                write_indented(item, indent, level + 1, out);
            }
            newline(out, level);
            out.push(']');
        }
        Value::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, level + 1);
                write_string(key, out);
                out.push_str(": ");
                write_indented(item, indent, level + 1, out);
            }
            newline(out, level);
            out.push('}');
        }
        other => write_value(other, Keys::InOrder, out),
    }
}

fn write_value(value: &Value, keys: Keys, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_i64() {
            Some(i) => out.push_str(&i.to_string()),
            None => out.push_str(&json_float(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, keys, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if let Keys::Sorted = keys {
                entries.sort_by_key(|(key, _)| *key);
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, keys, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go 1.22 and later (every current kubectl, kustomize, sops and Flux build).
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(sprint_float(1.5), "1.5");
        assert_eq!(sprint_float(123456.0), "123456");
        assert_eq!(sprint_float(1_000_000.0), "1e+06");
        assert_eq!(sprint_float(1_234_567.0), "1.234567e+06");
        assert_eq!(sprint_float(0.0001), "0.0001");
        assert_eq!(sprint_float(0.00001), "1e-05");
        assert_eq!(sprint_float(-2.5e-9), "-2.5e-09");
    }

    #[test]
    fn marshal_sorts_keys_and_escapes_html() {
        let v = json!({"b": [1, 2.5, 1e21, 1e-7], "a": "<x>", "c": null, "d": true});
        assert_eq!(
            marshal(&v),
            r#"{"a":"\u003cx\u003e","b":[1,2.5,1e+21,1e-7],"c":null,"d":true}"#
        );
    }

    /// What Go 1.27's `json.Marshal` printed for the same values (a map, so sorted keys).
    #[test]
    fn marshal_escapes_and_numbers_as_current_go() {
        let v = json!({"s": "a\u{8}b\u{c}c<\u{2028}\u{1}", "f": 1e21, "g": 1e-7, "h": 2.5,
                       "i": 1e20});
        assert_eq!(
            marshal(&v),
            r#"{"f":1e+21,"g":1e-7,"h":2.5,"i":100000000000000000000,"s":"a\bb\fc\u003c\u2028\u0001"}"#
        );
        let ordered = json!({"z": {"b": 1, "a": 2}, "a": true});
        assert_eq!(
            marshal_in_order(&ordered),
            r#"{"z":{"b":1,"a":2},"a":true}"#
        );
    }
}
