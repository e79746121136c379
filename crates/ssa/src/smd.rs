//! structured-merge-diff's own schema format (the `types:` YAML its tests and the
//! conformance corpus use), read from an already parsed document.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::schema::{Atom, Field, ListAtom, ListKind, MapAtom, ScalarKind, TypeNode};

/// An smd schema document that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("smd schema {path}: {reason}")]
pub struct SmdSchemaError {
    /// Where in the document, e.g. `types[2].map.fields[0].type`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

fn err(path: &str, reason: impl Into<String>) -> SmdSchemaError {
    SmdSchemaError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relationship {
    Atomic,
    Associative,
    Separable,
}

#[derive(Debug)]
struct AtomDef {
    scalar: Option<ScalarKind>,
    list: Option<ListDef>,
    map: Option<MapDef>,
}

#[derive(Debug)]
struct ListDef {
    element: TypeRefDef,
    relationship: Option<Relationship>,
    keys: Vec<String>,
}

#[derive(Debug)]
struct MapDef {
    fields: Vec<FieldDef>,
    index: HashMap<String, usize>,
    element: Option<TypeRefDef>,
    relationship: Option<Relationship>,
    /// No fields and a deduced element type (smd `isUntypedDeducedMap`).
    untyped_deduced: bool,
}

#[derive(Debug)]
struct FieldDef {
    ty: TypeRefDef,
    default: Option<Value>,
}

#[derive(Debug)]
enum Target {
    Named(usize),
    /// A name no type has: resolving it fails.
    Missing,
    Inline(Box<AtomDef>),
}

#[derive(Debug)]
struct TypeRefDef {
    target: Target,
    relationship: Option<Relationship>,
}

/// A schema in structured-merge-diff's format.
///
/// ```
/// use flotilla_ssa::SmdSchema;
/// use serde_json::json;
///
/// let schema = SmdSchema::from_value(&json!({"types": [
///     {"name": "v1", "map": {"fields": [{"name": "replicas", "type": {"scalar": "numeric"}}]}}
/// ]})).unwrap();
/// assert!(schema.type_named("v1").is_some());
/// ```
#[derive(Debug)]
pub struct SmdSchema {
    types: Vec<AtomDef>,
    names: HashMap<String, usize>,
}

impl SmdSchema {
    /// Reads a schema document (`{"types": [...]}`).
    pub fn from_value(doc: &Value) -> Result<SmdSchema, SmdSchemaError> {
        let types = doc
            .get("types")
            .and_then(Value::as_array)
            .ok_or_else(|| err("types", "must be a list"))?;
        let mut names = HashMap::new();
        for (i, t) in types.iter().enumerate() {
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| err(&format!("types[{i}].name"), "must be a string"))?;
            names.insert(name.to_owned(), i);
        }
        let mut defs = Vec::with_capacity(types.len());
        for (i, t) in types.iter().enumerate() {
            let obj = t
                .as_object()
                .ok_or_else(|| err(&format!("types[{i}]"), "must be a map"))?;
            defs.push(parse_atom(obj, &names, &format!("types[{i}]"))?);
        }
        Ok(SmdSchema { types: defs, names })
    }

    /// The type called `name`.
    pub fn type_named(&self, name: &str) -> Option<SmdType<'_>> {
        let i = *self.names.get(name)?;
        Some(SmdType {
            schema: self,
            atom: self.types.get(i),
            relationship: None,
        })
    }

    fn node<'s>(&'s self, r: &'s TypeRefDef) -> SmdType<'s> {
        let atom = match &r.target {
            Target::Named(i) => self.types.get(*i),
            Target::Missing => None,
            Target::Inline(a) => Some(a.as_ref()),
        };
        SmdType {
            schema: self,
            atom,
            relationship: r.relationship,
        }
    }
}

fn parse_relationship(
    v: Option<&Value>,
    path: &str,
) -> Result<Option<Relationship>, SmdSchemaError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "atomic" => Ok(Some(Relationship::Atomic)),
            "associative" => Ok(Some(Relationship::Associative)),
            "separable" => Ok(Some(Relationship::Separable)),
            "" => Ok(None),
            other => Err(err(path, format!("unknown elementRelationship {other:?}"))),
        },
        Some(other) => Err(err(
            path,
            format!("elementRelationship must be a string, not {other}"),
        )),
    }
}

fn parse_atom(
    obj: &Map<String, Value>,
    names: &HashMap<String, usize>,
    path: &str,
) -> Result<AtomDef, SmdSchemaError> {
    let scalar = match obj.get("scalar") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "numeric" => ScalarKind::Numeric,
            "string" => ScalarKind::String,
            "boolean" => ScalarKind::Boolean,
            "untyped" => ScalarKind::Untyped,
            other => {
                return Err(err(
                    &format!("{path}.scalar"),
                    format!("unknown scalar {other:?}"),
                ));
            }
        }),
        Some(other) => {
            return Err(err(
                &format!("{path}.scalar"),
                format!("must be a string, not {other}"),
            ));
        }
    };
    let list = match obj.get("list") {
        None | Some(Value::Null) => None,
        Some(Value::Object(l)) => {
            let lpath = format!("{path}.list");
            let element = match l.get("elementType") {
                Some(Value::Object(e)) => parse_ref(e, names, &format!("{lpath}.elementType"))?,
                _ => return Err(err(&lpath, "elementType must be a map")),
            };
            let keys = match l.get("keys") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(ks)) => ks
                    .iter()
                    .map(|k| k.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| err(&format!("{lpath}.keys"), "must list strings"))?,
                Some(_) => return Err(err(&format!("{lpath}.keys"), "must be a list")),
            };
            Some(ListDef {
                element,
                relationship: parse_relationship(l.get("elementRelationship"), &lpath)?,
                keys,
            })
        }
        Some(_) => return Err(err(&format!("{path}.list"), "must be a map")),
    };
    let map = match obj.get("map") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(parse_map(m, names, &format!("{path}.map"))?),
        Some(_) => return Err(err(&format!("{path}.map"), "must be a map")),
    };
    Ok(AtomDef { scalar, list, map })
}

