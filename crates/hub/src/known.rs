//! What a controller loop has seen of the objects it reconciles: the latest copy of each
//! (from its watch, with the status it wrote itself) and the fingerprint of what it reacts
//! to, so an event that changes nothing it cares about (a status write echoing back)
//! queues no work.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

/// The objects seen, by queue key. Shared by a loop's watch and its workers; a worker
/// holds a copy without deep-copying it (Applications are large).
#[derive(Debug, Default)]
pub struct Known {
    objects: Mutex<HashMap<String, (Arc<Value>, u64)>>,
    /// Whether the watch has listed everything once: only then is what is known all there
    /// is.
    listed: AtomicBool,
}

impl Known {
    fn objects(&self) -> MutexGuard<'_, HashMap<String, (Arc<Value>, u64)>> {
        crate::lock(&self.objects)
    }

    /// Keeps `value` as the latest copy of `key`; whether its fingerprint `print`
    /// differs from the one seen before (or the key is new): worth a reconcile.
    pub fn observe(&self, key: &str, value: impl Into<Arc<Value>>, print: u64) -> bool {
        self.objects()
            .insert(key.to_string(), (value.into(), print))
            .is_none_or(|(_, before)| before != print)
    }

    /// The watch has listed every object once.
    pub fn mark_listed(&self) {
        self.listed.store(true, Ordering::Release);
    }

    /// Whether the watch has listed every object once (until then a key not known may
    /// still exist).
    pub fn listed(&self) -> bool {
        self.listed.load(Ordering::Acquire)
    }

    /// The latest copies of the keys `keep` accepts, without deep-copying them.
    pub fn values_where(&self, keep: impl Fn(&str) -> bool) -> Vec<Arc<Value>> {
        self.objects()
            .iter()
            .filter(|(key, _)| keep(key))
            .map(|(_, (value, _))| value.clone())
            .collect()
    }

    /// Forgets `key` (its object was deleted); its last copy.
    pub fn forget(&self, key: &str) -> Option<Arc<Value>> {
        self.objects().remove(key).map(|(value, _)| value)
    }

    /// The latest copy of `key`.
    pub fn get(&self, key: &str) -> Option<Arc<Value>> {
        self.objects().get(key).map(|(value, _)| value.clone())
    }

    /// Whether `key` is known.
    pub fn contains(&self, key: &str) -> bool {
        self.objects().contains_key(key)
    }

    /// Records the status the loop wrote, so its next reconcile starts from it. While a
    /// reader still holds the previous copy, a new one is made without copying the old
    /// status.
    pub fn set_status(&self, key: &str, status: Value) {
        if let Some((value, _)) = self.objects().get_mut(key) {
            match Arc::get_mut(value) {
                Some(only) => only["status"] = status,
                None => *value = Arc::new(with_status(value, status)),
            }
        }
    }

    /// Records that the loop removed the operation `key` asked for (with its status), so
    /// that a reconcile before the watch brings the change does not run it again.
    pub fn clear_operation(&self, key: &str) {
        if let Some((value, _)) = self.objects().get_mut(key)
            && value.get("operation").is_some()
        {
            let mut copy = (**value).clone();
            if let Some(fields) = copy.as_object_mut() {
                fields.remove("operation");
            }
            *value = Arc::new(copy);
        }
    }

    /// Every known key.
    pub fn keys(&self) -> Vec<String> {
        self.objects().keys().cloned().collect()
    }
}

/// `object` with `status` in place of its own, which is not copied.
pub(crate) fn with_status(object: &Value, status: Value) -> Value {
    let mut fields: serde_json::Map<String, Value> = object
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| *key != "status")
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    fields.insert("status".into(), status);
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_held_status_replaces_the_objects_own() {
        let object = json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "status": {"old": true}});
        let run = with_status(&object, json!({"held": true}));
        assert_eq!(
            run,
            json!({"metadata": {"name": "a"}, "spec": {"x": 1}, "status": {"held": true}})
        );
    }

    #[test]
    fn only_a_new_key_or_a_new_fingerprint_is_worth_a_reconcile() {
        let known = Known::default();
        assert!(known.observe("a", json!({"spec": 1}), 1));
        // The same fingerprint (a status echo): the copy is kept, no work.
        assert!(!known.observe("a", json!({"spec": 1, "status": {"s": 2}}), 1));
        assert_eq!(known.get("a").unwrap()["status"]["s"], 2);
        assert!(known.observe("a", json!({"spec": 2}), 2));
        let held = known.get("a").unwrap();
        known.set_status("a", json!({"written": true}));
        assert_eq!(held["spec"], 2, "a copy held before the write is untouched");
        assert!(held.get("status").is_none());
        assert_eq!(known.get("a").unwrap()["status"]["written"], true);
        assert!(known.contains("a"));
        assert_eq!(known.keys(), ["a"]);
        known.observe("b", json!({"spec": 3}), 3);
        let mut kept: Vec<Value> = known
            .values_where(|key| key != "b")
            .iter()
            .map(|v| v["spec"].clone())
            .collect();
        kept.sort_by_key(|v| v.to_string());
        assert_eq!(kept, [json!(2)]);
        known.forget("b");
        known.forget("a");
        assert!(!known.contains("a"));
        // Seen again after a deletion: new work.
        assert!(known.observe("a", json!({"spec": 2}), 2));
    }
}
