//! Flux's config watchers (kustomize-controller and helm-controller since Flux 2.5): the
//! ConfigMaps and Secrets labelled `reconcile.fluxcd.io/watch: Enabled` are watched
//! (metadata only), and a change to one runs again at once every Kustomization that reads
//! it (`postBuild.substituteFrom`, `decryption.secretRef`, `kubeConfig`) and every
//! HelmRelease (`valuesFrom`, `kubeConfig`) of its namespace, instead of at their next
//! interval.

use flotilla_core::pointer::Pointer as _;
use std::collections::HashMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt as _, watcher};
use serde_json::Value;

/// The label selector of the watched configs (fluxcd/pkg's `--watch-configs-label-selector`
/// default).
pub const DEFAULT_SELECTOR: &str = "reconcile.fluxcd.io/watch=Enabled";

/// Which kind of config changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// A ConfigMap.
    ConfigMap,
    /// A Secret.
    Secret,
}

impl ConfigKind {
    fn name(self) -> &'static str {
        match self {
            ConfigKind::ConfigMap => "ConfigMap",
            ConfigKind::Secret => "Secret",
        }
    }
}

/// Whether the Kustomization (or, with `helm_release`, the HelmRelease) `object` reads the
/// config `kind` `namespace/name` — the references kustomize-controller's and
/// helm-controller's config indexes hold (all in the object's own namespace).
pub fn reads(
    helm_release: bool,
    object: &Value,
    kind: ConfigKind,
    namespace: &str,
    name: &str,
) -> bool {
    let text = |value: &Value, pointer: &str| {
        value
            .at(pointer)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    if text(object, "/metadata/namespace").as_deref() != Some(namespace) {
        return false;
    }
    let mut names = Vec::new();
    let kube_config = match kind {
        ConfigKind::ConfigMap => "/spec/kubeConfig/configMapRef/name",
        ConfigKind::Secret => "/spec/kubeConfig/secretRef/name",
    };
    names.extend(text(object, kube_config));
    if kind == ConfigKind::Secret && !helm_release {
        names.extend(text(object, "/spec/decryption/secretRef/name"));
    }
    let list = if helm_release {
        "/spec/valuesFrom"
    } else {
        "/spec/postBuild/substituteFrom"
    };
    names.extend(
        object
            .at(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|reference| reference.get("kind").and_then(Value::as_str) == Some(kind.name()))
            .filter_map(|reference| text(reference, "/name")),
    );
    names.iter().any(|n| n == name)
}

/// Watches the configs of `kind` matching `selector` on the hub and calls `changed` with
/// the kind, namespace and name of each one created, changed or deleted (a relist after an
/// outage reports those whose resourceVersion moved meanwhile, and those gone).
pub async fn watch(
    hub: kube::Client,
    kind: ConfigKind,
    selector: String,
    changed: impl Fn(ConfigKind, &str, &str) + Send + 'static,
) {
    match kind {
        ConfigKind::ConfigMap => {
            let api = Api::<PartialObjectMeta<ConfigMap>>::all(hub);
            follow(api, kind, &selector, changed).await;
        }
        ConfigKind::Secret => {
            let api = Api::<PartialObjectMeta<Secret>>::all(hub);
            follow(api, kind, &selector, changed).await;
        }
    }
}

async fn follow<K>(
    api: Api<PartialObjectMeta<K>>,
    kind: ConfigKind,
    selector: &str,
    changed: impl Fn(ConfigKind, &str, &str),
) where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K: Send + 'static,
{
    let config = watcher::Config::default().labels(selector);
    let mut events = watcher(api, config).default_backoff().boxed();
    // namespace/name → resourceVersion, as last seen.
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    let mut listing: Option<HashMap<(String, String), String>> = None;
    let mut listed_before = false;
    let identity = |meta: &PartialObjectMeta<K>| {
        (
            meta.metadata.namespace.clone().unwrap_or_default(),
            meta.metadata.name.clone().unwrap_or_default(),
        )
    };
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(meta)) => {
                let id = identity(&meta);
                seen.insert(
                    id.clone(),
                    meta.metadata.resource_version.unwrap_or_default(),
                );
                changed(kind, &id.0, &id.1);
            }
            Ok(watcher::Event::Delete(meta)) => {
                let id = identity(&meta);
                seen.remove(&id);
                changed(kind, &id.0, &id.1);
            }
            Ok(watcher::Event::Init) => listing = Some(HashMap::new()),
            Ok(watcher::Event::InitApply(meta)) => {
                let id = identity(&meta);
                let version = meta.metadata.resource_version.unwrap_or_default();
                listing.get_or_insert_default().insert(id, version);
            }
            Ok(watcher::Event::InitDone) => {
                let listed = listing.take().unwrap_or_default();
                // The first listing is the state the readers start from; a relist shows
                // what changed while the watch was away.
                if listed_before {
                    for (id, version) in &listed {
                        if seen.get(id) != Some(version) {
                            changed(kind, &id.0, &id.1);
                        }
                    }
                    for id in seen.keys().filter(|id| !listed.contains_key(*id)) {
                        changed(kind, &id.0, &id.1);
                    }
                }
                seen = listed;
                listed_before = true;
            }
            Err(e) => tracing::debug!(kind = kind.name(), error = %e, "config watch"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The references kustomize-controller's and helm-controller's config indexes hold.
    #[test]
    fn readers_are_found_by_the_references_flux_indexes() {
        let kustomization = json!({
            "metadata": {"name": "apps", "namespace": "team-a"},
            "spec": {
                "postBuild": {"substituteFrom": [
                    {"kind": "ConfigMap", "name": "vars"},
                    {"kind": "Secret", "name": "creds"},
                ]},
                "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
                "kubeConfig": {"configMapRef": {"name": "remote"}},
            },
        });
        let ks = |kind, name| reads(false, &kustomization, kind, "team-a", name);
        assert!(ks(ConfigKind::ConfigMap, "vars"));
        assert!(ks(ConfigKind::Secret, "creds"));
        assert!(ks(ConfigKind::Secret, "sops-age"));
        assert!(ks(ConfigKind::ConfigMap, "remote"));
        assert!(!ks(ConfigKind::Secret, "vars"), "the kind must match");
        assert!(!ks(ConfigKind::ConfigMap, "creds"));
        assert!(
            !reads(
                false,
                &kustomization,
                ConfigKind::ConfigMap,
                "team-b",
                "vars"
            ),
            "only its own namespace"
        );

        let release = json!({
            "metadata": {"name": "web", "namespace": "team-a"},
            "spec": {
                "valuesFrom": [{"kind": "Secret", "name": "values", "valuesKey": "v.yaml"},
                               {"kind": "ConfigMap", "name": "common"}],
                "kubeConfig": {"secretRef": {"name": "remote"}},
            },
        });
        let hr = |kind, name| reads(true, &release, kind, "team-a", name);
        assert!(hr(ConfigKind::Secret, "values"));
        assert!(hr(ConfigKind::ConfigMap, "common"));
        assert!(hr(ConfigKind::Secret, "remote"));
        assert!(!hr(ConfigKind::ConfigMap, "values"));
        let with_decryption = json!({"metadata": {"namespace": "team-a"},
                                     "spec": {"decryption": {"secretRef": {"name": "keys"}}}});
        assert!(
            !reads(true, &with_decryption, ConfigKind::Secret, "team-a", "keys"),
            "a HelmRelease has no decryption"
        );
    }
}
