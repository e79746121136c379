//! Fields added to built-in kinds since v1.21, known through the v1.33 supplement:
//! valid 1.32 manifests have no unknown fields, typos next to the new fields still do,
//! and strategic merge patch follows the new lists' markers.

use flotilla_schema::{
    ListTopology, PatchStrategy, SchemaRef, builtin, builtin_definitions_json, prune_unknown,
    strategic_merge_patch, unknown_fields,
};
use serde_json::{Value, json};

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

/// A pod spec using fields added between 1.22 and 1.33.
fn modern_pod_spec() -> Value {
    json!({
        "os": {"name": "linux"},
        "hostUsers": false,
        "schedulingGates": [{"name": "example.com/quota"}],
        "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "gpu-template"}],
        "securityContext": {
            "appArmorProfile": {"type": "RuntimeDefault"},
            "seLinuxChangePolicy": "MountOption",
            "supplementalGroupsPolicy": "Strict"
        },
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}},
            "matchLabelKeys": ["pod-template-hash"],
            "minDomains": 3,
            "nodeAffinityPolicy": "Honor",
            "nodeTaintsPolicy": "Ignore"
        }],
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "topologyKey": "kubernetes.io/hostname",
            "labelSelector": {"matchLabels": {"app": "web"}},
            "matchLabelKeys": ["pod-template-hash"],
            "mismatchLabelKeys": ["tenant"]
        }]}},
        "initContainers": [{
            "name": "proxy",
            "image": "envoy:1",
            "restartPolicy": "Always",
            "startupProbe": {"grpc": {"port": 9901, "service": "ready"}}
        }],
        "containers": [{
            "name": "web",
            "image": "nginx:1.27",
            "resizePolicy": [
                {"resourceName": "cpu", "restartPolicy": "NotRequired"},
                {"resourceName": "memory", "restartPolicy": "RestartContainer"}
            ],
            "resources": {"claims": [{"name": "gpu"}], "limits": {"cpu": "1"}},
            "lifecycle": {
                "preStop": {"sleep": {"seconds": 5}},
                "stopSignal": "SIGTERM"
            },
            "livenessProbe": {"grpc": {"port": 8080}},
            "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true, "recursiveReadOnly": "IfPossible"}]
        }],
        "volumes": [
            {"name": "data", "image": {"reference": "example.com/data:1", "pullPolicy": "IfNotPresent"}},
            {"name": "bundle", "projected": {"sources": [{"clusterTrustBundle": {"signerName": "example.com/signer", "path": "ca.pem"}}]}}
        ]
    })
}

#[test]
fn deployment_with_fields_new_since_1_21_has_no_unknown_fields() {
    let obj = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": modern_pod_spec()}
        }
    });
    let deployment = kind("apps", "v1", "Deployment");
    assert_eq!(unknown_fields(&deployment, &obj), Vec::<String>::new());
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": modern_pod_spec()});
    assert_eq!(
        unknown_fields(&kind("", "v1", "Pod"), &pod),
        Vec::<String>::new()
    );
}

#[test]
fn typos_next_to_new_fields_are_still_unknown() {
    let obj = json!({"spec": {"template": {"spec": {
        "os": {"name": "linux", "nmae": "x"},
        "schedulingGate": [{"name": "a"}],
        "initContainers": [{"name": "proxy", "restartPolicy": "Always", "restartPolicyy": "Always"}],
        "containers": [{
            "name": "web",
            "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired", "restart": 1}],
            "lifecycle": {"preStop": {"sleep": {"seconds": 5, "secs": 5}}},
            "livenessProbe": {"grpc": {"port": 1, "servce": "x"}}
        }]
    }}}});
    assert_eq!(
        unknown_fields(&kind("apps", "v1", "Deployment"), &obj),
        [
            "spec.template.spec.os.nmae",
            "spec.template.spec.schedulingGate",
            "spec.template.spec.initContainers[0].restartPolicyy",
            "spec.template.spec.containers[0].resizePolicy[0].restart",
            "spec.template.spec.containers[0].lifecycle.preStop.sleep.secs",
            "spec.template.spec.containers[0].livenessProbe.grpc.servce",
        ]
    );
}

