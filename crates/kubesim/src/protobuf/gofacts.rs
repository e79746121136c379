//! Facts about the Go types behind Kubernetes' `.proto` files that the files do not carry,
//! but that decide the JSON a Go client would have sent: which messages have a JSON form
//! of their own, which fields are embedded structs, which are pointers, and the few whose
//! protobuf name is not their JSON name.
//!
//! They were read off upstream's Go types (`k8s.io/api`, `k8s.io/apimachinery`,
//! `k8s.io/apiextensions-apiserver`; struct tags for names, field types for pointers) and
//! kept to the fields the compiled 1.35 `.proto` files have. When the proto crate moves to
//! a newer release, fields it adds are treated as non-pointers until listed here. A test
//! checks every entry against the compiled descriptors, so a typo or a renamed field fails
//! the tests rather than being silently ignored. Types are keyed by Go
//! package (`k8s.io/api/apps/v1`); names and embeddings hold for every version of a group,
//! so those tables leave the version off (`k8s.io/api/apps`).

use super::schema::Special;

/// The JSON form of a message that Go marshals specially, by Go package and type.
pub(super) fn special(package: &str, type_name: &str) -> Option<Special> {
    let family = family(package);
    Some(match (package, type_name) {
        ("k8s.io/apimachinery/pkg/apis/meta/v1", "Time") => Special::Time,
        ("k8s.io/apimachinery/pkg/apis/meta/v1", "MicroTime") => Special::MicroTime,
        ("k8s.io/apimachinery/pkg/apis/meta/v1", "Duration") => Special::Duration,
        ("k8s.io/apimachinery/pkg/apis/meta/v1", "FieldsV1") => Special::RawJson,
        ("k8s.io/apimachinery/pkg/apis/meta/v1", "Verbs") => Special::Items,
        ("k8s.io/apimachinery/pkg/runtime", "RawExtension") => Special::RawJson,
        ("k8s.io/apimachinery/pkg/util/intstr", "IntOrString") => Special::IntOrString,
        ("k8s.io/apimachinery/pkg/api/resource", "Quantity" | "QuantityValue") => Special::Quantity,
        _ if family == APIEXTENSIONS => match type_name {
            "JSON" => Special::RawJson,
            "JSONSchemaPropsOrBool" => Special::SchemaOrBool,
            "JSONSchemaPropsOrArray" => Special::SchemaOrArray,
            "JSONSchemaPropsOrStringArray" => Special::SchemaOrStringArray,
            _ => return None,
        },
        // `type ExtraValue []string` (user info extras) in authentication, authorization
        // and certificates.
        _ if package.starts_with("k8s.io/api/") && type_name == "ExtraValue" => Special::Items,
        _ => return None,
    })
}

/// What the tables below say about one message's fields.
#[derive(Debug, Default)]
pub(super) struct FieldFacts {
    pointers: &'static [&'static str],
    inline: Vec<&'static str>,
    names: Vec<(&'static str, &'static str)>,
}

impl FieldFacts {
    /// The facts for a Go type; looked up once per message, not once per field.
    pub(super) fn of(package: &str, type_name: &str) -> FieldFacts {
        let family = family(package);
        FieldFacts {
            pointers: POINTERS
                .iter()
                .find(|(p, t, _)| *p == package && *t == type_name)
                .map_or(&[], |(_, _, fields)| fields),
            inline: INLINE
                .iter()
                .filter(|(f, t, _)| *f == family && *t == type_name)
                .map(|(_, _, field)| *field)
                .collect(),
            names: JSON_NAMES
                .iter()
                .filter(|(f, t, _, _)| *f == family && *t == type_name)
                .map(|(_, _, proto, json)| (*proto, *json))
                .collect(),
        }
    }

    /// The JSON key of a field: its protobuf name, except where the struct tag says
    /// otherwise.
    pub(super) fn json_name(&self, field: &str) -> String {
        self.names
            .iter()
            .find(|(proto, _)| *proto == field)
            .map_or(field, |(_, json)| json)
            .to_owned()
    }

