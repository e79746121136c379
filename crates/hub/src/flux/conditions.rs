//! Kubernetes conditions (`metav1.Condition`) as Flux's controllers keep them: one per
//! type, `lastTransitionTime` kept while the status does not change, and fluxcd/pkg's
//! `MarkReconciling`/`MarkStalled` exclusivity.

use serde_json::{Value, json};

/// The conditions of one object during a reconcile.
#[derive(Debug, Clone)]
pub struct Conditions {
    list: Vec<Value>,
    generation: i64,
    now: String,
}

fn field<'a>(c: &'a Value, name: &str) -> &'a str {
    c.get(name).and_then(Value::as_str).unwrap_or("")
}

impl Conditions {
    /// The conditions in `status`, for an object at `generation`; `now` stamps changes.
    pub fn from_status(status: &Value, generation: i64, now: &str) -> Conditions {
        Conditions {
            list: status
                .get("conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            generation,
            now: now.to_string(),
        }
    }

    /// Conditions from the source crate's list (no transition times).
    pub fn from_source(
        conditions: &[flotilla_source::Condition],
        generation: i64,
        now: &str,
    ) -> Conditions {
        let mut out = Conditions {
            list: Vec::new(),
            generation,
            now: now.to_string(),
        };
        for c in conditions {
            out.set(&c.type_, &c.status, &c.reason, &c.message);
        }
        out
    }

    /// The source crate's view of these conditions.
    pub fn as_source_conditions(&self) -> Vec<flotilla_source::Condition> {
        self.list
            .iter()
            .map(|c| flotilla_source::Condition {
                type_: field(c, "type").to_string(),
                status: field(c, "status").to_string(),
                reason: field(c, "reason").to_string(),
                message: field(c, "message").to_string(),
                observed_generation: c
                    .get("observedGeneration")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
            })
            .collect()
    }

    /// The source crate's list as the new conditions, keeping the transition times of
    /// those whose status did not change.
    pub fn merge_source(&self, conditions: &[flotilla_source::Condition]) -> Conditions {
        let mut out = Conditions {
            list: Vec::new(),
            generation: self.generation,
            now: self.now.clone(),
        };
        for c in conditions {
            let time = self
                .get(&c.type_)
                .filter(|old| field(old, "status") == c.status)
                .map(|old| field(old, "lastTransitionTime").to_string())
                .unwrap_or_else(|| self.now.clone());
            out.list.push(json!({
                "type": c.type_,
                "status": c.status,
                "observedGeneration": c.observed_generation,
                "lastTransitionTime": time,
                "reason": c.reason,
                "message": c.message,
            }));
        }
        out
    }

    /// The condition of `type_`, if set.
    pub fn get(&self, type_: &str) -> Option<&Value> {
        self.list.iter().find(|c| field(c, "type") == type_)
    }

    /// The reason of the condition `type_`.
    pub fn reason(&self, type_: &str) -> Option<&str> {
        self.get(type_).map(|c| field(c, "reason"))
    }

    /// The message of the condition `type_`.
    pub fn message(&self, type_: &str) -> Option<&str> {
        self.get(type_).map(|c| field(c, "message"))
    }

    /// Whether the condition `type_` has `status`.
    pub fn is(&self, type_: &str, status: &str) -> bool {
        self.get(type_)
            .is_some_and(|c| field(c, "status") == status)
    }

    /// Sets a condition; the transition time changes only with the status.
    pub fn set(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        let time = self
            .get(type_)
            .filter(|old| field(old, "status") == status)
            .map(|old| field(old, "lastTransitionTime").to_string())
            .unwrap_or_else(|| self.now.clone());
        let condition = json!({
            "type": type_,
            "status": status,
            "observedGeneration": self.generation,
            "lastTransitionTime": time,
            "reason": reason,
            "message": message,
        });
        match self.list.iter_mut().find(|c| field(c, "type") == type_) {
            Some(c) => *c = condition,
            None => self.list.push(condition),
        }
    }

    /// Removes a condition.
    pub fn delete(&mut self, type_: &str) {
        self.list.retain(|c| field(c, "type") != type_);
    }

    /// fluxcd/pkg `MarkReconciling`: Reconciling=True, Stalled removed.
    pub fn reconciling(&mut self, reason: &str, message: &str) {
        self.delete("Stalled");
        self.set("Reconciling", "True", reason, message);
    }

    /// fluxcd/pkg `MarkStalled`: Stalled=True, Reconciling removed.
    pub fn stalled(&mut self, reason: &str, message: &str) {
        self.delete("Reconciling");
        self.set("Stalled", "True", reason, message);
    }

    /// After a failure, an existing Reconciling condition says `ProgressingWithRetry`.
    pub fn retry_reconciling(&mut self) {
        if let Some(c) = self
            .list
            .iter_mut()
            .find(|c| field(c, "type") == "Reconciling")
        {
            c["reason"] = json!("ProgressingWithRetry");
        }
    }

    /// The list as `status.conditions`.
    pub fn to_value(&self) -> Value {
        Value::Array(self.list.clone())
    }
}

/// A failed step of a source's reconcile: source-controller's reason and message.
#[derive(Debug)]
pub(super) struct Failed {
    pub reason: &'static str,
    pub message: String,
    /// A spec that cannot work until it changes (Stalled, not retried).
    pub stalls: bool,
}

/// A failure retried later.
pub(super) fn failed(reason: &'static str, message: String) -> Failed {
    Failed {
        reason,
        message,
        stalls: false,
    }
}

/// A failure that waits for the spec to change (Stalled).
pub(super) fn stalled(reason: &'static str, message: String) -> Failed {
    Failed {
        reason,
        message,
        stalls: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_changes_only_with_status() {
        let mut c = Conditions::from_status(&json!({}), 1, "t1");
        c.set("Ready", "False", "A", "a");
        let mut later = Conditions::from_status(&json!({"conditions": c.to_value()}), 2, "t2");
        later.set("Ready", "False", "B", "b");
        assert_eq!(later.to_value()[0]["lastTransitionTime"], "t1");
        assert_eq!(later.to_value()[0]["observedGeneration"], 2);
        later.set("Ready", "True", "C", "c");
        assert_eq!(later.to_value()[0]["lastTransitionTime"], "t2");
    }

    #[test]
    fn reconciling_and_stalled_exclude_each_other() {
        let mut c = Conditions::from_status(&json!({}), 1, "t");
        c.reconciling("Progressing", "x");
        c.stalled("AccessDenied", "y");
        assert!(!c.is("Reconciling", "True"));
        c.reconciling("Progressing", "x");
        assert!(!c.is("Stalled", "True"));
        c.retry_reconciling();
        assert_eq!(
            c.get("Reconciling").unwrap()["reason"],
            "ProgressingWithRetry"
        );
    }
}
