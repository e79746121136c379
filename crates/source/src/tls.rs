//! The TLS side of reaching an HTTPS remote ([`Tls`]): which servers it may be — the
//! platform's roots, or certificates the repository's configuration names (Flux's `ca.crt`
//! in a GitRepository's `secretRef`, which go-git adds to the system pool; Argo CD's
//! `argocd-tls-certs-cm` entry for the host, which its repo-server trusts alone) — and
//! the client certificate presented when the server asks for one (mutual TLS: Flux's
//! `tls.crt`/`tls.key`, Argo CD's `tlsClientCertData`/`tlsClientCertKey`).
//!
//! Certificates are not secret, but a bundle is kilobytes of text, and a client key is
//! secret: `Debug` shows fingerprints only.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The certificates an HTTPS server's chain must end in.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub enum ServerTrust {
    /// The platform's trust store.
    #[default]
    Platform,
    /// The platform's trust store and these PEM certificates.
    PlatformAnd(Vec<u8>),
    /// Only these PEM certificates.
    Only(Vec<u8>),
    /// Any server: its certificate is not verified (Argo CD's `insecure: "true"`). The
    /// handshake's signatures still are, so the connection is to whoever holds the key
    /// of the certificate shown — but anyone may show one. Over SSH, any host key is
    /// taken.
    Unverified,
}

impl std::fmt::Debug for ServerTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerTrust::Platform => f.write_str("ServerTrust::Platform"),
            ServerTrust::PlatformAnd(_) => {
                write!(f, "ServerTrust::PlatformAnd({})", self.fingerprint())
            }
            ServerTrust::Only(_) => write!(f, "ServerTrust::Only({})", self.fingerprint()),
            ServerTrust::Unverified => f.write_str("ServerTrust::Unverified"),
        }
    }
}

/// A certificate bundle that cannot be trusted as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The text holds no PEM `CERTIFICATE` block.
    #[error("{origin}: no PEM certificate found")]
    NoCertificate {
        /// Where the bundle came from (a Secret's key, a ConfigMap's key).
        origin: String,
    },
    /// A PEM block or the certificate in it cannot be read.
    #[error("{origin}: invalid certificate: {detail}")]
    Invalid {
        /// Where the bundle came from.
        origin: String,
        /// Why it was refused.
        detail: String,
    },
    /// A client certificate's private key cannot be read.
    #[error("{origin}: invalid private key: {detail}")]
    InvalidKey {
        /// Where the key came from.
        origin: String,
        /// Why it was refused (never the key's text).
        detail: String,
    },
    /// A client certificate without its key, or a key without its certificate.
    #[error("{origin} contains '{present}' but missing '{missing}'")]
    Incomplete {
        /// The Secret.
        origin: String,
        /// The field that is there.
        present: &'static str,
        /// The field that is not.
        missing: &'static str,
    },
    /// A client certificate and the key beside it are not a pair.
    #[error("{origin}: the private key does not match the certificate's public key")]
    KeyMismatch {
        /// Where the pair came from.
        origin: String,
    },
}

