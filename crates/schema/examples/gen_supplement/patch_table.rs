//! Strategic merge patch markers of keyed lists new since 1.21.
//!
//! k8s-openapi's merge code (see `strategies.rs`) keys a list by its
//! `x-kubernetes-patch-merge-key` when it has one and by its `x-kubernetes-list-map-keys`
//! otherwise (`PodStatus.hostIPs`, `+listType=atomic` with merge key `ip`, comes out as
//! `list::map` on `ip`), and does not record `x-kubernetes-patch-strategy` at all. So a
//! `list::map` there cannot tell "strategic merge patch merges by this key" from "server-
//! side apply keys by this, strategic merge patch replaces": every such list needs an
//! entry here, written from its Go field's struct tags and `+listType` comment in
//! k8s.io/api (or apiextensions-apiserver) v0.33. The generator fails on a `list::map` field
//! without an entry and on an entry naming no new field. `list::atomic` and `list::set`
//! fields carry no patch strategy in 1.33 and need no entry.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::Error;

struct Entry {
    definition: &'static str,
    property: &'static str,
    /// `(patchStrategy, patchMergeKey)`; `None` when the Go field has no patch tags, so
    /// strategic merge patch replaces the list.
    patch: Option<(&'static str, &'static str)>,
    /// `+listType` when it differs from what the merge code implies.
    list_type: Option<&'static str>,
}

/// `patchStrategy:"merge" patchMergeKey:"<key>"`, `+listType=map +listMapKey=<key>`.
const fn merge(definition: &'static str, property: &'static str, key: &'static str) -> Entry {
    Entry {
        definition,
        property,
        patch: Some(("merge", key)),
        list_type: None,
    }
}

/// `+listType=map` only: server-side apply merges by key, strategic merge patch replaces.
const fn no_patch_tags(definition: &'static str, property: &'static str) -> Entry {
    Entry {
        definition,
        property,
        patch: None,
        list_type: None,
    }
}

const TABLE: &[Entry] = &[
    // admissionregistration/v1 MutatingWebhook.MatchConditions: merge on name.
    merge(
        "io.k8s.api.admissionregistration.v1.MutatingWebhook",
        "matchConditions",
        "name",
    ),
    // admissionregistration/v1 ValidatingWebhook.MatchConditions: merge on name.
    merge(
        "io.k8s.api.admissionregistration.v1.ValidatingWebhook",
        "matchConditions",
        "name",
    ),
    // autoscaling/v2 HorizontalPodAutoscalerStatus.Conditions: merge on type.
    merge(
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
        "conditions",
        "type",
    ),
    // core/v1 ContainerStatus.AllocatedResourcesStatus: merge on name.
    merge(
        "io.k8s.api.core.v1.ContainerStatus",
        "allocatedResourcesStatus",
        "name",
    ),
    // core/v1 ContainerStatus.VolumeMounts: merge on mountPath.
    merge(
        "io.k8s.api.core.v1.ContainerStatus",
        "volumeMounts",
        "mountPath",
    ),
    // core/v1 PodSpec.ResourceClaims: patchStrategy "merge,retainKeys" on name.
    Entry {
        patch: Some(("merge,retainKeys", "name")),
        ..merge("io.k8s.api.core.v1.PodSpec", "resourceClaims", "name")
    },
    // core/v1 PodSpec.SchedulingGates: merge on name.
    merge("io.k8s.api.core.v1.PodSpec", "schedulingGates", "name"),
    // core/v1 PodStatus.HostIPs: merge on ip, but `+listType=atomic`.
    Entry {
        list_type: Some("atomic"),
        ..merge("io.k8s.api.core.v1.PodStatus", "hostIPs", "ip")
    },
    // core/v1 PodStatus.ResourceClaimStatuses: "merge,retainKeys" on name.
    Entry {
        patch: Some(("merge,retainKeys", "name")),
        ..merge(
            "io.k8s.api.core.v1.PodStatus",
            "resourceClaimStatuses",
            "name",
        )
    },
    // core/v1 ResourceRequirements.Claims: `+listType=map +listMapKey=name`, no patch tags.
    no_patch_tags("io.k8s.api.core.v1.ResourceRequirements", "claims"),
    // core/v1 ResourceStatus.Resources: `+listType=map +listMapKey=resourceID`, no patch tags.
    no_patch_tags("io.k8s.api.core.v1.ResourceStatus", "resources"),
    // apiextensions/v1 JSONSchemaProps.XValidations: merge on rule.
    merge(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        "x-kubernetes-validations",
        "rule",
    ),
];

/// Sets the table's markers on the supplement's properties, after checking that every
/// new keyed list has an entry and every entry names a new property.
pub(crate) fn apply(out: &mut BTreeMap<String, Map<String, Value>>) -> Result<(), Error> {
    for (def, props) in out.iter() {
        for (prop, schema) in props
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let keyed = schema.get("x-kubernetes-list-type") == Some(&json!("map"));
            let listed = TABLE
                .iter()
                .any(|e| e.definition == def && e.property == prop);
            if keyed && !listed {
                return Err(Error::Schema(format!(
                    "patch table: {def}.{prop} is a keyed list new since 1.21.2; add an entry \
                     from its Go struct tags"
                )));
            }
        }
    }
    for entry in TABLE {
        let schema = out
            .get_mut(entry.definition)
            .and_then(|d| d.get_mut("properties"))
            .and_then(|p| p.get_mut(entry.property))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| {
                Error::Schema(format!(
                    "patch table: {}.{} is not new since 1.21.2",
                    entry.definition, entry.property
                ))
            })?;
        if let Some((strategy, key)) = entry.patch {
            schema.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
            schema.insert("x-kubernetes-patch-merge-key".into(), json!(key));
        }
        if let Some(list_type) = entry.list_type {
            schema.insert("x-kubernetes-list-type".into(), json!(list_type));
            if list_type != "map" {
                schema.remove("x-kubernetes-list-map-keys");
            }
        }
    }
    Ok(())
}
