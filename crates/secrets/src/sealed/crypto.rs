//! The value format (upstream's `pkg/crypto/crypto.go`, `HybridEncrypt`/`HybridDecrypt`):
//!
//! ```text
//! u16 big-endian len(rsa) || RSA-OAEP-SHA256(session key, label) || AES-GCM(plaintext) || tag
//! ```
//!
//! The session key is 32 random bytes used once, so the GCM nonce is all zero bytes.

use aws_lc_rs::{
    aead::{AES_128_GCM, AES_192_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
    rsa::{OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey},
};

use super::keys::{ControllerKey, SealingKey};

/// Bytes of the AES session key (AES-256).
const SESSION_KEY_BYTES: usize = 32;

/// Errors of [`hybrid_encrypt`] and [`hybrid_decrypt`]. None of them says which key was
/// tried or anything about the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The value is shorter than its 2-byte length prefix, or than the RSA part that prefix
    /// announces (upstream's `ErrTooShort`).
    #[error("SealedSecret data is too short")]
    TooShort,
    /// No key opened the value: wrong key, wrong label (scope, namespace or name), or altered
    /// data — indistinguishable by design (upstream's words).
    #[error("no key could decrypt secret")]
    NoKeyCouldDecrypt,
    /// The random source or the RSA/AES primitives failed while sealing.
    #[error("encryption failed")]
    Encrypt,
}

/// Seals `plaintext` for `key` under `label` (see [`Scope::label`](super::Scope::label)).
pub fn hybrid_encrypt(
    key: &SealingKey,
    label: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let rng = SystemRandom::new();
    let mut session_key = [0u8; SESSION_KEY_BYTES];
    rng.fill(&mut session_key)
        .map_err(|_| CryptoError::Encrypt)?;
    let result = encrypt_with(key, label, plaintext, &session_key);
    wipe(&mut session_key);
    result
}

fn encrypt_with(
    key: &SealingKey,
    label: &[u8],
    plaintext: &[u8],
    session_key: &[u8; SESSION_KEY_BYTES],
) -> Result<Vec<u8>, CryptoError> {
    let oaep =
        OaepPublicEncryptingKey::new(key.public().clone()).map_err(|_| CryptoError::Encrypt)?;
    let mut rsa = vec![0u8; oaep.ciphertext_size()];
    let rsa = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, session_key, &mut rsa, Some(label))
        .map_err(|_| CryptoError::Encrypt)?;
    let rsa_len = u16::try_from(rsa.len()).map_err(|_| CryptoError::Encrypt)?;

    let aead = UnboundKey::new(&AES_256_GCM, session_key).map_err(|_| CryptoError::Encrypt)?;
    let mut sealed = plaintext.to_vec();
    LessSafeKey::new(aead)
        .seal_in_place_append_tag(zero_nonce(), Aad::empty(), &mut sealed)
        .map_err(|_| CryptoError::Encrypt)?;

    let mut out = Vec::with_capacity(2 + rsa.len() + sealed.len());
    out.extend_from_slice(&rsa_len.to_be_bytes());
    out.extend_from_slice(rsa);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens a value sealed by [`hybrid_encrypt`] with the first of `keys` that can (upstream
/// tries every key of the registry). A value too short to hold its RSA part fails with
/// [`CryptoError::TooShort`] whatever the keys; any other failure is
/// [`CryptoError::NoKeyCouldDecrypt`].
pub fn hybrid_decrypt(
    keys: &[ControllerKey],
    label: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let (rsa, aes) = split(ciphertext)?;
    keys.iter()
        .find_map(|key| single_decrypt(key, label, rsa, aes))
        .ok_or(CryptoError::NoKeyCouldDecrypt)
}

/// The RSA and AES parts of a value (upstream's `singleDecrypt` length checks).
fn split(ciphertext: &[u8]) -> Result<(&[u8], &[u8]), CryptoError> {
    let [hi, lo, rest @ ..] = ciphertext else {
        return Err(CryptoError::TooShort);
    };
    let rsa_len = usize::from(u16::from_be_bytes([*hi, *lo]));
    if rest.len() < rsa_len {
        return Err(CryptoError::TooShort);
    }
    Ok(rest.split_at(rsa_len))
}

fn single_decrypt(key: &ControllerKey, label: &[u8], rsa: &[u8], aes: &[u8]) -> Option<Vec<u8>> {
    let oaep = OaepPrivateDecryptingKey::new(key.private().clone()).ok()?;
    let mut session_key = vec![0u8; oaep.min_output_size()];
    let opened = oaep
        .decrypt(&OAEP_SHA256_MGF1SHA256, rsa, &mut session_key, Some(label))
        .ok()
        .map(|k| k.len());
    let result = opened.and_then(|len| open_aes(&session_key[..len], aes));
    wipe(&mut session_key);
    result
}

fn open_aes(session_key: &[u8], aes: &[u8]) -> Option<Vec<u8>> {
    // Go's aes.NewCipher takes any AES key length; upstream always makes 32 bytes.
    let algorithm = match session_key.len() {
        16 => &AES_128_GCM,
        24 => &AES_192_GCM,
        32 => &AES_256_GCM,
        _ => return None,
    };
    let key = LessSafeKey::new(UnboundKey::new(algorithm, session_key).ok()?);
    let mut in_out = aes.to_vec();
    let len = key
        .open_in_place(zero_nonce(), Aad::empty(), &mut in_out)
        .ok()?
        .len();
    in_out.truncate(len);
    Some(in_out)
}

/// The session key is used once, so a zero nonce is safe (upstream's reasoning).
fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0u8; 12])
}

/// Overwrites key material before it is dropped (`black_box` keeps the stores alive).
pub(super) fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_checks_lengths_as_single_decrypt_does() {
        assert_eq!(split(&[]), Err(CryptoError::TooShort));
        assert_eq!(split(&[2]), Err(CryptoError::TooShort));
        assert_eq!(split(&[0, 3, 1, 2]), Err(CryptoError::TooShort));
        assert_eq!(split(&[0, 2, 1, 2, 3]), Ok((&[1u8, 2][..], &[3u8][..])));
        assert_eq!(split(&[0, 0]), Ok((&[][..], &[][..])));
    }
}