impl ServerTrust {
    /// A short digest naming this trust (empty for the platform's): part of a mirror's
    /// name, so that remotes reached under different trust never share what one fetched.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let (kind, pem): (&[u8], &[u8]) = match self {
            ServerTrust::Platform => return String::new(),
            ServerTrust::Unverified => (b"unverified\0", b""),
            ServerTrust::PlatformAnd(pem) => (b"platform-and\0", pem),
            ServerTrust::Only(pem) => (b"only\0", pem),
        };
        let mut digest = sha2::Sha256::new();
        digest.update(kind);
        digest.update(pem);
        crate::hex(&digest.finalize()[..6])
    }

    /// Flux's CA in a Secret's `data`: `ca.crt`, else the deprecated `caFile` (an empty
    /// value is none), trusted beside the platform's roots as source-controller's system
    /// pool has it; the platform's roots alone without one. `origin` names the field of
    /// a bundle that holds no readable certificate.
    pub fn flux_ca(
        data: &std::collections::BTreeMap<String, Vec<u8>>,
        origin: impl FnOnce(&str) -> String,
    ) -> Result<ServerTrust, TlsError> {
        let Some((key, pem)) = ["ca.crt", "caFile"]
            .into_iter()
            .find_map(|key| data.get(key).filter(|v| !v.is_empty()).map(|v| (key, v)))
        else {
            return Ok(ServerTrust::Platform);
        };
        let trust = ServerTrust::PlatformAnd(pem.clone());
        trust.check(&origin(key))?;
        Ok(trust)
    }

    /// Checks that the bundle holds certificates, each readable; `origin` names where it
    /// came from in the error.
    pub fn check(&self, origin: &str) -> Result<(), TlsError> {
        match self {
            ServerTrust::Platform | ServerTrust::Unverified => Ok(()),
            ServerTrust::PlatformAnd(pem) | ServerTrust::Only(pem) => {
                certificates(pem, origin).map(drop)
            }
        }
    }

    /// The root store this trust builds: the platform's certificates (as the default
    /// client loads them) and the bundle's. Empty for [`ServerTrust::Unverified`], which
    /// has no roots ([`Tls::client_config`] verifies nothing for it).
    pub(crate) fn roots(&self, origin: &str) -> Result<rustls::RootCertStore, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        let pem = match self {
            ServerTrust::Unverified => return Ok(roots),
            ServerTrust::Platform => {
                add_platform_roots(&mut roots);
                return Ok(roots);
            }
            ServerTrust::PlatformAnd(pem) => {
                add_platform_roots(&mut roots);
                pem
            }
            ServerTrust::Only(pem) => pem,
        };
        for certificate in certificates(pem, origin)? {
            roots.add(certificate).map_err(|e| TlsError::Invalid {
                origin: origin.to_string(),
                detail: e.to_string(),
            })?;
        }
        Ok(roots)
    }
}

impl ServerTrust {
    /// The PEM bundle curl (the git CLI) must read for this trust, which replaces its
    /// default bundle: the platform's certificates too unless only the bundle is trusted.
    /// `None` for the platform's alone.
    pub(crate) fn curl_bundle(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        match self {
            ServerTrust::Platform | ServerTrust::Unverified => None,
            ServerTrust::Only(pem) => Some(pem.clone()),
            ServerTrust::PlatformAnd(pem) => {
                let mut bundle = Vec::new();
                for certificate in rustls_native_certs::load_native_certs().certs {
                    let text = base64::engine::general_purpose::STANDARD.encode(certificate);
                    bundle.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
                    for line in text.as_bytes().chunks(64) {
                        bundle.extend_from_slice(line);
                        bundle.push(b'\n');
                    }
                    bundle.extend_from_slice(b"-----END CERTIFICATE-----\n");
                }
                bundle.extend_from_slice(pem);
                Some(bundle)
            }
        }
    }
}

/// A certificate chain and its private key, presented when an HTTPS server asks for a
/// client certificate. Both are PEM as they sit in a Secret; they are checked to be
/// readable and to belong together when made, so a bad pair is named where it was read
/// rather than failing a handshake later.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientCertificate {
    chain: Vec<u8>,
    key: Vec<u8>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientCertificate({})", self.fingerprint())
    }
}

