//! Removing a set of fields from a value, or keeping only them (smd `RemoveItems` and
//! `ExtractItems`).
//!
//! Quirks kept from smd, because results must match it: a map or list left with
//! nothing becomes null rather than disappearing, and the root of a fully removed
//! object is null.

use serde_json::{Map, Value};

use super::{Picked, deduce, handle, list_item_element};
use crate::path::PathElement;
use crate::schema::{ListKind, TypeNode};
use crate::set::FieldSet;

/// `value` without the fields in `set` (a member removes the field and everything
/// below it).
pub fn remove_items<N: TypeNode>(node: N, value: &Value, set: &FieldSet) -> Value {
    walk(Some(node), value, set, false)
}

/// Only the fields of `value` that are in `set`, with what is below members. With
/// `append_key_fields`, the key fields of every list-map item on the way are kept too,
/// so that the result can be applied (client-go's `Extract…` helpers).
pub fn extract_items<N: TypeNode>(
    node: N,
    value: &Value,
    set: &FieldSet,
    append_key_fields: bool,
) -> Value {
    if append_key_fields {
        let present = super::to_field_set(node, value);
        let mut keys = FieldSet::new();
        for path in set.paths() {
            if !present.has(path.elements()) {
                continue;
            }
            for (i, pe) in path.elements().iter().enumerate() {
                if let PathElement::Key(fields) = pe {
                    for (name, _) in fields.iter() {
                        let mut p = path.elements()[..=i].to_vec();
                        p.push(PathElement::field(name.as_str()));
                        keys.insert(&p);
                    }
                }
            }
        }
        return walk(Some(node), value, &set.union(&keys), true);
    }
    walk(Some(node), value, set, true)
}

fn walk<N: TypeNode>(node: Option<N>, v: &Value, set: &FieldSet, extract: bool) -> Value {
    // A type that cannot be resolved yields nothing, as in smd.
    let Some(node) = node else { return Value::Null };
    let atom = node.atom();
    match handle(&atom, deduce(&atom, Some(v))) {
        Picked::Scalar(_) => v.clone(),
        Picked::Invalid => Value::Null,
        Picked::List(list) => {
            let Value::Array(items) = v else {
                return Value::Null;
            };
            if items.is_empty() || list.kind == ListKind::Atomic {
                // An atomic or empty list is kept whole when extracting and dropped when
                // removing (the caller only descends when the set reaches below it).
                return if extract { v.clone() } else { Value::Null };
            }
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let Ok(pe) = list_item_element(&list, item) else {
                    if !extract {
                        out.push(item.clone());
                    }
                    continue;
                };
                let exact = set.has_member(&pe);
                let below = set.child(&pe).filter(|s| !s.is_empty());
                if extract {
                    if exact || below.is_some() {
                        out.push(match below {
                            Some(s) => walk(Some(list.element), item, s, true),
                            None => item.clone(),
                        });
                    }
                } else if !exact {
                    out.push(match below {
                        Some(s) => walk(Some(list.element), item, s, false),
                        None => item.clone(),
                    });
                }
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Array(out)
            }
        }
        Picked::Map(map) => {
            let Value::Object(m) = v else {
                return Value::Null;
            };
            if m.is_empty() || map.atomic {
                return if extract { v.clone() } else { Value::Null };
            }
            let mut out = Map::new();
            for (key, child) in m {
                let pe = PathElement::field(key.as_str());
                let child_node = node.field(key).map(|f| f.node);
                if set.has_member(&pe) {
                    if extract {
                        // smd extracts a member with the whole set, not the subset below
                        // it; for a member holding a map that keeps its matching keys.
                        out.insert(key.clone(), walk(child_node, child, set, true));
                    }
                    continue;
                }
                match set.child(&pe).filter(|s| !s.is_empty()) {
                    Some(s) => {
                        out.insert(key.clone(), walk(child_node, child, s, extract));
                    }
                    None if extract => {}
                    None => {
                        out.insert(key.clone(), child.clone());
                    }
                }
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Object(out)
            }
        }
    }
}
