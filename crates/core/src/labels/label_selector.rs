//! metav1 `LabelSelector` objects (`matchLabels` + `matchExpressions`), as
//! found in Deployment, Service-like and policy specs, converted the way
//! apimachinery's `LabelSelectorAsSelector` converts them.

use serde_json::Value;

use super::requirement::{Operator, Requirement, RequirementError};

/// A `LabelSelector` object could not be turned into a selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelSelectorError {
    /// The JSON does not have the `LabelSelector` shape (a real apiserver
    /// would have refused to decode it).
    #[error("{field}: {reason}")]
    Malformed {
        /// Where in the selector the problem is, e.g. `matchExpressions[1].values`.
        field: String,
        /// What shape was expected.
        reason: String,
    },
    /// A `matchExpressions` operator is not `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[error("\"{operator}\" is not a valid label selector operator")]
    UnknownOperator {
        /// The operator as written.
        operator: String,
    },
    /// A requirement failed validation; displays upstream's field errors,
    /// e.g. `values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty`.
    #[error(transparent)]
    Invalid(#[from] RequirementError),
}

/// What a `LabelSelector` JSON value selects, before matching.
pub(crate) enum Converted {
    /// `null` or absent: selects nothing.
    Nothing,
    /// `{}` or only empty parts: selects everything.
    Everything,
    /// At least one requirement.
    Requirements(Vec<Requirement>),
}

pub(crate) fn convert(selector: &Value) -> Result<Converted, LabelSelectorError> {
    let object = match selector {
        Value::Null => return Ok(Converted::Nothing),
        Value::Object(object) => object,
        _ => return Err(malformed("selector", "expected an object")),
    };
    let match_labels = match object.get("matchLabels") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(labels)) => {
            let mut pairs = Vec::with_capacity(labels.len());
            for (key, value) in labels {
                let Value::String(value) = value else {
                    return Err(malformed(format!("matchLabels.{key}"), "expected a string"));
                };
                pairs.push((key.clone(), value.clone()));
            }
            // Go ranges over the map in random order; sorting makes the
            // first reported error deterministic.
            pairs.sort();
            pairs
        }
        Some(_) => return Err(malformed("matchLabels", "expected an object of strings")),
    };
    let expressions = match object.get("matchExpressions") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(_) => return Err(malformed("matchExpressions", "expected an array")),
    };
    if match_labels.is_empty() && expressions.is_empty() {
        return Ok(Converted::Everything);
    }

    let mut requirements = Vec::with_capacity(match_labels.len() + expressions.len());
    for (key, value) in match_labels {
        requirements.push(Requirement::new(key, Operator::Equals, vec![value])?);
    }
    for (i, expression) in expressions.iter().enumerate() {
        requirements.push(expression_requirement(i, expression)?);
    }
    requirements.sort_by(|a, b| a.key().cmp(b.key()));
    Ok(Converted::Requirements(requirements))
}

fn expression_requirement(i: usize, expression: &Value) -> Result<Requirement, LabelSelectorError> {
    let field = |name: &str| format!("matchExpressions[{i}].{name}");
    let Value::Object(expression) = expression else {
        return Err(malformed(
            format!("matchExpressions[{i}]"),
            "expected an object",
        ));
    };
    let key = match expression.get("key") {
        Some(Value::String(key)) => key.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(malformed(field("key"), "expected a string")),
    };
    let operator = match expression.get("operator") {
        Some(Value::String(op)) => op.as_str(),
        None | Some(Value::Null) => "",
        Some(_) => return Err(malformed(field("operator"), "expected a string")),
    };
    let operator = match operator {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(LabelSelectorError::UnknownOperator {
                operator: other.to_string(),
            });
        }
    };
    let values = match expression.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut values = Vec::with_capacity(items.len());
            for item in items {
                let Value::String(value) = item else {
                    return Err(malformed(field("values"), "expected an array of strings"));
                };
                values.push(value.clone());
            }
            values
        }
        Some(_) => return Err(malformed(field("values"), "expected an array of strings")),
    };
    // Upstream copies the values with append([]string(nil), …), so an empty
    // list reaches validation as nil and is reported as `null`.
    let values = (!values.is_empty()).then_some(values);
    Ok(Requirement::new_reporting_nil_values(
        key, operator, values,
    )?)
}

fn malformed(field: impl Into<String>, reason: &str) -> LabelSelectorError {
    LabelSelectorError::Malformed {
        field: field.into(),
        reason: reason.to_string(),
    }
}
