//! SOPS files of every format kustomize-controller decrypts (`SopsDecryptWithFormat`):
//! loaded by the store of their input format, decrypted, and written by the store of
//! the output format — a generator source keeps its format, a Secret `data` value takes
//! the format its key names (`config.yaml` holding an encrypted JSON file becomes YAML).
//!
//! Written as sops 3.13 writes them: YAML by go-yaml v3 ([`super::goyaml`]) with its
//! comments where sops puts them back ([`super::comments`]), JSON by `encoding/json`
//! indented with tabs, dotenv as `KEY=value` lines, INI through ini.v1's rules
//! ([`super::ini`]), binary as the bytes of the `data` value. Not read here:
//! multi-document YAML files.

use serde_json::{Map, Value};

use super::comments::{self, Comments};
use super::{Identities, SopsError};

/// A SOPS store format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`, `.dockerconfigjson`).
    Json,
    /// dotenv (`.env`).
    Dotenv,
    /// INI (`.ini`).
    Ini,
    /// Anything else: the file's bytes in a JSON envelope's `data`.
    Binary,
}

impl Format {
    /// kustomize-controller's `formatForPath`: sops's `FormatForPath`, and a Docker
    /// config key is JSON.
    pub fn for_path(path: &str) -> Format {
        if path.ends_with(".dockerconfigjson") || path.ends_with(".json") {
            Format::Json
        } else if path.ends_with(".yaml") || path.ends_with(".yml") {
            Format::Yaml
        } else if path.ends_with(".env") {
            Format::Dotenv
        } else if path.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// The format whose marker `text` holds (`detectFormatFromMarkerBytes`). JSON and
    /// binary files share a marker and load alike; JSON is answered.
    pub fn detect(text: &str) -> Option<Format> {
        [Format::Dotenv, Format::Ini, Format::Json, Format::Yaml]
            .into_iter()
            .find(|f| f.holds(text))
    }

    /// Whether `text` holds this format's SOPS marker (`sopsFormatToMarkerBytes`).
    pub fn holds(self, text: &str) -> bool {
        text.contains(self.marker())
    }

    fn marker(self) -> &'static str {
        match self {
            Format::Dotenv => "sops_mac=ENC[",
            Format::Ini => "[sops]",
            Format::Json | Format::Binary => "\"mac\": \"ENC[",
            Format::Yaml => "mac: ENC[",
        }
    }

    /// kustomize-controller's name for the format in its messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Binary => "binary",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
            Format::Json => "JSON",
            Format::Yaml => "YAML",
        }
    }
}

/// Decrypts the SOPS file `text` of format `input` and writes it as `output`; each
/// value authenticates with its key path, the MAC is checked when `check_mac`.
pub fn decrypt_file(
    text: &str,
    input: Format,
    output: Format,
    identities: &Identities,
    check_mac: bool,
) -> Result<Vec<u8>, SopsError> {
    if input == Format::Dotenv && output == Format::Dotenv {
        // Kept line by line, comments included.
        return super::dotenv::decrypt(text, identities, check_mac).map(String::into_bytes);
    }
    let load = |reason: String| SopsError::Load {
        format: input.name(),
        reason,
    };
    let (mut docs, mut comments) = match input {
        Format::Json | Format::Binary => {
            (vec![load_json(text).map_err(load)?], Comments::default())
        }
        Format::Yaml => load_yaml(text).map_err(load)?,
        Format::Dotenv => (vec![super::dotenv::tree(text)?], Comments::default()),
        Format::Ini => {
            let (doc, comments) = super::ini::load(text)?;
            (vec![doc], comments)
        }
    };
    if docs.is_empty() {
        return Err(load("no documents".into()));
    }
    if docs.len() > 1 {
        return Err(SopsError::Unsupported(
            "multi-document SOPS YAML files are not decrypted by this hub".into(),
        ));
    }
    if let Some(index) = docs[0]
        .as_object()
        .and_then(|m| m.keys().position(|k| k == "sops"))
    {
        comments.remove_top_level_item("sops", index);
    }
    if input == Format::Ini
        && !comments.is_empty()
        && !matches!(output, Format::Ini | Format::Json | Format::Binary)
    {
        return Err(SopsError::Unsupported(format!(
            "a SOPS INI file with comments is decrypted into INI, JSON or binary only, not {}",
            output.name()
        )));
    }
    let key = super::decrypt_checked(&mut docs[0], identities, check_mac)?;
    decrypt_comments(&mut comments, &key)?;
    let emit = |reason: String| SopsError::Emit {
        input: input.name(),
        output: output.name(),
        reason,
    };
    match output {
        Format::Yaml => Ok(super::goyaml::documents(&docs, &comments).into_bytes()),
        Format::Json => {
            let mut out = flotilla_core::gofmt::marshal_indent_in_order(&docs[0], "\t");
            out.push('\n');
            Ok(out.into_bytes())
        }
        Format::Dotenv => dotenv_lines(&docs[0], comments.of(&[]))
            .map(String::into_bytes)
            .map_err(emit),
        Format::Binary => match docs[0].get("data") {
            Some(Value::String(data)) => Ok(data.clone().into_bytes()),
            Some(_) => Err(emit(
                "error emitting binary store: 'data' key in tree does not have a string value"
                    .into(),
            )),
            None => Err(emit(
                "error emitting binary store: no binary data found in tree".into(),
            )),
        },
        Format::Ini => super::ini::emit(&docs[0], &comments)
            .map(String::into_bytes)
            .map_err(emit),
    }
}

