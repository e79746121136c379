//! The decoder against bodies recorded from kubectl 1.32, and against hand-built messages
//! for the types kubectl's `create` commands never send.
//!
//! Each recording `tests/fixtures/protobuf/<name>.pb` is the body kubectl sent for a
//! `kubectl create …` command (or `autoscale`, `auth can-i`); `<name>.json`, where present, is what the same command
//! printed with `-o json --dry-run=client`: the object Go's JSON encoder writes.

use std::path::PathBuf;

use prost_reflect::prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, MapKey, MessageDescriptor, Value as Proto};
use serde_json::{Value, json};

use super::gofacts;
use super::json::go_duration;
use super::{DecodeError, MAGIC, decode_object, schema};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf")
}

fn recorded(name: &str) -> Value {
    let body = std::fs::read(fixtures().join(format!("{name}.pb"))).expect("recording exists");
    decode_object(&body).expect("recording decodes")
}

fn dry_run(name: &str) -> Value {
    let text =
        std::fs::read_to_string(fixtures().join(format!("{name}.json"))).expect("JSON exists");
    serde_json::from_str(&text).expect("kubectl printed JSON")
}

/// Fields Go writes even when zero or nil because their struct tag lacks `omitempty`
/// (`"rules": null`, `"expectedPods": 0`). Zero and absent look alike on the wire, so the
/// decoder leaves them out, which the API server reads as the same zero value. Removed from
/// kubectl's JSON before comparing: (recording, JSON pointer of the parent, key).
const ZERO_NON_OMITEMPTY: &[(&str, &str, &str)] = &[
    ("autoscale", "/status", "currentReplicas"),
    ("autoscale", "/status", "desiredReplicas"),
    ("clusterrole", "", "rules"),
    ("pdb", "/status", "disruptionsAllowed"),
    ("pdb", "/status", "currentHealthy"),
    ("pdb", "/status", "desiredHealthy"),
    ("pdb", "/status", "expectedPods"),
];

