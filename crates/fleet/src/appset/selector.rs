//! The post-generation `selector` of a generator: a metav1 `LabelSelector` matched against
//! the flattened parameters. Argo CD uses its own copy of apimachinery's selector here, which
//! validates keys but not values (parameter values need not be valid label values) and
//! compares values as plain strings.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed post-generation selector; `{}` selects every parameter set.
#[derive(Debug, Clone)]
pub(crate) struct ParamSelector {
    requirements: Vec<Requirement>,
}

impl ParamSelector {
    /// Parses the selector object; errors are worded as apimachinery words them.
    pub(crate) fn parse(selector: &Value) -> Result<Self, String> {
        let Value::Object(object) = selector else {
            return Err("selector: expected an object".to_string());
        };
        let mut requirements = Vec::new();
        if let Some(labels) = object.get("matchLabels") {
            let Value::Object(labels) = labels else {
                return Err("matchLabels: expected a map of strings".to_string());
            };
            for (key, value) in labels {
                let Value::String(value) = value else {
                    return Err(format!("matchLabels.{key}: expected a string"));
                };
                validate_key(key)?;
                requirements.push(Requirement {
                    key: key.clone(),
                    op: Op::In,
                    values: vec![value.clone()],
                });
            }
        }
        if let Some(expressions) = object.get("matchExpressions") {
            let Value::Array(expressions) = expressions else {
                return Err("matchExpressions: expected a list".to_string());
            };
            for expression in expressions {
                let key = expression
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let operator = expression
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let values: Vec<String> = expression
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|v| {
                        v.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match operator {
                    "In" => Op::In,
                    "NotIn" => Op::NotIn,
                    "Exists" => Op::Exists,
                    "DoesNotExist" => Op::DoesNotExist,
                    other => return Err(format!("{other:?} is not a valid pod selector operator")),
                };
                validate_key(key)?;
                match op {
                    Op::In | Op::NotIn if values.is_empty() => {
                        return Err(
                            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
                                .to_string(),
                        );
                    }
                    Op::Exists | Op::DoesNotExist if !values.is_empty() => {
                        return Err(format!(
                            "values: Invalid value: {values:?}: values set must be empty for exists and does not exist"
                        ));
                    }
                    _ => {}
                }
                requirements.push(Requirement {
                    key: key.to_string(),
                    op,
                    values,
                });
            }
        }
        Ok(ParamSelector { requirements })
    }

    /// Whether the flattened parameters satisfy every requirement.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.get(&r.key);
            match r.op {
                Op::In => value.is_some_and(|v| r.values.contains(v)),
                Op::NotIn => value.is_none_or(|v| !r.values.contains(v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }
}

fn validate_key(key: &str) -> Result<(), String> {
    let errors = flotilla_core::labels::label_key_errors(key);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "key: Invalid value: {key:?}: {}",
            errors.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn match_labels_and_expressions() {
        let s = ParamSelector::parse(&json!({
            "matchLabels": {"path.basename": "web"},
            "matchExpressions": [{"key": "values.env", "operator": "NotIn", "values": ["dev"]}]
        }))
        .unwrap();
        assert!(s.matches(&labels(&[("path.basename", "web")])));
        assert!(s.matches(&labels(&[("path.basename", "web"), ("values.env", "prod")])));
        assert!(!s.matches(&labels(&[("path.basename", "web"), ("values.env", "dev")])));
        assert!(!s.matches(&labels(&[("path.basename", "api")])));
        // Values need not be valid label values.
        let s = ParamSelector::parse(&json!({"matchLabels": {"url": "https://x/y"}})).unwrap();
        assert!(s.matches(&labels(&[("url", "https://x/y")])));
    }

    #[test]
    fn bad_operator_is_reported() {
        let err = ParamSelector::parse(
            &json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
        )
        .unwrap_err();
        assert_eq!(err, "\"Gt\" is not a valid pod selector operator");
    }
}
