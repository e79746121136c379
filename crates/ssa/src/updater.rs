//! Ownership bookkeeping for apply and update (smd `merge.Updater`): managers' field
//! sets before an operation and the object → the new object and new sets, or the
//! conflicts of a non-forced apply.
//!
//! Versions only label the sets: objects are taken to be the same at every version
//! (smd's fixture and kubesim convert nothing), so no conversion happens.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::conflict::{Conflict, Conflicts};
use crate::schema::TypeNode;
use crate::set::FieldSet;
use crate::typed::{
    Comparison, ValidationErrors, checked_field_set, compare, ensure_named_fields_are_members,
    merge, merge_keeps, reconcile_field_set, remove_items, to_field_set,
};
use crate::value::values_equal;

/// What one manager owns (smd `VersionedSet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedSet {
    /// The fields.
    pub fields: FieldSet,
    /// The API version the set was recorded at.
    pub api_version: String,
    /// Whether the manager's last operation was an apply.
    pub applied: bool,
}

/// Every manager's set, by manager (a plain name, or an identifier from
/// [`ManagerId`](crate::ManagerId)).
pub type Managers = BTreeMap<String, ManagedSet>;

/// The result of a successful apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The new object, or `None` when the apply left the object as it was (the
    /// managers may still have changed).
    pub object: Option<Value>,
    /// The managers after the apply.
    pub managers: Managers,
}

/// Why an apply was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The configuration does not fit the schema, or repeats a list item.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The apply would change fields other managers own.
    #[error("{0}")]
    Conflicts(Conflicts),
}

/// Applies configurations and records updates (smd `merge.Updater`).
///
/// Fields can be left out of ownership per version ([`Updater::ignore`]) or at every
/// version ([`Updater::ignore_everywhere`]): nobody gains them, conflicts on them or
/// loses them; the object still changes. This is how the apiserver keeps `status` out
/// of main-resource writes.
#[derive(Debug, Clone, Default)]
pub struct Updater {
    ignored: BTreeMap<String, FieldSet>,
    ignored_everywhere: FieldSet,
    /// Skips the shortcuts and runs smd's algorithm step by step (tests compare the
    /// two).
    faithful: bool,
}

impl Updater {
    /// An updater that tracks every field.
    pub fn new() -> Updater {
        Updater::default()
    }

    /// Leaves `fields` (and what is below them) out of ownership at `version`.
    pub fn ignore(mut self, version: impl Into<String>, fields: FieldSet) -> Updater {
        self.ignored.insert(version.into(), fields);
        self
    }

    /// Leaves `fields` (and what is below them) out of ownership at every version.
    pub fn ignore_everywhere(mut self, fields: FieldSet) -> Updater {
        self.ignored_everywhere = fields;
        self
    }

    fn filter(&self, version: &str, set: FieldSet) -> FieldSet {
        let mut set = set;
        if let Some(ignored) = self.ignored.get(version) {
            set = set.recursive_difference(ignored);
        }
        if !self.ignored_everywhere.is_empty() {
            set = set.recursive_difference(&self.ignored_everywhere);
        }
        set
    }

    fn filter_comparison(&self, version: &str, c: &Comparison) -> Comparison {
        let mut c = match self.ignored.get(version) {
            Some(ignored) => c.excluding(ignored),
            None => c.clone(),
        };
        if !self.ignored_everywhere.is_empty() {
            c = c.excluding(&self.ignored_everywhere);
        }
        c
    }