    /// Whether a field is an embedded Go struct with no JSON name of its own, whose fields
    /// Go's encoder writes into the enclosing object.
    pub(super) fn is_inline(&self, field: &str) -> bool {
        self.inline.contains(&field)
    }

    /// Whether a scalar field is a pointer in Go, so that a zero value was set on purpose.
    pub(super) fn is_pointer(&self, field: &str) -> bool {
        self.pointers.contains(&field)
    }
}

/// A Go package without its version: `k8s.io/api/apps/v1` → `k8s.io/api/apps`.
fn family(package: &str) -> &str {
    package
        .rsplit_once('/')
        .map_or(package, |(family, _)| family)
}

const APIEXTENSIONS: &str = "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions";

/// Fields whose protobuf name differs from the JSON one: (group package, type, protobuf
/// name, JSON name). Upstream keeps the protobuf names for wire compatibility.
#[rustfmt::skip]
pub(super) const JSON_NAMES: &[(&str, &str, &str, &str)] = &[
    ("k8s.io/api/admissionregistration", "Validation", "Expression", "expression"),
    ("k8s.io/api/admissionregistration", "Variable", "Name", "name"),
    ("k8s.io/api/admissionregistration", "Variable", "Expression", "expression"),
    ("k8s.io/api/admissionregistration", "ValidatingWebhookConfiguration", "Webhooks", "webhooks"),
    ("k8s.io/api/admissionregistration", "MutatingWebhookConfiguration", "Webhooks", "webhooks"),
    ("k8s.io/api/authentication", "BoundObjectReference", "uID", "uid"),
    ("k8s.io/api/networking", "IngressClassParametersReference", "aPIGroup", "apiGroup"),
    (APIEXTENSIONS, "JSONSchemaProps", "ref", "$ref"),
    (APIEXTENSIONS, "JSONSchemaProps", "schema", "$schema"),
    (APIEXTENSIONS, "JSONSchemaProps", "xKubernetesPreserveUnknownFields", "x-kubernetes-preserve-unknown-fields"),
    (APIEXTENSIONS, "JSONSchemaProps", "xKubernetesEmbeddedResource", "x-kubernetes-embedded-resource"),
    (APIEXTENSIONS, "JSONSchemaProps", "xKubernetesIntOrString", "x-kubernetes-int-or-string"),
    (APIEXTENSIONS, "JSONSchemaProps", "xKubernetesListMapKeys", "x-kubernetes-list-map-keys"),
    (APIEXTENSIONS, "JSONSchemaProps", "xKubernetesListType", "x-kubernetes-list-type"),
    (APIEXTENSIONS, "JSONSchemaProps", "xKubernetesMapType", "x-kubernetes-map-type"),
    (APIEXTENSIONS, "JSONSchemaProps", "xKubernetesValidations", "x-kubernetes-validations"),
];

/// Embedded structs (`VolumeSource` in `Volume`): (group package, type, protobuf name).
#[rustfmt::skip]
pub(super) const INLINE: &[(&str, &str, &str)] = &[
    ("k8s.io/api/core", "Volume", "volumeSource"),
    ("k8s.io/api/core", "PersistentVolumeSpec", "persistentVolumeSource"),
    ("k8s.io/api/core", "Probe", "handler"),
    ("k8s.io/api/core", "EphemeralContainer", "ephemeralContainerCommon"),
    ("k8s.io/api/core", "SecretProjection", "localObjectReference"),
    ("k8s.io/api/core", "ConfigMapVolumeSource", "localObjectReference"),
    ("k8s.io/api/core", "ConfigMapProjection", "localObjectReference"),
    ("k8s.io/api/core", "ConfigMapKeySelector", "localObjectReference"),
    ("k8s.io/api/core", "SecretKeySelector", "localObjectReference"),
    ("k8s.io/api/core", "ConfigMapEnvSource", "localObjectReference"),
    ("k8s.io/api/core", "SecretEnvSource", "localObjectReference"),
    ("k8s.io/api/admissionregistration", "NamedRuleWithOperations", "ruleWithOperations"),
    ("k8s.io/api/admissionregistration", "RuleWithOperations", "rule"),
    ("k8s.io/api/networking", "IngressRule", "ingressRuleValue"),
    ("k8s.io/api/resource", "DeviceClaimConfiguration", "deviceConfiguration"),
    ("k8s.io/api/resource", "DeviceAllocationConfiguration", "deviceConfiguration"),
    ("k8s.io/api/resource", "DeviceClassConfiguration", "deviceConfiguration"),
];