#[test]
fn pruning_keeps_new_fields_and_drops_typos() {
    let mut obj = json!({"spec": {
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain", "whenScaledd": "x"},
        "ordinals": {"start": 1},
        "minReadySeconds": 10,
        "template": {"spec": {"containers": [{"name": "db", "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}]}]}}
    }});
    let pruned = prune_unknown(&kind("apps", "v1", "StatefulSet"), &mut obj);
    assert_eq!(
        pruned,
        ["spec.persistentVolumeClaimRetentionPolicy.whenScaledd"]
    );
    assert_eq!(
        obj["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Delete", "whenScaled": "Retain"})
    );
    assert_eq!(obj["spec"]["ordinals"]["start"], 1);
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"][0]["resizePolicy"][0]["restartPolicy"],
        "NotRequired"
    );
}

#[test]
fn stateful_set_retention_policy_and_ordinals_are_known() {
    let obj = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"}, "spec": {
        "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}},
        "minReadySeconds": 5,
        "ordinals": {"start": 3},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "partition": 0}},
        "template": {"spec": {"containers": [{"name": "db", "image": "postgres:17"}]}}
    }});
    assert_eq!(
        unknown_fields(&kind("apps", "v1", "StatefulSet"), &obj),
        Vec::<String>::new()
    );
}

fn job_spec() -> Value {
    json!({
        "backoffLimitPerIndex": 1,
        "maxFailedIndexes": 2,
        "completionMode": "Indexed",
        "completions": 4,
        "parallelism": 2,
        "managedBy": "kueue.x-k8s.io/multikueue",
        "podReplacementPolicy": "Failed",
        "podFailurePolicy": {"rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
        ]},
        "successPolicy": {"rules": [{"succeededIndexes": "0-2", "succeededCount": 2}]},
        "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}
    })
}

#[test]
fn job_pod_failure_and_success_policies_are_known() {
    let obj = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "work"}, "spec": job_spec()});
    assert_eq!(
        unknown_fields(&kind("batch", "v1", "Job"), &obj),
        Vec::<String>::new()
    );
    let typo =
        json!({"spec": {"podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCode": {}}]}}});
    assert_eq!(
        unknown_fields(&kind("batch", "v1", "Job"), &typo),
        ["spec.podFailurePolicy.rules[0].onExitCode"]
    );
}

#[test]
fn cron_job_time_zone_is_known() {
    let obj = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"}, "spec": {
        "schedule": "0 3 * * *",
        "timeZone": "Europe/Berlin",
        "timezone": "typo",
        "jobTemplate": {"spec": job_spec()}
    }});
    assert_eq!(
        unknown_fields(&kind("batch", "v1", "CronJob"), &obj),
        ["spec.timezone"]
    );
}

#[test]
fn autoscaling_v2_behavior_and_container_resource_metrics_are_known() {
    let obj = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 2,
        "maxReplicas": 10,
        "metrics": [
            {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "web", "target": {"type": "Utilization", "averageUtilization": 60}}},
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
            {"type": "External", "external": {"metric": {"name": "queue", "selector": {"matchLabels": {"q": "jobs"}}}, "target": {"type": "Value", "value": "30"}}}
        ],
        "behavior": {
            "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Min", "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]},
            "scaleUp": {"policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}
        }
    }});
    let hpa = kind("autoscaling", "v2", "HorizontalPodAutoscaler");
    assert_eq!(unknown_fields(&hpa, &obj), Vec::<String>::new());
    // v2beta2's shape (`targetAverageUtilization`) is not v2's.
    let old = json!({"spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 60}}],
        "behavior": {"scaleUp": {"policy": []}}}});
    assert_eq!(
        unknown_fields(&hpa, &old),
        [
            "spec.metrics[0].resource.targetAverageUtilization",
            "spec.behavior.scaleUp.policy"
        ]
    );
}

