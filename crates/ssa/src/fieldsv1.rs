//! FieldsV1, the form of a field set inside `metadata.managedFields`: a JSON trie whose
//! keys are serialized path elements (`f:<name>`, `k:<json object>`, `v:<json>`,
//! `i:<n>`) and whose `"."` key marks a node that is itself a member and also has
//! members below it.
//!
//! Keys are written in smd's element order, key and value JSON compact with sorted map
//! keys and Go's HTML-safe escaping, so [`to_json_string`] yields the bytes the
//! apiserver stores.

use serde_json::{Map, Value};

use crate::path::PathElement;
use crate::set::FieldSet;
use crate::value::{JsonFlavor, write_go_json, write_go_json_string};

/// A FieldsV1 document that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fieldsV1 {location}: {reason}")]
pub struct DecodeError {
    /// The keys leading to the bad node, e.g. `f:spec/k:{"name"`, or `root`.
    pub location: String,
    /// What is wrong.
    pub reason: String,
}

/// Appends the FieldsV1 key of `pe` (smd `SerializePathElement`).
pub(crate) fn write_path_element(out: &mut String, pe: &PathElement) {
    match pe {
        PathElement::Field(name) => {
            out.push_str("f:");
            out.push_str(name);
        }
        PathElement::Key(fields) => {
            out.push_str("k:{");
            for (i, (name, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_json_string(out, name, JsonFlavor::JsonIter);
                out.push(':');
                write_go_json(out, value, JsonFlavor::JsonIter);
            }
            out.push('}');
        }
        PathElement::Value(v) => {
            out.push_str("v:");
            write_go_json(out, v, JsonFlavor::JsonIter);
        }
        PathElement::Index(i) => {
            out.push_str("i:");
            out.push_str(&i.to_string());
        }
    }
}

/// The FieldsV1 key of a path element, e.g. `k:{"name":"web"}`.
pub fn path_element_key(pe: &PathElement) -> String {
    let mut s = String::new();
    write_path_element(&mut s, pe);
    s
}

/// One entry of a node in output order: the element, whether it is a member, and the
/// subset below it.
fn entries(set: &FieldSet) -> Vec<(&PathElement, bool, Option<&FieldSet>)> {
    let members = set.members();
    let children = set.children();
    let mut out = Vec::with_capacity(members.len() + children.len());
    let (mut i, mut j) = (0, 0);
    while i < members.len() || j < children.len() {
        let ord = match (members.get(i), children.get(j)) {
            (Some(m), Some((c, _))) => m.cmp(c),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match ord {
            std::cmp::Ordering::Less => {
                out.push((&members[i], true, None));
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push((&children[j].0, false, Some(&children[j].1)));
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push((&members[i], true, Some(&children[j].1)));
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The set as a FieldsV1 JSON object, keys in the apiserver's order.
pub fn to_value(set: &FieldSet) -> Value {
    Value::Object(node_to_map(set, false))
}

fn node_to_map(set: &FieldSet, include_self: bool) -> Map<String, Value> {
    let mut m = Map::new();
    if include_self && !set.is_empty() {
        m.insert(".".into(), Value::Object(Map::new()));
    }
    for (pe, member, child) in entries(set) {
        let v = match child {
            Some(c) => node_to_map(c, member),
            None => Map::new(),
        };
        m.insert(path_element_key(pe), Value::Object(v));
    }
    m
}

/// The set as the exact FieldsV1 bytes the apiserver writes.
pub fn to_json_string(set: &FieldSet) -> String {
    let mut out = String::new();
    out.push('{');
    write_node(&mut out, set, false);
    out.push('}');
    out
}

fn write_node(out: &mut String, set: &FieldSet, include_self: bool) {
    let mut first = true;
    if include_self && !set.is_empty() {
        out.push_str("\".\":{}");
        first = false;
    }
    let mut key = String::new();
    for (pe, member, child) in entries(set) {
        if !first {
            out.push(',');
        }
        first = false;
        key.clear();
        write_path_element(&mut key, pe);
        write_go_json_string(out, &key, JsonFlavor::JsonIter);
        out.push_str(":{");
        if let Some(c) = child {
            write_node(out, c, member);
        }
        out.push('}');
    }
}

/// Reads a FieldsV1 key (smd `DeserializePathElement`). `Ok(None)` for a key of an
/// unknown kind, which smd drops so that newer writers do not break older readers.
pub fn parse_path_element(key: &str) -> Result<Option<PathElement>, String> {
    let b = key.as_bytes();
    if b.len() < 2 {
        return Err("key must be 2 characters long".into());
    }
    if b[1] != b':' {
        return Err(format!("missing colon: {key}"));
    }
    let rest = &key[2..];
    match b[0] {
        b'f' => Ok(Some(PathElement::field(rest))),
        b'v' => serde_json::from_str::<Value>(rest)
            .map(|v| Some(PathElement::value(v)))
            .map_err(|e| format!("value {rest}: {e}")),
        b'k' => {
            let m: Map<String, Value> =
                serde_json::from_str(rest).map_err(|e| format!("key {rest}: {e}"))?;
            Ok(Some(PathElement::key(m)))
        }
        b'i' => rest
            .parse::<i64>()
            .map(|i| Some(PathElement::Index(i)))
            .map_err(|e| format!("index {rest}: {e}")),
        _ => Ok(None),
    }
}

/// Reads a FieldsV1 JSON object into a set. A string is read as that object's JSON
/// text: watch caches keep fieldsV1 so until it is asked for (it is a large tree of
/// small maps, rarely read).
pub fn from_value(v: &Value) -> Result<FieldSet, DecodeError> {
    match v {
        Value::String(text) => from_json_str(text),
        object => read_root(object),
    }
}

/// Reads FieldsV1 bytes into a set.
pub fn from_json_str(s: &str) -> Result<FieldSet, DecodeError> {
    let v: Value = serde_json::from_str(s).map_err(|e| DecodeError {
        location: "root".into(),
        reason: e.to_string(),
    })?;
    read_root(&v)
}

/// The set a FieldsV1 object (never its text) describes.
fn read_root(v: &Value) -> Result<FieldSet, DecodeError> {
    let mut location = Vec::new();
    let (set, _) = read_node(v, &mut location)?;
    Ok(set)
}

/// Returns the node's set and whether the node itself is a member: it is when it says
/// `"."` or when it holds nothing (`{}`), as in smd's `readIterV1`.
fn read_node<'v>(
    v: &'v Value,
    location: &mut Vec<&'v str>,
) -> Result<(FieldSet, bool), DecodeError> {
    let fail = |location: &Vec<&str>, reason: String| DecodeError {
        location: if location.is_empty() {
            "root".into()
        } else {
            location.join("/")
        },
        reason,
    };
    let Value::Object(m) = v else {
        return Err(fail(location, format!("expected an object, got {v}")));
    };
    let mut is_member = false;
    let mut members = Vec::new();
    let mut children = Vec::new();
    for (key, child) in m {
        if key == "." {
            is_member = true;
            continue;
        }
        let pe = match parse_path_element(key) {
            Ok(Some(pe)) => pe,
            Ok(None) => continue,
            Err(reason) => return Err(fail(location, reason)),
        };
        location.push(key);
        let (grandchildren, child_member) = read_node(child, location)?;
        location.pop();
        if child_member {
            members.push(pe.clone());
        }
        if !grandchildren.is_empty() {
            children.push((pe, grandchildren));
        }
    }
    if members.is_empty() && children.is_empty() {
        is_member = true;
    }
    // Written by the apiserver, keys are already sorted; anything else is sorted here.
    if !members.is_sorted() {
        members.sort_unstable();
    }
    members.dedup();
    if !children.is_sorted_by(|a: &(PathElement, FieldSet), b| a.0 <= b.0) {
        children.sort_by(|a, b| a.0.cmp(&b.0));
    }
    children.dedup_by(|a, b| a.0 == b.0);
    Ok((FieldSet::from_parts(members, children), is_member))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kubectl_deployment_round_trip() {
        let raw = r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#;
        let set = from_json_str(raw).expect("valid FieldsV1");
        let paths: Vec<String> = set.paths().iter().map(ToString::to_string).collect();
        assert_eq!(
            paths,
            [
                ".metadata.labels",
                ".metadata.labels.app",
                r#".spec.template.spec.containers[name="web"]"#,
                r#".spec.template.spec.containers[name="web"].image"#,
                r#".spec.template.spec.containers[name="web"].name"#,
            ]
        );
        assert_eq!(to_json_string(&set), raw);
        assert_eq!(to_value(&set).to_string(), raw);
    }

    #[test]
    fn keys_values_indexes() {
        let raw = r#"{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}}},"f:set":{"v:\"a\"":{},"v:1":{}},"f:x":{"i:0":{}}}"#;
        let set = from_json_str(raw).expect("valid FieldsV1");
        // Numbers sort before strings in smd's order.
        assert_eq!(
            to_json_string(&set),
            r#"{"f:ports":{"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:port":{}}},"f:set":{"v:1":{},"v:\"a\"":{}},"f:x":{"i:0":{}}}"#
        );
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        let mut s = FieldSet::new();
        s.insert(&[PathElement::field("a<b")]);
        assert_eq!(to_json_string(&s), r#"{"f:a\u003cb":{}}"#);
        let mut k = FieldSet::new();
        k.insert(&[PathElement::key([("n".to_string(), json!("&"))])]);
        assert_eq!(to_json_string(&k), r#"{"k:{\"n\":\"\\u0026\"}":{}}"#);
    }

    #[test]
    fn unknown_kinds_are_dropped_and_bad_keys_fail() {
        let set = from_value(&json!({"x:1": {}, "f:a": {}})).expect("valid");
        assert_eq!(set.len(), 1);
        let err = from_value(&json!({"f:a": {"v:{": {}}})).expect_err("bad value");
        assert_eq!(err.location, "f:a");
        assert!(from_value(&json!({"fa": {}})).is_err());
    }

    #[test]
    fn empty_set_is_an_empty_object() {
        assert_eq!(to_json_string(&FieldSet::new()), "{}");
        assert!(from_json_str("{}").expect("valid").is_empty());
    }
}
