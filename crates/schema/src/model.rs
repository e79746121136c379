//! Schema nodes: what one OpenAPI schema says about a value, and the borrowed
//! [`SchemaRef`] view that navigates them and resolves `$ref` lazily.
//!
//! A node keeps only what the semantics built on it need (types, properties, items,
//! additionalProperties and the `x-kubernetes-*` extensions); descriptions and value
//! validations are dropped at parse time.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::Value;

use crate::catalog::{Catalog, GroupVersionKind};

/// Index of a definition inside its [`Catalog`].
pub(crate) type DefId = u32;

/// Errors from reading OpenAPI definitions or a CRD's `openAPIV3Schema`.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A schema node or extension has a shape this crate does not understand.
    #[error("{path}: {reason}")]
    Invalid {
        /// Where in the document, e.g. `definitions.io.k8s.api.core.v1.PodSpec.properties.volumes`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The embedded definitions could not be decompressed.
    #[error("decompressing the embedded OpenAPI definitions")]
    Decompress(#[source] std::io::Error),
    /// The definitions document is not valid JSON.
    #[error("parsing the OpenAPI definitions document")]
    Json(#[source] serde_json::Error),
}

fn invalid(path: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// The kind of value a schema node describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// A JSON object: a struct (properties) or a map (additionalProperties).
    Object,
    /// A JSON array.
    Array,
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A floating point number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// `format: int-or-string` or `x-kubernetes-int-or-string`: either an integer or a string.
    IntOrString,
    /// No type is declared: any JSON value (e.g. `RawExtension`-like `{}` definitions).
    Any,
}

/// `x-kubernetes-patch-strategy`: how strategic merge patch treats a field.
///
/// Upstream allows at most two comma-separated strategies, and when there are two one of
/// them must be `retainKeys` (`merge,retainKeys` on `PodSpec.volumes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct PatchStrategy {
    bits: u8,
}

impl PatchStrategy {
    const MERGE: u8 = 1;
    const REPLACE: u8 = 2;
    const RETAIN_KEYS: u8 = 4;

    /// No strategy: lists are replaced, maps are merged.
    pub const NONE: PatchStrategy = PatchStrategy { bits: 0 };

    /// Parses the extension's value, e.g. `merge`, `replace`, `retainKeys` or `merge,retainKeys`.
    pub fn parse(s: &str) -> Result<PatchStrategy, String> {
        let parts: Vec<&str> = s.split(',').collect();
        let mut bits = 0;
        for part in &parts {
            bits |= match *part {
                "merge" => Self::MERGE,
                "replace" => Self::REPLACE,
                "retainKeys" => Self::RETAIN_KEYS,
                "" => 0,
                other => return Err(format!("unknown patch strategy {other:?} in {s:?}")),
            };
        }
        // Mirrors upstream's extractRetainKeysPatchStrategy: a second strategy is only
        // allowed next to retainKeys.
        if parts.len() > 2 || (parts.len() == 2 && bits & Self::RETAIN_KEYS == 0) {
            return Err(format!("unexpected patch strategy {s:?}"));
        }
        if bits & Self::MERGE != 0 && bits & Self::REPLACE != 0 {
            return Err(format!("unexpected patch strategy {s:?}"));
        }
        Ok(PatchStrategy { bits })
    }

    /// Lists are merged (by merge key for lists of objects, as a set for primitives).
    pub fn is_merge(self) -> bool {
        self.bits & Self::MERGE != 0
    }

    /// The value is replaced as a whole, never merged.
    pub fn is_replace(self) -> bool {
        self.bits & Self::REPLACE != 0
    }

    /// `retainKeys`: the patch's `$retainKeys` list clears the keys it does not name.
    pub fn retains_keys(self) -> bool {
        self.bits & Self::RETAIN_KEYS != 0
    }

    /// No strategy is declared.
    pub fn is_none(self) -> bool {
        self.bits == 0
    }
}

impl std::fmt::Display for PatchStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.is_merge() {
            parts.push("merge");
        }
        if self.is_replace() {
            parts.push("replace");
        }
        if self.retains_keys() {
            parts.push("retainKeys");
        }
        f.write_str(&parts.join(","))
    }
}