#[test]
fn other_kinds_know_their_new_fields() {
    let cases = [
        (
            kind("", "v1", "Service"),
            json!({"spec": {"trafficDistribution": "PreferClose", "ports": [{"port": 80}]},
                   "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1", "ipMode": "VIP"}]}}}),
        ),
        (
            kind("policy", "v1", "PodDisruptionBudget"),
            json!({"spec": {"minAvailable": 1, "unhealthyPodEvictionPolicy": "AlwaysAllow"}}),
        ),
        (
            kind("", "v1", "PersistentVolumeClaim"),
            json!({"spec": {"volumeAttributesClassName": "gold",
                            "dataSourceRef": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "s", "namespace": "ns"}}}),
        ),
        (
            kind("coordination.k8s.io", "v1", "Lease"),
            json!({"spec": {"holderIdentity": "a", "strategy": "OldestEmulationVersion", "preferredHolder": "b"}}),
        ),
        (
            kind(
                "admissionregistration.k8s.io",
                "v1",
                "ValidatingWebhookConfiguration",
            ),
            json!({"webhooks": [{"name": "w.example.com", "matchConditions": [{"name": "not-system", "expression": "true"}]}]}),
        ),
        (
            kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            json!({"spec": {"versions": [{"name": "v1", "selectableFields": [{"jsonPath": ".spec.color"}],
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-validations": [
                {"rule": "self.a < self.b", "message": "a < b", "messageExpression": "'no'", "reason": "FieldValueInvalid", "fieldPath": ".a", "optionalOldSelf": true}
            ]}}}]}}),
        ),
    ];
    for (schema, obj) in cases {
        assert_eq!(
            unknown_fields(&schema, &obj),
            Vec::<String>::new(),
            "{schema:?}"
        );
    }
}

#[test]
fn new_lists_carry_the_markers_of_their_go_fields() {
    let pod_spec = at(kind("apps", "v1", "Deployment"), "spec.template.spec");
    let name = ["name".to_owned()];

    // `patchStrategy:"merge" patchMergeKey:"name"`, `+listType=map`.
    let gates = pod_spec.property("schedulingGates").unwrap();
    assert!(gates.patch_strategy().is_merge());
    assert_eq!(gates.patch_merge_key(), Some("name"));
    assert_eq!(gates.list_topology(), ListTopology::Map { keys: &name });

    let claims = pod_spec.property("resourceClaims").unwrap();
    assert_eq!(claims.patch_strategy().to_string(), "merge,retainKeys");

    // `+listType=atomic`, no patch tags.
    let resize = at(pod_spec, "containers[].resizePolicy");
    assert_eq!(resize.patch_strategy(), PatchStrategy::NONE);
    assert_eq!(resize.list_topology(), ListTopology::Atomic);
    assert_eq!(
        at(pod_spec, "topologySpreadConstraints[].matchLabelKeys").list_topology(),
        ListTopology::Atomic
    );

    // `+listType=map`, no patch tags: server-side apply merges, strategic merge patch replaces.
    let resource_claims = at(pod_spec, "containers[].resources.claims");
    assert_eq!(resource_claims.patch_strategy(), PatchStrategy::NONE);
    assert_eq!(
        resource_claims.list_topology(),
        ListTopology::Map { keys: &name }
    );

    // `+listType=set`.
    let job = kind("batch", "v1", "Job");
    assert_eq!(
        at(job, "spec.podFailurePolicy.rules[].onExitCodes.values").list_topology(),
        ListTopology::Set
    );

    // Merged by ip for strategic merge patch, yet `+listType=atomic`.
    let host_ips = at(kind("", "v1", "Pod"), "status.hostIPs");
    assert_eq!(host_ips.patch_merge_key(), Some("ip"));
    assert_eq!(host_ips.list_topology(), ListTopology::Atomic);

    let rules = at(
        kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "spec.versions[].schema.openAPIV3Schema.x-kubernetes-validations",
    );
    assert_eq!(rules.patch_merge_key(), Some("rule"));
}

