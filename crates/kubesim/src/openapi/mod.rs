//! The OpenAPI documents a cluster publishes: `/openapi/v3` (a root listing one
//! document per group-version, each addressed by a content hash) and `/openapi/v2`
//! (one Swagger 2.0 document, as JSON or gnostic protobuf).
//!
//! Clients depend on these more than it seems. kubectl validates through the
//! PATCH operation's `fieldValidation` parameter, computes strategic merge patches
//! from the schemas' `x-kubernetes-patch-*` extensions, and `kubectl explain`
//! renders them; Argo CD refuses to sync without the v2 protobuf. So built-in kinds
//! carry the upstream definitions unchanged (only converted to each format) and
//! custom resources get the schema a real apiextensions-apiserver would publish.
//!
//! Everything here is a pure function of the [`Registry`]; the caller caches per
//! `Registry::generation`. Building every v3 document takes tens of milliseconds.

mod cache;
mod definitions;
mod paths;
mod proto;

pub use cache::{Published, published};

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::discovery::sha256;
use crate::registry::Registry;
use crate::resources::{Origin, ResourceType};

use definitions::{V2_REF_PREFIX, closure, name_for_kind, visit_schemas_mut};
use paths::{
    API_RESOURCE_LIST, DELETE_OPTIONS, Flavor, GroupVersion, KindSchemas, PATCH, SCALE, STATUS,
    WATCH_EVENT,
};

/// The version `info.version` reports; keep it in step with `/version`.
pub const KUBERNETES_VERSION: &str = "v1.32.0";

/// The `Content-Type` of [`v2_protobuf`] responses. Clients ask with
/// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, but the
/// apiserver answers with this dotted form: `@` is not a MIME token character, and
/// client-go's `mime.ParseMediaType` fails on it ("unexpected content after media
/// subtype").
pub const V2_PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Where OpenAPI 3 references point.
const V3_REF_PREFIX: &str = "#/components/schemas/";

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

mod text {
    //! Descriptions the apiserver gives the fields it adds to every kind.
    pub(super) const API_VERSION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
    pub(super) const KIND: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
    pub(super) const METADATA: &str = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
    pub(super) const LIST_METADATA: &str = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";
}

/// The `/openapi/v3` root key of a group-version: `api/v1` or `apis/<group>/<version>`.
pub fn v3_path_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A document's `?hash=`: upper-case hex SHA-256 of its JSON. It changes exactly
/// when the document does, which is what lets kubectl cache documents forever.
pub fn document_hash(doc: &Value) -> String {
    sha256(doc.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Every served group-version's v3 document, keyed by [`v3_path_key`], in
/// discovery order. Cache these and build the root with [`v3_root_from`].
pub fn v3_documents(registry: &Registry) -> Vec<(String, Value)> {
    registry
        .groups()
        .iter()
        .flat_map(|g| g.versions.iter().map(move |v| (g.name.clone(), v.clone())))
        .filter_map(|(g, v)| Some((v3_path_key(&g, &v), v3_group_version(registry, &g, &v)?)))
        .collect()
}

/// The `/openapi/v3` root for documents from [`v3_documents`].
pub fn v3_root_from(documents: &[(String, Value)]) -> Value {
    let paths: Map<String, Value> = documents
        .iter()
        .map(|(key, doc)| {
            let url = format!("/openapi/v3/{key}?hash={}", document_hash(doc));
            (key.clone(), json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

/// The `/openapi/v3` root: `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}, …}}`.
pub fn v3_root(registry: &Registry) -> Value {
    v3_root_from(&v3_documents(registry))
}

/// The OpenAPI 3.0 document of one group-version (`group` empty for core), or
/// `None` when it is not served.
pub fn v3_group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let gathered = gather(registry, group, version)?;
    let schemas: Map<String, Value> = gathered
        .definitions
        .iter()
        .map(|(name, schema)| (name.clone(), to_v3(name, schema)))
        .collect();
    let paths = paths::render(&gathered.paths(), Flavor::V3, &paths::tag(group, version));
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": bearer_token()},
        },
    }))
}

fn bearer_token() -> Value {
    json!({"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"})
}

/// The `/openapi/v2` Swagger 2.0 document covering every served group-version.
pub fn v2_json(registry: &Registry) -> Value {
    let mut paths = BTreeMap::new();
    let mut definitions = BTreeMap::new();
    for g in registry.groups() {
        for v in &g.versions {
            let Some(gathered) = gather(registry, &g.name, v) else {
                continue;
            };
            paths.extend(paths::render(
                &gathered.paths(),
                Flavor::V2,
                &paths::tag(&g.name, v),
            ));
            for (name, schema) in &gathered.definitions {
                let schema = if gathered.custom.contains(name) {
                    crd_to_v2(schema)
                } else {
                    schema.clone()
                };
                definitions.insert(name.clone(), schema);
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths.into_iter().collect::<Map<_, _>>(),
        "definitions": definitions.into_iter().collect::<Map<_, _>>(),
        "securityDefinitions": {"BearerToken": bearer_token()},
        "security": [{"BearerToken": []}],
    })
}

/// `/openapi/v2` as `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`:
/// the gnostic `openapi.v2.Document` encoding of [`v2_json`]'s result, which
/// client-go decodes with `proto.Unmarshal` and no JSON fallback.
pub fn v2_protobuf(v2: &Value) -> Vec<u8> {
    proto::encode_document(v2)
}

/// A group-version's kinds and every definition their documents need, in the
/// Swagger 2.0 form the embedded definitions use.
struct Gathered<'a> {
    group: &'a str,
    version: &'a str,
    kinds: Vec<(std::sync::Arc<ResourceType>, KindSchemas)>,
    definitions: BTreeMap<String, Value>,
    /// Names of definitions built from CRD schemas (converted differently for v2).
    custom: Vec<String>,
}

impl Gathered<'_> {
    fn paths(&self) -> Vec<paths::PathItem> {
        let gv = GroupVersion {
            group: self.group,
            version: self.version,
            builtin: self.kinds.iter().all(|(t, _)| !t.is_custom()),
        };
        let kinds: Vec<(&ResourceType, KindSchemas)> = self
            .kinds
            .iter()
            .map(|(t, s)| (t.as_ref(), s.clone()))
            .collect();
        paths::paths(&gv, &kinds)
    }
}

