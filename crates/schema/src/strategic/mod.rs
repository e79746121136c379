//! Strategic merge patch, applied to an object the way the API server applies a
//! `application/strategic-merge-patch+json` PATCH (apimachinery's `strategicpatch`
//! package, `StrategicMergePatch` with the server's merge options: parallel lists are
//! merged and unmatched nulls are dropped).
//!
//! * Objects merge key by key; `null` deletes a key.
//! * Lists whose field has patch strategy `merge` merge: lists of objects by the field's
//!   patch merge key (a matching element is merged into, a new one added), lists of
//!   scalars as a set. Other lists are replaced.
//! * Directives: `$patch: replace|delete` in an object; `$patch: replace` and
//!   `$patch: delete` (with the merge key) as list elements; `$retainKeys`;
//!   `$deleteFromPrimitiveList/<field>`; `$setElementOrder/<field>`.
//! * Order of a merged list: `$setElementOrder` first, then the order of the patch, then
//!   that of the live list, interleaved exactly as upstream does: a live element goes
//!   before a patch element only when both are live and it comes first there (so a new
//!   element lands before the live ones), upstream's sorts run through Go's own stable
//!   sort algorithm, and its view of the live list after merging wrote into it is
//!   reproduced (see `order.rs`).
//!
//! Deliberately like upstream, even where it surprises: `$patch: merge` is an error (the
//! directive exists only as a struct tag), `{"$patch": "delete"}` on an existing object
//! leaves `{}`, new list elements are appended as sent (nulls and nested directives
//! included), and fields with strategy `replace` take the patch value as it is.

use serde_json::Value;

mod error;
mod gosort;
mod list;
mod order;

pub use self::error::PatchError;
use self::list::merge_list_field;
use self::order::merge_ordered_lists;
use crate::model::{PatchStrategy, SchemaRef};

type Map = serde_json::Map<String, Value>;

const DIRECTIVE: &str = "$patch";
const DELETE: &str = "delete";
const REPLACE: &str = "replace";
const MERGE: &str = "merge";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Applies strategic merge patch `patch` to `original`. `schema` is the kind's schema
/// (e.g. `builtin().kind("apps", "v1", "Deployment")`); without one, or below fields it
/// does not describe, objects still merge and directives still apply, but every list is
/// replaced. (Upstream refuses strategic merge patches for custom resources; that is the
/// caller's decision.)
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    schema: Option<&SchemaRef<'_>>,
) -> Result<Value, PatchError> {
    strategic_merge_patch_owned(original.clone(), patch.clone(), schema)
}

/// [`strategic_merge_patch`] on owned values, saving the copies.
pub fn strategic_merge_patch_owned(
    original: Value,
    patch: Value,
    schema: Option<&SchemaRef<'_>>,
) -> Result<Value, PatchError> {
    // Upstream decodes both into a map, where JSON null decodes to an empty one.
    let as_map = |v: Value, what: &'static str| match v {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(PatchError::NotAnObject(what)),
    };
    let original = as_map(original, "original object")?;
    let patch = as_map(patch, "patch")?;
    merge_map(original, patch, schema.copied(), "").map(Value::Object)
}

/// What the schema says about one field.
#[derive(Clone, Copy, Default)]
struct FieldMeta<'a> {
    /// The field's schema (for a list: its elements' schema).
    schema: Option<SchemaRef<'a>>,
    strategy: PatchStrategy,
    merge_key: Option<&'a str>,
}

fn lookup_field<'a>(
    schema: Option<SchemaRef<'a>>,
    key: &str,
    path: &str,
) -> Result<FieldMeta<'a>, PatchError> {
    let Some(s) = schema else {
        return Ok(FieldMeta::default());
    };
    let field = match s.property(key).or_else(|| s.additional_properties()) {
        Some(f) => f,
        // Like upstream's lookup, a struct does not have fields it does not declare; a
        // node that declares nothing (untyped, RawExtension) merges without metadata.
        None if s.has_properties() && !s.preserves_unknown_fields() => {
            return Err(PatchError::FieldNotFound {
                path: path.to_owned(),
                field: key.to_owned(),
            });
        }
        None => return Ok(FieldMeta::default()),
    };
    Ok(FieldMeta {
        schema: Some(field),
        strategy: field.patch_strategy(),
        merge_key: field.patch_merge_key().filter(|k| !k.is_empty()),
    })
}

