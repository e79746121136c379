//! TLS for a kubesim instance: a private CA generated at start-up, a server certificate it
//! signs for the loopback names; [`crate::listen`] does the handshakes.
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
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

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

        let chain = vec![
            server_cert.der().clone(),
            CertificateDer::from(ca_cert.der().to_vec()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        // One crypto provider for the workspace: aws-lc-rs, as kube-rs is built with it.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(Error::Config)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(Error::Config)?;
        // kubectl (Go) negotiates HTTP/2 through ALPN; kube-rs and curl may take either.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Authority {
            ca_pem: ca_cert.pem(),
            config: Arc::new(config),
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
}
