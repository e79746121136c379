//! Resource types: what a cluster serves, built-in or defined by a CRD.
//!
//! A [`ResourceType`] is one (group, version, resource) the API answers for.
//! Objects are stored per [`StorageKey`] (group + plural), so every served
//! version of a CRD reads and writes the same objects (the storage version's
//! data, relabelled with the requested apiVersion).

use std::sync::Arc;

use serde_json::Value;

/// The verbs every ordinary resource supports, in the order discovery lists them.
pub const STANDARD_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Which part of an object bumps `metadata.generation` when it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationRule {
    /// The kind has no generation (ConfigMap, Secret, Namespace, …).
    None,
    /// A change to `.spec` bumps it (most built-in workload kinds).
    Spec,
    /// A change to one named top-level field bumps it (webhook configurations: `webhooks`).
    Field(&'static str),
    /// A change to anything outside metadata and status bumps it (custom resources).
    AllButMetadataAndStatus,
}

/// How the `scale` subresource maps onto the object (a CRD declares the paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    /// JSON path of the desired replicas, e.g. `.spec.replicas`.
    pub spec_replicas: String,
    /// JSON path of the observed replicas, e.g. `.status.replicas`.
    pub status_replicas: String,
    /// JSON path of the label selector string, when there is one.
    pub label_selector: Option<String>,
}

/// Where a resource type comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Compiled into the simulator.
    Builtin,
    /// Served because of a CustomResourceDefinition; holds that version's schema
    /// (`openAPIV3Schema`, when declared) and `additionalPrinterColumns`.
    Crd {
        /// The CRD's name (`<plural>.<group>`).
        crd_name: String,
        /// The version's `schema.openAPIV3Schema`, if any.
        schema: Option<Arc<Value>>,
        /// The version's `additionalPrinterColumns` (an array, possibly empty).
        printer_columns: Arc<Value>,
        /// `selectableFields` JSON paths (CRD field selectors).
        selectable_fields: Vec<String>,
    },
}

/// One group/version/resource served by a cluster.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: String,
    /// The served version.
    pub version: String,
    /// The kind, e.g. `Deployment`.
    pub kind: String,
    /// The lowercase plural used in URLs, e.g. `deployments`.
    pub plural: String,
    /// The lowercase singular, e.g. `deployment`.
    pub singular: String,
    /// Short names (`deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether `/status` is a separate subresource (then the main resource ignores `.status`).
    pub status_subresource: bool,
    /// The `/scale` subresource, when served.
    pub scale: Option<ScalePaths>,
    /// Which changes bump `metadata.generation`.
    pub generation: GenerationRule,
    /// The version objects are stored in (for a CRD, its storage version).
    pub storage_version: String,
    /// Built-in or from a CRD.
    pub origin: Origin,
}

/// The key objects are stored under: group and plural, version-independent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageKey {
    /// API group ("" for core).
    pub group: Arc<str>,
    /// Lowercase plural.
    pub resource: Arc<str>,
}

impl StorageKey {
    /// A key for `resource` in `group`.
    pub fn new(group: &str, resource: &str) -> Self {
        StorageKey {
            group: Arc::from(group),
            resource: Arc::from(resource),
        }
    }
}

impl std::fmt::Display for StorageKey {
    /// `deployments.apps`, or `configmaps` for the core group — how the API server names a
    /// resource in its messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

impl ResourceType {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The storage key shared by all versions of this resource.
    pub fn storage_key(&self) -> StorageKey {
        StorageKey::new(&self.group, &self.plural)
    }

    /// `deployments.apps` / `configmaps`: the resource as error messages name it.
    pub fn qualified_resource(&self) -> String {
        self.storage_key().to_string()
    }

    /// Whether this type is a custom resource.
    pub fn is_custom(&self) -> bool {
        matches!(self.origin, Origin::Crd { .. })
    }

    /// The verbs discovery advertises.
    pub fn verbs(&self) -> &'static [&'static str] {
        if self.is_create_only() {
            &["create"]
        } else {
            STANDARD_VERBS
        }
    }

    /// Whether the type only answers POST and stores nothing (TokenReview, the access and
    /// rules reviews, SelfSubjectReview).
    pub fn is_create_only(&self) -> bool {
        matches!(self.origin, Origin::Builtin)
            && matches!(
                self.group.as_str(),
                "authorization.k8s.io" | "authentication.k8s.io"
            )
    }
}

/// A compact row of the built-in table.
struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: GenerationRule,
}

