//! Walks over values with their schema (smd's `typed` package): validation, the field
//! set a value sets, merge, comparison, removal and extraction of fields, and the
//! reconciliation of an old field set with a changed schema.
//!
//! Every walk picks the shape of each value the way smd does ([`deduce`] then
//! [`handle`]): a value of a kind its type allows is handled as that kind; anything
//! else (absent, null, or a kind the type does not allow) falls back to the type's map
//! part, then its scalar part, then its list part.

mod compare;
mod fieldset;
mod merge;
mod reconcile;
mod remove;
mod validate;

use std::fmt;

use serde_json::Value;

use crate::path::PathElement;
use crate::schema::{Atom, ListAtom, ListKind, MapAtom, ScalarKind, TypeNode};

pub use compare::{Comparison, compare};
pub(crate) use fieldset::checked_field_set;
pub use fieldset::{ensure_named_fields_are_members, to_field_set};
pub use merge::merge;
pub(crate) use merge::merge_keeps;
pub use reconcile::reconcile_field_set;
pub use remove::{extract_items, remove_items};
pub use validate::validate;

/// Which part of an atom a value selects (smd `deduceAtom`): a single part when the
/// value is of a kind the atom allows, else the whole atom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deduced {
    Scalar,
    List,
    Map,
    Whole,
}

pub(crate) fn deduce<N>(atom: &Atom<'_, N>, v: Option<&Value>) -> Deduced {
    match v {
        Some(Value::Number(_) | Value::String(_) | Value::Bool(_)) if atom.scalar.is_some() => {
            Deduced::Scalar
        }
        Some(Value::Array(_)) if atom.list.is_some() => Deduced::List,
        Some(Value::Object(_)) if atom.map.is_some() => Deduced::Map,
        _ => Deduced::Whole,
    }
}

/// The part of an atom a walk handles (smd `handleAtom`).
pub(crate) enum Picked<'a, N> {
    Scalar(ScalarKind),
    List(ListAtom<'a, N>),
    Map(MapAtom),
    Invalid,
}

pub(crate) fn handle<'a, N: Copy>(atom: &Atom<'a, N>, d: Deduced) -> Picked<'a, N> {
    let pick = |scalar: bool, list: bool, map: bool| {
        if let (true, Some(m)) = (map, atom.map) {
            Picked::Map(m)
        } else if let (true, Some(s)) = (scalar, atom.scalar) {
            Picked::Scalar(s)
        } else if let (true, Some(l)) = (list, atom.list) {
            Picked::List(l)
        } else {
            Picked::Invalid
        }
    };
    match d {
        Deduced::Scalar => pick(true, false, false),
        Deduced::List => pick(false, true, false),
        Deduced::Map => pick(false, false, true),
        Deduced::Whole => pick(true, true, true),
    }
}

/// The path element of a list item (smd `listItemToPathElement`).
pub(crate) fn list_item_element<N: TypeNode>(
    list: &ListAtom<'_, N>,
    item: &Value,
) -> Result<PathElement, String> {
    match list.kind {
        ListKind::Atomic => Err("invalid indexing of non-associative list".into()),
        ListKind::Map { keys } => keyed_item_element(list.element, keys, item),
        ListKind::Set => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            v => Ok(PathElement::value(v.clone())),
        },
    }
}

fn keyed_item_element<N: TypeNode>(
    element: N,
    keys: &[String],
    item: &Value,
) -> Result<PathElement, String> {
    let m = match item {
        Value::Null => return Err("associative list with keys may not have a null element".into()),
        Value::Object(m) => m,
        _ => return Err("associative list with keys may not have non-map elements".into()),
    };
    let mut fields = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(v) = m.get(key) {
            fields.push((key.clone(), v.clone()));
        } else {
            if element.atom().map.is_none() {
                return Err(format!(
                    "couldn't find default value for {key}: associative list may not have non-map types"
                ));
            }
            // A key field that is absent and has no default is left out of the key: an
            // item that sets it is a different item.
            if let Some(d) = element.field_default(key) {
                fields.push((key.clone(), d));
            }
        }
    }
    if !keys.is_empty() && fields.is_empty() {
        let quoted: Vec<String> = keys.iter().map(|k| crate::value::go_quote(k)).collect();
        return Err(format!(
            "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
            quoted.join(" ")
        ));
    }
    Ok(PathElement::key(fields))
}

/// One problem found while validating a value against its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Where, in smd's path form (`.spec.ports[port=80,protocol="TCP"]`); empty for the
    /// root.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a value, worded as smd words them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [one] = self.0.as_slice() {
            return write!(f, "{one}");
        }
        f.write_str("errors:")?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// The value's map, when it is one; null and other kinds read as no map, as smd's
/// walkers read them once validation has passed.
pub(crate) fn as_map(v: Option<&Value>) -> Option<&serde_json::Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

pub(crate) fn as_list(v: Option<&Value>) -> Option<&Vec<Value>> {
    match v {
        Some(Value::Array(l)) => Some(l),
        _ => None,
    }
}