/// A JSON store's document: one object (sops refuses arrays and scalars).
fn load_json(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(doc @ Value::Object(_)) => Ok(doc),
        Ok(_) => Err("SOPS only supports JSON files with a top-level object".into()),
        Err(e) => Err(format!("Could not unmarshal input data: {e}")),
    }
}

/// A YAML store's documents, read as go-yaml v3 reads them (YAML 1.2 booleans), and
/// the first document's comments.
fn load_yaml(text: &str) -> Result<(Vec<Value>, Comments), String> {
    let options = serde_saphyr::options! {
        budget: Some(serde_saphyr::Budget::default()),
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
    };
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| {
            format!(
                "Error unmarshaling input YAML: {}",
                first_line(&e.to_string())
            )
        })?;
    let docs = docs
        .into_iter()
        .filter(|d| !d.is_null())
        .map(|d| match d {
            Value::Object(_) => Ok(d),
            _ => Err("Error unmarshaling input YAML: a document is not a mapping".to_string()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let Some(line) = first_comment_line(text) else {
        return Ok((docs, Comments::default()));
    };
    let placed = match docs.as_slice() {
        [doc] => comments::read(text, doc),
        _ => Err("comments in a multi-document file".into()),
    };
    placed.map(|c| (docs, c)).map_err(|reason| {
        format!(
            "line {line} holds a comment, and the file's layout is not one whose comments \
             this hub can carry over as sops does ({reason})"
        )
    })
}

/// Opens the comments sops encrypted (`#ENC[…,type:comment]`) with the data key and
/// the key path of their collection; plain comments stay as they are.
fn decrypt_comments(comments: &mut Comments, key: &[u8; 32]) -> Result<(), SopsError> {
    for (keys, placed) in comments.iter_mut() {
        if !placed.text.starts_with("ENC[") {
            continue;
        }
        let aad = format!("{}:", keys.join(":"));
        let located = |source| SopsError::Value {
            path: keys.join(":"),
            source,
        };
        match super::value::decrypt(&placed.text, key, &aad).map_err(located)? {
            Value::String(text) => placed.text = text,
            _ => return Err(located(super::ValueError::Format)),
        }
    }
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// The number of the first line holding a YAML comment, if any: a `#` that starts a
/// line or follows a blank outside quotes and block scalars.
fn first_comment_line(text: &str) -> Option<usize> {
    let mut block_indent: Option<usize> = None;
    let mut opening_block = false;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let body = line.trim();
        if opening_block {
            // The first non-empty line after `|`/`>` sets the block's indentation.
            if body.is_empty() {
                continue;
            }
            opening_block = false;
            block_indent = Some(indent);
        }
        if let Some(block) = block_indent {
            if body.is_empty() || indent >= block {
                continue;
            }
            block_indent = None;
        }
        let (mut single, mut double, mut previous) = (false, false, ' ');
        for c in line.chars() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single && previous != '\\' => double = !double,
                '#' if !single && !double && (previous == ' ' || previous == '\t') => {
                    return Some(n + 1);
                }
                _ => {}
            }
            previous = c;
        }
        let value = body.rsplit_once(": ").map_or(body, |(_, v)| v);
        let value = value.strip_prefix("- ").unwrap_or(value);
        opening_block = matches!(value.chars().next(), Some('|' | '>'))
            && value[1..]
                .chars()
                .all(|c| matches!(c, '-' | '+' | '0'..='9'));
    }
    None
}

/// sops's dotenv store: `KEY=value` per top-level entry, line breaks in strings as
/// `\n`, other values as `stores.ValToString` prints them.
fn dotenv_lines(doc: &Value, comments: &[comments::Placed]) -> Result<String, String> {
    let empty = Map::new();
    let map = doc.as_object().unwrap_or(&empty);
    let mut out = String::new();
    let comments_before = |out: &mut String, index: usize| {
        for placed in comments.iter().filter(|p| p.before == index) {
            out.push('#');
            out.push_str(&placed.text);
            out.push('\n');
        }
    };
    for (index, (key, value)) in map.iter().enumerate() {
        comments_before(&mut out, index);
        let text = match value {
            Value::Object(_) | Value::Array(_) => {
                return Err(format!(
                    "cannot use complex value in dotenv file; offending key {key}"
                ));
            }
            Value::String(s) => s.replace('\n', "\\n"),
            other => val_to_string(other),
        };
        out.push_str(key);
        out.push('=');
        out.push_str(&text);
        out.push('\n');
    }
    comments_before(&mut out, map.len());
    Ok(out)
}

/// sops's `stores.ValToString`: strings as they are, floats as
/// `FormatFloat(v, 'G', -1, 64)` with `.0` added when the result would read as an
/// integer, other scalars as Go prints them.
pub(super) fn val_to_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => {
                let f = n.as_f64().unwrap_or(0.0);
                let g = flotilla_core::gofmt::sprint_float(f).to_uppercase();
                if g.contains('.') || g.contains('E') || !f.is_finite() {
                    g
                } else {
                    format!("{f:.1}")
                }
            }
        },
        other => other.to_string(),
    }
}
