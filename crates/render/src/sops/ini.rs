//! SOPS INI files as sops's INI store reads and writes them through `gopkg.in/ini.v1`
//! (`AllowNonUniqueSections`, every other option at its default): sections are the
//! top-level mappings (`DEFAULT` first, holding the keys before any header), values are
//! strings, a comment belongs to the section header or key it precedes (an inline
//! `;`/`#` comment to its own key), and the metadata is the `[sops]` section flattened
//! below the top with escaped line breaks. Written with ini.v1's pretty format: `=`
//! aligned per section, quoting where a value needs it, a blank line between sections.
//! Checked against ini.v1 driven as sops drives it (`tests/sops_formats.rs`).
//!
//! Not reproduced: repeated section names (refused: a document cannot hold them),
//! continuation lines, multi-line `"""` values and boolean keys (ini.v1 reads them; a
//! file holding them is refused).

use serde_json::{Map, Value};

use super::SopsError;
use super::comments::{Comments, Step};

/// ini.v1's implicit first section.
const DEFAULT: &str = "DEFAULT";

/// Where a section's own comment is kept among its items' (sops makes it the
/// section's first item, so it is opened with the section's key path).
const SECTION_COMMENT: usize = usize::MAX;

/// The document (metadata included, unflattened) and the comments of an INI file.
pub(crate) fn load(text: &str) -> Result<(Value, Comments), SopsError> {
    let load = |reason: String| SopsError::Load {
        format: "INI",
        reason,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut sections: Map<String, Value> = Map::new();
    sections.insert(DEFAULT.into(), Value::Object(Map::new()));
    let mut comments = Comments::default();
    let mut current = DEFAULT.to_string();
    let mut pending: Vec<String> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() {
            continue;
        }
        if line.starts_with(['#', ';']) {
            pending.push(line.trim_end().to_string());
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let close = header
                .rfind(']')
                .ok_or_else(|| load(format!("unclosed section: {}", line.trim_end())))?;
            let name = header[..close].to_string();
            if let Some(inline) = comment_start(&header[close + 1..]) {
                pending.push(header[close + 1 + inline..].trim_end().to_string());
            }
            if sections.contains_key(&name) {
                return Err(SopsError::Unsupported(format!(
                    "a SOPS INI file with the section [{name}] twice is not decrypted by this hub"
                )));
            }
            if let Some(comment) = take_comment(&mut pending) {
                place(
                    &mut comments,
                    vec![Step::Key(name.clone())],
                    SECTION_COMMENT,
                    comment,
                );
            }
            sections.insert(name.clone(), Value::Object(Map::new()));
            current = name;
            continue;
        }
        let (key, value) =
            key_value(line).map_err(|reason| load(format!("line {}: {reason}", n + 1)))?;
        let (value, inline) = value;
        if let Some(inline) = inline {
            pending.push(inline);
        }
        let Some(Value::Object(section)) = sections.get_mut(&current) else {
            unreachable!("the current section exists");
        };
        let index = section
            .keys()
            .position(|k| *k == key)
            .unwrap_or(section.len());
        section.insert(key, Value::String(value));
        if let Some(comment) = take_comment(&mut pending) {
            place(
                &mut comments,
                vec![Step::Key(current.clone())],
                index,
                comment,
            );
        }
    }
    let metadata = match sections.shift_remove("sops") {
        Some(Value::Object(flat)) => unflatten_metadata(flat)?,
        _ => return Err(SopsError::NotEncrypted),
    };
    comments.remove_top_level_item("sops", sections.len());
    sections.insert("sops".into(), Value::Object(metadata));
    Ok((Value::Object(sections), comments))
}

/// ini.v1 reads a comment as the lines that precede a header or key, trimmed, with
/// sops's `stripCommentChar` taking the first line's `;`/`#` and blanks off.
fn take_comment(pending: &mut Vec<String>) -> Option<String> {
    if pending.is_empty() {
        return None;
    }
    let joined = std::mem::take(pending).join("\n");
    let joined = joined.trim();
    let stripped = if joined.starts_with(';') {
        joined.trim_start_matches([';', ' '])
    } else {
        joined.trim_start_matches(['#', ' '])
    };
    Some(stripped.to_string())
}

/// Sets the comment of item `before` of the collection at `path` (a key set again
/// takes its latest comment).
fn place(comments: &mut Comments, path: Vec<Step>, before: usize, text: String) {
    let placed = comments.by_collection.entry(path).or_default();
    placed.retain(|p| p.before != before);
    placed.push(super::comments::Placed {
        before,
        text,
        inline: false,
    });
}

/// Where an inline comment starts: ini.v1 takes the first `#` or `;`.
fn comment_start(s: &str) -> Option<usize> {
    s.find(['#', ';'])
}

/// A key line: the name (plain, or quoted with `"`, `"""` or a backtick) up to the
/// first `=` or `:`, and the value with its inline comment (ini.v1's `readKeyName` and
/// `readValue`).
fn key_value(line: &str) -> Result<(String, (String, Option<String>)), String> {
    let quote = if line.starts_with("\"\"\"") && line.len() > 6 {
        "\"\"\""
    } else if line.starts_with('"') {
        "\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    let (key, rest) = if quote.is_empty() {
        let end = line
            .find(['=', ':'])
            .ok_or_else(|| format!("key-value delimiter not found: {}", line.trim_end()))?;
        (line[..end].trim().to_string(), &line[end + 1..])
    } else {
        let start = quote.len();
        let pos = line[start..]
            .find(quote)
            .ok_or_else(|| format!("missing closing key quote: {}", line.trim_end()))?
            + start;
        let after = &line[pos + start..];
        let delimiter = after
            .find(['=', ':'])
            .ok_or_else(|| format!("key-value delimiter not found: {}", line.trim_end()))?;
        (line[start..pos].trim().to_string(), &after[delimiter + 1..])
    };
    Ok((key, read_value(rest)?))
}

