//! From rendered files to `helm template`'s output: documents split on `---`, each read for
//! its kind, name and hook annotations; hooks set apart; manifests sorted in Helm's install
//! order by kind (stable, so file name and document order break ties); and the text with
//! `# Source:` headers.

use super::error::Error;
use serde_json::Value;
use std::collections::BTreeMap;

/// Helm's `InstallOrder`: kinds earlier in the list are installed first; unknown kinds go
/// last, sorted by name.
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// Helm's hook events (`helm.sh/hook` values).
const HOOK_EVENTS: &[&str] = &[
    "pre-install",
    "post-install",
    "pre-delete",
    "post-delete",
    "pre-upgrade",
    "post-upgrade",
    "pre-rollback",
    "post-rollback",
    "test",
    "test-success",
];

/// One rendered Kubernetes object.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The template (or CRD file) it came from, as Helm prints it after `# Source:`.
    pub source: String,
    /// The document's text as Helm prints it.
    pub content: String,
    /// The parsed object (`null` for a document that is only comments).
    pub object: Value,
    /// The document's `kind`.
    pub kind: String,
}

/// A manifest annotated `helm.sh/hook`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    /// The manifest.
    pub manifest: Manifest,
    /// Its events (`test-success` is reported as `test`).
    pub events: Vec<String>,
    /// `helm.sh/hook-weight` (0 when absent or not a number).
    pub weight: i64,
    /// `helm.sh/hook-delete-policy` entries.
    pub delete_policies: Vec<String>,
}

impl Hook {
    /// Whether this is a `helm test` hook.
    pub fn is_test(&self) -> bool {
        self.events.iter().any(|e| e == "test")
    }
}

/// Helm's `SplitManifests`: documents separated by lines starting with `---`, empty ones
/// dropped; Helm 4 trims only leading space, Helm 3 both ends.
pub(crate) fn split(text: &str, trim_end: bool) -> Vec<String> {
    let text = text.trim_start();
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut at_line_start = true;
    let mut rest = text;
    while !rest.is_empty() {
        if at_line_start && rest.starts_with("---") {
            docs.push(std::mem::take(&mut cur));
            rest = rest[3..].trim_start_matches([' ', '\t']);
            at_line_start = false;
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        cur.push(c);
        at_line_start = c == '\n';
        rest = &rest[c.len_utf8()..];
    }
    docs.push(cur);
    docs.into_iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            let d = d.trim_start();
            if trim_end {
                d.trim_end().to_string()
            } else {
                d.to_string()
            }
        })
        .collect()
}

