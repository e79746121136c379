//! Kubernetes label selectors: the string form (`app=web,tier in (a,b),!canary`)
//! and the metav1 `LabelSelector` object form, with the same parsing,
//! validation messages, matching and canonical printing as apimachinery's
//! `pkg/labels` and `LabelSelectorAsSelector`.
//!
//! Two selectors select without constraint and must not be confused:
//! [`Selector::everything`] (the empty string, or a `{}` `LabelSelector`)
//! matches every object, while [`Selector::nothing`] (a `null` or absent
//! `LabelSelector`, e.g. a PodDisruptionBudget without `selector`) matches
//! none. Both print as the empty string, as upstream's do.
//!
//! ```
//! use std::collections::BTreeMap;
//! use flotilla_core::labels::Selector;
//!
//! let selector: Selector = "app=web,tier notin (canary)".parse().unwrap();
//! let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
//! assert!(selector.matches(&labels));
//! assert_eq!(selector.to_string(), "app=web,tier notin (canary)");
//! ```

mod field_error;
mod label_selector;
mod parse;
mod requirement;
mod validation;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;

use serde_json::Value;

pub use field_error::{BadValue, FieldError};
pub use label_selector::LabelSelectorError;
pub use parse::{ParseError, ParseErrorKind, RequirementSyntax};
pub use requirement::{Operator, Requirement, RequirementError};
pub use validation::{dns1123_subdomain_errors, label_key_errors, label_value_errors};

/// Something that has labels to match a selector against.
pub trait Labels {
    /// The value of label `key`, if the label is set (possibly to `""`).
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: BuildHasher> Labels for HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A JSON label map such as `metadata.labels`; non-string values count as unset.
impl Labels for serde_json::Map<String, Value> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

/// A JSON value that should be a label map; `null` (no labels) or any
/// non-object has no labels.
impl Labels for Value {
    fn label(&self, key: &str) -> Option<&str> {
        self.as_object().and_then(|labels| labels.label(key))
    }
}

/// A label selector: requirements that must all hold (AND), or the special
/// selector that matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    /// Matches no labels at all (a missing `LabelSelector`).
    Nothing,
    /// All requirements must match; none means everything matches.
    All(Vec<Requirement>),
}

impl Selector {
    /// The selector that matches every label set (the empty string, `{}`).
    pub fn everything() -> Self {
        Self {
            kind: Kind::All(Vec::new()),
        }
    }

    /// The selector that matches no label set (a `null` `LabelSelector`).
    pub fn nothing() -> Self {
        Self {
            kind: Kind::Nothing,
        }
    }

    /// Parses the string form; the empty string selects everything.
    /// Requirements come out sorted by key, values sorted and de-duplicated.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        Ok(Self::from_requirements(parse::parse(input)?))
    }

    /// Converts a metav1 `LabelSelector` object. `null` selects nothing; an
    /// object without requirements (`{}`) selects everything.
    pub fn from_label_selector(selector: &Value) -> Result<Self, LabelSelectorError> {
        Ok(match label_selector::convert(selector)? {
            label_selector::Converted::Nothing => Self::nothing(),
            label_selector::Converted::Everything => Self::everything(),
            label_selector::Converted::Requirements(reqs) => Self {
                kind: Kind::All(reqs),
            },
        })
    }

    /// A selector requiring every `key=value` pair (validated), like
    /// upstream's `ValidatedSelectorFromSet`; no pairs select everything.
    pub fn from_labels<'a, I>(labels: I) -> Result<Self, RequirementError>
    where
        I: IntoIterator<Item = (&'a String, &'a String)>,
    {
        let requirements = labels
            .into_iter()
            .map(|(key, value)| {
                Requirement::new(key.clone(), Operator::Equals, vec![value.clone()])
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from_requirements(requirements))
    }

    /// A selector requiring all of `requirements`.
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        // Stable, so requirements on one key keep their relative order.
        requirements.sort_by(|a, b| a.key().cmp(b.key()));
        Self {
            kind: Kind::All(requirements),
        }
    }

    /// Adds a requirement (no effect on [`Selector::nothing`]).
    pub fn with(self, requirement: Requirement) -> Self {
        match self.kind {
            Kind::Nothing => self,
            Kind::All(mut requirements) => {
                requirements.push(requirement);
                Self::from_requirements(requirements)
            }
        }
    }

    /// Whether every requirement holds for `labels`.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        match &self.kind {
            Kind::Nothing => false,
            Kind::All(requirements) => requirements.iter().all(|r| r.matches(labels)),
        }
    }

    /// True for a selector without requirements, which matches everything
    /// (upstream's `Empty()`); false for [`Selector::nothing`].
    pub fn is_everything(&self) -> bool {
        matches!(&self.kind, Kind::All(requirements) if requirements.is_empty())
    }

    /// True only for [`Selector::nothing`]. Contradictions such as
    /// `a,!a` are not detected, as upstream does not detect them either.
    pub fn is_nothing(&self) -> bool {
        self.kind == Kind::Nothing
    }

    /// The requirements, sorted by key; `None` for [`Selector::nothing`],
    /// which cannot be expressed as requirements.
    pub fn requirements(&self) -> Option<&[Requirement]> {
        match &self.kind {
            Kind::Nothing => None,
            Kind::All(requirements) => Some(requirements),
        }
    }

    /// If the first requirement on `key` pins it to a single value (`=`,
    /// `==`, or `in` with one value), that value; used to narrow lookups.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let requirement = self.requirements()?.iter().find(|r| r.key() == key)?;
        match (requirement.operator(), requirement.values()) {
            (Operator::Equals | Operator::DoubleEquals | Operator::In, [value]) => Some(value),
            _ => None,
        }
    }
}

impl Default for Selector {
    /// The empty selector, which matches everything.
    fn default() -> Self {
        Self::everything()
    }
}

impl FromStr for Selector {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The canonical string: requirements sorted by key and joined with `,`.
/// Both [`Selector::everything`] and [`Selector::nothing`] print as `""`.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Kind::All(requirements) = &self.kind else {
            return Ok(());
        };
        for (i, requirement) in requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}
