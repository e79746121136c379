//! The comments of a SOPS YAML file, placed where sops's YAML store keeps them: each
//! comment is an item of the mapping or sequence it sits in, before the item it heads,
//! as an inline comment of the scalar item it follows on the same line, or after the
//! last item. The file's lines are walked beside the document serde read from them, so
//! only block layouts such as sops writes are understood; any other layout is an error
//! (the caller then refuses the file rather than drop its comments).

use std::collections::HashMap;

use serde_json::{Map, Value};

/// A step from a collection to one of its items.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// One comment of a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    /// The index of the item it precedes (the number of items: after the last).
    pub(crate) before: usize,
    /// The text after `#`.
    pub(crate) text: String,
    /// Written after the item's scalar on the same line.
    pub(crate) inline: bool,
}

/// The comments of a document, by the path of the collection holding them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Comments {
    pub(crate) by_collection: HashMap<Vec<Step>, Vec<Placed>>,
}

impl Comments {
    /// Accounts for the removal of the top-level item `key` at `index` (the `sops`
    /// metadata): comments inside it go with it, those after it move up.
    pub(crate) fn remove_top_level_item(&mut self, key: &str, index: usize) {
        self.by_collection
            .retain(|path, _| path.first() != Some(&Step::Key(key.to_string())));
        if let Some(top) = self.by_collection.get_mut(&Vec::new()) {
            for placed in top.iter_mut() {
                if placed.before > index {
                    placed.before -= 1;
                }
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_collection.values().all(Vec::is_empty)
    }

    pub(crate) fn of(&self, path: &[Step]) -> &[Placed] {
        self.by_collection.get(path).map_or(&[], Vec::as_slice)
    }

    /// Every comment with the key names of its collection (what sops authenticates an
    /// encrypted comment with: list indices are not part of it).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (Vec<String>, &mut Placed)> {
        self.by_collection.iter_mut().flat_map(|(path, placed)| {
            let keys: Vec<String> = path
                .iter()
                .filter_map(|s| match s {
                    Step::Key(k) => Some(k.clone()),
                    Step::Index(_) => None,
                })
                .collect();
            placed.iter_mut().map(move |p| (keys.clone(), p))
        })
    }
}

struct Line<'a> {
    number: usize,
    indent: usize,
    body: &'a str,
}

impl Line<'_> {
    fn is_comment(&self) -> bool {
        self.body.starts_with('#')
    }
}

struct Walker<'a> {
    lines: Vec<Line<'a>>,
    at: usize,
    comments: Comments,
}

/// Places the comments of `text`, whose document (comments aside) is `doc`.
pub(crate) fn read(text: &str, doc: &Value) -> Result<Comments, String> {
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && l.trim() != "---")
        .map(|(n, l)| {
            let body = l.trim_start_matches(' ');
            Line {
                number: n + 1,
                indent: l.len() - body.len(),
                body: body.trim_end(),
            }
        })
        .collect();
    let mut walker = Walker {
        lines,
        at: 0,
        comments: Comments::default(),
    };
    let Value::Object(map) = doc else {
        return Err("the document is not a mapping".into());
    };
    walker.map(map, &mut Vec::new(), 0)?;
    if let Some(line) = walker.lines.get(walker.at) {
        return Err(format!("line {} is not where it was expected", line.number));
    }
    Ok(walker.comments)
}

impl<'a> Walker<'a> {
    fn place(&mut self, path: &[Step], before: usize, text: &str, inline: bool) {
        self.comments
            .by_collection
            .entry(path.to_vec())
            .or_default()
            .push(Placed {
                before,
                text: text.to_string(),
                inline,
            });
    }

    /// Comment lines up to the next content line, as heads of item `before`.
    fn heads(&mut self, path: &[Step], before: usize) {
        while let Some(line) = self.lines.get(self.at).filter(|l| l.is_comment()) {
            let text = &line.body[1..];
            self.at += 1;
            self.place(path, before, text, false);
        }
    }

