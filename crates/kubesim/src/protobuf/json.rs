//! A decoded message as the JSON Go's encoder would write for the same object.

use base64::Engine;
use chrono::{DateTime, Utc};
use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value as Proto};
use serde_json::{Map, Number, Value};

use super::schema::{FieldInfo, MessageInfo, Schema, Special};

/// Seconds from the Unix epoch to Go's zero `time.Time` (0001-01-01T00:00:00Z), which
/// `metav1.Time` writes as `null`.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// A value with no JSON form, and where it is.
#[derive(Debug)]
pub(super) struct ValueError {
    /// Path segments, innermost first (they are added while unwinding).
    segments: Vec<String>,
    pub(super) reason: String,
}

impl ValueError {
    fn new(reason: impl Into<String>) -> ValueError {
        ValueError {
            segments: Vec::new(),
            reason: reason.into(),
        }
    }

    fn within(mut self, segment: String) -> ValueError {
        self.segments.push(segment);
        self
    }

    /// `spec.ports[0].targetPort`.
    pub(super) fn path(&self) -> String {
        let mut path = String::new();
        for segment in self.segments.iter().rev() {
            if !path.is_empty() && !segment.starts_with('[') {
                path.push('.');
            }
            path.push_str(segment);
        }
        path
    }
}

type Result<T, E = ValueError> = std::result::Result<T, E>;

/// Turns messages into JSON using the schema's knowledge of their Go types.
pub(super) struct Converter<'s> {
    schema: &'s Schema,
}

impl<'s> Converter<'s> {
    pub(super) fn new(schema: &'s Schema) -> Converter<'s> {
        Converter { schema }
    }

    /// The fields of a top-level object (its TypeMeta comes from the envelope).
    pub(super) fn object(&self, message: &DynamicMessage) -> Result<Map<String, Value>> {
        let mut object = Map::new();
        self.fields_into(message, self.info(message)?, &mut object)?;
        Ok(object)
    }

    fn info(&self, message: &DynamicMessage) -> Result<&'s MessageInfo> {
        self.schema.info(&message.descriptor()).ok_or_else(|| {
            ValueError::new(format!(
                "no descriptor for message {}",
                message.descriptor().full_name()
            ))
        })
    }

    fn message(&self, message: &DynamicMessage) -> Result<Value> {
        let info = self.info(message)?;
        if let Some(special) = info.special {
            return self.special(special, message);
        }
        let mut object = Map::new();
        self.fields_into(message, info, &mut object)?;
        Ok(Value::Object(object))
    }

    /// Write the fields present on the wire into `object`, in the Go struct's order.
    fn fields_into(
        &self,
        message: &DynamicMessage,
        info: &MessageInfo,
        object: &mut Map<String, Value>,
    ) -> Result<()> {
        for field in &info.fields {
            if !message.has_field(&field.descriptor) {
                continue;
            }
            let value = message.get_field(&field.descriptor);
            if field.inline
                && let Proto::Message(embedded) = value.as_ref()
            {
                let embedded_info = self.info(embedded)?;
                self.fields_into(embedded, embedded_info, object)
                    .map_err(|e| e.within(field.json_name.clone()))?;
                continue;
            }
            if let Some(json) = self
                .field(field, &value)
                .map_err(|e| e.within(field.json_name.clone()))?
            {
                object.insert(field.json_name.clone(), json);
            }
        }
        Ok(())
    }

