//! `metadata.managedFields` as the apiserver reads and writes it (apimachinery
//! `managedfields/internal/managedfields.go`): entries keyed by a manager identifier,
//! each a FieldsV1 set at an API version with the time of its last change.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::set::FieldSet;
use crate::updater::{ManagedSet, Managers};
use crate::value::{JsonFlavor, write_go_json_string};

/// The operation a managedFields entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// A server-side apply.
    Apply,
    /// Any other write: create, update, patch.
    Update,
}

impl Operation {
    /// The wire name, `Apply` or `Update`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// Who owns a set of fields, as the apiserver keys managers: the manager name, the
/// operation, the API version for updates (an applier keeps one entry across
/// versions) and the subresource written. Two updates by one manager at different
/// versions are two managers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerId {
    /// The `fieldManager` (or User-Agent prefix) of the writes.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The API version, for updates; empty for appliers.
    pub api_version: String,
    /// The subresource written (`status`), or empty.
    pub subresource: String,
}

impl ManagerId {
    /// The identifier of a write (apimachinery `buildManagerInfo`): an empty manager
    /// name becomes `unknown`, and appliers carry no API version.
    pub fn new(
        manager: &str,
        operation: Operation,
        api_version: &str,
        subresource: &str,
    ) -> ManagerId {
        ManagerId {
            manager: if manager.is_empty() {
                "unknown".into()
            } else {
                manager.into()
            },
            operation,
            api_version: match operation {
                Operation::Apply => String::new(),
                Operation::Update => api_version.into(),
            },
            subresource: subresource.into(),
        }
    }

    /// The identifier as the apiserver spells it: the JSON of the entry without its
    /// fields and time (`{"manager":"m","operation":"Update","apiVersion":"v1"}`).
    /// Conflict messages are built from this form.
    pub fn key(&self) -> String {
        let mut out = String::from("{");
        let mut sep = "";
        for (name, value) in [
            ("manager", self.manager.as_str()),
            ("operation", self.operation.as_str()),
            ("apiVersion", self.api_version.as_str()),
            ("subresource", self.subresource.as_str()),
        ] {
            if value.is_empty() {
                continue;
            }
            out.push_str(sep);
            sep = ",";
            write_go_json_string(&mut out, name, JsonFlavor::Std);
            out.push(':');
            write_go_json_string(&mut out, value, JsonFlavor::Std);
        }
        out.push('}');
        out
    }

    /// Reads an identifier back from [`key`](ManagerId::key).
    pub fn parse(key: &str) -> Option<ManagerId> {
        if let Some(id) = ManagerId::parse_plain(key) {
            return Some(id);
        }
        let v: Value = serde_json::from_str(key).ok()?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let operation = match text("operation").as_str() {
            "Apply" => Operation::Apply,
            _ => Operation::Update,
        };
        Some(ManagerId {
            manager: text("manager"),
            operation,
            api_version: text("apiVersion"),
            subresource: text("subresource"),
        })
    }
}

impl ManagerId {
    /// [`parse`](ManagerId::parse) without a JSON parser, for keys without escapes (every
    /// key [`key`](ManagerId::key) writes for a plain manager name); `None` for anything
    /// else, which the JSON parser then reads.
    fn parse_plain(key: &str) -> Option<ManagerId> {
        // Escapes, and control characters JSON does not allow raw, are the parser's.
        if key.bytes().any(|b| b == b'\\' || b < 0x20) {
            return None;
        }
        let mut rest = key.strip_prefix('{')?.strip_suffix('}')?;
        let mut id = ManagerId {
            manager: String::new(),
            operation: Operation::Update,
            api_version: String::new(),
            subresource: String::new(),
        };
        // A quoted string without escapes, and what follows it.
        fn quoted(s: &str) -> Option<(&str, &str)> {
            let s = s.strip_prefix('"')?;
            let end = s.find('"')?;
            Some((&s[..end], &s[end + 1..]))
        }
        while !rest.is_empty() {
            let (name, after) = quoted(rest)?;
            let (value, after) = quoted(after.strip_prefix(':')?)?;
            match name {
                "manager" => id.manager = value.to_owned(),
                "operation" => {
                    id.operation = match value {
                        "Apply" => Operation::Apply,
                        _ => Operation::Update,
                    }
                }
                "apiVersion" => id.api_version = value.to_owned(),
                "subresource" => id.subresource = value.to_owned(),
                _ => {}
            }
            rest = match after.strip_prefix(',') {
                Some(r) if !r.is_empty() => r,
                Some(_) => return None,
                None if after.is_empty() => after,
                None => return None,
            };
        }
        Some(id)
    }
}

