//! Altered, truncated and garbage values fail with an error naming the item — never a panic,
//! never the plaintext.

use base64::Engine as _;
use flotilla_secrets::{CryptoError, Scope, UnsealError, hybrid_decrypt, seal, unseal};
use serde_json::{Value, json};

use super::{key, secret};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn sealed() -> Value {
    seal(&secret("web", "db"), &key().sealing_key(), Scope::Strict).expect("seals")
}

/// Replaces `db_password`'s value with `f` of its bytes, unseals, returns the error.
fn tamper(f: impl FnOnce(&mut Vec<u8>)) -> UnsealError {
    let mut s = sealed();
    let mut bytes = B64
        .decode(s["spec"]["encryptedData"]["db_password"].as_str().unwrap())
        .unwrap();
    f(&mut bytes);
    s["spec"]["encryptedData"]["db_password"] = B64.encode(&bytes).into();
    unseal(&s, &[key().clone()]).expect_err("tampered value must not unseal")
}

fn assert_names_only_db_password(err: &UnsealError, message: &str) {
    let UnsealError::Decrypt(items) = err else {
        panic!("expected a decryption failure, got {err:?}");
    };
    assert_eq!(
        items.items().collect::<Vec<_>>(),
        ["encryptedData.db_password"]
    );
    assert_eq!(
        err.to_string(),
        format!("{message} (encryptedData.db_password)")
    );
    assert!(!err.to_string().contains("hunter2"));
}

#[test]
fn a_flipped_byte_in_the_rsa_part_fails() {
    let err = tamper(|b| b[2 + 100] ^= 0x01);
    assert_names_only_db_password(&err, "no key could decrypt secret");
}

#[test]
fn a_flipped_byte_in_the_gcm_part_fails() {
    let err = tamper(|b| {
        let last = b.len() - 1;
        b[last] ^= 0x80;
    });
    assert_names_only_db_password(&err, "no key could decrypt secret");
    let err = tamper(|b| b[2 + 256] ^= 0x01);
    assert_names_only_db_password(&err, "no key could decrypt secret");
}

#[test]
fn a_truncated_value_fails() {
    let err = tamper(|b| b.truncate(100));
    assert_names_only_db_password(&err, "SealedSecret data is too short");
    let err = tamper(|b| b.truncate(1));
    assert_names_only_db_password(&err, "SealedSecret data is too short");
    // The RSA part whole, the GCM tag cut.
    let err = tamper(|b| b.truncate(2 + 256 + 3));
    assert_names_only_db_password(&err, "no key could decrypt secret");
}

#[test]
fn a_value_that_is_not_base64_fails() {
    let mut s = sealed();
    s["spec"]["encryptedData"]["db_password"] = "not base64!".into();
    let err = unseal(&s, &[key().clone()]).expect_err("must fail");
    assert_names_only_db_password(&err, "illegal base64 data at input byte 3");
}

#[test]
fn garbage_of_any_length_is_an_error_not_a_panic() {
    let keys = [key().clone()];
    for len in (0..700).step_by(7) {
        let garbage: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        assert!(
            hybrid_decrypt(&keys, b"web/db", &garbage).is_err(),
            "len {len}"
        );
        let mut prefixed = vec![0x01, 0x00];
        prefixed.extend_from_slice(&garbage);
        assert!(
            hybrid_decrypt(&keys, b"web/db", &prefixed).is_err(),
            "len {len}"
        );
    }
    assert_eq!(hybrid_decrypt(&keys, b"", &[]), Err(CryptoError::TooShort));
}

#[test]
fn malformed_sealed_secrets_are_told_apart_from_decryption_failures() {
    let keys = [key().clone()];
    let mut s = sealed();
    s["spec"]["encryptedData"]["db_password"] = json!(42);
    let err = unseal(&s, &keys).unwrap_err();
    assert!(matches!(err, UnsealError::Malformed(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "malformed SealedSecret: encryptedData.db_password is not a string"
    );

    let mut s = sealed();
    s["spec"]["data"] = "AgBy".into();
    let err = unseal(&s, &keys).unwrap_err();
    assert_eq!(
        err.to_string(),
        "malformed SealedSecret: using deprecated 'data' field, use 'encryptedData' or flip the feature flag"
    );

    let mut s = sealed();
    s["metadata"].as_object_mut().unwrap().remove("name");
    assert_eq!(
        unseal(&s, &keys).unwrap_err().to_string(),
        "malformed SealedSecret: metadata.name is missing"
    );
    let mut s = sealed();
    s["kind"] = "Secret".into();
    assert!(matches!(unseal(&s, &keys), Err(UnsealError::Malformed(_))));
}
