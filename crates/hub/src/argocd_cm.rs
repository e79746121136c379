//! Argo CD's `argocd-cm` settings that change how Applications compare: the system-wide
//! `resource.customizations.ignoreDifferences.<group_kind>` (and `.all`) keys, read as
//! Argo CD's `appendResourceOverridesFromSplitKeys` reads them, kept current by a watch
//! and added to every Application's own `ignoreDifferences`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use flotilla_sync::ignore::IgnoreRule;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::watcher;

/// The ConfigMap's name.
pub const ARGOCD_CM: &str = "argocd-cm";

const IGNORE_DIFFERENCES: &str = "resource.customizations.ignoreDifferences.";

/// The system-wide ignore rules of `data` (the ConfigMap's data), and what could not be
/// read, naming the key and the reason.
pub fn ignore_rules(data: &BTreeMap<String, String>) -> (Vec<IgnoreRule>, Vec<String>) {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    if data.contains_key("resource.customizations") {
        problems.push(format!(
            "{ARGOCD_CM}: the single `resource.customizations` key is not read; write one \
             `resource.customizations.ignoreDifferences.<group_kind>` key per kind"
        ));
    }
    for (key, value) in data {
        let Some(group_kind) = key.strip_prefix(IGNORE_DIFFERENCES) else {
            continue;
        };
        let (group, kind) = match override_key(group_kind) {
            Ok(found) => found,
            Err(reason) => {
                problems.push(format!("{ARGOCD_CM} key {key}: {reason}"));
                continue;
            }
        };
        let parsed: Result<IgnoreRule, _> = serde_saphyr::from_str(value);
        match parsed {
            Ok(mut rule) => {
                rule.group = Some(group);
                rule.kind = kind;
                rule.name = None;
                rule.namespace = None;
                match rule.validate() {
                    Ok(()) => rules.push(rule),
                    Err(e) => problems.push(format!("{ARGOCD_CM} key {key}: {e}")),
                }
            }
            Err(e) => problems.push(format!("{ARGOCD_CM} key {key}: {e}")),
        }
    }
    (rules, problems)
}

/// `(group, kind)` of a key's `<group_kind>` part, as Argo CD's `convertToOverrideKey`
/// reads it: `apps_Deployment`, `Service` (the core group), `all` (every kind).
fn override_key(group_kind: &str) -> Result<(String, String), String> {
    if group_kind == "all" {
        return Ok(("*".into(), "*".into()));
    }
    let parts: Vec<&str> = group_kind.split('_').collect();
    match parts.as_slice() {
        [group, kind] => Ok((group.to_string(), kind.to_string())),
        [kind] if !kind.is_empty() => Ok((String::new(), kind.to_string())),
        _ => Err(format!(
            "group kind should be in format `resource.customizations.<type>.<group_kind>` or \
             `resource.customizations.<type>.<kind>`, got group kind: '{group_kind}'"
        )),
    }
}

/// Keeps `rules` equal to `argocd-cm`'s in `namespace` (none when it is missing).
pub async fn run(hub: kube::Client, namespace: String, rules: Arc<RwLock<Vec<IgnoreRule>>>) {
    let api: Api<ConfigMap> = Api::namespaced(hub, &namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={ARGOCD_CM}"));
    let mut events = std::pin::pin!(crate::controller::watch_with_backoff(api, config));
    while let Some(event) = events.next().await {
        let data = match event {
            Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                cm.data.unwrap_or_default()
            }
            Ok(watcher::Event::Delete(_)) => BTreeMap::new(),
            _ => continue,
        };
        let (read, problems) = ignore_rules(&data);
        for problem in problems {
            tracing::warn!(%problem, "argocd-cm");
        }
        *rules.write().unwrap_or_else(|e| e.into_inner()) = read;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys as Argo CD's documentation writes them (diffing.md: a webhook's caBundle by
    /// jq, every kind's fields owned by a manager), a core kind, and bad keys named.
    #[test]
    fn split_keys_become_rules_for_their_group_and_kind() {
        let data: BTreeMap<String, String> = [
            (
                "resource.customizations.ignoreDifferences.admissionregistration.k8s.io_MutatingWebhookConfiguration",
                "jqPathExpressions:\n- '.webhooks[]?.clientConfig.caBundle'\n",
            ),
            (
                "resource.customizations.ignoreDifferences.all",
                "managedFieldsManagers:\n- kube-controller-manager\njsonPointers:\n- /spec/replicas\n",
            ),
            ("resource.customizations.ignoreDifferences.Service", "jsonPointers: [/spec/clusterIP]\n"),
            ("resource.customizations.ignoreDifferences.a_b_c", "jsonPointers: [/x]\n"),
            ("resource.customizations.ignoreDifferences.ConfigMap", "jqPathExpressions: ['.data[']\n"),
            ("resource.customizations.health.apps_Deployment", "return {}"),
            ("url", "https://argocd.example.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (rules, problems) = ignore_rules(&data);
        let by_kind = |kind: &str| rules.iter().find(|r| r.kind == kind).unwrap();
        let webhook = by_kind("MutatingWebhookConfiguration");
        assert_eq!(
            webhook.group.as_deref(),
            Some("admissionregistration.k8s.io")
        );
        assert_eq!(
            webhook.jq_path_expressions,
            [".webhooks[]?.clientConfig.caBundle"]
        );
        let all = by_kind("*");
        assert_eq!(all.group.as_deref(), Some("*"));
        assert_eq!(all.managed_fields_managers, ["kube-controller-manager"]);
        assert_eq!(all.json_pointers, ["/spec/replicas"]);
        assert_eq!(by_kind("Service").group.as_deref(), Some(""));
        assert_eq!(rules.len(), 3);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("got group kind: 'a_b_c'")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("jqPathExpression \".data[\"")),
            "{problems:?}"
        );
    }
}
