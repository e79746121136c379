//! kustomize-controller's metadata cleanup before an apply (fluxcd/pkg ssa
//! `cleanupMetadata`): an object first written by `kubectl apply`, `kubectl edit` or an
//! earlier Flux is taken over, so that a field later removed from Git is removed from the
//! cluster too instead of staying with its old owner.
//!
//! One JSON patch removes kubectl's last-applied annotation and Flux v1's checksums and
//! garbage-collection mark, and hands the fields of those managers to
//! `kustomize-controller`'s apply entry (their field sets merged into it).

use flotilla_core::pointer::Pointer as _;
use serde_json::{Value, json};

/// Annotations removed: kubectl's client-side apply record and Flux v1's checksums.
const ANNOTATIONS: [&str; 3] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kustomize.toolkit.fluxcd.io/checksum",
    "fluxcd.io/sync-checksum",
];

/// Labels removed: Flux v1's garbage-collection mark.
const LABELS: [&str; 1] = ["fluxcd.io/sync-gc-mark"];

/// Objects marked `kustomize.toolkit.fluxcd.io/ssa: Merge` (on the desired or the live
/// object, label or annotation) keep their other managers.
const MERGE_KEY: &str = "kustomize.toolkit.fluxcd.io/ssa";

/// A field manager whose entries are taken over: a name prefix and an operation.
struct Taken<'a> {
    prefix: &'a str,
    operation: &'static str,
}

/// kustomize-controller's list: `kubectl apply --server-side`, client-side `kubectl apply`
/// (and by prefix every `kubectl-*` update: edit, patch, scale…), the managedFields
/// upgrade's `before-first-apply`, the controller's own updates from before it applied
/// server-side, and each `--override-manager` (its applies and updates).
fn taken_managers<'a>(owner: &'a str, overrides: &'a [String]) -> Vec<Taken<'a>> {
    let mut taken = vec![
        Taken {
            prefix: "kubectl",
            operation: "Apply",
        },
        Taken {
            prefix: "kubectl",
            operation: "Update",
        },
        Taken {
            prefix: "before-first-apply",
            operation: "Update",
        },
        Taken {
            prefix: owner,
            operation: "Update",
        },
    ];
    for name in overrides {
        for operation in ["Apply", "Update"] {
            taken.push(Taken {
                prefix: name,
                operation,
            });
        }
    }
    taken
}

/// The JSON patch that cleans `live` up before `desired` is applied over it by `owner`
/// (taking over the `overrides` managers too), or `None` when there is nothing to clean
/// (or the objects are marked Merge).
pub(super) fn cleanup_patch(
    desired: &Value,
    live: &Value,
    owner: &'static str,
    overrides: &[String],
) -> Result<Option<Value>, String> {
    if is_marked_merge(desired) || is_marked_merge(live) {
        return Ok(None);
    }
    let mut patch = Vec::new();
    for (place, keys) in [("annotations", &ANNOTATIONS[..]), ("labels", &LABELS[..])] {
        let present = live.at(&format!("/metadata/{place}"));
        for key in keys {
            if present.and_then(|m| m.get(*key)).is_some() {
                patch.push(json!({
                    "op": "remove",
                    "path": format!("/metadata/{place}/{}", key.replace('~', "~0").replace('/', "~1")),
                }));
            }
        }
    }
    let entries = live
        .at("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if let Some(entries) = take_over(entries, owner, overrides)? {
        patch.push(json!({"op": "replace", "path": "/metadata/managedFields", "value": entries}));
    }
    Ok((!patch.is_empty()).then_some(Value::Array(patch)))
}

/// fluxcd/pkg `AnyInMetadata` for the Merge exclusion (the value compared without case).
fn is_marked_merge(object: &Value) -> bool {
    ["labels", "annotations"].iter().any(|place| {
        object
            .at(&format!("/metadata/{place}"))
            .and_then(|m| m.get(MERGE_KEY))
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case("merge"))
    })
}

