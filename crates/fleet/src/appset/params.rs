//! Parameter sets, the data each generator yields for one Application, and the conversions
//! Argo CD applies to them: flattening (legacy mode and selectors), Go's `%v` printing, and
//! the name sanitiser behind `nameNormalized` and `normalize`.

use std::collections::BTreeMap;

use flotilla_template::Value as TemplateValue;
use serde_json::Value;

/// One parameter set: the keys a template can reference. In goTemplate mode values nest
/// (`{"path": {"basename": "web"}}`); in legacy mode keys are flat strings
/// (`{"path.basename": "web"}`).
pub type Params = serde_json::Map<String, Value>;

/// `fmt.Sprintf("%v", v)` of a value decoded from JSON or YAML into `interface{}` — where
/// every number is a float64, so `1000000` prints as `1e+06`, as it does in Argo CD.
pub fn go_sprint(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => flotilla_core::gofmt::sprint_float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_sprint).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Object(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            let inner: Vec<String> = sorted
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_sprint(v)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

/// `flatten.Flatten(v, "", flatten.DotStyle)`: nested maps join keys with `.`, lists use the
/// index as key; empty maps and lists disappear, as they do upstream.
pub fn flatten(map: &Params) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (key, value) in map {
        flatten_into(key.clone(), value, &mut out);
    }
    out
}

fn flatten_into(prefix: String, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                flatten_into(format!("{prefix}.{key}"), inner, out);
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                flatten_into(format!("{prefix}.{index}"), inner, out);
            }
        }
        scalar => out.push((prefix, scalar.clone())),
    }
}

/// The flattened parameters as the string labels a post-generation selector matches.
pub fn flatten_to_labels(map: &Params) -> BTreeMap<String, String> {
    flatten(map)
        .into_iter()
        .map(|(k, v)| (k, go_sprint(&v)))
        .collect()
}

/// Argo CD's `SanitizeName` (`nameNormalized`, `basenameNormalized`, the `normalize`
/// function): lower-case, every character outside `[-a-z0-9.]` becomes `-`, at most 253
/// bytes, then `-` and `.` trimmed from both ends.
pub fn sanitize_name(name: &str) -> String {
    let lowered = name.to_lowercase();
    let mut out: String = lowered
        .chars()
        .map(|c| {
            if c == '-' || c == '.' || c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(253);
    out.trim_matches(|c| c == '-' || c == '.').to_string()
}

/// Converts a parameter set to the template data model the way Go sees it after decoding
/// JSON or YAML into `interface{}`: every number is a float64.
pub fn to_template_value(params: &Params) -> TemplateValue {
    TemplateValue::map(
        params
            .iter()
            .map(|(k, v)| (k.clone(), json_to_go(v)))
            .collect(),
    )
}

fn json_to_go(value: &Value) -> TemplateValue {
    match value {
        Value::Null => TemplateValue::Nil,
        Value::Bool(b) => TemplateValue::Bool(*b),
        Value::Number(n) => TemplateValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => TemplateValue::string(s.as_str()),
        Value::Array(items) => TemplateValue::list(items.iter().map(json_to_go).collect()),
        Value::Object(map) => TemplateValue::map(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_go(v)))
                .collect(),
        ),
    }
}

/// mergo's `Merge(&dst, src, WithOverride)` on `map[string]any`: `src` wins, except that two
/// maps under the same key merge recursively.
pub fn merge_override(dst: &mut Params, src: &Params) {
    for (key, value) in src {
        match (dst.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) if !existing.is_empty() => {
                merge_override(existing, incoming);
            }
            _ => {
                dst.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sanitize_like_argo() {
        // Cases from Argo CD's TestSanitizeName.
        assert_eq!(sanitize_name("Argo_CD"), "argo-cd");
        assert_eq!(sanitize_name("-my-app-"), "my-app");
        assert_eq!(sanitize_name("in-cluster"), "in-cluster");
        assert_eq!(sanitize_name(".env.production."), "env.production");
        assert_eq!(sanitize_name(&"a".repeat(300)).len(), 253);
    }

    #[test]
    fn go_sprint_prints_floats_like_go() {
        assert_eq!(go_sprint(&json!(1)), "1");
        assert_eq!(go_sprint(&json!(1000000)), "1e+06");
        assert_eq!(go_sprint(&json!(1.5)), "1.5");
        assert_eq!(go_sprint(&json!(true)), "true");
        assert_eq!(go_sprint(&json!(null)), "<nil>");
    }

    #[test]
    fn flatten_dot_style() {
        let params = json!({"a": {"b": 1, "c": [true, "x"]}, "d": {}, "e": "f"});
        let flat = flatten(params.as_object().unwrap());
        let keys: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a.b", "a.c.0", "a.c.1", "e"]);
    }

    /// The matrix combination `tmp ← b ← a` (mergo `WithOverride`); expected values printed
    /// by dario.cat/mergo for the same inputs.
    #[test]
    fn matrix_combination_matches_mergo() {
        let cases = [
            (
                json!({"m": {"from": "first", "a": 1}}),
                json!({"m": {"from": "second", "b": 2}}),
                json!({"m": {"a": 1, "b": 2, "from": "first"}}),
            ),
            (
                json!({"x": "", "y": null, "z": 0, "l": []}),
                json!({"x": "b", "y": "b", "z": 5, "l": [1]}),
                json!({"l": [], "x": "", "y": null, "z": 0}),
            ),
            (
                json!({"m": {}}),
                json!({"m": {"k": "v"}}),
                json!({"m": {"k": "v"}}),
            ),
            (
                json!({"m": "str"}),
                json!({"m": {"k": "v"}}),
                json!({"m": "str"}),
            ),
            (
                json!({"m": {"k": "v"}}),
                json!({"m": "str"}),
                json!({"m": {"k": "v"}}),
            ),
            (
                json!({"m": {"n": {"deep": 1}}}),
                json!({"m": {"n": {"other": 2}, "o": 3}}),
                json!({"m": {"n": {"deep": 1, "other": 2}, "o": 3}}),
            ),
            (
                json!({"l": [1, 2]}),
                json!({"l": [3]}),
                json!({"l": [1, 2]}),
            ),
        ];
        for (a, b, want) in cases {
            let mut tmp = Params::new();
            merge_override(&mut tmp, b.as_object().unwrap());
            merge_override(&mut tmp, a.as_object().unwrap());
            assert_eq!(Value::Object(tmp), want, "{a} + {b}");
        }
    }

    #[test]
    fn flatten_matches_jeremywohl_flatten() {
        let params = json!({"a": {"b": 1, "c": [true, "x"]}, "d": {}, "e": "f", "g": [], "h": null, "i": [{"k": "v"}]});
        let flat: BTreeMap<String, Value> =
            flatten(params.as_object().unwrap()).into_iter().collect();
        let want: BTreeMap<String, Value> = serde_json::from_value(
            json!({"a.b": 1, "a.c.0": true, "a.c.1": "x", "e": "f", "h": null, "i.0.k": "v"}),
        )
        .unwrap();
        assert_eq!(flat, want);
    }

    #[test]
    fn merge_override_merges_nested_maps() {
        let mut dst = json!({"a": {"x": 1, "y": 2}, "b": "keep"})
            .as_object()
            .unwrap()
            .clone();
        let src = json!({"a": {"y": 3}, "c": ""}).as_object().unwrap().clone();
        merge_override(&mut dst, &src);
        assert_eq!(
            Value::Object(dst),
            json!({"a": {"x": 1, "y": 3}, "b": "keep", "c": ""})
        );
    }
}
