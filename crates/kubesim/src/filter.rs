//! List and watch filters: label selectors (parsed by `flotilla_core`) and field
//! selectors with the per-kind field sets the API server supports.

use flotilla_core::labels::Selector;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::resources::{Origin, ResourceType};

/// One `field=value` / `field!=value` requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    field: String,
    value: String,
    equal: bool,
}

/// What a list or watch keeps.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    labels: Option<Selector>,
    fields: Vec<FieldRequirement>,
}

impl Filter {
    /// Parse `labelSelector` and `fieldSelector` for a resource; unsupported fields are a 400.
    pub fn parse(
        rt: &ResourceType,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> ApiResult<Filter> {
        let labels =
            match label_selector.map(str::trim) {
                None | Some("") => None,
                Some(s) => Some(Selector::parse(s).map_err(|e| {
                    ApiError::bad_request(format!("unable to parse requirement: {e}"))
                })?),
            };
        let fields = match field_selector.map(str::trim) {
            None | Some("") => vec![],
            Some(s) => parse_fields(s)?,
        };
        let supported = supported_fields(rt);
        for f in &fields {
            if !supported.iter().any(|s| s == &f.field) {
                return Err(ApiError::bad_request(if rt.is_custom() {
                    format!(
                        "{:?} is not a known field selector: only {}",
                        f.field,
                        supported
                            .iter()
                            .map(|s| format!("{s:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    format!("field label not supported: {}", f.field)
                }));
            }
        }
        Ok(Filter { labels, fields })
    }

    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_empty()
    }

    /// The single `metadata.name=` value, when the filter pins one name (a cheap index path).
    pub fn pinned_name(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.equal && f.field == "metadata.name")
            .map(|f| f.value.as_str())
    }

    /// Whether an object passes.
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(sel) = &self.labels {
            let labels = obj.pointer("/metadata/labels").unwrap_or(&Value::Null);
            if !sel.matches(labels) {
                return false;
            }
        }
        self.fields.iter().all(|f| {
            let actual = field_value(obj, &f.field);
            (actual == f.value) == f.equal
        })
    }
}

fn supported_fields(rt: &ResourceType) -> Vec<String> {
    let mut fields = vec![
        "metadata.name".to_string(),
        "metadata.namespace".to_string(),
    ];
    let extra: &[&str] = match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Pod") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        ("", "Secret") => &["type"],
        ("", "Namespace") => &["status.phase"],
        ("", "Node") => &["spec.unschedulable"],
        ("", "Event") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("apps", "ReplicaSet") => &["status.replicas"],
        ("batch", "Job") => &["status.successful"],
        _ => &[],
    };
    fields.extend(extra.iter().map(|s| s.to_string()));
    if let Origin::Crd {
        selectable_fields, ..
    } = &rt.origin
    {
        fields.extend(
            selectable_fields
                .iter()
                .map(|f| f.trim_start_matches('.').to_string()),
        );
    }
    fields
}

/// The string an object's field compares as (missing → "", scalars printed plainly).
fn field_value(obj: &Value, field: &str) -> String {
    if field == "source" {
        // Events compare `source` against source.component.
        return obj
            .pointer("/source/component")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
    }
    let mut cur = obj;
    for part in field.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Parse a field selector: comma-separated `a=b`, `a==b`, `a!=b`, with `\` escapes.
fn parse_fields(s: &str) -> ApiResult<Vec<FieldRequirement>> {
    let invalid = |part: &str| {
        ApiError::bad_request(format!(
            "invalid selector: '{s}'; can't understand '{part}'"
        ))
    };
    let mut out = Vec::new();
    for part in split_unescaped(s, ',') {
        let (field, value, equal) = if let Some(i) = find_unescaped(&part, "!=") {
            (&part[..i], &part[i + 2..], false)
        } else if let Some(i) = find_unescaped(&part, "==") {
            (&part[..i], &part[i + 2..], true)
        } else if let Some(i) = find_unescaped(&part, "=") {
            (&part[..i], &part[i + 1..], true)
        } else {
            return Err(invalid(&part));
        };
        let field = field.trim();
        if field.is_empty() {
            return Err(invalid(&part));
        }
        out.push(FieldRequirement {
            field: field.to_string(),
            value: unescape(value),
            equal,
        });
    }
    Ok(out)
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            parts.last_mut().expect("non-empty").push('\\');
            parts.last_mut().expect("non-empty").push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("non-empty").push(c);
        }
    }
    parts
}

fn find_unescaped(s: &str, op: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if s[i..].starts_with(op) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtin_type as rt;
    use serde_json::json;

    #[test]
    fn field_selectors_match_name_and_kind_specific_fields() {
        let pod = json!({"metadata": {"name": "p", "namespace": "a"}, "status": {"phase": "Running"}, "spec": {"hostNetwork": false}});
        let f = Filter::parse(
            &rt("Pod"),
            None,
            Some("metadata.name=p,status.phase!=Pending"),
        )
        .expect("valid");
        assert!(f.matches(&pod));
        let f = Filter::parse(&rt("Pod"), None, Some("spec.hostNetwork=false")).expect("valid");
        assert!(f.matches(&pod));
        let f = Filter::parse(&rt("Pod"), None, Some("metadata.namespace==b")).expect("valid");
        assert!(!f.matches(&pod));
    }

    #[test]
    fn unsupported_field_is_a_bad_request_worded_like_the_server() {
        let err = Filter::parse(&rt("ConfigMap"), None, Some("data.x=1")).expect_err("unsupported");
        assert_eq!(err.code, 400);
        assert_eq!(err.message, "field label not supported: data.x");
        let err = Filter::parse(&rt("ConfigMap"), None, Some("nonsense")).expect_err("invalid");
        assert_eq!(
            err.message,
            "invalid selector: 'nonsense'; can't understand 'nonsense'"
        );
    }

    #[test]
    fn escaped_separators_stay_in_the_value() {
        let parsed = parse_fields(r"metadata.name=a\,b").expect("valid");
        assert_eq!(parsed[0].value, "a,b");
    }
}
