//! Flux `HelmRepository` (source.toolkit.fluxcd.io/v1), as source-controller reconciles it.

use kube::api::ApiResource;
use kube::core::GroupVersionKind;
use serde_json::Value;

use super::{FluxReconciler, Outcome, SOURCE_GROUP};

/// The HelmRepository resource (`source.toolkit.fluxcd.io/v1`).
pub fn helm_repository_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(SOURCE_GROUP, "v1", "HelmRepository"),
        "helmrepositories",
    )
}

/// The index a HelmRepository of type `default` last stored.
#[derive(Debug, Clone)]
pub struct StoredIndex {
    /// `spec.url` it was read from (normalized, ending in `/`).
    pub url: String,
    /// `sha256:<hex>` of the index as downloaded (the artifact's revision).
    pub revision: String,
    /// Each chart's versions.
    pub charts: std::collections::HashMap<String, Vec<flotilla_source::helm_repo::ChartVersion>>,
}

impl FluxReconciler {
    /// Reconciles one HelmRepository.
    pub async fn reconcile_helm_repository(&self, _obj: &Value, _now: &str) -> Outcome {
        Outcome {
            status: None,
            requeue: None,
            events: Vec::new(),
        }
    }
}
