//! TLS for a kubesim instance: a private CA generated at start-up, a server certificate it
//! signs for the loopback names; [`crate::listen`] does the handshakes. A client
//! certificate the CA signed authenticates its subject (x509 authentication: the common
//! name is the user, the organizations its groups), as kube-apiserver's `--client-ca-file`;
//! as there, the handshake takes any certificate whose key the client holds and the chain
//! is checked when the request is authenticated, so one the CA did not sign is answered
//! 401 Unauthorized. The CA also signs such certificates for tests and tools
//! ([`Authority::user_certificate`]).
//!
//! The CA lives only in memory and in the kubeconfig (`certificate-authority-data`), so
//! every kubesim run has its own trust root and nothing outside the run trusts it.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
// The acceptor type callers hold, so they need not depend on tokio-rustls themselves.
pub use tokio_rustls::TlsAcceptor;

/// Why the TLS material could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Generating a key or signing a certificate failed.
    #[error("generating the kubesim {what}")]
    Generate {
        /// Which piece: "CA", "server certificate".
        what: &'static str,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// rustls refused the certificate and key.
    #[error("configuring TLS")]
    Config(#[source] rustls::Error),
}

/// A CA and the server configuration whose certificate it signed.
pub struct Authority {
    ca_pem: String,
    config: Arc<rustls::ServerConfig>,
    /// Checks a presented client chain against the CA ([`Authority::client_user`]).
    client_check: Arc<dyn ClientCertVerifier>,
    /// Signs client certificates ([`Authority::client_certificate`]).
    issuer: Issuer<'static, KeyPair>,
    /// The server's chain and key, for [`Authority::mutual_acceptor`]'s configuration.
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// A fresh CA and a server certificate for `localhost`, `127.0.0.1`, `::1` and `extra`
    /// (the listen address when it is a specific one).
    pub fn generate(extra: Option<IpAddr>) -> Result<Authority, Error> {
        let ca_err = |source| Error::Generate { what: "CA", source };
        let ca_key = KeyPair::generate().map_err(ca_err)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(ca_err)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "kubesim-ca");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).map_err(ca_err)?;
        let issuer = Issuer::new(ca, ca_key);
        let issuer_ca = CertificateDer::from(ca_cert.der().to_vec());

        let srv_err = |source| Error::Generate {
            what: "server certificate",
            source,
        };
        let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
        if let Some(ip) = extra.filter(|ip| !ip.is_unspecified() && !ip.is_loopback()) {
            names.push(ip.to_string());
        }
        let server_key = KeyPair::generate().map_err(srv_err)?;
        let mut server = CertificateParams::new(names).map_err(srv_err)?;
        server
            .distinguished_name
            .push(DnType::CommonName, "kubesim");
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&server_key, &issuer).map_err(srv_err)?;

        let chain = vec![server_cert.der().clone(), issuer_ca.clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        // A client certificate is asked for and taken (Go's `tls.RequestClientCert`, as
        // kube-apiserver serves), its chain checked when a request is authenticated.
        let client_check = client_verifier(issuer_ca)?;
        let requested = Arc::new(RequestedCertificate {
            check: client_check.clone(),
        });
        let config = server_config(chain.clone(), key.clone_key(), |b| {
            b.with_client_cert_verifier(requested)
        })?;
        Ok(Authority {
            ca_pem: ca_cert.pem(),
            config: Arc::new(config),
            client_check,
            issuer,
            chain,
            key,
        })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate as a kubeconfig's `certificate-authority-data` (base64 of the PEM).
    pub fn ca_data(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }

    /// The server side of the handshake.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }

    /// A client certificate for `common_name` signed by this CA, and its key: PEM, as a
    /// kubeconfig's `client-certificate-data` and `client-key-data` (base64 aside) or a
    /// Secret's `tls.crt` and `tls.key` hold them. Presented to kubesim it authenticates
    /// the user `common_name`.
    pub fn client_certificate(&self, common_name: &str) -> Result<(String, String), Error> {
        self.user_certificate(common_name, &[])
    }

    /// [`Authority::client_certificate`] whose subject also names `groups` (its
    /// organizations, which kube-apiserver reads as the user's groups).
    pub fn user_certificate(
        &self,
        common_name: &str,
        groups: &[&str],
    ) -> Result<(String, String), Error> {
        let err = |source| Error::Generate {
            what: "client certificate",
            source,
        };
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        for group in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *group);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let certificate = params.signed_by(&key, &self.issuer).map_err(err)?;
        Ok((certificate.pem(), key.serialize_pem()))
    }

    /// The server side of a handshake that demands a client certificate this CA signed
    /// (mutual TLS, as a Git or chart server may be set up); a client without one, or
    /// with one the CA did not sign, is refused in the handshake.
    pub fn mutual_acceptor(&self) -> Result<TlsAcceptor, Error> {
        let config = server_config(self.chain.clone(), self.key.clone_key(), |b| {
            b.with_client_cert_verifier(self.client_check.clone())
        })?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// kube-apiserver's x509 authenticator over the chain a client presented in the
    /// handshake: `None` without one, or when the certificate names no common name
    /// (`CommonNameUserConversion` then leaves the request to the other authenticators);
    /// the subject — common name and organizations — when the CA signed it for client
    /// authentication; why not otherwise (the request is then unauthorized unless a token
    /// authenticates it).
    pub(crate) fn client_user(
        &self,
        chain: Option<&[CertificateDer<'static>]>,
    ) -> Option<Result<(String, Vec<String>), String>> {
        let (leaf, intermediates) = chain?.split_first()?;
        if let Err(e) = self
            .client_check
            .verify_client_cert(leaf, intermediates, UnixTime::now())
        {
            return Some(Err(e.to_string()));
        }
        certificate_user(leaf).map(Ok)
    }
}

/// Verifies client certificates against `ca`, demanding one.
fn client_verifier(ca: CertificateDer<'static>) -> Result<Arc<dyn ClientCertVerifier>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).map_err(Error::Config)?;
    rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| Error::Config(rustls::Error::General(e.to_string())))
}