    /// The comment lines after a collection's last item that go-yaml gives it as
    /// foot comments. Before more content, a comment at the next content line's
    /// column heads that line's item and every other one belongs to the innermost
    /// collection that just ended (this call, made innermost first). At the end of the
    /// file a comment belongs to the mapping whose keys share its column; a mapping's
    /// call takes those, and a comment at no open mapping's column is not understood.
    fn feet(
        &mut self,
        path: &[Step],
        count: usize,
        indent: usize,
        is_map: bool,
    ) -> Result<(), String> {
        let next = self.lines[self.at..]
            .iter()
            .find(|l| !l.is_comment())
            .map(|l| l.indent);
        if let Some(next) = next {
            // go-yaml splits a run of foot comments at several columns in ways not
            // reproduced here.
            let run: Vec<&Line> = self.lines[self.at..]
                .iter()
                .take_while(|l| l.is_comment() && l.indent != next)
                .collect();
            if let Some(odd) = run.iter().find(|l| l.indent != run[0].indent) {
                return Err(format!(
                    "line {}: foot comments at several columns",
                    odd.number
                ));
            }
        }
        while let Some(line) = self.lines.get(self.at).filter(|l| l.is_comment()) {
            let take = match next {
                Some(next) => line.indent != next,
                None => is_map && line.indent == indent,
            };
            if !take {
                if next.is_none() && path.is_empty() {
                    return Err(format!(
                        "line {}: a comment at the end of the file at no mapping's column",
                        line.number
                    ));
                }
                break;
            }
            let text = &line.body[1..];
            self.at += 1;
            self.place(path, count, text, false);
        }
        Ok(())
    }

    fn content(&self, indent: usize) -> Result<&Line<'a>, String> {
        match self.lines.get(self.at) {
            Some(line) if line.indent == indent => Ok(line),
            Some(line) => Err(format!(
                "line {} is indented {} where {indent} was expected",
                line.number, line.indent
            )),
            None => Err("the file ends early".into()),
        }
    }

    fn map(
        &mut self,
        map: &Map<String, Value>,
        path: &mut Vec<Step>,
        indent: usize,
    ) -> Result<(), String> {
        for (i, (key, value)) in map.iter().enumerate() {
            self.heads(path, i);
            let line = self.content(indent)?;
            let (number, body) = (line.number, line.body);
            let rest = strip_key(body, key)
                .ok_or_else(|| format!("line {number} does not hold the key '{key}'"))?;
            self.at += 1;
            path.push(Step::Key(key.clone()));
            let result = self.value(value, rest, path, indent, number);
            path.pop();
            if let Some(inline) = result? {
                self.place(path, i, inline, true);
            }
        }
        self.feet(path, map.len(), indent, true)?;
        Ok(())
    }

    /// A sequence whose dashes are at `indent`.
    fn seq(&mut self, items: &[Value], path: &mut Vec<Step>, indent: usize) -> Result<(), String> {
        for (i, item) in items.iter().enumerate() {
            self.heads(path, i);
            let line = self.content(indent)?;
            let (number, body) = (line.number, line.body);
            let rest = body
                .strip_prefix('-')
                .filter(|r| r.is_empty() || r.starts_with(' '))
                .ok_or_else(|| format!("line {number} is not a sequence item"))?
                .trim_start_matches(' ');
            self.at += 1;
            path.push(Step::Index(i));
            let result = self.value(item, rest, path, indent, number);
            path.pop();
            if let Some(inline) = result? {
                self.place(path, i, inline, true);
            }
        }
        self.feet(path, items.len(), indent, false)?;
        Ok(())
    }

    /// Reads the value after a key or dash (`rest` of its line at `indent`); returns
    /// the inline comment of a scalar.
    fn value(
        &mut self,
        value: &Value,
        rest: &'a str,
        path: &mut Vec<Step>,
        indent: usize,
        number: usize,
    ) -> Result<Option<&'a str>, String> {
        let nested = match value {
            Value::Object(m) if !m.is_empty() => true,
            Value::Array(a) if !a.is_empty() => true,
            _ => false,
        };
        let continued = nested && !rest.is_empty() && !rest.starts_with(['[', '{']);
        let (rest, inline) = if continued {
            // `- key: v # c`: the comment is the nested item's, read with it below.
            (rest, None)
        } else {
            split_inline_comment(rest)
        };
        if inline.is_some() && matches!(value, Value::Object(_) | Value::Array(_)) {
            return Err(format!("line {number}: a comment after a flow collection"));
        }
        if !nested || rest.starts_with(['[', '{']) {
            if rest.starts_with(['|', '>']) || rest.is_empty() || is_open_quote(rest) {
                // A block scalar or a scalar continued on the next lines: every deeper
                // line is content, `#` included.
                while self.lines.get(self.at).is_some_and(|l| l.indent > indent) {
                    self.at += 1;
                }
            }
            if inline.is_some() && rest.starts_with(['|', '>']) {
                return Err(format!("line {number}: a comment after a block indicator"));
            }
            return Ok(inline);
        }
        if inline.is_some() {
            return Err(format!(
                "line {number}: a comment after a key of a collection"
            ));
        }
        let child = if rest.is_empty() {
            // The collection starts on a later line (comments first are its items').
            self.lines[self.at..]
                .iter()
                .find(|l| !l.is_comment())
                .map(|l| l.indent)
                .ok_or("the file ends early")?
        } else {
            // It starts on the dash's line (`- key: v`, `- - v`): the rest of that line
            // is read again as a line of its own at its column.
            self.at -= 1;
            let line = &mut self.lines[self.at];
            line.indent += line.body.len() - rest.len();
            line.body = rest;
            line.indent
        };
        match value {
            Value::Object(m) if child > indent => self.map(m, path, child)?,
            Value::Array(a) if child >= indent => self.seq(a, path, child)?,
            _ => {
                return Err(format!(
                    "line {number}: the nested collection is not indented"
                ));
            }
        }
        Ok(None)
    }
}

