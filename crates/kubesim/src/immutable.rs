//! Fields the API server refuses to change once set. An update that changes one fails with
//! 422 Invalid, worded as kube-apiserver 1.27–1.33 words it: `field.Error` prints a
//! struct value with Go's `%#v` (1.34 switched to JSON). GitOps tools react to these
//! errors — Argo CD's `Replace=true`, Flux's `force` delete and create the object again —
//! so the simulator must give them.
//!
//! Covered: the selectors of Deployments, ReplicaSets and DaemonSets (immutable since
//! apps/v1), ConfigMaps and Secrets marked `immutable: true`, and a Secret's `type`.

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
}
