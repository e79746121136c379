//! Per-thread memory of recent FieldsV1 conversions, for `metadata.managedFields`.
//!
//! Every write decodes the stored object's managedFields and encodes the new ones, and
//! objects of one kind written by one manager carry the same field sets over and over
//! (a fleet's Deployments differ in names and images, not in which fields are set). So
//! the last few conversions each way are remembered and reused when the input is the
//! same:
//!
//! * FieldsV1 → set: the document must be the same tree, keys in the same order (the
//!   decoder keeps the first of two keys naming one element); only nested objects are
//!   remembered, as FieldsV1 documents are.
//! * set → FieldsV1: the set must have the same elements exactly (`1` and `1.0` are one
//!   element to smd but are written differently).
//!
//! A hit costs a walk to hash and one to compare, and no allocation; the answer is what
//! converting would have produced. A decoded set is shared with the memory (sets are
//! immutable, copy on write), which also lets later set operations take their shortcut
//! for identical nodes.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};

use serde_json::Value;

use crate::fieldsv1;
use crate::path::PathElement;
use crate::set::FieldSet;

/// Conversions remembered per direction and thread.
const SLOTS: usize = 32;

struct Slots<K, V> {
    entries: Vec<(u64, K, V)>,
    next: usize,
}

impl<K, V> Slots<K, V> {
    const fn new() -> Self {
        Slots {
            entries: Vec::new(),
            next: 0,
        }
    }

    fn find(&self, hash: u64, same: impl Fn(&K) -> bool) -> Option<&V> {
        self.entries
            .iter()
            .find(|(h, k, _)| *h == hash && same(k))
            .map(|(_, _, v)| v)
    }

    fn remember(&mut self, hash: u64, key: K, value: V) {
        if self.entries.len() < SLOTS {
            self.entries.push((hash, key, value));
        } else {
            self.entries[self.next] = (hash, key, value);
            self.next = (self.next + 1) % SLOTS;
        }
    }
}

thread_local! {
    static DECODED: RefCell<Slots<Value, FieldSet>> = const { RefCell::new(Slots::new()) };
    static ENCODED: RefCell<Slots<FieldSet, Value>> = const { RefCell::new(Slots::new()) };
}

/// FNV-1a; stable and cheap for the short keys hashed here.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

fn fnv() -> Fnv {
    Fnv(0xcbf2_9ce4_8422_2325)
}

/// Hashes a tree of objects; `None` when something else is in it.
fn hash_tree(v: &Value, h: &mut Fnv) -> Option<()> {
    let Value::Object(m) = v else { return None };
    h.write_usize(m.len());
    for (k, child) in m {
        k.hash(h);
        hash_tree(child, h)?;
    }
    Some(())
}

/// The same tree of objects, keys in the same order.
fn same_tree(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && same_tree(va, vb))
        }
        _ => false,
    }
}

/// [`fieldsv1::from_value`], remembered.
pub(crate) fn decode(v: &Value) -> Result<FieldSet, fieldsv1::DecodeError> {
    let mut h = fnv();
    if hash_tree(v, &mut h).is_none() {
        return fieldsv1::from_value(v);
    }
    let hash = h.finish();
    if let Some(set) = DECODED.with(|d| d.borrow().find(hash, |k| same_tree(k, v)).cloned()) {
        return Ok(set);
    }
    let set = fieldsv1::from_value(v)?;
    DECODED.with(|d| d.borrow_mut().remember(hash, v.clone(), set.clone()));
    Ok(set)
}

fn hash_element(pe: &PathElement, h: &mut Fnv) {
    match pe {
        PathElement::Field(name) => {
            h.write_u8(0);
            name.hash(h);
        }
        PathElement::Key(fields) => {
            h.write_u8(1);
            h.write_usize(fields.len());
            for (name, value) in fields.iter() {
                name.hash(h);
                hash_scalar(value, h);
            }
        }
        PathElement::Value(v) => {
            h.write_u8(2);
            hash_scalar(v, h);
        }
        PathElement::Index(i) => {
            h.write_u8(3);
            i.hash(h);
        }
    }
}