/// The rest of a mapping line after `key:` when the line holds `key` (plain or quoted).
fn strip_key<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    let (written, rest) = if let Some(quoted) = body.strip_prefix('"') {
        let end = closing_double_quote(quoted)?;
        let text: String = serde_json::from_str(&body[..end + 2]).ok()?;
        (text, &quoted[end + 1..])
    } else if let Some(quoted) = body.strip_prefix('\'') {
        let mut end = None;
        let bytes = quoted.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\'' {
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                end = Some(i);
                break;
            }
            i += 1;
        }
        let end = end?;
        (quoted[..end].replace("''", "'"), &quoted[end + 1..])
    } else {
        let colon = body
            .find(": ")
            .or_else(|| body.ends_with(':').then(|| body.len() - 1))?;
        (body[..colon].trim_end().to_string(), &body[colon..])
    };
    if written != key {
        return None;
    }
    rest.strip_prefix(':').map(|r| r.trim_start_matches(' '))
}

fn closing_double_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// A scalar's text and the comment after it: `#` after a blank, outside quotes.
fn split_inline_comment(rest: &str) -> (&str, Option<&str>) {
    let (mut single, mut double, mut escaped, mut previous) = (false, false, false, ' ');
    for (i, c) in rest.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && !escaped => double = !double,
            '#' if !single && !double && (previous == ' ' || i == 0) => {
                return (rest[..i].trim_end(), Some(&rest[i + 1..]));
            }
            _ => {}
        }
        escaped = c == '\\' && !escaped && double;
        previous = c;
    }
    (rest, None)
}

/// Whether `rest` opens a quoted scalar that goes on past its line.
fn is_open_quote(rest: &str) -> bool {
    if let Some(quoted) = rest.strip_prefix('"') {
        return closing_double_quote(quoted).is_none();
    }
    if let Some(quoted) = rest.strip_prefix('\'') {
        return quoted.replace("''", "").find('\'').is_none();
    }
    false
}
