//! The embedded catalog: lookups, `$ref` resolution and the list/map topology of real
//! Kubernetes fields, as published in the v1.21 OpenAPI document (and, for fields added
//! since, the v1.33 supplement; see supplement.rs).

use flotilla_schema::{
    ListTopology, ListType, MapType, PatchStrategy, Schema, SchemaError, SchemaRef, Scope, Type,
    builtin,
};
use serde_json::json;

fn kind(group: &str, version: &str, kind: &str) -> SchemaRef<'static> {
    builtin()
        .kind(group, version, kind)
        .unwrap_or_else(|| panic!("{group}/{version} {kind} is built in"))
}

/// Follows a dotted path; `[]` steps into a list's items.
fn at<'a>(schema: SchemaRef<'a>, path: &str) -> SchemaRef<'a> {
    path.split('.')
        .fold(schema, |s, step| match step.strip_suffix("[]") {
            Some(field) => s
                .field(field)
                .and_then(|f| f.items())
                .unwrap_or_else(|| panic!("no items at {field} in {path}")),
            None => s
                .field(step)
                .unwrap_or_else(|| panic!("no field {step} in {path}")),
        })
}

#[test]
fn deployment_containers_merge_by_name() {
    let containers = at(
        kind("apps", "v1", "Deployment"),
        "spec.template.spec.containers",
    );
    assert_eq!(containers.ty(), Type::Array);
    assert!(containers.patch_strategy().is_merge());
    assert_eq!(containers.patch_merge_key(), Some("name"));
    assert_eq!(containers.list_type(), None);
    assert_eq!(
        containers.list_topology(),
        ListTopology::Map {
            keys: &["name".to_owned()]
        }
    );
    let container = containers.items().unwrap();
    assert_eq!(container.definition(), Some("io.k8s.api.core.v1.Container"));
    assert_eq!(container.property("image").unwrap().ty(), Type::String);
}

#[test]
fn pod_container_ports_merge_by_container_port() {
    let ports = at(kind("", "v1", "Pod"), "spec.containers[].ports");
    assert_eq!(ports.patch_merge_key(), Some("containerPort"));
    assert_eq!(ports.list_type(), Some(ListType::Map));
    assert_eq!(ports.list_map_keys(), ["containerPort", "protocol"]);
    assert_eq!(
        at(kind("", "v1", "Pod"), "spec.containers[].env").patch_merge_key(),
        Some("name")
    );
    assert_eq!(
        at(kind("", "v1", "Pod"), "spec.containers[].volumeMounts").patch_merge_key(),
        Some("mountPath")
    );
}

#[test]
fn service_ports_are_a_map_keyed_by_port_and_protocol() {
    let ports = at(kind("", "v1", "Service"), "spec.ports");
    assert_eq!(ports.list_type(), Some(ListType::Map));
    assert_eq!(
        ports.list_topology(),
        ListTopology::Map {
            keys: &["port".to_owned(), "protocol".to_owned()]
        }
    );
    // Strategic merge patch still only knows the single merge key.
    assert_eq!(ports.patch_merge_key(), Some("port"));
}

#[test]
fn patch_strategies_of_real_fields() {
    let pod_spec = at(kind("apps", "v1", "Deployment"), "spec.template.spec");
    let volumes = pod_spec.property("volumes").unwrap();
    assert!(volumes.patch_strategy().is_merge() && volumes.patch_strategy().retains_keys());
    assert_eq!(volumes.patch_strategy().to_string(), "merge,retainKeys");
    // merge,retainKeys counts as merge for server-side apply too.
    assert_eq!(
        volumes.list_topology(),
        ListTopology::Map {
            keys: &["name".to_owned()]
        }
    );

    // Written next to a $ref: the use site's extension applies.
    let strategy = at(kind("apps", "v1", "Deployment"), "spec.strategy");
    assert!(strategy.patch_strategy().retains_keys());
    assert_eq!(
        strategy.definition(),
        Some("io.k8s.api.apps.v1.DeploymentStrategy")
    );

    let pdb_selector = at(kind("policy", "v1", "PodDisruptionBudget"), "spec.selector");
    assert!(pdb_selector.patch_strategy().is_replace());

    let tolerations = pod_spec.property("tolerations").unwrap();
    assert_eq!(tolerations.patch_strategy(), PatchStrategy::NONE);
    assert_eq!(tolerations.list_topology(), ListTopology::Atomic);
    assert_eq!(
        at(pod_spec, "containers[].args").list_topology(),
        ListTopology::Atomic
    );

    let owner_refs = at(kind("apps", "v1", "Deployment"), "metadata.ownerReferences");
    assert_eq!(owner_refs.patch_merge_key(), Some("uid"));
}

