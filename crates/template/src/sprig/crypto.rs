//! Sprig hashing, encryption and randomness. The random functions draw from the operating
//! system's generator (`rand::rng()`), so they are tested by properties, not outputs.

use super::{strval, to_i64, want_int, want_str};
use crate::error::FuncError;
use crate::funcs::{Arity, Functions};
use crate::value::Value;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use base64::Engine as _;
use rand::Rng as _;
use rand::seq::SliceRandom as _;
use sha2::Digest as _;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn register(f: &mut Functions) {
    use Arity::Exact;
    f.register("sha1sum", Exact(1), |a| {
        Ok(Value::from(hex(&sha1::Sha1::digest(
            want_str(&a[0], "sha1sum")?.as_bytes(),
        ))))
    });
    f.register("sha256sum", Exact(1), |a| {
        Ok(Value::from(hex(&sha2::Sha256::digest(
            want_str(&a[0], "sha256sum")?.as_bytes(),
        ))))
    });
    f.register("sha512sum", Exact(1), |a| {
        Ok(Value::from(hex(&sha2::Sha512::digest(
            want_str(&a[0], "sha512sum")?.as_bytes(),
        ))))
    });
    f.register("adler32sum", Exact(1), |a| {
        Ok(Value::from(
            adler32(want_str(&a[0], "adler32sum")?.as_bytes()).to_string(),
        ))
    });
    f.register("encryptAES", Exact(2), |a| {
        let key = want_str(&a[0], "encryptAES")?;
        let text = want_str(&a[1], "encryptAES")?;
        let mut iv = [0u8; 16];
        rand::rng().fill(&mut iv);
        Ok(Value::from(encrypt_aes(key, text, iv)))
    });
    f.register("decryptAES", Exact(2), |a| {
        let key = want_str(&a[0], "decryptAES")?;
        decrypt_aes(key, want_str(&a[1], "decryptAES")?)
            .map(Value::from)
            .map_err(FuncError::msg)
    });
    f.register("bcrypt", Exact(1), |a| {
        bcrypt_hash(&strval(&a[0])).map(Value::from)
    });
    f.register("htpasswd", Arity::AtLeast(2), |a| {
        let user = strval(&a[0]);
        let pass = strval(&a[1]);
        if user.contains(':') {
            return Ok(Value::from("invalid username: ".to_string() + &user));
        }
        let hash = match a.get(2).map(strval).as_deref() {
            Some("sha") | Some("SHA") => {
                use base64::Engine as _;
                format!(
                    "{{SHA}}{}",
                    base64::engine::general_purpose::STANDARD
                        .encode(sha1::Sha1::digest(pass.as_bytes()))
                )
            }
            _ => bcrypt_hash(&pass)?,
        };
        Ok(Value::from(format!("{user}:{hash}")))
    });
    f.register("derivePassword", Exact(5), |a| {
        let counter = to_i64(&a[0]) as u32;
        Ok(Value::from(derive_password(
            counter,
            want_str(&a[1], "derivePassword")?,
            want_str(&a[2], "derivePassword")?,
            want_str(&a[3], "derivePassword")?,
            want_str(&a[4], "derivePassword")?,
        )))
    });
    f.register("uuidv4", Exact(0), |_| {
        Ok(Value::from(uuid::Uuid::new_v4().to_string()))
    });
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const NUM: &[u8] = b"0123456789";
    f.register("randAlphaNum", Exact(1), |a| {
        rand_from(a, &[ALPHA, NUM].concat())
    });
    f.register("randAlpha", Exact(1), |a| rand_from(a, ALPHA));
    f.register("randNumeric", Exact(1), |a| rand_from(a, NUM));
    f.register("randAscii", Exact(1), |a| {
        let printable: Vec<u8> = (32u8..=126).collect();
        rand_from(a, &printable)
    });
    f.register("randBytes", Exact(1), |a| {
        let n = want_int(&a[0], "randBytes")?.clamp(0, 1 << 20) as usize;
        let mut buf = vec![0u8; n];
        rand::rng().fill(&mut buf[..]);
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(buf),
        ))
    });
    f.register("randInt", Exact(2), |a| {
        let (min, max) = (to_i64(&a[0]), to_i64(&a[1]));
        if max <= min {
            return Err(FuncError::msg("invalid argument to Intn"));
        }
        Ok(Value::Int(rand::rng().random_range(min..max)))
    });
    f.register("shuffle", Exact(1), |a| {
        let mut chars: Vec<char> = strval(&a[0]).chars().collect();
        chars.shuffle(&mut rand::rng());
        Ok(Value::from(chars.into_iter().collect::<String>()))
    });
}