/// `x-kubernetes-list-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListType {
    /// The list is one value: replaced as a whole.
    Atomic,
    /// Scalars that are unique; each element is owned separately.
    Set,
    /// Objects identified by `x-kubernetes-list-map-keys`.
    Map,
}

/// `x-kubernetes-map-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapType {
    /// The object is one value: replaced as a whole.
    Atomic,
    /// Each key is a separate value (the default).
    Granular,
}

/// How server-side apply treats a list, derived like kube-openapi's `schemaconv`:
/// `x-kubernetes-list-type` wins; otherwise `x-kubernetes-patch-strategy` `merge`
/// (or `merge,retainKeys`) makes an associative list keyed by the patch merge key,
/// or a set when there is no merge key; anything else is atomic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListTopology<'a> {
    /// Replaced as a whole.
    Atomic,
    /// Unique scalars.
    Set,
    /// Objects identified by these keys.
    Map {
        /// The key fields, in order.
        keys: &'a [String],
    },
}

/// Which parser produced a node; the two disagree about unknown fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Kubernetes' published swagger definitions for built-in kinds. The API server
    /// decodes these into Go structs, so an object without declared properties (such
    /// as `RawExtension`) or an untyped node accepts anything.
    Builtin,
    /// A CRD's structural schema: what is not declared is pruned unless
    /// `x-kubernetes-preserve-unknown-fields` says otherwise.
    Structural,
}

/// One schema node. Built-in definitions live in a [`Catalog`]; a CRD's schema is an
/// owned tree made by [`Schema::from_openapi_v3`]. Navigate it through [`SchemaRef`].
#[derive(Debug, Clone)]
pub struct Schema {
    pub(crate) reference: Option<DefId>,
    pub(crate) declared: Option<Type>,
    pub(crate) properties: IndexMap<String, Schema>,
    pub(crate) additional: Option<Box<Schema>>,
    pub(crate) items: Option<Box<Schema>>,
    pub(crate) patch_strategy: Option<PatchStrategy>,
    /// Zero or one element, kept as a vector so that [`ListTopology::Map`] can borrow it.
    pub(crate) merge_key: Vec<String>,
    pub(crate) list_type: Option<ListType>,
    pub(crate) list_map_keys: Vec<String>,
    pub(crate) map_type: Option<MapType>,
    pub(crate) preserve_unknown: bool,
    pub(crate) embedded_resource: bool,
    pub(crate) flavor: Flavor,
}

impl Schema {
    fn empty(flavor: Flavor) -> Schema {
        Schema {
            reference: None,
            declared: None,
            properties: IndexMap::new(),
            additional: None,
            items: None,
            patch_strategy: None,
            merge_key: Vec::new(),
            list_type: None,
            list_map_keys: Vec::new(),
            map_type: None,
            preserve_unknown: false,
            embedded_resource: false,
            flavor,
        }
    }

    /// Builds the schema of a custom resource from its CRD version's
    /// `schema.openAPIV3Schema`. The schema must be inline (no `$ref`), as the API
    /// server requires of structural schemas.
    ///
    /// The result is a resource root: `apiVersion`, `kind` and `metadata` are always
    /// allowed, and `metadata` is checked against `ObjectMeta` rather than the CRD's
    /// own `metadata` property.
    pub fn from_openapi_v3(schema: &Value) -> Result<Schema, SchemaError> {
        let parser = Parser {
            flavor: Flavor::Structural,
            names: None,
        };
        parser.node(schema, "openAPIV3Schema")
    }

    /// A view of this node for navigation. Nodes of a CRD schema have no `$ref`, so no
    /// catalog is needed.
    pub fn root(&self) -> SchemaRef<'_> {
        SchemaRef::resolve(None, self)
    }
}

/// Turns JSON schema nodes into [`Schema`] nodes.
pub(crate) struct Parser<'n> {
    pub(crate) flavor: Flavor,
    /// Definition name → id, for resolving `$ref`; `None` forbids `$ref`.
    pub(crate) names: Option<&'n HashMap<String, DefId>>,
}