/// The gitoxide-style baseline: every recording against its dry-run JSON, scored.
#[test]
fn recordings_decode_to_what_kubectl_prints_as_json() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixtures directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        .collect();
    names.sort();
    let mut mismatches = Vec::new();
    for name in &names {
        let mut expected = dry_run(name);
        for (recording, pointer, key) in ZERO_NON_OMITEMPTY {
            if recording == name
                && let Some(parent) = expected.pointer_mut(pointer).and_then(Value::as_object_mut)
            {
                parent.remove(*key);
            }
        }
        let actual = recorded(name);
        if actual != expected {
            mismatches.push(format!("{name}:\n  decoded {actual}\n  kubectl {expected}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "out of {} recordings, {} decoded to kubectl's JSON; mismatches:\n{}",
        names.len(),
        names.len() - mismatches.len(),
        mismatches.join("\n")
    );
    assert!(names.len() >= 15, "recordings went missing: {names:?}");
}

#[test]
fn deployment_fields() {
    let d = recorded("deployment");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["apiVersion"], "apps/v1");
    assert_eq!(d["metadata"]["name"], "web");
    // ObjectMeta's empty strings and zero generation are on the wire but are not set.
    assert_eq!(
        d["metadata"],
        json!({"name": "web", "creationTimestamp": null, "labels": {"app": "web"}})
    );
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(
        d["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "nginx");
    assert_eq!(container["image"], "nginx");
    assert_eq!(container["ports"], json!([{"containerPort": 80}]));
    assert_eq!(container["resources"], json!({}));
    assert_eq!(d["spec"]["strategy"], json!({}));
    assert_eq!(d["status"], json!({}));
    // Key order is Go's: TypeMeta, then the struct's fields.
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["kind", "apiVersion", "metadata", "spec", "status"]);
}

#[test]
fn explicit_zero_replicas_survives() {
    // `replicas` is a *int32: zero on the wire was set on purpose.
    let d = recorded("deployment0");
    assert_eq!(d["spec"]["replicas"], 0);
}

#[test]
fn secret_and_configmap_bytes_are_base64() {
    let secret = recorded("secret");
    let expected = dry_run("secret");
    assert_eq!(secret["data"]["user"], "YWRtaW4=");
    assert_eq!(secret["data"]["blob"], expected["data"]["blob"]);
    assert_eq!(secret["data"], expected["data"]);
    assert_eq!(secret.get("type"), expected.get("type"));

    let cm = recorded("configmap");
    assert_eq!(cm["data"], json!({"a": "b", "text": "line1\nline2\n"}));
    assert_eq!(cm["binaryData"], dry_run("configmap")["binaryData"]);
}

#[test]
fn service_target_ports_are_int_or_string() {
    let s = recorded("service-nodeport");
    assert_eq!(s["spec"]["type"], "NodePort");
    let ports = s["spec"]["ports"].as_array().unwrap();
    assert_eq!(ports[0]["port"], 80);
    assert_eq!(ports[0]["targetPort"], 8080);
    assert_eq!(ports[0]["nodePort"], 30080);
    assert_eq!(ports[1]["targetPort"], "https");
    assert_eq!(
        s["spec"]["ports"],
        dry_run("service-nodeport")["spec"]["ports"]
    );
    // A PodDisruptionBudget's `minAvailable: 0` is a set IntOrString, not an unset one.
    assert_eq!(recorded("pdb")["spec"]["minAvailable"], 0);
}

#[test]
fn job_from_cronjob_keeps_owner_reference_pointers() {
    let job = recorded("job-from-cronjob");
    assert_eq!(job, dry_run("job-from-cronjob"));
    let owner = &job["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "CronJob");
    assert_eq!(owner["controller"], true);
    assert_eq!(
        job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
}

#[test]
fn token_request() {
    // `kubectl create token robot --duration=1h --audience=api --audience=vault
    //  --bound-object-kind=Pod --bound-object-name=p1 --bound-object-uid=…`
    let t = recorded("token");
    assert_eq!(
        t,
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"creationTimestamp": null},
            "spec": {
                "audiences": ["api", "vault"],
                "expirationSeconds": 3600,
                "boundObjectRef": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "name": "p1",
                    // `uID` on the wire.
                    "uid": "0c1b2a39-1111-2222-3333-444455556666"
                }
            },
            // Go writes `"token": ""` too (no omitempty); see ZERO_NON_OMITEMPTY.
            "status": {"expirationTimestamp": null}
        })
    );
}

