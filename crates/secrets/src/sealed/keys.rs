//! The controller's key pair and certificate (upstream's `pkg/crypto/keys.go`,
//! `pkg/controller/keys.go`, `keyregistry.go`) and the public key `kubeseal --cert` reads
//! (`pkg/kubeseal/kubeseal.go`, `ParseKey`).

use std::{fmt, time::Duration};

use aws_lc_rs::{
    digest,
    encoding::AsDer,
    rand::{SecureRandom, SystemRandom},
    rsa::{KeyPair, KeySize, PrivateDecryptingKey, PublicEncryptingKey},
};
use base64::Engine as _;
use x509_parser::{
    der_parser::{ber::BerObject, parse_der},
    pem::Pem,
    prelude::FromDer,
    public_key::PublicKey,
    x509::SubjectPublicKeyInfo,
};

/// `rsaEncryption`, the SubjectPublicKeyInfo / PKCS#8 algorithm of RSA keys.
const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

/// Errors reading or making keys. Messages never include key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No `RSA PRIVATE KEY`, `PRIVATE KEY` or `EC PRIVATE KEY` PEM block (client-go keyutil's
    /// words).
    #[error("data does not contain a valid RSA or EC private key")]
    NoPrivateKey,
    /// The private key is an EC (or other non-RSA) key (upstream's `ErrPrivateKeyNotRSA`).
    #[error("private key is not an RSA key")]
    NotRsa,
    /// The RSA private key does not parse or is refused (e.g. smaller than 2048 bits).
    #[error("invalid RSA private key: {0}")]
    PrivateKeyRejected(String),
    /// No `CERTIFICATE` PEM block (client-go cert's words).
    #[error("data does not contain any valid RSA or ECDSA certificates")]
    NoCertificate,
    /// A PEM block is malformed.
    #[error("invalid PEM data: {0}")]
    Pem(String),
    /// The certificate's DER does not parse.
    #[error("invalid certificate: {0}")]
    Certificate(String),
    /// The certificate carries a non-RSA public key (kubeseal's words).
    #[error("expected RSA public key but found {algorithm}")]
    NotRsaPublicKey {
        /// The public key algorithm's OID.
        algorithm: String,
    },
    /// The certificate's RSA public key is refused (e.g. smaller than 2048 bits).
    #[error("unsupported RSA public key: {0}")]
    PublicKeyRejected(String),
    /// The certificate expired before `now` (kubeseal's words and date format).
    #[error("failed to encrypt using an expired certificate on {date}")]
    Expired {
        /// The NotAfter date as `January 2, 2006`.
        date: String,
    },
    /// [`ControllerKey::generate`] was asked for a size aws-lc cannot make.
    #[error("unsupported RSA key size {0} bits (2048, 3072, 4096 or 8192)")]
    KeySize(usize),
    /// Generating the key or signing its certificate failed.
    #[error("generating the key and certificate: {0}")]
    Generate(String),
}

/// A controller key pair: what upstream keeps as a `kubernetes.io/tls` Secret labelled
/// `sealedsecrets.bitnami.com/sealed-secrets-key: active`. `Debug` shows the size, the
/// fingerprint and NotBefore, never the private key.
#[derive(Clone)]
pub struct ControllerKey {
    private: PrivateDecryptingKey,
    sealing: SealingKey,
    certificate_pem: String,
    private_key_pem: String,
    not_before: i64,
}

impl fmt::Debug for ControllerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerKey")
            .field("bits", &self.private.key_size_bits())
            .field("fingerprint", &self.sealing.fingerprint())
            .field("not_before", &self.not_before)
            .finish_non_exhaustive()
    }
}

impl ControllerKey {
    /// From a key Secret's `tls.crt` and `tls.key` (PEM; `tls.key` PKCS#1 `RSA PRIVATE KEY`
    /// or PKCS#8 `PRIVATE KEY`, the first key block counts; `tls.crt`'s first certificate
    /// gives NotBefore). The sealing key is the private key's public half, as upstream
    /// decrypts with the private key whatever the certificate says.
    pub fn from_pem(tls_crt: &[u8], tls_key: &[u8]) -> Result<ControllerKey, KeyError> {
        let (private, pkcs1) = parse_private_key(tls_key)?;
        let certificate = first_block(tls_crt, "CERTIFICATE")?.ok_or(KeyError::NoCertificate)?;
        let not_before =
            parse_certificate(&certificate, |cert| cert.validity().not_before.timestamp())?;
        let certificate_pem = String::from_utf8(tls_crt.to_vec())
            .map_err(|_| KeyError::Pem("certificate is not UTF-8".into()))?;
        Ok(ControllerKey::assemble(
            private,
            &pkcs1,
            certificate_pem,
            not_before,
        ))
    }

