//! kubectl's `last-applied-configuration` annotation meeting server-side apply
//! (apimachinery `lastappliedmanager.go`, `lastappliedupdater.go`, `lastapplied.go`):
//! when the manager `kubectl` applies an object that client-side apply managed, the
//! conflicts on fields the annotation still describes truthfully are waived, and the
//! annotation is kept in step with what `kubectl` applies.

use serde_json::{Map, Value};

use crate::schema::TypeNode;
use crate::set::FieldSet;
use crate::typed::{compare, to_field_set, validate};
use crate::value::{JsonFlavor, write_go_json};

/// The annotation client-side apply keeps its last configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The apiserver's limit on the total size of an object's annotations.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// The only manager whose applies take the annotation into account.
pub(crate) const KUBECTL: &str = "kubectl";

fn annotations(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.get("annotations")?.as_object()
}

fn last_applied(obj: &Value) -> Option<&str> {
    annotations(obj)?
        .get(LAST_APPLIED_ANNOTATION)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The fields of `live` whose conflicts a `kubectl` apply may ignore: those of the
/// last-applied configuration that still hold the values it gives them. `None` when
/// there is no usable annotation (then every conflict stands).
pub(crate) fn allowed_conflicts<N: TypeNode>(
    node: N,
    api_version: &str,
    live: &Value,
) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(last_applied(live)?).ok()?;
    if !last.is_object() || last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    validate(node, &last, false).ok()?;
    validate(node, live, false).ok()?;
    let set = to_field_set(node, &last);
    let changes = compare(node, &last, live);
    Some(
        set.difference(&changes.modified)
            .difference(&changes.added)
            .difference(&changes.removed),
    )
}

/// Whether the object carries a non-empty last-applied annotation.
pub(crate) fn has_last_applied(obj: &Value) -> bool {
    last_applied(obj).is_some()
}

/// The annotation's new value: the applied configuration without the annotation,
/// encoded as Go's JSON encoder writes an unstructured object (keys sorted, a final
/// newline).
fn build(config: &Value) -> String {
    let mut config = config.clone();
    if let Some(Value::Object(a)) = config
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        a.remove(LAST_APPLIED_ANNOTATION);
    }
    let mut out = String::new();
    write_go_json(&mut out, &config, JsonFlavor::Std);
    out.push('\n');
    out
}

/// Sets the annotation on `obj` to what `config` applies, unless the annotations would
/// then exceed the apiserver's size limit (then the annotation is dropped).
pub(crate) fn update(obj: &mut Value, config: &Value) {
    let value = build(config);
    let Some(Value::Object(a)) = obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    else {
        return;
    };
    a.insert(LAST_APPLIED_ANNOTATION.into(), Value::String(value));
    let size: usize = a
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > TOTAL_ANNOTATION_SIZE_LIMIT {
        a.remove(LAST_APPLIED_ANNOTATION);
    }
}
