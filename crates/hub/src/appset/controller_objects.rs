//! What the clusterDecisionResource and plugin generators read and call
//! ([`ControllerObjects`], [`PluginServices`]): ConfigMaps, Secrets and duck-typed
//! resources of the controller's namespace (Argo CD's, where it reads them), and the plugin's
//! HTTP endpoint through [`flotilla_source::outbound::post_json`] — the process's HTTP client,
//! under its egress policy. Like [`super::repos`], it blocks on the async calls from the
//! generation thread.
//!
//! The duck-typed resource is read by the group, version and *plural* the ConfigMap gives
//! (`kind` is the plural, as upstream hands it to the dynamic client), without discovery.
//! Nothing watches it: as in Argo CD, a set using it is generated again every
//! `requeueAfterSeconds`.

use std::collections::BTreeMap;
use std::time::Duration;

use flotilla_fleet::appset::cluster_decision::{ControllerObjects, DuckResource, Selection};
use flotilla_fleet::appset::plugin::{PluginRequest, PluginResponse, PluginServices, USER_AGENT};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

/// How long one API read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes of a plugin's answer read.
pub(crate) const MAX_PLUGIN_ANSWER: usize = 16 << 20;

/// The controller's namespace on the hub, for one generation.
pub(crate) struct HubControllerObjects {
    hub: kube::Client,
    namespace: String,
    runtime: tokio::runtime::Handle,
}

impl HubControllerObjects {
    /// Reads in `namespace` of `hub`, blocking on `runtime`.
    pub(crate) fn new(hub: kube::Client, namespace: &str, runtime: tokio::runtime::Handle) -> Self {
        HubControllerObjects {
            hub,
            namespace: namespace.to_string(),
            runtime,
        }
    }

    fn block<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, String> {
        self.runtime
            .block_on(async { tokio::time::timeout(READ_TIMEOUT, work).await })
            .map_err(|_| format!("no answer from the hub within {READ_TIMEOUT:?}"))?
            .map_err(api_message)
    }
}

/// The API server's message (`configmaps "x" not found`), as client-go's errors print.
fn api_message(error: kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

impl ControllerObjects for HubControllerObjects {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn config_map(&self, name: &str) -> Result<BTreeMap<String, String>, String> {
        if name.is_empty() {
            // What a cached client answers for no name.
            return Err("configmaps \"\" not found".into());
        }
        let api: Api<ConfigMap> = Api::namespaced(self.hub.clone(), &self.namespace);
        let config_map = self.block(api.get(name))?;
        Ok(config_map.data.unwrap_or_default().into_iter().collect())
    }

    fn secret(&self, name: &str) -> Result<BTreeMap<String, String>, String> {
        if name.is_empty() {
            return Err("secrets \"\" not found".into());
        }
        let api: Api<Secret> = Api::namespaced(self.hub.clone(), &self.namespace);
        let secret = self.block(api.get(name))?;
        let mut values: BTreeMap<String, String> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect();
        // The API server folds stringData into data; a fake one may not.
        for (k, v) in secret.string_data.unwrap_or_default() {
            values.entry(k).or_insert(v);
        }
        Ok(values)
    }

    fn list(&self, resource: &DuckResource, selection: &Selection) -> Result<Vec<Value>, String> {
        let api_version = if resource.group.is_empty() {
            resource.version.clone()
        } else {
            format!("{}/{}", resource.group, resource.version)
        };
        let api_resource = ApiResource {
            group: resource.group.clone(),
            version: resource.version.clone(),
            api_version,
            // Only the plural is used in the URL.
            kind: resource.resource.clone(),
            plural: resource.resource.clone(),
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.hub.clone(), &self.namespace, &api_resource);
        let objects = match selection {
            // Upstream lists with `metadata.name=<name>`: no such object is an empty list.
            Selection::Name(name) => self.block(api.get_opt(name))?.into_iter().collect(),
            Selection::Labels(selector) => {
                self.block(api.list(&ListParams::default().labels(selector)))?
                    .items
            }
        };
        objects
            .into_iter()
            .map(|o| serde_json::to_value(o).map_err(|e| e.to_string()))
            .collect()
    }
}

impl PluginServices for HubControllerObjects {
    fn post(&self, request: &PluginRequest) -> Result<PluginResponse, String> {
        let post = flotilla_source::outbound::Post {
            url: &request.url,
            token: request.token.as_deref(),
            user_agent: USER_AGENT,
            body: &request.body,
            timeout: request.timeout,
            limit: MAX_PLUGIN_ANSWER,
        };
        let (status, body) = self
            .runtime
            .block_on(flotilla_source::outbound::post_json(post))?;
        Ok(PluginResponse { status, body })
    }
}