#[test]
fn self_subject_access_review() {
    // `kubectl auth can-i get pods`
    let review = recorded("can-i");
    assert_eq!(review["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(
        review["spec"],
        json!({"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}})
    );
    // Go writes `"allowed": false` too (no omitempty); see ZERO_NON_OMITEMPTY.
    assert_eq!(review["status"], json!({}));
}

// ---- hand-built messages ----

/// Build a message from JSON written with protobuf field names and shapes (`Time` as
/// `{"seconds": …}`), the way a Go client would fill it in.
fn build(descriptor: MessageDescriptor, spec: &Value) -> DynamicMessage {
    let mut message = DynamicMessage::new(descriptor.clone());
    for (name, value) in spec.as_object().expect("an object") {
        let field = descriptor
            .get_field_by_name(name)
            .unwrap_or_else(|| panic!("{} has no field {name}", descriptor.full_name()));
        let proto = if field.is_map() {
            let entry = field.kind();
            let entry = entry.as_message().expect("map entry");
            let value_field = entry.map_entry_value_field();
            Proto::Map(
                value
                    .as_object()
                    .expect("map as object")
                    .iter()
                    .map(|(k, v)| (MapKey::String(k.clone()), single(&value_field.kind(), v)))
                    .collect(),
            )
        } else if field.is_list() {
            Proto::List(
                value
                    .as_array()
                    .expect("list as array")
                    .iter()
                    .map(|v| single(&field.kind(), v))
                    .collect(),
            )
        } else {
            single(&field.kind(), value)
        };
        message.set_field(&field, proto);
    }
    message
}

fn single(kind: &Kind, value: &Value) -> Proto {
    match kind {
        Kind::Message(m) => Proto::Message(build(m.clone(), value)),
        Kind::String => Proto::String(value.as_str().expect("string").to_owned()),
        Kind::Bytes => Proto::Bytes(
            value
                .as_str()
                .expect("bytes as text")
                .as_bytes()
                .to_vec()
                .into(),
        ),
        Kind::Bool => Proto::Bool(value.as_bool().expect("bool")),
        Kind::Int32 => Proto::I32(value.as_i64().expect("int") as i32),
        Kind::Int64 => Proto::I64(value.as_i64().expect("int")),
        Kind::Double => Proto::F64(value.as_f64().expect("number")),
        other => panic!("no test support for {other:?}"),
    }
}

/// A complete body: magic, envelope, object.
fn body(api_version: &str, kind: &str, go_name: &str, spec: Value) -> Vec<u8> {
    let schema = schema::get().expect("schema");
    let descriptor = schema.by_go_name(go_name).expect("known message");
    let object = build(descriptor, &spec).encode_to_vec();
    let envelope = build(
        schema.unknown(),
        &json!({"typeMeta": {"apiVersion": api_version, "kind": kind}}),
    );
    let mut envelope = envelope;
    let raw = schema.unknown().get_field_by_name("raw").expect("raw");
    envelope.set_field(&raw, Proto::Bytes(object.into()));
    let mut out = MAGIC.to_vec();
    out.extend(envelope.encode_to_vec());
    out
}

#[test]
fn times_quantities_and_inline_structs() {
    let pod = decode_object(&body(
        "v1",
        "Pod",
        "k8s.io/api/core/v1.Pod",
        json!({
            "metadata": {
                "name": "p", "namespace": "", "generation": 0,
                "creationTimestamp": {"seconds": 1_700_000_000, "nanos": 999},
                "deletionTimestamp": {},
                "deletionGracePeriodSeconds": 0
            },
            "spec": {
                "hostNetwork": false,
                "terminationGracePeriodSeconds": 0,
                "volumes": [{"name": "cfg", "volumeSource": {"configMap": {
                    "localObjectReference": {"name": "settings"},
                    "defaultMode": 420,
                    "optional": false
                }}}],
                "containers": [{
                    "name": "app",
                    "workingDir": "",
                    "resources": {"limits": {"cpu": {"string": "500m"}, "memory": {}}},
                    "livenessProbe": {
                        "handler": {"httpGet": {"path": "/healthz", "port": {"type": 1, "strVal": "http"}}},
                        "initialDelaySeconds": 0,
                        "periodSeconds": 10
                    },
                    "securityContext": {"runAsUser": 0, "privileged": false}
                }]
            }
        }),
    ))
    .expect("decodes");
    assert_eq!(
        pod["metadata"],
        // Time drops nanos; a zero Time is null; a set *int64 stays.
        json!({
            "name": "p",
            "creationTimestamp": "2023-11-14T22:13:20Z",
            "deletionTimestamp": null,
            "deletionGracePeriodSeconds": 0
        })
    );
    let spec = &pod["spec"];
    assert_eq!(spec.get("hostNetwork"), None);
    assert_eq!(spec["terminationGracePeriodSeconds"], 0);
    assert_eq!(
        spec["volumes"][0],
        json!({"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420, "optional": false}})
    );
    let container = &spec["containers"][0];
    assert_eq!(container.get("workingDir"), None);
    assert_eq!(
        container["resources"]["limits"],
        json!({"cpu": "500m", "memory": "0"})
    );
    assert_eq!(
        container["livenessProbe"],
        json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10})
    );
    assert_eq!(
        container["securityContext"],
        json!({"runAsUser": 0, "privileged": false})
    );
}

#[test]
fn micro_times_and_pointer_strings() {
    let lease = decode_object(&body(
        "coordination.k8s.io/v1",
        "Lease",
        "k8s.io/api/coordination/v1.Lease",
        json!({
            "metadata": {"name": "leader"},
            "spec": {
                "holderIdentity": "",
                "leaseDurationSeconds": 15,
                "acquireTime": {"seconds": 1_700_000_000, "nanos": 123_456_789},
                "renewTime": {"seconds": 1_700_000_001},
                "leaseTransitions": 0
            }
        }),
    ))
    .expect("decodes");
    assert_eq!(
        lease["spec"],
        json!({
            "holderIdentity": "",
            "leaseDurationSeconds": 15,
            "acquireTime": "2023-11-14T22:13:20.123456Z",
            "renewTime": "2023-11-14T22:13:21.000000Z",
            "leaseTransitions": 0
        })
    );
}

#[test]
fn raw_extensions_are_embedded_json() {
    let revision = decode_object(&body(
        "apps/v1",
        "ControllerRevision",
        "k8s.io/api/apps/v1.ControllerRevision",
        json!({
            "metadata": {"name": "web-1"},
            "data": {"raw": "{\"spec\":{\"template\":{\"a\":1.5,\"b\":[true,null]}}}"},
            "revision": 3
        }),
    ))
    .expect("decodes");
    assert_eq!(
        revision["data"],
        json!({"spec": {"template": {"a": 1.5, "b": [true, null]}}})
    );
    assert_eq!(revision["revision"], 3);

    let broken = decode_object(&body(
        "apps/v1",
        "ControllerRevision",
        "k8s.io/api/apps/v1.ControllerRevision",
        json!({"data": {"raw": "{not json"}}),
    ));
    match broken {
        Err(DecodeError::Value { path, kind, .. }) => {
            assert_eq!(path, "data");
            assert_eq!(kind, "ControllerRevision");
        }
        other => panic!("expected a value error, got {other:?}"),
    }
}

#[test]
fn custom_resource_definition_schemas() {
    let crd = decode_object(&body(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.CustomResourceDefinition",
        json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "names": {"plural": "widgets", "kind": "Widget"},
                "scope": "Namespaced",
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {
                        "type": "object",
                        "xKubernetesPreserveUnknownFields": false,
                        "properties": {
                            "size": {"type": "integer", "maximum": 10.0, "minimum": 0.5,
                                     "default": {"raw": "3"}, "maxLength": 0},
                            "port": {"xKubernetesIntOrString": true, "ref": "#/port"},
                            "tags": {"type": "array", "items": {"schema": {"type": "string"}},
                                     "xKubernetesListType": "set"},
                            "labels": {"type": "object", "additionalProperties": {"allows": true}},
                            "either": {"anyOf": [{"type": "string"}],
                                       "enum": [{"raw": "\"a\""}, {"raw": "1"}]}
                        },
                        "dependencies": {"port": {"property": ["size"]}},
                        "required": ["size"]
                    }}
                }]
            }
        }),
    ))
    .expect("decodes");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_eq!(
        *schema,
        json!({
            "type": "object",
            "required": ["size"],
            "properties": {
                "either": {"enum": ["a", 1], "anyOf": [{"type": "string"}]},
                "labels": {"type": "object", "additionalProperties": true},
                "port": {"$ref": "#/port", "x-kubernetes-int-or-string": true},
                "size": {"type": "integer", "default": 3, "maximum": 10, "minimum": 0.5, "maxLength": 0},
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
            },
            "dependencies": {"port": ["size"]},
            "x-kubernetes-preserve-unknown-fields": false
        })
    );
    assert_eq!(crd["spec"]["versions"][0]["served"], true);
}

