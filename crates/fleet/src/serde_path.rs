//! Typed decoding whose errors name the field (`spec.destination.server: invalid type ...`).

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::argocd::application::FieldError;

/// Decodes `value` into `T`; an error carries the JSON path of the offending field.
pub(crate) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, FieldError> {
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
