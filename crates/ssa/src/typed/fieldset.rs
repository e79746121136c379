//! The field set a value sets (smd `ToFieldSet`), built bottom-up in one walk, and smd's
//! `EnsureNamedFieldsAreMembers`.
//!
//! What a value owns: scalars are leaves; an atomic list or map is one leaf; every
//! item of an associative list is a member (an item repeated in the list is a member
//! with nothing below it); a map entry is a member when its value is null or an empty
//! map, or when the map does not declare it by name.

use std::collections::BTreeMap;

use serde_json::Value;

use super::validate::{self, Step, push, scalar_error};
use super::{Picked, ValidationError, ValidationErrors, deduce, handle, list_item_element};
use crate::path::PathElement;
use crate::schema::{ListKind, TypeNode};
use crate::set::{FieldSet, SetBuilder};

/// Every field `value` sets, as a `node`. The value must have been
/// [validated](super::validate).
pub fn to_field_set<N: TypeNode>(node: N, value: &Value) -> FieldSet {
    walk(node, value, None).1
}

/// Validation riding along a field-set walk, so that an apply configuration is read
/// once.
struct Check<'v> {
    allow_duplicates: bool,
    path: Vec<Step<'v>>,
    errors: Vec<ValidationError>,
}

impl<'v> Check<'v> {
    fn error(&mut self, message: String) {
        push(&mut self.errors, &self.path, message);
    }

    /// Validates a subtree the field set does not descend into (an atomic value, a
    /// duplicated item).
    fn whole<N: TypeNode>(&mut self, node: N, v: &'v Value) {
        validate::walk(
            node,
            v,
            self.allow_duplicates,
            &mut self.path,
            &mut self.errors,
        );
    }
}

/// [`validate`](super::validate) and [`to_field_set`] in one walk.
pub(crate) fn checked_field_set<N: TypeNode>(
    node: N,
    value: &Value,
    allow_duplicates: bool,
) -> Result<FieldSet, ValidationErrors> {
    let mut check = Check {
        allow_duplicates,
        path: Vec::new(),
        errors: Vec::new(),
    };
    let (_, set) = walk(node, value, Some(&mut check));
    if check.errors.is_empty() {
        Ok(set)
    } else {
        Err(ValidationErrors(check.errors))
    }
}

/// Whether the value's own path is a member, and the set below it.
fn walk<'v, N: TypeNode>(
    node: N,
    v: &'v Value,
    mut check: Option<&mut Check<'v>>,
) -> (bool, FieldSet) {
    let atom = node.atom();
    match handle(&atom, deduce(&atom, Some(v))) {
        Picked::Scalar(kind) => {
            if let Some(c) = check
                && let Some(m) = scalar_error(kind, v)
            {
                c.error(m);
            }
            (true, FieldSet::new())
        }
        Picked::List(list) => {
            if let Some(c) = check.as_deref_mut()
                && !v.is_array()
                && !v.is_null()
            {
                c.error(format!("expected list, got {v}"));
                return (false, FieldSet::new());
            }
            if list.kind == ListKind::Atomic {
                if let Some(c) = check {
                    c.whole(node, v);
                }
                return (true, FieldSet::new());
            }
            let Value::Array(items) = v else {
                return (false, FieldSet::new());
            };
            let mut elements: Vec<Option<PathElement>> = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match list_item_element(&list, item) {
                    Ok(pe) => elements.push(Some(pe)),
                    Err(e) => match check.as_deref_mut() {
                        // Without the item's key nothing below it can be named.
                        Some(c) => {
                            c.error(format!("element {i}: {e}"));
                            return (false, FieldSet::new());
                        }
                        // Items validated beforehand always have an element; one that
                        // does not is skipped rather than owned under a made-up name.
                        None => elements.push(None),
                    },
                }
            }
            let mut counts: BTreeMap<&PathElement, usize> = BTreeMap::new();
            for pe in elements.iter().flatten() {
                let count = counts.entry(pe).or_default();
                *count += 1;
                if *count > 1
                    && let Some(c) = check.as_deref_mut().filter(|c| !c.allow_duplicates)
                {
                    c.error(format!("duplicate entries for key {pe}"));
                }
            }
            let mut b = SetBuilder::with_capacity(items.len());
            for (item, pe) in items.iter().zip(&elements) {
                let Some(pe) = pe else { continue };
                if let Some(c) = check.as_deref_mut() {
                    c.path.push(Step::Item(pe.clone()));
                }
                if counts.get(pe).copied().unwrap_or(0) > 1 {
                    // A duplicated item is owned as a whole, once.
                    if let Some(c) = check.as_deref_mut() {
                        c.whole(list.element, item);
                    }
                    b.member(pe.clone());
                } else {
                    let (_, below) = walk(list.element, item, check.as_deref_mut());
                    b.member(pe.clone());
                    b.child(pe.clone(), below);
                }
                if let Some(c) = check.as_deref_mut() {
                    c.path.pop();
                }
            }
            (false, b.finish())
        }
        Picked::Map(map) => {
            if let Some(c) = check.as_deref_mut()
                && !v.is_object()
                && !v.is_null()
            {
                c.error(format!("expected map, got {v}"));
                return (false, FieldSet::new());
            }
            if map.atomic {
                if let Some(c) = check {
                    c.whole(node, v);
                }
                return (true, FieldSet::new());
            }
            let Value::Object(m) = v else {
                return (false, FieldSet::new());
            };
            let mut b = SetBuilder::with_capacity(m.len());
            for (key, child) in m {
                if let Some(c) = check.as_deref_mut() {
                    c.path.push(Step::Key(key));
                }
                let Some(field) = node.field(key) else {
                    if let Some(c) = check.as_deref_mut() {
                        c.error("field not declared in schema".into());
                        c.path.pop();
                        break;
                    }
                    continue;
                };
                let (member, below) = walk(field.node, child, check.as_deref_mut());
                if let Some(c) = check.as_deref_mut() {
                    c.path.pop();
                }
                let empty = child.is_null() || child.as_object().is_some_and(|o| o.is_empty());
                let is_member = member || empty || !field.declared;
                if is_member || !below.is_empty() {
                    let pe = PathElement::field(key.as_str());
                    if is_member {
                        b.member(pe.clone());
                    }
                    b.child(pe, below);
                }
            }
            (false, b.finish())
        }
        Picked::Invalid => {
            if let Some(c) = check {
                c.error("schema error: invalid atom".into());
            }
            (false, FieldSet::new())
        }
    }
}

/// `set` plus, at every level, the children that are fields the map declares by name
/// (smd `EnsureNamedFieldsAreMembers`): owning `.spec.replicas` then also names
/// `.spec`, but owning `.metadata.labels.app` does not name the label map's keys.
pub fn ensure_named_fields_are_members<N: TypeNode>(node: Option<N>, set: &FieldSet) -> FieldSet {
    let map = node.and_then(|n| n.atom().map.map(|_| n));
    let list_element = node.and_then(|n| n.atom().list.map(|l| l.element));
    let mut members: Vec<PathElement> = set.members().to_vec();
    let mut children = Vec::with_capacity(set.children().len());
    for (pe, child) in set.children() {
        let child_node = match pe {
            PathElement::Field(name) => map.and_then(|m| m.field(name)).map(|f| {
                if f.declared {
                    members.push(pe.clone());
                }
                f.node
            }),
            PathElement::Key(_) => list_element,
            _ => None,
        };
        children.push((
            pe.clone(),
            ensure_named_fields_are_members(child_node, child),
        ));
    }
    members.sort_unstable();
    members.dedup();
    FieldSet::from_parts(members, children)
}