#[test]
fn webhook_configurations_use_json_names_and_inline_rules() {
    let config = decode_object(&body(
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        "k8s.io/api/admissionregistration/v1.MutatingWebhookConfiguration",
        json!({
            "metadata": {"name": "hooks"},
            "Webhooks": [{
                "name": "a.example.com",
                "clientConfig": {"service": {"namespace": "ns", "name": "svc", "port": 443}},
                "rules": [{"operations": ["CREATE"], "rule": {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}}],
                "sideEffects": "None",
                "timeoutSeconds": 0,
                "admissionReviewVersions": ["v1"]
            }]
        }),
    ))
    .expect("decodes");
    assert_eq!(
        config["webhooks"][0]["rules"],
        json!([{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}])
    );
    assert_eq!(config["webhooks"][0]["timeoutSeconds"], 0);
    assert_eq!(
        config["webhooks"][0]["clientConfig"]["service"]["port"],
        443
    );
}

#[test]
fn delete_options_and_scale() {
    // client-go sends DeleteOptions under the deleted resource's apiVersion.
    let options = decode_object(&body(
        "apps/v1",
        "DeleteOptions",
        "k8s.io/apimachinery/pkg/apis/meta/v1.DeleteOptions",
        json!({
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u-1"},
            "orphanDependents": false,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"]
        }),
    ))
    .expect("decodes");
    assert_eq!(
        options,
        json!({
            "kind": "DeleteOptions",
            "apiVersion": "apps/v1",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u-1"},
            "orphanDependents": false,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"]
        })
    );

    // Scale's `replicas` is a plain int32 with omitempty: zero is written as nothing.
    let scale = decode_object(&body(
        "autoscaling/v1",
        "Scale",
        "k8s.io/api/autoscaling/v1.Scale",
        json!({"metadata": {"name": "web"}, "spec": {"replicas": 0}, "status": {"replicas": 2, "selector": "app=web"}}),
    ))
    .expect("decodes");
    assert_eq!(scale["spec"], json!({}));
    assert_eq!(
        scale["status"],
        json!({"replicas": 2, "selector": "app=web"})
    );
}

