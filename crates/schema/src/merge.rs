//! The additive merge of the 1.33 supplement into v1.21.2's definitions.
//!
//! Pure `serde_json` so that `build.rs` can include this file too: it merges the two
//! embedded documents once at build time into the compact document [`builtin`] reads,
//! while [`builtin_definitions_json`] merges them at run time. One implementation keeps
//! the two from drifting apart.
//!
//! [`builtin`]: crate::builtin
//! [`builtin_definitions_json`]: crate::builtin_definitions_json

use serde_json::{Map, Value};

/// Adds `supplement`'s definitions to `base` without replacing anything: a definition
/// `base` lacks is inserted whole; for one it has, only properties (and other top-level
/// keys) it lacks are added. On error, returns the path of the offending definition
/// and what is wrong with it.
pub(crate) fn merge_definitions(
    base: &mut Map<String, Value>,
    supplement: Map<String, Value>,
) -> Result<(), (String, &'static str)> {
    for (name, addition) in supplement {
        let Value::Object(addition) = addition else {
            return Err((format!("supplement.definitions.{name}"), "not an object"));
        };
        match base.get_mut(&name) {
            None => {
                base.insert(name, Value::Object(addition));
            }
            Some(Value::Object(existing)) => add_missing(existing, addition),
            Some(_) => return Err((format!("definitions.{name}"), "not an object")),
        }
    }
    Ok(())
}

/// Adds each of `supplement`'s resource entries unless `base` has one for the same
/// apiVersion and kind.
pub(crate) fn merge_resources(base: &mut Vec<Value>, supplement: Vec<Value>) {
    let key = |r: &Value| {
        let field = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_owned);
        (field("apiVersion"), field("kind"))
    };
    for resource in supplement {
        if !base.iter().any(|r| key(r) == key(&resource)) {
            base.push(resource);
        }
    }
}

/// Adds what `existing` lacks: missing top-level keys, and missing entries of
/// `properties`. Keys present on both sides keep `existing`'s value.
fn add_missing(existing: &mut Map<String, Value>, addition: Map<String, Value>) {
    for (key, value) in addition {
        match (existing.get_mut(&key), value) {
            (None, value) => {
                existing.insert(key, value);
            }
            (Some(Value::Object(props)), Value::Object(added)) if key == "properties" => {
                for (prop, schema) in added {
                    props.entry(prop).or_insert(schema);
                }
            }
            (Some(_), _) => {}
        }
    }
}