/// Managers' sets and the times of their last changes, keyed by identifier
/// ([`ManagerId::key`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Managed {
    /// The sets.
    pub fields: Managers,
    /// RFC 3339 times, for the identifiers that have one.
    pub times: BTreeMap<String, String>,
}

/// A `metadata.managedFields` list that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagedFieldsError {
    /// An entry breaks a rule of the format.
    #[error("managedFields[{index}]: {reason}")]
    Entry {
        /// The entry's position.
        index: usize,
        /// What is wrong, worded as apimachinery words it.
        reason: String,
    },
    /// The list is not a list.
    #[error("managedFields: expected a list, got {0}")]
    NotAList(String),
}

fn entry_text<'v>(
    m: &'v Map<String, Value>,
    key: &str,
    index: usize,
) -> Result<&'v str, ManagedFieldsError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(ManagedFieldsError::Entry {
            index,
            reason: format!("{key} must be a string, got {other}"),
        }),
    }
}

/// Reads `metadata.managedFields` (apimachinery `DecodeManagedFields`). A later entry
/// with the same identifier replaces an earlier one.
pub fn decode(list: &Value) -> Result<Managed, ManagedFieldsError> {
    let entries = match list {
        Value::Null => return Ok(Managed::default()),
        Value::Array(entries) => entries,
        other => return Err(ManagedFieldsError::NotAList(other.to_string())),
    };
    let mut managed = Managed::default();
    for (index, entry) in entries.iter().enumerate() {
        let Value::Object(m) = entry else {
            return Err(ManagedFieldsError::Entry {
                index,
                reason: format!("expected an object, got {entry}"),
            });
        };
        let operation = match entry_text(m, "operation", index)? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => {
                return Err(ManagedFieldsError::Entry {
                    index,
                    reason: "operation must be `Apply` or `Update`".into(),
                });
            }
        };
        let api_version = entry_text(m, "apiVersion", index)?;
        if api_version.is_empty() {
            return Err(ManagedFieldsError::Entry {
                index,
                reason: "apiVersion must not be empty".into(),
            });
        }
        match entry_text(m, "fieldsType", index)? {
            "FieldsV1" => {}
            "" => {
                return Err(ManagedFieldsError::Entry {
                    index,
                    reason: format!("missing fieldsType in managed fields entry {index}"),
                });
            }
            other => {
                return Err(ManagedFieldsError::Entry {
                    index,
                    reason: format!("invalid fieldsType {other:?} in managed fields entry {index}"),
                });
            }
        }
        let id = ManagerId {
            manager: entry_text(m, "manager", index)?.to_owned(),
            operation,
            api_version: match operation {
                Operation::Apply => String::new(),
                Operation::Update => api_version.to_owned(),
            },
            subresource: entry_text(m, "subresource", index)?.to_owned(),
        };
        let fields = match m.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => crate::memo::decode(v).map_err(|e| ManagedFieldsError::Entry {
                index,
                reason: format!("error decoding set: {e}"),
            })?,
        };
        let key = id.key();
        match entry_text(m, "time", index)? {
            "" => managed.times.remove(&key),
            t => managed.times.insert(key.clone(), t.to_owned()),
        };
        managed.fields.insert(
            key,
            ManagedSet {
                fields,
                api_version: api_version.to_owned(),
                applied: operation == Operation::Apply,
            },
        );
    }
    Ok(managed)
}

/// Whether a write's `managedFields` asks to clear them: `[]` or `[{}]`
/// (apimachinery `isResetManagedFields`).
pub fn is_reset(list: &Value) -> bool {
    match list {
        Value::Array(entries) => match entries.as_slice() {
            [] => true,
            [Value::Object(m)] => m.iter().all(|(k, v)| match k.as_str() {
                "manager" | "operation" | "apiVersion" | "fieldsType" | "subresource" | "time" => {
                    v.is_null() || v.as_str() == Some("")
                }
                "fieldsV1" => v.is_null(),
                // Unknown keys are dropped when the entry is decoded.
                _ => true,
            }),
            _ => false,
        },
        _ => false,
    }
}

/// Seconds since the epoch of an RFC 3339 time; 0 when it cannot be read, as for an
/// entry without time.
pub(crate) fn unix_seconds(t: &str) -> i64 {
    parse_rfc3339(t).unwrap_or(0)
}