    /// From a private key alone, as `kubeseal --recovery-private-key` reads a PEM file:
    /// [`certificate_pem`](Self::certificate_pem) is then empty and
    /// [`not_before`](Self::not_before) 0.
    pub fn from_private_key_pem(tls_key: &[u8]) -> Result<ControllerKey, KeyError> {
        let (private, pkcs1) = parse_private_key(tls_key)?;
        Ok(ControllerKey::assemble(private, &pkcs1, String::new(), 0))
    }

    /// A new RSA key of `bits` (upstream's default is 4096) with a self-signed certificate
    /// as upstream's `SignKey` makes it: subject and issuer CN `common_name`, a random
    /// 128-bit serial, NotBefore `now` (seconds since the epoch) and NotAfter `now +
    /// validity`, key usage encipherOnly, a CA basic constraint; signed SHA256-with-RSA.
    pub fn generate(
        bits: usize,
        common_name: &str,
        now: i64,
        validity: Duration,
    ) -> Result<ControllerKey, KeyError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            8192 => KeySize::Rsa8192,
            other => return Err(KeyError::KeySize(other)),
        };
        let private =
            PrivateDecryptingKey::generate(size).map_err(|e| KeyError::Generate(e.to_string()))?;
        let pkcs8 = private
            .as_der()
            .map_err(|e| KeyError::Generate(e.to_string()))?;
        let certificate_pem = self_signed_certificate(pkcs8.as_ref(), common_name, now, validity)?;
        let pkcs1 = pkcs1_of_pkcs8(pkcs8.as_ref())
            .ok_or_else(|| KeyError::Generate("aws-lc wrote an unreadable PKCS#8 key".into()))?;
        Ok(ControllerKey::assemble(
            private,
            &pkcs1,
            certificate_pem,
            now,
        ))
    }

    fn assemble(
        private: PrivateDecryptingKey,
        pkcs1: &[u8],
        certificate_pem: String,
        not_before: i64,
    ) -> ControllerKey {
        let sealing = SealingKey {
            public: private.public_key(),
            not_after: None,
        };
        ControllerKey {
            private,
            sealing,
            certificate_pem,
            private_key_pem: to_pem("RSA PRIVATE KEY", pkcs1),
            not_before,
        }
    }

    /// The certificate PEM (`tls.crt`), as given or generated; empty for a key read by
    /// [`from_private_key_pem`](Self::from_private_key_pem).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The private key as PKCS#1 PEM (`RSA PRIVATE KEY`), as upstream stores `tls.key`.
    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }

    /// The public half, to seal with.
    pub fn sealing_key(&self) -> SealingKey {
        self.sealing.clone()
    }

    /// The certificate's NotBefore (seconds since the epoch): the key registry's order, the
    /// newest key seals.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// The public key's fingerprint as upstream keys its registry (`ssh.FingerprintSHA256`:
    /// `SHA256:` and unpadded base64).
    pub fn fingerprint(&self) -> String {
        self.sealing.fingerprint()
    }

    pub(crate) fn private(&self) -> &PrivateDecryptingKey {
        &self.private
    }
}