/// The handshake's side of x509 authentication: a certificate is asked for (naming the
/// CA) and not required; any is taken once the client proves it holds its key (the
/// handshake's signature is still checked), and [`Authority::client_user`] checks the
/// chain — Go's `tls.RequestClientCert`, which kube-apiserver serves with.
#[derive(Debug)]
struct RequestedCertificate {
    check: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for RequestedCertificate {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.check.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.check.supported_verify_schemes()
    }
}

/// The user a client certificate names, as kube-apiserver's x509 authenticator reads
/// it: the subject's common name, its organizations as groups. `None` without a common
/// name.
fn certificate_user(certificate: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let subject = parsed.subject();
    let name = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some((name, groups))
}

/// One crypto provider for the workspace: aws-lc-rs, as kube-rs is built with it.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

type WantsVerifier = rustls::ConfigBuilder<rustls::ServerConfig, rustls::WantsVerifier>;
type WantsServerCert = rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>;

/// A server configuration presenting `chain` and `key`, with the client verification
/// `verify` chooses.
fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    verify: impl FnOnce(WantsVerifier) -> WantsServerCert,
) -> Result<rustls::ServerConfig, Error> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::Config)?;
    let mut config = verify(builder)
        .with_single_cert(chain, key)
        .map_err(Error::Config)?;
    // kubectl (Go) negotiates HTTP/2 through ALPN; kube-rs and curl may take either.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DER certificates of a PEM text.
    fn chain_of(pem: &str) -> Vec<CertificateDer<'static>> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// kube-apiserver's x509 authenticator: the CA's certificate is its subject, another
    /// CA's is refused, one without a common name is left to the other authenticators.
    #[test]
    fn a_client_chain_is_its_subject_refused_or_left_to_tokens() {
        let authority = Authority::generate(None).unwrap();
        let (alice, _) = authority.user_certificate("alice", &["team-a"]).unwrap();
        assert_eq!(
            authority.client_user(Some(&chain_of(&alice))),
            Some(Ok(("alice".to_string(), vec!["team-a".to_string()])))
        );

        let stranger = Authority::generate(None).unwrap();
        let (mallory, _) = stranger.client_certificate("mallory").unwrap();
        assert!(matches!(
            authority.client_user(Some(&chain_of(&mallory))),
            Some(Err(why)) if why.contains("BadSignature")
        ));

        let key = KeyPair::generate().unwrap();
        let mut nameless = CertificateParams::new(Vec::<String>::new()).unwrap();
        nameless.distinguished_name = rcgen::DistinguishedName::new();
        nameless
            .distinguished_name
            .push(DnType::OrganizationName, "team-a");
        nameless.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let nameless = nameless.signed_by(&key, &authority.issuer).unwrap();
        assert_eq!(authority.client_user(Some(&[nameless.der().clone()])), None);
        assert_eq!(authority.client_user(None), None);
        assert_eq!(authority.client_user(Some(&[])), None);
    }
}
