//! Unknown fields and pruning: built-in kinds as the strict JSON decoder reports them,
//! custom resources as apiextensions-apiserver's structural pruning does.

use flotilla_schema::{Schema, SchemaRef, builtin, prune_unknown, unknown_fields};
use serde_json::{Value, json};

fn deployment() -> SchemaRef<'static> {
    builtin()
        .kind("apps", "v1", "Deployment")
        .expect("built-in kind")
}

/// The message the API server builds from the paths.
fn strict_message(paths: &[String]) -> String {
    let fields: Vec<String> = paths
        .iter()
        .map(|p| format!("unknown field {p:?}"))
        .collect();
    format!("strict decoding error: {}", fields.join(", "))
}

#[test]
fn built_in_unknown_fields_in_document_order() {
    let obj = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labelz": {"a": "b"}, "labels": {"any-key": "ok"}},
        "spec": {
            "foo": 1,
            "replicas": 2,
            "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx"},
                {"name": "sidecar", "imagex": "envoy", "ports": [{"containerPort": 80, "hostPortz": 1}]}
            ]}},
            "bar": {"nested": true}
        }
    });
    let paths = unknown_fields(&deployment(), &obj);
    assert_eq!(
        paths,
        [
            "metadata.labelz",
            "spec.foo",
            "spec.template.spec.containers[1].imagex",
            "spec.template.spec.containers[1].ports[0].hostPortz",
            "spec.bar",
        ]
    );
    assert_eq!(
        strict_message(&paths[1..2]),
        r#"strict decoding error: unknown field "spec.foo""#
    );
}

#[test]
fn root_type_and_object_meta_are_known() {
    let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "namespace": "b", "annotations": {"x": "y"}}});
    assert!(unknown_fields(&deployment(), &obj).is_empty());
}

#[test]
fn open_types_accept_anything() {
    // RawExtension (ControllerRevision.data) and FieldsV1 (managedFields[].fieldsV1)
    // declare no properties: the server keeps whatever they hold.
    let rev = builtin().kind("apps", "v1", "ControllerRevision").unwrap();
    let obj = json!({
        "metadata": {"managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
        "data": {"spec": {"anything": [1, 2]}},
        "revision": 1
    });
    assert!(unknown_fields(&rev, &obj).is_empty());
}

#[test]
fn map_values_are_checked_by_their_schema() {
    // CRD.spec.versions[].schema.openAPIV3Schema.properties is a map of JSONSchemaProps.
    let crd = builtin()
        .kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
        .unwrap();
    let obj = json!({"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
        "type": "object",
        "properties": {"spec": {"type": "object", "typo": true}}
    }}}]}});
    assert_eq!(
        unknown_fields(&crd, &obj),
        ["spec.versions[0].schema.openAPIV3Schema.properties.spec.typo"]
    );
}

#[test]
fn wrong_types_are_not_unknown_fields() {
    // A type mismatch is a decoding error of its own, not an unknown field.
    let obj = json!({"spec": {"replicas": {"a": 1}, "template": {"spec": {"containers": {"name": "x"}}}}});
    assert!(unknown_fields(&deployment(), &obj).is_empty());
}

#[test]
fn only_the_outermost_unknown_field_is_reported() {
    let obj = json!({"spec": {"extra": {"deeper": {"deepest": 1}}}});
    assert_eq!(unknown_fields(&deployment(), &obj), ["spec.extra"]);
}

#[test]
fn field_names_are_case_sensitive() {
    let obj = json!({"spec": {"Replicas": 1}});
    assert_eq!(unknown_fields(&deployment(), &obj), ["spec.Replicas"]);
}

#[test]
fn prune_removes_what_unknown_fields_reports() {
    let mut obj = json!({
        "metadata": {"name": "web", "labelz": 1},
        "spec": {"replicas": 1, "foo": 1, "template": {"spec": {"containers": [{"name": "web", "imagex": "a", "image": "b"}]}}}
    });
    let reported = unknown_fields(&deployment(), &obj);
    let pruned = prune_unknown(&deployment(), &mut obj);
    assert_eq!(pruned, reported);
    assert_eq!(
        obj,
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "web", "image": "b"}]}}}})
    );
    assert!(unknown_fields(&deployment(), &obj).is_empty());
}

/// A CRD version's openAPIV3Schema with preserve-unknown-fields at several levels.
fn widget_schema() -> Schema {
    Schema::from_openapi_v3(&json!({
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}},
            "spec": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "config": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}}
                    },
                    "tags": {
                        "type": "array",
                        "x-kubernetes-preserve-unknown-fields": true,
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}}
                    },
                    "rules": {"type": "array", "items": {"type": "object", "properties": {"host": {"type": "string"}}}},
                    "selectors": {"type": "object", "additionalProperties": {"type": "object", "properties": {"app": {"type": "string"}}}},
                    "empty": {"type": "object"},
                    "template": {
                        "type": "object",
                        "x-kubernetes-embedded-resource": true,
                        "properties": {"spec": {"type": "object", "properties": {"image": {"type": "string"}}}}
                    }
                }
            }
        }
    }))
    .expect("valid structural schema")
}

fn widget() -> Value {
    json!({
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}, "labelz": 1},
        "spec": {
            "replicas": 1,
            "unknownA": true,
            "config": {"free": {"form": 1}, "known": {"a": "x", "b": "pruned"}},
            "tags": [{"name": "t", "extra": 1}],
            "rules": [{"host": "h", "port": 80}],
            "selectors": {"one": {"app": "a", "tier": "b"}},
            "empty": {"x": 1},
            "template": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p", "bogus": 1},
                "spec": {"image": "i", "imagePullPolicy": "Always"},
                "status": {}
            }
        },
        "status": {"ready": true}
    })
}

#[test]
fn crd_unknown_fields_follow_structural_pruning() {
    let schema = widget_schema();
    let paths = unknown_fields(&schema.root(), &widget());
    assert_eq!(
        paths,
        [
            // The root's metadata is checked against ObjectMeta, not the CRD's property.
            "metadata.labelz",
            // Pruned fields, sorted as the server sorts them.
            "spec.config.known.b",
            "spec.empty.x",
            "spec.rules[0].port",
            "spec.selectors.one.tier",
            "spec.template.spec.imagePullPolicy",
            "spec.template.status",
            "spec.unknownA",
            "status",
            // An embedded resource's metadata comes last.
            "spec.template.metadata.bogus",
        ]
    );
    // Kept: spec.config.free (preserved), spec.tags[0].extra (elements of a preserving
    // list keep their unknown fields), template apiVersion/kind.
}

#[test]
fn crd_prune_keeps_preserved_fields() {
    let schema = widget_schema();
    let mut obj = widget();
    let pruned = prune_unknown(&schema.root(), &mut obj);
    assert_eq!(pruned, unknown_fields(&schema.root(), &widget()));
    assert_eq!(
        obj,
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "labels": {"a": "b"}},
            "spec": {
                "replicas": 1,
                "config": {"free": {"form": 1}, "known": {"a": "x"}},
                "tags": [{"name": "t", "extra": 1}],
                "rules": [{"host": "h"}],
                "selectors": {"one": {"app": "a"}},
                "empty": {},
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"image": "i"}}
            }
        })
    );
}

#[test]
fn crd_preserving_root_keeps_everything_undeclared() {
    let schema = Schema::from_openapi_v3(&json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}
    }))
    .unwrap();
    let obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "n"}, "status": {"any": 1}, "spec": {"size": 1, "colour": "red"}});
    // Declared properties are still pruned below a preserving node.
    assert_eq!(unknown_fields(&schema.root(), &obj), ["spec.colour"]);
}
