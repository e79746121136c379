//! Argo CD's orphaned resources (`AppProject.spec.orphanedResources`, read by the
//! controller's `getResourceTree`): the objects of an Application's destination namespace
//! that no Application manages, counted with what they own, as the
//! `OrphanedResourceWarning` counts them.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::project::AppProject;

/// `spec.orphanedResources` of an AppProject.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrphanedResources {
    /// Whether orphans are a warning condition on the Application (unset: yes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn: Option<bool>,
    /// Objects never counted as orphans.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<OrphanedResourceKey>,
}

impl OrphanedResources {
    /// `IsWarn`: unset warns.
    pub fn is_warn(&self) -> bool {
        self.warn.unwrap_or(true)
    }
}

/// One `ignore` entry: globs over the group and, when given, the kind and name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrphanedResourceKey {
    /// API group glob (`""` is the core group).
    #[serde(default)]
    pub group: String,
    /// Kind glob; empty matches every kind.
    #[serde(default)]
    pub kind: String,
    /// Name glob; empty matches every name.
    #[serde(default)]
    pub name: String,
}

/// The warning Argo CD writes for `count` orphans.
pub fn warning(count: usize) -> String {
    format!("Application has {count} orphaned resources")
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn group_of(object: &Value) -> &str {
    text(object, "/apiVersion")
        .rsplit_once('/')
        .map_or("", |(group, _)| group)
}

/// `isKnownOrphanedResourceExclusion`: what every namespace has by itself (the
/// `kubernetes` Service of `default`, each `default` ServiceAccount and
/// `kube-root-ca.crt`), and what the project's `ignore` names.
fn is_known_exclusion(object: &Value, ignore: &[OrphanedResourceKey]) -> bool {
    let (group, kind) = (group_of(object), text(object, "/kind"));
    let (namespace, name) = (
        text(object, "/metadata/namespace"),
        text(object, "/metadata/name"),
    );
    let core = group.is_empty();
    if (core && kind == "Service" && namespace == "default" && name == "kubernetes")
        || (core && kind == "ServiceAccount" && name == "default")
        || (core && kind == "ConfigMap" && name == "kube-root-ca.crt")
    {
        return true;
    }
    let matches = |pattern: &str, text: &str| crate::glob::gobwas_match(pattern, text, false);
    ignore.iter().any(|item| {
        (item.kind.is_empty() || matches(&item.kind, kind))
            && matches(&item.group, group)
            && (item.name.is_empty() || matches(&item.name, name))
    })
}

/// The orphans among `objects` (everything live in the destination namespace), as
/// `Kind/name`, sorted: each object there that owns nothing's parent — no
/// `ownerReferences` —, is not `managed` by the app, is a kind the project permits and
/// no known exclusion, together with everything it owns down the owner references; an
/// object that `belongs_to_another_app` is left out with all it owns.
pub fn orphaned(
    project: &AppProject,
    objects: &[Value],
    managed: &dyn Fn(&Value) -> bool,
    belongs_to_another_app: &dyn Fn(&Value) -> bool,
) -> Vec<String> {
    let Some(settings) = &project.spec.orphaned_resources else {
        return Vec::new();
    };
    let owners = |object: &Value| -> Vec<String> {
        object
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("uid").and_then(Value::as_str))
            .map(str::to_string)
            .collect()
    };
    let mut children: HashMap<String, Vec<&Value>> = HashMap::new();
    for object in objects {
        for owner in owners(object) {
            children.entry(owner).or_default().push(object);
        }
    }
    let permitted = |object: &Value| {
        project.is_group_kind_permitted(
            group_of(object),
            text(object, "/kind"),
            text(object, "/metadata/name"),
            true,
        )
    };
    let mut found = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&Value> = objects
        .iter()
        .filter(|o| owners(o).is_empty())
        .filter(|o| !text(o, "/metadata/namespace").is_empty())
        .filter(|o| !managed(o) && permitted(o) && !is_known_exclusion(o, &settings.ignore))
        .collect();
    while let Some(object) = stack.pop() {
        let uid = text(object, "/metadata/uid");
        if (!uid.is_empty() && !seen.insert(uid))
            || belongs_to_another_app(object)
            || !permitted(object)
        {
            continue;
        }
        found.push(format!(
            "{}/{}",
            text(object, "/kind"),
            text(object, "/metadata/name")
        ));
        if !uid.is_empty() {
            stack.extend(children.get(uid).into_iter().flatten());
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project(orphaned: Value) -> AppProject {
        serde_json::from_value(json!({
            "metadata": {"name": "team", "namespace": "argocd"},
            "spec": {"orphanedResources": orphaned,
                     "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}]},
        }))
        .unwrap()
    }

    fn object(kind: &str, name: &str, uid: &str, owner: Option<&str>) -> Value {
        let api_version = if kind == "Deployment" || kind == "ReplicaSet" {
            "apps/v1"
        } else {
            "v1"
        };
        let mut o = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": "web", "uid": uid}});
        if let Some(owner) = owner {
            o["metadata"]["ownerReferences"] = json!([{"uid": owner}]);
        }
        o
    }

    #[test]
    fn orphans_are_counted_with_what_they_own_and_without_what_is_known_or_ignored() {
        let objects = vec![
            object("ConfigMap", "managed", "1", None),
            object("ConfigMap", "stray", "2", None),
            object("Deployment", "legacy", "3", None),
            object("ReplicaSet", "legacy-abc", "4", Some("3")),
            object("Pod", "legacy-abc-x", "5", Some("4")),
            object("ServiceAccount", "default", "6", None),
            object("ConfigMap", "kube-root-ca.crt", "7", None),
            object("Secret", "token", "8", None),
            object("ResourceQuota", "quota", "9", None),
            object("ConfigMap", "theirs", "10", None),
            object("ConfigMap", "owned-by-theirs", "11", Some("10")),
            // Owned by something not in the namespace's listing: never a top-level orphan.
            object("ConfigMap", "owned-elsewhere", "12", Some("99")),
        ];
        let project = project(json!({"ignore": [{"group": "", "kind": "Sec*"}]}));
        let managed = |o: &Value| text(o, "/metadata/name") == "managed";
        let theirs = |o: &Value| text(o, "/metadata/name") == "theirs";
        assert_eq!(
            orphaned(&project, &objects, &managed, &theirs),
            [
                "ConfigMap/stray",
                "Deployment/legacy",
                "Pod/legacy-abc-x",
                "ReplicaSet/legacy-abc"
            ]
        );
        assert!(project.spec.orphaned_resources.as_ref().unwrap().is_warn());
        // Without `orphanedResources` nothing is looked for.
        let mut quiet = project.clone();
        quiet.spec.orphaned_resources = None;
        assert!(orphaned(&quiet, &objects, &managed, &theirs).is_empty());
        assert_eq!(warning(4), "Application has 4 orphaned resources");
    }

    #[test]
    fn ignore_entries_match_as_argo_cd_globs() {
        let ignore = |entry: Value| -> Vec<OrphanedResourceKey> {
            vec![serde_json::from_value(entry).unwrap()]
        };
        let secret = object("Secret", "token-abc", "1", None);
        let deployment = object("Deployment", "web", "2", None);
        // An empty kind or name matches every one; the group is always matched.
        assert!(is_known_exclusion(
            &secret,
            &ignore(json!({"name": "token-*"}))
        ));
        assert!(!is_known_exclusion(
            &deployment,
            &ignore(json!({"kind": "Deployment"}))
        ));
        assert!(is_known_exclusion(
            &deployment,
            &ignore(json!({"group": "apps", "kind": "Deployment"}))
        ));
        assert!(is_known_exclusion(
            &deployment,
            &ignore(json!({"group": "*"}))
        ));
        assert!(!is_known_exclusion(
            &secret,
            &ignore(json!({"kind": "Secret", "name": "other"}))
        ));
        let project: OrphanedResources = serde_json::from_value(json!({"warn": false})).unwrap();
        assert!(!project.is_warn());
    }
}
