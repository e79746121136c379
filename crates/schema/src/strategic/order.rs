//! Ordering merged lists like upstream: by the patch, by the live list, and by
//! `$setElementOrder` (upstream's normalizeElementOrder and mergePatchIntoOriginal).

use serde_json::Value;

use super::gosort::slice_stable;
use super::list::{
    element_kind, merge_list_field, partition_objects, partition_scalars, required_keys,
};
use super::{
    DELETE, DIRECTIVE, Kind, Map, PatchError, REPLACE, SET_ELEMENT_ORDER, bad_type, extract_key,
    join, lookup_list, no_merge_key, remove_directives,
};
use crate::model::SchemaRef;

/// Upstream's normalizeElementOrder: sorts the patch's items by `patch_order` and the
/// server-only items by `server_order` (both lists of merge key values, or of the
/// scalars themselves), then interleaves them.
pub(super) fn normalize_order(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    mk: Option<&str>,
    kind: Kind,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = sort_by_order(patch_items, patch_order, mk, kind, path)?;
    let server_only = sort_by_order(server_only, server_order, mk, kind, path)?;
    Ok(merge_sorted(server_only, patch_items, server_order))
}

/// An element with its identity (merge key value, or the scalar itself).
struct Keyed {
    key: Value,
    value: Value,
}

fn keyed(
    items: Vec<Value>,
    mk: Option<&str>,
    kind: Kind,
    path: &str,
) -> Result<Vec<Keyed>, PatchError> {
    items
        .into_iter()
        .map(|value| {
            let key = if kind == Kind::Object {
                // A list of objects without a merge key has the empty key, which no
                // element has: upstream fails the same way.
                let mk = mk.unwrap_or("");
                match &value {
                    Value::Object(m) => m
                        .get(mk)
                        .cloned()
                        .ok_or_else(|| no_merge_key(path, &value, mk))?,
                    other => return Err(bad_type(path, "map", other)),
                }
            } else {
                value.clone()
            };
            Ok(Keyed { key, value })
        })
        .collect()
}

fn position(order: &[Value], key: &Value) -> Option<usize> {
    order.iter().position(|o| o == key)
}

/// Upstream's normalizeSliceOrder: a stable sort by position in `order` whose comparator
/// calls any element missing from `order` "less" than everything (and vice versa), run
/// through Go's algorithm so that such elements land where they land upstream. Elements
/// marked `$patch: delete` go last.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    mk: Option<&str>,
    kind: Kind,
    path: &str,
) -> Result<Vec<Keyed>, PatchError> {
    let mut keyed = keyed(items, mk, kind, path)?;
    let mut deleted = Vec::new();
    if kind == Kind::Object {
        let (keep, delete): (Vec<Keyed>, Vec<Keyed>) = keyed
            .into_iter()
            .partition(|k| k.value.get(DIRECTIVE).and_then(Value::as_str) != Some(DELETE));
        keyed = keep;
        deleted = delete;
    }
    let mut indexed: Vec<(Option<usize>, Keyed)> = keyed
        .into_iter()
        .map(|k| (position(order, &k.key), k))
        .collect();
    slice_stable(&mut indexed, |a, b| match (a.0, b.0) {
        (Some(i), Some(j)) => i < j,
        _ => true,
    });
    Ok(indexed.into_iter().map(|(_, k)| k).chain(deleted).collect())
}

/// Upstream's mergeSortedSlice: inserts the server-only items (`left`) among the patch's
/// items (`right`); a left item goes first only when both are found in `server_order`
/// and it comes earlier there.
fn merge_sorted(left: Vec<Keyed>, right: Vec<Keyed>, server_order: &[Value]) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left
        .into_iter()
        .map(|k| (position(server_order, &k.key), k.value))
        .peekable();
    let mut right = right
        .into_iter()
        .map(|k| (position(server_order, &k.key), k.value))
        .peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((Some(l), _)), Some((Some(r), _))) => l < r,
            (Some(_), Some(_)) => false,
        };
        let next = if take_left { left.next() } else { right.next() };
        if let Some((_, v)) = next {
            out.push(v);
        }
    }
    out
}