    /// Applies `config` as `manager` at `version` to `live` (null when the object does
    /// not exist yet).
    ///
    /// The configuration is merged into the object; the manager's set becomes the
    /// fields of the configuration; fields it applied last time and no longer applies
    /// are removed unless another manager owns them. Without `force`, changing a field
    /// another manager owns is a conflict and nothing changes; with `force`, the other
    /// managers lose those fields.
    ///
    /// The configuration is validated here (without duplicate list items); the live
    /// object is trusted.
    #[allow(clippy::too_many_arguments)]
    pub fn apply<N: TypeNode>(
        &self,
        node: N,
        live: &Value,
        config: &Value,
        version: &str,
        managers: &Managers,
        manager: &str,
        force: bool,
    ) -> Result<Applied, ApplyError> {
        let set = checked_field_set(node, config, false).map_err(ApplyError::Invalid)?;
        let set = self.filter(version, set);
        let mut managers = reconcile(node, managers);
        let merged = if !self.faithful && merge_keeps(node, live, config) {
            Cow::Borrowed(live)
        } else {
            Cow::Owned(merge(node, Some(live), Some(config)).unwrap_or(Value::Null))
        };
        let last = managers.get(manager).cloned();
        managers.insert(
            manager.to_owned(),
            ManagedSet {
                fields: set,
                api_version: version.to_owned(),
                applied: true,
            },
        );
        let new = self.prune(node, merged, &managers, manager, last.as_ref());
        self.transfer(node, live, &new, version, &mut managers, manager, force)
            .map_err(ApplyError::Conflicts)?;
        let object = (!values_equal(live, &new)).then(|| new.into_owned());
        Ok(Applied { object, managers })
    }

    /// Records that `manager` replaced `live` with `new` at `version` (a create,
    /// update or non-apply patch). Never conflicts: the manager takes every field it
    /// changed or added from whoever owned it, and everyone loses the fields it
    /// removed. Both objects are trusted (duplicate list items are fine).
    pub fn update<N: TypeNode>(
        &self,
        node: N,
        live: &Value,
        new: &Value,
        version: &str,
        managers: &Managers,
        manager: &str,
    ) -> Managers {
        let mut managers = reconcile(node, managers);
        let changes = match self.transfer(node, live, new, version, &mut managers, manager, true) {
            Ok(c) => c,
            // A forced transfer reports no conflicts.
            Err(_) => return managers,
        };
        let previous = managers
            .get(manager)
            .map(|m| m.fields.clone())
            .unwrap_or_default();
        let set = previous
            .difference(&changes.removed)
            .union(&changes.modified)
            .union(&changes.added);
        let set = self.filter(version, set);
        if set.is_empty() {
            managers.remove(manager);
        } else {
            managers.insert(
                manager.to_owned(),
                ManagedSet {
                    fields: set,
                    api_version: version.to_owned(),
                    applied: false,
                },
            );
        }
        managers
    }

    /// Compares `live` with `new` and takes away from every manager but `workflow` the
    /// fields that were removed and, when forced, the fields it changed that they
    /// owned; unforced, those are conflicts. Returns the comparison at `version`.
    #[allow(clippy::too_many_arguments)]
    fn transfer<N: TypeNode>(
        &self,
        node: N,
        live: &Value,
        new: &Value,
        version: &str,
        managers: &mut Managers,
        workflow: &str,
        force: bool,
    ) -> Result<Comparison, Conflicts> {
        let raw = compare(node, live, new);
        // Per version: the filtered comparison and what it changed or added.
        let mut by_version: BTreeMap<String, (Comparison, FieldSet)> = BTreeMap::new();
        let mut at = |v: &str| -> (Comparison, FieldSet) {
            by_version
                .entry(v.to_owned())
                .or_insert_with(|| {
                    let c = self.filter_comparison(v, &raw);
                    let changed = c.modified.union(&c.added);
                    (c, changed)
                })
                .clone()
        };
        let mut conflicts: Vec<(String, FieldSet)> = Vec::new();
        let mut removed: Vec<(String, FieldSet)> = Vec::new();
        for (name, set) in managers.iter() {
            if name == workflow {
                continue;
            }
            let (c, changed) = at(&set.api_version);
            let conflict = set.fields.intersection(&changed);
            if !conflict.is_empty() {
                conflicts.push((name.clone(), conflict));
            }
            if !c.removed.is_empty() {
                removed.push((name.clone(), c.removed));
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(Conflicts(
                conflicts
                    .into_iter()
                    .flat_map(|(manager, set)| {
                        set.paths().into_iter().map(move |path| Conflict {
                            manager: manager.clone(),
                            path,
                        })
                    })
                    .collect(),
            ));
        }
        for (name, lost) in conflicts.into_iter().chain(removed) {
            if let Some(m) = managers.get_mut(&name) {
                m.fields = m.fields.difference(&lost);
            }
        }
        managers.retain(|_, m| !m.fields.is_empty());
        Ok(at(version).0)
    }

    /// Removes what `manager` applied last time (`last`) and no longer applies, unless
    /// another manager owns it (smd `prune`, `addBackOwnedItems`,
    /// `addBackDanglingItems`).
    fn prune<'v, N: TypeNode>(
        &self,
        node: N,
        merged: Cow<'v, Value>,
        managers: &Managers,
        manager: &str,
        last: Option<&ManagedSet>,
    ) -> Cow<'v, Value> {
        let Some(last) = last.filter(|l| !l.fields.is_empty()) else {
            return merged;
        };
        let Some(current) = managers.get(manager) else {
            return merged;
        };
        // The steady state: the manager still applies everything it applied before,
        // so nothing can be pruned. (smd's three passes give the same object; this
        // skips them.)
        if !self.faithful && last.fields.is_subset_of(&current.fields) {
            return merged;
        }
        let ensure = |s: &FieldSet| ensure_named_fields_are_members(Some(node), s);
        let last_named = ensure(&last.fields);
        let pruned = remove_items(node, &merged, &last_named);

