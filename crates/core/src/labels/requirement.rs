//! One clause of a selector: a key, an operator and its values.

use std::fmt;

use super::Labels;
use super::field_error::{BadValue, FieldError, fmt_aggregate};
use super::validation::{label_key_errors, label_value_errors};

/// How a [`Requirement`] relates its key to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value` (same meaning as `=`, kept so the string round-trips)
    DoubleEquals,
    /// `key!=value`: matches when the key is absent too.
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`: matches when the key is absent too.
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>1`, comparing integers.
    GreaterThan,
    /// `key<1`, comparing integers.
    LessThan,
}

impl Operator {
    /// Upstream's name for the operator (`selection.Operator`), as used in
    /// error messages: `=`, `==`, `!=`, `in`, `notin`, `exists`, `!`, `gt`, `lt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// A requirement's key, operator or values were rejected. Displays like the
/// apiserver's aggregated field errors, e.g.
/// `values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RequirementError {
    key: String,
    errors: Vec<FieldError>,
}

impl RequirementError {
    /// The key of the requirement that was rejected.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Every reason, in upstream's order (key, operator arity, values).
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }
}

impl fmt::Display for RequirementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_aggregate(&self.errors, f)
    }
}

/// A validated `key <operator> values` clause. Values keep the order they were
/// given in; [`fmt::Display`] sorts them, as upstream does.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

impl Requirement {
    /// Validates and builds a requirement (upstream's `NewRequirement`):
    /// `in`/`notin` need at least one value, `=`/`==`/`!=` exactly one,
    /// `exists`/`!` none, `gt`/`lt` exactly one integer; the key must be a
    /// valid label key and every value a valid label value (may be empty).
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Self, RequirementError> {
        Self::new_reporting_nil_values(key.into(), operator, Some(values))
    }

