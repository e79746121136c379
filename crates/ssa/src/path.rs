//! Paths into an object: the elements smd uses to name a field, a list-map item, a set
//! item or a list position, and their order and string forms.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::value::{compare, to_go_string};

/// One step of a [`Path`] (smd `fieldpath.PathElement`).
///
/// Elements are totally ordered as smd orders them: fields first (by name), then keys,
/// then values, then indexes. The order decides how sets iterate and how FieldsV1 is
/// written. Contents are shared (`Arc`), so cloning an element never allocates: sets
/// copy elements a lot.
#[derive(Debug, Clone)]
pub enum PathElement {
    /// A map entry or struct field, by name (`.spec`, FieldsV1 `f:spec`).
    Field(Arc<str>),
    /// The item of an associative list (list-map) whose key fields have these values,
    /// sorted by field name (`[name="a",port=80]`, FieldsV1 `k:{"name":"a","port":80}`).
    Key(Arc<[(String, Value)]>),
    /// The item of a set: an associative list of scalars (`[="a"]`, FieldsV1 `v:"a"`).
    Value(Arc<Value>),
    /// A list position (`[3]`, FieldsV1 `i:3`). smd never produces these for typed
    /// objects; they survive decoding of old managedFields.
    Index(i64),
}

impl PathElement {
    /// A field element.
    pub fn field(name: impl Into<Arc<str>>) -> PathElement {
        PathElement::Field(name.into())
    }

    /// A set item element.
    pub fn value(v: Value) -> PathElement {
        PathElement::Value(Arc::new(v))
    }

    /// A key element; the fields are sorted by name as smd requires.
    pub fn key(fields: impl IntoIterator<Item = (String, Value)>) -> PathElement {
        let mut fields: Vec<(String, Value)> = fields.into_iter().collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        PathElement::Key(fields.into())
    }

    /// The field name, if this is a field element.
    pub fn as_field(&self) -> Option<&str> {
        match self {
            PathElement::Field(name) => Some(name),
            _ => None,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }
}

fn compare_keys(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for ((an, av), (bn, bv)) in a.iter().zip(b) {
        let c = an.cmp(bn).then_with(|| compare(av, bv));
        if c != Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => compare_keys(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl fmt::Display for PathElement {
    /// smd's string form: `.name`, `[k1=v1,k2=v2]`, `[=v]`, `[3]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                f.write_str("[")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}={}", to_go_string(value))?;
                }
                f.write_str("]")
            }
            PathElement::Value(v) => write!(f, "[={}]", to_go_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the root of an object (smd `fieldpath.Path`). Displayed as smd writes it
/// in conflicts, e.g. `.spec.template.spec.containers[name="web"].image`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// A path made of field names only.
    pub fn fields<I, S>(names: I) -> Path
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        Path(names.into_iter().map(PathElement::field).collect())
    }

    /// The elements.
    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for pe in &self.0 {
            write!(f, "{pe}")?;
        }
        Ok(())
    }
}

impl From<Vec<PathElement>> for Path {
    fn from(v: Vec<PathElement>) -> Path {
        Path(v)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn elements_order_like_smd() {
        let mut v = [
            PathElement::Index(0),
            PathElement::value(json!("a")),
            PathElement::key([("name".to_string(), json!("a"))]),
            PathElement::field("b"),
            PathElement::field("a"),
        ];
        v.sort();
        let s: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(s, [".a", ".b", "[name=\"a\"]", "[=\"a\"]", "[0]"]);
    }

    #[test]
    fn numeric_keys_are_equal_across_int_and_float() {
        let a = PathElement::key([("page".to_string(), json!(2))]);
        let b = PathElement::key([("page".to_string(), json!(2.0))]);
        assert_eq!(a, b);
    }

    #[test]
    fn path_string() {
        let p = Path(vec![
            PathElement::field("spec"),
            PathElement::field("ports"),
            PathElement::key([
                ("protocol".to_string(), json!("TCP")),
                ("port".to_string(), json!(80)),
            ]),
            PathElement::field("name"),
        ]);
        assert_eq!(p.to_string(), r#".spec.ports[port=80,protocol="TCP"].name"#);
    }
}
