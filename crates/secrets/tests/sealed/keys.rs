//! Controller keys and certificates: generation as upstream's `SignKey`, PEM reading as the
//! controller and kubeseal read them, and nothing secret in `Debug`.

use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use base64::Engine as _;
use flotilla_secrets::{ControllerKey, KeyError, SealingKey};

use super::{NOW, key};

const TEN_YEARS: i64 = 10 * 365 * 86_400;

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[test]
fn generated_certificates_are_made_as_sign_key_makes_them() {
    let k = key();
    let (_, block) = x509_parser::pem::parse_x509_pem(k.certificate_pem().as_bytes()).unwrap();
    let cert = block.parse_x509().unwrap();
    assert_eq!(cert.subject().to_string(), "CN=sealed-secrets-controller");
    assert_eq!(cert.issuer(), cert.subject());
    assert_eq!(cert.validity().not_before.timestamp(), NOW);
    assert_eq!(cert.validity().not_after.timestamp(), NOW + TEN_YEARS);
    assert_eq!(k.not_before(), NOW);
    let usage = cert.key_usage().unwrap().expect("key usage present");
    assert!(usage.value.encipher_only());
    assert!(!usage.value.digital_signature());
    assert!(cert.basic_constraints().unwrap().expect("present").value.ca);
    assert!(cert.tbs_certificate.raw_serial().len() <= 17);
    assert_eq!(
        cert.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.113549.1.1.11",
        "sha256WithRSAEncryption"
    );
    // Self-signed: the certificate verifies with its own key.
    assert!(cert.verify_signature(None).is_ok());
    assert!(
        k.private_key_pem()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
    );
}

#[test]
fn the_certificate_carries_the_sealing_key() {
    let k = key();
    let from_cert = SealingKey::from_certificate_pem(k.certificate_pem().as_bytes()).unwrap();
    assert_eq!(from_cert.fingerprint(), k.fingerprint());
    assert!(k.fingerprint().starts_with("SHA256:"));
    assert_eq!(from_cert.bits(), 2048);
    assert_eq!(from_cert.not_after(), Some(NOW + TEN_YEARS));
    // What the controller stores reads back as the same key.
    let again = ControllerKey::from_pem(
        k.certificate_pem().as_bytes(),
        k.private_key_pem().as_bytes(),
    )
    .unwrap();
    assert_eq!(again.fingerprint(), k.fingerprint());
    assert_eq!(again.not_before(), NOW);
}

#[test]
fn expired_certificates_are_refused_as_kubeseal_refuses_them() {
    let sealing = SealingKey::from_certificate_pem(key().certificate_pem().as_bytes()).unwrap();
    assert!(sealing.check_not_expired(NOW + TEN_YEARS).is_ok());
    assert_eq!(
        sealing
            .check_not_expired(NOW + TEN_YEARS + 1)
            .unwrap_err()
            .to_string(),
        "failed to encrypt using an expired certificate on November 11, 2033"
    );
}

#[test]
fn pkcs8_private_keys_read_too() {
    let private =
        aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = private.as_der().unwrap();
    let from_pkcs8 =
        ControllerKey::from_private_key_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
            .expect("PKCS#8 reads");
    assert!(
        from_pkcs8
            .private_key_pem()
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
    );
    let from_pkcs1 = ControllerKey::from_private_key_pem(from_pkcs8.private_key_pem().as_bytes())
        .expect("its PKCS#1 reads");
    assert_eq!(from_pkcs1.fingerprint(), from_pkcs8.fingerprint());
    assert_eq!(from_pkcs1.certificate_pem(), "");
}

/// `kubeseal --cert` with something that is not an RSA certificate says what it got.
#[test]
fn non_rsa_or_non_certificate_pem_is_a_clear_error() {
    let ec = rcgen::KeyPair::generate().unwrap();
    let ec_cert = rcgen::CertificateParams::new(vec!["x".into()])
        .unwrap()
        .self_signed(&ec)
        .unwrap();
    let err = SealingKey::from_certificate_pem(ec_cert.pem().as_bytes()).unwrap_err();
    assert_eq!(
        err,
        KeyError::NotRsaPublicKey {
            algorithm: "1.2.840.10045.2.1".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "expected RSA public key but found 1.2.840.10045.2.1"
    );

    for not_a_cert in [
        key().private_key_pem().as_bytes(),
        b"hello".as_slice(),
        b"".as_slice(),
    ] {
        let err = SealingKey::from_certificate_pem(not_a_cert).unwrap_err();
        assert_eq!(
            err.to_string(),
            "data does not contain any valid RSA or ECDSA certificates"
        );
        // The error never echoes what it was given.
        assert!(!err.to_string().contains("PRIVATE"));
    }
    let garbled = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        SealingKey::from_certificate_pem(garbled.as_bytes()),
        Err(KeyError::Pem(_))
    ));
    let junk_der = pem("CERTIFICATE", b"\x30\x03\x02\x01\x01");
    assert!(matches!(
        SealingKey::from_certificate_pem(junk_der.as_bytes()),
        Err(KeyError::Certificate(_))
    ));

    // An EC private key as the controller's key.
    let err = ControllerKey::from_pem(
        key().certificate_pem().as_bytes(),
        ec.serialize_pem().as_bytes(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "private key is not an RSA key");
    let err = ControllerKey::from_pem(key().certificate_pem().as_bytes(), b"nothing").unwrap_err();
    assert_eq!(
        err.to_string(),
        "data does not contain a valid RSA or EC private key"
    );
    let err = ControllerKey::from_pem(b"", key().private_key_pem().as_bytes()).unwrap_err();
    assert_eq!(err, KeyError::NoCertificate);
}

#[test]
fn debug_never_shows_the_private_key() {
    let k = key();
    let shown = format!("{k:?} {:?}", k.sealing_key());
    for line in k
        .private_key_pem()
        .lines()
        .filter(|l| !l.starts_with("-----"))
    {
        assert!(!shown.contains(line), "Debug shows key material: {shown}");
    }
    assert!(!shown.contains("PRIVATE"));
    assert!(shown.contains(&k.fingerprint()), "{shown}");
}

#[test]
fn unsupported_sizes_are_refused() {
    let err = ControllerKey::generate(1024, "x", NOW, Duration::from_secs(60)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported RSA key size 1024 bits (2048, 3072, 4096 or 8192)"
    );
}
