//! Preparing a hub cluster: the resource types it serves (Argo CD's and Flux's CRDs, under
//! their upstream names) and the namespaces the controllers read from.

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

/// The hub's CRDs: Argo CD's Application, ApplicationSet and AppProject; Flux's
/// GitRepository, OCIRepository, HelmRepository, HelmChart, Kustomization, HelmRelease,
/// Provider, Alert and Receiver.
pub const HUB_CRDS: &str = include_str!("../../fleet/crds/hub.yaml");

/// The namespaces Argo CD and Flux objects live in by default.
pub const HUB_NAMESPACES: [&str; 2] = ["argocd", "flux-system"];

/// The field manager of everything the hub writes.
pub const FIELD_MANAGER: &str = "flotilla";

/// Why the hub could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The embedded CRD file does not parse (a build defect).
    #[error("the embedded hub CRDs do not parse: {0}")]
    Crds(String),
    /// The API server refused a write.
    #[error("applying {what}: {source}")]
    Apply {
        /// What was applied.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A CRD did not become Established in time.
    #[error("CRD {0} was not Established within {1:?}")]
    NotEstablished(String, Duration),
}

/// The CRD documents of [`HUB_CRDS`].
pub fn hub_crds() -> Result<Vec<Value>, BootstrapError> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(HUB_CRDS).map_err(|e| BootstrapError::Crds(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Applies the hub's CRDs and namespaces (server-side, idempotent) and waits until every
/// CRD is Established.
pub async fn install(hub: &Client, timeout: Duration) -> Result<(), BootstrapError> {
    let crds: Api<CustomResourceDefinition> = Api::all(hub.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut names = Vec::new();
    for crd in hub_crds()? {
        let name = crd["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        crds.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .map_err(|source| BootstrapError::Apply {
                what: format!("CustomResourceDefinition {name}"),
                source,
            })?;
        names.push(name);
    }
    let namespaces: Api<Namespace> = Api::all(hub.clone());
    for ns in HUB_NAMESPACES {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        namespaces
            .patch(ns, &params, &Patch::Apply(&body))
            .await
            .map_err(|source| BootstrapError::Apply {
                what: format!("Namespace {ns}"),
                source,
            })?;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    for name in names {
        loop {
            let crd = crds
                .get(&name)
                .await
                .map_err(|source| BootstrapError::Apply {
                    what: format!("reading CustomResourceDefinition {name}"),
                    source,
                })?;
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(BootstrapError::NotEstablished(name, timeout));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}
