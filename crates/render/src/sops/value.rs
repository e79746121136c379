//! One SOPS value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM with a
//! 32-byte nonce and the key path as additional data; and the bytes a value adds to the
//! MAC (SOPS's `ToBytes`).

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::aes::Aes256;
use base64::Engine as _;
use serde_json::Value;

/// SOPS's cipher: AES-256-GCM with 32-byte IVs.
type SopsCipher = AesGcm<Aes256, U32>;

/// Why one value does not decrypt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
    #[error("the value does not match sops' data format")]
    Format,
    /// Authentication failed: the ciphertext, the key path or the data key differs.
    #[error(
        "the ciphertext does not authenticate (it or its key path was changed, or the data key is wrong)"
    )]
    Authentication,
    /// The plaintext does not read as its declared type.
    #[error("the plaintext is not a valid {0}")]
    Type(String),
}

struct Encrypted<'a> {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    kind: &'a str,
}

fn parse(text: &str) -> Result<Encrypted<'_>, ValueError> {
    let inner = text
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|t| t.strip_suffix(']'))
        .ok_or(ValueError::Format)?;
    let (mut data, mut iv, mut tag, mut kind) = (None, None, None, None);
    for part in inner.split(',') {
        let (name, value) = part.split_once(':').ok_or(ValueError::Format)?;
        let decode = |v: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|_| ValueError::Format)
        };
        match name {
            "data" => data = Some(decode(value)?),
            "iv" => iv = Some(decode(value)?),
            "tag" => tag = Some(decode(value)?),
            "type" => kind = Some(value),
            _ => return Err(ValueError::Format),
        }
    }
    match (data, iv, tag, kind) {
        (Some(data), Some(iv), Some(tag), Some(kind)) if iv.len() == 32 && tag.len() == 16 => {
            Ok(Encrypted {
                data,
                iv,
                tag,
                kind,
            })
        }
        _ => Err(ValueError::Format),
    }
}

/// Decrypts `text` with the data key and additional data `aad`, as the JSON value its
/// type names. An empty string stays empty (SOPS leaves empty values unencrypted).
pub(crate) fn decrypt(text: &str, key: &[u8; 32], aad: &str) -> Result<Value, ValueError> {
    if text.is_empty() {
        return Ok(Value::String(String::new()));
    }
    let encrypted = parse(text)?;
    let cipher = SopsCipher::new(key.into());
    let mut sealed = encrypted.data;
    sealed.extend_from_slice(&encrypted.tag);
    let nonce = aes_gcm::Nonce::<U32>::from_slice(&encrypted.iv);
    let plain = cipher
        .decrypt(
            nonce,
            Payload {
                msg: &sealed,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| ValueError::Authentication)?;
    typed(plain, encrypted.kind)
}

/// The plaintext as the JSON value of its SOPS type.
fn typed(plain: Vec<u8>, kind: &str) -> Result<Value, ValueError> {
    let bad = || ValueError::Type(kind.to_string());
    if kind == "bytes" {
        return Ok(Value::String(
            base64::engine::general_purpose::STANDARD.encode(plain),
        ));
    }
    let text = String::from_utf8(plain).map_err(|_| bad())?;
    Ok(match kind {
        "str" | "comment" => Value::String(text),
        "int" => Value::from(text.parse::<i64>().map_err(|_| bad())?),
        "float" => {
            let f = text.parse::<f64>().map_err(|_| bad())?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(bad)?
        }
        // Go's strconv.ParseBool.
        "bool" => Value::Bool(match text.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err(bad()),
        }),
        _ => return Err(bad()),
    })
}

/// What a value adds to the MAC (SOPS's `ToBytes`): strings as they are, integers in
/// decimal, floats as Go's `FormatFloat(v, 'f', -1, 64)`, booleans `True`/`False`.
pub(crate) fn mac_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string().into_bytes(),
            (_, Some(u), _) => u.to_string().into_bytes(),
            // Rust's shortest round-trip form without an exponent, as Go's 'f', -1.
            (_, _, Some(f)) => format!("{f}").into_bytes(),
            _ => Vec::new(),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => Vec::new(),
    }
}

/// Seals `value` (typed as SOPS types it) with a fresh IV and `aad`.
pub(crate) fn encrypt(value: &Value, key: &[u8; 32], aad: &str) -> String {
    use aes_gcm::aead::rand_core::RngCore as _;
    let (kind, plain) = match value {
        Value::String(s) => ("str", s.clone().into_bytes()),
        Value::Bool(_) => ("bool", mac_bytes(value)),
        Value::Number(n) if n.is_f64() => ("float", mac_bytes(value)),
        Value::Number(_) => ("int", mac_bytes(value)),
        _ => ("str", Vec::new()),
    };
    let mut iv = [0u8; 32];
    aes_gcm::aead::OsRng.fill_bytes(&mut iv);
    let cipher = SopsCipher::new(key.into());
    let sealed = cipher
        .encrypt(
            aes_gcm::Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: &plain,
                aad: aad.as_bytes(),
            },
        )
        .unwrap_or_default();
    let (data, tag) = sealed.split_at(sealed.len().saturating_sub(16));
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        b64(data),
        b64(&iv),
        b64(tag)
    )
}
