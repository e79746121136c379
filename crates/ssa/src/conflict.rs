//! Apply conflicts and how the apiserver reports them.
//!
//! The wording follows apimachinery's `internal.NewConflictError` (read at
//! `pkg/util/managedfields/internal/conflict.go`): one conflict reads
//!
//! ```text
//! Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas
//! ```
//!
//! and several are grouped by manager, managers sorted:
//!
//! ```text
//! Apply failed with 2 conflicts: conflicts with "m1" using v1:
//! - .spec.a
//! - .spec.b
//! ```
//!
//! A manager is printed from its identifier (see [`ManagerId`](crate::ManagerId)): its
//! quoted name, `with subresource "status"` when it wrote a subresource, and
//! `using <apiVersion>` when it updated rather than applied. The 409 Status lists one
//! cause per conflict: `{"reason": "FieldManagerConflict", "message": "conflict with
//! \"m\" using v1", "field": ".spec.a"}`.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Value, json};

use crate::path::Path;
use crate::value::go_quote;

/// Another manager owns a field the apply would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owner: a plain manager name, or a manager identifier as the managedFields
    /// layer builds them.
    pub manager: String,
    /// The field.
    pub path: Path,
}

/// The conflicts of a rejected apply, in a stable order: by manager, then by path in
/// field-set iteration order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Conflicts(pub Vec<Conflict>);

/// smd's `%q`-free rendering of a manager for messages (apimachinery `printManager`).
pub fn describe_manager(manager: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(manager) else {
        return go_quote(manager);
    };
    let fields = match &v {
        Value::Object(m) => m,
        // `null` decodes into an empty entry.
        Value::Null => return go_quote(""),
        _ => return go_quote(manager),
    };
    let text = |k: &str| -> Result<&str, ()> {
        match fields.get(k) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(()),
        }
    };
    let (Ok(name), Ok(subresource), Ok(operation), Ok(api_version), Ok(time)) = (
        text("manager"),
        text("subresource"),
        text("operation"),
        text("apiVersion"),
        text("time"),
    ) else {
        return go_quote(manager);
    };
    let mut s = go_quote(name);
    if !subresource.is_empty() {
        s.push_str(&format!(" with subresource {}", go_quote(subresource)));
    }
    if operation == "Update" {
        s.push_str(&format!(" using {api_version}"));
        if !time.is_empty() {
            s.push_str(&format!(" at {time}"));
        }
    }
    s
}

impl Conflicts {
    /// The apiserver's message for these conflicts (`Status.message`).
    pub fn message(&self) -> String {
        if let [one] = self.0.as_slice() {
            return format!(
                "Apply failed with 1 conflict: conflict with {}: {}",
                describe_manager(&one.manager),
                one.path
            );
        }
        let mut by_manager: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
        for c in &self.0 {
            by_manager.entry(&c.manager).or_default().push(&c.path);
        }
        let mut lines = Vec::new();
        for (manager, paths) in by_manager {
            lines.push(format!("conflicts with {}:", describe_manager(manager)));
            lines.extend(paths.into_iter().map(|p| format!("- {p}")));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            self.0.len(),
            lines.join("\n")
        )
    }

    /// The Status causes: one `FieldManagerConflict` per conflict.
    pub fn causes(&self) -> Vec<Value> {
        self.0
            .iter()
            .map(|c| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with {}", describe_manager(&c.manager)),
                    "field": c.path.to_string(),
                })
            })
            .collect()
    }

    /// The 409 `Status` the apiserver answers with.
    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": "Conflict",
            "details": {"causes": self.causes()},
            "code": 409,
        })
    }
}

impl fmt::Display for Conflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(manager: &str, path: &[&str]) -> Conflict {
        Conflict {
            manager: manager.into(),
            path: Path::fields(path.iter().copied()),
        }
    }

    const CSA: &str =
        r#"{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"apps/v1"}"#;

    #[test]
    fn one_conflict_with_an_updater() {
        let c = Conflicts(vec![conflict(CSA, &["spec", "replicas"])]);
        assert_eq!(
            c.message(),
            r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
        );
        assert_eq!(
            c.causes(),
            [
                json!({"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using apps/v1", "field": ".spec.replicas"})
            ]
        );
    }

    #[test]
    fn several_conflicts_group_by_sorted_manager() {
        let m1 = r#"{"manager":"m1","operation":"Update","apiVersion":"v1"}"#;
        let m0 = r#"{"manager":"m0","operation":"Apply"}"#;
        let c = Conflicts(vec![
            conflict(m1, &["spec", "a"]),
            conflict(m1, &["spec", "b"]),
            conflict(m0, &["spec", "c"]),
        ]);
        assert_eq!(
            c.message(),
            "Apply failed with 3 conflicts: conflicts with \"m0\":\n- .spec.c\nconflicts with \"m1\" using v1:\n- .spec.a\n- .spec.b"
        );
        assert_eq!(c.to_status()["code"], 409);
    }

    #[test]
    fn managers_with_subresources_and_plain_names() {
        assert_eq!(
            describe_manager(
                r#"{"manager":"ctl","operation":"Update","apiVersion":"v1","subresource":"status"}"#
            ),
            r#""ctl" with subresource "status" using v1"#
        );
        assert_eq!(describe_manager("apply-one"), r#""apply-one""#);
    }
}
