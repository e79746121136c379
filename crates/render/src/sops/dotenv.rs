//! SOPS's dotenv format: `KEY=VALUE` lines (split at the first `=`; `\n` in a value is
//! a line break), `#` comment lines, and the metadata flattened into `sops_…` keys
//! (`sops_age__list_0__map_enc`: list index and map key separators).

use serde_json::{Map, Value};

use super::{Identities, SopsError};

/// A dotenv file's lines: comments and pairs, in order.
enum Line {
    Comment(String),
    Pair(String, String),
}

fn parse(text: &str) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match l.strip_prefix('#') {
            Some(comment) => Line::Comment(comment.to_string()),
            None => {
                let (key, value) = l.split_once('=').unwrap_or((l, ""));
                Line::Pair(key.to_string(), value.replace("\\n", "\n"))
            }
        })
        .collect()
}

/// Sets `value` at the flattened metadata key `key` (`age__list_0__map_enc`).
pub(crate) fn unflatten(
    into: &mut Map<String, Value>,
    key: &str,
    value: String,
) -> Result<(), SopsError> {
    let bad = || SopsError::Metadata(format!("sops_{key}: not a metadata key"));
    let mut parts = key.split("__");
    let first = parts.next().ok_or_else(bad)?;
    let mut slot = into.entry(first.to_string()).or_insert(Value::Null);
    for part in parts {
        if let Some(index) = part.strip_prefix("list_") {
            let index: usize = index.parse().map_err(|_| bad())?;
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            let items = slot.as_array_mut().ok_or_else(bad)?;
            while items.len() <= index {
                items.push(Value::Null);
            }
            slot = &mut items[index];
        } else if let Some(name) = part.strip_prefix("map_") {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot = slot
                .as_object_mut()
                .ok_or_else(bad)?
                .entry(name.to_string())
                .or_insert(Value::Null);
        } else {
            return Err(bad());
        }
    }
    *slot = match value.as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(value),
    };
    Ok(())
}

/// The document a SOPS dotenv file holds: its pairs and the `sops` metadata.
fn document(lines: &[Line]) -> Result<Value, SopsError> {
    let mut fields = Map::new();
    let mut metadata = Map::new();
    for line in lines {
        if let Line::Pair(key, value) = line {
            match key.strip_prefix("sops_") {
                Some(meta) => unflatten(&mut metadata, meta, value.clone())?,
                None => {
                    fields.insert(key.clone(), Value::String(value.clone()));
                }
            }
        }
    }
    if metadata.is_empty() {
        return Err(SopsError::NotEncrypted);
    }
    fields.insert("sops".into(), Value::Object(metadata));
    Ok(Value::Object(fields))
}

/// The still encrypted document of a SOPS dotenv file, to be written in another
/// format; a file with comments is refused (sops would carry them over).
pub(crate) fn tree(text: &str) -> Result<Value, SopsError> {
    let lines = parse(text);
    if lines.iter().any(|l| matches!(l, Line::Comment(_))) {
        return Err(SopsError::Unsupported(
            "a SOPS dotenv file with comments is decrypted into dotenv only".into(),
        ));
    }
    document(&lines)
}

/// Decrypts a SOPS dotenv file into plain dotenv text (`sops --decrypt`), the MAC
/// verified when `check_mac`.
pub(crate) fn decrypt(
    text: &str,
    identities: &Identities,
    check_mac: bool,
) -> Result<String, SopsError> {
    let lines = parse(text);
    let mut doc = document(&lines)?;
    super::decrypt_checked(&mut doc, identities, check_mac)?;
    let mut out = String::new();
    for line in lines {
        match line {
            Line::Comment(comment) => {
                out.push('#');
                out.push_str(&comment);
            }
            Line::Pair(key, _) if key.starts_with("sops_") => continue,
            Line::Pair(key, _) => {
                let value = match doc.get(&key) {
                    Some(Value::String(s)) => s.replace('\n', "\\n"),
                    Some(other) => {
                        String::from_utf8_lossy(&super::value::mac_bytes(other)).into_owned()
                    }
                    None => String::new(),
                };
                out.push_str(&key);
                out.push('=');
                out.push_str(&value);
            }
        }
        out.push('\n');
    }
    Ok(out)
}
