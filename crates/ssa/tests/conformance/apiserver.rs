//! The managedFields layer as kube-apiserver behaves: what `kubectl apply
//! --server-side`, client-side apply and controllers leave in `metadata.managedFields`,
//! and the conflicts they get.

use flotilla_schema::{Schema, builtin};
use flotilla_ssa::{
    ANCIENT_CHANGES, Error, FieldSet, LAST_APPLIED_ANNOTATION, OpenApiType, Path, Resource, apply,
    fieldsv1, manager_name, update,
};
use serde_json::{Value, json};

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T10:05:00Z";

fn deployments<'a>(
    reset: &'a FieldSet,
    empty: Option<&'a Value>,
) -> Resource<'a, OpenApiType<'static>> {
    let kind = builtin()
        .kind("apps", "v1", "Deployment")
        .expect("built-in Deployment");
    Resource {
        schema: OpenApiType::resource(kind),
        api_version: "apps/v1",
        subresource: "",
        reset_fields: reset,
        empty,
    }
}

fn web(replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}
                ]}
            }
        }
    })
}

fn entries(obj: &Value) -> &Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
}

fn entry<'v>(obj: &'v Value, manager: &str) -> &'v Value {
    entries(obj)
        .iter()
        .find(|e| e["manager"] == manager)
        .unwrap_or_else(|| panic!("no entry for {manager} in {}", obj["metadata"]))
}

fn conflict_message(e: Error) -> String {
    match e {
        Error::Conflict(c) => c.message(),
        other => panic!("expected a conflict, got {other}"),
    }
}

#[test]
fn kubectl_server_side_apply_of_a_deployment() {
    let none = FieldSet::new();
    let res = deployments(&none, None);
    let created = apply(&res, None, &web(2), "kubectl", false, T0).expect("create");
    assert!(created.changed);
    let e = entry(&created.object, "kubectl");
    assert_eq!(e["operation"], "Apply");
    assert_eq!(e["apiVersion"], "apps/v1");
    assert_eq!(e["time"], T0);
    assert_eq!(e["fieldsType"], "FieldsV1");
    // What a 1.33 apiserver records: the selector is atomic, the container port is
    // keyed with its default protocol, and `metadata.name`/`namespace` are never owned.
    assert_eq!(
        serde_json::to_string(&e["fieldsV1"]).expect("json"),
        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#
    );
    let keys: Vec<&String> = e.as_object().expect("entry").keys().collect();
    assert_eq!(
        keys,
        [
            "manager",
            "operation",
            "apiVersion",
            "time",
            "fieldsType",
            "fieldsV1"
        ]
    );

    // The same apply again changes nothing, not even the time.
    let again = apply(&res, Some(&created.object), &web(2), "kubectl", false, T1).expect("again");
    assert!(!again.changed);
    assert_eq!(again.object, created.object);
}

#[test]
fn client_side_apply_create_records_parents_the_zero_object_lacks() {
    let none = FieldSet::new();
    // A Deployment as Go's zero value serialises: what the apiserver compares a create
    // with.
    let zero = json!({
        "metadata": {"creationTimestamp": null},
        "spec": {"selector": null, "strategy": {}, "template": {
            "metadata": {"creationTimestamp": null}, "spec": {"containers": null}}},
        "status": {}
    });
    let res = deployments(&none, Some(&zero));
    let new = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"selector": null, "strategy": {}, "template": {
            "metadata": {"creationTimestamp": null},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
        "status": {}
    });
    let stored = update(&res, None, new, "kubectl-client-side-apply", T0);
    let e = entry(&stored, "kubectl-client-side-apply");
    assert_eq!(e["operation"], "Update");
    assert_eq!(
        fieldsv1::to_json_string(&fieldsv1::from_value(&e["fieldsV1"]).expect("fieldsV1")),
        r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#
    );
}