#[test]
fn autoscaling_v2_targets() {
    let hpa = decode_object(&body(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "k8s.io/api/autoscaling/v2.HorizontalPodAutoscaler",
        json!({
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 1,
                "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "AverageValue", "averageValue": {"string": "250m"}, "averageUtilization": 0
                }}}]
            }
        }),
    ))
    .expect("decodes");
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["target"],
        json!({"type": "AverageValue", "averageValue": "250m", "averageUtilization": 0})
    );
}

#[test]
fn event_times() {
    let event = decode_object(&body(
        "v1",
        "Event",
        "k8s.io/api/core/v1.Event",
        json!({
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p"},
            "reason": "Started",
            "firstTimestamp": {"seconds": 0},
            "lastTimestamp": {},
            "count": 0,
            "eventTime": {"seconds": 1_700_000_000, "nanos": 5_000},
            "series": {"count": 2, "lastObservedTime": {"seconds": 1_700_000_000}}
        }),
    ))
    .expect("decodes");
    assert_eq!(event["firstTimestamp"], "1970-01-01T00:00:00Z");
    assert_eq!(event["lastTimestamp"], Value::Null);
    assert_eq!(event.get("count"), None);
    assert_eq!(event["eventTime"], "2023-11-14T22:13:20.000005Z");
    assert_eq!(
        event["series"],
        json!({"count": 2, "lastObservedTime": "2023-11-14T22:13:20.000000Z"})
    );
}

// ---- errors ----

#[test]
fn bodies_that_are_not_kubernetes_protobuf() {
    assert!(matches!(
        decode_object(b"{\"kind\":\"ConfigMap\"}"),
        Err(DecodeError::NotProtobuf)
    ));
    assert!(matches!(
        decode_object(b"k8s\0\x0a\xff"),
        Err(DecodeError::Envelope(_))
    ));
    let no_kind = body("v1", "", "k8s.io/api/core/v1.ConfigMap", json!({}));
    assert!(matches!(
        decode_object(&no_kind),
        Err(DecodeError::MissingKind { .. })
    ));
    let no_version = body("", "ConfigMap", "k8s.io/api/core/v1.ConfigMap", json!({}));
    assert!(matches!(
        decode_object(&no_version),
        Err(DecodeError::MissingVersion { .. })
    ));
}

