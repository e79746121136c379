//! Typed decoding whose errors name the field (`spec.destination.server: invalid type ...`).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::argocd::application::FieldError;

/// Decodes `value` into `T`; an error carries the JSON path of the offending field.
///
/// Decoded plainly first: tracking the path allocates for every key visited (the hub
/// decodes every Application at each reconcile), and decoding is deterministic, so only a
/// failure is decoded again to find where.
pub(crate) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, FieldError> {
    if let Ok(decoded) = T::deserialize(value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "<document>".to_string()
        } else {
            path
        };
        FieldError::new(field, e.inner().to_string())
    })
}
