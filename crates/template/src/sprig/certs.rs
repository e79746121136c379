//! Sprig's key and certificate functions on aws-lc-rs (through rcgen), the project's one
//! crypto provider. Results are dicts with `Cert` and `Key` PEM strings, as Sprig's
//! `certificate` struct has; keys use Go's PEM types (`RSA PRIVATE KEY` is PKCS#1,
//! `EC PRIVATE KEY` is SEC1 with the curve named). DSA keys are not supported.

use super::{strval, to_i64, want_str};
use crate::error::FuncError;
use crate::funcs::{Arity, FuncResult, Functions};
use crate::value::Value;
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use std::collections::BTreeMap;

fn err(context: &str, e: impl std::fmt::Display) -> FuncError {
    FuncError::msg(format!("{context}: {e}"))
}

pub(super) fn register(f: &mut Functions) {
    use Arity::Exact;
    f.register("genPrivateKey", Exact(1), |a| {
        Ok(Value::from(match want_str(&a[0], "genPrivateKey")? {
            "rsa" => rsa_pem(&rsa_key(rcgen::RsaKeySize::_4096)?)?,
            "ecdsa" => ec_pem(
                &KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                    .map_err(|e| err("generating ecdsa key", e))?,
            )?,
            "ed25519" => KeyPair::generate_for(&rcgen::PKCS_ED25519)
                .map_err(|e| err("generating ed25519 key", e))?
                .serialize_pem(),
            "dsa" => return Err(FuncError::msg("DSA keys are not supported")),
            other => format!("Unknown type {other}"),
        }))
    });
    f.register("genCA", Exact(2), |a| {
        ca(&strval(&a[0]), to_i64(&a[1]), new_rsa()?)
    });
    f.register("genCAWithKey", Exact(3), |a| {
        ca(&strval(&a[0]), to_i64(&a[1]), given(&a[2])?)
    });
    f.register("genSelfSignedCert", Exact(4), |a| {
        self_signed(a, new_rsa()?)
    });
    f.register("genSelfSignedCertWithKey", Exact(5), |a| {
        self_signed(a, given(&a[4])?)
    });
    f.register("genSignedCert", Exact(5), |a| signed(a, new_rsa()?));
    f.register("genSignedCertWithKey", Exact(6), |a| {
        signed(a, given(&a[5])?)
    });
    f.register("buildCustomCert", Exact(2), |a| {
        let b64 = base64::engine::general_purpose::STANDARD;
        let cert = b64
            .decode(strval(&a[0]))
            .map_err(|e| err("unable to decode base64 certificate", e))?;
        let key = b64
            .decode(strval(&a[1]))
            .map_err(|e| err("unable to decode base64 private key", e))?;
        let (cert, key) = (
            String::from_utf8_lossy(&cert).into_owned(),
            String::from_utf8_lossy(&key).into_owned(),
        );
        let parsed = pem_blocks(&cert);
        if parsed.is_empty() {
            return Err(FuncError::msg("unable to decode certificate"));
        }
        parse_key(&key)?;
        Ok(pair(cert, key))
    });
}

fn pair(cert: String, key: String) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Cert".into(), Value::from(cert));
    m.insert("Key".into(), Value::from(key));
    Value::map(m)
}

fn rsa_key(size: rcgen::RsaKeySize) -> Result<KeyPair, FuncError> {
    KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
        .map_err(|e| err("generating rsa key", e))
}

/// A fresh 2048-bit RSA key (Sprig's choice for certificates) and its Go PEM.
fn new_rsa() -> Result<(KeyPair, String), FuncError> {
    let key = rsa_key(rcgen::RsaKeySize::_2048)?;
    let pem = rsa_pem(&key)?;
    Ok((key, pem))
}

/// A caller's PEM key, returned as given.
fn given(v: &Value) -> Result<(KeyPair, String), FuncError> {
    let pem = strval(v);
    Ok((parse_key(&pem)?, pem))
}

