//! Values as structured-merge-diff sees them: its total order and equality (numbers
//! compare numerically, so `1` and `1.0` are the same list key), and the Go renderings
//! that end up in paths, FieldsV1 keys and messages.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Number, Value};

/// A JSON number as smd reads it: an integer unless it was written with a fraction or
/// exponent.
enum Num {
    Int(i128),
    Float(f64),
}

fn num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Num::Int(i128::from(u))
    } else {
        Num::Float(n.as_f64().unwrap_or(0.0))
    }
}

fn cmp_numbers(a: &Number, b: &Number) -> Ordering {
    match (num(a), num(b)) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        // smd compares a float with an int (or two floats) as floats.
        (x, y) => as_f64(x).total_cmp(&as_f64(y)),
    }
}

fn as_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

/// smd's rank of value kinds in its total order: numbers, strings, booleans, lists,
/// maps, null.
fn rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        Value::Array(_) => 3,
        Value::Object(_) => 4,
        Value::Null => 5,
    }
}

/// smd's total order of values (`value.Compare`).
pub(crate) fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y) {
                let c = compare(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => compare_maps(x, y),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => rank(a).cmp(&rank(b)),
    }
}

/// `value.MapCompare`: walks the union of keys in lexical order; the side that runs out
/// of keys first, or lacks a key the other has, is the smaller.
fn compare_maps(
    x: &serde_json::Map<String, Value>,
    y: &serde_json::Map<String, Value>,
) -> Ordering {
    if x.is_empty() && y.is_empty() {
        return Ordering::Equal;
    }
    let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
    keys.sort();
    keys.dedup();
    for (i, key) in keys.into_iter().enumerate() {
        let c = if i == x.len() {
            Ordering::Less
        } else if i == y.len() {
            Ordering::Greater
        } else {
            match (x.get(key), y.get(key)) {
                (None, _) => Ordering::Greater,
                (_, None) => Ordering::Less,
                (Some(l), Some(r)) => compare(l, r),
            }
        };
        if c != Ordering::Equal {
            return c;
        }
    }
    Ordering::Equal
}

/// smd's value equality (`value.Equals`): like JSON equality except that an integer
/// equals a float of the same value.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y) == Ordering::Equal,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| values_equal(l, r))
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return false;
            }
            // Objects derived from one another keep their key order: compare by
            // position while the keys line up, and look keys up only after that.
            let mut ys = y.iter();
            for (i, (k, l)) in x.iter().enumerate() {
                match ys.next() {
                    Some((yk, r)) if yk == k => {
                        if !values_equal(l, r) {
                            return false;
                        }
                    }
                    _ => {
                        return x
                            .iter()
                            .skip(i)
                            .all(|(k, l)| y.get(k).is_some_and(|r| values_equal(l, r)));
                    }
                }
            }
            true
        }
        _ => false,
    }
}

/// Which string escapes a Go JSON encoder uses. They differ only for `\b` and `\f`:
/// json-iterator (FieldsV1) writes `\u0008`, encoding/json (manager identifiers, the
/// last-applied annotation) writes `\b`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonFlavor {
    /// json-iterator in its standard-library-compatible configuration.
    JsonIter,
    /// Go's encoding/json.
    Std,
}

/// Appends `s` as a Go JSON string: HTML-safe (`<`, `>`, `&` escaped), U+2028 and
/// U+2029 escaped, as both Go encoders do by default.
pub(crate) fn write_go_json_string(out: &mut String, s: &str, flavor: JsonFlavor) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' if flavor == JsonFlavor::Std => out.push_str("\\b"),
            '\u{c}' if flavor == JsonFlavor::Std => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a float the way Go's JSON encoders do: shortest round-trip digits, plain
/// notation between 1e-6 and 1e21, exponent notation (`1e+21`, `1e-7`) outside.
fn write_go_json_float(out: &mut String, f: f64) {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&s),
        }
    } else {
        // Rust's Display is the shortest round-trip form without exponent, as Go's 'f'
        // format with precision -1.
        let _ = write!(out, "{f}");
    }
}

fn write_go_json_number(out: &mut String, n: &Number) {
    match num(n) {
        Num::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Num::Float(f) => write_go_json_float(out, f),
    }
}

/// Appends `v` as Go's JSON encoders write an unstructured value: compact, map keys
/// sorted.
pub(crate) fn write_go_json(out: &mut String, v: &Value, flavor: JsonFlavor) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_go_json_number(out, n),
        Value::String(s) => write_go_json_string(out, s, flavor),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json(out, item, flavor);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json_string(out, k, flavor);
                out.push(':');
                if let Some(v) = m.get(k) {
                    write_go_json(out, v, flavor);
                }
            }
            out.push('}');
        }
    }
}

/// Go's `%q` of a string (`strconv.Quote`).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            // Unicode's C1 controls and the line/paragraph separators are not printable
            // for strconv.IsPrint.
            c if (0x80..0xa0).contains(&(c as u32)) || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` of a float64: `strconv.FormatFloat(f, 'g', -1, 64)`, the shortest digits,
/// in exponent form when the exponent is below -4 or at least 6 (`1e+06`, `123456`,
/// `1e-05`).
fn go_format_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{f:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// smd's `value.ToString`, used inside path strings: strings quoted as Go's `%q`,
/// numbers and booleans as Go's `%v`.
pub(crate) fn to_go_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match num(n) {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => go_format_float(f),
        },
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(to_go_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", to_go_string(v)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ints_and_floats_compare_numerically() {
        assert!(values_equal(&json!(1), &json!(1.0)));
        assert_eq!(compare(&json!(2), &json!(1.5)), Ordering::Greater);
        assert_eq!(compare(&json!(1), &json!("a")), Ordering::Less);
        assert_eq!(compare(&json!(true), &json!("a")), Ordering::Greater);
        assert_eq!(compare(&json!(null), &json!({})), Ordering::Greater);
    }

    #[test]
    fn go_json_matches_the_apiserver() {
        let mut s = String::new();
        write_go_json(
            &mut s,
            &json!({"b": 2.0, "a": "<x>", "c": 1e21, "d": 1e-7}),
            JsonFlavor::JsonIter,
        );
        assert_eq!(s, r#"{"a":"\u003cx\u003e","b":2,"c":1e+21,"d":1e-7}"#);
    }

    #[test]
    fn go_percent_v_of_floats() {
        assert_eq!(to_go_string(&json!(2.0)), "2");
        assert_eq!(to_go_string(&json!(1.5)), "1.5");
        assert_eq!(to_go_string(&json!(1000000.0)), "1e+06");
        assert_eq!(to_go_string(&json!(123456.0)), "123456");
        assert_eq!(to_go_string(&json!(0.00001)), "1e-05");
        assert_eq!(to_go_string(&json!(0.0001)), "0.0001");
        assert_eq!(to_go_string(&json!("a\"b")), r#""a\"b""#);
    }
}
