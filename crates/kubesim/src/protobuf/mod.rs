//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! turned into the JSON object a JSON client would have sent.
//!
//! client-go's typed clients, and so most of `kubectl create <kind>`, send protobuf. A body is
//! the magic `k8s\0` and a `runtime.Unknown` envelope: `typeMeta` (apiVersion, kind) and `raw`,
//! the object's own message. Messages are read against Kubernetes' `generated.proto` files,
//! compiled at build time (see `build.rs`), so field numbers, names and wire types are
//! upstream's. What the `.proto` files do not say is how the Go types behind them marshal to
//! JSON; `gofacts` holds those facts and `json` applies them:
//!
//! * Go's encoder writes every scalar field that is not a pointer, zero or not, so a zero
//!   string, number or bool on the wire is usually just "unset". It is dropped unless the
//!   Go field is a pointer (`replicas: 0` stays), as `omitempty` would drop it.
//! * Struct fields are kept even when empty (`resources: {}`), as Go's JSON keeps them.
//! * `metav1.Time` / `MicroTime` become RFC 3339 strings in UTC (seconds, or microseconds),
//!   `null` when zero; `IntOrString` a number or string; `Quantity` its string;
//!   `RawExtension`, `FieldsV1` and apiextensions `JSON` the JSON they carry; bytes base64;
//!   maps objects with sorted keys; embedded Go structs (`VolumeSource` in `Volume`) inline.

mod gofacts;
mod json;
mod schema;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use prost_reflect::DynamicMessage;

/// The media type of Kubernetes' protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// What every protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body lacks the `k8s\0` prefix. The wording is the API server's.
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    NotProtobuf,
    /// The `runtime.Unknown` envelope after the prefix is not a valid message.
    #[error("decoding the runtime.Unknown envelope")]
    Envelope(#[source] prost_reflect::prost::DecodeError),
    /// The envelope names no kind.
    #[error("Object 'Kind' is missing in the envelope (apiVersion {api_version:?})")]
    MissingKind {
        /// The apiVersion the envelope does name.
        api_version: String,
    },
    /// The envelope names no apiVersion.
    #[error("Object 'apiVersion' is missing in the envelope (kind {kind:?})")]
    MissingVersion {
        /// The kind the envelope does name.
        kind: String,
    },
    /// No built-in message is known for the envelope's apiVersion and kind (custom resources
    /// have no protobuf form).
    #[error("no kind {kind:?} is registered for version {api_version:?} in the protobuf schema")]
    UnknownKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
    },
    /// The object's bytes are not a valid message of its kind.
    #[error("{kind} in version {api_version:?} cannot be handled as a {kind}")]
    Object {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
        /// The wire-level failure.
        #[source]
        source: prost_reflect::prost::DecodeError,
    },
    /// A field decoded but has no JSON form (an impossible `IntOrString` type, embedded
    /// JSON that does not parse, a time outside what RFC 3339 can write, …).
    #[error("{kind} in version {api_version:?} cannot be handled as a {kind}: {path}: {reason}")]
    Value {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
        /// Where in the object, as a JSON path (`spec.ports[0].targetPort`).
        path: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// The descriptors compiled into this binary do not load: a build problem, not the
    /// client's.
    #[error("the built-in protobuf descriptors do not load: {0}")]
    Descriptors(String),
}

/// Decode a protobuf request body into the JSON object the JSON API would receive:
/// `kind` and `apiVersion` from the envelope, then the object's fields under their JSON names.
pub fn decode_object(body: &[u8]) -> Result<Value, DecodeError> {
    let schema = schema::get()?;
    let raw = body.strip_prefix(MAGIC).ok_or(DecodeError::NotProtobuf)?;
    let envelope = Envelope::decode(schema, raw)?;
    let descriptor = schema
        .message_for(&envelope.api_version, &envelope.kind)
        .ok_or_else(|| DecodeError::UnknownKind {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
        })?;
    let message =
        DynamicMessage::decode(descriptor, envelope.raw.as_slice()).map_err(|source| {
            DecodeError::Object {
                api_version: envelope.api_version.clone(),
                kind: envelope.kind.clone(),
                source,
            }
        })?;
    let fields = json::Converter::new(schema)
        .object(&message)
        .map_err(|e| DecodeError::Value {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
            path: e.path(),
            reason: e.reason,
        })?;
    // TypeMeta leads, kind first, as Go's encoder writes it.
    let mut object = Map::with_capacity(fields.len() + 2);
    object.insert("kind".into(), Value::String(envelope.kind));
    object.insert("apiVersion".into(), Value::String(envelope.api_version));
    object.extend(fields);
    Ok(Value::Object(object))
}

/// The `runtime.Unknown` wrapper around the object.
struct Envelope {
    api_version: String,
    kind: String,
    raw: Vec<u8>,
}

impl Envelope {
    /// Read the envelope. Its contentEncoding and contentType are ignored, as the API
    /// server's protobuf decoder ignores them.
    fn decode(schema: &schema::Schema, bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let unknown =
            DynamicMessage::decode(schema.unknown(), bytes).map_err(DecodeError::Envelope)?;
        let type_meta = unknown
            .get_field_by_name("typeMeta")
            .and_then(|v| v.as_message().cloned());
        let text = |name: &str| {
            type_meta
                .as_ref()
                .and_then(|m| m.get_field_by_name(name))
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        if kind.is_empty() {
            return Err(DecodeError::MissingKind { api_version });
        }
        if api_version.is_empty() {
            return Err(DecodeError::MissingVersion { kind });
        }
        let raw = unknown
            .get_field_by_name("raw")
            .and_then(|v| v.as_bytes().map(|b| b.to_vec()))
            .unwrap_or_default();
        Ok(Envelope {
            api_version,
            kind,
            raw,
        })
    }
}