/// Sorts rendered files into hooks and manifests, as Helm's `SortManifests` with
/// `InstallOrder`. Partials and empty files are skipped; a document that is not YAML, or
/// whose annotations are not strings, is an error naming the template.
pub(crate) fn sort(
    files: &BTreeMap<String, String>,
    trim_end: bool,
) -> Result<(Vec<Hook>, Vec<Manifest>), Error> {
    let mut hooks = Vec::new();
    let mut manifests = Vec::new();
    for (path, content) in files {
        if path.rsplit('/').next().unwrap_or(path).starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for doc in split(content, trim_end) {
            let object = match crate::yaml_fast::parse(&doc) {
                Some(v) => v,
                None => serde_saphyr::from_str(&doc).map_err(|e| Error::Yaml {
                    file: path.clone(),
                    reason: format!("error converting YAML to JSON: {e}"),
                })?,
            };
            let head_err = |reason: String| Error::Yaml {
                file: path.clone(),
                reason,
            };
            if !object.is_object() && !object.is_null() {
                return Err(head_err(format!(
                    "error unmarshaling JSON: json: cannot unmarshal {} into Go value of type util.SimpleHead",
                    if object.is_array() { "array" } else { "scalar" }
                )));
            }
            let kind = match object.get("kind") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(k)) => k.clone(),
                Some(_) => {
                    return Err(head_err(
                        "error unmarshaling JSON: kind is not a string".into(),
                    ));
                }
            };
            let annotations = match object.pointer("/metadata/annotations") {
                None | Some(Value::Null) => serde_json::Map::new(),
                Some(Value::Object(a)) => a.clone(),
                Some(_) => {
                    return Err(head_err(
                        "error unmarshaling JSON: metadata.annotations is not a map".into(),
                    ));
                }
            };
            let mut ann: BTreeMap<String, String> = BTreeMap::new();
            for (k, v) in annotations {
                match v {
                    Value::String(s) => {
                        ann.insert(k, s);
                    }
                    Value::Null => {}
                    _ => {
                        return Err(head_err(format!(
                            "error unmarshaling JSON: json: cannot unmarshal {} into Go struct field .metadata.annotations of type string",
                            if v.is_number() {
                                "number"
                            } else if v.is_boolean() {
                                "bool"
                            } else {
                                "object"
                            }
                        )));
                    }
                }
            }
            let manifest = Manifest {
                source: path.clone(),
                content: doc,
                object,
                kind,
            };
            let Some(hook_types) = ann.get("helm.sh/hook") else {
                manifests.push(manifest);
                continue;
            };
            let mut events = Vec::new();
            let mut unknown = false;
            for t in hook_types.split(',') {
                let t = t.trim().to_lowercase();
                if !HOOK_EVENTS.contains(&t.as_str()) {
                    unknown = true;
                    break;
                }
                events.push(if t == "test-success" {
                    "test".to_string()
                } else {
                    t
                });
            }
            if unknown {
                // Helm skips a document with an unknown hook entirely.
                continue;
            }
            let list = |key: &str| -> Vec<String> {
                ann.get(key)
                    .map(|v| v.split(',').map(|p| p.trim().to_lowercase()).collect())
                    .unwrap_or_default()
            };
            hooks.push(Hook {
                weight: ann
                    .get("helm.sh/hook-weight")
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(0),
                delete_policies: list("helm.sh/hook-delete-policy"),
                events,
                manifest,
            });
        }
    }
    hooks.sort_by(|a, b| kind_order(&a.manifest.kind, &b.manifest.kind));
    manifests.sort_by(|a, b| kind_order(&a.kind, &b.kind));
    Ok((hooks, manifests))
}

/// Helm's `lessByKind` as an ordering (used with a stable sort).
fn kind_order(a: &str, b: &str) -> std::cmp::Ordering {
    let pos = |k: &str| INSTALL_ORDER.iter().position(|o| *o == k);
    match (pos(a), pos(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_trailing_newline_in_v4_only() {
        let t = "\n---\na: 1\n---   \nb: 2\n---\n\n";
        assert_eq!(split(t, false), vec!["a: 1\n", "b: 2\n"]);
        assert_eq!(split(t, true), vec!["a: 1", "b: 2"]);
        assert_eq!(split("x: '---'\n", false), vec!["x: '---'\n"]);
    }

    #[test]
    fn install_order_puts_unknown_kinds_last_by_name() {
        let mut kinds = vec!["Zeta", "Deployment", "Alpha", "Namespace", "Service"];
        kinds.sort_by(|a, b| kind_order(a, b));
        assert_eq!(
            kinds,
            ["Namespace", "Service", "Deployment", "Alpha", "Zeta"]
        );
    }

    #[test]
    fn hooks_are_set_apart_and_unknown_hooks_dropped() {
        let mut files = BTreeMap::new();
        files.insert(
            "c/templates/a.yaml".to_string(),
            "kind: Pod\nmetadata:\n  annotations:\n    helm.sh/hook: pre-install,test-success\n    helm.sh/hook-weight: \"-5\"\n---\nkind: Job\nmetadata:\n  annotations:\n    helm.sh/hook: bogus\n---\nkind: Service\n".to_string(),
        );
        let (hooks, manifests) = sort(&files, false).unwrap();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0].events, ["pre-install", "test"]);
        assert_eq!(hooks[0].weight, -5);
        assert_eq!(manifests.len(), 1);
        files.insert(
            "c/templates/b.yaml".into(),
            "kind: X\nmetadata:\n  annotations:\n    a: 1\n".into(),
        );
        assert!(
            sort(&files, false)
                .unwrap_err()
                .to_string()
                .starts_with("YAML parse error on c/templates/b.yaml")
        );
    }
}