fn parse_key(pem: &str) -> Result<KeyPair, FuncError> {
    KeyPair::from_pem(pem).map_err(|e| err("parsing private key", e))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn pem_blocks(text: &str) -> Vec<String> {
    text.match_indices("-----BEGIN ")
        .map(|(i, _)| text[i..].to_string())
        .collect()
}

/// A DER element: tag, and the content bytes.
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (usize::from(len0), rest)
    } else {
        let n = usize::from(len0 & 0x7f);
        let bytes = rest.get(..n)?;
        (
            bytes
                .iter()
                .fold(0usize, |acc, b| acc << 8 | usize::from(*b)),
            &rest[n..],
        )
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

fn der_len(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![len as u8];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

/// The private key inside a PKCS#8 `PrivateKeyInfo`.
fn pkcs8_inner(der: &[u8]) -> Option<&[u8]> {
    let (_, info, _) = der_next(der)?;
    let (_, _version, rest) = der_next(info)?;
    let (_, _algorithm, rest) = der_next(rest)?;
    let (tag, key, _) = der_next(rest)?;
    (tag == 0x04).then_some(key)
}

fn rsa_pem(key: &KeyPair) -> Result<String, FuncError> {
    let inner = pkcs8_inner(key.serialized_der())
        .ok_or_else(|| FuncError::msg("malformed PKCS#8 RSA key"))?;
    Ok(pem_encode("RSA PRIVATE KEY", inner))
}

/// SEC1 `ECPrivateKey` with the named curve (P-256) inserted, as Go's
/// `x509.MarshalECPrivateKey` writes it.
fn ec_pem(key: &KeyPair) -> Result<String, FuncError> {
    const P256: [u8; 12] = [
        0xA0, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07,
    ];
    let bad = || FuncError::msg("malformed PKCS#8 EC key");
    let inner = pkcs8_inner(key.serialized_der()).ok_or_else(bad)?;
    let (_, body, _) = der_next(inner).ok_or_else(bad)?;
    let (_, _, after_version) = der_next(body).ok_or_else(bad)?;
    let (_, _, after_key) = der_next(after_version).ok_or_else(bad)?;
    let head = &body[..body.len() - after_key.len()];
    let has_params = after_key.first() == Some(&0xA0);
    let mut content = head.to_vec();
    if !has_params {
        content.extend_from_slice(&P256);
    }
    content.extend_from_slice(after_key);
    let mut der = vec![0x30];
    der.extend(der_len(content.len()));
    der.extend(content);
    Ok(pem_encode("EC PRIVATE KEY", &der))
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = rcgen::date_time_ymd(1970, 1, 1)
        + std::time::Duration::from_secs(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
    params.not_before = now;
    params.not_after = now + std::time::Duration::from_secs(days.max(0) as u64 * 86_400);
    let mut serial = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
}

fn ca_params(cn: &str, days: i64) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    validity(&mut params, days);
    params
}

fn ca(cn: &str, days: i64, (key, pem): (KeyPair, String)) -> FuncResult {
    let cert = ca_params(cn, days)
        .self_signed(&key)
        .map_err(|e| err("error generating certificate", e))?;
    Ok(pair(cert.pem(), pem))
}

/// Leaf parameters from Sprig's `(cn, ips, alternateNames, daysValid)` arguments.
fn leaf_params(a: &[Value]) -> Result<CertificateParams, FuncError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, strval(&a[0]));
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::List(l) => l.iter().map(strval).collect(),
            Value::Nil => Vec::new(),
            other => vec![strval(other)],
        }
    };
    for ip in list(&a[1]) {
        let addr = ip
            .parse()
            .map_err(|_| FuncError::msg(format!("error parsing ip: {ip}")))?;
        params.subject_alt_names.push(SanType::IpAddress(addr));
    }
    for name in list(&a[2]) {
        let dns = name
            .clone()
            .try_into()
            .map_err(|e| err(&format!("invalid alternate name {name:?}"), e))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut params, to_i64(&a[3]));
    Ok(params)
}

fn self_signed(a: &[Value], (key, pem): (KeyPair, String)) -> FuncResult {
    let cert = leaf_params(a)?
        .self_signed(&key)
        .map_err(|e| err("error generating certificate", e))?;
    Ok(pair(cert.pem(), pem))
}

fn signed(a: &[Value], (key, pem): (KeyPair, String)) -> FuncResult {
    let Value::Map(ca) = &a[4] else {
        return Err(FuncError::msg(
            "ca must be a certificate from genCA or buildCustomCert",
        ));
    };
    let ca_cert = ca.get("Cert").map(|v| strval(&v)).unwrap_or_default();
    let ca_key = parse_key(&ca.get("Key").map(|v| strval(&v)).unwrap_or_default())?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, ca_key)
        .map_err(|e| err("error parsing ca certificate", e))?;
    let cert = leaf_params(a)?
        .signed_by(&key, &issuer)
        .map_err(|e| err("error generating certificate", e))?;
    Ok(pair(cert.pem(), pem))
}