#[test]
fn finalizers_merge_as_a_set() {
    let finalizers = at(kind("", "v1", "ConfigMap"), "metadata.finalizers");
    assert!(finalizers.patch_strategy().is_merge());
    assert_eq!(finalizers.patch_merge_key(), None);
    assert_eq!(finalizers.list_topology(), ListTopology::Set);
    assert_eq!(finalizers.items().unwrap().ty(), Type::String);
}

#[test]
fn map_types_and_maps() {
    // x-kubernetes-map-type sits on the LabelSelector definition, not the use site.
    let selector = at(kind("apps", "v1", "Deployment"), "spec.selector");
    assert_eq!(selector.map_type(), Some(MapType::Atomic));
    assert_eq!(
        at(kind("apps", "v1", "Deployment"), "spec.template").map_type(),
        None
    );

    let labels = at(kind("apps", "v1", "Deployment"), "metadata.labels");
    assert_eq!(labels.ty(), Type::Object);
    assert!(!labels.has_properties());
    assert_eq!(labels.additional_properties().unwrap().ty(), Type::String);
    assert_eq!(labels.field("any-key").unwrap().ty(), Type::String);
}

#[test]
fn scalar_types() {
    let rolling = at(
        kind("apps", "v1", "Deployment"),
        "spec.strategy.rollingUpdate",
    );
    assert_eq!(
        rolling.property("maxSurge").unwrap().ty(),
        Type::IntOrString
    );
    assert_eq!(
        at(kind("apps", "v1", "Deployment"), "spec.replicas").ty(),
        Type::Integer
    );
    assert_eq!(
        at(kind("apps", "v1", "Deployment"), "spec.paused").ty(),
        Type::Boolean
    );
    assert_eq!(
        at(
            kind("", "v1", "Pod"),
            "spec.containers[].resources.limits.cpu"
        )
        .definition(),
        Some("io.k8s.apimachinery.pkg.api.resource.Quantity")
    );
    // RawExtension is an object that declares nothing.
    let data = at(kind("apps", "v1", "ControllerRevision"), "data");
    assert_eq!(data.ty(), Type::Object);
    assert!(!data.has_properties());
}

#[test]
fn json_schema_props_recursion_resolves_lazily() {
    let crd = kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    let root = at(crd, "spec.versions[].schema.openAPIV3Schema");
    assert_eq!(
        root.definition(),
        Some("io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps")
    );
    // properties → additionalProperties: JSONSchemaProps, any depth.
    let deep = at(root, "properties.spec.properties.replicas.properties.x");
    assert_eq!(deep.definition(), root.definition());
    assert_eq!(
        deep.property("x-kubernetes-preserve-unknown-fields")
            .unwrap()
            .ty(),
        Type::Boolean
    );
    // JSONSchemaPropsOrArray declares nothing: any value.
    assert_eq!(root.property("items").unwrap().ty(), Type::Any);
}

#[test]
fn autoscaling_v2_has_its_own_definitions() {
    let hpa = kind("autoscaling", "v2", "HorizontalPodAutoscaler");
    assert_eq!(
        hpa.definition(),
        Some("io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler")
    );
    assert!(at(hpa, "spec.behavior.scaleUp.policies[].periodSeconds").ty() == Type::Integer);
    // v2 only: a container resource metric's target is a MetricTarget.
    assert_eq!(
        at(hpa, "spec.metrics[].containerResource.target").definition(),
        Some("io.k8s.api.autoscaling.v2.MetricTarget")
    );
    // From the Go field's tags: `+listType=atomic`, no patch strategy.
    let metrics = at(hpa, "spec.metrics");
    assert_eq!(metrics.list_topology(), ListTopology::Atomic);
    assert_eq!(metrics.patch_strategy(), PatchStrategy::NONE);
    let conditions = at(hpa, "status.conditions");
    assert!(conditions.patch_strategy().is_merge());
    assert_eq!(conditions.patch_merge_key(), Some("type"));

    let list = builtin()
        .kind("autoscaling", "v2", "HorizontalPodAutoscalerList")
        .unwrap();
    assert_eq!(
        at(list, "items").items().unwrap().definition(),
        hpa.definition()
    );
    assert_eq!(
        builtin().scope("autoscaling", "v2", "HorizontalPodAutoscaler"),
        Some(Scope::Namespaced)
    );
    // v2beta2 keeps its own definitions.
    assert_eq!(
        kind("autoscaling", "v2beta2", "HorizontalPodAutoscaler").definition(),
        Some("io.k8s.api.autoscaling.v2beta2.HorizontalPodAutoscaler")
    );
}

