//! Fields the API keeps as bytes and writes as base64: a Secret's `data` and a
//! ConfigMap's `binaryData`.
//!
//! The API server decodes them as Go's `encoding/json` decodes `[]byte` — standard
//! base64 with padding, line breaks skipped — and encodes them again on the way out, so
//! what it returns is canonical: no line breaks. kustomize writes generated values in
//! lines of 70 characters, so a rendered value and the stored one differ in text while
//! they hold the same bytes.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

/// A value that is not base64, as the API server words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data at input byte {offset}")]
pub struct IllegalBase64 {
    /// The field holding the value: `data` or `binaryData`.
    pub field: &'static str,
    /// The key of the value in that field.
    pub key: String,
    /// Where in the value decoding stopped (Go's `CorruptInputError`).
    pub offset: usize,
}

/// The byte field of `obj`: `data` for a core Secret, `binaryData` for a core ConfigMap.
pub fn byte_field(obj: &Value) -> Option<&'static str> {
    if obj.get("apiVersion").and_then(Value::as_str) != Some("v1") {
        return None;
    }
    obj.get("kind")
        .and_then(Value::as_str)
        .and_then(core_byte_field)
}

/// The byte field of a kind of the core (`v1`) group.
pub fn core_byte_field(kind: &str) -> Option<&'static str> {
    match kind {
        "Secret" => Some("data"),
        "ConfigMap" => Some("binaryData"),
        _ => None,
    }
}

/// Rewrites the values of `obj`'s byte field as the API server returns them. Returns
/// whether anything changed; the first value that is not base64 is an error (and
/// nothing after it is rewritten). Values that are not strings are left for validation.
pub fn canonicalise(obj: &mut Value) -> Result<bool, IllegalBase64> {
    match byte_field(obj) {
        Some(field) => canonicalise_field(obj, field),
        None => Ok(false),
    }
}

/// [`canonicalise`] for a caller that knows the object's kind (and so its byte field).
pub fn canonicalise_field(obj: &mut Value, field: &'static str) -> Result<bool, IllegalBase64> {
    let Some(Value::Object(values)) = obj.get_mut(field) else {
        return Ok(false);
    };
    let mut changed = false;
    for (key, value) in values.iter_mut() {
        let Value::String(text) = value else {
            continue;
        };
        match canonical(text) {
            Ok(None) => {}
            Ok(Some(canonical)) => {
                *text = canonical;
                changed = true;
            }
            Err(offset) => {
                return Err(IllegalBase64 {
                    field,
                    key: key.clone(),
                    offset,
                });
            }
        }
    }
    Ok(changed)
}

/// Go's `base64.StdEncoding`: padding required, stray bits after the last byte allowed.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// `text` decoded and encoded again, or None when that gives `text` back; the error is
/// the offset in `text` where decoding failed.
fn canonical(text: &str) -> Result<Option<String>, usize> {
    let breaks = text.contains(['\r', '\n']);
    let compact = if breaks {
        std::borrow::Cow::Owned(text.replace(['\r', '\n'], ""))
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    let bytes = GO_STD
        .decode(compact.as_bytes())
        .map_err(|_| offset_in(text))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    Ok((encoded != text).then_some(encoded))
}

/// Where Go's decoder reports the first error in `text` (offsets count line breaks;
/// `decodeQuantum` of `encoding/base64`, standard alphabet, padding required).
fn offset_in(text: &str) -> usize {
    let src = text.as_bytes();
    let is_break = |b: u8| b == b'\n' || b == b'\r';
    let is_symbol = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let mut si = 0;
    loop {
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                return match j {
                    0 => src.len(),
                    _ => si - j,
                };
            }
            let b = src[si];
            si += 1;
            if is_symbol(b) {
                j += 1;
                continue;
            }
            if is_break(b) {
                continue;
            }
            if b != b'=' || j < 2 {
                return si - 1;
            }
            if j == 2 {
                // A second "=" must follow, line breaks aside.
                while si < src.len() && is_break(src[si]) {
                    si += 1;
                }
                if si == src.len() {
                    return src.len();
                }
                if src[si] != b'=' {
                    return si - 1;
                }
                si += 1;
            }
            while si < src.len() && is_break(src[si]) {
                si += 1;
            }
            // Anything after the padding is trailing garbage.
            return si;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(value: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": value}})
    }

    /// What Go's `encoding/json` makes of a `[]byte` field (run with Go 1.x's
    /// `json.Unmarshal` then `json.Marshal`): the canonical text, or the offset it reports.
    const GO_DECODES: &[(&str, Result<&str, usize>)] = &[
        ("YWJj", Ok("YWJj")),
        ("YW\nJj\n", Ok("YWJj")),
        ("YW\r\nJj", Ok("YWJj")),
        ("Y\nQ\n=\n=\n", Ok("YQ==")),
        ("YWJjZA==\n", Ok("YWJjZA==")),
        ("YR==", Ok("YQ==")),
        ("", Ok("")),
        ("YWJ", Err(0)),
        ("YW!j", Err(2)),
        ("YQ=", Err(3)),
        ("YQ==YQ==", Err(4)),
        ("YWJj ZA==", Err(4)),
    ];

    #[test]
    fn values_decode_and_encode_as_go_does() {
        for (input, want) in GO_DECODES {
            let mut obj = secret(input);
            let got =
                canonicalise(&mut obj).map(|_| obj["data"]["k"].as_str().unwrap().to_string());
            match want {
                Ok(text) => assert_eq!(got, Ok(text.to_string()), "{input:?}"),
                Err(offset) => assert_eq!(got.map_err(|e| e.offset), Err(*offset), "{input:?}"),
            }
        }
    }

    #[test]
    fn only_secret_data_and_config_map_binary_data_are_bytes() {
        let mut wrapped = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "data": {"text": "YW\nJj"}, "binaryData": {"bin": "YW\nJj"}});
        assert_eq!(canonicalise(&mut wrapped), Ok(true));
        assert_eq!(wrapped["data"]["text"], "YW\nJj", "ConfigMap data is text");
        assert_eq!(wrapped["binaryData"]["bin"], "YWJj");
        assert_eq!(canonicalise(&mut wrapped), Ok(false), "already canonical");
        let mut sealed = json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "Secret",
            "data": {"k": "not base64!"}});
        assert_eq!(canonicalise(&mut sealed), Ok(false));
        let error = canonicalise(&mut secret("YW!j")).unwrap_err();
        assert_eq!((error.field, error.key.as_str()), ("data", "k"));
        assert_eq!(error.to_string(), "illegal base64 data at input byte 2");
    }
}
