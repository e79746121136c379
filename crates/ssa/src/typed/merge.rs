//! Merging an applied configuration into a live object (smd `TypedValue.Merge`): the
//! configuration's leaves win, maps merge key by key, associative lists merge item by
//! item, and atomic values are replaced whole. Nothing is removed here.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{Picked, as_list, as_map, deduce, handle, list_item_element};
use crate::path::PathElement;
use crate::schema::{ListAtom, ListKind, TypeNode};

/// An item that occurs more than once in the live list: it is not merged with the
/// configuration's item, which replaces it.
static DUPLICATE: Value = Value::Null;

/// `lhs` with `rhs` merged on top, as a `node`; `None` when neither side holds
/// anything (smd's nil result). Both values must have been validated; `rhs` must not
/// repeat list items.
pub fn merge<N: TypeNode>(node: N, lhs: Option<&Value>, rhs: Option<&Value>) -> Option<Value> {
    // What smd's walk would rebuild piece by piece: one side alone is kept as it is,
    // and so is a subtree the configuration repeats exactly. (Along the path to a
    // difference, values are compared again at each level: the work grows with depth
    // times size, and objects are shallow.)
    match (lhs, rhs) {
        (None, None) => return None,
        (Some(l), None) => return Some(l.clone()),
        (None, Some(r)) => return Some(r.clone()),
        (Some(l), Some(r)) if l == r => return Some(r.clone()),
        _ => {}
    }
    let atom = node.atom();
    let d = if rhs.is_none() {
        deduce(&atom, lhs)
    } else {
        // When the two sides have different kinds, smd walks both but keeps only what
        // the configuration's side produced.
        deduce(&atom, rhs)
    };
    let leaf = || rhs.or(lhs).cloned();
    match handle(&atom, d) {
        Picked::Scalar(_) | Picked::Invalid => leaf(),
        Picked::List(list) => {
            let (l, r) = (as_list(lhs), as_list(rhs));
            let empty = l.is_none_or(Vec::is_empty) && r.is_none_or(Vec::is_empty);
            // Both sides empty or null: keep the configuration's form, which keeps the
            // difference between `[]` and null.
            if list.kind == ListKind::Atomic || empty {
                return leaf();
            }
            merge_lists(&list, l, r)
        }
        Picked::Map(map) => {
            let (l, r) = (as_map(lhs), as_map(rhs));
            let empty = l.is_none_or(Map::is_empty) && r.is_none_or(Map::is_empty);
            if map.atomic || empty {
                return leaf();
            }
            merge_maps(node, l, r)
        }
    }
}

