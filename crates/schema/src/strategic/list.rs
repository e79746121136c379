//! Merging one list: element types, list directives (`$patch: delete|replace` elements,
//! `$deleteFromPrimitiveList`), merge by key, and union of scalars.

use serde_json::Value;

use super::order::normalize_order;
use super::{
    DELETE, DIRECTIVE, FieldMeta, Kind, MERGE, PatchError, REPLACE, bad_type, kind, merge_map,
    no_merge_key,
};
use crate::model::SchemaRef;

pub(super) fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    meta: FieldMeta<'_>,
    delete_list: bool,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    // Deletion lists are handled the same way whatever the field's strategy.
    if meta.strategy.is_merge() || delete_list {
        merge_list(
            original,
            patch,
            meta.schema,
            meta.merge_key,
            delete_list,
            path,
        )
    } else {
        Ok(patch)
    }
}

/// The common type of the elements of `lists` (upstream's sliceElementType).
pub(super) fn element_kind(lists: &[&[Value]], path: &str) -> Result<Kind, PatchError> {
    let mut found = None;
    for v in lists.iter().flat_map(|l| l.iter()) {
        let k = kind(v);
        match found {
            None if k == Kind::List => {
                return Err(PatchError::ListOfLists {
                    path: path.to_owned(),
                });
            }
            None if k == Kind::Null => {
                return Err(PatchError::NullElement {
                    path: path.to_owned(),
                });
            }
            None => found = Some(k),
            Some(prev) if prev != k => {
                return Err(PatchError::MixedElementTypes {
                    path: path.to_owned(),
                });
            }
            Some(_) => {}
        }
    }
    found.ok_or_else(|| PatchError::NoElements {
        path: path.to_owned(),
    })
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Option<SchemaRef<'_>>,
    merge_key: Option<&str>,
    delete_list: bool,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let kind = element_kind(&[&original, &patch], path)?;

    if kind != Kind::Object {
        if delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.contains(v))
                .collect());
        }
        let server_order = original.clone();
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.into_iter().chain(patch.iter().cloned()) {
            if !merged.contains(&v) {
                merged.push(v);
            }
        }
        let (patch_items, server_only) = partition_scalars(merged, &patch);
        return normalize_order(
            patch_items,
            server_only,
            &patch,
            &server_order,
            None,
            kind,
            path,
        );
    }

    let Some(mk) = merge_key else {
        return Err(PatchError::NoMergeKeyDeclared {
            path: path.to_owned(),
        });
    };
    let (original, patch) = apply_list_directives(original, patch, mk, path)?;
    // Upstream's later steps fail on elements without the merge key; find them first.
    let patch_order = required_keys(&patch, mk, path)?;
    let server_order = required_keys(&original, mk, path)?;
    let merged = merge_by_key(original, patch, mk, schema, path)?;
    let (patch_items, server_only) = partition_objects(merged, &patch_order, mk, path)?;
    normalize_order(
        patch_items,
        server_only,
        &patch_order,
        &server_order,
        Some(mk),
        kind,
        path,
    )
}

/// Applies `$patch: delete` and `$patch: replace` elements; returns the original without
/// the deleted elements (or the patch's other elements, for replace) and the rest of the
/// patch.
fn apply_list_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    mk: &str,
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for v in patch {
        let Some(directive) = v.get(DIRECTIVE) else {
            plain.push(v);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => {
                let Some(key) = v.get(mk) else {
                    return Err(no_merge_key(path, &v, mk));
                };
                // Every matching element goes, duplicates included.
                original.retain(|e| e.get(mk) != Some(key));
            }
            // Keep going: the remaining elements still lose their directives.
            Some(REPLACE) => replace = true,
            Some(MERGE) => {
                return Err(PatchError::MergeDirectiveInList {
                    path: path.to_owned(),
                });
            }
            _ => {
                return Err(PatchError::UnknownPatchType {
                    path: path.to_owned(),
                    directive: directive.to_string(),
                    map: v.to_string(),
                });
            }
        }
    }
    Ok(if replace {
        (plain, Vec::new())
    } else {
        (original, plain)
    })
}

/// The merge key value of each element; every element must be an object that has one.
pub(super) fn required_keys(
    list: &[Value],
    mk: &str,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    list.iter()
        .map(|v| match v {
            Value::Object(m) => m.get(mk).cloned().ok_or_else(|| no_merge_key(path, v, mk)),
            other => Err(bad_type(path, "map", other)),
        })
        .collect()
}

/// Merges each patch element into the first original element with the same merge key,
/// or appends it (as it is, like upstream).
fn merge_by_key(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    mk: &str,
    schema: Option<SchemaRef<'_>>,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    for p in patch {
        let Value::Object(p) = p else {
            return Err(bad_type(path, "map", &p));
        };
        let Some(key) = p.get(mk) else {
            return Err(no_merge_key(path, &Value::Object(p), mk));
        };
        match original.iter().position(|o| o.get(mk) == Some(key)) {
            Some(i) => {
                let slot = &mut original[i];
                let Value::Object(o) = std::mem::take(slot) else {
                    return Err(bad_type(path, "map", slot));
                };
                *slot = Value::Object(merge_map(o, p, schema, &format!("{path}[{i}]"))?);
            }
            None => original.push(Value::Object(p)),
        }
    }
    Ok(original)
}

/// Splits scalars into those present in `by` and the rest, keeping their order.
pub(super) fn partition_scalars(list: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    list.into_iter().partition(|v| by.contains(v))
}

/// Splits objects into those whose merge key appears among `by_keys` and the rest.
pub(super) fn partition_objects(
    list: Vec<Value>,
    by_keys: &[Value],
    mk: &str,
    path: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for v in list {
        let key = match &v {
            Value::Object(m) => m.get(mk).ok_or_else(|| no_merge_key(path, &v, mk))?,
            other => return Err(bad_type(path, "map", other)),
        };
        if by_keys.contains(key) {
            inside.push(v);
        } else {
            outside.push(v);
        }
    }
    Ok((inside, outside))
}