/// Hashes what tells scalars apart; composite values only by kind (equality decides).
fn hash_scalar(v: &Value, h: &mut Fnv) {
    match v {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => b.hash(h),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.hash(h);
            } else if let Some(u) = n.as_u64() {
                u.hash(h);
            } else if let Some(f) = n.as_f64() {
                f.to_bits().hash(h);
            }
        }
        Value::String(s) => s.hash(h),
        Value::Array(_) => h.write_u8(4),
        Value::Object(_) => h.write_u8(5),
    }
}

fn hash_set(set: &FieldSet, h: &mut Fnv) {
    h.write_usize(set.members().len());
    for pe in set.members() {
        hash_element(pe, h);
    }
    h.write_usize(set.children().len());
    for (pe, child) in set.children() {
        hash_element(pe, h);
        hash_set(child, h);
    }
}

/// The same element, written the same way: equal values, not merely equal numbers.
fn same_element(a: &PathElement, b: &PathElement) -> bool {
    match (a, b) {
        (PathElement::Field(a), PathElement::Field(b)) => a == b,
        (PathElement::Key(a), PathElement::Key(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|((na, va), (nb, vb))| na == nb && va == vb)
        }
        (PathElement::Value(a), PathElement::Value(b)) => a == b,
        (PathElement::Index(a), PathElement::Index(b)) => a == b,
        _ => false,
    }
}

fn same_set(a: &FieldSet, b: &FieldSet) -> bool {
    if a.shares(b) {
        return true;
    }
    let (am, bm) = (a.members(), b.members());
    let (ac, bc) = (a.children(), b.children());
    am.len() == bm.len()
        && ac.len() == bc.len()
        && am.iter().zip(bm).all(|(x, y)| same_element(x, y))
        && ac
            .iter()
            .zip(bc)
            .all(|((px, sx), (py, sy))| same_element(px, py) && same_set(sx, sy))
}

/// [`fieldsv1::to_value`], remembered.
pub(crate) fn encode(set: &FieldSet) -> Value {
    let mut h = fnv();
    hash_set(set, &mut h);
    let hash = h.finish();
    if let Some(v) = ENCODED.with(|e| e.borrow().find(hash, |k| same_set(k, set)).cloned()) {
        return v;
    }
    let v = fieldsv1::to_value(set);
    ENCODED.with(|e| e.borrow_mut().remember(hash, set.clone(), v.clone()));
    v
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn remembered_conversions_answer_as_converting_does() {
        let doc = json!({"f:spec": {"f:ports": {"k:{\"port\":80}": {".": {}, "f:port": {}}}}});
        let first = decode(&doc).expect("valid");
        let again = decode(&doc.clone()).expect("valid");
        assert!(first.shares(&again));
        assert_eq!(first, fieldsv1::from_value(&doc).expect("valid"));
        assert_eq!(encode(&first), fieldsv1::to_value(&first));
        assert_eq!(encode(&again), fieldsv1::to_value(&first));
    }

    #[test]
    fn numbers_written_differently_are_different_sets() {
        let int = fieldsv1::from_value(&json!({"k:{\"port\":80}": {}})).expect("valid");
        let float = fieldsv1::from_value(&json!({"k:{\"port\":80.0}": {}})).expect("valid");
        assert_eq!(int, float, "one element to smd");
        let (a, b) = (encode(&int), encode(&float));
        assert_eq!(a, fieldsv1::to_value(&int));
        assert_eq!(b, fieldsv1::to_value(&float));
    }

    #[test]
    fn key_order_is_part_of_the_document() {
        // Two keys naming one element: the decoder keeps the first.
        let ab = json!({"k:{\"p\":1}": {"f:a": {}}, "k:{\"p\":1.0}": {"f:b": {}}});
        let ba = json!({"k:{\"p\":1.0}": {"f:b": {}}, "k:{\"p\":1}": {"f:a": {}}});
        assert_eq!(
            decode(&ab).expect("valid"),
            fieldsv1::from_value(&ab).expect("valid")
        );
        assert_eq!(
            decode(&ba).expect("valid"),
            fieldsv1::from_value(&ba).expect("valid")
        );
    }
}
