//! Fields the API server refuses to change once set. An update that changes one fails with
//! 422 Invalid, worded as kube-apiserver 1.27–1.33 words it: `field.Error` prints a
//! struct value with Go's `%#v` (1.34 switched to JSON). GitOps tools react to these
//! errors — Argo CD's `Replace=true`, Flux's `force` delete and create the object again —
//! so the simulator must give them.
//!
//! Covered: the selectors of Deployments, ReplicaSets and DaemonSets (immutable since
//! apps/v1), a StatefulSet's spec beyond the fields it may change, a Job's completions,
//! selector, template (a suspended Job that never started may change its scheduling),
//! completion mode and pod failure policy, a PVC's spec
//! beyond a bound claim's storage request, a Service's cluster IPs, ConfigMaps and
//! Secrets marked `immutable: true`, and a Secret's `type`.
//!
//! The server compares objects after defaulting; the simulator defaults little, so a
//! comparison here leaves out what defaulting would fill in (the defaults themselves
//! and empty values), so as never to refuse what a real server accepts.

use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::resources::ResourceType;

/// `field.FieldImmutableErrorMsg`.
const IMMUTABLE: &str = "field is immutable";

/// What ConfigMap and Secret validation says of a frozen field.
const FROZEN: &str = "field is immutable when `immutable` is set";

/// The causes an update from `old` to `new` of the main resource breaks; empty when none.
pub fn violations(rt: &ResourceType, old: &Value, new: &Value) -> Vec<Cause> {
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet") => selector(old, new),
        ("apps", "StatefulSet") => statefulset_spec(old, new),
        ("batch", "Job") => job_spec(old, new),
        ("", "PersistentVolumeClaim") => claim_spec(old, new),
        ("", "Service") => cluster_ips(old, new),
        ("", "ConfigMap") => frozen(
            old,
            new,
            &[
                ("data", field(old, "data"), field(new, "data")),
                (
                    "binaryData",
                    field(old, "binaryData"),
                    field(new, "binaryData"),
                ),
            ],
        ),
        ("", "Secret") => {
            let mut causes = secret_type(old, new);
            let (old_data, new_data) = (secret_data(old), secret_data(new));
            causes.extend(frozen(
                old,
                new,
                &[("data", old_data.as_ref(), new_data.as_ref())],
            ));
            causes
        }
        _ => Vec::new(),
    }
}

/// A top-level field, absent when null (Go decodes both into a nil map).
fn field<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object.get(name).filter(|v| !v.is_null())
}

/// `spec.selector` of a workload: compared as apimachinery's semantic equality does (an
/// empty list or map equals a missing one).
fn selector(old: &Value, new: &Value) -> Vec<Cause> {
    let (before, after) = (old.pointer("/spec/selector"), new.pointer("/spec/selector"));
    if normalized(before) == normalized(after) {
        return Vec::new();
    }
    vec![Cause {
        reason: "FieldValueInvalid",
        message: format!("Invalid value: {}: {IMMUTABLE}", go_label_selector(after)),
        field: "spec.selector".into(),
    }]
}

/// What ValidateStatefulSetUpdate says of any other change (1.27–1.33; 1.34 added
/// 'revisionHistoryLimit' to the fields that may change).
const STATEFULSET_SPEC: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

/// The StatefulSet spec fields an update may change.
const STATEFULSET_MUTABLE: [&str; 6] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// A StatefulSet's spec may change only in [`STATEFULSET_MUTABLE`] (a changed
/// volumeClaimTemplate is the case users meet).
fn statefulset_spec(old: &Value, new: &Value) -> Vec<Cause> {
    let fixed = |o: &Value| {
        let mut spec = o.get("spec").and_then(Value::as_object).cloned()?;
        for name in STATEFULSET_MUTABLE {
            spec.remove(name);
        }
        // Defaults a real server fills in on both sides.
        defaulted(&mut spec, "podManagementPolicy", "OrderedReady");
        defaulted(&mut spec, "revisionHistoryLimit", 10);
        if let Some(Value::Array(templates)) = spec.get_mut("volumeClaimTemplates") {
            for template in templates.iter_mut().filter_map(Value::as_object_mut) {
                for name in ["apiVersion", "kind", "status"] {
                    template.remove(name);
                }
                if let Some(Value::Object(claim)) = template.get_mut("spec") {
                    defaulted(claim, "volumeMode", "Filesystem");
                }
            }
        }
        semantic(&Value::Object(spec))
    };
    if fixed(old) == fixed(new) {
        return Vec::new();
    }
    vec![Cause::forbidden("spec", STATEFULSET_SPEC)]
}

