//! `replacements` (kustomize v5): copy one field of one object, or a literal value, into
//! fields of other objects, as kustomize v5.5.0's replacement filter does.
//!
//! Field paths are dotted (`spec.template.spec.containers.[name=app].image`); a segment
//! may be a list index (`0`), every element (`*`), or the elements whose field matches a
//! regular expression (`[name=app]`, unanchored as upstream compiles it; `[=x]` for
//! scalar elements). With `options.create`, missing fields and list elements are made.
//! Targets are picked by id (current or earlier) exactly, not by regular expression:
//! v5.5.0 predates regex selectors.

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{Error, Result};
use super::kustomization::Selector;
use super::resource::{Gvk, ResId, ResMap, Resource, effective_namespace};

/// The field a source defaults to, and targets when they name none.
const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// One replacement: where the value comes from and where it goes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Replacement {
    pub source: Option<Source>,
    pub source_value: Option<String>,
    pub targets: Option<Vec<Target>>,
}

/// `source`: an object selected by id, and a field of it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Source {
    #[serde(flatten)]
    pub id: Selector,
    pub field_path: String,
    pub options: Option<FieldOptions>,
}

/// One entry of `targets`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Target {
    pub select: Option<Selector>,
    pub reject: Vec<Selector>,
    pub field_paths: Vec<String>,
    pub options: Option<FieldOptions>,
}

/// `options` of a source or target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct FieldOptions {
    pub delimiter: String,
    pub index: i64,
    pub encoding: String,
    pub create: bool,
}

/// Reads one entry written inline (`{source, targets}`); `path` entries are resolved by
/// the caller, which may read files.
pub(crate) fn parse(file: &str, field: &str, v: &Value) -> Result<Replacement> {
    serde_json::from_value(v.clone())
        .map_err(|e| Error::field(file, field, format!("invalid replacement: {e}")))
}

/// Reads a replacements file: one replacement or a list of them.
pub(crate) fn parse_file(file: &str, path: &str, doc: &Value) -> Result<Vec<Replacement>> {
    let field = format!("replacements.path {path}");
    match doc {
        Value::Array(items) => items.iter().map(|v| parse(file, &field, v)).collect(),
        Value::Object(_) => Ok(vec![parse(file, &field, doc)?]),
        _ => Err(Error::field(
            file,
            field,
            "unsupported replacement type: expected a mapping or a list",
        )),
    }
}