fn rand_from(a: &[Value], alphabet: &[u8]) -> Result<Value, FuncError> {
    let n = want_int(&a[0], "rand")?.clamp(0, 1 << 20) as usize;
    let mut rng = rand::rng();
    Ok(Value::from(
        (0..n)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
            .collect::<String>(),
    ))
}

/// Go's `bcrypt.GenerateFromPassword(p, bcrypt.DefaultCost)`: version 2a, cost 10.
fn bcrypt_hash(password: &str) -> Result<String, FuncError> {
    bcrypt::hash_with_result(password, 10)
        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        .map_err(|e| FuncError::msg(format!("failed to encrypt string with bcrypt: {e}")))
}

/// Sprig's `derivePassword`: the Master Password algorithm (scrypt N=32768, r=8, p=2 over
/// the user, then HMAC-SHA256 over the site and counter choosing a template).
pub(crate) fn derive_password(
    counter: u32,
    kind: &str,
    password: &str,
    user: &str,
    site: &str,
) -> String {
    use hmac::Mac as _;
    const SEED: &str = "com.lyndir.masterpassword";
    let templates: &[&str] = match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return format!("cannot find password template {kind}"),
    };
    let mut salt = SEED.as_bytes().to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user.as_bytes());
    let mut key = [0u8; 64];
    let params = match scrypt::Params::new(15, 8, 2, 64) {
        Ok(p) => p,
        Err(e) => return format!("failed to derive password: {e}"),
    };
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut msg = SEED.as_bytes().to_vec();
    msg.extend_from_slice(&(site.len() as u32).to_be_bytes());
    msg.extend_from_slice(site.as_bytes());
    msg.extend_from_slice(&counter.to_be_bytes());
    let Ok(mut mac) = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&key) else {
        return "failed to derive password: bad key".into();
    };
    mac.update(&msg);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()];
    template
        .bytes()
        .enumerate()
        .map(|(i, t)| {
            let chars: &[u8] = match t {
                b'V' => b"AEIOU",
                b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
                b'v' => b"aeiou",
                b'c' => b"bcdfghjklmnpqrstvwxyz",
                b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
                b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
                b'n' => b"0123456789",
                b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
                _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
            };
            chars[usize::from(seed[i + 1]) % chars.len()] as char
        })
        .collect()
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &d in data {
        a = (a + u32::from(d)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn cipher(key: &str) -> aes::Aes256 {
    // Sprig copies the password into a zeroed 32-byte key (truncating longer ones).
    let mut k = [0u8; 32];
    let n = key.len().min(32);
    k[..n].copy_from_slice(&key.as_bytes()[..n]);
    aes::Aes256::new(GenericArray::from_slice(&k))
}

/// Sprig's `encryptAES`: AES-256-CBC, PKCS#7 padding, random IV prepended, base64.
pub(crate) fn encrypt_aes(key: &str, text: &str, iv: [u8; 16]) -> String {
    if text.is_empty() {
        return String::new();
    }
    let c = cipher(key);
    let mut content = text.as_bytes().to_vec();
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut out = iv.to_vec();
    let mut prev = iv;
    for block in content.chunks(16) {
        let mut b = [0u8; 16];
        for i in 0..16 {
            b[i] = block[i] ^ prev[i];
        }
        let mut ga = GenericArray::from(b);
        c.encrypt_block(&mut ga);
        prev.copy_from_slice(&ga);
        out.extend_from_slice(&ga);
    }
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// Sprig's `decryptAES`.
pub(crate) fn decrypt_aes(key: &str, b64: &str) -> Result<String, String> {
    let data = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| e.to_string())?;
    if data.len() < 16 || data.len() % 16 != 0 {
        return Err("ciphertext is not a multiple of the block size".into());
    }
    let c = cipher(key);
    let mut prev: [u8; 16] = data[..16].try_into().map_err(|_| "short ciphertext")?;
    let mut out = Vec::with_capacity(data.len() - 16);
    for block in data[16..].chunks(16) {
        let mut ga = GenericArray::clone_from_slice(block);
        c.decrypt_block(&mut ga);
        for i in 0..16 {
            out.push(ga[i] ^ prev[i]);
        }
        prev.copy_from_slice(block);
    }
    let pad = usize::from(*out.last().unwrap_or(&0));
    if pad == 0 || pad > 16 || pad > out.len() {
        return Err("invalid padding".into());
    }
    out.truncate(out.len() - pad);
    String::from_utf8(out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_password_matches_the_master_password_vector() {
        assert_eq!(
            derive_password(1, "long", "password", "user", "example.com"),
            "ZedaFaxcZaso9*"
        );
    }

    #[test]
    fn aes_with_a_fixed_iv_is_deterministic_and_reversible() {
        let c = encrypt_aes("secretkey", "plaintext", [7; 16]);
        assert_eq!(decrypt_aes("secretkey", &c).as_deref(), Ok("plaintext"));
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }
}