fn read_value(rest: &str) -> Result<(String, Option<String>), String> {
    let line = rest.trim_start();
    if line.is_empty() {
        return Ok((String::new(), None));
    }
    let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
        "\"\"\""
    } else if line.starts_with('`') {
        "`"
    } else {
        ""
    };
    if !quote.is_empty() {
        let start = quote.len();
        return match line[start..].rfind(quote) {
            Some(pos) => Ok((line[start..start + pos].to_string(), None)),
            None => Err("multi-line values are not read by this hub".into()),
        };
    }
    let mut line = line.trim();
    if line.ends_with('\\') {
        return Err("continuation lines are not read by this hub".into());
    }
    let mut inline = None;
    if let Some(i) = comment_start(line) {
        inline = Some(line[i..].to_string());
        line = line[..i].trim();
    }
    let surrounded = |q: char| {
        line.len() >= 2
            && line.starts_with(q)
            && line.ends_with(q)
            && line[1..].find(q) == Some(line.len() - 2)
    };
    if surrounded('\'') || surrounded('"') {
        line = &line[1..line.len() - 1];
    }
    Ok((line.to_string(), inline))
}

/// The `[sops]` section's flattened keys (`age__list_0__map_enc`) as the metadata
/// mapping, escaped line breaks restored (`MetadataFlattenBelowTop`, `EscapeNewlines`).
fn unflatten_metadata(flat: Map<String, Value>) -> Result<Map<String, Value>, SopsError> {
    let mut metadata = Map::new();
    for (key, value) in flat {
        let text = value.as_str().unwrap_or_default().replace("\\n", "\n");
        super::dotenv::unflatten(&mut metadata, &key, text)?;
    }
    Ok(metadata)
}

/// The document written as sops's INI store writes it (`encodeTree`, ini.v1's
/// `WriteTo`): every top-level entry must be a section (a mapping).
pub(crate) fn emit(doc: &Value, comments: &Comments) -> Result<String, String> {
    let empty = Map::new();
    let sections = doc.as_object().unwrap_or(&empty);
    let mut out = String::new();
    for (index, (name, section)) in sections.iter().enumerate() {
        let Value::Object(keys) = section else {
            return Err(
                "Error encoding section: Section values should always be TreeBranches".into(),
            );
        };
        let path = [Step::Key(name.clone())];
        if let Some(comment) = comment_at(comments, &path, SECTION_COMMENT) {
            for line in comment.split('\n') {
                out.push_str(&comment_line(line, false));
                out.push('\n');
            }
        }
        if index == 0 && name.eq_ignore_ascii_case(DEFAULT) {
            if keys.is_empty() {
                continue;
            }
        } else {
            out.push('[');
            out.push_str(name);
            out.push_str("]\n");
        }
        let written: Vec<String> = keys.keys().map(|k| quoted_key(k)).collect();
        let align = written.iter().map(String::len).max().unwrap_or(0);
        for (i, ((_, value), key)) in keys.iter().zip(&written).enumerate() {
            if let Some(comment) = comment_at(comments, &path, i) {
                for line in comment.split('\n') {
                    out.push_str(&comment_line(line, true));
                    out.push('\n');
                }
            }
            out.push_str(key);
            out.push_str(&" ".repeat(align - key.len()));
            out.push_str(" = ");
            if matches!(value, Value::Object(_) | Value::Array(_)) {
                return Err(format!("Error encoding key: {} holds a complex value", key));
            }
            out.push_str(&quoted_value(&super::formats::val_to_string(value)));
            out.push('\n');
        }
        out.push('\n');
    }
    // ini.v1 1.67 (what sops 3.13 builds with) puts the blank line between sections
    // only: upstream's functional test reads `[foo]\nbar = baz\n`.
    if out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

fn comment_at<'c>(comments: &'c Comments, path: &[Step], index: usize) -> Option<&'c str> {
    comments
        .of(path)
        .iter()
        .find(|p| p.before == index)
        .map(|p| p.text.as_str())
}

/// ini.v1's comment line: `; ` before text that has no marker, else the marker, a space
/// and the rest trimmed (key comments are trimmed first).
fn comment_line(line: &str, trim: bool) -> String {
    let line = if trim { line.trim() } else { line };
    match line.chars().next() {
        Some('#' | ';') => format!("{} {}", &line[..1], line[1..].trim()),
        _ => format!("; {line}"),
    }
}

fn quoted_key(key: &str) -> String {
    if key.contains('"') || key.contains(['=', ':']) {
        format!("`{key}`")
    } else if key.contains('`') {
        format!("\"\"\"{key}\"\"\"")
    } else {
        key.to_string()
    }
}

fn quoted_value(value: &str) -> String {
    if value.contains(['\n', '`']) {
        format!("\"\"\"{value}\"\"\"")
    } else if value.contains(['#', ';']) {
        format!("`{value}`")
    } else if value.trim() != value {
        format!("\"{value}\"")
    } else {
        value.to_string()
    }
}