/// Scalar fields that are pointers in Go (`*int32`, `*bool`, `*string`, and named string
/// types such as `*PersistentVolumeMode`): (Go package, type, protobuf names). The stable
/// versions of the groups kubesim serves, plus meta/v1 and apiextensions/v1.
#[rustfmt::skip]
pub(super) const POINTERS: &[(&str, &str, &[&str])] = &[
    ("k8s.io/apimachinery/pkg/apis/meta/v1", "ListMeta", &["remainingItemCount"]),
    ("k8s.io/apimachinery/pkg/apis/meta/v1", "ObjectMeta", &["deletionGracePeriodSeconds"]),
    ("k8s.io/apimachinery/pkg/apis/meta/v1", "OwnerReference", &["controller", "blockOwnerDeletion"]),
    ("k8s.io/apimachinery/pkg/apis/meta/v1", "ListOptions", &["timeoutSeconds", "sendInitialEvents"]),
    ("k8s.io/apimachinery/pkg/apis/meta/v1", "DeleteOptions", &["gracePeriodSeconds", "orphanDependents", "propagationPolicy", "ignoreStoreReadErrorWithClusterBreakingPotential"]),
    ("k8s.io/apimachinery/pkg/apis/meta/v1", "PatchOptions", &["force"]),
    ("k8s.io/apimachinery/pkg/apis/meta/v1", "Preconditions", &["uid", "resourceVersion"]),
    ("k8s.io/api/core/v1", "PersistentVolumeSpec", &["volumeMode", "volumeAttributesClassName"]),
    ("k8s.io/api/core/v1", "PersistentVolumeClaimSpec", &["storageClassName", "volumeMode", "volumeAttributesClassName"]),
    ("k8s.io/api/core/v1", "TypedObjectReference", &["apiGroup", "namespace"]),
    ("k8s.io/api/core/v1", "PersistentVolumeClaimStatus", &["currentVolumeAttributesClassName"]),
    ("k8s.io/api/core/v1", "HostPathVolumeSource", &["type"]),
    ("k8s.io/api/core/v1", "GlusterfsPersistentVolumeSource", &["endpointsNamespace"]),
    ("k8s.io/api/core/v1", "SecretVolumeSource", &["defaultMode", "optional"]),
    ("k8s.io/api/core/v1", "SecretProjection", &["optional"]),
    ("k8s.io/api/core/v1", "ISCSIVolumeSource", &["initiatorName"]),
    ("k8s.io/api/core/v1", "ISCSIPersistentVolumeSource", &["initiatorName"]),
    ("k8s.io/api/core/v1", "FCVolumeSource", &["lun"]),
    ("k8s.io/api/core/v1", "AzureFilePersistentVolumeSource", &["secretNamespace"]),
    ("k8s.io/api/core/v1", "AzureDiskVolumeSource", &["cachingMode", "fsType", "readOnly", "kind"]),
    ("k8s.io/api/core/v1", "ConfigMapVolumeSource", &["defaultMode", "optional"]),
    ("k8s.io/api/core/v1", "ConfigMapProjection", &["optional"]),
    ("k8s.io/api/core/v1", "ServiceAccountTokenProjection", &["expirationSeconds"]),
    ("k8s.io/api/core/v1", "ClusterTrustBundleProjection", &["name", "signerName", "optional"]),
    ("k8s.io/api/core/v1", "PodCertificateProjection", &["maxExpirationSeconds"]),
    ("k8s.io/api/core/v1", "ProjectedVolumeSource", &["defaultMode"]),
    ("k8s.io/api/core/v1", "KeyToPath", &["mode"]),
    ("k8s.io/api/core/v1", "LocalVolumeSource", &["fsType"]),
    ("k8s.io/api/core/v1", "CSIVolumeSource", &["readOnly", "fsType"]),
    ("k8s.io/api/core/v1", "VolumeMount", &["recursiveReadOnly", "mountPropagation"]),
    ("k8s.io/api/core/v1", "FileKeySelector", &["optional"]),
    ("k8s.io/api/core/v1", "ConfigMapKeySelector", &["optional"]),
    ("k8s.io/api/core/v1", "SecretKeySelector", &["optional"]),
    ("k8s.io/api/core/v1", "ConfigMapEnvSource", &["optional"]),
    ("k8s.io/api/core/v1", "SecretEnvSource", &["optional"]),
    ("k8s.io/api/core/v1", "GRPCAction", &["service"]),
    ("k8s.io/api/core/v1", "Probe", &["terminationGracePeriodSeconds"]),
    ("k8s.io/api/core/v1", "Container", &["restartPolicy"]),
    ("k8s.io/api/core/v1", "Lifecycle", &["stopSignal"]),
    ("k8s.io/api/core/v1", "ContainerStatus", &["started", "stopSignal"]),
    ("k8s.io/api/core/v1", "VolumeMountStatus", &["recursiveReadOnly"]),
    ("k8s.io/api/core/v1", "Toleration", &["tolerationSeconds"]),
    ("k8s.io/api/core/v1", "PodSpec", &["terminationGracePeriodSeconds", "activeDeadlineSeconds", "automountServiceAccountToken", "shareProcessNamespace", "priority", "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "setHostnameAsFQDN", "hostUsers", "hostnameOverride"]),
    ("k8s.io/api/core/v1", "PodResourceClaim", &["resourceClaimName", "resourceClaimTemplateName"]),
    ("k8s.io/api/core/v1", "PodResourceClaimStatus", &["resourceClaimName"]),
    ("k8s.io/api/core/v1", "TopologySpreadConstraint", &["minDomains", "nodeAffinityPolicy", "nodeTaintsPolicy"]),
    ("k8s.io/api/core/v1", "PodSecurityContext", &["runAsUser", "runAsGroup", "runAsNonRoot", "supplementalGroupsPolicy", "fsGroup", "fsGroupChangePolicy", "seLinuxChangePolicy"]),
    ("k8s.io/api/core/v1", "SeccompProfile", &["localhostProfile"]),
    ("k8s.io/api/core/v1", "AppArmorProfile", &["localhostProfile"]),
    ("k8s.io/api/core/v1", "PodDNSConfigOption", &["value"]),
    ("k8s.io/api/core/v1", "EphemeralContainerCommon", &["restartPolicy"]),
    ("k8s.io/api/core/v1", "ReplicationControllerSpec", &["replicas"]),
    ("k8s.io/api/core/v1", "ClientIPConfig", &["timeoutSeconds"]),
    ("k8s.io/api/core/v1", "LoadBalancerIngress", &["ipMode"]),
    ("k8s.io/api/core/v1", "ServiceSpec", &["ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass", "internalTrafficPolicy", "trafficDistribution"]),
    ("k8s.io/api/core/v1", "ServicePort", &["appProtocol"]),
    ("k8s.io/api/core/v1", "ServiceAccount", &["automountServiceAccountToken"]),
    ("k8s.io/api/core/v1", "EndpointAddress", &["nodeName"]),
    ("k8s.io/api/core/v1", "EndpointPort", &["appProtocol"]),
    ("k8s.io/api/core/v1", "NodeRuntimeHandlerFeatures", &["recursiveReadOnlyMounts", "userNamespaces"]),
    ("k8s.io/api/core/v1", "NodeFeatures", &["supplementalGroupsPolicy"]),
    ("k8s.io/api/core/v1", "NodeSwapStatus", &["capacity"]),
    ("k8s.io/api/core/v1", "Preconditions", &["uid"]),
    ("k8s.io/api/core/v1", "PodLogOptions", &["sinceSeconds", "tailLines", "limitBytes", "stream"]),
    ("k8s.io/api/core/v1", "TypedLocalObjectReference", &["apiGroup"]),
    ("k8s.io/api/core/v1", "Secret", &["immutable"]),
    ("k8s.io/api/core/v1", "ConfigMap", &["immutable"]),
    ("k8s.io/api/core/v1", "DownwardAPIVolumeSource", &["defaultMode"]),
    ("k8s.io/api/core/v1", "DownwardAPIVolumeFile", &["mode"]),
    ("k8s.io/api/core/v1", "SecurityContext", &["privileged", "runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "procMount"]),
    ("k8s.io/api/core/v1", "WindowsSecurityContextOptions", &["gmsaCredentialSpecName", "gmsaCredentialSpec", "runAsUserName", "hostProcess"]),
    ("k8s.io/api/core/v1", "PortStatus", &["error"]),
    ("k8s.io/api/apps/v1", "RollingUpdateStatefulSetStrategy", &["partition"]),
    ("k8s.io/api/apps/v1", "StatefulSetSpec", &["replicas", "revisionHistoryLimit"]),
    ("k8s.io/api/apps/v1", "StatefulSetStatus", &["collisionCount"]),
    ("k8s.io/api/apps/v1", "DeploymentSpec", &["replicas", "revisionHistoryLimit", "progressDeadlineSeconds"]),
    ("k8s.io/api/apps/v1", "DeploymentStatus", &["terminatingReplicas", "collisionCount"]),
    ("k8s.io/api/apps/v1", "DaemonSetSpec", &["revisionHistoryLimit"]),
    ("k8s.io/api/apps/v1", "DaemonSetStatus", &["collisionCount"]),
    ("k8s.io/api/apps/v1", "ReplicaSetSpec", &["replicas"]),
    ("k8s.io/api/apps/v1", "ReplicaSetStatus", &["terminatingReplicas"]),
    ("k8s.io/api/batch/v1", "PodFailurePolicyOnExitCodesRequirement", &["containerName"]),
    ("k8s.io/api/batch/v1", "SuccessPolicyRule", &["succeededIndexes", "succeededCount"]),
    ("k8s.io/api/batch/v1", "JobSpec", &["parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes", "manualSelector", "ttlSecondsAfterFinished", "completionMode", "suspend", "podReplacementPolicy", "managedBy"]),
    ("k8s.io/api/batch/v1", "JobStatus", &["terminating", "failedIndexes", "ready"]),
    ("k8s.io/api/batch/v1", "CronJobSpec", &["timeZone", "startingDeadlineSeconds", "suspend", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"]),
    ("k8s.io/api/autoscaling/v1", "HorizontalPodAutoscalerSpec", &["minReplicas", "targetCPUUtilizationPercentage"]),
    ("k8s.io/api/autoscaling/v1", "HorizontalPodAutoscalerStatus", &["observedGeneration", "currentCPUUtilizationPercentage"]),
    ("k8s.io/api/autoscaling/v1", "ResourceMetricSource", &["targetAverageUtilization"]),
    ("k8s.io/api/autoscaling/v1", "ContainerResourceMetricSource", &["targetAverageUtilization"]),
    ("k8s.io/api/autoscaling/v1", "ResourceMetricStatus", &["currentAverageUtilization"]),
    ("k8s.io/api/autoscaling/v1", "ContainerResourceMetricStatus", &["currentAverageUtilization"]),
    ("k8s.io/api/autoscaling/v2", "HorizontalPodAutoscalerSpec", &["minReplicas"]),
    ("k8s.io/api/autoscaling/v2", "HPAScalingRules", &["stabilizationWindowSeconds", "selectPolicy"]),
    ("k8s.io/api/autoscaling/v2", "MetricTarget", &["averageUtilization"]),
    ("k8s.io/api/autoscaling/v2", "HorizontalPodAutoscalerStatus", &["observedGeneration"]),
    ("k8s.io/api/autoscaling/v2", "MetricValueStatus", &["averageUtilization"]),
    ("k8s.io/api/networking/v1", "NetworkPolicyPort", &["protocol", "endPort"]),
    ("k8s.io/api/networking/v1", "IngressSpec", &["ingressClassName"]),
    ("k8s.io/api/networking/v1", "IngressPortStatus", &["error"]),
    ("k8s.io/api/networking/v1", "HTTPIngressPath", &["pathType"]),
    ("k8s.io/api/networking/v1", "IngressClassParametersReference", &["aPIGroup", "scope", "namespace"]),
    ("k8s.io/api/policy/v1", "PodDisruptionBudgetSpec", &["unhealthyPodEvictionPolicy"]),
    ("k8s.io/api/coordination/v1", "LeaseSpec", &["holderIdentity", "leaseDurationSeconds", "leaseTransitions", "strategy", "preferredHolder"]),
    ("k8s.io/api/storage/v1", "StorageClass", &["reclaimPolicy", "allowVolumeExpansion", "volumeBindingMode"]),
    ("k8s.io/api/storage/v1", "VolumeAttachmentSource", &["persistentVolumeName"]),
    ("k8s.io/api/storage/v1", "VolumeError", &["errorCode"]),
    ("k8s.io/api/storage/v1", "CSIDriverSpec", &["attachRequired", "podInfoOnMount", "storageCapacity", "fsGroupPolicy", "requiresRepublish", "seLinuxMount", "nodeAllocatableUpdatePeriodSeconds", "serviceAccountTokenInSecrets"]),
    ("k8s.io/api/storage/v1", "TokenRequest", &["expirationSeconds"]),
    ("k8s.io/api/storage/v1", "VolumeNodeResources", &["count"]),
    ("k8s.io/api/scheduling/v1", "PriorityClass", &["preemptionPolicy"]),
    ("k8s.io/api/admissionregistration/v1", "Rule", &["scope"]),
    ("k8s.io/api/admissionregistration/v1", "ValidatingAdmissionPolicySpec", &["failurePolicy"]),
    ("k8s.io/api/admissionregistration/v1", "Validation", &["reason"]),
    ("k8s.io/api/admissionregistration/v1", "ParamRef", &["parameterNotFoundAction"]),
    ("k8s.io/api/admissionregistration/v1", "MatchResources", &["matchPolicy"]),
    ("k8s.io/api/admissionregistration/v1", "ValidatingWebhook", &["failurePolicy", "matchPolicy", "sideEffects", "timeoutSeconds"]),
    ("k8s.io/api/admissionregistration/v1", "MutatingWebhook", &["failurePolicy", "matchPolicy", "sideEffects", "timeoutSeconds", "reinvocationPolicy"]),
    ("k8s.io/api/admissionregistration/v1", "WebhookClientConfig", &["url"]),
    ("k8s.io/api/admissionregistration/v1", "ServiceReference", &["path", "port"]),
    ("k8s.io/api/authentication/v1", "TokenRequestSpec", &["expirationSeconds"]),
    ("k8s.io/api/certificates/v1", "CertificateSigningRequestSpec", &["expirationSeconds"]),
    ("k8s.io/api/discovery/v1", "Endpoint", &["hostname", "nodeName", "zone"]),
    ("k8s.io/api/discovery/v1", "EndpointConditions", &["ready", "serving", "terminating"]),
    ("k8s.io/api/discovery/v1", "EndpointPort", &["name", "protocol", "port", "appProtocol"]),
    ("k8s.io/api/flowcontrol/v1", "LimitedPriorityLevelConfiguration", &["nominalConcurrencyShares", "lendablePercent", "borrowingLimitPercent"]),
    ("k8s.io/api/flowcontrol/v1", "ExemptPriorityLevelConfiguration", &["nominalConcurrencyShares", "lendablePercent"]),
    ("k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1", "WebhookClientConfig", &["url"]),
    ("k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1", "ServiceReference", &["path", "port"]),
    ("k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1", "CustomResourceDefinitionVersion", &["deprecationWarning"]),
    ("k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1", "CustomResourceSubresourceScale", &["labelSelectorPath"]),
    ("k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1", "JSONSchemaProps", &["ref", "maximum", "minimum", "maxLength", "minLength", "maxItems", "minItems", "multipleOf", "maxProperties", "minProperties", "xKubernetesPreserveUnknownFields", "xKubernetesListType", "xKubernetesMapType"]),
    ("k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1", "ValidationRule", &["reason", "optionalOldSelf"]),
];