    /// Like [`Requirement::new`], but `None` stands for Go's nil slice, which
    /// upstream prints as `null` when it rejects an empty `in`/`notin`.
    pub(crate) fn new_reporting_nil_values(
        key: String,
        operator: Operator,
        values: Option<Vec<String>>,
    ) -> Result<Self, RequirementError> {
        let mut errors = Vec::new();
        let key_errors = label_key_errors(&key);
        if !key_errors.is_empty() {
            errors.push(FieldError::invalid(
                "key",
                BadValue::String(key.clone()),
                key_errors.join("; "),
            ));
        }
        let list = values.as_deref().unwrap_or_default();
        let bad_list = || BadValue::Strings(values.clone());
        match operator {
            Operator::In | Operator::NotIn if list.is_empty() => errors.push(FieldError::invalid(
                "values",
                bad_list(),
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if list.len() != 1 => {
                errors.push(FieldError::invalid(
                    "values",
                    bad_list(),
                    "exact-match compatibility requires one single value",
                ))
            }
            Operator::Exists | Operator::DoesNotExist if !list.is_empty() => {
                errors.push(FieldError::invalid(
                    "values",
                    bad_list(),
                    "values set must be empty for exists and does not exist",
                ))
            }
            Operator::GreaterThan | Operator::LessThan => {
                if list.len() != 1 {
                    errors.push(FieldError::invalid(
                        "values",
                        bad_list(),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, value) in list.iter().enumerate() {
                    if value.parse::<i64>().is_err() {
                        errors.push(FieldError::invalid(
                            format!("values[{i}]"),
                            BadValue::String(value.clone()),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, value) in list.iter().enumerate() {
            let value_errors = label_value_errors(value);
            if !value_errors.is_empty() {
                errors.push(FieldError::invalid(
                    format!("values[{i}][{key}]"),
                    BadValue::String(value.clone()),
                    value_errors.join("; "),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(RequirementError { key, errors });
        }
        Ok(Self {
            key,
            operator,
            values: values.unwrap_or_default(),
        })
    }

    /// The label key this requirement constrains.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, in the order given (the string parser gives them sorted
    /// and de-duplicated).
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfy this requirement. `!=` and `notin` match when
    /// the key is absent; `gt`/`lt` never match a value that is not an integer.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let value = labels.label(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.has_value(v))
            }
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(|v| self.has_value(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), [bound]) = (value, self.values.as_slice()) else {
                    return false;
                };
                match (actual.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(actual), Ok(bound)) if self.operator == Operator::GreaterThan => {
                        actual > bound
                    }
                    (Ok(actual), Ok(bound)) => actual < bound,
                    _ => false,
                }
            }
        }
    }

    fn has_value(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (op, parens) = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => ("=", false),
            Operator::DoubleEquals => ("==", false),
            Operator::NotEquals => ("!=", false),
            Operator::In => (" in ", true),
            Operator::NotIn => (" notin ", true),
            Operator::GreaterThan => (">", false),
            Operator::LessThan => ("<", false),
        };
        f.write_str(op)?;
        if parens {
            f.write_str("(")?;
        }
        // Sorted on output only, so the requirement itself keeps caller order.
        let mut sorted: Vec<&str> = self.values.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        f.write_str(&sorted.join(","))?;
        if parens {
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn req(key: &str, op: Operator, values: &[&str]) -> Result<Requirement, RequirementError> {
        Requirement::new(key, op, values.iter().map(|v| v.to_string()).collect())
    }

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn arity_is_checked_per_operator() {
        let cases: &[(Operator, &[&str], Option<&str>)] = &[
            (
                Operator::In,
                &[],
                Some(
                    "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
                ),
            ),
            (
                Operator::NotIn,
                &[],
                Some(
                    "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
                ),
            ),
            (Operator::In, &["web"], None),
            (Operator::NotIn, &["web", "db"], None),
            (
                Operator::Equals,
                &["web", "db"],
                Some(
                    r#"values: Invalid value: ["web","db"]: exact-match compatibility requires one single value"#,
                ),
            ),
            (
                Operator::NotEquals,
                &[],
                Some(
                    "values: Invalid value: []: exact-match compatibility requires one single value",
                ),
            ),
            (Operator::Exists, &[], None),
            (Operator::DoesNotExist, &[], None),
            (
                Operator::Exists,
                &["web"],
                Some(
                    r#"values: Invalid value: ["web"]: values set must be empty for exists and does not exist"#,
                ),
            ),
            (Operator::GreaterThan, &["10"], None),
            (
                Operator::LessThan,
                &["-3"],
                Some(
                    "values[0][tier]: Invalid value: \"-3\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                ),
            ),
            (
                Operator::GreaterThan,
                &[],
                Some(
                    "values: Invalid value: []: for 'Gt', 'Lt' operators, exactly one value is required",
                ),
            ),
            (
                Operator::LessThan,
                &["ten"],
                Some(
                    "values[0]: Invalid value: \"ten\": for 'Gt', 'Lt' operators, the value must be an integer",
                ),
            ),
        ];
        for (op, values, want) in cases {
            let got = req("tier", *op, values).err().map(|e| e.to_string());
            assert_eq!(got.as_deref(), *want, "{op:?} {values:?}");
        }
    }

    #[test]
    fn key_and_value_problems_are_reported_with_their_paths() {
        let long_key = "k".repeat(254);
        let err = req(&long_key, Operator::Exists, &[]).unwrap_err();
        assert_eq!(err.errors().len(), 1);
        assert_eq!(err.errors()[0].field, "key");
        let err = req("app", Operator::Equals, &[&"v".repeat(64)]).unwrap_err();
        assert_eq!(err.errors()[0].field, "values[0][app]");
        let err = req("app", Operator::Equals, &["two words"]).unwrap_err();
        assert_eq!(err.errors()[0].field, "values[0][app]");
    }

    #[test]
    fn several_errors_are_bracketed() {
        let err = req("-bad", Operator::In, &[]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("[key: Invalid value: \"-bad\": name part"),
            "{text}"
        );
        assert!(text.ends_with("values set can't be empty]"), "{text}");
    }

    #[test]
    fn matching_follows_upstream_semantics() {
        let labels = set(&[("app", "web"), ("replicas", "3"), ("empty", "")]);
        let m = |key, op, values: &[&str]| req(key, op, values).unwrap().matches(&labels);
        assert!(m("app", Operator::In, &["web", "db"]));
        assert!(!m("app", Operator::In, &["db"]));
        assert!(!m("missing", Operator::In, &["web"]));
        assert!(m("missing", Operator::NotIn, &["web"]));
        assert!(m("missing", Operator::NotEquals, &["web"]));
        assert!(!m("app", Operator::NotEquals, &["web"]));
        assert!(m("empty", Operator::Exists, &[]));
        assert!(m("empty", Operator::In, &[""]));
        assert!(m("missing", Operator::DoesNotExist, &[]));
        assert!(m("replicas", Operator::GreaterThan, &["2"]));
        assert!(!m("replicas", Operator::GreaterThan, &["3"]));
        assert!(m("replicas", Operator::LessThan, &["4"]));
        assert!(
            !m("app", Operator::GreaterThan, &["1"]),
            "non-integer label never matches gt"
        );
        assert!(!m("missing", Operator::LessThan, &["1"]));
    }

    #[test]
    fn display_sorts_values_without_reordering_the_requirement() {
        let r = req("x", Operator::In, &["def", "abc"]).unwrap();
        assert_eq!(r.to_string(), "x in (abc,def)");
        assert_eq!(r.values(), ["def", "abc"]);
        assert_eq!(
            req("x", Operator::NotIn, &[""]).unwrap().to_string(),
            "x notin ()"
        );
        assert_eq!(
            req("x", Operator::DoesNotExist, &[]).unwrap().to_string(),
            "!x"
        );
        assert_eq!(
            req("x", Operator::DoubleEquals, &["a"])
                .unwrap()
                .to_string(),
            "x==a"
        );
        assert_eq!(
            req("x", Operator::LessThan, &["8"]).unwrap().to_string(),
            "x<8"
        );
    }
}