impl ClientCertificate {
    /// `chain` (PEM certificates, the client's first) and `key` (a PEM private key:
    /// PKCS#8, PKCS#1 RSA or SEC1 EC, as Go's `tls.X509KeyPair` reads); `origin` names
    /// the pair in errors (a Secret and its fields). Errors never quote the key.
    pub fn new(chain: Vec<u8>, key: Vec<u8>, origin: &str) -> Result<ClientCertificate, TlsError> {
        let pair = ClientCertificate { chain, key };
        let (certificates, key) = pair.parsed(origin)?;
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        match rustls::sign::CertifiedKey::from_der(certificates, key, &provider) {
            Ok(_) => Ok(pair),
            Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::KeyMismatch {
                origin: origin.to_string(),
            }),
            Err(e) => Err(TlsError::InvalidKey {
                origin: origin.to_string(),
                detail: e.to_string(),
            }),
        }
    }

    /// Flux's client certificate in a Secret's `data`: `tls.crt` and `tls.key` (with
    /// `legacy`, as a `certSecretRef` is read, the deprecated `certFile` and `keyFile`
    /// where those are absent); none when neither is set. One without the other is
    /// refused, as Flux refuses it. `secret` names the Secret in errors.
    pub fn flux(
        data: &std::collections::BTreeMap<String, Vec<u8>>,
        secret: &str,
        legacy: bool,
    ) -> Result<Option<ClientCertificate>, TlsError> {
        let field = |key: &'static str, old: &'static str| {
            [key, old]
                .into_iter()
                .take(if legacy { 2 } else { 1 })
                .find_map(|k| data.get(k).filter(|v| !v.is_empty()).map(|v| (k, v)))
        };
        match (field("tls.crt", "certFile"), field("tls.key", "keyFile")) {
            (None, None) => Ok(None),
            (Some((cert_key, chain)), Some((key_key, key))) => ClientCertificate::new(
                chain.clone(),
                key.clone(),
                &format!("secret {secret}: fields {cert_key:?} and {key_key:?}"),
            )
            .map(Some),
            (Some((present, _)), None) => Err(TlsError::Incomplete {
                origin: format!("secret {secret}"),
                present,
                missing: "tls.key",
            }),
            (None, Some((present, _))) => Err(TlsError::Incomplete {
                origin: format!("secret {secret}"),
                present,
                missing: "tls.crt",
            }),
        }
    }

    /// A short digest of the pair: part of what caches are keyed by, so that what one
    /// client certificate was let into is never served to another.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let mut digest = sha2::Sha256::new();
        digest.update(b"client\0");
        digest.update(&self.chain);
        digest.update(b"\0");
        digest.update(&self.key);
        crate::hex(&digest.finalize()[..6])
    }

    /// The chain, PEM (what curl's `GIT_SSL_CERT` file holds).
    pub(crate) fn chain_pem(&self) -> &[u8] {
        &self.chain
    }

    /// The key, PEM (what curl's `GIT_SSL_KEY` file holds).
    pub(crate) fn key_pem(&self) -> &[u8] {
        &self.key
    }

    /// The certificates and key rustls presents.
    fn parsed(
        &self,
        origin: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let certificates = certificates(&self.chain, origin)?;
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|e| TlsError::InvalidKey {
            origin: origin.to_string(),
            // No detail from the decoder: it may quote a character of the key.
            detail: match e {
                rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key found".into(),
                rustls::pki_types::pem::Error::Base64Decode(_) => {
                    "a PEM block is not base64".into()
                }
                other => pem_error(&other),
            },
        })?;
        Ok((certificates, key))
    }
}

/// The TLS side of reaching a remote: whom the server must be, and what we present if
/// it asks who we are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Tls {
    /// The certificates the server's chain must end in.
    pub server: ServerTrust,
    /// The certificate presented when the server asks for one.
    pub client: Option<ClientCertificate>,
}

impl From<ServerTrust> for Tls {
    fn from(server: ServerTrust) -> Tls {
        Tls {
            server,
            client: None,
        }
    }
}

impl Tls {
    /// The platform's roots and no client certificate: what a remote is reached with
    /// unless its configuration says otherwise.
    pub fn is_platform(&self) -> bool {
        self.server == ServerTrust::Platform && self.client.is_none()
    }

    /// A short digest naming these settings (empty for the platform's): part of a
    /// mirror's name, so remotes reached under other settings never share what one
    /// fetched.
    pub fn fingerprint(&self) -> String {
        let server = self.server.fingerprint();
        match &self.client {
            None => server,
            Some(client) => format!("{server}c{}", client.fingerprint()),
        }
    }

    /// The rustls configuration of these settings; `origin` names the certificates in
    /// errors.
    pub(crate) fn client_config(&self, origin: &str) -> Result<rustls::ClientConfig, TlsError> {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the default provider supports the default versions");
        let builder = match self.server {
            ServerTrust::Unverified => builder
                .dangerous()
                .with_custom_certificate_verifier(std::sync::Arc::new(AnyServer(provider))),
            _ => builder.with_root_certificates(self.server.roots(origin)?),
        };
        match &self.client {
            None => Ok(builder.with_no_client_auth()),
            Some(client) => {
                let (certificates, key) = client.parsed(origin)?;
                builder
                    .with_client_auth_cert(certificates, key)
                    .map_err(|e| TlsError::InvalidKey {
                        origin: origin.to_string(),
                        detail: e.to_string(),
                    })
            }
        }
    }
}

