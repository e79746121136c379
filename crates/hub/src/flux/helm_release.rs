//! Flux `HelmRelease` (helm.toolkit.fluxcd.io/v2), as helm-controller reconciles it.

pub mod values;

use kube::api::ApiResource;
use kube::core::GroupVersionKind;
use serde_json::Value;

use super::{FluxReconciler, Outcome};

/// The HelmRelease API group.
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";

/// The HelmRelease resource (`helm.toolkit.fluxcd.io/v2`).
pub fn helm_release_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(HELM_GROUP, "v2", "HelmRelease"),
        "helmreleases",
    )
}

/// The queue key of the chart source a HelmRelease reads: its `chartRef`, or the
/// HelmChart it creates from `spec.chart`.
pub fn chart_source_key(object: &Value) -> Option<String> {
    let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
    let namespace = s("/metadata/namespace");
    if object.pointer("/spec/chartRef").is_some() {
        let ref_namespace = match s("/spec/chartRef/namespace") {
            "" => namespace,
            other => other,
        };
        return Some(format!(
            "{}/{ref_namespace}/{}",
            s("/spec/chartRef/kind"),
            s("/spec/chartRef/name")
        ));
    }
    object.pointer("/spec/chart")?;
    let chart_namespace = match s("/spec/chart/spec/sourceRef/namespace") {
        "" => namespace,
        other => other,
    };
    Some(format!(
        "HelmChart/{chart_namespace}/{namespace}-{}",
        s("/metadata/name")
    ))
}

impl FluxReconciler {
    /// Reconciles one HelmRelease.
    pub async fn reconcile_helm_release(&self, _obj: &Value, _now: &str) -> Outcome {
        Outcome {
            status: None,
            requeue: None,
            events: Vec::new(),
        }
    }
}
