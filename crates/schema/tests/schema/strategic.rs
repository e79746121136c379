//! Strategic merge patch scenarios re-authored from apimachinery's `strategicpatch`
//! tests and design doc, on real Kubernetes fields. Each expected value follows
//! upstream's algorithm (noted where it surprises).

use flotilla_schema::{PatchError, builtin, strategic_merge_patch, strategic_merge_patch_owned};
use serde_json::{Value, json};

const DEPLOYMENT: Option<(&str, &str, &str)> = Some(("apps", "v1", "Deployment"));
const POD: Option<(&str, &str, &str)> = Some(("", "v1", "Pod"));
const SERVICE: Option<(&str, &str, &str)> = Some(("", "v1", "Service"));
const PDB: Option<(&str, &str, &str)> = Some(("policy", "v1", "PodDisruptionBudget"));
const CONFIGMAP: Option<(&str, &str, &str)> = Some(("", "v1", "ConfigMap"));

enum Expect {
    Ok(Value),
    /// A fragment of the error message.
    Err(&'static str),
}

struct Case {
    name: &'static str,
    kind: Option<(&'static str, &'static str, &'static str)>,
    original: Value,
    patch: Value,
    expect: Expect,
}

fn case(
    name: &'static str,
    kind: Option<(&'static str, &'static str, &'static str)>,
    original: Value,
    patch: Value,
    expect: Expect,
) -> Case {
    Case {
        name,
        kind,
        original,
        patch,
        expect,
    }
}

/// `{"spec": {"template": {"spec": pod_spec}}}`
fn tpl(pod_spec: Value) -> Value {
    json!({"spec": {"template": {"spec": pod_spec}}})
}

fn containers(list: Value) -> Value {
    tpl(json!({"containers": list}))
}

fn cases() -> Vec<Case> {
    use Expect::{Err, Ok};
    vec![
        // --- objects ---------------------------------------------------------------
        case(
            "objects merge key by key",
            DEPLOYMENT,
            json!({"metadata": {"labels": {"app": "web"}}}),
            json!({"metadata": {"labels": {"tier": "frontend"}}}),
            Ok(json!({"metadata": {"labels": {"app": "web", "tier": "frontend"}}})),
        ),
        case(
            "null deletes a key, and a null for an absent key is dropped",
            DEPLOYMENT,
            json!({"metadata": {"labels": {"app": "web", "tier": "frontend"}}}),
            json!({"metadata": {"labels": {"tier": null, "gone": null}}}),
            Ok(json!({"metadata": {"labels": {"app": "web"}}})),
        ),
        case(
            "scalars are replaced",
            DEPLOYMENT,
            json!({"spec": {"replicas": 1, "paused": false}}),
            json!({"spec": {"replicas": 3}}),
            Ok(json!({"spec": {"replicas": 3, "paused": false}})),
        ),
        case(
            "nested objects merge and a value may change type",
            DEPLOYMENT,
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}}),
            json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": "25%"}}}}),
            Ok(
                json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}}}),
            ),
        ),
        case(
            "$patch: replace on an object takes the patch's object instead",
            DEPLOYMENT,
            json!({"spec": {"template": {"metadata": {"labels": {"app": "web", "version": "1"}}}}}),
            json!({"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "app": "api"}}}}}),
            Ok(json!({"spec": {"template": {"metadata": {"labels": {"app": "api"}}}}})),
        ),
        case(
            "$patch: replace at the top replaces the whole object",
            DEPLOYMENT,
            json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}}),
            json!({"$patch": "replace", "spec": {"replicas": 2}}),
            Ok(json!({"spec": {"replicas": 2}})),
        ),
        case(
            // Upstream keeps the key with an empty object rather than removing it.
            "$patch: delete on an existing object empties it",
            DEPLOYMENT,
            containers(
                json!([{"name": "web", "image": "nginx", "resources": {"limits": {"cpu": "1"}}}]),
            ),
            containers(json!([{"name": "web", "resources": {"$patch": "delete"}}])),
            Ok(containers(
                json!([{"name": "web", "image": "nginx", "resources": {}}]),
            )),
        ),
        case(
            "$patch: delete on an absent object adds nothing",
            DEPLOYMENT,
            json!({"spec": {"replicas": 1}}),
            json!({"spec": {"strategy": {"$patch": "delete"}}}),
            Ok(json!({"spec": {"replicas": 1}})),
        ),
        case(
            // `merge` exists only as a struct tag; in a patch it is an unknown type.
            "$patch: merge on an object is an error",
            DEPLOYMENT,
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
            json!({"spec": {"strategy": {"$patch": "merge", "type": "RollingUpdate"}}}),
            Err("unknown patch type: \"merge\""),
        ),
        case(
            "nulls inside a new object are dropped",
            DEPLOYMENT,
            json!({"spec": {"replicas": 1}}),
            json!({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": null}}}),
            Ok(json!({"spec": {"replicas": 1, "strategy": {"type": "Recreate"}}})),
        ),
        case(
            "fields with strategy replace take the patch as it is",
            PDB,
            json!({"spec": {"selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]}}}),
            json!({"spec": {"selector": {"matchLabels": {"app": "api"}}}}),
            Ok(json!({"spec": {"selector": {"matchLabels": {"app": "api"}}}})),
        ),
        case(
            "a scalar under an undeclared field is simply replaced",
            DEPLOYMENT,
            json!({"spec": {"foo": 1}}),
            json!({"spec": {"foo": 2}}),
            Ok(json!({"spec": {"foo": 2}})),
        ),
        case(
            "objects under a field the struct does not declare cannot be merged",
            DEPLOYMENT,
            json!({"spec": {"foo": {"a": 1}}}),
            json!({"spec": {"foo": {"b": 2}}}),
            Err("spec: unable to find api field \"foo\""),
        ),
        case(
            "map values merge under additionalProperties",
            CONFIGMAP,
            json!({"data": {"a": "1", "b": "2"}}),
            json!({"data": {"b": "3", "a": null}}),
            Ok(json!({"data": {"b": "3"}})),
        ),
        // --- lists of objects with a merge key -------------------------------------------
        case(
            "containers merge by name",
            DEPLOYMENT,
            containers(
                json!([{"name": "web", "image": "nginx:1"}, {"name": "sidecar", "image": "envoy:1"}]),
            ),
            containers(json!([{"name": "web", "image": "nginx:2"}])),
            Ok(containers(
                json!([{"name": "web", "image": "nginx:2"}, {"name": "sidecar", "image": "envoy:1"}]),
            )),
        ),
        case(
            // mergeSortedSlice lets a live element go first only when the patch's element
            // is also in the live list and comes later there; a new one does not.
            "a new container goes before the live ones",
            DEPLOYMENT,
            containers(json!([{"name": "web", "image": "nginx"}])),
            containers(json!([{"name": "sidecar", "image": "envoy"}])),
            Ok(containers(
                json!([{"name": "sidecar", "image": "envoy"}, {"name": "web", "image": "nginx"}]),
            )),
        ),
        case(
            "live elements before a patched live element keep their place",
            DEPLOYMENT,
            containers(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
            containers(json!([{"name": "c", "image": "x"}, {"name": "d"}])),
            Ok(containers(
                json!([{"name": "a"}, {"name": "b"}, {"name": "c", "image": "x"}, {"name": "d"}]),
            )),
        ),
        case(
            "the patch's order wins among the elements it names",
            DEPLOYMENT,
            containers(json!([{"name": "a"}, {"name": "b", "image": "b"}, {"name": "c"}])),
            containers(json!([{"name": "c", "image": "c"}, {"name": "a", "image": "a"}])),
            Ok(containers(
                json!([{"name": "b", "image": "b"}, {"name": "c", "image": "c"}, {"name": "a", "image": "a"}]),
            )),
        ),
        case(
            "env merges by name inside a merged container",
            DEPLOYMENT,
            containers(
                json!([{"name": "web", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]),
            ),
            containers(
                json!([{"name": "web", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]),
            ),
            Ok(containers(json!([{"name": "web", "env": [
                {"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}
            ]}]))),
        ),
        case(
            "container ports merge by containerPort",
            POD,
            json!({"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "https"}]}]}}),
            json!({"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 443, "name": "tls"}]}]}}),
            Ok(
                json!({"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 443, "name": "tls"}]}]}}),
            ),
        ),
        case(
            "volumeMounts merge by mountPath, not by name",
            DEPLOYMENT,
            containers(
                json!([{"name": "web", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]),
            ),
            containers(
                json!([{"name": "web", "volumeMounts": [{"name": "data2", "mountPath": "/data"}]}]),
            ),
            Ok(containers(
                json!([{"name": "web", "volumeMounts": [{"name": "data2", "mountPath": "/data"}]}]),
            )),
        ),
        case(
            // SMP knows only the merge key `port`, not the list-map keys [port, protocol],
            // so the UDP port merges into the first element with port 53.
            "service ports merge by port alone",
            SERVICE,
            json!({"spec": {"ports": [{"port": 53, "protocol": "TCP", "name": "dns-tcp"}, {"port": 53, "protocol": "UDP", "name": "dns"}]}}),
            json!({"spec": {"ports": [{"port": 53, "protocol": "UDP", "name": "dns-udp"}]}}),
            Ok(
                json!({"spec": {"ports": [{"port": 53, "protocol": "UDP", "name": "dns-udp"}, {"port": 53, "protocol": "UDP", "name": "dns"}]}}),
            ),
        ),
        case(
            "ownerReferences merge by uid, new ones in patch order",
            DEPLOYMENT,
            json!({"metadata": {"ownerReferences": [{"uid": "u1", "kind": "ReplicaSet", "name": "rs1"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "u2", "kind": "Foo", "name": "f"}, {"uid": "u1", "controller": true}]}}),
            Ok(json!({"metadata": {"ownerReferences": [
                {"uid": "u2", "kind": "Foo", "name": "f"},
                {"uid": "u1", "kind": "ReplicaSet", "name": "rs1", "controller": true}
            ]}})),
        ),
        case(
            "ownerReferences element deleted by uid",
            DEPLOYMENT,
            json!({"metadata": {"ownerReferences": [{"uid": "u1", "name": "a"}, {"uid": "u2", "name": "b"}]}}),
            json!({"metadata": {"ownerReferences": [{"uid": "u1", "$patch": "delete"}]}}),
            Ok(json!({"metadata": {"ownerReferences": [{"uid": "u2", "name": "b"}]}})),
        ),
        case(
            "volumes merge by name and $retainKeys switches the volume source",
            DEPLOYMENT,
            tpl(
                json!({"volumes": [{"name": "cfg", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}]}),
            ),
            tpl(
                json!({"volumes": [{"name": "cfg", "$retainKeys": ["configMap", "name"], "configMap": {"name": "app-config"}}]}),
            ),
            Ok(tpl(
                json!({"volumes": [{"name": "cfg", "configMap": {"name": "app-config"}}, {"name": "cache", "emptyDir": {}}]}),
            )),
        ),
        case(
            "$patch: delete removes the element with that merge key",
            DEPLOYMENT,
            containers(json!([{"name": "web"}, {"name": "sidecar"}])),
            containers(json!([{"name": "sidecar", "$patch": "delete"}])),
            Ok(containers(json!([{"name": "web"}]))),
        ),
        case(
            "$patch: delete removes every duplicate",
            DEPLOYMENT,
            containers(
                json!([{"name": "a", "image": "1"}, {"name": "a", "image": "2"}, {"name": "b"}]),
            ),
            containers(json!([{"name": "a", "$patch": "delete"}])),
            Ok(containers(json!([{"name": "b"}]))),
        ),
        case(
            "$patch: delete of an absent element changes nothing",
            DEPLOYMENT,
            containers(json!([{"name": "web"}])),
            containers(json!([{"name": "gone", "$patch": "delete"}])),
            Ok(containers(json!([{"name": "web"}]))),
        ),
        case(
            "$patch: delete without the merge key is an error",
            DEPLOYMENT,
            containers(json!([{"name": "web"}])),
            containers(json!([{"$patch": "delete", "image": "nginx"}])),
            Err("does not contain declared merge key: name"),
        ),
        case(
            "a $patch: replace element replaces the list with the other elements",
            DEPLOYMENT,
            containers(json!([{"name": "web"}, {"name": "sidecar"}])),
            containers(json!([{"name": "api", "image": "api:1"}, {"$patch": "replace"}])),
            Ok(containers(json!([{"name": "api", "image": "api:1"}]))),
        ),
        case(
            "a lone $patch: replace element empties the list",
            DEPLOYMENT,
            containers(json!([{"name": "web"}])),
            containers(json!([{"$patch": "replace"}])),
            Ok(containers(json!([]))),
        ),
        case(
            "a $patch: merge element is an error",
            DEPLOYMENT,
            containers(json!([{"name": "web"}])),
            containers(json!([{"name": "web", "$patch": "merge"}])),
            Err("merging lists cannot yet be specified in the patch"),
        ),
        case(
            "an unknown $patch element is an error",
            DEPLOYMENT,
            containers(json!([{"name": "web"}])),
            containers(json!([{"name": "web", "$patch": "frobnicate"}])),
            Err("unknown patch type: \"frobnicate\""),
        ),
        case(
            "a patch element without the merge key is an error",
            DEPLOYMENT,
            containers(json!([{"name": "web", "image": "a"}])),
            containers(json!([{"image": "b"}])),
            Err("does not contain declared merge key: name"),
        ),
        case(
            // Upstream appends elements it cannot match exactly as sent.
            "a new element keeps its nulls",
            DEPLOYMENT,
            containers(json!([{"name": "web"}])),
            containers(json!([{"name": "sidecar", "image": null}])),
            Ok(containers(
                json!([{"name": "sidecar", "image": null}, {"name": "web"}]),
            )),
        ),
        // --- lists without merge strategy ----------------------------------------------
        case(
            "lists of scalars without a strategy are replaced",
            DEPLOYMENT,
            containers(json!([{"name": "web", "args": ["--a", "--b"]}])),
            containers(json!([{"name": "web", "args": ["--c"]}])),
            Ok(containers(json!([{"name": "web", "args": ["--c"]}]))),
        ),
        case(
            "tolerations are replaced as a whole",
            DEPLOYMENT,
            tpl(json!({"tolerations": [{"key": "a", "operator": "Exists"}]})),
            tpl(json!({"tolerations": [{"key": "b", "operator": "Exists"}]})),
            Ok(tpl(
                json!({"tolerations": [{"key": "b", "operator": "Exists"}]}),
            )),
        ),
        case(
            "without a schema every list is replaced",
            None,
            json!({"spec": {"containers": [{"name": "web"}]}}),
            json!({"spec": {"containers": [{"name": "sidecar"}]}}),
            Ok(json!({"spec": {"containers": [{"name": "sidecar"}]}})),
        ),
        case(
            "without a schema objects merge and directives apply",
            None,
            json!({"spec": {"a": {"x": 1}, "b": 1, "c": 1}}),
            json!({"spec": {"a": {"$patch": "delete"}, "b": null}}),
            Ok(json!({"spec": {"a": {}, "c": 1}})),
        ),
        // --- lists of scalars with strategy merge ----------------------------------------
        case(
            "finalizers are merged as a set",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
            Ok(json!({"metadata": {"finalizers": ["a", "b", "c"]}})),
        ),
        case(
            "the patch's order of finalizers wins among those it names",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"finalizers": ["c", "a"]}}),
            Ok(json!({"metadata": {"finalizers": ["b", "c", "a"]}})),
        ),
        case(
            "$deleteFromPrimitiveList removes every copy",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a", "b", "c", "b"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}),
            Ok(json!({"metadata": {"finalizers": ["a", "c"]}})),
        ),
        case(
            "$deleteFromPrimitiveList works on a list without merge strategy",
            DEPLOYMENT,
            containers(json!([{"name": "web", "args": ["--a", "--b", "--c"]}])),
            containers(json!([{"name": "web", "$deleteFromPrimitiveList/args": ["--b"]}])),
            Ok(containers(json!([{"name": "web", "args": ["--a", "--c"]}]))),
        ),
        case(
            "$deleteFromPrimitiveList of an absent list adds nothing",
            DEPLOYMENT,
            json!({"metadata": {"name": "web"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
            Ok(json!({"metadata": {"name": "web"}})),
        ),
        case(
            "$deleteFromPrimitiveList of an absent item changes nothing",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["z"]}}),
            Ok(json!({"metadata": {"finalizers": ["a", "b"]}})),
        ),
        case(
            // The null check runs after the prefix is stripped.
            "$deleteFromPrimitiveList set to null deletes the whole list",
            DEPLOYMENT,
            json!({"metadata": {"name": "web", "finalizers": ["a"]}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": null}}),
            Ok(json!({"metadata": {"name": "web"}})),
        ),
        case(
            "a $deleteFromPrimitiveList key without /field is an error",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}}),
            Err("invalid patch format of primitive list"),
        ),
        case(
            "merged lists must hold one type",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": [1]}}),
            Err("metadata.finalizers: list element types are not identical"),
        ),
        case(
            "merged lists may not hold lists",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": []}}),
            json!({"metadata": {"finalizers": [["a"]]}}),
            Err("lists of lists are not supported"),
        ),
        // --- $setElementOrder ------------------------------------------------------------
        case(
            "$setElementOrder alone reorders the live containers",
            DEPLOYMENT,
            containers(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
            tpl(
                json!({"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}),
            ),
            Ok(containers(
                json!([{"name": "c"}, {"name": "a"}, {"name": "b"}]),
            )),
        ),
        case(
            "$setElementOrder with a new element; a live element it omits keeps its place",
            DEPLOYMENT,
            containers(json!([{"name": "a"}, {"name": "b"}])),
            tpl(
                json!({"$setElementOrder/containers": [{"name": "b"}, {"name": "c"}], "containers": [{"name": "c", "image": "x"}]}),
            ),
            Ok(containers(
                json!([{"name": "a"}, {"name": "b"}, {"name": "c", "image": "x"}]),
            )),
        ),
        case(
            "$setElementOrder and a deletion in one patch",
            DEPLOYMENT,
            containers(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
            tpl(
                json!({"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}], "containers": [{"name": "b", "$patch": "delete"}]}),
            ),
            Ok(containers(json!([{"name": "c"}, {"name": "a"}]))),
        ),
        case(
            "the patch list must follow the $setElementOrder order",
            DEPLOYMENT,
            containers(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
            tpl(json!({
                "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
                "containers": [{"name": "c", "image": "x"}, {"name": "a", "image": "y"}]
            })),
            Err("doesn't match the $setElementOrder list"),
        ),
        case(
            "$setElementOrder reorders finalizers",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}}),
            Ok(json!({"metadata": {"finalizers": ["c", "b", "a"]}})),
        ),
        case(
            "$setElementOrder may name items the list lacks",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a", "c"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "b", "a"]}}),
            Ok(json!({"metadata": {"finalizers": ["c", "a"]}})),
        ),
        case(
            // kubectl's shape: order, additions and a parallel deletion list together.
            "$setElementOrder, additions and $deleteFromPrimitiveList together",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a", "b", "c"]}}),
            json!({"metadata": {
                "$setElementOrder/finalizers": ["c", "a", "d"],
                "finalizers": ["d"],
                "$deleteFromPrimitiveList/finalizers": ["b"]
            }}),
            Ok(json!({"metadata": {"finalizers": ["c", "a", "d"]}})),
        ),
        case(
            // Upstream orders by the live slice after the merge wrote into it: deleting
            // `l` shifted m, i, n left and the new `j` landed in the freed last slot, so
            // `j` counts as live and comes after the others instead of first.
            "$setElementOrder with a deletion and a new element orders like upstream's aliased slice",
            DEPLOYMENT,
            containers(
                json!([{"name": "d"}, {"name": "l"}, {"name": "m"}, {"name": "i"}, {"name": "n"}]),
            ),
            tpl(json!({
                "$setElementOrder/containers": [{"name": "j"}],
                "containers": [{"name": "j", "image": "x"}, {"name": "l", "$patch": "delete"}]
            })),
            Ok(containers(
                json!([{"name": "d"}, {"name": "m"}, {"name": "i"}, {"name": "n"}, {"name": "j", "image": "x"}]),
            )),
        ),
        case(
            // None of the new items is in the (empty) order, so upstream's comparator
            // calls every pair "less" and Go's insertion sort reverses them.
            "a new list under an empty $setElementOrder comes out reversed",
            DEPLOYMENT,
            json!({"metadata": {"name": "web"}}),
            json!({"metadata": {"$setElementOrder/finalizers": [], "finalizers": ["a", "b", "c"]}}),
            Ok(json!({"metadata": {"name": "web", "finalizers": ["c", "b", "a"]}})),
        ),
        case(
            // Past Go's 20-element insertion-sort blocks: [f01..f20] and [f21..f25] are
            // each reversed, then SymMerge, for which the right run is always "less",
            // rotates it in front: the whole list ends up reversed.
            "a long new list under an empty $setElementOrder is reversed by Go's merge phase too",
            DEPLOYMENT,
            json!({"metadata": {"name": "web"}}),
            json!({"metadata": {"$setElementOrder/finalizers": [], "finalizers": (1..=25).map(|i| format!("f{i:02}")).collect::<Vec<_>>()}}),
            Ok(
                json!({"metadata": {"name": "web", "finalizers": (1..=25).rev().map(|i| format!("f{i:02}")).collect::<Vec<_>>()}}),
            ),
        ),
        case(
            // Upstream asks the (empty) lists for their element type and finds none.
            "$setElementOrder over an empty list is an error",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": []}}),
            json!({"metadata": {"$setElementOrder/finalizers": []}}),
            Err("no elements in any of the given slices"),
        ),
        case(
            "a $setElementOrder key without /field is an error",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"$setElementOrderfinalizers": ["a"]}}),
            Err("invalid patch format of setElementOrder list"),
        ),
        case(
            "$setElementOrder must be a list",
            DEPLOYMENT,
            json!({"metadata": {"finalizers": ["a"]}}),
            json!({"metadata": {"$setElementOrder/finalizers": "a"}}),
            Err("expected a list, but received a string"),
        ),
        case(
            "$setElementOrder of a field the struct lacks is an error",
            DEPLOYMENT,
            json!({"spec": {"replicas": 1}}),
            json!({"spec": {"$setElementOrder/bogus": []}}),
            Err("unable to find api field \"bogus\""),
        ),
        case(
            // removeDirectives only drops `$patch` objects; other directive keys in a
            // value that is taken whole stay in the result.
            "directives in a new object other than $patch are kept",
            DEPLOYMENT,
            json!({"spec": {"replicas": 1}}),
            tpl(
                json!({"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a"}]}),
            ),
            Ok(json!({"spec": {"replicas": 1, "template": {"spec": {
                "$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a"}]
            }}}})),
        ),
        // --- $retainKeys ---------------------------------------------------------------
        case(
            "$retainKeys clears the strategy fields it does not name",
            DEPLOYMENT,
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            Ok(json!({"spec": {"strategy": {"type": "Recreate"}}})),
        ),
        case(
            "$retainKeys ignores nulls in the patch",
            DEPLOYMENT,
            json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
            Ok(json!({"spec": {"strategy": {"type": "Recreate"}}})),
        ),
        case(
            "the patch may not set a field $retainKeys drops",
            DEPLOYMENT,
            json!({"spec": {"strategy": {"type": "RollingUpdate"}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {"maxSurge": 2}}}}),
            Err("spec.strategy: invalid patch format of retainKeys"),
        ),
        case(
            "$retainKeys must be a list",
            DEPLOYMENT,
            json!({"spec": {"strategy": {"type": "RollingUpdate"}}}),
            json!({"spec": {"strategy": {"$retainKeys": "type", "type": "Recreate"}}}),
            Err("invalid patch format of retainKeys"),
        ),
    ]
}

fn run(c: &Case) -> Result<Value, PatchError> {
    let schema = c.kind.map(|(g, v, k)| {
        builtin()
            .kind(g, v, k)
            .unwrap_or_else(|| panic!("{}: no schema for {g}/{v} {k}", c.name))
    });
    strategic_merge_patch(&c.original, &c.patch, schema.as_ref())
}

#[test]
fn strategic_merge_patch_cases() {
    let cases = cases();
    let mut failures = Vec::new();
    for c in &cases {
        let got = run(c);
        let ok = match (&c.expect, &got) {
            (Expect::Ok(want), Ok(v)) => want == v,
            (Expect::Err(fragment), Err(e)) => e.to_string().contains(fragment),
            _ => false,
        };
        if !ok {
            let want = match &c.expect {
                Expect::Ok(v) => v.to_string(),
                Expect::Err(e) => format!("error containing {e:?}"),
            };
            let got = match &got {
                Ok(v) => v.to_string(),
                Err(e) => format!("error: {e}"),
            };
            failures.push(format!("{}\n  want {want}\n  got  {got}", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{}/{} cases pass; failing:\n{}",
        cases.len() - failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn merged_list_keeps_key_order_of_untouched_fields() {
    // Objects keep their key order; patched keys stay where they were, new keys follow.
    let schema = builtin().kind("apps", "v1", "Deployment");
    let got = strategic_merge_patch(
        &json!({"spec": {"replicas": 1, "paused": false, "minReadySeconds": 5}}),
        &json!({"spec": {"paused": true, "revisionHistoryLimit": 3}}),
        schema.as_ref(),
    )
    .unwrap();
    let keys: Vec<&str> = got["spec"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "replicas",
            "paused",
            "minReadySeconds",
            "revisionHistoryLimit"
        ]
    );
}

#[test]
fn original_must_be_an_object() {
    let err = strategic_merge_patch(&json!([1]), &json!({}), None).unwrap_err();
    assert_eq!(err, PatchError::NotAnObject("original object"));
    let err = strategic_merge_patch(&json!({}), &json!("x"), None).unwrap_err();
    assert_eq!(err, PatchError::NotAnObject("patch"));
}

#[test]
fn null_documents_decode_as_empty_objects() {
    // Upstream unmarshals `null` into an empty map.
    let original = json!({"metadata": {"name": "a"}});
    assert_eq!(
        strategic_merge_patch(&original, &Value::Null, None).unwrap(),
        original
    );
    assert_eq!(
        strategic_merge_patch(&Value::Null, &original, None).unwrap(),
        original
    );
}

#[test]
fn owned_variant_matches() {
    let schema = builtin().kind("apps", "v1", "Deployment");
    let original = containers(json!([{"name": "a"}]));
    let patch = containers(json!([{"name": "b"}]));
    assert_eq!(
        strategic_merge_patch_owned(original.clone(), patch.clone(), schema.as_ref()).unwrap(),
        strategic_merge_patch(&original, &patch, schema.as_ref()).unwrap()
    );
}

#[test]
fn errors_name_the_path() {
    let schema = builtin().kind("apps", "v1", "Deployment");
    let err = strategic_merge_patch(
        &containers(json!([{"name": "web", "env": [{"name": "A"}]}])),
        &containers(json!([{"name": "web", "env": [{"value": "x"}]}])),
        schema.as_ref(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, PatchError::NoMergeKey { path, key, .. } if path == "spec.template.spec.containers[0].env" && key == "name"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "spec.template.spec.containers[0].env: map: {\"value\":\"x\"} does not contain declared merge key: name"
    );
    let top = strategic_merge_patch(&json!({}), &json!({"$patch": "merge"}), None).unwrap_err();
    assert!(
        top.to_string().starts_with("(root): unknown patch type"),
        "{top}"
    );
}

#[test]
fn many_elements_sort_like_go() {
    // More than Go's insertion-sort block of 20, so the merge phase runs: 30 live
    // containers, the patch names every third in reverse, plus two new ones.
    let live: Vec<Value> = (0..30)
        .map(|i| json!({"name": format!("c{i:02}")}))
        .collect();
    let mut named: Vec<Value> = (0..30)
        .step_by(3)
        .rev()
        .map(|i| json!({"name": format!("c{i:02}"), "image": "x"}))
        .collect();
    named.push(json!({"name": "new1"}));
    named.push(json!({"name": "new2"}));
    let schema = builtin().kind("apps", "v1", "Deployment");
    let got = strategic_merge_patch(
        &containers(Value::Array(live)),
        &containers(Value::Array(named)),
        schema.as_ref(),
    )
    .unwrap();
    let names: Vec<&str> = got["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // Worked through upstream's algorithm: the patch's elements keep the patch's order
    // (c27, c24 … c00, new1, new2). A live-only element goes before the next patch
    // element only when both are live and it comes first in the live list: so every
    // live-only element before c27 leads, c28 and c29 (after c27 and every later patch
    // element, and not comparable with the new ones) come last.
    let mut want: Vec<String> = (1..27)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("c{i:02}"))
        .collect();
    want.extend((0..30).step_by(3).rev().map(|i| format!("c{i:02}")));
    want.extend(["new1", "new2", "c28", "c29"].map(String::from));
    assert_eq!(names, want);
}