#[test]
fn conflict_with_client_side_apply_is_worded_like_the_apiserver() {
    let none = FieldSet::new();
    let res = deployments(&none, None);
    let stored = update(&res, None, web(2), "kubectl-client-side-apply", T0);
    let err = apply(&res, Some(&stored), &web(3), "kubectl", false, T1).expect_err("conflict");
    assert_eq!(err.status_code(), 409);
    let Error::Conflict(c) = err else {
        panic!("expected a conflict")
    };
    assert_eq!(
        c.message(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    assert_eq!(
        c.to_status(),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas",
            "reason": "Conflict",
            "details": {"causes": [{"reason": "FieldManagerConflict",
                "message": "conflict with \"kubectl-client-side-apply\" using apps/v1",
                "field": ".spec.replicas"}]},
            "code": 409
        })
    );
    // Forced, the applier takes replicas and the updater keeps the rest.
    let forced = apply(&res, Some(&stored), &web(3), "kubectl", true, T1).expect("force");
    assert_eq!(forced.object["spec"]["replicas"], 3);
    let csa = fieldsv1::from_value(&entry(&forced.object, "kubectl-client-side-apply")["fieldsV1"])
        .expect("fieldsV1");
    assert!(!csa.has(Path::fields(["spec", "replicas"]).elements()));
    assert!(csa.has(Path::fields(["spec", "selector"]).elements()));
}

fn custom<'a>(reset: &'a FieldSet) -> Resource<'a, OpenApiType<'static>> {
    Resource {
        schema: OpenApiType::deduced(),
        api_version: "example.com/v1",
        subresource: "",
        reset_fields: reset,
        empty: None,
    }
}

fn widget(spec: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec})
}

#[test]
fn several_conflicts_are_grouped_by_sorted_manager() {
    let none = FieldSet::new();
    let res = custom(&none);
    let obj = update(&res, None, widget(json!({"a": 1, "b": 1})), "m1", T0);
    let obj = apply(
        &res,
        Some(&obj),
        &widget(json!({"a": 1, "b": 1, "c": 1})),
        "m0",
        false,
        T0,
    )
    .expect("shared values")
    .object;
    let err = apply(
        &res,
        Some(&obj),
        &widget(json!({"a": 2, "b": 2})),
        "m2",
        false,
        T1,
    )
    .expect_err("conflicts");
    assert_eq!(
        conflict_message(err),
        "Apply failed with 4 conflicts: conflicts with \"m0\":\n- .spec.a\n- .spec.b\nconflicts with \"m1\" using example.com/v1:\n- .spec.a\n- .spec.b"
    );
    let err =
        apply(&res, Some(&obj), &widget(json!({"c": 2})), "m2", false, T1).expect_err("conflict");
    assert_eq!(
        conflict_message(err),
        r#"Apply failed with 1 conflict: conflict with "m0": .spec.c"#
    );
}

#[test]
fn an_update_that_changes_nothing_records_nothing() {
    let none = FieldSet::new();
    let res = custom(&none);
    let obj = update(&res, None, widget(json!({"a": 1})), "m1", T0);
    let same = update(&res, Some(&obj), obj.clone(), "m2", T1);
    assert_eq!(same, obj);
    // A real change records the writer with its time.
    let mut changed = obj.clone();
    changed["spec"]["a"] = json!(2);
    let changed = update(&res, Some(&obj), changed, "m2", T1);
    assert_eq!(entry(&changed, "m2")["time"], T1);
    // m1 loses `a` and keeps the `spec` it created.
    assert_eq!(
        serde_json::to_string(&entry(&changed, "m1")["fieldsV1"]).expect("json"),
        r#"{"f:spec":{}}"#
    );
}

#[test]
fn managed_fields_can_be_cleared_and_then_stay_untracked() {
    let none = FieldSet::new();
    let res = custom(&none);
    let obj = update(&res, None, widget(json!({"a": 1})), "m1", T0);
    let mut cleared = obj.clone();
    cleared["metadata"]["managedFields"] = json!([{}]);
    let cleared = update(&res, Some(&obj), cleared, "m1", T1);
    assert!(cleared["metadata"].get("managedFields").is_none());
    let mut next = cleared.clone();
    next["spec"]["a"] = json!(5);
    let next = update(&res, Some(&cleared), next, "m2", T1);
    assert!(next["metadata"].get("managedFields").is_none());
}

