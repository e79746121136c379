//! Objects read from watches as plain JSON. kube's `DynamicObject` decodes the metadata
//! into typed fields (every managedFields entry included) that the controllers turn back
//! into JSON at once; a [`RawObject`] is decoded once, into the `Value` they use, with
//! only what the watcher itself needs (name, namespace, uid, resourceVersion) copied out.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An object of any kind, as the JSON the server sent.
#[derive(Debug, Clone)]
pub struct RawObject {
    meta: ObjectMeta,
    /// The whole object.
    pub value: Value,
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawObject, D::Error> {
        Ok(RawObject::from_value(Value::deserialize(deserializer)?))
    }
}

impl From<RawObject> for Value {
    fn from(object: RawObject) -> Value {
        object.value
    }
}

/// A [`RawObject`] without `metadata.managedFields`, which is skipped while decoding and
/// never allocated: for watchers that never read field ownership (on an Application it
/// is as large as the spec, and every write adds to it).
#[derive(Debug, Clone)]
pub struct UnmanagedObject(RawObject);

impl<'de> Deserialize<'de> for UnmanagedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UnmanagedObject, D::Error> {
        let omit = Omit {
            status: false,
            managed_fields: true,
        };
        decode(deserializer, omit).map(UnmanagedObject)
    }
}

impl From<UnmanagedObject> for Value {
    fn from(object: UnmanagedObject) -> Value {
        object.0.value
    }
}

/// A [`RawObject`] without its `status` nor `metadata.managedFields`, skipped while
/// decoding and never allocated: for watchers that react to spec and metadata only (an
/// Application's status is most of it).
#[derive(Debug, Clone)]
pub struct StatuslessObject(RawObject);

impl<'de> Deserialize<'de> for StatuslessObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StatuslessObject, D::Error> {
        let omit = Omit {
            status: true,
            managed_fields: true,
        };
        decode(deserializer, omit).map(StatuslessObject)
    }
}

/// A [`RawObject`] whose `metadata.managedFields` entries keep their `fieldsV1` as its
/// JSON text ([`flotilla_ssa::compact`]), for the watches that cache what the hub applied:
/// fieldsV1 is nearly half of such an object and a tree of small maps, but only read when
/// the object drifted ([`flotilla_ssa::fieldsv1::from_value`] reads either form).
#[derive(Debug, Clone)]
pub struct CompactObject(RawObject);

impl<'de> Deserialize<'de> for CompactObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CompactObject, D::Error> {
        let flotilla_ssa::compact::CompactValue(value) =
            flotilla_ssa::compact::CompactValue::deserialize(deserializer)?;
        if !value.is_object() {
            return Err(serde::de::Error::custom("expected an object"));
        }
        Ok(CompactObject(RawObject::from_value(value)))
    }
}

impl From<CompactObject> for Value {
    fn from(object: CompactObject) -> Value {
        object.0.value
    }
}

/// A [`CompactObject`] with the JSON text it was decoded from, for the watches that keep
/// what they saw: they read the tree once and keep the text, which takes a fraction of
/// the tree's memory (every key, string and map of a tree is an allocation of its own),
/// and decode it again when it is read. Decoded from JSON text only (`serde_json`'s
/// `from_str`/`from_slice`, as kube reads watch events and lists), not from a `Value`.
#[derive(Debug, Clone)]
pub struct TextObject {
    object: CompactObject,
    text: Box<str>,
}

impl TextObject {
    /// The decoded object and the text it came from.
    pub fn into_parts(self) -> (Value, Box<str>) {
        (self.object.into(), self.text)
    }
}

impl<'de> Deserialize<'de> for TextObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TextObject, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let object: CompactObject =
            serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
        Ok(TextObject {
            object,
            text: raw.into(),
        })
    }
}

/// What a decoding leaves out.
#[derive(Debug, Clone, Copy)]
struct Omit {
    status: bool,
    managed_fields: bool,
}

/// `object` without its `status` and `metadata.managedFields` (as a
/// [`StatuslessObject`] is decoded), for a typed form that reads neither.
pub(crate) fn statusless(object: &Value) -> Result<Value, serde_json::Error> {
    use serde::Deserializer as _;
    let omit = Omit {
        status: true,
        managed_fields: true,
    };
    object.deserialize_map(Fields(omit))
}