fn lookup_list<'a>(
    schema: Option<SchemaRef<'a>>,
    key: &str,
    path: &str,
) -> Result<FieldMeta<'a>, PatchError> {
    let meta = lookup_field(schema, key, path)?;
    Ok(FieldMeta {
        schema: meta.schema.and_then(|s| s.items()),
        ..meta
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Go's view of a decoded JSON value's type: integers and floats differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    String,
    List,
    Object,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        // apimachinery's JSON decoding yields int64 where the number fits, else float64.
        Value::Number(n) if n.is_i64() => Kind::Int,
        Value::Number(_) => Kind::Float,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::List,
        Value::Object(_) => Kind::Object,
    }
}

fn kind_name(v: &Value) -> &'static str {
    match kind(v) {
        Kind::Null => "null",
        Kind::Bool => "boolean",
        Kind::Int => "integer",
        Kind::Float => "number",
        Kind::String => "string",
        Kind::List => "list",
        Kind::Object => "map",
    }
}

fn bad_type(path: &str, expected: &'static str, actual: &Value) -> PatchError {
    PatchError::BadArgType {
        path: path.to_owned(),
        expected,
        actual: kind_name(actual),
    }
}

fn no_merge_key(path: &str, element: &Value, key: &str) -> PatchError {
    PatchError::NoMergeKey {
        path: path.to_owned(),
        element: element.to_string(),
        key: key.to_owned(),
    }
}

fn merge_map(
    mut original: Map,
    mut patch: Map,
    schema: Option<SchemaRef<'_>>,
    path: &str,
) -> Result<Map, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some(REPLACE) => {
                patch.shift_remove(DIRECTIVE);
                Ok(patch)
            }
            Some(DELETE) => Ok(Map::new()),
            _ => Err(PatchError::UnknownPatchType {
                path: path.to_owned(),
                directive: directive.to_string(),
                map: Value::Object(patch.clone()).to_string(),
            }),
        };
    }

    apply_retain_keys(&mut original, &mut patch, path)?;
    merge_ordered_lists(&mut original, &mut patch, schema, path)?;

    for (k, patch_v) in patch {
        let (key, delete_list) = if k.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            match extract_key(&k, DELETE_FROM_PRIMITIVE_LIST) {
                Some(field) => (field.to_owned(), true),
                None => {
                    return Err(PatchError::BadPrimitiveListFormat {
                        path: path.to_owned(),
                        key: k,
                    });
                }
            }
        } else {
            (k, false)
        };

        // Upstream deletes the key even for `$deleteFromPrimitiveList/<field>: null`.
        if patch_v.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let Some(orig_v) = original.get_mut(&key) else {
            if !delete_list && let Some(v) = clean(patch_v) {
                original.insert(key, v);
            }
            continue;
        };
        if kind(orig_v) != kind(&patch_v) {
            if !delete_list {
                match clean(patch_v) {
                    Some(v) => *orig_v = v,
                    None => {
                        original.shift_remove(&key);
                    }
                }
            }
            continue;
        }
        let child_path = join(path, &key);
        match (orig_v, patch_v) {
            (Value::Object(o), Value::Object(p)) => {
                let meta = lookup_field(schema, &key, path)?;
                let merged = if meta.strategy.is_replace() {
                    p
                } else {
                    merge_map(std::mem::take(o), p, meta.schema, &child_path)?
                };
                *o = merged;
            }
            (Value::Array(o), Value::Array(p)) => {
                let meta = lookup_list(schema, &key, path)?;
                let merged =
                    merge_list_field(std::mem::take(o), p, meta, delete_list, &child_path)?;
                *o = merged;
            }
            // Same scalar type: the patch wins (scalars hold no directives).
            (slot, p) => *slot = p,
        }
    }
    Ok(original)
}

/// The part of `key` after `prefix/`, when `key` has exactly that shape.
fn extract_key<'k>(key: &'k str, prefix: &str) -> Option<&'k str> {
    let (head, rest) = key.split_once('/')?;
    (head == prefix).then_some(rest)
}

/// How upstream inserts a patch value that does not merge with anything: nulls in objects
/// are dropped, and objects carrying `$patch` vanish (`None` when the value itself does).
fn clean(mut v: Value) -> Option<Value> {
    discard_nulls(&mut v);
    remove_directives(v)
}

fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Drops every object holding `$patch` (only that directive: upstream leaves
/// `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList` keys in place).
fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(a) => Some(Value::Array(
            a.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

fn apply_retain_keys(original: &mut Map, patch: &mut Map, path: &str) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRetainKeysFormat {
            path: path.to_owned(),
        });
    };
    let retained = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !retained(k) {
            return Err(PatchError::BadRetainKeysFormat {
                path: path.to_owned(),
            });
        }
    }
    original.retain(|k, _| retained(k));
    Ok(())
}
