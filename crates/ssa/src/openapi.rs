//! Kubernetes OpenAPI schemas ([`flotilla_schema::SchemaRef`]) as smd types, converted
//! the way kube-openapi's `schemaconv` does for the apiserver:
//!
//! * `type: object` is a map: declared `properties` are fields, `additionalProperties`
//!   types the other keys, and an object with neither is a deduced (schema-less) map.
//!   `x-kubernetes-map-type: atomic` makes it one value.
//! * `type: array` is a list whose topology is `x-kubernetes-list-type` (with
//!   `x-kubernetes-list-map-keys`), else `x-kubernetes-patch-strategy: merge` with the
//!   patch merge key (a set without one), else atomic: see
//!   [`SchemaRef::list_topology`].
//! * Strings, integers, numbers and booleans are scalars of their kind;
//!   int-or-string, `Quantity` and nodes without a type are untyped; `RawExtension` is
//!   atomic whatever it holds.
//! * `metadata` of a resource root (and of an embedded resource) is `ObjectMeta`.
//!
//! **Deviation:** a field the schema does not declare is typed as deduced data instead
//! of failing. The apiserver never sees such fields (built-in objects are decoded into
//! Go structs, custom resources are pruned first), but the embedded built-in schemas
//! are older than the API they serve, and an unknown field must not break a write.

use std::sync::OnceLock;

use flotilla_schema::{ListTopology, MapType, SchemaRef, Type, builtin};
use serde_json::Value;

use crate::schema::{Atom, Deduced, Field, ListAtom, ListKind, MapAtom, ScalarKind, TypeNode};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";
const RAW_EXTENSION: &str = "io.k8s.apimachinery.pkg.runtime.RawExtension";

/// Defaults of list-map key fields in built-in kinds. The apiserver reads them from the
/// `default` of its OpenAPI schemas (Kubernetes ≥ 1.27); the embedded v1.21
/// definitions only describe them in prose.
const BUILTIN_KEY_DEFAULTS: &[(&str, &str, &str)] = &[
    ("io.k8s.api.core.v1.ContainerPort", "protocol", "TCP"),
    ("io.k8s.api.core.v1.ServicePort", "protocol", "TCP"),
];

/// `ObjectMeta` of the built-in catalog, looked up once.
fn object_meta() -> Option<SchemaRef<'static>> {
    static META: OnceLock<Option<SchemaRef<'static>>> = OnceLock::new();
    *META.get_or_init(|| builtin().definition(OBJECT_META))
}

/// A type of a Kubernetes OpenAPI schema, or one of the schema-less types it refers to.
#[derive(Debug, Clone, Copy)]
pub enum OpenApiType<'a> {
    /// A schema node.
    Node {
        /// The node.
        node: SchemaRef<'a>,
        /// Whether the node is a resource (the root, or an
        /// `x-kubernetes-embedded-resource`), whose `metadata` is `ObjectMeta`.
        resource: bool,
    },
    /// Schema-less data: granular maps, atomic lists.
    Deduced(Deduced),
}

impl<'a> OpenApiType<'a> {
    /// The type of a whole object of a kind: a built-in kind's definition
    /// (`builtin().kind(..)`) or a CRD version's schema root.
    pub fn resource(root: SchemaRef<'a>) -> OpenApiType<'a> {
        OpenApiType::Node {
            node: root,
            resource: true,
        }
    }

    /// The type of data without a schema.
    pub fn deduced() -> OpenApiType<'static> {
        OpenApiType::Deduced(Deduced::Granular)
    }

    fn child(node: SchemaRef<'a>) -> OpenApiType<'a> {
        OpenApiType::Node {
            node,
            resource: node.is_embedded_resource(),
        }
    }

    fn from_deduced(atom: Atom<'_, Deduced>) -> Atom<'static, OpenApiType<'a>> {
        Atom {
            scalar: atom.scalar,
            list: atom.list.map(|l| ListAtom {
                element: OpenApiType::Deduced(l.element),
                kind: ListKind::Atomic,
            }),
            map: atom.map,
        }
    }
}

fn list_atom<'a>(node: SchemaRef<'a>) -> ListAtom<'a, OpenApiType<'a>> {
    let element = node
        .items()
        .map(OpenApiType::child)
        .unwrap_or(OpenApiType::Deduced(Deduced::Atomic));
    let kind = match node.list_topology() {
        ListTopology::Atomic => ListKind::Atomic,
        ListTopology::Set => ListKind::Set,
        ListTopology::Map { keys } => ListKind::Map { keys },
    };
    ListAtom { element, kind }
}

fn map_atom(node: SchemaRef<'_>) -> MapAtom {
    MapAtom {
        atomic: node.map_type() == Some(MapType::Atomic),
        untyped_deduced: !node.has_properties() && node.additional_properties().is_none(),
    }
}

impl<'a> TypeNode for OpenApiType<'a> {
    fn atom(&self) -> Atom<'_, Self> {
        let node = match self {
            OpenApiType::Deduced(d) => return OpenApiType::from_deduced(d.atom()),
            OpenApiType::Node { node, .. } => *node,
        };
        match node.definition() {
            Some(QUANTITY) => {
                return Atom {
                    scalar: Some(ScalarKind::Untyped),
                    list: None,
                    map: None,
                };
            }
            Some(RAW_EXTENSION) => return OpenApiType::from_deduced(Deduced::Atomic.atom()),
            _ => {}
        }
        let scalar = |kind| Atom {
            scalar: Some(kind),
            list: None,
            map: None,
        };
        match node.ty() {
            Type::Object => Atom {
                scalar: None,
                list: None,
                map: Some(map_atom(node)),
            },
            Type::Array => Atom {
                scalar: None,
                list: Some(list_atom(node)),
                map: None,
            },
            Type::String => scalar(ScalarKind::String),
            Type::Integer | Type::Number => scalar(ScalarKind::Numeric),
            Type::Boolean => scalar(ScalarKind::Boolean),
            Type::IntOrString => scalar(ScalarKind::Untyped),
            Type::Any => Atom {
                scalar: Some(ScalarKind::Untyped),
                list: Some(list_atom(node)),
                map: Some(map_atom(node)),
            },
        }
    }

    fn field(&self, name: &str) -> Option<Field<Self>> {
        let (node, resource) = match self {
            OpenApiType::Deduced(d) => {
                return d.field(name).map(|f| Field {
                    node: OpenApiType::Deduced(f.node),
                    declared: false,
                });
            }
            OpenApiType::Node { node, resource } => (*node, *resource),
        };
        if resource
            && name == "metadata"
            && let Some(meta) = object_meta()
        {
            return Some(Field {
                node: OpenApiType::Node {
                    node: meta,
                    resource: false,
                },
                declared: true,
            });
        }
        if let Some(p) = node.property(name) {
            return Some(Field {
                node: OpenApiType::child(p),
                declared: true,
            });
        }
        let node = node
            .additional_properties()
            .map(OpenApiType::child)
            .unwrap_or(OpenApiType::Deduced(Deduced::Granular));
        Some(Field {
            node,
            declared: false,
        })
    }

    fn field_default(&self, name: &str) -> Option<Value> {
        let OpenApiType::Node { node, .. } = self else {
            return None;
        };
        let def = node.definition()?;
        BUILTIN_KEY_DEFAULTS
            .iter()
            .find(|(d, f, _)| *d == def && *f == name)
            .map(|(_, _, v)| Value::String((*v).to_owned()))
    }
}