/// Handles every `$setElementOrder/<field>` of `patch`: merges the field's list (taking
/// it out of `patch`) and orders the result by the directive, then the patch, then the
/// live list (upstream's mergePatchIntoOriginal).
pub(super) fn merge_ordered_lists(
    original: &mut Map,
    patch: &mut Map,
    schema: Option<SchemaRef<'_>>,
    path: &str,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.shift_remove(&key) else {
            continue;
        };
        let Value::Array(set_order) = order else {
            return Err(bad_type(&join(path, &key), "list", &order));
        };
        let Some(field) = extract_key(&key, SET_ELEMENT_ORDER).map(str::to_owned) else {
            return Err(PatchError::BadSetElementOrderFormat {
                path: path.to_owned(),
                key,
            });
        };
        let field_path = join(path, &field);

        let original_list = match original.get_mut(&field) {
            None => None,
            Some(Value::Array(a)) => Some(std::mem::take(a)),
            Some(other) => return Err(bad_type(&field_path, "list", other)),
        };
        let patch_list = match patch.get(&field) {
            None => None,
            Some(Value::Array(_)) => match patch.shift_remove(&field) {
                Some(Value::Array(a)) => Some(a),
                _ => None,
            },
            Some(other) => return Err(bad_type(&field_path, "list", other)),
        };
        let meta = lookup_list(schema, &field, path)?;
        let mk = meta.merge_key;
        validate_set_order(
            patch_list.as_deref().unwrap_or_default(),
            &set_order,
            mk,
            &field_path,
        )?;

        // Upstream types and orders by the lists as they were before merging.
        let before: &[Value] = original_list.as_deref().unwrap_or_default();
        let kind = element_kind(
            &[before, patch_list.as_deref().unwrap_or_default()],
            &field_path,
        );
        let server_order = match (&kind, mk, patch_list.as_deref()) {
            // The live list is merged with the patch list: upstream orders by the live
            // slice after the merge wrote into it (see `aliased_order`).
            (Ok(Kind::Object), Some(mk), Some(patch_list))
                if original_list.is_some() && meta.strategy.is_merge() =>
            {
                required_keys(before, mk, &field_path)
                    .map(|keys| aliased_order(keys, patch_list, mk))
            }
            (Ok(Kind::Object), ..) => required_keys(before, mk.unwrap_or(""), &field_path),
            _ => Ok(before.to_vec()),
        };

        let merged = match (original_list, patch_list) {
            (Some(o), None) => o,
            (None, Some(p)) => p.into_iter().filter_map(remove_directives).collect(),
            (Some(o), Some(p)) => merge_list_field(o, p, meta, false, &field_path)?,
            (None, None) => continue,
        };
        let (patch_items, server_only) = match mk {
            None => partition_scalars(merged, &set_order),
            Some(mk) => {
                let set_keys = lookup_keys(&set_order, mk, &field_path)?;
                partition_objects(merged, &set_keys, mk, &field_path)?
            }
        };
        let kind = kind?;
        let server_order = server_order?;
        let order = match kind {
            Kind::Object => required_keys(&set_order, mk.unwrap_or(""), &field_path)?,
            _ => set_order,
        };
        let both = normalize_order(
            patch_items,
            server_only,
            &order,
            &server_order,
            mk,
            kind,
            &field_path,
        )?;
        original.insert(field, Value::Array(both));
    }
    Ok(())
}

/// The live list's merge keys as upstream sees them when it orders a merged list by
/// `$setElementOrder`.
///
/// Upstream keeps the live slice to order by, but merging wrote into that slice's Go
/// backing array first: each `$patch: delete` shifted the later elements left (leaving
/// the last one twice), and each new element was appended into the freed slots. The
/// array holds at least the live list's length, so which of those writes show is fixed,
/// and the order they give is reproduced here from the keys alone.
fn aliased_order(mut backing: Vec<Value>, patch: &[Value], mk: &str) -> Vec<Value> {
    let visible = backing.len();
    let mut len = visible;
    let mut replace = false;
    for p in patch {
        match p.get(DIRECTIVE).and_then(Value::as_str) {
            Some(DELETE) => {
                let Some(key) = p.get(mk) else { continue };
                while let Some(i) = backing[..len].iter().position(|k| k == key) {
                    for j in i..len - 1 {
                        backing[j] = backing[j + 1].clone();
                    }
                    len -= 1;
                }
            }
            Some(REPLACE) => replace = true,
            _ => {}
        }
    }
    if replace {
        // The merged list is a new slice; only the deletions touched the live one.
        return backing;
    }
    // Keys appended past the visible part still count when looking for a match.
    let mut overflow: Vec<&Value> = Vec::new();
    for p in patch.iter().filter(|p| p.get(DIRECTIVE).is_none()) {
        let Some(key) = p.get(mk) else { continue };
        if backing[..len.min(visible)].contains(key) || overflow.contains(&key) {
            continue;
        }
        if len < visible {
            backing[len] = key.clone();
        } else {
            overflow.push(key);
        }
        len += 1;
    }
    backing
}

/// The merge key values present in a list of objects (elements without one match
/// nothing); every element must be an object.
fn lookup_keys(list: &[Value], mk: &str, path: &str) -> Result<Vec<Value>, PatchError> {
    let mut keys = Vec::with_capacity(list.len());
    for v in list {
        match v {
            Value::Object(m) => keys.extend(m.get(mk).cloned()),
            other => return Err(bad_type(path, "map", other)),
        }
    }
    Ok(keys)
}

/// Upstream's validatePatchWithSetOrderList: the patch list's elements (but deletions
/// and directives) must appear in the `$setElementOrder` list, in the same order.
fn validate_set_order(
    patch_list: &[Value],
    set_order: &[Value],
    mk: Option<&str>,
    path: &str,
) -> Result<(), PatchError> {
    if set_order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let mut items: Vec<&Value> = Vec::with_capacity(patch_list.len());
    for v in patch_list {
        if mk.is_some() {
            if !v.is_object() {
                return Err(bad_type(path, "map", v));
            }
            if v.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
                continue;
            }
        }
        items.push(v);
    }
    let (mut pi, mut si) = (0, 0);
    while pi < items.len() && si < set_order.len() {
        if items[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        let equal = match mk {
            None => items[pi] == &set_order[si],
            Some(mk) => {
                let key_of = |v: &Value| match v {
                    Value::Object(m) => m.get(mk).cloned().ok_or_else(|| no_merge_key(path, v, mk)),
                    other => Err(bad_type(path, "map", other)),
                };
                key_of(items[pi])? == key_of(&set_order[si])?
            }
        };
        if equal {
            pi += 1;
        }
        si += 1;
    }
    if pi < items.len() && si >= set_order.len() {
        return Err(PatchError::SetElementOrderMismatch {
            path: path.to_owned(),
        });
    }
    Ok(())
}