fn parse_map(
    m: &Map<String, Value>,
    names: &HashMap<String, usize>,
    path: &str,
) -> Result<MapDef, SmdSchemaError> {
    let mut fields = Vec::new();
    let mut index = HashMap::new();
    match m.get("fields") {
        None | Some(Value::Null) => {}
        Some(Value::Array(fs)) => {
            for (i, f) in fs.iter().enumerate() {
                let fpath = format!("{path}.fields[{i}]");
                let name = f
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(&fpath, "name must be a string"))?;
                let ty = match f.get("type") {
                    Some(Value::Object(t)) => parse_ref(t, names, &format!("{fpath}.type"))?,
                    _ => return Err(err(&fpath, "type must be a map")),
                };
                index.insert(name.to_owned(), fields.len());
                fields.push(FieldDef {
                    ty,
                    default: f.get("default").filter(|d| !d.is_null()).cloned(),
                });
            }
        }
        Some(_) => return Err(err(&format!("{path}.fields"), "must be a list")),
    }
    let element = match m.get("elementType") {
        None | Some(Value::Null) => None,
        Some(Value::Object(e)) => Some(parse_ref(e, names, &format!("{path}.elementType"))?),
        Some(_) => return Err(err(&format!("{path}.elementType"), "must be a map")),
    };
    let deduced_element = match m.get("elementType") {
        Some(Value::Object(e)) => {
            e.get("namedType").and_then(Value::as_str) == Some("__untyped_deduced_")
                || (e.get("namedType").is_none()
                    && e.get("scalar").and_then(Value::as_str) == Some("untyped"))
        }
        _ => false,
    };
    Ok(MapDef {
        untyped_deduced: fields.is_empty() && deduced_element,
        fields,
        index,
        element,
        relationship: parse_relationship(m.get("elementRelationship"), path)?,
    })
}

fn parse_ref(
    obj: &Map<String, Value>,
    names: &HashMap<String, usize>,
    path: &str,
) -> Result<TypeRefDef, SmdSchemaError> {
    let relationship = parse_relationship(obj.get("elementRelationship"), path)?;
    let target = match obj.get("namedType") {
        Some(Value::String(n)) => match names.get(n) {
            Some(i) => Target::Named(*i),
            None => Target::Missing,
        },
        Some(other) => {
            return Err(err(
                path,
                format!("namedType must be a string, not {other}"),
            ));
        }
        None => Target::Inline(Box::new(parse_atom(obj, names, path)?)),
    };
    Ok(TypeRefDef {
        target,
        relationship,
    })
}

/// A type of an [`SmdSchema`]: a resolved reference, with the element relationship a
/// field may override (smd `TypeRef.ElementRelationship`).
#[derive(Debug, Clone, Copy)]
pub struct SmdType<'s> {
    schema: &'s SmdSchema,
    atom: Option<&'s AtomDef>,
    relationship: Option<Relationship>,
}

impl<'s> SmdType<'s> {
    /// The map part, with the field-level override applied as smd's `Resolve` does:
    /// the override goes to the map if there is one, else to the list; a scalar type
    /// with an override does not resolve.
    fn parts(&self) -> Option<(&'s AtomDef, Option<Relationship>, Option<Relationship>)> {
        let atom = self.atom?;
        let (map_rel, list_rel) = match self.relationship {
            None => (
                atom.map.as_ref().and_then(|m| m.relationship),
                atom.list.as_ref().and_then(|l| l.relationship),
            ),
            Some(r) if atom.map.is_some() => {
                (Some(r), atom.list.as_ref().and_then(|l| l.relationship))
            }
            Some(r) if atom.list.is_some() => (None, Some(r)),
            Some(_) => return None,
        };
        Some((atom, map_rel, list_rel))
    }
}

impl<'s> TypeNode for SmdType<'s> {
    fn atom(&self) -> Atom<'_, Self> {
        let Some((atom, map_rel, list_rel)) = self.parts() else {
            return Atom::invalid();
        };
        Atom {
            scalar: atom.scalar,
            list: atom.list.as_ref().map(|l| ListAtom {
                element: self.schema.node(&l.element),
                kind: match list_rel {
                    Some(Relationship::Associative) if l.keys.is_empty() => ListKind::Set,
                    Some(Relationship::Associative) => ListKind::Map { keys: &l.keys },
                    // smd requires lists to say how their items relate; anything but
                    // associative is handled as atomic.
                    _ => ListKind::Atomic,
                },
            }),
            map: atom.map.as_ref().map(|m| MapAtom {
                atomic: map_rel == Some(Relationship::Atomic),
                untyped_deduced: m.untyped_deduced,
            }),
        }
    }

    fn field(&self, name: &str) -> Option<Field<Self>> {
        let (atom, _, _) = self.parts()?;
        let map = atom.map.as_ref()?;
        if let Some(f) = map.index.get(name).and_then(|i| map.fields.get(*i)) {
            return Some(Field {
                node: self.schema.node(&f.ty),
                declared: true,
            });
        }
        map.element.as_ref().map(|e| Field {
            node: self.schema.node(e),
            declared: false,
        })
    }

    fn field_default(&self, name: &str) -> Option<serde_json::Value> {
        let (atom, _, _) = self.parts()?;
        let map = atom.map.as_ref()?;
        map.index
            .get(name)
            .and_then(|i| map.fields.get(*i))
            .and_then(|f| f.default.clone())
    }
}
