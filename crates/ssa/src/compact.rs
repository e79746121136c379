//! Objects decoded with each `metadata.managedFields` entry's `fieldsV1` kept as its JSON
//! text. fieldsV1 is a large tree of small maps (≈ 44% of a rendered Deployment's JSON) that
//! most readers of an object never look at; [`crate::fieldsv1::from_value`] reads either
//! form when one does. Used for what clients keep of the server's answers and watch events.

use std::marker::PhantomData;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An object as JSON, its managedFields' `fieldsV1` as text (see the module).
#[derive(Debug, Clone)]
pub struct CompactValue(pub Value);

impl<'de> Deserialize<'de> for CompactValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CompactValue, D::Error> {
        Read::<Object>::new()
            .deserialize(deserializer)
            .map(CompactValue)
    }
}

/// A `managedFields` list whose entries keep their `fieldsV1` as JSON text.
#[derive(Debug, Clone)]
pub struct ManagedFieldsText(pub Value);

impl<'de> Deserialize<'de> for ManagedFieldsText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ManagedFieldsText, D::Error> {
        Ok(ManagedFieldsText(
            match Option::<Vec<ManagedEntry>>::deserialize(deserializer)? {
                Some(entries) => Value::Array(entries.into_iter().map(|e| e.0).collect()),
                None => Value::Null,
            },
        ))
    }
}

/// One `managedFields` entry with its `fieldsV1` as JSON text.
struct ManagedEntry(Value);

impl<'de> Deserialize<'de> for ManagedEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ManagedEntry, D::Error> {
        Read::<Entry>::new()
            .deserialize(deserializer)
            .map(ManagedEntry)
    }
}

/// How one level of the object reads the value of each key of its map.
trait Level {
    fn value<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Value, A::Error>;
}

/// The object: its `metadata` is read as [`Metadata`].
struct Object;

impl Level for Object {
    fn value<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Value, A::Error> {
        match key {
            "metadata" => map.next_value_seed(Read::<Metadata>::new()),
            _ => map.next_value(),
        }
    }
}

/// `metadata`: its `managedFields` is read as [`ManagedFieldsText`].
struct Metadata;

impl Level for Metadata {
    fn value<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Value, A::Error> {
        match key {
            "managedFields" => Ok(map.next_value::<ManagedFieldsText>()?.0),
            _ => map.next_value(),
        }
    }
}

/// A `managedFields` entry: its `fieldsV1` is written as JSON text.
struct Entry;

impl Level for Entry {
    fn value<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Value, A::Error> {
        if key != "fieldsV1" {
            return map.next_value();
        }
        let mut text = Vec::new();
        map.next_value_seed(JsonText(&mut text))?;
        // serde_json writes UTF-8 only.
        Ok(Value::String(
            String::from_utf8(text).map_err(serde::de::Error::custom)?,
        ))
    }
}

/// Reads a JSON value whose map is read key by key as `L` says. What is not a map is kept
/// as it came: the API's validation is not ours to redo.
struct Read<L>(PhantomData<L>);

impl<L> Read<L> {
    fn new() -> Read<L> {
        Read(PhantomData)
    }
}

impl<'de, L: Level> DeserializeSeed<'de> for Read<L> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, L: Level> Visitor<'de> for Read<L> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = L::value(&key, &mut map)?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Writes whatever it decodes as compact JSON text into the buffer, without building
/// a tree on the way.
struct JsonText<'b>(&'b mut Vec<u8>);

impl<'de> serde::de::DeserializeSeed<'de> for JsonText<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl JsonText<'_> {
    fn write<T: serde::Serialize + ?Sized, E: serde::de::Error>(&mut self, v: &T) -> Result<(), E> {
        serde_json::to_writer(&mut *self.0, v).map_err(E::custom)
    }
}

impl<'de> serde::de::Visitor<'de> for JsonText<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(mut self, v: bool) -> Result<(), E> {
        self.write(&v)
    }

    fn visit_i64<E: serde::de::Error>(mut self, v: i64) -> Result<(), E> {
        self.write(&v)
    }

    fn visit_u64<E: serde::de::Error>(mut self, v: u64) -> Result<(), E> {
        self.write(&v)
    }

    fn visit_f64<E: serde::de::Error>(mut self, v: f64) -> Result<(), E> {
        self.write(&v)
    }

    fn visit_str<E: serde::de::Error>(mut self, v: &str) -> Result<(), E> {
        self.write(v)
    }

    fn visit_unit<E: serde::de::Error>(mut self) -> Result<(), E> {
        self.write(&())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push(b'[');
        let mut first = true;
        loop {
            let at = self.0.len();
            if !first {
                self.0.push(b',');
            }
            if seq.next_element_seed(JsonText(&mut *self.0))?.is_none() {
                // No element came: take back the separator.
                self.0.truncate(at);
                break;
            }
            first = false;
        }
        self.0.push(b']');
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.push(b'{');
        let mut first = true;
        loop {
            let at = self.0.len();
            if !first {
                self.0.push(b',');
            }
            // A key arrives as a string, written quoted and escaped like any other.
            if map.next_key_seed(JsonText(&mut *self.0))?.is_none() {
                self.0.truncate(at);
                break;
            }
            first = false;
            self.0.push(b':');
            map.next_value_seed(JsonText(&mut *self.0))?;
        }
        self.0.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_fields_v1_of_metadata_managed_fields_turns_into_text() {
        let fields = json!({"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}}}}});
        let sent = json!({
            "kind": "Deployment",
            "metadata": {"name": "web", "managedFields": [
                {"manager": "flotilla", "operation": "Apply", "fieldsV1": fields},
            ]},
            "spec": {"fieldsV1": {"f:x": {}}, "metadata": {"managedFields": [{"fieldsV1": {}}]}},
        });
        let CompactValue(got) =
            serde_json::from_slice(&serde_json::to_vec(&sent).unwrap()).unwrap();
        let text = got["metadata"]["managedFields"][0]["fieldsV1"]
            .as_str()
            .unwrap();
        assert_eq!(serde_json::from_str::<Value>(text).unwrap(), fields);
        let mut expected = sent.clone();
        expected["metadata"]["managedFields"][0]["fieldsV1"] = json!(text);
        assert_eq!(got, expected);
        assert_eq!(
            crate::fieldsv1::from_value(&got["metadata"]["managedFields"][0]["fieldsV1"]).unwrap(),
            crate::fieldsv1::from_value(&fields).unwrap()
        );
        // What is not an object with metadata comes through as it was.
        for other in [
            json!([1, {"metadata": 2}]),
            json!("x"),
            json!(null),
            json!({"metadata": {"managedFields": null}}),
        ] {
            let CompactValue(got) = serde_json::from_value(other.clone()).unwrap();
            assert_eq!(got, other);
        }
    }
}