/// Decodes an object, leaving out what `omit` says.
fn decode<'de, D: Deserializer<'de>>(deserializer: D, omit: Omit) -> Result<RawObject, D::Error> {
    Ok(RawObject::from_value(
        deserializer.deserialize_map(Fields(omit))?,
    ))
}

/// Decodes an object's fields, skipping what `Omit` says.
struct Fields(Omit);

impl<'de> serde::de::Visitor<'de> for Fields {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "status" if self.0.status => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                "metadata" if self.0.managed_fields => {
                    fields.insert(key, map.next_value_seed(MetadataFields)?);
                }
                _ => {
                    fields.insert(key, map.next_value()?);
                }
            }
        }
        Ok(Value::Object(fields))
    }
}

/// Decodes `metadata` without `managedFields`.
struct MetadataFields;

impl<'de> serde::de::Visitor<'de> for MetadataFields {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("object metadata")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "managedFields" {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else {
                fields.insert(key, map.next_value()?);
            }
        }
        Ok(Value::Object(fields))
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for MetadataFields {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl From<StatuslessObject> for Value {
    fn from(object: StatuslessObject) -> Value {
        object.0.value
    }
}

impl RawObject {
    fn from_value(value: Value) -> RawObject {
        let field = |name: &str| {
            value
                .get("metadata")
                .and_then(|m| m.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let meta = ObjectMeta {
            name: field("name"),
            namespace: field("namespace"),
            uid: field("uid"),
            resource_version: field("resourceVersion"),
            ..ObjectMeta::default()
        };
        RawObject { meta, value }
    }
}

/// Implements `kube::Resource` for an object type of any kind, described at run time by
/// an `ApiResource` (as kube's `DynamicObject` is): `dynamic_resource!(Type, field.path)`
/// names where the type keeps its `ObjectMeta`. The caller needs the `kube` crate.
#[macro_export]
macro_rules! dynamic_resource {
    ($type:ty, $($meta:tt)+) => {
        impl kube::Resource for $type {
            type DynamicType = kube::api::ApiResource;
            type Scope = kube::core::DynamicResourceScope;

            fn group(dt: &kube::api::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.group.as_str().into()
            }

            fn version(dt: &kube::api::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.version.as_str().into()
            }

            fn kind(dt: &kube::api::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.kind.as_str().into()
            }

            fn api_version(dt: &kube::api::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.api_version.as_str().into()
            }

            fn plural(dt: &kube::api::ApiResource) -> std::borrow::Cow<'_, str> {
                dt.plural.as_str().into()
            }

            fn meta(&self) -> &kube::api::ObjectMeta {
                &self.$($meta)+
            }

            fn meta_mut(&mut self) -> &mut kube::api::ObjectMeta {
                &mut self.$($meta)+
            }
        }
    };
}

dynamic_resource!(RawObject, meta);
dynamic_resource!(UnmanagedObject, 0.meta);
dynamic_resource!(StatuslessObject, 0.meta);
dynamic_resource!(CompactObject, 0.meta);
dynamic_resource!(TextObject, object.0.meta);

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_core::pointer::Pointer as _;
    use kube::Resource as _;
    use serde_json::json;

    #[test]
    fn the_value_is_the_json_as_sent_and_the_metadata_what_a_watcher_needs() {
        let sent = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd", "uid": "u-1",
                         "resourceVersion": "42", "labels": {"a": "b"},
                         "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"project": "default"}, "status": {"sync": {"status": "Synced"}},
        });
        let raw: RawObject = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(raw.value, sent);
        assert_eq!(raw.meta().name.as_deref(), Some("web"));
        assert_eq!(raw.meta().namespace.as_deref(), Some("argocd"));
        assert_eq!(raw.meta().uid.as_deref(), Some("u-1"));
        assert_eq!(raw.meta().resource_version.as_deref(), Some("42"));
        // A watch event carries it unchanged.
        let event: kube::core::WatchEvent<RawObject> =
            serde_json::from_value(json!({"type": "MODIFIED", "object": sent.clone()})).unwrap();
        match event {
            kube::core::WatchEvent::Modified(o) => assert_eq!(o.value, sent),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_compact_object_keeps_each_fields_v1_as_its_json_text() {
        let fields = json!({"f:metadata": {"f:labels": {"f:a": {}}},
                            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}}},
                                       "f:note": {"f:q\"uote\\d \u{e9}\n": {}}},
                            "f:list": [1, -2, 3.5, true, null, "x"]});
        let sent = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "7",
                         "managedFields": [
                             {"manager": "flotilla", "operation": "Apply", "fieldsType": "FieldsV1",
                              "fieldsV1": fields, "time": "2026-01-01T00:00:00Z"},
                             {"manager": "sim", "operation": "Update", "subresource": "status",
                              "fieldsV1": {}},
                         ],
                         "labels": {"a": "b"}},
            "spec": {"replicas": 1, "fieldsV1": {"f:not": {}}},
            "status": {"replicas": 1},
        });
        // Decoded from bytes, as a watch decodes each line.
        let line = serde_json::to_vec(&sent).unwrap();
        let compact: CompactObject = serde_json::from_slice(&line).unwrap();
        assert_eq!(compact.meta().name.as_deref(), Some("web"));
        assert_eq!(compact.meta().resource_version.as_deref(), Some("7"));
        let value = Value::from(compact);
        let text = value
            .at("/metadata/managedFields/0/fieldsV1")
            .and_then(Value::as_str)
            .expect("fieldsV1 as text");
        assert_eq!(serde_json::from_str::<Value>(text).unwrap(), fields);
        assert_eq!(
            value.at("/metadata/managedFields/1/fieldsV1"),
            Some(&json!("{}"))
        );
        // Everything else is as sent, in order, a spec field of that name included.
        let mut expected = sent.clone();
        expected["metadata"]["managedFields"][0]["fieldsV1"] = json!(text);
        expected["metadata"]["managedFields"][1]["fieldsV1"] = json!("{}");
        assert_eq!(value, expected);
        let keys: Vec<&String> = value["metadata"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "name",
                "namespace",
                "resourceVersion",
                "managedFields",
                "labels"
            ]
        );
        // Both forms read as the same field set.
        let mut valid = fields.clone();
        valid.as_object_mut().unwrap().remove("f:list");
        let set = flotilla_ssa::fieldsv1::from_value(&valid).unwrap();
        assert!(!set.is_empty());
        let as_text = json!(valid.to_string());
        assert_eq!(flotilla_ssa::fieldsv1::from_value(&as_text).unwrap(), set);
        assert!(flotilla_ssa::fieldsv1::from_value(&json!("{not json")).is_err());
        // A malformed entry is refused, not guessed at.
        let bad = r#"{"metadata": {"managedFields": [{"fieldsV1": {"f:a": [1,]}}]}}"#;
        assert!(serde_json::from_str::<CompactObject>(bad).is_err());
    }

    #[test]
    fn a_statusless_object_is_the_object_without_its_status() {
        let sent = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd", "resourceVersion": "9",
                         "ownerReferences": [{"kind": "ApplicationSet", "name": "set"}]},
            "spec": {"project": "default"},
            "status": {"resources": [{"kind": "ConfigMap", "name": "a"}]},
        });
        let object: StatuslessObject = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(object.meta().resource_version.as_deref(), Some("9"));
        let mut expected = sent;
        expected.as_object_mut().unwrap().remove("status");
        assert_eq!(Value::from(object), expected);
    }

    #[test]
    fn leaner_objects_leave_out_managed_fields_and_nothing_else() {
        let sent = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd", "resourceVersion": "9",
                         "labels": {"team": "shop"},
                         "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"project": "default", "managedFields": "a spec field of that name stays"},
            "status": {"sync": {"status": "Synced"}},
        });
        let mut expected = sent.clone();
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        let unmanaged: UnmanagedObject = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(unmanaged.meta().name.as_deref(), Some("web"));
        assert_eq!(unmanaged.meta().resource_version.as_deref(), Some("9"));
        assert_eq!(Value::from(unmanaged), expected);
        let decoded: StatuslessObject = serde_json::from_value(sent.clone()).unwrap();
        expected.as_object_mut().unwrap().remove("status");
        assert_eq!(Value::from(decoded), expected);
        // The same, from a decoded object.
        assert_eq!(statusless(&sent).unwrap(), expected);
        // What is not an object is refused, not guessed at.
        assert!(serde_json::from_value::<UnmanagedObject>(json!([1])).is_err());
    }
}
