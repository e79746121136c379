//! Comparing two versions of an object (smd `TypedValue.Compare`): which fields the
//! new version removed, modified and added. Conflicts, ownership transfer and the
//! removal of fields from other managers all derive from this.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Picked, as_list, as_map, deduce, handle, list_item_element};
use crate::path::PathElement;
use crate::schema::{ListAtom, ListKind, TypeNode};
use crate::set::{FieldSet, SetBuilder};
use crate::value::values_equal;

/// What changed between two versions of an object. No path is in two of the sets,
/// except for list items that became (or stopped being) duplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Fields the new version no longer has.
    pub removed: FieldSet,
    /// Fields both versions have, with different values.
    pub modified: FieldSet,
    /// Fields only the new version has.
    pub added: FieldSet,
}

impl Comparison {
    /// Whether the two versions are the same.
    pub fn is_same(&self) -> bool {
        self.removed.is_empty() && self.modified.is_empty() && self.added.is_empty()
    }

    /// The comparison without `fields` and everything below them (smd
    /// `ExcludeFields`).
    pub fn excluding(&self, fields: &FieldSet) -> Comparison {
        if fields.is_empty() {
            return self.clone();
        }
        Comparison {
            removed: self.removed.recursive_difference(fields),
            modified: self.modified.recursive_difference(fields),
            added: self.added.recursive_difference(fields),
        }
    }
}

/// Compares `lhs` (old) with `rhs` (new), both as a `node`. Both values must have been
/// validated (duplicates allowed).
pub fn compare<N: TypeNode>(node: N, lhs: &Value, rhs: &Value) -> Comparison {
    // Equal objects differ nowhere; one pass over the values says so.
    if values_equal(lhs, rhs) {
        return Comparison::default();
    }
    let n = walk(node, Some(lhs), Some(rhs));
    Comparison {
        removed: n.removed_below,
        modified: n.modified_below,
        added: n.added_below,
    }
}

#[derive(Default)]
struct NodeResult {
    removed: bool,
    modified: bool,
    added: bool,
    removed_below: FieldSet,
    modified_below: FieldSet,
    added_below: FieldSet,
}

/// The sets below one node, under construction.
#[derive(Default)]
struct Below {
    removed: SetBuilder,
    modified: SetBuilder,
    added: SetBuilder,
}

impl NodeResult {
    fn is_empty(&self) -> bool {
        !(self.removed || self.modified || self.added)
            && self.removed_below.is_empty()
            && self.modified_below.is_empty()
            && self.added_below.is_empty()
    }
}

impl Below {
    fn add(&mut self, pe: &PathElement, n: NodeResult) {
        if n.is_empty() {
            return;
        }
        for (flag, set, b) in [
            (n.removed, n.removed_below, &mut self.removed),
            (n.modified, n.modified_below, &mut self.modified),
            (n.added, n.added_below, &mut self.added),
        ] {
            if flag {
                b.member(pe.clone());
            }
            b.child(pe.clone(), set);
        }
    }
}

fn walk<N: TypeNode>(node: N, lhs: Option<&Value>, rhs: Option<&Value>) -> NodeResult {
    // Most of an object is unchanged between two versions: an equal subtree has nothing
    // to report, and comparing values is far cheaper than walking them with their
    // schema. (Along the path to a difference, values are compared again at each
    // level: the work grows with depth times size, and objects are shallow.)
    if let (Some(l), Some(r)) = (lhs, rhs)
        && values_equal(l, r)
    {
        return NodeResult::default();
    }
    let mut res = NodeResult::default();
    let mut below = Below::default();
    let atom = node.atom();
    let (dl, dr) = (deduce(&atom, lhs), deduce(&atom, rhs));
    let in_leaf = if rhs.is_none() {
        part(handle(&atom, dl), node, lhs, rhs, &mut res, &mut below)
    } else if lhs.is_none() || dl == dr {
        part(handle(&atom, dr), node, lhs, rhs, &mut res, &mut below)
    } else {
        // The value changed kind (possible in untyped data): smd compares it as the old
        // kind and as the new one, and both results count.
        part(handle(&atom, dl), node, lhs, rhs, &mut res, &mut below);
        part(handle(&atom, dr), node, lhs, rhs, &mut res, &mut below)
    };
    if !in_leaf {
        if lhs.is_none() {
            res.added = true;
        } else if rhs.is_none() {
            res.removed = true;
        }
    }
    res.removed_below = below.removed.finish();
    res.modified_below = below.modified.finish();
    res.added_below = below.added.finish();
    res
}

