//! Field ownership handed to Flotilla's manager, so that a field Git drops is removed even
//! when an earlier writer set it: client-go's `csaupgrade` as Argo CD 3 runs it before a
//! server-side apply (`ClientSideApplyMigration`, for `kubectl-client-side-apply` or the
//! manager an Application's annotation names), and the same hand-over from Argo CD's own
//! `argocd-controller` for a fleet moved from Argo CD.
//!
//! Without it, server-side apply leaves such a field with its old owner forever: the
//! apply only removes what the applying manager alone owned.

use serde_json::{Value, json};

/// Argo CD's field manager, client-side (`Update`) and server-side (`Apply`).
pub const ARGOCD_MANAGER: &str = "argocd-controller";

/// Argo CD's `DefaultClientSideApplyMigrationManager`.
pub const DEFAULT_CSA_MANAGER: &str = "kubectl-client-side-apply";

/// An Application annotation naming another manager to migrate (Argo CD's
/// `AnnotationClientSideApplyMigrationManager`).
pub const CSA_MANAGER_ANNOTATION: &str = "argocd.argoproj.io/client-side-apply-migration-manager";

/// The entries of one manager handed over: its name and operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predecessor {
    /// `manager`.
    pub manager: String,
    /// `operation`: `Update` (client-side writes) or `Apply`.
    pub operation: &'static str,
}

impl Predecessor {
    /// The client-side writes of `manager`.
    pub fn updates_of(manager: &str) -> Predecessor {
        Predecessor {
            manager: manager.to_string(),
            operation: "Update",
        }
    }

    fn matches(&self, entry: &Value) -> bool {
        text(entry, "manager") == self.manager
            && text(entry, "operation") == self.operation
            && text(entry, "subresource").is_empty()
    }
}

/// Whether `managed_fields` hold an entry of any of `predecessors`.
pub fn needs_takeover(managed_fields: Option<&Value>, predecessors: &[Predecessor]) -> bool {
    managed_fields
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries
                .iter()
                .any(|e| predecessors.iter().any(|p| p.matches(e)))
        })
}

/// `managed_fields` with each predecessor's entries handed to `owner`'s apply entry, one
/// predecessor after the other, as csaupgrade's `upgradedManagedFields`: the owner's apply
/// entry (or else the predecessor's first entry, renamed) takes the union of its fields and
/// those of the predecessor's entry of the same apiVersion, and every entry of the
/// predecessor goes. `None` when nothing changes.
pub fn upgraded(
    managed_fields: &[Value],
    predecessors: &[Predecessor],
    owner: &str,
) -> Result<Option<Vec<Value>>, String> {
    let mut entries = managed_fields.to_vec();
    for predecessor in predecessors {
        let is_owner = |e: &Value| {
            text(e, "manager") == owner
                && text(e, "operation") == "Apply"
                && text(e, "subresource").is_empty()
        };
        let target = match entries.iter().position(is_owner) {
            Some(i) => i,
            None => match entries.iter().position(|e| predecessor.matches(e)) {
                Some(i) => {
                    entries[i]["manager"] = json!(owner);
                    entries[i]["operation"] = json!("Apply");
                    i
                }
                None => continue,
            },
        };
        let api_version = text(&entries[target], "apiVersion").to_string();
        if let Some(source) = entries
            .iter()
            .find(|e| predecessor.matches(e) && text(e, "apiVersion") == api_version)
        {
            let union = decode(&entries[target])?.union(&decode(source)?);
            entries[target]["fieldsV1"] = flotilla_ssa::fieldsv1::to_value(&union);
        }
        entries.retain(|e| !predecessor.matches(e));
    }
    Ok((entries != managed_fields).then_some(entries))
}

/// The JSON patch that writes `entries` as the object's managed fields, with its
/// `resourceVersion` as a precondition (a concurrent write makes it a 409), as csaupgrade's
/// `UpgradeManagedFieldsPatch` builds it.
pub fn patch(entries: Vec<Value>, resource_version: &str) -> Value {
    json!([
        {"op": "replace", "path": "/metadata/managedFields", "value": entries},
        {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
    ])
}

fn text<'a>(entry: &'a Value, key: &str) -> &'a str {
    entry.get(key).and_then(Value::as_str).unwrap_or("")
}

