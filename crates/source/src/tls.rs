//! Which servers an HTTPS remote may be: the platform's roots, or certificates the
//! repository's configuration names — Flux's `ca.crt` in a GitRepository's `secretRef`
//! (go-git adds the bundle to the system pool), Argo CD's `argocd-tls-certs-cm` entry for
//! the host (its repo-server trusts only those).
//!
//! Certificates are not secret, but a bundle is kilobytes of text: `Debug` shows its
//! fingerprint.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

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
}

impl std::fmt::Debug for ServerTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerTrust::Platform => f.write_str("ServerTrust::Platform"),
            ServerTrust::PlatformAnd(_) => {
                write!(f, "ServerTrust::PlatformAnd({})", self.fingerprint())
            }
            ServerTrust::Only(_) => write!(f, "ServerTrust::Only({})", self.fingerprint()),
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
}

impl ServerTrust {
    /// A short digest naming this trust (empty for the platform's): part of a mirror's
    /// name, so that remotes reached under different trust never share what one fetched.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest as _;
        let (kind, pem): (&[u8], &[u8]) = match self {
            ServerTrust::Platform => return String::new(),
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
            ServerTrust::Platform => Ok(()),
            ServerTrust::PlatformAnd(pem) | ServerTrust::Only(pem) => {
                certificates(pem, origin).map(drop)
            }
        }
    }

    /// The root store this trust builds: the platform's certificates (as the default
    /// client loads them) and the bundle's.
    pub(crate) fn roots(&self, origin: &str) -> Result<rustls::RootCertStore, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        let pem = match self {
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
            ServerTrust::Platform => None,
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