#[test]
fn kinds_by_group_version_kind() {
    let deployment = kind("apps", "v1", "Deployment");
    assert_eq!(
        deployment.definition(),
        Some("io.k8s.api.apps.v1.Deployment")
    );
    let gvk = &deployment.group_version_kinds()[0];
    assert_eq!(
        (gvk.group.as_str(), gvk.version.as_str(), gvk.kind.as_str()),
        ("apps", "v1", "Deployment")
    );
    assert_eq!(
        kind("", "v1", "ConfigMap").definition(),
        Some("io.k8s.api.core.v1.ConfigMap")
    );
    assert!(builtin().kind("apps", "v1", "Nope").is_none());
    assert!(builtin().kind("", "v1", "Deployment").is_none());
    assert_eq!(builtin().scope("", "v1", "Namespace"), Some(Scope::Cluster));
    assert_eq!(builtin().scope("", "v1", "Pod"), Some(Scope::Namespaced));
    assert!(
        builtin()
            .kinds()
            .any(|g| g.group == "batch" && g.kind == "CronJob")
    );
    // v1.21.2's 618 definitions and the supplement's new ones.
    assert_eq!(builtin().definition_names().count(), 618 + 64);
}

#[test]
fn crd_schema_navigation() {
    let schema = Schema::from_openapi_v3(&json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "hosts": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                    "routes": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["host", "path"],
                        "items": {"type": "object", "properties": {"host": {"type": "string"}, "path": {"type": "string"}}}
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}, "x-kubernetes-map-type": "atomic"},
                    "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}
                }
            }
        }
    }))
    .unwrap();
    let spec = schema.root().property("spec").unwrap();
    assert_eq!(spec.property("replicas").unwrap().ty(), Type::Integer);
    assert_eq!(spec.property("port").unwrap().ty(), Type::IntOrString);
    assert_eq!(
        spec.property("hosts").unwrap().list_topology(),
        ListTopology::Set
    );
    assert_eq!(
        spec.property("routes").unwrap().list_topology(),
        ListTopology::Map {
            keys: &["host".to_owned(), "path".to_owned()]
        }
    );
    assert_eq!(
        spec.property("labels").unwrap().map_type(),
        Some(MapType::Atomic)
    );
    let template = spec.property("template").unwrap();
    assert!(template.is_embedded_resource() && template.preserves_unknown_fields());
    assert_eq!(template.definition(), None);
}

#[test]
fn crd_schema_errors_name_the_path() {
    let err = Schema::from_openapi_v3(
        &json!({"type": "object", "properties": {"spec": {"$ref": "#/definitions/x"}}}),
    )
    .unwrap_err();
    assert!(
        matches!(&err, SchemaError::Invalid { path, .. } if path == "openAPIV3Schema.properties.spec"),
        "{err}"
    );
    let err = Schema::from_openapi_v3(
        &json!({"properties": {"a": {"type": "array", "x-kubernetes-list-type": "bag"}}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "openAPIV3Schema.properties.a: x-kubernetes-list-type must be atomic, set or map, not \"bag\""
    );
    let err =
        Schema::from_openapi_v3(&json!({"properties": {"a": {"type": "thing"}}})).unwrap_err();
    assert!(err.to_string().contains("unknown type \"thing\""), "{err}");
}

#[test]
fn patch_strategy_parsing_follows_upstream() {
    assert!(PatchStrategy::parse("merge").unwrap().is_merge());
    assert!(
        PatchStrategy::parse("retainKeys,merge")
            .unwrap()
            .retains_keys()
    );
    // Two strategies only with retainKeys; never three.
    assert!(PatchStrategy::parse("merge,replace").is_err());
    assert!(PatchStrategy::parse("merge,retainKeys,replace").is_err());
    assert!(PatchStrategy::parse("bogus").is_err());
}