/// Accepts any server certificate (Argo CD's `insecure`), but checks the handshake's
/// signatures with the certificate's key as Go's `InsecureSkipVerify` still does.
#[derive(Debug)]
struct AnyServer(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The platform's roots; an unreadable one is skipped, as hyper-rustls's native roots
/// skip it.
fn add_platform_roots(roots: &mut rustls::RootCertStore) {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "reading the platform's trust store");
    }
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(
            added,
            ignored,
            "platform roots that could not be read were left out"
        );
    }
}

/// Every `CERTIFICATE` block of `pem`; other blocks (a key pasted beside it) are skipped,
/// as Go's `AppendCertsFromPEM` skips them.
fn certificates(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem) {
        let certificate = item.map_err(|e| TlsError::Invalid {
            origin: origin.to_string(),
            detail: pem_error(&e),
        })?;
        // Parsed here so a bundle that only looks like PEM is refused by name, not at
        // the first handshake.
        webpki_check(&certificate).map_err(|detail| TlsError::Invalid {
            origin: origin.to_string(),
            detail,
        })?;
        out.push(certificate);
    }
    if out.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: origin.to_string(),
        });
    }
    Ok(out)
}

/// Why PEM text could not be read, in words (the library quotes the offending bytes as
/// numbers).
fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { .. } => "a PEM block has no END line".into(),
        Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        Error::Base64Decode(detail) => format!("a PEM block is not base64: {detail}"),
        other => other.to_string(),
    }
}

/// Whether `certificate` can be a trust anchor.
fn webpki_check(certificate: &CertificateDer<'_>) -> Result<(), String> {
    let mut store = rustls::RootCertStore::empty();
    store.add(certificate.clone()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem().into_bytes()
    }

    #[test]
    fn a_bundle_adds_its_certificates_to_the_platforms_or_stands_alone() {
        let pem = ca_pem();
        let mut two = pem.clone();
        two.extend_from_slice(&ca_pem());
        let only = ServerTrust::Only(two.clone()).roots("ca").unwrap();
        assert_eq!(only.len(), 2);
        let platform = ServerTrust::Platform.roots("platform").unwrap().len();
        let and = ServerTrust::PlatformAnd(pem).roots("ca").unwrap();
        assert_eq!(and.len(), platform + 1);
    }

    #[test]
    fn text_without_a_certificate_is_refused_by_its_origin() {
        let err = ServerTrust::Only(b"not a certificate\n".to_vec())
            .check("secret ns/git key ca.crt")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret ns/git key ca.crt: no PEM certificate found"
        );
        let garbled = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = ServerTrust::PlatformAnd(garbled.to_vec())
            .check("ca.crt")
            .unwrap_err();
        assert!(
            err.to_string().starts_with("ca.crt: invalid certificate: "),
            "{err}"
        );
    }

    #[test]
    fn a_key_beside_the_certificate_is_skipped() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut pem = key.serialize_pem().into_bytes();
        pem.extend_from_slice(&ca_pem());
        assert_eq!(ServerTrust::Only(pem).roots("ca").unwrap().len(), 1);
    }

    #[test]
    fn curl_reads_the_platforms_certificates_before_the_bundle() {
        let pem = ca_pem();
        assert_eq!(ServerTrust::Platform.curl_bundle(), None);
        assert_eq!(
            ServerTrust::Only(pem.clone()).curl_bundle(),
            Some(pem.clone())
        );
        let bundle = ServerTrust::PlatformAnd(pem.clone()).curl_bundle().unwrap();
        assert!(bundle.ends_with(&pem));
        let platform = ServerTrust::Platform.roots("platform").unwrap().len();
        let read = ServerTrust::Only(bundle).roots("bundle").unwrap().len();
        assert_eq!(
            read,
            platform + 1,
            "every platform certificate survives the PEM round trip"
        );
    }

    #[test]
    fn trusts_are_told_apart_by_kind_and_bundle_and_shown_by_fingerprint() {
        let pem = ca_pem();
        assert_eq!(ServerTrust::Platform.fingerprint(), "");
        let and = ServerTrust::PlatformAnd(pem.clone()).fingerprint();
        let only = ServerTrust::Only(pem.clone()).fingerprint();
        assert_ne!(and, only);
        assert_ne!(only, ServerTrust::Only(ca_pem()).fingerprint());
        assert_eq!(
            format!("{:?}", ServerTrust::Only(pem)),
            format!("ServerTrust::Only({only})")
        );
    }
}