/// Drops `name` from `map` when it holds the value defaulting would give it.
fn defaulted(map: &mut Map<String, Value>, name: &str, default: impl Into<Value>) {
    if map.get(name) == Some(&default.into()) {
        map.remove(name);
    }
}

/// A value as apimachinery's semantic equality sees it: nulls, empty maps and empty
/// lists are as good as missing. `None` when nothing is left.
fn semantic(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            let kept: Map<String, Value> = map
                .iter()
                .filter_map(|(k, v)| semantic(v).map(|v| (k.clone(), v)))
                .collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .map(|v| semantic(v).unwrap_or(Value::Null))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// ValidateJobSpecUpdate's immutable fields, in its order: completions (unless Indexed,
/// where it may change with parallelism), selector, template, completionMode,
/// podFailurePolicy.
fn job_spec(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = job_completions(old, new);
    causes.extend(selector(old, new));
    causes.extend(job_template(old, new));
    let mode = |o: &Value| {
        o.pointer("/spec/completionMode")
            .and_then(Value::as_str)
            .unwrap_or("NonIndexed")
            .to_string()
    };
    if mode(old) != mode(new) {
        causes.push(Cause::invalid(
            "spec.completionMode",
            &json!(mode(new)),
            IMMUTABLE,
        ));
    }
    let policy = |o: &Value| o.pointer("/spec/podFailurePolicy").and_then(semantic);
    if policy(old) != policy(new) {
        causes.push(Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: batch.PodFailurePolicy{{...}}: {IMMUTABLE}"),
            field: "spec.podFailurePolicy".into(),
        });
    }
    causes
}

/// A Job's completions, defaulted to 1 when neither it nor parallelism is set.
fn job_completions(old: &Value, new: &Value) -> Vec<Cause> {
    let completions = |o: &Value| {
        let spec = o.get("spec");
        let field = |name: &str| spec.and_then(|s| s.get(name)).filter(|v| !v.is_null());
        match (field("completions"), field("parallelism")) {
            (Some(c), _) => Some(c.clone()),
            (None, None) => Some(json!(1)),
            (None, Some(_)) => None,
        }
    };
    let (before, after) = (completions(old), completions(new));
    if before == after {
        return Vec::new();
    }
    let indexed = new.pointer("/spec/completionMode").and_then(Value::as_str) == Some("Indexed");
    if !indexed {
        // A nil pointer is printed as the string "null".
        let shown = after.unwrap_or_else(|| json!("null"));
        return vec![Cause::invalid("spec.completions", &shown, IMMUTABLE)];
    }
    // Elastic Indexed Jobs: completions follows parallelism (nil is refused elsewhere).
    match after {
        Some(n) if Some(&n) != new.pointer("/spec/parallelism") => vec![Cause::invalid(
            "spec.completions",
            &n,
            "can only be modified in tandem with spec.parallelism",
        )],
        _ => Vec::new(),
    }
}