/// Collects a group-version's kinds and the transitive closure of their definitions.
fn gather<'a>(registry: &Registry, group: &'a str, version: &'a str) -> Option<Gathered<'a>> {
    let mut types = registry.group_version(group, version);
    if types.is_empty() {
        return None;
    }
    types.sort_by(|a, b| a.plural.cmp(&b.plural));
    let mut roots: Vec<String> = [
        API_RESOURCE_LIST,
        DELETE_OPTIONS,
        PATCH,
        STATUS,
        WATCH_EVENT,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut local = BTreeMap::new();
    let mut kinds = Vec::new();
    for t in types {
        let builtin = match (&t.origin, name_for_kind(group, version, &t.kind)) {
            (Origin::Builtin, Some(object)) => {
                name_for_kind(group, version, &format!("{}List", t.kind))
                    // Create-only kinds (the reviews) have no list type.
                    .or(t.is_create_only().then_some(object))
                    .map(|list| (object, list))
            }
            _ => None,
        };
        let schemas = match builtin {
            Some((object, list)) => KindSchemas {
                object: object.into(),
                list: list.into(),
            },
            None => {
                // Custom resources, and any built-in the embedded data lacks, get
                // the schema the apiextensions-apiserver would publish.
                let user_schema = match &t.origin {
                    Origin::Crd {
                        schema: Some(schema),
                        ..
                    } => Some(schema.as_ref()),
                    _ => None,
                };
                let object = custom_schema_name(group, version, &t.kind);
                let list = format!("{object}List");
                local.insert(object.clone(), custom_object_schema(&t, user_schema));
                local.insert(list.clone(), custom_list_schema(&t, &object));
                KindSchemas { object, list }
            }
        };
        roots.push(schemas.object.clone());
        roots.push(schemas.list.clone());
        if t.scale.is_some() {
            roots.push(SCALE.into());
        }
        kinds.push((t, schemas));
    }
    let definitions = closure(&roots, &local);
    Some(Gathered {
        group,
        version,
        kinds,
        definitions,
        custom: local.into_keys().collect(),
    })
}

/// `com.example.v1.Widget` for `example.com/v1` `Widget`: the reversed group,
/// version and kind, as the apiextensions-apiserver names published schemas.
fn custom_schema_name(group: &str, version: &str, kind: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    parts.retain(|p| !p.is_empty());
    if parts.is_empty() {
        format!("{version}.{kind}")
    } else {
        format!("{}.{version}.{kind}", parts.join("."))
    }
}

fn gvk_extension(t: &ResourceType, kind: &str) -> Value {
    json!([{"group": t.group, "kind": kind, "version": t.version}])
}

/// A custom resource's published schema: its `openAPIV3Schema` with `apiVersion`,
/// `kind` and a `metadata` reference to `ObjectMeta` in place of whatever the CRD
/// said about them, tagged with its group-version-kind.
fn custom_object_schema(t: &ResourceType, user: Option<&Value>) -> Value {
    let mut schema = match user {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let user_properties = match schema.remove("properties") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let mut properties = Map::new();
    properties.insert(
        "apiVersion".into(),
        json!({"description": text::API_VERSION, "type": "string"}),
    );
    properties.insert(
        "kind".into(),
        json!({"description": text::KIND, "type": "string"}),
    );
    properties.insert(
        "metadata".into(),
        json!({"$ref": format!("{V2_REF_PREFIX}{OBJECT_META}"), "description": text::METADATA}),
    );
    for (name, prop) in user_properties {
        if !properties.contains_key(&name) {
            properties.insert(name, prop);
        }
    }
    schema.insert("properties".into(), Value::Object(properties));
    schema.entry("type").or_insert(json!("object"));
    schema.insert(
        "x-kubernetes-group-version-kind".into(),
        gvk_extension(t, &t.kind),
    );
    Value::Object(schema)
}

/// The `<Kind>List` schema published beside a custom resource.
fn custom_list_schema(t: &ResourceType, object: &str) -> Value {
    let list_kind = format!("{}List", t.kind);
    json!({
        "description": format!("{list_kind} is a list of {}", t.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": text::API_VERSION, "type": "string"},
            "items": {
                "description": format!("List of {}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md", t.plural),
                "type": "array",
                "items": {"$ref": format!("{V2_REF_PREFIX}{object}")},
            },
            "kind": {"description": text::KIND, "type": "string"},
            "metadata": {"$ref": format!("{V2_REF_PREFIX}{LIST_META}"), "description": text::LIST_METADATA},
        },
        "x-kubernetes-group-version-kind": gvk_extension(t, &list_kind),
    })
}

/// A definition in OpenAPI 3 form, as the apiserver publishes it: references point
/// into `components/schemas`, and a reference with sibling keywords (a field's
/// description, its `x-kubernetes-patch-strategy`) becomes `allOf: [{$ref}]` beside
/// them, since OpenAPI 3.0 ignores a `$ref`'s siblings. kubectl's strategic-merge
/// lookup reads the extensions from that wrapper and then follows `allOf[0]`.
fn to_v3(name: &str, schema: &Value) -> Value {
    // Two scalar types whose v3 schemas say what v2 could not.
    let description = schema.get("description").cloned().unwrap_or(Value::Null);
    match name {
        INT_OR_STRING => {
            return json!({"description": description, "format": "int-or-string",
                          "oneOf": [{"type": "integer"}, {"type": "string"}]});
        }
        QUANTITY => {
            return json!({"description": description, "oneOf": [{"type": "string"}, {"type": "number"}]});
        }
        _ => {}
    }
    let mut out = schema.clone();
    visit_schemas_mut(&mut out, &mut |m| {
        let Some(Value::String(r)) = m.get("$ref") else {
            return;
        };
        let target = match r.strip_prefix(V2_REF_PREFIX) {
            Some(rest) => format!("{V3_REF_PREFIX}{rest}"),
            None => r.clone(),
        };
        if m.len() == 1 {
            m.insert("$ref".into(), json!(target));
            return;
        }
        m.remove("$ref");
        let siblings = std::mem::take(m);
        m.insert("allOf".into(), json!([{"$ref": target}]));
        m.extend(siblings);
    });
    out
}

/// A CRD schema in Swagger 2.0 form, following `ToStructuralOpenAPIV2`: v2 has no
/// `nullable`, `oneOf`, `anyOf` or `not`, and kubectl's v2 reader cannot cope with
/// typed nullable values or properties under `x-kubernetes-preserve-unknown-fields`.
fn crd_to_v2(schema: &Value) -> Value {
    let mut out = schema.clone();
    visit_schemas_mut(&mut out, &mut |m| {
        for key in ["allOf", "oneOf", "anyOf", "not"] {
            m.remove(key);
        }
        if m.remove("nullable") == Some(json!(true)) {
            for key in ["type", "items", "properties"] {
                m.remove(key);
            }
        }
        if m.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)) {
            m.remove("items");
            m.remove("properties");
        }
        if !m.contains_key("items") && m.get("type") == Some(&json!("array")) {
            m.remove("type");
        }
    });
    out
}

#[cfg(test)]
mod tests;
