//! Validation errors shaped like apimachinery's `field.Error` and its
//! aggregate, because the apiserver returns their text verbatim to clients.

use std::fmt;

/// The offending value of a [`FieldError`], printed the way Go prints it:
/// strings quoted (`%q`), lists as JSON (`null` for a missing list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadValue {
    /// A single string, printed quoted.
    String(String),
    /// A list of strings; `None` is a missing (nil) list, printed `null`.
    Strings(Option<Vec<String>>),
}

/// One invalid field: `"<field>: Invalid value: <value>: <detail>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, e.g. `key`, `values`, `values[0][app]`, or
    /// `<nil>` when the string parser reports an invalid key (upstream has
    /// no path there and prints Go's nil path).
    pub field: String,
    /// The value that was rejected.
    pub bad_value: BadValue,
    /// Why it was rejected.
    pub detail: String,
}

impl FieldError {
    pub(crate) fn invalid(
        field: impl Into<String>,
        bad_value: BadValue,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            bad_value,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: Invalid value: ", self.field)?;
        match &self.bad_value {
            BadValue::String(s) => f.write_str(&go_quote(s))?,
            BadValue::Strings(None) => f.write_str("null")?,
            BadValue::Strings(Some(list)) => {
                f.write_str("[")?;
                for (i, s) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    f.write_str(&go_json_string(s))?;
                }
                f.write_str("]")?;
            }
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Formats errors like apimachinery's aggregate: one error alone, several
/// de-duplicated and wrapped in `[…]` separated by `", "`.
pub(crate) fn fmt_aggregate(errors: &[FieldError], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut seen: Vec<String> = Vec::new();
    for err in errors {
        let msg = err.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    match seen.as_slice() {
        [one] => f.write_str(one),
        many => write!(f, "[{}]", many.join(", ")),
    }
}

/// Go's `strconv.Quote`, close enough for label text: printable characters
/// stay, the usual escapes are used, other control characters become `\xNN`
/// or `\uNNNN`.
fn go_quote(s: &str) -> String {
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
            c if (c as u32) < 0x80 && c.is_ascii_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string as Go's `encoding/json` writes it (HTML-safe escaping included).
fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_error_text_matches_go_formatting() {
        let e = FieldError::invalid("values[0][app]", BadValue::String("a\"b".into()), "bad");
        assert_eq!(
            e.to_string(),
            r#"values[0][app]: Invalid value: "a\"b": bad"#
        );
        let e = FieldError::invalid("values", BadValue::Strings(None), "empty");
        assert_eq!(e.to_string(), "values: Invalid value: null: empty");
        let e = FieldError::invalid(
            "values",
            BadValue::Strings(Some(vec!["a".into(), "<b>".into()])),
            "x",
        );
        assert_eq!(
            e.to_string(),
            r#"values: Invalid value: ["a","\u003cb\u003e"]: x"#
        );
    }
}