fn leaf(lhs: Option<&Value>, rhs: Option<&Value>, res: &mut NodeResult) -> bool {
    match (lhs, rhs) {
        (None, _) => res.added = true,
        (_, None) => res.removed = true,
        (Some(l), Some(r)) => {
            if !values_equal(l, r) {
                res.modified = true;
            }
        }
    }
    true
}

/// Handles one part of the atom; returns whether the node was compared as a leaf.
fn part<N: TypeNode>(
    picked: Picked<'_, N>,
    node: N,
    lhs: Option<&Value>,
    rhs: Option<&Value>,
    res: &mut NodeResult,
    below: &mut Below,
) -> bool {
    match picked {
        Picked::Scalar(_) | Picked::Invalid => leaf(lhs, rhs, res),
        Picked::List(list) => {
            let (l, r) = (as_list(lhs), as_list(rhs));
            let empty = l.is_none_or(Vec::is_empty) && r.is_none_or(Vec::is_empty);
            if list.kind == ListKind::Atomic || empty {
                return leaf(lhs, rhs, res);
            }
            compare_lists(&list, l, r, below);
            false
        }
        Picked::Map(map) => {
            let (l, r) = (as_map(lhs), as_map(rhs));
            let empty = l.is_none_or(Map::is_empty) && r.is_none_or(Map::is_empty);
            if map.atomic || empty {
                return leaf(lhs, rhs, res);
            }
            compare_maps(node, l, r, below);
            false
        }
    }
}

fn compare_maps<N: TypeNode>(
    node: N,
    lhs: Option<&Map<String, Value>>,
    rhs: Option<&Map<String, Value>>,
    below: &mut Below,
) {
    let mut child = |key: &String, l: Option<&Value>, r: Option<&Value>| {
        let n = match node.field(key) {
            Some(f) => walk(f.node, l, r),
            None => {
                let mut n = NodeResult::default();
                leaf(l, r, &mut n);
                n
            }
        };
        // Most entries are unchanged: name them only when there is something to record.
        if !n.is_empty() {
            below.add(&PathElement::field(key.as_str()), n);
        }
    };
    if let Some(l) = lhs {
        for (key, lv) in l {
            child(key, Some(lv), rhs.and_then(|r| r.get(key)));
        }
    }
    if let Some(r) = rhs {
        for (key, rv) in r {
            if !lhs.is_some_and(|l| l.contains_key(key)) {
                child(key, None, Some(rv));
            }
        }
    }
}

fn compare_lists<N: TypeNode>(
    list: &ListAtom<'_, N>,
    lhs: Option<&Vec<Value>>,
    rhs: Option<&Vec<Value>>,
    below: &mut Below,
) {
    // Every element once, live order first; each with all of its items on both sides.
    let mut order: Vec<PathElement> = Vec::new();
    let mut values: BTreeMap<PathElement, (Vec<&Value>, Vec<&Value>)> = BTreeMap::new();
    for item in lhs.into_iter().flatten() {
        let Ok(pe) = list_item_element(list, item) else {
            continue;
        };
        let entry = values.entry(pe.clone()).or_insert_with(|| {
            order.push(pe);
            (Vec::new(), Vec::new())
        });
        entry.0.push(item);
    }
    for item in rhs.into_iter().flatten() {
        let Ok(pe) = list_item_element(list, item) else {
            continue;
        };
        let entry = values.entry(pe.clone()).or_insert_with(|| {
            order.push(pe);
            (Vec::new(), Vec::new())
        });
        entry.1.push(item);
    }
    for pe in &order {
        let Some((l, r)) = values.get(pe) else {
            continue;
        };
        match (l.len(), r.len()) {
            (0..=1, 0..=1) => {
                let n = walk(list.element, l.first().copied(), r.first().copied());
                below.add(pe, n);
            }
            // Duplicated before and after: the duplicates compare as one atomic value.
            (2.., 2..) => {
                let same = l.len() == r.len() && l.iter().zip(r).all(|(a, b)| values_equal(a, b));
                if !same {
                    below.modified.member(pe.clone());
                }
            }
            // No longer duplicated: the remaining item is new, the duplicates are gone.
            (2.., _) => {
                if let Some(r0) = r.first() {
                    below.add(pe, walk(list.element, None, Some(r0)));
                }
                below.removed.member(pe.clone());
            }
            // Newly duplicated: the single item is gone, the duplicates are new.
            (_, 2..) => {
                if let Some(l0) = l.first() {
                    below.add(pe, walk(list.element, Some(l0), None));
                }
                below.added.member(pe.clone());
            }
        }
    }
}
