//! Bringing a recorded field set in line with a schema that changed since it was
//! recorded (smd `ReconcileFieldSetWithSchema`): where a list or map became atomic, a
//! manager that owned parts of it now owns it whole. Changes from atomic to granular
//! need nothing: the old member simply has nothing below it.

use crate::path::{Path, PathElement};
use crate::schema::{ListKind, TypeNode};
use crate::set::FieldSet;

/// The reconciled set, or `None` when `set` already fits the schema.
pub fn reconcile_field_set<N: TypeNode>(node: N, set: &FieldSet) -> Option<FieldSet> {
    let mut collapse = Vec::new();
    let mut path = Vec::new();
    walk(node, set, &mut path, &mut collapse);
    if collapse.is_empty() {
        return None;
    }
    let atomic = FieldSet::from_paths(&collapse);
    // Everything at and below each newly atomic path goes; the path itself comes back.
    Some(set.recursive_difference(&atomic).union(&atomic))
}

/// Walks a subset that is not owned whole (it has members below it).
fn walk<N: TypeNode>(
    node: N,
    set: &FieldSet,
    path: &mut Vec<PathElement>,
    collapse: &mut Vec<Path>,
) {
    // smd resolves the type without a value: the map part first, then the scalar part,
    // then the list part.
    let atom = node.atom();
    if let Some(map) = atom.map {
        // Schema-less maps carry no atomic markers to reconcile with.
        if map.untyped_deduced {
            return;
        }
        if map.atomic {
            if !set.is_empty() {
                collapse.push(Path(path.clone()));
            }
            return;
        }
        visit(set, path, collapse, |pe| match pe {
            PathElement::Field(name) => node.field(name).map(|f| f.node),
            // Maps are only ever indexed by field names.
            _ => None,
        });
    } else if atom.scalar.is_some() {
        // Scalars have nothing to reconcile.
    } else if let Some(list) = atom.list {
        if list.kind == ListKind::Atomic {
            collapse.push(Path(path.clone()));
            return;
        }
        visit(set, path, collapse, |_| Some(list.element));
    }
}

/// Visits the subsets below this node, each with the type `child_type` gives it;
/// elements without a type are skipped.
fn visit<N: TypeNode>(
    set: &FieldSet,
    path: &mut Vec<PathElement>,
    collapse: &mut Vec<Path>,
    child_type: impl Fn(&PathElement) -> Option<N>,
) {
    for (pe, below) in set.children() {
        // smd also visits members without children, but a leaf is owned whole already
        // and never needs collapsing, so only subsets are walked.
        let Some(child) = child_type(pe) else {
            continue;
        };
        path.push(pe.clone());
        walk(child, below, path, collapse);
        path.pop();
    }
}