#[test]
fn unknown_kinds_are_named() {
    let custom = body(
        "example.com/v1",
        "Widget",
        "k8s.io/api/core/v1.ConfigMap",
        json!({}),
    );
    let err = decode_object(&custom).unwrap_err();
    assert!(matches!(err, DecodeError::UnknownKind { .. }));
    assert_eq!(
        err.to_string(),
        "no kind \"Widget\" is registered for version \"example.com/v1\" in the protobuf schema"
    );
    // A look-alike group outside k8s.io is a custom resource, not the built-in.
    let lookalike = body(
        "apps.example.com/v1",
        "Deployment",
        "k8s.io/api/apps/v1.Deployment",
        json!({}),
    );
    assert!(matches!(
        decode_object(&lookalike),
        Err(DecodeError::UnknownKind { .. })
    ));
}

#[test]
fn truncated_objects_name_their_kind() {
    let mut body = body(
        "v1",
        "ConfigMap",
        "k8s.io/api/core/v1.ConfigMap",
        json!({"metadata": {"name": "x"}}),
    );
    // Corrupt the object: claim a longer name than the bytes that follow.
    let position = body
        .windows(3)
        .position(|w| w == [0x0a, 0x01, b'x'])
        .expect("name field");
    body[position + 1] = 0x40;
    let err = decode_object(&body).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("ConfigMap in version \"v1\" cannot be handled as a ConfigMap"),
        "{err}"
    );
}

// ---- the schema and the Go facts ----

#[test]
fn every_builtin_kind_has_a_message() {
    let schema = schema::get().expect("schema");
    let mut missing = Vec::new();
    for resource in crate::resources::builtin_types() {
        if schema
            .message_for(&resource.api_version(), &resource.kind)
            .is_none()
        {
            missing.push(format!("{} {}", resource.api_version(), resource.kind));
        }
    }
    for (api_version, kind) in [
        ("autoscaling/v1", "Scale"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("v1", "DeleteOptions"),
        ("batch/v1", "DeleteOptions"),
        ("policy/v1", "Eviction"),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
    ] {
        if schema.message_for(api_version, kind).is_none() {
            missing.push(format!("{api_version} {kind}"));
        }
    }
    assert!(missing.is_empty(), "no message for {missing:?}");
}

#[test]
fn go_facts_name_real_fields() {
    let schema = schema::get().expect("schema");
    // Every version of a group the name and embedding tables cover must have the field
    // in at least one version.
    let any_version = |family: &str, type_name: &str, field: &str| -> Option<Kind> {
        ["v1", "v1beta1", "v1beta2", "v1alpha1"]
            .iter()
            .find_map(|v| {
                schema
                    .by_go_name(&format!("{family}/{v}.{type_name}"))?
                    .get_field_by_name(field)
                    .map(|f| f.kind())
            })
    };
    for (family, type_name, field, _) in gofacts::JSON_NAMES {
        assert!(
            any_version(family, type_name, field).is_some(),
            "JSON_NAMES: {family} {type_name}.{field}"
        );
    }
    for (family, type_name, field) in gofacts::INLINE {
        assert!(
            matches!(
                any_version(family, type_name, field),
                Some(Kind::Message(_))
            ),
            "INLINE: {family} {type_name}.{field} is not a message field"
        );
    }
    for (package, type_name, fields) in gofacts::POINTERS {
        let message = schema
            .by_go_name(&format!("{package}.{type_name}"))
            .unwrap_or_else(|| panic!("POINTERS: no {package}.{type_name}"));
        for field in *fields {
            let kind = message
                .get_field_by_name(field)
                .unwrap_or_else(|| panic!("POINTERS: no {package}.{type_name}.{field}"))
                .kind();
            assert!(
                !matches!(kind, Kind::Message(_)),
                "POINTERS: {package}.{type_name}.{field} is a message"
            );
        }
    }
}

#[test]
fn durations_print_as_go_does() {
    for (nanos, text) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (300_000_000, "300ms"),
        (1_500_000_000, "1.5s"),
        (60_000_000_000, "1m0s"),
        (3_600_000_000_000, "1h0m0s"),
        (5_430_000_000_000, "1h30m30s"),
        (-90_000_000_000, "-1m30s"),
    ] {
        assert_eq!(go_duration(nanos), text, "{nanos}ns");
    }
}