/// A Job's pod template may not change, but for the scheduling of a suspended Job that
/// never started (labels, annotations, node selector and affinity, tolerations,
/// scheduling gates: Kueue's use). The value is elided: the server prints the whole
/// internal `core.PodTemplateSpec` with `%#v`.
fn job_template(old: &Value, new: &Value) -> Vec<Cause> {
    let waiting = old.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
        && old.pointer("/status/startTime").is_none_or(Value::is_null);
    let fixed = |o: &Value| {
        let mut template = o.pointer("/spec/template").cloned()?;
        if waiting {
            for pointer in [
                "/metadata/labels",
                "/metadata/annotations",
                "/spec/nodeSelector",
                "/spec/tolerations",
                "/spec/affinity/nodeAffinity",
                "/spec/schedulingGates",
            ] {
                let (parent, name) = pointer.rsplit_once('/').unwrap_or_default();
                if let Some(Value::Object(map)) = template.pointer_mut(parent) {
                    map.remove(name);
                }
            }
        }
        semantic(&template)
    };
    if fixed(old) == fixed(new) {
        return Vec::new();
    }
    vec![Cause {
        reason: "FieldValueInvalid",
        message: format!("Invalid value: core.PodTemplateSpec{{...}}: {IMMUTABLE}"),
        field: "spec.template".into(),
    }]
}

/// What ValidatePersistentVolumeClaimUpdate says of a changed spec (1.29–1.33 wording),
/// followed by the difference.
const CLAIM_SPEC: &str = "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims";

/// A claim's spec may not change, but for its storage request once bound, its
/// volumeAttributesClassName, and a volumeName set where there was none. The difference
/// follows the message as changed fields (the server prints a `cmp.Diff` of its internal
/// structs).
fn claim_spec(old: &Value, new: &Value) -> Vec<Cause> {
    let bound = new.pointer("/status/phase").and_then(Value::as_str) == Some("Bound")
        || old.pointer("/status/phase").and_then(Value::as_str) == Some("Bound");
    let unnamed = old
        .pointer("/spec/volumeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let fixed = |o: &Value| {
        let mut spec = o.get("spec").and_then(Value::as_object).cloned()?;
        spec.remove("volumeAttributesClassName");
        if unnamed {
            spec.remove("volumeName");
        }
        if bound
            && let Some(Value::Object(requests)) = spec
                .get_mut("resources")
                .and_then(|r| r.get_mut("requests"))
        {
            requests.remove("storage");
        }
        defaulted(&mut spec, "volumeMode", "Filesystem");
        match semantic(&Value::Object(spec)) {
            Some(Value::Object(fields)) => Some(fields),
            _ => None,
        }
    };
    let (before, after) = (
        fixed(old).unwrap_or_default(),
        fixed(new).unwrap_or_default(),
    );
    if before == after {
        return Vec::new();
    }
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut lines = Vec::new();
    for name in names
        .into_iter()
        .filter(|n| before.get(*n) != after.get(*n))
    {
        if let Some(a) = before.get(name) {
            lines.push(format!("- \t{name}: {a}"));
        }
        if let Some(b) = after.get(name) {
            lines.push(format!("+ \t{name}: {b}"));
        }
    }
    let diff = format!(
        "  core.PersistentVolumeClaimSpec{{\n{}\n  }}",
        lines.join("\n")
    );
    vec![Cause::forbidden("spec", &format!("{CLAIM_SPEC}\n{diff}"))]
}