/// Applies `replacements` in order; `file` names the kustomization in errors.
pub(crate) fn apply(file: &str, m: &mut ResMap, replacements: &[Replacement]) -> Result<()> {
    let fail = |reason: String| Error::field(file, "replacements", reason);
    for r in replacements {
        let Some(targets) = &r.targets else {
            return Err(fail(
                "replacements must specify a source and at least one target".into(),
            ));
        };
        let value = match (&r.source, &r.source_value) {
            (None, None) => {
                return Err(fail(
                    "replacements must specify a source and at least one target".into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(fail(
                    "value and resource selectors are mutually exclusive".into(),
                ));
            }
            (None, Some(v)) => Value::String(v.clone()),
            (Some(source), None) => source_value(m, source).map_err(fail)?,
        };
        for t in targets {
            apply_target(m, &value, t).map_err(fail)?;
        }
    }
    Ok(())
}

/// A resource's current id followed by its earlier ones.
fn ids(r: &Resource) -> impl Iterator<Item = ResId> + '_ {
    std::iter::once(r.cur_id()).chain(r.prev_ids.iter().cloned())
}

/// kustomize's `IsSelectedBy`: empty selector fields match anything; namespaces compare
/// effectively (unset is `default`).
fn selected_by(id: &ResId, sel: &Selector) -> bool {
    let sel_gvk = Gvk {
        group: sel.group.clone(),
        version: sel.version.clone(),
        kind: sel.kind.clone(),
    };
    (sel.name.is_empty() || sel.name == id.name)
        && (sel.namespace.is_empty()
            || effective_namespace(&sel_gvk, &sel.namespace) == id.effective_namespace())
        && id.gvk.is_selected(&sel_gvk)
}

fn describe(sel: &Selector) -> String {
    let id = ResId {
        gvk: Gvk {
            group: sel.group.clone(),
            version: sel.version.clone(),
            kind: sel.kind.clone(),
        },
        name: sel.name.clone(),
        namespace: sel.namespace.clone(),
    };
    id.to_string()
}

fn source_value(m: &ResMap, source: &Source) -> Result<Value, String> {
    let mut found = None;
    for r in m.list() {
        if ids(r).any(|id| selected_by(&id, &source.id)) {
            if found.is_some() {
                return Err(format!(
                    "multiple matches for selector {}",
                    describe(&source.id)
                ));
            }
            found = Some(r);
        }
    }
    let Some(r) = found else {
        return Err(format!("nothing selected by {}", describe(&source.id)));
    };
    let path = if source.field_path.is_empty() {
        DEFAULT_FIELD_PATH
    } else {
        &source.field_path
    };
    let obj = Value::Object(r.obj.clone());
    let value = lookup(&obj, &split_path(path))
        .map_err(|e| format!("error looking up replacement source: {e}"))?;
    let missing = match value {
        None | Some(Value::Null) => true,
        Some(Value::Object(o)) => o.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    let value = match value {
        Some(v) if !missing => v.clone(),
        _ => {
            return Err(format!(
                "fieldPath `{path}` is missing for replacement source {}",
                describe(&source.id)
            ));
        }
    };
    refine(source.options.as_ref(), value)
}

/// With a delimiter, the source value is one part of the source field.
fn refine(options: Option<&FieldOptions>, value: Value) -> Result<Value, String> {
    let Some(o) = options.filter(|o| !o.delimiter.is_empty()) else {
        return Ok(value);
    };
    let Some(text) = scalar_text(&value) else {
        return Err("delimiter option can only be used with scalar nodes".into());
    };
    let parts: Vec<&str> = text.split(o.delimiter.as_str()).collect();
    match usize::try_from(o.index).ok().and_then(|i| parts.get(i)) {
        Some(part) => Ok(Value::String((*part).to_string())),
        None => Err(format!(
            "options.index {} is out of bounds for value {text}",
            o.index
        )),
    }
}

/// The text of a scalar, as YAML holds it; `None` for maps and lists.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".into()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn apply_target(m: &mut ResMap, value: &Value, t: &Target) -> Result<(), String> {
    let Some(select) = &t.select else {
        return Err("target must specify resources to select".into());
    };
    let default_paths = [DEFAULT_FIELD_PATH.to_string()];
    let paths: &[String] = if t.field_paths.is_empty() {
        &default_paths
    } else {
        &t.field_paths
    };
    let select_labels = Matchers::new(select)?;
    let reject_labels = t
        .reject
        .iter()
        .filter(|r| !r.label_selector.is_empty() || !r.annotation_selector.is_empty())
        .map(Matchers::new)
        .collect::<Result<Vec<_>, _>>()?;
    for r in m.list_mut() {
        if !select_labels.matches(r) || reject_labels.iter().any(|x| x.matches(r)) {
            continue;
        }
        let rejected = t.reject.iter().any(|rej| {
            let empty = rej.group.is_empty()
                && rej.version.is_empty()
                && rej.kind.is_empty()
                && rej.name.is_empty()
                && rej.namespace.is_empty();
            !empty && ids(r).any(|id| selected_by(&id, rej))
        });
        if rejected || !ids(r).any(|id| selected_by(&id, select)) {
            continue;
        }
        let mut obj = Value::Object(std::mem::take(&mut r.obj));
        let result = copy_to_target(&mut obj, value, paths, t.options.as_ref());
        if let Value::Object(o) = obj {
            r.obj = o;
        }
        result?;
    }
    Ok(())
}

/// A target's label and annotation selectors.
struct Matchers {
    labels: Option<flotilla_core::labels::Selector>,
    annotations: Option<flotilla_core::labels::Selector>,
}

impl Matchers {
    fn new(sel: &Selector) -> Result<Matchers, String> {
        let parse = |s: &str| -> Result<Option<flotilla_core::labels::Selector>, String> {
            if s.is_empty() {
                return Ok(None);
            }
            flotilla_core::labels::Selector::parse(s)
                .map(Some)
                .map_err(|e| format!("selector {s:?}: {e}"))
        };
        Ok(Matchers {
            labels: parse(&sel.label_selector)?,
            annotations: parse(&sel.annotation_selector)?,
        })
    }

    fn matches(&self, r: &Resource) -> bool {
        self.labels.as_ref().is_none_or(|s| s.matches(&r.labels()))
            && self
                .annotations
                .as_ref()
                .is_none_or(|s| s.matches(&r.annotations()))
    }
}

fn copy_to_target(
    obj: &mut Value,
    value: &Value,
    paths: &[String],
    options: Option<&FieldOptions>,
) -> Result<(), String> {
    let create = options.is_some_and(|o| o.create).then(|| Shape::of(value));
    for fp in paths {
        let mut err = None;
        let found = visit(obj, &split_path(fp), create, &mut |node| {
            if err.is_none()
                && let Err(e) = set_field(options, node, value)
            {
                err = Some(e);
            }
        })
        .map_err(|e| format!("{}: {e}", retrieval_error(fp, create.is_some())))?;
        if let Some(e) = err {
            return Err(e);
        }
        if found == 0 {
            return Err(retrieval_error(fp, create.is_some()));
        }
    }
    Ok(())
}

fn retrieval_error(fp: &str, create: bool) -> String {
    if create {
        format!("unable to find or create field {fp:?} in replacement target")
    } else {
        format!("unable to find field {fp:?} in replacement target")
    }
}

/// The kind of node a created field gets: that of the value, except along the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Scalar,
    Map,
    List,
}