/// `PatchReplaceFieldsManagers`: the entries of the taken managers merged into `owner`'s
/// apply entry (the first of them renamed to it when it has none), which goes last; `None`
/// when no entry is taken.
fn take_over(
    entries: &[Value],
    owner: &'static str,
    overrides: &[String],
) -> Result<Option<Vec<Value>>, String> {
    let text = |entry: &Value, key: &str| {
        entry
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let managers = taken_managers(owner, overrides);
    let is_taken = |entry: &Value| {
        text(entry, "subresource").is_empty()
            && managers.iter().any(|m| {
                text(entry, "operation") == m.operation
                    && text(entry, "manager").starts_with(m.prefix)
            })
    };
    // The owner's apply entry as it is now (the last one, as upstream's loop keeps it).
    let previous = entries
        .iter()
        .rfind(|e| text(e, "manager") == owner && text(e, "operation") == "Apply");
    let mut merged: Option<Value> = previous.cloned();
    let mut kept = Vec::with_capacity(entries.len());
    let mut edited = false;
    for entry in entries {
        if Some(entry) == previous {
            continue;
        }
        if !is_taken(entry) {
            kept.push(entry.clone());
            continue;
        }
        edited = true;
        match &mut merged {
            None => {
                let mut renamed = entry.clone();
                renamed["manager"] = json!(owner);
                renamed["operation"] = json!("Apply");
                merged = Some(renamed);
            }
            Some(into) => {
                let union = union_of_fields(into.get("fieldsV1"), entry.get("fieldsV1"))?;
                if let Some(union) = union {
                    into["fieldsV1"] = union;
                }
            }
        }
    }
    if !edited {
        return Ok(None);
    }
    kept.extend(merged);
    Ok(Some(kept))
}

/// The union of two `fieldsV1` sets (`mergeManagedFieldsV1`): either alone when the
/// other is missing.
fn union_of_fields(into: Option<&Value>, other: Option<&Value>) -> Result<Option<Value>, String> {
    let decode = |v: &Value| {
        flotilla_ssa::fieldsv1::from_value(v)
            .map_err(|e| format!("unable to merge managed fields: '{e}'"))
    };
    match (into, other) {
        (None, None) => Ok(None),
        (None, Some(only)) | (Some(only), None) => Ok(Some(only.clone())),
        (Some(a), Some(b)) => {
            let union = decode(a)?.union(&decode(b)?);
            Ok(Some(flotilla_ssa::fieldsv1::to_value(&union)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "kustomize-controller";

    fn entry(manager: &str, operation: &str, fields: Value) -> Value {
        json!({"manager": manager, "operation": operation, "apiVersion": "v1",
               "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields})
    }

    fn live(annotations: Value, labels: Value, managed: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "web", "namespace": "apps", "annotations": annotations,
                            "labels": labels, "managedFields": managed}})
    }

    /// An object made by `kubectl apply`: its annotation goes, and its client-side
    /// manager's fields become the controller's apply entry.
    #[test]
    fn a_kubectl_applied_object_is_taken_over() {
        let fields = json!({"f:data": {"f:color": {}, "f:size": {}}});
        let object = live(
            json!({"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "web"}),
            json!({"fluxcd.io/sync-gc-mark": "x"}),
            json!([
                entry("kubectl-client-side-apply", "Update", fields.clone()),
                entry("hpa", "Update", json!({"f:data": {"f:replicas": {}}}))
            ]),
        );
        let patch = cleanup_patch(&json!({}), &object, OWNER, &[])
            .unwrap()
            .unwrap();
        assert_eq!(
            patch,
            json!([
                {"op": "remove", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"},
                {"op": "remove", "path": "/metadata/labels/fluxcd.io~1sync-gc-mark"},
                {"op": "replace", "path": "/metadata/managedFields", "value": [
                    entry("hpa", "Update", json!({"f:data": {"f:replicas": {}}})),
                    entry(OWNER, "Apply", fields),
                ]},
            ])
        );
    }

    /// With an apply entry of its own, the taken managers' fields are merged into it
    /// (membership of a field that also has children is kept as `.`); subresource
    /// entries and other managers stay.
    #[test]
    fn taken_fields_merge_into_the_controllers_own_entry() {
        let object = live(
            json!({}),
            json!({}),
            json!([
                entry(OWNER, "Apply", json!({"f:data": {"f:color": {}}, "f:metadata": {}})),
                entry("kubectl-edit", "Update", json!({"f:data": {"f:size": {}}, "f:metadata": {"f:labels": {}}})),
                entry("before-first-apply", "Update", json!({"f:data": {"f:shape": {}}})),
                {"manager": "kubectl", "operation": "Update", "subresource": "status",
                 "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}},
                entry("argocd-controller", "Apply", json!({"f:data": {"f:x": {}}})),
            ]),
        );
        let patch = cleanup_patch(&json!({}), &object, OWNER, &[])
            .unwrap()
            .unwrap();
        let entries = patch[0]["value"].as_array().unwrap();
        assert_eq!(entries.len(), 3, "{entries:#?}");
        assert_eq!(entries[0]["subresource"], "status");
        assert_eq!(entries[1]["manager"], "argocd-controller");
        let own = &entries[2];
        assert_eq!(
            (&own["manager"], &own["operation"]),
            (&json!(OWNER), &json!("Apply"))
        );
        let expected = json!({
            "f:data": {"f:color": {}, "f:shape": {}, "f:size": {}},
            "f:metadata": {".": {}, "f:labels": {}},
        });
        let decode = |v: &Value| flotilla_ssa::fieldsv1::from_value(v).unwrap();
        assert_eq!(decode(&own["fieldsV1"]), decode(&expected));
    }

    /// `--override-manager`: another controller's applies and updates are taken over too.
    #[test]
    fn override_managers_are_taken_over_as_well() {
        let object = live(
            json!({}),
            json!({}),
            json!([
                entry("legacy-operator", "Apply", json!({"f:data": {"f:a": {}}})),
                entry("hpa", "Update", json!({"f:data": {"f:b": {}}}))
            ]),
        );
        assert_eq!(
            cleanup_patch(&json!({}), &object, OWNER, &[]).unwrap(),
            None
        );
        let patch = cleanup_patch(&json!({}), &object, OWNER, &["legacy".to_string()])
            .unwrap()
            .unwrap();
        let entries = patch[0]["value"].as_array().unwrap();
        assert_eq!(entries[0]["manager"], "hpa");
        assert_eq!(entries[1]["manager"], OWNER);
        assert_eq!(entries[1]["fieldsV1"], json!({"f:data": {"f:a": {}}}));
    }

    #[test]
    fn nothing_to_clean_or_a_merge_mark_sends_no_patch() {
        let clean = live(
            json!({"team": "web"}),
            json!({}),
            json!([
                entry(OWNER, "Apply", json!({"f:data": {}})),
                entry("hpa", "Update", json!({}))
            ]),
        );
        assert_eq!(cleanup_patch(&json!({}), &clean, OWNER, &[]).unwrap(), None);
        let kubectl = live(
            json!({"kustomize.toolkit.fluxcd.io/ssa": "merge"}),
            json!({}),
            json!([entry("kubectl", "Apply", json!({"f:data": {}}))]),
        );
        assert_eq!(
            cleanup_patch(&json!({}), &kubectl, OWNER, &[]).unwrap(),
            None
        );
        let marked_in_git =
            json!({"metadata": {"labels": {"kustomize.toolkit.fluxcd.io/ssa": "Merge"}}});
        let unmarked = live(
            json!({}),
            json!({}),
            json!([entry("kubectl", "Apply", json!({"f:data": {}}))]),
        );
        assert_eq!(
            cleanup_patch(&marked_in_git, &unmarked, OWNER, &[]).unwrap(),
            None
        );
        assert!(
            cleanup_patch(&json!({}), &unmarked, OWNER, &[])
                .unwrap()
                .is_some()
        );
    }
}
