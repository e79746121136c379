use super::*;
use crate::registry::crd_types;

fn widget_crd(size_type: &str) -> Value {
    json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
          "names": {"plural": "widgets", "kind": "Widget"},
          "versions": [{"name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 5}}},
                "spec": {"type": "object", "properties": {
                    "size": {"type": size_type},
                    "note": {"type": "string", "nullable": true},
                    "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}}},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                           "properties": {"size": {"type": "integer"}}}}}},
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"}}}]}
    })
}

fn with_widgets(size_type: &str) -> Registry {
    let mut registry = Registry::builtin();
    registry.set_crd(
        "widgets.example.com",
        crd_types(&widget_crd(size_type)).expect("valid CRD"),
    );
    registry
}

fn patch_operation<'a>(doc: &'a Value, path: &str) -> &'a Value {
    let op = &doc["paths"][path]["patch"];
    assert!(op.is_object(), "no PATCH at {path}");
    op
}

fn param_names(op: &Value) -> Vec<&str> {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect()
}

fn content_types(op: &Value) -> Vec<&str> {
    op["requestBody"]["content"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect()
}

#[test]
fn every_builtin_kind_has_its_upstream_definition() {
    let registry = Registry::builtin();
    for t in registry.all() {
        assert!(
            name_for_kind(&t.group, &t.version, &t.kind).is_some(),
            "{}/{} {}",
            t.group,
            t.version,
            t.kind
        );
        let list = format!("{}List", t.kind);
        assert!(
            t.is_create_only() || name_for_kind(&t.group, &t.version, &list).is_some(),
            "{}/{} {list}",
            t.group,
            t.version
        );
    }
}

#[test]
fn builtin_patch_operations_offer_field_validation_and_strategic_merge() {
    let doc = v3_group_version(&Registry::builtin(), "apps", "v1").expect("apps/v1");
    assert_eq!(doc["openapi"], "3.0.0");
    for path in [
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status",
    ] {
        let op = patch_operation(&doc, path);
        assert_eq!(op["x-kubernetes-action"], "patch");
        assert_eq!(
            op["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        assert_eq!(
            param_names(op),
            ["dryRun", "fieldManager", "fieldValidation", "force"]
        );
        assert!(
            param_names(op)
                .iter()
                .all(|_| op["parameters"][2]["in"] == "query")
        );
        assert!(
            op["parameters"][2]["description"]
                .as_str()
                .is_some_and(|d| d.starts_with(
                    "fieldValidation instructs the server on how to handle objects in the request"
                ))
        );
        assert_eq!(
            content_types(op),
            [
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json"
            ]
        );
    }
    let scale = patch_operation(
        &doc,
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
    );
    assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "Scale");
    assert_eq!(scale["operationId"], "patchAppsV1NamespacedDeploymentScale");
    let collection = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"];
    assert_eq!(collection["get"]["x-kubernetes-action"], "list");
    assert_eq!(collection["post"]["x-kubernetes-action"], "post");
    assert_eq!(
        collection["delete"]["x-kubernetes-action"],
        "deletecollection"
    );
    let object = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    for (method, action) in [("get", "get"), ("put", "put"), ("delete", "delete")] {
        assert_eq!(object[method]["x-kubernetes-action"], action);
    }
    assert_eq!(
        doc["paths"]["/apis/apps/v1/watch/deployments"]["get"]["x-kubernetes-action"],
        "watchlist"
    );
    assert!(doc["paths"]["/apis/apps/v1/"]["get"].is_object());
}

#[test]
fn builtin_schemas_keep_the_patch_extensions() {
    let doc = v3_group_version(&Registry::builtin(), "apps", "v1").expect("apps/v1");
    let schemas = &doc["components"]["schemas"];
    let strategy = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
    assert_eq!(
        strategy["allOf"],
        json!([{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}])
    );
    assert_eq!(strategy["x-kubernetes-patch-strategy"], "retainKeys");
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(
        containers["items"],
        json!({"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"})
    );
    assert_eq!(
        schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(
        schemas[INT_OR_STRING]["oneOf"],
        json!([{"type": "integer"}, {"type": "string"}])
    );
    assert_eq!(schemas[INT_OR_STRING]["format"], "int-or-string");
    assert!(schemas[SCALE].is_object());
    assert!(!doc.to_string().contains("#/definitions/"));
    // Only what apps/v1 needs, not the whole API.
    assert!(schemas.get("io.k8s.api.core.v1.Service").is_none());
}

#[test]
fn autoscaling_v2_is_served_from_stand_in_definitions() {
    let doc = v3_group_version(&Registry::builtin(), "autoscaling", "v2").expect("autoscaling/v2");
    let hpa = &doc["components"]["schemas"]["io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"];
    assert_eq!(hpa["x-kubernetes-group-version-kind"][0]["version"], "v2");
    assert!(!doc.to_string().contains("io.k8s.api.autoscaling.v2beta2."));
}

#[test]
fn custom_resources_get_the_schema_the_apiextensions_server_publishes() {
    let doc = v3_group_version(&with_widgets("integer"), "example.com", "v1").expect("served");
    let widget = &doc["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(
        widget["x-kubernetes-group-version-kind"],
        json!([{"group": "example.com", "kind": "Widget", "version": "v1"}])
    );
    assert_eq!(
        widget["properties"]["metadata"]["allOf"],
        json!([{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}])
    );
    assert_eq!(widget["properties"]["kind"]["type"], "string");
    assert_eq!(
        widget["properties"]["spec"]["properties"]["tags"]["x-kubernetes-list-type"],
        "set"
    );
    let list = &doc["components"]["schemas"]["com.example.v1.WidgetList"];
    assert_eq!(
        list["properties"]["items"]["items"],
        json!({"$ref": "#/components/schemas/com.example.v1.Widget"})
    );
    assert!(doc["components"]["schemas"][OBJECT_META].is_object());
    assert!(doc["components"]["schemas"][SCALE].is_object());

    let op = patch_operation(
        &doc,
        "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}",
    );
    assert!(param_names(op).contains(&"fieldValidation"));
    assert_eq!(
        content_types(op),
        [
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json"
        ]
    );
    assert_eq!(op["operationId"], "patchExampleComV1NamespacedWidget");
    assert!(
        doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/status"]["patch"]
            .is_object()
    );
    assert!(
        doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}/scale"]["patch"]
            .is_object()
    );
    assert!(doc["paths"].get("/apis/example.com/v1/").is_none());
}

#[test]
fn the_root_lists_every_group_version_and_hashes_follow_content() {
    let before = v3_root(&Registry::builtin());
    assert!(
        before["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .is_some_and(|u| u.starts_with("/openapi/v3/api/v1?hash="))
    );
    assert!(before["paths"]["apis/apps/v1"].is_object());
    assert!(before["paths"].get("apis/example.com/v1").is_none());

    let with_crd = v3_root(&with_widgets("integer"));
    assert_eq!(
        with_crd["paths"]["apis/apps/v1"],
        before["paths"]["apis/apps/v1"]
    );
    let url = |root: &Value| root["paths"]["apis/example.com/v1"]["serverRelativeURL"].clone();
    assert!(url(&with_crd).is_string());
    assert_ne!(
        url(&with_crd),
        url(&v3_root(&with_widgets("string"))),
        "a schema change changes the hash"
    );
    assert_eq!(
        url(&with_crd),
        url(&v3_root(&with_widgets("integer"))),
        "same content, same hash"
    );
    assert_eq!(
        v3_group_version(&Registry::builtin(), "example.com", "v1"),
        None
    );
}

#[test]
fn v2_covers_every_group_version_in_swagger_form() {
    let v2 = v2_json(&with_widgets("integer"));
    assert_eq!(v2["swagger"], "2.0");
    assert_eq!(v2["security"], json!([{"BearerToken": []}]));
    let patch = &v2["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(
        patch["parameters"][0],
        json!({"name": "body", "in": "body", "required": true,
        "schema": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    );
    assert!(
        patch["consumes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c == "application/strategic-merge-patch+json")
    );
    assert!(v2["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets"].is_object());
    let definitions = &v2["definitions"];
    assert!(definitions["io.k8s.api.apps.v1.Deployment"].is_object());
    let spec = &definitions["com.example.v1.Widget"]["properties"]["spec"]["properties"];
    assert_eq!(
        spec["note"],
        json!({}),
        "nullable values lose their type in v2"
    );
    let status = &definitions["com.example.v1.Widget"]["properties"]["status"];
    assert!(
        status.get("properties").is_none(),
        "preserve-unknown-fields drops properties in v2"
    );
    assert_eq!(
        definitions["com.example.v1.Widget"]["properties"]["metadata"]["$ref"],
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(!v2.to_string().contains("#/components/"));
}

#[test]
fn v2_protobuf_is_a_gnostic_document() {
    let pb = v2_protobuf(&v2_json(&Registry::builtin()));
    // Field 1 (swagger, length-delimited) = "2.0", then field 2 (info).
    assert_eq!(&pb[..6], [0x0a, 0x03, b'2', b'.', b'0', 0x12]);
    assert!(pb.len() > 1_000_000);
}

#[test]
fn references_with_siblings_become_all_of() {
    let schema = json!({"properties": {
        "a": {"$ref": "#/definitions/x.A"},
        "b": {"$ref": "#/definitions/x.B", "description": "b", "x-kubernetes-patch-strategy": "retainKeys"},
        "c": {"type": "array", "items": {"$ref": "#/definitions/x.C"}}
    }});
    let v3 = to_v3("x.Y", &schema);
    assert_eq!(
        v3["properties"]["a"],
        json!({"$ref": "#/components/schemas/x.A"})
    );
    assert_eq!(
        v3["properties"]["b"],
        json!({"allOf": [{"$ref": "#/components/schemas/x.B"}], "description": "b", "x-kubernetes-patch-strategy": "retainKeys"})
    );
    assert_eq!(
        v3["properties"]["c"]["items"],
        json!({"$ref": "#/components/schemas/x.C"})
    );
}

#[test]
fn custom_schema_names_reverse_the_group() {
    assert_eq!(
        custom_schema_name("stable.example.com", "v1", "CronTab"),
        "com.example.stable.v1.CronTab"
    );
    assert_eq!(v3_path_key("", "v1"), "api/v1");
    assert_eq!(v3_path_key("apps", "v1"), "apis/apps/v1");
}