impl Parser<'_> {
    pub(crate) fn node(&self, v: &Value, path: &str) -> Result<Schema, SchemaError> {
        let Value::Object(m) = v else {
            return Err(invalid(path, "a schema must be a JSON object"));
        };
        let mut s = Schema::empty(self.flavor);

        if let Some(r) = m.get("$ref") {
            let r = r
                .as_str()
                .ok_or_else(|| invalid(path, "$ref must be a string"))?;
            let Some(names) = self.names else {
                return Err(invalid(
                    path,
                    format!("$ref {r:?} is not allowed here (structural schemas are inline)"),
                ));
            };
            let name = r.strip_prefix("#/definitions/").unwrap_or(r);
            s.reference = Some(
                names
                    .get(name)
                    .copied()
                    .ok_or_else(|| invalid(path, format!("$ref {r:?} names no definition")))?,
            );
        }

        if let Some(t) = m.get("type") {
            let t = t
                .as_str()
                .ok_or_else(|| invalid(path, "type must be a string"))?;
            s.declared = Some(match t {
                "object" => Type::Object,
                "array" => Type::Array,
                "string" => Type::String,
                "integer" => Type::Integer,
                "number" => Type::Number,
                "boolean" => Type::Boolean,
                other => return Err(invalid(path, format!("unknown type {other:?}"))),
            });
        }
        if m.get("format").and_then(Value::as_str) == Some("int-or-string")
            || flag(m, "x-kubernetes-int-or-string", path)?
        {
            s.declared = Some(Type::IntOrString);
        }

        if let Some(props) = m.get("properties") {
            let props = props
                .as_object()
                .ok_or_else(|| invalid(path, "properties must be an object"))?;
            s.properties.reserve(props.len());
            for (name, p) in props {
                let child = self.node(p, &format!("{path}.properties.{name}"))?;
                s.properties.insert(name.clone(), child);
            }
        }

        match m.get("additionalProperties") {
            None | Some(Value::Bool(false)) => {}
            // `true` allows any value under any key; modelled as an untyped node that
            // keeps whatever it holds.
            Some(Value::Bool(true)) => {
                let mut any = Schema::empty(self.flavor);
                any.preserve_unknown = true;
                s.additional = Some(Box::new(any));
            }
            Some(a) => {
                s.additional = Some(Box::new(
                    self.node(a, &format!("{path}.additionalProperties"))?,
                ))
            }
        }

        match m.get("items") {
            None => {}
            Some(Value::Array(_)) => {
                return Err(invalid(path, "tuple-typed items are not supported"));
            }
            Some(i) => s.items = Some(Box::new(self.node(i, &format!("{path}.items"))?)),
        }

        if let Some(ps) = m.get("x-kubernetes-patch-strategy") {
            let ps = ps
                .as_str()
                .ok_or_else(|| invalid(path, "x-kubernetes-patch-strategy must be a string"))?;
            s.patch_strategy = Some(
                PatchStrategy::parse(ps)
                    .map_err(|e| invalid(&format!("{path}.x-kubernetes-patch-strategy"), e))?,
            );
        }
        if let Some(k) = m.get("x-kubernetes-patch-merge-key") {
            let k = k
                .as_str()
                .ok_or_else(|| invalid(path, "x-kubernetes-patch-merge-key must be a string"))?;
            s.merge_key = vec![k.to_owned()];
        }
        if let Some(lt) = m.get("x-kubernetes-list-type") {
            s.list_type = Some(match lt.as_str() {
                Some("atomic") => ListType::Atomic,
                Some("set") => ListType::Set,
                Some("map") => ListType::Map,
                _ => {
                    return Err(invalid(
                        path,
                        format!("x-kubernetes-list-type must be atomic, set or map, not {lt}"),
                    ));
                }
            });
        }
        if let Some(keys) = m.get("x-kubernetes-list-map-keys") {
            let keys = keys
                .as_array()
                .ok_or_else(|| invalid(path, "x-kubernetes-list-map-keys must be a list"))?;
            s.list_map_keys = keys
                .iter()
                .map(|k| k.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid(path, "x-kubernetes-list-map-keys must list strings"))?;
        }
        if let Some(mt) = m.get("x-kubernetes-map-type") {
            s.map_type = Some(match mt.as_str() {
                Some("atomic") => MapType::Atomic,
                Some("granular") => MapType::Granular,
                _ => {
                    return Err(invalid(
                        path,
                        format!("x-kubernetes-map-type must be atomic or granular, not {mt}"),
                    ));
                }
            });
        }
        s.preserve_unknown = flag(m, "x-kubernetes-preserve-unknown-fields", path)?;
        s.embedded_resource = flag(m, "x-kubernetes-embedded-resource", path)?;
        Ok(s)
    }
}

