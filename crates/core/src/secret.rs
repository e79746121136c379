//! A Secret's `stringData`, merged into `data`.
//!
//! The API server does this when it decodes a Secret (`stringData` is write-only: never
//! stored, never returned), a value in `stringData` winning over the same key in `data`.
//! Flux does it before applying, because a server-side apply owns `stringData` keys
//! that are not stored: a key removed from `stringData` would stay in `data`
//! (kubernetes/kubernetes#108008). Objects that are not core Secrets are left alone.

use base64::Engine as _;
use serde_json::Value;

/// Whether `obj` is a core `v1` Secret.
pub fn is_secret(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Secret")
        && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Moves the `stringData` of `secret` into its `data`, base64-encoded; `stringData` is
/// gone afterwards. Returns whether anything changed. Values that are not strings are
/// left for validation to refuse (they stay in `stringData`).
pub fn merge_string_data(secret: &mut Value) -> bool {
    let Some(fields) = secret.as_object_mut() else {
        return false;
    };
    match fields.get("stringData") {
        None => return false,
        Some(Value::Object(strings)) if strings.values().any(|v| !v.is_string()) => {
            return false;
        }
        Some(Value::Object(_)) | Some(Value::Null) => {}
        Some(_) => return false,
    }
    let Some(Value::Object(strings)) = fields.remove("stringData") else {
        return true;
    };
    if strings.is_empty() {
        return true;
    }
    let data = fields
        .entry("data")
        .or_insert_with(|| Value::Object(Default::default()));
    if !data.is_object() {
        *data = Value::Object(Default::default());
    }
    if let Value::Object(data) = data {
        for (key, value) in strings {
            let text = value.as_str().unwrap_or_default();
            data.insert(
                key,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_data_is_encoded_into_data_and_wins_over_the_same_key() {
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"a": "YQ==", "b": "Yg=="}, "stringData": {"b": "two", "c": "three"}});
        assert!(merge_string_data(&mut secret));
        // "two" and "three" in base64.
        assert_eq!(
            secret,
            json!({"apiVersion": "v1", "kind": "Secret",
                "data": {"a": "YQ==", "b": "dHdv", "c": "dGhyZWU="}})
        );
        assert!(!merge_string_data(&mut secret), "nothing left to merge");
    }

    #[test]
    fn empty_or_null_string_data_is_dropped_and_bad_values_are_left_for_validation() {
        let mut empty = json!({"stringData": {}});
        assert!(merge_string_data(&mut empty));
        assert_eq!(empty, json!({}));
        let mut null = json!({"data": {"a": "YQ=="}, "stringData": null});
        assert!(merge_string_data(&mut null));
        assert_eq!(null, json!({"data": {"a": "YQ=="}}));
        let mut number = json!({"stringData": {"port": 80}});
        assert!(!merge_string_data(&mut number));
        assert_eq!(number, json!({"stringData": {"port": 80}}));
    }

    #[test]
    fn only_core_secrets_are_secrets() {
        assert!(is_secret(&json!({"apiVersion": "v1", "kind": "Secret"})));
        assert!(!is_secret(
            &json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "Secret"})
        ));
    }
}