impl Shape {
    fn of(v: &Value) -> Shape {
        match v {
            Value::Object(_) => Shape::Map,
            Value::Array(_) => Shape::List,
            _ => Shape::Scalar,
        }
    }

    fn empty(self) -> Value {
        match self {
            // A fresh scalar carries no tag: what is written into it reads back by its
            // text (see `set_field`).
            Shape::Scalar => Value::Null,
            Shape::Map => Value::Object(Map::new()),
            Shape::List => Value::Array(Vec::new()),
        }
    }
}

/// The shape a node created for path segment `here` needs, given the next segment.
fn shape_for(next: Option<&String>, leaf: Shape) -> Shape {
    match next {
        None => leaf,
        Some(n) if is_list_match(n) || is_index(n) => Shape::List,
        Some(_) => Shape::Map,
    }
}

fn is_list_match(p: &str) -> bool {
    p.starts_with('[') && p.ends_with(']')
}

fn is_index(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
}

/// Calls `f` on every node `path` matches below `node`, creating what is missing when
/// `create` is set; returns how many matched. Created scalars start as `null`, which
/// `set_field` treats as untyped.
fn visit(
    node: &mut Value,
    path: &[String],
    create: Option<Shape>,
    f: &mut dyn FnMut(&mut Value),
) -> Result<usize, String> {
    let Some((first, rest)) = path.split_first() else {
        f(node);
        return Ok(1);
    };
    if is_index(first) {
        let idx: usize = first
            .parse()
            .map_err(|_| format!("invalid list index {first:?}"))?;
        let Value::Array(items) = node else {
            return Err(format!("list index {first} used on a non-list"));
        };
        if let Some(c) = create
            && items.len() == idx
        {
            items.push(shape_for(rest.first(), c).empty());
        }
        let len = items.len();
        let Some(item) = items.get_mut(idx) else {
            return Err(format!(
                "index {idx} specified but only {len} elements found"
            ));
        };
        return visit(item, rest, create, f);
    }
    if is_list_match(first) {
        let inner = &first[1..first.len() - 1];
        let Some((field, pattern)) = inner.split_once('=') else {
            return Err(
                "list path element must contain fieldName=fieldValue for element to match".into(),
            );
        };
        let re = Regex::new(pattern).map_err(|e| format!("{first}: {e}"))?;
        let Value::Array(items) = node else {
            return Err(format!("{first} used on a non-list"));
        };
        let matching = |item: &Value| {
            let v = if field.is_empty() {
                Some(item)
            } else {
                item.get(field)
            };
            v.and_then(scalar_text)
                .is_some_and(|text| re.is_match(text.trim()))
        };
        let mut found = 0;
        let mut any = false;
        for item in items.iter_mut() {
            if matching(item) {
                any = true;
                found += visit(item, rest, create, f)?;
            }
        }
        if !any && create.is_some() {
            let fresh = if field.is_empty() {
                Value::String(pattern.to_string())
            } else {
                let mut m = Map::new();
                m.insert(field.to_string(), Value::String(pattern.to_string()));
                Value::Object(m)
            };
            items.push(fresh);
            if let Some(item) = items.last_mut() {
                found += visit(item, rest, create, f)?;
            }
        }
        return Ok(found);
    }
    if first == "*" {
        let Value::Array(items) = node else {
            return Err("* used on a non-list".into());
        };
        let mut found = 0;
        for item in items.iter_mut() {
            found += visit(item, rest, create, f)?;
        }
        return Ok(found);
    }
    let Value::Object(map) = node else {
        return Ok(0);
    };
    let missing = map.get(first.as_str()).is_none_or(Value::is_null);
    if missing && !rest.is_empty() || !map.contains_key(first.as_str()) {
        let Some(c) = create else {
            return Ok(0);
        };
        map.insert(first.clone(), shape_for(rest.first(), c).empty());
    }
    match map.get_mut(first.as_str()) {
        Some(child) => visit(child, rest, create, f),
        None => Ok(0),
    }
}