/// A Service's cluster IPs may not change once set (`None` stays `None`). A change of
/// `clusterIP` alone carries `clusterIPs` with it, as the server's normalisation does.
fn cluster_ips(old: &Value, new: &Value) -> Vec<Cause> {
    let ips = |o: &Value| -> Vec<String> {
        let plural: Vec<String> = o
            .pointer("/spec/clusterIPs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        if !plural.is_empty() {
            return plural;
        }
        o.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .filter(|ip| !ip.is_empty())
            .map(|ip| vec![ip.to_string()])
            .unwrap_or_default()
    };
    let single = |o: &Value| {
        o.pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let external = new.pointer("/spec/type").and_then(Value::as_str) == Some("ExternalName");
    let before = ips(old);
    let mut after = ips(new);
    if single(old) != single(new) && !single(new).is_empty() && after == before {
        after = vec![single(new)];
    }
    if external || before.is_empty() || after.is_empty() || before[0] == after[0] {
        return Vec::new();
    }
    let quoted: Vec<String> = after.iter().map(|ip| format!("{ip:?}")).collect();
    vec![Cause {
        reason: "FieldValueInvalid",
        message: format!(
            "Invalid value: []string{{{}}}: may not change once set",
            quoted.join(", ")
        ),
        field: "spec.clusterIPs[0]".into(),
    }]
}

/// A label selector without its empty parts.
fn normalized(selector: Option<&Value>) -> Option<Value> {
    let selector = selector.filter(|s| !s.is_null())?;
    let mut out = Map::new();
    if let Some(labels) = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .filter(|l| !l.is_empty())
    {
        out.insert("matchLabels".into(), Value::Object(labels.clone()));
    }
    if let Some(expressions) = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    {
        let expressions = expressions
            .iter()
            .map(|e| {
                let values = e
                    .get("values")
                    .and_then(Value::as_array)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_default();
                json!({"key": e.get("key"), "operator": e.get("operator"), "values": values})
            })
            .collect();
        out.insert("matchExpressions".into(), Value::Array(expressions));
    }
    Some(Value::Object(out))
}

/// A `*metav1.LabelSelector` as Go's `%#v` prints it (after field.Error dereferences it).
fn go_label_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        // A nil pointer is printed as the string "null", quoted.
        return "\"null\"".into();
    };
    let labels = match selector.get("matchLabels").and_then(Value::as_object) {
        None => "map[string]string(nil)".to_string(),
        Some(labels) => {
            let mut pairs: Vec<(&String, &str)> = labels
                .iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or("")))
                .collect();
            pairs.sort();
            let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
            format!("map[string]string{{{}}}", pairs.join(", "))
        }
    };
    let expressions = match selector.get("matchExpressions").and_then(Value::as_array) {
        None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
        Some(expressions) => {
            let items: Vec<String> = expressions
                .iter()
                .map(|e| {
                    let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
                    let values = match e.get("values").and_then(Value::as_array) {
                        None => "[]string(nil)".to_string(),
                        Some(values) => {
                            let values: Vec<String> = values
                                .iter()
                                .map(|v| format!("{:?}", v.as_str().unwrap_or("")))
                                .collect();
                            format!("[]string{{{}}}", values.join(", "))
                        }
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{:?}, Operator:{:?}, Values:{values}}}",
                        text("key"),
                        text("operator")
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expressions}}}")
}

/// The fields a ConfigMap or Secret marked `immutable: true` keeps: the mark itself and
/// each of `fields` (name, old value, new value), compared as Go's `reflect.DeepEqual`
/// compares the decoded maps (an empty map differs from a missing one).
fn frozen(
    old: &Value,
    new: &Value,
    fields: &[(&str, Option<&Value>, Option<&Value>)],
) -> Vec<Cause> {
    let marked = |o: &Value| o.get("immutable").and_then(Value::as_bool) == Some(true);
    if !marked(old) {
        return Vec::new();
    }
    let mut causes = Vec::new();
    if !marked(new) {
        causes.push(Cause::forbidden("immutable", FROZEN));
    }
    for (name, before, after) in fields {
        if before != after {
            causes.push(Cause::forbidden(name, FROZEN));
        }
    }
    causes
}

/// A Secret's `type`, defaulted to Opaque as decoding does, may not change.
fn secret_type(old: &Value, new: &Value) -> Vec<Cause> {
    let type_of = |o: &Value| {
        o.get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .unwrap_or("Opaque")
            .to_string()
    };
    let (before, after) = (type_of(old), type_of(new));
    if before == after {
        return Vec::new();
    }
    vec![Cause::invalid("type", &json!(after), IMMUTABLE)]
}