// One line of the table below; positional so the table reads like `kubectl api-resources`.
#[allow(clippy::too_many_arguments)]
const fn row(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: GenerationRule,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short_names,
        status,
        scale,
        generation,
    }
}

use GenerationRule::{Field, None as NoGen, Spec};

/// The built-in kinds, as Kubernetes 1.32 serves them (one preferred version each).
/// Short names, scopes and subresources follow `kubectl api-resources` on a real cluster.
const BUILTINS: &[Builtin] = &[
    row(
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        true,
        &["cm"],
        false,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "Endpoints",
        "endpoints",
        true,
        &["ep"],
        false,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "Event",
        "events",
        true,
        &["ev"],
        false,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "LimitRange",
        "limitranges",
        true,
        &["limits"],
        false,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "Namespace",
        "namespaces",
        false,
        &["ns"],
        true,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "Node",
        "nodes",
        false,
        &["no"],
        true,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        &["pvc"],
        true,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        &["pv"],
        true,
        false,
        NoGen,
    ),
    row("", "v1", "Pod", "pods", true, &["po"], true, false, NoGen),
    row(
        "",
        "v1",
        "ResourceQuota",
        "resourcequotas",
        true,
        &["quota"],
        true,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "Secret",
        "secrets",
        true,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        &["sa"],
        false,
        false,
        NoGen,
    ),
    row(
        "",
        "v1",
        "Service",
        "services",
        true,
        &["svc"],
        true,
        false,
        NoGen,
    ),
    row(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
        &[],
        false,
        false,
        Field("webhooks"),
    ),
    row(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
        &[],
        false,
        false,
        Field("webhooks"),
    ),
    row(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
        true,
        false,
        Spec,
    ),
    row(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "apps",
        "v1",
        "DaemonSet",
        "daemonsets",
        true,
        &["ds"],
        true,
        false,
        Spec,
    ),
    row(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        true,
        &["deploy"],
        true,
        true,
        Spec,
    ),
    row(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        true,
        &["rs"],
        true,
        true,
        Spec,
    ),
    row(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        true,
        &["sts"],
        true,
        true,
        Spec,
    ),
    row(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        false,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "authentication.k8s.io",
        "v1",
        "TokenReview",
        "tokenreviews",
        false,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "authorization.k8s.io",
        "v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        true,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        false,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        false,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
        &["hpa"],
        true,
        false,
        NoGen,
    ),
    row(
        "batch",
        "v1",
        "CronJob",
        "cronjobs",
        true,
        &["cj"],
        true,
        false,
        Spec,
    ),
    row("batch", "v1", "Job", "jobs", true, &[], true, false, Spec),
    row(
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        true,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        false,
        &[],
        false,
        false,
        Spec,
    ),
    row(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        &["ing"],
        true,
        false,
        Spec,
    ),
    row(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        &["netpol"],
        false,
        false,
        Spec,
    ),
    row(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        &["pdb"],
        true,
        false,
        Spec,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        &[],
        false,
        false,
        NoGen,
    ),
    row(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
        &["pc"],
        false,
        false,
        NoGen,
    ),
    row(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
        &["sc"],
        false,
        false,
        NoGen,
    ),
];

/// Kinds in the `all` category (what `kubectl get all` lists).
const CATEGORY_ALL: &[&str] = &[
    "pods",
    "services",
    "daemonsets",
    "deployments",
    "replicasets",
    "statefulsets",
    "horizontalpodautoscalers",
    "cronjobs",
    "jobs",
];

/// The built-in type of `kind`, for tests (the kinds they name are unique among the
/// built-ins).
#[cfg(test)]
pub(crate) fn builtin_type(kind: &str) -> ResourceType {
    builtin_types()
        .into_iter()
        .find(|t| t.kind == kind)
        .map(|t| (*t).clone())
        .expect("builtin")
}

/// The built-in resource types, in a stable order.
pub fn builtin_types() -> Vec<Arc<ResourceType>> {
    BUILTINS
        .iter()
        .map(|b| {
            let scale = b.scale.then(|| ScalePaths {
                spec_replicas: ".spec.replicas".into(),
                status_replicas: ".status.replicas".into(),
                label_selector: Some(".status.selector".into()),
            });
            Arc::new(ResourceType {
                group: b.group.into(),
                version: b.version.into(),
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_ascii_lowercase(),
                short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
                categories: if CATEGORY_ALL.contains(&b.plural) {
                    vec!["all".into()]
                } else {
                    vec![]
                },
                namespaced: b.namespaced,
                status_subresource: b.status,
                scale,
                generation: b.generation,
                storage_version: b.version.into(),
                origin: Origin::Builtin,
            })
        })
        .collect()
}