    /// A present field's JSON, or `None` where Go's encoder would leave it out.
    fn field(&self, field: &FieldInfo, value: &Proto) -> Result<Option<Value>> {
        Ok(Some(match value {
            Proto::List(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.element(item).map_err(|e| e.within(format!("[{i}]"))))
                    .collect::<Result<_>>()?,
            ),
            Proto::Map(entries) => {
                // Go's encoder sorts map keys.
                let mut entries: Vec<(String, &Proto)> =
                    entries.iter().map(|(k, v)| (map_key(k), v)).collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                let mut object = Map::with_capacity(entries.len());
                for (key, value) in entries {
                    let json = self
                        .element(value)
                        .map_err(|e| e.within(format!("[{key}]")))?;
                    object.insert(key, json);
                }
                Value::Object(object)
            }
            Proto::Message(message) => self.message(message)?,
            scalar if is_zero(scalar) && !field.keep_zero => return Ok(None),
            scalar => self.scalar(scalar)?,
        }))
    }

    /// A list item or map value: written whatever its value.
    fn element(&self, value: &Proto) -> Result<Value> {
        match value {
            Proto::Message(message) => self.message(message),
            scalar => self.scalar(scalar),
        }
    }

    fn scalar(&self, value: &Proto) -> Result<Value> {
        Ok(match value {
            Proto::Bool(b) => Value::Bool(*b),
            Proto::I32(n) => Value::from(*n),
            Proto::I64(n) => Value::from(*n),
            Proto::U32(n) => Value::from(*n),
            Proto::U64(n) => Value::from(*n),
            Proto::EnumNumber(n) => Value::from(*n),
            Proto::F32(f) => float(f64::from(*f))?,
            Proto::F64(f) => float(*f)?,
            Proto::String(s) => Value::String(s.clone()),
            // Go writes []byte as standard, padded base64.
            Proto::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
            Proto::Message(_) | Proto::List(_) | Proto::Map(_) => {
                return Err(ValueError::new("a message where a scalar was expected"));
            }
        })
    }

    fn special(&self, special: Special, message: &DynamicMessage) -> Result<Value> {
        let get = |name: &str| {
            message
                .descriptor()
                .get_field_by_name(name)
                .filter(|f| message.has_field(f))
                .map(|f| message.get_field(&f).into_owned())
        };
        let int = |name: &str| get(name).and_then(|v| v.as_i64().or(v.as_i32().map(i64::from)));
        match special {
            Special::Time | Special::MicroTime => {
                let seconds = int("seconds").unwrap_or(0);
                // Time keeps whole seconds (its protobuf decoder drops nanos); MicroTime
                // truncates to microseconds.
                let nanos = match special {
                    Special::MicroTime => int("nanos").unwrap_or(0) / 1000 * 1000,
                    _ => 0,
                };
                if message.fields().next().is_none() || (seconds == GO_ZERO_TIME && nanos == 0) {
                    return Ok(Value::Null);
                }
                let nanos = u32::try_from(nanos)
                    .map_err(|_| ValueError::new(format!("nanos {nanos} out of range")))?;
                let time = DateTime::<Utc>::from_timestamp(seconds, nanos)
                    .ok_or_else(|| ValueError::new(format!("time {seconds}s is out of range")))?;
                let format = match special {
                    Special::MicroTime => "%Y-%m-%dT%H:%M:%S%.6fZ",
                    _ => "%Y-%m-%dT%H:%M:%SZ",
                };
                Ok(Value::String(time.format(format).to_string()))
            }
            Special::Duration => Ok(Value::String(go_duration(int("duration").unwrap_or(0)))),
            Special::IntOrString => match int("type").unwrap_or(0) {
                0 => Ok(Value::from(int("intVal").unwrap_or(0))),
                1 => Ok(Value::String(
                    get("strVal")
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                )),
                other => Err(ValueError::new(format!(
                    "impossible IntOrString.Type {other}"
                ))),
            },
            // A Quantity with no string is the zero quantity, which Go writes as "0".
            Special::Quantity => Ok(Value::String(
                get("string")
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "0".to_owned()),
            )),
            Special::RawJson => {
                let raw = message
                    .descriptor()
                    .fields()
                    .next()
                    .filter(|f| message.has_field(f))
                    .map(|f| message.get_field(&f).into_owned());
                match raw.as_ref().and_then(Proto::as_bytes) {
                    None => Ok(Value::Null),
                    Some(bytes) if bytes.is_empty() => Ok(Value::Null),
                    // Go's encoder copies the bytes into its output unchecked, so anything
                    // but JSON (an embedded protobuf object, say) has no JSON form.
                    Some(bytes) => serde_json::from_slice(bytes)
                        .map_err(|e| ValueError::new(format!("embedded data is not JSON: {e}"))),
                }
            }
            Special::SchemaOrBool => match get("schema") {
                Some(Proto::Message(schema)) => self.message(&schema),
                _ => Ok(Value::Bool(
                    get("allows").and_then(|v| v.as_bool()).unwrap_or(false),
                )),
            },
            Special::SchemaOrArray => match (get("jSONSchemas"), get("schema")) {
                (Some(Proto::List(items)), _) if !items.is_empty() => self.list(&items),
                (_, Some(Proto::Message(schema))) => self.message(&schema),
                _ => Ok(Value::Null),
            },
            Special::SchemaOrStringArray => match (get("property"), get("schema")) {
                (Some(Proto::List(items)), _) if !items.is_empty() => self.list(&items),
                (_, Some(Proto::Message(schema))) => self.message(&schema),
                _ => Ok(Value::Null),
            },
            // `ExtraValue{}` is an empty, non-nil slice: `[]`.
            Special::Items => match get("items") {
                Some(Proto::List(items)) => self.list(&items),
                _ => Ok(Value::Array(Vec::new())),
            },
        }
    }

    fn list(&self, items: &[Proto]) -> Result<Value> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.element(item).map_err(|e| e.within(format!("[{i}]"))))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array)
    }
}

/// The zero value Go's `omitempty` leaves out.
fn is_zero(value: &Proto) -> bool {
    match value {
        Proto::Bool(b) => !b,
        Proto::I32(n) | Proto::EnumNumber(n) => *n == 0,
        Proto::I64(n) => *n == 0,
        Proto::U32(n) => *n == 0,
        Proto::U64(n) => *n == 0,
        Proto::F32(f) => *f == 0.0,
        Proto::F64(f) => *f == 0.0,
        Proto::String(s) => s.is_empty(),
        Proto::Bytes(b) => b.is_empty(),
        Proto::Message(_) | Proto::List(_) | Proto::Map(_) => false,
    }
}

/// A float as Go writes it: integral values without a fraction (`1`, not `1.0`), so they
/// read back as integers, as they would from a Go client's JSON.
fn float(f: f64) -> Result<Value> {
    // Integers up to 2^53 are exact in an f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && f.abs() <= EXACT {
        // In range and integral, so the cast is exact.
        return Ok(Value::from(f as i64));
    }
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| ValueError::new(format!("unsupported value: {f}")))
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// Go's `time.Duration.String`: `1h0m0s`, `1.5s`, `300ms`, `0s`.
pub(super) fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < 1_000_000_000 {
        let (precision, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (whole, fraction) = split_fraction(u, precision);
        return format!("{sign}{whole}{fraction}{unit}");
    }
    let (seconds, fraction) = split_fraction(u, 9);
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{sign}{hours}h{minutes}m{seconds}{fraction}s")
    } else if minutes > 0 {
        format!("{sign}{minutes}m{seconds}{fraction}s")
    } else {
        format!("{sign}{seconds}{fraction}s")
    }
}

/// `v / 10^precision` and its fraction as `.5` (trailing zeros, and an empty fraction, left
/// out).
fn split_fraction(v: u64, precision: u32) -> (u64, String) {
    let scale = 10u64.pow(precision);
    let fraction = v % scale;
    if fraction == 0 {
        return (v / scale, String::new());
    }
    let digits = format!("{fraction:0width$}", width = precision as usize);
    (v / scale, format!(".{}", digits.trim_end_matches('0')))
}