/// Looks up `path` without creating: the first node found (kustomize's `Lookup`, whose
/// `[field=value]` compares exactly).
fn lookup<'v>(node: &'v Value, path: &[String]) -> Result<Option<&'v Value>, String> {
    let Some((first, rest)) = path.split_first() else {
        return Ok(Some(node));
    };
    if is_index(first) {
        let idx: usize = first
            .parse()
            .map_err(|_| format!("invalid list index {first:?}"))?;
        return match node.get(idx) {
            Some(item) => lookup(item, rest),
            None => Ok(None),
        };
    }
    if is_list_match(first) {
        let inner = &first[1..first.len() - 1];
        let Some((field, want)) = inner.split_once('=') else {
            return Err(
                "list path element must contain fieldName=fieldValue for element to match".into(),
            );
        };
        let Value::Array(items) = node else {
            return Ok(None);
        };
        for item in items {
            let v = if field.is_empty() {
                Some(item)
            } else {
                item.get(field)
            };
            if v.and_then(scalar_text).is_some_and(|t| t == want) {
                return lookup(item, rest);
            }
        }
        return Ok(None);
    }
    match node.get(first.as_str()) {
        Some(child) => lookup(child, rest),
        None => Ok(None),
    }
}

/// Writes `value` into `target`. A scalar target keeps its type and takes the value's
/// text (so `"3"` into a number gives `3`); a map or list target is replaced.
fn set_field(
    options: Option<&FieldOptions>,
    target: &mut Value,
    value: &Value,
) -> Result<(), String> {
    let mut value = value.clone();
    if let Some(o) = options.filter(|o| !o.delimiter.is_empty()) {
        let Some(current) =
            scalar_text(target).map(|t| if target.is_null() { String::new() } else { t })
        else {
            return Err("delimiter option can only be used with scalar nodes".into());
        };
        let mut parts: Vec<String> = current
            .split(o.delimiter.as_str())
            .map(str::to_string)
            .collect();
        let v = scalar_text(&value).unwrap_or_default();
        match usize::try_from(o.index) {
            Err(_) => parts.insert(0, v),
            Ok(i) if i >= parts.len() => parts.push(v),
            Ok(i) => parts[i] = v,
        }
        value = Value::String(parts.join(&o.delimiter));
    }
    let text = scalar_text(&value);
    *target = match (&*target, text) {
        (Value::String(_), Some(t)) => Value::String(t),
        // The target keeps its tag; text that does not fit it fails, as upstream's output
        // step fails to decode it.
        (Value::Number(_), Some(t)) => match serde_json::from_str::<serde_json::Number>(&t) {
            Ok(n) => Value::Number(n),
            Err(_) => return Err(format!("cannot decode {t:?} as a number")),
        },
        (Value::Bool(_), Some(t)) => match t.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("cannot decode {t:?} as a boolean")),
        },
        // An untyped (new or null) scalar reads back as its text would.
        (Value::Null, Some(t)) if value.is_string() => resolve_plain(&t),
        // A scalar target with a map or list value: upstream copies the (empty) text.
        (Value::String(_) | Value::Number(_) | Value::Bool(_), None) => {
            Value::String(String::new())
        }
        (_, _) => value,
    };
    Ok(())
}