/// A public key to seal with: what `kubeseal --cert` reads from the controller's
/// certificate.
#[derive(Clone)]
pub struct SealingKey {
    public: PublicEncryptingKey,
    not_after: Option<i64>,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("bits", &self.public.key_size_bits())
            .field("fingerprint", &self.fingerprint())
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl SealingKey {
    /// From a PEM certificate (the first `CERTIFICATE` block), as kubeseal's `ParseKey`:
    /// its key must be RSA. Expiry is checked separately ([`check_not_expired`]) since this
    /// crate has no clock.
    ///
    /// [`check_not_expired`]: Self::check_not_expired
    pub fn from_certificate_pem(pem: &[u8]) -> Result<SealingKey, KeyError> {
        let der = first_block(pem, "CERTIFICATE")?.ok_or(KeyError::NoCertificate)?;
        let (algorithm, spki, not_after) = parse_certificate(&der, |cert| {
            let spki = cert.public_key();
            (
                spki.algorithm.algorithm.to_id_string(),
                spki.raw.to_vec(),
                cert.validity().not_after.timestamp(),
            )
        })?;
        if algorithm != RSA_ENCRYPTION_OID {
            return Err(KeyError::NotRsaPublicKey { algorithm });
        }
        let public = PublicEncryptingKey::from_der(&spki)
            .map_err(|e| KeyError::PublicKeyRejected(e.to_string()))?;
        Ok(SealingKey {
            public,
            not_after: Some(not_after),
        })
    }

    /// The certificate's NotAfter (seconds since the epoch); `None` for a key taken from a
    /// [`ControllerKey`].
    pub fn not_after(&self) -> Option<i64> {
        self.not_after
    }

    /// kubeseal refuses to seal with a certificate whose NotAfter is before `now`.
    pub fn check_not_expired(&self, now: i64) -> Result<(), KeyError> {
        match self.not_after {
            Some(not_after) if now > not_after => Err(KeyError::Expired {
                date: go_date(not_after),
            }),
            _ => Ok(()),
        }
    }

    /// The RSA modulus size in bits.
    pub fn bits(&self) -> usize {
        self.public.key_size_bits()
    }

    /// `ssh.FingerprintSHA256` of the key, as upstream names keys.
    pub fn fingerprint(&self) -> String {
        let Some((n, e)) = self.components() else {
            return String::new();
        };
        let mut blob = Vec::new();
        ssh_string(&mut blob, b"ssh-rsa");
        ssh_mpint(&mut blob, &e);
        ssh_mpint(&mut blob, &n);
        let hash = digest::digest(&digest::SHA256, &blob);
        format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash.as_ref())
        )
    }

    /// Modulus and public exponent, big-endian.
    fn components(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let der = self.public.as_der().ok()?;
        let (_, spki) = SubjectPublicKeyInfo::from_der(der.as_ref()).ok()?;
        match spki.parsed().ok()? {
            PublicKey::RSA(rsa) => Some((rsa.modulus.to_vec(), rsa.exponent.to_vec())),
            _ => None,
        }
    }

    pub(crate) fn public(&self) -> &PublicEncryptingKey {
        &self.public
    }
}

/// The first PEM block labelled `label`; `Ok(None)` when there is none.
fn first_block(pem: &[u8], label: &str) -> Result<Option<Vec<u8>>, KeyError> {
    for block in Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| KeyError::Pem(e.to_string()))?;
        if block.label == label {
            return Ok(Some(block.contents));
        }
    }
    Ok(None)
}

fn parse_certificate<T>(
    der: &[u8],
    read: impl FnOnce(&x509_parser::certificate::X509Certificate<'_>) -> T,
) -> Result<T, KeyError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| KeyError::Certificate(e.to_string()))?;
    Ok(read(&cert))
}

/// client-go's `keyutil.ParsePrivateKeyPEM`: the first private key block decides. Returns
/// the key and its PKCS#1 DER.
fn parse_private_key(pem: &[u8]) -> Result<(PrivateDecryptingKey, Vec<u8>), KeyError> {
    for block in Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| KeyError::Pem(e.to_string()))?;
        match block.label.as_str() {
            "RSA PRIVATE KEY" => {
                let pair = KeyPair::from_der(&block.contents)
                    .map_err(|e| KeyError::PrivateKeyRejected(e.to_string()))?;
                let pkcs8 = pair
                    .as_der()
                    .map_err(|e| KeyError::PrivateKeyRejected(e.to_string()))?;
                let private = PrivateDecryptingKey::from_pkcs8(pkcs8.as_ref())
                    .map_err(|e| KeyError::PrivateKeyRejected(e.to_string()))?;
                return Ok((private, block.contents));
            }
            "PRIVATE KEY" => {
                if pkcs8_algorithm(&block.contents).is_some_and(|oid| oid != RSA_ENCRYPTION_OID) {
                    return Err(KeyError::NotRsa);
                }
                let private = PrivateDecryptingKey::from_pkcs8(&block.contents)
                    .map_err(|e| KeyError::PrivateKeyRejected(e.to_string()))?;
                let pkcs1 = pkcs1_of_pkcs8(&block.contents).ok_or_else(|| {
                    KeyError::PrivateKeyRejected("PKCS#8 without an RSA key".into())
                })?;
                return Ok((private, pkcs1));
            }
            "EC PRIVATE KEY" => return Err(KeyError::NotRsa),
            _ => {}
        }
    }
    Err(KeyError::NoPrivateKey)
}

