//! Flux `HelmChart` (source.toolkit.fluxcd.io/v1), as source-controller reconciles it.

use kube::api::ApiResource;
use kube::core::GroupVersionKind;
use serde_json::Value;

use super::{FluxReconciler, Outcome, SOURCE_GROUP};

/// The HelmChart resource (`source.toolkit.fluxcd.io/v1`).
pub fn helm_chart_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(SOURCE_GROUP, "v1", "HelmChart"),
        "helmcharts",
    )
}

impl FluxReconciler {
    /// Reconciles one HelmChart.
    pub async fn reconcile_helm_chart(&self, _obj: &Value, _now: &str) -> Outcome {
        Outcome {
            status: None,
            requeue: None,
            events: Vec::new(),
        }
    }
}