/// What an untagged plain scalar with text `t` reads back as (YAML 1.2 core schema).
fn resolve_plain(t: &str) -> Value {
    match t {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "null" | "Null" | "NULL" | "~" => return Value::Null,
        _ => {}
    }
    let numeric = {
        let body = t.strip_prefix(['-', '+']).unwrap_or(t);
        !body.is_empty()
            && body
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_digit() || b == b'.')
            && body
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
    };
    if numeric && let Ok(n) = serde_json::from_str::<serde_json::Number>(t.trim_start_matches('+'))
    {
        return Value::Number(n);
    }
    Value::String(t.to_string())
}

/// Splits a dotted field path: `\.` escapes a dot, and a `[...]` segment keeps its dots.
fn split_path(path: &str) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    let trimmed = path
        .strip_prefix('.')
        .filter(|_| path.len() > 1 && path.contains('.'));
    for part in trimmed.unwrap_or(path).split('.') {
        match raw.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(part);
            }
            _ => raw.push(part.to_string()),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let elem = &raw[i];
        if elem.starts_with('[') && !elem.ends_with(']') {
            let mut joined = vec![elem.clone()];
            while i < raw.len() - 1 {
                i += 1;
                joined.push(raw[i].clone());
                if raw[i].ends_with(']') {
                    break;
                }
            }
            let s = joined.join(".");
            if s.contains('=') {
                out.push(s);
            } else {
                out.push(s.trim_matches(['[', ']']).to_string());
            }
        } else {
            out.push(elem.clone());
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_split_on_dots_outside_brackets() {
        assert_eq!(
            split_path("spec.containers.[name=a.b].image"),
            ["spec", "containers", "[name=a.b]", "image"]
        );
        assert_eq!(
            split_path("metadata.annotations.a\\.io/x"),
            ["metadata", "annotations", "a.io/x"]
        );
    }

    #[test]
    fn list_selector_and_wildcard_reach_every_match() {
        let mut obj = json!({"spec": {"containers": [
            {"name": "app", "image": "a"}, {"name": "side", "image": "b"}
        ]}});
        let n = visit(
            &mut obj,
            &split_path("spec.containers.*.image"),
            None,
            &mut |v| *v = json!("x"),
        )
        .unwrap();
        assert_eq!(n, 2);
        let n = visit(
            &mut obj,
            &split_path("spec.containers.[name=app].image"),
            None,
            &mut |v| *v = json!("y"),
        )
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(obj["spec"]["containers"][0]["image"], "y");
        assert_eq!(obj["spec"]["containers"][1]["image"], "x");
    }

    #[test]
    fn create_makes_fields_and_list_elements() {
        let mut obj = json!({});
        copy_to_target(
            &mut obj,
            &json!("v"),
            &["spec.list.[name=a].value".to_string()],
            Some(&FieldOptions {
                create: true,
                ..FieldOptions::default()
            }),
        )
        .unwrap();
        assert_eq!(
            obj,
            json!({"spec": {"list": [{"name": "a", "value": "v"}]}})
        );
    }

    #[test]
    fn delimiter_replaces_one_part_and_scalar_types_stay() {
        let opts = FieldOptions {
            delimiter: "/".into(),
            index: 1,
            ..FieldOptions::default()
        };
        let mut target = json!("registry/app:1");
        set_field(Some(&opts), &mut target, &json!("other:2")).unwrap();
        assert_eq!(target, json!("registry/other:2"));
        let mut n = json!(1);
        set_field(None, &mut n, &json!("3")).unwrap();
        assert_eq!(n, json!(3));
        let mut s = json!("1");
        set_field(None, &mut s, &json!(3)).unwrap();
        assert_eq!(s, json!("3"));
    }

    #[test]
    fn source_delimiter_picks_a_part_and_checks_bounds() {
        let opts = FieldOptions {
            delimiter: ".".into(),
            index: 2,
            ..FieldOptions::default()
        };
        assert_eq!(refine(Some(&opts), json!("a.b.c")).unwrap(), json!("c"));
        assert!(refine(Some(&opts), json!("a.b")).is_err());
    }
}