        // Add back what some manager (the applier's new set included) still owns:
        // first at the version of the last set, then at the others.
        let mut owned: BTreeMap<&str, FieldSet> = BTreeMap::new();
        for m in managers.values() {
            let entry = owned.entry(m.api_version.as_str()).or_default();
            *entry = entry.union(&m.fields);
        }
        let merged_set = ensure(&to_field_set(node, &merged));
        let mut order: Vec<&str> = Vec::with_capacity(owned.len());
        if owned.contains_key(last.api_version.as_str()) {
            order.push(last.api_version.as_str());
        }
        order.extend(owned.keys().copied().filter(|v| *v != last.api_version));
        let mut pruned = pruned;
        for version in order {
            let Some(set) = owned.get(version) else {
                continue;
            };
            let pruned_set = ensure(&to_field_set(node, &pruned));
            let drop = merged_set.difference(&pruned_set.union(&ensure(set)));
            pruned = remove_items(node, &merged, &drop);
        }

        // Add back what pruning dropped that the manager never owned.
        let pruned_set = ensure(&to_field_set(node, &pruned));
        let drop = merged_set.difference(&pruned_set).intersection(&last_named);
        Cow::Owned(remove_items(node, &merged, &drop))
    }
}

fn reconcile<N: TypeNode>(node: N, managers: &Managers) -> Managers {
    managers
        .iter()
        .map(|(name, m)| {
            let m = match reconcile_field_set(node, &m.fields) {
                Some(fields) => ManagedSet {
                    fields,
                    ..m.clone()
                },
                None => m.clone(),
            };
            (name.clone(), m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! The shortcuts (`merge_keeps`, the steady-state prune) against smd's algorithm
    //! run step by step, on random operations.

    use serde_json::{Map, Value, json};

    use super::*;
    use crate::schema::Deduced;
    use crate::smd::SmdSchema;

    /// A small deterministic generator (no dependency needed for test data).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn scalar(r: &mut Rng) -> Value {
        match r.below(4) {
            0 => json!(r.below(3)),
            1 => json!(["a", "b", "c"][r.below(3) as usize]),
            2 => json!(r.below(2) == 0),
            _ => json!(r.below(3) as f64),
        }
    }

    /// A random object for the schema below: `keyed` list-map, `set`, `atomic` map,
    /// `struct`, and free keys.
    fn object(r: &mut Rng, duplicates: bool) -> Value {
        let mut m = Map::new();
        if r.below(2) == 0 {
            let mut items = Vec::new();
            for _ in 0..r.below(4) {
                let name = ["x", "y", "z"][r.below(3) as usize];
                if !duplicates && items.iter().any(|i: &Value| i["name"] == name) {
                    continue;
                }
                let mut item = json!({"name": name});
                if r.below(2) == 0 {
                    item["v"] = json!(r.below(3));
                }
                if r.below(3) == 0 {
                    item["w"] = json!({"p": r.below(2)});
                }
                items.push(item);
            }
            m.insert("keyed".into(), Value::Array(items));
        }
        if r.below(2) == 0 {
            let mut items: Vec<Value> = Vec::new();
            for _ in 0..r.below(4) {
                let v = json!(["p", "q", "r"][r.below(3) as usize]);
                if !items.contains(&v) {
                    items.push(v);
                }
            }
            m.insert("set".into(), Value::Array(items));
        }
        if r.below(3) == 0 {
            m.insert("atomic".into(), json!({"k": scalar(r)}));
        }
        if r.below(2) == 0 {
            let mut st = Map::new();
            for f in ["a", "b"] {
                if r.below(2) == 0 {
                    st.insert(f.into(), scalar(r));
                }
            }
            m.insert("struct".into(), Value::Object(st));
        }
        for f in ["f", "g"] {
            if r.below(3) == 0 {
                m.insert(f.into(), scalar(r));
            }
        }
        Value::Object(m)
    }

    const SCHEMA: &str = r#"{"types": [
        {"name": "root", "map": {
            "fields": [
                {"name": "keyed", "type": {"list": {"elementRelationship": "associative", "keys": ["name"],
                    "elementType": {"map": {"fields": [
                        {"name": "name", "type": {"scalar": "string"}},
                        {"name": "v", "type": {"scalar": "numeric"}},
                        {"name": "w", "type": {"map": {"elementType": {"scalar": "numeric"}}}}]}}}}},
                {"name": "set", "type": {"list": {"elementRelationship": "associative",
                    "elementType": {"scalar": "string"}}}},
                {"name": "atomic", "type": {"map": {"elementRelationship": "atomic",
                    "elementType": {"scalar": "untyped"}}}},
                {"name": "struct", "type": {"map": {"fields": [
                    {"name": "a", "type": {"scalar": "untyped"}},
                    {"name": "b", "type": {"scalar": "untyped"}}]}}}
            ],
            "elementType": {"scalar": "untyped"}}}
    ]}"#;

    fn run<N: TypeNode>(node: N, seed: u64) {
        let fast = Updater::new();
        let slow = Updater {
            faithful: true,
            ..Updater::new()
        };
        let mut r = Rng(seed);
        let (mut live_f, mut live_s) = (Value::Null, Value::Null);
        let (mut mf, mut ms) = (Managers::new(), Managers::new());
        for step in 0..12 {
            let manager = ["a", "b", "c"][r.below(3) as usize];
            let is_update = r.below(3) == 0;
            let obj = object(&mut r, is_update);
            if is_update {
                mf = fast.update(node, &live_f, &obj, "v1", &mf, manager);
                ms = slow.update(node, &live_s, &obj, "v1", &ms, manager);
                live_f = obj.clone();
                live_s = obj;
            } else {
                let force = r.below(2) == 0;
                let a = fast.apply(node, &live_f, &obj, "v1", &mf, manager, force);
                let b = slow.apply(node, &live_s, &obj, "v1", &ms, manager, force);
                assert_eq!(a, b, "seed {seed} step {step}: applying {obj}");
                if let Ok(a) = a {
                    mf = a.managers;
                    if let Some(o) = a.object {
                        live_f = o;
                    }
                }
                if let Ok(b) = b {
                    ms = b.managers;
                    if let Some(o) = b.object {
                        live_s = o;
                    }
                }
            }
            assert_eq!(live_f, live_s, "seed {seed} step {step}");
            assert_eq!(mf, ms, "seed {seed} step {step}");
        }
    }

    #[test]
    fn shortcuts_agree_with_smd_on_random_operations() {
        let doc: Value = serde_json::from_str(SCHEMA).expect("schema JSON");
        let schema = SmdSchema::from_value(&doc).expect("schema");
        let node = schema.type_named("root").expect("root");
        let seeds = std::env::var("SSA_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(400);
        for seed in 0..seeds {
            run(node, seed);
            run(Deduced::Granular, seed);
        }
    }
}