fn merge_maps<N: TypeNode>(
    node: N,
    lhs: Option<&Map<String, Value>>,
    rhs: Option<&Map<String, Value>>,
) -> Option<Value> {
    let mut out = Map::new();
    let mut child = |key: &String, l: Option<&Value>, r: Option<&Value>| {
        let merged = match node.field(key) {
            Some(f) => merge(f.node, l, r),
            None => r.or(l).cloned(),
        };
        if let Some(v) = merged {
            out.insert(key.clone(), v);
        }
    };
    if let Some(l) = lhs {
        for (key, lv) in l {
            child(key, Some(lv), rhs.and_then(|r| r.get(key)));
        }
    }
    if let Some(r) = rhs {
        for (key, rv) in r {
            if lhs.is_some_and(|l| l.contains_key(key)) {
                continue;
            }
            child(key, None, Some(rv));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Path elements of a list's items, in order, with each item's position (`None` for an
/// item without one: only a live object that skipped validation has such items, and
/// they are kept where they are); and each element's item (the first; [`DUPLICATE`]
/// when it occurs again).
type Indexed<'v> = (
    Vec<(Option<PathElement>, usize)>,
    BTreeMap<PathElement, &'v Value>,
);

fn index<'v, N: TypeNode>(list: &ListAtom<'_, N>, items: Option<&'v Vec<Value>>) -> Indexed<'v> {
    let mut pes = Vec::new();
    let mut observed: BTreeMap<PathElement, &'v Value> = BTreeMap::new();
    for (i, item) in items.into_iter().flatten().enumerate() {
        let Ok(pe) = list_item_element(list, item) else {
            pes.push((None, i));
            continue;
        };
        match observed.get_mut(&pe) {
            Some(v) => *v = &DUPLICATE,
            None => {
                observed.insert(pe.clone(), item);
            }
        }
        pes.push((Some(pe), i));
    }
    (pes, observed)
}

/// Merges two associative lists item by item. The order is smd's: live items keep
/// their place, items the configuration adds or moves follow the configuration's
/// order around the items both sides share.
fn merge_lists<N: TypeNode>(
    list: &ListAtom<'_, N>,
    lhs: Option<&Vec<Value>>,
    rhs: Option<&Vec<Value>>,
) -> Option<Value> {
    let (rhs_pes, observed_rhs) = index(list, rhs);
    let (lhs_pes, observed_lhs) = index(list, lhs);
    let rhs_pes: Vec<&PathElement> = rhs_pes.iter().filter_map(|(pe, _)| pe.as_ref()).collect();
    let mut shared = rhs_pes
        .iter()
        .copied()
        .filter(|pe| observed_lhs.contains_key(*pe));
    let mut next_shared = shared.next();
    let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
    let mut out = Vec::with_capacity(lhs_pes.len().max(rhs_pes.len()));
    let mut push = |l: Option<&Value>, r: Option<&Value>| {
        if let Some(v) = merge(list.element, l, r) {
            out.push(v);
        }
    };
    let (mut li, mut ri) = (0, 0);
    while li < lhs_pes.len() || ri < rhs_pes.len() {
        if let Some((None, i)) = lhs_pes.get(li) {
            push(lhs.and_then(|l| l.get(*i)), None);
            li += 1;
            continue;
        }
        if let (Some((Some(pe), _)), Some(rpe)) = (lhs_pes.get(li), rhs_pes.get(ri)) {
            if pe == *rpe {
                merged_rhs.insert(pe);
                push(observed_lhs.get(pe).copied(), observed_rhs.get(pe).copied());
                li += 1;
                ri += 1;
                next_shared = shared.next();
                continue;
            }
            if observed_rhs.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                // A shared item, but not the one the configuration places next.
                li += 1;
                continue;
            }
        }
        if let Some((Some(pe), i)) = lhs_pes.get(li) {
            if !observed_rhs.contains_key(pe) {
                push(lhs.and_then(|l| l.get(*i)), None);
                li += 1;
                continue;
            } else if merged_rhs.contains(pe) {
                li += 1;
            }
        }
        if let Some(pe) = rhs_pes.get(ri).copied() {
            merged_rhs.insert(pe);
            push(observed_lhs.get(pe).copied(), observed_rhs.get(pe).copied());
            ri += 1;
            if next_shared.is_some_and(|n| n == pe) {
                next_shared = shared.next();
            }
        }
    }
    (!out.is_empty()).then_some(Value::Array(out))
}

/// Whether merging `rhs` into `lhs` would leave `lhs` as it is (by smd's value
/// equality, which also decides whether an apply changed the object). One walk over
/// `rhs` that builds nothing, so a steady-state apply does not copy the object to find
/// out. It may answer `false` for a merge that changes nothing; never the reverse.
/// Leaves compare as JSON, stricter than smd's equality, so that a `1` applied over a
/// live `1.0` still goes through the merge.
pub(crate) fn merge_keeps<N: TypeNode>(node: N, lhs: &Value, rhs: &Value) -> bool {
    let atom = node.atom();
    match handle(&atom, deduce(&atom, Some(rhs))) {
        Picked::List(list) => {
            let (Value::Array(l), Value::Array(r)) = (lhs, rhs) else {
                return lhs == rhs;
            };
            if list.kind == ListKind::Atomic || l.is_empty() {
                return lhs == rhs;
            }
            let (lhs_pes, observed) = index(&list, Some(l));
            let mut positions: BTreeMap<&PathElement, usize> = BTreeMap::new();
            for (pos, (pe, _)) in lhs_pes.iter().enumerate() {
                if let Some(pe) = pe {
                    positions.entry(pe).or_insert(pos);
                }
            }
            // Every configured item must already be there, unduplicated, in the same
            // relative order, and unchanged by its own merge.
            let mut after = 0;
            for item in r {
                let Ok(pe) = list_item_element(&list, item) else {
                    return false;
                };
                let (Some(pos), Some(existing)) = (positions.get(&pe), observed.get(&pe)) else {
                    return false;
                };
                if std::ptr::eq(*existing, &DUPLICATE) || *pos < after {
                    return false;
                }
                after = *pos + 1;
                if !merge_keeps(list.element, existing, item) {
                    return false;
                }
            }
            true
        }
        Picked::Map(map) => {
            let (Value::Object(l), Value::Object(r)) = (lhs, rhs) else {
                return lhs == rhs;
            };
            if map.atomic || l.is_empty() {
                return lhs == rhs;
            }
            r.iter()
                .all(|(key, rv)| match (l.get(key), node.field(key)) {
                    (Some(lv), Some(f)) => merge_keeps(f.node, lv, rv),
                    (Some(lv), None) => lv == rv,
                    (None, _) => false,
                })
        }
        // A leaf keeps the live value only when it is the configured one, written the
        // same way (`1` and `1.0` are equal to smd, but the merge writes the
        // configuration's form).
        Picked::Scalar(_) | Picked::Invalid => lhs == rhs,
    }
}
