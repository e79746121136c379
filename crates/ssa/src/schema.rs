//! How the engine sees a schema: [`TypeNode`], a cheap handle on one type, tells which
//! shapes a value of that type may take (its [`Atom`]) and how a map's entries and a
//! list's items are typed. This is smd's `schema.Atom`/`TypeRef`, reduced to what the
//! merge, compare and field-set walks ask.
//!
//! Three implementations ship: [`Deduced`] (no schema: maps granular, lists atomic, as
//! the apiserver treats unstructured data), [`SmdType`](crate::SmdType) (smd's own
//! schema format) and [`OpenApiType`](crate::OpenApiType) (Kubernetes OpenAPI through
//! `flotilla_schema`).

use serde_json::Value;

/// The kind of a scalar type; validation checks values against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// An integer or a float.
    Numeric,
    /// A string.
    String,
    /// `true` or `false`.
    Boolean,
    /// Any scalar (int-or-string, quantities, untyped data).
    Untyped,
}

/// How a list's items relate (smd `elementRelationship` plus `keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind<'a> {
    /// The list is one value, owned and replaced as a whole.
    Atomic,
    /// Unique scalars, each owned on its own (`x-kubernetes-list-type: set`).
    Set,
    /// Maps identified by these key fields (`x-kubernetes-list-type: map`).
    Map {
        /// The key field names, as declared.
        keys: &'a [String],
    },
}

/// What a list type says.
#[derive(Debug, Clone, Copy)]
pub struct ListAtom<'a, N> {
    /// The type of the items.
    pub element: N,
    /// How the items are identified.
    pub kind: ListKind<'a>,
}

/// What a map (or struct) type says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapAtom {
    /// The map is one value, owned and replaced as a whole.
    pub atomic: bool,
    /// The map declares no fields and its entries are deduced from their values (a
    /// schema-less object); such maps are left alone when ownership is reconciled with
    /// a changed schema.
    pub untyped_deduced: bool,
}

/// The shapes a value of a type may take. Most types allow one; untyped and deduced
/// types allow all three and the value decides (smd `deduceAtom`).
#[derive(Debug, Clone, Copy)]
pub struct Atom<'a, N> {
    /// The value may be a scalar of this kind.
    pub scalar: Option<ScalarKind>,
    /// The value may be a list.
    pub list: Option<ListAtom<'a, N>>,
    /// The value may be a map.
    pub map: Option<MapAtom>,
}

impl<N> Atom<'_, N> {
    /// An atom that allows nothing: the type could not be resolved.
    pub fn invalid() -> Self {
        Atom {
            scalar: None,
            list: None,
            map: None,
        }
    }
}

/// The type of one map entry.
#[derive(Debug, Clone, Copy)]
pub struct Field<N> {
    /// Its type.
    pub node: N,
    /// Whether the map declares this field by name. An entry typed only by the map's
    /// element type (a label, a deduced key) is owned as a path of its own even when it
    /// holds a non-empty map.
    pub declared: bool,
}

/// A handle on one type of a schema.
pub trait TypeNode: Copy {
    /// The shapes a value of this type may take.
    fn atom(&self) -> Atom<'_, Self>;

    /// For a map type: the type of entry `name`, its declared field or else the map's
    /// element type. `None` when the map allows no such entry.
    fn field(&self, name: &str) -> Option<Field<Self>>;

    /// For a map type: the default of field `name`, which fills in a missing list-map
    /// key (a container port without `protocol` is keyed with `protocol="TCP"`).
    fn field_default(&self, name: &str) -> Option<Value>;
}

/// The types of data without a schema (smd's `__untyped_deduced_` and
/// `__untyped_atomic_`): maps are granular and every key is owned on its own, lists are
/// atomic, and whatever sits inside a list is atomic too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deduced {
    /// `__untyped_deduced_`: a granular map, an atomic list or a scalar.
    #[default]
    Granular,
    /// `__untyped_atomic_`: anything, owned as a whole.
    Atomic,
}

impl TypeNode for Deduced {
    fn atom(&self) -> Atom<'_, Self> {
        Atom {
            scalar: Some(ScalarKind::Untyped),
            list: Some(ListAtom {
                element: Deduced::Atomic,
                kind: ListKind::Atomic,
            }),
            map: Some(MapAtom {
                atomic: *self == Deduced::Atomic,
                untyped_deduced: *self == Deduced::Granular,
            }),
        }
    }

    fn field(&self, _name: &str) -> Option<Field<Self>> {
        Some(Field {
            node: *self,
            declared: false,
        })
    }

    fn field_default(&self, _name: &str) -> Option<Value> {
        None
    }
}
