//! Checks a value against its type (smd `TypedValue.Validate`): scalar kinds, declared
//! fields, list item keys and, unless allowed, duplicate list items.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Picked, ValidationError, ValidationErrors, deduce, handle, list_item_element};
use crate::path::PathElement;
use crate::schema::{ListKind, ScalarKind, TypeNode};

/// Validates `value` as a `node`. Apply configurations must not repeat a list item
/// (`allow_duplicates: false`); live objects and updates may (`true`), as the
/// apiserver's `AllowDuplicates` option permits.
pub fn validate<N: TypeNode>(
    node: N,
    value: &Value,
    allow_duplicates: bool,
) -> Result<(), ValidationErrors> {
    let mut errors = Vec::new();
    let mut path = Vec::new();
    walk(node, value, allow_duplicates, &mut path, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errors))
    }
}

/// Where the walk is; rendered only when there is an error to report.
pub(crate) enum Step<'v> {
    Key(&'v str),
    Item(PathElement),
}

pub(crate) fn push(errors: &mut Vec<ValidationError>, path: &[Step<'_>], message: String) {
    let mut p = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                p.push('.');
                p.push_str(k);
            }
            Step::Item(pe) => p.push_str(&pe.to_string()),
        }
    }
    errors.push(ValidationError { path: p, message });
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

pub(crate) fn scalar_error(kind: ScalarKind, v: &Value) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let ok = match kind {
        ScalarKind::Numeric => v.is_number(),
        ScalarKind::String => v.is_string(),
        ScalarKind::Boolean => v.is_boolean(),
        ScalarKind::Untyped => v.is_number() || v.is_string() || v.is_boolean(),
    };
    if ok {
        return None;
    }
    Some(match kind {
        ScalarKind::Numeric => format!("expected numeric (int or float), got {}", kind_name(v)),
        ScalarKind::String => format!("expected string, got {v}"),
        ScalarKind::Boolean => format!("expected boolean, got {v}"),
        ScalarKind::Untyped => format!("expected any scalar, got {v}"),
    })
}

pub(crate) fn walk<'v, N: TypeNode>(
    node: N,
    v: &'v Value,
    allow_duplicates: bool,
    path: &mut Vec<Step<'v>>,
    errors: &mut Vec<ValidationError>,
) {
    let atom = node.atom();
    match handle(&atom, deduce(&atom, Some(v))) {
        Picked::Scalar(kind) => {
            if let Some(m) = scalar_error(kind, v) {
                push(errors, path, m);
            }
        }
        Picked::List(list) => {
            let items = match v {
                Value::Null => return,
                Value::Array(items) => items,
                other => return push(errors, path, format!("expected list, got {other}")),
            };
            let mut seen: BTreeSet<PathElement> = BTreeSet::new();
            let check_duplicates = list.kind != ListKind::Atomic && !allow_duplicates;
            for (i, item) in items.iter().enumerate() {
                let pe = if list.kind == ListKind::Atomic {
                    PathElement::Index(i as i64)
                } else {
                    match list_item_element(&list, item) {
                        Ok(pe) => pe,
                        Err(e) => {
                            // Without the item's key nothing below it can be named.
                            return push(errors, path, format!("element {i}: {e}"));
                        }
                    }
                };
                if check_duplicates && !seen.insert(pe.clone()) {
                    push(errors, path, format!("duplicate entries for key {pe}"));
                }
                path.push(Step::Item(pe));
                walk(list.element, item, allow_duplicates, path, errors);
                path.pop();
            }
        }
        Picked::Map(_) => {
            let m = match v {
                Value::Null => return,
                Value::Object(m) => m,
                other => return push(errors, path, format!("expected map, got {other}")),
            };
            for (key, child) in m {
                path.push(Step::Key(key));
                match node.field(key) {
                    Some(f) => walk(f.node, child, allow_duplicates, path, errors),
                    None => {
                        push(errors, path, "field not declared in schema".into());
                        path.pop();
                        return;
                    }
                }
                path.pop();
            }
        }
        Picked::Invalid => push(errors, path, "schema error: invalid atom".into()),
    }
}