#[test]
fn the_first_apply_conflicts_with_what_was_there_before() {
    let none = FieldSet::new();
    let res = deployments(&none, None);
    let mut untracked = web(2);
    untracked["metadata"]["uid"] = json!("1234");
    let err = apply(&res, Some(&untracked), &web(5), "kubectl", false, T0).expect_err("conflict");
    assert_eq!(
        conflict_message(err),
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn old_update_managers_fold_into_ancient_changes() {
    let none = FieldSet::new();
    let res = custom(&none);
    let mut obj = apply(&res, None, &widget(json!({"x": 0})), "applier", false, T0)
        .expect("create")
        .object;
    for i in 1..=11 {
        let mut next = obj.clone();
        next["spec"][format!("f{i}")] = json!(i);
        obj = update(
            &res,
            Some(&obj),
            next,
            &format!("ctl{i:02}"),
            &format!("2024-05-01T10:00:{i:02}Z"),
        );
    }
    let managers: Vec<&str> = entries(&obj)
        .iter()
        .map(|e| e["manager"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        managers.len(),
        11,
        "one applier and ten updaters: {managers:?}"
    );
    assert_eq!(managers[0], "applier");
    let ancient = entry(&obj, ANCIENT_CHANGES);
    assert_eq!(ancient["operation"], "Update");
    assert_eq!(ancient["time"], "2024-05-01T10:00:02Z");
    assert_eq!(
        serde_json::to_string(&ancient["fieldsV1"]).expect("json"),
        r#"{"f:spec":{"f:f1":{},"f:f2":{}}}"#
    );
    assert!(!managers.contains(&"ctl01") && !managers.contains(&"ctl02"));
}

#[test]
fn reset_fields_are_neither_stored_nor_owned() {
    let status = FieldSet::from_paths(&[Path::fields(["status"])]);
    let res = custom(&status);
    let mut config = widget(json!({"a": 1}));
    config["status"] = json!({"ready": true});
    let created = apply(&res, None, &config, "m", false, T0).expect("create");
    assert!(created.object.get("status").is_none());
    // Schema-less keys are owned themselves, hence `spec`'s ".".
    assert_eq!(
        serde_json::to_string(&entry(&created.object, "m")["fieldsV1"]).expect("json"),
        r#"{"f:spec":{".":{},"f:a":{}}}"#
    );
}

#[test]
fn subresource_writes_are_separate_managers() {
    let spec = FieldSet::from_paths(&[Path::fields(["spec"])]);
    let none = FieldSet::new();
    let main = custom(&none);
    let status = Resource {
        subresource: "status",
        reset_fields: &spec,
        ..custom(&none)
    };
    let obj = apply(&main, None, &widget(json!({"a": 1})), "m", false, T0)
        .expect("create")
        .object;
    let mut next = obj.clone();
    next["status"] = json!({"ready": true});
    next["spec"]["a"] = json!(9);
    let next = update(&status, Some(&obj), next, "ctl", T1);
    assert_eq!(next["spec"]["a"], 1, "a /status write keeps spec");
    let e = entry(&next, "ctl");
    assert_eq!(e["subresource"], "status");
    assert_eq!(
        serde_json::to_string(&e["fieldsV1"]).expect("json"),
        r#"{"f:status":{".":{},"f:ready":{}}}"#
    );
    let err = apply(
        &status,
        Some(&next),
        &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"ready": false}}),
        "other",
        false,
        T1,
    )
    .expect_err("conflict");
    assert_eq!(
        conflict_message(err),
        r#"Apply failed with 1 conflict: conflict with "ctl" with subresource "status" using example.com/v1: .status.ready"#
    );
}