fn parse_rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { t.get(r)?.parse().ok() };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// Writes managers as a `metadata.managedFields` list (apimachinery
/// `encodeManagedFields`), sorted as the apiserver sorts it: appliers before updaters,
/// then oldest first, then by manager, API version and subresource. `None` when there
/// are no managers: the field is then removed.
pub fn encode(managed: &Managed) -> Option<Value> {
    if managed.fields.is_empty() {
        return None;
    }
    let mut entries: Vec<(Operation, i64, ManagerId, &String, Value)> = Vec::new();
    for (key, set) in &managed.fields {
        let mut id = ManagerId::parse(key).unwrap_or(ManagerId {
            manager: key.clone(),
            operation: Operation::Update,
            api_version: String::new(),
            subresource: String::new(),
        });
        if set.applied {
            id.operation = Operation::Apply;
        }
        let time = managed.times.get(key);
        let mut m = Map::new();
        if !id.manager.is_empty() {
            m.insert("manager".into(), Value::String(id.manager.clone()));
        }
        m.insert(
            "operation".into(),
            Value::String(id.operation.as_str().into()),
        );
        if !set.api_version.is_empty() {
            m.insert("apiVersion".into(), Value::String(set.api_version.clone()));
        }
        if let Some(t) = time {
            m.insert("time".into(), Value::String(t.clone()));
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), crate::memo::encode(&set.fields));
        if !id.subresource.is_empty() {
            m.insert("subresource".into(), Value::String(id.subresource.clone()));
        }
        let seconds = time.map(|t| unix_seconds(t)).unwrap_or(0);
        entries.push((
            id.operation,
            seconds,
            id,
            &set.api_version,
            Value::Object(m),
        ));
    }
    entries.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(a.1.cmp(&b.1))
            .then_with(|| a.2.manager.cmp(&b.2.manager))
            .then_with(|| a.3.cmp(b.3))
            .then_with(|| a.2.subresource.cmp(&b.2.subresource))
    });
    Some(Value::Array(entries.into_iter().map(|e| e.4).collect()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn identifiers_match_apimachinery() {
        let update = ManagerId::new(
            "kubectl-client-side-apply",
            Operation::Update,
            "apps/v1",
            "",
        );
        assert_eq!(
            update.key(),
            r#"{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"apps/v1"}"#
        );
        let apply = ManagerId::new("kubectl", Operation::Apply, "apps/v1", "status");
        assert_eq!(
            apply.key(),
            r#"{"manager":"kubectl","operation":"Apply","subresource":"status"}"#
        );
        assert_eq!(ManagerId::parse(&apply.key()), Some(apply));
        for key in [
            r#"{"manager":"a,b:c","operation":"Update","apiVersion":"v1"}"#,
            r#"{"manager":"x\u003c","operation":"Apply"}"#,
            r#"{ "manager": "spaced" }"#,
            "{}",
            r#"{"manager":"m",}"#,
            "kubectl",
        ] {
            let json = serde_json::from_str::<Value>(key).ok().map(|v| {
                let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                ManagerId {
                    manager: text("manager"),
                    operation: if text("operation") == "Apply" {
                        Operation::Apply
                    } else {
                        Operation::Update
                    },
                    api_version: text("apiVersion"),
                    subresource: text("subresource"),
                }
            });
            assert_eq!(ManagerId::parse(key), json, "{key}");
        }
        assert_eq!(
            ManagerId::new("", Operation::Update, "v1", "").manager,
            "unknown"
        );
    }

    #[test]
    fn round_trip_and_order() {
        let list = json!([
            {"manager": "b", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:02Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}},
            {"manager": "a", "operation": "Update", "apiVersion": "v1", "time": "2024-01-01T00:00:01Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}},
            {"manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "time": "2024-01-01T00:00:09Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:c": {}}}}
        ]);
        let managed = decode(&list).expect("valid");
        let encoded = encode(&managed).expect("entries");
        let names: Vec<&str> = encoded
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["manager"].as_str())
            .collect();
        assert_eq!(names, ["kubectl", "a", "b"]);
        assert_eq!(decode(&encoded).expect("valid"), managed);
    }

    #[test]
    fn bad_entries() {
        let e = decode(
            &json!([{"manager": "m", "operation": "Patch", "apiVersion": "v1", "fieldsType": "FieldsV1"}]),
        );
        assert_eq!(
            e.expect_err("bad op").to_string(),
            "managedFields[0]: operation must be `Apply` or `Update`"
        );
        let e = decode(&json!([{"manager": "m", "operation": "Update", "apiVersion": "v1"}]));
        assert!(
            e.expect_err("no type")
                .to_string()
                .contains("missing fieldsType")
        );
    }

    #[test]
    fn reset_forms() {
        assert!(is_reset(&json!([])));
        assert!(is_reset(&json!([{}])));
        assert!(!is_reset(&json!([{"manager": "x"}])));
        assert!(!is_reset(&Value::Null));
    }

    #[test]
    fn times() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), 0);
        assert_eq!(unix_seconds("2024-03-01T12:00:00Z"), 1_709_294_400);
        assert_eq!(unix_seconds("2024-03-01T13:00:00.5+01:00"), 1_709_294_400);
        assert_eq!(unix_seconds("garbage"), 0);
    }
}