/// The fields of a PKCS#8 `PrivateKeyInfo` (version, algorithm, privateKey, …).
fn pkcs8_fields(der: &[u8]) -> Option<Vec<BerObject<'_>>> {
    let (_, info) = parse_der(der).ok()?;
    info.as_sequence().ok().cloned()
}

/// The OID of a PKCS#8 key's algorithm.
fn pkcs8_algorithm(der: &[u8]) -> Option<String> {
    let fields = pkcs8_fields(der)?;
    let algorithm = fields.get(1)?.as_sequence().ok()?;
    Some(algorithm.first()?.as_oid().ok()?.to_id_string())
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`.
fn pkcs1_of_pkcs8(der: &[u8]) -> Option<Vec<u8>> {
    let fields = pkcs8_fields(der)?;
    Some(fields.get(2)?.as_slice().ok()?.to_vec())
}

/// The self-signed certificate of upstream's `SignKeyWithNotBefore`, as PEM.
fn self_signed_certificate(
    pkcs8: &[u8],
    common_name: &str,
    now: i64,
    validity: Duration,
) -> Result<String, KeyError> {
    let generate = |e: &dyn fmt::Display| KeyError::Generate(e.to_string());
    let signer =
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.into(), &rcgen::PKCS_RSA_SHA256)
            .map_err(|e| generate(&e))?;
    let not_before = time::OffsetDateTime::from_unix_timestamp(now).map_err(|e| generate(&e))?;
    let not_after = time::Duration::try_from(validity)
        .ok()
        .and_then(|d| not_before.checked_add(d))
        .ok_or_else(|| KeyError::Generate(format!("validity {validity:?} out of range")))?;

    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|e| generate(&e))?;
    // Go's rand.Int(2^128) is non-negative; keep the DER integer positive and 16 bytes.
    serial[0] &= 0x7f;

    let mut params = rcgen::CertificateParams::default();
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, common_name);
    params.distinguished_name = name;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::EncipherOnly];
    let certificate = params.self_signed(&signer).map_err(|e| generate(&e))?;
    Ok(certificate.pem())
}

/// PEM with 64-column base64 lines, as Go's `pem.Encode` writes it.
fn to_pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Go's `Format("January 2, 2006")`, in UTC.
fn go_date(timestamp: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(timestamp) {
        Ok(t) => format!("{} {}, {}", t.month(), t.day(), t.year()),
        Err(_) => timestamp.to_string(),
    }
}

fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// An SSH `mpint` of a non-negative big-endian integer.
fn ssh_mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let start = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let trimmed = &magnitude[start..];
    if trimmed.first().is_some_and(|&b| b & 0x80 != 0) {
        let mut padded = Vec::with_capacity(trimmed.len() + 1);
        padded.push(0);
        padded.extend_from_slice(trimmed);
        ssh_string(out, &padded);
    } else {
        ssh_string(out, trimmed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_dates_read_as_kubeseal_prints_them() {
        assert_eq!(go_date(1_136_214_245), "January 2, 2006");
    }

    #[test]
    fn mpints_are_minimal_and_positive() {
        let mut out = Vec::new();
        ssh_mpint(&mut out, &[0, 0, 0x80, 1]);
        assert_eq!(out, [0, 0, 0, 3, 0, 0x80, 1]);
        out.clear();
        ssh_mpint(&mut out, &[1, 0, 1]);
        assert_eq!(out, [0, 0, 0, 3, 1, 0, 1]);
    }
}