#[test]
fn markers_of_1_21_stay_authoritative() {
    let pod_spec = at(kind("apps", "v1", "Deployment"), "spec.template.spec");
    let ports = at(pod_spec, "containers[].ports");
    // 1.21.2 keys container ports by port and protocol; k8s-openapi's merge code only
    // knows the patch merge key. 1.21.2's markers win.
    assert_eq!(ports.list_map_keys(), ["containerPort", "protocol"]);
    assert_eq!(ports.patch_merge_key(), Some("containerPort"));
    let tolerations = pod_spec.property("tolerations").unwrap();
    assert_eq!(tolerations.list_type(), None);
}

#[test]
fn strategic_merge_patch_follows_the_new_markers() {
    let deployment = kind("apps", "v1", "Deployment");
    let tpl = |spec: Value| json!({"spec": {"template": {"spec": spec}}});
    let live = tpl(json!({
        "schedulingGates": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "web", "resizePolicy": [
            {"resourceName": "cpu", "restartPolicy": "NotRequired"},
            {"resourceName": "memory", "restartPolicy": "NotRequired"}
        ]}]
    }));

    // Merge list keyed by name: add one, delete one, keep the rest (a new element goes
    // first, as upstream's mergeSortedSlice puts it).
    let patch = tpl(json!({"schedulingGates": [{"name": "c"}, {"name": "a", "$patch": "delete"}]}));
    let patched = strategic_merge_patch(&live, &patch, Some(&deployment)).unwrap();
    assert_eq!(
        patched["spec"]["template"]["spec"]["schedulingGates"],
        json!([{"name": "c"}, {"name": "b"}])
    );

    // Atomic list without patch strategy: replaced as a whole.
    let patch = tpl(json!({"containers": [{"name": "web", "resizePolicy": [
        {"resourceName": "cpu", "restartPolicy": "RestartContainer"}
    ]}]}));
    let patched = strategic_merge_patch(&live, &patch, Some(&deployment)).unwrap();
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"][0]["resizePolicy"],
        json!([{"resourceName": "cpu", "restartPolicy": "RestartContainer"}])
    );

    // The HPA's conditions merge by type (autoscaling/v2 only).
    let hpa = kind("autoscaling", "v2", "HorizontalPodAutoscaler");
    let live = json!({"status": {"conditions": [
        {"type": "AbleToScale", "status": "True"},
        {"type": "ScalingActive", "status": "True"}
    ]}});
    let patch = json!({"status": {"conditions": [{"type": "ScalingActive", "status": "False"}]}});
    let patched = strategic_merge_patch(&live, &patch, Some(&hpa)).unwrap();
    assert_eq!(
        patched["status"]["conditions"],
        json!([
            {"type": "AbleToScale", "status": "True"},
            {"type": "ScalingActive", "status": "False"}
        ])
    );
}

#[test]
fn merged_definitions_json_matches_the_catalog() {
    let defs = builtin_definitions_json();
    assert_eq!(defs.len(), builtin().definition_names().count());
    let pod_spec = &defs["io.k8s.api.core.v1.PodSpec"]["properties"];
    assert_eq!(
        pod_spec["os"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.PodOS"
    );
    // 1.21.2's own properties keep their descriptions and markers.
    assert_eq!(
        pod_spec["containers"]["x-kubernetes-patch-merge-key"],
        "name"
    );
    assert!(pod_spec["containers"]["description"].is_string());
    // New ones come with 1.33's description.
    assert!(pod_spec["os"]["description"].is_string());
    let hpa = &defs["io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"];
    assert_eq!(
        hpa["x-kubernetes-group-version-kind"],
        json!([{"group": "autoscaling", "kind": "HorizontalPodAutoscaler", "version": "v2"}])
    );
    // Every reference resolves.
    let text = Value::Object(defs.clone()).to_string();
    for reference in text.split("\"$ref\":\"#/definitions/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(defs.contains_key(name), "dangling $ref {name}");
    }
}