#[test]
fn kubectl_takes_over_from_client_side_apply_through_the_annotation() {
    let none = FieldSet::new();
    let res = deployments(&none, None);
    let mut csa = web(2);
    let last = serde_json::to_string(&web(2)).expect("json");
    csa["metadata"]["annotations"] = json!({ LAST_APPLIED_ANNOTATION: last });
    let stored = update(&res, None, csa, "kubectl-client-side-apply", T0);

    // Another manager still conflicts with client-side apply.
    let err = apply(&res, Some(&stored), &web(3), "argocd", false, T1).expect_err("conflict");
    assert!(conflict_message(err).contains("kubectl-client-side-apply"));

    // kubectl itself may take the fields the annotation describes.
    let upgraded = apply(&res, Some(&stored), &web(3), "kubectl", false, T1).expect("upgrade");
    assert_eq!(upgraded.object["spec"]["replicas"], 3);
    let annotation = upgraded.object["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
        .as_str()
        .expect("annotation kept");
    assert!(annotation.ends_with('\n'));
    let recorded: Value = serde_json::from_str(annotation).expect("JSON");
    assert_eq!(recorded, web(3));
    assert!(annotation.starts_with(r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":"#));
}

#[test]
fn an_applier_removes_what_it_stops_sending_unless_someone_else_owns_it() {
    let none = FieldSet::new();
    let res = custom(&none);
    let mut config = widget(json!({"a": 1}));
    config["metadata"]["labels"] = json!({"x": "1", "y": "1"});
    let obj = apply(&res, None, &config, "m", false, T0)
        .expect("create")
        .object;
    let mut other = obj.clone();
    other["metadata"]["labels"]["y"] = json!("2");
    let obj = update(&res, Some(&obj), other, "ctl", T0);
    config["metadata"]["labels"] = json!({});
    let obj = apply(&res, Some(&obj), &config, "m", false, T1)
        .expect("drop labels")
        .object;
    assert_eq!(obj["metadata"]["labels"], json!({"y": "2"}));
}

#[test]
fn bad_apply_requests() {
    let none = FieldSet::new();
    let res = deployments(&none, None);
    let mut with_fields = web(1);
    with_fields["metadata"]["managedFields"] = json!([]);
    let err = apply(&res, None, &with_fields, "m", false, T0).expect_err("rejected");
    assert_eq!(err.status_code(), 400);
    assert_eq!(err.to_string(), "metadata.managedFields must be nil");
    assert_eq!(
        apply(&res, None, &web(1), "", false, T0)
            .expect_err("no manager")
            .to_string(),
        "fieldManager: Required value: is required for apply patch"
    );
    let mut twice = web(1);
    twice["spec"]["template"]["spec"]["containers"] = json!([
        {"name": "web", "image": "a"}, {"name": "web", "image": "b"}
    ]);
    assert_eq!(
        apply(&res, None, &twice, "m", false, T0)
            .expect_err("duplicate")
            .to_string(),
        r#"failed to create typed patch object (default/web; apps/v1, Kind=Deployment): .spec.template.spec.containers: duplicate entries for key [name="web"]"#
    );
}

#[test]
fn manager_names_come_from_the_parameter_or_the_user_agent() {
    assert_eq!(manager_name(Some("flux"), Some("kubectl/v1.30")), "flux");
    assert_eq!(
        manager_name(
            None,
            Some("kubectl/v1.30.0 (linux/amd64) kubernetes/7c48c2b")
        ),
        "kubectl"
    );
    assert_eq!(
        manager_name(Some(""), Some("kube-controller-manager/v1.33.0")),
        "kube-controller-manager"
    );
    assert_eq!(manager_name(None, None), "");
}

#[test]
fn custom_resource_list_topology_comes_from_its_schema() {
    let crd = Schema::from_openapi_v3(&json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "port": {"type": "integer"}}}},
            "args": {"type": "array", "items": {"type": "string"}}
        }}}
    }))
    .expect("CRD schema");
    let none = FieldSet::new();
    let res = Resource {
        schema: OpenApiType::resource(crd.root()),
        ..custom(&none)
    };
    let obj = apply(
        &res,
        None,
        &widget(json!({"ports": [{"name": "a", "port": 1}], "args": ["x"]})),
        "one",
        false,
        T0,
    )
    .expect("one")
    .object;
    let obj = apply(
        &res,
        Some(&obj),
        &widget(json!({"ports": [{"name": "b", "port": 2}]})),
        "two",
        false,
        T0,
    )
    .expect("list-map items are separate")
    .object;
    assert_eq!(
        obj["spec"]["ports"],
        json!([{"name": "a", "port": 1}, {"name": "b", "port": 2}])
    );
    let err = apply(
        &res,
        Some(&obj),
        &widget(json!({"args": ["y"]})),
        "two",
        false,
        T1,
    )
    .expect_err("an unmarked list is atomic");
    assert_eq!(
        conflict_message(err),
        r#"Apply failed with 1 conflict: conflict with "one": .spec.args"#
    );
}