fn decode(entry: &Value) -> Result<flotilla_ssa::FieldSet, String> {
    match entry.get("fieldsV1") {
        None => Ok(flotilla_ssa::FieldSet::default()),
        Some(fields) => flotilla_ssa::fieldsv1::from_value(fields)
            .map_err(|e| format!("failed to convert fields to set: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manager: &str, operation: &str, api_version: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": operation, "apiVersion": api_version,
               "time": "2026-11-29T10:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields})
    }

    fn csa() -> Vec<Predecessor> {
        vec![Predecessor::updates_of(DEFAULT_CSA_MANAGER)]
    }

    /// csaupgrade's cases: the client-side entry of the owner's apiVersion is merged into
    /// the owner's apply entry and every client-side entry goes; other managers stay.
    #[test]
    fn client_side_fields_join_the_owners_apply_entry() {
        let entries = vec![
            entry("flotilla", "Apply", "v1", json!({"f:data": {"f:a": {}}})),
            entry(
                DEFAULT_CSA_MANAGER,
                "Update",
                "v1",
                json!({"f:data": {"f:a": {}, "f:b": {}}}),
            ),
            entry(
                DEFAULT_CSA_MANAGER,
                "Update",
                "v1beta1",
                json!({"f:data": {"f:old": {}}}),
            ),
            entry(
                "kubectl-edit",
                "Update",
                "v1",
                json!({"f:data": {"f:c": {}}}),
            ),
        ];
        let upgraded = upgraded(&entries, &csa(), "flotilla").unwrap().unwrap();
        assert_eq!(upgraded.len(), 2);
        assert_eq!(text(&upgraded[0], "manager"), "flotilla");
        assert_eq!(
            upgraded[0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}}),
            "the other apiVersion's entry is dropped, not merged, as upstream"
        );
        assert_eq!(text(&upgraded[1], "manager"), "kubectl-edit");
    }

    /// Without an apply entry of the owner, the first client-side entry becomes it.
    #[test]
    fn a_lone_client_side_entry_is_renamed() {
        let entries = vec![
            entry(
                "kube-controller-manager",
                "Update",
                "apps/v1",
                json!({"f:status": {}}),
            ),
            entry(
                DEFAULT_CSA_MANAGER,
                "Update",
                "apps/v1",
                json!({"f:spec": {"f:replicas": {}}}),
            ),
        ];
        let upgraded = upgraded(&entries, &csa(), "flotilla").unwrap().unwrap();
        assert_eq!(upgraded[0], entries[0]);
        assert_eq!(
            upgraded[1],
            entry(
                "flotilla",
                "Apply",
                "apps/v1",
                json!({"f:spec": {"f:replicas": {}}})
            )
        );
    }

    /// Argo CD's own manager, both operations, in turn.
    #[test]
    fn argo_cds_entries_are_taken_one_operation_after_the_other() {
        let entries = vec![
            entry(
                ARGOCD_MANAGER,
                "Apply",
                "v1",
                json!({"f:data": {"f:a": {}}}),
            ),
            entry(
                ARGOCD_MANAGER,
                "Update",
                "v1",
                json!({"f:data": {"f:b": {}}}),
            ),
        ];
        let predecessors = [
            Predecessor {
                manager: ARGOCD_MANAGER.into(),
                operation: "Apply",
            },
            Predecessor::updates_of(ARGOCD_MANAGER),
        ];
        assert!(needs_takeover(Some(&json!(entries)), &predecessors));
        let upgraded = upgraded(&entries, &predecessors, "flotilla")
            .unwrap()
            .unwrap();
        assert_eq!(
            upgraded,
            [entry(
                "flotilla",
                "Apply",
                "v1",
                json!({"f:data": {"f:a": {}, "f:b": {}}})
            )]
        );
        assert!(!needs_takeover(Some(&json!(upgraded)), &predecessors));
    }

    /// Nothing to hand over, a subresource's entry, or a broken field set.
    #[test]
    fn nothing_changes_without_a_predecessor_and_bad_fields_are_an_error() {
        let status = json!({"manager": DEFAULT_CSA_MANAGER, "operation": "Update", "apiVersion": "v1",
                            "subresource": "status", "fieldsV1": {"f:status": {}}});
        let entries = vec![
            entry("flotilla", "Apply", "v1", json!({"f:data": {}})),
            status,
        ];
        assert_eq!(upgraded(&entries, &csa(), "flotilla").unwrap(), None);
        assert!(!needs_takeover(Some(&json!(entries)), &csa()));
        assert!(!needs_takeover(None, &csa()));
        let broken = vec![
            entry("flotilla", "Apply", "v1", json!({"f:data": {}})),
            entry(DEFAULT_CSA_MANAGER, "Update", "v1", json!("{not json")),
        ];
        let error = upgraded(&broken, &csa(), "flotilla").unwrap_err();
        assert!(
            error.starts_with("failed to convert fields to set"),
            "{error}"
        );
    }

    #[test]
    fn the_patch_replaces_the_entries_with_the_version_as_precondition() {
        assert_eq!(
            patch(vec![json!({"manager": "flotilla"})], "42"),
            json!([
                {"op": "replace", "path": "/metadata/managedFields", "value": [{"manager": "flotilla"}]},
                {"op": "replace", "path": "/metadata/resourceVersion", "value": "42"},
            ])
        );
    }
}