/// A Secret's data as the server validates it: `stringData` merged into `data` (encoded),
/// as the conversion from the versioned object does before validation.
fn secret_data(secret: &Value) -> Option<Value> {
    let mut merged = secret.clone();
    flotilla_core::secret::merge_string_data(&mut merged);
    field(&merged, "data").cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_type as rt;

    fn messages(causes: &[Cause]) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    fn deployment(selector: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"selector": selector, "replicas": 1}})
    }

    #[test]
    fn a_workload_selector_may_not_change_and_is_printed_as_go_prints_it() {
        let old = deployment(json!({"matchLabels": {"app": "web"}}));
        let new = deployment(json!({"matchLabels": {"app": "web", "tier": "front"}}));
        // The message Kubernetes users meet when a chart changes its selector labels.
        assert_eq!(
            messages(&violations(&rt("Deployment"), &old, &new)),
            [
                r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"front"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#
            ]
        );
        let expressions = deployment(json!({"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ]}));
        assert_eq!(
            violations(&rt("DaemonSet"), &old, &expressions)[0].message,
            r#"Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"tier", Operator:"In", Values:[]string{"a", "b"}}, v1.LabelSelectorRequirement{Key:"canary", Operator:"DoesNotExist", Values:[]string(nil)}}}: field is immutable"#
        );
        assert_eq!(violations(&rt("ReplicaSet"), &old, &new).len(), 1);
    }

    #[test]
    fn what_is_semantically_the_same_selector_or_another_field_passes() {
        let old = deployment(json!({"matchLabels": {"app": "web"}}));
        let same = deployment(json!({"matchLabels": {"app": "web"}, "matchExpressions": []}));
        assert!(violations(&rt("Deployment"), &old, &same).is_empty());
        let mut scaled = old.clone();
        scaled["spec"]["replicas"] = json!(5);
        assert!(violations(&rt("Deployment"), &old, &scaled).is_empty());
        // Other kinds keep their selectors mutable here (a Service's is).
        let service = json!({"spec": {"selector": {"app": "web"}}});
        let moved = json!({"spec": {"selector": {"app": "api"}}});
        assert!(violations(&rt("Service"), &service, &moved).is_empty());
    }

    #[test]
    fn an_immutable_config_map_keeps_its_data_and_its_mark() {
        let old = json!({"immutable": true, "data": {"color": "blue"}});
        let edited = json!({"immutable": true, "data": {"color": "green"}});
        assert_eq!(
            messages(&violations(&rt("ConfigMap"), &old, &edited)),
            ["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let unmarked =
            json!({"immutable": false, "data": {"color": "blue"}, "binaryData": {"b": "AA=="}});
        assert_eq!(
            messages(&violations(&rt("ConfigMap"), &old, &unmarked)),
            [
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "binaryData: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        let labelled = json!({"metadata": {"labels": {"a": "b"}}, "immutable": true, "data": {"color": "blue"}});
        assert!(violations(&rt("ConfigMap"), &old, &labelled).is_empty());
        // Not marked: anything goes, and marking it is a change like another.
        let mutable = json!({"data": {"color": "blue"}});
        assert!(violations(&rt("ConfigMap"), &mutable, &edited).is_empty());
    }

    #[test]
    fn a_secret_keeps_its_type_and_when_immutable_its_data_string_data_included() {
        let old = json!({"type": "Opaque", "immutable": true, "data": {"key": "djE="}});
        let tls = json!({"type": "kubernetes.io/tls", "immutable": true, "data": {"key": "djE="}});
        assert_eq!(
            messages(&violations(&rt("Secret"), &old, &tls)),
            [r#"type: Invalid value: "kubernetes.io/tls": field is immutable"#]
        );
        // No type: decoding defaults it to Opaque.
        let untyped = json!({"immutable": true, "data": {"key": "djE="}});
        assert!(violations(&rt("Secret"), &old, &untyped).is_empty());
        // stringData is data by the time the server validates.
        let same_as_text = json!({"immutable": true, "stringData": {"key": "v1"}});
        assert!(violations(&rt("Secret"), &old, &same_as_text).is_empty());
        let new_text = json!({"immutable": true, "stringData": {"key": "v2"}});
        assert_eq!(
            messages(&violations(&rt("Secret"), &old, &new_text)),
            ["data: Forbidden: field is immutable when `immutable` is set"]
        );
    }

    fn statefulset(storage: &str) -> Value {
        json!({"spec": {"replicas": 1, "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": storage}}}}]}})
    }

    #[test]
    fn a_statefulset_changes_only_its_replicas_template_and_strategy() {
        let old = statefulset("1Gi");
        // Growing a volume claim template: what Helm and Argo CD users meet.
        assert_eq!(
            messages(&violations(&rt("StatefulSet"), &old, &statefulset("2Gi"))),
            [
                "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
            ]
        );
        let mut scaled = old.clone();
        scaled["spec"]["replicas"] = json!(3);
        scaled["spec"]["template"]["metadata"]["labels"]["v"] = json!("2");
        scaled["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        scaled["spec"]["minReadySeconds"] = json!(5);
        assert!(violations(&rt("StatefulSet"), &old, &scaled).is_empty());
        // Spelling out what defaulting gives is no change.
        let mut explicit = old.clone();
        explicit["spec"]["podManagementPolicy"] = json!("OrderedReady");
        explicit["spec"]["revisionHistoryLimit"] = json!(10);
        explicit["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"] = json!("Filesystem");
        explicit["spec"]["volumeClaimTemplates"][0]["apiVersion"] = json!("v1");
        explicit["spec"]["volumeClaimTemplates"][0]["kind"] = json!("PersistentVolumeClaim");
        assert!(violations(&rt("StatefulSet"), &old, &explicit).is_empty());
        let mut parallel = old.clone();
        parallel["spec"]["podManagementPolicy"] = json!("Parallel");
        assert_eq!(violations(&rt("StatefulSet"), &old, &parallel).len(), 1);
    }

    #[test]
    fn a_job_keeps_its_template_unless_suspended_and_never_started() {
        let job = |suspend: bool, image: &str, node: &str| {
            json!({"spec": {"suspend": suspend, "template": {
                "metadata": {"labels": {"job": "migrate"}},
                "spec": {"nodeSelector": {"pool": node},
                    "containers": [{"name": "m", "image": image}]}}}})
        };
        let running = job(false, "migrate:1", "a");
        assert_eq!(
            messages(&violations(
                &rt("Job"),
                &running,
                &job(false, "migrate:2", "a")
            )),
            ["spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable"]
        );
        assert_eq!(
            violations(&rt("Job"), &running, &job(false, "migrate:1", "b")).len(),
            1,
            "a started Job's scheduling is fixed too"
        );
        // Kueue's case: a suspended Job that never ran is placed before it starts.
        let waiting = job(true, "migrate:1", "a");
        assert!(violations(&rt("Job"), &waiting, &job(false, "migrate:1", "b")).is_empty());
        assert_eq!(
            violations(&rt("Job"), &waiting, &job(true, "migrate:2", "a")).len(),
            1,
            "its containers are fixed all the same"
        );
        let mut started = waiting.clone();
        started["status"] = json!({"startTime": "2026-01-01T00:00:00Z"});
        assert_eq!(
            violations(&rt("Job"), &started, &job(true, "migrate:1", "b")).len(),
            1
        );
        let mut selected = running.clone();
        selected["spec"]["selector"] = json!({"matchLabels": {"job": "migrate"}});
        let reselected = {
            let mut j = selected.clone();
            j["spec"]["selector"]["matchLabels"]["job"] = json!("other");
            j
        };
        assert_eq!(
            messages(&violations(&rt("Job"), &selected, &reselected))[0],
            r#"spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"job":"other"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#
        );
    }

    #[test]
    fn a_job_keeps_its_completions_and_mode_unless_indexed_and_elastic() {
        let job = |spec: Value| json!({"spec": spec});
        let one = job(json!({"template": {}}));
        // Neither set: completions defaults to 1, so saying 1 is no change.
        assert!(
            violations(
                &rt("Job"),
                &one,
                &job(json!({"template": {}, "completions": 1}))
            )
            .is_empty()
        );
        assert_eq!(
            messages(&violations(
                &rt("Job"),
                &one,
                &job(json!({"template": {}, "completions": 3}))
            )),
            ["spec.completions: Invalid value: 3: field is immutable"]
        );
        let indexed = |completions: u32, parallelism: u32| {
            job(json!({"template": {}, "completionMode": "Indexed",
                "completions": completions, "parallelism": parallelism}))
        };
        assert!(violations(&rt("Job"), &indexed(3, 3), &indexed(5, 5)).is_empty());
        assert_eq!(
            messages(&violations(&rt("Job"), &indexed(3, 3), &indexed(5, 3))),
            [
                "spec.completions: Invalid value: 5: can only be modified in tandem with spec.parallelism"
            ]
        );
        assert_eq!(
            messages(&violations(
                &rt("Job"),
                &one,
                &job(json!({"template": {}, "completionMode": "Indexed", "completions": 1}))
            )),
            [r#"spec.completionMode: Invalid value: "Indexed": field is immutable"#]
        );
        let policy = job(json!({"template": {}, "podFailurePolicy": {"rules": [
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}}));
        assert_eq!(
            messages(&violations(&rt("Job"), &one, &policy)),
            [
                "spec.podFailurePolicy: Invalid value: batch.PodFailurePolicy{...}: field is immutable"
            ]
        );
    }

    #[test]
    fn a_bound_claim_may_grow_and_nothing_else() {
        let claim = |modes: Value, storage: &str, phase: &str| {
            json!({"spec": {"accessModes": modes, "resources": {"requests": {"storage": storage}}},
                "status": {"phase": phase}})
        };
        let bound = claim(json!(["ReadWriteOnce"]), "1Gi", "Bound");
        assert!(
            violations(
                &rt("PersistentVolumeClaim"),
                &bound,
                &claim(json!(["ReadWriteOnce"]), "5Gi", "Bound")
            )
            .is_empty()
        );
        let causes = violations(
            &rt("PersistentVolumeClaim"),
            &bound,
            &claim(json!(["ReadWriteMany"]), "1Gi", "Bound"),
        );
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec");
        assert!(
            causes[0].message.starts_with("Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n  core.PersistentVolumeClaimSpec{\n"),
            "{}",
            causes[0].message
        );
        assert!(
            causes[0]
                .message
                .contains(r#"+ 	accessModes: ["ReadWriteMany"]"#)
        );
        let pending = claim(json!(["ReadWriteOnce"]), "1Gi", "Pending");
        assert_eq!(
            violations(
                &rt("PersistentVolumeClaim"),
                &pending,
                &claim(json!(["ReadWriteOnce"]), "5Gi", "Pending")
            )
            .len(),
            1,
            "an unbound claim's request is fixed"
        );
    }

    #[test]
    fn a_service_keeps_its_cluster_ip() {
        let service = |ip: &str, ips: Value| json!({"spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": ips}});
        let old = service("10.96.1.2", json!(["10.96.1.2"]));
        // A changed clusterIP alone takes clusterIPs with it before validation.
        assert_eq!(
            messages(&violations(
                &rt("Service"),
                &old,
                &service("10.96.7.7", json!(["10.96.1.2"]))
            )),
            [
                r#"spec.clusterIPs[0]: Invalid value: []string{"10.96.7.7"}: may not change once set"#
            ]
        );
        assert_eq!(
            violations(&rt("Service"), &old, &service("None", json!(["None"]))).len(),
            1,
            "an allocated Service does not become headless"
        );
        assert!(violations(&rt("Service"), &old, &old.clone()).is_empty());
        let external = json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}});
        assert!(violations(&rt("Service"), &old, &external).is_empty());
        assert!(violations(&rt("Service"), &external, &old).is_empty());
    }
}