fn flag(m: &serde_json::Map<String, Value>, key: &str, path: &str) -> Result<bool, SchemaError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(path, format!("{key} must be a boolean"))),
    }
}

/// A borrowed view of a schema node with its `$ref` resolved.
///
/// Extensions written next to a `$ref` (the use site, e.g. `x-kubernetes-patch-strategy`
/// on `DeploymentSpec.strategy`) take precedence over those on the referenced definition
/// (e.g. `x-kubernetes-map-type` on `LabelSelector`). Children are resolved only when
/// asked for, so recursive definitions such as `JSONSchemaProps` cost nothing up front.
/// The view is two pointers and an id: copy it freely.
#[derive(Clone, Copy)]
pub struct SchemaRef<'a> {
    catalog: Option<&'a Catalog>,
    site: &'a Schema,
    target: &'a Schema,
    def: Option<DefId>,
}

impl std::fmt::Debug for SchemaRef<'_> {
    // The tree behind a view can be large or recursive; name it instead of dumping it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRef")
            .field("definition", &self.definition())
            .field("type", &self.ty())
            .finish()
    }
}

/// Longest chain of definitions that are nothing but a `$ref` to another.
const MAX_REF_HOPS: usize = 16;

impl<'a> SchemaRef<'a> {
    pub(crate) fn resolve(catalog: Option<&'a Catalog>, site: &'a Schema) -> SchemaRef<'a> {
        let mut target = site;
        let mut def = None;
        for _ in 0..MAX_REF_HOPS {
            let Some(id) = target.reference else { break };
            match catalog.and_then(|c| c.node(id)) {
                Some(next) => {
                    target = next;
                    def = Some(id);
                }
                // Unresolvable: the view describes only what the site says.
                None => break,
            }
        }
        SchemaRef {
            catalog,
            site,
            target,
            def,
        }
    }

    /// A view of definition `id` itself, so that it knows its name.
    pub(crate) fn resolve_named(
        catalog: &'a Catalog,
        node: &'a Schema,
        id: DefId,
    ) -> SchemaRef<'a> {
        let mut view = SchemaRef::resolve(Some(catalog), node);
        view.def = view.def.or(Some(id));
        view
    }

    fn child(&self, node: &'a Schema) -> SchemaRef<'a> {
        SchemaRef::resolve(self.catalog, node)
    }

    pub(crate) fn flavor(&self) -> Flavor {
        self.site.flavor
    }

    pub(crate) fn catalog(&self) -> Option<&'a Catalog> {
        self.catalog
    }

    /// The kind of value this node describes. Without a declared type it is inferred:
    /// properties or additionalProperties mean an object, items an array, else [`Type::Any`].
    pub fn ty(&self) -> Type {
        let t = self.target;
        if let Some(ty) = t.declared.or(self.site.declared) {
            return ty;
        }
        if !t.properties.is_empty() || t.additional.is_some() {
            Type::Object
        } else if t.items.is_some() {
            Type::Array
        } else {
            Type::Any
        }
    }

    /// The name of the definition this node resolves to, if it is (or refers to) one.
    pub fn definition(&self) -> Option<&'a str> {
        let id = self.def?;
        self.catalog?.name(id)
    }

    /// The group/version/kinds the resolved definition is served as (empty for
    /// sub-definitions and CRD schemas).
    pub fn group_version_kinds(&self) -> &'a [GroupVersionKind] {
        match (self.catalog, self.def) {
            (Some(c), Some(id)) => c.gvks(id),
            _ => &[],
        }
    }

    /// The declared property `name` of an object node.
    pub fn property(&self, name: &str) -> Option<SchemaRef<'a>> {
        self.target.properties.get(name).map(|n| self.child(n))
    }

    /// The declared properties of an object node, in definition order.
    pub fn properties(&self) -> impl Iterator<Item = (&'a str, SchemaRef<'a>)> + 'a {
        let this = *self;
        self.target
            .properties
            .iter()
            .map(move |(k, n)| (k.as_str(), this.child(n)))
    }

    /// The schema of the values of a map node (`additionalProperties`).
    pub fn additional_properties(&self) -> Option<SchemaRef<'a>> {
        self.target.additional.as_deref().map(|n| self.child(n))
    }

    /// The schema of field `name`: its declared property, else the map's value schema.
    pub fn field(&self, name: &str) -> Option<SchemaRef<'a>> {
        self.property(name).or_else(|| self.additional_properties())
    }

    /// The schema of an array node's elements.
    pub fn items(&self) -> Option<SchemaRef<'a>> {
        self.target.items.as_deref().map(|n| self.child(n))
    }

    /// `x-kubernetes-patch-strategy`, or [`PatchStrategy::NONE`].
    pub fn patch_strategy(&self) -> PatchStrategy {
        self.site
            .patch_strategy
            .or(self.target.patch_strategy)
            .unwrap_or_default()
    }

    /// `x-kubernetes-patch-merge-key`.
    pub fn patch_merge_key(&self) -> Option<&'a str> {
        self.merge_key_slice().first().map(String::as_str)
    }

    fn merge_key_slice(&self) -> &'a [String] {
        if self.site.merge_key.is_empty() {
            &self.target.merge_key
        } else {
            &self.site.merge_key
        }
    }

    /// `x-kubernetes-list-type`, as declared.
    pub fn list_type(&self) -> Option<ListType> {
        self.site.list_type.or(self.target.list_type)
    }

    /// `x-kubernetes-list-map-keys`, as declared (empty when absent).
    pub fn list_map_keys(&self) -> &'a [String] {
        if self.site.list_map_keys.is_empty() {
            &self.target.list_map_keys
        } else {
            &self.site.list_map_keys
        }
    }

    /// The list's topology for server-side apply (see [`ListTopology`]).
    pub fn list_topology(&self) -> ListTopology<'a> {
        match self.list_type() {
            Some(ListType::Atomic) => ListTopology::Atomic,
            Some(ListType::Set) => ListTopology::Set,
            Some(ListType::Map) => ListTopology::Map {
                keys: self.list_map_keys(),
            },
            None if self.patch_strategy().is_merge() => {
                let keys = self.merge_key_slice();
                if keys.is_empty() {
                    ListTopology::Set
                } else {
                    ListTopology::Map { keys }
                }
            }
            None => ListTopology::Atomic,
        }
    }

    /// `x-kubernetes-map-type`, as declared (structs and maps are granular when absent).
    pub fn map_type(&self) -> Option<MapType> {
        self.site.map_type.or(self.target.map_type)
    }

    /// `x-kubernetes-preserve-unknown-fields` on this node.
    pub fn preserves_unknown_fields(&self) -> bool {
        self.site.preserve_unknown || self.target.preserve_unknown
    }

    /// `x-kubernetes-embedded-resource`: the value is an object with its own
    /// `apiVersion`, `kind` and `metadata`.
    pub fn is_embedded_resource(&self) -> bool {
        self.site.embedded_resource || self.target.embedded_resource
    }

    /// Whether the node declares properties (a struct rather than a map or scalar).
    pub fn has_properties(&self) -> bool {
        !self.target.properties.is_empty()
    }

    /// Whether fields this node does not declare are accepted as they are: the node
    /// preserves unknown fields, or (for built-in kinds, decoded into Go structs) it
    /// declares no properties at all (`RawExtension`, `FieldsV1`, untyped nodes).
    pub(crate) fn keeps_unknown(&self) -> bool {
        self.preserves_unknown_fields()
            || (self.flavor() == Flavor::Builtin && self.target.properties.is_empty())
    }
}
